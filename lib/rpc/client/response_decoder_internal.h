/**
 * @file response_decoder_internal.h
 * The client's response decoder: a pure, incremental state machine fed the header
 * lines and body bytes of one HTTP response exactly as libcurl hands them over (in
 * any split). It understands Connect unary bodies and error JSON, Connect streaming
 * envelopes with the end-stream JSON, gRPC-Web frames with the trailer block (and
 * trailers-only responses), and falls back to the HTTP-status mapping when no
 * protocol status came. No I/O, no threads: unit-tested directly.
 *
 * Every buffer it grows is capped: a message (or end-stream/trailer block) whose
 * length prefix exceeds max_message_bytes fails with resource_exhausted before any
 * allocation; a unary body is refused from its content-length or as soon as it
 * passes the cap; error bodies keep at most FERRY_RD_MAX_ERROR_BODY bytes.
 */
#ifndef FERRY_RPC_RESPONSE_DECODER_INTERNAL_H
#define FERRY_RPC_RESPONSE_DECODER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/rpc.h"
#include "ferry/rpc_client.h"

/** Largest non-200 (error) body kept for parsing; the rest is dropped. */
#define FERRY_RD_MAX_ERROR_BODY (64u * 1024u)

/** What the body of the response looks like. */
typedef enum ferry_rd_wire {
    FERRY_RD_CONNECT_UNARY = 0, /**< one raw message, error as JSON body on non-200 */
    FERRY_RD_CONNECT_STREAM,    /**< envelopes, end-stream envelope (0x02) with status JSON */
    FERRY_RD_GRPC_WEB           /**< envelopes, trailer frame (0x80) with grpc-status */
} ferry_rd_wire_t;

/**
 * Receives a streamed message (ownership passes to the callee). Return 0 to go on;
 * non-zero makes the decoder fail with `canceled`.
 */
typedef int (*ferry_rd_message_fn)(ProtobufCMessage *msg, void *user);

typedef struct ferry_rd_config {
    ferry_rd_wire_t wire;
    ferry_rpc_codec_t codec;
    const ProtobufCMessageDescriptor *output; /**< response message type */
    size_t max_message_bytes;                 /**< 0 = 4 MiB */
    /** Exactly one response message expected (unary, client streaming): it is kept
     * and handed out by ferry_rd_finish(); on_message is not used. */
    bool single;
    ferry_rd_message_fn on_message; /**< streaming: called for each message as it completes */
    void *user;
} ferry_rd_config_t;

typedef struct ferry_rd ferry_rd_t;

/** New decoder (|cfg| is copied). NULL when out of memory. */
ferry_rd_t *ferry_rd_new(const ferry_rd_config_t *cfg);

/** Frees the decoder and any message it still holds. NULL is a no-op. */
void ferry_rd_free(ferry_rd_t *rd);

/**
 * Feeds one header line as libcurl delivers it: a status line ("HTTP/2 200"), a
 * "name: value" field, or the blank line ending a block; the CRLF is optional. A new
 * status line (after 100 Continue or 101 Switching Protocols) starts the header set
 * afresh; fields after the body started are trailers. Returns 0, or -1 once failed.
 */
int ferry_rd_header_line(ferry_rd_t *rd, const char *line, size_t len);

/** Feeds body bytes. Returns 0, or -1 once the decoder failed (stop the transfer). */
int ferry_rd_body(ferry_rd_t *rd, const uint8_t *data, size_t len);

/** True once the decoder failed; fills |st| (may be NULL) with the failure. */
bool ferry_rd_failed(const ferry_rd_t *rd, ferry_rpc_status_t *st);

/** Messages decoded so far (delivered or kept). */
size_t ferry_rd_message_count(const ferry_rd_t *rd);

/** The final HTTP status seen so far (0 before any status line). */
int ferry_rd_http_status(const ferry_rd_t *rd);

/**
 * Ends the response after the transport completed cleanly and computes the call's
 * status into |st| (required, overwritten). With cfg.single and FERRY_RPC_OK, *resp
 * (if |resp| is non-NULL) receives the message (caller frees it with
 * protobuf_c_message_free_unpacked); otherwise *resp is NULL. Returns st->code.
 */
ferry_rpc_code_t ferry_rd_finish(ferry_rd_t *rd, ProtobufCMessage **resp, ferry_rpc_status_t *st);

/* ---- helpers shared with the transport, pure and tested -------------------- */

/** Sets |st| to |code| and the formatted message (truncated); clears app_code. */
void ferry_rd_status_set(ferry_rpc_status_t *st, ferry_rpc_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * Parses a Connect error object (the unary error body, or the "error" member of an
 * end-stream message) from |len| bytes of JSON into |st|: code, message, and app_code
 * from a google.rpc.ErrorInfo detail's `reason`. Returns 0, or -1 when the text is not
 * a Connect error object (st untouched).
 */
int ferry_rd_parse_connect_error(const char *json, size_t len, ferry_rpc_status_t *st);

/**
 * Parses a gRPC-Web trailer block ("name: value\r\n" lines, names case-insensitive)
 * into |st| (grpc-status, percent-decoded grpc-message, ferry-error-code). Returns 0,
 * or -1 when there is no valid grpc-status.
 */
int ferry_rd_parse_grpc_trailers(const char *block, size_t len, ferry_rpc_status_t *st);

/** Percent-decodes |len| bytes into |out| (NUL-terminated, truncated to |size|). Invalid escapes are kept. */
void ferry_rd_percent_decode(const char *in, size_t len, char *out, size_t size);

/**
 * Extracts `reason` (field 1) from a serialized google.rpc.ErrorInfo into |out|.
 * Returns 0, or -1 when absent or malformed.
 */
int ferry_rd_error_info_reason(const uint8_t *pb, size_t len, char *out, size_t size);

#endif
