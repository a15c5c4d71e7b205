/**
 * @file hash.h
 * SHA-256 (streaming and whole-file) and random bytes, over OpenSSL.
 */
#ifndef FERRY_HASH_H
#define FERRY_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_SHA256_LEN     32
#define FERRY_SHA256_HEX_LEN 64

typedef struct ferry_sha256 ferry_sha256_t;

/** New streaming hasher; NULL on allocation failure. Free with ferry_sha256_free(). */
ferry_sha256_t *ferry_sha256_new(void);
void ferry_sha256_update(ferry_sha256_t *h, const void *data, size_t len);
/** Writes the 32-byte digest; the hasher may not be updated afterwards. */
void ferry_sha256_final(ferry_sha256_t *h, uint8_t out[FERRY_SHA256_LEN]);
void ferry_sha256_free(ferry_sha256_t *h);

/** Digest of a buffer as 64 lowercase hex digits + NUL. */
void ferry_sha256_hex(const void *data, size_t len, char out[FERRY_SHA256_HEX_LEN + 1]);

/**
 * Streams |path| through SHA-256 (64 KiB buffer; memory does not grow with the file).
 * Writes hex into |hex_out| and the size into |size_out| (may be NULL).
 */
ferry_err_code_t ferry_sha256_file(const char *path, char hex_out[FERRY_SHA256_HEX_LEN + 1],
                                   uint64_t *size_out, ferry_err_t *err);

/** Fills |out| with |len| cryptographically random bytes. */
ferry_err_code_t ferry_random_bytes(void *out, size_t len, ferry_err_t *err);

#endif
