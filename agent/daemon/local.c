/*
 * LocalService (idl/ferry/v1/local.proto) on 127.0.0.1 for the tray and
 * `ferry-agent status`. Every call must carry `authorization: Bearer <local secret>`;
 * the secret is `{state_dir}/local.secret` (0600, 32 random bytes as hex, made anew at
 * each start) and only its SHA-256 is kept in memory, compared in constant time. The
 * endpoint is written to `{state_dir}/local.json`.
 *
 * Handlers run on the server's worker pool (ferry_rpc_call_offload): they touch SQLite
 * and may wait (CheckForUpdates, WatchStatus).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentd.h"
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/v1/local.ferry-server.h"
#include "nodecfg.h"
#include "verify.h"

#define MAX_WATCHERS 4

/* Formats a path; false when it did not fit (the caller skips or fails). */
#define PATHF(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

static agentd_t *g_local_ad; /* one daemon per process */
static int g_watchers;

/* ---- auth ------------------------------------------------------------------------------ */

static ferry_rpc_code_t auth_before(ferry_rpc_call_t *call, void *user, char *app_code, size_t app_code_size,
                                    char *msg, size_t msg_size)
{
    agentd_t *ad = user;
    const char *h = ferry_rpc_call_header(call, "authorization");
    char hex[65];
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0) {
        snprintf(app_code, app_code_size, "E_AUTH_INVALID");
        snprintf(msg, msg_size, "local API: missing 'authorization: Bearer <secret from local.secret>'");
        return FERRY_RPC_UNAUTHENTICATED;
    }
    ferry_sha256_hex(h + 7, strlen(h + 7), hex);
    if (!ferry_ct_equal(hex, ad->local_secret_hash, 64)) {
        snprintf(app_code, app_code_size, "E_AUTH_INVALID");
        snprintf(msg, msg_size, "local API: wrong local secret");
        return FERRY_RPC_UNAUTHENTICATED;
    }
    return FERRY_RPC_OK;
}

/* ---- status ------------------------------------------------------------------------------ */

static void set_ts(Google__Protobuf__Timestamp *t, int64_t ms)
{
    google__protobuf__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
}

static char *dup_s(const char *s);

/* The cached licence as the agent judges it now (offline rule), for the tray. */
static Ferry__V1__License *license_proto(const agentd_license_t *l)
{
    Ferry__V1__License *p = NULL;
    if (!l->have || (p = malloc(sizeof(*p))) == NULL)
        return NULL;
    ferry__v1__license__init(p);
    agentd_license_state_t st = agentd_license_eval(l, agentd_now_ms());
    p->id = dup_s(l->license_id);
    p->license_key = dup_s(l->license_key);
    p->node_code = dup_s(l->node_code);
    p->status = (Ferry__V1__LicenseStatus)st.status;
    p->expiring = st.expiring;
    p->revision = l->revision;
    if ((p->starts_at = malloc(sizeof(*p->starts_at))) != NULL)
        set_ts(p->starts_at, l->starts_ms);
    if ((p->ends_at = malloc(sizeof(*p->ends_at))) != NULL)
        set_ts(p->ends_at, l->ends_ms);
    if ((p->offline_grace = malloc(sizeof(*p->offline_grace))) != NULL) {
        google__protobuf__duration__init(p->offline_grace);
        p->offline_grace->seconds = l->grace_ms / 1000;
    }
    return p;
}

/* The configuration assignment finished last, for the tray. */
static Ferry__V1__ConfigAssignment *config_proto(const agentd_cfg_job_t *j)
{
    Ferry__V1__ConfigAssignment *p = malloc(sizeof(*p));
    if (p == NULL)
        return NULL;
    ferry__v1__config_assignment__init(p);
    p->id = dup_s(j->id);
    p->template_name = dup_s(j->template_name);
    p->template_version = j->template_version;
    p->state = (Ferry__V1__ConfigAssignmentState)j->state;
    p->error_message = dup_s(j->error);
    if ((p->applied_at = malloc(sizeof(*p->applied_at))) != NULL)
        set_ts(p->applied_at, j->done_ms);
    if ((p->template_ = malloc(sizeof(*p->template_))) != NULL) {
        ferry__v1__config_template__init(p->template_);
        p->template_->name = dup_s(j->template_name);
        p->template_->version = j->template_version;
        p->template_->target_path = dup_s(j->target);
        p->template_->restart_service = j->restart;
    }
    return p;
}

static char *dup_s(const char *s)
{
    return strdup(s != NULL ? s : "");
}

static Ferry__V1__UpdateTask *task_proto(const agentd_task_t *t)
{
    Ferry__V1__UpdateTask *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    ferry__v1__update_task__init(u);
    u->id = dup_s(t->id);
    u->release_id = dup_s(t->release_id);
    u->kind = (Ferry__V1__TaskKind)t->kind;
    u->package_version = dup_s(t->version);
    u->policy = (Ferry__V1__ReleasePolicy)t->policy;
    u->state = (Ferry__V1__TaskState)(t->last_state > 0 ? t->last_state : 10);
    u->error_code = dup_s(t->error_code);
    u->message = dup_s(t->description);
    u->percent = t->percent > 0 ? (uint32_t)t->percent : 0;
    u->halted = t->halted;
    u->attempt = t->attempt; /* the tray sees which attempt of a retried task runs */
    u->node_code = dup_s("");
    u->store_code = dup_s("");
    u->customer_code = dup_s("");
    u->backup_local_path = dup_s("");
    u->server_dir = dup_s("");
    u->client_dir = dup_s("");
    u->rollback_of_task_id = dup_s("");
    u->checkpoint = dup_s("");
    if (t->deadline_ms > 0 && (u->deadline = malloc(sizeof(*u->deadline))) != NULL)
        set_ts(u->deadline, t->deadline_ms);
    if (t->created_ms > 0 && (u->created_at = malloc(sizeof(*u->created_at))) != NULL)
        set_ts(u->created_at, t->created_ms);
    return u;
}

/* Messages built here are freed with protobuf_c_message_free_unpacked, so every
 * string and sub-message is malloc'ed (that is what the unpacker would have done). */
Ferry__V1__AgentStatus *agentd_status_build(agentd_t *ad)
{
    Ferry__V1__AgentStatus *s = calloc(1, sizeof(*s));
    agentd_task_t tasks[64];
    size_t n = 0;
    if (s == NULL)
        return NULL;
    ferry__v1__agent_status__init(s);
    (void)agentd_store_list_tasks(ad->store, tasks, 64, &n, 0, NULL);
    unsigned buffered = agentd_store_outbox_count(ad->store);
    pthread_mutex_lock(&ad->mu);
    s->bound = ad->bound;
    s->node_code = dup_s(ad->bound ? ad->binding.node_code : "");
    s->environment = (Ferry__V1__Environment)(ad->bound ? ad->binding.environment : 0);
    s->customer_code = dup_s(ad->bound ? ad->binding.customer_code : "");
    s->store_code = dup_s(ad->bound ? ad->binding.store_code : "");
    s->server_url = dup_s(ad->bound ? ad->binding.server_url : "");
    s->link = (Ferry__V1__ServerLink)(ad->bound ? ad->link : AGENTD_LINK_UNBOUND);
    if (ad->last_contact_ms > 0 && (s->last_contact_at = malloc(sizeof(*s->last_contact_at))) != NULL)
        set_ts(s->last_contact_at, ad->last_contact_ms);
    s->last_error = dup_s(ad->cfg == NULL && ad->cfg_error[0] ? ad->cfg_error : ad->last_error);
    s->agent_version = dup_s(AGENTD_VERSION);
    s->installed_version = dup_s(ad->installed_version);
    s->node_config_version = ad->cfg != NULL ? ad->cfg->config_version : 0;
    char cur[AGENTD_ID_MAX];
    int cur_state = ad->current_state, cur_pct = ad->current_percent;
    char cur_msg[256];
    snprintf(cur, sizeof(cur), "%s", ad->current_task);
    snprintf(cur_msg, sizeof(cur_msg), "%s", ad->current_message);
    if (ad->have_last_done) {
        agentd_task_t ld = ad->last_done;
        snprintf(ld.description, sizeof(ld.description), "%s", ad->last_done_message);
        if ((s->last_task = task_proto(&ld)) != NULL) {
            free(s->last_task->backup_local_path);
            s->last_task->backup_local_path = dup_s(ad->last_done_backup);
            if ((s->last_task->finished_at = malloc(sizeof(*s->last_task->finished_at))) != NULL)
                set_ts(s->last_task->finished_at, ad->last_done_ms);
        }
    }
    agentd_license_t lic = ad->license;
    if (ad->have_last_cfg)
        s->last_config = config_proto(&ad->last_cfg);
    pthread_mutex_unlock(&ad->mu);
    s->license = license_proto(&lic);
    s->buffered_reports = buffered;
    s->pending_count = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        if (tasks[i].prompt == AGENTD_PROMPT_WAITING && !tasks[i].halted)
            s->prompt_waiting = true;
        if (cur[0] != '\0' && strcmp(tasks[i].id, cur) == 0) {
            tasks[i].last_state = cur_state;
            tasks[i].percent = cur_pct;
            snprintf(tasks[i].description, sizeof(tasks[i].description), "%s", cur_msg);
            s->current_task = task_proto(&tasks[i]);
        }
    }
    return s;
}

void agentd_status_free(Ferry__V1__AgentStatus *st)
{
    if (st != NULL)
        protobuf_c_message_free_unpacked(&st->base, NULL);
}

static void get_status_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    Ferry__V1__GetStatusResponse r = FERRY__V1__GET_STATUS_RESPONSE__INIT;
    r.status = agentd_status_build(ad);
    if (r.status == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "out of memory");
        return;
    }
    ferry_v1_local_service_get_status_reply(call, &r);
    agentd_status_free(r.status);
}

static void get_status_h(ferry_rpc_call_t *call, const Ferry__V1__GetStatusRequest *req, void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, get_status_work, user);
}

static void watch_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__WatchStatusRequest *req = ferry_rpc_call_get_data(call, &g_watchers);
    int64_t ka_ms = 25000;
    if (req != NULL && req->keep_alive != NULL && req->keep_alive->seconds > 0)
        ka_ms = req->keep_alive->seconds * 1000;
    if (ka_ms < 1000)
        ka_ms = 1000;
    if (ka_ms > 300000)
        ka_ms = 300000;
    uint64_t sent_gen = UINT64_MAX;
    int64_t last_send = 0;
    for (;;) {
        pthread_mutex_lock(&ad->mu);
        uint64_t gen = ad->status_gen;
        if (gen == sent_gen && !ad->stop && !ferry_rpc_call_is_canceled(call)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = sent_gen == UINT64_MAX ? 0 : ka_ms;
            /* Short sleeps so a canceled peer frees the worker quickly. */
            if (wait > 1000)
                wait = 1000;
            ts.tv_sec += wait / 1000;
            pthread_cond_timedwait(&ad->status_cv, &ad->mu, &ts);
            gen = ad->status_gen;
        }
        int stop = ad->stop;
        pthread_mutex_unlock(&ad->mu);
        if (stop || ferry_rpc_call_is_canceled(call))
            break;
        Ferry__V1__WatchStatusResponse m = FERRY__V1__WATCH_STATUS_RESPONSE__INIT;
        if (gen != sent_gen) {
            Ferry__V1__AgentStatus *st = agentd_status_build(ad);
            if (st == NULL)
                break;
            m.event_case = FERRY__V1__WATCH_STATUS_RESPONSE__EVENT_STATUS;
            m.status = st;
            ferry_err_code_t rc = ferry_v1_local_service_watch_status_send(call, &m);
            agentd_status_free(st);
            if (rc == FERRY_E_CANCELED)
                break;
            sent_gen = gen;
            last_send = agentd_now_ms();
        } else if (agentd_now_ms() - last_send >= ka_ms) {
            Ferry__V1__KeepAlive ka = FERRY__V1__KEEP_ALIVE__INIT;
            Google__Protobuf__Timestamp now;
            set_ts(&now, agentd_now_ms());
            ka.server_time = &now;
            m.event_case = FERRY__V1__WATCH_STATUS_RESPONSE__EVENT_KEEP_ALIVE;
            m.keep_alive = &ka;
            if (ferry_v1_local_service_watch_status_send(call, &m) == FERRY_E_CANCELED)
                break;
            last_send = agentd_now_ms();
        }
    }
    pthread_mutex_lock(&ad->mu);
    g_watchers--;
    pthread_mutex_unlock(&ad->mu);
    ferry_rpc_call_finish(call, FERRY_RPC_OK, NULL, NULL);
}

static void watch_status_h(ferry_rpc_call_t *call, const Ferry__V1__WatchStatusRequest *req, void *user)
{
    agentd_t *ad = user;
    pthread_mutex_lock(&ad->mu);
    bool full = g_watchers >= MAX_WATCHERS;
    if (!full)
        g_watchers++;
    pthread_mutex_unlock(&ad->mu);
    if (full) {
        ferry_rpc_call_finish(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL,
                              "too many status watchers (at most 4): close one first");
        return;
    }
    ferry_rpc_call_set_data(call, &g_watchers, (void *)req, NULL);
    ferry_rpc_call_offload(call, watch_work, ad);
}

/* ---- bind / unbind ------------------------------------------------------------------------ */

static void bind_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__LocalBindRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    ferry_err_t err = {0};
    agentd_binding_t b;
    if (agentd_bind(ad->state_dir, req->server_url, req->node_code, (int)req->environment, req->token,
                    req->ca_file, req->pin_sha256, &b, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        return;
    }
    pthread_mutex_lock(&ad->mu);
    ad->binding = b;
    snprintf(ad->token, sizeof(ad->token), "%s", req->token);
    ad->bound = true;
    ad->link = AGENTD_LINK_OFFLINE;
    ad->beat_now = 1;
    (void)agentd_clients_rebuild_locked(ad, &err);
    pthread_mutex_unlock(&ad->mu);
    agentd_log("bound to %s as node %s (via the local API)", b.server_url, b.node_code);
    Ferry__V1__LocalBindResponse r = FERRY__V1__LOCAL_BIND_RESPONSE__INIT;
    Ferry__V1__Node node = FERRY__V1__NODE__INIT;
    node.code = b.node_code;
    node.name = b.node_name;
    node.customer_code = b.customer_code;
    node.store_code = b.store_code;
    node.environment = (Ferry__V1__Environment)b.environment;
    r.node = &node;
    r.status = agentd_status_build(ad);
    ferry_v1_local_service_bind_reply(call, &r);
    agentd_status_free(r.status);
}

static void bind_h(ferry_rpc_call_t *call, const Ferry__V1__LocalBindRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, bind_work, user);
}

static void unbind_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    ferry_err_t err = {0};
    if (agentd_binding_remove(ad->state_dir, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        return;
    }
    pthread_mutex_lock(&ad->mu);
    ad->bound = false;
    explicit_bzero(ad->token, sizeof(ad->token));
    ad->link = AGENTD_LINK_UNBOUND;
    (void)agentd_clients_rebuild_locked(ad, &err);
    pthread_mutex_unlock(&ad->mu);
    agentd_log("unbound (via the local API)");
    Ferry__V1__UnbindResponse r = FERRY__V1__UNBIND_RESPONSE__INIT;
    r.status = agentd_status_build(ad);
    ferry_v1_local_service_unbind_reply(call, &r);
    agentd_status_free(r.status);
}

static void unbind_h(ferry_rpc_call_t *call, const Ferry__V1__UnbindRequest *req, void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, unbind_work, user);
}

/* ---- node configuration --------------------------------------------------------------------- */

static void get_cfg_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    ferry_err_t err = {0};
    Ferry__V1__GetLocalNodeConfigResponse r = FERRY__V1__GET_LOCAL_NODE_CONFIG_RESPONSE__INIT;
    ferry_node_config_t *def = NULL;
    char up[32];
    Google__Protobuf__Timestamp at;
    pthread_mutex_lock(&ad->mu);
    const ferry_node_config_t *cfg = ad->cfg;
    ferry_err_code_t rc = FERRY_OK;
    if (cfg == NULL && (rc = ferry_node_config_new_default(&def, &err)) == FERRY_OK)
        cfg = def;
    if (rc == FERRY_OK)
        rc = agentd_nodecfg_to_proto(cfg, &r.config, &err);
    pthread_mutex_unlock(&ad->mu);
    if (rc != FERRY_OK) {
        ferry_node_config_free(def);
        ferry_rpc_call_fail_err(call, &err);
        return;
    }
    r.path = ad->config_path;
    r.exists = ferry_fs_exists(ad->config_path) != 0;
    (void)agentd_store_kv_get(ad->store, "node_config_uploaded_ms", up, sizeof(up), NULL);
    if (up[0] != '\0') {
        set_ts(&at, strtoll(up, NULL, 10));
        r.uploaded_at = &at;
    }
    (void)agentd_store_kv_get(ad->store, "node_config_uploaded_version", up, sizeof(up), NULL);
    r.uploaded_version = strtoll(up, NULL, 10);
    ferry_v1_local_service_get_node_config_reply(call, &r);
    protobuf_c_message_free_unpacked(&r.config->base, NULL);
    ferry_node_config_free(def);
}

static void get_cfg_h(ferry_rpc_call_t *call, const Ferry__V1__GetLocalNodeConfigRequest *req, void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, get_cfg_work, user);
}

typedef struct issues_out {
    Ferry__V1__ConfigIssue items[AGENTD_MAX_CFG_ISSUES];
    Ferry__V1__ConfigIssue *ptrs[AGENTD_MAX_CFG_ISSUES];
    agentd_cfg_issue_t raw[AGENTD_MAX_CFG_ISSUES];
    size_t n;
    bool blocking;
} issues_out_t;

static void issues_fill(issues_out_t *o, const Ferry__V1__NodeConfig *pc, agentd_t *ad, bool deep)
{
    pthread_mutex_lock(&ad->mu);
    o->n = agentd_nodecfg_validate(pc, ad->cfg, deep, o->raw);
    pthread_mutex_unlock(&ad->mu);
    o->blocking = false;
    for (size_t i = 0; i < o->n; i++) {
        ferry__v1__config_issue__init(&o->items[i]);
        o->items[i].field = o->raw[i].field;
        o->items[i].message = o->raw[i].message;
        o->items[i].blocking = o->raw[i].blocking;
        o->ptrs[i] = &o->items[i];
        if (o->raw[i].blocking)
            o->blocking = true;
    }
}

static void validate_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__ValidateNodeConfigRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    Ferry__V1__ValidateNodeConfigResponse r = FERRY__V1__VALIDATE_NODE_CONFIG_RESPONSE__INIT;
    issues_out_t *io = calloc(1, sizeof(*io));
    if (io == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "out of memory");
        return;
    }
    if (req->config == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "config is required");
        free(io);
        return;
    }
    issues_fill(io, req->config, ad, req->deep);
    r.ok = !io->blocking;
    r.n_issues = io->n;
    r.issues = io->ptrs;
    ferry_v1_local_service_validate_node_config_reply(call, &r);
    free(io);
}

static void validate_h(ferry_rpc_call_t *call, const Ferry__V1__ValidateNodeConfigRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, validate_work, user);
}

static void save_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__SaveNodeConfigRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    Ferry__V1__SaveNodeConfigResponse r = FERRY__V1__SAVE_NODE_CONFIG_RESPONSE__INIT;
    ferry_err_t err = {0};
    char *json = NULL;
    ferry_node_config_t *parsed = NULL;
    Ferry__V1__NodeConfig *pc = NULL, *saved = NULL;
    issues_out_t *io = calloc(1, sizeof(*io));
    if (io == NULL || req->config == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "config is required");
        goto out;
    }
    pthread_mutex_lock(&ad->mu);
    bool busy = ad->current_task[0] != '\0' && ad->current_state >= 50;
    int64_t cur_version = ad->cfg != NULL ? ad->cfg->config_version : 0;
    pthread_mutex_unlock(&ad->mu);
    if (busy) {
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_PRECONDITION",
                            "an update is running: the node configuration cannot change until it ends");
        goto out;
    }
    {
        /* A private copy: config_version may be filled in. */
        size_t len = ferry__v1__node_config__get_packed_size(req->config);
        uint8_t *buf = malloc(len > 0 ? len : 1);
        if (buf != NULL) {
            ferry__v1__node_config__pack(req->config, buf);
            pc = ferry__v1__node_config__unpack(NULL, len, buf);
            free(buf);
        }
    }
    if (pc == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, "E_NOMEM", "out of memory");
        goto out;
    }
    if (pc->config_version == 0)
        pc->config_version = cur_version + 1;
    issues_fill(io, pc, ad, false);
    r.n_issues = io->n;
    r.issues = io->ptrs;
    if (!io->blocking && pc->config_version <= cur_version) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG",
                            "config_version %lld must be above the current %lld (0 = next)",
                            (long long)pc->config_version, (long long)cur_version);
        goto out;
    }
    if (io->blocking) {
        r.saved = false;
        ferry_v1_local_service_save_node_config_reply(call, &r);
        goto out;
    }
    pthread_mutex_lock(&ad->mu);
    ferry_err_code_t rc = agentd_nodecfg_to_json(pc, ad->cfg, &json, &err);
    pthread_mutex_unlock(&ad->mu);
    if (rc != FERRY_OK || ferry_node_config_parse(json, strlen(json), &parsed, &err) != FERRY_OK ||
        ferry_fs_write_atomic(ad->config_path, json, strlen(json), 0600, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    /* The work loop loads the saved file between tasks (it owns the configuration in
     * effect); the reply describes what was saved. */
    pthread_mutex_lock(&ad->mu);
    ad->wake = 1;
    pthread_cond_broadcast(&ad->cv);
    pthread_mutex_unlock(&ad->mu);
    (void)agentd_nodecfg_to_proto(parsed, &saved, NULL);
    char *dump = NULL;
    (void)ferry_node_config_dump_effective(parsed, &dump, NULL);
    agentd_log("node-config.json saved (configVersion %lld)", (long long)pc->config_version);
    if (!req->skip_upload && dump != NULL) {
        agentd_nodecfg_upload_if_changed(ad, dump);
        r.upload_error = (char *)"queued: uploaded in the background when the server is reachable";
    } else {
        r.upload_error = (char *)(req->skip_upload ? "skipped (skip_upload)" : "");
    }
    free(dump);
    r.saved = true;
    r.config = saved;
    ferry_v1_local_service_save_node_config_reply(call, &r);
out:
    if (saved != NULL)
        protobuf_c_message_free_unpacked(&saved->base, NULL);
    if (pc != NULL)
        protobuf_c_message_free_unpacked(&pc->base, NULL);
    ferry_node_config_free(parsed);
    free(json);
    free(io);
}

static void save_h(ferry_rpc_call_t *call, const Ferry__V1__SaveNodeConfigRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, save_work, user);
}

/* ---- pending updates, prompt, manual update ------------------------------------------------------ */

typedef struct pending_out {
    Ferry__V1__PendingUpdate *items[64];
    size_t n;
} pending_out_t;

static Ferry__V1__PendingUpdate *pending_proto(agentd_t *ad, const agentd_task_t *t)
{
    Ferry__V1__PendingUpdate *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    ferry__v1__pending_update__init(p);
    p->task = task_proto(t);
    p->prompt =
        (Ferry__V1__PromptState)(t->policy == AGENTD_POLICY_OPTIONAL ? t->prompt : AGENTD_PROMPT_NONE);
    if (t->prompt == AGENTD_PROMPT_DEFERRED &&
        (p->deferred_until = malloc(sizeof(*p->deferred_until))) != NULL)
        set_ts(p->deferred_until, t->deferred_until_ms);
    p->size = t->size;
    p->ready = t->phase == AGENTD_PHASE_READY;
    p->description = dup_s(t->description);
    (void)ad;
    return p;
}

static void pending_fill(agentd_t *ad, pending_out_t *o)
{
    agentd_task_t tasks[64];
    size_t n = 0;
    o->n = 0;
    (void)agentd_store_list_tasks(ad->store, tasks, 64, &n, 0, NULL);
    for (size_t i = 0; i < n; i++)
        if ((o->items[o->n] = pending_proto(ad, &tasks[i])) != NULL)
            o->n++;
}

static void pending_free(pending_out_t *o)
{
    for (size_t i = 0; i < o->n; i++)
        protobuf_c_message_free_unpacked(&o->items[i]->base, NULL);
}

static void list_pending_work(ferry_rpc_call_t *call, void *arg)
{
    pending_out_t o;
    Ferry__V1__ListPendingUpdatesResponse r = FERRY__V1__LIST_PENDING_UPDATES_RESPONSE__INIT;
    pending_fill(arg, &o);
    r.n_updates = o.n;
    r.updates = o.items;
    ferry_v1_local_service_list_pending_updates_reply(call, &r);
    pending_free(&o);
}

static void list_pending_h(ferry_rpc_call_t *call, const Ferry__V1__ListPendingUpdatesRequest *req,
                           void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, list_pending_work, user);
}

void agentd_check_now(agentd_t *ad, int ms)
{
    pthread_mutex_lock(&ad->mu);
    ad->beat_now = 1;
    pthread_cond_broadcast(&ad->status_cv);
    int64_t until = agentd_now_ms() + ms;
    while (ad->beat_now && !ad->stop && agentd_now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ad->status_cv, &ad->mu, &ts);
    }
    pthread_mutex_unlock(&ad->mu);
}

static void check_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    pending_out_t o;
    Ferry__V1__CheckForUpdatesResponse r = FERRY__V1__CHECK_FOR_UPDATES_RESPONSE__INIT;
    pthread_mutex_lock(&ad->mu);
    bool bound = ad->bound;
    pthread_mutex_unlock(&ad->mu);
    if (!bound) {
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_PRECONDITION", "not bound: bind first");
        return;
    }
    agentd_check_now(ad, 10000);
    pending_fill(ad, &o);
    r.n_updates = o.n;
    r.updates = o.items;
    ferry_v1_local_service_check_for_updates_reply(call, &r);
    pending_free(&o);
}

static void check_h(ferry_rpc_call_t *call, const Ferry__V1__CheckForUpdatesRequest *req, void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, check_work, user);
}

static void respond_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__RespondToPromptRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    ferry_err_t err = {0};
    agentd_task_t t;
    int64_t defer_ms = 0;
    if (req->defer_for != NULL)
        defer_ms = req->defer_for->seconds * 1000 + req->defer_for->nanos / 1000000;
    if (agentd_answer(ad, req->task_id, (int)req->choice, defer_ms, &t, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        return;
    }
    Ferry__V1__RespondToPromptResponse r = FERRY__V1__RESPOND_TO_PROMPT_RESPONSE__INIT;
    r.update = pending_proto(ad, &t);
    ferry_v1_local_service_respond_to_prompt_reply(call, &r);
    if (r.update != NULL)
        protobuf_c_message_free_unpacked(&r.update->base, NULL);
}

static void respond_h(ferry_rpc_call_t *call, const Ferry__V1__RespondToPromptRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, respond_work, user);
}

static void manual_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__StartManualUpdateRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    ferry_err_t err = {0};
    agentd_task_t t;
    char id[AGENTD_ID_MAX];
    snprintf(id, sizeof(id), "%s", req->task_id != NULL ? req->task_id : "");
    if (id[0] == '\0') {
        agentd_task_t tasks[64];
        size_t n = 0;
        (void)agentd_store_list_tasks(ad->store, tasks, 64, &n, 0, NULL);
        for (size_t i = 0; i < n && id[0] == '\0'; i++)
            if (!tasks[i].halted && tasks[i].kind == AGENTD_KIND_UPDATE)
                memcpy(id, tasks[i].id, sizeof(id));
        if (id[0] == '\0') {
            ferry_rpc_call_fail(call, FERRY_RPC_NOT_FOUND, "E_NOT_FOUND", "no pending update on this node");
            return;
        }
    }
    if (agentd_answer(ad, id, AGENTD_CHOICE_NOW, 0, &t, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        return;
    }
    Ferry__V1__StartManualUpdateResponse r = FERRY__V1__START_MANUAL_UPDATE_RESPONSE__INIT;
    r.task = task_proto(&t);
    ferry_v1_local_service_start_manual_update_reply(call, &r);
    if (r.task != NULL)
        protobuf_c_message_free_unpacked(&r.task->base, NULL);
}

static void manual_h(ferry_rpc_call_t *call, const Ferry__V1__StartManualUpdateRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, manual_work, user);
}

/* ---- offline package ---------------------------------------------------------------------------- */

/* Reads a SignedManifest file: binary protobuf, or proto3 JSON as `ferry package export` writes. */
static Ferry__V1__SignedManifest *read_manifest(const char *path, ferry_err_t *err)
{
    char *data = NULL;
    size_t len = 0;
    Ferry__V1__SignedManifest *m = NULL;
    if (ferry_fs_read_file(path, 1u << 20, &data, &len, err) != FERRY_OK)
        return NULL;
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
        i++;
    if (i < len && data[i] == '{') {
        ProtobufCMessage *msg = NULL;
        if (ferry_json_decode(&ferry__v1__signed_manifest__descriptor, data, len, &msg, err) == FERRY_OK)
            m = (Ferry__V1__SignedManifest *)msg;
    } else if ((m = ferry__v1__signed_manifest__unpack(NULL, len, (const uint8_t *)data)) == NULL) {
        ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "%s is not a signed manifest (JSON or binary)", path);
    }
    free(data);
    return m;
}

static void offline_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    const Ferry__V1__ApplyOfflinePackageRequest *req = ferry_rpc_call_get_data(call, &g_local_ad);
    ferry_err_t err = {0};
    Ferry__V1__SignedManifest *sm = NULL;
    agentd_manifest_t man;
    agentd_task_t t;
    char hex[65], dst[AGENTD_PATH_MAX], installed[64];
    uint8_t rnd[8];
    memset(&t, 0, sizeof(t));
    pthread_mutex_lock(&ad->mu);
    agentd_binding_t b = ad->binding;
    bool bound = ad->bound, have_cfg = ad->cfg != NULL;
    snprintf(installed, sizeof(installed), "%s", ad->installed_version);
    char temp[AGENTD_PATH_MAX];
    snprintf(temp, sizeof(temp), "%s", have_cfg ? ad->cfg->paths.temp_dir : "");
    pthread_mutex_unlock(&ad->mu);
    if (!bound) {
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_PRECONDITION",
                            "not bound: the signing keys to verify the package come from binding");
        goto out;
    }
    if (!have_cfg) {
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_PRECONDITION",
                            "node-config.json is missing or invalid: fix it before applying a package");
        goto out;
    }
    if (req->package_path == NULL || req->package_path[0] != '/' || req->manifest_path == NULL ||
        req->manifest_path[0] != '/') {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG",
                            "package_path and manifest_path must be absolute paths");
        goto out;
    }
    if ((sm = read_manifest(req->manifest_path, &err)) == NULL) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    /* Signature before anything else; then the file's digest against the signed one. */
    agentd_expect_t ex = {.task_id = "",
                          .node_code = "",
                          .customer_code = b.customer_code,
                          .version = "",
                          .sha256 = "",
                          .installed_version = installed,
                          .now_ms = agentd_now_ms()};
    if (agentd_verify_manifest(b.keys, b.n_keys, sm->key_id ? sm->key_id : "", sm->manifest.data,
                               sm->manifest.len, sm->signature.data, sm->signature.len, &ex, &man,
                               &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    if (ferry_sha256_file(req->package_path, hex, NULL, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    if (strcmp(hex, man.sha256) != 0) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_HASH_MISMATCH",
                            "package SHA-256 %.16s... does not match the signed manifest's %.16s...", hex,
                            man.sha256);
        goto out;
    }
    if (ferry_random_bytes(rnd, sizeof(rnd), &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    snprintf(t.id, sizeof(t.id), "local-");
    ferry_hex_encode(rnd, sizeof(rnd), t.id + 6);
    t.kind = AGENTD_KIND_UPDATE;
    t.policy = AGENTD_POLICY_FORCED;
    snprintf(t.version, sizeof(t.version), "%s", man.version);
    snprintf(t.description, sizeof(t.description), "offline package %s", man.version);
    t.created_ms = agentd_now_ms();
    t.phase = AGENTD_PHASE_READY;
    t.prompt = AGENTD_PROMPT_NONE;
    t.last_state = 30;
    t.size = man.size;
    /* The work loop applies {tempDir}/ferry-dl-{id}.zip: copy it there (the original may be on
     * removable media), then re-check the copy's digest. */
    if (!PATHF(dst, "%s/ferry-dl-%s.zip", temp, t.id)) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "tempDir path too long");
        goto out;
    }
    {
        char *data = NULL;
        size_t len = 0;
        if (ferry_fs_read_file(req->package_path, (size_t)man.size + 1, &data, &len, &err) != FERRY_OK ||
            ferry_fs_write_atomic(dst, data, len, 0600, &err) != FERRY_OK) {
            free(data);
            ferry_rpc_call_fail_err(call, &err);
            goto out;
        }
        free(data);
    }
    if (agentd_store_save_task(ad->store, &t, &err) != FERRY_OK) {
        ferry_rpc_call_fail_err(call, &err);
        goto out;
    }
    agentd_log("task %s: offline package %s verified; applying", t.id, man.version);
    pthread_mutex_lock(&ad->mu);
    ad->wake = 1;
    pthread_cond_broadcast(&ad->cv);
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    Ferry__V1__ApplyOfflinePackageResponse r = FERRY__V1__APPLY_OFFLINE_PACKAGE_RESPONSE__INIT;
    r.task = task_proto(&t);
    ferry_v1_local_service_apply_offline_package_reply(call, &r);
    if (r.task != NULL)
        protobuf_c_message_free_unpacked(&r.task->base, NULL);
out:
    if (sm != NULL)
        protobuf_c_message_free_unpacked(&sm->base, NULL);
}

static void offline_h(ferry_rpc_call_t *call, const Ferry__V1__ApplyOfflinePackageRequest *req, void *user)
{
    ferry_rpc_call_set_data(call, &g_local_ad, (void *)req, NULL);
    ferry_rpc_call_offload(call, offline_work, user);
}

/* ---- backups --------------------------------------------------------------------------------- */

static uint64_t du(const char *path, int depth)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return 0;
    if (!S_ISDIR(sb.st_mode) || depth > 32)
        return S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    uint64_t total = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    char p[AGENTD_PATH_MAX];
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (PATHF(p, "%s/%s", path, e->d_name))
            total += du(p, depth + 1);
    }
    closedir(d);
    return total;
}

static void backups_work(ferry_rpc_call_t *call, void *arg)
{
    agentd_t *ad = arg;
    Ferry__V1__ListBackupsResponse r = FERRY__V1__LIST_BACKUPS_RESPONSE__INIT;
    Ferry__V1__LocalBackup *items[256];
    size_t n = 0;
    char root[AGENTD_PATH_MAX], cbn[128], dbn[128];
    pthread_mutex_lock(&ad->mu);
    if (ad->cfg == NULL) {
        pthread_mutex_unlock(&ad->mu);
        ferry_rpc_call_fail(call, FERRY_RPC_FAILED_PRECONDITION, "E_PRECONDITION",
                            "node-config.json is missing or invalid: no backup root known");
        return;
    }
    snprintf(root, sizeof(root), "%s", ad->cfg->paths.backup_root);
    snprintf(cbn, sizeof(cbn), "%s", ad->cfg->backup.client_backup_file_name);
    snprintf(dbn, sizeof(dbn), "%s", ad->cfg->backup.db.backup_file_name);
    r.retention_n = ad->cfg->backup.retention_n;
    pthread_mutex_unlock(&ad->mu);
    DIR *d = opendir(root);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL && n < 256) {
        char p[AGENTD_PATH_MAX], q[AGENTD_PATH_MAX];
        struct stat sb;
        if (e->d_name[0] == '.')
            continue;
        if (!PATHF(p, "%s/%s", root, e->d_name) || stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        Ferry__V1__LocalBackup *b = calloc(1, sizeof(*b));
        if (b == NULL)
            break;
        ferry__v1__local_backup__init(b);
        /* "{version}" or "{version}_{yyyyMMddHHmmss}" (seed 000 §0.5). */
        char ver[256];
        snprintf(ver, sizeof(ver), "%s", e->d_name);
        char *us = strrchr(ver, '_');
        if (us != NULL && strlen(us + 1) == 14 && strspn(us + 1, "0123456789") == 14)
            *us = '\0';
        b->version = dup_s(ver);
        b->path = dup_s(p);
        b->task_id = dup_s("");
        if ((b->created_at = malloc(sizeof(*b->created_at))) != NULL)
            set_ts(b->created_at, (int64_t)sb.st_mtime * 1000);
        b->size = du(p, 0);
        bool ok = PATHF(q, "%s/server", p) && ferry_fs_is_dir(q);
        ok = ok && PATHF(q, "%s/%s", p, cbn) && ferry_fs_exists(q);
        b->complete = ok && PATHF(q, "%s/%s", p, dbn) && ferry_fs_exists(q);
        items[n++] = b;
    }
    if (d != NULL)
        closedir(d);
    /* Newest first. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && items[j]->created_at && items[j - 1]->created_at &&
                           items[j]->created_at->seconds > items[j - 1]->created_at->seconds;
             j--) {
            Ferry__V1__LocalBackup *tmp = items[j];
            items[j] = items[j - 1];
            items[j - 1] = tmp;
        }
    r.n_backups = n;
    r.backups = items;
    ferry_v1_local_service_list_backups_reply(call, &r);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(&items[i]->base, NULL);
}

static void backups_h(ferry_rpc_call_t *call, const Ferry__V1__ListBackupsRequest *req, void *user)
{
    (void)req;
    ferry_rpc_call_offload(call, backups_work, user);
}

/* ---- server ------------------------------------------------------------------------------------ */

static ferry_v1_local_service_server_t g_impl = {
    .get_status = get_status_h,
    .watch_status = watch_status_h,
    .bind = bind_h,
    .unbind = unbind_h,
    .get_node_config = get_cfg_h,
    .validate_node_config = validate_h,
    .save_node_config = save_h,
    .list_pending_updates = list_pending_h,
    .check_for_updates = check_h,
    .respond_to_prompt = respond_h,
    .start_manual_update = manual_h,
    .apply_offline_package = offline_h,
    .list_backups = backups_h,
};

ferry_err_code_t agentd_local_start(agentd_t *ad, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    uint8_t raw[32];
    char secret[65], path[AGENTD_PATH_MAX], json[256];
    ferry_rpc_server_config_t sc = {0};
    sc.host = "127.0.0.1";
    sc.port = (uint16_t)ad->o.local_port;
    sc.threads = 1;
    sc.workers = MAX_WATCHERS + 2;
    sc.shutdown_grace_ms = 2000;
    g_local_ad = ad;
    g_impl.user = ad;
    if ((rc = ferry_random_bytes(raw, sizeof(raw), err)) != FERRY_OK)
        goto out;
    ferry_hex_encode(raw, sizeof(raw), secret);
    ferry_sha256_hex(secret, 64, ad->local_secret_hash);
    snprintf(path, sizeof(path), "%s/local.secret", ad->state_dir);
    if ((rc = ferry_fs_write_atomic(path, secret, 64, 0600, err)) != FERRY_OK)
        goto out;
    if ((ad->local = ferry_rpc_server_new(&sc, err)) == NULL) {
        rc = err != NULL ? err->code : FERRY_E_INTERNAL;
        goto out;
    }
    ferry_rpc_interceptor_t ic = {.before = auth_before, .user = ad};
    if ((rc = ferry_rpc_server_add_interceptor(ad->local, &ic, err)) != FERRY_OK ||
        (rc = ferry_v1_local_service_server_register(ad->local, &g_impl, err)) != FERRY_OK ||
        (rc = ferry_rpc_server_start(ad->local, err)) != FERRY_OK)
        goto out;
    snprintf(json, sizeof(json), "{\"url\": \"http://127.0.0.1:%u\", \"pid\": %ld}\n",
             (unsigned)ferry_rpc_server_port(ad->local), (long)getpid());
    snprintf(path, sizeof(path), "%s/local.json", ad->state_dir);
    rc = ferry_fs_write_atomic(path, json, strlen(json), 0644, err);
out:
    explicit_bzero(secret, sizeof(secret));
    explicit_bzero(raw, sizeof(raw));
    return rc;
}

void agentd_local_stop(agentd_t *ad)
{
    if (ad->local == NULL)
        return;
    ferry_rpc_server_shutdown(ad->local);
    ferry_rpc_server_wait(ad->local);
    ferry_rpc_server_free(ad->local);
    ad->local = NULL;
}
