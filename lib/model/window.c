/*
 * Maintenance windows, node time zones, wave plans and thresholds (see
 * ferry/model/window.h for the rules).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/model/window.h"

#define WAVE_COUNT_MAX 1000000u

/* Parses exactly two digits at |s| into |*v|; false otherwise. */
static bool two_digits(const char *s, int *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return false;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
}

/* "HH:MM" at |s| (exactly 5 characters) into minutes; -1 when malformed or out of range. */
static int hhmm(const char *s)
{
    int h, m;
    if (!two_digits(s, &h) || s[2] != ':' || !two_digits(s + 3, &m) || h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

ferry_err_code_t ferry_window_parse(const char *s, const char *what, int *start_min, int *end_min,
                                    ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;

    *start_min = *end_min = -1;
    if (s == NULL || strlen(s) != 11 || s[5] != '-')
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s' is not HH:MM-HH:MM (e.g. 01:00-05:00)", what,
                           s != NULL ? s : "");
    else if ((*start_min = hhmm(s)) < 0)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "%s '%s': start '%.5s' is not a time of day (00:00..23:59)", what, s, s);
    else if ((*end_min = hhmm(s + 6)) < 0)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "%s '%s': end '%.5s' is not a time of day (00:00..23:59)", what, s, s + 6);
    else if (*start_min == *end_min)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s': start and end are the same (an empty window)",
                           what, s);
    if (rc != FERRY_OK)
        *start_min = *end_min = -1;
    return rc;
}

void ferry_window_format(int start_min, int end_min, char *buf, size_t size)
{
    if (start_min < 0 || end_min < 0)
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "%02d:%02d-%02d:%02d", start_min / 60, start_min % 60, end_min / 60,
                 end_min % 60);
}

bool ferry_window_open_at(int start_min, int end_min, int local_min)
{
    if (start_min < 0 || end_min < 0)
        return true;
    if (start_min < end_min)
        return local_min >= start_min && local_min < end_min;
    return local_min >= start_min || local_min < end_min; /* crosses midnight */
}

ferry_err_code_t ferry_tz_parse(const char *s, int *offset_min, bool *is_server, ferry_err_t *err)
{
    int h = 0, m = 0, sign;
    size_t len = s != NULL ? strlen(s) : 0;
    bool ok;
    ferry_err_code_t rc = FERRY_OK;

    *offset_min = 0;
    *is_server = len == 0;
    if (len == 0 || strcmp(s, "UTC") == 0 || strcmp(s, "Z") == 0)
        goto out;
    sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0;
    /* "+8", "+08", "+0800", "+08:00" */
    ok = sign != 0 && (len == 2 || len == 3 || len == 5 || len == 6);
    if (ok && len == 2)
        ok = s[1] >= '0' && s[1] <= '9' && (h = s[1] - '0', true);
    else if (ok && len == 3)
        ok = two_digits(s + 1, &h);
    else if (ok && len == 5)
        ok = two_digits(s + 1, &h) && two_digits(s + 3, &m);
    else if (ok)
        ok = two_digits(s + 1, &h) && s[3] == ':' && two_digits(s + 4, &m);
    if (!ok || m > 59 || h * 60 + m > 14 * 60)
        rc = ferry_err_set(
            err, FERRY_E_INVALID_ARG,
            "time zone '%s' is not UTC or an offset from UTC such as +08:00 or -05:30 (at most 14:00)", s);
    else
        *offset_min = sign * (h * 60 + m);
out:
    return rc;
}

int ferry_tz_offset(const char *tz, int64_t now_ms)
{
    int off = 0;
    bool server = false;
    ferry_err_t err = {0};

    if (ferry_tz_parse(tz, &off, &server, &err) != FERRY_OK || server) {
        /* The server's zone as the C library knows it (TZ, /etc/localtime). */
        time_t t = (time_t)(now_ms / 1000);
        struct tm tm;
        off = localtime_r(&t, &tm) != NULL ? (int)(tm.tm_gmtoff / 60) : 0;
    }
    return off;
}

void ferry_window_hold_reason(int start_min, int end_min, const char *tz, int64_t now_ms, char *buf,
                              size_t size)
{
    int off, local, wait;
    int64_t local_s;
    char win[16];

    snprintf(buf, size, "%s", "");
    if (start_min < 0 || end_min < 0)
        return;
    off = ferry_tz_offset(tz, now_ms);
    local_s = now_ms / 1000 + (int64_t)off * 60;
    local = (int)(((local_s / 60) % 1440 + 1440) % 1440);
    if (ferry_window_open_at(start_min, end_min, local))
        return;
    wait = ((start_min - local) % 1440 + 1440) % 1440;
    ferry_window_format(start_min, end_min, win, sizeof(win));
    snprintf(buf, size,
             "outside maintenance window %s (node time %s%c%02d:%02d %02d:%02d); opens in %dh%02dm", win,
             tz != NULL && tz[0] != '\0' ? "" : "server zone ", off < 0 ? '-' : '+', abs(off) / 60,
             abs(off) % 60, local / 60, local % 60, wait / 60, wait % 60);
}

ferry_err_code_t ferry_wave_spec_parse(const char *s, size_t index, ferry_wave_spec_t *out, ferry_err_t *err)
{
    char *end = NULL;
    unsigned long v;
    ferry_err_code_t rc = FERRY_OK;

    memset(out, 0, sizeof(*out));
    if (s == NULL || s[0] < '0' || s[0] > '9') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "wave %zu '%s' is not a node count (5) or a percent of the scope (25%%)", index,
                           s != NULL ? s : "");
        goto out;
    }
    v = strtoul(s, &end, 10);
    out->percent = *end == '%';
    if ((out->percent && end[1] != '\0') || (!out->percent && *end != '\0'))
        rc =
            ferry_err_set(err, FERRY_E_INVALID_ARG,
                          "wave %zu '%s' is not a node count (5) or a percent of the scope (25%%)", index, s);
    else if (v == 0)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "wave %zu '%s': a wave has at least one node (1 or 1%%)",
                           index, s);
    else if (out->percent && v > 100)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "wave %zu '%s': a percent is at most 100%%", index, s);
    else if (!out->percent && v > WAVE_COUNT_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "wave %zu '%s': at most %u nodes", index, s,
                           WAVE_COUNT_MAX);
    else
        out->value = (uint32_t)v;
out:
    return rc;
}

ferry_err_code_t ferry_wave_specs_check(const char *const *specs, size_t n, ferry_wave_spec_t *out,
                                        ferry_err_t *err)
{
    uint32_t last_count = 0, last_pct = 0;
    ferry_err_code_t rc = FERRY_OK;

    if (n > FERRY_WAVES_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%zu waves: at most %d", n, FERRY_WAVES_MAX);
    for (size_t i = 0; i < n && rc == FERRY_OK; i++) {
        if ((rc = ferry_wave_spec_parse(specs[i], i + 1, &out[i], err)) != FERRY_OK)
            break;
        /* Sizes are cumulative: a wave no larger than an earlier one of the same kind adds nothing. */
        if (out[i].percent && out[i].value <= last_pct)
            rc =
                ferry_err_set(err, FERRY_E_INVALID_ARG,
                              "wave %zu '%s' is not larger than an earlier wave (%u%%): waves are cumulative "
                              "and must increase",
                              i + 1, specs[i], last_pct);
        else if (!out[i].percent && out[i].value <= last_count)
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "wave %zu '%s' is not larger than an earlier wave (%u): waves are cumulative "
                               "and must increase",
                               i + 1, specs[i], last_count);
        if (out[i].percent)
            last_pct = out[i].value;
        else
            last_count = out[i].value;
    }
    return rc;
}

size_t ferry_waves_resolve(const ferry_wave_spec_t *specs, size_t n_specs, size_t n_canary, size_t n_nodes,
                           size_t *ends, int *from)
{
    size_t n = 0, prev = 0;

    if (n_canary > 0 && n_canary <= n_nodes) {
        ends[n] = n_canary;
        from[n++] = -1;
        prev = n_canary;
    }
    for (size_t i = 0; i < n_specs && i < FERRY_WAVES_MAX; i++) {
        /* Percents round up: 5% of 10 nodes is one node, never none. */
        size_t end = specs[i].percent ? (size_t)(((uint64_t)specs[i].value * n_nodes + 99) / 100)
                                      : (size_t)specs[i].value;
        if (end > n_nodes)
            end = n_nodes;
        if (end <= prev)
            continue; /* adds no node on this scope (small scope, or inside the canaries) */
        ends[n] = end;
        from[n++] = (int)i;
        prev = end;
    }
    if (prev < n_nodes) {
        ends[n] = n_nodes;
        from[n++] = -1;
    }
    return n;
}

ferry_err_code_t ferry_error_threshold_parse(const char *s, uint32_t *value, bool *is_count, ferry_err_t *err)
{
    const char *p = s != NULL ? s : "";
    char *end = NULL;
    unsigned long v;
    ferry_err_code_t rc = FERRY_OK;

    *value = 0;
    *is_count = false;
    if (p[0] == '\0')
        goto out;
    if (strncmp(p, "count:", 6) == 0) {
        *is_count = true;
        p += 6;
    }
    if (p[0] < '0' || p[0] > '9') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "error threshold '%s' is not a percent (10 or 10%%) or a task count (count:3)", s);
        goto out;
    }
    v = strtoul(p, &end, 10);
    if (!*is_count && *end == '%')
        end++;
    if (*end != '\0')
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "error threshold '%s' is not a percent (10 or 10%%) or a task count (count:3)", s);
    else if (!*is_count && v > 100)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "error threshold '%s': a percent is at most 100", s);
    else if (*is_count && v > WAVE_COUNT_MAX)
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "error threshold '%s': at most %u tasks", s,
                           WAVE_COUNT_MAX);
    else
        *value = (uint32_t)v;
out:
    return rc;
}

bool ferry_error_threshold_exceeded(uint32_t value, bool is_count, uint64_t failed, uint64_t total)
{
    if (is_count)
        return failed > value;
    return total > 0 && failed * 100 > (uint64_t)value * total;
}

bool ferry_success_threshold_reached(uint32_t percent, uint64_t succeeded, uint64_t total)
{
    return total > 0 && succeeded * 100 >= (uint64_t)percent * total;
}
