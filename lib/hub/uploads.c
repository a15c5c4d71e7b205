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
 *     older than upload_ttl_s (`ferryd serve --upload-ttl`, default 24 h);
 *   - orphans: the same sweep deletes partial files in the upload area that no open
 *     upload row owns (a crash between a file's creation and its row's commit, a row
 *     closed while its bytes could not be deleted);
 *   - an administrator's AbortPackageUpload (packages.c, hub_upload_abort).
 * Quotas bound what is in flight before any byte arrives: per admin token (package
 * uploads) and per node (file uploads) the number of open uploads and the bytes they
 * announced, and a free-space reserve on the data dir kept for administrators.
 * Every writer of an upload's bytes (a chunk PUT, a commit, the sweep, an abort) holds
 * the upload's claim (hub_upload_claim, the table below), so a chunk being written or a
 * commit in progress is never cut from under a deletion (a busy upload is left to the
 * next sweep). The bytes go first, then the row: a crash in between leaves an open
 * row without bytes, which the next sweep closes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "ferry/log.h"
#include "ferry/store/uploads.h"
#include "hub_pkg.h"

struct hub_janitor {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

/* ---- per-upload claims (a chunk PUT, a commit, a sweep or an abort at a time) ------------ */

#define HUB_CLAIMS_MAX 256 /* uploads being written or committed at once */

static pthread_mutex_t claims_mu = PTHREAD_MUTEX_INITIALIZER;
static char claims[HUB_CLAIMS_MAX][65];

/**
 * Claims upload |id| for one writer (a chunk PUT or a commit). Returns false when
 * someone else holds it (or the table is full). Process-wide: ids are random 128-bit
 * values, so hubs sharing a process cannot collide.
 */
bool hub_upload_claim(const char *id)
{
    bool ok = false;
    int free_slot = -1;
    if (strlen(id) > 64)
        return false;
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < HUB_CLAIMS_MAX; i++) {
        if (claims[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(claims[i], id) == 0) {
            goto out;
        }
    }
    if (free_slot >= 0) {
        memcpy(claims[free_slot], id, strlen(id) + 1); /* <= 64 bytes: checked above */
        ok = true;
    }
out:
    pthread_mutex_unlock(&claims_mu);
    return ok;
}

/** Releases a claim taken with hub_upload_claim(). */
void hub_upload_release(const char *id)
{
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < HUB_CLAIMS_MAX; i++)
        if (strcmp(claims[i], id) == 0)
            claims[i][0] = '\0';
    pthread_mutex_unlock(&claims_mu);
}

/* Deletes the bytes of open upload |id| and closes its row; the caller holds the claim. */
static bool reclaim_claimed(ferry_hub_t *hub, const char *id, const char *why, uint64_t *bytes)
{
    uint64_t size = 0;
    ferry_err_t err = {0};
    bool open = false, ok;

    ferry_store_lock(hub->store);
    ok = ferry_store_upload_is_open(hub->store, id, &open, &err) == FERRY_OK;
    ferry_store_unlock(hub->store);
    if (!ok || !open)
        return false; /* committed (or closed) meanwhile: nothing of it to reclaim */
    (void)ferry_blob_upload_offset(hub->blobs, id, &size, NULL);
    if (ferry_blob_upload_abort(hub->blobs, id, &err) != FERRY_OK) {
        FERRY_WARN("upload %s (%s): cannot delete its bytes: %s", id, why, err.msg);
        return false;
    }
    ferry_store_lock(hub->store);
    if (ferry_store_upload_close(hub->store, id, NULL, NULL, &err) != FERRY_OK)
        FERRY_WARN("upload %s (%s): bytes deleted, row not closed: %s", id, why, err.msg);
    ferry_store_unlock(hub->store);
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

ferry_err_code_t hub_upload_abort(ferry_hub_t *hub, const char *id, const char *purpose, uint64_t *bytes,
                                  ferry_err_t *err)
{
    ferry_store_upload_t u;
    ferry_err_code_t rc;

    if (!hub_upload_claim(id))
        return ferry_err_set(err, FERRY_E_PRECONDITION, "upload '%.64s' is busy (a chunk or a commit): retry",
                             id);
    ferry_store_lock(hub->store);
    rc = ferry_store_upload_get(hub->store, id, &u, err);
    ferry_store_unlock(hub->store);
    *bytes = 0;
    if (rc == FERRY_E_NOT_FOUND || (rc == FERRY_OK && strcmp(u.purpose, purpose) != 0))
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no %supload '%.64s'",
                           strcmp(purpose, FERRY_STORE_UPLOAD_PACKAGE) == 0 ? "package " : "", id);
    else if (rc == FERRY_OK && strcmp(u.status, FERRY_STORE_UPLOAD_OPEN) != 0)
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "upload '%.64s' is %s: nothing to abort", id, u.status);
    else if (rc == FERRY_OK && !reclaim_claimed(hub, id, "aborted", bytes))
        rc = ferry_err_set(err, FERRY_E_IO,
                           "upload '%.64s': its bytes could not be deleted (see ferryd's log)", id);
    hub_upload_release(id);
    return rc;
}

/* ---- orphan partial files ------------------------------------------------------------------ */

typedef struct orphan_scan {
    ferry_hub_t *hub;
    size_t removed;
    uint64_t bytes;
} orphan_scan_t;

/*
 * One partial file: removed when no open row owns it. The row is read under the store
 * lock, which a CreatePackageUpload holds from its row's insert to its commit, so a
 * file begun in a transaction not yet committed is seen with its row; the claim keeps
 * a chunk or a commit of the same id out meanwhile.
 */
static bool orphan_visit(const char *id, uint64_t size, void *user)
{
    orphan_scan_t *o = user;
    ferry_err_t err = {0};
    bool open = true;

    if (!hub_upload_claim(id))
        return true; /* someone writes it right now: it has a row */
    ferry_store_lock(o->hub->store);
    if (ferry_store_upload_is_open(o->hub->store, id, &open, &err) != FERRY_OK)
        FERRY_WARN("upload sweep: %s", err.msg);
    else if (!open && ferry_blob_upload_abort(o->hub->blobs, id, &err) == FERRY_OK) {
        o->removed++;
        o->bytes += size;
    } else if (!open) {
        FERRY_WARN("upload sweep: orphan upload %s: %s", id, err.msg);
    }
    ferry_store_unlock(o->hub->store);
    hub_upload_release(id);
    return true;
}

size_t hub_uploads_sweep_orphans(ferry_hub_t *hub)
{
    orphan_scan_t o = {hub, 0, 0};
    ferry_err_t err = {0};
    if (ferry_blob_uploads_each(hub->blobs, orphan_visit, &o, &err) != FERRY_OK)
        FERRY_WARN("upload sweep: %s", err.msg);
    if (o.removed > 0)
        FERRY_INFO("upload sweep: %zu partial files without an open upload, %" PRIu64 " bytes reclaimed",
                   o.removed, o.bytes);
    return o.removed;
}

size_t hub_uploads_sweep(ferry_hub_t *hub, int64_t now_ms)
{
    enum { BATCH = 128 };
    static char ids[BATCH]
                   [FERRY_STORE_UPLOAD_ID_MAX + 1]; /* one sweeper at a time: the janitor (or a test) */
    static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
    size_t swept = 0, n, progress;
    uint64_t bytes = 0;
    int64_t ttl_ms = (int64_t)hub->cfg.upload_ttl_s * 1000;

    pthread_mutex_lock(&sweep_mu);
    do {
        ferry_err_t err = {0};
        n = progress = 0;
        ferry_store_lock(hub->store);
        if (ferry_store_uploads_expired(hub->store, now_ms, ttl_ms, ids, BATCH, &n, &err) != FERRY_OK)
            FERRY_WARN("upload sweep: %s", err.msg);
        ferry_store_unlock(hub->store);
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
    swept += hub_uploads_sweep_orphans(hub);
    return swept;
}

/* ---- quotas and the free-space reserve ------------------------------------------------------ */

static uint64_t or_default(uint64_t v, uint64_t def)
{
    return v != 0 ? v : def;
}

ferry_err_code_t hub_upload_space_check(ferry_hub_t *hub, const char *purpose, uint64_t bytes,
                                        ferry_err_t *err)
{
    struct statvfs sv;
    uint64_t reserve = or_default(hub->cfg.upload_disk_reserve, FERRY_HUB_UPLOAD_RESERVE_DEFAULT), avail;
    bool node = strcmp(purpose, FERRY_STORE_UPLOAD_NODE_FILE) == 0;

    if (statvfs(hub->data_dir, &sv) != 0)
        return FERRY_OK; /* cannot tell: the write itself reports a full disk */
    avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    /* The reserve is the administrators': a node's upload never eats into it, so a
     * package can still be uploaded when nodes filled the disk. An admin's upload is
     * refused only when the disk cannot take it at all. */
    if (node && (avail < bytes || avail - bytes < reserve))
        return ferry_err_set(err, FERRY_E_NOSPACE,
                             "not enough free space on the server for %" PRIu64 " more bytes: %" PRIu64
                             " bytes free, %" PRIu64
                             " of them reserved for administrators (--upload-reserve);"
                             " retry later",
                             bytes, avail, reserve);
    if (!node && avail < bytes)
        return ferry_err_set(err, FERRY_E_NOSPACE,
                             "not enough free space on the server for %" PRIu64 " more bytes: %" PRIu64
                             " bytes free",
                             bytes, avail);
    return FERRY_OK;
}

ferry_err_code_t hub_upload_quota_check(ferry_hub_t *hub, const char *purpose, int64_t owner, uint64_t bytes,
                                        ferry_err_t *err)
{
    bool node = strcmp(purpose, FERRY_STORE_UPLOAD_NODE_FILE) == 0;
    ferry_store_upload_owner_t who = {purpose, owner};
    uint64_t max_open = node ? or_default(hub->cfg.node_upload_max_open, FERRY_HUB_NODE_UPLOAD_OPEN_DEFAULT)
                             : or_default(hub->cfg.upload_max_open, FERRY_HUB_UPLOAD_OPEN_DEFAULT);
    uint64_t max_bytes = node
                             ? or_default(hub->cfg.node_upload_max_bytes, FERRY_HUB_NODE_UPLOAD_BYTES_DEFAULT)
                             : or_default(hub->cfg.upload_max_bytes, FERRY_HUB_UPLOAD_BYTES_DEFAULT);
    const char *whose = node ? "this node" : "this admin token";
    uint64_t in_flight = 0;
    int64_t open = 0;
    ferry_err_code_t rc;

    if ((rc = ferry_store_uploads_open_usage(hub->store, &who, &open, &in_flight, err)) != FERRY_OK)
        return rc;
    if ((uint64_t)open >= max_open)
        return ferry_err_set(err, FERRY_E_NOSPACE,
                             "upload quota: %s has %" PRId64 " open uploads, the limit is %" PRIu64
                             " (commit or abort one, or wait for the expiry sweep)",
                             whose, open, max_open);
    if (bytes > max_bytes || in_flight > max_bytes - bytes)
        return ferry_err_set(err, FERRY_E_NOSPACE,
                             "upload quota: %s has %" PRIu64 " bytes in open uploads; %" PRIu64
                             " more would exceed the limit of %" PRIu64 " bytes",
                             whose, in_flight, bytes, max_bytes);
    return hub_upload_space_check(hub, purpose, bytes, err);
}

static void *janitor_main(void *arg)
{
    ferry_hub_t *hub = arg;
    struct hub_janitor *j = hub->janitor;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        pthread_mutex_unlock(&j->mu);
        hub_uploads_sweep(hub, ferry_store_now_ms());
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
