/*
 * The "command" service-control kind: the node's own stop/start/status shell lines
 * (service.stopCommand, startCommand, statusCommand). Status exit 0 means running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/engine/svcctl.h"

/* Output kept from each command, for messages and the diagnostic file. */
#define OUT_CAP (64 * 1024)
/* Most of a failing command's output quoted in an error message. */
#define MSG_OUT 300

typedef struct command_svc {
    ferry_svcctl_t base;
    char *stop, *start, *status;
} command_svc_t;

/* The last |max| bytes of |s| with newlines flattened, for one-line messages. */
static void tail_of(const char *s, size_t len, char *buf, size_t max)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        len--;
    size_t from = len > max - 1 ? len - (max - 1) : 0;
    size_t n = 0;
    for (size_t i = from; i < len; i++)
        buf[n++] = (char)((s[i] == '\n' || s[i] == '\r') ? ' ' : s[i]);
    buf[n] = '\0';
}

/* Runs one of the lines; timeout -> FERRY_E_TIMEOUT, non-zero exit -> FERRY_E_IO. */
static ferry_err_code_t run_line(const char *what, const char *line, int64_t deadline, ferry_err_t *err)
{
    ferry_proc_result_t r;
    char tail[MSG_OUT + 1];
    ferry_err_code_t rc = ferry_proc_run_shell(line, deadline, OUT_CAP, &r, err);
    if (rc != FERRY_OK)
        return rc;
    tail_of(r.output, r.output_len, tail, sizeof(tail));
    if (r.timed_out)
        rc = ferry_err_set(err, FERRY_E_TIMEOUT, "%s did not finish before the deadline (killed)%s%s", what,
                           tail[0] ? "; output: " : "", tail);
    else if (!r.exited)
        rc = ferry_err_set(err, FERRY_E_IO, "%s was killed by signal %d%s%s", what, r.signaled,
                           tail[0] ? "; output: " : "", tail);
    else if (r.exit_code != 0)
        rc = ferry_err_set(err, FERRY_E_IO, "%s exited with status %d%s%s", what, r.exit_code,
                           tail[0] ? "; output: " : "", tail);
    ferry_proc_result_clear(&r);
    return rc;
}

static ferry_err_code_t cmd_stop(ferry_svcctl_t *s, int64_t deadline, ferry_err_t *err)
{
    return run_line("service.stopCommand", ((command_svc_t *)s)->stop, deadline, err);
}

static ferry_err_code_t cmd_start(ferry_svcctl_t *s, int64_t deadline, ferry_err_t *err)
{
    return run_line("service.startCommand", ((command_svc_t *)s)->start, deadline, err);
}

static ferry_svc_status_t cmd_status(ferry_svcctl_t *s, int64_t deadline)
{
    ferry_proc_result_t r;
    ferry_svc_status_t st = FERRY_SVC_UNKNOWN;
    if (ferry_proc_run_shell(((command_svc_t *)s)->status, deadline, OUT_CAP, &r, NULL) != FERRY_OK)
        return st;
    if (r.exited && !r.timed_out)
        st = r.exit_code == 0 ? FERRY_SVC_RUNNING : FERRY_SVC_STOPPED;
    ferry_proc_result_clear(&r);
    return st;
}

static ferry_err_code_t cmd_describe(ferry_svcctl_t *s, int64_t deadline, char **out, ferry_err_t *err)
{
    command_svc_t *c = (command_svc_t *)s;
    ferry_proc_result_t r;
    ferry_err_code_t rc = ferry_proc_run_shell(c->status, deadline, OUT_CAP, &r, err);
    if (rc != FERRY_OK)
        return rc;
    char how[64];
    if (r.timed_out)
        snprintf(how, sizeof(how), "timed out (killed)");
    else if (r.exited)
        snprintf(how, sizeof(how), "exit status %d (%s)", r.exit_code,
                 r.exit_code == 0 ? "running" : "stopped");
    else
        snprintf(how, sizeof(how), "killed by signal %d", r.signaled);
    size_t n = strlen(c->stop) + strlen(c->start) + strlen(c->status) + r.output_len + 512;
    *out = malloc(n);
    if (*out == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    } else {
        snprintf(*out, n,
                 "control: command\nservice: %s\nstopCommand: %s\nstartCommand: %s\nstatusCommand: %s\n"
                 "status: %s\n--- status command output ---\n%s\n",
                 s->name, c->stop, c->start, c->status, how, r.output);
    }
    ferry_proc_result_clear(&r);
    return rc;
}

static void cmd_free(ferry_svcctl_t *s)
{
    command_svc_t *c = (command_svc_t *)s;
    free(c->stop);
    free(c->start);
    free(c->status);
    free(c);
}

static const ferry_svcctl_ops_t command_ops = {.kind = "command",
                                               .request_stop = cmd_stop,
                                               .request_start = cmd_start,
                                               .status = cmd_status,
                                               .describe = cmd_describe,
                                               .free = cmd_free};

ferry_err_code_t ferry_svcctl_new_command(const char *name, const char *stop, const char *start,
                                          const char *status, ferry_svcctl_t **out, ferry_err_t *err)
{
    *out = NULL;
    if (stop == NULL || start == NULL || status == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "command service control needs stop, start and status commands");
    command_svc_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    c->base.ops = &command_ops;
    c->base.poll_ms = 200;
    c->base.name = strdup(name != NULL ? name : "service");
    c->stop = strdup(stop);
    c->start = strdup(start);
    c->status = strdup(status);
    if (c->base.name == NULL || c->stop == NULL || c->start == NULL || c->status == NULL) {
        ferry_svcctl_free(&c->base);
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    }
    *out = &c->base;
    return FERRY_OK;
}
