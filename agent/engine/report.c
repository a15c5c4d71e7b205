/*
 * The upgrade report (seed 002 §3.3 and its example): one JSON document and one text
 * rendering per task, rebuilt from the journal (task record + hook checkpoints) and the
 * package's hooks.json whenever the task ends or its post_upgrade phase moves, so it is
 * never out of step with what the journal says after a crash.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/fs.h"
#include "ferry/log.h"
#include "steps.h"

#define REPORT_JSON "upgrade-report.json"
#define REPORT_TXT  "upgrade-report.txt"
#define TEXT_CAP    (1u << 20)

static const char *const PHASE_TITLES[FERRY_HOOK_PHASES] = {
    "pre-check (\xe5\x89\x8d\xe7\xbd\xae\xe4\xb8\x9a\xe5\x8a\xa1\xe6\xa3\x80\xe6\x9f\xa5)",
    "pre-upgrade (\xe5\x89\x8d\xe7\xbd\xae\xe5\x8d\x87\xe7\xba\xa7\xe5\xa4\x84\xe7\x90\x86)",
    "startup-pre (\xe5\x90\xaf\xe5\x8a\xa8\xe5\x89\x8d\xe5\xa4\x84\xe7\x90\x86)",
    "startup-post (\xe5\x90\xaf\xe5\x8a\xa8\xe5\x90\x8e\xe5\xa4\x84\xe7\x90\x86)",
    "post-upgrade (\xe5\x8d\x87\xe7\xba\xa7\xe5\x90\x8e\xe5\xa4\x84\xe7\x90\x86)"};

typedef struct recs {
    ferry_hook_rec_t *v;
    size_t n, cap;
} recs_t;

static void collect(void *user, const ferry_hook_rec_t *rec)
{
    recs_t *rs = user;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        if (cap > FERRY_HOOK_PHASES * FERRY_HOOKS_MAX)
            return;
        ferry_hook_rec_t *v = realloc(rs->v, cap * sizeof(*v));
        if (v == NULL)
            return;
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = *rec;
}

static const ferry_hook_rec_t *rec_of(const recs_t *rs, const char *id)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].hook_id, id) == 0)
            return &rs->v[i];
    return NULL;
}

static void iso(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        buf[0] = '\0';
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    snprintf(buf, size, "%.39s", tmp);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why a hook without a checkpoint did not run. */
static void not_run(const ferry_run_t *r, ferry_hook_phase_t p, const char **outcome, char *why, size_t size)
{
    const ferry_task_t *t = r->task;
    if (p == FERRY_HOOK_POST_UPGRADE && t->state == FERRY_STATE_SUCCEEDED &&
        strcmp(r->hctx.post_state, "done") != 0 && strcmp(r->hctx.post_state, "failed") != 0) {
        *outcome = "PENDING";
        snprintf(why, size, "post_upgrade runs in the background after the update");
        return;
    }
    *outcome = FERRY_HOOK_SKIPPED;
    if (ferry_state_is_terminal(t->state))
        snprintf(why, size, "not run: the task ended %d %s before this hook", (int)t->state,
                 ferry_state_name((int)t->state));
    else
        snprintf(why, size, "not reached yet (task in %d %s)", (int)t->state,
                 ferry_state_name((int)t->state));
}

/* Appends to a bounded text buffer; silently stops at the cap (the JSON is complete anyway). */
typedef struct tbuf {
    char *p;
    size_t len;
} tbuf_t;

static void tb(tbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb(tbuf_t *b, const char *fmt, ...)
{
    if (b->p == NULL || b->len >= TEXT_CAP - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, TEXT_CAP - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = b->len + (size_t)n >= TEXT_CAP ? TEXT_CAP - 1 : b->len + (size_t)n;
}

/* Indents every line of |s| by |pad|, for output tails in the text report. */
static void tb_block(tbuf_t *b, const char *pad, const char *s)
{
    while (s != NULL && *s != '\0') {
        const char *e = strchr(s, '\n');
        int l = e != NULL ? (int)(e - s) : (int)strlen(s);
        tb(b, "%s%.*s\n", pad, l, s);
        s = e != NULL ? e + 1 : NULL;
    }
}

ferry_err_code_t ferry_report_write(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const ferry_task_t *t = r->task;
    recs_t rs = {0};
    json_t *root = json_object(), *phases = json_array(), *checks = json_array(), *sites = json_array();
    char *js = NULL;
    tbuf_t txt = {.p = malloc(TEXT_CAP)};
    char path[PATH_MAX], ts[40], ts2[40];
    unsigned totals[7] = {0}; /* PASS WARN FAIL SKIPPED NOT_APPLICABLE PENDING RUNNING */
    static const char *const NAMES[7] = {FERRY_HOOK_PASS,    FERRY_HOOK_WARN,           FERRY_HOOK_FAIL,
                                         FERRY_HOOK_SKIPPED, FERRY_HOOK_NOT_APPLICABLE, "PENDING",
                                         FERRY_HOOK_RUNNING};
    bool flagged = false;

    if (root == NULL || phases == NULL || checks == NULL || sites == NULL || txt.p == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "report: out of memory");
        goto out;
    }
    txt.p[0] = '\0';
    if (r->report_dir[0] == '\0') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "report: no report dir");
        goto out;
    }
    if ((rc = ferry_journal_hooks(r->journal, t->task_id, collect, &rs, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < r->hctx.n_sites; i++)
        json_array_append_new(sites, json_string(r->hctx.sites[i]));

    json_object_set_new(root, "reportVersion", json_integer(1));
    json_object_set_new(root, "taskId", json_string(t->task_id));
    json_object_set_new(root, "kind", json_string(t->kind));
    json_object_set_new(root, "fromVersion", json_string(r->hctx.from_version));
    json_object_set_new(root, "toVersion", json_string(t->version));
    json_object_set_new(root, "sites", sites);
    sites = NULL;
    if (r->hooks != NULL && r->hooks->description != NULL)
        json_object_set_new(root, "description", json_string(r->hooks->description));
    json_object_set_new(root, "state", json_integer((int)t->state));
    json_object_set_new(root, "stateName", json_string(ferry_state_name((int)t->state)));
    json_object_set_new(root, "errorCode",
                        json_string(t->error_code != FERRY_OK ? ferry_err_name(t->error_code) : ""));
    json_object_set_new(root, "errorMessage", json_string(t->error_msg));
    iso(t->created_ms, ts, sizeof(ts));
    json_object_set_new(root, "startedAt", json_string(ts));
    iso(t->finished_ms, ts2, sizeof(ts2));
    json_object_set_new(root, "finishedAt", json_string(ts2));
    json_object_set_new(root, "backupPath", json_string(t->backup_path));
    json_object_set_new(root, "postUpgrade",
                        json_string(r->hctx.post_state[0] != '\0' ? r->hctx.post_state : "none"));

    tb(&txt, "Ferry upgrade report\n====================\n");
    tb(&txt, "Task:      %s (%s)\n", t->task_id, t->kind);
    tb(&txt, "Versions:  %s -> %s\n", r->hctx.from_version[0] ? r->hctx.from_version : "(unknown)",
       t->version);
    tb(&txt, "Sites:     ");
    for (size_t i = 0; i < r->hctx.n_sites; i++)
        tb(&txt, "%s%s", i ? ", " : "", r->hctx.sites[i]);
    tb(&txt, "%s\n", r->hctx.n_sites == 0 ? "(none)" : "");
    tb(&txt, "Result:    %d %s%s%s%s%s\n", (int)t->state, ferry_state_name((int)t->state),
       t->error_code != FERRY_OK ? "  " : "", t->error_code != FERRY_OK ? ferry_err_name(t->error_code) : "",
       t->error_msg[0] ? ": " : "", t->error_msg);
    tb(&txt, "Started:   %s\nFinished:  %s\n", ts, ts2[0] ? ts2 : "(running)");
    if (t->backup_path[0])
        tb(&txt, "Backup:    %s\n", t->backup_path);
    tb(&txt, "Post-upgrade: %s\n", r->hctx.post_state[0] != '\0' ? r->hctx.post_state : "none");

    /* Seed 002's data-quality report: every check, in order, with its numbers. */
    unsigned nc = 0;
    for (int p = 0; r->hooks != NULL && p < FERRY_HOOK_PHASES; p++) {
        for (size_t i = 0; i < r->hooks->n[p]; i++) {
            const ferry_hook_t *h = &r->hooks->hooks[p][i];
            if (h->kind != FERRY_HOOK_CHECK)
                continue;
            const ferry_hook_rec_t *rec = rec_of(&rs, h->id);
            const char *outcome = rec != NULL ? rec->outcome : NULL;
            char why[FERRY_ERR_MSG_MAX];
            if (outcome == NULL)
                not_run(r, (ferry_hook_phase_t)p, &outcome, why, sizeof(why));
            else
                snprintf(why, sizeof(why), "%s", rec->reason);
            json_t *c = json_object();
            json_object_set_new(c, "item", json_string(h->name != NULL ? h->name : h->id));
            json_object_set_new(c, "id", json_string(h->id));
            json_object_set_new(c, "phase", json_string(ferry_hook_phase_name(h->phase)));
            json_object_set_new(c, "result", json_string(outcome));
            json_object_set_new(c, "count",
                                rec != NULL && rec->count >= 0 ? json_integer(rec->count) : json_null());
            json_object_set_new(c, "threshold", json_integer(h->threshold));
            json_object_set_new(c, "severity", json_string(h->warn_only ? "warn" : "fail"));
            json_object_set_new(c, "suggestion", json_string(h->suggestion != NULL ? h->suggestion : ""));
            json_object_set_new(c, "detail", json_string(why));
            json_array_append_new(checks, c);
            if (nc++ == 0)
                tb(&txt,
                   "\n[Data-quality checks / \xe4\xb8\x9a\xe5\x8a\xa1\xe6\x95\xb0\xe6\x8d\xae\xe8\xb4\xa8"
                   "\xe9\x87\x8f\xe6\xa3\x80\xe6\x9f\xa5\xe6\x8a\xa5\xe5\x91\x8a]\n");
            tb(&txt, "  %u. Check: %s (%s)\n     - Result: %s (%s)\n", nc, h->name != NULL ? h->name : h->id,
               h->id, outcome, why);
            if (h->suggestion != NULL && strcmp(outcome, FERRY_HOOK_PASS) != 0)
                tb(&txt, "     - Suggestion: run `%s`\n", h->suggestion);
        }
    }

    for (int p = 0; r->hooks != NULL && p < FERRY_HOOK_PHASES; p++) {
        if (r->hooks->n[p] == 0)
            continue;
        json_t *ph = json_object(), *hooks = json_array();
        json_object_set_new(ph, "phase", json_string(ferry_hook_phase_name((ferry_hook_phase_t)p)));
        json_object_set_new(ph, "title", json_string(PHASE_TITLES[p]));
        tb(&txt, "\n[%s] %s\n", ferry_hook_phase_name((ferry_hook_phase_t)p), PHASE_TITLES[p]);
        for (size_t i = 0; i < r->hooks->n[p]; i++) {
            const ferry_hook_t *h = &r->hooks->hooks[p][i];
            const ferry_hook_rec_t *rec = rec_of(&rs, h->id);
            const char *outcome = NULL;
            char why[FERRY_ERR_MSG_MAX];
            if (rec != NULL) {
                outcome = rec->done ? rec->outcome : FERRY_HOOK_RUNNING;
                snprintf(why, sizeof(why), "%s", rec->done ? rec->reason : "started, no result recorded yet");
            } else {
                not_run(r, (ferry_hook_phase_t)p, &outcome, why, sizeof(why));
            }
            for (int k = 0; k < 7; k++)
                if (strcmp(outcome, NAMES[k]) == 0)
                    totals[k]++;
            if (strcmp(outcome, FERRY_HOOK_FAIL) == 0 &&
                (p == FERRY_HOOK_POST_UPGRADE ||
                 (h->on_failure_continue && t->state == FERRY_STATE_SUCCEEDED)))
                flagged = true;
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(h->id));
            if (h->name != NULL)
                json_object_set_new(o, "name", json_string(h->name));
            json_object_set_new(o, "kind", json_string(ferry_hook_kind_name(h->kind)));
            json_object_set_new(o, "outcome", json_string(outcome));
            json_object_set_new(o, "reason", json_string(why));
            int64_t dur = rec != NULL && rec->done && rec->ended_ms >= rec->started_ms
                              ? rec->ended_ms - rec->started_ms
                              : 0;
            if (rec != NULL) {
                iso(rec->started_ms, ts, sizeof(ts));
                json_object_set_new(o, "startedAt", json_string(ts));
                json_object_set_new(o, "durationMs", json_integer(dur));
                json_object_set_new(o, "tries", json_integer(rec->tries));
                json_object_set_new(o, "runs", json_integer(rec->runs));
                if (rec->exit_code >= 0)
                    json_object_set_new(o, "exitCode", json_integer(rec->exit_code));
                if (rec->count >= 0)
                    json_object_set_new(o, "count", json_integer(rec->count));
                json_object_set_new(o, "outputTail", json_string(rec->output));
                if (rec->log_path[0])
                    json_object_set_new(o, "log", json_string(rec->log_path));
            }
            if (h->kind == FERRY_HOOK_CHECK)
                json_object_set_new(o, "threshold", json_integer(h->threshold));
            json_array_append_new(hooks, o);
            tb(&txt, "  %-14s %-24s %8.2f s  %s\n", outcome, h->id, (double)dur / 1000.0, why);
            if (rec != NULL && rec->output[0] != '\0')
                tb_block(&txt, "      | ", rec->output);
        }
        json_object_set_new(ph, "hooks", hooks);
        json_array_append_new(phases, ph);
    }
    if (r->hooks == NULL)
        tb(&txt, "\nThe package declares no upgrade hooks (no hooks.json).\n");
    json_object_set_new(root, "flagged", json_boolean(flagged));
    json_object_set_new(root, "phases", phases);
    phases = NULL;
    json_object_set_new(root, "checks", checks);
    checks = NULL;
    json_t *tot = json_object();
    json_object_set_new(tot, "hooks", json_integer((json_int_t)ferry_hooks_count(r->hooks)));
    tb(&txt, "\nTotals: %zu hook(s):", ferry_hooks_count(r->hooks));
    for (int k = 0; k < 7; k++) {
        json_object_set_new(tot, NAMES[k], json_integer(totals[k]));
        if (totals[k] > 0 || k < 5)
            tb(&txt, " %u %s", totals[k], NAMES[k]);
    }
    tb(&txt, "%s\n", flagged ? "  [FLAGGED: a hook failed after the update; nothing was rolled back]" : "");
    json_object_set_new(root, "totals", tot);
    iso(now_ms(), ts, sizeof(ts));
    json_object_set_new(root, "generatedAt", json_string(ts));

    if ((rc = ferry_fs_mkdir_p(r->report_dir, 0700, err)) != FERRY_OK)
        goto out;
    if ((js = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "report: cannot encode");
        goto out;
    }
    size_t jl = strlen(js);
    if (ferry_fs_join(path, sizeof(path), r->report_dir, REPORT_TXT) != FERRY_OK ||
        (rc = ferry_fs_write_atomic(path, txt.p, txt.len, 0600, err)) != FERRY_OK)
        goto out;
    /* The JSON last: its presence means both are complete. */
    js[jl] = '\n';
    if (ferry_fs_join(path, sizeof(path), r->report_dir, REPORT_JSON) != FERRY_OK ||
        (rc = ferry_fs_write_atomic(path, js, jl + 1, 0600, err)) != FERRY_OK)
        goto out;
out:
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "upgrade report");
    free(rs.v);
    free(js);
    free(txt.p);
    json_decref(root);
    json_decref(phases);
    json_decref(checks);
    json_decref(sites);
    return rc;
}
