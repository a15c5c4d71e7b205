#include "ferry/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/encoding.h"
#include "ferry/fs.h"

/* Uploads hashed as their chunks arrive, so a commit needs no second read of the file. */
#define RUNNING_MAX 64

typedef struct running_hash {
    char id[65];       /* "" = free slot */
    uint64_t at;       /* bytes hashed: valid while it equals the file's size */
    ferry_sha256_t *h; /* NULL while a writer holds it */
} running_hash_t;

struct ferry_blob_store {
    char root[PATH_MAX - 128];
    pthread_mutex_t mu; /* guards run[] */
    running_hash_t run[RUNNING_MAX];
};

static int valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

static int strcasecmp_sha(const char *a, const char *b)
{
    return strlen(a) == FERRY_SHA256_HEX_LEN ? strncasecmp(a, b, FERRY_SHA256_HEX_LEN) : -1;
}

static int valid_sha(const char *s)
{
    if (strlen(s) != FERRY_SHA256_HEX_LEN)
        return 0;
    for (size_t i = 0; i < FERRY_SHA256_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

ferry_blob_store_t *ferry_blob_store_open(const char *root, ferry_err_t *err)
{
    ferry_blob_store_t *bs = calloc(1, sizeof(*bs));
    char sub[PATH_MAX];
    if (bs == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "blob store: out of memory");
        return NULL;
    }
    if (strlen(root) >= sizeof(bs->root)) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "blob store root too long: '%s'", root);
        goto fail;
    }
    memcpy(bs->root, root, strlen(root) + 1); /* fits: checked above */
    pthread_mutex_init(&bs->mu, NULL);
    static const char *const subs[] = {"sha256", "uploads"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", root, subs[i]);
        if (ferry_fs_mkdir_p(sub, 0750, err) != FERRY_OK) {
            ferry_err_prefix(err, "blob store");
            goto fail;
        }
    }
    return bs;
fail:
    free(bs);
    return NULL;
}

void ferry_blob_store_free(ferry_blob_store_t *bs)
{
    if (bs == NULL)
        return;
    for (size_t i = 0; i < RUNNING_MAX; i++)
        ferry_sha256_free(bs->run[i].h);
    pthread_mutex_destroy(&bs->mu);
    free(bs);
}

/*
 * Takes the running hash of upload |id| out of the table if it covers exactly |at|
 * bytes (NULL otherwise: never started here, a restart, or a gap). A hash that does not
 * match is dropped: the commit then reads the file.
 */
static ferry_sha256_t *running_take(ferry_blob_store_t *bs, const char *id, uint64_t at)
{
    ferry_sha256_t *h = NULL, *stale = NULL;
    pthread_mutex_lock(&bs->mu);
    for (size_t i = 0; i < RUNNING_MAX; i++) {
        if (strcmp(bs->run[i].id, id) != 0)
            continue;
        if (bs->run[i].at == at)
            h = bs->run[i].h;
        else
            stale = bs->run[i].h;
        bs->run[i].id[0] = '\0';
        bs->run[i].h = NULL;
        break;
    }
    pthread_mutex_unlock(&bs->mu);
    ferry_sha256_free(stale);
    return h;
}

/* Puts |h| back as covering |at| bytes of |id|; a full table drops it (commit reads). */
static void running_put(ferry_blob_store_t *bs, const char *id, uint64_t at, ferry_sha256_t *h)
{
    pthread_mutex_lock(&bs->mu);
    for (size_t i = 0; i < RUNNING_MAX && h != NULL; i++) {
        if (bs->run[i].id[0] != '\0')
            continue;
        snprintf(bs->run[i].id, sizeof(bs->run[i].id), "%s", id);
        bs->run[i].at = at;
        bs->run[i].h = h;
        h = NULL;
    }
    pthread_mutex_unlock(&bs->mu);
    ferry_sha256_free(h);
}

ferry_err_code_t ferry_blob_path(const ferry_blob_store_t *bs, const char *sha256_hex, char *buf, size_t size,
                                 ferry_err_t *err)
{
    if (!valid_sha(sha256_hex))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "'%.80s' is not a SHA-256 hex digest", sha256_hex);
    int n = snprintf(buf, size, "%s/sha256/%.2s/%s", bs->root, sha256_hex, sha256_hex);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "blob path too long");
    if (!ferry_fs_exists(buf))
        return ferry_err_set(err, FERRY_E_NOT_FOUND, "blob %s not found", sha256_hex);
    return FERRY_OK;
}

ferry_err_code_t ferry_blob_upload_path(const ferry_blob_store_t *bs, const char *id, char *buf, size_t size,
                                        ferry_err_t *err)
{
    if (!valid_id(id))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "bad upload id '%.80s'", id);
    int n = snprintf(buf, size, "%s/uploads/%s.part", bs->root, id);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "upload path too long");
    return FERRY_OK;
}

ferry_err_code_t ferry_blob_upload_begin(ferry_blob_store_t *bs, const char *id, ferry_err_t *err)
{
    char p[PATH_MAX];
    ferry_err_code_t rc = ferry_blob_upload_path(bs, id, p, sizeof(p), err);
    if (rc != FERRY_OK)
        return rc;
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "begin upload '%s'", id);
    close(fd);
    return ferry_fs_fsync_parent(p, err);
}

ferry_err_code_t ferry_blob_upload_offset(ferry_blob_store_t *bs, const char *id, uint64_t *out,
                                          ferry_err_t *err)
{
    char p[PATH_MAX];
    struct stat st;
    ferry_err_code_t rc = ferry_blob_upload_path(bs, id, p, sizeof(p), err);
    if (rc != FERRY_OK)
        return rc;
    if (stat(p, &st) != 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "upload '%s'", id);
    *out = (uint64_t)st.st_size;
    return FERRY_OK;
}

ferry_err_code_t ferry_blob_upload_write(ferry_blob_store_t *bs, const char *id, uint64_t offset,
                                         const void *data, size_t len, uint64_t max_size, ferry_err_t *err)
{
    char p[PATH_MAX];
    int fd = -1;
    struct stat st;
    ferry_err_code_t rc = ferry_blob_upload_path(bs, id, p, sizeof(p), err);
    if (rc != FERRY_OK)
        goto out;
    fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "upload '%s'", id);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "upload '%s'", id);
        goto out;
    }
    if ((uint64_t)st.st_size != offset) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                           "upload '%s': chunk at offset %llu, but %lld bytes received", id,
                           (unsigned long long)offset, (long long)st.st_size);
        goto out;
    }
    if (max_size > FERRY_BLOB_MAX_UPLOAD)
        max_size = FERRY_BLOB_MAX_UPLOAD;
    if (offset + len > max_size) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "upload '%s': %llu bytes would exceed the %llu-byte limit",
                           id, (unsigned long long)(offset + len), (unsigned long long)max_size);
        goto out;
    }
    /* The bytes before this chunk were hashed here, or the commit will read the file. */
    ferry_sha256_t *h = running_take(bs, id, offset == 0 ? UINT64_MAX : offset);
    if (offset == 0)
        h = ferry_sha256_new(); /* a hash left from an earlier try was dropped above */
    const char *q = data;
    size_t left = len;
    uint64_t at = offset;
    while (left > 0) {
        ssize_t w = pwrite(fd, q, left, (off_t)at);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "upload '%s': write", id);
            break;
        }
        q += w;
        left -= (size_t)w;
        at += (uint64_t)w;
    }
    /* Start the disk on the chunk, hash it meanwhile, then wait for it to be durable. */
    if (rc == FERRY_OK && h != NULL) {
        sync_file_range(fd, (off_t)offset, (off_t)len, SYNC_FILE_RANGE_WRITE);
        ferry_sha256_update(h, data, len);
    }
    if (rc == FERRY_OK && fdatasync(fd) != 0)
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "upload '%s': sync", id);
    if (rc == FERRY_OK && h != NULL) {
        running_put(bs, id, offset + len, h);
        h = NULL;
    }
    ferry_sha256_free(h);
    /* A partial chunk is cut back so the next offset the client sees is exact. */
    if (rc != FERRY_OK && ftruncate(fd, (off_t)offset) != 0)
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "upload '%s': truncate after failed write", id);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Moves |tmp| to its content address; an existing blob with that digest already has
 * these exact bytes, so the duplicate is simply dropped. */
static ferry_err_code_t install(ferry_blob_store_t *bs, const char *tmp, const char *sha, ferry_err_t *err)
{
    char dir[PATH_MAX], dst[PATH_MAX + 80];
    snprintf(dir, sizeof(dir), "%s/sha256/%.2s", bs->root, sha);
    ferry_err_code_t rc = ferry_fs_mkdir_p(dir, 0750, err);
    if (rc != FERRY_OK)
        return rc;
    snprintf(dst, sizeof(dst), "%s/%s", dir, sha);
    if (ferry_fs_exists(dst)) {
        unlink(tmp);
        return FERRY_OK;
    }
    if (rename(tmp, dst) != 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "store blob %s", sha);
    if ((rc = ferry_fs_fsync_dir(dir, err)) != FERRY_OK)
        return rc;
    return ferry_fs_fsync_parent(tmp, err);
}

ferry_err_code_t ferry_blob_upload_commit(ferry_blob_store_t *bs, const char *id, const char *expected_sha256,
                                          uint64_t expected_size, char sha_out[FERRY_SHA256_HEX_LEN + 1],
                                          uint64_t *size_out, ferry_err_t *err)
{
    char p[PATH_MAX], sha[FERRY_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    int fd = -1;
    ferry_sha256_t *h = NULL;
    struct stat st;
    ferry_err_code_t rc = ferry_blob_upload_path(bs, id, p, sizeof(p), err);
    if (rc != FERRY_OK)
        goto out;
    /* Every byte went through upload_write() in this process: its hash is the file's. */
    if (stat(p, &st) == 0 && (h = running_take(bs, id, (uint64_t)st.st_size)) != NULL) {
        uint8_t d[FERRY_SHA256_LEN];
        ferry_sha256_final(h, d);
        ferry_hex_encode(d, FERRY_SHA256_LEN, sha);
        size = (uint64_t)st.st_size;
    } else if ((rc = ferry_sha256_file(p, sha, &size, err)) != FERRY_OK) {
        /* The message names the upload, not its file: callers hand it to clients. */
        char why[128] = "";
        const char *colon = strrchr(err != NULL ? err->msg : "", ':');
        snprintf(why, sizeof(why), "%s", colon != NULL ? colon : "");
        ferry_err_set(err, rc, "commit upload '%s': cannot read it%s", id, why);
        goto out;
    }
    if (expected_size != UINT64_MAX && size != expected_size) {
        rc =
            ferry_err_set(err, FERRY_E_HASH_MISMATCH, "upload '%s' is %llu bytes, expected %llu (truncated?)",
                          id, (unsigned long long)size, (unsigned long long)expected_size);
        goto out;
    }
    if (expected_sha256 != NULL && strcasecmp_sha(expected_sha256, sha) != 0) {
        rc = ferry_err_set(err, FERRY_E_HASH_MISMATCH, "upload '%s': SHA-256 is %s, expected %.64s", id, sha,
                           expected_sha256);
        goto out;
    }
    fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "commit upload '%s'", id);
        goto out;
    }
    if ((rc = install(bs, p, sha, err)) != FERRY_OK)
        goto out;
    memcpy(sha_out, sha, sizeof(sha));
    if (size_out != NULL)
        *size_out = size;
out:
    ferry_sha256_free(h);
    if (fd >= 0)
        close(fd);
    return rc;
}

ferry_err_code_t ferry_blob_upload_abort(ferry_blob_store_t *bs, const char *id, ferry_err_t *err)
{
    char p[PATH_MAX];
    ferry_err_code_t rc = ferry_blob_upload_path(bs, id, p, sizeof(p), err);
    if (rc != FERRY_OK)
        return rc;
    ferry_sha256_free(running_take(bs, id, UINT64_MAX));
    if (unlink(p) != 0 && errno != ENOENT)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "abort upload '%s'", id);
    return FERRY_OK;
}

ferry_err_code_t ferry_blob_uploads_each(ferry_blob_store_t *bs, ferry_blob_upload_visit_fn fn, void *user,
                                         ferry_err_t *err)
{
    char dir[PATH_MAX], id[72];
    DIR *d;
    struct dirent *e;
    struct stat sb;

    snprintf(dir, sizeof(dir), "%s/uploads", bs->root);
    if ((d = opendir(dir)) == NULL)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "list uploads");
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        /* "<id>.part" only: temporary files of ferry_blob_put_file() are someone's write. */
        if (n <= 5 || n - 5 >= sizeof(id) || strcmp(e->d_name + n - 5, ".part") != 0)
            continue;
        memcpy(id, e->d_name, n - 5);
        id[n - 5] = '\0';
        if (!valid_id(id) || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(sb.st_mode))
            continue;
        if (!fn(id, (uint64_t)sb.st_size, user))
            break;
    }
    closedir(d);
    return FERRY_OK;
}

ferry_err_code_t ferry_blob_put_file(ferry_blob_store_t *bs, const char *src,
                                     char sha_out[FERRY_SHA256_HEX_LEN + 1], uint64_t *size_out,
                                     ferry_err_t *err)
{
    char tmp[PATH_MAX];
    int in = -1, out_fd = -1;
    uint8_t *buf = NULL;
    ferry_sha256_t *h = NULL;
    uint64_t size = 0;
    ferry_err_code_t rc = FERRY_OK;
    enum { BUF = 1 << 20 };
    static unsigned long seq;

    snprintf(tmp, sizeof(tmp), "%s/uploads/put-%ld-%lu.tmp", bs->root, (long)getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", src);
        goto out;
    }
    out_fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    buf = malloc(BUF);
    h = ferry_sha256_new();
    if (out_fd < 0 || buf == NULL || h == NULL) {
        rc = out_fd < 0 ? ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "create '%s'", tmp)
                        : ferry_err_set(err, FERRY_E_NOMEM, "put blob: out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(in, buf, BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read '%s'", src);
            goto out;
        }
        if (r == 0)
            break;
        ferry_sha256_update(h, buf, (size_t)r);
        for (ssize_t done = 0; done < r;) {
            ssize_t w = write(out_fd, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "write '%s'", tmp);
                goto out;
            }
            done += w;
        }
        size += (uint64_t)r;
    }
    if (fsync(out_fd) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "sync '%s'", tmp);
        goto out;
    }
    uint8_t d[FERRY_SHA256_LEN];
    ferry_sha256_final(h, d);
    ferry_hex_encode(d, FERRY_SHA256_LEN, sha_out);
    if ((rc = install(bs, tmp, sha_out, err)) != FERRY_OK)
        goto out;
    if (size_out != NULL)
        *size_out = size;
out:
    if (rc != FERRY_OK)
        unlink(tmp);
    ferry_sha256_free(h);
    free(buf);
    if (out_fd >= 0)
        close(out_fd);
    if (in >= 0)
        close(in);
    return rc;
}
