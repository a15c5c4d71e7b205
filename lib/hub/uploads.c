/*
 * Giving upload space back (issue 9). An upload's bytes sit in the blob store's upload
 * area from CreatePackageUpload / CreateFileUpload until a commit moves them into the
 * content-addressed store. Two things reclaim the bytes of one that never commits:
 *   - a refusal on content: a CommitPackage whose zip is invalid or whose bytes do not
 *     hash to the announced SHA-256, a CommitFileUpload whose bytes do not match, can
 *     never succeed by waiting. The bytes are deleted and the row leaves 'open'
 *     ('aborted'); the client gets its error and starts a new upload. A package upload
 *     still short of its declared size is not refused content: it stays open to resume.
 *   - expiry: a janitor thread sweeps, once when the hub is attached and then every
 *     upload_sweep_s (default 10 min), every upload still open past its expires_at or
 *     older than upload_ttl_s (`ferryd serve --upload-ttl`, default 24 h).
 * Either holds the upload's claim (hub_upload_claim) while it deletes, so a chunk being
 * written or a commit in progress is never cut from under it (a busy upload is left to
 * the next sweep). The bytes go first, then the row: a crash in between leaves an open
 * row without bytes, which the next sweep closes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/log.h"
#include "hub_pkg.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

struct hub_janitor {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

/* Status of upload |id| into |status| ("" when there is no such row). Takes the DB lock. */
static void upload_status(ferry_hub_t *hub, const char *id, char *status, size_t size)
{
    sqlite3_stmt *st = NULL;
    status[0] = '\0';
    hub_db_lock(hub);
    if (sqlite3_prepare_v2(hub->db, "SELECT status FROM upload WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(status, size, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    hub_db_unlock(hub);
}

/* Deletes the bytes of open upload |id| and closes its row; the caller holds the claim. */
static bool reclaim_claimed(ferry_hub_t *hub, const char *id, const char *why, uint64_t *bytes)
{
    char status[16];
    uint64_t size = 0;
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    bool ok = false;

    upload_status(hub, id, status, sizeof(status));
    if (strcmp(status, "open") != 0)
        return false; /* committed (or closed) meanwhile: nothing of it to reclaim */
    (void)ferry_blob_upload_offset(hub->blobs, id, &size, NULL);
    if (ferry_blob_upload_abort(hub->blobs, id, &err) != FERRY_OK) {
        FERRY_WARN("upload %s (%s): cannot delete its bytes: %s", id, why, err.msg);
        return false;
    }
    hub_db_lock(hub);
    if (sqlite3_prepare_v2(hub->db, "UPDATE upload SET status = 'aborted' WHERE id = ?1 AND status = 'open'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    if (!ok)
        FERRY_WARN("upload %s (%s): bytes deleted, row not closed: %s", id, why, sqlite3_errmsg(hub->db));
    sqlite3_finalize(st);
    hub_db_unlock(hub);
    FERRY_INFO("upload %s %s: %" PRIu64 " bytes reclaimed", id, why, size);
    if (bytes != NULL)
        *bytes += size;
    return true;
}

bool hub_upload_refuse(ferry_hub_t *hub, const char *id, uint64_t resumable_below, bool claimed)
{
    uint64_t got = 0;
    bool done;
    if (resumable_below > 0 && ferry_blob_upload_offset(hub->blobs, id, &got, NULL) == FERRY_OK &&
        got < resumable_below)
        return false; /* not finished yet: the client may resume it */
    if (!claimed && !hub_upload_claim(id))
        return false; /* busy: the expiry sweep takes it later */
    done = reclaim_claimed(hub, id, "refused", NULL);
    if (!claimed)
        hub_upload_release(id);
    return done;
}

size_t hub_uploads_sweep(ferry_hub_t *hub, int64_t now_ms)
{
    enum { BATCH = 128 };
    static char ids[BATCH][72]; /* one sweeper at a time: the janitor (or a test) */
    static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
    size_t swept = 0, n, progress;
    uint64_t bytes = 0;
    int64_t ttl_ms = (int64_t)hub->cfg.upload_ttl_s * 1000;

    pthread_mutex_lock(&sweep_mu);
    do {
        sqlite3_stmt *st = NULL;
        n = progress = 0;
        hub_db_lock(hub);
        if (sqlite3_prepare_v2(hub->db,
                               "SELECT id FROM upload WHERE status = 'open' AND (expires_at <= ?1 OR"
                               " created_at <= ?1 - ?2) ORDER BY created_at LIMIT ?3",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, now_ms);
            sqlite3_bind_int64(st, 2, ttl_ms);
            sqlite3_bind_int(st, 3, BATCH);
            while (n < BATCH && sqlite3_step(st) == SQLITE_ROW)
                snprintf(ids[n++], sizeof(ids[0]), "%s", (const char *)sqlite3_column_text(st, 0));
        } else {
            FERRY_WARN("upload sweep: %s", sqlite3_errmsg(hub->db));
        }
        sqlite3_finalize(st);
        hub_db_unlock(hub);
        for (size_t i = 0; i < n; i++) {
            if (!hub_upload_claim(ids[i]))
                continue; /* a chunk or a commit right now: next sweep */
            if (reclaim_claimed(hub, ids[i], "expired", &bytes))
                progress++;
            hub_upload_release(ids[i]);
        }
        swept += progress;
    } while (n == BATCH && progress > 0);
    pthread_mutex_unlock(&sweep_mu);
    if (swept > 0)
        FERRY_INFO("upload sweep: %zu expired uploads, %" PRIu64 " bytes reclaimed", swept, bytes);
    return swept;
}

static void *janitor_main(void *arg)
{
    ferry_hub_t *hub = arg;
    struct hub_janitor *j = hub->janitor;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        pthread_mutex_unlock(&j->mu);
        hub_uploads_sweep(hub, hub_now_ms());
        pthread_mutex_lock(&j->mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += hub->cfg.upload_sweep_s;
        while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

ferry_err_code_t hub_janitor_start(ferry_hub_t *hub, ferry_err_t *err)
{
    struct hub_janitor *j;
    pthread_condattr_t ca;
    if (hub->janitor != NULL)
        return FERRY_OK;
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "upload sweep: out of memory");
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    hub->janitor = j;
    int e = pthread_create(&j->thread, NULL, janitor_main, hub);
    if (e != 0) {
        hub->janitor = NULL;
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j);
        return ferry_err_set_errno(err, FERRY_E_IO, e, "upload sweep: start thread");
    }
    return FERRY_OK;
}

void hub_janitor_stop(ferry_hub_t *hub)
{
    struct hub_janitor *j = hub->janitor;
    if (j == NULL)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
    hub->janitor = NULL;
}
