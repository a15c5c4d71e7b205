/**
 * @file wire_internal.h
 * Pure protocol functions of the RPC server: content-type classification, timeout
 * headers, encoding negotiation, Connect GET query parsing, the Connect error JSON and
 * end-stream message, the gRPC-Web trailer block, google.rpc.ErrorInfo / Status
 * encoding, and the request envelope reader. No I/O, no allocation: every output goes
 * to a caller buffer with a hard size, so each function is unit-tested and fuzzed on
 * its own. Used by server.c (the h2o adapter) only.
 */
#ifndef FERRY_RPC_SERVER_WIRE_INTERNAL_H
#define FERRY_RPC_SERVER_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/rpc.h"

/** Which protocol a request speaks, from its content-type. */
typedef enum ferry_wire_protocol {
    FERRY_WIRE_UNSUPPORTED = 0, /**< 415 */
    FERRY_WIRE_CONNECT_UNARY,   /**< application/proto, application/json */
    FERRY_WIRE_CONNECT_STREAM,  /**< application/connect+proto|json */
    FERRY_WIRE_GRPC_WEB,        /**< application/grpc-web[+proto|+json] */
    FERRY_WIRE_GRPC_WEB_TEXT,   /**< application/grpc-web-text[+proto]: refused (415) */
    FERRY_WIRE_GRPC,            /**< native gRPC: refused with a clear status */
} ferry_wire_protocol_t;

typedef enum ferry_wire_codec {
    FERRY_WIRE_CODEC_PROTO = 0,
    FERRY_WIRE_CODEC_JSON,
} ferry_wire_codec_t;

typedef enum ferry_wire_encoding {
    FERRY_WIRE_ENC_IDENTITY = 0,
    FERRY_WIRE_ENC_GZIP,
    FERRY_WIRE_ENC_UNSUPPORTED,
} ferry_wire_encoding_t;

/**
 * Classifies a content-type value (case-insensitive media type, parameters such as
 * "; charset=utf-8" ignored). Unknown sub-codecs ("application/connect+thrift") are
 * FERRY_WIRE_UNSUPPORTED. |codec| is set for the supported protocols.
 */
ferry_wire_protocol_t ferry_wire_content_type(const char *s, size_t len, ferry_wire_codec_t *codec);

/**
 * `connect-timeout-ms`: 1 to 10 ASCII digits. Returns 0 and the value in nanoseconds,
 * -1 when malformed (empty, sign, space, 11+ digits).
 */
int ferry_wire_connect_timeout(const char *s, size_t len, uint64_t *out_ns);

/**
 * `grpc-timeout`: 1 to 8 digits and a unit H M S m u n. Returns 0 and the value in
 * nanoseconds (saturating at UINT64_MAX), -1 when malformed.
 */
int ferry_wire_grpc_timeout(const char *s, size_t len, uint64_t *out_ns);

/** A content-encoding value: "", "identity" -> identity, "gzip" -> gzip, else unsupported. */
ferry_wire_encoding_t ferry_wire_encoding(const char *s, size_t len);

/** True when an accept-encoding list ("gzip, br;q=0.5") accepts gzip (q=0 refuses). */
bool ferry_wire_accepts_gzip(const char *s, size_t len);

/** A parsed Connect GET query. |message| points into the query (still percent-encoded). */
typedef struct ferry_wire_get_query {
    ferry_wire_codec_t codec;
    bool base64;
    ferry_wire_encoding_t compression;
    const char *message;
    size_t message_len;
} ferry_wire_get_query_t;

/**
 * Parses the query string (without '?') of a Connect GET. Any parameter order; unknown
 * parameters ignored; `connect` must be "v1" when present; `encoding` is required
 * ("proto" or "json"); `message` defaults to empty. Returns 0, or -1 with a static
 * reason in *why.
 */
int ferry_wire_get_query(const char *q, size_t len, ferry_wire_get_query_t *out, const char **why);

/**
 * Percent-decodes a query component ('+' is a space) into |out|. Returns the decoded
 * length or -1 on a bad escape or when |out_size| is too small.
 */
long ferry_wire_percent_decode(const char *in, size_t len, uint8_t *out, size_t out_size);

/**
 * Encodes google.rpc.ErrorInfo{reason = 1, domain = 2} into |out|. Returns the
 * length, or 0 when |size| is too small.
 */
size_t ferry_wire_error_info(const char *reason, const char *domain, uint8_t *out, size_t size);

/**
 * Encodes google.rpc.Status{code, message, details: [Any(ErrorInfo)]} (the
 * grpc-status-details-bin payload). |errinfo| may be NULL. Returns the length, 0 if
 * too small.
 */
size_t ferry_wire_status_proto(ferry_rpc_code_t code, const char *message, const uint8_t *errinfo,
                               size_t errinfo_len, uint8_t *out, size_t size);

/**
 * Connect error JSON: {"code":"...","message":"...","details":[{"type":"google.rpc.ErrorInfo",
 * "value":"<b64>"}]} (details only with |app_code|). Messages longer than the buffer
 * allows are truncated. Returns the length (NUL-terminated), 0 if |size| < 256.
 */
size_t ferry_wire_error_json(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                             size_t size);

/**
 * Connect end-stream message: "{}" for OK, else {"error":{...},"metadata":{"ferry-error-code":["..."]}}.
 * Returns the length, 0 if |size| < 256.
 */
size_t ferry_wire_end_stream_json(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                                  size_t size);

/**
 * gRPC percent-encoding of a grpc-message value: bytes outside 0x20..0x7e and '%'
 * become %XX. Returns the length (NUL-terminated); output is truncated at a whole
 * escape when |size| is too small.
 */
size_t ferry_wire_grpc_percent_encode(const char *in, char *out, size_t size);

/**
 * gRPC-Web trailer block (the payload of the 0x80 frame): "grpc-status: N\r\n"
 * "grpc-message: <pct>\r\n", plus "ferry-error-code: X\r\n" and
 * "grpc-status-details-bin: <b64>\r\n" with |app_code|. Returns the length, 0 if
 * |size| < 512.
 */
size_t ferry_wire_grpc_trailers(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                                size_t size);

/** The value of grpc-status-details-bin for an error (unpadded base64), or 0 if |size| too small. */
size_t ferry_wire_grpc_status_details(ferry_rpc_code_t code, const char *message, const char *app_code,
                                      char *out, size_t size);

/** One message slice of an enveloped request body. */
typedef struct ferry_wire_msg {
    const uint8_t *data;
    uint32_t len;
    bool compressed;
} ferry_wire_msg_t;

/* The |why| of ferry_wire_read_envelopes() when the body holds more than |max_msgs|
 * (this very pointer, so callers can tell that case apart). */
extern const char ferry_wire_why_too_many[];

/**
 * Splits an enveloped request body (Connect streaming or gRPC-Web) into messages.
 * Every envelope must be a plain message (flag 0 or 0x01 when |compressed_ok|); the end
 * of the body must fall on an envelope boundary. Fills up to |max_msgs| slices (pointing
 * into |body|) and *n_msgs.
 * Returns FERRY_RPC_OK, FERRY_RPC_RESOURCE_EXHAUSTED (an envelope over |max_len| or
 * more than |max_msgs| messages), FERRY_RPC_INVALID_ARGUMENT (truncated, unexpected
 * flags) or FERRY_RPC_INTERNAL (compressed flag without a negotiated encoding), with
 * a static reason in *why.
 */
ferry_rpc_code_t ferry_wire_read_envelopes(const uint8_t *body, size_t len, uint32_t max_len,
                                           bool compressed_ok, ferry_wire_msg_t *msgs, size_t max_msgs,
                                           size_t *n_msgs, const char **why);

#endif
