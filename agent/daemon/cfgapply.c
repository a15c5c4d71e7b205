/*
 * Configuration apply at run time (cfgapply.h). The phase of every job is in agent.db
 * before the node is touched, so kill -9 at any point resumes where it stopped; the
 * service restart and health check are the engine's (ferry_pipeline_restart_service),
 * run under the engine's task lock so a `ferry-agent apply` cannot interleave.
 */
#include "cfgapply.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentd.h"
#include "ferry/engine/pipeline.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/v1/report.pb-c.h"

/* Largest current file kept as `.ferry-prev` (a configuration file, not a database). */
#define PREV_MAX (64u << 20)

/* ---- results -------------------------------------------------------------------------------- */

/* Packs a ReportConfigResultRequest (*body malloc'ed). error_message is masked and cut to
 * the server's limit; FAILED and ROLLED_BACK always carry one (the server requires it). */
static ferry_err_code_t pack_result(const char *id, int state, const char *msg, int64_t at_ms, uint8_t **body,
                                    size_t *len, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char m[AGENTD_CFG_ERROR_MAX + 1];
    Ferry__V1__ReportConfigResultRequest r = FERRY__V1__REPORT_CONFIG_RESULT_REQUEST__INIT;
    Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    snprintf(m, sizeof(m), "%s",
             msg != NULL && msg[0] != '\0' ? msg
             : state == AGENTD_CFG_APPLIED ? ""
                                           : "failed");
    ferry_log_mask_secrets(m);
    at.seconds = at_ms / 1000;
    at.nanos = (int32_t)(at_ms % 1000) * 1000000;
    r.assignment_id = (char *)id;
    r.state = (Ferry__V1__ConfigAssignmentState)state;
    r.error_message = m;
    r.applied_at = &at;
    *len = ferry__v1__report_config_result_request__get_packed_size(&r);
    if ((*body = malloc(*len > 0 ? *len : 1)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "config %s: out of memory", id);
        goto out;
    }
    ferry__v1__report_config_result_request__pack(&r, *body);
out:
    return rc;
}

/* Ends a job: result and report committed together (state 0: dropped, nothing reported),
 * then shown in the status. */
static void finish(agentd_t *ad, const agentd_cfg_job_t *j, int state, const char *msg)
{
    ferry_err_t err = {0};
    uint8_t *body = NULL;
    size_t len = 0;
    char m[AGENTD_CFG_ERROR_MAX + 1];
    int64_t now = agentd_now_ms();
    snprintf(m, sizeof(m), "%s", msg != NULL ? msg : "");
    ferry_log_mask_secrets(m);
    if (state != 0 && pack_result(j->id, state, m, now, &body, &len, &err) != FERRY_OK) {
        agentd_log("config %s: %s", j->id, err.msg);
        goto out;
    }
    if (agentd_store_cfg_finish(ad->store, j->id, state, m, now, body, len, &err) != FERRY_OK) {
        agentd_log("config %s: cannot record the result: %s", j->id, err.msg);
        goto out;
    }
    if (state == 0) {
        agentd_log("config %s: %s", j->id, m);
        goto out;
    }
    agentd_log("config %s (%s v%llu -> %s): %s%s%s", j->id, j->template_name,
               (unsigned long long)j->template_version, j->target, agentd_cfg_state_name(state),
               m[0] ? ": " : "", m);
    pthread_mutex_lock(&ad->mu);
    ad->have_last_cfg = true;
    ad->last_cfg = *j;
    ad->last_cfg.phase = AGENTD_CFG_DONE;
    ad->last_cfg.state = state;
    ad->last_cfg.done_ms = now;
    snprintf(ad->last_cfg.error, sizeof(ad->last_cfg.error), "%s", m);
    agentd_changed_locked(ad); /* status watchers, and the post thread sends the result */
    pthread_mutex_unlock(&ad->mu);
out:
    free(body);
}

/* ---- offers --------------------------------------------------------------------------------- */

void agentd_cfg_offer(agentd_t *ad, const Ferry__V1__ConfigAssignment *a)
{
    ferry_err_t err = {0};
    agentd_cfg_job_t j, known;
    char newest[AGENTD_ID_MAX];
    int found = 0, added = 0, queued = 0;
    uint8_t *body = NULL;
    size_t len = 0;
    if (a == NULL || a->id == NULL || a->id[0] == '\0' || strlen(a->id) >= sizeof(j.id)) {
        agentd_log("config: assignment without a usable id ignored");
        goto out;
    }
    memset(&j, 0, sizeof(j));
    snprintf(j.id, sizeof(j.id), "%s", a->id);
    snprintf(j.template_name, sizeof(j.template_name), "%s", a->template_name ? a->template_name : "");
    j.template_version = a->template_version;
    snprintf(j.sha256, sizeof(j.sha256), "%s", a->rendered_sha256 ? a->rendered_sha256 : "");
    if (a->template_ != NULL) {
        /* An over-long path is kept cut: the lexical check refuses it by its length. */
        const char *t = a->template_->target_path ? a->template_->target_path : "";
        snprintf(j.target, sizeof(j.target), "%s", strlen(t) < sizeof(j.target) ? t : "(too long)");
        j.restart = a->template_->restart_service;
        if (j.template_name[0] == '\0' && a->template_->name != NULL)
            snprintf(j.template_name, sizeof(j.template_name), "%s", a->template_->name);
        if (j.template_version == 0)
            j.template_version = a->template_->version;
    }
    j.received_ms = agentd_now_ms();
    if (agentd_store_cfg_get(ad->store, j.id, j.template_name, &known, &found, newest, &err) != FERRY_OK) {
        agentd_log("config %s: %s", j.id, err.msg);
        goto out;
    }
    switch (agentd_cfg_on_offer(found ? &known : NULL, j.id, newest)) {
    case AGENTD_CFG_OFFER_IGNORE:
        break;
    case AGENTD_CFG_OFFER_REPORT_AGAIN:
        if (pack_result(known.id, known.state, known.error, known.done_ms, &body, &len, &err) != FERRY_OK ||
            agentd_store_cfg_requeue(ad->store, known.id, body, len, &queued, &err) != FERRY_OK) {
            agentd_log("config %s: cannot queue the result again: %s", known.id, err.msg);
            break;
        }
        if (queued) {
            agentd_log("config %s: offered again, reporting %s again", known.id,
                       agentd_cfg_state_name(known.state));
            pthread_mutex_lock(&ad->mu);
            agentd_changed_locked(ad);
            pthread_mutex_unlock(&ad->mu);
        }
        break;
    case AGENTD_CFG_OFFER_QUEUE: {
        const char *r = a->rendered != NULL ? a->rendered : "";
        size_t rl = strlen(r);
        /* Too large: stored without content, so the digest check refuses it (FAILED). */
        if (agentd_store_cfg_add(ad->store, &j, r, rl <= AGENTD_CFG_RENDERED_MAX ? rl : 0, &added, &err) !=
            FERRY_OK) {
            agentd_log("config %s: cannot record: %s", j.id, err.msg);
            break;
        }
        if (!added)
            break;
        agentd_log("config %s: received %s v%llu for %s (%zu bytes%s)", j.id, j.template_name,
                   (unsigned long long)j.template_version, j.target, rl,
                   j.restart ? ", restarts the service" : "");
        pthread_mutex_lock(&ad->mu);
        ad->wake = 1;
        pthread_cond_broadcast(&ad->cv);
        agentd_changed_locked(ad);
        pthread_mutex_unlock(&ad->mu);
        break;
    }
    }
out:
    free(body);
}

/* ---- the target on disk --------------------------------------------------------------------- */

ferry_err_code_t agentd_cfg_target(const char *server_dir, const char *target, char *out, size_t size,
                                   ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char root[PATH_MAX], probe[PATH_MAX], real[PATH_MAX];
    struct stat st;
    size_t rl;
    if ((rc = agentd_cfg_path_check(target, err)) != FERRY_OK)
        goto out;
    if (realpath(server_dir, root) == NULL) {
        rc = ferry_err_set(err, FERRY_E_IO, "server dir '%s': %s", server_dir, strerror(errno));
        goto out;
    }
    if (snprintf(out, size, "%s/%s", root, target) >= (int)size) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "target path '%s': too long under '%s'", target, root);
        goto out;
    }
    if (lstat(out, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "target path '%s' is %s, not a regular file", target,
                           S_ISLNK(st.st_mode)   ? "a symbolic link"
                           : S_ISDIR(st.st_mode) ? "a directory"
                                                 : "special");
        goto out;
    }
    /* A symlinked directory on the way could lead out: the nearest existing ancestor must
     * resolve inside the server dir (what does not exist yet is created below it). */
    snprintf(probe, sizeof(probe), "%s", out);
    for (;;) {
        char *slash = strrchr(probe, '/');
        if (slash == NULL || slash == probe)
            break;
        *slash = '\0';
        if (lstat(probe, &st) == 0)
            break;
    }
    rl = strlen(root);
    if (realpath(probe, real) == NULL ||
        !(strcmp(real, root) == 0 || (strncmp(real, root, rl) == 0 && real[rl] == '/'))) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "target path '%s' resolves outside the server dir '%s'",
                           target, root);
        goto out;
    }
    if (strcmp(real, probe) != 0 && lstat(probe, &st) == 0 && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "target path '%s': '%s' is not a directory", target,
                           probe);
        goto out;
    }
out:
    return rc;
}

/* ---- applying ------------------------------------------------------------------------------- */

/* Loads the job's content and checks it against the announced digest (again on a resume:
 * agent.db could have been damaged meanwhile). */
static ferry_err_code_t load_content(agentd_t *ad, const agentd_cfg_job_t *j, char **data, size_t *len,
                                     ferry_err_t *err)
{
    ferry_err_code_t rc;
    char hex[65];
    if ((rc = agentd_store_cfg_rendered(ad->store, j->id, data, len, err)) != FERRY_OK)
        goto out;
    ferry_sha256_hex(*data, *len, hex);
    if (strcmp(hex, j->sha256) != 0)
        rc = ferry_err_set(err, FERRY_E_HASH_MISMATCH,
                           "rendered content (%zu bytes) has SHA-256 %s, not the announced '%.64s'", *len,
                           hex, j->sha256);
out:
    return rc;
}

/* The previous file back (or the new one removed when there was none). */
static ferry_err_code_t put_back(const agentd_cfg_job_t *j, const char *path, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char prev[PATH_MAX + 16];
    char *old = NULL;
    size_t old_len = 0;
    struct stat st;
    if (!j->had_prev) {
        if (unlink(path) != 0 && errno != ENOENT)
            rc = ferry_err_set(err, FERRY_E_IO, "remove '%s': %s", path, strerror(errno));
        else
            rc = ferry_fs_fsync_parent(path, err);
        goto out;
    }
    snprintf(prev, sizeof(prev), "%s.ferry-prev", path);
    if ((rc = ferry_fs_read_file(prev, PREV_MAX, &old, &old_len, err)) != FERRY_OK)
        goto out;
    rc = ferry_fs_write_atomic(path, old, old_len, stat(prev, &st) == 0 ? st.st_mode & 07777 : 0644, err);
out:
    free(old);
    return rc;
}

/* RESTORING: previous file back, service restarted on it -> ROLLED_BACK with |why|. */
static void restore(agentd_t *ad, const agentd_cfg_job_t *j, const char *path, const char *why)
{
    ferry_err_t err = {0};
    char msg[AGENTD_CFG_ERROR_MAX + 1];
    ferry_err_code_t rc = put_back(j, path, &err);
    if (rc == FERRY_OK && j->restart)
        rc = ferry_pipeline_restart_service(ad->cfg, &err);
    if (rc == FERRY_OK)
        snprintf(msg, sizeof(msg), "%.3000s; previous file restored%s", why,
                 j->restart ? " and the service restarted with it" : "");
    else
        snprintf(msg, sizeof(msg), "%.3000s; restoring the previous file failed too: %.1000s", why, err.msg);
    finish(ad, j, AGENTD_CFG_ROLLED_BACK, msg);
}

/* APPLYING: the new file written, the service restarted -> APPLIED, or on to RESTORING. */
static void write_and_restart(agentd_t *ad, agentd_cfg_job_t *j, const char *path, const char *data,
                              size_t len)
{
    ferry_err_t err = {0}, perr = {0};
    char why[AGENTD_CFG_ERROR_MAX];
    struct stat st;
    char prev[PATH_MAX + 16];
    snprintf(prev, sizeof(prev), "%s.ferry-prev", path);
    mode_t mode = j->had_prev && stat(prev, &st) == 0 ? st.st_mode & 07777 : 0644;
    if (ferry_fs_write_atomic(path, data, len, mode, &err) != FERRY_OK) {
        /* A failed atomic write leaves the file as it was; put_back covers a resume whose
         * earlier attempt had already written it. */
        if (put_back(j, path, &perr) == FERRY_OK)
            snprintf(why, sizeof(why), "writing %s: %s; the previous file stays", j->target, err.msg);
        else
            snprintf(why, sizeof(why), "writing %s: %s; restoring the previous file failed too: %s",
                     j->target, err.msg, perr.msg);
        finish(ad, j, AGENTD_CFG_FAILED, why);
        goto out;
    }
    agentd_log("config %s: wrote %s (%zu bytes)%s", j->id, path, len,
               j->restart ? "; restarting the service" : "");
    if (!j->restart || ferry_pipeline_restart_service(ad->cfg, &err) == FERRY_OK) {
        finish(ad, j, AGENTD_CFG_APPLIED, "");
        goto out;
    }
    snprintf(why, sizeof(why), "restart with the new %s failed: %s", j->target, err.msg);
    agentd_log("config %s: %s; restoring the previous file", j->id, why);
    /* Recorded first: a crash from here on finishes the rollback, not the apply. */
    if (agentd_store_cfg_phase(ad->store, j->id, AGENTD_CFG_RESTORING, j->had_prev, why, &perr) != FERRY_OK)
        agentd_log("config %s: %s", j->id, perr.msg);
    restore(ad, j, path, why);
out:
    return;
}

/* QUEUED: checks, previous file kept, phase APPLYING recorded, then written. */
static void apply_new(agentd_t *ad, agentd_cfg_job_t *j, const char *path, const char *data, size_t len)
{
    ferry_err_t err = {0};
    char msg[AGENTD_CFG_ERROR_MAX], prev[PATH_MAX + 16], dir[PATH_MAX];
    char *old = NULL;
    size_t old_len = 0;
    struct stat st;
    snprintf(prev, sizeof(prev), "%s.ferry-prev", path);
    if (lstat(path, &st) == 0) {
        /* Durable before the target changes: it is what a rollback (also after kill -9) restores. */
        if (ferry_fs_read_file(path, PREV_MAX, &old, &old_len, &err) != FERRY_OK ||
            ferry_fs_write_atomic(prev, old, old_len, st.st_mode & 07777, &err) != FERRY_OK) {
            snprintf(msg, sizeof(msg), "keeping the previous %s: %s; nothing written", j->target, err.msg);
            finish(ad, j, AGENTD_CFG_FAILED, msg);
            goto out;
        }
        j->had_prev = true;
    } else {
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        if (ferry_fs_mkdir_p(dir, 0755, &err) != FERRY_OK) {
            snprintf(msg, sizeof(msg), "%s; nothing written", err.msg);
            finish(ad, j, AGENTD_CFG_FAILED, msg);
            goto out;
        }
        j->had_prev = false;
    }
    if (agentd_store_cfg_phase(ad->store, j->id, AGENTD_CFG_APPLYING, j->had_prev, "", &err) != FERRY_OK) {
        snprintf(msg, sizeof(msg), "%s; nothing written", err.msg);
        finish(ad, j, AGENTD_CFG_FAILED, msg);
        goto out;
    }
    j->phase = AGENTD_CFG_APPLYING;
    write_and_restart(ad, j, path, data, len);
out:
    free(old);
}

/* One job step under the engine's lock: apply, resume or finish a rollback. */
static void run_job(agentd_t *ad, agentd_cfg_job_t *j, agentd_cfg_act_t act)
{
    ferry_err_t err = {0};
    char path[PATH_MAX], msg[AGENTD_CFG_ERROR_MAX];
    char *data = NULL;
    size_t len = 0;
    if (act == AGENTD_CFG_ACT_RESTORE) {
        /* The path was checked before the job reached RESTORING; only resolved here. */
        if (agentd_cfg_target(ad->cfg->paths.server_dir, j->target, path, sizeof(path), &err) != FERRY_OK) {
            snprintf(msg, sizeof(msg), "%.3000s; %.1000s", j->error, err.msg);
            finish(ad, j, AGENTD_CFG_ROLLED_BACK, msg);
            goto out;
        }
        agentd_log("config %s: interrupted while restoring; finishing the rollback", j->id);
        restore(ad, j, path, j->error);
        goto out;
    }
    if (load_content(ad, j, &data, &len, &err) != FERRY_OK ||
        agentd_cfg_target(ad->cfg->paths.server_dir, j->target, path, sizeof(path), &err) != FERRY_OK) {
        if (act == AGENTD_CFG_ACT_APPLY) {
            snprintf(msg, sizeof(msg), "%s; nothing written", err.msg);
            finish(ad, j, AGENTD_CFG_FAILED, msg);
        } else {
            /* Checked fine before the crash: whatever changed, the previous file goes back. */
            snprintf(msg, sizeof(msg), "resuming after an interruption: %s", err.msg);
            if (agentd_cfg_target(ad->cfg->paths.server_dir, j->target, path, sizeof(path), NULL) == FERRY_OK)
                restore(ad, j, path, msg);
            else
                finish(ad, j, AGENTD_CFG_ROLLED_BACK, msg);
        }
        goto out;
    }
    if (act == AGENTD_CFG_ACT_APPLY) {
        apply_new(ad, j, path, data, len);
    } else {
        agentd_log("config %s: interrupted while applying; writing and restarting again", j->id);
        write_and_restart(ad, j, path, data, len);
    }
out:
    free(data);
}

bool agentd_cfg_work(agentd_t *ad, bool update_busy)
{
    static char waiting_logged[AGENTD_ID_MAX]; /* work loop only: one "waits" line per job */
    ferry_err_t err = {0};
    agentd_cfg_job_t *jobs = NULL;
    size_t n = 0;
    int lock = -1;
    bool did = false;
    if (ad->cfg == NULL) /* node-config not in effect: no server dir, no service to restart */
        goto out;
    if ((jobs = calloc(AGENTD_CFG_OPEN_MAX, sizeof(*jobs))) == NULL ||
        agentd_store_cfg_open(ad->store, jobs, AGENTD_CFG_OPEN_MAX, &n, &err) != FERRY_OK)
        goto out;
    agentd_cfg_action_t a = agentd_cfg_next(jobs, n, update_busy);
    agentd_cfg_job_t *j = &jobs[a.index];
    switch (a.act) {
    case AGENTD_CFG_ACT_NONE:
        goto out;
    case AGENTD_CFG_ACT_WAIT:
        if (strcmp(waiting_logged, j->id) != 0) {
            snprintf(waiting_logged, sizeof(waiting_logged), "%s", j->id);
            agentd_log("config %s: waits until the update under way is final", j->id);
        }
        goto out;
    case AGENTD_CFG_ACT_SUPERSEDED:
        finish(ad, j, 0, "dropped unapplied: a newer assignment of the same template is here");
        did = true;
        goto out;
    default:
        break;
    }
    if (ferry_pipeline_lock_idle(ad->cfg, &lock, &err) != FERRY_OK) {
        if (strcmp(waiting_logged, j->id) != 0) {
            snprintf(waiting_logged, sizeof(waiting_logged), "%s", j->id);
            agentd_log("config %s: waits: %s", j->id, err.msg);
        }
        goto out;
    }
    run_job(ad, j, a.act);
    did = true;
out:
    ferry_pipeline_unlock(lock);
    free(jobs);
    return did;
}

void agentd_cfg_load(agentd_t *ad)
{
    agentd_cfg_job_t *j = calloc(1, sizeof(*j));
    int found = 0;
    if (j != NULL && agentd_store_cfg_last(ad->store, j, &found, NULL) == FERRY_OK && found) {
        pthread_mutex_lock(&ad->mu);
        ad->have_last_cfg = true;
        ad->last_cfg = *j;
        pthread_mutex_unlock(&ad->mu);
    }
    free(j);
}
