/*
 * Authentication and authorization: token format and checks (constant time), the
 * per-method role policy, the principal cache, and the `before` interceptor that
 * applies them to every call. Also the small helpers the admin modules share.
 *
 * Policy (hub_auth_access): AdminService needs an admin token; SYSADMIN may call
 * everything, IMPLEMENTER what the table below allows (packages, releases, tasks,
 * monitoring, rollback, report files, node configs, audit read, read-only tree and
 * config templates, WhoAmI). AgentService and ReportService need a node token (the
 * handlers restrict it to its own node). grpc.health.v1.Health is public. Anything
 * else is denied. Unknown AdminService methods default to SYSADMIN only.
 *
 * Refusals: missing, malformed, unknown, revoked or expired token, disabled node or a
 * node of a disabled store or customer (hub_auth_node: the one rule, Bind included) ->
 * unauthenticated + E_AUTH_INVALID; a valid token of the wrong kind or role ->
 * permission_denied + E_PERMISSION.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "auth_internal.h"
#include "ferry/store/tokens.h"
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"

/* ---- tokens ------------------------------------------------------------------------ */

static const char *kind_prefix(hub_token_kind_t kind)
{
    return kind == HUB_TOKEN_ADMIN ? "fya_" : "fyn_";
}

ferry_err_code_t hub_token_new(hub_token_kind_t kind, hub_token_t *out, ferry_err_t *err)
{
    uint8_t id[8], secret[32];
    char id_hex[17], b64[FERRY_B64_ENCODED_SIZE(32)];
    ferry_err_code_t rc = FERRY_OK;

    memset(out, 0, sizeof(*out));
    if (kind != HUB_TOKEN_ADMIN && kind != HUB_TOKEN_NODE) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "token kind %d", (int)kind);
        goto out;
    }
    if ((rc = ferry_random_bytes(id, sizeof(id), err)) != FERRY_OK ||
        (rc = ferry_random_bytes(secret, sizeof(secret), err)) != FERRY_OK)
        goto out;
    ferry_hex_encode(id, sizeof(id), id_hex);
    id_hex[16] = '\0';
    if (ferry_b64_encode(secret, sizeof(secret), b64, 1, 0) != HUB_TOKEN_SECRET_LEN) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "token: unexpected secret encoding length");
        goto out;
    }
    /* fixed sizes: 4 + 16 id chars, then '_' and 43 secret chars */
    memcpy(out->id, kind_prefix(kind), 4);
    memcpy(out->id + 4, id_hex, 16);
    out->id[HUB_TOKEN_ID_LEN] = '\0';
    memcpy(out->token, out->id, HUB_TOKEN_ID_LEN);
    out->token[HUB_TOKEN_ID_LEN] = '_';
    memcpy(out->token + HUB_TOKEN_ID_LEN + 1, b64, HUB_TOKEN_SECRET_LEN);
    out->token[HUB_TOKEN_LEN] = '\0';
    ferry_sha256_t *h = ferry_sha256_new();
    if (h == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "token: out of memory");
        goto out;
    }
    ferry_sha256_update(h, out->token, HUB_TOKEN_LEN);
    ferry_sha256_final(h, out->hash);
    ferry_sha256_free(h);
out:
    memset(secret, 0, sizeof(secret));
    memset(b64, 0, sizeof(b64));
    return rc;
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* SHA-256 of a presented token runs on every authenticated call: one digest context
 * per thread, reused, and the algorithm fetched once (a fresh EVP context with an
 * implicit fetch costs more than hashing 64 bytes). */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha_key;
static EVP_MD *sha_md;

static void sha_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha_init(void)
{
    sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (pthread_key_create(&sha_key, sha_ctx_free) != 0) {
        EVP_MD_free(sha_md);
        sha_md = NULL;
    }
}

static bool token_sha256(const char *s, size_t len, uint8_t out[FERRY_SHA256_LEN])
{
    EVP_MD_CTX *ctx;
    unsigned int n = 0;

    pthread_once(&sha_once, sha_init);
    if (sha_md == NULL)
        return false;
    if ((ctx = pthread_getspecific(sha_key)) == NULL) {
        if ((ctx = EVP_MD_CTX_new()) == NULL)
            return false;
        if (pthread_setspecific(sha_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            return false;
        }
    }
    return EVP_DigestInit_ex(ctx, sha_md, NULL) == 1 && EVP_DigestUpdate(ctx, s, len) == 1 &&
           EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == FERRY_SHA256_LEN;
}

hub_token_kind_t hub_token_parse(const char *s, size_t len, char id[HUB_TOKEN_ID_LEN + 1],
                                 uint8_t hash[FERRY_SHA256_LEN])
{
    hub_token_kind_t kind;
    size_t i;

    if (s == NULL || len != HUB_TOKEN_LEN)
        return HUB_TOKEN_INVALID;
    if (memcmp(s, "fya_", 4) == 0)
        kind = HUB_TOKEN_ADMIN;
    else if (memcmp(s, "fyn_", 4) == 0)
        kind = HUB_TOKEN_NODE;
    else
        return HUB_TOKEN_INVALID;
    for (i = 4; i < HUB_TOKEN_ID_LEN; i++)
        if (!is_lower_hex(s[i]))
            return HUB_TOKEN_INVALID;
    if (s[HUB_TOKEN_ID_LEN] != '_')
        return HUB_TOKEN_INVALID;
    for (i = HUB_TOKEN_ID_LEN + 1; i < HUB_TOKEN_LEN; i++)
        if (!is_b64url(s[i]))
            return HUB_TOKEN_INVALID;
    /* 43 base64url chars carry 258 bits: the last char must leave the 2 spare bits 0
     * (A, E, I, ...), so one secret has exactly one spelling. */
    if ((strchr("AEIMQUYcgkosw048", s[HUB_TOKEN_LEN - 1]) == NULL))
        return HUB_TOKEN_INVALID;
    memcpy(id, s, HUB_TOKEN_ID_LEN);
    id[HUB_TOKEN_ID_LEN] = '\0';
    if (!token_sha256(s, len, hash))
        return HUB_TOKEN_INVALID;
    return kind;
}

bool hub_token_hash_equal(const void *stored, size_t stored_len, const uint8_t hash[FERRY_SHA256_LEN])
{
    if (stored == NULL || stored_len != FERRY_SHA256_LEN)
        return false;
    return ferry_ct_equal(stored, hash, FERRY_SHA256_LEN) != 0;
}

/* ---- policy -------------------------------------------------------------------------- */

/* AdminService methods an IMPLEMENTER may call. Everything else in AdminService is
 * SYSADMIN only (the tree writes, storage, tokens, licences, config-distribution
 * writes, server backups) — including methods added later until listed here. */
static const char *const implementer_methods[] = {
    "WhoAmI",
    /* read-only tree: needed to pick release scopes */
    "ListCustomers",
    "GetCustomer",
    "ListStores",
    "GetStore",
    "ListNodes",
    "GetNode",
    /* packages */
    "CreatePackageUpload",
    "GetPackageUpload",
    "CommitPackage",
    "ListPackages",
    "GetPackage",
    "ExportPackage",
    "AbortPackageUpload",
    /* releases and rollback */
    "CreateRelease",
    "ListReleases",
    "GetRelease",
    "PromoteRelease",
    "PauseRelease",
    "ResumeRelease",
    "CancelRelease",
    "RollbackRelease",
    "GetReleaseSummary",
    "WatchRelease",
    /* monitoring: tasks, files, node configurations, dashboard, audit */
    "ListTasks",
    "GetTask",
    "ListTaskEvents",
    "RetryTask",
    "ListReportFiles",
    "GetReportFile",
    "GetNodeConfig",
    "ListNodeConfigs",
    "ListAuditLogs",
    "GetDashboard",
    /* fleet reads (fleet_status.c, configs.c) */
    "ListNodeStatuses",
    "ListNodeEvents",
    "DiffNodeConfig",
    /* configuration distribution: read-only */
    "ListConfigTemplates",
    "GetConfigTemplate",
    "ListConfigAssignments",
};

hub_access_t hub_auth_access(const char *service, const char *method)
{
    size_t i;

    if (service == NULL || method == NULL)
        return HUB_ACCESS_DENY;
    if (strcmp(service, "ferry.v1.AdminService") == 0) {
        for (i = 0; i < sizeof(implementer_methods) / sizeof(implementer_methods[0]); i++)
            if (strcmp(method, implementer_methods[i]) == 0)
                return HUB_ACCESS_ADMIN;
        return HUB_ACCESS_SYSADMIN;
    }
    /* Bind proves the node's identity with the token in its body (code + environment +
     * token, seed 000 §5.1), so it is the one agent method reachable without a header;
     * its handler verifies the token itself. */
    if (strcmp(service, "ferry.v1.AgentService") == 0 && strcmp(method, "Bind") == 0)
        return HUB_ACCESS_PUBLIC;
    if (strcmp(service, "ferry.v1.AgentService") == 0 || strcmp(service, "ferry.v1.ReportService") == 0)
        return HUB_ACCESS_NODE;
    if (strcmp(service, "grpc.health.v1.Health") == 0)
        return HUB_ACCESS_PUBLIC;
    return HUB_ACCESS_DENY;
}

ferry_rpc_code_t hub_auth_decide(hub_access_t access, const hub_principal_t *p)
{
    switch (access) {
    case HUB_ACCESS_PUBLIC:
        return FERRY_RPC_OK;
    case HUB_ACCESS_SYSADMIN:
        if (p == NULL)
            return FERRY_RPC_UNAUTHENTICATED;
        return p->kind == HUB_PRINCIPAL_ADMIN && p->role == FERRY__V1__ROLE__ROLE_SYSADMIN
                   ? FERRY_RPC_OK
                   : FERRY_RPC_PERMISSION_DENIED;
    case HUB_ACCESS_ADMIN:
        if (p == NULL)
            return FERRY_RPC_UNAUTHENTICATED;
        return p->kind == HUB_PRINCIPAL_ADMIN && (p->role == FERRY__V1__ROLE__ROLE_SYSADMIN ||
                                                  p->role == FERRY__V1__ROLE__ROLE_IMPLEMENTER)
                   ? FERRY_RPC_OK
                   : FERRY_RPC_PERMISSION_DENIED;
    case HUB_ACCESS_NODE:
        if (p == NULL)
            return FERRY_RPC_UNAUTHENTICATED;
        return p->kind == HUB_PRINCIPAL_NODE ? FERRY_RPC_OK : FERRY_RPC_PERMISSION_DENIED;
    case HUB_ACCESS_DENY:
    default:
        return FERRY_RPC_PERMISSION_DENIED;
    }
}

/* ---- side context: cache + read-only connection ------------------------------------------- */

/* Power of two. A real fleet checks in every poll interval, so each node's token
 * mostly misses the cache (it expired since); the table must still cost O(1) at
 * 100k+ entries: at CACHE_MAX it holds 2 entries per bucket. */
#define CACHE_BUCKETS (1u << 17)
#define CACHE_MAX     262144 /* > the 100k-node benchmark; past it the cache is flushed */

typedef struct cache_entry {
    struct cache_entry *next;
    uint64_t key; /* key_of(token_id): compared before the string */
    char token_id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];
    hub_principal_t p;
    char name[64];
    int64_t valid_until_ms; /* monotonic */
} cache_entry_t;

/* One per hub, in hub->auth: the token cache. Lookups that miss it read the store's
 * read-only connection (never waiting on the writer lock), statements prepared once. */
typedef struct hub_auth {
    pthread_mutex_t cache_mu;
    cache_entry_t **buckets; /* CACHE_BUCKETS */
    size_t n_entries;
} hub_side_t;

static pthread_mutex_t side_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void cache_clear_locked(hub_side_t *s)
{
    for (size_t i = 0; s->buckets != NULL && i < CACHE_BUCKETS; i++) {
        cache_entry_t *e = s->buckets[i];
        while (e != NULL) {
            cache_entry_t *next = e->next;
            free(e);
            e = next;
        }
        s->buckets[i] = NULL;
    }
    s->n_entries = 0;
}

static void side_free(hub_side_t *s)
{
    if (s == NULL)
        return;
    cache_clear_locked(s);
    free(s->buckets);
    pthread_mutex_destroy(&s->cache_mu);
    free(s);
}

/* The auth context of |hub|, created on first use; |fresh| replaces it (attach). */
static hub_side_t *side_get(ferry_hub_t *hub, bool fresh)
{
    hub_side_t *s = NULL;

    /* Fast path (every call): hub->auth is set by attach before the loops start and
     * cleared only after they stopped. */
    if (!fresh && hub->auth != NULL)
        return hub->auth;
    pthread_mutex_lock(&side_mu);
    if (hub->auth != NULL && !fresh) {
        s = hub->auth;
        goto out;
    }
    side_free(hub->auth);
    hub->auth = NULL;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        goto out;
    if ((s->buckets = calloc(CACHE_BUCKETS, sizeof(*s->buckets))) == NULL) {
        free(s);
        s = NULL;
        goto out;
    }
    pthread_mutex_init(&s->cache_mu, NULL);
    hub->auth = s;
out:
    pthread_mutex_unlock(&side_mu);
    return s;
}

void hub_auth_free(ferry_hub_t *hub)
{
    pthread_mutex_lock(&side_mu);
    side_free(hub->auth);
    hub->auth = NULL;
    pthread_mutex_unlock(&side_mu);
}

static uint64_t key_of(const char *token_id)
{
    /* FNV-1a (64-bit) over the id ("fyn_" + 16 random hex digits): already uniform. */
    uint64_t h = 14695981039346656037ull;
    for (const char *p = token_id; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static size_t bucket_of(uint64_t key)
{
    return (size_t)(key ^ (key >> 32)) & (CACHE_BUCKETS - 1);
}

/* Copies a fresh cached principal for |token_id| whose hash equals |hash|. */
static bool cache_lookup(hub_side_t *s, const char *token_id, const uint8_t hash[FERRY_SHA256_LEN],
                         hub_principal_t *p, char *name, size_t name_size)
{
    bool found = false;
    int64_t now = mono_ms();
    uint64_t key = key_of(token_id);

    pthread_mutex_lock(&s->cache_mu);
    for (cache_entry_t *e = s->buckets[bucket_of(key)]; e != NULL; e = e->next) {
        if (e->key != key || strcmp(e->token_id, token_id) != 0)
            continue;
        if (e->valid_until_ms > now && ferry_ct_equal(e->hash, hash, FERRY_SHA256_LEN)) {
            size_t n = strnlen(e->name, name_size - 1);
            *p = e->p;
            memcpy(name, e->name, n);
            name[n] = '\0';
            found = true;
        }
        break;
    }
    pthread_mutex_unlock(&s->cache_mu);
    return found;
}

static void cache_put(hub_side_t *s, const char *token_id, const uint8_t hash[FERRY_SHA256_LEN],
                      const hub_principal_t *p, const char *name, int64_t valid_ms)
{
    uint64_t key = key_of(token_id);
    size_t b = bucket_of(key);
    cache_entry_t *e;

    pthread_mutex_lock(&s->cache_mu);
    for (e = s->buckets[b]; e != NULL; e = e->next)
        if (e->key == key && strcmp(e->token_id, token_id) == 0)
            break;
    if (e == NULL) {
        if (s->n_entries >= CACHE_MAX)
            cache_clear_locked(s);
        if ((e = calloc(1, sizeof(*e))) == NULL)
            goto out;
        e->key = key;
        snprintf(e->token_id, sizeof(e->token_id), "%s", token_id);
        e->next = s->buckets[b];
        s->buckets[b] = e;
        s->n_entries++;
    }
    memcpy(e->hash, hash, FERRY_SHA256_LEN);
    e->p = *p;
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->valid_until_ms = mono_ms() + valid_ms;
out:
    pthread_mutex_unlock(&s->cache_mu);
}

void hub_auth_forget(ferry_hub_t *hub, const char *token_id)
{
    hub_side_t *s = side_get(hub, false);
    if (s == NULL || token_id == NULL)
        return;
    uint64_t key = key_of(token_id);
    pthread_mutex_lock(&s->cache_mu);
    for (cache_entry_t **pp = &s->buckets[bucket_of(key)]; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->key == key && strcmp((*pp)->token_id, token_id) == 0) {
            cache_entry_t *e = *pp;
            *pp = e->next;
            free(e);
            s->n_entries--;
            break;
        }
    }
    pthread_mutex_unlock(&s->cache_mu);
}

void hub_auth_forget_all(ferry_hub_t *hub)
{
    hub_side_t *s = side_get(hub, false);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->cache_mu);
    cache_clear_locked(s);
    pthread_mutex_unlock(&s->cache_mu);
}

/* ---- principal resolution --------------------------------------------------------------- */

/* Looks |id| up in the DB and checks the hash. FERRY_E_AUTH_INVALID with the reason
 * (for the server log only: clients get one generic message). */
static ferry_err_code_t resolve_db(ferry_hub_t *hub, hub_token_kind_t kind, const char *id,
                                   const uint8_t hash[FERRY_SHA256_LEN], hub_principal_t *p, char *name,
                                   size_t name_size, int64_t *valid_ms, ferry_err_t *err)
{
    ferry_store_credential_t c;
    ferry_err_t lerr = {0};
    ferry_err_code_t rc;

    rc = kind == HUB_TOKEN_ADMIN ? ferry_store_admin_credential_ro(hub->store, id, &c, &lerr)
                                 : ferry_store_node_credential_ro(hub->store, id, &c, &lerr);
    if (rc == FERRY_E_NOT_FOUND)
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "unknown token %s", id);
    if (rc != FERRY_OK)
        return ferry_err_set(err, rc, "%s", lerr.msg);
    if (!hub_token_hash_equal(c.hash, c.hash_len, hash))
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "token %s: secret mismatch", id);
    memset(p, 0, sizeof(*p));
    snprintf(p->token_id, sizeof(p->token_id), "%s", id);
    p->row_id = c.row_id;
    *valid_ms = HUB_AUTH_CACHE_MS;
    if (kind == HUB_TOKEN_ADMIN) {
        int64_t now = hub_now_ms();
        if (c.revoked)
            return ferry_err_set(err, FERRY_E_AUTH_INVALID, "token %s is revoked", id);
        if (c.expires_at != 0) {
            if (c.expires_at <= now)
                return ferry_err_set(err, FERRY_E_AUTH_INVALID, "token %s expired", id);
            if (c.expires_at - now < *valid_ms)
                *valid_ms = c.expires_at - now;
        }
        p->kind = HUB_PRINCIPAL_ADMIN;
        p->role = c.role;
        snprintf(name, name_size, "%s", c.name);
    } else {
        if (c.node_disabled)
            return ferry_err_set(err, FERRY_E_AUTH_INVALID, "node of token %s is disabled", id);
        if (c.store_disabled)
            return ferry_err_set(err, FERRY_E_AUTH_INVALID, "store of the node of token %s is disabled", id);
        if (c.customer_disabled)
            return ferry_err_set(err, FERRY_E_AUTH_INVALID, "customer of the node of token %s is disabled",
                                 id);
        p->kind = HUB_PRINCIPAL_NODE;
        p->node_id = p->row_id;
        p->customer_id = c.customer_id;
        name[0] = '\0';
    }
    return FERRY_OK;
}

/* The principal of a parsed token: from the cache when fresh, else from the DB (and
 * then cached). */
static ferry_err_code_t resolve(ferry_hub_t *hub, hub_token_kind_t kind, const char *id,
                                const uint8_t hash[FERRY_SHA256_LEN], hub_principal_t *p, char *name,
                                size_t name_size, ferry_err_t *err)
{
    hub_side_t *side = side_get(hub, false);
    int64_t valid_ms = 0;
    ferry_err_code_t rc;

    if (side == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "hub: out of memory");
    if (cache_lookup(side, id, hash, p, name, name_size))
        return FERRY_OK;
    if ((rc = resolve_db(hub, kind, id, hash, p, name, name_size, &valid_ms, err)) == FERRY_OK)
        cache_put(side, id, hash, p, name, valid_ms);
    return rc;
}

ferry_err_code_t hub_auth_node(ferry_hub_t *hub, const char *token_id, const uint8_t hash[FERRY_SHA256_LEN],
                               hub_principal_t *p, ferry_err_t *err)
{
    char name[64];
    return resolve(hub, HUB_TOKEN_NODE, token_id, hash, p, name, sizeof(name), err);
}

/* ---- the interceptor ---------------------------------------------------------------- */

static const char ctx_key = 'C'; /* its address keys the per-call slot */

hub_call_ctx_t *hub_call_ctx(const ferry_rpc_call_t *call)
{
    return call != NULL ? ferry_rpc_call_get_data(call, &ctx_key) : NULL;
}

const hub_principal_t *hub_principal(const ferry_rpc_call_t *call)
{
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    return ctx != NULL && ctx->has_principal ? &ctx->p : NULL;
}

/* Parses "Bearer <token>" (scheme case-insensitive, one space or more). */
static const char *bearer(const char *h, size_t *len)
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    *len = strlen(h);
    while (*len > 0 && (h[*len - 1] == ' ' || h[*len - 1] == '\t'))
        (*len)--;
    return h;
}

static ferry_rpc_code_t auth_before(ferry_rpc_call_t *call, void *user, char *app_code, size_t app_code_size,
                                    char *msg, size_t msg_size)
{
    ferry_hub_t *hub = user;
    const ferry_rpc_method_t *m = ferry_rpc_call_method(call);
    hub_access_t access = hub_auth_access(m->service, m->name);
    hub_side_t *side = side_get(hub, false);
    hub_call_ctx_t *ctx = calloc(1, sizeof(*ctx));
    ferry_err_t err = {0};
    const char *tok;
    size_t tok_len = 0;
    char id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];
    hub_token_kind_t kind;
    ferry_rpc_code_t rc = FERRY_RPC_OK;

    if (ctx == NULL || side == NULL) {
        free(ctx);
        snprintf(msg, msg_size, "out of memory");
        return FERRY_RPC_RESOURCE_EXHAUSTED;
    }
    ctx->mutating_admin =
        strcmp(m->service, "ferry.v1.AdminService") == 0 && m->idempotency != FERRY_RPC_NO_SIDE_EFFECTS;
    ferry_rpc_call_set_data(call, &ctx_key, ctx, free);
    if (access == HUB_ACCESS_PUBLIC)
        goto out;
    tok = bearer(ferry_rpc_call_header(call, "authorization"), &tok_len);
    kind = tok != NULL ? hub_token_parse(tok, tok_len, id, hash) : HUB_TOKEN_INVALID;
    if (kind == HUB_TOKEN_INVALID) {
        ferry_err_set(&err, FERRY_E_AUTH_INVALID,
                      tok == NULL ? "missing bearer token" : "malformed bearer token");
    } else {
        resolve(hub, kind, id, hash, &ctx->p, ctx->name, sizeof(ctx->name), &err);
    }
    if (err.code != FERRY_OK) {
        /* One message for every reason: the log has the detail, the client learns
         * nothing about which tokens exist. */
        FERRY_WARN("auth: %s %s from %s refused: %s", ferry_rpc_call_request_id(call), m->path,
                   ferry_rpc_call_peer(call), err.msg);
        snprintf(app_code, app_code_size, "E_AUTH_INVALID");
        snprintf(msg, msg_size, "invalid, revoked or missing token");
        rc = FERRY_RPC_UNAUTHENTICATED;
        goto out;
    }
    ctx->has_principal = true;
    if ((rc = hub_auth_decide(access, &ctx->p)) != FERRY_RPC_OK) {
        snprintf(app_code, app_code_size, "E_PERMISSION");
        snprintf(ctx->error_code, sizeof(ctx->error_code), "E_PERMISSION");
        if (ctx->p.kind == HUB_PRINCIPAL_NODE)
            snprintf(msg, msg_size,
                     "%s needs an admin token; node tokens may only call agent and report methods", m->path);
        else if (access == HUB_ACCESS_NODE)
            snprintf(msg, msg_size, "%s needs a node token", m->path);
        else
            snprintf(msg, msg_size, "%s needs role SYSADMIN", m->path);
    }
out:
    return rc;
}

/* The audit of failed and refused mutating admin calls lives in audit.c. */
void hub_audit_after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user);

ferry_err_code_t hub_auth_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    ferry_rpc_interceptor_t ic = {.before = auth_before, .after = hub_audit_after, .user = hub};
    if (side_get(hub, true) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "auth: out of memory");
    return ferry_rpc_server_add_interceptor(srv, &ic, err);
}
