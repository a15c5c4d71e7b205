/*
 * The handlers' plumbing, shared by every hub module (hub_util.c):
 *   - the reply arena: every string and sub-message of one reply, freed at once;
 *   - running a handler body on the worker pool, failing a call from a ferry_err_t
 *     (recording the error name for the audit row);
 *   - paging: one page-size rule, one page-token format;
 *   - write transactions on the store;
 *   - argument checks shared by several handlers (codes, decimal ids).
 */
#ifndef FERRY_HUB_UTIL_H
#define FERRY_HUB_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/arena.h"
#include "hub_internal.h"

/* ---- reply arena ------------------------------------------------------------------ */

/** Owns every allocation of one reply (ferry/arena.h). Zero-initialise; hub_arena_free() releases all. */
typedef ferry_arena_t hub_arena_t;

/** Zeroed memory owned by |a|, or NULL (and a->failed) when out of memory. */
static inline void *hub_arena_alloc(hub_arena_t *a, size_t n)
{
    return ferry_arena_alloc(a, n);
}
/** A copy of |s| (NULL -> ""), owned by |a|; a read-only "" when out of memory (a->failed set). */
static inline char *hub_arena_strdup(hub_arena_t *a, const char *s)
{
    return ferry_arena_strdup(a, s);
}
/** printf into arena memory (at most 511 bytes); "" when out of memory. */
#define hub_arena_printf ferry_arena_printf
/** A Timestamp for unix milliseconds |ms|, or NULL when |ms| <= 0 (unset). */
static inline Google__Protobuf__Timestamp *hub_arena_ts(hub_arena_t *a, int64_t ms)
{
    return ferry_arena_ts(a, ms);
}
/** Hands an unpacked protobuf-c message to |a| (freed with it; on OOM freed at once). */
static inline void hub_arena_own(hub_arena_t *a, ProtobufCMessage *m)
{
    ferry_arena_own(a, m);
}
static inline void hub_arena_free(hub_arena_t *a)
{
    ferry_arena_free(a);
}

/* ---- offload and failure ------------------------------------------------------------ */

/** A handler body run on a worker thread; it must complete |call|. */
typedef void (*hub_work_fn)(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req);

/**
 * Runs |fn(call, hub, req)| on the worker pool (DB writes, hashing, zip parsing never
 * block an event loop). If the pool refuses, the call fails with `unavailable`.
 * |req| stays valid until the call completes.
 */
void hub_offload(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, hub_work_fn fn);

/** Defines handler |name| that offloads |name##_work|. */
#define HUB_OFFLOADED(name, Req)                                                                             \
    static void name(ferry_rpc_call_t *call, const Req *req, void *user)                                     \
    {                                                                                                        \
        hub_offload(call, user, req, name##_work);                                                           \
    }

/**
 * The call's node principal; NULL after failing the call `unauthenticated` when it
 * carries no node token (agent and report handlers).
 */
const hub_principal_t *hub_node_principal(ferry_rpc_call_t *call);

/** Defines handler |name##_h| that offloads |name##_work| for node principals only. */
#define HUB_NODE_OFFLOADED(name, Req)                                                                        \
    static void name##_h(ferry_rpc_call_t *call, const Req *req, void *user)                                 \
    {                                                                                                        \
        if (hub_node_principal(call) != NULL)                                                                \
            hub_offload(call, user, req, name##_work);                                                       \
    }

/**
 * Fails |call| from |err| (its error name travels as the app code) and records the
 * name in the call context, so the audit row of a failed admin call carries it.
 */
void hub_fail(ferry_rpc_call_t *call, const ferry_err_t *err);

/**
 * The failure exit of a handler that writes in a transaction: if |locked| (the DB
 * lock is held with a transaction open), rolls back and unlocks; then hub_fail().
 */
void hub_fail_tx(ferry_hub_t *hub, ferry_rpc_call_t *call, const ferry_err_t *err, bool locked);

/**
 * Same as hub_fail() (kept for its callers): every failure from a ferry_err_t now sends
 * its name as the application error code (`ferry-error-code`), generic codes included.
 */
void hub_fail_named(ferry_rpc_call_t *call, const ferry_err_t *err);

/* ---- paging ------------------------------------------------------------------------- */

#define HUB_PAGE_DEFAULT 100  /**< page size when the request says 0 (or less) */
#define HUB_PAGE_MAX     1000 /**< largest page a list returns */

/** Page size from a request value: <= 0 -> HUB_PAGE_DEFAULT, capped at HUB_PAGE_MAX. */
int hub_page_limit(int32_t requested);

/**
 * Page tokens are decimal numbers: an offset, or the key (row id) after which the
 * next page starts. "" -> 0; -1 for anything but digits.
 */
int64_t hub_page_token_parse(const char *token);

/** hub_page_token_parse() that fails with FERRY_E_INVALID_ARG on a bad token. */
ferry_err_code_t hub_page_token_read(const char *token, int64_t *out, ferry_err_t *err);

/** One page of mapped rows (ferry_store_page_t); every member is owned by the arena. */
typedef ferry_store_page_t hub_rows_t;

/* ---- transactions ---------------------------------------------------------------------- */

/** Begins / commits (rolling back on failure) / rolls back a write transaction (hub_db_lock held). */
ferry_err_code_t hub_tx_begin(ferry_hub_t *hub, ferry_err_t *err);
ferry_err_code_t hub_tx_commit(ferry_hub_t *hub, ferry_err_t *err);
void hub_tx_rollback(ferry_hub_t *hub);

/* ---- values and arguments ------------------------------------------------------------ */

/** Unix ms of |ts| (0 for NULL). */
int64_t hub_ts_ms(const struct Google__Protobuf__Timestamp *ts);

/** strdup that never returns NULL for NULL input (""); NULL only when out of memory. */
char *hub_strdup(const char *s);

/**
 * Validates a customer/store/node code: 1..64 of [A-Za-z0-9_-]. FERRY_E_INVALID_ARG
 * naming |field| otherwise.
 */
ferry_err_code_t hub_check_code(const char *field, const char *code, ferry_err_t *err);

/** Parses a decimal id string ("12"); FERRY_E_INVALID_ARG naming |what| otherwise. */
ferry_err_code_t hub_parse_id(const char *s, const char *what, int64_t *out, ferry_err_t *err);

#endif
