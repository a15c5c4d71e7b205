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

#include "ferry/json.h"
#include "ferry/model/states.h"
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

/*
 * RetryTask: a FAILED update task of an active release goes back to Pending (attempt
 * + 1, error cleared, history keeps the failure) and is offered to the agent again,
 * which resumes from its journal/checkpoint (seed 002). Refused for rollback tasks,
 * for tasks of a paused or canceled release and for tasks not in 110.
 */
static ferry_err_code_t retry_task_body(hub_frame_t *f, const Ferry__V1__RetryTaskRequest *req,
                                        Ferry__V1__RetryTaskResponse *resp, ferry_err_t *err)
{
    Ferry__V1__UpdateTask *t = hub_arena_alloc(&f->arena, sizeof(*t));
    ferry_store_task_ref_t ref;
    ferry_store_task_event_new_t ev = {0};
    int64_t id, now = ferry_store_now_ms();
    char *msg, *source;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->id, "task id", &id, err)) != FERRY_OK)
        return rc;
    hub_frame_target(f, "task:%lld", (long long)id);
    if (t == NULL)
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
    msg = hub_arena_printf(&f->arena, "retry requested%s%s%.256s",
                           req->skip_failed_hook ? " (skip failed hook)" : "", req->reason[0] ? ": " : "",
                           req->reason);
    source = hub_arena_printf(&f->arena, "admin:%s", f->me != NULL ? f->me->token_id : "");
    ev.task_id = id;
    ev.state = FERRY_STATE_PENDING;
    ev.message = msg;
    ev.source = source;
    ev.at = now;
    if ((rc = ferry_store_task_retry(f->store, id, msg, now, err)) != FERRY_OK ||
        (rc = ferry_store_task_event_add(f->store, &ev, err)) != FERRY_OK ||
        (rc = ferry_store_task_get(f->store, &f->arena, id, now, t, err)) != FERRY_OK)
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
