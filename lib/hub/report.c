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
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/model/hooks.h"
#include "ferry/model/states.h"
#include "ferry/store/reports.h"
#include "ferry/store/uploads.h"
#include "hub_agent.h"
#include "hub_frame.h"
#include "hub_waves.h"
#include "hub_nodecfg.h"
#include "hub_pkg.h"

#define REPORT_TEXT_MAX  8192           /* message, paths, checkpoint */
#define REPORT_BATCH_MAX 1000           /* reports in one ReportProgressBatch */
#define DL_SOURCE_MAX    64             /* DownloadStats.source_name */
#define DL_FALLBACKS_MAX 32             /* DownloadStats.fallbacks entries */
#define DL_FALLBACK_MAX  512            /* one DownloadStats.fallbacks entry */
#define TIMINGS_MAX      64             /* ProgressReport.timings entries in one report */
#define STEP_NAME_MAX    128            /* ProgressReport.step_name */
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
        if (h->hook_id == NULL || !ferry_hook_id_valid(h->hook_id))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "hook.hook_id: '%.80s' is not a hook id (1..%d of A-Z a-z 0-9 _ . -)",
                                 h->hook_id != NULL ? h->hook_id : "", FERRY_HOOK_ID_MAX);
        if (h->stage < FERRY__V1__HOOK_STAGE__HOOK_STAGE_PRE_CHECK ||
            h->stage > FERRY__V1__HOOK_STAGE__HOOK_STAGE_POST_UPGRADE)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.stage: %d is not a hook stage (1..5)",
                                 (int)h->stage);
        if (h->result < FERRY__V1__HOOK_RESULT__HOOK_RESULT_PASS ||
            h->result > FERRY__V1__HOOK_RESULT__HOOK_RESULT_RETRY_LATER)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "hook.result: %d is not a hook result (1..5)",
                                 (int)h->result);
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

/** Outcome of applying one report inside a transaction. */
typedef struct report_outcome {
    bool duplicate;
    uint64_t last_seq;
    int state;
    bool halted;
    bool hook_only;      /* a hook's result for a final task: nothing else changed */
    hub_task_event_t ev; /* to publish after commit (ev.task_id == 0: nothing) */
} report_outcome_t;

/* "hook ID (stage): RESULT" for a hook-only report's history row: the stage as hooks.json
 * names it, the result as the IDL does (check_report keeps both in range). */
static const char *hook_line(const Ferry__V1__HookReport *h, char *buf, size_t size)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&ferry__v1__hook_result__descriptor, (int)h->result);
    snprintf(buf, size, "hook %.64s (%s): %s", h->hook_id,
             ferry_hook_phase_name((ferry_hook_phase_t)(h->stage - 1)),
             v != NULL ? v->name + strlen("HOOK_RESULT_") : "?");
    return buf;
}

/*
 * Applies |r| from node |node_id| to its task (the reports repository). Caller holds
 * the store lock and an open transaction. Validation happens before any write, and the
 * timings are all-or-nothing, so a refusal changes nothing.
 */
static ferry_err_code_t apply_report(ferry_hub_t *hub, int64_t node_id, const Ferry__V1__ProgressReport *r,
                                     report_outcome_t *o, ferry_err_t *err)
{
    ferry_store_timing_t timings[TIMINGS_MAX];
    ferry_store_report_task_t task;
    ferry_store_report_t row = {0};
    ferry_err_code_t rc = FERRY_OK;
    int64_t task_id = 0;
    char *dj = NULL, *hj = NULL, line[160];
    bool hook_only;

    memset(o, 0, sizeof(*o));
    if (r == NULL) { /* check_report says so too; stated here for the reader (and the analyzer) */
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "report is required");
        goto out;
    }
    if ((rc = check_report(r, &task_id, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_store_report_task(hub->store, task_id, &task, err)) != FERRY_OK) {
        if (rc == FERRY_E_NOT_FOUND)
            ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", r->task_id);
        goto out;
    }
    if (task.node_id != node_id) {
        rc = ferry_err_set(err, FERRY_E_PERMISSION, "task %s belongs to another node", r->task_id);
        goto out;
    }
    o->halted = task.halted;
    o->last_seq = task.last_seq;
    o->state = task.state;
    if (hub_report_seq_check(task.last_seq, r->sequence) == HUB_SEQ_DUPLICATE) {
        o->duplicate = true; /* accepted once already: acknowledge again, store nothing */
        goto out;
    }
    /* post_upgrade runs after the final 100: its hooks' results come as reports of the
     * final state with a hook and change nothing but the hook list and the history. */
    hook_only =
        r->hook != NULL && (int)r->state == task.state && ferry_state_is_terminal((ferry_state_t)task.state);
    if (!hook_only && !hub_report_transition_ok(task.state, (int)r->state)) {
        rc = ferry_err_set(err, FERRY_E_TRANSITION_INVALID,
                           "task %s: %s (%d) -> %s (%d) is not a legal transition", r->task_id,
                           ferry_state_name(task.state), task.state, ferry_state_name((int)r->state),
                           (int)r->state);
        goto out;
    }
    if (r->hook != NULL) {
        const Ferry__V1__HookReport *h = r->hook;
        ferry_store_hook_t sh = {.hook_id = h->hook_id,
                                 .stage = (int)h->stage,
                                 .name = h->name,
                                 .result = (int)h->result,
                                 .message = h->message,
                                 .stderr_tail = h->stderr_tail,
                                 .duration_ms = dur_ms(h->duration),
                                 .exit_status = h->exit_status};
        if ((rc = ferry_store_report_hook_put(hub->store, task_id, &sh, r->sequence, hub_now_ms(), err)) !=
                FERRY_OK ||
            (rc = ferry_json_encode(&h->base, 0, &hj, NULL, err)) != FERRY_OK)
            goto out;
    }
    if (hook_only) {
        row.task_id = task_id;
        row.prev_state = row.state = task.state;
        row.message = hook_line(r->hook, line, sizeof(line));
        row.seq = r->sequence;
        row.reported_at = r->reported_at != NULL ? ts_ms(r->reported_at) : 0;
        row.now = hub_now_ms();
        row.hook_json = hj;
        row.hook_only = true;
        if ((rc = ferry_store_report_apply(hub->store, &row, err)) != FERRY_OK)
            goto out;
        o->last_seq = r->sequence;
        o->hook_only = true;
        goto out;
    }
    for (size_t i = 0; i < r->n_timings; i++) /* check_report: at most TIMINGS_MAX */
        timings[i] = (ferry_store_timing_t){(int)r->timings[i]->state, ts_ms(r->timings[i]->started_at),
                                            dur_ms(r->timings[i]->duration)};
    if ((rc = ferry_store_report_timings_put(hub->store, task_id, timings, r->n_timings, r->sequence, err)) !=
        FERRY_OK)
        goto out;
    /* Download telemetry (seed 003): kept per task as the DownloadStats JSON. */
    if (r->download != NULL && (rc = ferry_json_encode(&r->download->base, 0, &dj, NULL, err)) != FERRY_OK) {
        ferry_err_prefix(err, "report: download");
        goto out;
    }
    row.task_id = task_id;
    row.prev_state = task.state;
    row.state = (int)r->state;
    row.error_code = r->error_code;
    row.message = r->message;
    row.percent = (int)r->percent;
    row.bytes = r->bytes_done;
    row.bytes_total = r->bytes_total;
    row.seq = r->sequence;
    row.backup_local_path = r->backup_local_path;
    row.server_dir = r->server_dir;
    row.client_dir = r->client_dir;
    row.checkpoint = r->checkpoint;
    row.download_json = dj;
    row.reported_at = r->reported_at != NULL ? ts_ms(r->reported_at) : 0;
    row.now = hub_now_ms();
    row.hook_json = hj;
    if ((rc = ferry_store_report_apply(hub->store, &row, err)) != FERRY_OK)
        goto out;
    o->last_seq = r->sequence;
    o->state = (int)r->state;
    o->ev.task_id = task_id;
    o->ev.release_id = task.release_id;
    o->ev.node_id = node_id;
    o->ev.state = (int)r->state;
    o->ev.percent = (int)r->percent;
    o->ev.bytes = r->bytes_done;
    snprintf(o->ev.error_code, sizeof(o->ev.error_code), "%s", r->error_code != NULL ? r->error_code : "");
    snprintf(o->ev.message, sizeof(o->ev.message), "%s", r->message != NULL ? r->message : "");
out:
    free(hj);
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

    ferry_store_lock(hub->store);
    rc = ferry_store_tx_begin(hub->store, &err);
    if (rc == FERRY_OK) {
        rc = apply_report(hub, p->node_id, req->report, &o, &err);
        if (rc == FERRY_OK && !o.duplicate)
            rc = ferry_store_tx_commit(hub->store, &err); /* synchronous=FULL: durable when this returns */
        if (rc != FERRY_OK || o.duplicate)
            ferry_store_tx_rollback(hub->store);
    }
    ferry_store_unlock(hub->store);
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
    /* A finished task may move its release's rollout on (waves.c): decided before the
     * reply, so when the report of a wave's last task is acknowledged the next wave (or
     * the pause) is already committed. Once per task; a release without waves costs one
     * primary-key read. */
    if (o.ev.task_id > 0 && ferry_state_is_terminal((ferry_state_t)o.ev.state))
        hub_waves_evaluate(hub, o.ev.release_id);
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
    ferry_store_lock(hub->store);
    rc = ferry_store_tx_begin(hub->store, &err);
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
        rc = ferry_store_tx_commit(hub->store, &err);
    if (rc != FERRY_OK)
        ferry_store_tx_rollback(hub->store);
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    for (size_t i = 0; i < n_ev; i++)
        hub_bus_publish(hub, &evs[i]);
    /* Finished tasks may move their releases' rollouts on (waves.c), before the reply. */
    for (size_t i = 0; i < n_ev; i++)
        if (ferry_state_is_terminal((ferry_state_t)evs[i].state))
            hub_waves_evaluate(hub, evs[i].release_id);
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

/* Node methods on the worker pool; each body takes the store lock itself (a commit
 * hashes the file with no lock held). */
HUB_METHOD(report, create_file_upload, Ferry__V1__CreateFileUploadRequest,
           Ferry__V1__CreateFileUploadResponse, HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(report, commit_file_upload, Ferry__V1__CommitFileUploadRequest,
           Ferry__V1__CommitFileUploadResponse, HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)

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

static ferry_err_code_t create_file_upload_body(hub_frame_t *f, const Ferry__V1__CreateFileUploadRequest *req,
                                                Ferry__V1__CreateFileUploadResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    const hub_principal_t *p = f->me;
    ferry_err_code_t rc = FERRY_OK;
    int64_t task_id = 0, now = hub_now_ms(), expires = 0, owner = 0, files = 0;
    uint8_t rnd[16];
    char id[33], path[64], url[1024];
    Ferry__V1__UploadTarget *target = hub_arena_alloc(&f->arena, sizeof(*target));
    ferry_store_node_upload_new_t row = {0};

    if (req->kind < FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG ||
        req->kind > FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "kind must be NODE_CONFIG, LOG, DIAGNOSTIC, SQL_LOG or UPGRADE_REPORT");
        goto out;
    }
    if (!file_name_ok(req->file_name)) {
        rc =
            ferry_err_set(err, FERRY_E_INVALID_ARG, "file_name must be 1..255 bytes without path separators");
        goto out;
    }
    if (req->size == 0 || req->size > NODE_FILE_MAX ||
        (req->kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG && req->size > NODE_CONFIG_MAX)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "size %" PRIu64 " is out of range", req->size);
        goto out;
    }
    if (!is_hex64(req->sha256)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "sha256 must be 64 lowercase hex digits");
        goto out;
    }
    if (req->content_type != NULL && strlen(req->content_type) > 255) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "content_type is too long");
        goto out;
    }
    if (req->task_id != NULL && req->task_id[0] != '\0' &&
        (rc = hub_parse_id(req->task_id, "task_id", &task_id, err)) != FERRY_OK)
        goto out;
    /* An upgrade report describes one task's run; `ferry task report` finds it by task. */
    if (req->kind == FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT && task_id == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "task_id is required for an UPGRADE_REPORT file");
        goto out;
    }
    if ((rc = ferry_random_bytes(rnd, sizeof(rnd), err)) != FERRY_OK)
        goto out;
    ferry_hex_encode(rnd, sizeof(rnd), id);
    id[32] = '\0';
    row = (ferry_store_node_upload_new_t){id,          p->node_id,         req->file_name, req->size,
                                          req->sha256, (int)req->kind,     task_id,        req->content_type,
                                          now,         now + UPLOAD_TTL_MS};
    ferry_store_lock(hub->store);
    if (task_id > 0) {
        if ((rc = ferry_store_task_node(hub->store, task_id, &owner, err)) == FERRY_E_NOT_FOUND)
            ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", req->task_id);
        else if (rc == FERRY_OK && owner != p->node_id)
            rc = ferry_err_set(err, FERRY_E_PERMISSION, "task %s belongs to another node", req->task_id);
        /* Refused early: the commit would be (a task lists at most FERRY_STORE_TASK_FILES_MAX). */
        else if (rc == FERRY_OK &&
                 (rc = ferry_store_task_files_count(hub->store, task_id, &files, err)) == FERRY_OK &&
                 files >= FERRY_STORE_TASK_FILES_MAX)
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "task %s already lists %" PRId64 " report files (at most %d)", req->task_id,
                               files, FERRY_STORE_TASK_FILES_MAX);
    }
    /* Quotas per node (open uploads, announced bytes) and the administrators' free-space
     * reserve (uploads.c): one node cannot fill the disk. */
    if (rc == FERRY_OK)
        rc = hub_upload_quota_check(hub, FERRY_STORE_UPLOAD_NODE_FILE, p->node_id, req->size, err);
    if (rc == FERRY_OK)
        rc = ferry_store_node_upload_insert(hub->store, &row, err);
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK)
        goto out;
    if ((rc = ferry_blob_upload_begin(hub->blobs, id, err)) != FERRY_OK)
        goto out;
    snprintf(path, sizeof(path), "/uploads/%s", id);
    if ((rc = hub_storage_signed_url(hub, p->customer_id, "PUT", path, url, sizeof(url), &expires, err)) !=
        FERRY_OK)
        goto out;
    if (target == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    ferry__v1__upload_target__init(target);
    target->url = hub_arena_strdup(&f->arena, url);
    target->method = (char *)"PUT";
    target->expires_at = hub_arena_ts(&f->arena, expires);
    target->max_chunk_size = HUB_CHUNK_MAX;
    resp->upload_id = hub_arena_strdup(&f->arena, id);
    resp->target = target;
out:
    return rc;
}

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

static ferry_err_code_t commit_file_upload_body(hub_frame_t *f, const Ferry__V1__CommitFileUploadRequest *req,
                                                Ferry__V1__CommitFileUploadResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    const hub_principal_t *p = f->me;
    ferry_err_code_t rc = FERRY_OK;
    hub_arena_t *a = &f->arena;
    bool locked = false, in_tx = false, refused = false;
    int64_t file_id = 0, now = hub_now_ms(), cfg_version = 0;
    char sha[FERRY_SHA256_HEX_LEN + 1] = "";
    char blob_path[4096];
    char *summary_json = NULL;
    uint64_t size = 0;
    ferry_store_node_upload_t up;
    ferry_store_report_file_new_t file = {0};
    Ferry__V1__ReportFile *rf = NULL;

    memset(&up, 0, sizeof(up));
    if (req->upload_id == NULL || strlen(req->upload_id) != 32) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "upload not found");
        goto out;
    }
    if (req->summary != NULL && strlen(req->summary) > REPORT_TEXT_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "summary is longer than %d bytes", REPORT_TEXT_MAX);
        goto out;
    }
    ferry_store_lock(hub->store);
    locked = true;
    if ((rc = ferry_store_node_upload_get(hub->store, req->upload_id, &up, err)) != FERRY_OK)
        goto out;
    file_id = up.report_file_id;
    snprintf(sha, sizeof(sha), "%s", up.blob_sha256);
    if (up.node_id != p->node_id) {
        rc = ferry_err_set(err, FERRY_E_PERMISSION, "upload %s belongs to another node", req->upload_id);
        goto out;
    }
    if (strcmp(up.status, "committed") == 0) {
        size = up.expected_size; /* idempotent: answer with the file recorded the first time */
        goto reply;
    }
    if (strcmp(up.status, "open") != 0) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "upload %s was aborted", req->upload_id);
        goto out;
    }
    /* Hashing a large file must not hold the store: release it meanwhile. */
    ferry_store_unlock(hub->store);
    locked = false;
    rc = ferry_blob_upload_commit(hub->blobs, req->upload_id, up.expected_sha256, up.expected_size, sha,
                                  &size, err);
    if (rc != FERRY_OK) {
        if (rc == FERRY_E_HASH_MISMATCH) /* refused: reclaim its bytes (uploads.c) */
            hub_upload_refuse(hub, req->upload_id, 0, false);
        goto out;
    }
    if (up.kind == FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG &&
        ferry_blob_path(hub->blobs, sha, blob_path, sizeof(blob_path), NULL) == FERRY_OK)
        node_config_summary(blob_path, &cfg_version, &summary_json);
    file = (ferry_store_report_file_new_t){
        req->upload_id,  up.node_id, up.task_id,  up.kind,
        up.file_name,    sha,        size,        req->summary,
        up.content_type, now,        cfg_version, summary_json != NULL ? summary_json : ""};
    ferry_store_lock(hub->store);
    locked = true;
    if ((rc = ferry_store_tx_begin(hub->store, err)) != FERRY_OK)
        goto out;
    in_tx = true;
    if ((rc = ferry_store_node_upload_commit(hub->store, &file, &file_id, err)) != FERRY_OK) {
        refused = rc == FERRY_E_INVALID_ARG; /* the task's file list is full: never committable */
        goto out;
    }
    if ((rc = ferry_store_tx_commit(hub->store, err)) != FERRY_OK)
        goto out;
    in_tx = false;
reply:
    if ((rf = hub_arena_alloc(a, sizeof(*rf))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    ferry__v1__report_file__init(rf);
    rf->id = hub_arena_printf(a, "%" PRId64, file_id);
    rf->kind = (Ferry__V1__FileKind)up.kind;
    rf->node_code = (char *)"";
    rf->task_id = up.task_id > 0 ? hub_arena_printf(a, "%" PRId64, up.task_id) : (char *)"";
    rf->file_name = hub_arena_strdup(a, up.file_name);
    rf->size = size;
    rf->sha256 = hub_arena_strdup(a, sha);
    rf->summary = hub_arena_strdup(a, req->summary);
    rf->content_type = hub_arena_strdup(a, up.content_type);
    rf->created_at = hub_arena_ts(a, now);
    resp->file = rf;
out:
    if (in_tx)
        ferry_store_tx_rollback(hub->store);
    if (locked)
        ferry_store_unlock(hub->store);
    if (refused) /* close its row so it no longer counts against the node's quota */
        hub_upload_refuse(hub, req->upload_id, 0, false);
    free(summary_json);
    return rc;
}

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
    hub->report.create_file_upload = create_file_upload;
    hub->report.commit_file_upload = commit_file_upload;
    hub->report.report_config_result = config_result_h;
}
