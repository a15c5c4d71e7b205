/*
 * Backup and restore of a data dir (see ferry/store/backup.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ferry/fs.h"
#include "ferry/store/backup.h"

#define BLOCK        512
#define COPY_BUF     (256 * 1024)
#define MANIFEST     "ferry-backup.json"
#define MANIFEST_MAX 4096
#define ENTRY_MAX    (64ull << 30) /* one entry: the blob cap */

static const char *const KEY_FILES[] = {"url-signing.key", "package-signing.pem"};

/* snprintf for paths: false when |buf| was too small (formats are not checked by the
 * compiler here on purpose: every caller tests the result). */
static bool pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

/* ---- tar writer ------------------------------------------------------------------------- */

typedef struct tar_out {
    int fd;
    uint64_t bytes;
} tar_out_t;

static ferry_err_code_t write_all(tar_out_t *t, const void *p, size_t n, ferry_err_t *err)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(t->fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ferry_err_set(err, errno == ENOSPC ? FERRY_E_NOSPACE : FERRY_E_IO, "backup: write: %s",
                                 strerror(errno));
        c += w;
        n -= (size_t)w;
        t->bytes += (uint64_t)w;
    }
    return FERRY_OK;
}

static ferry_err_code_t tar_header(tar_out_t *t, const char *name, uint64_t size, int64_t mtime,
                                   ferry_err_t *err)
{
    unsigned char h[BLOCK];
    unsigned sum = 0;
    memset(h, 0, sizeof(h));
    if (strlen(name) >= 100)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup: entry name '%s' too long", name);
    memcpy(h, name, strlen(name)); /* NOLINT(bugprone-not-null-terminated-result): the header zero-fills */
    snprintf((char *)h + 100, 8, "%07o", 0600);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    if (size < (1ull << 33)) {
        for (int i = 10; i >= 0; i--, size >>= 3)
            h[124 + i] = (unsigned char)('0' + (size & 7));
    } else { /* GNU base-256: high bit, then big-endian */
        h[124] = 0x80;
        for (int i = 11; i >= 4; i--, size >>= 8)
            h[124 + i] = (unsigned char)(size & 0xff);
    }
    {
        uint64_t mt = (uint64_t)(mtime > 0 ? mtime : 0) & ((1ull << 33) - 1);
        for (int i = 10; i >= 0; i--, mt >>= 3)
            h[136 + i] = (unsigned char)('0' + (mt & 7));
    }
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2); /* NOLINT(bugprone-not-null-terminated-result): ustar's version has no NUL */
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    return write_all(t, h, sizeof(h), err);
}

/* Appends file |path| as |name|; *sha (may be NULL) receives its digest. */
static ferry_err_code_t tar_file(tar_out_t *t, const char *path, const char *name, char *sha_hex, char *buf,
                                 ferry_err_t *err)
{
    struct stat sb;
    ferry_sha256_t *h = NULL;
    uint64_t left;
    ferry_err_code_t rc = FERRY_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &sb) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: %s: %s", path, strerror(errno));
        goto out;
    }
    if ((h = ferry_sha256_new()) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "backup: out of memory");
        goto out;
    }
    if ((rc = tar_header(t, name, (uint64_t)sb.st_size, sb.st_mtime, err)) != FERRY_OK)
        goto out;
    for (left = (uint64_t)sb.st_size; left > 0;) {
        ssize_t r = read(fd, buf, left < COPY_BUF ? (size_t)left : COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = ferry_err_set(err, FERRY_E_IO, "backup: %s: read: %s", path,
                               r == 0 ? "file shrank" : strerror(errno));
            goto out;
        }
        ferry_sha256_update(h, buf, (size_t)r);
        if ((rc = write_all(t, buf, (size_t)r, err)) != FERRY_OK)
            goto out;
        left -= (uint64_t)r;
    }
    if (sb.st_size % BLOCK != 0) {
        memset(buf, 0, BLOCK);
        rc = write_all(t, buf, BLOCK - (size_t)(sb.st_size % BLOCK), err);
    }
    if (rc == FERRY_OK && sha_hex != NULL) {
        uint8_t d[FERRY_SHA256_LEN];
        static const char hx[] = "0123456789abcdef";
        ferry_sha256_final(h, d);
        for (int i = 0; i < FERRY_SHA256_LEN; i++) {
            sha_hex[2 * i] = hx[d[i] >> 4];
            sha_hex[2 * i + 1] = hx[d[i] & 15];
        }
        sha_hex[FERRY_SHA256_HEX_LEN] = '\0';
    }
out:
    ferry_sha256_free(h);
    if (fd >= 0)
        close(fd);
    return rc;
}

static ferry_err_code_t tar_bytes(tar_out_t *t, const char *name, const char *data, size_t len,
                                  ferry_err_t *err)
{
    static const char zeros[BLOCK];
    ferry_err_code_t rc;
    if ((rc = tar_header(t, name, len, time(NULL), err)) != FERRY_OK ||
        (rc = write_all(t, data, len, err)) != FERRY_OK)
        return rc;
    return len % BLOCK ? write_all(t, zeros, BLOCK - len % BLOCK, err) : FERRY_OK;
}

/* ---- the database snapshot ------------------------------------------------------------------ */

/* Copies the live database |src| into |dst| in one read transaction (a consistent snapshot). */
static ferry_err_code_t snapshot_db(const char *src, const char *dst, ferry_err_t *err)
{
    sqlite3 *in = NULL, *out = NULL;
    sqlite3_backup *b = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int s;

    if (sqlite3_open_v2(src, &in, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: open %s: %s", src,
                           in ? sqlite3_errmsg(in) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(in, 30000);
    if (sqlite3_open_v2(dst, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK ||
        (b = sqlite3_backup_init(out, "main", in, "main")) == NULL) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: snapshot into %s: %s", dst,
                           out ? sqlite3_errmsg(out) : "out of memory");
        goto out;
    }
    /* -1: every page in one step, so one read transaction sees one state. */
    while ((s = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || s == SQLITE_LOCKED)
        sqlite3_sleep(50);
    if (s != SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_IO, "backup: snapshot: %s", sqlite3_errstr(s));
    sqlite3_backup_finish(b);
    b = NULL;
    /* The copy is a plain rollback-journal file: restore opens it without a WAL. */
    if (rc == FERRY_OK && sqlite3_exec(out, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = ferry_err_set(err, FERRY_E_IO, "backup: snapshot: %s", sqlite3_errmsg(out));
out:
    if (b != NULL)
        sqlite3_backup_finish(b);
    sqlite3_close(out);
    sqlite3_close(in);
    return rc;
}

/* Appends every blob under |root|/sha256 (two levels). */
static ferry_err_code_t tar_blobs(tar_out_t *t, const char *root, char *buf, uint64_t *count,
                                  ferry_err_t *err)
{
    char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX], name[128], sha[FERRY_SHA256_HEX_LEN + 1];
    DIR *d = NULL, *e = NULL;
    struct dirent *de, *fe;
    ferry_err_code_t rc = FERRY_OK;

    if (!pathf(dir, sizeof(dir), "%s/sha256", root))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup: blob path too long");
    if ((d = opendir(dir)) == NULL)
        return errno == ENOENT ? FERRY_OK
                               : ferry_err_set(err, FERRY_E_IO, "backup: %s: %s", dir, strerror(errno));
    while (rc == FERRY_OK && (de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
            continue;
        if (!pathf(sub, sizeof(sub), "%s/%s", dir, de->d_name) || (e = opendir(sub)) == NULL)
            continue;
        while (rc == FERRY_OK && (fe = readdir(e)) != NULL) {
            /* committed blobs only: 64 hex digits (temp files carry a suffix) */
            if (strlen(fe->d_name) != FERRY_SHA256_HEX_LEN || strspn(fe->d_name, "0123456789abcdef") != 64)
                continue;
            if (!pathf(path, sizeof(path), "%s/%s", sub, fe->d_name) ||
                !pathf(name, sizeof(name), "blobs/sha256/%s/%s", de->d_name, fe->d_name)) {
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup: blob path too long");
                break;
            }
            if ((rc = tar_file(t, path, name, sha, buf, err)) == FERRY_OK && strcmp(sha, fe->d_name) != 0)
                rc = ferry_err_set(err, FERRY_E_CORRUPT,
                                   "backup: blob %s does not match its name (on-disk damage)", fe->d_name);
            if (rc == FERRY_OK)
                (*count)++;
        }
        closedir(e);
    }
    closedir(d);
    return rc;
}

ferry_err_code_t ferry_store_backup(const char *data_dir, const char *out_path, bool include_blobs,
                                    ferry_store_backup_info_t *info, ferry_err_t *err)
{
    char db[PATH_MAX], snap[PATH_MAX], tmp[PATH_MAX], path[PATH_MAX], blobs[PATH_MAX];
    char *buf = NULL, *man = NULL;
    tar_out_t t = {-1, 0};
    ferry_store_backup_info_t bi = {0};
    json_t *m = NULL;
    ferry_err_code_t rc = FERRY_OK;
    struct stat sb;

    if (!pathf(db, sizeof(db), "%s/ferry.db", data_dir) ||
        !pathf(blobs, sizeof(blobs), "%s/blobs", data_dir) ||
        !pathf(tmp, sizeof(tmp), "%s.tmp.%d", out_path, (int)getpid()) ||
        !pathf(snap, sizeof(snap), "%s.db.%d", out_path, (int)getpid()))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup: path too long");
    if (stat(db, &sb) != 0)
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "'%s' holds no ferry.db: not a Ferry data dir",
                             data_dir);
    if (stat(out_path, &sb) == 0)
        return ferry_err_set(err, FERRY_E_EXISTS, "backup file '%s' already exists", out_path);
    if ((buf = malloc(COPY_BUF)) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "backup: out of memory");
    bi.created_at = (int64_t)time(NULL) * 1000;
    bi.includes_blobs = include_blobs;
    if ((t.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: create %s: %s", tmp, strerror(errno));
        goto out;
    }
    /* 1. the snapshot, 2. keys, 3. blobs (after the snapshot: see backup.h) */
    if ((rc = snapshot_db(db, snap, err)) != FERRY_OK ||
        (rc = tar_file(&t, snap, "ferry.db", bi.db_sha256, buf, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < sizeof(KEY_FILES) / sizeof(KEY_FILES[0]); i++) {
        if (!pathf(path, sizeof(path), "%s/%s", data_dir, KEY_FILES[i]))
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup: path too long");
        if (rc != FERRY_OK || (rc = tar_file(&t, path, KEY_FILES[i], NULL, buf, err)) != FERRY_OK)
            goto out;
    }
    if (include_blobs && (rc = tar_blobs(&t, blobs, buf, &bi.blobs, err)) != FERRY_OK)
        goto out;
    m = json_pack("{s:i, s:I, s:s, s:b, s:I}", "format", 1, "createdAt", (json_int_t)bi.created_at,
                  "dbSha256", bi.db_sha256, "includesBlobs", include_blobs, "blobs", (json_int_t)bi.blobs);
    if (m == NULL || (man = json_dumps(m, JSON_COMPACT)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "backup: out of memory");
        goto out;
    }
    memset(buf, 0, 2 * BLOCK);
    if ((rc = tar_bytes(&t, MANIFEST, man, strlen(man), err)) != FERRY_OK ||
        (rc = write_all(&t, buf, 2 * BLOCK, err)) != FERRY_OK)
        goto out;
    if (fsync(t.fd) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
    close(t.fd);
    t.fd = -1;
    if (rename(tmp, out_path) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "backup: rename to %s: %s", out_path, strerror(errno));
        goto out;
    }
    rc = ferry_fs_fsync_parent(out_path, err);
    bi.size = t.bytes;
out:
    if (t.fd >= 0)
        close(t.fd);
    if (rc != FERRY_OK)
        unlink(tmp);
    unlink(snap);
    free(buf);
    free(man);
    json_decref(m);
    if (rc == FERRY_OK && info != NULL)
        *info = bi;
    return rc;
}

/* ---- restore ------------------------------------------------------------------------------ */

static ferry_err_code_t read_full(int fd, void *p, size_t n, const char *from, ferry_err_t *err)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s' is truncated", from);
        c += r;
        n -= (size_t)r;
    }
    return FERRY_OK;
}

/* Whether |name| is an entry a backup may hold (no other path is ever written). */
static bool entry_allowed(const char *name)
{
    if (strcmp(name, "ferry.db") == 0 || strcmp(name, MANIFEST) == 0)
        return true;
    for (size_t i = 0; i < sizeof(KEY_FILES) / sizeof(KEY_FILES[0]); i++)
        if (strcmp(name, KEY_FILES[i]) == 0)
            return true;
    /* blobs/sha256/ab/<64 hex starting with ab> */
    return strlen(name) == 13 + 3 + 64 && strncmp(name, "blobs/sha256/", 13) == 0 && name[15] == '/' &&
           strspn(name + 16, "0123456789abcdef") == 64 && strncmp(name + 13, name + 16, 2) == 0;
}

static uint64_t octal(const unsigned char *p, size_t n, bool *ok)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && p[i] == ' ')
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
        v = v * 8 + (uint64_t)(p[i] - '0');
    if (i < n && p[i] != '\0' && p[i] != ' ')
        *ok = false;
    return v;
}

/* Extracts |from| into |dir| (existing, empty), checking everything. */
static ferry_err_code_t extract(const char *from, const char *dir, ferry_store_backup_info_t *bi,
                                ferry_err_t *err)
{
    unsigned char h[BLOCK];
    char name[101], path[PATH_MAX], sha[FERRY_SHA256_HEX_LEN + 1], *buf = malloc(COPY_BUF), *man = NULL;
    int fd = open(from, O_RDONLY | O_CLOEXEC), out = -1;
    bool have_db = false, have_man = false, keys[2] = {false, false};
    ferry_err_code_t rc = FERRY_OK;

    if (buf == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "restore: out of memory");
    if (fd < 0) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "backup '%s': %s", from, strerror(errno));
        goto out;
    }
    for (;;) {
        unsigned sum = 0, want;
        bool ok = true;
        uint64_t size, left;
        ferry_sha256_t *hs;
        if ((rc = read_full(fd, h, BLOCK, from, err)) != FERRY_OK)
            goto out;
        if (h[0] == '\0')
            break; /* end of archive */
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        want = (unsigned)octal(h + 148, 8, &ok);
        if (h[124] & 0x80) {
            size = 0;
            for (int i = 4; i < 12; i++)
                size = (size << 8) | h[124 + i];
        } else {
            size = octal(h + 124, 12, &ok);
        }
        memcpy(name, h, 100);
        name[100] = '\0';
        if (!ok || sum != want || (h[156] != '0' && h[156] != '\0')) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s': damaged entry header after '%.100s'", from,
                               name);
            goto out;
        }
        if (!entry_allowed(name) || size > ENTRY_MAX) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s': unexpected entry '%.100s'", from, name);
            goto out;
        }
        if (strcmp(name, MANIFEST) == 0) {
            if (size > MANIFEST_MAX || (man = malloc(size + 1)) == NULL) {
                rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s': manifest too large", from);
                goto out;
            }
            if ((rc = read_full(fd, man, size, from, err)) != FERRY_OK)
                goto out;
            man[size] = '\0';
            have_man = true;
            if (size % BLOCK && (rc = read_full(fd, buf, BLOCK - size % BLOCK, from, err)) != FERRY_OK)
                goto out;
            continue;
        }
        if (!pathf(path, sizeof(path), "%s/%s", dir, name)) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "restore: path too long");
            goto out;
        }
        if (strncmp(name, "blobs/", 6) == 0) {
            char sub[PATH_MAX];
            if (!pathf(sub, sizeof(sub), "%s/blobs/sha256/%.2s", dir, name + 13)) {
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "restore: path too long");
                goto out;
            }
            if ((rc = ferry_fs_mkdir_p(sub, 0750, err)) != FERRY_OK)
                goto out;
        }
        if ((out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s': entry '%s' twice or not writable: %s",
                               from, name, strerror(errno));
            goto out;
        }
        if ((hs = ferry_sha256_new()) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "restore: out of memory");
            goto out;
        }
        for (left = size; left > 0 && rc == FERRY_OK;) {
            size_t n = left < COPY_BUF ? (size_t)left : COPY_BUF;
            if ((rc = read_full(fd, buf, n, from, err)) == FERRY_OK) {
                ferry_sha256_update(hs, buf, n);
                if (write(out, buf, n) != (ssize_t)n)
                    rc = ferry_err_set(err, errno == ENOSPC ? FERRY_E_NOSPACE : FERRY_E_IO,
                                       "restore: write %s: %s", path, strerror(errno));
            }
            left -= n;
        }
        {
            uint8_t d[FERRY_SHA256_LEN];
            static const char hx[] = "0123456789abcdef";
            ferry_sha256_final(hs, d);
            ferry_sha256_free(hs);
            for (int i = 0; i < FERRY_SHA256_LEN; i++) {
                sha[2 * i] = hx[d[i] >> 4];
                sha[2 * i + 1] = hx[d[i] & 15];
            }
            sha[64] = '\0';
        }
        if (rc == FERRY_OK && fsync(out) != 0)
            rc = ferry_err_set(err, FERRY_E_IO, "restore: fsync %s: %s", path, strerror(errno));
        close(out);
        out = -1;
        if (rc != FERRY_OK)
            goto out;
        if (size % BLOCK && (rc = read_full(fd, buf, BLOCK - size % BLOCK, from, err)) != FERRY_OK)
            goto out;
        if (strncmp(name, "blobs/", 6) == 0) {
            if (strcmp(sha, name + 16) != 0) {
                rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s': blob %s is damaged (content hash %s)",
                                   from, name + 16, sha);
                goto out;
            }
            bi->blobs++;
        } else if (strcmp(name, "ferry.db") == 0) {
            have_db = true;
            memcpy(bi->db_sha256, sha, sizeof(bi->db_sha256));
        } else {
            keys[strcmp(name, KEY_FILES[0]) == 0 ? 0 : 1] = true;
        }
    }
    if (!have_db || !have_man || !keys[0] || !keys[1]) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s' is incomplete (missing %s)", from,
                           !have_db    ? "ferry.db"
                           : !have_man ? MANIFEST
                                       : "a key file");
        goto out;
    }
    {
        json_error_t je;
        json_t *m = json_loads(man, 0, &je);
        const char *want = json_string_value(json_object_get(m, "dbSha256"));
        if (want == NULL || strcmp(want, bi->db_sha256) != 0)
            rc = ferry_err_set(err, FERRY_E_CORRUPT,
                               "backup '%s': ferry.db does not match the manifest's SHA-256", from);
        bi->includes_blobs = json_is_true(json_object_get(m, "includesBlobs"));
        bi->created_at = (int64_t)json_integer_value(json_object_get(m, "createdAt"));
        json_decref(m);
    }
out:
    if (out >= 0)
        close(out);
    if (fd >= 0)
        close(fd);
    free(buf);
    free(man);
    return rc;
}

static ferry_err_code_t check_db(const char *path, ferry_err_t *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "restored database: %s",
                           db ? sqlite3_errmsg(db) : "out of memory");
    } else if (sqlite3_step(st) != SQLITE_ROW ||
               strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "restored database fails PRAGMA integrity_check: %s",
                           sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "?");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Whether |dir| is missing or empty. */
static bool dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = true;
    if (d == NULL)
        return errno == ENOENT;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

ferry_err_code_t ferry_store_restore(const char *data_dir, const char *from, bool force,
                                     ferry_store_backup_info_t *info, ferry_err_t *err)
{
    char tmp[PATH_MAX], old[PATH_MAX], db[PATH_MAX], blobs[PATH_MAX];
    ferry_store_backup_info_t bi = {0};
    struct stat sb;
    ferry_err_code_t rc;
    bool existed;
    uint64_t size;

    if (!dir_empty(data_dir) && !force)
        return ferry_err_set(
            err, FERRY_E_EXISTS,
            "restore target '%s' is not empty: give --force to replace it (stop ferryd first)", data_dir);
    if (stat(from, &sb) != 0 || !S_ISREG(sb.st_mode))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "backup '%s' not found", from);
    size = (uint64_t)sb.st_size;
    if (!pathf(tmp, sizeof(tmp), "%s.restore.%d", data_dir, (int)getpid()) ||
        !pathf(old, sizeof(old), "%s.replaced.%d", data_dir, (int)getpid()) ||
        !pathf(db, sizeof(db), "%s/ferry.db", tmp) || !pathf(blobs, sizeof(blobs), "%s/blobs", tmp))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "restore: path too long");
    if (mkdir(tmp, 0700) != 0)
        return ferry_err_set(err, FERRY_E_IO, "restore: create %s: %s", tmp, strerror(errno));
    if ((rc = extract(from, tmp, &bi, err)) != FERRY_OK || (rc = check_db(db, err)) != FERRY_OK ||
        (rc = ferry_fs_mkdir_p(blobs, 0750, err)) != FERRY_OK ||
        (rc = ferry_fs_fsync_dir(tmp, err)) != FERRY_OK)
        goto fail;
    /* Into place: the old dir (if any) moves aside first, then goes. */
    existed = stat(data_dir, &sb) == 0;
    if (existed && rename(data_dir, old) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "restore: move %s aside: %s", data_dir, strerror(errno));
        goto fail;
    }
    if (rename(tmp, data_dir) != 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "restore: rename into %s: %s", data_dir, strerror(errno));
        if (existed)
            (void)rename(old, data_dir);
        goto fail;
    }
    if ((rc = ferry_fs_fsync_parent(data_dir, err)) != FERRY_OK)
        return rc;
    if (existed)
        (void)ferry_fs_rm_rf(old, NULL);
    bi.size = size;
    if (info != NULL)
        *info = bi;
    return FERRY_OK;
fail:
    (void)ferry_fs_rm_rf(tmp, NULL);
    return rc;
}
