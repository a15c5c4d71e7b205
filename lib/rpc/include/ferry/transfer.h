/**
 * @file transfer.h
 * The HTTP transfer client of the RPC client runtime: file downloads with resume,
 * streamed chunk uploads and HEAD, for signed blob URLs (ferryd's own /blobs and
 * /uploads routes, storage mirrors, S3-style presigned URLs). Code outside lib/rpc
 * never includes curl.h for blob transfers: it uses this.
 *
 * One ferry_xfer_t is one libcurl easy handle in a private multi handle: calls reuse
 * the connection (and TLS session) of the previous call to the same host. A client
 * may be used by one thread at a time; create one per thread otherwise.
 *
 * Protocol: over http:// always HTTP/1.1 (libcurl 7.88's h2c Upgrade fails on large
 * responses; see shared/notes/platform-facts.md); over https:// ALPN picks h2 when the
 * server offers it. Only http and https URLs are accepted; redirects are NOT followed
 * (a 3xx is an error). No Content-Encoding negotiation: bytes are stored as sent.
 *
 * No retries: each function makes exactly one attempt and reports what happened. The
 * caller owns retry, backoff and fallback across sources (a download that failed half
 * way leaves its bytes in the file, so the next call, possibly on another URL,
 * resumes).
 *
 * Errors (ferry_err_t filled, message "<METHOD> <url without query>: <reason>"):
 * - FERRY_E_UNAVAILABLE: connect/DNS/TLS/transport failures, timeouts, 5xx, 408, 429
 *   (worth retrying later or elsewhere);
 * - FERRY_E_NOT_FOUND: 404, 410;
 * - FERRY_E_AUTH_INVALID: 401, 403 (e.g. an expired signed URL: ask for a fresh one);
 * - FERRY_E_TOO_LARGE: more bytes than expected (download), 413 (upload);
 * - FERRY_E_PRECONDITION: 409, 412, 416 (the server's state differs, e.g. an upload
 *   offset: resynchronise with HEAD);
 * - FERRY_E_PROTOCOL: any other status, or a malformed reply (a 206 starting at the
 *   wrong byte);
 * - FERRY_E_CORRUPT (download): the server finished its reply but the file does not
 *   have |expected_size| bytes (a different or truncated blob at that URL);
 * - FERRY_E_IO / FERRY_E_NOSPACE: a local file error (NOSPACE for ENOSPC/EDQUOT);
 * - FERRY_E_CANCELED: |cancel| set or the data callback returned non-zero;
 * - FERRY_E_INVALID_ARG: a bad argument (not an http(s) URL, NULL path...).
 *
 * URLs' query strings carry signatures: no message, log line or result field contains
 * one (everything from the first '?' or '#' is cut).
 */
#ifndef FERRY_TRANSFER_H
#define FERRY_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One transfer client, reusable across calls; one thread at a time. */
typedef struct ferry_xfer ferry_xfer_t;

/** Transfer client settings; zero values mean the documented defaults. */
typedef struct ferry_xfer_config {
    const char *ca_file;          /**< PEM CA bundle for TLS; NULL = system store */
    const char *pin_sha256;       /**< optional: hex SHA-256 of the server certificate's SPKI
                                       (as ferry_rpc_client_config_t.pin_sha256) */
    bool insecure_skip_verify;    /**< tests only: accept any certificate */
    uint32_t connect_timeout_ms;  /**< TCP + TLS connect, default 10000 */
    uint32_t low_speed_timeout_s; /**< abort when under 1 KiB/s (or under half of
                                       max_bytes_per_sec if that is lower) for this long,
                                       default 30 */
    uint64_t max_bytes_per_sec;   /**< 0 = unlimited (node-config bandwidth limit),
                                       applies to downloads and uploads */
    const char *user_agent;       /**< default "ferry-xfer/<version>" */
} ferry_xfer_config_t;

/**
 * Creates a transfer client (no connection is made yet). Returns NULL and fills
 * |err| on a bad config (pin not 64 hex digits) or out of memory.
 */
ferry_xfer_t *ferry_xfer_new(const ferry_xfer_config_t *cfg, ferry_err_t *err);

/** Frees the client and closes its connections. NULL is a no-op. */
void ferry_xfer_free(ferry_xfer_t *x);

/**
 * Data callback of a download: called with each piece of body bytes right after it
 * was written to the file (so the caller can hash while downloading); |offset| is the
 * file offset of |data|. Return non-zero to abort (FERRY_E_CANCELED).
 */
typedef int (*ferry_xfer_data_fn)(void *user, uint64_t offset, const uint8_t *data, size_t len);

/** Response header callback: one call per header line of the final response. */
typedef void (*ferry_xfer_header_fn)(void *user, const char *name, const char *value);

/** What a download did (filled on success and on failure). */
typedef struct ferry_xfer_get_result {
    int http_status;         /**< last HTTP status (0 = no response) */
    uint64_t bytes_received; /**< body bytes written to the file by this call */
    uint64_t resumed_from;   /**< file offset the received body started at: the existing
                                  length on 206, 0 when the server answered 200 and the
                                  file was restarted */
    uint64_t file_size;      /**< size of the file when the call returned */
    double seconds;          /**< wall time of the call */
    char error[256];         /**< "" on success, else a short reason without the URL:
                                  "connect to 127.0.0.1:9 refused", "HTTP 503", "timeout: ..." */
} ferry_xfer_get_result_t;

/**
 * Downloads |url| into |path| (created 0600 if missing; plain write(), no buffering).
 *
 * Resume: when |path| has N > 0 bytes the request carries `Range: bytes=N-`;
 * - 206 from byte N: the body is appended;
 * - 200 (the server ignored the range): the file is truncated and written from 0;
 *   the first on_data offset is then 0 (a caller hashing the old prefix must restart);
 * - 416 with the file already at |expected_size| (or, when |expected_size| is 0, at the
 *   total size the server states in its `Content-Range`) is success, nothing
 *   written. A file longer than a non-zero |expected_size| fails at once
 *   (FERRY_E_TOO_LARGE, no request made). Another 416 is FERRY_E_PRECONDITION (the file
 *   is longer than the server's blob).
 *
 * |expected_size| (0 = unknown) caps the body: bytes past it are never written and the
 * call fails with FERRY_E_TOO_LARGE (endless-data attack), as soon as an announced
 * Content-Length / Content-Range shows it. Success requires the final file size to
 * equal |expected_size| (else FERRY_E_CORRUPT). On success the file is fdatasync()ed.
 *
 * On any failure the bytes already written STAY in the file, so the caller can
 * resume, possibly from another URL. |on_data| (may be NULL) sees only this call's
 * bytes, in order. |cancel| (may be NULL): setting *cancel non-zero from another
 * thread or a signal handler aborts within ~100 ms (FERRY_E_CANCELED). |res| may be
 * NULL. Errors: see the file comment. One attempt, no retries.
 */
ferry_err_code_t ferry_xfer_get_file(ferry_xfer_t *x, const char *url, const char *path,
                                     uint64_t expected_size, ferry_xfer_data_fn on_data, void *user,
                                     volatile int *cancel, ferry_xfer_get_result_t *res, ferry_err_t *err);

/**
 * PUTs |len| bytes of file |path| starting at |offset| to |url|, read piece by piece
 * (pread, never the whole range in memory). |headers| (may be NULL): extra request
 * headers, "Name: value", NULL-terminated; `Content-Type: application/octet-stream`
 * is sent unless |headers| names a Content-Type. When |total| > 0 the request carries
 * `Content-Range: bytes OFFSET-(OFFSET+LEN-1)/TOTAL` (the `bytes *` + `/TOTAL` form when |len|
 * is 0).
 * The file must hold offset + len bytes (FERRY_E_IO otherwise).
 *
 * *http_status (may be NULL) gets the final status (0 = no response); 2xx is FERRY_OK,
 * other codes as listed in the file comment, the message carrying up to 200 bytes of
 * the response body. |resp_header_fn| (may be NULL) is called for each header of the
 * final response (e.g. Upload-Offset), also on HTTP errors. One attempt, no retries.
 */
ferry_err_code_t ferry_xfer_put_file(ferry_xfer_t *x, const char *url, const char *path, uint64_t offset,
                                     uint64_t len, uint64_t total, const char *const *headers,
                                     int *http_status,
                                     void (*resp_header_fn)(void *user, const char *name, const char *value),
                                     void *user, ferry_err_t *err);

/**
 * HEAD |url| with |headers| (as for PUT, may be NULL). *http_status (may be NULL) gets
 * the status; each header of the final response goes to |resp_header_fn| (may be
 * NULL), also on HTTP errors. 2xx is FERRY_OK; errors as in the file comment.
 */
ferry_err_code_t ferry_xfer_head(ferry_xfer_t *x, const char *url, const char *const *headers,
                                 int *http_status,
                                 void (*resp_header_fn)(void *user, const char *name, const char *value),
                                 void *user, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
