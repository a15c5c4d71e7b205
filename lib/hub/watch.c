/*
 * The hub's streams: AgentService.WatchAssignments (a node's new work, live) and
 * AdminService.WatchRelease (every state change and progress of a release's tasks).
 *
 * Each stream is one small struct (a bus subscription plus the call), owned by the
 * call: it is freed with the call (ferry_rpc_call_set_data), so a cancel callback can
 * never see a freed stream. All sends happen on the bus's dispatcher thread (bus.c):
 * first the snapshot, then events in order, keep-alives when idle. A full transport
 * queue (ferry_rpc_call_send -> FERRY_E_UNAVAILABLE) ends the stream with
 * `unavailable`: the client reconnects and gets a fresh snapshot, so a slow watcher
 * never silently misses a state change.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_agent.h"
#include "hub_fleet.h"

typedef struct watch_stream {
    hub_bus_sub_t sub; /* first: the bus hands us &sub */
    ferry_rpc_call_t *call;
    bool snapshot;        /* WatchRelease: initial_snapshot */
    char license_sha[65]; /* WatchAssignments: the licence document the agent announced */
} watch_stream_t;

static const char STREAM_KEY = 0; /* call-data slot */

static ferry_rpc_code_t send_result(ferry_err_code_t rc, char *msg, size_t size)
{
    if (rc == FERRY_OK)
        return FERRY_RPC_OK;
    if (rc == FERRY_E_UNAVAILABLE) {
        snprintf(msg, size, "watcher too slow: transport queue full; reconnect for a fresh snapshot");
        return FERRY_RPC_UNAVAILABLE;
    }
    snprintf(msg, size, "stream ended");
    return FERRY_RPC_CANCELED;
}

static void end_stream(hub_bus_sub_t *sub, ferry_rpc_code_t code, const char *msg)
{
    watch_stream_t *ws = (watch_stream_t *)sub;
    hub_metrics_stream(sub->hub, -1);
    /* Last touch: the call (and |ws| with it) may be freed once finished. */
    ferry_rpc_call_finish(ws->call, code, code == FERRY_RPC_UNAVAILABLE ? "E_UNAVAILABLE" : NULL, msg);
}

static ferry_rpc_code_t fail_err(const ferry_err_t *err, char *msg, size_t size)
{
    snprintf(msg, size, "%s", err->msg);
    return ferry_rpc_code_from_err(err->code);
}

static Google__Protobuf__Timestamp now_ts(void)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    int64_t ms = hub_now_ms();
    ts.seconds = ms / 1000;
    ts.nanos = (int32_t)(ms % 1000) * 1000000;
    return ts;
}

/* ---- WatchAssignments ----------------------------------------------------------------- */

/* Sends the node's open assignments (|only_task| > 0: that one), halts for held tasks. */
static ferry_rpc_code_t send_assignments(watch_stream_t *ws, int64_t only_task, char *msg, size_t size)
{
    ferry_hub_t *hub = ws->sub.hub;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__Assignment **as = NULL;
    char **halted = NULL;
    size_t n = 0, n_halted = 0;
    ferry_rpc_code_t code = FERRY_RPC_OK;

    if (hub_agent_load_assignments(hub, &a, ws->sub.key, only_task, &as, &n, only_task > 0 ? NULL : &halted,
                                   only_task > 0 ? NULL : &n_halted, &err) != FERRY_OK) {
        code = fail_err(&err, msg, size);
        goto out;
    }
    for (size_t i = 0; code == FERRY_RPC_OK && i < n; i++) {
        Ferry__V1__WatchAssignmentsResponse m = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__INIT;
        if (as[i]->task != NULL && as[i]->task->halted)
            continue; /* held by a paused/canceled release: offered again on resume */
        m.event_case = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_ASSIGNMENT;
        m.assignment = as[i];
        code = send_result(ferry_v1_agent_service_watch_assignments_send(ws->call, &m), msg, size);
    }
    for (size_t i = 0; code == FERRY_RPC_OK && i < n_halted; i++) {
        Ferry__V1__WatchAssignmentsResponse m = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__INIT;
        Ferry__V1__TaskHalt h = FERRY__V1__TASK_HALT__INIT;
        h.task_id = halted[i];
        h.reason = (char *)"paused";
        m.event_case = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_HALT;
        m.halt = &h;
        code = send_result(ferry_v1_agent_service_watch_assignments_send(ws->call, &m), msg, size);
    }
out:
    hub_arena_free(&a);
    return code;
}

static ferry_rpc_code_t wa_keepalive(hub_bus_sub_t *sub, char *msg, size_t size);

/* Sends the node's licence and configuration assignments (hub_fleet.h) |what| names. */
static ferry_rpc_code_t send_fleet(watch_stream_t *ws, unsigned what, char *msg, size_t size)
{
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__WatchAssignmentsResponse **ms = NULL;
    size_t n = 0;
    ferry_rpc_code_t code = FERRY_RPC_OK;

    if (hub_fleet_watch_messages(ws->sub.hub, &a, ws->sub.key, what, ws->license_sha, &ms, &n, &err) !=
        FERRY_OK) {
        code = fail_err(&err, msg, size);
        goto out;
    }
    for (size_t i = 0; code == FERRY_RPC_OK && i < n; i++)
        code = send_result(ferry_v1_agent_service_watch_assignments_send(ws->call, ms[i]), msg, size);
    ws->license_sha[0] = '\0'; /* announced once: later licence events always send */
out:
    hub_arena_free(&a);
    return code;
}

static ferry_rpc_code_t wa_start(hub_bus_sub_t *sub, char *msg, size_t size)
{
    hub_presence_touch(sub->hub, sub->key, NULL);
    ferry_rpc_code_t code = send_assignments((watch_stream_t *)sub, 0, msg, size);
    if (code == FERRY_RPC_OK)
        code = send_fleet((watch_stream_t *)sub, HUB_FLEET_EV_LICENSE | HUB_FLEET_EV_CONFIG, msg, size);
    /* Then one keep-alive at once: the agent knows the stream is established (and shows
     * "streaming") without waiting a whole keep-alive period when nothing is pending. */
    if (code == FERRY_RPC_OK)
        code = wa_keepalive(sub, msg, size);
    return code;
}

static ferry_rpc_code_t wa_deliver(hub_bus_sub_t *sub, const hub_task_event_t *ev, char *msg, size_t size)
{
    /* A licence or configuration change (and, once a node is released from maintenance,
     * its held tasks). */
    if (ev->fleet != 0) {
        ferry_rpc_code_t code = send_fleet((watch_stream_t *)sub, ev->fleet, msg, size);
        if (code == FERRY_RPC_OK && (ev->fleet & HUB_FLEET_EV_TASKS))
            code = send_assignments((watch_stream_t *)sub, 0, msg, size);
        return code;
    }
    /* The node's own progress echoes back here too: only offers interest the agent. */
    if (!ev->new_assignment)
        return FERRY_RPC_OK;
    return send_assignments((watch_stream_t *)sub, ev->task_id, msg, size);
}

static ferry_rpc_code_t wa_keepalive(hub_bus_sub_t *sub, char *msg, size_t size)
{
    watch_stream_t *ws = (watch_stream_t *)sub;
    Ferry__V1__WatchAssignmentsResponse m = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__INIT;
    Ferry__V1__KeepAlive ka = FERRY__V1__KEEP_ALIVE__INIT;
    Google__Protobuf__Timestamp ts = now_ts();
    ka.server_time = &ts;
    m.event_case = FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_KEEP_ALIVE;
    m.keep_alive = &ka;
    /* An open stream is a sign of life (the IDL: online while the stream is open). */
    hub_presence_touch(sub->hub, sub->key, NULL);
    return send_result(ferry_v1_agent_service_watch_assignments_send(ws->call, &m), msg, size);
}

static const hub_bus_sub_ops_t WA_OPS = {wa_start, wa_deliver, wa_keepalive, end_stream};

static void on_cancel(ferry_rpc_call_t *call, void *arg)
{
    (void)call;
    watch_stream_t *ws = arg;
    hub_bus_cancel(ws->sub.hub, &ws->sub);
}

/* Creates the stream of |call|, owned by the call, and subscribes it. */
static void open_stream(ferry_rpc_call_t *call, ferry_hub_t *hub, hub_bus_key_kind_t kind, int64_t key,
                        const hub_bus_sub_ops_t *ops, bool snapshot, const char *license_sha)
{
    watch_stream_t *ws = calloc(1, sizeof(*ws));
    if (ws == NULL) {
        ferry_rpc_call_finish(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "out of memory");
        return;
    }
    ws->call = call;
    ws->snapshot = snapshot;
    if (license_sha != NULL && strlen(license_sha) < sizeof(ws->license_sha))
        memcpy(ws->license_sha, license_sha, strlen(license_sha) + 1);
    ws->sub.ops = ops;
    ws->sub.hub = hub;
    ws->sub.kind = kind;
    ws->sub.key = key;
    ferry_rpc_call_set_data(call, &STREAM_KEY, ws, free);
    hub_metrics_stream(hub, +1);
    hub_bus_subscribe(hub, &ws->sub);
    ferry_rpc_call_on_cancel(call, on_cancel, ws);
}

static void watch_assignments_h(ferry_rpc_call_t *call, const Ferry__V1__WatchAssignmentsRequest *req,
                                void *user)
{
    const hub_principal_t *p = hub_principal(call);
    if (p == NULL || p->kind != HUB_PRINCIPAL_NODE || p->node_id <= 0) {
        ferry_rpc_call_finish(call, FERRY_RPC_UNAUTHENTICATED, "E_AUTH_INVALID", "a node token is required");
        return;
    }
    open_stream(call, user, HUB_BUS_NODE, p->node_id, &WA_OPS, true, req->license_sha256);
}

/* ---- WatchRelease ---------------------------------------------------------------------- */

static ferry_rpc_code_t send_task(watch_stream_t *ws, Ferry__V1__UpdateTask *t, const hub_task_event_t *ev,
                                  bool snapshot_done, char *msg, size_t size)
{
    Ferry__V1__WatchReleaseResponse m = FERRY__V1__WATCH_RELEASE_RESPONSE__INIT;
    Ferry__V1__TaskEvent te = FERRY__V1__TASK_EVENT__INIT;
    Google__Protobuf__Timestamp ts = now_ts();
    if (t != NULL) {
        m.event_case = FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_TASK;
        m.task = t;
    }
    if (ev != NULL) {
        char id[24];
        snprintf(id, sizeof(id), "%" PRId64, ev->task_id);
        te.task_id = id;
        te.sequence = t != NULL ? t->last_sequence : 0;
        te.state = (Ferry__V1__TaskState)ev->state;
        te.error_code = (char *)ev->error_code;
        te.message = (char *)ev->message;
        te.percent = (uint32_t)ev->percent;
        te.bytes_done = ev->bytes;
        te.received_at = &ts;
        te.source = (char *)(ev->new_assignment ? "server" : "agent");
        m.task_event = &te;
        return send_result(ferry_v1_admin_service_watch_release_send(ws->call, &m), msg, size);
    }
    m.snapshot_done = snapshot_done;
    return send_result(ferry_v1_admin_service_watch_release_send(ws->call, &m), msg, size);
}

static ferry_rpc_code_t wr_start(hub_bus_sub_t *sub, char *msg, size_t size)
{
    watch_stream_t *ws = (watch_stream_t *)sub;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__UpdateTask **ts = NULL;
    size_t n = 0;
    ferry_rpc_code_t code = FERRY_RPC_OK;

    /* Loading also proves the release exists (not_found otherwise). */
    if (hub_agent_load_tasks(sub->hub, &a, sub->key, 0, &ts, &n, &err) != FERRY_OK) {
        code = fail_err(&err, msg, size);
        goto out;
    }
    if (!ws->snapshot)
        goto out;
    for (size_t i = 0; code == FERRY_RPC_OK && i < n; i++)
        code = send_task(ws, ts[i], NULL, i + 1 == n, msg, size);
    if (code == FERRY_RPC_OK && n == 0)
        code = send_task(ws, NULL, NULL, true, msg, size);
out:
    hub_arena_free(&a);
    return code;
}

static ferry_rpc_code_t wr_deliver(hub_bus_sub_t *sub, const hub_task_event_t *ev, char *msg, size_t size)
{
    watch_stream_t *ws = (watch_stream_t *)sub;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    Ferry__V1__UpdateTask **ts = NULL;
    size_t n = 0;
    ferry_rpc_code_t code;

    /* The release itself changed (a wave started, it paused by itself, ...): its current form. */
    if (ev->release_changed) {
        Ferry__V1__WatchReleaseResponse m = FERRY__V1__WATCH_RELEASE_RESPONSE__INIT;
        Ferry__V1__Release rel;
        ferry_store_lock(sub->hub->store);
        ferry_err_code_t rc = hub_release_load(sub->hub, &a, sub->key, &rel, &err);
        ferry_store_unlock(sub->hub->store);
        code = FERRY_RPC_OK;
        if (rc == FERRY_OK) {
            m.event_case = FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_RELEASE;
            m.release = &rel;
            code = send_result(ferry_v1_admin_service_watch_release_send(ws->call, &m), msg, size);
        }
        hub_arena_free(&a);
        return code;
    }
    /* The task's full current form, plus the event that changed it. */
    if (hub_agent_load_tasks(sub->hub, &a, sub->key, ev->task_id, &ts, &n, &err) != FERRY_OK || n == 0)
        code = send_task(ws, NULL, ev, false, msg, size);
    else
        code = send_task(ws, ts[0], ev, false, msg, size);
    hub_arena_free(&a);
    return code;
}

static ferry_rpc_code_t wr_keepalive(hub_bus_sub_t *sub, char *msg, size_t size)
{
    watch_stream_t *ws = (watch_stream_t *)sub;
    Ferry__V1__WatchReleaseResponse m = FERRY__V1__WATCH_RELEASE_RESPONSE__INIT;
    Ferry__V1__KeepAlive ka = FERRY__V1__KEEP_ALIVE__INIT;
    Google__Protobuf__Timestamp ts = now_ts();
    ka.server_time = &ts;
    m.event_case = FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_KEEP_ALIVE;
    m.keep_alive = &ka;
    return send_result(ferry_v1_admin_service_watch_release_send(ws->call, &m), msg, size);
}

static const hub_bus_sub_ops_t WR_OPS = {wr_start, wr_deliver, wr_keepalive, end_stream};

static void watch_release_h(ferry_rpc_call_t *call, const Ferry__V1__WatchReleaseRequest *req, void *user)
{
    ferry_err_t err = {0};
    int64_t id = 0;
    if (hub_parse_id(req->id, "id", &id, &err) != FERRY_OK) {
        ferry_rpc_call_finish(call, ferry_rpc_code_from_err(err.code), ferry_err_name(err.code), err.msg);
        return;
    }
    open_stream(call, user, HUB_BUS_RELEASE, id, &WR_OPS, req->initial_snapshot, NULL);
}

void hub_watch_bind(ferry_hub_t *hub)
{
    hub->agent.watch_assignments = watch_assignments_h;
    hub->admin.watch_release = watch_release_h;
}
