/*
 * Repository: releases (see ferry/store/releases.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/model/states.h"
#include "ferry/model/window.h"
#include "ferry/store/releases.h"
#include "ferry/store_sqlite.h"

/* Arrays of message pointers are sized with sizeof(void *): every pointer to a struct has
 * the same size, and sizeof(*p) of one reads as a mistake to clang-tidy. */

#define RELEASE_ACTIVE   FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE
#define RELEASE_PAUSED   FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED
#define RELEASE_CANCELED FERRY__V1__RELEASE_STATE__RELEASE_STATE_CANCELED
#define TASK_UPDATE      FERRY__V1__TASK_KIND__TASK_KIND_UPDATE
#define TASK_ROLLBACK    FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK

ferry_err_code_t ferry_store_release_customer(ferry_store_t *s, const char *code, int64_t *id, bool *disabled,
                                              ferry_err_t *err)
{
    static const char sql[] = "SELECT id, disabled FROM customer WHERE code = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *id = 0;
    *disabled = false;
    if ((rc = ferry_store_prepare(db, sql, &st, "customer", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    if ((step = sqlite3_step(st)) != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no customer '%s'", code)
                                 : ferry_store_sql_err(db, "customer", err);
        goto out;
    }
    *id = sqlite3_column_int64(st, 0);
    *disabled = sqlite3_column_int(st, 1) != 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Grows an arena array of |size|-byte elements to hold one more; false when out of memory. */
static bool grow(ferry_arena_t *a, void **arr, size_t n, size_t *cap, size_t size)
{
    size_t nc;
    void *x;
    if (n < *cap)
        return true;
    nc = *cap ? *cap * 2 : 64;
    if ((x = ferry_arena_alloc(a, nc * size)) == NULL)
        return false;
    if (n > 0)
        memcpy(x, *arr, n * size);
    *arr = x;
    *cap = nc;
    return true;
}

ferry_err_code_t ferry_store_release_scope(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                           int environment, ferry_store_scope_t *out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((rc = ferry_store_prepare(db, "SELECT code FROM store WHERE customer_id = ?", &st, "scope", err)) !=
        FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, customer_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow(a, (void **)&out->store_codes, out->n_store_codes, &cap, sizeof(*out->store_codes)))
            goto nomem;
        out->store_codes[out->n_store_codes++] = ferry_store_col_dup(a, st, 0);
    }
    if (step != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    cap = 0;
    if ((rc = ferry_store_prepare(
             db,
             "SELECT n.id, n.code, s.code, (n.disabled OR s.disabled) FROM node n JOIN store s"
             " ON s.id = n.store_id WHERE s.customer_id = ? AND n.environment = ?"
             " ORDER BY n.code",
             &st, "scope", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, customer_id);
    sqlite3_bind_int(st, 2, environment);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow(a, (void **)&out->nodes, out->n_nodes, &cap, sizeof(*out->nodes)))
            goto nomem;
        out->nodes[out->n_nodes++] =
            (ferry_store_scope_node_t){sqlite3_column_int64(st, 0), ferry_store_col_dup(a, st, 1),
                                       ferry_store_col_dup(a, st, 2), sqlite3_column_int(st, 3) != 0};
    }
    if (step != SQLITE_DONE)
        goto dberr;
    if (a->failed)
        goto nomem;
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "scope: out of memory");
    goto out;
dberr:
    rc = ferry_store_sql_err(db, "scope", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_node_has_version(ferry_store_t *s, int64_t node_id, int64_t package_id,
                                                      bool *has, int64_t *release_id, int *state,
                                                      ferry_err_t *err)
{
    /* A node planned in a later wave of a release not canceled has the version coming too
     * (its task is created when the wave starts): reported as Pending. */
    static const char sql[] =
        "SELECT t.release_id, t.state FROM update_task t JOIN release r ON r.id = t.release_id"
        " WHERE t.node_id = ?1 AND r.package_id = ?2 AND t.kind = ?3 AND t.state NOT IN (?4, ?5)"
        " UNION ALL SELECT w.release_id, ?6 FROM release_node w JOIN release r ON r.id = w.release_id"
        " WHERE w.node_id = ?1 AND r.package_id = ?2 AND r.status <> ?7 AND NOT EXISTS (SELECT 1 FROM"
        " update_task t WHERE t.release_id = w.release_id AND t.node_id = w.node_id AND t.kind = ?3)"
        " LIMIT 1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *has = false;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "overlap", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, node_id);
    sqlite3_bind_int64(st, 2, package_id);
    sqlite3_bind_int(st, 3, TASK_UPDATE);
    sqlite3_bind_int(st, 4, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 5, FERRY_STATE_ROLLBACKED);
    sqlite3_bind_int(st, 6, FERRY_STATE_PENDING);
    sqlite3_bind_int(st, 7, RELEASE_CANCELED);
    if ((step = sqlite3_step(st)) == SQLITE_ROW) {
        *has = true;
        *release_id = sqlite3_column_int64(st, 0);
        *state = sqlite3_column_int(st, 1);
    } else if (step != SQLITE_DONE) {
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "overlap", err);
    }
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_release_insert(ferry_store_t *s, const ferry_store_release_new_t *r, int64_t *id,
                                            ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO release (package_id, customer_id, environment, policy, deadline_at, status,"
        " description, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *id = 0;
    if ((rc = ferry_store_prepare(db, sql, &st, "create release", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, r->package_id);
    sqlite3_bind_int64(st, 2, r->customer_id);
    sqlite3_bind_int(st, 3, r->environment);
    sqlite3_bind_int(st, 4, r->policy);
    if (r->deadline_at > 0)
        sqlite3_bind_int64(st, 5, r->deadline_at);
    sqlite3_bind_int(st, 6, RELEASE_ACTIVE);
    ferry_store_bind_text(st, 7, r->description);
    if (r->created_by > 0)
        sqlite3_bind_int64(st, 8, r->created_by);
    sqlite3_bind_int64(st, 9, r->now);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create release", err);
    else
        *id = sqlite3_last_insert_rowid(db);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_target_add(ferry_store_t *s, int64_t release_id, int64_t customer_id,
                                                int environment, const char *code, bool is_node,
                                                ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO release_target (release_id, store_id, node_id) VALUES (?1,"
        " (SELECT id FROM store WHERE customer_id = ?2 AND code = ?3 AND ?4 = 0),"
        " (SELECT n.id FROM node n JOIN store s ON s.id = n.store_id WHERE s.customer_id = ?2"
        "  AND n.code = ?3 AND n.environment = ?5 AND ?4 = 1))";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "create release", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, release_id);
    sqlite3_bind_int64(st, 2, customer_id);
    ferry_store_bind_text(st, 3, code);
    sqlite3_bind_int(st, 4, is_node ? 1 : 0);
    sqlite3_bind_int(st, 5, environment);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "create release", err);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

/* ?1..?3: the final task states (FERRY_STATE_*): an ACTIVE release with no task outside
 * them, and no wave left to start, reads COMPLETED. */
#define RELEASE_SELECT                                                                                       \
    "SELECT r.id, p.version, c.code, r.environment, r.policy, r.deadline_at, r.status, r.description,"       \
    " r.created_at, a.token_id, r.updated_at,"                                                               \
    " CASE WHEN r.wave_count > 0 THEN (SELECT count(*) FROM release_node w WHERE w.release_id = r.id)"       \
    " ELSE (SELECT count(*) FROM update_task t WHERE t.release_id = r.id AND t.kind = 1) END AS node_count," \
    " (SELECT count(*) FROM update_task t WHERE t.release_id = r.id AND t.state NOT IN (?1, ?2, ?3))"        \
    " AS open_tasks, r.wave_count, r.current_wave, r.success_threshold, r.error_threshold,"                  \
    " r.error_is_count, r.approve_waves, r.awaiting_promotion, r.window_start, r.window_end,"                \
    " r.paused_reason"                                                                                       \
    " FROM release r JOIN package p ON p.id = r.package_id JOIN customer c ON c.id = r.customer_id"          \
    " LEFT JOIN admin_token a ON a.id = r.created_by"

static void bind_final_states(sqlite3_stmt *st)
{
    sqlite3_bind_int(st, 1, FERRY_STATE_SUCCEEDED);
    sqlite3_bind_int(st, 2, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 3, FERRY_STATE_ROLLBACKED);
}

static int release_state(int status, int64_t open_tasks, int current_wave, int wave_count)
{
    if (status == RELEASE_ACTIVE && open_tasks == 0 && current_wave >= wave_count)
        return FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED;
    return status;
}

/* The scope's named stores/nodes from release_target. */
static void read_targets(ferry_store_t *s, ferry_arena_t *a, int64_t id, Ferry__V1__ReleaseScope *sc)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    size_t cap = 0;

    if (ferry_store_prepare(db, "SELECT count(*) FROM release_target WHERE release_id = ?", &st, "release",
                            NULL) == FERRY_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            cap = (size_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (cap == 0)
        return;
    sc->store_codes = ferry_arena_alloc(a, cap * sizeof(char *));
    sc->node_codes = ferry_arena_alloc(a, cap * sizeof(char *));
    if (sc->store_codes == NULL || sc->node_codes == NULL)
        return;
    if (ferry_store_prepare(
            db,
            "SELECT s.code, n.code FROM release_target t LEFT JOIN store s ON s.id = t.store_id"
            " LEFT JOIN node n ON n.id = t.node_id WHERE t.release_id = ? ORDER BY t.id",
            &st, "release", NULL) == FERRY_OK) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) != SQLITE_NULL && sc->n_store_codes < cap)
                sc->store_codes[sc->n_store_codes++] = ferry_store_col_dup(a, st, 0);
            else if (sqlite3_column_type(st, 1) != SQLITE_NULL && sc->n_node_codes < cap)
                sc->node_codes[sc->n_node_codes++] = ferry_store_col_dup(a, st, 1);
        }
    }
    sqlite3_finalize(st);
}

/* The release's waves with their progress (release_wave; counts through update_task_wave). */
static void read_waves(ferry_store_t *s, ferry_arena_t *a, int64_t id, size_t cap, Ferry__V1__Release *r)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;

    if ((r->waves = ferry_arena_alloc(a, cap * sizeof(void *))) == NULL)
        return;
    if (ferry_store_prepare(
            db,
            "SELECT w.number, w.spec, w.node_count, w.started_at,"
            " (SELECT count(*) FROM update_task t WHERE t.release_id = w.release_id AND t.wave = w.number"
            "  AND t.wave > 0 AND t.kind = 1 AND t.state = ?2),"
            " (SELECT count(*) FROM update_task t WHERE t.release_id = w.release_id AND t.wave = w.number"
            "  AND t.wave > 0 AND t.kind = 1 AND t.state IN (?3, ?4))"
            " FROM release_wave w WHERE w.release_id = ?1 ORDER BY w.number",
            &st, "release", NULL) == FERRY_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, FERRY_STATE_SUCCEEDED);
        sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
        sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
        while (r->n_waves < cap && sqlite3_step(st) == SQLITE_ROW) {
            Ferry__V1__ReleaseWave *w = ferry_arena_alloc(a, sizeof(*w));
            if (w == NULL)
                break;
            ferry__v1__release_wave__init(w);
            w->number = (uint32_t)sqlite3_column_int(st, 0);
            w->spec = ferry_store_col_dup(a, st, 1);
            w->node_count = (uint64_t)sqlite3_column_int64(st, 2);
            w->started_at = ferry_arena_ts(a, sqlite3_column_int64(st, 3));
            w->succeeded = (uint64_t)sqlite3_column_int64(st, 4);
            w->failed = (uint64_t)sqlite3_column_int64(st, 5);
            r->waves[r->n_waves++] = w;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ferry_store_prepare(db,
                            "SELECT n.code FROM release_node w JOIN node n ON n.id = w.node_id"
                            " WHERE w.release_id = ?1 AND w.canary = 1 ORDER BY w.ord",
                            &st, "release", NULL) == FERRY_OK) {
        size_t ccap = 16;
        sqlite3_bind_int64(st, 1, id);
        r->canary_node_codes = ferry_arena_alloc(a, ccap * sizeof(char *));
        while (r->canary_node_codes != NULL && sqlite3_step(st) == SQLITE_ROW) {
            if (r->n_canary_node_codes == ccap) {
                char **x = ferry_arena_alloc(a, ccap * 2 * sizeof(char *));
                if (x == NULL)
                    break;
                memcpy(x, r->canary_node_codes, ccap * sizeof(char *));
                r->canary_node_codes = x;
                ccap *= 2;
            }
            r->canary_node_codes[r->n_canary_node_codes++] = ferry_store_col_dup(a, st, 0);
        }
    }
    sqlite3_finalize(st);
}

/* The rollout columns of RELEASE_SELECT (13..22) into |r|. */
static void read_rollout(ferry_store_t *s, ferry_arena_t *a, sqlite3_stmt *st, int64_t id,
                         Ferry__V1__Release *r)
{
    int wave_count = sqlite3_column_int(st, 13);
    char win[16];

    r->current_wave = (uint32_t)sqlite3_column_int(st, 14);
    if (wave_count > 0) { /* thresholds mean nothing without waves: left unset */
        r->success_threshold = (uint32_t)sqlite3_column_int(st, 15);
        r->error_threshold =
            sqlite3_column_int(st, 17) != 0
                ? ferry_arena_printf(a, "count:%lld", (long long)sqlite3_column_int64(st, 16))
                : ferry_arena_printf(a, "%lld%%", (long long)sqlite3_column_int64(st, 16));
        r->approve_waves = sqlite3_column_int(st, 18) != 0;
        r->awaiting_promotion = sqlite3_column_int(st, 19) != 0;
    }
    if (sqlite3_column_type(st, 20) != SQLITE_NULL) {
        ferry_window_format(sqlite3_column_int(st, 20), sqlite3_column_int(st, 21), win, sizeof(win));
        r->maintenance_window = ferry_arena_strdup(a, win);
    }
    if (sqlite3_column_int(st, 6) == RELEASE_PAUSED)
        r->paused_reason = ferry_store_col_dup(a, st, 22);
    if (wave_count > 0)
        read_waves(s, a, id, (size_t)wave_count, r);
}

static void read_release(ferry_store_t *s, ferry_arena_t *a, sqlite3_stmt *st, Ferry__V1__Release *r)
{
    Ferry__V1__ReleaseScope *sc = ferry_arena_alloc(a, sizeof(*sc));
    int64_t id = sqlite3_column_int64(st, 0);
    ferry__v1__release__init(r);
    r->id = ferry_arena_printf(a, "%lld", (long long)id);
    r->package_version = ferry_store_col_dup(a, st, 1);
    if (sc != NULL) {
        ferry__v1__release_scope__init(sc);
        sc->customer_code = ferry_store_col_dup(a, st, 2);
        sc->environment = sqlite3_column_int(st, 3);
        read_targets(s, a, id, sc);
        r->scope = sc;
    }
    r->policy = sqlite3_column_int(st, 4);
    r->deadline = ferry_arena_ts(a, sqlite3_column_int64(st, 5));
    r->state = release_state(sqlite3_column_int(st, 6), sqlite3_column_int64(st, 12),
                             sqlite3_column_int(st, 14), sqlite3_column_int(st, 13));
    r->description = ferry_store_col_dup(a, st, 7);
    r->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 8));
    r->created_by = ferry_store_col_dup(a, st, 9);
    r->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 10));
    r->node_count = (uint64_t)sqlite3_column_int64(st, 11);
    read_rollout(s, a, st, id, r);
}

ferry_err_code_t ferry_store_release_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                         Ferry__V1__Release *out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, RELEASE_SELECT " WHERE r.id = ?4", &st, "load release", err)) !=
        FERRY_OK)
        goto out;
    bind_final_states(st);
    sqlite3_bind_int64(st, 4, id);
    if ((step = sqlite3_step(st)) != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id)
                                 : ferry_store_sql_err(db, "load release", err);
        goto out;
    }
    read_release(s, a, st, out);
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load release: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

static void *release_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Release *r = ferry_arena_alloc(a, sizeof(*r));
    (void)err;
    if (r != NULL)
        read_release(ctx, a, st, r);
    return r;
}

ferry_err_code_t ferry_store_releases_list(ferry_store_t *s, const ferry_store_release_filter_t *f,
                                           const char *page_token, int32_t page_size, ferry_arena_t *a,
                                           ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "list releases",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            release_row,
                            s};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    /* ?7 state: COMPLETED / ACTIVE are told apart by the open-task count (column 12) and
     * the waves left to start; ?8 .. ?10 the stored ACTIVE, PAUSED, CANCELED; ?11 COMPLETED. */
    ferry_store_query_int(
        &q,
        "SELECT * FROM (" RELEASE_SELECT " WHERE (?4 = '' OR c.code = ?4) AND (?5 = '' OR p.version = ?5)"
        " AND (?6 = 0 OR r.environment = ?6)) AS x"
        " WHERE ?7 = 0 OR (?7 = ?11 AND x.status = ?8 AND x.open_tasks = 0"
        " AND x.current_wave >= x.wave_count)"
        " OR (?7 = ?8 AND x.status = ?8 AND (x.open_tasks > 0 OR x.current_wave < x.wave_count))"
        " OR (?7 IN (?9, ?10) AND x.status = ?7)"
        " ORDER BY x.id DESC LIMIT ?12 OFFSET ?13",
        FERRY_STATE_SUCCEEDED);
    ferry_store_query_int(&q, NULL, FERRY_STATE_FAILED);
    ferry_store_query_int(&q, NULL, FERRY_STATE_ROLLBACKED);
    ferry_store_query_text(&q, NULL, f->customer_code != NULL ? f->customer_code : "");
    ferry_store_query_text(&q, NULL, f->package_version != NULL ? f->package_version : "");
    ferry_store_query_int(&q, NULL, f->environment);
    ferry_store_query_int(&q, NULL, f->state);
    ferry_store_query_int(&q, NULL, RELEASE_ACTIVE);
    ferry_store_query_int(&q, NULL, RELEASE_PAUSED);
    ferry_store_query_int(&q, NULL, RELEASE_CANCELED);
    ferry_store_query_int(&q, NULL, FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED);
    return ferry_store_list(s, &l, &q, a, out, err);
}

ferry_err_code_t ferry_store_release_summary(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                             Ferry__V1__GetReleaseSummaryResponse *out,
                                             ferry_store_release_node_seen_t **nodes, size_t *n_nodes,
                                             ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    *nodes = NULL;
    *n_nodes = 0;
    if ((rc = ferry_store_prepare(
             db, "SELECT state, count(*) FROM update_task WHERE release_id = ? GROUP BY state ORDER BY state",
             &st, "summary", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    out->by_state = ferry_arena_alloc(a, 16 * sizeof(void *));
    while (out->by_state != NULL && out->n_by_state < 16 && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__StateCount *c = ferry_arena_alloc(a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__state_count__init(c);
        c->state = sqlite3_column_int(st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        out->total += c->count;
        if (ferry_state_is_terminal((ferry_state_t)c->state))
            out->finished += c->count;
        out->by_state[out->n_by_state++] = c;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = ferry_store_prepare(
             db,
             "SELECT error_code, count(*) FROM update_task WHERE release_id = ? AND state = ?"
             " AND error_code <> '' GROUP BY error_code ORDER BY count(*) DESC LIMIT 64",
             &st, "summary", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, FERRY_STATE_FAILED);
    out->by_error = ferry_arena_alloc(a, 64 * sizeof(void *));
    while (out->by_error != NULL && out->n_by_error < 64 && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__ErrorCount *c = ferry_arena_alloc(a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__error_count__init(c);
        c->error_code = ferry_store_col_dup(a, st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        out->by_error[out->n_by_error++] = c;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = ferry_store_prepare(
             db,
             "SELECT DISTINCT n.id, COALESCE(n.last_seen_at, 0) FROM update_task t JOIN node n"
             " ON n.id = t.node_id WHERE t.release_id = ?",
             &st, "summary", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow(a, (void **)nodes, *n_nodes, &cap, sizeof(**nodes))) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "summary: out of memory");
            goto out;
        }
        (*nodes)[(*n_nodes)++] =
            (ferry_store_release_node_seen_t){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "summary", err);
    else if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "summary: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- pause / resume / cancel ------------------------------------------------------------ */

ferry_err_code_t ferry_store_release_status(ferry_store_t *s, int64_t id, int *status, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, "SELECT status FROM release WHERE id = ?", &st, "release", err)) !=
        FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        *status = sqlite3_column_int(st, 0);
    else
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no release %lld", (long long)id)
                                 : ferry_store_sql_err(db, "release", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_set_status(ferry_store_t *s, int64_t id, int status, int64_t now,
                                                ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db, "UPDATE release SET status = ?, updated_at = ? WHERE id = ?", &st,
                                  "release", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 1, status);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "release", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_tasks_apply(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                                 ferry_store_release_op_t op, const char *message,
                                                 int64_t now, ferry_store_task_change_t **out, size_t *n,
                                                 ferry_err_t *err)
{
    static const char *const names[] = {"pause release", "resume release", "cancel release"};
    /* The tasks concerned: not yet stopping the service (10..40) for pause and cancel;
     * halted and unfinished for resume. */
    const char *pick =
        op == FERRY_STORE_RELEASE_RESUME
            ? "SELECT id, node_id, state FROM update_task WHERE release_id = ? AND halted = 1"
              " AND state NOT IN (?, ?, ?)"
            : "SELECT id, node_id, state FROM update_task WHERE release_id = ? AND state IN (?, ?, ?, ?)";
    const char *change = op == FERRY_STORE_RELEASE_PAUSE
                             ? "UPDATE update_task SET halted = 1, updated_at = ?2 WHERE id = ?1"
                         : op == FERRY_STORE_RELEASE_RESUME
                             ? "UPDATE update_task SET halted = 0, updated_at = ?2 WHERE id = ?1"
                             : "UPDATE update_task SET state = ?4, error_code = 'E_CANCELED',"
                               " message = ?3, halted = 1, percent = 0, updated_at = ?2,"
                               " finished_at = ?2 WHERE id = ?1";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL, *up = NULL;
    size_t cap = 0;
    ferry_err_code_t rc = FERRY_OK;
    int step;

    *out = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare(db, pick, &st, names[op], err)) != FERRY_OK ||
        (rc = ferry_store_prepare(db, change, &up, names[op], err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (op == FERRY_STORE_RELEASE_RESUME) {
        sqlite3_bind_int(st, 2, FERRY_STATE_SUCCEEDED);
        sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
        sqlite3_bind_int(st, 4, FERRY_STATE_ROLLBACKED);
    } else {
        sqlite3_bind_int(st, 2, FERRY_STATE_PENDING);
        sqlite3_bind_int(st, 3, FERRY_STATE_DOWNLOADING);
        sqlite3_bind_int(st, 4, FERRY_STATE_VERIFYING);
        sqlite3_bind_int(st, 5, FERRY_STATE_WAITING_USER);
    }
    if (op == FERRY_STORE_RELEASE_CANCEL)
        sqlite3_bind_int(up, 4, FERRY_STATE_FAILED);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_store_task_change_t c = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                       op == FERRY_STORE_RELEASE_CANCEL ? FERRY_STATE_FAILED
                                                                        : sqlite3_column_int(st, 2)};
        sqlite3_reset(up);
        sqlite3_bind_int64(up, 1, c.task_id);
        sqlite3_bind_int64(up, 2, now);
        if (op == FERRY_STORE_RELEASE_CANCEL)
            ferry_store_bind_text(up, 3, message);
        if (sqlite3_step(up) != SQLITE_DONE) {
            rc = ferry_store_sql_err(db, names[op], err);
            goto out;
        }
        if (!grow(a, (void **)out, *n, &cap, sizeof(**out))) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", names[op]);
            goto out;
        }
        (*out)[(*n)++] = c;
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, names[op], err);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    return rc;
}

/* ---- rollback -------------------------------------------------------------------------------- */

ferry_err_code_t ferry_store_release_update_tasks(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                                  ferry_store_rollback_candidate_t **out, size_t *n,
                                                  ferry_err_t *err)
{
    static const char sql[] =
        "SELECT t.id, t.node_id, n.code, t.state, t.backup_local_path, t.server_dir, t.client_dir,"
        " (SELECT count(*) FROM update_task x WHERE x.release_id = t.release_id AND x.node_id = t.node_id"
        " AND x.kind = ?2)"
        " FROM update_task t JOIN node n ON n.id = t.node_id WHERE t.release_id = ?1 AND t.kind = ?3"
        " ORDER BY n.code";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare(db, sql, &st, "rollback", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, TASK_ROLLBACK);
    sqlite3_bind_int(st, 3, TASK_UPDATE);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!grow(a, (void **)out, *n, &cap, sizeof(**out))) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "rollback: out of memory");
            goto out;
        }
        (*out)[(*n)++] = (ferry_store_rollback_candidate_t){
            sqlite3_column_int64(st, 0),   sqlite3_column_int64(st, 1),   ferry_store_col_dup(a, st, 2),
            sqlite3_column_int(st, 3),     ferry_store_col_dup(a, st, 4), ferry_store_col_dup(a, st, 5),
            ferry_store_col_dup(a, st, 6), sqlite3_column_int(st, 7) != 0};
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "rollback", err);
    else if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "rollback: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_release_has_node(ferry_store_t *s, int64_t id, const char *node_code, bool *has,
                                              ferry_err_t *err)
{
    static const char sql[] =
        "SELECT count(*) FROM update_task t JOIN node n ON n.id = t.node_id WHERE n.code = ?1"
        " AND t.release_id = ?2 AND t.kind = ?3";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *has = false;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "rollback", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, node_code);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, TASK_UPDATE);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "rollback", err);
    else
        *has = sqlite3_column_int64(st, 0) > 0;
out:
    ferry_store_stmt_release(s, st);
    return rc;
}
