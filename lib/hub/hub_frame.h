/*
 * The handler frame: what every method needs around its domain logic, declared once
 * per method with HUB_METHOD (one row: service, method, request and response types,
 * flags, optional post-commit hook), so a handler body holds only its logic:
 *
 *   - HUB_FRAME_NODE: the call needs a node principal (else unauthenticated +
 *     E_AUTH_INVALID); admin methods are gated by the role policy (auth.c) already;
 *   - HUB_FRAME_OFFLOAD: the body runs on the worker pool (durable writes, hashing,
 *     zip parsing never block an event loop);
 *   - HUB_FRAME_WRITE: the body runs under the store lock inside a write transaction,
 *     committed when it returns FERRY_OK and rolled back otherwise (no partial rows);
 *   - HUB_FRAME_AUDIT: on success the audit row ("ok", the target the body named with
 *     hub_frame_target) commits in the same transaction; on failure, after the
 *     rollback, one row with the error name (E_PERMISSION -> DENIED, else FAILURE);
 *   - failure mapping: the body's ferry_err_t becomes the RPC status and the
 *     `ferry-error-code` (hub_fail).
 *
 * A body is `ferry_err_code_t <method>_body(hub_frame_t *f, const Req *req, Resp *resp,
 * ferry_err_t *err)`: it fills |resp| (memory from f->arena) and returns a code. The
 * optional `done` hook runs after the commit and before the reply (cache eviction,
 * bus events). hub_frame_exec() is the transactional core without any RPC, which the
 * unit tests drive against a real SQLite file.
 */
#ifndef FERRY_HUB_FRAME_H
#define FERRY_HUB_FRAME_H

#include <stdbool.h>

#include "hub_audit.h"
#include "hub_util.h"

#define HUB_FRAME_OFFLOAD 0x1u /**< run on the worker pool */
#define HUB_FRAME_WRITE   0x2u /**< store lock + write transaction around the body */
#define HUB_FRAME_AUDIT   0x4u /**< audit row on success (same transaction) and on failure */
#define HUB_FRAME_NODE    0x8u /**< a node principal is required */

#define HUB_FRAME_SECRETS 2

/** What a body sees. */
typedef struct hub_frame {
    ferry_hub_t *hub;
    ferry_store_t *store;
    ferry_rpc_call_t *call;    /**< NULL outside an RPC (tests) */
    const hub_principal_t *me; /**< the caller (NULL when anonymous) */
    hub_arena_t arena;         /**< the reply's memory, freed after the reply */
    hub_audit_actor_t actor;   /**< who, for the audit row (from the call, or set by a test) */
    char target[FERRY_STORE_AUDIT_TARGETS_MAX]; /**< "kind:id,kind:id" (hub_frame_target) */
    bool audited_failure;                       /**< the failure row is written */
    struct {
        void *p;
        size_t n;
    } secrets[HUB_FRAME_SECRETS]; /**< wiped after the reply (hub_frame_secret) */
} hub_frame_t;

typedef ferry_err_code_t (*hub_body_fn)(hub_frame_t *f, const void *req, void *resp, ferry_err_t *err);
typedef void (*hub_done_fn)(hub_frame_t *f, const void *req, void *resp);
typedef ferry_err_code_t (*hub_reply_fn)(ferry_rpc_call_t *call, const void *resp);

/** One method's row. */
typedef struct hub_method {
    const char *name;
    unsigned flags;
    const ProtobufCMessageDescriptor *resp_desc;
    hub_body_fn body;
    hub_done_fn done; /**< optional: after the commit, before the reply */
    hub_reply_fn reply;
} hub_method_t;

/** Names the audit target ("customer:ACME"); announced to the call at once so a refusal is audited with it.
 */
void hub_frame_target(hub_frame_t *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Memory to wipe (memset 0) after the reply: a secret shown once. */
void hub_frame_secret(hub_frame_t *f, void *p, size_t n);

/** Prepares |f| for a run outside an RPC (tests): no call, no principal. */
void hub_frame_init(hub_frame_t *f, ferry_hub_t *hub, ferry_store_t *store);
/** Frees the frame's arena (and wipes its secrets). */
void hub_frame_clear(hub_frame_t *f);

/**
 * The transactional core: lock + transaction (HUB_FRAME_WRITE), the body, the audit
 * row (HUB_FRAME_AUDIT), commit or rollback, the failure's audit row. |resp| is the
 * initialised response. Returns the body's code (or the commit's).
 */
ferry_err_code_t hub_frame_exec(hub_frame_t *f, const hub_method_t *m, const void *req, void *resp,
                                ferry_err_t *err);

/** The entry of every framed handler: principal, offload, hub_frame_exec, done, reply or fail. */
void hub_frame_call(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, const hub_method_t *m);

/**
 * One method row: defines the handler |name| (to bind into hub->admin / agent / report)
 * for service |svc| (admin, agent, report), its Req/Resp types, |flags| and |done|
 * (NULL or a hub_done_fn), and declares the body
 * `static ferry_err_code_t name##_body(hub_frame_t *, const Req *, Resp *, ferry_err_t *)`.
 */
/* Req and Resp are type names (never expressions), which cannot be parenthesised. */
/* NOLINTBEGIN(bugprone-macro-parentheses) */
#define HUB_METHOD(svc, name, Req, Resp, flags, done)                                                        \
    static ferry_err_code_t name##_body(hub_frame_t *f, const Req *req, Resp *resp, ferry_err_t *err);       \
    static ferry_err_code_t name##_body_(hub_frame_t *f, const void *req, void *resp, ferry_err_t *err)      \
    {                                                                                                        \
        return name##_body(f, req, resp, err);                                                               \
    }                                                                                                        \
    static ferry_err_code_t name##_reply_(ferry_rpc_call_t *call, const void *resp)                          \
    {                                                                                                        \
        return ferry_v1_##svc##_service_##name##_reply(call, resp);                                          \
    }                                                                                                        \
    static const hub_method_t name##_method = {                                                              \
        #name, (flags), &ferry__v1__##name##_response__descriptor, name##_body_, (done), name##_reply_};     \
    static void name(ferry_rpc_call_t *call, const Req *req, void *user)                                     \
    {                                                                                                        \
        hub_frame_call(call, user, req, &name##_method);                                                     \
    }
/* NOLINTEND(bugprone-macro-parentheses) */

#endif
