/*
 * Repository: node presence and binding (see ferry/store/presence.h).
 */
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/store/presence.h"
#include "ferry/store_sqlite.h"

ferry_err_code_t ferry_store_presence_flush(ferry_store_t *s, const ferry_store_presence_row_t *rows,
                                            size_t n, ferry_err_t *err)
{
    /* Facts are written only when a check-in carried them (keep-alives do not). */
    static const char sql[] = "UPDATE node SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?2),"
                              " agent_version = CASE WHEN ?3 THEN ?4 ELSE agent_version END,"
                              " installed_version = CASE WHEN ?3 THEN ?5 ELSE installed_version END,"
                              " free_disk_bytes = CASE WHEN ?3 THEN ?6 ELSE free_disk_bytes END,"
                              " current_task_id = CASE WHEN ?3 THEN"
                              "   (SELECT id FROM update_task WHERE id = ?7 AND node_id = ?1)"
                              "   ELSE current_task_id END"
                              " WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if (n == 0)
        return FERRY_OK;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "presence flush", err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rows[i].node_id);
        sqlite3_bind_int64(st, 2, rows[i].last_seen_ms);
        sqlite3_bind_int(st, 3, rows[i].has_facts);
        ferry_store_bind_text(st, 4, rows[i].agent_version);
        ferry_store_bind_text(st, 5, rows[i].installed_version);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)rows[i].free_disk);
        sqlite3_bind_int64(st, 7, rows[i].current_task_id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = ferry_store_sql_err(ferry_store_sqlite(s), "presence flush", err);
            break;
        }
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_presence_nodes(ferry_store_t *s,
                                            void (*fn)(void *ctx, int64_t node_id, int64_t last_seen),
                                            void *ctx, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, "SELECT id, COALESCE(last_seen_at, 0) FROM node", &st, "presence",
                                  err)) != FERRY_OK)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "presence", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_presence_busy_nodes(ferry_store_t *s, void (*fn)(void *ctx, int64_t node_id),
                                                 void *ctx, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db,
                                  "SELECT DISTINCT node_id FROM update_task WHERE state NOT IN (?1, ?2, ?3)",
                                  &st, "presence", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int(st, 1, FERRY_STATE_SUCCEEDED);
    sqlite3_bind_int(st, 2, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 3, FERRY_STATE_ROLLBACKED);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0));
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "presence", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_for_bind(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                           Ferry__V1__Node **out, int64_t *bound_at, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    Ferry__V1__Node *n = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    *bound_at = 0;
    if ((rc = ferry_store_prepare(
             db,
             "SELECT n.code, n.environment, s.code, c.code, n.name, COALESCE(n.bound_at, 0),"
             " n.created_at, n.updated_at FROM node n JOIN store s ON s.id = n.store_id"
             " JOIN customer c ON c.id = s.customer_id WHERE n.id = ?1",
             &st, "bind", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, node_id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "node %lld not found", (long long)node_id);
    } else if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "bind", err);
    } else if ((n = ferry_arena_alloc(a, sizeof(*n))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "bind: out of memory");
    } else {
        ferry__v1__node__init(n);
        n->code = ferry_store_col_dup(a, st, 0);
        n->environment = (Ferry__V1__Environment)sqlite3_column_int(st, 1);
        n->store_code = ferry_store_col_dup(a, st, 2);
        n->customer_code = ferry_store_col_dup(a, st, 3);
        n->name = ferry_store_col_dup(a, st, 4);
        *bound_at = sqlite3_column_int64(st, 5);
        n->bound_at = ferry_arena_ts(a, *bound_at);
        n->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 6));
        n->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
        *out = n;
    }
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_mark_bound(ferry_store_t *s, int64_t node_id, int64_t now, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db, "UPDATE node SET bound_at = ?2 WHERE id = ?1 AND bound_at IS NULL", &st,
                                  "bind", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, node_id);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "bind", err);
    sqlite3_finalize(st);
    return rc;
}
