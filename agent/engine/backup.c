/* The backup trio (server mirror, client.zip, marker) and its restore; see backup.h. */
#include "ferry/engine/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/engine/sync.h"
#include "ferry/model/zipsafe.h"

#define MARKER_MAX (64u * 1024u)
#define ZIP_LEVEL  6 /* what `zip -r` uses */
#define MAX_DEPTH  256

static const char *zip_name_or_default(const char *n)
{
    return n != NULL ? n : FERRY_BACKUP_CLIENT_ZIP;
}

static const char *db_name_or_default(const ferry_backup_names_t *names)
{
    return names != NULL && names->db_file != NULL ? names->db_file : FERRY_BACKUP_DB_FILE;
}

/* ---- space ---- */

/* Bytes a tree occupies, counting every file as at least one 4 KiB block. */
static ferry_err_code_t tree_usage(char *path, int depth, uint64_t *sum, ferry_err_t *err)
{
    if (depth > MAX_DEPTH)
        return ferry_err_set(err, FERRY_E_IO, "'%s': directory tree too deep", path);
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT && depth == 0)
            return FERRY_OK;
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open dir '%s'", path);
    }
    ferry_err_code_t rc = FERRY_OK;
    size_t len = strlen(path);
    struct dirent *de;
    while (rc == FERRY_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (len + 2 + strlen(de->d_name) > PATH_MAX) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long below '%s'", path);
            break;
        }
        path[len] = '/';
        memcpy(path + len + 1, de->d_name, strlen(de->d_name) + 1);
        struct stat st;
        if (lstat(path, &st) != 0)
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat '%s'", path);
        else if (S_ISDIR(st.st_mode))
            rc = tree_usage(path, depth + 1, sum, err);
        else
            *sum += ((uint64_t)st.st_size + 4095u) / 4096u * 4096u + (S_ISREG(st.st_mode) ? 0 : 4096u);
        path[len] = '\0';
    }
    closedir(d);
    return rc;
}

ferry_err_code_t ferry_backup_check_space(const char *backup_root, const char *server_dir,
                                          const char *client_dir, uint64_t extra_bytes, uint64_t *need_out,
                                          uint64_t *free_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[PATH_MAX];
    uint64_t used = 0, avail = 0;
    const char *dirs[2] = {server_dir, client_dir};
    for (int i = 0; i < 2; i++) {
        if (dirs[i] == NULL)
            continue;
        snprintf(path, sizeof(path), "%s", dirs[i]);
        if ((rc = tree_usage(path, 0, &used, err)) != FERRY_OK)
            return rc;
    }
    /* the nearest existing ancestor of backup_root holds the file system to ask */
    snprintf(path, sizeof(path), "%s", backup_root);
    while (!ferry_fs_exists(path)) {
        char *slash = strrchr(path, '/');
        if (slash == NULL) {
            snprintf(path, sizeof(path), ".");
            break;
        }
        if (slash == path) {
            path[1] = '\0';
            break;
        }
        *slash = '\0';
    }
    if ((rc = ferry_fs_free_bytes(path, &avail, err)) != FERRY_OK)
        return rc;
    uint64_t need = used + extra_bytes;
    need += need / 50 + (16u << 20);
    if (need_out != NULL)
        *need_out = need;
    if (free_out != NULL)
        *free_out = avail;
    if (avail < need)
        return ferry_err_set(
            err, FERRY_E_BACKUP_FAILED_SERVER,
            "backup: not enough free space in '%s': need %llu bytes (trees, database estimate "
            "and margin), %llu available",
            path, (unsigned long long)need, (unsigned long long)avail);
    return FERRY_OK;
}

/* ---- begin ---- */

static const char *version_problem(const char *v)
{
    size_t len = strlen(v);
    if (len == 0 || len > FERRY_BACKUP_VERSION_MAX)
        return "empty or too long";
    if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return "is '.' or '..'";
    for (size_t i = 0; i < len; i++)
        if (v[i] == '/' || v[i] == '\\' || (unsigned char)v[i] < 0x20)
            return "contains '/', '\\' or a control character";
    return NULL;
}

ferry_err_code_t ferry_backup_begin(const char *backup_root, const char *version, char *out, size_t out_size,
                                    ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char dir[PATH_MAX], stamp[PATH_MAX];
    char *json = NULL;
    json_t *obj = NULL;
    const char *why = version_problem(version);
    if (why != NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "backup version '%s' %s", version, why);
    if (strlen(backup_root) > PATH_MAX - FERRY_BACKUP_VERSION_MAX - 64)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "backup root '%s' too long", backup_root);
    if ((rc = ferry_fs_mkdir_p(backup_root, 0755, err)) != FERRY_OK)
        goto out;
    time_t now = time(NULL);
    int made = 0;
    for (int attempt = 0; attempt < 100 && !made; attempt++) {
        if (attempt == 0) {
            snprintf(dir, sizeof(dir), "%s/%s", backup_root, version);
        } else {
            struct tm tm;
            char ts[32];
            localtime_r(&now, &tm);
            strftime(ts, sizeof(ts), "%Y%m%d%H%M%S", &tm);
            if (attempt == 1)
                snprintf(dir, sizeof(dir), "%s/%s_%s", backup_root, version, ts);
            else
                snprintf(dir, sizeof(dir), "%s/%s_%s_%d", backup_root, version, ts, attempt);
        }
        if (mkdir(dir, 0755) == 0) {
            made = 1;
        } else if (errno != EEXIST) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "mkdir '%s'", dir);
            goto out;
        }
    }
    if (!made) {
        rc = ferry_err_set(err, FERRY_E_EXISTS, "no free backup folder name for '%s' under '%s'", version,
                           backup_root);
        goto out;
    }
    if ((rc = ferry_fs_fsync_dir(backup_root, err)) != FERRY_OK)
        goto out;
    obj = json_pack("{s:i, s:s, s:I}", "format", 1, "version", version, "startedAt", (json_int_t)now);
    json = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    if (json == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ferry_fs_join(stamp, sizeof(stamp), dir, FERRY_BACKUP_STARTED_FILE)) != FERRY_OK) {
        rc = ferry_err_set(err, rc, "path too long: '%s'", dir);
        goto out;
    }
    if ((rc = ferry_fs_write_atomic(stamp, json, strlen(json), 0644, err)) != FERRY_OK)
        goto out;
    if (snprintf(out, out_size, "%s", dir) >= (int)out_size)
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path '%s' does not fit the caller's buffer", dir);
out:
    free(json);
    json_decref(obj);
    if (rc != FERRY_OK && rc != FERRY_E_INVALID_ARG) {
        ferry_err_prefix(err, "backup begin");
        rc = ferry_err_recode(err, FERRY_E_BACKUP_FAILED_SERVER);
    }
    return rc;
}

/* ---- server mirror ---- */

ferry_err_code_t ferry_backup_server(const char *backup_dir, const char *server_dir,
                                     ferry_progress_t progress, ferry_backup_stats_t *stats, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char dst[PATH_MAX];
    ferry_sync_stats_t ss = {0};
    if (ferry_fs_join(dst, sizeof(dst), backup_dir, FERRY_BACKUP_SERVER_DIR) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", backup_dir);
        goto out;
    }
    /* A partial mirror from a crashed attempt is thrown away: the redo starts clean. */
    if ((rc = ferry_fs_rm_rf(dst, err)) != FERRY_OK)
        goto out;
    if (!ferry_fs_is_dir(server_dir)) {
        if (ferry_fs_exists(server_dir)) {
            rc = ferry_err_set(err, FERRY_E_IO, "'%s' is not a directory", server_dir);
            goto out;
        }
        /* nothing installed yet: an empty mirror is the faithful picture */
        if (mkdir(dst, 0755) != 0)
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "mkdir '%s'", dst);
        goto out;
    }
    ferry_sync_opts_t o = {0};
    o.flags = FERRY_SYNC_OWNERS | FERRY_SYNC_DEFER_DURABILITY;
    o.crash_prefix = "backup.server";
    o.progress = progress;
    rc = ferry_sync_tree(server_dir, dst, &o, &ss, err);
out:
    if (stats != NULL) {
        stats->files = ss.files_written + ss.files_same;
        stats->dirs = ss.dirs_created;
        stats->symlinks = ss.symlinks;
        stats->bytes = ss.bytes_written;
    }
    if (rc != FERRY_OK) {
        ferry_err_prefix(err, "backup server '%s'", server_dir);
        rc = ferry_err_recode(err, FERRY_E_BACKUP_FAILED_SERVER);
    }
    return rc;
}

/* ---- client zip ---- */

typedef struct zctx {
    zip_t *za;
    char path[PATH_MAX]; /* walk buffer: absolute path */
    size_t root_len;
    ferry_backup_stats_t st;
    uint64_t done, total;
    ferry_progress_t progress;
    char failed[PATH_MAX]; /* the file libzip could not read, for the message */
    int failed_errno;
} zctx_t;

typedef struct fsrc {
    zctx_t *z;
    char *path;
    uint64_t size;
    time_t mtime;
    int fd;
    zip_error_t error;
} fsrc_t;

static zip_int64_t fsrc_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    fsrc_t *f = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        f->fd = open(f->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f->fd < 0) {
            snprintf(f->z->failed, sizeof(f->z->failed), "%s", f->path);
            f->z->failed_errno = errno;
            zip_error_set(&f->error, ZIP_ER_OPEN, errno);
            return -1;
        }
        return 0;
    case ZIP_SOURCE_READ: {
        ssize_t n;
        do
            n = read(f->fd, data, len > (1u << 20) ? (1u << 20) : (size_t)len);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            snprintf(f->z->failed, sizeof(f->z->failed), "%s", f->path);
            f->z->failed_errno = errno;
            zip_error_set(&f->error, ZIP_ER_READ, errno);
            return -1;
        }
        f->z->done += (uint64_t)n;
        ferry_progress_report(f->z->progress, f->z->done, f->z->total, f->path + f->z->root_len + 1);
        return n;
    }
    case ZIP_SOURCE_CLOSE:
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        ferry_crashpoint("backup.client.entry");
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->valid = ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        st->size = f->size;
        st->mtime = f->mtime;
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&f->error, data, len);
    case ZIP_SOURCE_FREE:
        if (f->fd >= 0)
            close(f->fd);
        zip_error_fini(&f->error);
        free(f->path);
        free(f);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    default:
        zip_error_set(&f->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Mode, DOS time, extended timestamp (seconds, read by unzip) and NTFS time (100 ns,
   read by ferry_zip_extract) for entry |idx|. */
static int set_entry_meta(zip_t *za, zip_uint64_t idx, const struct stat *st)
{
    uint8_t ut[5], ntfs[32];
    ut[0] = 1;
    put32(ut + 1, (uint32_t)(int32_t)st->st_mtim.tv_sec);
    uint64_t ft = (uint64_t)((int64_t)st->st_mtim.tv_sec * 10000000 + st->st_mtim.tv_nsec / 100) +
                  116444736000000000ull;
    memset(ntfs, 0, sizeof(ntfs));
    put16(ntfs + 4, 1);
    put16(ntfs + 6, 24);
    put64(ntfs + 8, ft);
    put64(ntfs + 16, ft);
    put64(ntfs + 24, ft);
    if (zip_file_set_external_attributes(za, idx, 0, ZIP_OPSYS_UNIX, (zip_uint32_t)st->st_mode << 16) != 0 ||
        zip_file_set_mtime(za, idx, st->st_mtim.tv_sec, 0) != 0 ||
        zip_file_extra_field_set(za, idx, 0x5455, ZIP_EXTRA_FIELD_NEW, ut, sizeof(ut),
                                 ZIP_FL_LOCAL | ZIP_FL_CENTRAL) != 0 ||
        zip_file_extra_field_set(za, idx, 0x000a, ZIP_EXTRA_FIELD_NEW, ntfs, sizeof(ntfs),
                                 ZIP_FL_LOCAL | ZIP_FL_CENTRAL) != 0)
        return -1;
    return 0;
}

/* Already-compressed formats are stored: deflating them again costs time for nothing. */
static int precompressed(const char *name)
{
    static const char *const ext[] = {"zip",   "jar",  "war",  "apk",  "7z",    "rar", "gz",   "tgz",
                                      "bz2",   "xz",   "zst",  "lz4",  "png",   "jpg", "jpeg", "gif",
                                      "webp",  "mp3",  "mp4",  "avi",  "mkv",   "mov", "ogg",  "woff",
                                      "woff2", "docx", "xlsx", "pptx", "nupkg", "cab", "msi",  NULL};
    const char *dot = strrchr(name, '.');
    if (dot == NULL || strchr(dot, '/') != NULL)
        return 0;
    for (int i = 0; ext[i] != NULL; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0)
            return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static ferry_err_code_t meta_failed(zctx_t *z, ferry_err_t *err)
{
    return ferry_err_set(err, FERRY_E_IO, "set mode/mtime of '%s' in zip: %s", z->path, zip_strerror(z->za));
}

/* ---- the client dir's own mode and mtime ----
 * A zip has no entry for the directory it was made from, so client.zip carries the
 * root's mode and mtime (nanoseconds) in its archive comment:
 *   "ferry-client-root mode=0755 mtime=1700000000.123456789"
 * ferry_restore_client() applies them to clientDir last, after everything below it. A
 * zip without the comment (made before it existed) leaves the root's mtime as restored. */
#define ROOT_COMMENT_PREFIX "ferry-client-root "
#define ROOT_COMMENT_MAX    96

static int root_comment(const struct stat *st, char *out, size_t size)
{
    return snprintf(out, size, ROOT_COMMENT_PREFIX "mode=%04o mtime=%lld.%09ld",
                    (unsigned)(st->st_mode & 07777), (long long)st->st_mtim.tv_sec,
                    (long)st->st_mtim.tv_nsec);
}

/* 1 and |mode|, |mtime| set when |c| (|len| bytes) is a well-formed root comment. */
static int parse_root_comment(const char *c, size_t len, mode_t *mode, struct timespec *mtime)
{
    char buf[ROOT_COMMENT_MAX];
    unsigned m = 0;
    long long sec = 0;
    long nsec = 0;
    int used = -1;
    if (c == NULL || len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, c, len);
    buf[len] = '\0';
    if (sscanf(buf, ROOT_COMMENT_PREFIX "mode=%o mtime=%lld.%9ld%n", &m, &sec, &nsec, &used) != 3 ||
        used != (int)len || m > 07777 || nsec < 0 || nsec > 999999999)
        return 0;
    *mode = (mode_t)m;
    mtime->tv_sec = (time_t)sec;
    mtime->tv_nsec = nsec;
    return 1;
}

static ferry_err_code_t zip_walk(zctx_t *z, int depth, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = NULL;
    if (depth > MAX_DEPTH)
        return ferry_err_set(err, FERRY_E_IO, "'%s': directory tree too deep", z->path);
    d = opendir(z->path);
    if (d == NULL) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open dir '%s'", z->path);
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
                goto out;
            }
            names = nn;
        }
        if ((names[n] = strdup(de->d_name)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    closedir(d);
    d = NULL;
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_str);
    size_t len = strlen(z->path);
    for (size_t i = 0; i < n && rc == FERRY_OK; i++) {
        if (len + 3 + strlen(names[i]) > PATH_MAX) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long below '%s'", z->path);
            break;
        }
        z->path[len] = '/';
        memcpy(z->path + len + 1, names[i], strlen(names[i]) + 1);
        const char *rel = z->path + z->root_len + 1;
        struct stat st;
        zip_int64_t idx = -1;
        if (lstat(z->path, &st) != 0) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat '%s'", z->path);
        } else if (S_ISDIR(st.st_mode)) {
            char dname[PATH_MAX + 1];
            snprintf(dname, sizeof(dname), "%s/", rel);
            idx = zip_dir_add(z->za, dname, ZIP_FL_ENC_UTF_8);
            z->st.dirs++;
            /* The entry carries the directory's own mode and mtime; extraction applies
               them after the directory's contents (deepest first). */
            if (idx >= 0 && set_entry_meta(z->za, (zip_uint64_t)idx, &st) != 0)
                rc = meta_failed(z, err);
            else if (idx >= 0)
                rc = zip_walk(z, depth + 1, err);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlink(z->path, target, sizeof(target) - 1);
            void *copy = tl > 0 ? malloc((size_t)tl) : NULL;
            zip_source_t *src = NULL;
            if (copy != NULL) {
                memcpy(copy, target, (size_t)tl);
                src = zip_source_buffer(z->za, copy, (zip_uint64_t)tl, 1);
                if (src == NULL)
                    free(copy);
            }
            if (src == NULL) {
                rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read symlink '%s'", z->path);
            } else if ((idx = zip_file_add(z->za, rel, src, ZIP_FL_ENC_UTF_8)) < 0) {
                zip_source_free(src);
            } else {
                zip_set_file_compression(z->za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
                if (set_entry_meta(z->za, (zip_uint64_t)idx, &st) != 0)
                    rc = meta_failed(z, err);
                z->st.symlinks++;
            }
        } else if (S_ISREG(st.st_mode)) {
            fsrc_t *f = calloc(1, sizeof(*f));
            zip_source_t *src = NULL;
            if (f != NULL && (f->path = strdup(z->path)) != NULL) {
                f->z = z;
                f->fd = -1;
                f->size = (uint64_t)st.st_size;
                f->mtime = st.st_mtim.tv_sec;
                zip_error_init(&f->error);
                src = zip_source_function(z->za, fsrc_cb, f);
                if (src == NULL) {
                    zip_error_fini(&f->error);
                    free(f->path);
                    free(f);
                }
            } else if (f != NULL) {
                free(f);
            }
            if (src == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory adding '%s'", z->path);
            } else if ((idx = zip_file_add(z->za, rel, src, ZIP_FL_ENC_UTF_8)) < 0) {
                zip_source_free(src);
            } else {
                if (precompressed(rel) || st.st_size == 0)
                    zip_set_file_compression(z->za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
                else
                    zip_set_file_compression(z->za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, ZIP_LEVEL);
                if (set_entry_meta(z->za, (zip_uint64_t)idx, &st) != 0)
                    rc = meta_failed(z, err);
                z->st.files++;
                z->st.bytes += (uint64_t)st.st_size;
            }
        } /* sockets, fifos, devices: runtime artefacts, skipped */
        if (rc == FERRY_OK && idx < 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
            rc = ferry_err_set(err, FERRY_E_IO, "add '%s' to zip: %s", z->path, zip_strerror(z->za));
        z->path[len] = '\0';
    }
out:
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* libzip writes no file for an archive without entries; this is the 22-byte empty zip
   (followed by |comment|, |clen| bytes, which may be 0). */
static ferry_err_code_t write_empty_zip(const char *path, const char *comment, size_t clen, ferry_err_t *err)
{
    uint8_t eocd[22 + ROOT_COMMENT_MAX] = {0x50, 0x4b, 0x05, 0x06};
    if (clen > ROOT_COMMENT_MAX)
        clen = 0;
    put16(eocd + 20, (uint16_t)clen);
    if (clen > 0)
        memcpy(eocd + 22, comment, clen);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s'", path);
    ssize_t w = write(fd, eocd, 22 + clen);
    int e = errno;
    close(fd);
    if (w != (ssize_t)(22 + clen))
        return ferry_err_set_errno(err, ferry_err_from_errno(e), e, "write '%s'", path);
    return FERRY_OK;
}

ferry_err_code_t ferry_backup_client(const char *backup_dir, const char *client_dir, const char *zip_name,
                                     ferry_progress_t progress, ferry_backup_stats_t *stats, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char final[PATH_MAX], tmp[PATH_MAX], comment[ROOT_COMMENT_MAX];
    size_t clen = 0;
    zctx_t *z = calloc(1, sizeof(*z));
    int fd = -1;
    if (z == NULL)
        return ferry_err_set(err, FERRY_E_BACKUP_FAILED_CLIENT, "out of memory");
    const char *name = zip_name_or_default(zip_name);
    if (ferry_fs_join(final, sizeof(final), backup_dir, name) != FERRY_OK ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.part", backup_dir, name) >= (int)sizeof(tmp)) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", backup_dir);
        goto out;
    }
    unlink(tmp); /* from a crashed attempt */
    int have_dir = ferry_fs_is_dir(client_dir);
    if (!have_dir && ferry_fs_exists(client_dir)) {
        rc = ferry_err_set(err, FERRY_E_IO, "'%s' is not a directory", client_dir);
        goto out;
    }
    int zerr = 0;
    z->za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (z->za == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        rc = ferry_err_set(err, FERRY_E_IO, "create '%s': %s", tmp, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        goto out;
    }
    z->progress = progress;
    if (have_dir) {
        snprintf(z->path, sizeof(z->path), "%s", client_dir);
        for (size_t l = strlen(z->path); l > 1 && z->path[l - 1] == '/'; l--)
            z->path[l - 1] = '\0';
        z->root_len = strlen(z->path);
        struct stat rst;
        int cl;
        if (stat(z->path, &rst) != 0) {
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat '%s'", z->path);
            goto out;
        }
        if ((cl = root_comment(&rst, comment, sizeof(comment))) <= 0 || cl >= (int)sizeof(comment) ||
            zip_set_archive_comment(z->za, comment, (zip_uint16_t)cl) != 0) {
            rc = ferry_err_set(err, FERRY_E_IO, "set archive comment: %s", zip_strerror(z->za));
            goto out;
        }
        clen = (size_t)cl;
        uint64_t usage = 0;
        char scratch[PATH_MAX];
        snprintf(scratch, sizeof(scratch), "%s", z->path);
        if ((rc = tree_usage(scratch, 0, &usage, err)) != FERRY_OK)
            goto out;
        z->total = usage;
        if ((rc = zip_walk(z, 0, err)) != FERRY_OK)
            goto out;
    }
    int entries = zip_get_num_entries(z->za, 0) > 0;
    /* zip_close reads every source and writes the archive (libzip uses its own temporary
       and renames it to |tmp|). */
    if (zip_close(z->za) != 0) {
        zip_error_t *ze = zip_get_error(z->za);
        int sys = zip_error_code_system(ze);
        if (z->failed[0] != '\0')
            rc = ferry_err_set_errno(err, ferry_err_from_errno(z->failed_errno), z->failed_errno, "read '%s'",
                                     z->failed);
        else
            rc = ferry_err_set(err, sys == ENOSPC ? FERRY_E_NOSPACE : FERRY_E_IO, "write '%s': %s", tmp,
                               zip_error_strerror(ze));
        zip_discard(z->za);
        z->za = NULL;
        goto out;
    }
    z->za = NULL;
    if (!entries && (rc = write_empty_zip(tmp, comment, clen, err)) != FERRY_OK)
        goto out;
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "sync '%s'", tmp);
        goto out;
    }
    ferry_crashpoint("backup.client.rename");
    if (rename(tmp, final) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename '%s' to '%s'", tmp, final);
        goto out;
    }
    rc = ferry_fs_fsync_dir(backup_dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (z->za != NULL)
        zip_discard(z->za);
    if (stats != NULL)
        *stats = z->st;
    free(z);
    if (rc != FERRY_OK) {
        unlink(tmp);
        ferry_err_prefix(err, "backup client '%s'", client_dir);
        rc = ferry_err_recode(err, FERRY_E_BACKUP_FAILED_CLIENT);
    }
    return rc;
}

/* ---- marker ---- */

static json_t *stats_json(const ferry_backup_stats_t *s)
{
    ferry_backup_stats_t zero = {0};
    if (s == NULL)
        s = &zero;
    return json_pack("{s:I, s:I, s:I, s:I}", "files", (json_int_t)s->files, "dirs", (json_int_t)s->dirs,
                     "symlinks", (json_int_t)s->symlinks, "bytes", (json_int_t)s->bytes);
}

ferry_err_code_t ferry_backup_finalize(const char *backup_dir, const ferry_backup_names_t *names,
                                       const ferry_backup_stats_t *server, const ferry_backup_stats_t *client,
                                       ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char p_server[PATH_MAX], p_zip[PATH_MAX], p_db[PATH_MAX], p_marker[PATH_MAX], p_stamp[PATH_MAX];
    char zip_hex[FERRY_SHA256_HEX_LEN + 1], db_hex[FERRY_SHA256_HEX_LEN + 1];
    uint64_t zip_bytes = 0, db_bytes = 0;
    char *stamp = NULL, *text = NULL;
    json_t *started = NULL, *obj = NULL;
    int dfd = -1;
    if (ferry_fs_join(p_server, sizeof(p_server), backup_dir, FERRY_BACKUP_SERVER_DIR) != FERRY_OK ||
        ferry_fs_join(p_zip, sizeof(p_zip), backup_dir,
                      zip_name_or_default(names != NULL ? names->client_zip : NULL)) != FERRY_OK ||
        ferry_fs_join(p_db, sizeof(p_db), backup_dir, db_name_or_default(names)) != FERRY_OK ||
        ferry_fs_join(p_marker, sizeof(p_marker), backup_dir, FERRY_BACKUP_COMPLETE_FILE) != FERRY_OK ||
        ferry_fs_join(p_stamp, sizeof(p_stamp), backup_dir, FERRY_BACKUP_STARTED_FILE) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_BACKUP_FAILED_SERVER, "path too long: '%s'", backup_dir);
    if (!ferry_fs_is_dir(p_server))
        return ferry_err_set(err, FERRY_E_BACKUP_FAILED_SERVER, "backup incomplete: '%s' is missing",
                             p_server);
    if (ferry_sha256_file(p_zip, zip_hex, &zip_bytes, err) != FERRY_OK) {
        ferry_err_prefix(err, "backup incomplete: client zip");
        return ferry_err_recode(err, FERRY_E_BACKUP_FAILED_CLIENT);
    }
    if (ferry_sha256_file(p_db, db_hex, &db_bytes, err) != FERRY_OK) {
        ferry_err_prefix(err, "backup incomplete: database backup");
        return ferry_err_recode(err, FERRY_E_BACKUP_FAILED_DB);
    }
    json_error_t je;
    if (ferry_fs_read_file(p_stamp, MARKER_MAX, &stamp, NULL, NULL) != FERRY_OK ||
        (started = json_loads(stamp, 0, &je)) == NULL ||
        !json_is_string(json_object_get(started, "version"))) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_FAILED_SERVER, "backup stamp '%s' is missing or unreadable",
                           p_stamp);
        goto out;
    }
    /* Everything written so far without fsync becomes durable here, in one call. */
    dfd = open(backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || syncfs(dfd) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_BACKUP_FAILED_SERVER, errno, "sync '%s'", backup_dir);
        goto out;
    }
    ferry_crashpoint("backup.finalize");
    obj =
        json_pack("{s:i, s:O, s:O, s:I, s:o, s:{s:s, s:I, s:s, s:o}, s:{s:s, s:I, s:s}}", "format", 1,
                  "version", json_object_get(started, "version"), "startedAt",
                  json_object_get(started, "startedAt"), "completedAt", (json_int_t)time(NULL), "server",
                  stats_json(server), "client", "zip", zip_name_or_default(names ? names->client_zip : NULL),
                  "bytes", (json_int_t)zip_bytes, "sha256", zip_hex, "tree", stats_json(client), "db", "file",
                  db_name_or_default(names), "bytes", (json_int_t)db_bytes, "sha256", db_hex);
    text = obj != NULL ? json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_FAILED_SERVER, "backup marker: out of memory");
        goto out;
    }
    if ((rc = ferry_fs_write_atomic(p_marker, text, strlen(text), 0644, err)) != FERRY_OK) {
        ferry_err_prefix(err, "backup marker");
        rc = ferry_err_recode(err, FERRY_E_BACKUP_FAILED_SERVER);
    }
out:
    if (dfd >= 0)
        close(dfd);
    free(stamp);
    free(text);
    json_decref(started);
    json_decref(obj);
    return rc;
}

static void load_stats(json_t *o, ferry_backup_stats_t *s)
{
    s->files = (uint64_t)json_integer_value(json_object_get(o, "files"));
    s->dirs = (uint64_t)json_integer_value(json_object_get(o, "dirs"));
    s->symlinks = (uint64_t)json_integer_value(json_object_get(o, "symlinks"));
    s->bytes = (uint64_t)json_integer_value(json_object_get(o, "bytes"));
}

ferry_err_code_t ferry_backup_verify(const char *backup_dir, const ferry_backup_names_t *names,
                                     ferry_backup_info_t *info, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char p[PATH_MAX];
    char *text = NULL;
    json_t *m = NULL;
    ferry_backup_info_t local;
    ferry_backup_info_t *i = info != NULL ? info : &local;
    memset(i, 0, sizeof(*i));
    json_error_t je;
    if (ferry_fs_join(p, sizeof(p), backup_dir, FERRY_BACKUP_COMPLETE_FILE) != FERRY_OK ||
        ferry_fs_read_file(p, MARKER_MAX, &text, NULL, NULL) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "no complete backup in '%s' (marker '%s' missing)",
                           backup_dir, FERRY_BACKUP_COMPLETE_FILE);
        goto out;
    }
    if ((m = json_loads(text, 0, &je)) == NULL || !json_is_object(json_object_get(m, "client")) ||
        !json_is_object(json_object_get(m, "db"))) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "backup marker '%s' is corrupt", p);
        goto out;
    }
    snprintf(i->version, sizeof(i->version), "%s", json_string_value(json_object_get(m, "version")) ?: "");
    i->started_at = json_integer_value(json_object_get(m, "startedAt"));
    i->completed_at = json_integer_value(json_object_get(m, "completedAt"));
    load_stats(json_object_get(m, "server"), &i->server);
    json_t *c = json_object_get(m, "client"), *d = json_object_get(m, "db");
    load_stats(json_object_get(c, "tree"), &i->client);
    i->client_zip_bytes = (uint64_t)json_integer_value(json_object_get(c, "bytes"));
    snprintf(i->client_zip_sha256, sizeof(i->client_zip_sha256), "%s",
             json_string_value(json_object_get(c, "sha256")) ?: "");
    i->db_bytes = (uint64_t)json_integer_value(json_object_get(d, "bytes"));
    snprintf(i->db_sha256, sizeof(i->db_sha256), "%s", json_string_value(json_object_get(d, "sha256")) ?: "");
    struct stat st;
    ferry_fs_join(p, sizeof(p), backup_dir, FERRY_BACKUP_SERVER_DIR);
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "backup part '%s' is missing", p);
        goto out;
    }
    ferry_fs_join(p, sizeof(p), backup_dir, zip_name_or_default(names != NULL ? names->client_zip : NULL));
    if (stat(p, &st) != 0 || (uint64_t)st.st_size != i->client_zip_bytes) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "backup part '%s' is missing or has the wrong size",
                           p);
        goto out;
    }
    ferry_fs_join(p, sizeof(p), backup_dir, db_name_or_default(names));
    if (stat(p, &st) != 0 || (uint64_t)st.st_size != i->db_bytes) {
        rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "backup part '%s' is missing or has the wrong size",
                           p);
        goto out;
    }
out:
    free(text);
    json_decref(m);
    return rc;
}

/* ---- restore ---- */

/* The marker exists and |part| (a path inside the backup) exists: enough to restore one part. */
static ferry_err_code_t check_part(const char *backup_dir, const char *part, ferry_err_t *err)
{
    char p[PATH_MAX];
    if (ferry_fs_join(p, sizeof(p), backup_dir, FERRY_BACKUP_COMPLETE_FILE) != FERRY_OK ||
        !ferry_fs_exists(p))
        return ferry_err_set(err, FERRY_E_BACKUP_MISSING, "no complete backup in '%s' (marker '%s' missing)",
                             backup_dir, FERRY_BACKUP_COMPLETE_FILE);
    if (!ferry_fs_exists(part))
        return ferry_err_set(err, FERRY_E_BACKUP_MISSING, "backup part '%s' is missing", part);
    return FERRY_OK;
}

ferry_err_code_t ferry_restore_server(const char *backup_dir, const char *server_dir,
                                      const char *const *protect, size_t n_protect, ferry_progress_t progress,
                                      ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char src[PATH_MAX];
    if (ferry_fs_join(src, sizeof(src), backup_dir, FERRY_BACKUP_SERVER_DIR) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_BACKUP_MISSING, "path too long: '%s'", backup_dir);
    if ((rc = check_part(backup_dir, src, err)) != FERRY_OK)
        return rc;
    ferry_sync_opts_t o = {0};
    o.flags = FERRY_SYNC_DELETE | FERRY_SYNC_OWNERS;
    o.protect = protect;
    o.n_protect = n_protect;
    o.crash_prefix = "restore.server";
    o.progress = progress;
    if ((rc = ferry_sync_tree(src, server_dir, &o, NULL, err)) != FERRY_OK) {
        ferry_err_prefix(err, "restore server '%s' from '%s'", server_dir, src);
        rc = ferry_err_recode(err, FERRY_E_ROLLBACK_FAILED);
    }
    return rc;
}

ferry_err_code_t ferry_restore_client(const char *backup_dir, const char *client_dir, const char *zip_name,
                                      const char *temp_dir, ferry_progress_t progress, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char zpath[PATH_MAX], work[PATH_MAX];
    ferry_zip_t *z = NULL;
    int made = 0;
    if (ferry_fs_join(zpath, sizeof(zpath), backup_dir, zip_name_or_default(zip_name)) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_BACKUP_MISSING, "path too long: '%s'", backup_dir);
    if ((rc = check_part(backup_dir, zpath, err)) != FERRY_OK)
        return rc;
    if (snprintf(work, sizeof(work), "%s/client-restore.extract", temp_dir) >= (int)sizeof(work)) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "path too long: '%s'", temp_dir);
        goto out;
    }
    if ((rc = ferry_fs_mkdir_p(temp_dir, 0700, err)) != FERRY_OK ||
        (rc = ferry_fs_rm_rf(work, err)) != FERRY_OK)
        goto out;
    /* Our own archive: no ratio cap (a backup may hold very compressible files). */
    ferry_zip_limits_t lim;
    ferry_zip_limits_default(&lim);
    lim.max_ratio = UINT32_MAX;
    lim.max_entries = 10000000;
    lim.max_total_bytes = UINT64_MAX / 2;
    lim.max_entry_bytes = UINT64_MAX / 2;
    if ((rc = ferry_zip_open(zpath, &lim, FERRY_ZIP_TRUSTED_BACKUP, &z, err)) != FERRY_OK)
        goto out;
    made = 1;
    if ((rc = ferry_zip_extract(z, work, FERRY_ZIP_TRUSTED_BACKUP, progress, err)) != FERRY_OK)
        goto out;
    ferry_sync_opts_t o = {0};
    o.flags = FERRY_SYNC_DELETE | FERRY_SYNC_MOVE;
    o.crash_prefix = "restore.client";
    o.progress = progress;
    /* Every directory below the root got its mode and mtime after its contents (the
       extraction sets them deepest first, the sync sets each after syncing into it). */
    if ((rc = ferry_sync_tree(work, client_dir, &o, NULL, err)) != FERRY_OK)
        goto out;
    /* The root last: its mode and mtime from the archive comment. */
    size_t clen = 0;
    const char *comment = ferry_zip_comment(z, &clen);
    mode_t mode;
    struct timespec mt;
    if (parse_root_comment(comment, clen, &mode, &mt)) {
        struct timespec times[2] = {mt, mt};
        if (chmod(client_dir, mode) != 0 || utimensat(AT_FDCWD, client_dir, times, 0) != 0)
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "set mode/mtime '%s'",
                                     client_dir);
    }
out:
    ferry_zip_close(z);
    if (made)
        ferry_fs_rm_rf(work, NULL);
    if (rc != FERRY_OK) {
        ferry_err_prefix(err, "restore client '%s' from '%s'", client_dir, zpath);
        rc = ferry_err_recode(err, FERRY_E_ROLLBACK_FAILED);
    }
    return rc;
}
