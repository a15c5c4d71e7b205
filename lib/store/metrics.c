/*
 * Repository: figures for the metrics endpoint (see ferry/store/metrics.h).
 */
#include "ferry/store/metrics.h"
#include "ferry/store_sqlite.h"

ferry_err_code_t ferry_store_task_states_ro(ferry_store_t *s, void (*fn)(void *ctx, int state, int64_t count),
                                            void *ctx, ferry_err_t *err)
{
    static const char sql[] = "SELECT state, count(*) FROM update_task GROUP BY state";
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_ro_prepare_cached(s, sql, &st, "metrics: tasks", err)) != FERRY_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int(st, 0), sqlite3_column_int64(st, 1));
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "metrics: tasks", err);
out:
    ferry_store_stmt_release(s, st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_nodes_enabled_ro(ferry_store_t *s, int64_t *count, ferry_err_t *err)
{
    static const char sql[] = "SELECT count(*) FROM node WHERE disabled = 0";
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *count = 0;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_ro_prepare_cached(s, sql, &st, "metrics: nodes", err)) != FERRY_OK)
        goto out;
    if (sqlite3_step(st) == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    else
        rc = ferry_store_sql_err(db, "metrics: nodes", err);
out:
    ferry_store_stmt_release(s, st);
    ferry_store_ro_release(s);
    return rc;
}
