/*
 * Canonical proto3 JSON -> message. jansson tokenizes into a tree; the tree is walked
 * reflectively and the message is built exactly as protobuf-c's unpacker allocates
 * it, so protobuf_c_message_free_unpacked() releases it, also half-built on error:
 * every allocation is linked into the message before anything else can fail.
 *
 * Integers jansson cannot hold (|n| > 2^63, e.g. uint64 max written as a number):
 * jansson stops with json_error_numeric_overflow at the end of the token. The token
 * is then wrapped into a string "\u0000<digits>" and the text parsed again (at most
 * MAX_BIG_NUMBERS times). User strings can never start with NUL here (a "\u0000"
 * escape anywhere in the input disables the rewrite, and the first pass rejects it),
 * so such a string is known to be a number and only numeric fields accept it.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/encoding.h"
#include "json_internal.h"

#define MAX_BIG_NUMBERS 16

typedef enum kind { K_NULL, K_BOOL, K_INT, K_REAL, K_BIGNUM, K_STRING, K_ARRAY, K_OBJECT } kind_t;

static ferry_err_code_t dec_message_into(json_ctx_t *c, const ProtobufCMessageDescriptor *desc,
                                         const json_t *j, ProtobufCMessage *msg);

static void *member(void *msg, unsigned offset)
{
    return (char *)msg + offset;
}

static kind_t kind_of(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return K_OBJECT;
    case JSON_ARRAY:
        return K_ARRAY;
    case JSON_STRING:
        return json_string_length(j) > 0 && json_string_value(j)[0] == '\0' ? K_BIGNUM : K_STRING;
    case JSON_INTEGER:
        return K_INT;
    case JSON_REAL:
        return K_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return K_BOOL;
    default:
        return K_NULL;
    }
}

static const char *kind_name(kind_t k)
{
    static const char *const names[] = {"null",   "boolean", "number", "number",
                                        "number", "string",  "array",  "object"};
    return names[k];
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
        return 4;
    }
}

/* ---- numbers ------------------------------------------------------------- */

/* The parts of a JSON number: -? int (. frac)? ([eE] [+-]? exp)? */
typedef struct num_text {
    int neg;
    const char *ip;
    size_t ip_len;
    const char *fp;
    size_t fp_len;
    long exp; /* clamped to +-100000: beyond that nothing is representable anyway */
} num_text_t;

/* Strict JSON number grammar over the whole string; 0 on success. */
static int scan_number(const char *s, num_text_t *nt)
{
    memset(nt, 0, sizeof(*nt));
    if (*s == '-') {
        nt->neg = 1;
        s++;
    }
    nt->ip = s;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return -1;
    nt->ip_len = (size_t)(s - nt->ip);
    if (*s == '.') {
        nt->fp = ++s;
        while (*s >= '0' && *s <= '9')
            s++;
        nt->fp_len = (size_t)(s - nt->fp);
        if (nt->fp_len == 0)
            return -1;
    }
    if (*s == 'e' || *s == 'E') {
        int eneg = 0;
        s++;
        if (*s == '+' || *s == '-')
            eneg = *s++ == '-';
        if (!(*s >= '0' && *s <= '9'))
            return -1;
        while (*s >= '0' && *s <= '9') {
            if (nt->exp < 100000)
                nt->exp = nt->exp * 10 + (*s - '0');
            s++;
        }
        if (eneg)
            nt->exp = -nt->exp;
    }
    return *s == '\0' ? 0 : -1;
}

typedef enum int_status { INT_OK, INT_NOT_INTEGER, INT_RANGE } int_status_t;

/* Digit |i| of the concatenation int-part ++ frac-part. */
static char digit_at(const num_text_t *nt, size_t i)
{
    return (char)(i < nt->ip_len ? nt->ip[i] : nt->fp[i - nt->ip_len]);
}

/*
 * Exact integer value of a number text, without going through a double, so
 * "18446744073709551615", "1e3" and "1.0e19" are all exact. |*mag| is the
 * magnitude; the sign is nt->neg.
 */
static int_status_t number_magnitude(const num_text_t *nt, uint64_t *mag)
{
    size_t total = nt->ip_len + nt->fp_len;
    size_t lo = 0, hi = total; /* significant digits are [lo, hi) */
    long e = nt->exp - (long)nt->fp_len;
    while (lo < hi && digit_at(nt, lo) == '0')
        lo++;
    while (hi > lo && digit_at(nt, hi - 1) == '0') {
        hi--;
        e++;
    }
    *mag = 0;
    if (lo == hi)
        return INT_OK; /* zero, whatever the exponent */
    if (e < 0)
        return INT_NOT_INTEGER; /* a non-zero digit sits after the decimal point */
    if ((long)(hi - lo) + e > 20)
        return INT_RANGE;
    uint64_t v = 0;
    for (size_t i = lo; i < hi; i++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(digit_at(nt, i) - '0'), &v))
            return INT_RANGE;
    }
    for (long k = 0; k < e; k++) {
        if (__builtin_mul_overflow(v, 10, &v))
            return INT_RANGE;
    }
    *mag = v;
    return INT_OK;
}

/* An integer from a JSON number, a string holding one, or a big-number token. */
static ferry_err_code_t get_integer(json_ctx_t *c, const json_t *j, int is_unsigned, int64_t *sv,
                                    uint64_t *uv)
{
    kind_t k = kind_of(j);
    const char *txt = NULL;
    int neg = 0;
    uint64_t mag = 0;

    if (k == K_INT) {
        json_int_t v = json_integer_value(j);
        neg = v < 0;
        mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    } else if (k == K_REAL) {
        double d = json_real_value(j);
        double a = d < 0 ? -d : d;
        /* 2^64 is an exact double: compare before converting (UB otherwise). */
        if (isfinite(d) && a >= 18446744073709551616.0)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "integer out of range: %.17g", d);
        /* Every double >= 2^52 is integral; below, the uint64 conversion is exact.
         * (No trunc(): ferry_rpc does not link libm.) */
        if (!isfinite(d) || (a < 4503599627370496.0 && (double)(uint64_t)a != a))
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an integer, got %.17g", d);
        neg = d < 0;
        mag = (uint64_t)a;
    } else if (k == K_BIGNUM || k == K_STRING) {
        num_text_t nt;
        txt = json_string_value(j) + (k == K_BIGNUM);
        if (scan_number(txt, &nt) != 0)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an integer, got string \"%.40s\"", txt);
        int_status_t st = number_magnitude(&nt, &mag);
        if (st == INT_NOT_INTEGER)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an integer, got %.40s", txt);
        if (st == INT_RANGE)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "integer out of range: %.40s", txt);
        neg = nt.neg && mag != 0;
    } else {
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an integer, got %s", kind_name(k));
    }
    if (is_unsigned) {
        if (neg)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "negative value for an unsigned integer");
        *uv = mag;
    } else {
        if ((!neg && mag > (uint64_t)INT64_MAX) || (neg && mag > (uint64_t)INT64_MAX + 1))
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "integer out of range for int64");
        *sv = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return FERRY_OK;
}

/* Stores an integer of field type |t| at |p|, range-checked for its width. */
static ferry_err_code_t dec_integer(json_ctx_t *c, ProtobufCType t, const json_t *j, void *p)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    int is_unsigned = t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_FIXED32 ||
                      t == PROTOBUF_C_TYPE_UINT64 || t == PROTOBUF_C_TYPE_FIXED64;
    ferry_err_code_t rc = get_integer(c, j, is_unsigned, &sv, &uv);
    if (rc != FERRY_OK)
        return rc;
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (sv < INT32_MIN || sv > INT32_MAX)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "integer %" PRId64 " out of range for int32", sv);
        *(int32_t *)p = (int32_t)sv;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (uv > UINT32_MAX)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "integer %" PRIu64 " out of range for uint32", uv);
        *(uint32_t *)p = (uint32_t)uv;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *(uint64_t *)p = uv;
        break;
    default:
        *(int64_t *)p = sv;
        break;
    }
    return FERRY_OK;
}

static ferry_err_code_t dec_real(json_ctx_t *c, const json_t *j, int is_float, void *p)
{
    kind_t k = kind_of(j);
    double d;
    if (k == K_INT) {
        d = (double)json_integer_value(j);
    } else if (k == K_REAL) {
        d = json_real_value(j);
    } else if (k == K_STRING || k == K_BIGNUM) {
        const char *s = json_string_value(j) + (k == K_BIGNUM);
        num_text_t nt;
        if (strcmp(s, "NaN") == 0) {
            d = NAN;
        } else if (strcmp(s, "Infinity") == 0) {
            d = INFINITY;
        } else if (strcmp(s, "-Infinity") == 0) {
            d = -INFINITY;
        } else if (scan_number(s, &nt) == 0) {
            errno = 0;
            d = strtod(s, NULL);
            if (errno == ERANGE && isinf(d))
                return ferry_json_fail(c, FERRY_E_INVALID_ARG, "number out of range: %.40s", s);
        } else {
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected a number, got string \"%.40s\"", s);
        }
    } else {
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected a number, got %s", kind_name(k));
    }
    if (is_float) {
        /* Values below the midpoint between FLT_MAX and 2^128 round to FLT_MAX;
         * converting anything larger is undefined, so refuse it. */
        if (isfinite(d) && (d < 0 ? -d : d) >= 0x1.ffffffp127)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "number out of range for float: %g", d);
        *(float *)p = (float)d;
    } else {
        *(double *)p = d;
    }
    return FERRY_OK;
}

/* ---- strings, bytes, enums ----------------------------------------------- */

static ferry_err_code_t dup_text(json_ctx_t *c, const char *s, size_t n, char **out)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
    memcpy(d, s, n);
    d[n] = '\0';
    *out = d;
    return FERRY_OK;
}

static ferry_err_code_t expect_string(json_ctx_t *c, const json_t *j, const char *what)
{
    kind_t k = kind_of(j);
    if (k != K_STRING)
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected %s, got %s", what, kind_name(k));
    return FERRY_OK;
}

static ferry_err_code_t dec_bytes(json_ctx_t *c, const json_t *j, ProtobufCBinaryData *bd)
{
    ferry_err_code_t rc = expect_string(c, j, "a base64 string");
    uint8_t *buf = NULL;
    if (rc != FERRY_OK)
        goto out;
    size_t len = json_string_length(j);
    if (len == 0)
        goto out; /* empty bytes: data stays NULL, as the unpacker leaves it */
    size_t cap = (len / 4 + 1) * 3;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    long n = ferry_b64_decode(json_string_value(j), len, buf, cap);
    if (n < 0) {
        rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "invalid base64");
        goto out;
    }
    bd->data = buf;
    bd->len = (size_t)n;
    buf = NULL;
out:
    free(buf);
    return rc;
}

static ferry_err_code_t dec_enum(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (kind_of(j) == K_STRING) {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
        if (ev == NULL)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "unknown value \"%.60s\" for enum %s",
                                   json_string_value(j), ed->name);
        *(int *)p = ev->value;
        return FERRY_OK;
    }
    /* proto3 enums are open: any int32 number is kept. */
    if (kind_of(j) == K_BOOL || kind_of(j) == K_ARRAY || kind_of(j) == K_OBJECT || kind_of(j) == K_NULL)
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an enum name or number, got %s",
                               kind_name(kind_of(j)));
    return dec_integer(c, PROTOBUF_C_TYPE_ENUM, j, p);
}

/* ---- values, repeated, maps ---------------------------------------------- */

/* Decodes one value of field |f| into the storage |p| (an element for repeated). */
static ferry_err_code_t dec_value(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
    ferry_err_code_t rc;
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
        return dec_real(c, j, 1, p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return dec_real(c, j, 0, p);
    case PROTOBUF_C_TYPE_BOOL:
        if (kind_of(j) != K_BOOL)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected a boolean, got %s",
                                   kind_name(kind_of(j)));
        *(protobuf_c_boolean *)p = json_is_true(j);
        return FERRY_OK;
    case PROTOBUF_C_TYPE_ENUM:
        return dec_enum(c, f, j, p);
    case PROTOBUF_C_TYPE_STRING:
        rc = expect_string(c, j, "a string");
        if (rc != FERRY_OK)
            return rc;
        /* The default pointer (protobuf_c_empty_string or a proto2 default) is never
         * freed, and each field is written once, so nothing is overwritten here. */
        return dup_text(c, json_string_value(j), json_string_length(j), (char **)p);
    case PROTOBUF_C_TYPE_BYTES:
        return dec_bytes(c, j, p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *md = f->descriptor;
        ProtobufCMessage *sub = malloc(md->sizeof_message);
        if (sub == NULL)
            return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        md->message_init(sub);
        *(ProtobufCMessage **)p = sub; /* linked first: the parent's free releases it */
        return dec_message_into(c, md, j, sub);
    }
    default:
        return dec_integer(c, f->type, j, p);
    }
}

static ferry_err_code_t dec_repeated(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                                     ProtobufCMessage *msg)
{
    if (kind_of(j) != K_ARRAY)
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an array, got %s", kind_name(kind_of(j)));
    size_t n = json_array_size(j);
    size_t *count = member(msg, f->quantifier_offset);
    char **arr = member(msg, f->offset);
    if (n == 0)
        return FERRY_OK;
    size_t sz = elem_size(f->type);
    *arr = calloc(n, sz);
    if (*arr == NULL)
        return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(j, i);
        size_t mark = ferry_json_path_push_index(c, i);
        ferry_err_code_t rc = FERRY_OK;
        if (kind_of(e) == K_NULL)
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "null is not allowed in a repeated field");
        else {
            /* Counted before decoding: a half-decoded element (a message) is freed too. */
            *count = i + 1;
            rc = dec_value(c, f, e, *arr + i * sz);
        }
        if (rc != FERRY_OK)
            return rc;
        ferry_json_path_pop(c, mark);
    }
    return FERRY_OK;
}

/* Map keys are JSON strings; convert to the key field's type. */
static ferry_err_code_t dec_map_key(json_ctx_t *c, const ProtobufCFieldDescriptor *kf, const char *key,
                                    void *p)
{
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING:
        return dup_text(c, key, strlen(key), (char **)p);
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(key, "true") == 0)
            *(protobuf_c_boolean *)p = 1;
        else if (strcmp(key, "false") == 0)
            *(protobuf_c_boolean *)p = 0;
        else
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "map key must be \"true\" or \"false\"");
        return FERRY_OK;
    default: {
        ferry_err_code_t rc = FERRY_OK;
        json_t *s = json_string_nocheck(key);
        if (s == NULL)
            return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        rc = dec_integer(c, kf->type, s, p);
        json_decref(s);
        return rc;
    }
    }
}

static ferry_err_code_t dec_map(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                                ProtobufCMessage *msg)
{
    if (kind_of(j) != K_OBJECT)
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an object (map), got %s",
                               kind_name(kind_of(j)));
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0];
    const ProtobufCFieldDescriptor *vf = &ed->fields[1];
    size_t n = json_object_size(j);
    size_t *count = member(msg, f->quantifier_offset);
    ProtobufCMessage ***arr = member(msg, f->offset);
    const char *key;
    const json_t *val;
    if (n == 0)
        return FERRY_OK;
    *arr = calloc(n, sizeof(ProtobufCMessage *));
    if (*arr == NULL)
        return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
    json_object_foreach((json_t *)j, key, val)
    {
        size_t mark = ferry_json_path_push_key(c, key);
        ProtobufCMessage *e = malloc(ed->sizeof_message);
        ferry_err_code_t rc;
        if (e == NULL)
            return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        ed->message_init(e);
        (*arr)[(*count)++] = e;
        rc = dec_map_key(c, kf, key, member(e, kf->offset));
        if (rc == FERRY_OK && kind_of(val) == K_NULL)
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "map value cannot be null");
        if (rc == FERRY_OK)
            rc = dec_value(c, vf, val, member(e, vf->offset));
        if (rc != FERRY_OK)
            return rc;
        ferry_json_path_pop(c, mark);
    }
    return FERRY_OK;
}

/* ---- well-known types ---------------------------------------------------- */

static ferry_err_code_t set_seconds_nanos(json_ctx_t *c, ProtobufCMessage *msg, int64_t s, int32_t n)
{
    const ProtobufCFieldDescriptor *fs = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    const ProtobufCFieldDescriptor *fn = protobuf_c_message_descriptor_get_field(msg->descriptor, 2);
    if (fs == NULL || fn == NULL || fs->type != PROTOBUF_C_TYPE_INT64 || fn->type != PROTOBUF_C_TYPE_INT32)
        return ferry_json_fail(c, FERRY_E_INTERNAL, "%s has an unexpected layout", msg->descriptor->name);
    *(int64_t *)member(msg, fs->offset) = s;
    *(int32_t *)member(msg, fn->offset) = n;
    return FERRY_OK;
}

/* "user.displayName,id" -> paths "user.display_name", "id". */
static ferry_err_code_t dec_field_mask(json_ctx_t *c, const json_t *j, ProtobufCMessage *msg)
{
    ferry_err_code_t rc = expect_string(c, j, "a field mask string");
    if (rc != FERRY_OK)
        return rc;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING || f->label != PROTOBUF_C_LABEL_REPEATED)
        return ferry_json_fail(c, FERRY_E_INTERNAL, "FieldMask has an unexpected layout");
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (len == 0)
        return FERRY_OK;
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += s[i] == ',';
    size_t *count = member(msg, f->quantifier_offset);
    char ***arr = member(msg, f->offset);
    *arr = calloc(n, sizeof(char *));
    if (*arr == NULL)
        return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
    const char *p = s;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        /* Each upper-case letter becomes "_" + lower case: at most twice as long. */
        char *out = malloc(plen * 2 + 1);
        if (out == NULL)
            return ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
        (*arr)[(*count)++] = out;
        size_t o = 0;
        for (size_t k = 0; k < plen; k++) {
            char ch = p[k];
            if (ch == '_')
                return ferry_json_fail(c, FERRY_E_INVALID_ARG, "field mask path '%.*s' is not lowerCamelCase",
                                       (int)(plen > 60 ? 60 : plen), p);
            if (ch >= 'A' && ch <= 'Z') {
                out[o++] = '_';
                ch = (char)(ch - 'A' + 'a');
            }
            out[o++] = ch;
        }
        out[o] = '\0';
        p = end ? end + 1 : p + plen;
    }
    return FERRY_OK;
}

static ferry_err_code_t dec_wkt(json_ctx_t *c, json_wkt_t wkt, const json_t *j, ProtobufCMessage *msg)
{
    ferry_err_code_t rc = FERRY_OK;
    int64_t s = 0;
    int32_t n = 0;
    switch (wkt) {
    case WKT_TIMESTAMP:
        rc = expect_string(c, j, "an RFC 3339 timestamp string");
        if (rc == FERRY_OK && ferry_json_parse_timestamp(json_string_value(j), &s, &n) != 0)
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG,
                                 "invalid timestamp \"%.40s\" (want RFC 3339 between years 0001 and 9999)",
                                 json_string_value(j));
        if (rc == FERRY_OK)
            rc = set_seconds_nanos(c, msg, s, n);
        return rc;
    case WKT_DURATION:
        rc = expect_string(c, j, "a duration string like \"1.5s\"");
        if (rc == FERRY_OK && ferry_json_parse_duration(json_string_value(j), &s, &n) != 0)
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG,
                                 "invalid duration \"%.40s\" (want e.g. \"-1.5s\", at most %llds)",
                                 json_string_value(j), (long long)JSON_DUR_MAX_SECONDS);
        if (rc == FERRY_OK)
            rc = set_seconds_nanos(c, msg, s, n);
        return rc;
    case WKT_WRAPPER: {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
        if (f == NULL)
            return ferry_json_fail(c, FERRY_E_INTERNAL, "%s has no field 1", msg->descriptor->name);
        if (kind_of(j) == K_NULL)
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected a value, got null");
        return dec_value(c, f, j, member(msg, f->offset));
    }
    case WKT_FIELD_MASK:
        return dec_field_mask(c, j, msg);
    default:
        return ferry_json_fail(c, FERRY_E_UNSUPPORTED, "%s is not supported in JSON", msg->descriptor->name);
    }
}

/* ---- messages ------------------------------------------------------------ */

/* Index of the field named |key| (JSON name or proto name), or -1. */
static int find_field(const ProtobufCMessageDescriptor *desc, const json_msg_t *reg, const char *key)
{
    for (unsigned i = 0; i < desc->n_fields; i++) {
        char buf[JSON_NAME_MAX];
        if (strcmp(key, ferry_json_field_name(reg, desc, i, buf)) == 0 ||
            strcmp(key, desc->fields[i].name) == 0)
            return (int)i;
    }
    return -1;
}

static ferry_err_code_t dec_field(json_ctx_t *c, const ProtobufCFieldDescriptor *f, const json_t *val,
                                  ProtobufCMessage *msg)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return ferry_json_field_is_map(f) ? dec_map(c, f, val, msg) : dec_repeated(c, f, val, msg);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *oneof_case = member(msg, f->quantifier_offset);
        if (*oneof_case != 0) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(msg->descriptor, *oneof_case);
            return ferry_json_fail(c, FERRY_E_INVALID_ARG, "oneof already set by field '%s'",
                                   other ? other->name : "?");
        }
        /* Set before the value: free_unpacked only looks at the selected member, and
         * its storage is still zero if decoding fails. */
        *oneof_case = f->id;
    }
    ferry_err_code_t rc = dec_value(c, f, val, member(msg, f->offset));
    if (rc == FERRY_OK && f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0 &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)member(msg, f->quantifier_offset) = 1;
    return rc;
}

static ferry_err_code_t dec_fields(json_ctx_t *c, const ProtobufCMessageDescriptor *desc, const json_t *j,
                                   ProtobufCMessage *msg)
{
    ferry_err_code_t rc = FERRY_OK;
    unsigned char seen_small[64];
    unsigned char *seen = seen_small;
    const json_msg_t *reg = ferry_json_lookup(desc);
    const char *key;
    const json_t *val;

    if (kind_of(j) != K_OBJECT) {
        rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "expected an object (%s), got %s", desc->name,
                             kind_name(kind_of(j)));
        goto out;
    }
    if (desc->n_fields > sizeof(seen_small)) {
        seen = calloc(desc->n_fields, 1);
        if (seen == NULL) {
            rc = ferry_json_fail(c, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
    } else {
        memset(seen_small, 0, sizeof(seen_small));
    }
    json_object_foreach((json_t *)j, key, val)
    {
        size_t mark = ferry_json_path_push_name(c, key);
        int idx = find_field(desc, reg, key);
        if (idx < 0) {
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "unknown field for %s", desc->name);
            goto out;
        }
        /* "fooBar" and "foo_bar" name the same field. */
        if (seen[idx]) {
            rc = ferry_json_fail(c, FERRY_E_INVALID_ARG, "field given twice (JSON name and proto name)");
            goto out;
        }
        seen[idx] = 1;
        /* null means "default": leave the field as message_init set it. */
        if (kind_of(val) != K_NULL) {
            rc = dec_field(c, &desc->fields[idx], val, msg);
            if (rc != FERRY_OK)
                goto out;
        }
        ferry_json_path_pop(c, mark);
    }
out:
    if (seen != seen_small)
        free(seen);
    return rc;
}

static ferry_err_code_t dec_message_into(json_ctx_t *c, const ProtobufCMessageDescriptor *desc,
                                         const json_t *j, ProtobufCMessage *msg)
{
    ferry_err_code_t rc;
    if (c->depth >= FERRY_JSON_MAX_DEPTH)
        return ferry_json_fail(c, FERRY_E_INVALID_ARG, "nesting deeper than %d messages",
                               FERRY_JSON_MAX_DEPTH);
    c->depth++;
    json_wkt_t wkt = ferry_json_wkt_of(desc);
    rc = wkt != WKT_NONE ? dec_wkt(c, wkt, j, msg) : dec_fields(c, desc, j, msg);
    c->depth--;
    return rc;
}

/* ---- parsing ------------------------------------------------------------- */

static int has_nul_escape(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] == '\\' && memcmp(s + i + 1, "u0000", 5) == 0)
            return 1;
    }
    return 0;
}

/* Wraps the number token ending at |end| into "\u0000<token>"; NULL if it is not one. */
static char *wrap_big_number(const char *text, size_t len, size_t end, size_t *new_len)
{
    static const char open[] = "\"\\u0000";
    char tok[64];
    size_t start = end;
    if (end > len)
        return NULL;
    while (start > 0 && end - start < sizeof(tok) - 1 && strchr("0123456789+-.eE", text[start - 1]) != NULL &&
           text[start - 1] != '\0')
        start--;
    if (start == end || end - start >= sizeof(tok) - 1)
        return NULL;
    memcpy(tok, text + start, end - start);
    tok[end - start] = '\0';
    num_text_t nt;
    if (scan_number(tok, &nt) != 0)
        return NULL;
    char *out = malloc(len + sizeof(open) - 1 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    memcpy(out, text, start);
    o = start;
    memcpy(out + o, open, sizeof(open) - 1);
    o += sizeof(open) - 1;
    memcpy(out + o, tok, end - start);
    o += end - start;
    out[o++] = '"';
    memcpy(out + o, text + end, len - end);
    o += len - end;
    *new_len = o;
    return out;
}

static ferry_err_code_t parse(json_ctx_t *c, const char *text, size_t len, json_t **out)
{
    ferry_err_code_t rc = FERRY_OK;
    char *copy = NULL;
    const char *cur = text;
    size_t cur_len = len;
    size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
    int nul_escape = has_nul_escape(text, len);

    for (int round = 0;; round++) {
        json_error_t je;
        *out = json_loadb(cur, cur_len, flags, &je);
        if (*out != NULL)
            break;
        if (json_error_code(&je) == json_error_numeric_overflow && !nul_escape && round < MAX_BIG_NUMBERS &&
            je.position >= 0) {
            size_t nl = 0;
            char *next = wrap_big_number(cur, cur_len, (size_t)je.position, &nl);
            if (next != NULL) {
                free(copy);
                copy = next;
                cur = copy;
                cur_len = nl;
                flags |= JSON_ALLOW_NUL;
                continue;
            }
        }
        rc = ferry_err_set(c->err, FERRY_E_INVALID_ARG, "invalid JSON at line %d column %d: %s", je.line,
                           je.column, je.text);
        goto out;
    }
out:
    free(copy);
    return rc;
}

ferry_err_code_t ferry_json_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                                   ProtobufCMessage **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_ctx_t c = {.err = err};
    json_t *root = NULL;
    ProtobufCMessage *msg = NULL;

    ferry_json_scratch_begin();
    *out = NULL;
    if (desc == NULL || (json == NULL && len > 0)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "no descriptor or input to decode");
        goto out;
    }
    rc = parse(&c, json ? json : "", len, &root);
    if (rc != FERRY_OK)
        goto out;
    msg = malloc(desc->sizeof_message);
    if (msg == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    desc->message_init(msg);
    rc = dec_message_into(&c, desc, root, msg);
    if (rc != FERRY_OK)
        goto out;
    *out = msg;
    msg = NULL;
out:
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, NULL);
    json_decref(root);
    ferry_json_scratch_end();
    return rc;
}
