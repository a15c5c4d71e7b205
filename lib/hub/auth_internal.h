/*
 * Private to the hub's admin modules (init.c, auth.c, audit.c, tree.c, tokens.c,
 * storage.c): token format, the role policy and the principal cache. The handlers'
 * plumbing is in hub_util.h; the database is the store's (ferry/store.h).
 *
 * Token format (both kinds, 64 characters):
 *
 *     fya_<16 hex id>_<43 base64url secret>     admin tokens
 *     fyn_<16 hex id>_<43 base64url secret>     node tokens
 *
 * The secret is 256 random bits. The public id ("fya_<16 hex>", 20 chars) is stored
 * in clear and names the token in audit rows; only SHA-256 of the WHOLE token string
 * is stored, and compared in constant time.
 */
#ifndef FERRY_HUB_AUTH_INTERNAL_H
#define FERRY_HUB_AUTH_INTERNAL_H

#include <stdbool.h>

#include "hub_internal.h"
#include "hub_util.h"

#define HUB_TOKEN_LEN        64
#define HUB_TOKEN_ID_LEN     20
#define HUB_TOKEN_SECRET_LEN 43

typedef enum hub_token_kind {
    HUB_TOKEN_INVALID = 0,
    HUB_TOKEN_ADMIN = 1, /* "fya_" */
    HUB_TOKEN_NODE = 2   /* "fyn_" */
} hub_token_kind_t;

/** A freshly issued token: the clear text (shown once), its public id and hash. */
typedef struct hub_token {
    char token[HUB_TOKEN_LEN + 1];
    char id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];
} hub_token_t;

/** Issues a new random token of |kind|. */
ferry_err_code_t hub_token_new(hub_token_kind_t kind, hub_token_t *out, ferry_err_t *err);

/**
 * Checks the shape of |s| (|len| bytes, not NUL-terminated) and, when well formed,
 * writes its public id and SHA-256. Returns its kind, or HUB_TOKEN_INVALID.
 */
hub_token_kind_t hub_token_parse(const char *s, size_t len, char id[HUB_TOKEN_ID_LEN + 1],
                                 uint8_t hash[FERRY_SHA256_LEN]);

/** Constant-time comparison of a stored hash (|stored_len| bytes from the DB) with |hash|. */
bool hub_token_hash_equal(const void *stored, size_t stored_len, const uint8_t hash[FERRY_SHA256_LEN]);

/* ---- policy ------------------------------------------------------------------ */

/** Who may call a method. */
typedef enum hub_access {
    HUB_ACCESS_DENY = 0,     /* unknown service: nobody */
    HUB_ACCESS_PUBLIC = 1,   /* no token needed (grpc.health.v1.Health) */
    HUB_ACCESS_SYSADMIN = 2, /* admin token with role SYSADMIN */
    HUB_ACCESS_ADMIN = 3,    /* admin token, SYSADMIN or IMPLEMENTER */
    HUB_ACCESS_NODE = 4      /* node token (the handler checks "its own" data) */
} hub_access_t;

/** The policy entry of |service| ("ferry.v1.AdminService") / |method| ("CreateCustomer"). */
hub_access_t hub_auth_access(const char *service, const char *method);

/**
 * Applies |access| to |p| (NULL = no valid token). FERRY_RPC_OK, UNAUTHENTICATED (no
 * principal where one is needed) or PERMISSION_DENIED (wrong kind or role).
 */
ferry_rpc_code_t hub_auth_decide(hub_access_t access, const hub_principal_t *p);

/**
 * The one rule for node tokens, used by the interceptor for every node-authenticated
 * method and by Bind: |token_id| (with the SHA-256 |hash| of the whole token) names a
 * node that is enabled, in an enabled store of an enabled customer. Fills |p| (kind
 * NODE, node_id, customer_id). Served from the token cache when fresh; disabling a
 * node, store or customer through the hub evicts it. FERRY_E_AUTH_INVALID with the
 * reason (for the server log only) otherwise.
 */
ferry_err_code_t hub_auth_node(ferry_hub_t *hub, const char *token_id, const uint8_t hash[FERRY_SHA256_LEN],
                               hub_principal_t *p, ferry_err_t *err);

/* ---- per-call context ------------------------------------------------------- */

/** Stored on each authenticated call (ferry_rpc_call_set_data); principal first. */
typedef struct hub_call_ctx {
    hub_principal_t p;
    char name[64];       /* admin token name (audit actor_name, WhoAmI) */
    bool has_principal;  /* false: anonymous (public method) */
    bool audited;        /* a handler wrote the audit row (the after hook must not) */
    bool mutating_admin; /* an AdminService method with side effects */
    char error_code[48]; /* set by hub_fail() so the after hook can record it */
} hub_call_ctx_t;

/** The call's context (NULL when the interceptor did not run, e.g. unknown routes). */
hub_call_ctx_t *hub_call_ctx(const ferry_rpc_call_t *call);

/* ---- cache and side connection ------------------------------------------------- */

/**
 * Verified tokens are cached for HUB_AUTH_CACHE_MS so a CheckIn does not hit the DB.
 * Changes made through the hub (revoke, rotate, disable) evict at once; a change made
 * behind the hub's back (manual SQL) takes effect within this bound.
 */
#define HUB_AUTH_CACHE_MS 5000

/** Evicts one token id from the cache. */
void hub_auth_forget(ferry_hub_t *hub, const char *token_id);

/** Evicts every cached token (e.g. after disabling a customer). */
void hub_auth_forget_all(ferry_hub_t *hub);

/* ---- audit targets (audit.c) -------------------------------------------------------- */

/** Announces the call's audit target(s) ("customer:ACME") before the outcome is known. */
void hub_audit_target(ferry_rpc_call_t *call, const char *target);

#endif
