#include "ferry/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ferry/encoding.h"

struct ferry_sha256 {
    EVP_MD_CTX *ctx;
};

ferry_sha256_t *ferry_sha256_new(void)
{
    ferry_sha256_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        ferry_sha256_free(h);
        return NULL;
    }
    return h;
}

void ferry_sha256_update(ferry_sha256_t *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void ferry_sha256_final(ferry_sha256_t *h, uint8_t out[FERRY_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, out, &n);
}

void ferry_sha256_free(ferry_sha256_t *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void ferry_sha256_hex(const void *data, size_t len, char out[FERRY_SHA256_HEX_LEN + 1])
{
    uint8_t d[FERRY_SHA256_LEN];
    unsigned int n = 0;
    EVP_Digest(data, len, d, &n, EVP_sha256(), NULL);
    ferry_hex_encode(d, FERRY_SHA256_LEN, out);
}

ferry_err_code_t ferry_sha256_file(const char *path, char hex_out[FERRY_SHA256_HEX_LEN + 1],
                                   uint64_t *size_out, ferry_err_t *err)
{
    int fd = -1;
    ferry_sha256_t *h = NULL;
    uint8_t *buf = NULL;
    uint64_t total = 0;
    ferry_err_code_t rc = FERRY_OK;
    enum { BUF = 64 * 1024 };

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open '%s'", path);
        goto out;
    }
    h = ferry_sha256_new();
    buf = malloc(BUF);
    if (h == NULL || buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "hash '%s': out of memory", path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, BUF);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        ferry_sha256_update(h, buf, (size_t)r);
        total += (uint64_t)r;
    }
    uint8_t d[FERRY_SHA256_LEN];
    ferry_sha256_final(h, d);
    ferry_hex_encode(d, FERRY_SHA256_LEN, hex_out);
    if (size_out != NULL)
        *size_out = total;
out:
    free(buf);
    ferry_sha256_free(h);
    if (fd >= 0)
        close(fd);
    return rc;
}

ferry_err_code_t ferry_random_bytes(void *out, size_t len, ferry_err_t *err)
{
    if (RAND_bytes(out, (int)len) != 1)
        return ferry_err_set(err, FERRY_E_INTERNAL, "RAND_bytes failed");
    return FERRY_OK;
}
