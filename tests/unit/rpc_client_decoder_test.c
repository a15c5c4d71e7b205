/* Unit tests of the client's pure pieces: the incremental response decoder (fed at
 * every split point), the trailer / error parsers, backoff, pins and timeouts. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_util_internal.h"
#include "ferry/encoding.h"
#include "ferrytest/v1/test.pb-c.h"
#include "response_decoder_internal.h"

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t d[8192];
    size_t n;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    ck_assert_uint_le(b->n + n, sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_env(buf_t *b, uint8_t flags, const void *p, size_t n)
{
    uint8_t h[5];
    ferry_envelope_write_header(h, flags, (uint32_t)n);
    put(b, h, 5);
    put(b, p, n);
}

static size_t pack_count(uint32_t index, uint8_t *out)
{
    Ferrytest__V1__CountResponse m = FERRYTEST__V1__COUNT_RESPONSE__INIT;
    m.index = index;
    return protobuf_c_message_pack(&m.base, out);
}

static void put_count_env(buf_t *b, uint32_t index)
{
    uint8_t tmp[64];
    size_t n = pack_count(index, tmp);
    put_env(b, 0, tmp, n);
}

typedef struct sink {
    uint32_t idx[64];
    size_t n;
    int stop_after; /* callback returns non-zero after this many (0 = never) */
} sink_t;

static int sink_cb(ProtobufCMessage *msg, void *user)
{
    sink_t *s = user;
    Ferrytest__V1__CountResponse *m = (Ferrytest__V1__CountResponse *)msg;
    ck_assert_ptr_eq(msg->descriptor, &ferrytest__v1__count_response__descriptor);
    if (s->n < 64)
        s->idx[s->n] = m->index;
    s->n++;
    protobuf_c_message_free_unpacked(msg, NULL);
    return s->stop_after != 0 && (int)s->n >= s->stop_after;
}

/* Runs one response through a fresh decoder, feeding the body in two pieces split at
 * |split| (or one byte at a time when split == SIZE_MAX). Returns the final code. */
static ferry_rpc_code_t run(ferry_rd_wire_t wire, bool single, const char *const *headers, const buf_t *body,
                            size_t split, sink_t *sink, ProtobufCMessage **resp, ferry_rpc_status_t *st,
                            size_t max)
{
    ferry_rd_config_t cfg = {
        .wire = wire,
        .codec = FERRY_RPC_CODEC_PROTO,
        .output = &ferrytest__v1__count_response__descriptor,
        .max_message_bytes = max,
        .single = single,
        .on_message = single ? NULL : sink_cb,
        .user = sink,
    };
    ferry_rd_t *rd = ferry_rd_new(&cfg);
    ck_assert_ptr_nonnull(rd);
    for (const char *const *h = headers; *h != NULL; h++)
        ferry_rd_header_line(rd, *h, strlen(*h));
    ferry_rd_header_line(rd, "\r\n", 2);
    if (split == SIZE_MAX) {
        for (size_t i = 0; i < body->n; i++)
            if (ferry_rd_body(rd, body->d + i, 1) != 0)
                break;
    } else {
        if (ferry_rd_body(rd, body->d, split) == 0)
            ferry_rd_body(rd, body->d + split, body->n - split);
    }
    ferry_rpc_code_t code = ferry_rd_finish(rd, resp, st);
    ferry_rd_free(rd);
    return code;
}

static void b64_error_info(const char *reason, char *out)
{
    uint8_t pb[128];
    size_t n = 0;
    pb[n++] = 0x0a;
    pb[n++] = (uint8_t)strlen(reason);
    memcpy(pb + n, reason, strlen(reason));
    n += strlen(reason);
    pb[n++] = 0x12; /* domain = "ferry" */
    pb[n++] = 5;
    memcpy(pb + n, "ferry", 5);
    n += 5;
    ferry_b64_encode(pb, n, out, 0, 0);
}

/* ------------------------------------------------------------------------- */
/* Connect unary                                                             */
/* ------------------------------------------------------------------------- */

START_TEST(connect_unary_success_every_split)
{
    static const char *const h[] = {"HTTP/2 200\r\n", "content-type: application/proto\r\n", NULL};
    buf_t b = {.n = 0};
    b.n = pack_count(300, b.d);
    for (size_t split = 0; split <= b.n; split++) {
        ferry_rpc_status_t st;
        ProtobufCMessage *resp = NULL;
        ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, split, NULL, &resp, &st, 0), FERRY_RPC_OK);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(((Ferrytest__V1__CountResponse *)resp)->index, 300);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
}
END_TEST

START_TEST(connect_unary_empty_body_and_interim_status)
{
    /* An empty body is the default message; 101 / 100 heads are skipped. */
    static const char *const h[] = {"HTTP/1.1 101 Switching Protocols\r\n",
                                    "upgrade: h2c\r\n",
                                    "\r\n",
                                    "HTTP/2 200\r\n",
                                    "content-type: application/proto; charset=x\r\n",
                                    NULL};
    buf_t b = {.n = 0};
    ferry_rpc_status_t st;
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, 0, NULL, &resp, &st, 0), FERRY_RPC_OK);
    ck_assert_uint_eq(((Ferrytest__V1__CountResponse *)resp)->index, 0);
    protobuf_c_message_free_unpacked(resp, NULL);
}
END_TEST

START_TEST(connect_unary_gzip)
{
    static const char *const h[] = {"HTTP/2 200", "Content-Type: application/proto", "Content-Encoding: gzip",
                                    NULL};
    uint8_t raw[32];
    size_t rn = pack_count(42, raw);
    uint8_t *gz = NULL;
    size_t gn = 0;
    ck_assert_int_eq(ferry_gzip_compress(raw, rn, &gz, &gn, NULL), FERRY_OK);
    buf_t b = {.n = 0};
    put(&b, gz, gn);
    free(gz);
    ferry_rpc_status_t st;
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, 3, NULL, &resp, &st, 0), FERRY_RPC_OK);
    ck_assert_uint_eq(((Ferrytest__V1__CountResponse *)resp)->index, 42);
    protobuf_c_message_free_unpacked(resp, NULL);
}
END_TEST

START_TEST(connect_unary_error_json_every_split)
{
    static const char *const h[] = {"HTTP/2 409", "content-type: application/json", NULL};
    char info[128];
    b64_error_info("E_VERSION_DUPLICATE", info);
    buf_t b = {.n = 0};
    char json[512];
    int n = snprintf(json, sizeof(json),
                     "{\"code\":\"already_exists\",\"message\":\"version 1.2.3.4 exists\","
                     "\"details\":[{\"type\":\"google.rpc.Other\",\"value\":\"AA\"},"
                     "{\"type\":\"google.rpc.ErrorInfo\",\"value\":\"%s\"}]}",
                     info);
    put(&b, json, (size_t)n);
    for (size_t split = 0; split <= b.n; split++) {
        ferry_rpc_status_t st;
        ProtobufCMessage *resp = (ProtobufCMessage *)&st;
        ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, split, NULL, &resp, &st, 0),
                         FERRY_RPC_ALREADY_EXISTS);
        ck_assert_ptr_null(resp);
        ck_assert_str_eq(st.app_code, "E_VERSION_DUPLICATE");
        ck_assert_str_eq(st.message, "version 1.2.3.4 exists");
    }
}
END_TEST

START_TEST(connect_unary_error_app_code_header)
{
    static const char *const h[] = {"HTTP/2 400", "content-type: application/json",
                                    "ferry-error-code: E_PACKAGE_INVALID", NULL};
    buf_t b = {.n = 0};
    const char *json = "{\"code\":\"invalid_argument\",\"message\":\"bad zip\"}";
    put(&b, json, strlen(json));
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, 0, NULL, NULL, &st, 0),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_PACKAGE_INVALID");
    ck_assert_str_eq(st.message, "bad zip");
}
END_TEST

START_TEST(http_status_fallback)
{
    static const struct {
        const char *status;
        const char *ct;
        const char *body;
        ferry_rpc_code_t code;
    } t[] = {
        {"HTTP/2 503", "content-type: text/plain", "oops", FERRY_RPC_UNAVAILABLE},
        {"HTTP/2 502", "content-type: text/html", "", FERRY_RPC_UNAVAILABLE},
        {"HTTP/2 400", "content-type: text/plain", "x", FERRY_RPC_INTERNAL},
        {"HTTP/1.1 401 Unauthorized", "content-type: text/plain", "", FERRY_RPC_UNAUTHENTICATED},
        {"HTTP/2 403", "content-type: text/plain", "", FERRY_RPC_PERMISSION_DENIED},
        {"HTTP/2 404", "content-type: text/plain", "", FERRY_RPC_UNIMPLEMENTED},
        {"HTTP/2 429", "content-type: text/plain", "", FERRY_RPC_UNAVAILABLE},
        {"HTTP/2 418", "content-type: text/plain", "", FERRY_RPC_UNKNOWN},
        /* JSON that is not a Connect error falls back too. */
        {"HTTP/2 504", "content-type: application/json", "[1,2]", FERRY_RPC_UNAVAILABLE},
        {"HTTP/2 500", "content-type: application/json", "{not json", FERRY_RPC_UNKNOWN},
        /* A 200 with the wrong content-type. */
        {"HTTP/2 200", "content-type: text/html", "<html>", FERRY_RPC_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *h[] = {t[i].status, t[i].ct, NULL};
        buf_t b = {.n = 0};
        put(&b, t[i].body, strlen(t[i].body));
        ferry_rpc_status_t st;
        ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h, &b, 0, NULL, NULL, &st, 0), t[i].code);
        ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, h, &b, 0, &(sink_t){0}, NULL, &st, 0),
                         t[i].code);
    }
    /* gRPC-Web without grpc-status maps HTTP the same way. */
    const char *h[] = {"HTTP/2 503", "content-type: text/plain", NULL};
    buf_t b = {.n = 0};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, true, h, &b, 0, NULL, NULL, &st, 0), FERRY_RPC_UNAVAILABLE);
}
END_TEST

START_TEST(connect_unary_size_caps)
{
    /* From content-length, before any byte is kept... */
    static const char *const h1[] = {"HTTP/2 200", "content-type: application/proto", "content-length: 1000",
                                     NULL};
    buf_t b = {.n = 0};
    uint8_t zeros[64] = {0};
    put(&b, zeros, sizeof(zeros));
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h1, &b, 1, NULL, NULL, &st, 100),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    /* ...and without it, as soon as the body passes the cap. */
    static const char *const h2[] = {"HTTP/2 200", "content-type: application/proto", NULL};
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h2, &b, SIZE_MAX, NULL, NULL, &st, 63),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    /* A gzip bomb is refused at the cap too. */
    static const char *const h3[] = {"HTTP/2 200", "content-type: application/proto",
                                     "content-encoding: gzip", NULL};
    uint8_t *big = calloc(1, 100000), *gz = NULL;
    size_t gn = 0;
    ck_assert_int_eq(ferry_gzip_compress(big, 100000, &gz, &gn, NULL), FERRY_OK);
    free(big);
    buf_t g = {.n = 0};
    put(&g, gz, gn);
    free(gz);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_UNARY, true, h3, &g, 0, NULL, NULL, &st, 1000),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Connect streaming                                                         */
/* ------------------------------------------------------------------------- */

static const char *const stream_h[] = {"HTTP/2 200", "content-type: application/connect+proto", NULL};

START_TEST(connect_stream_every_split)
{
    buf_t b = {.n = 0};
    for (uint32_t i = 0; i < 3; i++)
        put_count_env(&b, i + 1);
    put_env(&b, 0, "", 0); /* a zero-length message = default CountResponse */
    put_env(&b, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    for (size_t split = 0; split <= b.n; split++) {
        sink_t s = {0};
        ferry_rpc_status_t st;
        ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, split, &s, NULL, &st, 0),
                         FERRY_RPC_OK);
        ck_assert_uint_eq(s.n, 4);
        ck_assert_uint_eq(s.idx[0], 1);
        ck_assert_uint_eq(s.idx[2], 3);
        ck_assert_uint_eq(s.idx[3], 0);
    }
    sink_t s = {0};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, SIZE_MAX, &s, NULL, &st, 0),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(s.n, 4);
}
END_TEST

START_TEST(connect_stream_messages_arrive_incrementally)
{
    /* Each message is delivered as soon as its last byte arrives, not at the end. */
    ferry_rd_config_t cfg = {.wire = FERRY_RD_CONNECT_STREAM,
                             .output = &ferrytest__v1__count_response__descriptor,
                             .on_message = sink_cb};
    sink_t s = {0};
    cfg.user = &s;
    ferry_rd_t *rd = ferry_rd_new(&cfg);
    ferry_rd_header_line(rd, "HTTP/2 200\r\n", 12);
    ferry_rd_header_line(rd, "content-type: application/connect+proto\r\n", 41);
    buf_t b = {.n = 0};
    put_count_env(&b, 5);
    ck_assert_int_eq(ferry_rd_body(rd, b.d, b.n - 1), 0);
    ck_assert_uint_eq(s.n, 0);
    ck_assert_int_eq(ferry_rd_body(rd, b.d + b.n - 1, 1), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(ferry_rd_message_count(rd), 1);
    ferry_rd_free(rd);
}
END_TEST

START_TEST(connect_stream_end_error_with_metadata)
{
    char info[128];
    b64_error_info("E_DOWNLOAD_FAILED", info);
    buf_t b = {.n = 0};
    put_count_env(&b, 1);
    put_count_env(&b, 2);
    const char *end = "{\"error\":{\"code\":\"aborted\",\"message\":\"boom\"},"
                      "\"metadata\":{\"ferry-error-code\":[\"E_HASH_MISMATCH\"],\"x\":[\"y\"]}}";
    put_env(&b, FERRY_ENVELOPE_END_STREAM, end, strlen(end));
    for (size_t split = 0; split <= b.n; split++) {
        sink_t s = {0};
        ferry_rpc_status_t st;
        ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, split, &s, NULL, &st, 0),
                         FERRY_RPC_ABORTED);
        ck_assert_uint_eq(s.n, 2);
        ck_assert_str_eq(st.message, "boom");
        ck_assert_str_eq(st.app_code, "E_HASH_MISMATCH");
    }
    /* An ErrorInfo detail wins over the metadata. */
    buf_t b2 = {.n = 0};
    char end2[512];
    int n = snprintf(end2, sizeof(end2),
                     "{\"error\":{\"code\":\"unavailable\",\"message\":\"m\",\"details\":[{\"type\":"
                     "\"type.googleapis.com/google.rpc.ErrorInfo\",\"value\":\"%s\"}]},"
                     "\"metadata\":{\"ferry-error-code\":[\"E_OTHER\"]}}",
                     info);
    put_env(&b2, FERRY_ENVELOPE_END_STREAM, end2, (size_t)n);
    sink_t s = {0};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b2, 0, &s, NULL, &st, 0),
                     FERRY_RPC_UNAVAILABLE);
    ck_assert_str_eq(st.app_code, "E_DOWNLOAD_FAILED");
    /* An unknown code name becomes unknown. */
    buf_t b3 = {.n = 0};
    const char *end3 = "{\"error\":{\"code\":\"exploded\"}}";
    put_env(&b3, FERRY_ENVELOPE_END_STREAM, end3, strlen(end3));
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b3, 0, &s, NULL, &st, 0),
                     FERRY_RPC_UNKNOWN);
}
END_TEST

START_TEST(connect_stream_oversize_prefix_fails_before_payload)
{
    ferry_rd_config_t cfg = {.wire = FERRY_RD_CONNECT_STREAM,
                             .output = &ferrytest__v1__count_response__descriptor,
                             .max_message_bytes = 1024,
                             .on_message = sink_cb};
    sink_t s = {0};
    cfg.user = &s;
    ferry_rd_t *rd = ferry_rd_new(&cfg);
    ferry_rd_header_line(rd, "HTTP/2 200", 10);
    ferry_rd_header_line(rd, "content-type: application/connect+proto", 39);
    uint8_t h[5];
    ferry_envelope_write_header(h, 0, 0xFFFFFFF0u); /* a lying prefix: ~4 GiB */
    ck_assert_int_eq(ferry_rd_body(rd, h, 4), 0);
    ck_assert_int_eq(ferry_rd_body(rd, h + 4, 1), -1);
    ferry_rpc_status_t st;
    ck_assert(ferry_rd_failed(rd, &st));
    ck_assert_int_eq(st.code, FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(ferry_rd_finish(rd, NULL, &st), FERRY_RPC_RESOURCE_EXHAUSTED);
    ferry_rd_free(rd);
    /* Exactly at the cap is fine. */
    buf_t b = {.n = 0};
    uint8_t payload[1024] = {0};
    put_env(&b, 0, payload, sizeof(payload)); /* zeros: not a valid message, but not too large */
    ferry_rpc_status_t st2;
    ck_assert_int_ne(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, 0, &s, NULL, &st2, 1024),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
}
END_TEST

START_TEST(connect_stream_truncated_and_trailing_data)
{
    sink_t s = {0};
    ferry_rpc_status_t st;
    /* Clean end of body without the end-stream message. */
    buf_t b = {.n = 0};
    put_count_env(&b, 1);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, 0, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(st.message, "end-stream"));
    /* Cut inside a message. */
    b.n -= 1;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, 0, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
    ck_assert_ptr_nonnull(strstr(st.message, "truncated"));
    /* Data after the end-stream message. */
    buf_t c = {.n = 0};
    put_env(&c, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    put_count_env(&c, 1);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &c, 0, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
    /* An end-stream message that is not JSON. */
    buf_t d = {.n = 0};
    put_env(&d, FERRY_ENVELOPE_END_STREAM, "nope", 4);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &d, 0, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
    /* A message that is not a valid protobuf. */
    buf_t e = {.n = 0};
    put_env(&e, 0, "\xff\xff\xff", 3);
    put_env(&e, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &e, 0, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
}
END_TEST

START_TEST(connect_stream_compression)
{
    uint8_t raw[32];
    size_t rn = pack_count(77, raw);
    uint8_t *gz = NULL;
    size_t gn = 0;
    ck_assert_int_eq(ferry_gzip_compress(raw, rn, &gz, &gn, NULL), FERRY_OK);
    buf_t b = {.n = 0};
    put_env(&b, FERRY_ENVELOPE_COMPRESSED, gz, gn);
    put_env(&b, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    free(gz);
    static const char *const h[] = {"HTTP/2 200", "content-type: application/connect+proto",
                                    "connect-content-encoding: gzip", NULL};
    sink_t s = {0};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, h, &b, 7, &s, NULL, &st, 0), FERRY_RPC_OK);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(s.idx[0], 77);
    /* The compressed flag without a negotiated encoding is a protocol error. */
    s.n = 0;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, 7, &s, NULL, &st, 0),
                     FERRY_RPC_INTERNAL);
}
END_TEST

START_TEST(connect_stream_callback_cancels)
{
    buf_t b = {.n = 0};
    for (uint32_t i = 0; i < 5; i++)
        put_count_env(&b, i);
    put_env(&b, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    sink_t s = {.stop_after = 2};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, false, stream_h, &b, 0, &s, NULL, &st, 0),
                     FERRY_RPC_CANCELED);
    ck_assert_uint_eq(s.n, 2);
}
END_TEST

START_TEST(connect_client_stream_single_response)
{
    buf_t b = {.n = 0};
    put_count_env(&b, 9);
    put_env(&b, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    ferry_rpc_status_t st;
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, true, stream_h, &b, 4, NULL, &resp, &st, 0), FERRY_RPC_OK);
    ck_assert_uint_eq(((Ferrytest__V1__CountResponse *)resp)->index, 9);
    protobuf_c_message_free_unpacked(resp, NULL);
    /* Two responses, or none, are protocol errors. */
    buf_t two = {.n = 0};
    put_count_env(&two, 1);
    put_count_env(&two, 2);
    put_env(&two, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, true, stream_h, &two, 0, NULL, &resp, &st, 0),
                     FERRY_RPC_INTERNAL);
    ck_assert_ptr_null(resp);
    buf_t none = {.n = 0};
    put_env(&none, FERRY_ENVELOPE_END_STREAM, "{}", 2);
    ck_assert_int_eq(run(FERRY_RD_CONNECT_STREAM, true, stream_h, &none, 0, NULL, &resp, &st, 0),
                     FERRY_RPC_INTERNAL);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* gRPC-Web                                                                  */
/* ------------------------------------------------------------------------- */

static const char *const gw_h[] = {"HTTP/2 200", "content-type: application/grpc-web+proto", NULL};

START_TEST(grpc_web_stream_with_trailer_every_split)
{
    buf_t b = {.n = 0};
    put_count_env(&b, 1);
    put_count_env(&b, 2);
    const char *tr = "Grpc-Status: 5\r\ngrpc-message: not%20found%3A%20pkg%2fx%zz\r\nferry-error-code: "
                     "E_BACKUP_MISSING\r\n";
    put_env(&b, FERRY_ENVELOPE_TRAILER, tr, strlen(tr));
    for (size_t split = 0; split <= b.n; split++) {
        sink_t s = {0};
        ferry_rpc_status_t st;
        ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, gw_h, &b, split, &s, NULL, &st, 0),
                         FERRY_RPC_NOT_FOUND);
        ck_assert_uint_eq(s.n, 2);
        ck_assert_str_eq(st.message, "not found: pkg/x%zz");
        ck_assert_str_eq(st.app_code, "E_BACKUP_MISSING");
    }
}
END_TEST

START_TEST(grpc_web_unary_ok)
{
    static const char *const h[] = {"HTTP/2 200", "content-type: application/grpc-web", NULL};
    buf_t b = {.n = 0};
    put_count_env(&b, 11);
    const char *tr = "grpc-status:0\r\n";
    put_env(&b, FERRY_ENVELOPE_TRAILER, tr, strlen(tr));
    ferry_rpc_status_t st;
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, true, h, &b, SIZE_MAX, NULL, &resp, &st, 0), FERRY_RPC_OK);
    ck_assert_uint_eq(((Ferrytest__V1__CountResponse *)resp)->index, 11);
    ck_assert_str_eq(st.app_code, "");
    protobuf_c_message_free_unpacked(resp, NULL);
}
END_TEST

START_TEST(grpc_web_trailers_only)
{
    static const char *const h[] = {"HTTP/2 200",
                                    "content-type: application/grpc-web+proto",
                                    "grpc-status: 16",
                                    "grpc-message: bad%20token",
                                    "ferry-error-code: E_AUTH_INVALID",
                                    NULL};
    buf_t b = {.n = 0};
    ferry_rpc_status_t st;
    ProtobufCMessage *resp = NULL;
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, true, h, &b, 0, NULL, &resp, &st, 0), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_ptr_null(resp);
    ck_assert_str_eq(st.message, "bad token");
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    /* Trailers-only with a non-200 status: grpc-status wins over the HTTP mapping. */
    static const char *const h2[] = {"HTTP/2 500", "grpc-status: 3", "grpc-message: x", NULL};
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, h2, &b, 0, &(sink_t){0}, NULL, &st, 0),
                     FERRY_RPC_INVALID_ARGUMENT);
    /* A non-numeric status is unknown. */
    static const char *const h3[] = {"HTTP/2 200", "grpc-status: abc", NULL};
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, h3, &b, 0, &(sink_t){0}, NULL, &st, 0), FERRY_RPC_UNKNOWN);
}
END_TEST

START_TEST(grpc_web_missing_or_bad_trailers)
{
    buf_t b = {.n = 0};
    put_count_env(&b, 1);
    sink_t s = {0};
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, gw_h, &b, 0, &s, NULL, &st, 0), FERRY_RPC_INTERNAL);
    const char *tr = "grpc-message: no status\r\n";
    put_env(&b, FERRY_ENVELOPE_TRAILER, tr, strlen(tr));
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, gw_h, &b, 0, &s, NULL, &st, 0), FERRY_RPC_INTERNAL);
    /* Status in real HTTP trailers (after the body) is accepted. */
    buf_t c = {.n = 0};
    put_count_env(&c, 1);
    ferry_rd_config_t cfg = {.wire = FERRY_RD_GRPC_WEB,
                             .output = &ferrytest__v1__count_response__descriptor,
                             .on_message = sink_cb,
                             .user = &s};
    ferry_rd_t *rd = ferry_rd_new(&cfg);
    ferry_rd_header_line(rd, "HTTP/2 200", 10);
    ferry_rd_header_line(rd, "content-type: application/grpc-web+proto", 40);
    ck_assert_int_eq(ferry_rd_body(rd, c.d, c.n), 0);
    ferry_rd_header_line(rd, "grpc-status: 0", 14);
    ck_assert_int_eq(ferry_rd_finish(rd, NULL, &st), FERRY_RPC_OK);
    ferry_rd_free(rd);
}
END_TEST

START_TEST(grpc_web_json_codec_content_type)
{
    /* A proto decoder refuses a +json body and vice versa. */
    static const char *const h[] = {"HTTP/2 200", "content-type: application/grpc-web+json", NULL};
    buf_t b = {.n = 0};
    put_count_env(&b, 1);
    ferry_rpc_status_t st;
    ck_assert_int_eq(run(FERRY_RD_GRPC_WEB, false, h, &b, 0, &(sink_t){0}, NULL, &st, 0), FERRY_RPC_UNKNOWN);
    ck_assert_ptr_nonnull(strstr(st.message, "content-type"));
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Parsers                                                                   */
/* ------------------------------------------------------------------------- */

START_TEST(parsers)
{
    char out[32];
    ferry_rd_percent_decode("a%41%4a%2", 9, out, sizeof(out));
    ck_assert_str_eq(out, "aAJ%2");
    ferry_rd_percent_decode("abcdef", 6, out, 4);
    ck_assert_str_eq(out, "abc");

    ferry_rpc_status_t st = {0};
    const char *tr = "GRPC-STATUS : 14 \r\nGrpc-Message: try%20later\n";
    ck_assert_int_eq(ferry_rd_parse_grpc_trailers(tr, strlen(tr), &st), 0);
    ck_assert_int_eq(st.code, FERRY_RPC_UNAVAILABLE);
    ck_assert_str_eq(st.message, "try later");
    ck_assert_int_eq(ferry_rd_parse_grpc_trailers("x: y\r\n", 6, &st), -1);
    ck_assert_int_eq(ferry_rd_parse_grpc_trailers("grpc-status: 99\r\n", 17, &st), 0);
    ck_assert_int_eq(st.code, FERRY_RPC_UNKNOWN);

    ck_assert_int_eq(ferry_rd_parse_connect_error("{\"code\":\"not_found\"}", 20, &st), 0);
    ck_assert_int_eq(st.code, FERRY_RPC_NOT_FOUND);
    ck_assert_str_eq(st.message, "");
    ck_assert_int_eq(ferry_rd_parse_connect_error("{\"message\":\"x\"}", 15, &st), -1);
    ck_assert_int_eq(ferry_rd_parse_connect_error("{\"code\":\"ok\"}", 13, &st), 0);
    ck_assert_int_eq(st.code, FERRY_RPC_UNKNOWN);

    /* ErrorInfo: reason after other fields of every wire type; malformed input. */
    static const uint8_t pb[] = {0x08, 0x96, 0x01, 0x11, 1, 2, 3,    4,    5,   6,   7,
                                 8,    0x1d, 1,    2,    3, 4, 0x0a, 0x03, 'E', '_', 'X'};
    ck_assert_int_eq(ferry_rd_error_info_reason(pb, sizeof(pb), out, sizeof(out)), 0);
    ck_assert_str_eq(out, "E_X");
    ck_assert_int_eq(ferry_rd_error_info_reason(pb, sizeof(pb) - 1, out, sizeof(out)), -1);
    static const uint8_t lying[] = {0x0a, 0x7f, 'a'};
    ck_assert_int_eq(ferry_rd_error_info_reason(lying, sizeof(lying), out, sizeof(out)), -1);
    static const uint8_t no_reason[] = {0x12, 0x01, 'd'};
    ck_assert_int_eq(ferry_rd_error_info_reason(no_reason, sizeof(no_reason), out, sizeof(out)), -1);
    static const uint8_t bad_wt[] = {0x0b};
    ck_assert_int_eq(ferry_rd_error_info_reason(bad_wt, sizeof(bad_wt), out, sizeof(out)), -1);
}
END_TEST

START_TEST(header_value_caps)
{
    /* Huge header values are truncated into fixed fields, never grown. */
    ferry_rd_config_t cfg = {
        .wire = FERRY_RD_GRPC_WEB, .output = &ferrytest__v1__count_response__descriptor, .single = true};
    ferry_rd_t *rd = ferry_rd_new(&cfg);
    char line[20000];
    memcpy(line, "grpc-message: ", 14);
    memset(line + 14, 'a', sizeof(line) - 14);
    ferry_rd_header_line(rd, "HTTP/2 200", 10);
    ferry_rd_header_line(rd, "grpc-status: 2", 14);
    ferry_rd_header_line(rd, line, sizeof(line));
    memcpy(line, "ferry-error-code: ", 18);
    ferry_rd_header_line(rd, line, sizeof(line));
    ferry_rpc_status_t st;
    ck_assert_int_eq(ferry_rd_finish(rd, NULL, &st), FERRY_RPC_UNKNOWN);
    ck_assert_uint_eq(strlen(st.message), sizeof(st.message) - 1);
    ck_assert_uint_eq(strlen(st.app_code), sizeof(st.app_code) - 1);
    ferry_rd_free(rd);
    /* No status line at all. */
    rd = ferry_rd_new(&cfg);
    ck_assert_int_eq(ferry_rd_finish(rd, NULL, &st), FERRY_RPC_INTERNAL);
    ferry_rd_free(rd);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Backoff, pins, timeouts                                                   */
/* ------------------------------------------------------------------------- */

START_TEST(backoff_full_jitter)
{
    ck_assert_uint_eq(ferry_rpc_backoff_ms(0, 100, 5000, 0), 0);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(0, 100, 5000, 100), 100);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(0, 100, 5000, 101), 0);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(3, 100, 5000, 800), 800);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(3, 100, 5000, 801), 0);
    /* Capped, also for absurd attempt numbers. */
    ck_assert_uint_eq(ferry_rpc_backoff_ms(6, 100, 5000, 5000), 5000);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(1000, 100, 5000, 5000), 5000);
    ck_assert_uint_eq(ferry_rpc_backoff_ms(1000, 100, 5000, 5001), 0);
    for (uint64_t r = 0; r < 100000; r += 7919) {
        for (unsigned a = 0; a < 40; a++)
            ck_assert_uint_le(ferry_rpc_backoff_ms(a, 100, 5000, r * 0x9e3779b97f4a7c15ull), 5000);
    }
    ck_assert_uint_le(ferry_rpc_backoff_ms(2, 100, 5000, UINT64_MAX), 400);
}
END_TEST

START_TEST(pin_conversion)
{
    char pin[64];
    char hex[65];
    memset(hex, '0', 64);
    hex[64] = '\0';
    ck_assert_int_eq(ferry_rpc_pin_from_hex(hex, pin, sizeof(pin)), 0);
    ck_assert_str_eq(pin, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    /* Colon-separated, upper case. */
    char colon[100] = "";
    for (int i = 0; i < 32; i++)
        strcat(colon, i ? ":FF" : "FF");
    ck_assert_int_eq(ferry_rpc_pin_from_hex(colon, pin, sizeof(pin)), 0);
    ck_assert_str_eq(pin, "sha256////////////////////////////////////////////8=");
    ck_assert_int_eq(ferry_rpc_pin_from_hex("abcd", pin, sizeof(pin)), -1);
    hex[3] = 'g';
    ck_assert_int_eq(ferry_rpc_pin_from_hex(hex, pin, sizeof(pin)), -1);
    ck_assert_int_eq(ferry_rpc_pin_from_hex(NULL, pin, sizeof(pin)), -1);
    ck_assert_int_eq(ferry_rpc_pin_from_hex("00", pin, 10), -1);
}
END_TEST

START_TEST(grpc_timeout_format)
{
    char out[16];
    ferry_rpc_format_grpc_timeout(1, out);
    ck_assert_str_eq(out, "1m");
    ferry_rpc_format_grpc_timeout(99999999, out);
    ck_assert_str_eq(out, "99999999m");
    ferry_rpc_format_grpc_timeout(100000000, out);
    ck_assert_str_eq(out, "100000S");
    ferry_rpc_format_grpc_timeout(100000001, out);
    ck_assert_str_eq(out, "100001S");
    ferry_rpc_format_grpc_timeout(UINT64_MAX, out);
    ck_assert_uint_le(strlen(out), 9);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rpc_client_decoder");
    TCase *t = tcase_create("decoder");
    tcase_add_test(t, connect_unary_success_every_split);
    tcase_add_test(t, connect_unary_empty_body_and_interim_status);
    tcase_add_test(t, connect_unary_gzip);
    tcase_add_test(t, connect_unary_error_json_every_split);
    tcase_add_test(t, connect_unary_error_app_code_header);
    tcase_add_test(t, http_status_fallback);
    tcase_add_test(t, connect_unary_size_caps);
    tcase_add_test(t, connect_stream_every_split);
    tcase_add_test(t, connect_stream_messages_arrive_incrementally);
    tcase_add_test(t, connect_stream_end_error_with_metadata);
    tcase_add_test(t, connect_stream_oversize_prefix_fails_before_payload);
    tcase_add_test(t, connect_stream_truncated_and_trailing_data);
    tcase_add_test(t, connect_stream_compression);
    tcase_add_test(t, connect_stream_callback_cancels);
    tcase_add_test(t, connect_client_stream_single_response);
    tcase_add_test(t, grpc_web_stream_with_trailer_every_split);
    tcase_add_test(t, grpc_web_unary_ok);
    tcase_add_test(t, grpc_web_trailers_only);
    tcase_add_test(t, grpc_web_missing_or_bad_trailers);
    tcase_add_test(t, grpc_web_json_codec_content_type);
    tcase_add_test(t, parsers);
    tcase_add_test(t, header_value_caps);
    tcase_add_test(t, backoff_full_jitter);
    tcase_add_test(t, pin_conversion);
    tcase_add_test(t, grpc_timeout_format);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
