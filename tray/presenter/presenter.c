/*
 * ferry-tray's decisions (presenter.h): icon state, prompt choices and countdown,
 * progress steps, bind checks. No I/O, no clock.
 */
#include "ferry/tray/presenter.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/model/states.h"

/* ---- status icon ------------------------------------------------------------------ */

/* A task is "running" once it left Pending, unless it sits in 40 waiting for the user. */
static bool task_running(const Ferry__V1__UpdateTask *t)
{
    return t != NULL && t->state != FERRY__V1__TASK_STATE__TASK_STATE_WAITING_USER && t->state != 0 &&
           !ferry_state_is_terminal((int)t->state);
}

/* The last ended task was an update that did not succeed (110, or restored: 130). */
static bool last_failed(const Ferry__V1__AgentStatus *st)
{
    const Ferry__V1__UpdateTask *t = st->last_task;
    if (t == NULL || t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK)
        return t != NULL && t->state == FERRY__V1__TASK_STATE__TASK_STATE_FAILED;
    return t->state == FERRY__V1__TASK_STATE__TASK_STATE_FAILED ||
           t->state == FERRY__V1__TASK_STATE__TASK_STATE_ROLLBACKED;
}

ferry_tray_icon_t ferry_tray_icon_state(const Ferry__V1__AgentStatus *st)
{
    if (st == NULL)
        return FERRY_TRAY_ICON_AGENT_DOWN;
    if (!st->bound || st->link == FERRY__V1__SERVER_LINK__SERVER_LINK_UNBOUND ||
        st->link == FERRY__V1__SERVER_LINK__SERVER_LINK_AUTH_FAILED)
        return FERRY_TRAY_ICON_NOT_BOUND;
    if (task_running(st->current_task))
        return FERRY_TRAY_ICON_UPDATING;
    if (st->prompt_waiting)
        return FERRY_TRAY_ICON_PROMPT_WAITING;
    if (last_failed(st))
        return FERRY_TRAY_ICON_FAILED;
    if (st->link == FERRY__V1__SERVER_LINK__SERVER_LINK_OFFLINE)
        return FERRY_TRAY_ICON_OFFLINE;
    if (st->pending_count > 0)
        return FERRY_TRAY_ICON_UPDATE_AVAILABLE;
    return FERRY_TRAY_ICON_IDLE;
}

const char *ferry_tray_icon_name(ferry_tray_icon_t icon)
{
    switch (icon) {
    case FERRY_TRAY_ICON_AGENT_DOWN:
        return "agent-down";
    case FERRY_TRAY_ICON_NOT_BOUND:
        return "not-bound";
    case FERRY_TRAY_ICON_UPDATING:
        return "updating";
    case FERRY_TRAY_ICON_PROMPT_WAITING:
        return "prompt-waiting";
    case FERRY_TRAY_ICON_FAILED:
        return "failed";
    case FERRY_TRAY_ICON_OFFLINE:
        return "offline";
    case FERRY_TRAY_ICON_UPDATE_AVAILABLE:
        return "update-available";
    case FERRY_TRAY_ICON_IDLE:
    default:
        return "idle";
    }
}

const char *ferry_tray_link_text(Ferry__V1__ServerLink link)
{
    switch (link) {
    case FERRY__V1__SERVER_LINK__SERVER_LINK_UNBOUND:
        return "not bound";
    case FERRY__V1__SERVER_LINK__SERVER_LINK_STREAMING:
        return "streaming";
    case FERRY__V1__SERVER_LINK__SERVER_LINK_POLLING:
        return "polling";
    case FERRY__V1__SERVER_LINK__SERVER_LINK_OFFLINE:
        return "offline";
    case FERRY__V1__SERVER_LINK__SERVER_LINK_AUTH_FAILED:
        return "token refused (bind again)";
    default:
        return "unknown";
    }
}

const char *ferry_tray_env_name(Ferry__V1__Environment env)
{
    switch (env) {
    case FERRY__V1__ENVIRONMENT__ENVIRONMENT_DEV:
        return "DEV";
    case FERRY__V1__ENVIRONMENT__ENVIRONMENT_TEST:
        return "TEST";
    case FERRY__V1__ENVIRONMENT__ENVIRONMENT_UAT:
        return "UAT";
    case FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD:
        return "PROD";
    default:
        return "";
    }
}

Ferry__V1__Environment ferry_tray_env_parse(const char *s)
{
    static const Ferry__V1__Environment all[] = {
        FERRY__V1__ENVIRONMENT__ENVIRONMENT_DEV, FERRY__V1__ENVIRONMENT__ENVIRONMENT_TEST,
        FERRY__V1__ENVIRONMENT__ENVIRONMENT_UAT, FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD};
    for (size_t i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++)
        if (strcasecmp(s, ferry_tray_env_name(all[i])) == 0)
            return all[i];
    return FERRY__V1__ENVIRONMENT__ENVIRONMENT_UNSPECIFIED;
}

static const char *local_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "-");
    return buf;
}

const char *ferry_tray_license_text(const Ferry__V1__AgentStatus *st, char *buf, size_t size)
{
    static const char *const names[] = {"none", "ACTIVE", "EXPIRED", "SUSPENDED", "REVOKED", "GRACE"};
    const Ferry__V1__License *l = st != NULL ? st->license : NULL;
    char when[40];
    if (l == NULL) {
        snprintf(buf, size, "none");
        return buf;
    }
    unsigned k = (unsigned)l->status < 6 ? (unsigned)l->status : 0;
    snprintf(buf, size, "%s until %s%s", names[k],
             l->ends_at != NULL ? local_time(l->ends_at->seconds, when, sizeof(when)) : "-",
             l->expiring ? " (expiring)" : "");
    return buf;
}

const char *ferry_tray_last_config_text(const Ferry__V1__AgentStatus *st, char *buf, size_t size)
{
    static const char *const names[] = {"-", "PENDING", "APPLIED", "FAILED", "ROLLED_BACK"};
    const Ferry__V1__ConfigAssignment *c = st != NULL ? st->last_config : NULL;
    char when[40];
    if (c == NULL) {
        snprintf(buf, size, "none");
        return buf;
    }
    unsigned k = (unsigned)c->state < 5 ? (unsigned)c->state : 0;
    snprintf(buf, size, "%s v%llu -> %s: %s at %s%s%.200s", c->template_name,
             (unsigned long long)c->template_version, c->template_ != NULL ? c->template_->target_path : "-",
             names[k], c->applied_at != NULL ? local_time(c->applied_at->seconds, when, sizeof(when)) : "-",
             c->error_message[0] ? " - " : "", c->error_message);
    return buf;
}

const char *ferry_tray_tooltip(const Ferry__V1__AgentStatus *st, ferry_tray_icon_t icon, char *buf,
                               size_t size)
{
    const char *inst = st != NULL && st->installed_version[0] ? st->installed_version : "unknown version";
    const Ferry__V1__UpdateTask *t = st != NULL ? st->current_task : NULL;
    const Ferry__V1__UpdateTask *l = st != NULL ? st->last_task : NULL;
    switch (icon) {
    case FERRY_TRAY_ICON_AGENT_DOWN:
        snprintf(buf, size, "Ferry: the agent is not running");
        break;
    case FERRY_TRAY_ICON_NOT_BOUND:
        snprintf(buf, size, "Ferry: %s",
                 st != NULL && st->bound ? "the server refused the node token: bind again"
                                         : "not bound to a server (open the bind wizard)");
        break;
    case FERRY_TRAY_ICON_UPDATING:
        if (t == NULL) { /* an icon the status does not back (a caller's mistake): say little */
            snprintf(buf, size, "Ferry: updating (installed %s)", inst);
            break;
        }
        snprintf(buf, size, "Ferry: %s %s - %d %s %u%%",
                 t->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK ? "rolling back to" : "updating to",
                 t->package_version, (int)t->state, ferry_state_name((int)t->state), t->percent);
        break;
    case FERRY_TRAY_ICON_PROMPT_WAITING:
        snprintf(buf, size, "Ferry: an optional update waits for your answer (installed %s)", inst);
        break;
    case FERRY_TRAY_ICON_FAILED:
        if (l == NULL) {
            snprintf(buf, size, "Ferry: the last update failed (installed %s)", inst);
            break;
        }
        snprintf(buf, size, "Ferry: update to %s failed: %s%s", l->package_version,
                 l->error_code[0] ? l->error_code : ferry_state_name((int)l->state),
                 l->state == FERRY__V1__TASK_STATE__TASK_STATE_ROLLBACKED ? " (restored from the backup)"
                                                                          : "");
        break;
    case FERRY_TRAY_ICON_OFFLINE:
        snprintf(buf, size, "Ferry: the server is unreachable (installed %s; reports are kept)", inst);
        break;
    case FERRY_TRAY_ICON_UPDATE_AVAILABLE:
        snprintf(buf, size, "Ferry: %u update(s) pending (installed %s)", st != NULL ? st->pending_count : 0,
                 inst);
        break;
    case FERRY_TRAY_ICON_IDLE:
    default:
        snprintf(buf, size, "Ferry: up to date (installed %s)", inst);
        break;
    }
    return buf;
}

bool ferry_tray_prompt_started(const Ferry__V1__AgentStatus *before, const Ferry__V1__AgentStatus *after)
{
    return after != NULL && after->prompt_waiting && (before == NULL || !before->prompt_waiting);
}

/* ---- optional-update prompt ------------------------------------------------------- */

/* The formats are the literals of this file's callers. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void fmt_local(int64_t t, const char *fmt, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    if (strftime(buf, size, fmt, &tm) == 0 && size > 0)
        buf[0] = '\0';
}
#pragma GCC diagnostic pop

size_t ferry_tray_defer_choices(int64_t now_s, int64_t deadline_s,
                                ferry_tray_defer_choice_t out[FERRY_TRAY_MAX_DEFER])
{
    size_t n = 0;
    if (deadline_s > 0 && deadline_s - now_s < 60)
        return 0;
    /* Tomorrow 09:00 in local time (mktime normalises day 32 and DST). */
    time_t tt = (time_t)now_s;
    struct tm tm;
    localtime_r(&tt, &tm);
    tm.tm_mday += 1;
    tm.tm_hour = 9;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t tomorrow = (int64_t)mktime(&tm);
    struct {
        const char *label;
        int64_t until;
    } cand[FERRY_TRAY_MAX_DEFER] = {
        {"In 1 hour", now_s + 3600}, {"In 4 hours", now_s + 4 * 3600}, {"Tomorrow 09:00", tomorrow}};
    bool capped_done = false;
    for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++) {
        ferry_tray_defer_choice_t *c = &out[n];
        memset(c, 0, sizeof(*c));
        if (deadline_s > 0 && cand[i].until >= deadline_s) {
            /* Every later candidate is cut to the same instant: offer it once. */
            if (capped_done)
                continue;
            char when[32];
            fmt_local(deadline_s, "%a %H:%M", when, sizeof(when));
            snprintf(c->label, sizeof(c->label), "Until the deadline (%s)", when);
            c->until_s = deadline_s;
            c->capped = true;
            capped_done = true;
        } else {
            snprintf(c->label, sizeof(c->label), "%s", cand[i].label);
            c->until_s = cand[i].until;
        }
        c->defer_s = c->until_s - now_s;
        n++;
    }
    return n;
}

ferry_err_code_t ferry_tray_defer_check(int64_t now_s, int64_t deadline_s, int64_t until_s, int64_t *defer_s,
                                        ferry_err_t *err)
{
    char a[40], b[40];
    if (until_s <= now_s)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "--until: %s is not in the future (now %s)",
                             ferry_tray_format_rfc3339(until_s, a, sizeof(a)),
                             ferry_tray_format_rfc3339(now_s, b, sizeof(b)));
    if (deadline_s > 0 && until_s > deadline_s)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "--until: %s is past the release deadline %s (the update runs then; defer "
                             "at most until the deadline)",
                             ferry_tray_format_rfc3339(until_s, a, sizeof(a)),
                             ferry_tray_format_rfc3339(deadline_s, b, sizeof(b)));
    *defer_s = until_s - now_s;
    return FERRY_OK;
}

bool ferry_tray_deadline_passed(int64_t now_s, int64_t deadline_s)
{
    return deadline_s > 0 && now_s >= deadline_s;
}

const char *ferry_tray_deadline_text(int64_t now_s, int64_t deadline_s, char *buf, size_t size)
{
    char when[48];
    if (deadline_s <= 0) {
        snprintf(buf, size, "No deadline: the update waits for your answer.");
        return buf;
    }
    if (now_s >= deadline_s) {
        snprintf(buf, size, "The deadline has passed: the update will run now.");
        return buf;
    }
    fmt_local(deadline_s, "%a %Y-%m-%d %H:%M", when, sizeof(when));
    int64_t left = deadline_s - now_s;
    if (left >= 86400)
        snprintf(buf, size, "%" PRId64 " d %" PRId64 " h left (deadline %s); then it runs by itself.",
                 left / 86400, left % 86400 / 3600, when);
    else
        snprintf(buf, size,
                 "%02" PRId64 ":%02" PRId64 ":%02" PRId64 " left (deadline %s); then it runs by itself.",
                 left / 3600, left % 3600 / 60, left % 60, when);
    return buf;
}

const char *ferry_tray_size_text(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no timezone involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

ferry_err_code_t ferry_tray_parse_rfc3339(const char *s, const char *what, int64_t *out, ferry_err_t *err)
{
    int y, mo, d, h, mi, se, n = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        goto bad;
    const char *p = s + 11;
    if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &se, &n) != 3 || n != 8)
        goto bad;
    p += 8;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            goto bad;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        goto bad;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        goto bad;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG,
                         "%s: '%.64s' is not an RFC 3339 time (e.g. 2026-12-04T14:00:00Z)", what,
                         s != NULL ? s : "");
}

const char *ferry_tray_format_rfc3339(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && size > 0)
        buf[0] = '\0';
    return buf;
}

/* ---- progress ----------------------------------------------------------------------- */

static const int STATES[FERRY_TRAY_STEPS] = {10, 20, 30, 40, 50, 60, 70, 75, 80, 90, 100, 110, 120, 130};

const char *ferry_tray_state_label(int state)
{
    switch (state) {
    case 10:
        return "Pending";
    case 20:
        return "Downloading the package";
    case 30:
        return "Verifying size, SHA-256 and signature";
    case 40:
        return "Waiting for your answer";
    case 50:
        return "Stopping the service";
    case 60:
        return "Backing up server, client and database";
    case 70:
        return "Installing server files";
    case 75:
        return "Installing client files";
    case 80:
        return "Running SQL (结构.sql, data.sql)";
    case 90:
        return "Starting the service";
    case 100:
        return "Succeeded";
    case 110:
        return "Failed";
    case 120:
        return "Rolling back from the backup";
    case 130:
        return "Rolled back";
    default:
        return "Unknown state";
    }
}

void ferry_tray_progress_init(ferry_tray_progress_t *p, const char *task_id)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->task_id, sizeof(p->task_id), "%s", task_id != NULL ? task_id : "");
}

static bool take_task(ferry_tray_progress_t *p, const Ferry__V1__UpdateTask *t, bool ended)
{
    int s = (int)t->state;
    bool changed = s != p->state || t->percent != p->percent || strcmp(p->error_code, t->error_code) != 0;
    if (p->task_id[0] == '\0')
        snprintf(p->task_id, sizeof(p->task_id), "%s", t->id);
    snprintf(p->version, sizeof(p->version), "%s", t->package_version);
    p->kind = (int)t->kind;
    p->policy = (int)t->policy;
    p->state = s;
    p->percent = t->percent;
    if (s == 40)
        p->waited = true;
    if (s > 0 && s < 100)
        p->last_working = s;
    p->finished = ended || ferry_state_is_terminal(s);
    snprintf(p->error_code, sizeof(p->error_code), "%s", t->error_code);
    snprintf(p->message, sizeof(p->message), "%s", t->message);
    if (t->backup_local_path[0] != '\0')
        snprintf(p->backup_path, sizeof(p->backup_path), "%s", t->backup_local_path);
    return changed;
}

bool ferry_tray_progress_feed(ferry_tray_progress_t *p, const Ferry__V1__AgentStatus *st)
{
    if (st == NULL || p->finished)
        return false;
    const Ferry__V1__UpdateTask *cur = st->current_task, *last = st->last_task;
    bool cur_mine = cur != NULL && (p->task_id[0] == '\0' || strcmp(cur->id, p->task_id) == 0);
    bool last_mine = last != NULL && p->task_id[0] != '\0' && strcmp(last->id, p->task_id) == 0;
    /* The ended record wins once the running one shows a final state: it alone carries the
     * result (message, backup path). */
    if (cur_mine && !(last_mine && ferry_state_is_terminal((int)cur->state)))
        return take_task(p, cur, false);
    /* Not current any more: it ended if the agent's last ended task is this one. */
    if (last_mine)
        return take_task(p, last, true);
    return false;
}

void ferry_tray_progress_steps(const ferry_tray_progress_t *p, ferry_tray_step_t out[FERRY_TRAY_STEPS])
{
    int s = p->state;
    bool failed = s == 110 || s == 120 || s == 130;
    /* The step a failed task stopped in: the last working state seen (110 before any = the first). */
    int fail_at = failed ? (p->last_working > 0 ? p->last_working : 10) : 0;
    bool rollback_task = p->kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
    for (size_t i = 0; i < FERRY_TRAY_STEPS; i++) {
        int x = STATES[i];
        ferry_tray_step_mark_t m = FERRY_TRAY_STEP_TODO;
        out[i].state = x;
        out[i].label = ferry_tray_state_label(x);
        if (s == 0) {
            m = FERRY_TRAY_STEP_TODO;
        } else if (x == 40 && !p->waited &&
                   (s > 40 || p->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL)) {
            /* Forced, offline and manual runs never wait. */
            m = FERRY_TRAY_STEP_SKIPPED;
        } else if (rollback_task && x >= 20 && x <= 110) {
            /* A rollback task restores a backup: 10 -> 120 -> 130 (or 110). */
            m = x == 110 && s == 110 ? FERRY_TRAY_STEP_FAILED : FERRY_TRAY_STEP_SKIPPED;
        } else if (!failed) {
            if (x < s && x < 100)
                m = FERRY_TRAY_STEP_DONE;
            else if (x == s)
                m = FERRY_TRAY_STEP_CURRENT;
            else if (x > 100)
                m = FERRY_TRAY_STEP_SKIPPED;
        } else if (x <= 100) {
            /* fail_at is a working state (< 100): 100 itself is SKIPPED like the steps after it. */
            m = x < fail_at    ? FERRY_TRAY_STEP_DONE
                : x == fail_at ? FERRY_TRAY_STEP_FAILED
                               : FERRY_TRAY_STEP_SKIPPED;
        } else {
            m = x < s ? FERRY_TRAY_STEP_DONE : x == s ? FERRY_TRAY_STEP_CURRENT : FERRY_TRAY_STEP_TODO;
            /* 120 and 130 happen only after a failure past the backup. */
            if (s == 110 && x > 110 && fail_at < 60)
                m = FERRY_TRAY_STEP_SKIPPED;
        }
        if (rollback_task && (x == 120 || x == 130) && s > 0)
            m = x < s ? FERRY_TRAY_STEP_DONE : x == s ? FERRY_TRAY_STEP_CURRENT : FERRY_TRAY_STEP_TODO;
        if (rollback_task && x == 10 && s > 10)
            m = FERRY_TRAY_STEP_DONE;
        out[i].mark = m;
    }
}

double ferry_tray_progress_fraction(const ferry_tray_progress_t *p)
{
    if (p->state == 0)
        return 0.0;
    if (p->finished)
        return 1.0;
    ferry_tray_step_t steps[FERRY_TRAY_STEPS];
    ferry_tray_progress_steps(p, steps);
    /* The working path only: 10..90 (the states a successful run can pass). */
    double total = 0, done = 0;
    for (size_t i = 0; i < FERRY_TRAY_STEPS && steps[i].state < 100; i++) {
        if (steps[i].mark == FERRY_TRAY_STEP_SKIPPED)
            continue;
        total += 1;
        if (steps[i].mark == FERRY_TRAY_STEP_DONE)
            done += 1;
        else if (steps[i].mark == FERRY_TRAY_STEP_CURRENT)
            done += (p->percent > 100 ? 100 : p->percent) / 100.0;
    }
    return total > 0 ? done / total : 0.0;
}

const char *ferry_tray_progress_line(const ferry_tray_progress_t *p, char *buf, size_t size)
{
    if (p->state == 0) {
        snprintf(buf, size, "waiting for the agent to start the task");
    } else if (p->error_code[0] != '\0') {
        snprintf(buf, size, "%d %s %s%s%s", p->state, ferry_state_name(p->state), p->error_code,
                 p->message[0] ? ": " : "", p->message);
    } else if (p->finished) {
        snprintf(buf, size, "%d %s%s%s", p->state, ferry_state_name(p->state), p->message[0] ? " - " : "",
                 p->message);
    } else {
        snprintf(buf, size, "%d %s %u%%", p->state, ferry_state_name(p->state), p->percent);
    }
    return buf;
}

/* ---- bind wizard ------------------------------------------------------------------------ */

ferry_err_code_t ferry_tray_bind_check(const ferry_tray_bind_input_t *in, const char **field,
                                       ferry_err_t *err)
{
    const char *u = in->server_url != NULL ? in->server_url : "";
    const char *rest = strncmp(u, "https://", 8) == 0 ? u + 8 : strncmp(u, "http://", 7) == 0 ? u + 7 : NULL;
    *field = "";
    if (rest == NULL || *rest == '\0' || *rest == '/' || *rest == ':' || strpbrk(u, " \t\r\n") != NULL) {
        *field = FERRY_TRAY_BIND_SERVER;
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "server URL: must look like https://ferry.example.com:8443 (got '%.200s')", u);
    }
    const char *n = in->node_code != NULL ? in->node_code : "";
    bool ok = n[0] != '\0' && strlen(n) <= 64;
    for (const char *q = n; ok && *q; q++)
        ok = isalnum((unsigned char)*q) || *q == '-' || *q == '_' || *q == '.';
    if (!ok) {
        *field = FERRY_TRAY_BIND_NODE;
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "node code: 1 to 64 letters, digits, '-', '_' or '.' (got '%.64s')", n);
    }
    if (ferry_tray_env_parse(in->environment) == FERRY__V1__ENVIRONMENT__ENVIRONMENT_UNSPECIFIED) {
        *field = FERRY_TRAY_BIND_ENV;
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "environment: must be DEV, TEST, UAT or PROD (got '%.16s')",
                             in->environment != NULL ? in->environment : "");
    }
    const char *t = in->token != NULL ? in->token : "";
    if (t[0] == '\0') {
        *field = FERRY_TRAY_BIND_TOKEN;
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "token: required (the node token shown once when the node was created)");
    }
    if (strpbrk(t, " \t\r\n") != NULL || strlen(t) > 512) {
        *field = FERRY_TRAY_BIND_TOKEN;
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "token: must be one word of at most 512 characters (check the copy)");
    }
    if (in->ca_file != NULL && in->ca_file[0] != '\0' && in->ca_file[0] != '/') {
        *field = FERRY_TRAY_BIND_CA;
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "CA file: must be an absolute path (got '%.200s')",
                             in->ca_file);
    }
    return FERRY_OK;
}

const char *ferry_tray_bind_error_field(ferry_err_code_t code)
{
    switch (code) {
    case FERRY_E_AUTH_INVALID:
    case FERRY_E_UNAUTHENTICATED:
        return FERRY_TRAY_BIND_TOKEN;
    case FERRY_E_UNAVAILABLE:
    case FERRY_E_TIMEOUT:
    case FERRY_E_IO:
    case FERRY_E_PROTOCOL:
        return FERRY_TRAY_BIND_SERVER;
    case FERRY_E_NOT_FOUND:
        return FERRY_TRAY_BIND_NODE;
    default:
        return "";
    }
}

/* ---- update prompt: which update -------------------------------------------------------- */

const Ferry__V1__PendingUpdate *ferry_tray_prompt_pick(Ferry__V1__PendingUpdate *const *updates, size_t n,
                                                       const char *task_id)
{
    const Ferry__V1__PendingUpdate *waiting = NULL, *deferred = NULL, *found = NULL;
    for (size_t i = 0; i < n; i++) {
        const Ferry__V1__PendingUpdate *u = updates[i];
        if (u == NULL || u->task == NULL)
            continue;
        if (task_id != NULL && task_id[0] != '\0') {
            if (strcmp(u->task->id, task_id) == 0)
                found = u;
            continue;
        }
        if (u->task->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL)
            continue;
        if (waiting == NULL && u->prompt == FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING)
            waiting = u;
        if (deferred == NULL && u->prompt == FERRY__V1__PROMPT_STATE__PROMPT_STATE_DEFERRED)
            deferred = u;
    }
    if (task_id != NULL && task_id[0] != '\0')
        return found;
    return waiting != NULL ? waiting : deferred;
}
