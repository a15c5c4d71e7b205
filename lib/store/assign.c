/*
 * Repository: the agent service's reads of tasks (see ferry/store/assign.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/model/window.h"
#include "ferry/store/assign.h"
#include "ferry/store_sqlite.h"
#include "ferry/v1/admin.pb-c.h"

ferry_err_code_t ferry_store_node_open_tasks(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                             int64_t only_task, ferry_store_open_task_t *out, size_t max,
                                             size_t *n, ferry_err_t *err)
{
    /* Columns 2..5: the window (NULL: none), the task's state and the node's zone, for the
     * maintenance-window hold (decided here with the clock: a window opens without a write).
     * Column 6: the update's notes, read in this query rather than once more per task. */
#define OPEN_COLS                                                                                            \
    "SELECT t.id, t.halted OR r.status IN (?6, ?7), r.window_start, r.window_end, t.state,"                  \
    " (SELECT time_zone FROM node WHERE id = ?1), CASE WHEN r.description <> '' THEN r.description"          \
    " ELSE (SELECT description FROM package WHERE id = r.package_id) END"                                    \
    " FROM update_task t JOIN release r ON r.id = t.release_id"
    static const char one[] = OPEN_COLS " WHERE t.id = ?2 AND t.node_id = ?1";
    static const char open[] = OPEN_COLS " WHERE t.node_id = ?1 AND t.state NOT IN (?3, ?4, ?5)"
                                         " ORDER BY t.id LIMIT ?8";
#undef OPEN_COLS
    int64_t now = ferry_store_now_ms();
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *n = 0;
    if ((rc = ferry_store_prepare_cached(s, only_task > 0 ? one : open, &st, "load assignments", err)) !=
        FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, node_id);
    if (only_task > 0) {
        sqlite3_bind_int64(st, 2, only_task);
    } else {
        sqlite3_bind_int(st, 3, FERRY_STATE_SUCCEEDED);
        sqlite3_bind_int(st, 4, FERRY_STATE_FAILED);
        sqlite3_bind_int(st, 5, FERRY_STATE_ROLLBACKED);
        sqlite3_bind_int64(st, 8, (sqlite3_int64)max);
    }
    sqlite3_bind_int(st, 6, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    sqlite3_bind_int(st, 7, FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED);
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        bool held = false;
        if (sqlite3_column_type(st, 2) != SQLITE_NULL && sqlite3_column_int(st, 4) == FERRY_STATE_PENDING) {
            char why[256];
            ferry_window_hold_reason(sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                                     ferry_store_col_text(st, 5), now, why, sizeof(why));
            held = why[0] != '\0'; /* an update already started (past 10) finishes regardless */
        }
        out[*n].id = sqlite3_column_int64(st, 0);
        out[*n].notes = NULL;
        if (a != NULL && (out[*n].notes = ferry_store_col_dup(a, st, 6)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load assignments: out of memory");
            break;
        }
        out[*n].window_held = held;
        out[(*n)++].halted = sqlite3_column_int(st, 1) != 0;
    }
    if (rc == FERRY_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "load assignments", err);
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_rollback_backup_path(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                                  char **out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    if ((rc = ferry_store_prepare(db,
                                  "SELECT o.backup_local_path FROM update_task t JOIN update_task o"
                                  " ON o.id = t.rollback_of_task_id WHERE t.id = ?1",
                                  &st, "rollback backup", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *out = ferry_store_col_dup(a, st, 0);
    else if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "rollback backup", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_task_ids(ferry_store_t *s, ferry_arena_t *a, int64_t release_id,
                                              int64_t task_id, int64_t **ids, size_t *n, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int64_t *buf = NULL, *grown;
    size_t cap = 0;
    int step;

    *ids = NULL;
    *n = 0;
    if (task_id <= 0) {
        if ((rc = ferry_store_prepare(db, "SELECT 1 FROM release WHERE id = ?1", &st, "load release tasks",
                                      err)) != FERRY_OK)
            goto out;
        sqlite3_bind_int64(st, 1, release_id);
        step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "release %" PRId64 " not found", release_id);
        else if (step != SQLITE_ROW)
            rc = ferry_store_sql_err(db, "load release tasks", err);
        sqlite3_finalize(st);
        st = NULL;
        if (rc != FERRY_OK)
            goto out;
    }
    if ((rc =
             ferry_store_prepare(db,
                                 task_id > 0 ? "SELECT id FROM update_task WHERE id = ?2"
                                             : "SELECT id FROM update_task WHERE release_id = ?1 ORDER BY id",
                                 &st, "load release tasks", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, release_id);
    if (task_id > 0)
        sqlite3_bind_int64(st, 2, task_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            if ((grown = realloc(buf, cap * sizeof(*buf))) == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
                goto out;
            }
            buf = grown;
        }
        buf[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (step != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "load release tasks", err);
        goto out;
    }
    if (task_id > 0 && *n == 0) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "task %" PRId64 " not found", task_id);
        goto out;
    }
    if (*n > 0) {
        if ((*ids = ferry_arena_alloc(a, *n * sizeof(**ids))) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
            goto out;
        }
        memcpy(*ids, buf, *n * sizeof(**ids));
    }
out:
    if (rc != FERRY_OK)
        *n = 0;
    sqlite3_finalize(st);
    free(buf);
    return rc;
}
