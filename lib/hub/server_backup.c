/*
 * Server maintenance (seed 004): CreateServerBackup and ListServerBackups.
 *
 * A backup lands in <data dir>/backups/<id>.tar (ferry_store_backup: consistent,
 * online) with a sidecar <id>.json describing it; the list reads the sidecars, newest
 * first. The body runs on a worker WITHOUT the store lock: the snapshot reads its own
 * connection, so serving (and writing) goes on while the file is written.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <jansson.h>

#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/store/backup.h"
#include "hub_fleet.h"
#include "hub_pkg.h" /* hub_signing_key_id */

#define BACKUP_DIR      "backups"
#define BACKUP_LIST_MAX 1000 /* sidecars read per list */

static ferry_err_code_t backup_dir(ferry_hub_t *hub, char *buf, size_t size, ferry_err_t *err)
{
    if (ferry_fs_join(buf, size, hub->data_dir, BACKUP_DIR) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup dir path too long");
    return ferry_fs_mkdir_p(buf, 0700, err);
}

static Ferry__V1__ServerBackup *from_json(hub_arena_t *a, const char *dir, json_t *j)
{
    Ferry__V1__ServerBackup *b = hub_arena_alloc(a, sizeof(*b));
    const char *id = json_string_value(json_object_get(j, "id"));
    if (b == NULL || id == NULL)
        return NULL;
    ferry__v1__server_backup__init(b);
    b->id = hub_arena_strdup(a, id);
    b->path = hub_arena_printf(a, "%s/%s.tar", dir, id);
    b->size = (uint64_t)json_integer_value(json_object_get(j, "size"));
    b->includes_blobs = json_is_true(json_object_get(j, "includesBlobs"));
    b->created_at = hub_arena_ts(a, (int64_t)json_integer_value(json_object_get(j, "createdAt")));
    b->sha256 = hub_arena_strdup(a, json_string_value(json_object_get(j, "dbSha256")) ?: "");
    return b;
}

HUB_METHOD(admin, create_server_backup, Ferry__V1__CreateServerBackupRequest,
           Ferry__V1__CreateServerBackupResponse, HUB_FRAME_OFFLOAD | HUB_FRAME_AUDIT, NULL)
HUB_METHOD(admin, list_server_backups, Ferry__V1__ListServerBackupsRequest,
           Ferry__V1__ListServerBackupsResponse, HUB_FRAME_OFFLOAD, NULL)

static ferry_err_code_t create_server_backup_body(hub_frame_t *f,
                                                  const Ferry__V1__CreateServerBackupRequest *req,
                                                  Ferry__V1__CreateServerBackupResponse *resp,
                                                  ferry_err_t *err)
{
    char dir[PATH_MAX], id[40], tar[PATH_MAX], side[PATH_MAX];
    ferry_store_backup_info_t bi;
    time_t now = time(NULL);
    struct tm tm;
    json_t *j = NULL;
    char *text = NULL;
    ferry_err_code_t rc;

    if ((rc = backup_dir(f->hub, dir, sizeof(dir), err)) != FERRY_OK)
        return rc;
    gmtime_r(&now, &tm);
    /* "20251214T120000Z", then -2, -3 ... when several land in one second */
    for (int n = 1; n < 100; n++) {
        struct stat sb;
        size_t k = strftime(id, sizeof(id), "%Y%m%dT%H%M%SZ", &tm);
        if (n > 1)
            snprintf(id + k, sizeof(id) - k, "-%d", n);
        if (snprintf(tar, sizeof(tar), "%s/%s.tar", dir, id) >= (int)sizeof(tar) ||
            snprintf(side, sizeof(side), "%s/%s.json", dir, id) >= (int)sizeof(side))
            return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path too long");
        if (stat(tar, &sb) != 0 && stat(side, &sb) != 0)
            break;
    }
    hub_frame_target(f, "server_backup:%s", id);
    if ((rc = ferry_store_backup(f->hub->data_dir, tar, req->include_blobs, &bi, err)) != FERRY_OK)
        return rc;
    j = json_pack("{s:s, s:I, s:b, s:I, s:s, s:I}", "id", id, "size", (json_int_t)bi.size, "includesBlobs",
                  bi.includes_blobs, "createdAt", (json_int_t)bi.created_at, "dbSha256", bi.db_sha256,
                  "blobs", (json_int_t)bi.blobs);
    if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ferry_fs_write_atomic(side, text, strlen(text), 0600, err)) != FERRY_OK)
        goto out;
    if ((resp->backup = from_json(&f->arena, dir, j)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    json_decref(j);
    free(text);
    return rc;
}

static int newest_first(const void *a, const void *b)
{
    const Ferry__V1__ServerBackup *x = *(Ferry__V1__ServerBackup *const *)a,
                                  *y = *(Ferry__V1__ServerBackup *const *)b;
    return strcmp(y->id, x->id);
}

static ferry_err_code_t list_server_backups_body(hub_frame_t *f,
                                                 const Ferry__V1__ListServerBackupsRequest *req,
                                                 Ferry__V1__ListServerBackupsResponse *resp, ferry_err_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    Ferry__V1__ServerBackup **all;
    size_t n = 0, limit = (size_t)ferry_store_page_limit(req->page_size);
    int64_t offset = 0;
    struct dirent *e;
    DIR *d;
    ferry_err_code_t rc;

    if ((rc = ferry_store_page_token_read(req->page_token, &offset, err)) != FERRY_OK ||
        (rc = backup_dir(f->hub, dir, sizeof(dir), err)) != FERRY_OK)
        return rc;
    if ((all = hub_arena_alloc(&f->arena, BACKUP_LIST_MAX * sizeof(*all))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    if ((d = opendir(dir)) == NULL)
        return ferry_err_set(err, FERRY_E_IO, "list backups: %s", strerror(errno));
    while ((e = readdir(d)) != NULL && n < BACKUP_LIST_MAX) {
        size_t len = strlen(e->d_name);
        json_error_t je;
        json_t *j;
        struct stat sb;
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0 ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
            continue;
        if ((j = json_load_file(path, 0, &je)) == NULL)
            continue;
        Ferry__V1__ServerBackup *b = from_json(&f->arena, dir, j);
        json_decref(j);
        if (b != NULL && stat(b->path, &sb) == 0) /* a deleted archive is not listed */
            all[n++] = b;
    }
    closedir(d);
    qsort(all, n, sizeof(*all), newest_first);
    if ((size_t)offset < n) {
        resp->backups = all + offset;
        resp->n_backups = n - (size_t)offset < limit ? n - (size_t)offset : limit;
        if ((size_t)offset + resp->n_backups < n)
            resp->next_page_token =
                hub_arena_printf(&f->arena, "%" PRId64, offset + (int64_t)resp->n_backups);
    }
    return FERRY_OK;
}

/* ---- scheduled backups with retention (ferryd serve --backup-every, --backup-keep) ------------ */

/* Deletes the oldest backups beyond |keep| (archive and sidecar). */
static void prune(ferry_hub_t *hub, uint32_t keep)
{
    hub_frame_t f;
    Ferry__V1__ListServerBackupsRequest req = FERRY__V1__LIST_SERVER_BACKUPS_REQUEST__INIT;
    Ferry__V1__ListServerBackupsResponse resp = FERRY__V1__LIST_SERVER_BACKUPS_RESPONSE__INIT;
    ferry_err_t err = {0};

    hub_frame_init(&f, hub, hub->store);
    req.page_size = FERRY_STORE_PAGE_MAX;
    if (list_server_backups_body(&f, &req, &resp, &err) == FERRY_OK) {
        for (size_t i = keep; i < resp.n_backups; i++) {
            char side[PATH_MAX];
            size_t n = strlen(resp.backups[i]->path);
            if (n > 4 && n < sizeof(side)) {
                memcpy(side, resp.backups[i]->path, n - 4);
                memcpy(side + n - 4, ".json", 6);
                if (unlink(resp.backups[i]->path) == 0 && unlink(side) == 0)
                    FERRY_INFO("backup: removed %s (keeping the newest %u)", resp.backups[i]->id, keep);
            }
        }
    }
    hub_frame_clear(&f);
}

struct hub_backup_sched {
    ferry_hub_t *hub;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    pthread_t thread;
};

static void *sched_main(void *arg)
{
    struct hub_backup_sched *s = arg;
    ferry_hub_t *hub = s->hub;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        ferry_fleet_config_t c;
        struct timespec ts;
        hub_fleet_config(hub, &c);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += c.backup_every_s > 0 ? c.backup_every_s : 3600;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stop || c.backup_every_s == 0)
            continue;
        pthread_mutex_unlock(&s->mu);
        {
            hub_frame_t f;
            Ferry__V1__CreateServerBackupRequest req = FERRY__V1__CREATE_SERVER_BACKUP_REQUEST__INIT;
            Ferry__V1__CreateServerBackupResponse resp = FERRY__V1__CREATE_SERVER_BACKUP_RESPONSE__INIT;
            ferry_err_t err = {0};
            hub_frame_init(&f, hub, hub->store);
            req.include_blobs = !c.backup_no_blobs;
            if (create_server_backup_body(&f, &req, &resp, &err) != FERRY_OK)
                FERRY_ERROR("scheduled backup failed: %s", err.msg);
            else
                FERRY_INFO("scheduled backup %s written (%" PRIu64 " bytes)", resp.backup->id,
                           resp.backup->size);
            hub_frame_clear(&f);
            prune(hub, c.backup_keep > 0 ? c.backup_keep : FERRY_FLEET_BACKUP_KEEP_DEFAULT);
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

ferry_err_code_t hub_backup_sched_start(ferry_hub_t *hub, struct hub_backup_sched **out, ferry_err_t *err)
{
    struct hub_backup_sched *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "backup schedule: out of memory");
    s->hub = hub;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    *out = s;
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        *out = NULL;
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return ferry_err_set(err, FERRY_E_NOMEM, "backup schedule: cannot start its thread");
    }
    return FERRY_OK;
}

void hub_backup_sched_kick(struct hub_backup_sched *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void hub_backup_sched_stop(struct hub_backup_sched *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* ---- GetServerHealth --------------------------------------------------------------------- */

HUB_METHOD(admin, get_server_health, Ferry__V1__GetServerHealthRequest, Ferry__V1__GetServerHealthResponse,
           HUB_FRAME_OFFLOAD, NULL)

#define HEALTH_DISK_MIN (1ull << 30) /* below this free on the data dir the summary is not ok */

static void check(hub_frame_t *f, Ferry__V1__GetServerHealthResponse *resp, const char *name, bool ok,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void check(hub_frame_t *f, Ferry__V1__GetServerHealthResponse *resp, const char *name, bool ok,
                  const char *fmt, ...)
{
    Ferry__V1__ServerHealthCheck *c = hub_arena_alloc(&f->arena, sizeof(*c));
    char detail[512];
    va_list ap;
    if (c == NULL || resp->n_checks >= 8)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    ferry__v1__server_health_check__init(c);
    c->name = (char *)name;
    c->ok = ok;
    c->detail = hub_arena_strdup(&f->arena, detail);
    resp->checks[resp->n_checks++] = c;
    resp->ok = resp->ok && ok;
}

static ferry_err_code_t get_server_health_body(hub_frame_t *f, const Ferry__V1__GetServerHealthRequest *req,
                                               Ferry__V1__GetServerHealthResponse *resp, ferry_err_t *err)
{
    ferry_store_license_filter_t lf = {0};
    ferry_store_page_t page;
    ferry_fleet_config_t c;
    ferry_err_t e = {0};
    uint64_t by_status[5], expiring = 0, free_bytes = 0;
    uint8_t sig[FERRY_ED25519_SIG_LEN];
    char path[PATH_MAX];
    struct stat sb;
    int64_t now = hub_now_ms();
    (void)req;

    if ((resp->checks = hub_arena_alloc(&f->arena, 8 * sizeof(*resp->checks))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    resp->ok = true;
    hub_fleet_config(f->hub, &c);
    /* database: a read on the read-only connection */
    lf.page_size = 1;
    if (ferry_store_licenses_list_ro(f->store, &lf, &f->arena, &page, &e) == FERRY_OK &&
        ferry_fs_join(path, sizeof(path), f->hub->data_dir, "ferry.db") == FERRY_OK && stat(path, &sb) == 0) {
        resp->database_bytes = (uint64_t)sb.st_size;
        check(f, resp, "database", true, "readable, %" PRIu64 " bytes", resp->database_bytes);
    } else {
        check(f, resp, "database", false, "%s", e.msg[0] ? e.msg : "ferry.db not found");
    }
    /* disk */
    e = (ferry_err_t){0};
    if (ferry_fs_free_bytes(f->hub->data_dir, &free_bytes, &e) == FERRY_OK) {
        uint64_t floor = f->hub->cfg.upload_disk_reserve > HEALTH_DISK_MIN ? f->hub->cfg.upload_disk_reserve
                                                                           : HEALTH_DISK_MIN;
        resp->data_free_bytes = free_bytes;
        check(f, resp, "disk", free_bytes >= floor,
              "%" PRIu64 " bytes free on the data dir (minimum %" PRIu64 ")", free_bytes, floor);
    } else {
        check(f, resp, "disk", false, "%s", e.msg);
    }
    /* signing key: sign and verify a probe */
    e = (ferry_err_t){0};
    if (ferry_signer_sign(f->hub->signer, "ferry-health", 12, sig, &e) == FERRY_OK &&
        ferry_sign_verify(f->hub->signing_pub, "ferry-health", 12, sig, &e) == FERRY_OK) {
        char id[17];
        hub_signing_key_id(f->hub, id);
        check(f, resp, "signing_key", true, "Ed25519 key %s signs and verifies", id);
    } else {
        check(f, resp, "signing_key", false, "%s", e.msg);
    }
    /* licences and nodes, from the fleet table */
    hub_fleet_counts(f->hub, by_status, &expiring);
    resp->licenses_expiring = expiring;
    resp->nodes_offline = by_status[FERRY__V1__NODE_STATUS__NODE_STATUS_OFFLINE];
    check(f, resp, "licenses", expiring == 0 && by_status[FERRY__V1__NODE_STATUS__NODE_STATUS_EXPIRED] == 0,
          "%" PRIu64 " expiring within %u days, %" PRIu64 " node(s) expired", expiring,
          c.license_warn_s / 86400, by_status[FERRY__V1__NODE_STATUS__NODE_STATUS_EXPIRED]);
    check(f, resp, "nodes", resp->nodes_offline == 0,
          "%" PRIu64 " online, %" PRIu64 " offline, %" PRIu64 " in maintenance",
          by_status[FERRY__V1__NODE_STATUS__NODE_STATUS_ONLINE], resp->nodes_offline,
          by_status[FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE]);
    /* backups: the newest in <data>/backups; late when a schedule is set and missed twice */
    {
        Ferry__V1__ListServerBackupsRequest lr = FERRY__V1__LIST_SERVER_BACKUPS_REQUEST__INIT;
        Ferry__V1__ListServerBackupsResponse l = FERRY__V1__LIST_SERVER_BACKUPS_RESPONSE__INIT;
        int64_t last = 0;
        lr.page_size = 1;
        e = (ferry_err_t){0};
        if (list_server_backups_body(f, &lr, &l, &e) == FERRY_OK && l.n_backups > 0) {
            last = hub_ts_ms(l.backups[0]->created_at);
            resp->last_backup_at = l.backups[0]->created_at;
        }
        if (c.backup_every_s == 0)
            check(f, resp, "backups", true, "no schedule (ferryd serve --backup-every); newest: %s",
                  last > 0 ? l.backups[0]->id : "none");
        else
            check(f, resp, "backups", last > 0 && now - last <= 2000LL * c.backup_every_s,
                  "every %u s; newest: %s", c.backup_every_s, last > 0 ? l.backups[0]->id : "none");
    }
    resp->server_time = hub_arena_ts(&f->arena, now);
    return FERRY_OK;
}

void hub_server_backup_bind(ferry_hub_t *hub)
{
    hub->admin.get_server_health = get_server_health;
    hub->admin.create_server_backup = create_server_backup;
    hub->admin.list_server_backups = list_server_backups;
}
