/**
 * @file store_sqlite.h
 * The SQLite side of the store: for the repositories in lib/store only (and, until
 * they are converted, the lib/hub files on the allow-list of
 * scripts/check-layering.sh). Nothing above the store includes this header.
 */
#ifndef FERRY_STORE_SQLITE_H
#define FERRY_STORE_SQLITE_H

#include <sqlite3.h>

#include "ferry/store.h"

/** The read-write connection. Store lock held while using it. */
sqlite3 *ferry_store_sqlite(ferry_store_t *s);

/**
 * The read-only connection, opened on first use, with its mutex held: pair with
 * ferry_store_ro_release(). NULL with |err| set on failure (mutex not held then).
 */
sqlite3 *ferry_store_ro_acquire(ferry_store_t *s, ferry_err_t *err);
void ferry_store_ro_release(ferry_store_t *s);

/** FERRY_E_IO "<what>: <sqlite message>" from |db|. */
ferry_err_code_t ferry_store_sql_err(sqlite3 *db, const char *what, ferry_err_t *err);

/** Prepares |sql| on |db| into *st (NULL on failure, with ferry_store_sql_err(|what|)). */
ferry_err_code_t ferry_store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what,
                                     ferry_err_t *err);

/**
 * Like ferry_store_prepare() on the read-write connection, for statements run on hot
 * paths: |sql| must be a string constant (its address keys the cache) and is parsed
 * once. Store lock held; hand the statement back with ferry_store_stmt_release()
 * (never sqlite3_finalize) before unlocking. A statement already in use (nested
 * call), or a full cache, gets a fresh one-off statement.
 */
ferry_err_code_t ferry_store_prepare_cached(ferry_store_t *s, const char *sql, sqlite3_stmt **st,
                                            const char *what, ferry_err_t *err);

/** The same on the read-only connection (ferry_store_ro_acquire() held). */
ferry_err_code_t ferry_store_ro_prepare_cached(ferry_store_t *s, const char *sql, sqlite3_stmt **st,
                                               const char *what, ferry_err_t *err);

/** Returns a statement from either cache (reset, bindings cleared), or finalizes a one-off; NULL is a no-op.
 */
void ferry_store_stmt_release(ferry_store_t *s, sqlite3_stmt *st);

/** Binds |v| (NULL -> "") as text at |i| (copied). */
int ferry_store_bind_text(sqlite3_stmt *st, int i, const char *v);
/** Text of column |i|, "" for NULL (valid until the next step). */
const char *ferry_store_col_text(sqlite3_stmt *st, int i);
/** A copy of the text of column |i| ("" for NULL), owned by |a|. */
char *ferry_store_col_dup(ferry_arena_t *a, sqlite3_stmt *st, int i);

/* ---- pages of rows ------------------------------------------------------------------------- */

/** Maps the current row of |st| to an item allocated in |a|; NULL fails the page. */
typedef void *(*ferry_store_row_fn)(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err);

#define FERRY_STORE_PAGE_BY_OFFSET (-1) /**< key_col value: the next token is offset + limit */

/**
 * Steps |st| (prepared and bound, selecting at most |limit| + 1 rows) and maps each of
 * the first |limit| rows with |row|. When a further row exists, the next page token is
 * the text of column |key_col| of the last mapped row (keyset paging), or with
 * FERRY_STORE_PAGE_BY_OFFSET, |offset| + |limit|. A step error is FERRY_E_IO naming
 * |what|; a NULL from |row| is its error (FERRY_E_NOMEM when it set none).
 */
ferry_err_code_t ferry_store_page_rows(sqlite3_stmt *st, const char *what, ferry_arena_t *a, int limit,
                                       int64_t offset, int key_col, ferry_store_row_fn row, void *ctx,
                                       ferry_store_page_t *out, ferry_err_t *err);

/**
 * SQL assembled from fixed fragments; every value is bound, in the order added (so
 * numbered parameters "?1".."?n" work too when added in order).
 */
typedef struct ferry_store_query {
    char sql[2048];
    int n;
    bool overflow; /**< too long or too many values: ferry_store_list() refuses the query */
    struct ferry_store_query_bind {
        bool is_int;
        int64_t i;
        const char *s; /**< not copied: must outlive the query */
    } binds[32];
} ferry_store_query_t;

/** Appends |frag| (NULL = nothing) to the SQL. */
void ferry_store_query_sql(ferry_store_query_t *q, const char *frag);
/** Appends |frag| (NULL = nothing) and binds |v| as the next value. */
void ferry_store_query_text(ferry_store_query_t *q, const char *frag, const char *v);
/** Appends |frag| (NULL = nothing) and binds |v| as the next value. */
void ferry_store_query_int(ferry_store_query_t *q, const char *frag, int64_t v);

/** Which connection a list reads. */
typedef enum ferry_store_conn {
    FERRY_STORE_CONN_MAIN = 0, /**< the writer, under the store lock (taken by ferry_store_list) */
    FERRY_STORE_CONN_RO = 1    /**< the read-only connection */
} ferry_store_conn_t;

/** One page of a list. */
typedef struct ferry_store_list {
    ferry_store_conn_t conn;
    const char *what; /**< "list tasks": error messages */
    int limit;        /**< ferry_store_page_limit() of the request */
    int64_t offset;   /**< offset paging: from the page token */
    int key_col;      /**< see ferry_store_page_rows() */
    ferry_store_row_fn row;
    void *ctx;
} ferry_store_list_t;

/**
 * Runs |q| (which must end with "LIMIT ?", plus " OFFSET ?" when paging by offset:
 * the limit + 1 and the offset are bound after the query's own values) on the
 * connection |l| names and maps one page with ferry_store_page_rows().
 */
ferry_err_code_t ferry_store_list(ferry_store_t *s, const ferry_store_list_t *l, const ferry_store_query_t *q,
                                  ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err);

#endif
