/*
 * Task queries for admins (seed 000 §6.1 dashboard): ListTasks, GetTask,
 * ListTaskEvents, RetryTask, report files with signed download links, the read-only
 * node configuration index, GetDashboard. Also the helpers hub_pkg.h shares with the
 * other modules: the reply arena, offloading, paging, and loading an UpdateTask.
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
#include "hub_pkg.h"

/* ---- arena -------------------------------------------------------------------------------- */

struct hub_arena_block {
    struct hub_arena_block *next;
    ProtobufCMessage *msg; /* an unpacked message to free with the arena, or NULL */
    max_align_t data[];
};

void *hub_arena_alloc(hub_arena_t *a, size_t n)
{
    struct hub_arena_block *b = calloc(1, sizeof(*b) + n);
    if (b == NULL) {
        a->failed = true;
        return NULL;
    }
    b->next = a->head;
    a->head = b;
    return b->data;
}

char *hub_arena_strdup(hub_arena_t *a, const char *s)
{
    static char empty[1];
    size_t n = s != NULL ? strlen(s) : 0;
    char *p = hub_arena_alloc(a, n + 1);
    if (p == NULL)
        return empty;
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

char *hub_arena_printf(hub_arena_t *a, const char *fmt, ...)
{
    static char empty[1];
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *p = hub_arena_strdup(a, buf);
    return p != NULL ? p : empty;
}

Google__Protobuf__Timestamp *hub_arena_ts(hub_arena_t *a, int64_t ms)
{
    Google__Protobuf__Timestamp *t;
    if (ms <= 0 || (t = hub_arena_alloc(a, sizeof(*t))) == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

void hub_arena_own(hub_arena_t *a, ProtobufCMessage *m)
{
    struct hub_arena_block *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        a->failed = true;
        return;
    }
    b->msg = m;
    b->next = a->head;
    a->head = b;
}

void hub_arena_free(hub_arena_t *a)
{
    struct hub_arena_block *b = a->head, *n;
    while (b != NULL) {
        n = b->next;
        if (b->msg != NULL)
            protobuf_c_message_free_unpacked(b->msg, NULL);
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- offload, errors, paging --------------------------------------------------------------- */

typedef struct job {
    ferry_hub_t *hub;
    const void *req;
    hub_work_fn fn;
} job_t;

static void job_run(ferry_rpc_call_t *call, void *arg)
{
    job_t j = *(job_t *)arg;
    free(arg);
    j.fn(call, j.hub, j.req);
}

void hub_offload(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, hub_work_fn fn)
{
    job_t *j = malloc(sizeof(*j));
    if (j == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNAVAILABLE, NULL, "server out of memory");
        return;
    }
    *j = (job_t){hub, req, fn};
    if (ferry_rpc_call_offload(call, job_run, j) != FERRY_OK) {
        free(j);
        ferry_rpc_call_fail(call, FERRY_RPC_UNAVAILABLE, NULL, "server busy: worker pool full, retry later");
    }
}

void hub_fail(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    ferry_rpc_call_fail_err(call, err);
}

int hub_page_size(int32_t requested)
{
    if (requested <= 0)
        return HUB_PAGE_DEFAULT;
    return requested > HUB_PAGE_MAX ? HUB_PAGE_MAX : requested;
}

ferry_err_code_t hub_parse_id(const char *s, const char *what, int64_t *out, ferry_err_t *err)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        goto bad;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        goto bad;
    *out = v;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%.40s' is not an id", what, s != NULL ? s : "");
}

ferry_err_code_t hub_page_offset(const char *token, int64_t *out, ferry_err_t *err)
{
    *out = 0;
    if (token == NULL || *token == '\0')
        return FERRY_OK;
    if (hub_parse_id(token, "page_token", out, err) != FERRY_OK)
        return err->code;
    return FERRY_OK;
}

/* Next page token: the offset after this page, "" when it was the last. */
static char *next_token(hub_arena_t *a, int64_t offset, size_t got, int page, bool more)
{
    (void)got;
    return more ? hub_arena_printf(a, "%" PRId64, offset + page) : hub_arena_strdup(a, "");
}

/* ---- pure ---------------------------------------------------------------------------------- */

bool hub_task_state_final(int state)
{
    return state == 100 || state == 110 || state == 130;
}

int hub_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms)
{
    if (policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL && deadline_ms > 0 &&
        now_ms >= deadline_ms)
        return FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    return policy;
}

/* ---- tasks ---------------------------------------------------------------------------------- */

/* The columns read_task() expects, in order. */
#define TASK_SELECT                                                                                          \
    "SELECT t.id, t.release_id, t.kind, n.code, s.code, c.code, n.environment, p.version, r.policy,"         \
    " r.deadline_at, t.state, t.error_code, t.message, t.percent, t.backup_local_path, t.server_dir,"        \
    " t.client_dir, t.report_files_json, t.created_at, t.updated_at, t.started_at, t.finished_at,"           \
    " t.last_seq, t.rollback_of_task_id, t.timings_json, t.halted, t.attempt, t.checkpoint, t.hooks_json"    \
    " FROM update_task t JOIN node n ON n.id = t.node_id JOIN store s ON s.id = n.store_id"                  \
    " JOIN customer c ON c.id = s.customer_id JOIN release r ON r.id = t.release_id"                         \
    " JOIN package p ON p.id = r.package_id"

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

/*
 * The JSON columns hold exactly the proto3 JSON of UpdateTask's repeated fields, so
 * one decode of {"reportFiles":..,"timings":..,"hooks":..} yields them; the decoded
 * message lives in the arena and |out| borrows its arrays.
 */
static void task_json_fields(hub_arena_t *a, const char *files, const char *timings, const char *hooks,
                             Ferry__V1__UpdateTask *out)
{
    ProtobufCMessage *m = NULL;
    ferry_err_t err = {0};
    char *doc;
    size_t n = strlen(files) + strlen(timings) + strlen(hooks) + 64;
    if (strcmp(files, "[]") == 0 && strcmp(timings, "[]") == 0 && strcmp(hooks, "[]") == 0)
        return;
    if ((doc = malloc(n)) == NULL)
        return;
    snprintf(doc, n, "{\"reportFiles\":%s,\"timings\":%s,\"hooks\":%s}", files[0] ? files : "[]",
             timings[0] ? timings : "[]", hooks[0] ? hooks : "[]");
    if (ferry_json_decode(&ferry__v1__update_task__descriptor, doc, strlen(doc), &m, &err) == FERRY_OK) {
        Ferry__V1__UpdateTask *d = (Ferry__V1__UpdateTask *)m;
        out->n_report_files = d->n_report_files;
        out->report_files = d->report_files;
        out->n_timings = d->n_timings;
        out->timings = d->timings;
        out->n_hooks = d->n_hooks;
        out->hooks = d->hooks;
        hub_arena_own(a, m);
    }
    /* A column that does not decode is shown empty rather than failing the whole read:
     * it came from an agent report, and the task itself must stay visible. */
    free(doc);
}

static void read_task(hub_arena_t *a, sqlite3_stmt *st, int64_t now_ms, Ferry__V1__UpdateTask *t)
{
    ferry__v1__update_task__init(t);
    t->id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 0));
    t->release_id = hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 1));
    t->kind = sqlite3_column_int(st, 2);
    t->node_code = hub_arena_strdup(a, col_text(st, 3));
    t->store_code = hub_arena_strdup(a, col_text(st, 4));
    t->customer_code = hub_arena_strdup(a, col_text(st, 5));
    t->environment = sqlite3_column_int(st, 6);
    t->package_version = hub_arena_strdup(a, col_text(st, 7));
    int64_t deadline = sqlite3_column_int64(st, 9);
    if (t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK) {
        t->policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED; /* an admin's explicit act */
    } else {
        t->policy = hub_effective_policy(sqlite3_column_int(st, 8), deadline, now_ms);
        t->deadline = hub_arena_ts(a, deadline);
    }
    t->state = sqlite3_column_int(st, 10);
    t->error_code = hub_arena_strdup(a, col_text(st, 11));
    t->message = hub_arena_strdup(a, col_text(st, 12));
    t->percent = (uint32_t)sqlite3_column_int(st, 13);
    t->backup_local_path = hub_arena_strdup(a, col_text(st, 14));
    t->server_dir = hub_arena_strdup(a, col_text(st, 15));
    t->client_dir = hub_arena_strdup(a, col_text(st, 16));
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
    t->checkpoint = hub_arena_strdup(a, col_text(st, 27));
    task_json_fields(a, col_text(st, 17), col_text(st, 24), col_text(st, 28), t);
}

ferry_err_code_t hub_task_load(ferry_hub_t *hub, hub_arena_t *a, int64_t task_id, int64_t now_ms,
                               Ferry__V1__UpdateTask *out, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    if (sqlite3_prepare_v2(hub->db, TASK_SELECT " WHERE t.id = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "load task: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
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
    sqlite3_finalize(st);
    return rc;
}

/* A WHERE clause assembled from fixed fragments; values are always bound. */
typedef struct where {
    char sql[1024];
    int n_bind;
    struct bind {
        int is_int;
        int64_t i;
        const char *s;
    } binds[32];
} where_t;

static void where_add(where_t *w, const char *frag)
{
    size_t len = strlen(w->sql);
    snprintf(w->sql + len, sizeof(w->sql) - len, "%s%s", len ? " AND " : " WHERE ", frag);
}

static void bind_text(where_t *w, const char *s)
{
    if (w->n_bind < 32)
        w->binds[w->n_bind++] = (struct bind){0, 0, s};
}

static void bind_int(where_t *w, int64_t i)
{
    if (w->n_bind < 32)
        w->binds[w->n_bind++] = (struct bind){1, i, NULL};
}

static int apply_binds(sqlite3_stmt *st, const where_t *w)
{
    for (int i = 0; i < w->n_bind; i++)
        if (w->binds[i].is_int)
            sqlite3_bind_int64(st, i + 1, w->binds[i].i);
        else
            sqlite3_bind_text(st, i + 1, w->binds[i].s, -1, SQLITE_STATIC);
    return w->n_bind;
}

static void list_tasks_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListTasksRequest *req = vreq;
    Ferry__V1__ListTasksResponse resp = FERRY__V1__LIST_TASKS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    where_t w = {0};
    int64_t offset, rid = 0, now = hub_now_ms();
    int page = hub_page_size(req->page_size);
    char sql[2048];
    bool locked = false, more = false;

    if (hub_page_offset(req->page_token, &offset, &err) != FERRY_OK)
        goto fail;
    if (req->release_id[0] != '\0') {
        if (hub_parse_id(req->release_id, "release_id", &rid, &err) != FERRY_OK)
            goto fail;
        where_add(&w, "t.release_id = ?");
        bind_int(&w, rid);
    }
    if (req->customer_code[0] != '\0') {
        where_add(&w, "c.code = ?");
        bind_text(&w, req->customer_code);
    }
    if (req->store_code[0] != '\0') {
        where_add(&w, "s.code = ?");
        bind_text(&w, req->store_code);
    }
    if (req->node_code[0] != '\0') {
        where_add(&w, "n.code = ?");
        bind_text(&w, req->node_code);
    }
    if (req->error_code[0] != '\0') {
        where_add(&w, "t.error_code = ?");
        bind_text(&w, req->error_code);
    }
    if (req->kind != 0) {
        where_add(&w, "t.kind = ?");
        bind_int(&w, req->kind);
    }
    if (req->n_states > 0) {
        char frag[256] = "t.state IN (";
        if (req->n_states > 14) {
            ferry_err_set(&err, FERRY_E_INVALID_ARG, "at most 14 states in a filter");
            goto fail;
        }
        for (size_t i = 0; i < req->n_states; i++) {
            strcat(frag, i ? ",?" : "?");
            bind_int(&w, req->states[i]);
        }
        strcat(frag, ")");
        where_add(&w, frag);
    }
    snprintf(sql, sizeof(sql), TASK_SELECT "%s ORDER BY t.id DESC LIMIT ? OFFSET ?", w.sql);
    if ((resp.tasks = hub_arena_alloc(&a, sizeof(*resp.tasks) * (size_t)page)) == NULL)
        goto nomem;
    hub_db_lock(hub);
    locked = true;
    if (sqlite3_prepare_v2(hub->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ferry_err_set(&err, FERRY_E_IO, "list tasks: %s", sqlite3_errmsg(hub->db));
        goto fail;
    }
    int nb = apply_binds(st, &w);
    sqlite3_bind_int(st, nb + 1, page + 1);
    sqlite3_bind_int64(st, nb + 2, offset);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (resp.n_tasks == (size_t)page) {
            more = true;
            break;
        }
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL)
            goto nomem;
        read_task(&a, st, now, t);
        resp.tasks[resp.n_tasks++] = t;
    }
    resp.next_page_token = next_token(&a, offset, resp.n_tasks, page, more);
    if (a.failed)
        goto nomem;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_list_tasks_reply(call, &resp);
    goto out;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "list tasks: out of memory");
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
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

static void list_task_events_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListTaskEventsRequest *req = vreq;
    Ferry__V1__ListTaskEventsResponse resp = FERRY__V1__LIST_TASK_EVENTS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    int64_t id, offset;
    int page = hub_page_size(req->page_size);
    bool locked = false, more = false;

    if (hub_parse_id(req->task_id, "task id", &id, &err) != FERRY_OK ||
        hub_page_offset(req->page_token, &offset, &err) != FERRY_OK)
        goto fail;
    if ((resp.events = hub_arena_alloc(&a, sizeof(*resp.events) * (size_t)page)) == NULL)
        goto nomem;
    hub_db_lock(hub);
    locked = true;
    if (sqlite3_prepare_v2(hub->db, "SELECT count(*) FROM update_task WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) == 0) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "no task %lld", (long long)id);
        goto fail;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT seq, state, error_code, message, percent, bytes, bytes_total, reported_at, at,"
            " source, hook_json FROM task_event WHERE task_id = ? ORDER BY id LIMIT ? OFFSET ?",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, page + 1);
    sqlite3_bind_int64(st, 3, offset);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (resp.n_events == (size_t)page) {
            more = true;
            break;
        }
        Ferry__V1__TaskEvent *e = hub_arena_alloc(&a, sizeof(*e));
        if (e == NULL)
            goto nomem;
        ferry__v1__task_event__init(e);
        e->task_id = req->task_id;
        e->sequence = (uint64_t)sqlite3_column_int64(st, 0);
        e->state = sqlite3_column_int(st, 1);
        e->error_code = hub_arena_strdup(&a, col_text(st, 2));
        e->message = hub_arena_strdup(&a, col_text(st, 3));
        e->percent = (uint32_t)sqlite3_column_int(st, 4);
        e->bytes_done = (uint64_t)sqlite3_column_int64(st, 5);
        e->bytes_total = (uint64_t)sqlite3_column_int64(st, 6);
        e->reported_at = hub_arena_ts(&a, sqlite3_column_int64(st, 7));
        e->received_at = hub_arena_ts(&a, sqlite3_column_int64(st, 8));
        e->source = hub_arena_strdup(&a, col_text(st, 9));
        const char *hook = col_text(st, 10);
        if (hook[0] != '\0') {
            ProtobufCMessage *m = NULL;
            ferry_err_t e2 = {0};
            if (ferry_json_decode(&ferry__v1__hook_report__descriptor, hook, strlen(hook), &m, &e2) ==
                FERRY_OK) {
                e->hook = (Ferry__V1__HookReport *)m;
                hub_arena_own(&a, m);
            }
        }
        resp.events[resp.n_events++] = e;
    }
    resp.next_page_token = next_token(&a, offset, resp.n_events, page, more);
    if (a.failed)
        goto nomem;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_list_task_events_reply(call, &resp);
    goto out;
dberr:
    ferry_err_set(&err, FERRY_E_IO, "task events: %s", sqlite3_errmsg(hub->db));
    goto fail;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "task events: out of memory");
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
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
    if (ferry_db_exec(hub->db, "BEGIN IMMEDIATE", "retry task", &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    snprintf(msg, sizeof(msg), "retry requested%s%s%s", req->skip_failed_hook ? " (skip failed hook)" : "",
             req->reason[0] ? ": " : "", req->reason);
    if (sqlite3_prepare_v2(
            hub->db,
            "UPDATE update_task SET state = 10, error_code = '', message = ?, percent = 0, bytes = 0,"
            " bytes_total = 0, halted = 0, attempt = attempt + 1, finished_at = NULL, updated_at = ?"
            " WHERE id = ?",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, msg, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    const hub_principal_t *who = hub_principal(call);
    char source[64];
    snprintf(source, sizeof(source), "admin:%s", who != NULL ? who->token_id : "");
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO task_event (task_id, seq, state, message, source, at) VALUES (?, 0, 10, ?, ?, ?)",
            -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, msg, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto dberr;
    sqlite3_finalize(st);
    st = NULL;
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK)
        goto fail;
    if (ferry_db_exec(hub->db, "COMMIT", "retry task", &err) != FERRY_OK)
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
    ev.state = 10;
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
        ferry_db_exec(hub->db, "ROLLBACK", "retry task", NULL);
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
    f->node_code = hub_arena_strdup(a, col_text(st, 2));
    f->task_id = sqlite3_column_type(st, 3) == SQLITE_NULL
                     ? hub_arena_strdup(a, "")
                     : hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 3));
    f->file_name = hub_arena_strdup(a, col_text(st, 4));
    f->size = (uint64_t)sqlite3_column_int64(st, 5);
    f->sha256 = hub_arena_strdup(a, col_text(st, 6));
    f->summary = hub_arena_strdup(a, col_text(st, 7));
    f->content_type = hub_arena_strdup(a, col_text(st, 8));
    f->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 9));
    /* The node's customer storage serves its files (seed 000 decision 10). */
    return hub_blob_download_link(hub, a, sqlite3_column_int64(st, 10), f->sha256, &f->download, err);
}

static void list_report_files_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListReportFilesRequest *req = vreq;
    Ferry__V1__ListReportFilesResponse resp = FERRY__V1__LIST_REPORT_FILES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    where_t w = {0};
    int64_t offset, id;
    int page = hub_page_size(req->page_size);
    char sql[1536];
    bool locked = false, more = false;

    if (hub_page_offset(req->page_token, &offset, &err) != FERRY_OK)
        goto fail;
    if (req->node_code[0] != '\0') {
        where_add(&w, "n.code = ?");
        bind_text(&w, req->node_code);
    }
    if (req->task_id[0] != '\0') {
        if (hub_parse_id(req->task_id, "task_id", &id, &err) != FERRY_OK)
            goto fail;
        where_add(&w, "f.task_id = ?");
        bind_int(&w, id);
    }
    if (req->kind != 0) {
        where_add(&w, "f.kind = ?");
        bind_int(&w, req->kind);
    }
    if (req->release_id[0] != '\0') {
        if (hub_parse_id(req->release_id, "release_id", &id, &err) != FERRY_OK)
            goto fail;
        where_add(&w, "f.task_id IN (SELECT id FROM update_task WHERE release_id = ?)");
        bind_int(&w, id);
    }
    snprintf(sql, sizeof(sql), FILE_SELECT "%s ORDER BY f.id DESC LIMIT ? OFFSET ?", w.sql);
    if ((resp.files = hub_arena_alloc(&a, sizeof(*resp.files) * (size_t)page)) == NULL)
        goto nomem;
    hub_db_lock(hub);
    locked = true;
    if (sqlite3_prepare_v2(hub->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ferry_err_set(&err, FERRY_E_IO, "list files: %s", sqlite3_errmsg(hub->db));
        goto fail;
    }
    int nb = apply_binds(st, &w);
    sqlite3_bind_int(st, nb + 1, page + 1);
    sqlite3_bind_int64(st, nb + 2, offset);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (resp.n_files == (size_t)page) {
            more = true;
            break;
        }
        Ferry__V1__ReportFile *f = hub_arena_alloc(&a, sizeof(*f));
        if (f == NULL)
            goto nomem;
        if (read_file_row(hub, &a, st, f, &err) != FERRY_OK)
            goto fail;
        resp.files[resp.n_files++] = f;
    }
    resp.next_page_token = next_token(&a, offset, resp.n_files, page, more);
    if (a.failed)
        goto nomem;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_list_report_files_reply(call, &resp);
    goto out;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "list files: out of memory");
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
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
    if (sqlite3_prepare_v2(hub->db, FILE_SELECT " WHERE f.id = ?", -1, &st, NULL) != SQLITE_OK) {
        ferry_err_set(&err, FERRY_E_IO, "get file: %s", sqlite3_errmsg(hub->db));
        goto fail;
    }
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
    c->node_code = hub_arena_strdup(a, col_text(st, 0));
    c->config_version = sqlite3_column_int64(st, 1);
    c->uploaded_at = hub_arena_ts(a, sqlite3_column_int64(st, 2));
    c->file_id = sqlite3_column_type(st, 3) == SQLITE_NULL
                     ? hub_arena_strdup(a, "")
                     : hub_arena_printf(a, "%lld", (long long)sqlite3_column_int64(st, 3));
    c->sha256 = hub_arena_strdup(a, col_text(st, 4));
    c->size = (uint64_t)sqlite3_column_int64(st, 5);
    const char *json = col_text(st, 6);
    if (json[0] != '\0') {
        ProtobufCMessage *m = NULL;
        ferry_err_t e2 = {0};
        /* Secrets were masked by report.c before the summary was stored. */
        if (ferry_json_decode(&ferry__v1__node_config__descriptor, json, strlen(json), &m, &e2) == FERRY_OK) {
            c->config = (Ferry__V1__NodeConfig *)m;
            hub_arena_own(a, m);
        }
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
    if (sqlite3_prepare_v2(hub->db, CONFIG_SELECT " WHERE n.code = ? ORDER BY i.uploaded_at DESC LIMIT 1", -1,
                           &st, NULL) != SQLITE_OK) {
        ferry_err_set(&err, FERRY_E_IO, "node config: %s", sqlite3_errmsg(hub->db));
        goto fail;
    }
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

static void list_node_configs_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ListNodeConfigsRequest *req = vreq;
    Ferry__V1__ListNodeConfigsResponse resp = FERRY__V1__LIST_NODE_CONFIGS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    where_t w = {0};
    int64_t offset;
    int page = hub_page_size(req->page_size);
    char sql[1536];
    bool locked = false, more = false;

    if (hub_page_offset(req->page_token, &offset, &err) != FERRY_OK)
        goto fail;
    if (req->customer_code[0] != '\0') {
        where_add(&w, "c.code = ?");
        bind_text(&w, req->customer_code);
    }
    if (req->store_code[0] != '\0') {
        where_add(&w, "s.code = ?");
        bind_text(&w, req->store_code);
    }
    snprintf(sql, sizeof(sql), CONFIG_SELECT "%s ORDER BY n.code, n.environment LIMIT ? OFFSET ?", w.sql);
    if ((resp.summaries = hub_arena_alloc(&a, sizeof(*resp.summaries) * (size_t)page)) == NULL)
        goto nomem;
    hub_db_lock(hub);
    locked = true;
    if (sqlite3_prepare_v2(hub->db, sql, -1, &st, NULL) != SQLITE_OK) {
        ferry_err_set(&err, FERRY_E_IO, "node configs: %s", sqlite3_errmsg(hub->db));
        goto fail;
    }
    int nb = apply_binds(st, &w);
    sqlite3_bind_int(st, nb + 1, page + 1);
    sqlite3_bind_int64(st, nb + 2, offset);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (resp.n_summaries == (size_t)page) {
            more = true;
            break;
        }
        Ferry__V1__NodeConfigSummary *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            goto nomem;
        if (read_config_row(hub, &a, st, c, &err) != FERRY_OK)
            goto fail;
        resp.summaries[resp.n_summaries++] = c;
    }
    resp.next_page_token = next_token(&a, offset, resp.n_summaries, page, more);
    if (a.failed)
        goto nomem;
    sqlite3_finalize(st);
    st = NULL;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_list_node_configs_reply(call, &resp);
    goto out;
nomem:
    ferry_err_set(&err, FERRY_E_NOMEM, "node configs: out of memory");
fail:
    hub_fail(call, &err);
out:
    sqlite3_finalize(st);
    if (locked)
        hub_db_unlock(hub);
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
    snprintf(
        sql, sizeof(sql),
        "SELECT t.error_code, count(*)%s%s AND t.state = 110 AND t.error_code <> '' GROUP BY t.error_code"
        " ORDER BY count(*) DESC LIMIT 64",
        task_from, node_filter);
    PREP(sql);
    resp.failures_by_error = hub_arena_alloc(&a, sizeof(*resp.failures_by_error) * 64);
    while (resp.failures_by_error != NULL && sqlite3_step(st) == SQLITE_ROW) {
        Ferry__V1__ErrorCount *c = hub_arena_alloc(&a, sizeof(*c));
        if (c == NULL)
            break;
        ferry__v1__error_count__init(c);
        c->error_code = hub_arena_strdup(&a, col_text(st, 0));
        c->count = (uint64_t)sqlite3_column_int64(st, 1);
        resp.failures_by_error[resp.n_failures_by_error++] = c;
    }
    snprintf(sql, sizeof(sql),
             TASK_SELECT " WHERE t.state = 110 AND%s ORDER BY t.updated_at DESC, t.id DESC LIMIT 20",
             node_filter);
    PREP(sql);
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
         " AND EXISTS (SELECT 1 FROM update_task t WHERE t.release_id = r.id AND t.state NOT IN (100, 110, "
         "130))");
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

#define OFFLOADED(name, Req)                                                                                 \
    static void name(ferry_rpc_call_t *call, const Req *req, void *user)                                     \
    {                                                                                                        \
        hub_offload(call, user, req, name##_work);                                                           \
    }

OFFLOADED(list_tasks, Ferry__V1__ListTasksRequest)
OFFLOADED(get_task, Ferry__V1__GetTaskRequest)
OFFLOADED(list_task_events, Ferry__V1__ListTaskEventsRequest)
OFFLOADED(retry_task, Ferry__V1__RetryTaskRequest)
OFFLOADED(list_report_files, Ferry__V1__ListReportFilesRequest)
OFFLOADED(get_report_file, Ferry__V1__GetReportFileRequest)
OFFLOADED(get_node_config, Ferry__V1__GetNodeConfigRequest)
OFFLOADED(list_node_configs, Ferry__V1__ListNodeConfigsRequest)
OFFLOADED(get_dashboard, Ferry__V1__GetDashboardRequest)

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
