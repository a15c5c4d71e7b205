/*
 * Repository: rollouts in waves and maintenance windows (see ferry/store/waves.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/store/waves.h"
#include "ferry/store_sqlite.h"
#include "ferry/v1/admin.pb-c.h"

/* Steps a write statement to its end and gives it back to the statement cache. */
static ferry_err_code_t step_done(ferry_store_t *s, sqlite3_stmt *st, const char *what, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), what, err);
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_rollout_set(ferry_store_t *s, int64_t id, const ferry_store_rollout_t *r,
                                         ferry_err_t *err)
{
    static const char sql[] =
        "UPDATE release SET wave_count = ?2, current_wave = ?3, success_threshold = ?4, error_threshold = ?5,"
        " error_is_count = ?6, approve_waves = ?7, window_start = ?8, window_end = ?9 WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "create release", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, r->wave_count);
    sqlite3_bind_int(st, 3, r->current_wave);
    sqlite3_bind_int(st, 4, r->success_threshold);
    sqlite3_bind_int64(st, 5, r->error_threshold);
    sqlite3_bind_int(st, 6, r->error_is_count ? 1 : 0);
    sqlite3_bind_int(st, 7, r->approve_waves ? 1 : 0);
    if (r->window_start >= 0 && r->window_end >= 0) {
        sqlite3_bind_int(st, 8, r->window_start);
        sqlite3_bind_int(st, 9, r->window_end);
    }
    return step_done(s, st, "create release", err);
}

ferry_err_code_t ferry_store_rollout_get(ferry_store_t *s, int64_t id, ferry_store_rollout_t *out,
                                         ferry_err_t *err)
{
    static const char sql[] =
        "SELECT status, wave_count, current_wave, success_threshold, error_threshold, error_is_count,"
        " approve_waves, awaiting_promotion, COALESCE(window_start, -1),"
        " COALESCE(window_end, -1) FROM release WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    out->window_start = out->window_end = -1;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "rollout", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        out->status = sqlite3_column_int(st, 0);
        out->wave_count = sqlite3_column_int(st, 1);
        out->current_wave = sqlite3_column_int(st, 2);
        out->success_threshold = sqlite3_column_int(st, 3);
        out->error_threshold = (uint32_t)sqlite3_column_int64(st, 4);
        out->error_is_count = sqlite3_column_int(st, 5) != 0;
        out->approve_waves = sqlite3_column_int(st, 6) != 0;
        out->awaiting_promotion = sqlite3_column_int(st, 7) != 0;
        out->window_start = sqlite3_column_int(st, 8);
        out->window_end = sqlite3_column_int(st, 9);
    } else {
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id)
                                 : ferry_store_sql_err(ferry_store_sqlite(s), "rollout", err);
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_wave_add(ferry_store_t *s, int64_t id, int number, const char *spec,
                                      int64_t node_count, ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO release_wave (release_id, number, spec, node_count) VALUES (?1, ?2, ?3, ?4)";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "create release", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, number);
    ferry_store_bind_text(st, 3, spec);
    sqlite3_bind_int64(st, 4, node_count);
    return step_done(s, st, "create release", err);
}

ferry_err_code_t ferry_store_wave_node_add(ferry_store_t *s, int64_t id, int64_t ord, int64_t node_id,
                                           int wave, bool canary, ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO release_node (release_id, ord, node_id, wave, canary) VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "create release", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, ord);
    sqlite3_bind_int64(st, 3, node_id);
    sqlite3_bind_int(st, 4, wave);
    sqlite3_bind_int(st, 5, canary ? 1 : 0);
    return step_done(s, st, "create release", err);
}

/* |v| (|*cap| elements of |size| bytes, |n| used) with room for one more, doubling from
 * |first|: the buffer to use from now on, or NULL (|v| untouched, still owned by the
 * caller) with FERRY_E_NOMEM naming |what|. */
static void *grow(void *v, size_t *cap, size_t n, size_t first, size_t size, const char *what,
                  ferry_err_t *err)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : first;
    void *x = realloc(v, nc * size);
    if (x == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    *cap = nc;
    return x;
}

ferry_err_code_t ferry_store_wave_nodes(ferry_store_t *s, int64_t id, int wave, int64_t **ids, size_t *n,
                                        ferry_err_t *err)
{
    /* A node disabled (or whose store was) since the release was created gets no task, as it
     * would not have been in the scope then. */
    static const char sql[] = "SELECT w.node_id FROM release_node w JOIN node n ON n.id = w.node_id"
                              " JOIN store s ON s.id = n.store_id WHERE w.release_id = ?1 AND w.wave = ?2"
                              " AND n.disabled = 0 AND s.disabled = 0 ORDER BY w.ord";
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    *ids = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "start wave", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, wave);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t *x = grow(*ids, &cap, *n, 64, sizeof(*x), "start wave", err);
        if (x == NULL) {
            rc = FERRY_E_NOMEM;
            break;
        }
        *ids = x;
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (rc == FERRY_OK && step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "start wave", err);
    if (rc != FERRY_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_wave_started(ferry_store_t *s, int64_t id, int wave, int64_t now,
                                          ferry_err_t *err)
{
    static const char wsql[] =
        "UPDATE release_wave SET started_at = ?3 WHERE release_id = ?1 AND number = ?2";
    static const char rsql[] =
        "UPDATE release SET current_wave = ?2, awaiting_promotion = 0, updated_at = ?3 WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, wsql, &st, "start wave", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, wave);
    sqlite3_bind_int64(st, 3, now);
    if ((rc = step_done(s, st, "start wave", err)) != FERRY_OK ||
        (rc = ferry_store_prepare_cached(s, rsql, &st, "start wave", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, wave);
    sqlite3_bind_int64(st, 3, now);
    return step_done(s, st, "start wave", err);
}

ferry_err_code_t ferry_store_wave_counts(ferry_store_t *s, int64_t id, int wave, uint64_t *total,
                                         uint64_t *succeeded, uint64_t *failed, ferry_err_t *err)
{
    /* Served by the partial index update_task_wave (release_id, wave, state): three range counts. */
    static const char sql[] =
        "SELECT count(*), count(*) FILTER (WHERE state = ?3), count(*) FILTER (WHERE state IN (?4, ?5))"
        " FROM update_task WHERE release_id = ?1 AND wave = ?2 AND wave > 0 AND kind = 1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *total = *succeeded = *failed = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "wave counts", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, wave);
    sqlite3_bind_int(st, 3, FERRY_STATE_SUCCEEDED);
    sqlite3_bind_int(st, 4, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 5, FERRY_STATE_ROLLBACKED);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *total = (uint64_t)sqlite3_column_int64(st, 0);
        *succeeded = (uint64_t)sqlite3_column_int64(st, 1);
        *failed = (uint64_t)sqlite3_column_int64(st, 2);
    } else {
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "wave counts", err);
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_rollout_awaiting(ferry_store_t *s, int64_t id, bool awaiting, int64_t now,
                                              ferry_err_t *err)
{
    static const char sql[] = "UPDATE release SET awaiting_promotion = ?2, updated_at = ?3 WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "rollout", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, awaiting ? 1 : 0);
    sqlite3_bind_int64(st, 3, now);
    return step_done(s, st, "rollout", err);
}

ferry_err_code_t ferry_store_rollout_paused_reason(ferry_store_t *s, int64_t id, const char *reason,
                                                   ferry_err_t *err)
{
    static const char sql[] = "UPDATE release SET paused_reason = ?2 WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "rollout", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    ferry_store_bind_text(st, 2, reason);
    return step_done(s, st, "rollout", err);
}

/* A wave's failed update tasks (the partial index update_task_wave serves it). */
#define WAVE_FAILED                                                                                          \
    "(SELECT count(*) FROM update_task t WHERE t.release_id = w.release_id AND t.wave = w.number"            \
    " AND t.wave > 0 AND t.kind = 1 AND t.state IN (?3, ?4))"

ferry_err_code_t ferry_store_wave_tallies(ferry_store_t *s, int64_t id, int upto,
                                          ferry_store_wave_tally_t *out, size_t max, size_t *n,
                                          ferry_err_t *err)
{
    static const char sql[] =
        "SELECT w.number, w.failures_acked, " WAVE_FAILED ","
        " (SELECT count(*) FROM update_task t WHERE t.release_id = w.release_id AND t.wave = w.number"
        " AND t.wave > 0 AND t.kind = 1),"
        " (SELECT count(*) FROM update_task t WHERE t.release_id = w.release_id AND t.wave = w.number"
        " AND t.wave > 0 AND t.kind = 1 AND t.state = ?5)"
        " FROM release_wave w WHERE w.release_id = ?1 AND w.number <= ?2 ORDER BY w.number";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *n = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "wave tallies", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, upto);
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
    sqlite3_bind_int(st, 5, FERRY_STATE_SUCCEEDED);
    while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        out[*n].wave = sqlite3_column_int(st, 0);
        out[*n].acked = (uint64_t)sqlite3_column_int64(st, 1);
        out[*n].failed = (uint64_t)sqlite3_column_int64(st, 2);
        out[*n].total = (uint64_t)sqlite3_column_int64(st, 3);
        out[(*n)++].succeeded = (uint64_t)sqlite3_column_int64(st, 4);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "wave tallies", err);
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_waves_ack(ferry_store_t *s, int64_t id, ferry_err_t *err)
{
    static const char sql[] =
        "UPDATE release_wave AS w SET failures_acked = " WAVE_FAILED " WHERE w.release_id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "acknowledge failures", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
    return step_done(s, st, "acknowledge failures", err);
}

ferry_err_code_t ferry_store_release_wave_count(ferry_store_t *s, int64_t id, int *wave_count,
                                                ferry_err_t *err)
{
    static const char sql[] = "SELECT wave_count FROM release WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *wave_count = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "rollout", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        *wave_count = sqlite3_column_int(st, 0);
    else if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "rollout", err);
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_windowed_releases(ferry_store_t *s, ferry_store_windowed_t **out, size_t *n,
                                               ferry_err_t *err)
{
    static const char sql[] = "SELECT id, window_start, window_end FROM release WHERE status = ?1"
                              " AND window_start IS NOT NULL ORDER BY id";
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "window sweep", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int(st, 1, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_store_windowed_t *x = grow(*out, &cap, *n, 16, sizeof(*x), "window sweep", err);
        if (x == NULL) {
            rc = FERRY_E_NOMEM;
            break;
        }
        *out = x;
        (*out)[(*n)++] = (ferry_store_windowed_t){sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
                                                  sqlite3_column_int(st, 2)};
    }
    if (rc == FERRY_OK && step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "window sweep", err);
    if (rc != FERRY_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_waiting_tasks(ferry_store_t *s, int64_t id, ferry_store_waiting_task_t **out,
                                           size_t *n, ferry_err_t *err)
{
    static const char sql[] = "SELECT t.id, t.node_id, n.time_zone FROM update_task t JOIN node n"
                              " ON n.id = t.node_id WHERE t.release_id = ?1 AND t.state = ?2 AND t.halted = 0"
                              " ORDER BY t.id";
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "window sweep", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, FERRY_STATE_PENDING);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_store_waiting_task_t *x = grow(*out, &cap, *n, 64, sizeof(*x), "window sweep", err);
        if (x == NULL) {
            rc = FERRY_E_NOMEM;
            break;
        }
        *out = x;
        ferry_store_waiting_task_t *w = &(*out)[(*n)++];
        w->task_id = sqlite3_column_int64(st, 0);
        w->node_id = sqlite3_column_int64(st, 1);
        snprintf(w->time_zone, sizeof(w->time_zone), "%s", ferry_store_col_text(st, 2));
    }
    if (rc == FERRY_OK && step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "window sweep", err);
    if (rc != FERRY_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    ferry_store_stmt_release(s, st);
    return rc;
}
