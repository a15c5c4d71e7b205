#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"

/* Kept free on the download volume beyond the package itself. */
#define DISK_RESERVE (64ull << 20)

typedef struct dl_ctx {
    ferry_sha256_t *h;
    uint64_t hashed; /* bytes of the file the hash has seen, from offset 0 */
    uint64_t total;
    agentd_dl_progress_fn progress;
    void *user;
    int64_t last_ms;
    bool canceled;
} dl_ctx_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hash_reset(dl_ctx_t *c)
{
    ferry_sha256_free(c->h);
    c->h = ferry_sha256_new();
    c->hashed = 0;
}

/* Hashes the first |len| bytes of |path| (a prefix kept from an earlier run). */
static ferry_err_code_t hash_prefix(dl_ctx_t *c, const char *path, uint64_t len, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int fd = -1;
    uint8_t *buf = NULL;
    hash_reset(c);
    if (len == 0)
        goto out;
    if ((buf = malloc(1u << 16)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "open %s", path);
        goto out;
    }
    while (c->hashed < len) {
        size_t want = len - c->hashed < (1u << 16) ? (size_t)(len - c->hashed) : (1u << 16);
        ssize_t n = read(fd, buf, want);
        if (n <= 0) {
            rc = ferry_err_set(err, FERRY_E_IO, "read %s: short read at %llu", path,
                               (unsigned long long)c->hashed);
            goto out;
        }
        ferry_sha256_update(c->h, buf, (size_t)n);
        c->hashed += (uint64_t)n;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static int on_data(void *user, uint64_t offset, const uint8_t *data, size_t len)
{
    dl_ctx_t *c = user;
    if (offset != c->hashed) {
        /* The server restarted the body (200 to a Range request): start the hash over. */
        if (offset != 0)
            return 1;
        hash_reset(c);
    }
    ferry_sha256_update(c->h, data, len);
    c->hashed += len;
    int64_t now = mono_ms();
    if (c->progress != NULL && (now - c->last_ms >= 250 || c->hashed == c->total)) {
        c->last_ms = now;
        if (c->progress(c->user, c->hashed, c->total) != 0) {
            c->canceled = true;
            return 1;
        }
    }
    return 0;
}

static uint64_t file_len(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static void add_fallback(agentd_dl_stats_t *s, const char *name, const char *why)
{
    if (s->n_fallbacks < 8)
        snprintf(s->fallbacks[s->n_fallbacks++], sizeof(s->fallbacks[0]), "%.40s: %.110s", name, why);
}

/* Sorts |idx| by priority, keeping the given order among equals. */
static void order_sources(const agentd_source_t *src, size_t n, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && src[idx[j]].priority < src[idx[j - 1]].priority; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static bool digest_is(dl_ctx_t *c, const char *sha256)
{
    uint8_t d[FERRY_SHA256_LEN];
    char hex[FERRY_SHA256_HEX_LEN + 1];
    ferry_sha256_final(c->h, d);
    ferry_sha256_free(c->h);
    c->h = NULL;
    ferry_hex_encode(d, sizeof(d), hex);
    return strcmp(hex, sha256) == 0;
}

ferry_err_code_t agentd_download(ferry_xfer_t *x, const agentd_source_t *sources, size_t n_sources,
                                 const char *path, uint64_t size, const char *sha256,
                                 agentd_dl_progress_fn progress, void *user, volatile int *cancel,
                                 agentd_dl_stats_t *stats, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    agentd_dl_stats_t local;
    agentd_dl_stats_t *st = stats != NULL ? stats : &local;
    dl_ctx_t c = {.total = size, .progress = progress, .user = user};
    char part[1100], dir[1100], errs[FERRY_ERR_MSG_MAX];
    size_t idx[AGENTD_MAX_SOURCES];
    unsigned delivered = 0, mismatched = 0;
    int64_t t0 = mono_ms();
    memset(st, 0, sizeof(*st));
    errs[0] = '\0';
    if (sha256 == NULL || strlen(sha256) != 64 || n_sources == 0 || n_sources > AGENTD_MAX_SOURCES ||
        size == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "download: need 1..%d sources, a size and a SHA-256",
                           AGENTD_MAX_SOURCES);
        goto out;
    }
    if (snprintf(part, sizeof(part), "%s.part", path) >= (int)sizeof(part) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "download path too long");
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if ((rc = ferry_fs_mkdir_p(dir, 0700, err)) != FERRY_OK)
        goto out;
    /* Finished in an earlier run (crash between download and verify): check it again. */
    if (file_len(path) == size) {
        if ((rc = hash_prefix(&c, path, size, err)) != FERRY_OK)
            goto out;
        if (digest_is(&c, sha256)) {
            st->resumed_bytes = size;
            snprintf(st->source_name, sizeof(st->source_name), "local");
            goto out;
        }
    }
    (void)unlink(path);
    uint64_t have = file_len(part);
    if (have > size) {
        (void)unlink(part);
        have = 0;
    }
    uint64_t free_bytes = 0;
    if (ferry_fs_free_bytes(dir, &free_bytes, NULL) == FERRY_OK && free_bytes < size - have + DISK_RESERVE) {
        rc = ferry_err_set(
            err, FERRY_E_NOSPACE,
            "download needs %llu MiB free in %s (package %llu MiB + 64 MiB reserve), %llu MiB free",
            (unsigned long long)((size - have + DISK_RESERVE) >> 20), dir, (unsigned long long)(size >> 20),
            (unsigned long long)(free_bytes >> 20));
        goto out;
    }
    st->resumed_bytes = have;
    if ((rc = hash_prefix(&c, part, have, err)) != FERRY_OK)
        goto out;
    order_sources(sources, n_sources, idx);
    for (size_t k = 0; k < n_sources; k++) {
        const agentd_source_t *s = &sources[idx[k]];
        ferry_xfer_get_result_t res;
        ferry_err_t e = {0};
        if (cancel != NULL && *cancel) {
            rc = ferry_err_set(err, FERRY_E_CANCELED, "download canceled");
            goto out;
        }
        st->attempts++;
        if (c.h == NULL && (rc = hash_prefix(&c, part, file_len(part), err)) != FERRY_OK)
            goto out;
        memset(&res, 0, sizeof(res));
        ferry_err_code_t r = ferry_xfer_get_file(x, s->url, part, size, on_data, &c, cancel, &res, &e);
        st->bytes += res.bytes_received;
        if (r == FERRY_E_CANCELED || c.canceled) {
            rc = ferry_err_set(err, FERRY_E_CANCELED, "download canceled");
            goto out;
        }
        if (r == FERRY_E_NOSPACE) {
            rc = ferry_err_set(err, FERRY_E_NOSPACE, "%s: %s", s->name, e.msg);
            goto out;
        }
        if (r == FERRY_OK && file_len(part) == size && c.hashed == size) {
            delivered++;
            if (digest_is(&c, sha256)) {
                int fd = open(part, O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                    (void)fdatasync(fd);
                    close(fd);
                }
                if (rename(part, path) != 0) {
                    rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "rename %s", part);
                    goto out;
                }
                (void)ferry_fs_fsync_dir(dir, NULL);
                snprintf(st->source_name, sizeof(st->source_name), "%s", s->name);
                rc = FERRY_OK;
                goto out;
            }
            mismatched++;
            add_fallback(st, s->name, "SHA-256 mismatch");
            (void)unlink(part);
            hash_reset(&c);
            continue;
        }
        if (r == FERRY_OK || r == FERRY_E_CORRUPT || r == FERRY_E_TOO_LARGE) {
            /* Wrong length: the bytes cannot be trusted as a prefix either. */
            add_fallback(st, s->name, r == FERRY_OK ? "wrong length" : res.error[0] ? res.error : e.msg);
            (void)unlink(part);
            hash_reset(&c);
            continue;
        }
        add_fallback(st, s->name, res.error[0] ? res.error : e.msg);
        size_t l = strlen(errs);
        if (snprintf(errs + l, sizeof(errs) - l, "%s%.40s: %.120s", l ? "; " : "", s->name,
                     res.error[0] ? res.error : e.msg) >= (int)(sizeof(errs) - l))
            errs[sizeof(errs) - 1] = '\0';
        /* The partial file stays: the next source continues from its end. The hash
         * may have seen bytes the file did not keep; re-read the prefix to be exact. */
        ferry_sha256_free(c.h);
        c.h = NULL;
    }
    if (delivered > 0 && mismatched == delivered) {
        rc = ferry_err_set(err, FERRY_E_HASH_MISMATCH,
                           "package from %u source(s) does not match the signed SHA-256 %.16s...: deleted",
                           delivered, sha256);
    } else {
        rc = ferry_err_set(err, FERRY_E_DOWNLOAD_FAILED, "no source delivered the package (%s)",
                           errs[0] ? errs : "all sources failed");
    }
out:
    st->seconds = (double)(mono_ms() - t0) / 1000.0;
    ferry_sha256_free(c.h);
    return rc;
}
