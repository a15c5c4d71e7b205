/*
 * The hub's ReportService: progress reports (validated, idempotent, durable before
 * acknowledged) and node file uploads (logs, diagnostics, sql.log, node-config.json).
 *
 * Durability: a report is acknowledged only after its transaction committed on the
 * connection opened with synchronous=FULL (ferry_db_open), i.e. after the WAL fsync;
 * so every acknowledged report survives kill -9 or a power cut. That is why report
 * handlers always run on the worker pool.
 *
 * Ownership: every handler checks that the task / upload belongs to the calling
 * node's token (permission_denied otherwise, nothing changed).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/db.h"
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/model/states.h"
#include "hub_agent.h"
#include "hub_nodecfg.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

#define REPORT_TEXT_MAX  8192           /* message, paths, checkpoint */
#define REPORT_BATCH_MAX 1000           /* reports in one ReportProgressBatch */
#define DL_SOURCE_MAX    64             /* DownloadStats.source_name */
#define DL_FALLBACKS_MAX 32             /* DownloadStats.fallbacks entries */
#define DL_FALLBACK_MAX  512            /* one DownloadStats.fallbacks entry */
#define TIMINGS_MAX      64             /* ProgressReport.timings entries in one report */
#define TASK_TIMINGS_MAX 256            /* task_timing rows of one task */
#define STEP_NAME_MAX    128            /* ProgressReport.step_name */
#define HOOK_ID_MAX      128            /* HookReport.hook_id */
#define HOOK_NAME_MAX    256            /* HookReport.name */
#define HOOK_STDERR_MAX  10240          /* HookReport.stderr_tail (the agent sends <= 10 KiB) */
#define TS_SECONDS_MAX   253402300799ll /* 9999-12-31T23:59:59Z (proto Timestamp range) */
#define DUR_SECONDS_MAX  315576000000ll /* proto Duration range */
#define NODE_FILE_MAX    (1ull << 30)   /* largest node upload (diagnostic bundles) */
#define NODE_CONFIG_MAX  (1u << 20)     /* largest node-config.json we parse */
#define UPLOAD_TTL_MS    (24ll * 3600 * 1000)

/* ---- pure rules ------------------------------------------------------------------- */

bool hub_report_transition_ok(int from, int to)
{
    if (!ferry_state_valid(from) || !ferry_state_valid(to))
        return false;
    if (from == to)
        return !ferry_state_is_terminal((ferry_state_t)from);
    return ferry_state_transition_allowed((ferry_state_t)from, (ferry_state_t)to);
}

hub_seq_verdict_t hub_report_seq_check(uint64_t last_accepted, uint64_t seq)
{
    if (seq == 0)
        return HUB_SEQ_INVALID;
    return seq > last_accepted ? HUB_SEQ_APPLY : HUB_SEQ_DUPLICATE;
}

bool hub_report_error_code_known(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return true;
    ferry_err_code_t c = ferry_err_from_name(name);
    return c != FERRY_OK && strcmp(ferry_err_name(c), name) == 0;
}

/* ---- progress ---------------------------------------------------------------------- */

/* Checks one report's fields (nothing about the task). */
static ferry_err_code_t check_report(const Ferry__V1__ProgressReport *r, int64_t *task_id, ferry_err_t *err)
{
    if (r == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "report is required");
    if (hub_parse_id(r->task_id, "task_id", task_id, err) != FERRY_OK)
        return err->code;
    if (hub_report_seq_check(0, r->sequence) == HUB_SEQ_INVALID)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "sequence must be >= 1");
    if (!ferry_state_valid((int)r->state))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "state %d is not a task state (10..130)",
                             (int)r->state);
    if (!hub_report_error_code_known(r->error_code))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "error_code '%.64s' is not a known error code",
                             r->error_code);
    if (r->percent > 100)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "percent %u is above 100", r->percent);
    const char *texts[] = {r->message, r->backup_local_path, r->server_dir, r->client_dir, r->checkpoint};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (texts[i] != NULL && strlen(texts[i]) > REPORT_TEXT_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "a text field is longer than %d bytes",
                                 REPORT_TEXT_MAX);
    }
    if (r->download != NULL) {
        const Ferry__V1__DownloadStats *d = r->download;
        if (d->source_name != NULL && strlen(d->source_name) > DL_SOURCE_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "download.source_name: at most %d bytes",
                                 DL_SOURCE_MAX);
        if (d->n_fallbacks > DL_FALLBACKS_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "download.fallbacks: at most %d entries (got %zu)",
                                 DL_FALLBACKS_MAX, d->n_fallbacks);
        for (size_t i = 0; i < d->n_fallbacks; i++)
            if (d->fallbacks[i] != NULL && strlen(d->fallbacks[i]) > DL_FALLBACK_MAX)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "download.fallbacks[%zu]: at most %d bytes", i,
                                     DL_FALLBACK_MAX);
        if (d->duration != NULL && (d->duration->seconds < 0 || d->duration->nanos < 0))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "download.duration: must not be negative");
    }
    if (r->step_name != NULL && strlen(r->step_name) > STEP_NAME_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "step_name: at most %d bytes", STEP_NAME_MAX);
    /* Every repeated field is bounded: one report must never cost the server more than a
     * few KiB to store or to show (issue 9: 74,000 timings in one report). */
    if (r->n_timings > TIMINGS_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "timings: at most %d entries per report (got %zu)",
                             TIMINGS_MAX, r->n_timings);
    for (size_t i = 0; i < r->n_timings; i++) {
        const Ferry__V1__StepTiming *t = r->timings[i];
        if (t == NULL || !ferry_state_valid((int)t->state))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "timings[%zu].state: not a task state (10..130)",
                                 i);
        if (t->started_at != NULL && (t->started_at->seconds < 0 || t->started_at->seconds > TS_SECONDS_MAX ||
                                      t->started_at->nanos < 0 || t->started_at->nanos > 999999999))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "timings[%zu].started_at: out of range", i);
        if (t->duration != NULL && (t->duration->seconds < 0 || t->duration->seconds > DUR_SECONDS_MAX ||
                                    t->duration->nanos < 0 || t->duration->nanos > 999999999))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "timings[%zu].duration: out of range", i);
    }
    if (r->hook != NULL) {
        const Ferry__V1__HookReport *h = r->hook;
        if (h->hook_id != NULL && strlen(h->hook_id) > HOOK_ID_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.hook_id: at most %d bytes", HOOK_ID_MAX);
        if (h->name != NULL && strlen(h->name) > HOOK_NAME_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.name: at most %d bytes", HOOK_NAME_MAX);
        if (h->message != NULL && strlen(h->message) > REPORT_TEXT_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.message: at most %d bytes", REPORT_TEXT_MAX);
        if (h->stderr_tail != NULL && strlen(h->stderr_tail) > HOOK_STDERR_MAX)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.stderr_tail: at most %d bytes",
                                 HOOK_STDERR_MAX);
        if (h->duration != NULL && (h->duration->seconds < 0 || h->duration->nanos < 0))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.duration: must not be negative");
    }
    return FERRY_OK;
}

static int64_t ts_ms(const Google__Protobuf__Timestamp *ts)
{
    return ts == NULL ? 0 : (int64_t)ts->seconds * 1000 + ts->nanos / 1000000;
}

static int64_t dur_ms(const Google__Protobuf__Duration *d)
{
    return d == NULL ? 0 : (int64_t)d->seconds * 1000 + d->nanos / 1000000;
}

/*
 * Stores the report's timings as task_timing rows (one per state + started_at: a later
 * report of the same step updates its duration), inside a savepoint so that a refusal
 * (the task would hold more than TASK_TIMINGS_MAX) leaves nothing behind, also inside a
 * batch's shared transaction. Caller holds the DB lock and an open transaction.
 */
static ferry_err_code_t store_timings(ferry_hub_t *hub, int64_t task_id, const Ferry__V1__ProgressReport *r,
                                      ferry_err_t *err)
{
    static const char ins[] =
        "INSERT INTO task_timing (task_id, state, started_at, duration_ms, seq) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(task_id, state, started_at) DO UPDATE SET duration_ms = excluded.duration_ms,"
        " seq = excluded.seq";
    static const char cnt[] = "SELECT count(*) FROM task_timing WHERE task_id = ?1";
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int64_t n = 0;

    if (r->n_timings == 0)
        return FERRY_OK;
    if ((rc = ferry_db_exec(hub->db, "SAVEPOINT report_timings", "report: timings", err)) != FERRY_OK)
        return rc;
    if ((rc = hub_prepare_cached(hub, ins, &st, "report: timings", err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < r->n_timings; i++) {
        const Ferry__V1__StepTiming *t = r->timings[i];
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int(st, 2, (int)t->state);
        sqlite3_bind_int64(st, 3, ts_ms(t->started_at));
        sqlite3_bind_int64(st, 4, dur_ms(t->duration));
        sqlite3_bind_int64(st, 5, (sqlite3_int64)r->sequence);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = hub_sql_err(hub->db, "report: timings", err);
            goto out;
        }
        sqlite3_reset(st);
    }
    hub_stmt_release(hub, st);
    st = NULL;
    if ((rc = hub_prepare_cached(hub, cnt, &st, "report: timings", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, task_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = hub_sql_err(hub->db, "report: timings", err);
        goto out;
    }
    n = sqlite3_column_int64(st, 0);
    if (n > TASK_TIMINGS_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "timings: a task keeps at most %d step timings (this report would make %" PRId64
                           ")",
                           TASK_TIMINGS_MAX, n);
out:
    hub_stmt_release(hub, st);
    if (rc != FERRY_OK)
        sqlite3_exec(hub->db, "ROLLBACK TO report_timings", NULL, NULL, NULL);
    sqlite3_exec(hub->db, "RELEASE report_timings", NULL, NULL, NULL);
    return rc;
}

/** Outcome of applying one report inside a transaction. */
typedef struct report_outcome {
    bool duplicate;
    uint64_t last_seq;
    int state;
    bool halted;
    hub_task_event_t ev; /* to publish after commit (ev.task_id == 0: nothing) */
} report_outcome_t;

/*
 * Applies |r| from node |node_id| to its task. Caller holds the DB lock and an open
 * transaction. Validation happens before any write, so a refusal changes nothing.
 */
static ferry_err_code_t apply_report(ferry_hub_t *hub, int64_t node_id, const Ferry__V1__ProgressReport *r,
                                     report_outcome_t *o, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    int64_t task_id = 0, now = hub_now_ms();
    char *dj = NULL;

    memset(o, 0, sizeof(*o));
    if ((rc = check_report(r, &task_id, err)) != FERRY_OK)
        goto out;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT t.node_id, t.state, t.last_seq, t.halted OR r.status IN (2, 3), t.release_id"
            " FROM update_task t JOIN release r ON r.id = t.release_id WHERE t.id = ?1",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "report", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, task_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", r->task_id);
        goto out;
    }
    if (sqlite3_column_int64(st, 0) != node_id) {
        rc = ferry_err_set(err, FERRY_E_PERMISSION, "task %s belongs to another node", r->task_id);
        goto out;
    }
    int cur = sqlite3_column_int(st, 1);
    uint64_t last = (uint64_t)sqlite3_column_int64(st, 2);
    o->halted = sqlite3_column_int(st, 3) != 0;
    int64_t release_id = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    st = NULL;
    o->last_seq = last;
    o->state = cur;
    if (hub_report_seq_check(last, r->sequence) == HUB_SEQ_DUPLICATE) {
        o->duplicate = true; /* accepted once already: acknowledge again, store nothing */
        goto out;
    }
    if (!hub_report_transition_ok(cur, (int)r->state)) {
        rc = ferry_err_set(err, FERRY_E_TRANSITION_INVALID,
                           "task %s: %s (%d) -> %s (%d) is not a legal transition", r->task_id,
                           ferry_state_name(cur), cur, ferry_state_name((int)r->state), (int)r->state);
        goto out;
    }
    if ((rc = store_timings(hub, task_id, r, err)) != FERRY_OK)
        goto out;
    /* Download telemetry (seed 003): kept per task as the DownloadStats JSON. */
    if (r->download != NULL && (rc = ferry_json_encode(&r->download->base, 0, &dj, NULL, err)) != FERRY_OK) {
        ferry_err_prefix(err, "report: download");
        goto out;
    }
    /* Error code: the report's when given; a failure path keeps the last known one. */
    if (sqlite3_prepare_v2(
            hub->db,
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
            " updated_at = ?14 WHERE id = ?1",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "report", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, (int)r->state);
    hub_bind_text(st, 3, r->error_code);
    hub_bind_text(st, 4, r->message);
    sqlite3_bind_int(st, 5, (int)r->percent);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->bytes_done);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes_total);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->sequence);
    hub_bind_text(st, 9, r->backup_local_path);
    hub_bind_text(st, 10, r->server_dir);
    hub_bind_text(st, 11, r->client_dir);
    hub_bind_text(st, 12, r->checkpoint);
    sqlite3_bind_int64(st, 14, now);
    if (dj != NULL)
        sqlite3_bind_text(st, 15, dj, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 15);
    sqlite3_bind_int(st, 16, FERRY_STATE_FAILED);
    sqlite3_bind_int(st, 17, FERRY_STATE_ROLLBACKING);
    sqlite3_bind_int(st, 18, FERRY_STATE_ROLLBACKED);
    sqlite3_bind_int(st, 19, FERRY_STATE_PENDING);
    sqlite3_bind_int(st, 20, FERRY_STATE_SUCCEEDED);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = hub_sql_err(hub->db, "report: update task", err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO task_event (task_id, seq, state, error_code, message, percent, bytes,"
            " bytes_total, source, reported_at, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'agent',"
            " ?9, ?10)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "report", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->sequence);
    sqlite3_bind_int(st, 3, (int)r->state);
    hub_bind_text(st, 4, r->error_code);
    hub_bind_text(st, 5, r->message);
    sqlite3_bind_int(st, 6, (int)r->percent);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes_done);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)r->bytes_total);
    if (r->reported_at != NULL)
        sqlite3_bind_int64(st, 9, ts_ms(r->reported_at));
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_int64(st, 10, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = hub_sql_err(hub->db, "report: history", err);
        goto out;
    }
    o->last_seq = r->sequence;
    o->state = (int)r->state;
    o->ev.task_id = task_id;
    o->ev.release_id = release_id;
    o->ev.node_id = node_id;
    o->ev.state = (int)r->state;
    o->ev.percent = (int)r->percent;
    o->ev.bytes = r->bytes_done;
    snprintf(o->ev.error_code, sizeof(o->ev.error_code), "%s", r->error_code != NULL ? r->error_code : "");
    snprintf(o->ev.message, sizeof(o->ev.message), "%s", r->message != NULL ? r->message : "");
out:
    sqlite3_finalize(st);
    free(dj);
    return rc;
}

static void report_progress_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__ReportProgressRequest *req = vreq;
    const hub_principal_t *p = hub_principal(call);
    ferry_err_t err = {0};
    report_outcome_t o;
    ferry_err_code_t rc;
    Ferry__V1__ReportProgressResponse resp = FERRY__V1__REPORT_PROGRESS_RESPONSE__INIT;

    hub_db_lock(hub);
    rc = hub_tx_begin(hub, &err);
    if (rc == FERRY_OK) {
        rc = apply_report(hub, p->node_id, req->report, &o, &err);
        if (rc == FERRY_OK && !o.duplicate)
            rc = hub_tx_commit(hub, &err); /* synchronous=FULL: durable when this returns */
        if (rc != FERRY_OK || o.duplicate)
            hub_tx_rollback(hub);
    }
    hub_db_unlock(hub);
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        return;
    }
    if (o.ev.task_id > 0)
        hub_bus_publish(hub, &o.ev);
    resp.duplicate = o.duplicate;
    resp.last_sequence = o.last_seq;
    resp.state = (Ferry__V1__TaskState)o.state;
    resp.directive = o.halted ? FERRY__V1__REPORT_DIRECTIVE__REPORT_DIRECTIVE_HALT
                              : FERRY__V1__REPORT_DIRECTIVE__REPORT_DIRECTIVE_CONTINUE;
    ferry_v1_report_service_report_progress_reply(call, &resp);
}

static void report_progress_h(ferry_rpc_call_t *call, const Ferry__V1__ReportProgressRequest *req, void *user)
{
    ferry_err_t err = {0};
    int64_t id;
    if (hub_node_principal(call) == NULL)
        return;
    if (check_report(req->report, &id, &err) != FERRY_OK) { /* cheap refusals stay on the loop */
        hub_fail(call, &err);
        return;
    }
    hub_offload(call, user, req, report_progress_work);
}

/* The batch: one transaction for all (one fsync), each report judged on its own. */
typedef struct batch_req {
    const Ferry__V1__ReportProgressBatchRequest *const *reqs;
    size_t n;
} batch_req_t;

static void report_batch_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const batch_req_t *b = vreq;
    const hub_principal_t *p = hub_principal(call);
    ferry_err_t err = {0};
    ferry_err_code_t rc;
    Ferry__V1__ReportProgressBatchResponse resp = FERRY__V1__REPORT_PROGRESS_BATCH_RESPONSE__INIT;
    Ferry__V1__BatchItemResult *items = calloc(b->n ? b->n : 1, sizeof(*items));
    Ferry__V1__BatchItemResult **ptrs = calloc(b->n ? b->n : 1, sizeof(*ptrs));
    hub_task_event_t *evs = calloc(b->n ? b->n : 1, sizeof(*evs));
    char(*msgs)[256] = calloc(b->n ? b->n : 1, sizeof(*msgs));
    char(*codes)[48] = calloc(b->n ? b->n : 1, sizeof(*codes));
    size_t n_ev = 0;

    if (items == NULL || ptrs == NULL || evs == NULL || msgs == NULL || codes == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "report batch: out of memory");
        goto out;
    }
    hub_db_lock(hub);
    rc = hub_tx_begin(hub, &err);
    for (size_t i = 0; rc == FERRY_OK && i < b->n; i++) {
        const Ferry__V1__ProgressReport *r = b->reqs[i]->report;
        report_outcome_t o;
        ferry_err_t ie = {0};
        ferry__v1__batch_item_result__init(&items[i]);
        ptrs[i] = &items[i];
        items[i].task_id = r != NULL && r->task_id != NULL ? r->task_id : (char *)"";
        items[i].sequence = r != NULL ? r->sequence : 0;
        items[i].error_code = codes[i];
        items[i].message = msgs[i];
        ferry_err_code_t irc = apply_report(hub, p->node_id, r, &o, &ie);
        if (irc == FERRY_E_IO || irc == FERRY_E_NOMEM) { /* the store failed, not the report */
            rc = irc;
            err = ie;
            break;
        }
        if (irc != FERRY_OK) {
            resp.rejected++;
            snprintf(codes[i], sizeof(codes[i]), "%s", ferry_err_name(irc));
            snprintf(msgs[i], sizeof(msgs[i]), "%.255s", ie.msg);
        } else if (o.duplicate) {
            resp.duplicates++;
        } else {
            resp.accepted++;
            items[i].accepted = true;
            evs[n_ev++] = o.ev;
        }
    }
    if (rc == FERRY_OK)
        rc = hub_tx_commit(hub, &err);
    if (rc != FERRY_OK)
        hub_tx_rollback(hub);
    hub_db_unlock(hub);
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    for (size_t i = 0; i < n_ev; i++)
        hub_bus_publish(hub, &evs[i]);
    resp.results = ptrs;
    resp.n_results = b->n;
    ferry_v1_report_service_report_progress_batch_reply(call, &resp);
out:
    free(items);
    free(ptrs);
    free(evs);
    free(msgs);
    free(codes);
    free((void *)b);
}

static void report_batch_h(ferry_rpc_call_t *call, const Ferry__V1__ReportProgressBatchRequest *const *reqs,
                           size_t n_reqs, void *user)
{
    batch_req_t *b;
    if (hub_node_principal(call) == NULL)
        return;
    if (n_reqs > REPORT_BATCH_MAX) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG",
                            "a batch carries at most %d reports (got %zu)", REPORT_BATCH_MAX, n_reqs);
        return;
    }
    if ((b = malloc(sizeof(*b))) == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "out of memory");
        return;
    }
    b->reqs = reqs;
    b->n = n_reqs;
    hub_offload(call, user, b, report_batch_work); /* the worker frees |b| */
}

/* ---- file uploads -------------------------------------------------------------------- */

static bool is_hex64(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}

/* A file name we store and show: 1..255 bytes, no path separators or control bytes. */
static bool file_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == '/' || *p == '\\' || *p == 0x7f)
            return false;
    }
    return true;
}

static void create_upload_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateFileUploadRequest *req = vreq;
    const hub_principal_t *p = hub_principal(call);
    ferry_err_t err = {0};
    ferry_err_code_t rc = FERRY_OK;
    hub_arena_t a = {0};
    sqlite3_stmt *st = NULL;
    int64_t task_id = 0, now = hub_now_ms(), expires = 0;
    uint8_t rnd[16];
    char id[33], path[64], url[1024];
    Ferry__V1__CreateFileUploadResponse resp = FERRY__V1__CREATE_FILE_UPLOAD_RESPONSE__INIT;
    Ferry__V1__UploadTarget target = FERRY__V1__UPLOAD_TARGET__INIT;

    if (req->kind < FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG ||
        req->kind > FERRY__V1__FILE_KIND__FILE_KIND_SQL_LOG) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG, "kind must be NODE_CONFIG, LOG, DIAGNOSTIC or SQL_LOG");
        goto out;
    }
    if (!file_name_ok(req->file_name)) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG,
                           "file_name must be 1..255 bytes without path separators");
        goto out;
    }
    if (req->size == 0 || req->size > NODE_FILE_MAX ||
        (req->kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG && req->size > NODE_CONFIG_MAX)) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG, "size %" PRIu64 " is out of range", req->size);
        goto out;
    }
    if (!is_hex64(req->sha256)) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG, "sha256 must be 64 lowercase hex digits");
        goto out;
    }
    if (req->content_type != NULL && strlen(req->content_type) > 255) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG, "content_type is too long");
        goto out;
    }
    if (req->task_id != NULL && req->task_id[0] != '\0' &&
        (rc = hub_parse_id(req->task_id, "task_id", &task_id, &err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_random_bytes(rnd, sizeof(rnd), &err)) != FERRY_OK)
        goto out;
    ferry_hex_encode(rnd, sizeof(rnd), id);
    id[32] = '\0';
    hub_db_lock(hub);
    if (task_id > 0) {
        int64_t owner = 0;
        if (sqlite3_prepare_v2(hub->db, "SELECT node_id FROM update_task WHERE id = ?1", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(st, 1, task_id);
            if (sqlite3_step(st) == SQLITE_ROW)
                owner = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (owner == 0)
            rc = ferry_err_set(&err, FERRY_E_NOT_FOUND, "task %s not found", req->task_id);
        else if (owner != p->node_id)
            rc = ferry_err_set(&err, FERRY_E_PERMISSION, "task %s belongs to another node", req->task_id);
    }
    if (rc == FERRY_OK) {
        if (sqlite3_prepare_v2(
                hub->db,
                "INSERT INTO upload (id, purpose, node_id, file_name, expected_size, expected_sha256,"
                " file_kind, task_id, content_type, created_at, expires_at)"
                " VALUES (?1, 'node_file', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                -1, &st, NULL) != SQLITE_OK) {
            rc = hub_sql_err(hub->db, "create upload", &err);
        } else {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, p->node_id);
            hub_bind_text(st, 3, req->file_name);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)req->size);
            hub_bind_text(st, 5, req->sha256);
            sqlite3_bind_int(st, 6, (int)req->kind);
            if (task_id > 0)
                sqlite3_bind_int64(st, 7, task_id);
            else
                sqlite3_bind_null(st, 7);
            hub_bind_text(st, 8, req->content_type);
            sqlite3_bind_int64(st, 9, now);
            sqlite3_bind_int64(st, 10, now + UPLOAD_TTL_MS);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = hub_sql_err(hub->db, "create upload", &err);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    hub_db_unlock(hub);
    if (rc != FERRY_OK)
        goto out;
    if ((rc = ferry_blob_upload_begin(hub->blobs, id, &err)) != FERRY_OK)
        goto out;
    snprintf(path, sizeof(path), "/uploads/%s", id);
    if ((rc = hub_storage_signed_url(hub, p->customer_id, "PUT", path, url, sizeof(url), &expires, &err)) !=
        FERRY_OK)
        goto out;
    target.url = url;
    target.method = (char *)"PUT";
    target.expires_at = hub_arena_ts(&a, expires);
    target.max_chunk_size = HUB_CHUNK_MAX;
    resp.upload_id = id;
    resp.target = &target;
out:
    if (rc != FERRY_OK)
        hub_fail(call, &err);
    else
        ferry_v1_report_service_create_file_upload_reply(call, &resp);
    hub_arena_free(&a);
}

HUB_NODE_OFFLOADED(create_upload, Ferry__V1__CreateFileUploadRequest)

/*
 * The index entry of an uploaded node-config.json: its configVersion and the whole
 * document with secrets masked (hub_nodecfg.h; mapped onto NodeConfig when read). A file
 * that does not parse is still stored and indexed, with config_version 0 and an empty
 * summary.
 */
static void node_config_summary(const char *path, int64_t *version, char **summary)
{
    char *text = NULL;
    size_t len = 0;
    *version = 0;
    *summary = NULL;
    if (ferry_fs_read_file(path, NODE_CONFIG_MAX, &text, &len, NULL) == FERRY_OK)
        *summary = hub_node_config_mask(text, len, version);
    free(text);
}

static void commit_upload_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CommitFileUploadRequest *req = vreq;
    const hub_principal_t *p = hub_principal(call);
    ferry_err_t err = {0};
    ferry_err_code_t rc = FERRY_OK;
    hub_arena_t a = {0};
    sqlite3_stmt *st = NULL;
    int locked = 0, in_tx = 0;
    int64_t node_id = 0, task_id = 0, file_id = 0, now = hub_now_ms(), cfg_version = 0;
    int kind = 0;
    char status[16] = "", name[256] = "", exp_sha[65] = "", ctype[256] = "",
         sha[FERRY_SHA256_HEX_LEN + 1] = "";
    char blob_path[4096];
    char *summary_json = NULL;
    uint64_t exp_size = 0, size = 0;
    Ferry__V1__CommitFileUploadResponse resp = FERRY__V1__COMMIT_FILE_UPLOAD_RESPONSE__INIT;
    Ferry__V1__ReportFile rf = FERRY__V1__REPORT_FILE__INIT;

    if (req->upload_id == NULL || strlen(req->upload_id) != 32) {
        rc = ferry_err_set(&err, FERRY_E_NOT_FOUND, "upload not found");
        goto out;
    }
    if (req->summary != NULL && strlen(req->summary) > REPORT_TEXT_MAX) {
        rc = ferry_err_set(&err, FERRY_E_INVALID_ARG, "summary is longer than %d bytes", REPORT_TEXT_MAX);
        goto out;
    }
    hub_db_lock(hub);
    locked = 1;
    if (sqlite3_prepare_v2(
            hub->db,
            "SELECT node_id, COALESCE(task_id, 0), file_kind, status, file_name, expected_sha256,"
            " expected_size, content_type, COALESCE(report_file_id, 0), blob_sha256 FROM upload"
            " WHERE id = ?1 AND purpose = 'node_file'",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "commit upload", &err);
        goto out;
    }
    sqlite3_bind_text(st, 1, req->upload_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_err_set(&err, FERRY_E_NOT_FOUND, "upload %s not found", req->upload_id);
        goto out;
    }
    node_id = sqlite3_column_int64(st, 0);
    task_id = sqlite3_column_int64(st, 1);
    kind = sqlite3_column_int(st, 2);
    snprintf(status, sizeof(status), "%s", sqlite3_column_text(st, 3));
    snprintf(name, sizeof(name), "%s", sqlite3_column_text(st, 4));
    snprintf(exp_sha, sizeof(exp_sha), "%s", sqlite3_column_text(st, 5));
    exp_size = (uint64_t)sqlite3_column_int64(st, 6);
    snprintf(ctype, sizeof(ctype), "%s", sqlite3_column_text(st, 7));
    file_id = sqlite3_column_int64(st, 8);
    snprintf(sha, sizeof(sha), "%s", sqlite3_column_text(st, 9));
    sqlite3_finalize(st);
    st = NULL;
    if (node_id != p->node_id) {
        rc = ferry_err_set(&err, FERRY_E_PERMISSION, "upload %s belongs to another node", req->upload_id);
        goto out;
    }
    if (strcmp(status, "committed") == 0) {
        size = exp_size; /* idempotent: answer with the file recorded the first time */
        goto reply;
    }
    if (strcmp(status, "open") != 0) {
        rc = ferry_err_set(&err, FERRY_E_PRECONDITION, "upload %s was aborted", req->upload_id);
        goto out;
    }
    /* Hashing a large file must not hold the DB: release it meanwhile. */
    hub_db_unlock(hub);
    locked = 0;
    rc = ferry_blob_upload_commit(hub->blobs, req->upload_id, exp_sha, exp_size, sha, &size, &err);
    if (rc != FERRY_OK) {
        if (rc == FERRY_E_HASH_MISMATCH) /* refused: reclaim its bytes (uploads.c) */
            hub_upload_refuse(hub, req->upload_id, 0, false);
        goto out;
    }
    if (kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG &&
        ferry_blob_path(hub->blobs, sha, blob_path, sizeof(blob_path), NULL) == FERRY_OK)
        node_config_summary(blob_path, &cfg_version, &summary_json);
    hub_db_lock(hub);
    locked = 1;
    if ((rc = hub_tx_begin(hub, &err)) != FERRY_OK)
        goto out;
    in_tx = 1;
    /* Re-check under the lock: a concurrent commit of the same upload wins once. */
    if (sqlite3_prepare_v2(
            hub->db,
            "UPDATE upload SET status = 'committed', blob_sha256 = ?2 WHERE id = ?1 AND status = 'open'", -1,
            &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "commit upload", &err);
        goto out;
    }
    sqlite3_bind_text(st, 1, req->upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sha, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = hub_sql_err(hub->db, "commit upload", &err);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_changes(hub->db) == 0) {
        rc = ferry_err_set(&err, FERRY_E_PRECONDITION, "upload %s is no longer open", req->upload_id);
        goto out;
    }
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO report_file (node_id, task_id, kind, name, blob_sha256, size, summary,"
            " content_type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "commit upload", &err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, node_id);
    if (task_id > 0)
        sqlite3_bind_int64(st, 2, task_id);
    else
        sqlite3_bind_null(st, 2);
    sqlite3_bind_int(st, 3, kind);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)size);
    hub_bind_text(st, 7, req->summary);
    sqlite3_bind_text(st, 8, ctype, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = hub_sql_err(hub->db, "commit upload", &err);
        goto out;
    }
    file_id = sqlite3_last_insert_rowid(hub->db);
    sqlite3_finalize(st);
    st = NULL;
    /* Link it: upload -> file, task.ReportFilesJson, node configuration index. */
    const char *links[3] = {"UPDATE upload SET report_file_id = ?2 WHERE id = ?1", NULL, NULL};
    if (task_id > 0)
        links[1] = "UPDATE update_task SET report_files_json = json_insert(report_files_json, '$[#]',"
                   " json_object('fileId', CAST(?2 AS TEXT), 'kind', ?4, 'fileName', ?5, 'size', ?6)),"
                   " updated_at = ?7 WHERE id = ?3";
    if (kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG)
        links[2] = "INSERT INTO node_config_index (node_id, config_version, file_id, blob_sha256, size,"
                   " summary_json, uploaded_at) VALUES (?8, ?9, ?2, ?10, ?6, ?11, ?7)"
                   " ON CONFLICT(node_id) DO UPDATE SET config_version = excluded.config_version,"
                   " file_id = excluded.file_id, blob_sha256 = excluded.blob_sha256, size = excluded.size,"
                   " summary_json = excluded.summary_json, uploaded_at = excluded.uploaded_at";
    for (int i = 0; i < 3; i++) {
        if (links[i] == NULL)
            continue;
        if ((rc = hub_prepare(hub->db, links[i], &st, "link upload", &err)) != FERRY_OK)
            goto out;
        /* Bind only the parameters this statement uses. */
        int np = sqlite3_bind_parameter_count(st);
        for (int k = 1; k <= np; k++) {
            const char *pn = sqlite3_bind_parameter_name(st, k);
            int idx = pn != NULL ? atoi(pn + 1) : k;
            switch (idx) {
            case 1:
                sqlite3_bind_text(st, k, req->upload_id, -1, SQLITE_STATIC);
                break;
            case 2:
                sqlite3_bind_int64(st, k, file_id);
                break;
            case 3:
                sqlite3_bind_int64(st, k, task_id);
                break;
            case 4:
                sqlite3_bind_int(st, k, kind);
                break;
            case 5:
                sqlite3_bind_text(st, k, name, -1, SQLITE_STATIC);
                break;
            case 6:
                sqlite3_bind_int64(st, k, (sqlite3_int64)size);
                break;
            case 7:
                sqlite3_bind_int64(st, k, now);
                break;
            case 8:
                sqlite3_bind_int64(st, k, node_id);
                break;
            case 9:
                sqlite3_bind_int64(st, k, cfg_version);
                break;
            case 10:
                sqlite3_bind_text(st, k, sha, -1, SQLITE_STATIC);
                break;
            case 11:
                sqlite3_bind_text(st, k, summary_json != NULL ? summary_json : "", -1, SQLITE_STATIC);
                break;
            default:
                break;
            }
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = hub_sql_err(hub->db, "link upload", &err);
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if ((rc = hub_tx_commit(hub, &err)) != FERRY_OK)
        goto out;
    in_tx = 0;
reply:
    rf.id = hub_arena_printf(&a, "%" PRId64, file_id);
    rf.kind = (Ferry__V1__FileKind)kind;
    rf.node_code = (char *)"";
    rf.task_id = task_id > 0 ? hub_arena_printf(&a, "%" PRId64, task_id) : (char *)"";
    rf.file_name = hub_arena_strdup(&a, name);
    rf.size = size;
    rf.sha256 = hub_arena_strdup(&a, sha);
    rf.summary = hub_arena_strdup(&a, req->summary);
    rf.content_type = hub_arena_strdup(&a, ctype);
    rf.created_at = hub_arena_ts(&a, now);
    resp.file = &rf;
out:
    sqlite3_finalize(st);
    if (in_tx)
        hub_tx_rollback(hub);
    if (locked)
        hub_db_unlock(hub);
    if (rc != FERRY_OK)
        hub_fail(call, &err);
    else
        ferry_v1_report_service_commit_file_upload_reply(call, &resp);
    free(summary_json);
    hub_arena_free(&a);
}

HUB_NODE_OFFLOADED(commit_upload, Ferry__V1__CommitFileUploadRequest)

static void config_result_h(ferry_rpc_call_t *call, const Ferry__V1__ReportConfigResultRequest *req,
                            void *user)
{
    (void)req;
    (void)user;
    if (hub_node_principal(call) == NULL)
        return;
    ferry_rpc_call_fail(call, FERRY_RPC_UNIMPLEMENTED, "E_UNSUPPORTED",
                        "configuration distribution (seed 001) is not managed by this server yet");
}

void hub_report_bind(ferry_hub_t *hub)
{
    hub->report.report_progress = report_progress_h;
    hub->report.report_progress_batch = report_batch_h;
    hub->report.create_file_upload = create_upload_h;
    hub->report.commit_file_upload = commit_upload_h;
    hub->report.report_config_result = config_result_h;
}
