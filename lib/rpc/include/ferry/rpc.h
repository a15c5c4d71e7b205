/**
 * @file rpc.h
 * Types shared by the RPC server runtime, the client runtime, the JSON codec and
 * the stubs emitted by protoc-gen-ferry: status codes, method tables, JSON name
 * side tables, and the Connect / gRPC-Web envelope framing.
 *
 * Nothing here does I/O: decoders take bytes and return results, so they can be
 * fuzzed and unit-tested directly.
 */
#ifndef FERRY_RPC_H
#define FERRY_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Status codes                                                              */
/* ------------------------------------------------------------------------- */

/** The 16 gRPC / Connect status codes, with gRPC's numbering. */
typedef enum ferry_rpc_code {
    FERRY_RPC_OK = 0,
    FERRY_RPC_CANCELED = 1,
    FERRY_RPC_UNKNOWN = 2,
    FERRY_RPC_INVALID_ARGUMENT = 3,
    FERRY_RPC_DEADLINE_EXCEEDED = 4,
    FERRY_RPC_NOT_FOUND = 5,
    FERRY_RPC_ALREADY_EXISTS = 6,
    FERRY_RPC_PERMISSION_DENIED = 7,
    FERRY_RPC_RESOURCE_EXHAUSTED = 8,
    FERRY_RPC_FAILED_PRECONDITION = 9,
    FERRY_RPC_ABORTED = 10,
    FERRY_RPC_OUT_OF_RANGE = 11,
    FERRY_RPC_UNIMPLEMENTED = 12,
    FERRY_RPC_INTERNAL = 13,
    FERRY_RPC_UNAVAILABLE = 14,
    FERRY_RPC_DATA_LOSS = 15,
    FERRY_RPC_UNAUTHENTICATED = 16
} ferry_rpc_code_t;

/** Connect's name of |code| ("invalid_argument"); "unknown" for out-of-range values. */
const char *ferry_rpc_code_name(ferry_rpc_code_t code);

/** Parses a Connect code name. Returns 0 and sets *out, or -1 if the name is unknown. */
int ferry_rpc_code_from_name(const char *name, ferry_rpc_code_t *out);

/** HTTP status Connect uses for an error with |code| (invalid_argument -> 400, ...). */
int ferry_rpc_code_to_http(ferry_rpc_code_t code);

/** Code a Connect client infers from an HTTP status when no error body came (400 -> internal...). */
ferry_rpc_code_t ferry_rpc_code_from_http(int http_status);

/** Maps a Ferry error code to the RPC status sent to peers (E_AUTH_INVALID -> unauthenticated, ...). */
ferry_rpc_code_t ferry_rpc_code_from_err(ferry_err_code_t code);

/**
 * A call's outcome as a client sees it: the RPC code, Ferry's application error code
 * name when the server sent one (e.g. "E_VERSION_DUPLICATE", else empty), and the
 * message. Zero-initialise.
 */
typedef struct ferry_rpc_status {
    ferry_rpc_code_t code;
    char app_code[48];
    char message[512];
} ferry_rpc_status_t;

/* ------------------------------------------------------------------------- */
/* Method tables (emitted by protoc-gen-ferry)                               */
/* ------------------------------------------------------------------------- */

typedef enum ferry_rpc_kind {
    FERRY_RPC_UNARY = 0,
    FERRY_RPC_SERVER_STREAMING = 1,
    FERRY_RPC_CLIENT_STREAMING = 2,
    FERRY_RPC_BIDI_STREAMING = 3 /**< described for completeness; not servable over h2o 2.2.5 */
} ferry_rpc_kind_t;

/** google.protobuf.MethodOptions.IdempotencyLevel, same numbering. */
typedef enum ferry_rpc_idempotency {
    FERRY_RPC_IDEMPOTENCY_UNKNOWN = 0,
    FERRY_RPC_NO_SIDE_EFFECTS = 1, /**< may be called with Connect GET; safe to retry */
    FERRY_RPC_IDEMPOTENT = 2       /**< safe to retry */
} ferry_rpc_idempotency_t;

/** One RPC method, as described by the IDL. */
typedef struct ferry_rpc_method {
    const char *path;    /**< "/ferry.v1.AgentService/CheckIn" */
    const char *service; /**< "ferry.v1.AgentService" */
    const char *name;    /**< "CheckIn" */
    ferry_rpc_kind_t kind;
    ferry_rpc_idempotency_t idempotency;
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
} ferry_rpc_method_t;

struct ferry_json_file_info;

/** One service: its methods in IDL order, and the JSON side tables of its file(s). */
typedef struct ferry_rpc_service_desc {
    const char *name; /**< "ferry.v1.AgentService" */
    size_t n_methods;
    const ferry_rpc_method_t *methods;
    /** JSON name tables for the messages this service uses (NULL-terminated list). */
    const struct ferry_json_file_info *const *json_files;
} ferry_rpc_service_desc_t;

/* ------------------------------------------------------------------------- */
/* JSON side tables (emitted by protoc-gen-ferry, consumed by json.h)        */
/* ------------------------------------------------------------------------- */

/** A field's JSON name as protoc computed it (json_name in FieldDescriptorProto). */
typedef struct ferry_json_field_info {
    uint32_t number;
    const char *json_name;
} ferry_json_field_info_t;

/** Per-message facts protobuf-c's descriptors lack. */
typedef struct ferry_json_msg_info {
    const ProtobufCMessageDescriptor *desc;
    int is_map_entry; /**< the synthetic `XxxEntry` message of a map<K,V> field */
    size_t n_fields;
    const ferry_json_field_info_t *fields;
} ferry_json_msg_info_t;

/** All messages of one .proto file (nested ones included). */
typedef struct ferry_json_file_info {
    const char *proto_file; /**< "ferry/v1/agent.proto" */
    size_t n_messages;
    const ferry_json_msg_info_t *messages;
} ferry_json_file_info_t;

/* ------------------------------------------------------------------------- */
/* Envelope framing (Connect streaming, gRPC-Web)                            */
/* ------------------------------------------------------------------------- */

#define FERRY_ENVELOPE_COMPRESSED 0x01u /**< payload is compressed with the negotiated encoding */
#define FERRY_ENVELOPE_END_STREAM 0x02u /**< Connect end-of-stream message (JSON) */
#define FERRY_ENVELOPE_TRAILER    0x80u /**< gRPC-Web trailer frame */
#define FERRY_ENVELOPE_HEADER_LEN 5

/** Writes the 5-byte prefix for a message of |len| bytes with |flags| into |out|. */
void ferry_envelope_write_header(uint8_t out[FERRY_ENVELOPE_HEADER_LEN], uint8_t flags, uint32_t len);

/** Result of ferry_envelope_next(). */
typedef enum ferry_envelope_status {
    FERRY_ENVELOPE_OK = 0,    /**< a complete envelope was parsed */
    FERRY_ENVELOPE_NEED_MORE, /**< |len| ends inside a header or payload */
    FERRY_ENVELOPE_TOO_LARGE, /**< the length prefix exceeds |max_len| (checked before anything else) */
} ferry_envelope_status_t;

/** One parsed envelope; |data| points into the caller's buffer. */
typedef struct ferry_envelope {
    uint8_t flags;
    uint32_t len;
    const uint8_t *data;
} ferry_envelope_t;

/**
 * Parses the envelope at the start of |buf|. On FERRY_ENVELOPE_OK fills |out| and sets
 * *consumed to 5 + payload length; otherwise *consumed is 0. Never reads past |len|.
 */
ferry_envelope_status_t ferry_envelope_next(const uint8_t *buf, size_t len, uint32_t max_len,
                                            ferry_envelope_t *out, size_t *consumed);

/* ------------------------------------------------------------------------- */
/* Binary (protobuf) input check                                             */
/* ------------------------------------------------------------------------- */

/** Maximum message nesting depth ferry_pb_check() accepts (the root counts as 1). */
#define FERRY_PB_MAX_DEPTH 64

/**
 * Checks the protobuf encoding of a |desc| message before protobuf_c_message_unpack():
 * protobuf-c 1.4.1 NUL-terminates strings (U+0000 would silently truncate the value) and
 * does not validate UTF-8 (which proto3 requires). Walks the wire bytes with the
 * descriptor, recursing into message fields (singular, repeated, map entries, oneof
 * members); unknown fields are skipped. Returns FERRY_OK, or FERRY_E_INVALID_ARG naming
 * the field path ("field 'payload.tags[1]': string contains U+0000 ...") for a string with
 * NUL or invalid UTF-8, nesting deeper than FERRY_PB_MAX_DEPTH, or malformed wire data.
 * Allocates nothing; linear in |len|.
 */
ferry_err_code_t ferry_pb_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                                ferry_err_t *err);

/**
 * True when |len| bytes are valid UTF-8 (no overlong forms, surrogates or code points
 * beyond U+10FFFF); U+0000 counts as valid only with |allow_nul|.
 */
bool ferry_utf8_valid(const uint8_t *s, size_t len, bool allow_nul);

/* ------------------------------------------------------------------------- */
/* Compression (gzip, the one encoding Ferry negotiates besides identity)     */
/* ------------------------------------------------------------------------- */

/** Gzip-compresses |len| bytes into a new buffer (*out, free()). */
ferry_err_code_t ferry_gzip_compress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
                                     ferry_err_t *err);

/**
 * Gunzips |len| bytes into a new buffer (*out, free()), refusing output over |max_out|
 * with FERRY_E_TOO_LARGE (decompression bombs) and corrupt input with FERRY_E_CORRUPT.
 * Memory grows with the actual output, never beyond max_out.
 */
ferry_err_code_t ferry_gzip_decompress(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                                       size_t *out_len, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
