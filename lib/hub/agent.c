/*
 * The hub's AgentService (Bind, CheckIn, GetAssignment, GetDownload; GetLicenseStatus
 * is licenses.c's). Node presence (last-seen, the "may have work" hint an idle CheckIn
 * is answered from) is presence.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/log.h"
#include "ferry/model/states.h"
#include "ferry/store/assign.h"
#include "ferry/store/presence.h"
#include "ferry/store/reports.h"
#include "ferry/store/tasks.h"
#include "hub_agent.h"
#include "hub_frame.h"
#include "hub_fleet.h"

/* ---- assignments -------------------------------------------------------------------- */

/* Fills a PackageManifest (the facts; the signed form comes with GetDownload). */
static Ferry__V1__PackageManifest *manifest_of(hub_arena_t *a, const Ferry__V1__Package *pkg)
{
    Ferry__V1__PackageManifest *m = hub_arena_alloc(a, sizeof(*m));
    if (m == NULL)
        return NULL;
    ferry__v1__package_manifest__init(m);
    m->version = pkg->version;
    m->version_info = pkg->version_info;
    m->size = pkg->size;
    m->sha256 = pkg->sha256;
    m->n_parts = pkg->n_parts;
    m->parts = pkg->parts;
    m->type = pkg->type;
    return m;
}

ferry_err_code_t hub_agent_load_assignments(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                            int64_t only_task, Ferry__V1__Assignment ***out, size_t *n,
                                            char ***halted, size_t *n_halted, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_store_open_task_t open[FERRY_STORE_ASSIGN_MAX];
    size_t n_open = 0;
    int64_t now = hub_now_ms();
    /* MAINTENANCE or EXPIRED: no task starts there; pending ones are held like a paused
     * release's and offered again when the node is released (fleet_status.c). */
    bool blocked = hub_fleet_node_blocked(hub, node_id);

    *out = NULL;
    *n = 0;
    if (halted != NULL) {
        *halted = NULL;
        *n_halted = 0;
    }
    ferry_store_lock(hub->store);
    /* Open tasks, oldest first; capped (an agent runs one at a time; the rest come
     * on the next check-in). */
    if ((rc = ferry_store_node_open_tasks(hub->store, a, node_id, only_task, open, FERRY_STORE_ASSIGN_MAX,
                                          &n_open, err)) != FERRY_OK ||
        n_open == 0)
        goto out;
    *out = hub_arena_alloc(a, n_open * sizeof(**out));
    if (halted != NULL)
        *halted = hub_arena_alloc(a, n_open * sizeof(**halted));
    if (*out == NULL || (halted != NULL && *halted == NULL)) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load assignments: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_open; i++) {
        /* Waiting for its maintenance window: not offered and not listed as halted, so an
         * idle node's CheckIn goes back to answering from memory; the window sweep
         * (waves.c) offers it again when the window opens in the node's zone. */
        if (open[i].window_held && only_task <= 0)
            continue;
        if (open[i].halted && halted != NULL && only_task <= 0) {
            (*halted)[(*n_halted)++] = hub_arena_printf(a, "%" PRId64, open[i].id);
            continue;
        }
        Ferry__V1__Assignment *as = hub_arena_alloc(a, sizeof(*as));
        Ferry__V1__UpdateTask *t = hub_arena_alloc(a, sizeof(*t));
        Ferry__V1__Package pkg;
        if (as == NULL || t == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load assignments: out of memory");
            goto out;
        }
        ferry__v1__assignment__init(as);
        ferry__v1__update_task__init(t);
        ferry__v1__package__init(&pkg);
        if ((rc = hub_task_load(hub, a, open[i].id, now, t, err)) != FERRY_OK)
            goto out;
        if (blocked && (int)t->state == FERRY_STATE_PENDING) {
            if (halted != NULL && only_task <= 0) {
                (*halted)[(*n_halted)++] = hub_arena_printf(a, "%" PRId64, open[i].id);
                continue;
            }
            t->halted = true;
        }
        t->halted = t->halted || open[i].halted || open[i].window_held;
        as->task = t;
        if (t->package_version != NULL && t->package_version[0] != '\0' &&
            hub_package_load(hub, a, t->package_version, &pkg, NULL, NULL, err) == FERRY_OK)
            as->manifest = manifest_of(a, &pkg);
        as->forced_now = t->policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
        as->resume_checkpoint = t->checkpoint != NULL ? t->checkpoint : (char *)"";
        /* The hooks an administrator chose to skip in this attempt (RetryTask, issue 11).
         * Only a retry writes that list, and every retry raises the attempt: a first
         * attempt (nearly every CheckIn) costs no query for it. */
        if (t->attempt > 0 && (rc = ferry_store_task_skip_hooks(hub->store, a, open[i].id, &as->skip_hook_ids,
                                                                &as->n_skip_hook_ids, err)) != FERRY_OK)
            goto out;
        as->description = open[i].notes != NULL ? open[i].notes : (char *)"";
        if (t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK) {
            ferry_err_t rerr = {0};
            char *path = NULL;
            if (ferry_store_rollback_backup_path(hub->store, a, open[i].id, &path, &rerr) == FERRY_OK &&
                path != NULL)
                as->rollback_backup_path = path;
        }
        (*out)[(*n)++] = as;
    }
out:
    ferry_store_unlock(hub->store);
    return rc;
}

ferry_err_code_t hub_agent_load_tasks(ferry_hub_t *hub, hub_arena_t *a, int64_t release_id, int64_t task_id,
                                      Ferry__V1__UpdateTask ***out, size_t *n, ferry_err_t *err)
{
    ferry_err_code_t rc;
    int64_t now = hub_now_ms(), *ids = NULL;
    size_t n_ids = 0;

    *out = NULL;
    *n = 0;
    ferry_store_lock(hub->store);
    if ((rc = ferry_store_release_task_ids(hub->store, a, release_id, task_id, &ids, &n_ids, err)) !=
            FERRY_OK ||
        n_ids == 0)
        goto out;
    if ((*out = hub_arena_alloc(a, n_ids * sizeof(**out))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++) {
        Ferry__V1__UpdateTask *t = hub_arena_alloc(a, sizeof(*t));
        if (t == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "load release tasks: out of memory");
            goto out;
        }
        ferry__v1__update_task__init(t);
        if ((rc = hub_task_load(hub, a, ids[i], now, t, err)) != FERRY_OK)
            goto out;
        (*out)[(*n)++] = t;
    }
out:
    ferry_store_unlock(hub->store);
    return rc;
}

/* ---- handlers ------------------------------------------------------------------------ */

/* The calling node, or NULL after failing |call| (the auth interceptor normally
 * refuses non-node tokens before we get here; this is the second line). */
static void fill_keys(ferry_hub_t *hub, hub_arena_t *a, Ferry__V1__SigningKey ***out, size_t *n)
{
    Ferry__V1__SigningKey **keys = hub_arena_alloc(a, sizeof(*keys));
    Ferry__V1__SigningKey *k = hub_arena_alloc(a, sizeof(*k));
    char id[17];
    *n = 0;
    if (keys == NULL || k == NULL)
        return;
    ferry__v1__signing_key__init(k);
    hub_signing_key_id(hub, id);
    k->key_id = hub_arena_strdup(a, id);
    k->algorithm = (char *)"ed25519";
    k->public_key.data = hub->signing_pub;
    k->public_key.len = sizeof(hub->signing_pub);
    keys[0] = k;
    *out = keys;
    *n = 1;
}

static Google__Protobuf__Duration *poll_duration(ferry_hub_t *hub, hub_arena_t *a)
{
    Google__Protobuf__Duration *d = hub_arena_alloc(a, sizeof(*d));
    if (d != NULL) {
        google__protobuf__duration__init(d);
        d->seconds = hub->cfg.poll_interval_s;
    }
    return d;
}

/* The method rows of the handlers that fit the frame (CheckIn keeps its own: an idle
 * node is answered on the event loop, from memory). */
HUB_METHOD(agent, bind, Ferry__V1__BindRequest, Ferry__V1__BindResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(agent, get_assignment, Ferry__V1__GetAssignmentRequest, Ferry__V1__GetAssignmentResponse,
           HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(agent, get_download, Ferry__V1__GetDownloadRequest, Ferry__V1__GetDownloadResponse,
           HUB_FRAME_NODE | HUB_FRAME_OFFLOAD, NULL)

/* Bind: everything is checked before anything is said; every refusal reads the same. */
static ferry_err_code_t bind_body(hub_frame_t *f, const Ferry__V1__BindRequest *req,
                                  Ferry__V1__BindResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    hub_arena_t *a = &f->arena;
    char tok_id[HUB_TOKEN_ID_LEN + 1];
    uint8_t hash[FERRY_SHA256_LEN];
    bool ok = false;
    int64_t now = hub_now_ms(), bound_at = 0;
    Ferry__V1__Node *node = NULL;
    hub_principal_t p;
    ferry_err_t why = {0};
    hub_agent_facts_t facts = {0};

    const char *token = req->token != NULL ? req->token : "";
    if (hub_token_parse(token, strlen(token), tok_id, hash) != HUB_TOKEN_NODE)
        goto out;
    /* The token and "enabled" (node, store, customer): the same rule as every other
     * node-authenticated method. */
    if (hub_auth_node(hub, tok_id, hash, &p, &why) != FERRY_OK) {
        FERRY_WARN("bind: %s refused: %s", f->call != NULL ? ferry_rpc_call_request_id(f->call) : "-",
                   why.msg);
        goto out;
    }
    ferry_store_lock(hub->store);
    if (ferry_store_node_for_bind(hub->store, a, p.node_id, &node, &bound_at, &why) == FERRY_OK) {
        /* Compare both, then decide once. */
        bool code_ok = req->node_code != NULL && strcmp(node->code, req->node_code) == 0;
        bool env_ok = (int)req->environment == (int)node->environment;
        ok = code_ok && env_ok;
        /* First bind: recorded durably (a single-statement autocommit, synchronous=FULL). */
        if (ok && bound_at <= 0) {
            ok = ferry_store_node_mark_bound(hub->store, p.node_id, now, &why) == FERRY_OK;
            bound_at = now;
        }
    }
    ferry_store_unlock(hub->store);
out:
    if (!ok)
        return ferry_err_set(
            err, FERRY_E_AUTH_INVALID,
            "bind refused: the node code, environment and token do not match an enabled node");
    if (req->agent != NULL) {
        facts.has_facts = true;
        facts.agent_version = req->agent->agent_version;
        facts.installed_version = req->agent->installed_version;
        facts.free_disk_bytes = req->agent->free_disk_bytes;
    }
    hub_presence_touch(hub, p.node_id, &facts);
    node->bound_at = hub_arena_ts(a, bound_at);
    node->connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE;
    node->last_seen_at = hub_arena_ts(a, now);
    resp->node = node;
    fill_keys(hub, a, &resp->signing_keys, &resp->n_signing_keys);
    resp->poll_interval = poll_duration(hub, a);
    resp->server_time = hub_arena_ts(a, now);
    return FERRY_OK; /* an arena that ran out of memory: the frame answers E_NOMEM */
}

/* CheckIn with possible work: the DB part, on a worker. */
static void check_in_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CheckInRequest *req = vreq;
    const hub_principal_t *p = hub_principal(call);
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    uint32_t gen = 0;
    Ferry__V1__CheckInResponse resp = FERRY__V1__CHECK_IN_RESPONSE__INIT;

    hub_presence_work_hint(hub, p->node_id, &gen);
    if (hub_agent_load_assignments(hub, &a, p->node_id, 0, &resp.assignments, &resp.n_assignments,
                                   &resp.halted_task_ids, &resp.n_halted_task_ids, &err) != FERRY_OK) {
        hub_fail(call, &err);
        goto out;
    }
    if (resp.n_assignments == 0 && resp.n_halted_task_ids == 0)
        hub_presence_clear_hint(hub, p->node_id, gen);
    /* Licence and configuration (fleet): a failure there never withholds the tasks. */
    if (hub_fleet_checkin_fill(hub, &a, p->node_id, req->license_sha256, &resp, &err) != FERRY_OK)
        FERRY_WARN("check-in: node %" PRId64 ": licence/configuration not sent: %s", p->node_id, err.msg);
    resp.poll_interval = poll_duration(hub, &a);
    resp.server_time = hub_arena_ts(&a, hub_now_ms());
    ferry_v1_agent_service_check_in_reply(call, &resp);
out:
    hub_arena_free(&a);
}

static void check_in_h(ferry_rpc_call_t *call, const Ferry__V1__CheckInRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    const hub_principal_t *p = hub_node_principal(call);
    hub_agent_facts_t f = {0};
    uint32_t gen;
    int64_t task_id = 0;
    if (p == NULL)
        return;
    if (req->agent != NULL) {
        f.has_facts = true;
        f.agent_version = req->agent->agent_version;
        f.installed_version = req->agent->installed_version;
        f.free_disk_bytes = req->agent->free_disk_bytes;
    }
    if (req->current_task_id != NULL && req->current_task_id[0] != '\0' &&
        hub_parse_id(req->current_task_id, "current_task_id", &task_id, NULL) != FERRY_OK)
        task_id = 0; /* informational only: a bad id is ignored, never stored */
    f.current_task_id = task_id;
    if (hub_presence_touch_hint(hub, p->node_id, &f, &gen) ||
        hub_fleet_checkin_pending(hub, p->node_id, req->license_sha256)) {
        hub_offload(call, hub, req, check_in_work);
        return;
    }
    /* Idle node: answered from memory on the loop (no DB, no allocation). */
    Ferry__V1__CheckInResponse resp = FERRY__V1__CHECK_IN_RESPONSE__INIT;
    Google__Protobuf__Duration poll = GOOGLE__PROTOBUF__DURATION__INIT;
    Google__Protobuf__Timestamp now = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    int64_t ms = hub_now_ms();
    poll.seconds = hub->cfg.poll_interval_s;
    now.seconds = ms / 1000;
    now.nanos = (int32_t)(ms % 1000) * 1000000;
    resp.poll_interval = &poll;
    resp.server_time = &now;
    ferry_v1_agent_service_check_in_reply(call, &resp);
}

/* The caller's task |id_str| into *task_id: E_NOT_FOUND when it does not exist,
 * E_PERMISSION when it is another node's. */
static ferry_err_code_t own_task(hub_frame_t *f, const char *id_str, int64_t *task_id, ferry_err_t *err)
{
    int64_t owner = 0;
    ferry_err_t lerr = {0};
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(id_str, "task_id", task_id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(f->store);
    if (ferry_store_task_node(f->store, *task_id, &owner, &lerr) != FERRY_OK)
        owner = 0;
    ferry_store_unlock(f->store);
    if (owner == 0)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", id_str);
    if (owner != f->me->node_id)
        return ferry_err_set(err, FERRY_E_PERMISSION, "task %s belongs to another node", id_str);
    return FERRY_OK;
}

static ferry_err_code_t get_assignment_body(hub_frame_t *f, const Ferry__V1__GetAssignmentRequest *req,
                                            Ferry__V1__GetAssignmentResponse *resp, ferry_err_t *err)
{
    int64_t id;
    Ferry__V1__Assignment **as = NULL;
    size_t n = 0;
    ferry_err_code_t rc;

    if ((rc = own_task(f, req->task_id, &id, err)) != FERRY_OK ||
        (rc = hub_agent_load_assignments(f->hub, &f->arena, f->me->node_id, id, &as, &n, NULL, NULL, err)) !=
            FERRY_OK)
        return rc;
    if (n == 0)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "task %s not found", req->task_id);
    resp->assignment = as[0];
    return FERRY_OK;
}

/*
 * GetDownload: the sources (primary signed URL, then the mirrors of the storage in
 * effect for the node's customer) and a manifest signed now for this node's task (TUF:
 * bound to task, node, task kind and customer; expires after manifest_ttl_s). Nothing
 * is cached: every call signs anew, in the call's arena.
 */
static ferry_err_code_t get_download_body(hub_frame_t *f, const Ferry__V1__GetDownloadRequest *req,
                                          Ferry__V1__GetDownloadResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    int64_t id, now = hub_now_ms();
    char blob_sha[65] = "", path[96];
    Ferry__V1__UpdateTask task = FERRY__V1__UPDATE_TASK__INIT;
    Ferry__V1__Package pkg = FERRY__V1__PACKAGE__INIT;
    ferry_err_code_t rc;

    if ((rc = own_task(f, req->task_id, &id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(hub->store);
    rc = hub_task_load(hub, &f->arena, id, now, &task, err);
    if (rc == FERRY_OK)
        rc = hub_package_load(hub, &f->arena, task.package_version, &pkg, NULL, blob_sha, err);
    ferry_store_unlock(hub->store);
    if (rc != FERRY_OK)
        return rc;
    /* The node's customer picks the storage (a customer override serves its nodes). */
    hub_blob_url_path(blob_sha, path, sizeof(path));
    if ((rc = hub_storage_download_sources(hub, &f->arena, f->me->customer_id, path, &resp->sources,
                                           &resp->n_sources, err)) != FERRY_OK)
        return rc;
    hub_manifest_binding_t b = {task.id, task.node_code, (int)task.kind, task.customer_code,
                                now + (int64_t)hub->cfg.manifest_ttl_s * 1000};
    if ((rc = hub_manifest_sign(hub, &f->arena, &pkg, &b, now, &resp->signed_manifest, err)) != FERRY_OK)
        return rc;
    resp->package_version = pkg.version;
    resp->size = pkg.size;
    resp->sha256 = pkg.sha256;
    return FERRY_OK;
}

void hub_agent_bind(ferry_hub_t *hub)
{
    hub->agent.bind = bind;
    hub->agent.check_in = check_in_h;
    hub->agent.get_assignment = get_assignment;
    hub->agent.get_download = get_download;
    /* get_license_status: licenses.c (hub_fleet_bind) */
    /* watch_assignments: watch.c */
}
