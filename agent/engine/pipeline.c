#include "ferry/engine/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
    r->on_hook = o->on_hook;
    r->user = o->user;
    r->stop = o->stop;
    r->config_path = o->config_path;
    char name[64];
    snprintf(name, sizeof(name), "ferry-task-%s", t->task_id);
    if (ferry_fs_join(r->work_dir, sizeof(r->work_dir), o->cfg->paths.temp_dir, name) != FERRY_OK)
        r->work_dir[0] = '\0';
    if (ferry_pipeline_report_path(o->cfg, t->task_id, r->report_dir, sizeof(r->report_dir), NULL) ==
        FERRY_OK) {
        char *slash = strrchr(r->report_dir, '/');
        if (slash != NULL)
            *slash = '\0';
    } else {
        r->report_dir[0] = '\0';
    }
}

ferry_err_code_t ferry_pipeline_report_path(const ferry_node_config_t *cfg, const char *task_id, char *out,
                                            size_t size, ferry_err_t *err)
{
    if (snprintf(out, size, "%s/reports/%s/upgrade-report.json", cfg->state_dir, task_id) >= (int)size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "report path too long");
    return FERRY_OK;
}

/* Site codes and hook ids go into the journal one per line and into FERRY_SITE_CODES. */
static bool ctx_item_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n >= FERRY_HOOK_CTX_ITEM)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == ',' || s[i] == 0x7f)
            return false;
    return true;
}

/* The hook context of a new task from the caller's options. */
static ferry_err_code_t hook_ctx_from_opts(const ferry_pipeline_opts_t *o, ferry_journal_t *j,
                                           ferry_hook_ctx_t *c, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    memset(c, 0, sizeof(*c));
    if (o->n_sites > FERRY_HOOK_CTX_MAX || o->n_skip_hooks > FERRY_HOOK_CTX_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "at most %d site codes and %d skipped hooks",
                           FERRY_HOOK_CTX_MAX, FERRY_HOOK_CTX_MAX);
        goto out;
    }
    for (size_t i = 0; i < o->n_sites; i++) {
        if (!ctx_item_ok(o->sites[i])) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "site code '%.80s' must be 1..%d printable characters, no "
                               "spaces or commas",
                               o->sites[i] != NULL ? o->sites[i] : "", FERRY_HOOK_CTX_ITEM - 1);
            goto out;
        }
        snprintf(c->sites[c->n_sites++], FERRY_HOOK_CTX_ITEM, "%s", o->sites[i]);
    }
    for (size_t i = 0; i < o->n_skip_hooks; i++) {
        if (!ctx_item_ok(o->skip_hooks[i])) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "hook id to skip '%.80s' is not a hook id",
                               o->skip_hooks[i] != NULL ? o->skip_hooks[i] : "");
            goto out;
        }
        snprintf(c->skip[c->n_skip++], FERRY_HOOK_CTX_ITEM, "%s", o->skip_hooks[i]);
    }
    if (o->from_version != NULL && o->from_version[0] != '\0') {
        ferry_version_t v;
        if ((rc = ferry_version_parse(o->from_version, &v, err)) != FERRY_OK) {
            ferry_err_prefix(err, "installed version");
            goto out;
        }
        snprintf(c->from_version, sizeof(c->from_version), "%s", o->from_version);
    } else if ((rc = ferry_journal_installed_version(j, c->from_version, sizeof(c->from_version), err)) !=
               FERRY_OK) {
        goto out;
    }
out:
    return rc;
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

/*
 * Reports follow their tasks out of the journal (it keeps the newest 200): a report
 * folder whose task is gone is removed, so {stateDir}/reports stays bounded.
 */
static void prune_reports(const ferry_node_config_t *cfg, ferry_journal_t *j)
{
    char dir[PATH_MAX], path[PATH_MAX];
    if (ferry_fs_join(dir, sizeof(dir), cfg->state_dir, "reports") != FERRY_OK)
        return;
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        ferry_task_t t;
        int found = 1;
        ferry_err_t err = {0};
        if (e->d_name[0] == '.' || strlen(e->d_name) > FERRY_TASK_ID_LEN)
            continue;
        if (ferry_journal_get(j, e->d_name, &t, &found, &err) != FERRY_OK || found)
            continue;
        if (ferry_fs_join(path, sizeof(path), dir, e->d_name) == FERRY_OK &&
            ferry_fs_rm_rf(path, &err) != FERRY_OK)
            FERRY_WARN("reports: %s", err.msg);
    }
    closedir(d);
}

/*
 * A new attempt of the journal's Failed task |prev| (the server retried it under the same
 * id): ferry_journal_new_attempt with the caller's resume checkpoint. The earlier attempt's
 * backup is reused when that attempt got past BackingUp (it failed in 70..90, so it ended
 * 110 only because its rollback failed) and the folder still verifies complete: it holds
 * the installation as it was before this version, whereas a new backup would copy what
 * the failed rollback left. An attempt that failed before the backup was complete (60 or
 * earlier: nothing was installed) takes a new one in a new folder.
 */
static ferry_err_code_t new_attempt(const ferry_pipeline_opts_t *o, ferry_journal_t *j,
                                    const ferry_task_t *prev, ferry_task_t *t, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    unsigned kept = 0;
    const ferry_node_config_t *c = o->cfg;
    ferry_backup_names_t names = {.client_zip = c->backup.client_backup_file_name,
                                  .db_file = c->backup.db.backup_file_name};
    t->backup_path[0] = '\0';
    if (prev->backup_path[0] != '\0' && ferry_state_touches_install(prev->failed_state) &&
        ferry_backup_verify(prev->backup_path, &names, NULL, NULL) == FERRY_OK)
        snprintf(t->backup_path, sizeof(t->backup_path), "%s", prev->backup_path);
    if ((rc = ferry_journal_new_attempt(j, t, o->resume_checkpoint, &kept, err)) != FERRY_OK)
        goto out;
    FERRY_INFO("task %s: new attempt after %s (%s); %u hook checkpoint(s) kept%s%s", t->task_id,
               ferry_state_name((int)prev->state), ferry_err_name(prev->error_code), kept,
               t->backup_path[0] != '\0' ? ", reusing backup " : "", t->backup_path);
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
        int have_ctx = 0;
        if ((rc = ferry_journal_hook_ctx_load(j, t.task_id, &r.hctx, &have_ctx, err)) != FERRY_OK)
            goto out;
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
        ferry_hook_ctx_t hctx;
        t = *proto;
        if (kind == START_APPLY && (rc = hook_ctx_from_opts(o, j, &hctx, err)) != FERRY_OK)
            goto out;
        ferry_task_t prev;
        int again = 0;
        /* The caller's task id already in the journal: the server retried that task. */
        if (kind == START_APPLY && t.task_id[0] != '\0' &&
            (rc = ferry_journal_get(j, t.task_id, &prev, &again, err)) != FERRY_OK)
            goto out;
        rc = again ? new_attempt(o, j, &prev, &t, err) : ferry_journal_create(j, &t, err);
        if (rc != FERRY_OK)
            goto out;
        prune_reports(o->cfg, j);
        run_init(&r, o, j, &t);
        have_run = true;
        if (kind == START_APPLY) {
            r.hctx = hctx;
            if ((rc = ferry_journal_hook_ctx_save(j, t.task_id, &r.hctx, err)) != FERRY_OK)
                goto out;
        }
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
        if (strcmp(t.kind, FERRY_TASK_KIND_APPLY) == 0) {
            /* The report follows the journal; a failure to write it never changes the task. */
            ferry_err_t rerr = {0};
            if (ferry_report_write(&r, &rerr) != FERRY_OK)
                FERRY_WARN("task %s: %s", t.task_id, rerr.msg);
        }
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

/* ---- post_upgrade ------------------------------------------------------------------ */

static ferry_err_code_t post_lock(const char *state_dir, int *fd_out, ferry_err_t *err)
{
    char path[PATH_MAX];
    int fd;
    *fd_out = -1;
    if (ferry_fs_join(path, sizeof(path), state_dir, "post.lock") != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "state dir path too long");
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return ferry_err_set(err, FERRY_E_PRECONDITION, "post_upgrade hooks are already running (lock '%s')",
                             path);
    }
    *fd_out = fd;
    return FERRY_OK;
}

ferry_err_code_t ferry_pipeline_post_upgrade(const ferry_pipeline_opts_t *o, const char *task_id, int *ran,
                                             ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int lock_fd = -1, found = 0;
    ferry_journal_t *j = NULL;
    ferry_task_t t;
    ferry_run_t r;
    bool have_run = false;
    *ran = 0;
    if (o == NULL || o->cfg == NULL || task_id == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "post_upgrade: no configuration or task");
        goto out;
    }
    if ((rc = ferry_fs_mkdir_p(o->cfg->state_dir, 0700, err)) != FERRY_OK ||
        (rc = post_lock(o->cfg->state_dir, &lock_fd, err)) != FERRY_OK ||
        (rc = ferry_journal_open(o->cfg->state_dir, &j, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_journal_get(j, task_id, &t, &found, err)) != FERRY_OK)
        goto out;
    if (!found || t.state != FERRY_STATE_SUCCEEDED || strcmp(t.kind, FERRY_TASK_KIND_APPLY) != 0)
        goto out;
    run_init(&r, o, j, &t);
    /* Its own work dir: the task's was removed when it ended, and a new task may use it. */
    char name[64];
    snprintf(name, sizeof(name), "ferry-post-%s", t.task_id);
    if (ferry_fs_join(r.work_dir, sizeof(r.work_dir), o->cfg->paths.temp_dir, name) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "temp dir path too long");
        goto out;
    }
    have_run = true;
    int have_ctx = 0;
    if ((rc = ferry_journal_hook_ctx_load(j, t.task_id, &r.hctx, &have_ctx, err)) != FERRY_OK)
        goto out;
    if (!have_ctx || (strcmp(r.hctx.post_state, "pending") != 0 && strcmp(r.hctx.post_state, "running") != 0))
        goto out;
    *ran = 1;
    r.hook_stop = o->stop;
    snprintf(r.hctx.post_state, sizeof(r.hctx.post_state), "running");
    if ((rc = ferry_journal_hook_ctx_save(j, t.task_id, &r.hctx, err)) != FERRY_OK)
        goto out;
    ferry_err_t herr = {0};
    ferry_err_code_t hrc = ferry_fs_mkdir_p(r.work_dir, 0700, &herr);
    if (hrc == FERRY_OK)
        hrc = ferry_hooks_prepare(&r, &herr);
    if (hrc == FERRY_OK)
        hrc = ferry_hooks_run_phase(&r, FERRY_HOOK_POST_UPGRADE, &herr);
    else
        hrc = ferry_err_recode(&herr, FERRY_E_HOOK_FAILED);
    if (hrc == FERRY_E_CANCELED) {
        /* Stays "running": the next start resumes the phase. */
        rc = hrc;
        if (err != NULL)
            *err = herr;
        goto out;
    }
    snprintf(r.hctx.post_state, sizeof(r.hctx.post_state), "%s", hrc == FERRY_OK ? "done" : "failed");
    if ((rc = ferry_journal_hook_ctx_save(j, t.task_id, &r.hctx, err)) != FERRY_OK)
        goto out;
    ferry_err_t nerr = {0};
    char msg[FERRY_ERR_MSG_MAX + 64];
    if (hrc == FERRY_OK)
        snprintf(msg, sizeof(msg), "post_upgrade done");
    else
        snprintf(msg, sizeof(msg), "post_upgrade failed: %s: %s", ferry_err_name(hrc), herr.msg);
    if (ferry_journal_note(j, &t, msg, &nerr) != FERRY_OK)
        FERRY_WARN("%s", nerr.msg);
    if (hrc != FERRY_OK) {
        rc = hrc;
        if (err != NULL)
            *err = herr;
    }
out:
    if (have_run) {
        ferry_err_t rerr = {0};
        if (*ran && ferry_report_write(&r, &rerr) != FERRY_OK)
            FERRY_WARN("task %s: %s", t.task_id, rerr.msg);
        /* An interrupted phase keeps its files for the resume; a finished one does not. */
        ferry_run_release(&r, strcmp(r.hctx.post_state, "running") != 0);
    }
    ferry_journal_close(j);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

ferry_err_code_t ferry_pipeline_post_upgrade_pending(const ferry_node_config_t *cfg, char *task_id,
                                                     size_t size, int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_journal_t *j = NULL;
    ferry_task_t t;
    ferry_hook_ctx_t c;
    int have = 0, have_ctx = 0;
    *found = 0;
    task_id[0] = '\0';
    if ((rc = ferry_journal_open(cfg->state_dir, &j, err)) != FERRY_OK ||
        (rc = ferry_journal_latest(j, &t, &have, err)) != FERRY_OK || !have)
        goto out;
    if (t.state != FERRY_STATE_SUCCEEDED || strcmp(t.kind, FERRY_TASK_KIND_APPLY) != 0)
        goto out;
    if ((rc = ferry_journal_hook_ctx_load(j, t.task_id, &c, &have_ctx, err)) != FERRY_OK || !have_ctx)
        goto out;
    if (strcmp(c.post_state, "pending") == 0 || strcmp(c.post_state, "running") == 0) {
        snprintf(task_id, size, "%s", t.task_id);
        *found = 1;
    }
out:
    ferry_journal_close(j);
    return rc;
}

/* ---- changes outside a task (the daemon's configuration apply) ---------------------- */

ferry_err_code_t ferry_pipeline_lock_idle(const ferry_node_config_t *cfg, int *fd_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_journal_t *j = NULL;
    ferry_task_t t;
    int lock_fd = -1, active = 0;
    *fd_out = -1;
    if (cfg == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "pipeline: no configuration");
        goto out;
    }
    /* The same lock as a task: a `ferry-agent apply` started meanwhile waits for us, and
     * we do not start while one runs. */
    if ((rc = ferry_journal_lock(cfg->state_dir, &lock_fd, err)) != FERRY_OK ||
        (rc = ferry_journal_open(cfg->state_dir, &j, err)) != FERRY_OK ||
        (rc = ferry_journal_active(j, &t, &active, err)) != FERRY_OK)
        goto out;
    if (active) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                           "task %s is active in the journal (%d %s): it finishes first", t.task_id,
                           (int)t.state, ferry_state_name((int)t.state));
        goto out;
    }
    *fd_out = lock_fd;
    lock_fd = -1;
out:
    ferry_journal_close(j);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

void ferry_pipeline_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

ferry_err_code_t ferry_pipeline_restart_service(const ferry_node_config_t *cfg, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_svcctl_t *svc = NULL;
    if (cfg == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "pipeline: no configuration");
        goto out;
    }
    /* What an update does around its file changes: Stopping, then Starting with the
     * health check, each within node-config's timeouts. */
    if ((rc = ferry_svcctl_new(cfg, &svc, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_svcctl_stop(svc, cfg->service.stop_timeout_s, err)) != FERRY_OK) {
        ferry_err_prefix(err, "stop service '%s'", cfg->service.name);
        goto out;
    }
    if ((rc = ferry_svcctl_start(svc, cfg->service.start_timeout_s, err)) != FERRY_OK)
        ferry_err_prefix(err, "start service '%s'", cfg->service.name);
out:
    ferry_svcctl_free(svc);
    return rc;
}
