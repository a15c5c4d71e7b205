/*
 * Message -> canonical proto3 JSON. Builds a jansson tree reflectively from the
 * protobuf-c descriptors and lets jansson write it.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/encoding.h"
#include "json_internal.h"

static ferry_err_code_t enc_message(json_ctx_t *c, const ProtobufCMessage *msg,
                                    const ProtobufCMessageDescriptor *desc, json_t **out);

static const void *member(const void *msg, unsigned offset)
{
    return (const char *)msg + offset;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4; /* 32-bit ints, float, enum (protobuf-c forces int-sized enums) */
    }
}

/* Strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF): jansson
 * needs valid UTF-8, and a clear error beats a NULL from json_string(). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

static ferry_err_code_t new_string(json_ctx_t *c, const char *s, size_t n, json_t **out)
{
    if (!utf8_valid((const unsigned char *)s, n))
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "string is not valid UTF-8");
    *out = json_stringn_nocheck(s, n);
    return *out ? FERRY_OK : ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
}

/*
 * A float or double as a JSON number with the fewest digits that read back as the
 * same value ("0.1", not jansson's "%.17g" "0.10000000000000001"). jansson prints
 * every real of a document with one precision, so the encoder remembers the largest
 * precision any value needed and dumps with it: more digits still round-trip.
 */
static ferry_err_code_t new_real(json_ctx_t *c, double d, int is_float, json_t **out)
{
    if (isnan(d))
        *out = json_string("NaN");
    else if (isinf(d))
        *out = json_string(d > 0 ? "Infinity" : "-Infinity");
    else {
        char buf[40];
        int p;
        double v = d;
        for (p = 1; p <= 17; p++) {
            snprintf(buf, sizeof(buf), "%.*g", p, d);
            v = strtod(buf, NULL);
            if (is_float ? (float)v == (float)d : v == d)
                break;
        }
        if (p > 17)
            p = 17;
        if (p > c->precision)
            c->precision = p;
        /* For a float, |v| is the double nearest the short decimal (1.1f -> 1.1). */
        *out = json_real(v);
    }
    return *out ? FERRY_OK : ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
}

/* Decimal text of |v| (negative if |neg|) into |buf| (>= 21 bytes); returns the length.
 * snprintf costs more than the rest of writing a small message's integer field. */
static size_t u64_text(uint64_t v, bool neg, char *buf)
{
    char tmp[24];
    size_t n = 0, len = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (neg)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

static size_t i64_text(int64_t v, char *buf)
{
    return v < 0 ? u64_text((uint64_t)0 - (uint64_t)v, true, buf) : u64_text((uint64_t)v, false, buf);
}

/* One value of field |f| stored at |p| (an element, for repeated fields). */
static ferry_err_code_t enc_value(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const void *p,
                                  json_t **out)
{
    char buf[32];
    *out = NULL;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *out = json_integer(*(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *out = json_integer(*(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        /* 64-bit integers are strings: JavaScript numbers lose precision past 2^53. */
        *out = json_stringn_nocheck(buf, i64_text(*(const int64_t *)p, buf));
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *out = json_stringn_nocheck(buf, u64_text(*(const uint64_t *)p, false, buf));
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        return new_real(c, *(const float *)p, 1, out);
    case PROTOBUF_C_TYPE_DOUBLE:
        return new_real(c, *(const double *)p, 0, out);
    case PROTOBUF_C_TYPE_BOOL:
        *out = json_boolean(*(const protobuf_c_boolean *)p);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        /* proto3 enums are open: a number with no name goes out as the number. */
        *out = ev ? json_string(ev->name) : json_integer(v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (s == NULL)
            s = "";
        return new_string(c, s, strlen(s), out);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        char *b64 = malloc(FERRY_B64_ENCODED_SIZE(bd->len));
        if (b64 == NULL)
            break;
        size_t n = ferry_b64_encode(bd->data, bd->len, b64, 0, 1);
        *out = json_stringn_nocheck(b64, n);
        free(b64);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return enc_message(c, *(ProtobufCMessage *const *)p, f->descriptor, out);
    }
    return *out ? FERRY_OK : ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
}

/* Whether a singular or repeated field goes out (proto3: only non-default values). */
static int field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *p = member(msg, f->offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)member(msg, f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)member(msg, f->quantifier_offset) > 0;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return 1;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *)p != NULL;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)p;
        if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
            return s != NULL && s != f->default_value;
        return s != NULL && s[0] != '\0';
    }
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)member(msg, f->quantifier_offset);
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)p)->len > 0;
    /* Implicit presence: compare the bits, so -0.0 (bits set) is emitted like the
     * binary encoder does. */
    static const unsigned char zero[8];
    return memcmp(p, zero, elem_size(f->type)) != 0;
}

static ferry_err_code_t map_key_text(json_ctx_t *c, const ProtobufCFieldDescriptor *kf, const void *p,
                                     char buf[32], const char **key)
{
    *key = buf;
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING:
        *key = *(char *const *)p ? *(char *const *)p : "";
        if (!utf8_valid((const unsigned char *)*key, strlen(*key)))
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "map key is not valid UTF-8");
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *key = *(const protobuf_c_boolean *)p ? "true" : "false";
        break;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        i64_text(*(const int32_t *)p, buf);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        u64_text(*(const uint32_t *)p, false, buf);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        i64_text(*(const int64_t *)p, buf);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        u64_text(*(const uint64_t *)p, false, buf);
        break;
    default:
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "map key type %d is not allowed", (int)kf->type);
    }
    return FERRY_OK;
}

static ferry_err_code_t enc_map(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg,
                                json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *obj = NULL;
    json_t *v = NULL;
    size_t n = *(const size_t *)member(msg, f->quantifier_offset);
    ProtobufCMessage *const *entries = *(ProtobufCMessage *const *const *)member(msg, f->offset);
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0];
    const ProtobufCFieldDescriptor *vf = &ed->fields[1];

    obj = json_object();
    if (obj == NULL) {
        rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessage *e = entries[i];
        char buf[32];
        const char *key;
        if (e == NULL)
            continue;
        rc = map_key_text(c, kf, member(e, kf->offset), buf, &key);
        if (rc != FERRY_OK)
            goto out;
        size_t mark = ferry_json_path_push_key(c, key);
        rc = enc_value(c, vf, member(e, vf->offset), &v);
        ferry_json_path_pop(c, mark);
        if (rc != FERRY_OK)
            goto out;
        /* Repeated keys in the wire form: the last one wins, as in the binary format. */
        if (json_object_set_new_nocheck(obj, key, v) != 0) {
            v = NULL;
            rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        v = NULL;
    }
    *out = obj;
    obj = NULL;
out:
    json_decref(obj);
    return rc;
}

static ferry_err_code_t enc_repeated(json_ctx_t *c, const ProtobufCFieldDescriptor *f,
                                     const ProtobufCMessage *msg, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *arr = NULL;
    json_t *v = NULL;
    size_t n = *(const size_t *)member(msg, f->quantifier_offset);
    const char *base = *(const char *const *)member(msg, f->offset);
    size_t sz = elem_size(f->type);

    arr = json_array();
    if (arr == NULL) {
        rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t mark = ferry_json_path_push_index(c, i);
        rc = enc_value(c, f, base + i * sz, &v);
        ferry_json_path_pop(c, mark);
        if (rc != FERRY_OK)
            goto out;
        if (json_array_append_new(arr, v) != 0) {
            rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = arr;
    arr = NULL;
out:
    json_decref(arr);
    return rc;
}

/* seconds (field 1, int64) and nanos (field 2, int32) of a Timestamp or Duration. */
static ferry_err_code_t seconds_nanos(json_ctx_t *c, const ProtobufCMessage *msg, int64_t *s, int32_t *n)
{
    const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    const ProtobufCFieldDescriptor *fn = protobuf_c_message_descriptor_get_field(msg->descriptor, 2);
    if (fs == NULL || fn == NULL || fs->type != PROTOBUF_C_TYPE_INT64 || fn->type != PROTOBUF_C_TYPE_INT32)
        return ferry_json_fail(c, FERRY_E_INTERNAL, "%s has an unexpected layout", msg->descriptor->name);
    *s = *(const int64_t *)member(msg, fs->offset);
    *n = *(const int32_t *)member(msg, fn->offset);
    return FERRY_OK;
}

/* FieldMask: paths joined by ',' with each path's segments in lowerCamelCase. */
static ferry_err_code_t enc_field_mask(json_ctx_t *c, const ProtobufCMessage *msg, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    char *buf = NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label != PROTOBUF_C_LABEL_REPEATED) {
        rc = ferry_json_fail(c, FERRY_E_INTERNAL, "FieldMask has an unexpected layout");
        goto out;
    }
    size_t n = *(const size_t *)member(msg, f->quantifier_offset);
    char *const *paths = *(char *const *const *)member(msg, f->offset);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(paths[i]) + 1;
    buf = malloc(total);
    if (buf == NULL) {
        rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf[len++] = ',';
        int upper = 0;
        for (const char *p = paths[i]; *p; p++) {
            /* Upper case or "_<digit>" could not come back to the same snake_case path. */
            if ((*p >= 'A' && *p <= 'Z') || (upper && !(*p >= 'a' && *p <= 'z'))) {
                rc = ferry_json_fail(c, FERRY_E_INVALID_ARG,
                                     "field mask path '%.60s' has no lowerCamelCase form", paths[i]);
                goto out;
            }
            if (*p == '_') {
                upper = 1;
                continue;
            }
            buf[len++] = (char)(upper ? *p - 'a' + 'A' : *p);
            upper = 0;
        }
    }
    rc = new_string(c, buf, len, out);
out:
    free(buf);
    return rc;
}

static ferry_err_code_t enc_wkt(json_ctx_t *c, json_wkt_t wkt, const ProtobufCMessage *msg, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    char text[40];
    int64_t s = 0;
    int32_t n = 0;
    switch (wkt) {
    case WKT_TIMESTAMP:
        rc = seconds_nanos(c, msg, &s, &n);
        if (rc != FERRY_OK)
            break;
        if (ferry_json_format_timestamp(s, n, text) != 0)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG,
                                   "timestamp out of range (seconds %" PRId64 ", nanos %" PRId32 ")", s, n);
        return new_string(c, text, strlen(text), out);
    case WKT_DURATION:
        rc = seconds_nanos(c, msg, &s, &n);
        if (rc != FERRY_OK)
            break;
        if (ferry_json_format_duration(s, n, text) != 0)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG,
                                   "duration out of range (seconds %" PRId64 ", nanos %" PRId32 ")", s, n);
        return new_string(c, text, strlen(text), out);
    case WKT_WRAPPER: {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
        if (f == NULL)
            return ferry_json_fail(c, FERRY_E_INTERNAL, "%s has no field 1", msg->descriptor->name);
        /* A present wrapper always carries its value, even the default one. */
        return enc_value(c, f, member(msg, f->offset), out);
    }
    case WKT_FIELD_MASK:
        return enc_field_mask(c, msg, out);
    default:
        return ferry_json_fail(c, FERRY_E_UNSUPPORTED, "%s is not supported in JSON", msg->descriptor->name);
    }
    return rc;
}

static ferry_err_code_t enc_fields(json_ctx_t *c, const ProtobufCMessage *msg, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    const json_msg_t *reg = ferry_json_lookup(desc);
    json_t *obj = NULL;
    json_t *v = NULL;

    obj = json_object();
    if (obj == NULL) {
        rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (!field_present(msg, f))
            continue;
        char namebuf[JSON_NAME_MAX];
        const char *name = ferry_json_field_name(reg, desc, i, namebuf);
        size_t mark = ferry_json_path_push_name(c, name);
        if (f->label != PROTOBUF_C_LABEL_REPEATED)
            rc = enc_value(c, f, member(msg, f->offset), &v);
        else if (ferry_json_field_is_map(f))
            rc = enc_map(c, f, msg, &v);
        else
            rc = enc_repeated(c, f, msg, &v);
        ferry_json_path_pop(c, mark);
        if (rc != FERRY_OK)
            goto out;
        if (json_object_set_new_nocheck(obj, name, v) != 0) {
            rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        v = NULL;
    }
    *out = obj;
    obj = NULL;
out:
    json_decref(obj);
    return rc;
}

static ferry_err_code_t enc_message(json_ctx_t *c, const ProtobufCMessage *msg,
                                    const ProtobufCMessageDescriptor *desc, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    ProtobufCMessage *empty = NULL;

    if (c->depth >= FERRY_JSON_MAX_DEPTH) {
        rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "nesting deeper than %d messages", FERRY_JSON_MAX_DEPTH);
        goto out;
    }
    c->depth++;
    if (msg == NULL) {
        /* A selected oneof member or map value with no message: encode a default
         * instance (init allocates nothing). */
        empty = malloc(desc->sizeof_message);
        if (empty == NULL) {
            rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
            goto out_depth;
        }
        desc->message_init(empty);
        msg = empty;
    }
    json_wkt_t wkt = ferry_json_wkt_of(desc);
    rc = wkt != WKT_NONE ? enc_wkt(c, wkt, msg, out) : enc_fields(c, msg, out);
out_depth:
    c->depth--;
out:
    free(empty);
    return rc;
}

/* json_dump_callback sink: a malloc'ed buffer that doubles as it fills. */
typedef struct dump_buf {
    char *data;
    size_t len, cap;
} dump_buf_t;

static int dump_cb(const char *buf, size_t size, void *data)
{
    dump_buf_t *d = data;
    if (size >= SIZE_MAX / 2 - d->len)
        return -1;
    if (d->len + size + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 256;
        while (cap < d->len + size + 1)
            cap *= 2;
        char *n = realloc(d->data, cap);
        if (n == NULL)
            return -1;
        d->data = n;
        d->cap = cap;
    }
    memcpy(d->data + d->len, buf, size);
    d->len += size;
    d->data[d->len] = '\0';
    return 0;
}

ferry_err_code_t ferry_json_encode(const ProtobufCMessage *msg, int pretty, char **out, size_t *out_len,
                                   ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_ctx_t c = {.err = err};
    json_t *root = NULL;
    dump_buf_t d = {0};

    ferry_json_scratch_begin();
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (msg == NULL || msg->descriptor == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "no message to encode");
        goto out;
    }
    rc = enc_message(&c, msg, msg->descriptor, &root);
    if (rc != FERRY_OK)
        goto out;
    size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT) |
                   JSON_REAL_PRECISION(c.precision > 0 ? c.precision : 17);
    /* Written into our own buffer: anything jansson allocates here is scratch. */
    if (json_dump_callback(root, dump_cb, &d, flags) != 0 || dump_cb("", 0, &d) != 0) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory writing JSON");
        goto out;
    }
    *out = d.data;
    d.data = NULL;
    if (out_len)
        *out_len = d.len;
out:
    free(d.data);
    json_decref(root);
    ferry_json_scratch_end();
    return rc;
}
