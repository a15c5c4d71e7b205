/*
 * The "systemd" service-control kind: systemctl on a unit. The program is run
 * directly (argv, no shell), so the unit name never meets a shell; it is still
 * validated so a name cannot pass for an option.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/engine/svcctl.h"

#define OUT_CAP (64 * 1024)
#define MSG_OUT 300

typedef struct systemd_svc {
    ferry_svcctl_t base;
    char *systemctl;
} systemd_svc_t;

static ferry_err_code_t systemctl(systemd_svc_t *s, const char *verb, int64_t deadline,
                                  ferry_proc_result_t *r, ferry_err_t *err)
{
    char *argv[] = {s->systemctl, (char *)verb, "--", s->base.name, NULL};
    char *argv_status[] = {s->systemctl, "status", "--no-pager", "--full", "-n",
                           "50",         "--",     s->base.name, NULL};
    return ferry_proc_run(strcmp(verb, "status") == 0 ? argv_status : argv, deadline, OUT_CAP, r, err);
}

static ferry_err_code_t request(systemd_svc_t *s, const char *verb, int64_t deadline, ferry_err_t *err)
{
    ferry_proc_result_t r;
    ferry_err_code_t rc = systemctl(s, verb, deadline, &r, err);
    if (rc != FERRY_OK)
        return rc;
    size_t len = r.output_len;
    while (len > 0 && (r.output[len - 1] == '\n' || r.output[len - 1] == ' '))
        r.output[--len] = '\0';
    const char *tail = len > MSG_OUT ? r.output + len - MSG_OUT : r.output;
    if (r.timed_out)
        rc = ferry_err_set(err, FERRY_E_TIMEOUT, "systemctl %s %s did not finish before the deadline", verb,
                           s->base.name);
    else if (!r.exited || r.exit_code != 0)
        rc = ferry_err_set(err, FERRY_E_IO, "systemctl %s %s failed (%s %d): %s", verb, s->base.name,
                           r.exited ? "exit status" : "signal", r.exited ? r.exit_code : r.signaled, tail);
    ferry_proc_result_clear(&r);
    return rc;
}

static ferry_err_code_t sd_stop(ferry_svcctl_t *s, int64_t deadline, ferry_err_t *err)
{
    return request((systemd_svc_t *)s, "stop", deadline, err);
}

static ferry_err_code_t sd_start(ferry_svcctl_t *s, int64_t deadline, ferry_err_t *err)
{
    return request((systemd_svc_t *)s, "start", deadline, err);
}

static ferry_svc_status_t sd_status(ferry_svcctl_t *s, int64_t deadline)
{
    ferry_proc_result_t r;
    ferry_svc_status_t st = FERRY_SVC_UNKNOWN;
    if (systemctl((systemd_svc_t *)s, "is-active", deadline, &r, NULL) != FERRY_OK)
        return st;
    /* is-active prints the ActiveState; its exit code alone cannot tell "failed" from "cannot run". */
    char word[32] = "";
    sscanf(r.output, "%31s", word);
    if (r.exited && !r.timed_out) {
        if (strcmp(word, "active") == 0 || strcmp(word, "reloading") == 0)
            st = FERRY_SVC_RUNNING;
        else if (strcmp(word, "inactive") == 0 || strcmp(word, "failed") == 0)
            st = FERRY_SVC_STOPPED;
    }
    ferry_proc_result_clear(&r);
    return st;
}

static ferry_err_code_t sd_describe(ferry_svcctl_t *s, int64_t deadline, char **out, ferry_err_t *err)
{
    ferry_proc_result_t r;
    ferry_err_code_t rc = systemctl((systemd_svc_t *)s, "status", deadline, &r, err);
    if (rc != FERRY_OK)
        return rc;
    size_t n = r.output_len + 256;
    if ((*out = malloc(n)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    else
        snprintf(*out, n, "control: systemd\nunit: %s\n--- systemctl status (exit %d) ---\n%s\n", s->name,
                 r.exited ? r.exit_code : -1, r.output);
    ferry_proc_result_clear(&r);
    return rc;
}

static void sd_free(ferry_svcctl_t *s)
{
    free(((systemd_svc_t *)s)->systemctl);
    free(s);
}

static const ferry_svcctl_ops_t systemd_ops = {.kind = "systemd",
                                               .request_stop = sd_stop,
                                               .request_start = sd_start,
                                               .status = sd_status,
                                               .describe = sd_describe,
                                               .free = sd_free};

ferry_err_code_t ferry_svcctl_new_systemd(const char *unit, const char *systemctl_path, ferry_svcctl_t **out,
                                          ferry_err_t *err)
{
    *out = NULL;
    if (unit == NULL || unit[0] == '\0' || unit[0] == '-' || strlen(unit) > 255)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "systemd unit name '%.64s' is not valid",
                             unit ? unit : "");
    for (const char *p = unit; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(":_.@-\\", *p) != NULL))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "systemd unit name '%.64s': '%c' is not allowed",
                                 unit, *p);
    systemd_svc_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    s->base.ops = &systemd_ops;
    s->base.poll_ms = 200;
    s->base.name = strdup(unit);
    s->systemctl = strdup(systemctl_path != NULL ? systemctl_path : "systemctl");
    if (s->base.name == NULL || s->systemctl == NULL) {
        ferry_svcctl_free(&s->base);
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    }
    *out = &s->base;
    return FERRY_OK;
}
