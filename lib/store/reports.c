/*
 * Repository: node reports and node files (see ferry/store/reports.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/db.h"
#include "ferry/model/states.h"
#include "ferry/store/reports.h"
#include "ferry/store_sqlite.h"
#include "ferry/v1/admin.pb-c.h"

ferry_err_code_t ferry_store_report_task(ferry_store_t *s, int64_t task_id, ferry_store_report_task_t *out,
                                         ferry_err_t *err)
{
    static const char sql[] =
        "SELECT t.node_id, t.state, t.last_seq, t.halted OR r.status IN (?2, ?3), t.release_id"
        " FROM update_task t JOIN release r ON r.id = t.release_id WHERE t.id = ?1";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "report", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    sqlite3_bind_int(st, 3, FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->node_id = sqlite3_column_int64(st, 0);
        out->state = sqlite3_column_int(st, 1);
        out->last_seq = (uint64_t)sqlite3_column_int64(st, 2);
        out->halted = sqlite3_column_int(st, 3) != 0;
        out->release_id = sqlite3_column_int64(st, 4);
    } else if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "task %" PRId64 " not found", task_id);
    } else {
        rc = ferry_store_sql_err(db, "report", err);
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_report_timings_put(ferry_store_t *s, int64_t task_id,
                                                const ferry_store_timing_t *t, size_t n, uint64_t seq,
                                                ferry_err_t *err)
{
    static const char ins[] =
        "INSERT INTO task_timing (task_id, state, started_at, duration_ms, seq) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(task_id, state, started_at) DO UPDATE SET duration_ms = excluded.duration_ms,"
        " seq = excluded.seq";
    static const char cnt[] = "SELECT count(*) FROM task_timing WHERE task_id = ?1";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int64_t rows = 0;

    if (n == 0)
        return FERRY_OK;
    /* A savepoint: a refusal leaves nothing behind, also inside a batch's shared transaction. */
    if ((rc = ferry_db_exec(db, "SAVEPOINT report_timings", "report: timings", err)) != FERRY_OK)
        return rc;
    if ((rc = ferry_store_prepare_cached(s, ins, &st, "report: timings", err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int(st, 2, t[i].state);
        sqlite3_bind_int64(st, 3, t[i].started_at);
        sqlite3_bind_int64(st, 4, t[i].duration_ms);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)seq);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = ferry_store_sql_err(db, "report: timings", err);
            goto out;
        }
        sqlite3_reset(st);
    }
    ferry_store_stmt_release(s, st);
    st = NULL;
    if ((rc = ferry_store_prepare_cached(s, cnt, &st, "report: timings", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "report: timings", err);
        goto out;
    }
    rows = sqlite3_column_int64(st, 0);
    if (rows > FERRY_STORE_TASK_TIMINGS_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "timings: a task keeps at most %d step timings (this report would make %" PRId64
                           ")",
                           FERRY_STORE_TASK_TIMINGS_MAX, rows);
out:
    ferry_store_stmt_release(s, st);
    if (rc != FERRY_OK)
        sqlite3_exec(db, "ROLLBACK TO report_timings", NULL, NULL, NULL);
    sqlite3_exec(db, "RELEASE report_timings", NULL, NULL, NULL);
    return rc;
}

ferry_err_code_t ferry_store_report_hook_put(ferry_store_t *s, int64_t task_id, const ferry_store_hook_t *h,
                                             uint64_t seq, int64_t now, ferry_err_t *err)
{
    /* The cap holds for new ids only; the attempt is the task's, so a retry's results
     * are told apart from the failed attempt's (ferry_store_task_failed_hooks). */
    static const char ups[] =
        "INSERT INTO task_hook (task_id, hook_id, stage, name, result, message, stderr_tail, duration_ms,"
        " exit_status, attempt, seq, at)"
        " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, t.attempt, ?10, ?11 FROM update_task t WHERE t.id = ?1"
        " AND ((SELECT count(*) FROM task_hook WHERE task_id = ?1) < ?12"
        "  OR EXISTS (SELECT 1 FROM task_hook WHERE task_id = ?1 AND hook_id = ?2))"
        " ON CONFLICT(task_id, hook_id) DO UPDATE SET stage = excluded.stage, name = excluded.name,"
        " result = excluded.result, message = excluded.message, stderr_tail = excluded.stderr_tail,"
        " duration_ms = excluded.duration_ms, exit_status = excluded.exit_status, attempt = excluded.attempt,"
        " at = excluded.at"; /* seq stays: the first report of the hook orders the list */
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, ups, &st, "report: hook", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    ferry_store_bind_text(st, 2, h->hook_id);
    sqlite3_bind_int(st, 3, h->stage);
    ferry_store_bind_text(st, 4, h->name);
    sqlite3_bind_int(st, 5, h->result);
    ferry_store_bind_text(st, 6, h->message);
    ferry_store_bind_text(st, 7, h->stderr_tail);
    sqlite3_bind_int64(st, 8, h->duration_ms);
    sqlite3_bind_int(st, 9, h->exit_status);
    sqlite3_bind_int64(st, 10, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 11, now);
    sqlite3_bind_int(st, 12, FERRY_STORE_TASK_HOOKS_MAX);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "report: hook", err);
    else if (sqlite3_changes(db) == 0)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "hook: a task keeps at most %d hook results ('%.64s' would be one more)",
                           FERRY_STORE_TASK_HOOKS_MAX, h->hook_id != NULL ? h->hook_id : "");
    ferry_store_stmt_release(s, st);
    return rc;
}

/* Whether the history of |task_id| is full (FERRY_STORE_TASK_EVENTS_MAX rows). */
static ferry_err_code_t events_full(ferry_store_t *s, int64_t task_id, bool *full, ferry_err_t *err)
{
    /* Counts at most the cap + 1 index entries, never the whole history. */
    static const char sql[] = "SELECT count(*) FROM (SELECT 1 FROM task_event WHERE task_id = ?1 LIMIT ?2)";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *full = false;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "report: history", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, FERRY_STORE_TASK_EVENTS_MAX);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "report: history", err);
    else
        *full = sqlite3_column_int64(st, 0) >= FERRY_STORE_TASK_EVENTS_MAX;
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_report_apply(ferry_store_t *s, const ferry_store_report_t *r, ferry_err_t *err)
{
    /* Error code: the report's when given; a failure path keeps the last known one. */
    static const char upd[] =
        "UPDATE update_task SET state = ?2,"
        " error_code = CASE WHEN ?3 <> '' THEN ?3 WHEN ?2 IN (?16, ?17, ?18) THEN error_code ELSE '' END,"
        " message = ?4, percent = ?5, bytes = ?6, bytes_total = ?7, last_seq = ?8,"
        " backup_local_path = CASE WHEN ?9 <> '' THEN ?9 ELSE backup_local_path END,"
        " server_dir = CASE WHEN ?10 <> '' THEN ?10 ELSE server_dir END,"
        " client_dir = CASE WHEN ?11 <> '' THEN ?11 ELSE client_dir END,"
        " checkpoint = CASE WHEN ?12 <> '' THEN ?12 ELSE checkpoint END,"
        " download_json = COALESCE(?15, download_json),"
        " started_at = CASE WHEN ?2 <> ?19 THEN COALESCE(started_at, ?14) ELSE started_at END,"
        " finished_at = CASE WHEN ?2 IN (?20, ?16, ?18) THEN ?14 ELSE finished_at END,"
        " updated_at = ?14 WHERE id = ?1";
    static const char ins[] =
        "INSERT INTO task_event (task_id, seq, state, error_code, message, percent, bytes,"
        " bytes_total, source, reported_at, at, hook_json)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'agent', ?9, ?10, COALESCE(?11, ''))";
    static const char upd_seq[] = "UPDATE update_task SET last_seq = ?2 WHERE id = ?1";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    bool full = false;
    ferry_err_code_t rc;

    if (r->hook_only) {
        if ((rc = ferry_store_prepare_cached(s, upd_seq, &st, "report", err)) != FERRY_OK)
            goto out;
        sqlite3_bind_int64(st, 1, r->task_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = ferry_store_sql_err(db, "report: update task", err);
            goto out;
        }
        ferry_store_stmt_release(s, st);
        st = NULL;
        goto history;
    }
    if ((rc = ferry_store_prepare_cached(s, upd, &st, "report", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, r->task_id);
    sqlite3_bind_int(st, 2, r->state);
    ferry_store_bind_text(st, 3, r->error_code);
    ferry_store_bind_text(st, 4, r->message);
    sqlite3_bind_int(st, 5, r->percent);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->bytes);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes_total);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->seq);
    ferry_store_bind_text(st, 9, r->backup_local_path);
    ferry_store_bind_text(st, 10, r->server_dir);
    ferry_store_bind_text(st, 11, r->client_dir);
    ferry_store_bind_text(st, 12, r->checkpoint);
    sqlite3_bind_int64(st, 14, r->now);
    if (r->download_json != NULL)
        sqlite3_bind_text(st, 15, r->download_json, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 16, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 17, FERRY_STATE_ROLLBACKING);
    sqlite3_bind_int(st, 18, FERRY_STATE_ROLLBACKED);
    sqlite3_bind_int(st, 19, FERRY_STATE_PENDING);
    sqlite3_bind_int(st, 20, FERRY_STATE_SUCCEEDED);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "report: update task", err);
        goto out;
    }
    ferry_store_stmt_release(s, st);
    st = NULL;
history:
    /* Past the cap the history keeps state changes only: a node reporting progress for
     * hours cannot grow one task's history without bound. */
    if ((rc = events_full(s, r->task_id, &full, err)) != FERRY_OK || (full && r->state == r->prev_state))
        goto out;
    if ((rc = ferry_store_prepare_cached(s, ins, &st, "report: history", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, r->task_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->seq);
    sqlite3_bind_int(st, 3, r->state);
    ferry_store_bind_text(st, 4, r->error_code);
    ferry_store_bind_text(st, 5, r->message);
    sqlite3_bind_int(st, 6, r->percent);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->bytes_total);
    if (r->reported_at != 0)
        sqlite3_bind_int64(st, 9, r->reported_at);
    sqlite3_bind_int64(st, 10, r->now);
    if (r->hook_json != NULL)
        sqlite3_bind_text(st, 11, r->hook_json, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "report: history", err);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

/* ---- node files --------------------------------------------------------------------------------- */

ferry_err_code_t ferry_store_task_node(ferry_store_t *s, int64_t task_id, int64_t *node_id, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *node_id = 0;
    if ((rc = ferry_store_prepare(db, "SELECT node_id FROM update_task WHERE id = ?1", &st, "task owner",
                                  err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *node_id = sqlite3_column_int64(st, 0);
    else if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "task %" PRId64 " not found", task_id);
    else
        rc = ferry_store_sql_err(db, "task owner", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_task_files_count(ferry_store_t *s, int64_t task_id, int64_t *n, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *n = 0;
    if ((rc = ferry_store_prepare(
             db,
             "SELECT CASE WHEN json_valid(report_files_json) THEN "
             "json_array_length(report_files_json) ELSE 0 END FROM update_task WHERE id = ?1",
             &st, "task files", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "task files", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_upload_insert(ferry_store_t *s, const ferry_store_node_upload_new_t *u,
                                                ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc =
             ferry_store_prepare(db,
                                 "INSERT INTO upload (id, purpose, node_id, file_name, expected_size,"
                                 " expected_sha256, file_kind, task_id, content_type, created_at, expires_at)"
                                 " VALUES (?1, 'node_file', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                 &st, "create upload", err)) != FERRY_OK)
        return rc;
    ferry_store_bind_text(st, 1, u->id);
    sqlite3_bind_int64(st, 2, u->node_id);
    ferry_store_bind_text(st, 3, u->file_name);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)u->size);
    ferry_store_bind_text(st, 5, u->sha256);
    sqlite3_bind_int(st, 6, u->kind);
    if (u->task_id > 0)
        sqlite3_bind_int64(st, 7, u->task_id);
    ferry_store_bind_text(st, 8, u->content_type);
    sqlite3_bind_int64(st, 9, u->created_at);
    sqlite3_bind_int64(st, 10, u->expires_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create upload", err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_upload_get(ferry_store_t *s, const char *id, ferry_store_node_upload_t *out,
                                             ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((rc =
             ferry_store_prepare(db,
                                 "SELECT node_id, COALESCE(task_id, 0), file_kind, status, file_name,"
                                 " expected_sha256, expected_size, content_type, COALESCE(report_file_id, 0),"
                                 " blob_sha256 FROM upload WHERE id = ?1 AND purpose = 'node_file'",
                                 &st, "commit upload", err)) != FERRY_OK)
        return rc;
    ferry_store_bind_text(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        out->node_id = sqlite3_column_int64(st, 0);
        out->task_id = sqlite3_column_int64(st, 1);
        out->kind = sqlite3_column_int(st, 2);
        snprintf(out->status, sizeof(out->status), "%s", ferry_store_col_text(st, 3));
        snprintf(out->file_name, sizeof(out->file_name), "%s", ferry_store_col_text(st, 4));
        snprintf(out->expected_sha256, sizeof(out->expected_sha256), "%s", ferry_store_col_text(st, 5));
        out->expected_size = (uint64_t)sqlite3_column_int64(st, 6);
        snprintf(out->content_type, sizeof(out->content_type), "%s", ferry_store_col_text(st, 7));
        out->report_file_id = sqlite3_column_int64(st, 8);
        snprintf(out->blob_sha256, sizeof(out->blob_sha256), "%s", ferry_store_col_text(st, 9));
    } else if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "upload %.64s not found", id != NULL ? id : "");
    } else {
        rc = ferry_store_sql_err(db, "commit upload", err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs |sql| with |f|'s values bound by number (?1 upload id ... ?11 config summary):
 * each statement uses only some of them. */
static ferry_err_code_t exec_linked(sqlite3 *db, const char *sql, const ferry_store_report_file_new_t *f,
                                    int64_t file_id, const char *what, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int np;

    if ((rc = ferry_store_prepare(db, sql, &st, what, err)) != FERRY_OK)
        return rc;
    np = sqlite3_bind_parameter_count(st);
    for (int k = 1; k <= np; k++) {
        const char *pn = sqlite3_bind_parameter_name(st, k);
        int idx = pn != NULL ? atoi(pn + 1) : k;
        switch (idx) {
        case 1:
            ferry_store_bind_text(st, k, f->upload_id);
            break;
        case 2:
            sqlite3_bind_int64(st, k, file_id);
            break;
        case 3:
            sqlite3_bind_int64(st, k, f->task_id);
            break;
        case 4:
            sqlite3_bind_int(st, k, f->kind);
            break;
        case 5:
            ferry_store_bind_text(st, k, f->name);
            break;
        case 6:
            sqlite3_bind_int64(st, k, (sqlite3_int64)f->size);
            break;
        case 7:
            sqlite3_bind_int64(st, k, f->now);
            break;
        case 8:
            sqlite3_bind_int64(st, k, f->node_id);
            break;
        case 9:
            sqlite3_bind_int64(st, k, f->config_version);
            break;
        case 10:
            ferry_store_bind_text(st, k, f->sha256);
            break;
        case 11:
            ferry_store_bind_text(st, k, f->config_summary_json);
            break;
        default:
            break;
        }
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, what, err);
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_upload_commit(ferry_store_t *s, const ferry_store_report_file_new_t *f,
                                                int64_t *file_id, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int64_t listed = 0;

    *file_id = 0;
    /* Re-checked here, under the lock: a concurrent commit of the same upload wins once. */
    if ((rc = exec_linked(
             db,
             "UPDATE upload SET status = 'committed', blob_sha256 = ?10 WHERE id = ?1 AND status = 'open'", f,
             0, "commit upload", err)) != FERRY_OK)
        return rc;
    if (sqlite3_changes(db) == 0)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "upload %.64s is no longer open", f->upload_id);
    if (f->task_id > 0) {
        if ((rc = ferry_store_task_files_count(s, f->task_id, &listed, err)) != FERRY_OK)
            return rc;
        if (listed >= FERRY_STORE_TASK_FILES_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "task %" PRId64 " already lists %" PRId64 " report files (at most %d)",
                                 f->task_id, listed, FERRY_STORE_TASK_FILES_MAX);
    }
    if ((rc = ferry_store_prepare(
             db,
             "INSERT INTO report_file (node_id, task_id, kind, name, blob_sha256, size, summary,"
             " content_type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
             &st, "commit upload", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, f->node_id);
    if (f->task_id > 0)
        sqlite3_bind_int64(st, 2, f->task_id);
    sqlite3_bind_int(st, 3, f->kind);
    ferry_store_bind_text(st, 4, f->name);
    ferry_store_bind_text(st, 5, f->sha256);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)f->size);
    ferry_store_bind_text(st, 7, f->summary);
    ferry_store_bind_text(st, 8, f->content_type);
    sqlite3_bind_int64(st, 9, f->now);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "commit upload", err);
    sqlite3_finalize(st);
    if (rc != FERRY_OK)
        return rc;
    *file_id = sqlite3_last_insert_rowid(db);
    /* Link it: upload -> file, the task's file list, the node configuration index. */
    if ((rc = exec_linked(db, "UPDATE upload SET report_file_id = ?2 WHERE id = ?1", f, *file_id,
                          "link upload", err)) != FERRY_OK)
        return rc;
    if (f->task_id > 0 &&
        (rc = exec_linked(db,
                          "UPDATE update_task SET report_files_json = json_insert(report_files_json, '$[#]',"
                          " json_object('fileId', CAST(?2 AS TEXT), 'kind', ?4, 'fileName', ?5, 'size', ?6)),"
                          " updated_at = ?7 WHERE id = ?3",
                          f, *file_id, "link upload", err)) != FERRY_OK)
        return rc;
    if (f->kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG &&
        (rc = exec_linked(
             db,
             "INSERT INTO node_config_index (node_id, config_version, file_id, blob_sha256, size,"
             " summary_json, uploaded_at) VALUES (?8, ?9, ?2, ?10, ?6, ?11, ?7)"
             " ON CONFLICT(node_id) DO UPDATE SET config_version = excluded.config_version,"
             " file_id = excluded.file_id, blob_sha256 = excluded.blob_sha256, size = excluded.size,"
             " summary_json = excluded.summary_json, uploaded_at = excluded.uploaded_at",
             f, *file_id, "link upload", err)) != FERRY_OK)
        return rc;
    return FERRY_OK;
}
