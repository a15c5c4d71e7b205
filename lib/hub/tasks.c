/*
 * Task queries for admins (seed 000 §6.1 dashboard): ListTasks, GetTask,
 * ListTaskEvents, RetryTask, report files with signed download links, the read-only
 * node configuration index, GetDashboard; and loading an UpdateTask (hub_pkg.h).
 *
 * Every handler runs on the worker pool and reaches the data through the tasks
 * repository (ferry/store/tasks.h), so a slow disk never stalls an event loop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/blob.h"
#include "ferry/json.h"
#include "ferry/model/hooks.h"
#include "ferry/model/states.h"
#include "ferry/model/zipsafe.h"
#include "ferry/store/tasks.h"
#include "hub_frame.h"
#include "hub_nodecfg.h"
#include "hub_pkg.h"

/* Arrays of message pointers are sized with sizeof(void *): every pointer to a struct has
 * the same size, and sizeof(*p) of one reads as a mistake to clang-tidy. */

/* ---- pure ---------------------------------------------------------------------------------- */

bool hub_task_state_final(int state)
{
    return ferry_state_is_terminal((ferry_state_t)state);
}

int hub_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms)
{
    return ferry_store_effective_policy(policy, deadline_ms, now_ms);
}

ferry_err_code_t hub_task_load(ferry_hub_t *hub, hub_arena_t *a, int64_t task_id, int64_t now_ms,
                               Ferry__V1__UpdateTask *out, ferry_err_t *err)
{
    return ferry_store_task_get(hub->store, a, task_id, now_ms, out, err);
}

/* ---- the method rows ------------------------------------------------------------------------- */

static void retry_task_done(hub_frame_t *f, const void *vreq, void *vresp);

HUB_METHOD(admin, list_tasks, Ferry__V1__ListTasksRequest, Ferry__V1__ListTasksResponse, HUB_FRAME_OFFLOAD,
           NULL)
HUB_METHOD(admin, get_task, Ferry__V1__GetTaskRequest, Ferry__V1__GetTaskResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, list_task_events, Ferry__V1__ListTaskEventsRequest, Ferry__V1__ListTaskEventsResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, retry_task, Ferry__V1__RetryTaskRequest, Ferry__V1__RetryTaskResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, retry_task_done)
HUB_METHOD(admin, list_report_files, Ferry__V1__ListReportFilesRequest, Ferry__V1__ListReportFilesResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_report_file, Ferry__V1__GetReportFileRequest, Ferry__V1__GetReportFileResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_node_config, Ferry__V1__GetNodeConfigRequest, Ferry__V1__GetNodeConfigResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, list_node_configs, Ferry__V1__ListNodeConfigsRequest, Ferry__V1__ListNodeConfigsResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_dashboard, Ferry__V1__GetDashboardRequest, Ferry__V1__GetDashboardResponse,
           HUB_FRAME_OFFLOAD, NULL)

/* ---- tasks ---------------------------------------------------------------------------------- */

static ferry_err_code_t list_tasks_body(hub_frame_t *f, const Ferry__V1__ListTasksRequest *req,
                                        Ferry__V1__ListTasksResponse *resp, ferry_err_t *err)
{
    ferry_store_task_filter_t flt = {0};
    ferry_store_page_t rows;
    int *states = NULL;
    ferry_err_code_t rc;

    if (req->release_id[0] != '\0' &&
        (rc = hub_parse_id(req->release_id, "release_id", &flt.release_id, err)) != FERRY_OK)
        return rc;
    flt.customer_code = req->customer_code;
    flt.store_code = req->store_code;
    flt.node_code = req->node_code;
    flt.error_code = req->error_code;
    flt.kind = req->kind;
    if (req->n_states > 14)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "at most 14 states in a filter");
    if (req->n_states > 0 && (states = hub_arena_alloc(&f->arena, req->n_states * sizeof(*states))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "list tasks: out of memory");
    for (size_t i = 0; i < req->n_states; i++)
        states[i] = (int)req->states[i];
    flt.states = states;
    flt.n_states = req->n_states;
    if ((rc = ferry_store_tasks_list(f->store, &flt, req->page_token, req->page_size, ferry_store_now_ms(),
                                     &f->arena, &rows, err)) != FERRY_OK)
        return rc;
    resp->tasks = (Ferry__V1__UpdateTask **)rows.items;
    resp->n_tasks = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t get_task_body(hub_frame_t *f, const Ferry__V1__GetTaskRequest *req,
                                      Ferry__V1__GetTaskResponse *resp, ferry_err_t *err)
{
    Ferry__V1__UpdateTask *t = hub_arena_alloc(&f->arena, sizeof(*t));
    int64_t id;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "task id", &id, err)) != FERRY_OK)
        return rc;
    if (t == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "get task: out of memory");
    ferry_store_lock(f->store);
    rc = ferry_store_task_get(f->store, &f->arena, id, ferry_store_now_ms(), t, err);
    if (rc == FERRY_OK)
        rc = ferry_store_task_hooks(f->store, &f->arena, id, t, err);
    ferry_store_unlock(f->store);
    if (rc == FERRY_OK)
        resp->task = t;
    return rc;
}

static ferry_err_code_t list_task_events_body(hub_frame_t *f, const Ferry__V1__ListTaskEventsRequest *req,
                                              Ferry__V1__ListTaskEventsResponse *resp, ferry_err_t *err)
{
    ferry_store_page_t rows;
    int64_t id;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->task_id, "task id", &id, err)) != FERRY_OK ||
        (rc = ferry_store_task_events_list(f->store, id, req->page_token, req->page_size, &f->arena, &rows,
                                           err)) != FERRY_OK)
        return rc;
    resp->events = (Ferry__V1__TaskEvent **)rows.items;
    resp->n_events = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

/* skip_failed_hook asked for, and the last attempt reported no hook failure that stopped it. */
static ferry_err_code_t no_failed_hook(const Ferry__V1__UpdateTask *t, ferry_err_t *err)
{
    return ferry_err_set(
        err, FERRY_E_PRECONDITION,
        "skip_failed_hook: no hook failed in task %s's attempt %u (its error is %s): name the "
        "hooks to skip with skip_hook_ids",
        t->id, t->attempt, t->error_code != NULL && t->error_code[0] ? t->error_code : "none");
}

/*
 * The hooks a retry skips, checked against the task's package: RetryTaskRequest.skip_hook_ids
 * and, with skip_failed_hook, the hooks that failed in the task's last attempt (as its
 * agent reported them; a failed hook whose on_failure is `continue` did not stop the task
 * and is left out). Each must be a hook of the package's hooks.json (read from the stored
 * package zip, the only place the server keeps it), and skipping a check of severity
 * `fail` needs the SYSADMIN role (seed 002: a failed data-quality check is the last guard
 * before the upgrade changes anything). Duplicates are dropped; *ids and *n receive the
 * list, in |f|'s arena. Store lock held (frame). Nothing is written.
 */
static ferry_err_code_t skip_hooks_check(hub_frame_t *f, const Ferry__V1__RetryTaskRequest *req,
                                         const Ferry__V1__UpdateTask *t, int64_t task_id, const char ***ids,
                                         size_t *n, ferry_err_t *err)
{
    Ferry__V1__Package pkg;
    ferry_zip_t *z = NULL;
    ferry_hooks_t *hooks = NULL;
    char **failed = NULL;
    size_t n_failed = 0, n_want, n_from_failed = 0;
    char sha[65] = "", path[4096];
    ferry_err_code_t rc = FERRY_OK;

    *ids = NULL;
    *n = 0;
    if (req->n_skip_hook_ids == 0 && !req->skip_failed_hook)
        goto out;
    if (req->n_skip_hook_ids > FERRY_STORE_SKIP_HOOKS_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "skip_hook_ids: %zu ids, at most %d",
                           req->n_skip_hook_ids, FERRY_STORE_SKIP_HOOKS_MAX);
        goto out;
    }
    for (size_t i = 0; i < req->n_skip_hook_ids; i++)
        if (!ferry_hook_id_valid(req->skip_hook_ids[i])) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "skip_hook_ids[%zu]: '%.80s' is not a hook id (1..64 of A-Z a-z 0-9 _ . -)", i,
                               req->skip_hook_ids[i]);
            goto out;
        }
    if (req->skip_failed_hook && (rc = ferry_store_task_failed_hooks(f->store, &f->arena, task_id, &failed,
                                                                     &n_failed, err)) != FERRY_OK)
        goto out;
    if (req->skip_failed_hook && n_failed == 0) {
        rc = no_failed_hook(t, err);
        goto out;
    }
    ferry__v1__package__init(&pkg);
    if (t->package_version == NULL || t->package_version[0] == '\0' ||
        (rc = hub_package_load(f->hub, &f->arena, t->package_version, &pkg, NULL, sha, err)) != FERRY_OK ||
        (rc = ferry_blob_path(f->hub->blobs, sha, path, sizeof(path), err)) != FERRY_OK ||
        (rc = ferry_zip_open_as(path, "package", NULL, 0, &z, err)) != FERRY_OK ||
        (rc = ferry_pkg_hooks(z, &hooks, err)) != FERRY_OK) {
        if (rc == FERRY_OK)
            rc = ferry_err_set(err, FERRY_E_PRECONDITION, "task %s has no package", t->id);
        else
            ferry_err_prefix(err, "skip_hook_ids: reading the hooks of package %s", t->package_version);
        goto out;
    }
    if (hooks == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: package %s has no hooks.json",
                           req->n_skip_hook_ids > 0 ? "skip_hook_ids" : "skip_failed_hook",
                           t->package_version);
        goto out;
    }
    n_want = req->n_skip_hook_ids + n_failed;
    if ((*ids = hub_arena_alloc(&f->arena, (n_want > 0 ? n_want : 1) * sizeof(char *))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "retry task: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_want; i++) {
        bool mine = i >= req->n_skip_hook_ids; /* from the failed list */
        const char *id = mine ? failed[i - req->n_skip_hook_ids] : req->skip_hook_ids[i];
        const ferry_hook_t *h = ferry_hooks_find(hooks, id);
        bool dup = false;
        char who[64];
        if (mine)
            snprintf(who, sizeof(who), "skip_failed_hook");
        else
            snprintf(who, sizeof(who), "skip_hook_ids[%zu]", i);
        if (h == NULL) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: package %s has no hook '%s'", who,
                               t->package_version, id);
            goto out;
        }
        if (mine && h->on_failure_continue)
            continue; /* it failed, but the task went on past it */
        n_from_failed += mine;
        if (h->kind == FERRY_HOOK_CHECK && !h->warn_only &&
            (f->me == NULL || f->me->role != FERRY__V1__ROLE__ROLE_SYSADMIN)) {
            rc = ferry_err_set(err, FERRY_E_PERMISSION,
                               "%s: '%s' is a check of severity fail: skipping it needs the SYSADMIN role",
                               who, id);
            goto out;
        }
        for (size_t k = 0; k < *n; k++)
            dup = dup || strcmp((*ids)[k], id) == 0;
        if (!dup)
            (*ids)[(*n)++] = id;
    }
    if (req->skip_failed_hook && n_from_failed == 0)
        rc = no_failed_hook(t, err);
out:
    ferry_hooks_free(hooks);
    ferry_zip_close(z);
    return rc;
}

/* "a, b, c" of the skipped ids, for the task's history (the audit row names the task). */
static const char *skip_list_text(hub_arena_t *a, const char *const *ids, size_t n)
{
    const char *out = "";
    for (size_t i = 0; i < n && out != NULL; i++)
        out = hub_arena_printf(a, "%s%s%s", out, i > 0 ? ", " : "", ids[i]);
    return out != NULL ? out : "";
}

/*
 * RetryTask: a FAILED update task of an active release goes back to Pending (attempt
 * + 1, error cleared, history keeps the failure) and is offered to the agent again,
 * which resumes from its journal/checkpoint (seed 002). Refused for rollback tasks,
 * for tasks of a paused or canceled release and for tasks not in 110. The hooks it
 * skips (skip_hook_ids, see skip_hooks_check) replace the previous attempt's list and
 * reach the agent in Assignment.skip_hook_ids. Every check runs before the first write.
 */
static ferry_err_code_t retry_task_body(hub_frame_t *f, const Ferry__V1__RetryTaskRequest *req,
                                        Ferry__V1__RetryTaskResponse *resp, ferry_err_t *err)
{
    Ferry__V1__UpdateTask *t = hub_arena_alloc(&f->arena, sizeof(*t));
    Ferry__V1__UpdateTask *cur = hub_arena_alloc(&f->arena, sizeof(*cur));
    ferry_store_task_ref_t ref;
    ferry_store_task_event_new_t ev = {0};
    int64_t id, now = ferry_store_now_ms();
    const char **skip = NULL;
    size_t n_skip = 0;
    char *msg, *source;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "task id", &id, err)) != FERRY_OK)
        return rc;
    hub_frame_target(f, "task:%lld", (long long)id);
    if (t == NULL || cur == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "retry task: out of memory");
    if ((rc = ferry_store_task_ref(f->store, id, &ref, err)) != FERRY_OK)
        return rc;
    if (ref.state != FERRY_STATE_FAILED || ref.kind != FERRY__V1__TASK_KIND__TASK_KIND_UPDATE)
        return ferry_err_set(
            err, FERRY_E_PRECONDITION,
            "task %lld is %s in state %d: only a FAILED update task can be retried", (long long)id,
            ref.kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK ? "a rollback" : "an update", ref.state);
    if (ref.release_status != FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE)
        return ferry_err_set(err, FERRY_E_PRECONDITION,
                             "task %lld: its release %lld is not active (paused or canceled)", (long long)id,
                             (long long)ref.release_id);
    if ((rc = ferry_store_task_get(f->store, &f->arena, id, now, cur, err)) != FERRY_OK ||
        (rc = skip_hooks_check(f, req, cur, id, &skip, &n_skip, err)) != FERRY_OK)
        return rc;
    msg = hub_arena_printf(&f->arena, "retry requested%s%s%s%s%s%.256s",
                           req->skip_failed_hook ? " (skip failed hook)" : "", n_skip > 0 ? " (skip: " : "",
                           n_skip > 0 ? skip_list_text(&f->arena, skip, n_skip) : "", n_skip > 0 ? ")" : "",
                           req->reason[0] ? ": " : "", req->reason);
    source = hub_arena_printf(&f->arena, "admin:%s", f->me != NULL ? f->me->token_id : "");
    ev.task_id = id;
    ev.state = FERRY_STATE_PENDING;
    ev.message = msg;
    ev.source = source;
    ev.at = now;
    if ((rc = ferry_store_task_retry(f->store, id, msg, now, err)) != FERRY_OK ||
        (rc = ferry_store_task_set_skip_hooks(f->store, id, skip, n_skip, err)) != FERRY_OK ||
        (rc = ferry_store_task_event_add(f->store, &ev, err)) != FERRY_OK ||
        (rc = ferry_store_task_get(f->store, &f->arena, id, now, t, err)) != FERRY_OK ||
        (rc = ferry_store_task_hooks(f->store, &f->arena, id, t, err)) != FERRY_OK)
        return rc;
    resp->task = t;
    return FERRY_OK;
}

/* After the commit: the agent hears about its task again. */
static void retry_task_done(hub_frame_t *f, const void *vreq, void *vresp)
{
    const Ferry__V1__RetryTaskResponse *resp = vresp;
    ferry_store_task_ref_t ref = {0};
    hub_task_event_t ev = {0};
    int64_t id = 0;
    (void)vreq;

    if (hub_parse_id(resp->task->id, "task id", &id, NULL) != FERRY_OK)
        return;
    ferry_store_lock(f->store);
    (void)ferry_store_task_ref(f->store, id, &ref, NULL);
    ferry_store_unlock(f->store);
    ev.task_id = id;
    ev.node_id = ref.node_id;
    ev.release_id = ref.release_id;
    ev.state = FERRY_STATE_PENDING;
    snprintf(ev.message, sizeof(ev.message), "%.200s", resp->task->message);
    ev.new_assignment = 1;
    hub_bus_publish(f->hub, &ev);
}

/* ---- report files ------------------------------------------------------------------------- */

/* The node's customer storage serves its files (seed 000 decision 10). */
static ferry_err_code_t file_link(hub_frame_t *f, const ferry_store_report_file_item_t *it, ferry_err_t *err)
{
    return hub_blob_download_link(f->hub, &f->arena, it->customer_id, it->file->sha256, &it->file->download,
                                  err);
}

static ferry_err_code_t list_report_files_body(hub_frame_t *f, const Ferry__V1__ListReportFilesRequest *req,
                                               Ferry__V1__ListReportFilesResponse *resp, ferry_err_t *err)
{
    ferry_store_report_file_filter_t flt = {req->node_code, 0, 0, req->kind};
    ferry_store_page_t rows;
    ferry_err_code_t rc;

    if ((req->task_id[0] != '\0' &&
         (rc = hub_parse_id(req->task_id, "task_id", &flt.task_id, err)) != FERRY_OK) ||
        (req->release_id[0] != '\0' &&
         (rc = hub_parse_id(req->release_id, "release_id", &flt.release_id, err)) != FERRY_OK))
        return rc;
    if ((rc = ferry_store_report_files_list(f->store, &flt, req->page_token, req->page_size, &f->arena, &rows,
                                            err)) != FERRY_OK)
        return rc;
    if ((resp->files = hub_arena_alloc(&f->arena, (rows.n + 1) * sizeof(void *))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "list files: out of memory");
    for (size_t i = 0; i < rows.n; i++) {
        const ferry_store_report_file_item_t *it = rows.items[i];
        if ((rc = file_link(f, it, err)) != FERRY_OK)
            return rc;
        resp->files[resp->n_files++] = it->file;
    }
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t get_report_file_body(hub_frame_t *f, const Ferry__V1__GetReportFileRequest *req,
                                             Ferry__V1__GetReportFileResponse *resp, ferry_err_t *err)
{
    ferry_store_report_file_item_t it;
    int64_t id;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "file id", &id, err)) != FERRY_OK)
        return rc;
    ferry_store_lock(f->store);
    rc = ferry_store_report_file_get(f->store, &f->arena, id, &it, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK || (rc = file_link(f, &it, err)) != FERRY_OK)
        return rc;
    resp->file = it.file;
    return FERRY_OK;
}

/* ---- node configuration index (read-only) ------------------------------------------------ */

/* The stored document (secrets masked by report.c), in the engine's format or the
 * canonical one, mapped onto NodeConfig (hub_nodecfg.h), and its download link. */
static ferry_err_code_t config_fill(hub_frame_t *f, const ferry_store_node_config_item_t *it,
                                    ferry_err_t *err)
{
    char *json = hub_node_config_proto_json(it->summary_json);
    if (json != NULL) {
        ProtobufCMessage *m = NULL;
        ferry_err_t e2 = {0};
        if (ferry_json_decode(&ferry__v1__node_config__descriptor, json, strlen(json), &m, &e2) == FERRY_OK) {
            it->summary->config = (Ferry__V1__NodeConfig *)m;
            hub_arena_own(&f->arena, m);
        }
        free(json);
    }
    return hub_blob_download_link(f->hub, &f->arena, it->customer_id, it->summary->sha256,
                                  &it->summary->download, err);
}

static ferry_err_code_t get_node_config_body(hub_frame_t *f, const Ferry__V1__GetNodeConfigRequest *req,
                                             Ferry__V1__GetNodeConfigResponse *resp, ferry_err_t *err)
{
    ferry_store_node_config_item_t it;
    ferry_err_code_t rc;

    if (req->node_code[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "node_code is required");
    ferry_store_lock(f->store);
    rc = ferry_store_node_config_get(f->store, &f->arena, req->node_code, &it, err);
    ferry_store_unlock(f->store);
    if (rc != FERRY_OK || (rc = config_fill(f, &it, err)) != FERRY_OK)
        return rc;
    resp->summary = it.summary;
    return FERRY_OK;
}

static ferry_err_code_t list_node_configs_body(hub_frame_t *f, const Ferry__V1__ListNodeConfigsRequest *req,
                                               Ferry__V1__ListNodeConfigsResponse *resp, ferry_err_t *err)
{
    ferry_store_page_t rows;
    ferry_err_code_t rc;

    if ((rc = ferry_store_node_configs_list(f->store, req->customer_code, req->store_code, req->page_token,
                                            req->page_size, &f->arena, &rows, err)) != FERRY_OK)
        return rc;
    if ((resp->summaries = hub_arena_alloc(&f->arena, (rows.n + 1) * sizeof(void *))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "node configs: out of memory");
    for (size_t i = 0; i < rows.n; i++) {
        const ferry_store_node_config_item_t *it = rows.items[i];
        if ((rc = config_fill(f, it, err)) != FERRY_OK)
            return rc;
        resp->summaries[resp->n_summaries++] = it->summary;
    }
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

/* ---- dashboard ---------------------------------------------------------------------------- */

static ferry_err_code_t get_dashboard_body(hub_frame_t *f, const Ferry__V1__GetDashboardRequest *req,
                                           Ferry__V1__GetDashboardResponse *resp, ferry_err_t *err)
{
    int64_t now = ferry_store_now_ms(), cutoff = now - (int64_t)f->hub->cfg.offline_after_s * 1000;
    ferry_err_code_t rc;

    ferry_store_lock(f->store);
    rc = ferry_store_dashboard(f->store, &f->arena, req->customer_code, req->environment, now, cutoff, resp,
                               err);
    ferry_store_unlock(f->store);
    return rc;
}

/* ---- binding ---------------------------------------------------------------------------------- */

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
