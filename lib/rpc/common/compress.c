#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "ferry/rpc.h"

ferry_err_code_t ferry_gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
                                     ferry_err_t *err)
{
    z_stream zs;
    uint8_t *buf = NULL;
    ferry_err_code_t rc = FERRY_OK;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    /* windowBits 15 + 16 selects the gzip wrapper. */
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ferry_err_set(err, FERRY_E_NOMEM, "gzip: deflateInit2 failed");
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "gzip: out of memory for %zu bytes", cap);
        goto out;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "gzip: deflate did not finish");
        goto out;
    }
    *out = buf;
    *out_len = zs.total_out;
    buf = NULL;
out:
    deflateEnd(&zs);
    free(buf);
    return rc;
}

ferry_err_code_t ferry_gzip_decompress(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                                       size_t *out_len, ferry_err_t *err)
{
    z_stream zs;
    uint8_t *buf = NULL;
    size_t cap = 0;
    ferry_err_code_t rc = FERRY_OK;
    memset(&zs, 0, sizeof(zs));
    *out = NULL;
    *out_len = 0;
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return ferry_err_set(err, FERRY_E_NOMEM, "gunzip: inflateInit2 failed");
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    for (;;) {
        if (zs.total_out == cap) {
            if (cap >= max_out + 1) {
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "gunzip: output exceeds the %zu-byte limit",
                                   max_out);
                goto out;
            }
            size_t ncap = cap == 0 ? (len * 4 < 4096 ? 4096 : len * 4) : cap * 2;
            if (ncap > max_out + 1)
                ncap = max_out + 1; /* one byte over the cap proves the output is too large */
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "gunzip: out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        int z = inflate(&zs, Z_NO_FLUSH);
        if (z == Z_STREAM_END)
            break;
        if (z == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "gunzip: truncated input");
            goto out;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT, "gunzip: %s", zs.msg ? zs.msg : "corrupt data");
            goto out;
        }
    }
    if (zs.total_out > max_out) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "gunzip: output exceeds the %zu-byte limit", max_out);
        goto out;
    }
    if (zs.avail_in != 0) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "gunzip: trailing bytes after the gzip stream");
        goto out;
    }
    *out_len = zs.total_out;
    *out = buf;
    buf = NULL;
out:
    inflateEnd(&zs);
    free(buf);
    return rc;
}
