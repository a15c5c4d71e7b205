/**
 * @file rpc_client.h
 * The RPC client runtime over libcurl (HTTP/2 via nghttp2): one client object holds
 * one multiplexed connection to one server and may be used from several threads at
 * once. Calls block the calling thread; server-streaming messages are delivered to a
 * callback on the calling thread as they arrive.
 *
 * Protocols: Connect with binary proto (default) or JSON, or gRPC-Web. TLS with a CA
 * file and optional certificate pinning; cleartext uses HTTP/1.1 Upgrade to h2c (not
 * prior knowledge: see shared/notes/platform-facts.md) or plain HTTP/1.1.
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
    volatile int *cancel;       /**< if non-NULL, setting *cancel = 1 from any thread cancels the call */
} ferry_rpc_call_opts_t;

/** Creates a client. Returns NULL and fills |err| on bad config. */
ferry_rpc_client_t *ferry_rpc_client_new(const ferry_rpc_client_config_t *cfg, ferry_err_t *err);

/** Frees the client; no call may be in progress. NULL is a no-op. */
void ferry_rpc_client_free(ferry_rpc_client_t *c);

/** Replaces the bearer token (e.g. after binding). Thread-safe. */
void ferry_rpc_client_set_token(ferry_rpc_client_t *c, const char *bearer_token);

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
