/*
 * The package downloader (download.h): ordered sources with Omaha fallback, resume from
 * the partial file, SHA-256 computed while the bytes arrive, free-disk check first.
 */
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
/* Progress callbacks at most this often. */
#define PROGRESS_MS 250

typedef struct dl_ctx {
    ferry_sha256_t *h; /* NULL: must be rebuilt from the file before the next attempt */
    uint64_t hashed;   /* bytes of the file the hash has seen, from offset 0 */
    uint64_t total;
    agentd_dl_progress_fn progress;
    void *user;
    int64_t last_ms;
    bool canceled; /* the progress callback asked to stop */
    bool desync;   /* bytes arrived at an offset the hash did not expect */
} dl_ctx_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static uint64_t file_len(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static ferry_err_code_t hash_reset(dl_ctx_t *c, ferry_err_t *err)
{
    ferry_sha256_free(c->h);
    c->hashed = 0;
    c->desync = false;
    if ((c->h = ferry_sha256_new()) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "download: out of memory");
    return FERRY_OK;
}

/* Restarts the hash over the first |len| bytes of |path| (a prefix kept from earlier). */
static ferry_err_code_t hash_prefix(dl_ctx_t *c, const char *path, uint64_t len, ferry_err_t *err)
{
    ferry_err_code_t rc;
    int fd = -1;
    uint8_t *buf = NULL;
    if ((rc = hash_reset(c, err)) != FERRY_OK || len == 0)
        goto out;
    if ((buf = malloc(1u << 16)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "download: out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", path);
        goto out;
    }
    while (c->hashed < len) {
        size_t want = len - c->hashed < (1u << 16) ? (size_t)(len - c->hashed) : (1u << 16);
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read '%s'", path);
            goto out;
        }
        if (n == 0) {
            rc = ferry_err_set(err, FERRY_E_IO, "read '%s': file ended at %llu bytes", path,
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

/* The transfer client's data callback: hash the bytes just written, report progress. */
static int on_data(void *user, uint64_t offset, const uint8_t *data, size_t len)
{
    dl_ctx_t *c = user;
    if (!c->desync && offset != c->hashed) {
        if (offset == 0 && hash_reset(c, NULL) == FERRY_OK) {
            /* 200 to a Range request: the file was truncated and restarts. */
        } else {
            /* Should not happen; hash the file again after this attempt. */
            c->desync = true;
        }
    }
    if (!c->desync) {
        ferry_sha256_update(c->h, data, len);
        c->hashed += len;
    }
    uint64_t done = offset + len;
    int64_t now = mono_ms();
    if (c->progress != NULL && (now - c->last_ms >= PROGRESS_MS || done == c->total)) {
        c->last_ms = now;
        if (c->progress(c->user, done, c->total) != 0) {
            c->canceled = true;
            return 1;
        }
    }
    return 0;
}

static void add_fallback(agentd_dl_stats_t *s, const char *name, const char *why)
{
    if (s->n_fallbacks < sizeof(s->fallbacks) / sizeof(s->fallbacks[0]))
        snprintf(s->fallbacks[s->n_fallbacks++], sizeof(s->fallbacks[0]), "%.40s: %.110s", name, why);
}

/* Appends "name: why" to the list of errors for the final message. */
static void add_error(char *errs, size_t size, const char *name, const char *why)
{
    size_t l = strlen(errs);
    if (l + 1 >= size)
        return;
    int n = snprintf(errs + l, size - l, "%s%.40s: %.100s", l ? "; " : "", name, why);
    if (n < 0 || (size_t)n >= size - l)
        errs[size - 1] = '\0';
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

/* Finishes the hash and compares it with |sha256|; the hash must be rebuilt afterwards. */
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

static bool valid_sha(const char *s, char out[FERRY_SHA256_HEX_LEN + 1])
{
    size_t n = 0;
    if (s == NULL)
        return false;
    for (; s[n] != '\0' && n < FERRY_SHA256_HEX_LEN; n++) {
        char ch = s[n];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
        out[n] = ch;
    }
    out[n] = '\0';
    return n == FERRY_SHA256_HEX_LEN && s[n] == '\0';
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
    char part[1100], dir[1100], want[FERRY_SHA256_HEX_LEN + 1], errs[FERRY_ERR_MSG_MAX - 64];
    size_t idx[AGENTD_MAX_SOURCES];
    unsigned delivered = 0;
    int64_t t0 = mono_ms();
    memset(st, 0, sizeof(*st));
    errs[0] = '\0';
    if (x == NULL || sources == NULL || path == NULL || path[0] == '\0' || !valid_sha(sha256, want) ||
        n_sources == 0 || n_sources > AGENTD_MAX_SOURCES || size == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "download: needs a client, a path, 1..%d sources, a size and a SHA-256",
                           AGENTD_MAX_SOURCES);
        goto out;
    }
    for (size_t i = 0; i < n_sources; i++) {
        if (sources[i].url == NULL || sources[i].url[0] == '\0') {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "download: source %zu (%.40s) has no URL", i,
                               nz(sources[i].name));
            goto out;
        }
    }
    if (snprintf(part, sizeof(part), "%s.part", path) >= (int)sizeof(part) ||
        snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "download: path too long");
        goto out;
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if ((rc = ferry_fs_mkdir_p(dir, 0700, err)) != FERRY_OK)
        goto out;
    /* Finished in an earlier run (e.g. a crash before it was used): check it again. */
    if (file_len(path) == size) {
        if ((rc = hash_prefix(&c, path, size, err)) != FERRY_OK)
            goto out;
        if (digest_is(&c, want)) {
            (void)unlink(part);
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
    /* Disk first: nothing is written when the package cannot fit. */
    uint64_t free_bytes = 0;
    if (ferry_fs_free_bytes(dir, &free_bytes, NULL) == FERRY_OK && free_bytes < size - have + DISK_RESERVE) {
        rc = ferry_err_set(err, FERRY_E_NOSPACE,
                           "download needs %llu MiB free in '%s' (%llu MiB still to fetch + 64 MiB reserve), "
                           "%llu MiB free",
                           (unsigned long long)((size - have + DISK_RESERVE) >> 20), dir,
                           (unsigned long long)((size - have + (1u << 20) - 1) >> 20),
                           (unsigned long long)(free_bytes >> 20));
        goto out;
    }
    st->resumed_bytes = have;
    if ((rc = hash_prefix(&c, part, have, err)) != FERRY_OK)
        goto out;
    order_sources(sources, n_sources, idx);
    for (size_t k = 0; k < n_sources; k++) {
        const agentd_source_t *s = &sources[idx[k]];
        const char *name = nz(s->name);
        ferry_xfer_get_result_t res;
        ferry_err_t e = {0};
        if (cancel != NULL && *cancel) {
            rc = ferry_err_set(err, FERRY_E_CANCELED, "download canceled");
            goto out;
        }
        /* The hash must cover exactly the bytes on disk before the next request. */
        uint64_t on_disk = file_len(part);
        if ((c.h == NULL || c.desync || c.hashed != on_disk) &&
            (rc = hash_prefix(&c, part, on_disk, err)) != FERRY_OK)
            goto out;
        st->attempts++;
        memset(&res, 0, sizeof(res));
        ferry_err_code_t r = ferry_xfer_get_file(x, s->url, part, size, on_data, &c, cancel, &res, &e);
        st->bytes += res.bytes_received;
        if (c.canceled || r == FERRY_E_CANCELED) {
            rc = ferry_err_set(err, FERRY_E_CANCELED, "download canceled after %llu bytes",
                               (unsigned long long)file_len(part));
            goto out;
        }
        const char *why = res.error[0] ? res.error : e.msg;
        if (r == FERRY_E_NOSPACE || r == FERRY_E_IO || r == FERRY_E_NOMEM) {
            /* A local problem: another source cannot help. */
            rc = ferry_err_set(err, r, "download from %.40s: %s", name, e.msg);
            goto out;
        }
        if (r == FERRY_OK) {
            if (c.desync && hash_prefix(&c, part, file_len(part), err) != FERRY_OK) {
                rc = err != NULL ? err->code : FERRY_E_IO;
                goto out;
            }
            if (file_len(part) == size && c.hashed == size) {
                delivered++;
                if (digest_is(&c, want)) {
                    if (rename(part, path) != 0) {
                        rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "rename '%s'", part);
                        goto out;
                    }
                    (void)ferry_fs_fsync_dir(dir, NULL);
                    snprintf(st->source_name, sizeof(st->source_name), "%s", name);
                    rc = FERRY_OK;
                    goto out;
                }
                why = "SHA-256 mismatch";
            } else {
                why = "wrong length";
            }
        }
        add_fallback(st, name, why);
        add_error(errs, sizeof(errs), name, why);
        if (r == FERRY_OK || r == FERRY_E_CORRUPT || r == FERRY_E_TOO_LARGE) {
            /* A complete reply with the wrong length or digest: nothing of it can be
             * trusted as a prefix; the next source starts from zero. */
            (void)unlink(part);
            if ((rc = hash_reset(&c, err)) != FERRY_OK)
                goto out;
        }
        /* Otherwise the partial file stays and the next source continues from its end. */
    }
    if (delivered > 0) {
        rc = ferry_err_set(err, FERRY_E_HASH_MISMATCH,
                           "the package from %u source(s) does not match the signed SHA-256 %.16s... and was "
                           "deleted (%s)",
                           delivered, want, errs);
    } else {
        rc = ferry_err_set(err, FERRY_E_DOWNLOAD_FAILED, "no source delivered the package (%s)",
                           errs[0] ? errs : "all sources failed");
    }
out:
    st->seconds = (double)(mono_ms() - t0) / 1000.0;
    ferry_sha256_free(c.h);
    return rc;
}
