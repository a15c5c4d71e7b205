/*
 * Rollouts in waves and maintenance windows (issue 13; hawkBit-style rollouts).
 *
 * Rules decided here:
 *   - Plan: at CreateRelease the selected nodes are ordered canaries first (in the order
 *     named), then by store code, then node code; `waves` are cumulative cuts of that
 *     order (a count or a percent of the scope, percents rounded up), the canaries alone
 *     being wave 1 when named. A cut that adds no node on this scope is dropped; a last
 *     wave takes the rest. The plan is stored (release_node) and never recomputed.
 *   - Only the current wave has tasks: a wave's tasks are created when it starts, so a
 *     node of a later wave has nothing to be offered (CheckIn, WatchAssignments).
 *   - Evaluation runs when a task of a waved release reaches a final state (before that
 *     report is acknowledged), and after a resume; never on CheckIn. One primary-key
 *     read tells a release without waves apart; a waved one counts its current wave
 *     through the update_task_wave index. Order: the error threshold first (failed >
 *     threshold and more failures than an admin already resumed past -> the release
 *     pauses by itself, reason stored, shown and audited as actor "ferryd"), then the
 *     success threshold (succeeded >= percent -> the next wave starts, or with
 *     approve_waves the release awaits PromoteRelease).
 *   - Maintenance window: decided when a task is offered (assign.c) and shown when it is
 *     read (tasks.c, hold_reason); only 10 Pending waits. The sweep (fleet sweep thread,
 *     at most once a minute of wall clock) offers the tasks whose window opened since
 *     the previous sweep, so idle nodes answered from memory hear about them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/log.h"
#include "ferry/model/states.h"
#include "ferry/store/tasks.h"
#include "ferry/store/waves.h"
#include "hub_agent.h"
#include "hub_frame.h"
#include "hub_waves.h"

/* ---- checking a request ------------------------------------------------------------------------ */

ferry_err_code_t hub_rollout_check(const Ferry__V1__CreateReleaseRequest *req, hub_rollout_req_t *out,
                                   ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;

    memset(out, 0, sizeof(*out));
    out->window_start = out->window_end = -1;
    out->success_threshold = req->success_threshold == 0 ? 100 : req->success_threshold;
    out->approve_waves = req->approve_waves;
    out->n_specs = req->n_waves;
    out->waved = req->n_waves > 0 || req->n_canary_node_codes > 0;
    if (req->success_threshold > 100)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "success_threshold %u: a percent, 1..100",
                           req->success_threshold);
    else if (req->n_canary_node_codes > HUB_SCOPE_CODES_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "at most %d canary nodes", HUB_SCOPE_CODES_MAX);
    else if ((rc = ferry_wave_specs_check((const char *const *)req->waves, req->n_waves, out->specs, err)) !=
             FERRY_OK)
        ferry_err_prefix(err, "waves");
    else if ((rc = ferry_error_threshold_parse(req->error_threshold, &out->error_threshold,
                                               &out->error_is_count, err)) == FERRY_OK &&
             req->maintenance_window[0] != '\0')
        rc = ferry_window_parse(req->maintenance_window, "maintenance window", &out->window_start,
                                &out->window_end, err);
    if (rc == FERRY_OK && !out->waved &&
        (req->approve_waves || req->success_threshold != 0 || req->error_threshold[0] != '\0'))
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "approve_waves, success_threshold and error_threshold need waves or canary nodes");
    for (size_t i = 0; rc == FERRY_OK && i < req->n_canary_node_codes; i++)
        for (size_t j = 0; rc == FERRY_OK && j < i; j++)
            if (strcmp(req->canary_node_codes[i], req->canary_node_codes[j]) == 0)
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "canary node '%s' is named twice",
                                   req->canary_node_codes[i]);
    return rc;
}

/* ---- planning at CreateRelease ----------------------------------------------------------------- */

typedef struct ordered {
    size_t idx;    /* index in the scope */
    size_t canary; /* position among the canaries + 1; 0: not a canary */
    const ferry_store_scope_node_t *node;
} ordered_t;

static int order_cmp(const void *x, const void *y)
{
    const ordered_t *a = x, *b = y;
    int c;
    if ((a->canary != 0) != (b->canary != 0))
        return a->canary != 0 ? -1 : 1;
    if (a->canary != b->canary)
        return a->canary < b->canary ? -1 : 1;
    if ((c = strcmp(a->node->store_code, b->node->store_code)) != 0)
        return c;
    return strcmp(a->node->code, b->node->code);
}

/* The spec text of wave |k| for release_wave.spec. */
static void wave_spec_text(const hub_rollout_req_t *ro, int from, bool canary, char *buf, size_t size)
{
    if (canary)
        snprintf(buf, size, "canary");
    else if (from < 0)
        snprintf(buf, size, "rest");
    else
        snprintf(buf, size, "%u%s", ro->specs[from].value, ro->specs[from].percent ? "%" : "");
}

ferry_err_code_t hub_rollout_create(ferry_hub_t *hub, int64_t release_id, const hub_rollout_req_t *ro,
                                    const Ferry__V1__CreateReleaseRequest *req,
                                    const ferry_store_scope_t *scope, const bool *sel, int *wave_of,
                                    ferry_err_t *err)
{
    ferry_store_rollout_t row = {0};
    ordered_t *ord = NULL;
    size_t n = 0, ends[FERRY_WAVES_MAX + 2], n_waves = 0, n_canary = req->n_canary_node_codes;
    int from[FERRY_WAVES_MAX + 2];
    ferry_err_code_t rc = FERRY_OK;

    for (size_t i = 0; i < scope->n_nodes; i++)
        wave_of[i] = 0;
    row.success_threshold = (int)ro->success_threshold;
    row.error_threshold = ro->error_threshold;
    row.error_is_count = ro->error_is_count;
    row.approve_waves = ro->approve_waves;
    row.window_start = ro->window_start;
    row.window_end = ro->window_end;
    if (!ro->waved)
        goto write; /* a window alone, or nothing */
    if ((ord = calloc(scope->n_nodes + 1, sizeof(*ord))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "create release: out of memory");
        goto out;
    }
    for (size_t i = 0; i < scope->n_nodes; i++)
        if (sel[i])
            ord[n++] = (ordered_t){i, 0, &scope->nodes[i]};
    for (size_t c = 0; c < n_canary; c++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (strcmp(ord[j].node->code, req->canary_node_codes[c]) == 0)
                break;
        if (j == n) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "canary node '%s' is not an enabled node of the release scope (customer '%s', "
                               "environment %d)",
                               req->canary_node_codes[c], req->scope->customer_code,
                               (int)req->scope->environment);
            goto out;
        }
        ord[j].canary = c + 1;
    }
    qsort(ord, n, sizeof(*ord), order_cmp);
    n_waves = ferry_waves_resolve(ro->specs, ro->n_specs, n_canary, n, ends, from);
    row.wave_count = (int)n_waves;
    row.current_wave = 1;
    for (size_t w = 0, start = 0; w < n_waves; start = ends[w], w++) {
        char spec[24];
        wave_spec_text(ro, from[w], w == 0 && n_canary > 0, spec, sizeof(spec));
        if ((rc = ferry_store_wave_add(hub->store, release_id, (int)w + 1, spec, (int64_t)(ends[w] - start),
                                       err)) != FERRY_OK)
            goto out;
        for (size_t k = start; k < ends[w]; k++) {
            wave_of[ord[k].idx] = (int)w + 1;
            if ((rc = ferry_store_wave_node_add(hub->store, release_id, (int64_t)k + 1, ord[k].node->id,
                                                (int)w + 1, ord[k].canary != 0, err)) != FERRY_OK)
                goto out;
        }
    }
    if ((rc = ferry_store_wave_started(hub->store, release_id, 1, ferry_store_now_ms(), err)) != FERRY_OK)
        goto out;
write:
    rc = ferry_store_rollout_set(hub->store, release_id, &row, err);
out:
    free(ord);
    return rc;
}

/* ---- evaluation ----------------------------------------------------------------------------------- */

/* Events to publish after the commit (grown with realloc). */
typedef struct evq {
    hub_task_event_t *v;
    size_t n, cap;
    bool release_changed;
} evq_t;

static bool evq_push(evq_t *q, const hub_task_event_t *ev)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 16;
        hub_task_event_t *x = realloc(q->v, nc * sizeof(*x));
        if (x == NULL)
            return false;
        q->v = x;
        q->cap = nc;
    }
    q->v[q->n++] = *ev;
    return true;
}

static void evq_publish(ferry_hub_t *hub, int64_t release_id, evq_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        hub_bus_publish(hub, &q->v[i]);
    if (q->release_changed)
        hub_waves_release_changed(hub, release_id);
    free(q->v);
    memset(q, 0, sizeof(*q));
}

void hub_waves_release_changed(ferry_hub_t *hub, int64_t release_id)
{
    hub_task_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.release_id = release_id;
    ev.release_changed = 1;
    hub_bus_publish(hub, &ev);
}

/*
 * Starts wave |wave| of release |id|: its tasks (Pending, in rollout order) with their
 * history row, the wave's start time. Store lock held, inside a transaction.
 */
static ferry_err_code_t start_wave(ferry_hub_t *hub, int64_t id, int wave, const char *source, int64_t now,
                                   evq_t *q, ferry_err_t *err)
{
    int64_t *nodes = NULL;
    size_t n = 0;
    char msg[96];
    ferry_err_code_t rc;

    snprintf(msg, sizeof(msg), "created by release %lld, wave %d", (long long)id, wave);
    if ((rc = ferry_store_wave_nodes(hub->store, id, wave, &nodes, &n, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ferry_store_task_new_t t = {
            id,  nodes[i], FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, FERRY_STATE_PENDING, "", 0, "", "", "",
            now, wave};
        ferry_store_task_event_new_t e = {0, FERRY_STATE_PENDING, "", msg, source, now};
        hub_task_event_t ev;
        if ((rc = ferry_store_task_insert(hub->store, &t, &e.task_id, err)) != FERRY_OK ||
            (rc = ferry_store_task_event_add(hub->store, &e, err)) != FERRY_OK)
            goto out;
        memset(&ev, 0, sizeof(ev));
        ev.task_id = e.task_id;
        ev.release_id = id;
        ev.node_id = nodes[i];
        ev.state = FERRY_STATE_PENDING;
        ev.new_assignment = 1;
        snprintf(ev.message, sizeof(ev.message), "%s", msg);
        if (!evq_push(q, &ev)) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "start wave: out of memory");
            goto out;
        }
    }
    rc = ferry_store_wave_started(hub->store, id, wave, now, err);
    q->release_changed = true;
out:
    free(nodes);
    return rc;
}

/* Pauses release |id| by itself for |reason|: like PauseRelease, plus the reason and an audit row. */
static ferry_err_code_t auto_pause(ferry_hub_t *hub, int64_t id, const char *reason, int64_t now, evq_t *q,
                                   ferry_err_t *err)
{
    hub_arena_t a = {0};
    ferry_store_task_change_t *changed = NULL;
    size_t n = 0;
    hub_audit_actor_t who;
    char target[48], msg[300], detail[400];
    ferry_err_code_t rc;

    memset(&who, 0, sizeof(who));
    snprintf(who.token_id, sizeof(who.token_id), "ferryd");
    snprintf(who.name, sizeof(who.name), "rollout error threshold");
    snprintf(who.method, sizeof(who.method), "ferry.v1.AdminService/PauseRelease");
    snprintf(target, sizeof(target), "release:%lld", (long long)id);
    snprintf(msg, sizeof(msg), "release paused: %.256s", reason);
    if ((rc = ferry_store_release_set_status(hub->store, id, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED,
                                             now, err)) != FERRY_OK ||
        (rc = ferry_store_rollout_paused_reason(hub->store, id, reason, err)) != FERRY_OK ||
        (rc = ferry_store_release_tasks_apply(hub->store, &a, id, FERRY_STORE_RELEASE_PAUSE, msg, now,
                                              &changed, &n, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ferry_store_task_event_new_t e = {changed[i].task_id, changed[i].state, "", msg, "server", now};
        hub_task_event_t ev;
        if ((rc = ferry_store_task_event_add(hub->store, &e, err)) != FERRY_OK)
            goto out;
        memset(&ev, 0, sizeof(ev));
        ev.task_id = changed[i].task_id;
        ev.release_id = id;
        ev.node_id = changed[i].node_id;
        ev.state = changed[i].state;
        snprintf(ev.message, sizeof(ev.message), "%.200s", msg);
        if (!evq_push(q, &ev)) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "pause release: out of memory");
            goto out;
        }
    }
    /* The reason is already plain text without quotes or backslashes (built below). */
    snprintf(detail, sizeof(detail), "{\"reason\":\"%.360s\"}", reason);
    {
        ferry_store_audit_row_t row = {.at = now,
                                       .actor_token_id = who.token_id,
                                       .actor_name = who.name,
                                       .actor_role = 0,
                                       .method = who.method,
                                       .target = target,
                                       .request_id = "",
                                       .outcome = FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS,
                                       .error_code = "",
                                       .remote_addr = "",
                                       .detail = detail};
        rc = ferry_store_audit_insert(hub->store, &row, err);
    }
    q->release_changed = true;
    FERRY_WARN("release %lld paused by itself: %s", (long long)id, reason);
out:
    hub_arena_free(&a);
    return rc;
}

/* The decision for release |id|. Store lock held, inside a transaction. */
static ferry_err_code_t evaluate(ferry_hub_t *hub, int64_t id, int64_t now, evq_t *q, ferry_err_t *err)
{
    ferry_store_rollout_t ro;
    ferry_store_wave_tally_t w[FERRY_WAVES_MAX + 2];
    uint64_t total = 0, ok = 0;
    size_t n_w = 0;
    char reason[256];
    ferry_err_code_t rc;

    if ((rc = ferry_store_rollout_get(hub->store, id, &ro, err)) != FERRY_OK || ro.wave_count == 0 ||
        ro.status != FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE || ro.current_wave < 1)
        goto out;
    /* Every started wave, not only the current one: with a success threshold below 100 the
     * next wave starts while some tasks of this one still run, and their failures count. */
    if ((rc = ferry_store_wave_tallies(hub->store, id, ro.current_wave, w, sizeof(w) / sizeof(w[0]), &n_w,
                                       err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n_w; i++) {
        if (w[i].failed <= w[i].acked ||
            !ferry_error_threshold_exceeded(ro.error_threshold, ro.error_is_count, w[i].failed, w[i].total))
            continue;
        snprintf(reason, sizeof(reason),
                 "wave %d: %" PRIu64 " of %" PRIu64 " task(s) failed, above the error threshold %s%u%s%s",
                 w[i].wave, w[i].failed, w[i].total, ro.error_is_count ? "count:" : "", ro.error_threshold,
                 ro.error_is_count ? "" : "%",
                 w[i].wave < ro.current_wave ? " (after the next wave started)" : "");
        rc = auto_pause(hub, id, reason, now, q, err);
        goto out;
    }
    /* the current wave is the last one tallied */
    if (n_w > 0 && w[n_w - 1].wave == ro.current_wave) {
        total = w[n_w - 1].total;
        ok = w[n_w - 1].succeeded;
    }
    if (ro.current_wave < ro.wave_count &&
        ferry_success_threshold_reached((uint32_t)ro.success_threshold, ok, total)) {
        if (!ro.approve_waves)
            rc = start_wave(hub, id, ro.current_wave + 1, "server", now, q, err);
        else if (!ro.awaiting_promotion) {
            rc = ferry_store_rollout_awaiting(hub->store, id, true, now, err);
            q->release_changed = true;
        }
    }
out:
    return rc;
}

void hub_waves_evaluate(ferry_hub_t *hub, int64_t release_id)
{
    ferry_err_t err = {0};
    evq_t q = {0};
    int waves = 0;
    ferry_err_code_t rc;

    ferry_store_lock(hub->store);
    rc = ferry_store_release_wave_count(hub->store, release_id, &waves, &err);
    if (rc == FERRY_OK && waves > 0 && (rc = ferry_store_tx_begin(hub->store, &err)) == FERRY_OK) {
        rc = evaluate(hub, release_id, hub_now_ms(), &q, &err);
        if (rc == FERRY_OK)
            rc = ferry_store_tx_commit(hub->store, &err);
        if (rc != FERRY_OK) {
            ferry_store_tx_rollback(hub->store);
            free(q.v);
            memset(&q, 0, sizeof(q));
        }
    }
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK)
        FERRY_WARN("release %lld: wave evaluation failed (next finished task retries): %s",
                   (long long)release_id, err.msg);
    evq_publish(hub, release_id, &q);
}

/* ---- PromoteRelease ------------------------------------------------------------------------------ */

static void promote_release_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__PromoteReleaseRequest *req = vreq;
    Ferry__V1__PromoteReleaseResponse resp = FERRY__V1__PROMOTE_RELEASE_RESPONSE__INIT;
    Ferry__V1__Release rel;
    ferry_store_rollout_t ro;
    const hub_principal_t *who = hub_principal(call);
    hub_arena_t a = {0};
    ferry_err_t err = {0}, e2 = {0};
    evq_t q = {0};
    int64_t id = 0, now = hub_now_ms();
    bool in_tx = false;
    char target[48], source[64];

    snprintf(target, sizeof(target), "release:%.30s", req->id);
    snprintf(source, sizeof(source), "admin:%s", who != NULL ? who->token_id : "");
    ferry_store_lock(hub->store);
    if (hub_parse_id(req->id, "release id", &id, &err) != FERRY_OK ||
        ferry_store_tx_begin(hub->store, &err) != FERRY_OK)
        goto fail;
    in_tx = true;
    if (ferry_store_rollout_get(hub->store, id, &ro, &err) != FERRY_OK)
        goto fail;
    if (ro.wave_count == 0) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "release %lld has no waves", (long long)id);
        goto fail;
    }
    if (ro.status != FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "release %lld is %s: %s", (long long)id,
                      ro.status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED ? "paused" : "canceled",
                      ro.status == FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED ? "resume it first"
                                                                                  : "nothing to promote");
        goto fail;
    }
    if (ro.current_wave >= ro.wave_count) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "release %lld is in its last wave (%d of %d)",
                      (long long)id, ro.current_wave, ro.wave_count);
        goto fail;
    }
    if (!ro.awaiting_promotion) {
        uint64_t total = 0, ok = 0, failed = 0;
        if (ferry_store_wave_counts(hub->store, id, ro.current_wave, &total, &ok, &failed, &err) != FERRY_OK)
            goto fail;
        ferry_err_set(&err, FERRY_E_PRECONDITION,
                      "wave %d of release %lld has %" PRIu64 " of %" PRIu64
                      " task(s) at 100, below the success threshold %d%%",
                      ro.current_wave, (long long)id, ok, total, ro.success_threshold);
        goto fail;
    }
    if (start_wave(hub, id, ro.current_wave + 1, source, now, &q, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        ferry_store_tx_commit(hub->store, &err) != FERRY_OK)
        goto fail;
    if (ferry_store_release_get(hub->store, &a, id, &rel, &err) != FERRY_OK)
        goto committed_fail;
    if ((resp.tasks = hub_arena_alloc(&a, (q.n + 1) * sizeof(void *))) == NULL) {
        ferry_err_set(&err, FERRY_E_NOMEM, "promote release: out of memory");
        goto committed_fail;
    }
    for (size_t i = 0; i < q.n; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(&a, sizeof(*t));
        if (t == NULL || ferry_store_task_get(hub->store, &a, q.v[i].task_id, now, t, &err) != FERRY_OK) {
            if (t == NULL)
                ferry_err_set(&err, FERRY_E_NOMEM, "promote release: out of memory");
            goto committed_fail;
        }
        resp.tasks[resp.n_tasks++] = t;
    }
    ferry_store_unlock(hub->store);
    evq_publish(hub, id, &q);
    resp.release = &rel;
    ferry_v1_admin_service_promote_release_reply(call, &resp);
    goto out;
committed_fail:
    /* Committed already: agents must still hear about their tasks. */
    ferry_store_unlock(hub->store);
    evq_publish(hub, id, &q);
    hub_fail(call, &err);
    goto out;
fail:
    if (in_tx)
        ferry_store_tx_rollback(hub->store);
    hub_audit(hub, call, target, ferry_err_name(err.code), &e2);
    ferry_store_unlock(hub->store);
    free(q.v);
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

HUB_OFFLOADED(promote_release, Ferry__V1__PromoteReleaseRequest)

void hub_waves_bind(ferry_hub_t *hub)
{
    hub->admin.promote_release = promote_release;
}

/* ---- maintenance-window sweep ------------------------------------------------------------------- */

/* True when a task in zone |tz| may run at |ms| under window [start, end). */
static bool open_at(int start, int end, const char *tz, int64_t ms)
{
    char why[256];
    ferry_window_hold_reason(start, end, tz, ms, why, sizeof(why));
    return why[0] == '\0';
}

void hub_waves_sweep(ferry_hub_t *hub)
{
    ferry_store_windowed_t *rels = NULL;
    ferry_err_t err = {0};
    evq_t q = {0};
    size_t n_rels = 0;
    int64_t now = hub_now_ms(), last = hub->waves_last_sweep_ms;

    /* Windows are minute-granular: one look per wall-clock minute is enough. */
    if (last > 0 && now / 60000 == last / 60000)
        return;
    hub->waves_last_sweep_ms = now;
    ferry_store_lock(hub->store);
    if (ferry_store_windowed_releases(hub->store, &rels, &n_rels, &err) != FERRY_OK)
        goto unlock;
    for (size_t r = 0; r < n_rels; r++) {
        ferry_store_waiting_task_t *w = NULL;
        size_t n = 0;
        if (ferry_store_waiting_tasks(hub->store, rels[r].id, &w, &n, &err) != FERRY_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            hub_task_event_t ev;
            /* Opened since the last look (or first look since start: offer whatever is open). */
            if (!open_at(rels[r].window_start, rels[r].window_end, w[i].time_zone, now) ||
                (last > 0 && open_at(rels[r].window_start, rels[r].window_end, w[i].time_zone, last)))
                continue;
            memset(&ev, 0, sizeof(ev));
            ev.task_id = w[i].task_id;
            ev.release_id = rels[r].id;
            ev.node_id = w[i].node_id;
            ev.state = FERRY_STATE_PENDING;
            ev.new_assignment = 1;
            snprintf(ev.message, sizeof(ev.message), "maintenance window open");
            if (!evq_push(&q, &ev))
                break;
        }
        free(w);
    }
unlock:
    ferry_store_unlock(hub->store);
    if (err.code != FERRY_OK)
        FERRY_WARN("maintenance-window sweep: %s", err.msg);
    for (size_t i = 0; i < q.n; i++)
        hub_bus_publish(hub, &q.v[i]);
    free(q.v);
    free(rels);
}
