/*
 * The hub's remaining door to SQLite, for the files scripts/check-layering.sh still
 * allows (its allow-list shrinks as each aggregate moves into a lib/store
 * repository). Thin wrappers over ferry/store_sqlite.h under the hub's historical
 * names; a converted file includes none of this.
 */
#ifndef FERRY_HUB_SQL_H
#define FERRY_HUB_SQL_H

#include <sqlite3.h>

#include "ferry/store_sqlite.h"
#include "hub_util.h"

/** Sets hub->db to the store's writer connection (ferry_hub_open). */
void hub_sql_attach(ferry_hub_t *hub);

/** A copy of the text of column |i| ("" for NULL), owned by |a|. */
static inline char *hub_arena_col(hub_arena_t *a, sqlite3_stmt *st, int i)
{
    return ferry_store_col_dup(a, st, i);
}

typedef ferry_store_row_fn hub_row_fn;
#define HUB_PAGE_BY_OFFSET FERRY_STORE_PAGE_BY_OFFSET

static inline ferry_err_code_t hub_page_rows(sqlite3_stmt *st, const char *what, hub_arena_t *a, int limit,
                                             int64_t offset, int key_col, hub_row_fn row, void *ctx,
                                             hub_rows_t *out, ferry_err_t *err)
{
    return ferry_store_page_rows(st, what, a, limit, offset, key_col, row, ctx, out, err);
}

typedef ferry_store_query_t hub_query_t;
#define hub_query_sql  ferry_store_query_sql
#define hub_query_text ferry_store_query_text
#define hub_query_int  ferry_store_query_int

typedef ferry_store_conn_t hub_db_kind_t;
#define HUB_DB_MAIN FERRY_STORE_CONN_MAIN
#define HUB_DB_RO   FERRY_STORE_CONN_RO
typedef ferry_store_list_t hub_list_t;

static inline ferry_err_code_t hub_list(ferry_hub_t *hub, const hub_list_t *l, const hub_query_t *q,
                                        hub_arena_t *a, hub_rows_t *out, ferry_err_t *err)
{
    return ferry_store_list(hub->store, l, q, a, out, err);
}

#define hub_sql_err  ferry_store_sql_err
#define hub_prepare  ferry_store_prepare
#define hub_bind_text ferry_store_bind_text
#define hub_col_text ferry_store_col_text

static inline ferry_err_code_t hub_prepare_cached(ferry_hub_t *hub, const char *sql, sqlite3_stmt **st,
                                                  const char *what, ferry_err_t *err)
{
    return ferry_store_prepare_cached(hub->store, sql, st, what, err);
}

static inline void hub_stmt_release(ferry_hub_t *hub, sqlite3_stmt *st)
{
    ferry_store_stmt_release(hub->store, st);
}

/** The read-only connection with its mutex held (NULL and |err| on failure); pair with hub_ro_release(). */
static inline sqlite3 *hub_ro_acquire(ferry_hub_t *hub, ferry_err_t *err)
{
    return ferry_store_ro_acquire(hub->store, err);
}

static inline void hub_ro_release(ferry_hub_t *hub)
{
    ferry_store_ro_release(hub->store);
}

#endif
