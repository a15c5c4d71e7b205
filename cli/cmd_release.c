/* `ferry release ...`: publish, inspect, control and watch releases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "ferry/model/states.h"
#include "ferry/model/window.h"

#define WATCH_MAX_TASKS 100000
#define WATCH_TTY_LINES 40

static const char *release_state_name(int s)
{
    switch (s) {
    case 1:
        return "ACTIVE";
    case 2:
        return "PAUSED";
    case 3:
        return "CANCELED";
    case 4:
        return "COMPLETED";
    default:
        return "-";
    }
}

static const char *policy_name(int p)
{
    return p == 1 ? "forced" : p == 2 ? "optional" : "-";
}

static json_t *tasks_json(Ferry__V1__UpdateTask **tasks, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ferry_cli_task_json(tasks[i]));
    return arr;
}

static void print_release_line(FILE *f, const Ferry__V1__Release *r)
{
    char dl[40];
    size_t ns = r->scope ? r->scope->n_store_codes : 0, nn = r->scope ? r->scope->n_node_codes : 0;

    fprintf(f, "Release %s: package %s, customer %s, %s, %s%s%s, %llu node(s), %s", r->id, r->package_version,
            r->scope ? r->scope->customer_code : "?",
            r->scope ? ferry_cli_env_name((int)r->scope->environment) : "?", policy_name((int)r->policy),
            r->deadline ? " until " : "", r->deadline ? ferry_cli_fmt_time(r->deadline, dl, sizeof(dl)) : "",
            (unsigned long long)r->node_count, release_state_name((int)r->state));
    if (ns || nn)
        fprintf(f, " (%zu store(s), %zu node(s) named)", ns, nn);
    fputc('\n', f);
}

/* The rollout lines of a release: waves, thresholds, window, paused reason (none without them). */
static void print_rollout(FILE *f, const Ferry__V1__Release *r)
{
    if (r->n_waves > 0) {
        fprintf(f, "  waves: %zu, current wave %u%s; success threshold %u%%, error threshold %s%s\n",
                r->n_waves, r->current_wave,
                r->awaiting_promotion ? " (waiting for: ferry release promote)" : "", r->success_threshold,
                r->error_threshold, r->approve_waves ? ", each wave approved" : "");
        for (size_t i = 0; i < r->n_waves; i++) {
            const Ferry__V1__ReleaseWave *w = r->waves[i];
            char at[40];
            fprintf(f, "  wave %u (%s): %llu node(s), %llu at 100, %llu failed, %s%s\n", w->number, w->spec,
                    (unsigned long long)w->node_count, (unsigned long long)w->succeeded,
                    (unsigned long long)w->failed, w->started_at ? "started " : "not started",
                    w->started_at ? ferry_cli_fmt_time(w->started_at, at, sizeof(at)) : "");
        }
        for (size_t i = 0; i < r->n_canary_node_codes; i++)
            fprintf(f, "  canary node %s\n", r->canary_node_codes[i]);
    }
    if (r->maintenance_window[0] != '\0')
        fprintf(f, "  maintenance window %s daily (node time)\n", r->maintenance_window);
    if (r->paused_reason[0] != '\0')
        fprintf(f, "  paused: %s\n", r->paused_reason);
}

/* --waves 5,25%,100%, --canary, --success-threshold, --error-threshold, --approve-waves, --window.
 * The server checks the values (one set of rules, messages naming the culprit). */
static int rollout_args(ferry_cli_t *cli, const ferry_cli_args_t *a, Ferry__V1__CreateReleaseRequest *req,
                        char **waves, char **buf)
{
    const char *s;
    int rc = FERRY_CLI_EXIT_OK;

    if ((s = ferry_cli_arg(a, "waves")) != NULL) {
        char *save = NULL, *tok;
        if ((*buf = strdup(s)) == NULL)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, NULL, "out of memory");
        /* An empty item ("5,,100%") is kept, so the server names it. */
        for (tok = *buf; tok != NULL && req->n_waves <= FERRY_WAVES_MAX; tok = save) {
            save = strchr(tok, ',');
            if (save != NULL)
                *save++ = '\0';
            waves[req->n_waves++] = tok;
        }
        if (tok != NULL)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--waves: at most %d waves",
                                  FERRY_WAVES_MAX);
        req->waves = waves;
    }
    req->canary_node_codes = (char **)ferry_cli_arg_multi(a, "canary", &req->n_canary_node_codes);
    if ((s = ferry_cli_arg(a, "success-threshold")) != NULL) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (*s == '\0' || (*end != '\0' && strcmp(end, "%") != 0) || v < 1 || v > 100)
            rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                                "--success-threshold '%s': a percent, 1..100", s);
        req->success_threshold = (uint32_t)(v < 1 || v > 100 ? 0 : v);
    }
    req->error_threshold = ferry_cli_s(ferry_cli_arg(a, "error-threshold"));
    req->approve_waves = ferry_cli_arg_set(a, "approve-waves");
    req->maintenance_window = ferry_cli_s(ferry_cli_arg(a, "window"));
    return rc;
}

static int release_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateReleaseRequest req = FERRY__V1__CREATE_RELEASE_REQUEST__INIT;
    Ferry__V1__ReleaseScope scope = FERRY__V1__RELEASE_SCOPE__INIT;
    Google__Protobuf__Timestamp deadline = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Ferry__V1__CreateReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_err_t err = {0};
    const char *const *stores, *const *nodes;
    char *waves[FERRY_WAVES_MAX + 1], *wave_buf = NULL;
    int env, policy, rc;
    json_t *obj;

    if ((env = ferry_cli_parse_env(ferry_cli_arg(a, "env"))) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                              "unknown environment '%s' (DEV, TEST, UAT, PROD)", ferry_cli_arg(a, "env"));
    if ((policy = ferry_cli_parse_policy(ferry_cli_arg(a, "policy"))) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--policy must be forced or optional");
    if (ferry_cli_arg(a, "deadline") != NULL) {
        if (ferry_cli_parse_rfc3339(ferry_cli_arg(a, "deadline"), &deadline.seconds, &deadline.nanos, &err) !=
            FERRY_OK)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--deadline: %s", err.msg);
        if (policy != 2)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--deadline needs --policy optional");
        req.deadline = &deadline;
    }
    scope.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    scope.environment = (Ferry__V1__Environment)env;
    stores = ferry_cli_arg_multi(a, "store", &scope.n_store_codes);
    nodes = ferry_cli_arg_multi(a, "node", &scope.n_node_codes);
    scope.store_codes = (char **)stores;
    scope.node_codes = (char **)nodes;
    req.scope = &scope;
    req.package_version = ferry_cli_s(ferry_cli_arg(a, "version"));
    req.policy = (Ferry__V1__ReleasePolicy)policy;
    req.description = ferry_cli_s(ferry_cli_arg(a, "description"));
    if ((rc = rollout_args(cli, a, &req, waves, &wave_buf)) != FERRY_CLI_EXIT_OK)
        goto out;
    if (ferry_v1_admin_service_create_release(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create release", &st);
        goto out;
    }
    if (cli->g.json) {
        obj = json_object();
        json_object_set_new(obj, "id", json_string(resp->release ? resp->release->id : ""));
        json_object_set_new(obj, "release",
                            resp->release ? ferry_cli_msg_json(&resp->release->base) : json_null());
        json_object_set_new(obj, "tasks", tasks_json(resp->tasks, resp->n_tasks));
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    if (resp->release) {
        print_release_line(cli->out, resp->release);
        print_rollout(cli->out, resp->release);
    }
    for (size_t i = 0; i < resp->n_tasks; i++)
        fprintf(cli->out, "  task %s  node %s  state %d %s\n", resp->tasks[i]->id, resp->tasks[i]->node_code,
                (int)resp->tasks[i]->state, ferry_cli_task_state_name((int)resp->tasks[i]->state));
    fprintf(cli->out, "Watch it with: ferry release watch %s\n", resp->release ? resp->release->id : "ID");
    rc = FERRY_CLI_EXIT_OK;
out:
    free(wave_buf);
    FERRY_CLI_FREE(resp);
    return rc;
}

static int release_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListReleasesRequest req = FERRY__V1__LIST_RELEASES_REQUEST__INIT;
    Ferry__V1__ListReleasesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID",    "VERSION", "CUSTOMER", "ENV",    "POLICY",
                                 "NODES", "STATE",   "WAVE",     "CREATED"};
    ferry_cli_table_t t;
    int env, rc;
    const char *s;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if ((s = ferry_cli_arg(a, "env")) != NULL) {
        if ((env = ferry_cli_parse_env(s)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown environment '%s'", s);
        req.environment = (Ferry__V1__Environment)env;
    }
    if ((s = ferry_cli_arg(a, "state")) != NULL) {
        static const char *names[] = {"active", "paused", "canceled", "completed"};
        for (int i = 0; i < 4; i++)
            if (strcasecmp(s, names[i]) == 0)
                req.state = (Ferry__V1__ReleaseState)(i + 1);
        if (req.state == 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                                  "--state: active, paused, canceled or completed");
    }
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.package_version = ferry_cli_s(ferry_cli_arg(a, "version"));
    if (ferry_v1_admin_service_list_releases(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list releases", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 9, head);
    for (size_t i = 0; i < resp->n_releases; i++) {
        const Ferry__V1__Release *r = resp->releases[i];
        char nodes[24], created[40], wave[32] = "-";
        snprintf(nodes, sizeof(nodes), "%llu", (unsigned long long)r->node_count);
        /* "2/3" (current of all), "2/3 approve?" while waiting for PromoteRelease. */
        if (r->n_waves > 0)
            snprintf(wave, sizeof(wave), "%u/%zu%s", r->current_wave, r->n_waves,
                     r->awaiting_promotion ? " approve?" : "");
        const char *cells[9] = {r->id,
                                r->package_version,
                                r->scope ? r->scope->customer_code : "",
                                r->scope ? ferry_cli_env_name((int)r->scope->environment) : "",
                                policy_name((int)r->policy),
                                nodes,
                                release_state_name((int)r->state),
                                wave,
                                ferry_cli_fmt_time(r->created_at, created, sizeof(created))};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int release_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetReleaseRequest req = FERRY__V1__GET_RELEASE_REQUEST__INIT;
    Ferry__V1__GetReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_release(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get release", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->release ? &resp->release->base : NULL, NULL);
    if (rc == FERRY_CLI_EXIT_OK && !cli->g.json && resp->release != NULL) {
        print_release_line(cli->out, resp->release);
        print_rollout(cli->out, resp->release);
    }
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int release_promote(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__PromoteReleaseRequest req = FERRY__V1__PROMOTE_RELEASE_REQUEST__INIT;
    Ferry__V1__PromoteReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_promote_release(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "promote release", &st);
        goto out;
    }
    if (cli->g.json) {
        json_t *obj = ferry_cli_msg_json(&resp->base);
        if (obj != NULL)
            json_object_set_new(obj, "tasks", tasks_json(resp->tasks, resp->n_tasks));
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    fprintf(cli->out, "Release %s: wave %u started, %zu task(s) created.\n", a->pos[0],
            resp->release ? resp->release->current_wave : 0, resp->n_tasks);
    for (size_t i = 0; i < resp->n_tasks; i++)
        fprintf(cli->out, "  task %s  node %s  state %d %s\n", resp->tasks[i]->id, resp->tasks[i]->node_code,
                (int)resp->tasks[i]->state, ferry_cli_task_state_name((int)resp->tasks[i]->state));
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* pause / resume / cancel share one shape. */
static int release_control(ferry_cli_t *cli, const ferry_cli_args_t *a, int which)
{
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ProtobufCMessage *resp = NULL;
    const Ferry__V1__Release *rel = NULL;
    ferry_rpc_code_t code;
    const char *what = which == 0 ? "pause release" : which == 1 ? "resume release" : "cancel release";
    char line[128];
    int rc;

    if (which == 0) {
        Ferry__V1__PauseReleaseRequest req = FERRY__V1__PAUSE_RELEASE_REQUEST__INIT;
        Ferry__V1__PauseReleaseResponse *r = NULL;
        req.id = (char *)a->pos[0];
        code = ferry_v1_admin_service_pause_release(cli->client, &req, &r, &o, &st);
        resp = r ? &r->base : NULL;
        rel = r ? r->release : NULL;
    } else if (which == 1) {
        Ferry__V1__ResumeReleaseRequest req = FERRY__V1__RESUME_RELEASE_REQUEST__INIT;
        Ferry__V1__ResumeReleaseResponse *r = NULL;
        req.id = (char *)a->pos[0];
        code = ferry_v1_admin_service_resume_release(cli->client, &req, &r, &o, &st);
        resp = r ? &r->base : NULL;
        rel = r ? r->release : NULL;
    } else {
        Ferry__V1__CancelReleaseRequest req = FERRY__V1__CANCEL_RELEASE_REQUEST__INIT;
        Ferry__V1__CancelReleaseResponse *r = NULL;
        req.id = (char *)a->pos[0];
        req.reason = ferry_cli_s(ferry_cli_arg(a, "reason"));
        code = ferry_v1_admin_service_cancel_release(cli->client, &req, &r, &o, &st);
        resp = r ? &r->base : NULL;
        rel = r ? r->release : NULL;
        if (r != NULL && !cli->g.json)
            fprintf(cli->out, "%llu task(s) stopped before touching their node.\n",
                    (unsigned long long)r->tasks_canceled);
    }
    if (code != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, what, &st);
        goto out;
    }
    snprintf(line, sizeof(line), "Release %s is now %s.", a->pos[0],
             rel ? release_state_name((int)rel->state) : "?");
    rc = ferry_cli_show(cli, resp, rel ? &rel->base : NULL, line);
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int release_pause(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return release_control(cli, a, 0);
}

static int release_resume(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return release_control(cli, a, 1);
}

static int release_cancel(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return release_control(cli, a, 2);
}

static int release_rollback(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__RollbackReleaseRequest req = FERRY__V1__ROLLBACK_RELEASE_REQUEST__INIT;
    Ferry__V1__RollbackReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    const char *const *nodes;
    int rc;
    json_t *obj;

    req.id = (char *)a->pos[0];
    nodes = ferry_cli_arg_multi(a, "node", &req.n_node_codes);
    req.node_codes = (char **)nodes;
    req.reason = ferry_cli_s(ferry_cli_arg(a, "reason"));
    if (ferry_v1_admin_service_rollback_release(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "roll back release", &st);
        goto out;
    }
    if (cli->g.json) {
        obj = ferry_cli_msg_json(&resp->base);
        if (obj != NULL)
            json_object_set_new(obj, "tasks", tasks_json(resp->tasks, resp->n_tasks));
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    fprintf(cli->out, "Created %zu rollback task(s).\n", resp->n_tasks);
    for (size_t i = 0; i < resp->n_tasks; i++)
        fprintf(cli->out, "  task %s  node %s  state %d\n", resp->tasks[i]->id, resp->tasks[i]->node_code,
                (int)resp->tasks[i]->state);
    for (size_t i = 0; i < resp->n_skipped_node_codes; i++)
        fprintf(cli->out, "  skipped node %s: no backup (E_BACKUP_MISSING)\n", resp->skipped_node_codes[i]);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int release_summary(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetReleaseSummaryRequest req = FERRY__V1__GET_RELEASE_SUMMARY_REQUEST__INIT;
    Ferry__V1__GetReleaseSummaryResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;
    json_t *obj, *arr;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_release_summary(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "release summary", &st);
        goto out;
    }
    if (cli->g.json) {
        obj = ferry_cli_msg_json(&resp->base);
        if (obj != NULL) {
            arr = json_array();
            for (size_t i = 0; i < resp->n_by_state; i++)
                json_array_append_new(arr, json_pack("{s:i, s:s, s:I}", "state",
                                                     (int)resp->by_state[i]->state, "stateName",
                                                     ferry_cli_task_state_name((int)resp->by_state[i]->state),
                                                     "count", (json_int_t)resp->by_state[i]->count));
            json_object_set_new(obj, "byState", arr);
        }
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    if (resp->release) {
        print_release_line(cli->out, resp->release);
        print_rollout(cli->out, resp->release);
    }
    fprintf(cli->out, "tasks: %llu total, %llu finished, %llu node(s) online\n",
            (unsigned long long)resp->total, (unsigned long long)resp->finished,
            (unsigned long long)resp->nodes_online);
    for (size_t i = 0; i < resp->n_by_state; i++)
        fprintf(cli->out, "  %3d %-18s %llu\n", (int)resp->by_state[i]->state,
                ferry_cli_task_state_name((int)resp->by_state[i]->state),
                (unsigned long long)resp->by_state[i]->count);
    for (size_t i = 0; i < resp->n_by_error; i++)
        fprintf(cli->out, "  %-22s %llu\n", resp->by_error[i]->error_code,
                (unsigned long long)resp->by_error[i]->count);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* ---- watch -------------------------------------------------------------- */

typedef struct watch_item {
    Ferry__V1__WatchReleaseResponse *msg; /* latest message about the task (owned) */
} watch_item_t;

typedef struct watch {
    ferry_cli_t *cli;
    const char *id;
    watch_item_t *items;
    size_t n, cap;
    uint64_t total;
    int drawn;
    bool release_over;
    bool done;
    bool snapshot_done;
} watch_t;

static const int PIPELINE[] = {
    FERRY_STATE_PENDING,           FERRY_STATE_DOWNLOADING,       FERRY_STATE_VERIFYING,
    FERRY_STATE_WAITING_USER,      FERRY_STATE_STOPPING_SERVICE,  FERRY_STATE_BACKING_UP,
    FERRY_STATE_INSTALLING_SERVER, FERRY_STATE_INSTALLING_CLIENT, FERRY_STATE_RUNNING_SQL,
    FERRY_STATE_STARTING_SERVICE,  FERRY_STATE_SUCCEEDED,
};

static double overall(const Ferry__V1__UpdateTask *t)
{
    size_t n = sizeof(PIPELINE) / sizeof(PIPELINE[0]);
    int s = (int)t->state;

    if (s == FERRY_STATE_SUCCEEDED || s == FERRY_STATE_ROLLBACKED)
        return 1.0;
    for (size_t i = 0; i < n; i++)
        if (PIPELINE[i] == s)
            return ((double)i + (t->percent > 100 ? 100 : t->percent) / 100.0) / (double)(n - 1);
    return 0.0;
}

static void draw_tty(watch_t *w)
{
    FILE *f = w->cli->errf;
    size_t shown = w->n < WATCH_TTY_LINES ? w->n : WATCH_TTY_LINES;
    size_t fin = 0;
    char bar[40];

    if (w->drawn > 0)
        fprintf(f, "\033[%dA", w->drawn);
    for (size_t i = 0; i < w->n; i++)
        if (ferry_cli_task_state_final((int)w->items[i].msg->task->state))
            fin++;
    fprintf(f, "\r\033[Krelease %s: %zu/%llu task(s) final\n", w->id, fin, (unsigned long long)w->total);
    for (size_t i = 0; i < shown; i++) {
        const Ferry__V1__UpdateTask *t = w->items[i].msg->task;
        fprintf(f, "\r\033[K%-20.20s %s %3d %-17s %3u%% %s%s%.40s\n", t->node_code,
                ferry_cli_bar(overall(t), 24, bar, sizeof(bar)), (int)t->state,
                ferry_cli_task_state_name((int)t->state), t->percent, t->error_code,
                t->error_code[0] ? " " : "", t->message);
    }
    if (w->n > shown)
        fprintf(f, "\r\033[K... and %zu more\n", w->n - shown);
    w->drawn = (int)shown + 1 + (w->n > shown ? 1 : 0);
    fflush(f);
}

static void print_plain(watch_t *w, const Ferry__V1__UpdateTask *t)
{
    char now[40];
    time_t s = time(NULL);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(w->cli->out, "%s node %s task %s state %d %s %u%%%s%s%s%s\n", now, t->node_code, t->id,
            (int)t->state, ferry_cli_task_state_name((int)t->state), t->percent, t->error_code[0] ? " " : "",
            t->error_code, t->message[0] ? " " : "", t->message);
    fflush(w->cli->out);
}

static bool all_final(const watch_t *w)
{
    if ((uint64_t)w->n < w->total)
        return false;
    for (size_t i = 0; i < w->n; i++)
        if (!ferry_cli_task_state_final((int)w->items[i].msg->task->state))
            return false;
    return true;
}

static int on_watch(Ferry__V1__WatchReleaseResponse *msg, void *user)
{
    watch_t *w = user;
    size_t i;
    bool keep = false;

    if (msg->snapshot_done)
        w->snapshot_done = true;
    if (msg->event_case == FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_TASK && msg->task != NULL) {
        for (i = 0; i < w->n; i++)
            if (strcmp(w->items[i].msg->task->id, msg->task->id) == 0)
                break;
        if (i == w->n && w->n < WATCH_MAX_TASKS) {
            if (w->n == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 16;
                watch_item_t *ni = realloc(w->items, cap * sizeof(*ni));
                if (ni != NULL) {
                    w->items = ni;
                    w->cap = cap;
                }
            }
            if (w->n < w->cap) {
                w->items[w->n].msg = NULL;
                w->n++;
            }
        }
        if (i < w->n) {
            if (w->items[i].msg != NULL)
                protobuf_c_message_free_unpacked(&w->items[i].msg->base, NULL);
            w->items[i].msg = msg;
            keep = true;
            if (!w->cli->g.json && !w->cli->tty)
                print_plain(w, msg->task);
        }
        if ((uint64_t)w->n > w->total)
            w->total = w->n;
    } else if (msg->event_case == FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_RELEASE && msg->release != NULL) {
        int s = (int)msg->release->state;
        if ((uint64_t)msg->release->node_count > w->total)
            w->total = msg->release->node_count; /* every wave's nodes, started or not */
        if (!w->cli->g.json && !w->cli->tty) {
            fprintf(w->cli->out, "release %s is %s", w->id, release_state_name(s));
            if (msg->release->n_waves > 0)
                fprintf(w->cli->out, ", wave %u of %zu%s", msg->release->current_wave, msg->release->n_waves,
                        msg->release->awaiting_promotion ? " (waiting for: ferry release promote)" : "");
            if (msg->release->paused_reason[0] != '\0')
                fprintf(w->cli->out, " (%s)", msg->release->paused_reason);
            fputc('\n', w->cli->out);
            fflush(w->cli->out);
        }
        if (s == 3 || s == 4)
            w->release_over = true;
    }
    if (w->cli->tty && !w->cli->g.json)
        draw_tty(w);
    if (!keep)
        protobuf_c_message_free_unpacked(&msg->base, NULL);
    if (all_final(w) || (w->release_over && w->snapshot_done)) {
        w->done = true;
        return 1;
    }
    return 0;
}

static int release_watch(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetReleaseSummaryRequest sreq = FERRY__V1__GET_RELEASE_SUMMARY_REQUEST__INIT;
    Ferry__V1__GetReleaseSummaryResponse *sresp = NULL;
    Ferry__V1__WatchReleaseRequest req = FERRY__V1__WATCH_RELEASE_REQUEST__INIT;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    watch_t w;
    ferry_rpc_code_t code;
    int rc = FERRY_CLI_EXIT_OK;
    json_t *obj, *arr;

    memset(&w, 0, sizeof(w));
    w.cli = cli;
    w.id = a->pos[0];
    sreq.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_release_summary(cli->client, &sreq, &sresp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "watch release", &st);
        goto out;
    }
    w.total = sresp->total;
    /* With waves, later waves' tasks do not exist yet: wait for every node of the plan. */
    if (sresp->release != NULL && sresp->release->node_count > w.total)
        w.total = sresp->release->node_count;
    if (sresp->release != NULL && !cli->g.json) {
        print_release_line(cli->tty ? cli->errf : cli->out, sresp->release);
        print_rollout(cli->tty ? cli->errf : cli->out, sresp->release);
    }
    req.id = (char *)a->pos[0];
    req.initial_snapshot = true;
    o = ferry_cli_opts(cli, true);
    if (w.total == 0) {
        w.done = true; /* no task: nothing to wait for */
    } else {
        code = ferry_v1_admin_service_watch_release(cli->client, &req, on_watch, &w, &o, &st);
        if (code != FERRY_RPC_OK && !(code == FERRY_RPC_CANCELED && (w.done || cli->cancel))) {
            rc = ferry_cli_fail_rpc(cli, "watch release", &st);
            goto out;
        }
    }
    if (cli->g.json) {
        obj = json_object();
        arr = json_array();
        for (size_t i = 0; i < w.n; i++)
            json_array_append_new(arr, ferry_cli_task_json(w.items[i].msg->task));
        json_object_set_new(obj, "id", json_string(w.id));
        json_object_set_new(obj, "tasks", arr);
        json_object_set_new(obj, "complete", json_boolean(w.done && !cli->cancel));
        json_object_set_new(obj, "interrupted", json_boolean(cli->cancel != 0));
        rc = ferry_cli_emit(cli, obj);
    } else {
        fprintf(cli->out, "%s\n", cli->cancel ? "watch interrupted" : "all tasks are final");
    }
out:
    for (size_t i = 0; i < w.n; i++)
        if (w.items[i].msg != NULL)
            protobuf_c_message_free_unpacked(&w.items[i].msg->base, NULL);
    free(w.items);
    FERRY_CLI_FREE(sresp);
    return rc;
}

static const ferry_cli_flag_t CREATE_FLAGS[] = {
    {"version", FERRY_CLI_FLAG_STR, "V", "package version to publish", true},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "environment: DEV, TEST, UAT or PROD", true},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "customer code", true},
    {"store", FERRY_CLI_FLAG_MULTI, "CODE", "restrict to this store", false},
    {"node", FERRY_CLI_FLAG_MULTI, "CODE", "restrict to this node (in addition to the stores' nodes)", false},
    {"policy", FERRY_CLI_FLAG_STR, "POLICY", "forced or optional", true},
    {"deadline", FERRY_CLI_FLAG_STR, "RFC3339", "optional becomes forced after this instant", false},
    {"description", FERRY_CLI_FLAG_STR, "TEXT", "free text", false},
    {"waves", FERRY_CLI_FLAG_STR, "LIST",
     "roll out in waves: cumulative sizes, counts or percents of the scope (5,25%,100%)", false},
    {"canary", FERRY_CLI_FLAG_MULTI, "NODE", "a node of the first wave (repeatable; canaries go first)",
     false},
    {"success-threshold", FERRY_CLI_FLAG_STR, "PCT", "percent of a wave at 100 before the next starts (100)",
     false},
    {"error-threshold", FERRY_CLI_FLAG_STR, "N",
     "failures in a wave that pause the release: 10 or 10% (percent), count:3 (tasks); default 0%", false},
    {"approve-waves", FERRY_CLI_FLAG_BOOL, NULL, "each next wave waits for: ferry release promote ID", false},
    {"window", FERRY_CLI_FLAG_STR, "HH:MM-HH:MM", "daily maintenance window in each node's time zone", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only releases of this customer", false},
    {"version", FERRY_CLI_FLAG_STR, "V", "only releases of this package version", false},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "only releases in this environment", false},
    {"state", FERRY_CLI_FLAG_STR, "STATE", "active, paused, canceled or completed", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t REASON_FLAGS[] = {
    {"reason", FERRY_CLI_FLAG_STR, "TEXT", "reason, kept in the audit log", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t ROLLBACK_FLAGS[] = {
    {"node", FERRY_CLI_FLAG_MULTI, "CODE", "roll back only this node (default: the whole scope)", false},
    {"reason", FERRY_CLI_FLAG_STR, "TEXT", "reason, kept in the audit log", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_release_cmds[] = {
    {"create", "publish a package version to a scope", NULL, 0, CREATE_FLAGS,
     "Creates one task (state 10) per node of the scope, or of the first wave with --waves/--canary\n"
     "(later waves get theirs when they start). JSON output has the release id under \"id\".",
     release_create, false},
    {"list", "list releases, newest first", NULL, 0, LIST_FLAGS, NULL, release_list, false},
    {"get", "show one release", "ID", 1, NO_FLAGS, NULL, release_get, false},
    {"watch", "follow a release's tasks live until all are final", "ID", 1, NO_FLAGS,
     "Per-node progress bars on a terminal, one line per event otherwise. Ends when every task\n"
     "is final (100, 110, 130) or the release is canceled/completed, or on Ctrl-C.\n"
     "With --json, prints one object at the end: {\"id\", \"tasks\", \"complete\", \"interrupted\"}.",
     release_watch, false},
    {"promote", "start the next wave of a release created with --approve-waves", "ID", 1, NO_FLAGS,
     "Refused until the current wave reached its success threshold (FAILED_PRECONDITION naming the counts).",
     release_promote, false},
    {"pause", "pause a release", "ID", 1, NO_FLAGS, NULL, release_pause, false},
    {"resume", "resume a paused release", "ID", 1, NO_FLAGS, NULL, release_resume, false},
    {"cancel", "cancel a release", "ID", 1, REASON_FLAGS, NULL, release_cancel, false},
    {"rollback", "roll back a release for its scope or some nodes", "ID", 1, ROLLBACK_FLAGS, NULL,
     release_rollback, false},
    {"summary", "count a release's tasks per state and error code", "ID", 1, NO_FLAGS, NULL, release_summary,
     false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
