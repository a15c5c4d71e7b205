/**
 * @file rpc_server.h
 * The RPC server runtime: Connect (unary, server streaming, GET), gRPC-Web and
 * collect-then-reply client streaming, over libh2o 2.2.5 (HTTP/2 with TLS+ALPN,
 * cleartext HTTP/2 by prior knowledge or Upgrade, HTTP/1.1), on N event-loop threads
 * plus a worker pool for slow handlers.
 *
 * Threading: handlers are invoked on an event-loop thread and must not block it.
 * Slow work goes to ferry_rpc_call_offload(). Every ferry_rpc_call_* function that
 * completes or feeds a call (reply, fail, send, finish) is thread-safe and may be
 * called from any thread.
 *
 * Lifetime: a handler must complete each call exactly once (reply / fail for unary
 * and client-streaming methods; finish for server-streaming ones), even when the
 * call was canceled. The runtime frees the call when it is both completed and gone
 * from the connection.
 */
#ifndef FERRY_RPC_SERVER_H
#define FERRY_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ferry_rpc_server ferry_rpc_server_t;
typedef struct ferry_rpc_call ferry_rpc_call_t;

/** Server settings; zero values mean the documented defaults. */
typedef struct ferry_rpc_server_config {
    const char *host;          /**< listen address, default "127.0.0.1" */
    uint16_t port;             /**< 0 = pick a free port (see ferry_rpc_server_port()) */
    unsigned threads;          /**< event-loop threads, default 2 */
    unsigned workers;          /**< worker-pool threads for offloaded handlers, default 4 */
    const char *tls_cert_file; /**< PEM chain; with tls_key_file enables TLS (h2 via ALPN) */
    const char *tls_key_file;
    size_t max_message_bytes; /**< per message after decompression, default 4 MiB */
    size_t max_request_bytes; /**< whole request body (h2o buffers it), default 16 MiB */
    size_t max_stream_queue;  /**< bytes queued per streaming call before send() reports backpressure, default
                                 1 MiB */
    unsigned shutdown_grace_ms; /**< SIGTERM: how long in-flight calls may finish, default 10000 */
} ferry_rpc_server_config_t;

/**
 * Generic handler. For unary and server-streaming methods |n_reqs| is 1; for
 * client-streaming methods |reqs| holds every message the client sent, in order
 * (possibly zero). The messages stay valid until the call completes.
 */
typedef void (*ferry_rpc_handler_fn)(ferry_rpc_call_t *call, const ProtobufCMessage *const *reqs,
                                     size_t n_reqs, void *user);

/**
 * Interceptors wrap every call in registration order. |before| runs on the loop
 * thread after the request is decoded and before the handler; returning non-OK fails
 * the call with that code and |msg| (app_code: optional Ferry error name such as
 * "E_AUTH_INVALID", may be left empty). |after| runs once per call when it completes.
 */
typedef struct ferry_rpc_interceptor {
    ferry_rpc_code_t (*before)(ferry_rpc_call_t *call, void *user, char *app_code, size_t app_code_size,
                               char *msg, size_t msg_size);
    void (*after)(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user);
    void *user;
} ferry_rpc_interceptor_t;

/**
 * A plain HTTP route for non-RPC endpoints (/healthz, /metrics, signed blob URLs).
 * The handler receives the raw h2o request (h2o_req_t *, declared void * here so this
 * header does not pull in h2o) and must respond to it; return 0 when it did, -1 to
 * let the runtime answer 404.
 */
typedef int (*ferry_http_handler_fn)(void *h2o_req, void *user);

/** A read-only view of a plain HTTP request (strings are not NUL-terminated). */
typedef struct ferry_http_req_view {
    const char *method;
    size_t method_len;
    const char *path; /**< without the query */
    size_t path_len;
    const char *query; /**< after '?', or NULL */
    size_t query_len;
} ferry_http_req_view_t;

/** Fills |out| from the h2o request handed to a ferry_http_handler_fn. */
void ferry_http_req_view(void *h2o_req, ferry_http_req_view_t *out);

/** A request header by lower-case name (first value, *len set), or NULL. */
const char *ferry_http_req_header(void *h2o_req, const char *name, size_t *len);

/** Answers a plain HTTP request with |status| and a body (copied). Loop thread only. */
void ferry_http_reply(void *h2o_req, int status, const char *content_type, const void *body, size_t len);

/** Creates a server (nothing is bound yet). Returns NULL and fills |err| on bad config. */
ferry_rpc_server_t *ferry_rpc_server_new(const ferry_rpc_server_config_t *cfg, ferry_err_t *err);

/**
 * Registers one service: |handlers| has svc->n_methods entries in svc->methods order;
 * a NULL entry answers `unimplemented`. |svc| and |handlers| must outlive the server.
 */
ferry_err_code_t ferry_rpc_server_register(ferry_rpc_server_t *srv, const ferry_rpc_service_desc_t *svc,
                                           const ferry_rpc_handler_fn *handlers, void *user,
                                           ferry_err_t *err);

/** Adds an interceptor (copied). Call before ferry_rpc_server_start(). */
ferry_err_code_t ferry_rpc_server_add_interceptor(ferry_rpc_server_t *srv, const ferry_rpc_interceptor_t *ic,
                                                  ferry_err_t *err);

/** Adds a plain HTTP route matched by path prefix, before RPC routing. */
ferry_err_code_t ferry_rpc_server_add_route(ferry_rpc_server_t *srv, const char *path_prefix,
                                            ferry_http_handler_fn fn, void *user, ferry_err_t *err);

/** Binds (SO_REUSEPORT, one socket per loop thread) and starts the threads. */
ferry_err_code_t ferry_rpc_server_start(ferry_rpc_server_t *srv, ferry_err_t *err);

/** The bound port (useful after configuring port 0). */
uint16_t ferry_rpc_server_port(const ferry_rpc_server_t *srv);

/**
 * Begins a graceful shutdown: stop accepting, let in-flight unary calls finish, end
 * streams with `unavailable`, force-close after the grace period. Async-signal-safe
 * (writes to a pipe), so it may be called from a SIGTERM handler.
 */
void ferry_rpc_server_shutdown(ferry_rpc_server_t *srv);

/** Blocks until every thread has exited after a shutdown. */
void ferry_rpc_server_wait(ferry_rpc_server_t *srv);

/** Frees the server (after wait). NULL is a no-op. */
void ferry_rpc_server_free(ferry_rpc_server_t *srv);

/* ---- inside a handler ---------------------------------------------------- */

/** The method being called. */
const ferry_rpc_method_t *ferry_rpc_call_method(const ferry_rpc_call_t *call);

/**
 * A request header by lower-case name (e.g. "authorization"), or NULL. The first
 * value if repeated. Valid until the call completes; safe from any thread.
 */
const char *ferry_rpc_call_header(const ferry_rpc_call_t *call, const char *name);

/** The peer address "ip:port". */
const char *ferry_rpc_call_peer(const ferry_rpc_call_t *call);

/**
 * The call's id: the client's own `ferry-request-id` header when it sent a valid one
 * (1-64 characters of `A-Za-z0-9._:-`), else 16 hex digits made up by the server. It is
 * sent back as `ferry-request-id` on error responses and streams (not on successful
 * unary responses: clients that correlate those send their own).
 */
const char *ferry_rpc_call_request_id(const ferry_rpc_call_t *call);

/** Absolute deadline in CLOCK_MONOTONIC nanoseconds, or 0 when the client set none. */
uint64_t ferry_rpc_call_deadline_ns(const ferry_rpc_call_t *call);

/** Adds a response header (before the first reply/send). Not for reserved names. */
ferry_err_code_t ferry_rpc_call_set_header(ferry_rpc_call_t *call, const char *name, const char *value);

/**
 * Attaches interceptor or handler data (e.g. the authenticated principal). |free_fn|
 * (may be NULL) runs when the call is freed. One slot per |key| pointer.
 */
void ferry_rpc_call_set_data(ferry_rpc_call_t *call, const void *key, void *data, void (*free_fn)(void *));
void *ferry_rpc_call_get_data(const ferry_rpc_call_t *call, const void *key);

/** True once the peer went away, the deadline passed or the server is shutting down. */
bool ferry_rpc_call_is_canceled(const ferry_rpc_call_t *call);

/**
 * Registers a callback run (once, on the loop thread) when the call is canceled by
 * the peer, its deadline or shutdown. If already canceled it runs immediately.
 */
void ferry_rpc_call_on_cancel(ferry_rpc_call_t *call, void (*fn)(ferry_rpc_call_t *call, void *arg),
                              void *arg);

/**
 * Runs |fn(call, arg)| on a worker-pool thread so slow work (hashing, disk, SQL)
 * never blocks an event loop. |fn| completes the call itself (reply/fail/finish).
 */
ferry_err_code_t ferry_rpc_call_offload(ferry_rpc_call_t *call, void (*fn)(ferry_rpc_call_t *call, void *arg),
                                        void *arg);

/**
 * Completes a unary or client-streaming call with |resp| (serialized at once; the
 * caller keeps ownership). Returns FERRY_E_CANCELED if the peer is gone (the call is
 * still completed).
 */
ferry_err_code_t ferry_rpc_call_reply(ferry_rpc_call_t *call, const ProtobufCMessage *resp);

/**
 * Completes any call with an error. |app_code| is a Ferry error name ("E_PACKAGE_INVALID")
 * or NULL; it travels as a google.rpc.ErrorInfo detail (reason) and the
 * `ferry-error-code` header/trailer.
 */
ferry_err_code_t ferry_rpc_call_fail(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * Completes a call from a ferry_err_t: code mapped with ferry_rpc_code_from_err(); the
 * app code is always its name (ferry_err_name()), generic codes included (E_PERMISSION,
 * E_NOSPACE, E_INVALID_ARG...), so one rule holds for every failure from a ferry_err_t.
 */
ferry_err_code_t ferry_rpc_call_fail_err(ferry_rpc_call_t *call, const ferry_err_t *err);

/**
 * Sends one message of a server-streaming call (serialized at once; the caller keeps
 * ownership). Returns FERRY_E_CANCELED when the peer is gone, FERRY_E_UNAVAILABLE when
 * more than max_stream_queue bytes are waiting (the message was not queued: slow down).
 */
ferry_err_code_t ferry_rpc_call_send(ferry_rpc_call_t *call, const ProtobufCMessage *msg);

/** Ends a server-streaming call: FERRY_RPC_OK, or an error code with a message. */
ferry_err_code_t ferry_rpc_call_finish(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                       const char *message);

#ifdef __cplusplus
}
#endif
#endif
