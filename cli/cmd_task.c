/* `ferry task ...`, `ferry report-file ...`, `ferry node-config ...`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/model/hooks.h"
#include "ferry/transfer.h"

#define MAX_STATES 16

static const char *file_kind_name(int k);

static int task_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListTasksRequest req = FERRY__V1__LIST_TASKS_REQUEST__INIT;
    Ferry__V1__ListTasksResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"TASK",  "RELEASE", "NODE",  "KIND",   "VERSION",
                                 "STATE", "%",       "ERROR", "UPDATED"};
    Ferry__V1__TaskState states[MAX_STATES];
    const char *const *sv;
    size_t ns = 0;
    ferry_cli_table_t t;
    int rc;
    const char *kind;
    json_t *obj, *arr;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    sv = ferry_cli_arg_multi(a, "state", &ns);
    if (ns > MAX_STATES)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "at most %d --state flags", MAX_STATES);
    for (size_t i = 0; i < ns; i++) {
        int s = ferry_cli_parse_task_state(sv[i]);
        if (s < 0)
            return ferry_cli_fail(
                cli, FERRY_CLI_EXIT_USAGE, NULL,
                "unknown task state '%s' (a seed code such as 10, or a name such as PENDING)", sv[i]);
        states[i] = (Ferry__V1__TaskState)s;
    }
    req.states = states;
    req.n_states = ns;
    if ((kind = ferry_cli_arg(a, "kind")) != NULL) {
        if (strcmp(kind, "update") == 0)
            req.kind = FERRY__V1__TASK_KIND__TASK_KIND_UPDATE;
        else if (strcmp(kind, "rollback") == 0)
            req.kind = FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
        else
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--kind must be update or rollback");
    }
    req.release_id = ferry_cli_s(ferry_cli_arg(a, "release"));
    req.node_code = ferry_cli_s(ferry_cli_arg(a, "node"));
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.store_code = ferry_cli_s(ferry_cli_arg(a, "store"));
    req.error_code = ferry_cli_s(ferry_cli_arg(a, "error-code"));
    if (ferry_v1_admin_service_list_tasks(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list tasks", &st);
        goto out;
    }
    if (cli->g.json) {
        obj = json_object();
        arr = json_array();
        for (size_t i = 0; i < resp->n_tasks; i++)
            json_array_append_new(arr, ferry_cli_task_json(resp->tasks[i]));
        json_object_set_new(obj, "tasks", arr);
        json_object_set_new(obj, "nextPageToken", json_string(resp->next_page_token));
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    ferry_cli_table_init(&t, 9, head);
    for (size_t i = 0; i < resp->n_tasks; i++) {
        const Ferry__V1__UpdateTask *k = resp->tasks[i];
        char state[48], pct[8], upd[40];
        snprintf(state, sizeof(state), "%d %s", (int)k->state, ferry_cli_task_state_name((int)k->state));
        snprintf(pct, sizeof(pct), "%u", k->percent);
        const char *cells[9] = {k->id,
                                k->release_id,
                                k->node_code,
                                k->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK ? "rollback" : "update",
                                k->package_version,
                                state,
                                pct,
                                k->error_code,
                                ferry_cli_fmt_time(k->updated_at, upd, sizeof(upd))};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* Files a task has (ListReportFiles by task, every page up to a cap), each with a fresh
 * download link. *out owns the responses (free each); *n_out receives how many. */
#define TASK_FILE_PAGES 10
static int task_files(ferry_cli_t *cli, const char *task_id,
                      Ferry__V1__ListReportFilesResponse *out[TASK_FILE_PAGES], size_t *n_out)
{
    Ferry__V1__ListReportFilesRequest req = FERRY__V1__LIST_REPORT_FILES_REQUEST__INIT;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    *n_out = 0;
    req.task_id = (char *)task_id;
    req.page_size = 1000;
    while (*n_out < TASK_FILE_PAGES) {
        Ferry__V1__ListReportFilesResponse *resp = NULL;
        if (ferry_v1_admin_service_list_report_files(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK)
            return ferry_cli_fail_rpc(cli, "list the task's files", &st);
        out[(*n_out)++] = resp;
        if (resp->next_page_token == NULL || resp->next_page_token[0] == '\0')
            break;
        req.page_token = resp->next_page_token;
    }
    return FERRY_CLI_EXIT_OK;
}

/* "download: 1.2 MiB from mirror-1 in 2.500s, 3 attempts, 1000 B resumed" and the
 * fallbacks, from the DownloadStats JSON of a task (seed 003 telemetry). */
static void print_download_stats(FILE *f, const json_t *dl)
{
    const char *src = json_string_value(json_object_get(dl, "sourceName"));
    const char *bytes = json_string_value(json_object_get(dl, "bytes"));
    const char *resumed = json_string_value(json_object_get(dl, "resumedBytes"));
    const char *dur = json_string_value(json_object_get(dl, "duration"));
    json_int_t attempts = json_integer_value(json_object_get(dl, "attempts"));
    const json_t *fb = json_object_get(dl, "fallbacks");
    char b1[32], b2[32];
    fprintf(f, "download: %s from %s in %s, %lld attempt%s",
            ferry_cli_fmt_bytes(bytes ? strtoull(bytes, NULL, 10) : 0, b1, sizeof(b1)),
            src && src[0] ? src : "(no source)", dur ? dur : "0s", (long long)attempts,
            attempts == 1 ? "" : "s");
    if (resumed != NULL && strtoull(resumed, NULL, 10) > 0)
        fprintf(f, ", %s resumed", ferry_cli_fmt_bytes(strtoull(resumed, NULL, 10), b2, sizeof(b2)));
    fputc('\n', f);
    for (size_t i = 0; i < json_array_size(fb); i++)
        fprintf(f, "download fallback %zu: %s\n", i + 1, json_string_value(json_array_get(fb, i)));
}

/* The last |max| lines of |text|, each indented as "    | line". */
static void print_tail(FILE *f, const char *text, int max)
{
    const char *p = text + strlen(text);
    int lines = 0;
    while (p > text && (p[-1] == '\n' || p[-1] == ' '))
        p--;
    const char *end = p;
    while (p > text && lines < max) {
        p--;
        if (*p == '\n' && ++lines == max) {
            p++;
            break;
        }
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        fprintf(f, "    | %.*s\n", (int)n, p);
        p += n + (nl != NULL);
    }
}

/* The task's upgrade hooks, as the agent reported them: one line each, a failure's output tail. */
/* "PASS" for HOOK_RESULT_PASS: the IDL's own names, "?" for a value this CLI does not know. */
static const char *hook_result_name(int result)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&ferry__v1__hook_result__descriptor, result);
    return v != NULL && result > 0 ? v->name + strlen("HOOK_RESULT_") : "?";
}

/* The task's upgrade hooks, as the agent reported them: one line each, a failure's output
 * tail. Stages are named as hooks.json names them (HookStage n = the model's phase n - 1). */
static void print_hooks(FILE *f, const Ferry__V1__UpdateTask *t)
{
    if (t->n_hooks == 0)
        return;
    fprintf(f, "hooks: %zu\n", t->n_hooks);
    for (size_t i = 0; i < t->n_hooks; i++) {
        const Ferry__V1__HookReport *h = t->hooks[i];
        int64_t ms = h->duration != NULL ? h->duration->seconds * 1000 + h->duration->nanos / 1000000 : 0;
        fprintf(f, "  %s %s: %s (%lld ms", ferry_hook_phase_name((ferry_hook_phase_t)((int)h->stage - 1)),
                h->hook_id, hook_result_name((int)h->result), (long long)ms);
        if (h->exit_status > 0) /* -1: not a program (check, sql); 0 says nothing */
            fprintf(f, ", exit %d", h->exit_status);
        fprintf(f, ")%s%s\n", h->message != NULL && h->message[0] ? ": " : "",
                h->message != NULL ? h->message : "");
        if (h->stderr_tail != NULL && h->stderr_tail[0] != '\0')
            print_tail(f, h->stderr_tail, 5);
    }
}

static int task_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetTaskRequest req = FERRY__V1__GET_TASK_REQUEST__INIT;
    Ferry__V1__GetTaskResponse *resp = NULL;
    Ferry__V1__ListReportFilesResponse *files[TASK_FILE_PAGES];
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    size_t n_pages = 0, n_files = 0;
    int rc;
    json_t *obj, *arr;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_task(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get task", &st);
        goto out;
    }
    if (resp->task == NULL) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PROTOCOL", "server returned no task");
        goto out;
    }
    /* The files the node uploaded for it (logs, diagnostics, sql.log), with links (seed §9.6). */
    if ((rc = task_files(cli, resp->task->id, files, &n_pages)) != FERRY_CLI_EXIT_OK)
        goto out;
    obj = ferry_cli_task_json(resp->task);
    if (cli->g.json) {
        arr = json_array();
        for (size_t p = 0; p < n_pages; p++)
            for (size_t i = 0; i < files[p]->n_files; i++)
                json_array_append_new(arr, ferry_cli_msg_json(&files[p]->files[i]->base));
        rc = ferry_cli_emit(cli, json_pack("{s:o,s:o}", "task", obj, "files", arr));
        goto out;
    }
    /* Human: the task's fields, then its files and its download telemetry, each once. */
    json_t *dl = json_incref(json_object_get(obj, "download"));
    json_object_del(obj, "reportFiles");
    json_object_del(obj, "download");
    json_object_del(obj, "hooks");
    ferry_cli_print_kv(cli->out, obj, NULL);
    json_decref(obj);
    print_hooks(cli->out, resp->task);
    if (dl != NULL)
        print_download_stats(cli->out, dl);
    json_decref(dl);
    for (size_t p = 0; p < n_pages; p++)
        n_files += files[p]->n_files;
    fprintf(cli->out, "files: %zu\n", n_files);
    for (size_t p = 0; p < n_pages; p++) {
        for (size_t i = 0; i < files[p]->n_files; i++) {
            const Ferry__V1__ReportFile *f = files[p]->files[i];
            char size[32], created[40], exp[40];
            fprintf(cli->out, "  file %s: %s %s (%s, %s)\n", f->id, file_kind_name((int)f->kind),
                    f->file_name, ferry_cli_fmt_bytes(f->size, size, sizeof(size)),
                    ferry_cli_fmt_time(f->created_at, created, sizeof(created)));
            if (f->summary != NULL && f->summary[0] != '\0')
                fprintf(cli->out, "    summary: %s\n", f->summary);
            if (f->download != NULL)
                fprintf(cli->out, "    download: %s (expires %s)\n", f->download->url,
                        ferry_cli_fmt_time(f->download->expires_at, exp, sizeof(exp)));
        }
    }
    rc = FERRY_CLI_EXIT_OK;
out:
    for (size_t p = 0; p < n_pages; p++)
        FERRY_CLI_FREE(files[p]);
    FERRY_CLI_FREE(resp);
    return rc;
}

static int task_events(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListTaskEventsRequest req = FERRY__V1__LIST_TASK_EVENTS_REQUEST__INIT;
    Ferry__V1__ListTaskEventsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"SEQ", "RECEIVED", "STATE", "%", "ERROR", "SOURCE", "MESSAGE"};
    ferry_cli_table_t t;
    int rc;
    json_t *obj, *arr;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.task_id = (char *)a->pos[0];
    if (ferry_v1_admin_service_list_task_events(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "task events", &st);
        goto out;
    }
    if (cli->g.json) {
        obj = ferry_cli_msg_json(&resp->base);
        arr = obj ? json_object_get(obj, "events") : NULL;
        for (size_t i = 0; arr && i < resp->n_events && i < json_array_size(arr); i++) {
            json_object_set_new(json_array_get(arr, i), "state",
                                json_integer((json_int_t)resp->events[i]->state));
            json_object_set_new(json_array_get(arr, i), "stateName",
                                json_string(ferry_cli_task_state_name((int)resp->events[i]->state)));
        }
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    ferry_cli_table_init(&t, 7, head);
    for (size_t i = 0; i < resp->n_events; i++) {
        const Ferry__V1__TaskEvent *e = resp->events[i];
        char seq[24], recv[40], state[48], pct[8];
        snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->sequence);
        snprintf(state, sizeof(state), "%d %s", (int)e->state, ferry_cli_task_state_name((int)e->state));
        snprintf(pct, sizeof(pct), "%u", e->percent);
        const char *cells[7] = {seq,           ferry_cli_fmt_time(e->received_at, recv, sizeof(recv)),
                                state,         pct,
                                e->error_code, e->source,
                                e->message};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int task_retry(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__RetryTaskRequest req = FERRY__V1__RETRY_TASK_REQUEST__INIT;
    Ferry__V1__RetryTaskResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    req.skip_failed_hook = ferry_cli_arg_set(a, "skip-failed-hook");
    /* --skip HOOK_ID (repeatable): the server checks each against the package's hooks.json. */
    req.skip_hook_ids = (char **)ferry_cli_arg_multi(a, "skip", &req.n_skip_hook_ids);
    req.reason = ferry_cli_s(ferry_cli_arg(a, "reason"));
    if (ferry_v1_admin_service_retry_task(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "retry task", &st);
        goto out;
    }
    if (cli->g.json && resp->task != NULL) {
        rc = ferry_cli_emit(cli, json_pack("{s:o}", "task", ferry_cli_task_json(resp->task)));
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->task ? &resp->task->base : NULL, "Retry requested.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* ---- the upgrade report (issue 11) ---------------------------------------------------- */

/* The agent's upgrade-report.json is a few KiB; anything far larger is not one. */
#define REPORT_MAX (16u << 20)

/* Whether |url| has the configured server's "scheme://host[:port]": only then does the
 * server's pin apply (a link to other storage is checked by its CA). */
static bool same_server(const char *url, const char *server)
{
    const char *a = strstr(url, "://"), *b = strstr(server, "://");
    if (a == NULL || b == NULL)
        return false;
    size_t n = (size_t)(a + 3 - url) + strcspn(a + 3, "/?#");
    return n == (size_t)(b + 3 - server) + strcspn(b + 3, "/?#") && strncasecmp(url, server, n) == 0;
}

/* Downloads |f| through its signed link into memory (NUL-terminated), checking its size
 * and SHA-256. An exit code; *out is the caller's on success. */
static int report_fetch(ferry_cli_t *cli, const Ferry__V1__ReportFile *f, char **out, size_t *len)
{
    ferry_xfer_config_t cfg = {0};
    ferry_xfer_t *x = NULL;
    ferry_err_t err = {0};
    char tmp[] = "/tmp/ferry-report-XXXXXX", got[FERRY_SHA256_HEX_LEN + 1];
    uint64_t got_size = 0;
    int fd = -1, rc = FERRY_CLI_EXIT_OK;

    *out = NULL;
    if (f->download == NULL || f->download->url == NULL || f->download->url[0] == '\0') {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_PROTOCOL", "report file %s has no download link",
                            f->id);
        goto out;
    }
    if (f->size > REPORT_MAX) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_TOO_LARGE",
                            "report file %s has %llu bytes: not an upgrade report", f->id,
                            (unsigned long long)f->size);
        goto out;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_IO", "create a temporary file in /tmp");
        goto out;
    }
    cfg.ca_file = cli->cfg.ca_file[0] ? cli->cfg.ca_file : NULL;
    cfg.pin_sha256 =
        cli->cfg.pin_sha256[0] && same_server(f->download->url, cli->cfg.server) ? cli->cfg.pin_sha256 : NULL;
    cfg.insecure_skip_verify = cli->g.insecure;
    cfg.user_agent = "ferry-cli/0.1";
    if ((x = ferry_xfer_new(&cfg, &err)) == NULL ||
        ferry_xfer_get_file(x, f->download->url, tmp, f->size, NULL, NULL, &cli->cancel, NULL, &err) !=
            FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, ferry_err_name(err.code), "download report file %s: %s",
                            f->id, err.msg);
        goto out;
    }
    if (ferry_sha256_file(tmp, got, &got_size, &err) != FERRY_OK ||
        ferry_fs_read_file(tmp, REPORT_MAX, out, len, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "%s", err.msg);
        goto out;
    }
    if (got_size != f->size || strcmp(got, f->sha256) != 0) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_HASH_MISMATCH",
                            "report file %s: got %llu bytes, SHA-256 %s; the server lists %llu bytes, %s",
                            f->id, (unsigned long long)got_size, got, (unsigned long long)f->size, f->sha256);
        free(*out);
        *out = NULL;
        goto out;
    }
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    ferry_xfer_free(x);
    return rc;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* The report for a human: the header, seed 002's check list, every phase's hooks, the
 * totals (the same parts as the agent's upgrade-report.txt, from the JSON). */
static void report_print(FILE *o, const json_t *r)
{
    const json_t *v, *p, *h;
    size_t i, j;

    fprintf(o, "Task:      %s (%s)\n", jstr(r, "taskId"), jstr(r, "kind"));
    fprintf(o, "Versions:  %s -> %s\n", jstr(r, "fromVersion"), jstr(r, "toVersion"));
    fprintf(o, "Result:    %lld %s%s%s\n", (long long)json_integer_value(json_object_get(r, "state")),
            jstr(r, "stateName"), jstr(r, "errorCode")[0] ? " " : "", jstr(r, "errorCode"));
    if (jstr(r, "errorMessage")[0] != '\0')
        fprintf(o, "Message:   %s\n", jstr(r, "errorMessage"));
    fprintf(o, "Post-upgrade: %s%s\n", jstr(r, "postUpgrade")[0] ? jstr(r, "postUpgrade") : "none",
            json_is_true(json_object_get(r, "flagged")) ? " [FLAGGED]" : "");
    v = json_object_get(r, "checks");
    if (json_array_size(v) > 0)
        fprintf(o, "\n[Data-quality checks]\n");
    json_array_foreach(v, i, h)
    {
        fprintf(o, "  %zu. Check: %s (%s)\n     - Result: %s (count %lld, threshold %lld)\n", i + 1,
                jstr(h, "item"), jstr(h, "id"), jstr(h, "result"),
                (long long)json_integer_value(json_object_get(h, "count")),
                (long long)json_integer_value(json_object_get(h, "threshold")));
        if (jstr(h, "suggestion")[0] != '\0')
            fprintf(o, "     - Suggestion: run `%s`\n", jstr(h, "suggestion"));
    }
    json_array_foreach(json_object_get(r, "phases"), i, p)
    {
        fprintf(o, "\n[%s] %s\n", jstr(p, "phase"), jstr(p, "title"));
        json_array_foreach(json_object_get(p, "hooks"), j, h)
            fprintf(o, "  %-14s %-24s %8.2f s  %s\n", jstr(h, "outcome"), jstr(h, "id"),
                    (double)json_integer_value(json_object_get(h, "durationMs")) / 1000.0, jstr(h, "reason"));
    }
    v = json_object_get(r, "totals");
    if (json_is_object(v)) {
        const char *k;
        json_t *n;
        fprintf(o, "\nTotals:");
        json_object_foreach((json_t *)v, k, n) fprintf(o, " %s %lld", k, (long long)json_integer_value(n));
        fputc('\n', o);
    }
}

/* `ferry task report ID`: the newest UPGRADE_REPORT file of the task (the agent uploads
 * one when the task ends and another when its post_upgrade phase ends). */
static int task_report(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListReportFilesRequest req = FERRY__V1__LIST_REPORT_FILES_REQUEST__INIT;
    Ferry__V1__ListReportFilesResponse *resp = NULL;
    const Ferry__V1__ReportFile *best = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    json_error_t je;
    json_t *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;

    req.task_id = (char *)a->pos[0];
    req.kind = FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT;
    req.page_size = 1000;
    if (ferry_v1_admin_service_list_report_files(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list the task's files", &st);
        goto out;
    }
    for (size_t i = 0; i < resp->n_files; i++) {
        const Ferry__V1__ReportFile *f = resp->files[i];
        long long id = strtoll(f->id, NULL, 10);
        if (f->kind == FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT &&
            (best == NULL || id > strtoll(best->id, NULL, 10)))
            best = f;
    }
    if (best == NULL) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_NOT_FOUND",
                            "task %s has no upgrade report (its package has no hooks.json, or the node has "
                            "not uploaded it yet)",
                            a->pos[0]);
        goto out;
    }
    if ((rc = report_fetch(cli, best, &text, &len)) != FERRY_CLI_EXIT_OK)
        goto out;
    if (cli->g.json) { /* the document exactly as the node wrote it */
        fwrite(text, 1, len, cli->out);
        if (len > 0 && text[len - 1] != '\n')
            fputc('\n', cli->out);
        goto out;
    }
    if ((doc = json_loadb(text, len, 0, &je)) == NULL || !json_is_object(doc)) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_CORRUPT",
                            "report file %s is not a JSON object (line %d: %s); see it with --json", best->id,
                            je.line, je.text);
        goto out;
    }
    report_print(cli->out, doc);
out:
    json_decref(doc);
    free(text);
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"release", FERRY_CLI_FLAG_STR, "ID", "only tasks of this release", false},
    {"node", FERRY_CLI_FLAG_STR, "CODE", "only tasks of this node", false},
    {"state", FERRY_CLI_FLAG_MULTI, "S", "only tasks in this state (seed code like 10, or PENDING)", false},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only tasks of this customer", false},
    {"store", FERRY_CLI_FLAG_STR, "CODE", "only tasks of this store", false},
    {"error-code", FERRY_CLI_FLAG_STR, "E_...", "only tasks that failed with this error code", false},
    {"kind", FERRY_CLI_FLAG_STR, "KIND", "update or rollback", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t EVENTS_FLAGS[] = {FERRY_CLI_PAGE_FLAGS, {NULL, 0, NULL, NULL, false}};
static const ferry_cli_flag_t RETRY_FLAGS[] = {
    {"skip-failed-hook", FERRY_CLI_FLAG_BOOL, NULL,
     "skip the hooks that failed in the last attempt (as the node reported them)", false},
    {"skip", FERRY_CLI_FLAG_MULTI, "HOOK_ID",
     "skip this hooks.json hook in the new attempt (repeatable; a check of severity fail needs the sysadmin "
     "role)",
     false},
    {"reason", FERRY_CLI_FLAG_STR, "TEXT", "reason, kept in the audit log", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_task_cmds[] = {
    {"list", "list tasks with filters", NULL, 0, LIST_FLAGS,
     "JSON: {\"tasks\": [...]} where each task has \"node\", \"state\" (the seed's number, e.g. 10)\n"
     "and \"errorCode\" besides the canonical fields.",
     task_list, false},
    {"get",
     "show one task, its upgrade hooks' results, its files with download links and its download telemetry",
     "ID", 1, NO_FLAGS,
     "JSON: {\"task\": {...}, \"files\": [...]} where each file has a fresh \"download\" link.", task_get,
     false},
    {"events", "show a task's history", "ID", 1, EVENTS_FLAGS, NULL, task_events, false},
    {"retry", "resume a failed task from its last checkpoint", "ID", 1, RETRY_FLAGS, NULL, task_retry, false},
    {"report", "print the task's upgrade report (hooks and data-quality checks)", "ID", 1, NO_FLAGS,
     "JSON: the upgrade-report.json document exactly as the node uploaded it.\n"
     "E_NOT_FOUND when the task has none (its package has no hooks.json, or not uploaded yet).",
     task_report, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- report files ------------------------------------------------------- */

static const char *file_kind_name(int k)
{
    switch (k) {
    case 1:
        return "node-config";
    case 2:
        return "log";
    case 3:
        return "diagnostic";
    case 4:
        return "sql-log";
    case 5:
        return "upgrade-report";
    default:
        return "-";
    }
}

static int report_file_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListReportFilesRequest req = FERRY__V1__LIST_REPORT_FILES_REQUEST__INIT;
    Ferry__V1__ListReportFilesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID", "KIND", "NODE", "TASK", "NAME", "SIZE", "CREATED"};
    ferry_cli_table_t t;
    const char *kind;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if ((kind = ferry_cli_arg(a, "kind")) != NULL) {
        for (int k = 1; k <= 4; k++)
            if (strcmp(kind, file_kind_name(k)) == 0)
                req.kind = (Ferry__V1__FileKind)k;
        if (req.kind == 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                                  "--kind must be node-config, log, diagnostic or sql-log");
    }
    req.node_code = ferry_cli_s(ferry_cli_arg(a, "node"));
    req.task_id = ferry_cli_s(ferry_cli_arg(a, "task"));
    req.release_id = ferry_cli_s(ferry_cli_arg(a, "release"));
    if (ferry_v1_admin_service_list_report_files(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list report files", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 7, head);
    for (size_t i = 0; i < resp->n_files; i++) {
        const Ferry__V1__ReportFile *f = resp->files[i];
        char size[32], created[40];
        const char *cells[7] = {f->id,
                                file_kind_name((int)f->kind),
                                f->node_code,
                                f->task_id,
                                f->file_name,
                                ferry_cli_fmt_bytes(f->size, size, sizeof(size)),
                                ferry_cli_fmt_time(f->created_at, created, sizeof(created))};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
    if (resp->n_files > 0)
        fprintf(cli->out, "(download links: ferry report-file get ID)\n");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int report_file_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetReportFileRequest req = FERRY__V1__GET_REPORT_FILE_REQUEST__INIT;
    Ferry__V1__GetReportFileResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_report_file(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get report file", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->file ? &resp->file->base : NULL, NULL);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t RF_LIST_FLAGS[] = {
    {"node", FERRY_CLI_FLAG_STR, "CODE", "only files of this node", false},
    {"task", FERRY_CLI_FLAG_STR, "ID", "only files of this task", false},
    {"release", FERRY_CLI_FLAG_STR, "ID", "only files of this release's tasks", false},
    {"kind", FERRY_CLI_FLAG_STR, "KIND", "node-config, log, diagnostic or sql-log", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_report_file_cmds[] = {
    {"list", "list files uploaded by nodes", NULL, 0, RF_LIST_FLAGS, NULL, report_file_list, false},
    {"get", "show one file with a fresh download link", "ID", 1, NO_FLAGS, NULL, report_file_get, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- node configurations ------------------------------------------------ */

static int node_config_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetNodeConfigRequest req = FERRY__V1__GET_NODE_CONFIG_REQUEST__INIT;
    Ferry__V1__GetNodeConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.node_code = (char *)a->pos[0];
    if (ferry_v1_admin_service_get_node_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get node config", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->summary ? &resp->summary->base : NULL, NULL);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int node_config_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListNodeConfigsRequest req = FERRY__V1__LIST_NODE_CONFIGS_REQUEST__INIT;
    Ferry__V1__ListNodeConfigsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"NODE", "CONFIG VERSION", "UPLOADED", "SIZE", "SHA256"};
    ferry_cli_table_t t;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.store_code = ferry_cli_s(ferry_cli_arg(a, "store"));
    if (ferry_v1_admin_service_list_node_configs(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list node configs", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 5, head);
    for (size_t i = 0; i < resp->n_summaries; i++) {
        const Ferry__V1__NodeConfigSummary *s = resp->summaries[i];
        char ver[24], up[40], size[32];
        snprintf(ver, sizeof(ver), "%lld", (long long)s->config_version);
        const char *cells[5] = {s->node_code, ver, ferry_cli_fmt_time(s->uploaded_at, up, sizeof(up)),
                                ferry_cli_fmt_bytes(s->size, size, sizeof(size)), s->sha256};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t NC_LIST_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only nodes of this customer", false},
    {"store", FERRY_CLI_FLAG_STR, "CODE", "only nodes of this store", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_node_config_cmds[] = {
    {"get", "show a node's latest uploaded configuration (secrets masked)", "NODE", 1, NO_FLAGS, NULL,
     node_config_get, false},
    {"list", "list the node configuration index", NULL, 0, NC_LIST_FLAGS, NULL, node_config_list, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
