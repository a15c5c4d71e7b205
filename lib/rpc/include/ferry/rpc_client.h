/**
 * @file rpc_client.h
 * The RPC client runtime over libcurl (HTTP/2 via nghttp2): one client object holds
 * one multiplexed connection to one server and may be used from several threads at
 * once.
 *
 * Threading: each client runs one I/O thread driving a libcurl multi handle; a call
 * is queued to it and the calling thread blocks until the call ends. Server-streaming
 * messages are decoded on the I/O thread as their bytes arrive, queued, and handed to
 * the callback ON THE CALLING THREAD, in order; a slow callback pauses the transfer
 * (HTTP/2 flow control) instead of buffering without bound.
 *
 * Protocols: Connect with binary proto (default) or JSON, or gRPC-Web (+proto/+json).
 * TLS negotiates h2 by ALPN (CA file, optional SPKI pin); cleartext uses HTTP/1.1
 * Upgrade to h2c (not prior knowledge: see shared/notes/platform-facts.md) or plain
 * HTTP/1.1 (FERRY_RPC_HTTP_1_1, one connection per concurrent call).
 *
 * Deadlines: the per-call timeout is sent (connect-timeout-ms / grpc-timeout) and also
 * enforced locally: when it passes, the call is abandoned (HTTP/2 stream reset) and
 * returns FERRY_RPC_DEADLINE_EXCEEDED. Cancellation (opts->cancel, or a stream callback
 * returning non-zero) does the same with FERRY_RPC_CANCELED. The server learns of it
 * through the reset stream or, when no other call shares the connection, the closed
 * connection (libcurl 7.88 delays a lone RST_STREAM). Over HTTP/1.1 the connection is
 * closed; h2o 2.2.5 notices that only when it writes the reply.
 *
 * Retries: methods marked NO_SIDE_EFFECTS or IDEMPOTENT are retried on `unavailable`
 * (server status or transport failure other than TLS verification) with capped
 * exponential backoff and full jitter, within the call's deadline; a stream is retried
 * only before its first message. Other methods are never retried.
 *
 * Errors: every failure is a ferry_rpc_status_t with one of the 16 codes. A Connect
 * error body / end-stream error or gRPC-Web grpc-status is used when present, the
 * application code from the google.rpc.ErrorInfo detail or the ferry-error-code
 * header/trailer/metadata; otherwise the HTTP status is mapped (404 -> unimplemented,
 * 503 -> unavailable...). Transport failures are `unavailable`.
 *
 * The bearer token is never logged.
 */
#ifndef FERRY_RPC_CLIENT_H
#define FERRY_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ferry_rpc_client ferry_rpc_client_t;

typedef enum ferry_rpc_protocol {
    FERRY_RPC_PROTOCOL_CONNECT = 0,
    FERRY_RPC_PROTOCOL_GRPC_WEB = 1
} ferry_rpc_protocol_t;

typedef enum ferry_rpc_codec { FERRY_RPC_CODEC_PROTO = 0, FERRY_RPC_CODEC_JSON = 1 } ferry_rpc_codec_t;

typedef enum ferry_rpc_http_version {
    FERRY_RPC_HTTP_AUTO = 0, /**< h2 over TLS (ALPN); h2c via Upgrade on cleartext */
    FERRY_RPC_HTTP_1_1 = 1   /**< force HTTP/1.1 */
} ferry_rpc_http_version_t;

/** Client settings; zero values mean the documented defaults. */
typedef struct ferry_rpc_client_config {
    const char *base_url;      /**< "https://host:port" or "http://host:port" (required) */
    const char *ca_file;       /**< PEM CA bundle for TLS; NULL = system store */
    const char *pin_sha256;    /**< optional: hex SHA-256 of the server certificate's public key (SPKI) */
    bool insecure_skip_verify; /**< tests only: accept any certificate */
    const char *bearer_token;  /**< sent as `authorization: Bearer ...` (never logged) */
    ferry_rpc_protocol_t protocol;
    ferry_rpc_codec_t codec;
    ferry_rpc_http_version_t http_version;
    uint32_t default_timeout_ms; /**< per-call deadline when the call sets none; 0 = none */
    unsigned max_retries;        /**< retries of `unavailable` for idempotent methods, default 4 */
    uint32_t retry_base_ms;   /**< first backoff, default 100; doubles, capped at retry_max_ms, full jitter */
    uint32_t retry_max_ms;    /**< default 5000 */
    size_t max_message_bytes; /**< per received message, default 4 MiB */
    bool gzip_requests;       /**< compress request bodies with gzip */
    const char *user_agent;   /**< default "ferry-rpc/<version>" */
} ferry_rpc_client_config_t;

/** Per-call options (NULL = defaults). */
typedef struct ferry_rpc_call_opts {
    uint32_t timeout_ms;        /**< 0 = the client's default_timeout_ms */
    const char *const *headers; /**< extra request headers, "name: value", NULL-terminated; may be NULL */
    volatile int *cancel;       /**< if non-NULL, setting *cancel = 1 from any thread cancels the call
                                     (noticed within ~20 ms) */
} ferry_rpc_call_opts_t;

/** Creates a client. Returns NULL and fills |err| on bad config. */
ferry_rpc_client_t *ferry_rpc_client_new(const ferry_rpc_client_config_t *cfg, ferry_err_t *err);

/** Frees the client; no call may be in progress. NULL is a no-op. */
void ferry_rpc_client_free(ferry_rpc_client_t *c);

/**
 * Cancels every call in progress on |c| (they end with FERRY_RPC_CANCELED), at once and
 * from any thread: for long streams whose owner would otherwise have to poll a cancel
 * flag (opts->cancel wakes the caller every ~20 ms). Calls started afterwards are not
 * affected. NULL is a no-op.
 */
void ferry_rpc_client_cancel_all(ferry_rpc_client_t *c);

/** Replaces the bearer token (e.g. after binding). Thread-safe. */
void ferry_rpc_client_set_token(ferry_rpc_client_t *c, const char *bearer_token);

/**
 * Registers the JSON name tables of |svc| (ferry_json_register_file for each of its
 * files) so FERRY_RPC_CODEC_JSON uses protoc's json_names and map entries. Idempotent,
 * process-wide; generated client stubs may call it once per service.
 */
void ferry_rpc_client_register_service(const ferry_rpc_service_desc_t *svc);

/**
 * Unary call. On FERRY_RPC_OK *resp owns the response: free it with
 * protobuf_c_message_free_unpacked(*resp, NULL). Otherwise *resp is NULL and |st|
 * (which may be NULL) says why. Returns st->code.
 */
ferry_rpc_code_t ferry_rpc_client_unary(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                        const ProtobufCMessage *req, ProtobufCMessage **resp,
                                        const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st);

/**
 * Called for each streamed message as it arrives; takes ownership of |msg| (free with
 * protobuf_c_message_free_unpacked(msg, NULL)). Return 0 to continue, non-zero to
 * cancel the call (it then ends with FERRY_RPC_CANCELED).
 */
typedef int (*ferry_rpc_stream_cb)(ProtobufCMessage *msg, void *user);

/** Server-streaming call; returns the end-of-stream status. */
ferry_rpc_code_t ferry_rpc_client_server_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *req, ferry_rpc_stream_cb cb,
                                                void *user, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st);

/** Client-streaming call: sends |n_reqs| messages, then receives one response. */
ferry_rpc_code_t ferry_rpc_client_client_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *const *reqs, size_t n_reqs,
                                                ProtobufCMessage **resp, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st);

#ifdef __cplusplus
}
#endif
#endif
