/**
 * @file blob.h
 * The local blob store: files addressed by the SHA-256 of their content under
 * `<root>/sha256/ab/abcdef...`, written through a temporary file, fsynced, renamed
 * and the directory fsynced. Uploads arrive in chunks at explicit offsets so a client
 * can resume after an interruption; nothing is held in memory beyond one buffer.
 *
 * Thread-safe for distinct upload ids; one upload id must not be written by two
 * threads at once (the server serializes per id).
 */
#ifndef FERRY_BLOB_H
#define FERRY_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/hash.h"

typedef struct ferry_blob_store ferry_blob_store_t;

/** Largest upload accepted (64 GiB): a cap so a lying client cannot fill the disk forever. */
#define FERRY_BLOB_MAX_UPLOAD (64ull << 30)

/** Opens (creating) a blob store rooted at |root|. NULL and |err| on failure. */
ferry_blob_store_t *ferry_blob_store_open(const char *root, ferry_err_t *err);

/** Frees the handle; NULL is a no-op. */
void ferry_blob_store_free(ferry_blob_store_t *bs);

/**
 * Path of blob |sha256_hex| into |buf|. Returns FERRY_E_NOT_FOUND when absent,
 * FERRY_E_INVALID_ARG when |sha256_hex| is not 64 lowercase hex digits.
 */
ferry_err_code_t ferry_blob_path(const ferry_blob_store_t *bs, const char *sha256_hex, char *buf, size_t size,
                                 ferry_err_t *err);

/** Copies the file |src| into the store; writes its digest to |sha_out| and size to |size_out| (may be NULL).
 */
ferry_err_code_t ferry_blob_put_file(ferry_blob_store_t *bs, const char *src,
                                     char sha_out[FERRY_SHA256_HEX_LEN + 1], uint64_t *size_out,
                                     ferry_err_t *err);

/** Starts upload |id| (1..64 chars of [A-Za-z0-9_-]). Starting an existing id is FERRY_E_EXISTS. */
ferry_err_code_t ferry_blob_upload_begin(ferry_blob_store_t *bs, const char *id, ferry_err_t *err);

/** Bytes received so far for |id| (what a resuming client continues from). */
ferry_err_code_t ferry_blob_upload_offset(ferry_blob_store_t *bs, const char *id, uint64_t *out,
                                          ferry_err_t *err);

/**
 * Appends |len| bytes at |offset|, which must equal the current size (else
 * FERRY_E_PRECONDITION with the expected offset in the message, so the client can
 * resume correctly); the chunk is fdatasynced before returning (acknowledged bytes
 * survive a crash). Growing past |max_size| is FERRY_E_TOO_LARGE.
 */
ferry_err_code_t ferry_blob_upload_write(ferry_blob_store_t *bs, const char *id, uint64_t offset,
                                         const void *data, size_t len, uint64_t max_size, ferry_err_t *err);

/**
 * Finishes upload |id|: hashes it (streaming), checks |expected_sha256| when not NULL
 * (FERRY_E_HASH_MISMATCH, upload kept for inspection/retry) and |expected_size| when
 * not UINT64_MAX, then moves it into the store. Writes digest and size.
 */
ferry_err_code_t ferry_blob_upload_commit(ferry_blob_store_t *bs, const char *id, const char *expected_sha256,
                                          uint64_t expected_size, char sha_out[FERRY_SHA256_HEX_LEN + 1],
                                          uint64_t *size_out, ferry_err_t *err);

/** Discards upload |id| (missing is fine). */
ferry_err_code_t ferry_blob_upload_abort(ferry_blob_store_t *bs, const char *id, ferry_err_t *err);

/**
 * Visits every partial upload in the store's upload area: |fn| gets the upload id and
 * the bytes received so far, and returns false to stop. Files that are not an upload's
 * partial file are skipped. Used to find partial files no upload row owns any more.
 */
typedef bool (*ferry_blob_upload_visit_fn)(const char *id, uint64_t size, void *user);
ferry_err_code_t ferry_blob_uploads_each(ferry_blob_store_t *bs, ferry_blob_upload_visit_fn fn, void *user,
                                         ferry_err_t *err);

/** Path of the partial file of upload |id| (e.g. to validate a zip before commit). */
ferry_err_code_t ferry_blob_upload_path(const ferry_blob_store_t *bs, const char *id, char *buf, size_t size,
                                        ferry_err_t *err);

#endif
