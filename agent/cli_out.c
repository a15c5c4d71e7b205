#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ferry/model/states.h"

/* Redraw the bar at most this often; the engine reports per file. */
#define DRAW_INTERVAL_MS 100
#define BAR_WIDTH        24

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void human_bytes(uint64_t n, char *buf, size_t size)
{
    if (n >= (1ull << 30))
        snprintf(buf, size, "%.1f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20))
        snprintf(buf, size, "%.1f MiB", (double)n / (1ull << 20));
    else if (n >= 1024)
        snprintf(buf, size, "%.1f KiB", (double)n / 1024);
    else
        snprintf(buf, size, "%llu B", (unsigned long long)n);
}

void cli_on_event(void *user, const ferry_pipeline_event_t *ev)
{
    cli_out_t *o = user;
    if (o->quiet)
        return;
    if (ev->transition) {
        /* One full line per state, on a TTY after clearing the bar. */
        fprintf(stderr, "%s[%3d %-16s] %s\n", o->tty ? "\r\033[K" : "", (int)ev->state,
                ferry_state_name((int)ev->state), ev->message);
        o->last_state = (int)ev->state;
        o->last_draw_ms = 0;
        return;
    }
    if (!o->tty) {
        /* Plain output: sub-phase names only (a line per file would drown a log). */
        if (ev->total == 0 && ev->message[0] != '\0')
            fprintf(stderr, "[%3d %-16s]   %s\n", (int)ev->state, ferry_state_name((int)ev->state),
                    ev->message);
        return;
    }
    long long now = mono_ms();
    if (now - o->last_draw_ms < DRAW_INTERVAL_MS && ev->percent != 100)
        return;
    o->last_draw_ms = now;
    char bar[BAR_WIDTH + 1], done[32], total[32];
    int fill = ev->percent < 0 ? 0 : ev->percent * BAR_WIDTH / 100;
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    human_bytes(ev->done, done, sizeof(done));
    human_bytes(ev->total, total, sizeof(total));
    if (ev->percent >= 0)
        fprintf(stderr, "\r\033[K[%3d %-16s] [%s] %3d%% %s / %s  %.40s", (int)ev->state,
                ferry_state_name((int)ev->state), bar, ev->percent, done, total, ev->message);
    else
        fprintf(stderr, "\r\033[K[%3d %-16s] %.60s", (int)ev->state, ferry_state_name((int)ev->state),
                ev->message);
    fflush(stderr);
}

static json_t *task_json(const ferry_task_t *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "state", json_integer((json_int_t)t->state));
    json_object_set_new(o, "stateName", json_string(ferry_state_name((int)t->state)));
    json_object_set_new(o, "errorCode", json_string(ferry_err_name(t->error_code)));
    json_object_set_new(o, "errorMessage", json_string(t->error_msg));
    json_object_set_new(o, "backupPath", t->backup_path[0] ? json_string(t->backup_path) : json_null());
    json_object_set_new(o, "taskId", json_string(t->task_id));
    json_object_set_new(o, "kind", json_string(t->kind));
    json_object_set_new(o, "version", json_string(t->version));
    json_object_set_new(o, "packagePath", json_string(t->package_path));
    json_object_set_new(o, "diagnosticPath", t->diag_path[0] ? json_string(t->diag_path) : json_null());
    json_object_set_new(o, "attempt", json_integer(t->attempt));
    json_object_set_new(o, "resumes", json_integer(t->resumes));
    json_object_set_new(o, "createdMs", json_integer(t->created_ms));
    json_object_set_new(o, "updatedMs", json_integer(t->updated_ms));
    json_object_set_new(o, "finishedMs", json_integer(t->finished_ms));
    return o;
}

static void dump_json(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(o);
}

void cli_print_result(const cli_out_t *o, const ferry_task_t *t, ferry_err_code_t rc, const ferry_err_t *err)
{
    if (o->tty && !o->quiet)
        fputs("\r\033[K", stderr);
    if (o->json) {
        json_t *j;
        if (t != NULL) {
            j = task_json(t);
        } else {
            /* No task was recorded: report the refusal in the same shape. */
            j = json_object();
            json_object_set_new(j, "state", rc != FERRY_OK ? json_integer(FERRY_STATE_FAILED) : json_null());
            json_object_set_new(j, "stateName", rc != FERRY_OK ? json_string("Failed") : json_null());
            json_object_set_new(j, "errorCode", json_string(ferry_err_name(rc)));
            json_object_set_new(j, "errorMessage", json_string(err != NULL ? err->msg : ""));
            json_object_set_new(j, "backupPath", json_null());
            json_object_set_new(j, "taskId", json_null());
        }
        json_object_set_new(j, "upgradeReport",
                            o->report_path[0] ? json_string(o->report_path) : json_null());
        if (o->post_upgrade != NULL && o->post_upgrade[0] != '\0') {
            json_object_set_new(j, "postUpgrade", json_string(o->post_upgrade));
            if (o->post_error[0] != '\0')
                json_object_set_new(j, "postUpgradeError", json_string(o->post_error));
        }
        if (rc != FERRY_OK && t != NULL) {
            /* The engine stopped (journal I/O): the task is still active. */
            json_object_set_new(j, "engineError", json_string(ferry_err_name(rc)));
            json_object_set_new(j, "engineErrorMessage", json_string(err != NULL ? err->msg : ""));
        }
        dump_json(j);
        return;
    }
    if (t != NULL) {
        printf("task:       %s (%s %s)\n", t->task_id, t->kind, t->version);
        printf("state:      %d %s\n", (int)t->state, ferry_state_name((int)t->state));
        printf("errorCode:  %s\n", ferry_err_name(t->error_code));
        if (t->error_code != FERRY_OK)
            printf("error:      %s\n", t->error_msg);
        printf("backupPath: %s\n", t->backup_path[0] ? t->backup_path : "-");
        if (t->diag_path[0])
            printf("diagnostic: %s\n", t->diag_path);
        if (o->report_path[0])
            printf("report:     %s\n", o->report_path);
        if (o->post_upgrade != NULL && o->post_upgrade[0] != '\0')
            printf("postUpgrade: %s%s%s\n", o->post_upgrade, o->post_error[0] ? ": " : "", o->post_error);
    } else if (rc != FERRY_OK) {
        printf("state:      %d %s\n", FERRY_STATE_FAILED, ferry_state_name(FERRY_STATE_FAILED));
        printf("errorCode:  %s\n", ferry_err_name(rc));
    }
    if (rc != FERRY_OK)
        fprintf(stderr, "ferry-agent: %s: %s\n", ferry_err_name(rc), err != NULL ? err->msg : "");
}

struct hist {
    const cli_out_t *o;
    json_t *arr;
};

static void on_history(void *user, const ferry_journal_event_t *ev)
{
    struct hist *h = user;
    if (h->o->json) {
        json_t *e = json_object();
        json_object_set_new(e, "atMs", json_integer(ev->at_ms));
        json_object_set_new(e, "from", json_integer((json_int_t)ev->from));
        json_object_set_new(e, "to", json_integer((json_int_t)ev->to));
        json_object_set_new(e, "attempt", json_integer(ev->attempt));
        json_object_set_new(e, "errorCode", json_string(ferry_err_name(ev->error_code)));
        json_object_set_new(e, "message", json_string(ev->message));
        json_array_append_new(h->arr, e);
        return;
    }
    time_t sec = (time_t)(ev->at_ms / 1000);
    struct tm tm;
    char when[32];
    localtime_r(&sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    printf("  %s.%03d  %3d -> %3d %-16s #%u %s%s%s\n", when, (int)(ev->at_ms % 1000), (int)ev->from,
           (int)ev->to, ferry_state_name((int)ev->to), ev->attempt, ev->message,
           ev->error_code != FERRY_OK ? "  " : "",
           ev->error_code != FERRY_OK ? ferry_err_name(ev->error_code) : "");
}

void cli_print_status(const cli_out_t *o, const ferry_task_t *t, ferry_journal_t *j)
{
    struct hist h = {.o = o, .arr = json_array()};
    ferry_err_t err = {0};
    if (t == NULL) {
        if (o->json)
            printf("{\"state\":null,\"taskId\":null}\n");
        else
            printf("no task recorded\n");
        json_decref(h.arr);
        return;
    }
    if (!o->json) {
        cli_print_result(o, t, FERRY_OK, NULL);
        printf("active:     %s\nhistory:\n", ferry_state_is_terminal(t->state) ? "no" : "yes");
    }
    if (ferry_journal_events(j, t->task_id, on_history, &h, &err) != FERRY_OK)
        fprintf(stderr, "ferry-agent: %s\n", err.msg);
    if (o->json) {
        json_t *obj = task_json(t);
        json_object_set_new(obj, "upgradeReport",
                            o->report_path[0] ? json_string(o->report_path) : json_null());
        json_object_set_new(obj, "active", json_boolean(!ferry_state_is_terminal(t->state)));
        json_object_set_new(obj, "events", h.arr);
        dump_json(obj);
    } else {
        json_decref(h.arr);
    }
}
