#include "steps.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ferry/engine/backup.h"
#include "ferry/engine/diag.h"
#include "ferry/engine/retention.h"
#include "ferry/engine/sqlexec.h"
#include "ferry/engine/sync.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"

/* Directories under work_dir holding one SQL script each, so the two scripts run as two
 * calls and the journal can say which one was running. */
#define SQL_SCHEMA_DIR "sql-schema"
#define SQL_DATA_DIR   "sql-data"

void ferry_run_emit(ferry_run_t *r, bool transition, uint64_t done, uint64_t total, const char *message)
{
    if (r->on_event == NULL)
        return;
    ferry_pipeline_event_t ev = {
        .state = r->task->state,
        .transition = transition,
        .percent = total > 0 ? (int)(done >= total ? 100 : done * 100 / total) : -1,
        .done = done,
        .total = total,
        .message = message != NULL ? message : "",
    };
    r->on_event(r->user, &ev);
}

static void on_progress(void *user, uint64_t done, uint64_t total, const char *what)
{
    ferry_run_emit(user, false, done, total, what);
}

static ferry_progress_t progress_of(ferry_run_t *r)
{
    ferry_progress_t p = {.fn = on_progress, .user = r};
    return p;
}

static ferry_backup_names_t backup_names(const ferry_run_t *r)
{
    ferry_backup_names_t n = {.client_zip = r->cfg->backup.client_backup_file_name,
                              .db_file = r->cfg->backup.db.backup_file_name};
    return n;
}

static ferry_err_code_t need_svc(ferry_run_t *r, ferry_err_t *err)
{
    if (r->svc != NULL)
        return FERRY_OK;
    return ferry_svcctl_new(r->cfg, &r->svc, err);
}

/* Opens and validates the package once per process. A resumed run re-checks the digest:
 * the file could have been replaced while the engine was down. */
ferry_err_code_t ferry_steps_need_pkg(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const ferry_task_t *t = r->task;
    if (r->pkg != NULL)
        goto out;
    if (t->package_sha256[0] != '\0') {
        char hex[FERRY_SHA256_HEX_LEN + 1];
        if (ferry_sha256_file(t->package_path, hex, NULL, err) != FERRY_OK) {
            rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
            ferry_err_prefix(err, "package");
            goto out;
        }
        if (strcasecmp(hex, t->package_sha256) != 0) {
            rc = ferry_err_set(err, FERRY_E_HASH_MISMATCH, "package '%s': SHA-256 is %s, expected %s",
                               t->package_path, hex, t->package_sha256);
            goto out;
        }
    }
    if ((rc = ferry_zip_open(t->package_path, NULL, 0, &r->pkg, err)) != FERRY_OK) {
        if (rc != FERRY_E_PACKAGE_INVALID)
            rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
        ferry_err_prefix(err, "package '%s'", t->package_path);
    }
out:
    return rc;
}

/* Puts the package's |entry| alone into work_dir/|sub|/ (replacing an earlier copy). */
static ferry_err_code_t extract_script(ferry_run_t *r, const char *entry, const char *sub, char *dir,
                                       size_t dir_size, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char file[PATH_MAX];
    if (ferry_fs_join(dir, dir_size, r->work_dir, sub) != FERRY_OK ||
        ferry_fs_join(file, sizeof(file), dir, entry) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "work dir path too long");
        goto out;
    }
    if ((rc = ferry_fs_rm_rf(dir, err)) != FERRY_OK || (rc = ferry_fs_mkdir_p(dir, 0700, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_steps_need_pkg(r, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_zip_extract_entry(r->pkg, entry, file, err)) != FERRY_OK)
        ferry_err_prefix(err, "extract %s", entry);
out:
    return rc;
}

/* work_dir/<member>.tree: where Verifying extracts an inner zip for its install step. */
static ferry_err_code_t inner_dir(const ferry_run_t *r, const char *member, char *dir, size_t size,
                                  ferry_err_t *err)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.tree", member);
    if (ferry_fs_join(dir, size, r->work_dir, name) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "work dir path too long");
    return FERRY_OK;
}

/* Validates inner zip |member| completely (names, sizes, CRCs) by extracting it afresh. */
static ferry_err_code_t extract_inner(ferry_run_t *r, const char *member, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_zip_t *z = NULL;
    char dir[PATH_MAX];
    if ((rc = inner_dir(r, member, dir, sizeof(dir), err)) != FERRY_OK ||
        (rc = ferry_fs_rm_rf(dir, err)) != FERRY_OK || (rc = ferry_steps_need_pkg(r, err)) != FERRY_OK)
        goto out;
    ferry_run_emit(r, false, 0, 0, member);
    if ((rc = ferry_zip_open_member(r->pkg, member, r->work_dir, NULL, 0, &z, err)) != FERRY_OK ||
        (rc = ferry_zip_extract(z, dir, 0, progress_of(r), err)) != FERRY_OK) {
        if (rc != FERRY_E_NOSPACE && rc != FERRY_E_IO)
            rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
        ferry_err_prefix(err, "package %s", member);
    }
out:
    ferry_zip_close(z);
    return rc;
}

/* ---- 10 Pending -------------------------------------------------------------------- */

static ferry_err_code_t pending_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_fs_mkdir_p(r->work_dir, 0700, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "work dir");
    return rc;
}

/* ---- 20 Downloading ---------------------------------------------------------------- */

static ferry_err_code_t download_apply(ferry_run_t *r, ferry_err_t *err)
{
    /* The offline engine never sets needs_download; the daemon's downloader replaces this. */
    return ferry_err_set(err, FERRY_E_DOWNLOAD_FAILED, "this build applies local packages only");
}

/* ---- 30 Verifying ------------------------------------------------------------------ */

static ferry_err_code_t verify_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_pkg_manifest_t m;
    char dir[PATH_MAX];
    unsigned parts = 0;

    /* Always re-open: Verifying is the step that proves the package. */
    ferry_zip_close(r->pkg);
    r->pkg = NULL;
    if ((rc = ferry_steps_need_pkg(r, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_pkg_manifest(r->pkg, &m, err)) != FERRY_OK)
        goto out;
    /* Inner archives are validated AND extracted now, while the service still runs: a
     * hostile server.zip (even one whose only fault is a CRC deep inside) fails here, not
     * halfway through the install, and the extraction is not part of the downtime. */
    const char *inner[2] = {FERRY_PKG_SERVER_ZIP, FERRY_PKG_CLIENT_ZIP};
    bool has_inner[2] = {m.has_server_zip, m.has_client_zip};
    for (int i = 0; i < 2; i++) {
        if (has_inner[i] && (rc = extract_inner(r, inner[i], err)) != FERRY_OK)
            goto out;
    }
    if (m.has_schema_sql) {
        if ((rc = extract_script(r, FERRY_PKG_SCHEMA_SQL, SQL_SCHEMA_DIR, dir, sizeof(dir), err)) !=
                FERRY_OK ||
            (rc = ferry_sql_validate_dir(dir, 0, NULL, err)) != FERRY_OK)
            goto out;
    }
    if (m.has_data_sql) {
        if ((rc = extract_script(r, FERRY_PKG_DATA_SQL, SQL_DATA_DIR, dir, sizeof(dir), err)) != FERRY_OK ||
            (rc = ferry_sql_validate_dir(dir, 0, NULL, err)) != FERRY_OK)
            goto out;
    }
    parts = (m.has_server_zip ? FERRY_PART_SERVER : 0) | (m.has_client_zip ? FERRY_PART_CLIENT : 0) |
            (m.has_schema_sql ? FERRY_PART_SQL_SCHEMA : 0) | (m.has_data_sql ? FERRY_PART_SQL_DATA : 0);
    r->task->facts.parts = parts;
    if ((rc = ferry_journal_save(r->journal, r->task, err)) != FERRY_OK)
        goto out;
    /* Upgrade hooks: their files are taken out of the package now, with the rest of the
     * verification, and the pre-checks run while the service is untouched (seed 002 §1). */
    if ((rc = ferry_hooks_prepare(r, err)) != FERRY_OK)
        goto out;
    if (r->hooks != NULL && r->hctx.post_state[0] == '\0') {
        snprintf(r->hctx.post_state, sizeof(r->hctx.post_state), "%s",
                 r->hooks->n[FERRY_HOOK_POST_UPGRADE] > 0 ? "pending" : "none");
        if ((rc = ferry_journal_hook_ctx_save(r->journal, r->task->task_id, &r->hctx, err)) != FERRY_OK)
            goto out;
    }
    rc = ferry_hooks_run_phase(r, FERRY_HOOK_PRE_CHECK, err);
out:
    if (rc != FERRY_OK && rc != FERRY_E_HASH_MISMATCH && rc != FERRY_E_PACKAGE_INVALID &&
        rc != FERRY_E_NOSPACE && rc != FERRY_E_PRECHECK_FAILED)
        rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
    return rc;
}

/* ---- 50 StoppingService ------------------------------------------------------------ */

/* pre_upgrade (前置升级处理): the service still runs; a failure ends the task 110 untouched. */
static ferry_err_code_t stop_prepare(ferry_run_t *r, ferry_err_t *err)
{
    return ferry_hooks_run_phase(r, FERRY_HOOK_PRE_UPGRADE, err);
}

static ferry_err_code_t stop_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char dir[PATH_MAX];
    if (need_svc(r, err) != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_SERVICE_STOP_FAILED);
        goto out;
    }
    ferry_run_emit(r, false, 0, 0, r->cfg->service.name);
    if ((rc = ferry_svcctl_stop(r->svc, r->cfg->service.stop_timeout_s, err)) == FERRY_OK)
        goto out;
    if (rc != FERRY_E_SERVICE_STOP_TIMEOUT)
        rc = ferry_err_recode(err, FERRY_E_SERVICE_STOP_FAILED);
    /* Seed 000 §5.4 step 4: a stop that fails leaves a diagnostic file behind. */
    ferry_diag_input_t in = {
        .out_dir = dir,
        .version = r->task->version,
        .code = rc,
        .message = err != NULL ? err->msg : "",
        .started = (time_t)(r->task->created_ms / 1000),
        .svc = r->svc,
        .agent_log = r->agent_log,
        .config = r->cfg,
    };
    ferry_err_t derr = {0};
    if (ferry_fs_join(dir, sizeof(dir), r->cfg->state_dir, "diag") != FERRY_OK ||
        ferry_diag_write(&in, r->task->diag_path, sizeof(r->task->diag_path), &derr) != FERRY_OK) {
        r->task->diag_path[0] = '\0';
        FERRY_ERROR("diagnostic file could not be written: %s", derr.msg);
        goto out;
    }
    ferry_err_t jerr = {0};
    if (ferry_journal_save(r->journal, r->task, &jerr) != FERRY_OK)
        FERRY_WARN("%s", jerr.msg);
    ferry_err_prefix(err, "diagnostic file %s", r->task->diag_path);
out:
    return rc;
}

static ferry_err_code_t stop_rollback(ferry_run_t *r, ferry_err_t *err)
{
    /* Undo of "stop": start again (the last operation of a rollback), with the health check. */
    ferry_err_code_t rc = need_svc(r, err);
    if (rc == FERRY_OK)
        rc = ferry_svcctl_start(r->svc, r->cfg->service.start_timeout_s, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "start service after restore");
    return rc;
}

ferry_err_code_t ferry_steps_ensure_stopped(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = need_svc(r, err);
    if (rc == FERRY_OK)
        rc = ferry_svcctl_stop(r->svc, r->cfg->service.stop_timeout_s, err);
    return rc;
}

void ferry_steps_restart_service(ferry_run_t *r)
{
    ferry_err_t e = {0};
    if (need_svc(r, &e) != FERRY_OK ||
        ferry_svcctl_start(r->svc, r->cfg->service.start_timeout_s, &e) != FERRY_OK)
        FERRY_ERROR("task %s: service could not be restarted after the failure: %s", r->task->task_id, e.msg);
}

/* ---- 60 BackingUp ------------------------------------------------------------------ */

static ferry_err_code_t backup_prepare(ferry_run_t *r, ferry_err_t *err)
{
    const ferry_node_config_t *c = r->cfg;
    uint64_t db_bytes = 0;
    /* The database backup's size is estimated by the database files for SQLite; a SQL
     * Server writes its .bak on its own disk, which is its own check. */
    if (c->backup.db.engine == FERRY_DB_ENGINE_SQLITE) {
        for (size_t i = 0; i < c->backup.db.n_databases; i++) {
            struct stat st;
            if (stat(c->backup.db.databases[i], &st) == 0)
                db_bytes += (uint64_t)st.st_size;
        }
    }
    return ferry_backup_check_space(c->paths.backup_root, c->paths.server_dir, c->paths.client_dir, db_bytes,
                                    NULL, NULL, err);
}

static ferry_err_code_t backup_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const ferry_node_config_t *c = r->cfg;
    ferry_task_t *t = r->task;
    ferry_backup_names_t names = backup_names(r);

    if (t->backup_path[0] == '\0') {
        if ((rc = ferry_backup_begin(c->paths.backup_root, t->version, t->backup_path, sizeof(t->backup_path),
                                     err)) != FERRY_OK)
            goto out;
        /* Recorded before anything is written into it: a redo reuses this folder. */
        if ((rc = ferry_journal_save(r->journal, t, err)) != FERRY_OK)
            goto out;
    } else if (ferry_backup_verify(t->backup_path, &names, NULL, NULL) == FERRY_OK) {
        /* Completed before the crash and nothing was installed since: keep it. */
        goto out;
    }
    ferry_run_emit(r, false, 0, 0, "server");
    if ((rc = ferry_backup_server(t->backup_path, c->paths.server_dir, progress_of(r), &r->server_stats,
                                  err)) != FERRY_OK)
        goto out;
    ferry_run_emit(r, false, 0, 0, "client");
    if ((rc = ferry_backup_client(t->backup_path, c->paths.client_dir, c->backup.client_backup_file_name,
                                  progress_of(r), &r->client_stats, err)) != FERRY_OK)
        goto out;
    ferry_run_emit(r, false, 0, 0, "database");
    if (ferry_db_backup_all(c, t->backup_path, err) != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_BACKUP_FAILED_DB);
        goto out;
    }
    ferry_crashpoint("backup.db.done");
    rc = ferry_backup_finalize(t->backup_path, &names, &r->server_stats, &r->client_stats, err);
out:
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "backup");
    return rc;
}

/* ---- 70 InstallingServer / 75 InstallingClient ------------------------------------- */

/* Collects the protect paths that lie under |dir| (the others belong to the other tree). */
static size_t protect_under(const ferry_node_config_t *c, const char *dir, const char **out, size_t max)
{
    size_t n = 0, dl = strlen(dir);
    for (size_t i = 0; i < c->paths.n_protect_paths && n < max; i++) {
        const char *p = c->paths.protect_paths[i];
        if (strncmp(p, dir, dl) == 0 && (p[dl] == '/' || p[dl] == '\0'))
            out[n++] = p;
    }
    return n;
}

static ferry_err_code_t install(ferry_run_t *r, const char *member, const char *target, bool delete_old,
                                const char *crash_prefix, ferry_err_code_t fail_code, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *protect[FERRY_SYNC_MAX_PROTECT];
    char dir[PATH_MAX];
    ferry_sync_opts_t o = {
        .flags = FERRY_SYNC_MOVE | (delete_old ? FERRY_SYNC_DELETE : 0),
        .protect = protect,
        .n_protect = protect_under(r->cfg, target, protect, FERRY_SYNC_MAX_PROTECT),
        .crash_prefix = crash_prefix,
        .progress = progress_of(r),
    };
    ferry_sync_stats_t st = {0};
    if ((rc = inner_dir(r, member, dir, sizeof(dir), err)) != FERRY_OK)
        goto out;
    /* Move mode consumes the extracted tree, so only a first attempt may trust it; a
     * redo after a crash extracts again (and re-syncing finished files is cheap). */
    if (r->task->attempt > 1 || !ferry_fs_is_dir(dir)) {
        if ((rc = extract_inner(r, member, err)) != FERRY_OK)
            goto out;
    }
    if ((rc = ferry_sync_tree(dir, target, &o, &st, err)) != FERRY_OK) {
        if (rc != FERRY_E_PACKAGE_INVALID)
            rc = ferry_err_recode(err, fail_code);
        ferry_err_prefix(err, "install %s", member);
        goto out;
    }
    FERRY_INFO("installed %s into %s: %llu written, %llu unchanged, %llu deleted, %llu protected", member,
               target, (unsigned long long)st.files_written, (unsigned long long)st.files_same,
               (unsigned long long)st.deleted, (unsigned long long)st.protected_kept);
    if ((rc = ferry_fs_rm_rf(dir, err)) != FERRY_OK)
        rc = ferry_err_recode(err, fail_code);
out:
    return rc;
}

static ferry_err_code_t install_server_apply(ferry_run_t *r, ferry_err_t *err)
{
    return install(r, FERRY_PKG_SERVER_ZIP, r->cfg->paths.server_dir, r->cfg->deploy.delete_old_files,
                   "install.server", FERRY_E_INSTALL_FAILED_SERVER, err);
}

static ferry_err_code_t install_client_apply(ferry_run_t *r, ferry_err_t *err)
{
    return install(r, FERRY_PKG_CLIENT_ZIP, r->cfg->paths.client_dir, r->cfg->deploy.client_delete_old_files,
                   "install.client", FERRY_E_INSTALL_FAILED_CLIENT, err);
}

/* Rollback restores are exact copies (no protect paths): the result must be the old
 * installation byte for byte, including removing files the failed install added. */
static ferry_err_code_t install_server_rollback(ferry_run_t *r, ferry_err_t *err)
{
    ferry_run_emit(r, false, 0, 0, "restore server");
    return ferry_restore_server(r->task->backup_path, r->cfg->paths.server_dir, NULL, 0, progress_of(r), err);
}

static ferry_err_code_t install_client_rollback(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_fs_mkdir_p(r->work_dir, 0700, err);
    ferry_run_emit(r, false, 0, 0, "restore client");
    if (rc == FERRY_OK)
        rc = ferry_restore_client(r->task->backup_path, r->cfg->paths.client_dir,
                                  r->cfg->backup.client_backup_file_name, r->work_dir, progress_of(r), err);
    return rc;
}

/* ---- 80 RunningSql ----------------------------------------------------------------- */

static ferry_err_code_t run_script(ferry_run_t *r, ferry_sqlexec_t *x, const char *entry, const char *sub,
                                   ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char dir[PATH_MAX], file[PATH_MAX], log[PATH_MAX];
    if (ferry_fs_join(dir, sizeof(dir), r->work_dir, sub) != FERRY_OK ||
        ferry_fs_join(file, sizeof(file), dir, entry) != FERRY_OK ||
        ferry_fs_join(log, sizeof(log), r->task->backup_path, "sql.log") != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "sql: path too long");
        goto out;
    }
    /* Verifying extracted the script; a cleaned temp dir gets a fresh copy. */
    if (!ferry_fs_exists(file) && (rc = extract_script(r, entry, sub, dir, sizeof(dir), err)) != FERRY_OK)
        goto out;
    ferry_sql_run_opts_t o = {.script_dir = dir, .sql_log = log, .exec = x, .progress = progress_of(r)};
    rc = ferry_sql_run_dir(&o, err);
out:
    return rc;
}

static ferry_err_code_t sql_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_sqlexec_t *x = NULL;
    ferry_task_t *t = r->task;
    unsigned parts = t->facts.parts;
    if ((rc = ferry_sqlexec_open_config(r->cfg, &x, err)) != FERRY_OK) {
        rc = ferry_err_recode(err, (parts & FERRY_PART_SQL_SCHEMA) ? FERRY_E_SQL_FAILED_SCHEMA
                                                                   : FERRY_E_SQL_FAILED_DATA);
        goto out;
    }
    if (parts & FERRY_PART_SQL_SCHEMA) {
        snprintf(t->substep, sizeof(t->substep), "sql.schema");
        if ((rc = ferry_journal_note(r->journal, t, "sql: running " FERRY_PKG_SCHEMA_SQL, err)) != FERRY_OK ||
            (rc = ferry_journal_save(r->journal, t, err)) != FERRY_OK)
            goto out;
        if ((rc = run_script(r, x, FERRY_PKG_SCHEMA_SQL, SQL_SCHEMA_DIR, err)) != FERRY_OK) {
            if (rc != FERRY_E_SQL_FAILED_SCHEMA)
                rc = ferry_err_recode(err, FERRY_E_SQL_FAILED_SCHEMA);
            goto out;
        }
    }
    if (parts & FERRY_PART_SQL_DATA) {
        /* Recorded before the first data batch: an interruption now names data.sql. */
        t->facts.sql_data_started = true;
        snprintf(t->substep, sizeof(t->substep), "sql.data");
        if ((rc = ferry_journal_note(r->journal, t, "sql: running " FERRY_PKG_DATA_SQL, err)) != FERRY_OK ||
            (rc = ferry_journal_save(r->journal, t, err)) != FERRY_OK)
            goto out;
        if ((rc = run_script(r, x, FERRY_PKG_DATA_SQL, SQL_DATA_DIR, err)) != FERRY_OK) {
            if (rc != FERRY_E_SQL_FAILED_DATA)
                rc = ferry_err_recode(err, FERRY_E_SQL_FAILED_DATA);
            goto out;
        }
    }
out:
    ferry_sqlexec_free(x);
    return rc;
}

static ferry_err_code_t sql_rollback(ferry_run_t *r, ferry_err_t *err)
{
    ferry_run_emit(r, false, 0, 0, "restore database");
    return ferry_db_restore_all(r->cfg, r->task->backup_path, err);
}

/* ---- 90 StartingService ------------------------------------------------------------ */

/* startup_pre_process (启动前处理): installed and migrated, service still stopped; a
 * failure rolls back (120). */
static ferry_err_code_t start_prepare(ferry_run_t *r, ferry_err_t *err)
{
    return ferry_hooks_run_phase(r, FERRY_HOOK_STARTUP_PRE, err);
}

static ferry_err_code_t start_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = need_svc(r, err);
    ferry_run_emit(r, false, 0, 0, r->cfg->service.name);
    if (rc == FERRY_OK)
        rc = ferry_svcctl_start(r->svc, r->cfg->service.start_timeout_s, err);
    if (rc != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_SERVICE_START_FAILED);
        goto out;
    }
    /* startup_post_process (启动后处理): after start + health; a failing hook rolls back
     * unless it says on_failure continue. */
    rc = ferry_hooks_run_phase(r, FERRY_HOOK_STARTUP_POST, err);
out:
    return rc;
}

static ferry_err_code_t start_rollback(ferry_run_t *r, ferry_err_t *err)
{
    /* First operation of a rollback: nothing may be restored under a running service. */
    ferry_err_code_t rc = ferry_steps_ensure_stopped(r, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "stop service before restore");
    return rc;
}

void ferry_steps_retention(ferry_run_t *r)
{
    ferry_err_t e = {0};
    unsigned deleted = 0;
    const char *keep[1] = {r->task->backup_path};
    char note[128];
    if (ferry_retention_apply(r->cfg->paths.backup_root, r->cfg->backup.retention_n, keep, 1, &deleted, &e) !=
        FERRY_OK) {
        FERRY_WARN("retention: %s", e.msg);
        return;
    }
    if (deleted > 0) {
        snprintf(note, sizeof(note), "retention: deleted %u old backup folder(s), keeping %u", deleted,
                 r->cfg->backup.retention_n);
        if (ferry_journal_note(r->journal, r->task, note, &e) != FERRY_OK)
            FERRY_WARN("%s", e.msg);
    }
}

/* ---- 120 Rollbacking --------------------------------------------------------------- */

static const ferry_step_t *steps_table(size_t *n);

static ferry_err_code_t rollback_apply(ferry_run_t *r, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_backup_names_t names = backup_names(r);
    if (r->task->backup_path[0] == '\0') {
        rc =
            ferry_err_set(err, FERRY_E_BACKUP_MISSING, "no backup recorded for version %s", r->task->version);
        goto out;
    }
    if ((rc = ferry_backup_verify(r->task->backup_path, &names, NULL, err)) != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_BACKUP_MISSING);
        goto out;
    }
    /* §5.5 restores the whole trio whatever the package held: undo every step in
     * reverse order (stop, database, client, server, start). */
    size_t n = 0;
    const ferry_step_t *table = steps_table(&n);
    for (size_t i = n; i-- > 0;) {
        const ferry_step_t *s = &table[i];
        if (s->rollback == NULL || s->state == FERRY_STATE_ROLLBACKING)
            continue;
        if ((rc = s->rollback(r, err)) != FERRY_OK) {
            if (rc != FERRY_E_BACKUP_MISSING)
                rc = ferry_err_recode(err, FERRY_E_ROLLBACK_FAILED);
            ferry_err_prefix(err, "rollback (%s)", ferry_state_name((int)s->state));
            goto out;
        }
    }
out:
    return rc;
}

static const ferry_step_t STEPS[] = {
    {FERRY_STATE_PENDING, NULL, pending_apply, NULL},
    {FERRY_STATE_DOWNLOADING, NULL, download_apply, NULL},
    {FERRY_STATE_VERIFYING, NULL, verify_apply, NULL},
    {FERRY_STATE_WAITING_USER, NULL, NULL, NULL},
    {FERRY_STATE_STOPPING_SERVICE, stop_prepare, stop_apply, stop_rollback},
    {FERRY_STATE_BACKING_UP, backup_prepare, backup_apply, NULL},
    {FERRY_STATE_INSTALLING_SERVER, NULL, install_server_apply, install_server_rollback},
    {FERRY_STATE_INSTALLING_CLIENT, NULL, install_client_apply, install_client_rollback},
    {FERRY_STATE_RUNNING_SQL, NULL, sql_apply, sql_rollback},
    {FERRY_STATE_STARTING_SERVICE, start_prepare, start_apply, start_rollback},
    {FERRY_STATE_ROLLBACKING, NULL, rollback_apply, NULL},
};
static const size_t N_STEPS = sizeof(STEPS) / sizeof(STEPS[0]);

static const ferry_step_t *steps_table(size_t *n)
{
    *n = N_STEPS;
    return STEPS;
}

const ferry_step_t *ferry_steps_find(ferry_state_t s)
{
    for (size_t i = 0; i < N_STEPS; i++) {
        if (STEPS[i].state == s)
            return &STEPS[i];
    }
    return NULL;
}

void ferry_run_release(ferry_run_t *r, bool finished)
{
    ferry_hooks_free(r->hooks);
    r->hooks = NULL;
    r->hooks_loaded = false;
    ferry_zip_close(r->pkg);
    r->pkg = NULL;
    ferry_svcctl_free(r->svc);
    r->svc = NULL;
    if (finished && r->work_dir[0] != '\0') {
        ferry_err_t e = {0};
        if (ferry_fs_rm_rf(r->work_dir, &e) != FERRY_OK)
            FERRY_WARN("work dir: %s", e.msg);
    }
}
