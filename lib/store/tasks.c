/*
 * Repository: update tasks for administrators and releases (see ferry/store/tasks.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/json.h"
#include "ferry/model/states.h"
#include "ferry/model/window.h"
#include "ferry/store/reports.h"
#include "ferry/store/tasks.h"
#include "ferry/store_sqlite.h"

/* Arrays of message pointers are sized with sizeof(void *): every pointer to a struct has
 * the same size, and sizeof(*p) of one reads as a mistake to clang-tidy. */

int ferry_store_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms)
{
    if (policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL && deadline_ms > 0 &&
        now_ms >= deadline_ms)
        return FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    return policy;
}

/* ---- one task --------------------------------------------------------------------------- */

/* The task's step timings (task_timing rows, at most 256: reports) as
 * "state:started_ms:duration_ms,..." (NULL = none): parsed by read_timings() without
 * any JSON, so loading a task costs the same whatever its node reported. */
#define TASK_TIMINGS_COL                                                                                     \
    "(SELECT group_concat(tt.state || ':' || tt.started_at || ':' || tt.duration_ms, ',')"                   \
    " FROM task_timing tt WHERE tt.task_id = t.id)"

/* The columns read_task() expects, in order. */
#define TASK_SELECT                                                                                          \
    "SELECT t.id, t.release_id, t.kind, n.code, s.code, c.code, n.environment, p.version, r.policy,"         \
    " r.deadline_at, t.state, t.error_code, t.message, t.percent, t.backup_local_path, t.server_dir,"        \
    " t.client_dir, t.report_files_json, t.created_at, t.updated_at, t.started_at, t.finished_at,"           \
    " t.last_seq, t.rollback_of_task_id, " TASK_TIMINGS_COL                                                  \
    ", t.halted, t.attempt, t.checkpoint, t.hooks_json,"                                                     \
    " t.download_json, t.wave, r.window_start, r.window_end, n.time_zone, r.status, r.paused_reason"         \
    " FROM update_task t JOIN node n ON n.id = t.node_id JOIN store s ON s.id = n.store_id"                  \
    " JOIN customer c ON c.id = s.customer_id JOIN release r ON r.id = t.release_id"                         \
    " JOIN package p ON p.id = r.package_id"

/*
 * The JSON columns hold exactly the proto3 JSON of UpdateTask's fields (download_json:
 * its DownloadStats, '' = none), so one decode of {"reportFiles":..,"hooks":..
 * [,"download":..]} yields them; the decoded message lives in the arena and |out|
 * borrows its members. A column that does not decode is shown empty rather than
 * failing the whole read: it came from an agent report, and the task must stay visible.
 */
static void task_json_fields(ferry_arena_t *a, const char *files, const char *hooks, const char *download,
                             Ferry__V1__UpdateTask *out)
{
    ProtobufCMessage *m = NULL;
    ferry_err_t err = {0};
    bool dl = download[0] != '\0';
    char *doc;
    size_t n = strlen(files) + strlen(hooks) + strlen(download) + 80;

    if (strcmp(files, "[]") == 0 && strcmp(hooks, "[]") == 0 && !dl)
        return;
    if ((doc = malloc(n)) == NULL)
        return;
    snprintf(doc, n, "{\"reportFiles\":%s,\"hooks\":%s%s%s}", files[0] ? files : "[]",
             hooks[0] ? hooks : "[]", dl ? ",\"download\":" : "", dl ? download : "");
    if (ferry_json_decode(&ferry__v1__update_task__descriptor, doc, strlen(doc), &m, &err) == FERRY_OK) {
        Ferry__V1__UpdateTask *d = (Ferry__V1__UpdateTask *)m;
        out->n_report_files = d->n_report_files;
        out->report_files = d->report_files;
        out->n_hooks = d->n_hooks;
        out->hooks = d->hooks;
        out->download = d->download;
        ferry_arena_own(a, m);
    }
    free(doc);
}

static int timing_cmp(const void *x, const void *y)
{
    const Ferry__V1__StepTiming *a = *(Ferry__V1__StepTiming *const *)x,
                                *b = *(Ferry__V1__StepTiming *const *)y;
    int64_t sa = a->started_at != NULL ? a->started_at->seconds * 1000 + a->started_at->nanos / 1000000 : 0;
    int64_t sb = b->started_at != NULL ? b->started_at->seconds * 1000 + b->started_at->nanos / 1000000 : 0;
    if (sa != sb)
        return sa < sb ? -1 : 1;
    return (int)a->state - (int)b->state;
}

/* UpdateTask.timings from TASK_TIMINGS_COL's text, oldest step first. */
static void read_timings(ferry_arena_t *a, const char *s, Ferry__V1__UpdateTask *out)
{
    size_t n = 0, cap = 1;
    if (s == NULL || s[0] == '\0')
        return;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    Ferry__V1__StepTiming **v = ferry_arena_alloc(a, cap * sizeof(void *));
    if (v == NULL)
        return;
    for (const char *p = s; *p != '\0' && n < cap;) {
        char *end;
        long long state = strtoll(p, &end, 10), started, dur;
        if (*end != ':')
            break;
        started = strtoll(end + 1, &end, 10);
        if (*end != ':')
            break;
        dur = strtoll(end + 1, &end, 10);
        if (*end != ',' && *end != '\0')
            break;
        p = *end == ',' ? end + 1 : end;
        Ferry__V1__StepTiming *t = ferry_arena_alloc(a, sizeof(*t));
        Google__Protobuf__Duration *d = ferry_arena_alloc(a, sizeof(*d));
        if (t == NULL || d == NULL)
            return;
        ferry__v1__step_timing__init(t);
        google__protobuf__duration__init(d);
        t->state = (Ferry__V1__TaskState)state;
        t->started_at = ferry_arena_ts(a, started);
        d->seconds = dur / 1000;
        d->nanos = (int32_t)(dur % 1000) * 1000000;
        t->duration = d;
        v[n++] = t;
    }
    qsort(v, n, sizeof(void *), timing_cmp);
    out->timings = v;
    out->n_timings = n;
}

static char *id_text(ferry_arena_t *a, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return ferry_arena_strdup(a, "");
    return ferry_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, i));
}

/*
 * Why a task not yet started (10 Pending) is not handed out now: its release is paused
 * (the reason), or the maintenance window is closed in the node's time zone. Decided
 * when read, like the effective policy: it changes with the clock, not with a write.
 */
static void hold_reason(ferry_arena_t *a, sqlite3_stmt *st, int64_t now_ms, Ferry__V1__UpdateTask *t)
{
    char why[256] = "";
    int status = sqlite3_column_int(st, 34);

    if ((int)t->state != FERRY_STATE_PENDING)
        return;
    if (status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED)
        snprintf(why, sizeof(why), "release paused%s%s", ferry_store_col_text(st, 35)[0] ? ": " : "",
                 ferry_store_col_text(st, 35));
    else if (status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE &&
             sqlite3_column_type(st, 31) != SQLITE_NULL)
        ferry_window_hold_reason(sqlite3_column_int(st, 31), sqlite3_column_int(st, 32),
                                 ferry_store_col_text(st, 33), now_ms, why, sizeof(why));
    if (why[0] != '\0')
        t->hold_reason = ferry_arena_strdup(a, why);
}

static void read_task(ferry_arena_t *a, sqlite3_stmt *st, int64_t now_ms, Ferry__V1__UpdateTask *t)
{
    int64_t deadline = sqlite3_column_int64(st, 9);

    ferry__v1__update_task__init(t);
    t->id = id_text(a, st, 0);
    t->release_id = id_text(a, st, 1);
    t->kind = sqlite3_column_int(st, 2);
    t->node_code = ferry_store_col_dup(a, st, 3);
    t->store_code = ferry_store_col_dup(a, st, 4);
    t->customer_code = ferry_store_col_dup(a, st, 5);
    t->environment = sqlite3_column_int(st, 6);
    t->package_version = ferry_store_col_dup(a, st, 7);
    if (t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK) {
        t->policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED; /* an admin's explicit act */
    } else {
        t->policy = ferry_store_effective_policy(sqlite3_column_int(st, 8), deadline, now_ms);
        t->deadline = ferry_arena_ts(a, deadline);
    }
    t->state = sqlite3_column_int(st, 10);
    t->error_code = ferry_store_col_dup(a, st, 11);
    t->message = ferry_store_col_dup(a, st, 12);
    t->percent = (uint32_t)sqlite3_column_int(st, 13);
    t->backup_local_path = ferry_store_col_dup(a, st, 14);
    t->server_dir = ferry_store_col_dup(a, st, 15);
    t->client_dir = ferry_store_col_dup(a, st, 16);
    t->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 18));
    t->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 19));
    t->started_at = ferry_arena_ts(a, sqlite3_column_int64(st, 20));
    t->finished_at = ferry_arena_ts(a, sqlite3_column_int64(st, 21));
    t->last_sequence = (uint64_t)sqlite3_column_int64(st, 22);
    t->rollback_of_task_id = id_text(a, st, 23);
    t->halted = sqlite3_column_int(st, 25) != 0;
    t->attempt = (uint32_t)sqlite3_column_int(st, 26);
    t->checkpoint = ferry_store_col_dup(a, st, 27);
    task_json_fields(a, ferry_store_col_text(st, 17), ferry_store_col_text(st, 28),
                     ferry_store_col_text(st, 29), t);
    read_timings(a, ferry_store_col_text(st, 24), t);
    t->wave = (uint32_t)sqlite3_column_int(st, 30);
    hold_reason(a, st, now_ms, t);
}

/* UpdateTask.hooks from the task_hook rows (at most FERRY_STORE_TASK_HOOKS_MAX), in stage
 * order and, within a stage, in the order they were reported. */
ferry_err_code_t ferry_store_task_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                        Ferry__V1__UpdateTask *out, ferry_err_t *err)
{
    static const char sql[] = "SELECT hook_id, stage, name, result, message, stderr_tail, duration_ms,"
                              " exit_status FROM task_hook WHERE task_id = ?1 ORDER BY stage, seq LIMIT ?2";
    sqlite3_stmt *st = NULL;
    Ferry__V1__HookReport **v = NULL;
    size_t n = 0;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "load task hooks", err)) != FERRY_OK)
        return rc;
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, FERRY_STORE_TASK_HOOKS_MAX);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        Ferry__V1__HookReport *h = ferry_arena_alloc(a, sizeof(*h));
        Google__Protobuf__Duration *d = ferry_arena_alloc(a, sizeof(*d));
        int64_t ms = sqlite3_column_int64(st, 6);
        if (v == NULL)
            v = ferry_arena_alloc(a, FERRY_STORE_TASK_HOOKS_MAX * sizeof(void *));
        if (h == NULL || d == NULL || v == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load task hooks: out of memory");
            goto out;
        }
        ferry__v1__hook_report__init(h);
        google__protobuf__duration__init(d);
        h->hook_id = ferry_store_col_dup(a, st, 0);
        h->stage = (Ferry__V1__HookStage)sqlite3_column_int(st, 1);
        h->name = ferry_store_col_dup(a, st, 2);
        h->result = (Ferry__V1__HookResult)sqlite3_column_int(st, 3);
        h->message = ferry_store_col_dup(a, st, 4);
        h->stderr_tail = ferry_store_col_dup(a, st, 5);
        d->seconds = ms / 1000;
        d->nanos = (int32_t)(ms % 1000) * 1000000;
        h->duration = d;
        h->exit_status = sqlite3_column_int(st, 7);
        v[n++] = h;
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "load task hooks", err);
    else if (n > 0) {
        out->hooks = v;
        out->n_hooks = n;
    }
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_task_get(ferry_store_t *s, ferry_arena_t *a, int64_t task_id, int64_t now_ms,
                                      Ferry__V1__UpdateTask *out, ferry_err_t *err)
{
    static const char sql[] = TASK_SELECT " WHERE t.id = ?";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "load task", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no task %lld", (long long)task_id);
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "load task", err);
        goto out;
    }
    read_task(a, st, now_ms, out);
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load task: out of memory");
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

static void *task_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__UpdateTask *t = ferry_arena_alloc(a, sizeof(*t));
    (void)err;
    if (t != NULL)
        read_task(a, st, *(const int64_t *)ctx, t);
    return t;
}

ferry_err_code_t ferry_store_tasks_list(ferry_store_t *s, const ferry_store_task_filter_t *f,
                                        const char *page_token, int32_t page_size, int64_t now_ms,
                                        ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "list tasks",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            task_row,
                            &now_ms};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    if (f->n_states > 14)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "at most 14 states in a filter");
    ferry_store_query_sql(&q, TASK_SELECT " WHERE 1=1");
    if (f->release_id != 0)
        ferry_store_query_int(&q, " AND t.release_id = ?", f->release_id);
    if (f->customer_code != NULL && f->customer_code[0] != '\0')
        ferry_store_query_text(&q, " AND c.code = ?", f->customer_code);
    if (f->store_code != NULL && f->store_code[0] != '\0')
        ferry_store_query_text(&q, " AND s.code = ?", f->store_code);
    if (f->node_code != NULL && f->node_code[0] != '\0')
        ferry_store_query_text(&q, " AND n.code = ?", f->node_code);
    if (f->error_code != NULL && f->error_code[0] != '\0')
        ferry_store_query_text(&q, " AND t.error_code = ?", f->error_code);
    if (f->kind != 0)
        ferry_store_query_int(&q, " AND t.kind = ?", f->kind);
    for (size_t i = 0; i < f->n_states; i++)
        ferry_store_query_int(&q, i == 0 ? " AND t.state IN (?" : ",?", f->states[i]);
    if (f->n_states > 0)
        ferry_store_query_sql(&q, ")");
    ferry_store_query_sql(&q, " ORDER BY t.id DESC LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

/* ---- history ------------------------------------------------------------------------------ */

static void *event_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__TaskEvent *e = ferry_arena_alloc(a, sizeof(*e));
    const char *hook;
    (void)err;
    if (e == NULL)
        return NULL;
    ferry__v1__task_event__init(e);
    e->task_id = ctx;
    e->sequence = (uint64_t)sqlite3_column_int64(st, 0);
    e->state = sqlite3_column_int(st, 1);
    e->error_code = ferry_store_col_dup(a, st, 2);
    e->message = ferry_store_col_dup(a, st, 3);
    e->percent = (uint32_t)sqlite3_column_int(st, 4);
    e->bytes_done = (uint64_t)sqlite3_column_int64(st, 5);
    e->bytes_total = (uint64_t)sqlite3_column_int64(st, 6);
    e->reported_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
    e->received_at = ferry_arena_ts(a, sqlite3_column_int64(st, 8));
    e->source = ferry_store_col_dup(a, st, 9);
    hook = ferry_store_col_text(st, 10);
    if (hook[0] != '\0') {
        ProtobufCMessage *m = NULL;
        ferry_err_t e2 = {0};
        if (ferry_json_decode(&ferry__v1__hook_report__descriptor, hook, strlen(hook), &m, &e2) == FERRY_OK) {
            e->hook = (Ferry__V1__HookReport *)m;
            ferry_arena_own(a, m);
        }
    }
    return e;
}

ferry_err_code_t ferry_store_task_events_list(ferry_store_t *s, int64_t task_id, const char *page_token,
                                              int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                              ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "task events",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            event_row,
                            NULL};
    ferry_store_task_ref_t ref;
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(s);
    rc = ferry_store_task_ref(s, task_id, &ref, err);
    ferry_store_unlock(s);
    if (rc != FERRY_OK)
        return rc;
    if ((l.ctx = ferry_arena_printf(a, "%lld", (long long)task_id)) == NULL || a->failed)
        return ferry_err_set(err, FERRY_E_NOMEM, "task events: out of memory");
    ferry_store_query_int(
        &q,
        "SELECT seq, state, error_code, message, percent, bytes, bytes_total, reported_at, at,"
        " source, hook_json FROM task_event WHERE task_id = ? ORDER BY id LIMIT ? OFFSET ?",
        task_id);
    return ferry_store_list(s, &l, &q, a, out, err);
}

/* ---- writes -------------------------------------------------------------------------------- */

ferry_err_code_t ferry_store_task_insert(ferry_store_t *s, const ferry_store_task_new_t *t, int64_t *id,
                                         ferry_err_t *err)
{
    static const char sql[] =
        "INSERT INTO update_task (release_id, node_id, kind, state, message, rollback_of_task_id,"
        " backup_local_path, server_dir, client_dir, created_at, updated_at, wave)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *id = 0;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "create task", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, t->release_id);
    sqlite3_bind_int64(st, 2, t->node_id);
    sqlite3_bind_int(st, 3, t->kind);
    sqlite3_bind_int(st, 4, t->state);
    ferry_store_bind_text(st, 5, t->message);
    if (t->rollback_of_task_id > 0)
        sqlite3_bind_int64(st, 6, t->rollback_of_task_id);
    ferry_store_bind_text(st, 7, t->backup_local_path);
    ferry_store_bind_text(st, 8, t->server_dir);
    ferry_store_bind_text(st, 9, t->client_dir);
    sqlite3_bind_int64(st, 10, t->now);
    sqlite3_bind_int(st, 11, t->wave);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create task", err);
    else
        *id = sqlite3_last_insert_rowid(db);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_task_event_add(ferry_store_t *s, const ferry_store_task_event_new_t *e,
                                            ferry_err_t *err)
{
    static const char sql[] = "INSERT INTO task_event (task_id, seq, state, error_code, message, source, at)"
                              " VALUES (?, 0, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, sql, &st, "task event", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, e->task_id);
    sqlite3_bind_int(st, 2, e->state);
    ferry_store_bind_text(st, 3, e->error_code);
    ferry_store_bind_text(st, 4, e->message);
    ferry_store_bind_text(st, 5, e->source);
    sqlite3_bind_int64(st, 6, e->at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "task event", err);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_task_ref(ferry_store_t *s, int64_t task_id, ferry_store_task_ref_t *out,
                                      ferry_err_t *err)
{
    static const char sql[] =
        "SELECT t.id, t.release_id, t.node_id, t.state, t.kind, r.status FROM update_task t"
        " JOIN release r ON r.id = t.release_id WHERE t.id = ?";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "task", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no task %lld", (long long)task_id);
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "task", err);
        goto out;
    }
    out->task_id = sqlite3_column_int64(st, 0);
    out->release_id = sqlite3_column_int64(st, 1);
    out->node_id = sqlite3_column_int64(st, 2);
    out->state = sqlite3_column_int(st, 3);
    out->kind = sqlite3_column_int(st, 4);
    out->release_status = sqlite3_column_int(st, 5);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_task_retry(ferry_store_t *s, int64_t task_id, const char *message, int64_t now,
                                        ferry_err_t *err)
{
    static const char sql[] =
        "UPDATE update_task SET state = ?4, error_code = '', message = ?1, percent = 0, bytes = 0,"
        " bytes_total = 0, halted = 0, attempt = attempt + 1, finished_at = NULL, updated_at = ?2"
        " WHERE id = ?3";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(ferry_store_sqlite(s), sql, &st, "retry task", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, message);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, task_id);
    sqlite3_bind_int(st, 4, FERRY_STATE_PENDING);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "retry task", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_task_set_skip_hooks(ferry_store_t *s, int64_t task_id, const char *const *ids,
                                                 size_t n, ferry_err_t *err)
{
    /* jansson encodes the ids (quotes, escapes): no JSON is concatenated by hand. */
    static const char sql[] = "UPDATE update_task SET skip_hooks_json = ?2 WHERE id = ?1";
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array();
    char *text = NULL;
    ferry_err_code_t rc = FERRY_OK;

    if (arr == NULL || n > FERRY_STORE_SKIP_HOOKS_MAX) {
        rc = ferry_err_set(err, arr == NULL ? FERRY_E_NOMEM : FERRY_E_INVALID_ARG,
                           "set skipped hooks: %zu ids (at most %d)", n, FERRY_STORE_SKIP_HOOKS_MAX);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(ids[i])) != 0) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "set skipped hooks: id %zu is not UTF-8", i);
            goto out;
        }
    if ((text = json_dumps(arr, JSON_COMPACT)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "set skipped hooks: out of memory");
        goto out;
    }
    if ((rc = ferry_store_prepare(ferry_store_sqlite(s), sql, &st, "set skipped hooks", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    ferry_store_bind_text(st, 2, text);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(ferry_store_sqlite(s), "set skipped hooks", err);
        goto out;
    }
    if (sqlite3_changes(ferry_store_sqlite(s)) == 0)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no task %lld", (long long)task_id);
out:
    sqlite3_finalize(st);
    free(text);
    json_decref(arr);
    return rc;
}

/*
 * Hook ids: column 0 of the rows of |sql| for task |task_id| (bound to ?1; |b2|, |b3| to
 * ?2, ?3 when >= 0; the row cap FERRY_STORE_SKIP_HOOKS_MAX to ?4), in |a|. Prepared and
 * finalized here: these run on a retry or a retried task's CheckIn, not on the hot path.
 */
static ferry_err_code_t hook_ids(ferry_store_t *s, ferry_arena_t *a, const char *sql, int64_t task_id, int b2,
                                 int b3, const char *what, char ***ids, size_t *n, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int step;

    *ids = NULL;
    *n = 0;
    if ((rc = ferry_store_prepare(ferry_store_sqlite(s), sql, &st, what, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    if (b2 >= 0)
        sqlite3_bind_int(st, 2, b2);
    if (b3 >= 0)
        sqlite3_bind_int(st, 3, b3);
    sqlite3_bind_int(st, 4, FERRY_STORE_SKIP_HOOKS_MAX);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*ids == NULL &&
            (*ids = ferry_arena_alloc(a, FERRY_STORE_SKIP_HOOKS_MAX * sizeof(char *))) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
            goto out;
        }
        if (((*ids)[*n] = ferry_store_col_dup(a, st, 0)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
            goto out;
        }
        (*n)++;
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(ferry_store_sqlite(s), what, err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_task_skip_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id, char ***ids,
                                             size_t *n, ferry_err_t *err)
{
    /* A malformed column (written by nothing but set_skip_hooks) reads as no list. */
    static const char sql[] =
        "SELECT j.value FROM update_task t, json_each(CASE WHEN json_valid(t.skip_hooks_json)"
        " AND json_type(t.skip_hooks_json) = 'array' THEN t.skip_hooks_json ELSE '[]' END) j"
        " WHERE t.id = ?1 AND j.type = 'text' ORDER BY j.key LIMIT ?4";
    return hook_ids(s, a, sql, task_id, -1, -1, "read skipped hooks", ids, n, err);
}

ferry_err_code_t ferry_store_task_failed_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                               char ***ids, size_t *n, ferry_err_t *err)
{
    /* post_upgrade (stage 5) runs after 100: its failures never fail a task. */
    static const char sql[] =
        "SELECT h.hook_id FROM task_hook h JOIN update_task t ON t.id = h.task_id"
        " WHERE h.task_id = ?1 AND h.result = ?2 AND h.attempt = t.attempt AND h.stage <> ?3"
        " ORDER BY h.stage, h.seq LIMIT ?4";
    return hook_ids(s, a, sql, task_id, FERRY__V1__HOOK_RESULT__HOOK_RESULT_FAIL,
                    FERRY__V1__HOOK_STAGE__HOOK_STAGE_POST_UPGRADE, "read failed hooks", ids, n, err);
}

/* ---- report files --------------------------------------------------------------------------- */

#define FILE_SELECT                                                                                          \
    "SELECT f.id, f.kind, n.code, f.task_id, f.name, f.size, f.blob_sha256, f.summary, f.content_type,"      \
    " f.created_at, s.customer_id FROM report_file f JOIN node n ON n.id = f.node_id"                        \
    " JOIN store s ON s.id = n.store_id"

static bool read_file(ferry_arena_t *a, sqlite3_stmt *st, ferry_store_report_file_item_t *it)
{
    Ferry__V1__ReportFile *f = ferry_arena_alloc(a, sizeof(*f));
    if (f == NULL)
        return false;
    ferry__v1__report_file__init(f);
    f->id = id_text(a, st, 0);
    f->kind = sqlite3_column_int(st, 1);
    f->node_code = ferry_store_col_dup(a, st, 2);
    f->task_id = id_text(a, st, 3);
    f->file_name = ferry_store_col_dup(a, st, 4);
    f->size = (uint64_t)sqlite3_column_int64(st, 5);
    f->sha256 = ferry_store_col_dup(a, st, 6);
    f->summary = ferry_store_col_dup(a, st, 7);
    f->content_type = ferry_store_col_dup(a, st, 8);
    f->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 9));
    it->file = f;
    it->customer_id = sqlite3_column_int64(st, 10);
    return true;
}

static void *file_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    ferry_store_report_file_item_t *it = ferry_arena_alloc(a, sizeof(*it));
    (void)ctx;
    (void)err;
    return it != NULL && read_file(a, st, it) ? it : NULL;
}

ferry_err_code_t ferry_store_report_files_list(ferry_store_t *s, const ferry_store_report_file_filter_t *f,
                                               const char *page_token, int32_t page_size, ferry_arena_t *a,
                                               ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "list files",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            file_row,
                            NULL};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    ferry_store_query_sql(&q, FILE_SELECT " WHERE 1=1");
    if (f->node_code != NULL && f->node_code[0] != '\0')
        ferry_store_query_text(&q, " AND n.code = ?", f->node_code);
    if (f->task_id != 0)
        ferry_store_query_int(&q, " AND f.task_id = ?", f->task_id);
    if (f->kind != 0)
        ferry_store_query_int(&q, " AND f.kind = ?", f->kind);
    if (f->release_id != 0)
        ferry_store_query_int(&q, " AND f.task_id IN (SELECT id FROM update_task WHERE release_id = ?)",
                              f->release_id);
    ferry_store_query_sql(&q, " ORDER BY f.id DESC LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

ferry_err_code_t ferry_store_report_file_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                             ferry_store_report_file_item_t *out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, FILE_SELECT " WHERE f.id = ?", &st, "get file", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if ((step = sqlite3_step(st)) != SQLITE_ROW)
        rc = step == SQLITE_DONE ? ferry_err_set(err, FERRY_E_NOT_FOUND, "no report file %lld", (long long)id)
                                 : ferry_store_sql_err(db, "get file", err);
    else if (!read_file(a, st, out))
        rc = ferry_err_set(err, FERRY_E_NOMEM, "get file: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- node configuration index --------------------------------------------------------------- */

#define CONFIG_SELECT                                                                                        \
    "SELECT n.code, i.config_version, i.uploaded_at, i.file_id, i.blob_sha256, i.size, i.summary_json,"      \
    " s.customer_id FROM node_config_index i JOIN node n ON n.id = i.node_id JOIN store s ON s.id ="         \
    " n.store_id JOIN customer c ON c.id = s.customer_id"

static bool read_config(ferry_arena_t *a, sqlite3_stmt *st, ferry_store_node_config_item_t *it)
{
    Ferry__V1__NodeConfigSummary *c = ferry_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return false;
    ferry__v1__node_config_summary__init(c);
    c->node_code = ferry_store_col_dup(a, st, 0);
    c->config_version = sqlite3_column_int64(st, 1);
    c->uploaded_at = ferry_arena_ts(a, sqlite3_column_int64(st, 2));
    c->file_id = id_text(a, st, 3);
    c->sha256 = ferry_store_col_dup(a, st, 4);
    c->size = (uint64_t)sqlite3_column_int64(st, 5);
    it->summary = c;
    it->summary_json = ferry_store_col_dup(a, st, 6);
    it->customer_id = sqlite3_column_int64(st, 7);
    return true;
}

static void *config_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    ferry_store_node_config_item_t *it = ferry_arena_alloc(a, sizeof(*it));
    (void)ctx;
    (void)err;
    return it != NULL && read_config(a, st, it) ? it : NULL;
}

ferry_err_code_t ferry_store_node_config_get(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                             ferry_store_node_config_item_t *out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db, CONFIG_SELECT " WHERE n.code = ? ORDER BY i.uploaded_at DESC LIMIT 1",
                                  &st, "node config", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, node_code);
    if ((step = sqlite3_step(st)) != SQLITE_ROW)
        rc = step == SQLITE_DONE
                 ? ferry_err_set(err, FERRY_E_NOT_FOUND,
                                 "node '%s' has not uploaded a configuration (or does not exist)", node_code)
                 : ferry_store_sql_err(db, "node config", err);
    else if (!read_config(a, st, out))
        rc = ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_configs_list(ferry_store_t *s, const char *customer_code,
                                               const char *store_code, const char *page_token,
                                               int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                               ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_MAIN,
                            "node configs",
                            ferry_store_page_limit(page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            config_row,
                            NULL};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    ferry_store_query_sql(&q, CONFIG_SELECT " WHERE 1=1");
    if (customer_code != NULL && customer_code[0] != '\0')
        ferry_store_query_text(&q, " AND c.code = ?", customer_code);
    if (store_code != NULL && store_code[0] != '\0')
        ferry_store_query_text(&q, " AND s.code = ?", store_code);
    ferry_store_query_sql(&q, " ORDER BY n.code, n.environment LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

/* ---- dashboard ------------------------------------------------------------------------------ */

/* Prepares |sql| into *st with the shared filters bound: ?1 customer code or '', ?2 environment or 0. */
static ferry_err_code_t dash_prep(sqlite3 *db, const char *sql, const char *customer, int env,
                                  sqlite3_stmt **st, ferry_err_t *err)
{
    sqlite3_finalize(*st);
    *st = NULL;
    if (ferry_store_prepare(db, sql, st, "dashboard", err) != FERRY_OK)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    ferry_store_bind_text(*st, 1, customer);
    sqlite3_bind_int(*st, 2, env);
    return FERRY_OK;
}

ferry_err_code_t ferry_store_dashboard(ferry_store_t *s, ferry_arena_t *a, const char *customer_code,
                                       int environment, int64_t now_ms, int64_t online_cutoff,
                                       Ferry__V1__GetDashboardResponse *out, ferry_err_t *err)
{
    /* Filters shared by every query: ?1 customer code or '', ?2 environment or 0. */
    static const char node_filter[] = " (?1 = '' OR c.code = ?1) AND (?2 = 0 OR n.environment = ?2)";
    /* Tasks of releases still ACTIVE or PAUSED (?6, ?7). */
    static const char task_from[] =
        " FROM update_task t JOIN release r ON r.id = t.release_id JOIN node n ON n.id ="
        " t.node_id JOIN store s ON s.id = n.store_id JOIN customer c ON c.id ="
        " s.customer_id WHERE r.status IN (?6, ?7) AND";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    const char *cust = customer_code != NULL ? customer_code : "";
    ferry_err_code_t rc;
    char sql[1024];

    out->server_time = ferry_arena_ts(a, now_ms);
    snprintf(sql, sizeof(sql),
             "SELECT count(*), sum(n.last_seen_at IS NULL), sum(n.last_seen_at >= ?3) FROM node n"
             " JOIN store s ON s.id = n.store_id JOIN customer c ON c.id = s.customer_id WHERE n.disabled = 0"
             " AND%s",
             node_filter);
    if ((rc = dash_prep(db, sql, cust, environment, &st, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 3, online_cutoff);
    if (sqlite3_step(st) == SQLITE_ROW) {
        out->nodes_total = (uint64_t)sqlite3_column_int64(st, 0);
        out->nodes_never_seen = (uint64_t)sqlite3_column_int64(st, 1);
        out->nodes_online = (uint64_t)sqlite3_column_int64(st, 2);
        out->nodes_offline = out->nodes_total - out->nodes_never_seen - out->nodes_online;
    }

    snprintf(sql, sizeof(sql), "SELECT t.state, count(*)%s%s GROUP BY t.state ORDER BY t.state", task_from,
             node_filter);
    if ((rc = dash_prep(db, sql, cust, environment, &st, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 6, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    sqlite3_bind_int(st, 7, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    out->tasks_by_state = ferry_arena_alloc(a, sizeof(void *) * 16);
    while (out->tasks_by_state != NULL && out->n_tasks_by_state < 16 && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__StateCount *c = ferry_arena_alloc(a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__state_count__init(c);
        c->state = sqlite3_column_int(st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        out->tasks_by_state[out->n_tasks_by_state++] = c;
    }

    snprintf(sql, sizeof(sql),
             "SELECT t.error_code, count(*)%s%s AND t.state = ?3 AND t.error_code <> '' GROUP BY t.error_code"
             " ORDER BY count(*) DESC LIMIT 64",
             task_from, node_filter);
    if ((rc = dash_prep(db, sql, cust, environment, &st, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 6, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    sqlite3_bind_int(st, 7, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    out->failures_by_error = ferry_arena_alloc(a, sizeof(void *) * 64);
    while (out->failures_by_error != NULL && out->n_failures_by_error < 64 &&
           sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__ErrorCount *c = ferry_arena_alloc(a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__error_count__init(c);
        c->error_code = ferry_store_col_dup(a, st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        out->failures_by_error[out->n_failures_by_error++] = c;
    }

    snprintf(sql, sizeof(sql),
             TASK_SELECT " WHERE t.state = ?3 AND%s ORDER BY t.updated_at DESC, t.id DESC LIMIT 20",
             node_filter);
    if ((rc = dash_prep(db, sql, cust, environment, &st, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    out->recent_failures = ferry_arena_alloc(a, sizeof(void *) * 20);
    while (out->recent_failures != NULL && out->n_recent_failures < 20 && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__UpdateTask *t = ferry_arena_alloc(a, sizeof(*t));
        if (t == NULL)
            break;
        read_task(a, st, now_ms, t);
        out->recent_failures[out->n_recent_failures++] = t;
    }

    if ((rc = dash_prep(
             db,
             "SELECT count(*) FROM release r JOIN customer c ON c.id = r.customer_id WHERE r.status IN"
             " (?6, ?7) AND (?1 = '' OR c.code = ?1) AND (?2 = 0 OR r.environment = ?2)"
             " AND EXISTS (SELECT 1 FROM update_task t WHERE t.release_id = r.id"
             " AND t.state NOT IN (?3, ?4, ?5))",
             cust, environment, &st, err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 3, FERRY_STATE_SUCCEEDED);
    sqlite3_bind_int(st, 4, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 5, FERRY_STATE_ROLLBACKED);
    sqlite3_bind_int(st, 6, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    sqlite3_bind_int(st, 7, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    if (sqlite3_step(st) == SQLITE_ROW)
        out->releases_open = (uint64_t)sqlite3_column_int64(st, 0);
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "dashboard: out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}
