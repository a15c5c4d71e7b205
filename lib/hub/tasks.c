/*
 * Task queries for admins (seed 000 §6.1 dashboard): ListTasks, GetTask,
 * ListTaskEvents, RetryTask, report files with signed download links, the read-only
 * node configuration index, GetDashboard; and loading an UpdateTask (hub_pkg.h).
 *
 * Every handler runs on the worker pool (hub_offload) and holds the DB lock only for
 * its statements, so a slow disk never stalls an event loop.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/json.h"
#include "ferry/model/states.h"
#include "hub_nodecfg.h"
#include "hub_pkg.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

/* ---- pure ---------------------------------------------------------------------------------- */

bool hub_task_state_final(int state)
{
    return ferry_state_is_terminal((ferry_state_t)state);
}

int hub_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms)
{
    if (policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL && deadline_ms > 0 &&
        now_ms >= deadline_ms)
        return FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    return policy;
}

/* ---- tasks ---------------------------------------------------------------------------------- */

/* The task's step timings (task_timing rows, at most 256: report.c) as
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
    " t.download_json"                                                                                       \
    " FROM update_task t JOIN node n ON n.id = t.node_id JOIN store s ON s.id = n.store_id"                  \
    " JOIN customer c ON c.id = s.customer_id JOIN release r ON r.id = t.release_id"                         \
    " JOIN package p ON p.id = r.package_id"

/*
 * The JSON columns hold exactly the proto3 JSON of UpdateTask's fields (download_json:
 * its DownloadStats, '' = none), so one decode of {"reportFiles":..,"timings":..,
 * "hooks":..[,"download":..]} yields them; the decoded message lives in the arena and
 * |out| borrows its members.
 */
static void task_json_fields(hub_arena_t *a, const char *files, const char *timings, const char *hooks,
                             const char *download, Ferry__V1__UpdateTask *out)
{
    ProtobufCMessage *m = NULL;
    ferry_err_t err = {0};
    bool dl = download[0] != '\0';
    char *doc;
    size_t n = strlen(files) + strlen(timings) + strlen(hooks) + strlen(download) + 80;
    if (strcmp(files, "[]") == 0 && strcmp(timings, "[]") == 0 && strcmp(hooks, "[]") == 0 && !dl)
        return;
    if ((doc = malloc(n)) == NULL)
        return;
    snprintf(doc, n, "{\"reportFiles\":%s,\"timings\":%s,\"hooks\":%s%s%s}", files[0] ? files : "[]",
             timings[0] ? timings : "[]", hooks[0] ? hooks : "[]", dl ? ",\"download\":" : "",
             dl ? download : "");
    if (ferry_json_decode(&ferry__v1__update_task__descriptor, doc, strlen(doc), &m, &err) == FERRY_OK) {
        Ferry__V1__UpdateTask *d = (Ferry__V1__UpdateTask *)m;
        out->n_report_files = d->n_report_files;
        out->report_files = d->report_files;
        out->n_timings = d->n_timings;
        out->timings = d->timings;
        out->n_hooks = d->n_hooks;
        out->hooks = d->hooks;
        out->download = d->download;
        hub_arena_own(a, m);
    }
    /* A column that does not decode is shown empty rather than failing the whole read:
     * it came from an agent report, and the task itself must stay visible. */
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
static void read_timings(hub_arena_t *a, const char *s, Ferry__V1__UpdateTask *out)
{
    size_t n = 0, cap = 1;
    if (s == NULL || s[0] == '\0')
        return;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    Ferry__V1__StepTiming **v = hub_arena_alloc(a, cap * sizeof(*v));
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
        Ferry__V1__StepTiming *t = hub_arena_alloc(a, sizeof(*t));
        Google__Protobuf__Duration *d = hub_arena_alloc(a, sizeof(*d));
        if (t == NULL || d == NULL)
            return;
        ferry__v1__step_timing__init(t);
        google__protobuf__duration__init(d);
        t->state = (Ferry__V1__TaskState)state;
        t->started_at = hub_arena_ts(a, started);
        d->seconds = dur / 1000;
        d->nanos = (int32_t)(dur % 1000) * 1000000;
        t->duration = d;
        v[n++] = t;
    }
    qsort(v, n, sizeof(*v), timing_cmp);
    out->timings = v;
    out->n_timings = n;
}

static void read_task(hub_arena_t *a, sqlite3_stmt *st, int64_t now_ms, Ferry__V1__UpdateTask *t)
{
    ferry__v1__update_task__init(t);
    t->id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 0));
    t->release_id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 1));
    t->kind = sqlite3_column_int(st, 2);
    t->node_code = hub_arena_strdup(a, hub_col_text(st, 3));
    t->store_code = hub_arena_strdup(a, hub_col_text(st, 4));
    t->customer_code = hub_arena_strdup(a, hub_col_text(st, 5));
    t->environment = sqlite3_column_int(st, 6);
    t->package_version = hub_arena_strdup(a, hub_col_text(st, 7));
    int64_t deadline = sqlite3_column_int64(st, 9);
    if (t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK) {
        t->policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED; /* an admin's explicit act */
    } else {
        t->policy = hub_effective_policy(sqlite3_column_int(st, 8), deadline, now_ms);
        t->deadline = hub_arena_ts(a, deadline);
    }
    t->state = sqlite3_column_int(st, 10);
    t->error_code = hub_arena_strdup(a, hub_col_text(st, 11));
    t->message = hub_arena_strdup(a, hub_col_text(st, 12));
    t->percent = (uint32_t)sqlite3_column_int(st, 13);
    t->backup_local_path = hub_arena_strdup(a, hub_col_text(st, 14));
    t->server_dir = hub_arena_strdup(a, hub_col_text(st, 15));
    t->client_dir = hub_arena_strdup(a, hub_col_text(st, 16));
    t->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 18));
    t->updated_at = hub_arena_ts(a, sqlite3_column_int64(st, 19));
    t->started_at = hub_arena_ts(a, sqlite3_column_int64(st, 20));
    t->finished_at = hub_arena_ts(a, sqlite3_column_int64(st, 21));
    t->last_sequence = (uint64_t)sqlite3_column_int64(st, 22);
    if (sqlite3_column_type(st, 23) != SQLITE_NULL)
        t->rollback_of_task_id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 23));
    else
        t->rollback_of_task_id = hub_arena_strdup(a, "");
    t->halted = sqlite3_column_int(st, 25) != 0;
    t->attempt = (uint32_t)sqlite3_column_int(st, 26);
    t->checkpoint = hub_arena_strdup(a, hub_col_text(st, 27));
    task_json_fields(a, hub_col_text(st, 17), "[]", hub_col_text(st, 28), hub_col_text(st, 29), t);
    read_timings(a, hub_col_text(st, 24), t);
}

ferry_err_code_t hub_task_load(ferry_hub_t *hub, hub_arena_t *a, int64_t task_id, int64_t now_ms,
                               Ferry__V1__UpdateTask *out, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    static const char sql[] = TASK_SELECT " WHERE t.id = ?";
    if ((rc = hub_prepare_cached(hub, sql, &st, "load task", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no task %lld", (long long)task_id);
        goto out;
    }
    if (s != SQLITE_ROW) {
        rc = ferry_err_set(err, FERRY_E_IO, "load task: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    read_task(a, st, now_ms, out);
    rc = a->failed ? ferry_err_set(err, FERRY_E_NOMEM, "load task: out of memory") : FERRY_OK;
out:
    hub_stmt_release(hub, st);
    return rc;
}

/* Row mappers for hub_list(): ctx is the hub (or, for tasks, &now_ms). */
static void *task_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__UpdateTask *t = hub_arena_alloc(a, sizeof(*t));
    (void)err;
    if (t != NULL)
        read_task(a, st, *(const int64_t *)ctx, t);
    return t;
}

static void list_tasks_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListTasksRequest *req = vreq;
    Ferry__V1__ListTasksResponse resp = FERRY__V1__LIST_TASKS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    int64_t rid = 0, now = hub_now_ms();
    hub_list_t l = {HUB_DB_MAIN, "list tasks", hub_page_limit(req->page_size), 0, HUB_PAGE_BY_OFFSET,
                    task_row,    &now};

    if (hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK)
        goto fail;
    hub_query_sql(&q, TASK_SELECT " WHERE 1=1");
    if (req->release_id[0] != '\0') {
        if (hub_parse_id(req->release_id, "release_id", &rid, &err) != FERRY_OK)
            goto fail;
        hub_query_int(&q, " AND t.release_id = ?", rid);
    }
    if (req->customer_code[0] != '\0')
        hub_query_text(&q, " AND c.code = ?", req->customer_code);
    if (req->store_code[0] != '\0')
        hub_query_text(&q, " AND s.code = ?", req->store_code);
    if (req->node_code[0] != '\0')
        hub_query_text(&q, " AND n.code = ?", req->node_code);
    if (req->error_code[0] != '\0')
        hub_query_text(&q, " AND t.error_code = ?", req->error_code);
    if (req->kind != 0)
        hub_query_int(&q, " AND t.kind = ?", req->kind);
    if (req->n_states > 0) {
        if (req->n_states > 14) {
            ferry_err_set(&err, FERRY_E_INVALID_ARG, "at most 14 states in a filter");
            goto fail;
        }
        for (size_t i = 0; i < req->n_states; i++)
            hub_query_int(&q, i == 0 ? " AND t.state IN (?" : ",?", req->states[i]);
        hub_query_sql(&q, ")");
    }
    hub_query_sql(&q, " ORDER BY t.id DESC LIMIT ? OFFSET ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.tasks = (Ferry__V1__UpdateTask **)rows.items;
    resp.n_tasks = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_tasks_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

static void get_task_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetTaskRequest *req = vreq;
    Ferry__V1__GetTaskResponse resp = FERRY__V1__GET_TASK_RESPONSE__INIT;
    Ferry__V1__UpdateTask t;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    int64_t id;
    ferry_err_code_t rc;

    if (hub_parse_id(req->id, "task id", &id, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    hub_db_lock(hub);
    rc = hub_task_load(hub, &a, id, hub_now_ms(), &t, &err);
    hub_db_unlock(hub);
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    resp.task = &t;
    ferry_v1_admin_service_get_task_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void *event_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__TaskEvent *e = hub_arena_alloc(a, sizeof(*e));
    const char *hook;
    (void)err;
    if (e == NULL)
        return NULL;
    ferry__v1__task_event__init(e);
    e->task_id = ctx;
    e->sequence = (uint64_t)sqlite3_column_int64(st, 0);
    e->state = sqlite3_column_int(st, 1);
    e->error_code = hub_arena_col(a, st, 2);
    e->message = hub_arena_col(a, st, 3);
    e->percent = (uint32_t)sqlite3_column_int(st, 4);
    e->bytes_done = (uint64_t)sqlite3_column_int64(st, 5);
    e->bytes_total = (uint64_t)sqlite3_column_int64(st, 6);
    e->reported_at = hub_arena_ts(a, sqlite3_column_int64(st, 7));
    e->received_at = hub_arena_ts(a, sqlite3_column_int64(st, 8));
    e->source = hub_arena_col(a, st, 9);
    hook = hub_col_text(st, 10);
    if (hook[0] != '\0') {
        ProtobufCMessage *m = NULL;
        ferry_err_t e2 = {0};
        if (ferry_json_decode(&ferry__v1__hook_report__descriptor, hook, strlen(hook), &m, &e2) == FERRY_OK) {
            e->hook = (Ferry__V1__HookReport *)m;
            hub_arena_own(a, m);
        }
    }
    return e;
}

/* FERRY_E_NOT_FOUND unless task |id| exists. */
static ferry_err_code_t task_exists(ferry_hub_t *hub, int64_t id, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    hub_db_lock(hub);
    if ((rc = hub_prepare(hub->db, "SELECT count(*) FROM update_task WHERE id = ?", &st, "task events",
                          err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) == 0)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no task %lld", (long long)id);
out:
    sqlite3_finalize(st);
    hub_db_unlock(hub);
    return rc;
}

static void list_task_events_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListTaskEventsRequest *req = vreq;
    Ferry__V1__ListTaskEventsResponse resp = FERRY__V1__LIST_TASK_EVENTS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    int64_t id;
    hub_list_t l = {HUB_DB_MAIN, "task events", hub_page_limit(req->page_size), 0, HUB_PAGE_BY_OFFSET,
                    event_row,   req->task_id};

    if (hub_parse_id(req->task_id, "task id", &id, &err) != FERRY_OK ||
        hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK ||
        task_exists(hub, id, &err) != FERRY_OK)
        goto fail;
    hub_query_int(
        &q,
        "SELECT seq, state, error_code, message, percent, bytes, bytes_total, reported_at, at, source,"
        " hook_json FROM task_event WHERE task_id = ? ORDER BY id LIMIT ? OFFSET ?",
        id);
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.events = (Ferry__V1__TaskEvent **)rows.items;
    resp.n_events = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_task_events_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

/*
 * RetryTask: a FAILED update task of an active release goes back to Pending (attempt
 * + 1, error cleared, history keeps the failure) and is offered to the agent again,
 * which resumes from its journal/checkpoint (seed 002). Refused for rollback tasks,
 * for tasks of a paused or canceled release and for tasks not in 110.
 */
static void retry_task_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__RetryTaskRequest *req = vreq;
    Ferry__V1__RetryTaskResponse resp = FERRY__V1__RETRY_TASK_RESPONSE__INIT;
    Ferry__V1__UpdateTask t;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    int64_t id, now = hub_now_ms();
    bool locked = false, in_tx = false;
    char target[48], msg[320];
    hub_task_event_t ev = {0};

    if (hub_parse_id(req->id, "task id", &id, &err) != FERRY_OK)
        goto fail;
    snprintf(target, sizeof(target), "task:%lld", (long long)id);
    hub_db_lock(hub);
    locked = true;
    if (hub_task_load(hub, &a, id, now, &t, &err) != FERRY_OK)
        goto fail;
    if (t.state != FERRY__V1__TASK_STATE__TASK_STATE_FAILED ||
        t.kind != FERRY__V1__TASK_KIND__TASK_KIND_UPDATE) {
        ferry_err_set(&err, FERRY_E_PRECONDITION,
                      "task %lld is %s in state %d: only a FAILED update task can be retried", (long long)id,
                      t.kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK ? "a rollback" : "an update",
                      (int)t.state);
        goto fail;
    }
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT r.status FROM release r JOIN update_task t ON t.release_id = r.id WHERE t.id = ?", -1,
            &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_column_int(st, 0) != FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE) {
        ferry_err_set(&err, FERRY_E_PRECONDITION,
                      "task %lld: its release %s is not active (paused or canceled)", (long long)id,
                      t.release_id);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    snprintf(msg, sizeof(msg), "retry requested%s%s%s", req->skip_failed_hook ? " (skip failed hook)" : "",
             req->reason[0] ? ": " : "", req->reason);
    if (sqlite3_prepare_v2(
            hub->db,
            "UPDATE update_task SET state = ?4, error_code = '', message = ?1, percent = 0, bytes = 0,"
            " bytes_total = 0, halted = 0, attempt = attempt + 1, finished_at = NULL, updated_at = ?2"
            " WHERE id = ?3",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, msg, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    sqlite3_bind_int(st, 4, FERRY_STATE_PENDING);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    const hub_principal_t *who = hub_principal(call);
    char source[64];
    snprintf(source, sizeof(source), "admin:%s", who != NULL ? who->token_id : "");
    if (sqlite3_prepare_v2(hub->db,
                           "INSERT INTO task_event (task_id, seq, state, message, source, at)"
                           " VALUES (?1, 0, ?5, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, msg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, FERRY_STATE_PENDING);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK)
        goto fail;
    if (hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    in_tx = false;
    /* Committed: from here on only reads; a failure to re-read is reported, not audited. */
    if (sqlite3_prepare_v2(hub->db, "SELECT node_id, release_id FROM update_task WHERE id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            ev.node_id = sqlite3_column_int64(st, 0);
            ev.release_id = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    ferry_err_code_t lrc = hub_task_load(hub, &a, id, now, &t, &err);
    hub_db_unlock(hub);
    locked = false;
    if (lrc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    ev.task_id = id;
    ev.state = FERRY_STATE_PENDING;
    snprintf(ev.message, sizeof(ev.message), "%.200s", msg);
    ev.new_assignment = 1;
    hub_bus_publish(hub, &ev);
    resp.task = &t;
    ferry_v1_admin_service_retry_task_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "retry task: %s", sqlite3_errmsg(hub->db));
fail:
    sqlite3_finalize(st);
    st = NULL;
    if (in_tx)
        hub_tx_rollback(hub);
    if (locked) {
        ferry_err_t e2 = {0};
        hub_audit(hub, call, req->id, ferry_err_name(err.code), &e2);
    }
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

/* ---- report files ------------------------------------------------------------------------- */

#define FILE_SELECT                                                                                          \
    "SELECT f.id, f.kind, n.code, f.task_id, f.name, f.size, f.blob_sha256, f.summary, f.content_type,"      \
    " f.created_at, s.customer_id FROM report_file f JOIN node n ON n.id = f.node_id"                        \
    " JOIN store s ON s.id = n.store_id"

static ferry_err_code_t read_file_row(ferry_hub_t *hub, hub_arena_t *a, sqlite3_stmt *st,
                                      Ferry__V1__ReportFile *f, ferry_err_t *err)
{
    ferry__v1__report_file__init(f);
    f->id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 0));
    f->kind = sqlite3_column_int(st, 1);
    f->node_code = hub_arena_strdup(a, hub_col_text(st, 2));
    f->task_id = sqlite3_column_type(st, 3) == SQLITE_NULL
                     ? hub_arena_strdup(a, "")
                     : hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 3));
    f->file_name = hub_arena_strdup(a, hub_col_text(st, 4));
    f->size = (uint64_t)sqlite3_column_int64(st, 5);
    f->sha256 = hub_arena_strdup(a, hub_col_text(st, 6));
    f->summary = hub_arena_strdup(a, hub_col_text(st, 7));
    f->content_type = hub_arena_strdup(a, hub_col_text(st, 8));
    f->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 9));
    /* The node's customer storage serves its files (seed 000 decision 10). */
    return hub_blob_download_link(hub, a, sqlite3_column_int64(st, 10), f->sha256, &f->download, err);
}

static void *file_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__ReportFile *f = hub_arena_alloc(a, sizeof(*f));
    if (f == NULL || read_file_row(ctx, a, st, f, err) != FERRY_OK)
        return NULL;
    return f;
}

static void list_report_files_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListReportFilesRequest *req = vreq;
    Ferry__V1__ListReportFilesResponse resp = FERRY__V1__LIST_REPORT_FILES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    int64_t id;
    hub_list_t l = {HUB_DB_MAIN, "list files", hub_page_limit(req->page_size), 0, HUB_PAGE_BY_OFFSET,
                    file_row,    hub};

    if (hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK)
        goto fail;
    hub_query_sql(&q, FILE_SELECT " WHERE 1=1");
    if (req->node_code[0] != '\0')
        hub_query_text(&q, " AND n.code = ?", req->node_code);
    if (req->task_id[0] != '\0') {
        if (hub_parse_id(req->task_id, "task_id", &id, &err) != FERRY_OK)
            goto fail;
        hub_query_int(&q, " AND f.task_id = ?", id);
    }
    if (req->kind != 0)
        hub_query_int(&q, " AND f.kind = ?", req->kind);
    if (req->release_id[0] != '\0') {
        if (hub_parse_id(req->release_id, "release_id", &id, &err) != FERRY_OK)
            goto fail;
        hub_query_int(&q, " AND f.task_id IN (SELECT id FROM update_task WHERE release_id = ?)", id);
    }
    hub_query_sql(&q, " ORDER BY f.id DESC LIMIT ? OFFSET ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.files = (Ferry__V1__ReportFile **)rows.items;
    resp.n_files = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_report_files_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

static void get_report_file_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetReportFileRequest *req = vreq;
    Ferry__V1__GetReportFileResponse resp = FERRY__V1__GET_REPORT_FILE_RESPONSE__INIT;
    Ferry__V1__ReportFile f;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    int64_t id;
    bool locked = false;

    if (hub_parse_id(req->id, "file id", &id, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if (hub_prepare(hub->db, FILE_SELECT " WHERE f.id = ?", &st, "get file", &err) != FERRY_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "no report file %lld", (long long)id);
        goto fail;
    }
    if (read_file_row(hub, &a, st, &f, &err) != FERRY_OK)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    resp.file = &f;
    ferry_v1_admin_service_get_report_file_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

/* ---- node configuration index (read-only) ------------------------------------------------ */

#define CONFIG_SELECT                                                                                        \
    "SELECT n.code, i.config_version, i.uploaded_at, i.file_id, i.blob_sha256, i.size, i.summary_json,"      \
    " s.customer_id FROM node_config_index i JOIN node n ON n.id = i.node_id JOIN store s ON s.id = "        \
    "n.store_id"                                                                                             \
    " JOIN customer c ON c.id = s.customer_id"

static ferry_err_code_t read_config_row(ferry_hub_t *hub, hub_arena_t *a, sqlite3_stmt *st,
                                        Ferry__V1__NodeConfigSummary *c, ferry_err_t *err)
{
    ferry__v1__node_config_summary__init(c);
    c->node_code = hub_arena_strdup(a, hub_col_text(st, 0));
    c->config_version = sqlite3_column_int64(st, 1);
    c->uploaded_at = hub_arena_ts(a, sqlite3_column_int64(st, 2));
    c->file_id = sqlite3_column_type(st, 3) == SQLITE_NULL
                     ? hub_arena_strdup(a, "")
                     : hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 3));
    c->sha256 = hub_arena_strdup(a, hub_col_text(st, 4));
    c->size = (uint64_t)sqlite3_column_int64(st, 5);
    /* The stored document (secrets masked by report.c), in the engine's format or the
     * canonical one, mapped onto NodeConfig (hub_nodecfg.h). */
    char *json = hub_node_config_proto_json(hub_col_text(st, 6));
    if (json != NULL) {
        ProtobufCMessage *m = NULL;
        ferry_err_t e2 = {0};
        if (ferry_json_decode(&ferry__v1__node_config__descriptor, json, strlen(json), &m, &e2) == FERRY_OK) {
            c->config = (Ferry__V1__NodeConfig *)m;
            hub_arena_own(a, m);
        }
        free(json);
    }
    return hub_blob_download_link(hub, a, sqlite3_column_int64(st, 7), c->sha256, &c->download, err);
}

static void get_node_config_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetNodeConfigRequest *req = vreq;
    Ferry__V1__GetNodeConfigResponse resp = FERRY__V1__GET_NODE_CONFIG_RESPONSE__INIT;
    Ferry__V1__NodeConfigSummary c;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    bool locked = false;

    if (req->node_code[0] == '\0') {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "node_code is required");
        goto fail;
    }
    hub_db_lock(hub);
    locked = true;
    if (hub_prepare(hub->db, CONFIG_SELECT " WHERE n.code = ? ORDER BY i.uploaded_at DESC LIMIT 1", &st,
                    "node config", &err) != FERRY_OK)
        goto fail;
    sqlite3_bind_text(st, 1, req->node_code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND,
                      "node '%s' has not uploaded a configuration (or does not exist)", req->node_code);
        goto fail;
    }
    if (read_config_row(hub, &a, st, &c, &err) != FERRY_OK)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    resp.summary = &c;
    ferry_v1_admin_service_get_node_config_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

static void *config_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__NodeConfigSummary *c = hub_arena_alloc(a, sizeof(*c));
    if (c == NULL || read_config_row(ctx, a, st, c, err) != FERRY_OK)
        return NULL;
    return c;
}

static void list_node_configs_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListNodeConfigsRequest *req = vreq;
    Ferry__V1__ListNodeConfigsResponse resp = FERRY__V1__LIST_NODE_CONFIGS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {
        HUB_DB_MAIN, "node configs", hub_page_limit(req->page_size), 0, HUB_PAGE_BY_OFFSET, config_row, hub};

    if (hub_page_token_read(req->page_token, &l.offset, &err) != FERRY_OK)
        goto fail;
    hub_query_sql(&q, CONFIG_SELECT " WHERE 1=1");
    if (req->customer_code[0] != '\0')
        hub_query_text(&q, " AND c.code = ?", req->customer_code);
    if (req->store_code[0] != '\0')
        hub_query_text(&q, " AND s.code = ?", req->store_code);
    hub_query_sql(&q, " ORDER BY n.code, n.environment LIMIT ? OFFSET ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.summaries = (Ferry__V1__NodeConfigSummary **)rows.items;
    resp.n_summaries = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_node_configs_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

/* ---- dashboard ---------------------------------------------------------------------------- */

static void get_dashboard_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__GetDashboardRequest *req = vreq;
    Ferry__V1__GetDashboardResponse resp = FERRY__V1__GET_DASHBOARD_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    int64_t now = hub_now_ms(), cutoff = now - (int64_t)hub->cfg.offline_after_s * 1000;
    bool locked = false;
    /* Filters shared by every query: ?1 customer code or '', ?2 environment or 0. */
    static const char node_filter[] = " (?1 = '' OR c.code = ?1) AND (?2 = 0 OR n.environment = ?2)";
    char sql[1024];

    resp.server_time = hub_arena_ts(&a, now);
    hub_db_lock(hub);
    locked = true;
#define PREP(q)                                                                                              \
    do {                                                                                                     \
        sqlite3_finalize(st);                                                                                \
        if (sqlite3_prepare_v2(hub->db, (q), -1, &st, NULL) != SQLITE_OK)                                    \
            goto dberr;                                                                                      \
        sqlite3_bind_text(st, 1, req->customer_code, -1, SQLITE_STATIC);                                     \
        sqlite3_bind_int(st, 2, req->environment);                                                           \
    } while (0)
    snprintf(sql, sizeof(sql),
             "SELECT count(*), sum(n.last_seen_at IS NULL), sum(n.last_seen_at >= ?3) FROM node n"
             " JOIN store s ON s.id = n.store_id JOIN customer c ON c.id = s.customer_id WHERE n.disabled = "
             "0 AND%s",
             node_filter);
    PREP(sql);
    sqlite3_bind_int64(st, 3, cutoff);
    if (sqlite3_step(st) == SQLITE_ROW) {
        resp.nodes_total = (uint64_t)sqlite3_column_int64(st, 0);
        resp.nodes_never_seen = (uint64_t)sqlite3_column_int64(st, 1);
        resp.nodes_online = (uint64_t)sqlite3_column_int64(st, 2);
        resp.nodes_offline = resp.nodes_total - resp.nodes_never_seen - resp.nodes_online;
    }
    static const char task_from[] =
        " FROM update_task t JOIN release r ON r.id = t.release_id JOIN node n ON n.id ="
        " t.node_id JOIN store s ON s.id = n.store_id JOIN customer c ON c.id ="
        " s.customer_id WHERE r.status IN (1, 2) AND";
    snprintf(sql, sizeof(sql), "SELECT t.state, count(*)%s%s GROUP BY t.state ORDER BY t.state", task_from,
             node_filter);
    PREP(sql);
    resp.tasks_by_state = hub_arena_alloc(&a, sizeof(*resp.tasks_by_state) * 16);
    while (resp.tasks_by_state != NULL && sqlite3_step(st) == SQLITE_ROW && resp.n_tasks_by_state < 16) {
        Ferry__V1__StateCount *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__state_count__init(c);
        c->state = sqlite3_column_int(st, 0);
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        resp.tasks_by_state[resp.n_tasks_by_state++] = c;
    }
    snprintf(sql, sizeof(sql),
             "SELECT t.error_code, count(*)%s%s AND t.state = ?3 AND t.error_code <> '' GROUP BY t.error_code"
             " ORDER BY count(*) DESC LIMIT 64",
             task_from, node_filter);
    PREP(sql);
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    resp.failures_by_error = hub_arena_alloc(&a, sizeof(*resp.failures_by_error) * 64);
    while (resp.failures_by_error != NULL && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__ErrorCount *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__error_count__init(c);
        c->error_code = hub_arena_strdup(&a, hub_col_text(st, 0));
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        resp.failures_by_error[resp.n_failures_by_error++] = c;
    }
    snprintf(sql, sizeof(sql),
             TASK_SELECT " WHERE t.state = ?3 AND%s ORDER BY t.updated_at DESC, t.id DESC LIMIT 20",
             node_filter);
    PREP(sql);
    sqlite3_bind_int(st, 3, FERRY_STATE_FAILED);
    resp.recent_failures = hub_arena_alloc(&a, sizeof(*resp.recent_failures) * 20);
    while (resp.recent_failures != NULL && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL)
            break;
        read_task(&a, st, now, t);
        resp.recent_failures[resp.n_recent_failures++] = t;
    }
    PREP("SELECT count(*) FROM release r JOIN customer c ON c.id = r.customer_id WHERE r.status IN (1, 2)"
         " AND (?1 = '' OR c.code = ?1) AND (?2 = 0 OR r.environment = ?2)"
         " AND EXISTS (SELECT 1 FROM update_task t WHERE t.release_id = r.id"
         " AND t.state NOT IN (?3, ?4, ?5))");
    sqlite3_bind_int(st, 3, FERRY_STATE_SUCCEEDED);
    sqlite3_bind_int(st, 4, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 5, FERRY_STATE_ROLLBACKED);
    if (sqlite3_step(st) == SQLITE_ROW)
        resp.releases_open = (uint64_t)sqlite3_column_int64(st, 0);
#undef PREP
    if (a.failed) {
        ferry_err_set(&err, FERRY_E_NOMEM, "dashboard: out of memory");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_get_dashboard_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "dashboard: %s", sqlite3_errmsg(hub->db));
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
    hub_arena_free(&a);
}

/* ---- binding ---------------------------------------------------------------------------------- */

HUB_OFFLOADED(list_tasks, Ferry__V1__ListTasksRequest)
HUB_OFFLOADED(get_task, Ferry__V1__GetTaskRequest)
HUB_OFFLOADED(list_task_events, Ferry__V1__ListTaskEventsRequest)
HUB_OFFLOADED(retry_task, Ferry__V1__RetryTaskRequest)
HUB_OFFLOADED(list_report_files, Ferry__V1__ListReportFilesRequest)
HUB_OFFLOADED(get_report_file, Ferry__V1__GetReportFileRequest)
HUB_OFFLOADED(get_node_config, Ferry__V1__GetNodeConfigRequest)
HUB_OFFLOADED(list_node_configs, Ferry__V1__ListNodeConfigsRequest)
HUB_OFFLOADED(get_dashboard, Ferry__V1__GetDashboardRequest)

void hub_tasks_bind(ferry_hub_t *hub)
{
    hub->admin.list_tasks = list_tasks;
    hub->admin.get_task = get_task;
    hub->admin.list_task_events = list_task_events;
    hub->admin.retry_task = retry_task;
    hub->admin.list_report_files = list_report_files;
    hub->admin.get_report_file = get_report_file;
    hub->admin.get_node_config = get_node_config;
    hub->admin.list_node_configs = list_node_configs;
    hub->admin.get_dashboard = get_dashboard;
}
