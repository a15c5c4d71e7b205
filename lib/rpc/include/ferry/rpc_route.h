/**
 * @file rpc_route.h
 * Transfer routes of the RPC server runtime: plain HTTP endpoints that serve files with
 * `Range` and take request bodies (signed blob downloads, chunked uploads), so domain
 * code decides WHAT to serve and never touches h2o.
 *
 * A route is a path prefix and a callback. The callback runs on an event-loop thread
 * for every request under the prefix (any method) and must complete the request
 * exactly once with ferry_route_reply(), ferry_route_fail(), ferry_route_fail_err() or
 * ferry_route_send_file(), either itself or from a function it handed to
 * ferry_route_offload() (which runs on the worker pool: disk writes, fsync, hashing).
 * Completing functions are thread-safe; the response goes out on the loop thread.
 *
 * Request bodies: libh2o 2.2.5 buffers a whole request body (capped by the server's
 * max_request_bytes) before the callback runs, so a "stream in" is one body per
 * request; clients send large files as chunks (Content-Range, see
 * ferry_route_body_range()).
 */
#ifndef FERRY_RPC_ROUTE_H
#define FERRY_RPC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/rpc_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Longest path or query (bytes) a route sees; longer ones read as NULL. */
#define FERRY_ROUTE_URL_PART_MAX 512

/** One request to a transfer route. Owned by the runtime. */
typedef struct ferry_route_req ferry_route_req_t;

/** A route callback (loop thread). */
typedef void (*ferry_route_fn)(ferry_route_req_t *r, void *user);

/**
 * Adds a transfer route for every request whose path starts with |path_prefix|
 * (checked after RPC methods, like ferry_rpc_server_add_route()). Before start only.
 */
ferry_err_code_t ferry_rpc_server_add_transfer_route(ferry_rpc_server_t *srv, const char *path_prefix,
                                                     ferry_route_fn fn, void *user, ferry_err_t *err);

/* ---- the request (valid until the request is completed) ------------------------------ */

/** The method ("GET", "HEAD", "PUT"...); "" when longer than 15 bytes. */
const char *ferry_route_method(const ferry_route_req_t *r);

/** The path without the query, NUL-terminated; NULL when longer than FERRY_ROUTE_URL_PART_MAX or holding NUL.
 */
const char *ferry_route_path(const ferry_route_req_t *r);

/** The query after '?' ("" when none); NULL when longer than FERRY_ROUTE_URL_PART_MAX or holding NUL. */
const char *ferry_route_query(const ferry_route_req_t *r);

/**
 * A request header by lower-case name (first value; not NUL-terminated, *len set), or
 * NULL. Only inside the route callback (loop thread): an offloaded function gets what
 * it needs through its argument.
 */
const char *ferry_route_header(const ferry_route_req_t *r, const char *name, size_t *len);

/**
 * The whole request body (*len set; NULL with *len 0 when there is none). Valid in the
 * callback and in a function offloaded with ferry_route_offload(), until completion.
 */
const void *ferry_route_body(const ferry_route_req_t *r, size_t *len);

/**
 * Where the body goes in the whole file: the request's `Content-Range: bytes a-b/total`,
 * or without one a non-empty body is the whole file (0, len-1, len). FERRY_E_INVALID_ARG
 * (message naming the header) for a malformed header, an empty body without one, or a
 * range whose length differs from the body's. Callback only.
 */
ferry_err_code_t ferry_route_body_range(const ferry_route_req_t *r, uint64_t *first, uint64_t *last,
                                        uint64_t *total, ferry_err_t *err);

/* ---- completing it (exactly once, any thread) ---------------------------------------- */

/**
 * Adds a response header (name lower-case; both copied). At most 16 headers of 2 KiB in
 * all; more are dropped with a log line. Before completion, from the completing thread.
 */
void ferry_route_set_header(ferry_route_req_t *r, const char *name, const char *value);

/** ferry_route_set_header() with a decimal value. */
void ferry_route_set_header_u64(ferry_route_req_t *r, const char *name, uint64_t value);

/** Forgets the response headers added so far. */
void ferry_route_clear_headers(ferry_route_req_t *r);

/** Answers |status| with |body| (copied; NULL/0 for none) and |content_type| (may be NULL). */
void ferry_route_reply(ferry_route_req_t *r, int status, const char *content_type, const void *body,
                       size_t len);

/**
 * Answers an error |status| with a text/plain body "APP_CODE: message\n"; |app_code| (a
 * Ferry error name such as "E_NOT_FOUND", or NULL) also goes into `ferry-error-code`.
 */
void ferry_route_fail(ferry_route_req_t *r, int status, const char *app_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/**
 * ferry_route_fail() from a ferry_err_t: E_NOT_FOUND 404, E_INVALID_ARG 400,
 * E_PRECONDITION 409, E_TOO_LARGE 413, E_NOSPACE 507, anything else 500; the app code
 * is the error's name.
 */
void ferry_route_fail_err(ferry_route_req_t *r, const ferry_err_t *err);

/**
 * Serves the open regular file |fd| (taken over: closed by the runtime) with the
 * request's single `Range`: 200, 206 + Content-Range, or 416 + `Content-Range: bytes
 * *\/size`; `Accept-Ranges: bytes`; a HEAD request gets the headers only. The bytes go
 * out of a read-only mapping of the file, handed to the socket without a copy in user
 * space, a window at a time; a file that shrinks under the response aborts it.
 */
void ferry_route_send_file(ferry_route_req_t *r, int fd, const char *content_type);

/**
 * Runs |fn(r, arg)| on the server's worker pool; |fn| completes the request. The body
 * stays readable there (kept for the request, copied first when the connection could
 * drop it: HTTP/2). FERRY_E_UNAVAILABLE when the pool queue is full, FERRY_E_NOMEM;
 * on failure the request is not completed (the caller still must). Callback only.
 */
ferry_err_code_t ferry_route_offload(ferry_route_req_t *r, void (*fn)(ferry_route_req_t *r, void *arg),
                                     void *arg);

/* ---- HTTP range syntax (pure) ---------------------------------------------------------- */

typedef enum ferry_range_kind {
    FERRY_RANGE_NONE = 0,      /**< no usable Range header: send everything (200) */
    FERRY_RANGE_PARTIAL,       /**< one satisfiable range: 206 */
    FERRY_RANGE_UNSATISFIABLE, /**< 416 */
} ferry_range_kind_t;

/**
 * Parses a request `Range` value (|hdr| of |len| bytes, may be NULL) against a file of
 * |size| bytes: one `bytes=a-b`, `bytes=a-` or suffix `bytes=-n` range. Several ranges,
 * other units or bad syntax read as FERRY_RANGE_NONE (RFC 9110: a server may ignore them).
 */
ferry_range_kind_t ferry_http_parse_range(const char *hdr, size_t len, uint64_t size, uint64_t *first,
                                          uint64_t *last);

/** Parses `bytes FIRST-LAST/TOTAL` (FIRST <= LAST < TOTAL); FERRY_E_INVALID_ARG otherwise. */
ferry_err_code_t ferry_http_parse_content_range(const char *hdr, size_t len, uint64_t *first, uint64_t *last,
                                                uint64_t *total, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
