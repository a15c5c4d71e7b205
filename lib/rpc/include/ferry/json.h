/**
 * @file json.h
 * The canonical proto3 JSON mapping over protobuf-c descriptors, using jansson for
 * tokenizing and writing.
 *
 * Output: lowerCamelCase names (the json_name protoc computed), fields with default
 * values omitted (proto3 implicit presence: 0, "", false, empty bytes/repeated/map;
 * -0.0 is not a default), message fields present when set, a oneof member present
 * when selected even with a default value, 64-bit integers as strings, enums by name
 * (numbers without a name as numbers), bytes as standard padded base64, NaN/Infinity/
 * -Infinity as strings, other floats with the fewest digits that read back exactly
 * (jansson prints all reals of one document with one precision, the largest any value
 * needs), map keys as strings ("true"/"false" for bool keys).
 * Well-known types: Timestamp (RFC 3339, 'Z', 0/3/6/9 fraction digits, years 0001..9999),
 * Duration ("-1.500s", at most 315576000000 s), the nine wrappers as their bare value,
 * FieldMask ("a.fooBar,b"), Empty as {}. Any, Struct, Value and ListValue are refused
 * with FERRY_E_UNSUPPORTED.
 *
 * Input also accepts: original proto field names, 64-bit integers as numbers, integers
 * as strings and in exponent/fraction form when integral ("1e3", "2.0"), enums as
 * numbers (any int32: proto3 enums are open), bytes in either base64 alphabet with or
 * without padding, timestamps with a +-hh:mm offset, floats as numeric strings, `null`
 * for a field (= default; not selected for a oneof member). Integers beyond jansson's
 * long long (e.g. uint64 max as a bare number) are supported: the decoder re-parses with
 * such a token turned into a marked string, at most 16 per document (more -> error).
 * Rejected with FERRY_E_INVALID_ARG: invalid JSON or UTF-8, duplicate keys, "\u0000" in
 * strings (protobuf-c strings are NUL-terminated), unknown fields, a field given twice
 * (JSON and proto name), two members of one oneof, wrong JSON types, fractions or
 * out-of-range values for integer fields, out-of-range floats, unknown enum names,
 * invalid base64, bad timestamps/durations, null inside repeated fields or as a map
 * value, nesting deeper than FERRY_JSON_MAX_DEPTH. Every message names the field path,
 * e.g. "field 'items[2].count': expected an integer, got string \"x\"" or
 * "field 'labels[\"k\"]': ..."; JSON syntax errors give line and column instead.
 *
 * Thread-safe; registration may happen at any time (serialised by a mutex; lookups are
 * lock-free: published entries are immutable). Assumes the C locale for numbers (the process never calls
 * setlocale with a locale whose decimal point is not '.').
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

/** Maximum message nesting depth (the root counts as 1) for decoding and encoding;
 *  deeper -> FERRY_E_INVALID_ARG. */
#define FERRY_JSON_MAX_DEPTH 64

/**
 * Registers the JSON side tables of one .proto file. Idempotent; call before serving
 * or calling (the RPC runtimes register the files listed in each service descriptor).
 * Messages with no registered table still work: names are derived from the proto
 * field names with protoc's lowerCamelCase rule (a json_name option is then unknown),
 * and no field is treated as a map (map<K,V> reads/writes as [{"key":..,"value":..}]).
 * At most 4096 messages are registered; later ones use the fallback.
 */
void ferry_json_register_file(const ferry_json_file_info_t *info);

/**
 * Encodes |msg| as JSON into a new NUL-terminated buffer (*out, free() it) of
 * *out_len bytes (out_len may be NULL). Compact (no whitespace) unless |pretty|
 * (two-space indent). Errors: FERRY_E_INVALID_ARG for strings that are not valid UTF-8
 * and out-of-range Timestamp/Duration values, FERRY_E_UNSUPPORTED for Any/Struct/Value,
 * FERRY_E_NOMEM; the message names the field. On failure *out is NULL.
 */
ferry_err_code_t ferry_json_encode(const ProtobufCMessage *msg, int pretty, char **out, size_t *out_len,
                                   ferry_err_t *err);

/**
 * Decodes |len| bytes of JSON text into a new message of type |desc|.
 * On success *out owns a message allocated exactly as protobuf-c's unpacker would,
 * so free it with protobuf_c_message_free_unpacked(*out, NULL). On failure *out is
 * NULL and nothing is leaked. Errors: FERRY_E_INVALID_ARG (see above),
 * FERRY_E_UNSUPPORTED (Any, Struct, Value, ListValue), FERRY_E_NOMEM.
 */
ferry_err_code_t ferry_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                                   ProtobufCMessage **out, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
