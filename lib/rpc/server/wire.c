/* Pure protocol functions of the RPC server; see wire_internal.h. */
#include "wire_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ferry/encoding.h"

/* ---- small helpers -------------------------------------------------------- */

static bool ieq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && strncasecmp(s, lit, n) == 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        (*len)--;
}

/* A bounded string builder: writes never pass |cap|; |overflow| records truncation. */
typedef struct sbuf {
    char *p;
    size_t len;
    size_t cap; /* usable bytes, excluding the NUL */
    bool overflow;
} sbuf_t;

static void sb_init(sbuf_t *b, char *p, size_t size)
{
    b->p = p;
    b->len = 0;
    b->cap = size - 1;
    b->overflow = false;
    p[0] = '\0';
}

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    if (n > b->cap - b->len) {
        n = b->cap - b->len;
        b->overflow = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* Appends |s| as a JSON string body (no quotes), stopping before |reserve| bytes of room
 * are left so the closing syntax always fits. Escapes are never split. */
static void sb_json_escaped(sbuf_t *b, const char *s, size_t reserve)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char tmp[8];
        size_t n;
        if (*c == '"' || *c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*c;
            n = 2;
        } else if (*c == '\n') {
            memcpy(tmp, "\\n", 2); // NOLINT(bugprone-not-null-terminated-result): n bytes are used, no NUL
            n = 2;
        } else if (*c == '\r') {
            memcpy(tmp, "\\r", 2); // NOLINT(bugprone-not-null-terminated-result): n bytes are used, no NUL
            n = 2;
        } else if (*c == '\t') {
            memcpy(tmp, "\\t", 2); // NOLINT(bugprone-not-null-terminated-result): n bytes are used, no NUL
            n = 2;
        } else if (*c < 0x20 || *c == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", *c);
            n = 6;
        } else {
            tmp[0] = (char)*c;
            n = 1;
        }
        if (b->len + n + reserve > b->cap) {
            b->overflow = true;
            return;
        }
        sb_putn(b, tmp, n);
    }
}

/* ---- content types, timeouts, encodings ------------------------------------ */

ferry_wire_protocol_t ferry_wire_content_type(const char *s, size_t len, ferry_wire_codec_t *codec)
{
    *codec = FERRY_WIRE_CODEC_PROTO;
    if (s == NULL)
        return FERRY_WIRE_UNSUPPORTED;
    const char *semi = memchr(s, ';', len);
    if (semi != NULL)
        len = (size_t)(semi - s);
    trim(&s, &len);
    if (ieq(s, len, "application/proto"))
        return FERRY_WIRE_CONNECT_UNARY;
    if (ieq(s, len, "application/json")) {
        *codec = FERRY_WIRE_CODEC_JSON;
        return FERRY_WIRE_CONNECT_UNARY;
    }
    if (ieq(s, len, "application/connect+proto"))
        return FERRY_WIRE_CONNECT_STREAM;
    if (ieq(s, len, "application/connect+json")) {
        *codec = FERRY_WIRE_CODEC_JSON;
        return FERRY_WIRE_CONNECT_STREAM;
    }
    if (ieq(s, len, "application/grpc-web") || ieq(s, len, "application/grpc-web+proto"))
        return FERRY_WIRE_GRPC_WEB;
    if (ieq(s, len, "application/grpc-web+json")) {
        *codec = FERRY_WIRE_CODEC_JSON;
        return FERRY_WIRE_GRPC_WEB;
    }
    if (len >= 25 && strncasecmp(s, "application/grpc-web-text", 25) == 0)
        return FERRY_WIRE_GRPC_WEB_TEXT;
    if (ieq(s, len, "application/grpc") || (len > 17 && strncasecmp(s, "application/grpc+", 17) == 0))
        return FERRY_WIRE_GRPC;
    return FERRY_WIRE_UNSUPPORTED;
}

int ferry_wire_connect_timeout(const char *s, size_t len, uint64_t *out_ns)
{
    if (s == NULL || len == 0 || len > 10)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    /* 10 digits of milliseconds is at most ~1e16 ns: no overflow. */
    *out_ns = v * 1000000ull;
    return 0;
}

int ferry_wire_grpc_timeout(const char *s, size_t len, uint64_t *out_ns)
{
    if (s == NULL || len < 2 || len > 9)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    uint64_t mul;
    switch (s[len - 1]) {
    case 'H':
        mul = 3600ull * 1000000000ull;
        break;
    case 'M':
        mul = 60ull * 1000000000ull;
        break;
    case 'S':
        mul = 1000000000ull;
        break;
    case 'm':
        mul = 1000000ull;
        break;
    case 'u':
        mul = 1000ull;
        break;
    case 'n':
        mul = 1;
        break;
    default:
        return -1;
    }
    *out_ns = (v != 0 && mul > UINT64_MAX / v) ? UINT64_MAX : v * mul;
    return 0;
}

ferry_wire_encoding_t ferry_wire_encoding(const char *s, size_t len)
{
    if (s == NULL)
        return FERRY_WIRE_ENC_IDENTITY;
    trim(&s, &len);
    if (len == 0 || ieq(s, len, "identity"))
        return FERRY_WIRE_ENC_IDENTITY;
    if (ieq(s, len, "gzip"))
        return FERRY_WIRE_ENC_GZIP;
    return FERRY_WIRE_ENC_UNSUPPORTED;
}

bool ferry_wire_accepts_gzip(const char *s, size_t len)
{
    if (s == NULL)
        return false;
    while (len > 0) {
        const char *comma = memchr(s, ',', len);
        size_t item = comma != NULL ? (size_t)(comma - s) : len;
        const char *tok = s;
        size_t tlen = item;
        const char *semi = memchr(tok, ';', tlen);
        const char *params = NULL;
        size_t plen = 0;
        if (semi != NULL) {
            params = semi + 1;
            plen = tlen - (size_t)(semi - tok) - 1;
            tlen = (size_t)(semi - tok);
        }
        trim(&tok, &tlen);
        if (ieq(tok, tlen, "gzip") || ieq(tok, tlen, "*")) {
            bool refused = false;
            if (params != NULL) {
                trim(&params, &plen);
                /* q=0, q=0.0, q=0.000 refuse */
                if (plen >= 3 && (params[0] == 'q' || params[0] == 'Q') && params[1] == '=') {
                    refused = true;
                    for (size_t i = 2; i < plen; i++)
                        if (params[i] != '0' && params[i] != '.')
                            refused = false;
                }
            }
            if (!refused)
                return true;
        }
        if (comma == NULL)
            break;
        s = comma + 1;
        len -= item + 1;
    }
    return false;
}

/* ---- Connect GET --------------------------------------------------------------- */

int ferry_wire_get_query(const char *q, size_t len, ferry_wire_get_query_t *out, const char **why)
{
    bool have_encoding = false;
    memset(out, 0, sizeof(*out));
    out->message = "";
    while (len > 0) {
        const char *amp = memchr(q, '&', len);
        size_t item = amp != NULL ? (size_t)(amp - q) : len;
        const char *eq = memchr(q, '=', item);
        const char *key = q;
        size_t klen = eq != NULL ? (size_t)(eq - q) : item;
        const char *val = eq != NULL ? eq + 1 : q + item;
        size_t vlen = eq != NULL ? item - klen - 1 : 0;
        if (klen == 7 && memcmp(key, "connect", 7) == 0) {
            if (!(vlen == 2 && memcmp(val, "v1", 2) == 0)) {
                *why = "connect query parameter must be v1";
                return -1;
            }
        } else if (klen == 8 && memcmp(key, "encoding", 8) == 0) {
            if (vlen == 5 && memcmp(val, "proto", 5) == 0) {
                out->codec = FERRY_WIRE_CODEC_PROTO;
            } else if (vlen == 4 && memcmp(val, "json", 4) == 0) {
                out->codec = FERRY_WIRE_CODEC_JSON;
            } else {
                *why = "unsupported encoding query parameter";
                return -1;
            }
            have_encoding = true;
        } else if (klen == 6 && memcmp(key, "base64", 6) == 0) {
            out->base64 = vlen == 1 && val[0] == '1';
        } else if (klen == 11 && memcmp(key, "compression", 11) == 0) {
            out->compression = ferry_wire_encoding(val, vlen);
        } else if (klen == 7 && memcmp(key, "message", 7) == 0) {
            out->message = val;
            out->message_len = vlen;
        }
        if (amp == NULL)
            break;
        q = amp + 1;
        len -= item + 1;
    }
    if (!have_encoding) {
        *why = "missing encoding query parameter";
        return -1;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long ferry_wire_percent_decode(const char *in, size_t len, uint8_t *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c;
        if (in[i] == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (uint8_t)(hi << 4 | lo);
            i += 2;
        } else if (in[i] == '+') {
            c = ' ';
        } else {
            c = (uint8_t)in[i];
        }
        if (o >= out_size)
            return -1;
        out[o++] = c;
    }
    return (long)o;
}

/* ---- protobuf encodings of error details ------------------------------------ */

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* Appends a length-delimited field; returns false when it does not fit. */
static bool put_bytes_field(uint8_t *out, size_t size, size_t *pos, uint32_t field, const uint8_t *data,
                            size_t len)
{
    uint8_t hdr[16];
    size_t h = put_varint(hdr, (uint64_t)field << 3 | 2);
    h += put_varint(hdr + h, len);
    if (*pos + h + len > size)
        return false;
    memcpy(out + *pos, hdr, h);
    if (len > 0)
        memcpy(out + *pos + h, data, len);
    *pos += h + len;
    return true;
}

size_t ferry_wire_error_info(const char *reason, const char *domain, uint8_t *out, size_t size)
{
    size_t pos = 0;
    if (reason != NULL && reason[0] &&
        !put_bytes_field(out, size, &pos, 1, (const uint8_t *)reason, strlen(reason)))
        return 0;
    if (domain != NULL && domain[0] &&
        !put_bytes_field(out, size, &pos, 2, (const uint8_t *)domain, strlen(domain)))
        return 0;
    return pos;
}

#define ERRINFO_TYPE_URL "type.googleapis.com/google.rpc.ErrorInfo"

size_t ferry_wire_status_proto(ferry_rpc_code_t code, const char *message, const uint8_t *errinfo,
                               size_t errinfo_len, uint8_t *out, size_t size)
{
    size_t pos = 0;
    if (code != FERRY_RPC_OK) {
        if (size < 12)
            return 0;
        out[pos++] = 0x08; /* field 1, varint */
        pos += put_varint(out + pos, (uint64_t)code);
    }
    if (message != NULL && message[0] &&
        !put_bytes_field(out, size, &pos, 2, (const uint8_t *)message, strlen(message)))
        return 0;
    if (errinfo != NULL) {
        uint8_t any[512];
        size_t apos = 0;
        if (!put_bytes_field(any, sizeof(any), &apos, 1, (const uint8_t *)ERRINFO_TYPE_URL,
                             strlen(ERRINFO_TYPE_URL)) ||
            !put_bytes_field(any, sizeof(any), &apos, 2, errinfo, errinfo_len) ||
            !put_bytes_field(out, size, &pos, 3, any, apos))
            return 0;
    }
    return pos;
}

/* ---- Connect error JSON ----------------------------------------------------------- */

/* Appends "code":..,"message":..[,"details":[...]] (no braces). */
static void sb_error_members(sbuf_t *b, ferry_rpc_code_t code, const char *message, const char *app_code)
{
    /* Room kept for the details and the closing syntax. */
    size_t reserve = 200;
    sb_puts(b, "\"code\":\"");
    sb_puts(b, ferry_rpc_code_name(code));
    sb_puts(b, "\"");
    if (message != NULL && message[0]) {
        sb_puts(b, ",\"message\":\"");
        sb_json_escaped(b, message, reserve);
        sb_puts(b, "\"");
    }
    if (app_code != NULL && app_code[0]) {
        uint8_t info[96];
        char b64[FERRY_B64_ENCODED_SIZE(96)];
        size_t n = ferry_wire_error_info(app_code, "ferry", info, sizeof(info));
        if (n > 0) {
            ferry_b64_encode(info, n, b64, 0, 0);
            sb_puts(b, ",\"details\":[{\"type\":\"google.rpc.ErrorInfo\",\"value\":\"");
            sb_puts(b, b64);
            sb_puts(b, "\"}]");
        }
    }
}

size_t ferry_wire_error_json(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                             size_t size)
{
    if (size < 256)
        return 0;
    sbuf_t b;
    sb_init(&b, out, size);
    sb_puts(&b, "{");
    sb_error_members(&b, code, message, app_code);
    sb_puts(&b, "}");
    return b.len;
}

/* Appends |s| as a JSON string when it consists of safe characters only. */
static void sb_json_token(sbuf_t *b, const char *s)
{
    sb_puts(b, "\"");
    sb_json_escaped(b, s, 64);
    sb_puts(b, "\"");
}

size_t ferry_wire_end_stream_json(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                                  size_t size)
{
    if (size < 256)
        return 0;
    sbuf_t b;
    sb_init(&b, out, size);
    if (code == FERRY_RPC_OK) {
        sb_puts(&b, "{}");
        return b.len;
    }
    sb_puts(&b, "{\"error\":{");
    sb_error_members(&b, code, message, app_code);
    sb_puts(&b, "}");
    if (app_code != NULL && app_code[0]) {
        sb_puts(&b, ",\"metadata\":{\"ferry-error-code\":[");
        sb_json_token(&b, app_code);
        sb_puts(&b, "]}");
    }
    sb_puts(&b, "}");
    return b.len;
}

/* ---- gRPC-Web trailers --------------------------------------------------------------- */

size_t ferry_wire_grpc_percent_encode(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (size == 0)
        return 0;
    for (const unsigned char *c = (const unsigned char *)(in ? in : ""); *c; c++) {
        if (*c < 0x20 || *c > 0x7e || *c == '%') {
            if (o + 3 >= size)
                break;
            out[o++] = '%';
            out[o++] = hex[*c >> 4];
            out[o++] = hex[*c & 15];
        } else {
            if (o + 1 >= size)
                break;
            out[o++] = (char)*c;
        }
    }
    out[o] = '\0';
    return o;
}

size_t ferry_wire_grpc_status_details(ferry_rpc_code_t code, const char *message, const char *app_code,
                                      char *out, size_t size)
{
    uint8_t info[96], status[1100];
    size_t ilen = 0;
    if (app_code != NULL && app_code[0])
        ilen = ferry_wire_error_info(app_code, "ferry", info, sizeof(info));
    size_t slen = ferry_wire_status_proto(code, message, ilen ? info : NULL, ilen, status, sizeof(status));
    if (slen == 0) /* message too long for the details: keep code + ErrorInfo */
        slen = ferry_wire_status_proto(code, NULL, ilen ? info : NULL, ilen, status, sizeof(status));
    if (slen == 0 || size < FERRY_B64_ENCODED_SIZE(slen))
        return 0;
    return ferry_b64_encode(status, slen, out, 0, 0);
}

size_t ferry_wire_grpc_trailers(ferry_rpc_code_t code, const char *message, const char *app_code, char *out,
                                size_t size)
{
    static const char ok[] = "grpc-status: 0\r\ngrpc-message: \r\n";
    if (size < 512)
        return 0;
    if (code == FERRY_RPC_OK) { /* every successful call: no formatting */
        memcpy(out, ok, sizeof(ok));
        return sizeof(ok) - 1;
    }
    sbuf_t b;
    sb_init(&b, out, size);
    char num[16], pct[1600], details[FERRY_B64_ENCODED_SIZE(1100)];
    size_t dlen = 0;
    bool with_app = code != FERRY_RPC_OK && app_code != NULL && app_code[0];
    /* grpc-status-details-bin carries the whole google.rpc.Status: code, message and the
     * ErrorInfo. Clients that find it (connect-es, grpc-web) take the message from it. */
    if (with_app) {
        dlen = ferry_wire_grpc_status_details(code, message, app_code, details, sizeof(details));
        if (dlen + 300 > size) /* no room with the message: code + ErrorInfo only */
            dlen = ferry_wire_grpc_status_details(code, NULL, app_code, details, sizeof(details));
    }
    snprintf(num, sizeof(num), "%d", (int)code);
    sb_puts(&b, "grpc-status: ");
    sb_puts(&b, num);
    sb_puts(&b, "\r\n");
    /* Leave room for the other trailers: the message is cut at a whole escape. */
    size_t reserve = 200 + (dlen > 0 ? dlen + 30 : 0);
    size_t room = b.cap - b.len > reserve ? b.cap - b.len - reserve : 1;
    ferry_wire_grpc_percent_encode(code == FERRY_RPC_OK ? "" : message, pct,
                                   room < sizeof(pct) ? room : sizeof(pct));
    sb_puts(&b, "grpc-message: ");
    sb_puts(&b, pct);
    sb_puts(&b, "\r\n");
    if (with_app) {
        sb_puts(&b, "ferry-error-code: ");
        ferry_wire_grpc_percent_encode(app_code, pct, 64);
        sb_puts(&b, pct);
        sb_puts(&b, "\r\n");
        if (dlen > 0) {
            sb_puts(&b, "grpc-status-details-bin: ");
            sb_puts(&b, details);
            sb_puts(&b, "\r\n");
        }
    }
    return b.len;
}

/* ---- request envelopes --------------------------------------------------------------- */

const char ferry_wire_why_too_many[] = "too many messages in the request";

ferry_rpc_code_t ferry_wire_read_envelopes(const uint8_t *body, size_t len, uint32_t max_len,
                                           bool compressed_ok, ferry_wire_msg_t *msgs, size_t max_msgs,
                                           size_t *n_msgs, const char **why)
{
    size_t off = 0, n = 0;
    ferry_rpc_code_t rc = FERRY_RPC_OK;
    *why = "";
    while (off < len) {
        ferry_envelope_t env;
        size_t used;
        ferry_envelope_status_t st = ferry_envelope_next(body + off, len - off, max_len, &env, &used);
        if (st == FERRY_ENVELOPE_TOO_LARGE) {
            rc = FERRY_RPC_RESOURCE_EXHAUSTED;
            *why = "message larger than the configured limit";
            goto out;
        }
        if (st == FERRY_ENVELOPE_NEED_MORE) {
            rc = FERRY_RPC_INVALID_ARGUMENT;
            *why = "request body ends inside an envelope";
            goto out;
        }
        if ((env.flags & ~FERRY_ENVELOPE_COMPRESSED) != 0) {
            rc = FERRY_RPC_INVALID_ARGUMENT;
            *why = "unexpected envelope flags in a request";
            goto out;
        }
        if ((env.flags & FERRY_ENVELOPE_COMPRESSED) && !compressed_ok) {
            rc = FERRY_RPC_INTERNAL;
            *why = "compressed message without a negotiated encoding";
            goto out;
        }
        if (n >= max_msgs) {
            rc = FERRY_RPC_RESOURCE_EXHAUSTED;
            *why = ferry_wire_why_too_many;
            goto out;
        }
        msgs[n].data = env.data;
        msgs[n].len = env.len;
        msgs[n].compressed = (env.flags & FERRY_ENVELOPE_COMPRESSED) != 0;
        n++;
        off += used;
    }
out:
    *n_msgs = rc == FERRY_RPC_OK ? n : 0;
    return rc;
}
