#include "ferry/engine/pipeline.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/engine/backup.h"
#include "ferry/hooks.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/version.h"
#include "steps.h"

static ferry_err_code_t check_version(const char *version, ferry_err_t *err)
{
    ferry_version_t v;
    ferry_err_code_t rc = ferry_version_parse(version != NULL ? version : "", &v, err);
    if (rc == FERRY_OK && !ferry_version_is_path_safe(version))
        rc = ferry_err_set(err, FERRY_E_VERSION_INVALID, "version '%.64s' cannot name a folder", version);
    return rc;
}

static void run_init(ferry_run_t *r, const ferry_pipeline_opts_t *o, ferry_journal_t *j, ferry_task_t *t)
{
    memset(r, 0, sizeof(*r));
    r->cfg = o->cfg;
    r->agent_log = o->agent_log;
    r->journal = j;
    r->task = t;
    r->on_event = o->on_event;
    r->user = o->user;
    r->stop = o->stop;
    char name[64];
    snprintf(name, sizeof(name), "ferry-task-%s", t->task_id);
    if (ferry_fs_join(r->work_dir, sizeof(r->work_dir), o->cfg->paths.temp_dir, name) != FERRY_OK)
        r->work_dir[0] = '\0';
}

/*
 * The loop: the journal already holds the current state. Announce it, offer the crash
 * point "state.<code>", run the step, ask the machine what comes next, record that
 * (synced) and only then go on. A journal failure stops the loop with the task left
 * active: `ferry-agent resume` takes it from the last recorded state.
 */
static ferry_err_code_t run_loop(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t *t = r->task;
    char point[32], msg[FERRY_ERR_MSG_MAX + 64];
    for (;;) {
        ferry_state_t s = t->state;
        snprintf(msg, sizeof(msg), "%d %s (attempt %u)", (int)s, ferry_state_name((int)s), t->attempt);
        ferry_run_emit(r, true, 0, 0, msg);
        FERRY_INFO("task %s: %s", t->task_id, msg);
        snprintf(point, sizeof(point), "state.%d", (int)s);
        ferry_crashpoint(point);
        if (ferry_state_is_terminal(s))
            break;

        const ferry_step_t *step = ferry_steps_find(s);
        ferry_err_t serr = {0};
        ferry_err_code_t src = FERRY_OK;
        if (r->ensure_stopped) {
            /* A redo after a crash: a reboot may have started the service meanwhile. */
            r->ensure_stopped = false;
            src = ferry_steps_ensure_stopped(r, &serr);
            if (src != FERRY_OK)
                src = ferry_err_recode(&serr, ferry_sm_failure_code(s, &t->facts));
        }
        if (src == FERRY_OK && step != NULL && step->prepare != NULL)
            src = step->prepare(r, &serr);
        if (src == FERRY_OK && step != NULL && step->apply != NULL)
            src = step->apply(r, &serr);
        if (src == FERRY_OK) {
            snprintf(point, sizeof(point), "state.%d.done", (int)s);
            ferry_crashpoint(point);
            if (s == FERRY_STATE_STARTING_SERVICE)
                ferry_steps_retention(r);
        }

        ferry_sm_event_t ev = {.kind = src == FERRY_OK ? FERRY_SM_STEP_OK : FERRY_SM_STEP_FAILED,
                               .code = src};
        ferry_sm_decision_t d = ferry_sm_next(s, &t->facts, &ev);
        if (src != FERRY_OK) {
            FERRY_ERROR("task %s: %s failed: %s: %s", t->task_id, ferry_state_name((int)s),
                        ferry_err_name(src), serr.msg);
            snprintf(msg, sizeof(msg), "%s", serr.msg);
        } else {
            snprintf(msg, sizeof(msg), "%s done", ferry_state_name((int)s));
        }
        if (d.next == FERRY_STATE_ROLLBACKING && s != FERRY_STATE_ROLLBACKING)
            t->failed_state = s;
        if (d.error != FERRY_OK && d.error != src) {
            /* The machine replaced the step's code (E_ROLLBACK_FAILED): keep both in the text. */
            size_t l = strlen(msg);
            snprintf(msg + l, sizeof(msg) - l, " (%s)", ferry_err_name(src));
        }
        if ((rc = ferry_journal_transition(r->journal, t, d.next, d.error, msg, err)) != FERRY_OK)
            goto out;
        if (d.flags & FERRY_SM_RESTART_SERVICE)
            ferry_steps_restart_service(r);
        if (r->stop != NULL && *r->stop && !ferry_state_is_terminal(t->state)) {
            /* The next state is recorded: resume starts exactly there. */
            rc = ferry_err_set(err, FERRY_E_CANCELED, "stopped before %s; the task resumes at next start",
                               ferry_state_name((int)t->state));
            goto out;
        }
    }
out:
    return rc;
}

/* Shared frame of the three entry points: lock, journal, run, release. */
typedef enum { START_APPLY, START_RESUME, START_ROLLBACK } start_kind_t;

static ferry_err_code_t find_backup_dir(const ferry_node_config_t *cfg, ferry_journal_t *j,
                                        const char *version, char *out, size_t size, ferry_err_t *err);

static ferry_err_code_t run_task(const ferry_pipeline_opts_t *o, start_kind_t kind, ferry_task_t *proto,
                                 ferry_task_t *result, int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int lock_fd = -1;
    ferry_journal_t *j = NULL;
    ferry_task_t t;
    ferry_run_t r;
    bool have_run = false;

    memset(result, 0, sizeof(*result));
    if (found != NULL)
        *found = 0;
    if (o == NULL || o->cfg == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "pipeline: no configuration");
        goto out;
    }
    if ((rc = ferry_journal_lock(o->cfg->state_dir, &lock_fd, err)) != FERRY_OK ||
        (rc = ferry_journal_open(o->cfg->state_dir, &j, err)) != FERRY_OK)
        goto out;

    if (kind == START_RESUME) {
        int active = 0;
        if ((rc = ferry_journal_active(j, &t, &active, err)) != FERRY_OK)
            goto out;
        if (!active) {
            int latest = 0;
            rc = ferry_journal_latest(j, result, &latest, err);
            goto out;
        }
        if (found != NULL)
            *found = 1;
        run_init(&r, o, j, &t);
        have_run = true;
        if ((rc = ferry_journal_note_resume(j, &t, err)) != FERRY_OK)
            goto out;
        ferry_sm_event_t ev = {.kind = FERRY_SM_RESUMED, .attempts = t.attempt};
        ferry_sm_decision_t d = ferry_sm_next(t.state, &t.facts, &ev);
        char msg[160];
        if (d.redo) {
            snprintf(msg, sizeof(msg), "redo %s after interruption", ferry_state_name((int)t.state));
            r.ensure_stopped = (d.flags & FERRY_SM_ENSURE_STOPPED) != 0;
        } else {
            snprintf(msg, sizeof(msg), "%s interrupted %u time(s)%s", ferry_state_name((int)t.state),
                     t.attempt,
                     t.state == FERRY_STATE_RUNNING_SQL ? "; SQL scripts are not re-run, restoring the backup"
                                                        : "; giving up on this step");
            if (d.next == FERRY_STATE_ROLLBACKING && t.state != FERRY_STATE_ROLLBACKING)
                t.failed_state = t.state;
        }
        if ((rc = ferry_journal_transition(j, &t, d.next, d.error, msg, err)) != FERRY_OK)
            goto out;
        if (d.flags & FERRY_SM_RESTART_SERVICE)
            ferry_steps_restart_service(&r);
    } else {
        t = *proto;
        if ((rc = ferry_journal_create(j, &t, err)) != FERRY_OK)
            goto out;
        run_init(&r, o, j, &t);
        have_run = true;
        if (kind == START_ROLLBACK) {
            ferry_err_t ferr = {0};
            if (o->backup_path != NULL && o->backup_path[0] != '\0' && ferry_fs_is_dir(o->backup_path))
                snprintf(t.backup_path, sizeof(t.backup_path), "%s", o->backup_path);
            else if (find_backup_dir(o->cfg, j, t.version, t.backup_path, sizeof(t.backup_path), &ferr) !=
                     FERRY_OK)
                FERRY_WARN("rollback: %s", ferr.msg);
            t.failed_state = FERRY_STATE_STARTING_SERVICE;
            if ((rc = ferry_journal_save(j, &t, err)) != FERRY_OK)
                goto out;
        }
    }
    rc = run_loop(&r, err);
out:
    if (have_run) {
        ferry_run_release(&r, ferry_state_is_terminal(t.state));
        *result = t;
    }
    ferry_journal_close(j);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

ferry_err_code_t ferry_pipeline_apply(const ferry_pipeline_opts_t *o, const char *package_path,
                                      const char *version, const char *sha256, ferry_task_t *result,
                                      ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t t;
    char abs[PATH_MAX];
    memset(&t, 0, sizeof(t));
    memset(result, 0, sizeof(*result));
    if ((rc = check_version(version, err)) != FERRY_OK)
        goto out;
    if (sha256 != NULL && sha256[0] != '\0') {
        size_t n = strlen(sha256);
        if (n != 64 || strspn(sha256, "0123456789abcdefABCDEF") != n) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "--sha256 must be 64 hex digits");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            t.package_sha256[i] = (char)(sha256[i] >= 'A' && sha256[i] <= 'F' ? sha256[i] + 32 : sha256[i]);
    }
    /* An absolute path: resume may run from another working directory. */
    if (package_path == NULL || realpath(package_path, abs) == NULL) {
        rc =
            ferry_err_set(err, FERRY_E_NOT_FOUND, "package '%s' not found", package_path ? package_path : "");
        goto out;
    }
    snprintf(t.kind, sizeof(t.kind), "%s", FERRY_TASK_KIND_APPLY);
    snprintf(t.version, sizeof(t.version), "%s", version);
    if (o != NULL && o->task_id != NULL && o->task_id[0] != '\0') {
        if (strlen(o->task_id) >= sizeof(t.task_id)) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "task id longer than %d characters",
                               FERRY_TASK_ID_LEN);
            goto out;
        }
        snprintf(t.task_id, sizeof(t.task_id), "%s", o->task_id);
    }
    if (strlen(abs) >= sizeof(t.package_path)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "package path too long (%zu bytes)", strlen(abs));
        goto out;
    }
    memcpy(t.package_path, abs, strlen(abs) + 1);
    rc = run_task(o, START_APPLY, &t, result, NULL, err);
out:
    return rc;
}

ferry_err_code_t ferry_pipeline_resume(const ferry_pipeline_opts_t *o, ferry_task_t *result, int *found,
                                       ferry_err_t *err)
{
    return run_task(o, START_RESUME, NULL, result, found, err);
}

ferry_err_code_t ferry_pipeline_rollback(const ferry_pipeline_opts_t *o, const char *version,
                                         ferry_task_t *result, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t t;
    memset(&t, 0, sizeof(t));
    memset(result, 0, sizeof(*result));
    if ((rc = check_version(version, err)) != FERRY_OK)
        goto out;
    snprintf(t.kind, sizeof(t.kind), "%s", FERRY_TASK_KIND_ROLLBACK);
    snprintf(t.version, sizeof(t.version), "%s", version);
    t.facts.manual_rollback = true;
    if (o != NULL && o->task_id != NULL && o->task_id[0] != '\0')
        snprintf(t.task_id, sizeof(t.task_id), "%.*s", FERRY_TASK_ID_LEN, o->task_id);
    rc = run_task(o, START_ROLLBACK, &t, result, NULL, err);
out:
    return rc;
}

/*
 * The backup taken before |version| was installed: the journal's BackupLocalPath of the
 * newest apply task for it, else the newest complete `{version}` / `{version}_*`
 * folder under backupRoot (the journal may have been lost or pruned).
 */
static ferry_err_code_t find_backup_dir(const ferry_node_config_t *cfg, ferry_journal_t *j,
                                        const char *version, char *out, size_t size, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t t;
    int found = 0;
    ferry_backup_names_t names = {.client_zip = cfg->backup.client_backup_file_name,
                                  .db_file = cfg->backup.db.backup_file_name};
    DIR *d = NULL;
    int64_t best = -1;
    out[0] = '\0';
    if ((rc = ferry_journal_find_backup(j, version, &t, &found, err)) != FERRY_OK)
        goto out;
    if (found && ferry_backup_verify(t.backup_path, &names, NULL, NULL) == FERRY_OK) {
        snprintf(out, size, "%s", t.backup_path);
        goto out;
    }
    d = opendir(cfg->paths.backup_root);
    if (d == NULL) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "no backup root '%s'", cfg->paths.backup_root);
        goto out;
    }
    size_t vl = strlen(version);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, version, vl) != 0 || (e->d_name[vl] != '\0' && e->d_name[vl] != '_'))
            continue;
        char path[PATH_MAX];
        ferry_backup_info_t info;
        if (ferry_fs_join(path, sizeof(path), cfg->paths.backup_root, e->d_name) != FERRY_OK ||
            ferry_backup_verify(path, &names, &info, NULL) != FERRY_OK)
            continue;
        if (info.completed_at > best) {
            if (snprintf(out, size, "%s", path) >= (int)size) {
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path '%s' is too long", path);
                goto out;
            }
            best = info.completed_at;
        }
    }
    if (out[0] == '\0')
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "no complete backup for version %s under '%s'",
                           version, cfg->paths.backup_root);
out:
    if (d != NULL)
        closedir(d);
    return rc;
}
