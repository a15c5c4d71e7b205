#include "response_decoder_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ferry/encoding.h"
#include "ferry/json.h"

#define DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u)

typedef enum body_kind {
    BODY_UNDECIDED = 0,
    BODY_ERROR,  /* non-200: keep (some of) the body for the Connect error JSON */
    BODY_UNARY,  /* Connect unary success: one raw message */
    BODY_FRAMES, /* Connect streaming / gRPC-Web envelopes */
    BODY_IGNORE  /* gRPC-Web trailers-only: status already in the headers */
} body_kind_t;

struct ferry_rd {
    ferry_rd_config_t cfg;

    /* Response head. */
    int http_status;
    bool body_started;
    char content_type[128];
    char content_encoding[32]; /* HTTP content-encoding (unary bodies, error bodies) */
    char stream_encoding[32];  /* connect-content-encoding / grpc-encoding (per message) */
    bool has_grpc_status;
    char grpc_status[16];
    char grpc_message[512];
    char app_code[48]; /* ferry-error-code header / trailer */
    long long content_length;

    /* Body. */
    body_kind_t body;
    uint8_t *raw; /* unary or error body */
    size_t raw_len, raw_cap, raw_max;
    bool raw_truncated;

    uint8_t hdr[FERRY_ENVELOPE_HEADER_LEN];
    size_t hdr_have;
    uint8_t *payload;
    size_t payload_cap;
    uint32_t payload_len, payload_have;
    bool ended; /* end-stream / trailer frame seen */
    ferry_rpc_status_t end_status;

    /* Outcome. */
    bool failed;
    ferry_rpc_status_t fail;
    size_t n_messages;
    ProtobufCMessage *kept;
};

/* ------------------------------------------------------------------------- */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------- */

static void copy_str(char *dst, size_t size, const char *src, size_t len)
{
    if (size == 0)
        return;
    if (len >= size)
        len = size - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void ferry_rd_status_set(ferry_rpc_status_t *st, ferry_rpc_code_t code, const char *fmt, ...)
{
    va_list ap;
    st->code = code;
    st->app_code[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
}

static int fail(ferry_rd_t *rd, ferry_rpc_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(ferry_rd_t *rd, ferry_rpc_code_t code, const char *fmt, ...)
{
    va_list ap;
    if (rd->failed)
        return -1;
    rd->failed = true;
    rd->fail.code = code;
    rd->fail.app_code[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(rd->fail.message, sizeof(rd->fail.message), fmt, ap);
    va_end(ap);
    return -1;
}

/* Compares the media type of |ct| (before any ';', trimmed) with |want|. */
static bool media_type_is(const char *ct, const char *want)
{
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return strlen(want) == n && strncasecmp(ct, want, n) == 0;
}

static bool encoding_is_identity(const char *enc)
{
    return enc[0] == '\0' || strcasecmp(enc, "identity") == 0;
}

void ferry_rd_percent_decode(const char *in, size_t len, char *out, size_t size)
{
    size_t o = 0;
    if (size == 0)
        return;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        if (in[i] == '%' && i + 2 < len && isxdigit((unsigned char)in[i + 1]) &&
            isxdigit((unsigned char)in[i + 2])) {
            char hex[3] = {in[i + 1], in[i + 2], '\0'};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

/* Reads a protobuf varint; returns bytes used or 0 when malformed. */
static size_t read_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

int ferry_rd_error_info_reason(const uint8_t *pb, size_t len, char *out, size_t size)
{
    size_t i = 0;
    int rc = -1;
    while (i < len) {
        uint64_t key, v;
        size_t n = read_varint(pb + i, len - i, &key);
        if (n == 0)
            goto out;
        i += n;
        switch (key & 7) {
        case 0: /* varint */
            n = read_varint(pb + i, len - i, &v);
            if (n == 0)
                goto out;
            i += n;
            break;
        case 1: /* 64-bit */
            if (len - i < 8)
                goto out;
            i += 8;
            break;
        case 2: /* length-delimited */
            n = read_varint(pb + i, len - i, &v);
            if (n == 0 || v > len - i - n)
                goto out;
            i += n;
            if ((key >> 3) == 1) {
                copy_str(out, size, (const char *)pb + i, (size_t)v);
                rc = 0;
            }
            i += (size_t)v;
            break;
        case 5: /* 32-bit */
            if (len - i < 4)
                goto out;
            i += 4;
            break;
        default:
            goto out;
        }
    }
out:
    return i == len ? rc : -1;
}

/* Finds the ErrorInfo reason in a Connect "details" array. */
static void details_app_code(json_t *details, ferry_rpc_status_t *st)
{
    size_t idx;
    json_t *d;
    if (!json_is_array(details))
        return;
    json_array_foreach(details, idx, d)
    {
        const char *type = json_string_value(json_object_get(d, "type"));
        const char *value = json_string_value(json_object_get(d, "value"));
        if (type == NULL || value == NULL)
            continue;
        size_t tl = strlen(type);
        static const char suffix[] = "google.rpc.ErrorInfo";
        if (tl < sizeof(suffix) - 1 || strcmp(type + tl - (sizeof(suffix) - 1), suffix) != 0)
            continue;
        size_t vl = strlen(value);
        size_t cap = (vl / 4 + 1) * 3;
        uint8_t *raw = malloc(cap);
        if (raw == NULL)
            return;
        long n = ferry_b64_decode(value, vl, raw, cap);
        int ok =
            n >= 0 && ferry_rd_error_info_reason(raw, (size_t)n, st->app_code, sizeof(st->app_code)) == 0;
        free(raw);
        if (ok)
            return;
    }
}

/* Fills |st| from a Connect error object; -1 if |err| is not one. */
static int connect_error_from_json(json_t *err, ferry_rpc_status_t *st)
{
    if (!json_is_object(err))
        return -1;
    json_t *code = json_object_get(err, "code");
    if (!json_is_string(code))
        return -1;
    ferry_rpc_code_t c;
    if (ferry_rpc_code_from_name(json_string_value(code), &c) != 0 || c == FERRY_RPC_OK)
        c = FERRY_RPC_UNKNOWN;
    st->code = c;
    st->app_code[0] = '\0';
    const char *msg = json_string_value(json_object_get(err, "message"));
    copy_str(st->message, sizeof(st->message), msg ? msg : "", msg ? strlen(msg) : 0);
    details_app_code(json_object_get(err, "details"), st);
    return 0;
}

int ferry_rd_parse_connect_error(const char *json, size_t len, ferry_rpc_status_t *st)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    int rc = -1;
    if (root == NULL)
        goto out;
    rc = connect_error_from_json(root, st);
out:
    json_decref(root);
    return rc;
}

/* Parses a grpc-status value: 0..16, anything else is unknown. */
static ferry_rpc_code_t grpc_code(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > 16)
        return FERRY_RPC_UNKNOWN;
    return (ferry_rpc_code_t)v;
}

int ferry_rd_parse_grpc_trailers(const char *block, size_t len, ferry_rpc_status_t *st)
{
    bool have_status = false;
    ferry_rpc_status_t tmp;
    memset(&tmp, 0, sizeof(tmp));
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && block[e] != '\n')
            e++;
        size_t le = e;
        if (le > i && block[le - 1] == '\r')
            le--;
        const char *colon = memchr(block + i, ':', le - i);
        if (colon != NULL) {
            size_t nl = (size_t)(colon - (block + i));
            const char *v = colon + 1;
            size_t vl = (size_t)((block + le) - v);
            while (vl > 0 && (*v == ' ' || *v == '\t')) {
                v++;
                vl--;
            }
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            while (nl > 0 && (block[i + nl - 1] == ' ' || block[i + nl - 1] == '\t'))
                nl--;
            if (nl == 11 && strncasecmp(block + i, "grpc-status", 11) == 0) {
                char num[16];
                copy_str(num, sizeof(num), v, vl);
                tmp.code = grpc_code(num);
                have_status = true;
            } else if (nl == 12 && strncasecmp(block + i, "grpc-message", 12) == 0) {
                ferry_rd_percent_decode(v, vl, tmp.message, sizeof(tmp.message));
            } else if (nl == 16 && strncasecmp(block + i, "ferry-error-code", 16) == 0) {
                copy_str(tmp.app_code, sizeof(tmp.app_code), v, vl);
            }
        }
        i = e + 1;
    }
    if (!have_status)
        return -1;
    *st = tmp;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Lifecycle                                                                 */
/* ------------------------------------------------------------------------- */

static void reset_head(ferry_rd_t *rd)
{
    rd->content_type[0] = '\0';
    rd->content_encoding[0] = '\0';
    rd->stream_encoding[0] = '\0';
    rd->has_grpc_status = false;
    rd->grpc_status[0] = '\0';
    rd->grpc_message[0] = '\0';
    rd->app_code[0] = '\0';
    rd->content_length = -1;
}

ferry_rd_t *ferry_rd_new(const ferry_rd_config_t *cfg)
{
    ferry_rd_t *rd = calloc(1, sizeof(*rd));
    if (rd == NULL)
        return NULL;
    rd->cfg = *cfg;
    if (rd->cfg.max_message_bytes == 0)
        rd->cfg.max_message_bytes = DEFAULT_MAX_MESSAGE;
    if (rd->cfg.max_message_bytes > UINT32_MAX)
        rd->cfg.max_message_bytes = UINT32_MAX;
    reset_head(rd);
    return rd;
}

void ferry_rd_free(ferry_rd_t *rd)
{
    if (rd == NULL)
        return;
    if (rd->kept != NULL)
        protobuf_c_message_free_unpacked(rd->kept, NULL);
    free(rd->raw);
    free(rd->payload);
    free(rd);
}

bool ferry_rd_failed(const ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    if (rd->failed && st != NULL)
        *st = rd->fail;
    return rd->failed;
}

size_t ferry_rd_message_count(const ferry_rd_t *rd)
{
    return rd->n_messages;
}

int ferry_rd_http_status(const ferry_rd_t *rd)
{
    return rd->http_status;
}

/* ------------------------------------------------------------------------- */
/* Headers                                                                   */
/* ------------------------------------------------------------------------- */

static bool name_is(const char *name, size_t nl, const char *want)
{
    return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

int ferry_rd_header_line(ferry_rd_t *rd, const char *line, size_t len)
{
    if (rd->failed)
        return -1;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len == 0)
        return 0;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* "HTTP/1.1 200 OK" or "HTTP/2 200": a new response head. */
        const char *sp = memchr(line, ' ', len);
        int status = 0;
        if (sp != NULL) {
            for (const char *p = sp + 1; p < line + len && *p >= '0' && *p <= '9' && status < 1000; p++)
                status = status * 10 + (*p - '0');
        }
        if (rd->body_started)
            return fail(rd, FERRY_RPC_INTERNAL, "protocol error: a second response after the body");
        rd->http_status = status;
        reset_head(rd);
        return 0;
    }
    const char *colon = memchr(line, ':', len);
    if (colon == NULL)
        return 0;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vl = (size_t)(line + len - v);
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (name_is(line, nl, "content-type")) {
        copy_str(rd->content_type, sizeof(rd->content_type), v, vl);
    } else if (name_is(line, nl, "content-encoding")) {
        copy_str(rd->content_encoding, sizeof(rd->content_encoding), v, vl);
    } else if ((name_is(line, nl, "connect-content-encoding") && rd->cfg.wire == FERRY_RD_CONNECT_STREAM) ||
               (name_is(line, nl, "grpc-encoding") && rd->cfg.wire == FERRY_RD_GRPC_WEB)) {
        copy_str(rd->stream_encoding, sizeof(rd->stream_encoding), v, vl);
    } else if (name_is(line, nl, "grpc-status") && rd->cfg.wire == FERRY_RD_GRPC_WEB) {
        copy_str(rd->grpc_status, sizeof(rd->grpc_status), v, vl);
        rd->has_grpc_status = true;
    } else if (name_is(line, nl, "grpc-message") && rd->cfg.wire == FERRY_RD_GRPC_WEB) {
        ferry_rd_percent_decode(v, vl, rd->grpc_message, sizeof(rd->grpc_message));
    } else if (name_is(line, nl, "ferry-error-code") || name_is(line, nl, "trailer-ferry-error-code")) {
        copy_str(rd->app_code, sizeof(rd->app_code), v, vl);
    } else if (name_is(line, nl, "content-length")) {
        long long n = 0;
        bool ok = vl > 0 && vl <= 18;
        for (size_t i = 0; ok && i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                ok = false;
            else
                n = n * 10 + (v[i] - '0');
        }
        rd->content_length = ok ? n : -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Body                                                                      */
/* ------------------------------------------------------------------------- */

static const char *expected_content_type(const ferry_rd_t *rd)
{
    bool json = rd->cfg.codec == FERRY_RPC_CODEC_JSON;
    switch (rd->cfg.wire) {
    case FERRY_RD_CONNECT_UNARY:
        return json ? "application/json" : "application/proto";
    case FERRY_RD_CONNECT_STREAM:
        return json ? "application/connect+json" : "application/connect+proto";
    case FERRY_RD_GRPC_WEB:
    default:
        return json ? "application/grpc-web+json" : "application/grpc-web+proto";
    }
}

static bool content_type_ok(const ferry_rd_t *rd)
{
    if (media_type_is(rd->content_type, expected_content_type(rd)))
        return true;
    /* Bare application/grpc-web means +proto. */
    return rd->cfg.wire == FERRY_RD_GRPC_WEB && rd->cfg.codec == FERRY_RPC_CODEC_PROTO &&
           media_type_is(rd->content_type, "application/grpc-web");
}

/* Chooses how to read the body, once the head is complete. */
static int decide(ferry_rd_t *rd)
{
    if (rd->body != BODY_UNDECIDED)
        return 0;
    if (rd->http_status == 0)
        return fail(rd, FERRY_RPC_INTERNAL, "protocol error: body before any HTTP status");
    if (rd->cfg.wire == FERRY_RD_GRPC_WEB && rd->has_grpc_status) {
        rd->body = BODY_IGNORE; /* trailers-only */
        return 0;
    }
    if (rd->http_status != 200) {
        rd->body = BODY_ERROR;
        rd->raw_max = FERRY_RD_MAX_ERROR_BODY;
        return 0;
    }
    if (!content_type_ok(rd))
        return fail(rd, FERRY_RPC_UNKNOWN, "unexpected response content-type '%s' (wanted %s)",
                    rd->content_type, expected_content_type(rd));
    if (rd->cfg.wire == FERRY_RD_CONNECT_UNARY) {
        if (rd->content_length >= 0 && (unsigned long long)rd->content_length > rd->cfg.max_message_bytes)
            return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "response of %lld bytes exceeds the %zu-byte limit",
                        rd->content_length, rd->cfg.max_message_bytes);
        rd->body = BODY_UNARY;
        rd->raw_max = rd->cfg.max_message_bytes;
        return 0;
    }
    rd->body = BODY_FRAMES;
    return 0;
}

static int raw_append(ferry_rd_t *rd, const uint8_t *data, size_t len)
{
    if (len > rd->raw_max - rd->raw_len) {
        if (rd->body == BODY_UNARY)
            return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "response exceeds the %zu-byte limit", rd->raw_max);
        rd->raw_truncated = true;
        len = rd->raw_max - rd->raw_len;
    }
    if (len == 0)
        return 0;
    if (rd->raw_len + len > rd->raw_cap) {
        size_t cap = rd->raw_cap ? rd->raw_cap * 2 : 4096;
        if (cap < rd->raw_len + len)
            cap = rd->raw_len + len;
        if (cap > rd->raw_max)
            cap = rd->raw_max;
        uint8_t *p = realloc(rd->raw, cap);
        if (p == NULL)
            return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte response", cap);
        rd->raw = p;
        rd->raw_cap = cap;
    }
    memcpy(rd->raw + rd->raw_len, data, len);
    rd->raw_len += len;
    return 0;
}

/* Decodes one serialized message with the configured codec. */
static ProtobufCMessage *decode_message(ferry_rd_t *rd, const uint8_t *data, size_t len)
{
    ProtobufCMessage *msg = NULL;
    if (rd->cfg.codec == FERRY_RPC_CODEC_JSON) {
        ferry_err_t err = {0};
        if (ferry_json_decode(rd->cfg.output, (const char *)data, len, &msg, &err) != FERRY_OK)
            fail(rd, FERRY_RPC_INTERNAL, "invalid JSON response message: %s", err.msg);
    } else {
        static const uint8_t empty[1] = {0};
        ferry_err_t err = {0};
        /* protobuf-c would truncate strings at U+0000 and accept invalid UTF-8. */
        if (ferry_pb_check(rd->cfg.output, len ? data : empty, len, &err) != FERRY_OK) {
            fail(rd, FERRY_RPC_INTERNAL, "invalid binary response message for %s: %s", rd->cfg.output->name,
                 err.msg);
            return NULL;
        }
        msg = protobuf_c_message_unpack(rd->cfg.output, NULL, len, len ? data : empty);
        if (msg == NULL)
            fail(rd, FERRY_RPC_INTERNAL, "invalid binary response message (%zu bytes) for %s", len,
                 rd->cfg.output->name);
    }
    return msg;
}

/* Hands a decoded message on: kept (single) or to the callback. */
static int deliver(ferry_rd_t *rd, ProtobufCMessage *msg)
{
    rd->n_messages++;
    if (rd->cfg.single) {
        if (rd->kept != NULL) {
            protobuf_c_message_free_unpacked(msg, NULL);
            return fail(rd, FERRY_RPC_INTERNAL, "protocol error: more than one response message");
        }
        rd->kept = msg;
        return 0;
    }
    if (rd->cfg.on_message == NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return 0;
    }
    if (rd->cfg.on_message(msg, rd->cfg.user) != 0)
        return fail(rd, FERRY_RPC_CANCELED, "canceled by the message callback");
    return 0;
}

/* Decompresses |data| when the envelope says so; *plain points at the bytes to use and
 * *owned (free it) is set when a new buffer was made. */
static int frame_plain(ferry_rd_t *rd, uint8_t flags, const uint8_t *data, size_t len, const uint8_t **plain,
                       size_t *plain_len, uint8_t **owned)
{
    *owned = NULL;
    *plain = data;
    *plain_len = len;
    if ((flags & FERRY_ENVELOPE_COMPRESSED) == 0)
        return 0;
    if (encoding_is_identity(rd->stream_encoding))
        return fail(rd, FERRY_RPC_INTERNAL, "protocol error: compressed message without a message encoding");
    if (strcasecmp(rd->stream_encoding, "gzip") != 0)
        return fail(rd, FERRY_RPC_INTERNAL, "unsupported message encoding '%s'", rd->stream_encoding);
    ferry_err_t err = {0};
    ferry_err_code_t rc = ferry_gzip_decompress(data, len, rd->cfg.max_message_bytes, owned, plain_len, &err);
    if (rc == FERRY_E_TOO_LARGE)
        return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "decompressed message exceeds the %zu-byte limit",
                    rd->cfg.max_message_bytes);
    if (rc != FERRY_OK)
        return fail(rd, FERRY_RPC_INTERNAL, "invalid compressed message: %s", err.msg);
    *plain = *owned;
    return 0;
}

/* Parses the Connect end-stream JSON into rd->end_status. */
static int end_stream(ferry_rd_t *rd, const uint8_t *data, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, 0, &jerr);
    int rc = -1;
    ferry_rpc_status_t st;
    memset(&st, 0, sizeof(st));
    if (!json_is_object(root)) {
        rc = fail(rd, FERRY_RPC_INTERNAL, "protocol error: invalid end-stream message");
        goto out;
    }
    json_t *err = json_object_get(root, "error");
    if (err != NULL && !json_is_null(err)) {
        if (connect_error_from_json(err, &st) != 0) {
            rc = fail(rd, FERRY_RPC_INTERNAL, "protocol error: invalid error in end-stream message");
            goto out;
        }
    }
    json_t *md = json_object_get(root, "metadata");
    if (st.code != FERRY_RPC_OK && st.app_code[0] == '\0' && json_is_object(md)) {
        json_t *vals = json_object_get(md, "ferry-error-code");
        const char *v = json_is_array(vals) ? json_string_value(json_array_get(vals, 0)) : NULL;
        if (v != NULL)
            copy_str(st.app_code, sizeof(st.app_code), v, strlen(v));
    }
    rd->end_status = st;
    rd->ended = true;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int process_frame(ferry_rd_t *rd, uint8_t flags, const uint8_t *data, size_t len)
{
    const uint8_t *plain;
    size_t plain_len;
    uint8_t *owned = NULL;
    int rc = -1;
    if (rd->ended) {
        rc = fail(rd, FERRY_RPC_INTERNAL, "protocol error: data after the end of the stream");
        goto out;
    }
    if (frame_plain(rd, flags, data, len, &plain, &plain_len, &owned) != 0)
        goto out;
    if (rd->cfg.wire == FERRY_RD_CONNECT_STREAM && (flags & FERRY_ENVELOPE_END_STREAM)) {
        rc = end_stream(rd, plain, plain_len);
    } else if (rd->cfg.wire == FERRY_RD_GRPC_WEB && (flags & FERRY_ENVELOPE_TRAILER)) {
        if (ferry_rd_parse_grpc_trailers((const char *)plain, plain_len, &rd->end_status) != 0) {
            rc = fail(rd, FERRY_RPC_INTERNAL, "protocol error: gRPC-Web trailers without grpc-status");
            goto out;
        }
        if (rd->end_status.code == FERRY_RPC_OK)
            rd->end_status.app_code[0] = '\0';
        rd->ended = true;
        rc = 0;
    } else {
        ProtobufCMessage *msg = decode_message(rd, plain, plain_len);
        if (msg == NULL)
            goto out;
        rc = deliver(rd, msg);
    }
out:
    free(owned);
    return rc;
}

static int frames_feed(ferry_rd_t *rd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        if (rd->hdr_have < FERRY_ENVELOPE_HEADER_LEN) {
            size_t take = FERRY_ENVELOPE_HEADER_LEN - rd->hdr_have;
            if (take > len)
                take = len;
            memcpy(rd->hdr + rd->hdr_have, data, take);
            rd->hdr_have += take;
            data += take;
            len -= take;
            if (rd->hdr_have < FERRY_ENVELOPE_HEADER_LEN)
                return 0;
            if (rd->ended)
                return fail(rd, FERRY_RPC_INTERNAL, "protocol error: data after the end of the stream");
            uint32_t n = (uint32_t)rd->hdr[1] << 24 | (uint32_t)rd->hdr[2] << 16 | (uint32_t)rd->hdr[3] << 8 |
                         rd->hdr[4];
            /* The length prefix is checked before anything is allocated. */
            if (n > rd->cfg.max_message_bytes)
                return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED,
                            "message of %u bytes exceeds the %zu-byte limit", n, rd->cfg.max_message_bytes);
            if (n > rd->payload_cap) {
                uint8_t *p = realloc(rd->payload, n);
                if (p == NULL)
                    return fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory for a %u-byte message", n);
                rd->payload = p;
                rd->payload_cap = n;
            }
            rd->payload_len = n;
            rd->payload_have = 0;
        }
        size_t take = rd->payload_len - rd->payload_have;
        if (take > len)
            take = len;
        if (take > 0)
            memcpy(rd->payload + rd->payload_have, data, take);
        rd->payload_have += (uint32_t)take;
        data += take;
        len -= take;
        if (rd->payload_have < rd->payload_len)
            return 0;
        rd->hdr_have = 0;
        if (process_frame(rd, rd->hdr[0], rd->payload, rd->payload_len) != 0)
            return -1;
    }
    return 0;
}

int ferry_rd_body(ferry_rd_t *rd, const uint8_t *data, size_t len)
{
    if (rd->failed)
        return -1;
    if (len == 0)
        return 0;
    rd->body_started = true;
    if (decide(rd) != 0)
        return -1;
    switch (rd->body) {
    case BODY_ERROR:
    case BODY_UNARY:
        return raw_append(rd, data, len);
    case BODY_FRAMES:
        return frames_feed(rd, data, len);
    case BODY_IGNORE:
    case BODY_UNDECIDED:
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------------- */
/* End of response                                                           */
/* ------------------------------------------------------------------------- */

static void head_app_code(const ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    if (st->code != FERRY_RPC_OK && st->app_code[0] == '\0' && rd->app_code[0] != '\0')
        copy_str(st->app_code, sizeof(st->app_code), rd->app_code, strlen(rd->app_code));
}

static void status_from_grpc_headers(const ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    st->code = grpc_code(rd->grpc_status);
    st->app_code[0] = '\0';
    copy_str(st->message, sizeof(st->message), rd->grpc_message, strlen(rd->grpc_message));
}

/* Non-200: the Connect error JSON when there is one, else the HTTP mapping. */
static void error_status(ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    if (rd->cfg.wire != FERRY_RD_GRPC_WEB && rd->raw_len > 0 && !rd->raw_truncated &&
        media_type_is(rd->content_type, "application/json")) {
        const uint8_t *body = rd->raw;
        size_t body_len = rd->raw_len;
        uint8_t *owned = NULL;
        bool ok = true;
        if (strcasecmp(rd->content_encoding, "gzip") == 0) {
            ferry_err_t err = {0};
            ok = ferry_gzip_decompress(rd->raw, rd->raw_len, FERRY_RD_MAX_ERROR_BODY, &owned, &body_len,
                                       &err) == FERRY_OK;
            body = owned;
        } else if (!encoding_is_identity(rd->content_encoding)) {
            ok = false;
        }
        ok = ok && ferry_rd_parse_connect_error((const char *)body, body_len, st) == 0;
        free(owned);
        if (ok)
            return;
    }
    ferry_rd_status_set(st, ferry_rpc_code_from_http(rd->http_status), "HTTP status %d", rd->http_status);
}

static void unary_status(ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    const uint8_t *body = rd->raw;
    size_t body_len = rd->raw_len;
    uint8_t *owned = NULL;
    if (body_len > 0 && !encoding_is_identity(rd->content_encoding)) {
        if (strcasecmp(rd->content_encoding, "gzip") != 0) {
            fail(rd, FERRY_RPC_INTERNAL, "unsupported response encoding '%s'", rd->content_encoding);
            goto out;
        }
        ferry_err_t err = {0};
        ferry_err_code_t rc =
            ferry_gzip_decompress(rd->raw, rd->raw_len, rd->cfg.max_message_bytes, &owned, &body_len, &err);
        if (rc == FERRY_E_TOO_LARGE) {
            fail(rd, FERRY_RPC_RESOURCE_EXHAUSTED, "decompressed response exceeds the %zu-byte limit",
                 rd->cfg.max_message_bytes);
            goto out;
        }
        if (rc != FERRY_OK) {
            fail(rd, FERRY_RPC_INTERNAL, "invalid compressed response: %s", err.msg);
            goto out;
        }
        body = owned;
    }
    ProtobufCMessage *msg = decode_message(rd, body, body_len);
    if (msg != NULL && deliver(rd, msg) == 0)
        ferry_rd_status_set(st, FERRY_RPC_OK, "%s", "");
out:
    free(owned);
    if (rd->failed)
        *st = rd->fail;
}

static void frames_status(ferry_rd_t *rd, ferry_rpc_status_t *st)
{
    if (!rd->ended) {
        if (rd->cfg.wire == FERRY_RD_GRPC_WEB && rd->has_grpc_status && rd->hdr_have == 0) {
            /* Status in real HTTP trailers. */
            status_from_grpc_headers(rd, st);
            return;
        }
        if (rd->hdr_have > 0)
            fail(rd, FERRY_RPC_INTERNAL, "protocol error: response truncated inside a message");
        else if (rd->cfg.wire == FERRY_RD_GRPC_WEB)
            fail(rd, FERRY_RPC_INTERNAL, "protocol error: gRPC-Web response ended without trailers");
        else
            fail(rd, FERRY_RPC_INTERNAL, "protocol error: stream ended without an end-stream message");
        *st = rd->fail;
        return;
    }
    *st = rd->end_status;
    if (st->code == FERRY_RPC_OK && rd->cfg.single && rd->kept == NULL) {
        fail(rd, FERRY_RPC_INTERNAL, "protocol error: no response message");
        *st = rd->fail;
    }
}

ferry_rpc_code_t ferry_rd_finish(ferry_rd_t *rd, ProtobufCMessage **resp, ferry_rpc_status_t *st)
{
    memset(st, 0, sizeof(*st));
    if (resp != NULL)
        *resp = NULL;
    if (rd->failed)
        goto failed;
    if (rd->http_status == 0) {
        fail(rd, FERRY_RPC_INTERNAL, "protocol error: no HTTP response");
        goto failed;
    }
    if (decide(rd) != 0)
        goto failed;
    switch (rd->body) {
    case BODY_IGNORE:
        status_from_grpc_headers(rd, st);
        if (st->code == FERRY_RPC_OK && rd->cfg.single) {
            fail(rd, FERRY_RPC_INTERNAL, "protocol error: no response message");
            goto failed;
        }
        break;
    case BODY_ERROR:
        error_status(rd, st);
        break;
    case BODY_UNARY:
        unary_status(rd, st);
        break;
    case BODY_FRAMES:
    default:
        frames_status(rd, st);
        break;
    }
    if (rd->failed)
        goto failed;
    head_app_code(rd, st);
    if (st->code == FERRY_RPC_OK) {
        st->app_code[0] = '\0';
        if (resp != NULL && rd->cfg.single) {
            *resp = rd->kept;
            rd->kept = NULL;
        }
    }
    return st->code;
failed:
    *st = rd->fail;
    return st->code;
}
