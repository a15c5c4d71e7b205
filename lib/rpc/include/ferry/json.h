/**
 * @file json.h
 * The canonical proto3 JSON mapping over protobuf-c descriptors, using jansson for
 * tokenizing and writing.
 *
 * Output: lowerCamelCase names (the json_name protoc computed), fields with default
 * values omitted, 64-bit integers as strings, enums by name, bytes as standard base64,
 * well-known types (Timestamp, Duration, Empty, the wrappers) in their special forms.
 * Input also accepts: original proto field names, 64-bit integers as numbers, enums as
 * numbers, bytes in either base64 alphabet with or without padding, `null` for a field
 * (= default). Unknown fields, wrong types, out-of-range numbers, unknown enum names and
 * invalid base64 are errors (FERRY_E_INVALID_ARG naming the field path, e.g.
 * "field 'task.stateCode': expected integer").
 *
 * Thread-safe after registration.
 */
#ifndef FERRY_JSON_H
#define FERRY_JSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "ferry/err.h"
#include "ferry/rpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Maximum nesting depth accepted when decoding (deeper input -> FERRY_E_INVALID_ARG). */
#define FERRY_JSON_MAX_DEPTH 64

/**
 * Registers the JSON side tables of one .proto file. Idempotent; call before serving
 * or calling (the RPC runtimes register the files listed in each service descriptor).
 * Messages with no registered table still work: names are derived from the proto
 * field names with protoc's lowerCamelCase rule, and no field is treated as a map.
 */
void ferry_json_register_file(const ferry_json_file_info_t *info);

/**
 * Encodes |msg| as JSON into a new NUL-terminated buffer (*out, free() it) of
 * *out_len bytes (out_len may be NULL). Compact (no whitespace) unless |pretty|.
 */
ferry_err_code_t ferry_json_encode(const ProtobufCMessage *msg, int pretty, char **out, size_t *out_len,
                                   ferry_err_t *err);

/**
 * Decodes |len| bytes of JSON text into a new message of type |desc|.
 * On success *out owns a message allocated exactly as protobuf-c's unpacker would,
 * so free it with protobuf_c_message_free_unpacked(*out, NULL). On failure *out is
 * NULL and nothing is leaked.
 */
ferry_err_code_t ferry_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                                   ProtobufCMessage **out, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
