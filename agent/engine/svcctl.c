/*
 * Service-control policy shared by every platform kind (see svcctl.h): deadlines,
 * idempotent stop/start, status polling, the health check and the error codes.
 */
#include "ferry/engine/svcctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/log.h"

#define STATUS_BOUND_MS 10000

const char *ferry_svc_status_name(ferry_svc_status_t st)
{
    switch (st) {
    case FERRY_SVC_RUNNING:
        return "running";
    case FERRY_SVC_STOPPED:
        return "stopped";
    default:
        return "unknown";
    }
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Sleeps one poll interval, never past |deadline|. */
static void poll_wait(const ferry_svcctl_t *s, int64_t deadline)
{
    int64_t left = deadline - ferry_now_ms();
    sleep_ms(left < (int64_t)s->poll_ms ? left : (int64_t)s->poll_ms);
}

ferry_err_code_t ferry_svcctl_new(const ferry_node_config_t *cfg, ferry_svcctl_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc;
    *out = NULL;
    if (cfg->service.control == FERRY_SVC_CONTROL_COMMAND)
        rc = ferry_svcctl_new_command(cfg->service.name, cfg->service.stop_command,
                                      cfg->service.start_command, cfg->service.status_command, out, err);
    else
        rc = ferry_svcctl_new_systemd(cfg->service.name, NULL, out, err);
    if (rc == FERRY_OK && (rc = ferry_svcctl_set_health(*out, cfg->service.health, cfg->service.health_target,
                                                        err)) != FERRY_OK) {
        ferry_svcctl_free(*out);
        *out = NULL;
    }
    return rc;
}

ferry_err_code_t ferry_svcctl_set_health(ferry_svcctl_t *s, ferry_health_kind_t kind, const char *target,
                                         ferry_err_t *err)
{
    char *t = NULL;
    if (kind != FERRY_HEALTH_NONE) {
        ferry_err_code_t rc = ferry_health_target_check(kind, target, err);
        if (rc != FERRY_OK)
            return rc;
        if ((t = strdup(target)) == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    }
    free(s->health_target);
    s->health_target = t;
    s->health = kind;
    return FERRY_OK;
}

void ferry_svcctl_free(ferry_svcctl_t *s)
{
    if (s == NULL)
        return;
    free(s->name);
    free(s->health_target);
    s->ops->free(s);
}

ferry_svc_status_t ferry_svcctl_status(ferry_svcctl_t *s)
{
    return s->ops->status(s, ferry_now_ms() + STATUS_BOUND_MS);
}

ferry_err_code_t ferry_svcctl_describe(ferry_svcctl_t *s, char **out, ferry_err_t *err)
{
    return s->ops->describe(s, ferry_now_ms() + STATUS_BOUND_MS, out, err);
}

ferry_err_code_t ferry_svcctl_stop(ferry_svcctl_t *s, unsigned timeout_s, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int64_t t0 = ferry_now_ms(), deadline = t0 + (int64_t)timeout_s * 1000;
    ferry_svc_status_t st = s->ops->status(s, deadline);
    if (st == FERRY_SVC_STOPPED) {
        FERRY_INFO("service '%s' already stopped", s->name);
        goto out;
    }
    ferry_err_t e = {0};
    rc = s->ops->request_stop(s, deadline, &e);
    if (rc == FERRY_E_TIMEOUT) {
        rc = ferry_err_set(err, FERRY_E_SERVICE_STOP_TIMEOUT, "stop service '%s': %s", s->name, e.msg);
        goto out;
    }
    if (rc != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_SERVICE_STOP_FAILED, "stop service '%s': %s", s->name, e.msg);
        goto out;
    }
    /* A status check cut short by the deadline says "unknown": report the last real answer. */
    ferry_svc_status_t last = st;
    for (;;) {
        st = s->ops->status(s, deadline);
        if (st == FERRY_SVC_STOPPED)
            break;
        if (st != FERRY_SVC_UNKNOWN)
            last = st;
        if (ferry_now_ms() >= deadline) {
            rc = ferry_err_set(err, FERRY_E_SERVICE_STOP_TIMEOUT,
                               "stop service '%s': still %s after %u s (service.stopTimeoutSeconds)", s->name,
                               ferry_svc_status_name(last), timeout_s);
            goto out;
        }
        poll_wait(s, deadline);
    }
    FERRY_INFO("service '%s' stopped in %lld ms", s->name, (long long)(ferry_now_ms() - t0));
out:
    return rc;
}

ferry_err_code_t ferry_svcctl_start(ferry_svcctl_t *s, unsigned timeout_s, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int64_t t0 = ferry_now_ms(), deadline = t0 + (int64_t)timeout_s * 1000;
    ferry_err_t e = {0};
    ferry_svc_status_t st = s->ops->status(s, deadline);
    if (st != FERRY_SVC_RUNNING) {
        rc = s->ops->request_start(s, deadline, &e);
        if (rc != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_E_SERVICE_START_FAILED, "start service '%s': %s", s->name, e.msg);
            goto out;
        }
        ferry_svc_status_t last = st;
        for (;;) {
            st = s->ops->status(s, deadline);
            if (st == FERRY_SVC_RUNNING)
                break;
            if (st != FERRY_SVC_UNKNOWN)
                last = st;
            if (ferry_now_ms() >= deadline) {
                rc = ferry_err_set(err, FERRY_E_SERVICE_START_FAILED,
                                   "start service '%s': still %s after %u s (service.startTimeoutSeconds)",
                                   s->name, ferry_svc_status_name(last), timeout_s);
                goto out;
            }
            poll_wait(s, deadline);
        }
    }
    /* Running is not healthy: probe until the service answers or time runs out. */
    ferry_err_clear(&e);
    for (;;) {
        ferry_err_t pe = {0};
        if (ferry_health_probe(s->health, s->health_target, deadline, &pe) == FERRY_OK)
            break;
        /* A probe cut short by the deadline does not replace a real answer (503, refused). */
        if (e.msg[0] == '\0' || ferry_now_ms() < deadline)
            e = pe;
        if (ferry_now_ms() >= deadline) {
            rc = ferry_err_set(err, FERRY_E_SERVICE_START_FAILED,
                               "start service '%s': health check failed within %u s: %s", s->name, timeout_s,
                               e.msg);
            goto out;
        }
        poll_wait(s, deadline);
    }
    FERRY_INFO("service '%s' started and healthy in %lld ms", s->name, (long long)(ferry_now_ms() - t0));
out:
    return rc;
}
