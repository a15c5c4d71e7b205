/*
 * Internals shared by the JSON codec's files: the side-table registry, the error
 * context with its field path, and the well-known-type helpers.
 */
#ifndef FERRY_JSON_INTERNAL_H
#define FERRY_JSON_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ferry/err.h"
#include "ferry/json.h"

/*
 * Scratch window (scratch.c): between begin and end, jansson allocations on this
 * thread come from a per-thread bump allocator released at the outermost end. No
 * jansson value created inside may outlive the window. Windows nest.
 */
void ferry_json_scratch_begin(void);
void ferry_json_scratch_end(void);

/* Longest field name we derive a JSON name for; protoc's names are far shorter. */
#define JSON_NAME_MAX 128

/* Longest field path kept in error messages; deeper paths end with "...". */
#define JSON_PATH_MAX 200

/* Registry entry: what protobuf-c's descriptor lacks, precomputed per field. */
typedef struct json_msg {
    const ProtobufCMessageDescriptor *desc;
    int is_map_entry;
    const char **json_names; /* aligned with desc->fields; owned by the registry */
} json_msg_t;

/* The registered facts for |desc|, or NULL when its file was never registered. */
const json_msg_t *ferry_json_lookup(const ProtobufCMessageDescriptor *desc);

/*
 * JSON name of field |i| of |desc|: the registered json_name, else protoc's
 * lowerCamelCase of the proto name written into |buf|.
 */
const char *ferry_json_field_name(const json_msg_t *m, const ProtobufCMessageDescriptor *desc, unsigned i,
                                  char buf[JSON_NAME_MAX]);

/* protoc's ToJsonName: drop '_' and upper-case the letter after it. */
void ferry_json_camel_name(const char *proto_name, char buf[JSON_NAME_MAX]);

/* 1 if |f| is a map<K,V> field (repeated message whose type is a registered map entry). */
int ferry_json_field_is_map(const ProtobufCFieldDescriptor *f);

/* Well-known types with a special JSON form, recognised by full name. */
typedef enum json_wkt {
    WKT_NONE = 0,
    WKT_TIMESTAMP,
    WKT_DURATION,
    WKT_WRAPPER, /* DoubleValue, Int64Value, StringValue, ... : the bare value */
    WKT_FIELD_MASK,
    WKT_UNSUPPORTED /* Any, Struct, Value, ListValue: refused with a clear error */
} json_wkt_t;

json_wkt_t ferry_json_wkt_of(const ProtobufCMessageDescriptor *desc);

/* Error context: the error object and the path of the field being processed. */
typedef struct json_ctx {
    ferry_err_t *err;
    char path[JSON_PATH_MAX + 4];
    size_t path_len;
    int depth;
    int precision; /* encoder: digits the widest real needs to round-trip */
} json_ctx_t;

/* Appends ".name" (or "name" at the root) to the path; returns the length to restore. */
size_t ferry_json_path_push_name(json_ctx_t *c, const char *name);
/* Appends "[i]". */
size_t ferry_json_path_push_index(json_ctx_t *c, size_t i);
/* Appends "["key"]". */
size_t ferry_json_path_push_key(json_ctx_t *c, const char *key);
void ferry_json_path_pop(json_ctx_t *c, size_t len);

/* Sets c->err to |code| with "field 'PATH': <message>" (or just the message at the root). */
ferry_err_code_t ferry_json_fail(json_ctx_t *c, ferry_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Timestamp bounds: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z. */
#define JSON_TS_MIN_SECONDS (-62135596800LL)
#define JSON_TS_MAX_SECONDS 253402300799LL
/* Duration bounds: +-10000 years, as the spec states. */
#define JSON_DUR_MAX_SECONDS 315576000000LL

/* RFC 3339 text ("1972-01-01T10:00:20.021Z") of a timestamp; -1 if out of range. Needs 32 bytes. */
int ferry_json_format_timestamp(int64_t seconds, int32_t nanos, char out[40]);
/* Parses RFC 3339 with 'Z' or a +-hh:mm offset; -1 on bad syntax or range. */
int ferry_json_parse_timestamp(const char *s, int64_t *seconds, int32_t *nanos);
/* "1.5s", "-0.000001s"; -1 if out of range or the signs disagree. */
int ferry_json_format_duration(int64_t seconds, int32_t nanos, char out[40]);
int ferry_json_parse_duration(const char *s, int64_t *seconds, int32_t *nanos);

#endif
