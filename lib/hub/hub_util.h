/*
 * The handlers' plumbing, shared by every hub module (hub_util.c):
 *   - the reply arena: every string and sub-message of one reply, freed at once;
 *   - running a handler body on the worker pool, failing a call from a ferry_err_t
 *     (recording the error name for the audit row);
 *   - paging: one page-size rule, one page-token format, and hub_page_rows(), which
 *     steps a prepared statement and maps each row of one page;
 *   - SQLite helpers: prepare/bind/column text, write transactions;
 *   - argument checks shared by several handlers (codes, decimal ids).
 */
#ifndef FERRY_HUB_UTIL_H
#define FERRY_HUB_UTIL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub_internal.h"

/* ---- reply arena ------------------------------------------------------------------ */

/** Owns every allocation of one reply. Zero-initialise; hub_arena_free() releases all. */
typedef struct hub_arena {
    struct hub_arena_block *head;
    bool failed; /**< an allocation failed: the reply is incomplete, answer NOMEM */
} hub_arena_t;

/** Zeroed memory owned by |a|, or NULL (and a->failed) when out of memory. */
void *hub_arena_alloc(hub_arena_t *a, size_t n);
/** A copy of |s| (NULL -> ""), owned by |a|; "" (static) when out of memory. */
char *hub_arena_strdup(hub_arena_t *a, const char *s);
/** printf into arena memory (at most 511 bytes); "" when out of memory. */
char *hub_arena_printf(hub_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** A Timestamp for unix milliseconds |ms|, or NULL when |ms| <= 0 (unset). */
Google__Protobuf__Timestamp *hub_arena_ts(hub_arena_t *a, int64_t ms);
/** A copy of the text of column |i| ("" for NULL), owned by |a|. */
char *hub_arena_col(hub_arena_t *a, sqlite3_stmt *st, int i);
/** Hands an unpacked protobuf-c message to |a| (freed with it; on OOM freed at once). */
void hub_arena_own(hub_arena_t *a, ProtobufCMessage *m);
void hub_arena_free(hub_arena_t *a);

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

/** Maps the current row of |st| to a reply item allocated in |a|; NULL fails the page. */
typedef void *(*hub_row_fn)(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err);

/** One page of mapped rows; every member is owned by the arena. */
typedef struct hub_rows {
    void **items;
    size_t n;
    char *next_page_token; /**< "" on the last page */
} hub_rows_t;

/** Where the next page starts. */
#define HUB_PAGE_BY_OFFSET (-1) /**< key_col value: the token is offset + limit */

/**
 * Steps |st| (prepared and bound, selecting at most |limit| + 1 rows) and maps each of
 * the first |limit| rows with |row|. When a further row exists, the next page token
 * is the text of column |key_col| of the last mapped row (keyset paging), or with
 * key_col = HUB_PAGE_BY_OFFSET, |offset| + |limit|. A step error is FERRY_E_IO
 * naming |what|; a NULL from |row| is its error (FERRY_E_NOMEM when it set none).
 */
ferry_err_code_t hub_page_rows(sqlite3_stmt *st, const char *what, hub_arena_t *a, int limit, int64_t offset,
                               int key_col, hub_row_fn row, void *ctx, hub_rows_t *out, ferry_err_t *err);

/* ---- list queries -------------------------------------------------------------------- */

/**
 * SQL assembled from fixed fragments; every value is bound, in the order added (so
 * numbered parameters "?1".."?n" work too when added in order).
 */
typedef struct hub_query {
    char sql[2048];
    int n;
    bool overflow; /**< too long or too many values: hub_list() refuses the query */
    struct hub_query_bind {
        bool is_int;
        int64_t i;
        const char *s; /**< not copied: must outlive the query */
    } binds[32];
} hub_query_t;

/** Appends |frag| (NULL = nothing) to the SQL. */
void hub_query_sql(hub_query_t *q, const char *frag);
/** Appends |frag| (NULL = nothing) and binds |s| as the next value. */
void hub_query_text(hub_query_t *q, const char *frag, const char *s);
/** Appends |frag| (NULL = nothing) and binds |v| as the next value. */
void hub_query_int(hub_query_t *q, const char *frag, int64_t v);

/** Which connection a list reads. */
typedef enum hub_db_kind {
    HUB_DB_MAIN = 0, /**< hub->db under hub_db_lock (worker-pool handlers) */
    HUB_DB_RO = 1    /**< the read-only side connection (inline handlers) */
} hub_db_kind_t;

/** One page of a list. */
typedef struct hub_list {
    hub_db_kind_t db;
    const char *what; /**< "list tasks": error messages */
    int limit;        /**< hub_page_limit() of the request */
    int64_t offset;   /**< offset paging: from the page token */
    int key_col;      /**< see hub_page_rows() */
    hub_row_fn row;
    void *ctx;
} hub_list_t;

/**
 * Runs |q| (which must end with "LIMIT ?", plus " OFFSET ?" when paging by offset:
 * hub_list() binds limit + 1 and the offset after the query's own values) on the
 * connection |l| names and maps one page with hub_page_rows().
 */
ferry_err_code_t hub_list(ferry_hub_t *hub, const hub_list_t *l, const hub_query_t *q, hub_arena_t *a,
                          hub_rows_t *out, ferry_err_t *err);

/* ---- SQLite -------------------------------------------------------------------------- */

/** FERRY_E_IO "<what>: <sqlite message>" from |db|. */
ferry_err_code_t hub_sql_err(sqlite3 *db, const char *what, ferry_err_t *err);

/** Prepares |sql| on |db| into *st (NULL on failure, with hub_sql_err(|what|)). */
ferry_err_code_t hub_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what,
                             ferry_err_t *err);

/**
 * Like hub_prepare() on hub->db, for statements run on hot paths: |sql| must be a
 * string constant (its address keys the cache) and is parsed once; later calls get
 * the same statement back. Call with hub_db_lock() held and hand the statement back
 * with hub_stmt_release() (never sqlite3_finalize) before unlocking. A statement
 * already in use (nested call), or a full cache, gets a fresh one-off statement.
 */
ferry_err_code_t hub_prepare_cached(ferry_hub_t *hub, const char *sql, sqlite3_stmt **st, const char *what,
                                    ferry_err_t *err);

/** Returns a statement from hub_prepare_cached() (reset, bindings cleared); NULL is a no-op. */
void hub_stmt_release(ferry_hub_t *hub, sqlite3_stmt *st);

/** Binds |s| (NULL -> "") as text at |i| (copied). */
int hub_bind_text(sqlite3_stmt *st, int i, const char *s);

/** Text of column |i|, "" for NULL (valid until the next step). */
const char *hub_col_text(sqlite3_stmt *st, int i);

/** Begins / commits (rolling back on failure) / rolls back a write transaction on hub->db. */
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
