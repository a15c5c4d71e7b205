/* Unit tests for the pure protocol functions of the RPC server (wire_internal.h). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ferry/encoding.h"
#include "wire_internal.h"

START_TEST(content_types)
{
    static const struct {
        const char *ct;
        ferry_wire_protocol_t p;
        ferry_wire_codec_t c;
    } t[] = {
        {"application/proto", FERRY_WIRE_CONNECT_UNARY, FERRY_WIRE_CODEC_PROTO},
        {"application/json", FERRY_WIRE_CONNECT_UNARY, FERRY_WIRE_CODEC_JSON},
        {"Application/JSON; charset=utf-8", FERRY_WIRE_CONNECT_UNARY, FERRY_WIRE_CODEC_JSON},
        {"application/connect+proto", FERRY_WIRE_CONNECT_STREAM, FERRY_WIRE_CODEC_PROTO},
        {"application/connect+json", FERRY_WIRE_CONNECT_STREAM, FERRY_WIRE_CODEC_JSON},
        {"application/grpc-web", FERRY_WIRE_GRPC_WEB, FERRY_WIRE_CODEC_PROTO},
        {"application/grpc-web+proto", FERRY_WIRE_GRPC_WEB, FERRY_WIRE_CODEC_PROTO},
        {"application/grpc-web+json", FERRY_WIRE_GRPC_WEB, FERRY_WIRE_CODEC_JSON},
        {"application/grpc-web-text+proto", FERRY_WIRE_GRPC_WEB_TEXT, FERRY_WIRE_CODEC_PROTO},
        {"application/grpc", FERRY_WIRE_GRPC, FERRY_WIRE_CODEC_PROTO},
        {"application/grpc+proto", FERRY_WIRE_GRPC, FERRY_WIRE_CODEC_PROTO},
        {"application/connect+thrift", FERRY_WIRE_UNSUPPORTED, FERRY_WIRE_CODEC_PROTO},
        {"application/foo", FERRY_WIRE_UNSUPPORTED, FERRY_WIRE_CODEC_PROTO},
        {"text/plain", FERRY_WIRE_UNSUPPORTED, FERRY_WIRE_CODEC_PROTO},
        {"", FERRY_WIRE_UNSUPPORTED, FERRY_WIRE_CODEC_PROTO},
        {"application/jsonx", FERRY_WIRE_UNSUPPORTED, FERRY_WIRE_CODEC_PROTO},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ferry_wire_codec_t c;
        ck_assert_msg(ferry_wire_content_type(t[i].ct, strlen(t[i].ct), &c) == t[i].p, "%s", t[i].ct);
        if (t[i].p != FERRY_WIRE_UNSUPPORTED)
            ck_assert_int_eq(c, t[i].c);
    }
}
END_TEST

START_TEST(connect_timeout)
{
    uint64_t ns;
    ck_assert_int_eq(ferry_wire_connect_timeout("1500", 4, &ns), 0);
    ck_assert_uint_eq(ns, 1500000000ull);
    ck_assert_int_eq(ferry_wire_connect_timeout("9999999999", 10, &ns), 0);
    ck_assert_uint_eq(ns, 9999999999ull * 1000000ull);
    ck_assert_int_eq(ferry_wire_connect_timeout("0", 1, &ns), 0);
    ck_assert_uint_eq(ns, 0);
    ck_assert_int_eq(ferry_wire_connect_timeout("10000000000", 11, &ns), -1); /* 11 digits */
    ck_assert_int_eq(ferry_wire_connect_timeout("", 0, &ns), -1);
    ck_assert_int_eq(ferry_wire_connect_timeout("-5", 2, &ns), -1);
    ck_assert_int_eq(ferry_wire_connect_timeout("+5", 2, &ns), -1);
    ck_assert_int_eq(ferry_wire_connect_timeout("1 0", 3, &ns), -1);
    ck_assert_int_eq(ferry_wire_connect_timeout("1.5", 3, &ns), -1);
}
END_TEST

START_TEST(grpc_timeout)
{
    uint64_t ns;
    static const struct {
        const char *s;
        uint64_t ns;
    } ok[] = {{"1H", 3600000000000ull},
              {"2M", 120000000000ull},
              {"3S", 3000000000ull},
              {"250m", 250000000ull},
              {"7u", 7000ull},
              {"9n", 9ull},
              {"99999999S", 99999999000000000ull}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_int_eq(ferry_wire_grpc_timeout(ok[i].s, strlen(ok[i].s), &ns), 0);
        ck_assert_uint_eq(ns, ok[i].ns);
    }
    /* 99999999 hours overflows 64-bit nanoseconds: saturates */
    ck_assert_int_eq(ferry_wire_grpc_timeout("99999999H", 9, &ns), 0);
    ck_assert_uint_eq(ns, UINT64_MAX);
    static const char *const bad[] = {"", "S", "5", "5s", "5x", "123456789S", "-1S", "1 S", "1.5S"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ferry_wire_grpc_timeout(bad[i], strlen(bad[i]), &ns) == -1, "%s", bad[i]);
}
END_TEST

START_TEST(encodings)
{
    ck_assert_int_eq(ferry_wire_encoding(NULL, 0), FERRY_WIRE_ENC_IDENTITY);
    ck_assert_int_eq(ferry_wire_encoding("identity", 8), FERRY_WIRE_ENC_IDENTITY);
    ck_assert_int_eq(ferry_wire_encoding(" gzip ", 6), FERRY_WIRE_ENC_GZIP);
    ck_assert_int_eq(ferry_wire_encoding("br", 2), FERRY_WIRE_ENC_UNSUPPORTED);
    ck_assert(ferry_wire_accepts_gzip("gzip", 4));
    ck_assert(ferry_wire_accepts_gzip("br, gzip;q=0.5", 14));
    ck_assert(ferry_wire_accepts_gzip("*", 1));
    ck_assert(!ferry_wire_accepts_gzip("gzip;q=0", 8));
    ck_assert(!ferry_wire_accepts_gzip("gzip; q=0.000", 13));
    ck_assert(!ferry_wire_accepts_gzip("br,zstd", 7));
    ck_assert(!ferry_wire_accepts_gzip("", 0));
    ck_assert(!ferry_wire_accepts_gzip(NULL, 0));
}
END_TEST

START_TEST(get_query)
{
    ferry_wire_get_query_t q;
    const char *why = NULL;
    const char *s = "message=%7B%7D&encoding=json&connect=v1&x=1";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), 0);
    ck_assert_int_eq(q.codec, FERRY_WIRE_CODEC_JSON);
    ck_assert(!q.base64);
    ck_assert_int_eq(q.compression, FERRY_WIRE_ENC_IDENTITY);
    ck_assert_uint_eq(q.message_len, 6);
    uint8_t out[16];
    ck_assert_int_eq(ferry_wire_percent_decode(q.message, q.message_len, out, sizeof(out)), 2);
    ck_assert(memcmp(out, "{}", 2) == 0);
    s = "encoding=proto&base64=1&compression=gzip&message=AAA";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), 0);
    ck_assert(q.base64);
    ck_assert_int_eq(q.compression, FERRY_WIRE_ENC_GZIP);
    s = "encoding=json";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), 0);
    ck_assert_uint_eq(q.message_len, 0);
    s = "message=x";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), -1); /* encoding required */
    s = "encoding=xml";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), -1);
    s = "encoding=json&connect=v2";
    ck_assert_int_eq(ferry_wire_get_query(s, strlen(s), &q, &why), -1);
    ck_assert_int_eq(ferry_wire_percent_decode("a+b%2", 5, out, sizeof(out)), -1);
    ck_assert_int_eq(ferry_wire_percent_decode("a%zz", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(ferry_wire_percent_decode("a+b", 3, out, sizeof(out)), 3);
    ck_assert(memcmp(out, "a b", 3) == 0);
    ck_assert_int_eq(ferry_wire_percent_decode("abcd", 4, out, 3), -1); /* too small */
}
END_TEST

START_TEST(error_json)
{
    char buf[1024];
    size_t n = ferry_wire_error_json(FERRY_RPC_NOT_FOUND, "no \"x\"\n\x01", NULL, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_str_eq(buf, "{\"code\":\"not_found\",\"message\":\"no \\\"x\\\"\\n\\u0001\"}");
    ferry_wire_error_json(FERRY_RPC_ALREADY_EXISTS, "dup", "E_VERSION_DUPLICATE", buf, sizeof(buf));
    ck_assert_str_eq(buf,
                     "{\"code\":\"already_exists\",\"message\":\"dup\",\"details\":[{\"type\":\"google.rpc."
                     "ErrorInfo\",\"value\":\"ChNFX1ZFUlNJT05fRFVQTElDQVRFEgVmZXJyeQ\"}]}");
    ferry_wire_error_json(FERRY_RPC_INTERNAL, "", NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "{\"code\":\"internal\"}");
    /* A long message is truncated, never split inside an escape, and the JSON stays closed. */
    char longmsg[2000];
    memset(longmsg, '"', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    n = ferry_wire_error_json(FERRY_RPC_UNKNOWN, longmsg, "E_IO", buf, 600);
    ck_assert_uint_lt(n, 600);
    ck_assert_int_eq(buf[n - 1], '}');
    ck_assert_ptr_nonnull(strstr(buf, "\"details\""));
    ck_assert_ptr_null(strstr(buf, "\\\\\""));
    ck_assert_uint_eq(ferry_wire_error_json(FERRY_RPC_UNKNOWN, "x", NULL, buf, 100), 0);

    ferry_wire_end_stream_json(FERRY_RPC_OK, NULL, NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "{}");
    ferry_wire_end_stream_json(FERRY_RPC_ABORTED, "stop", "E_ROLLBACK_FAILED", buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "{\"error\":{\"code\":\"aborted\",\"message\":\"stop\""));
    ck_assert_ptr_nonnull(strstr(buf, ",\"metadata\":{\"ferry-error-code\":[\"E_ROLLBACK_FAILED\"]}}"));
}
END_TEST

START_TEST(error_info_and_status)
{
    uint8_t b[256];
    size_t n = ferry_wire_error_info("E_IO", "ferry", b, sizeof(b));
    ck_assert_uint_eq(n, 2 + 4 + 2 + 5);
    ck_assert(memcmp(b,
                     "\x0a\x04"
                     "E_IO"
                     "\x12\x05"
                     "ferry",
                     n) == 0);
    ck_assert_uint_eq(ferry_wire_error_info("E_IO", "ferry", b, 5), 0);
    size_t s = ferry_wire_status_proto(FERRY_RPC_NOT_FOUND, "m", b, n, b + 100, 156);
    ck_assert_uint_gt(s, 0);
    ck_assert_int_eq(b[100], 0x08);
    ck_assert_int_eq(b[101], 5);
    ck_assert_int_eq(b[102], 0x12);
    ck_assert_int_eq(b[104], 'm');
    ck_assert_int_eq(b[105], 0x1a); /* details, field 3 */
}
END_TEST

START_TEST(grpc_trailers)
{
    char buf[1024];
    ferry_wire_grpc_percent_encode("a%b\n\xc3\xbc ~", buf, sizeof(buf));
    ck_assert_str_eq(buf, "a%25b%0A%C3%BC ~");
    ferry_wire_grpc_percent_encode("\n\n\n", buf, 5); /* only whole escapes fit */
    ck_assert_str_eq(buf, "%0A");
    size_t n = ferry_wire_grpc_trailers(FERRY_RPC_OK, "ignored", NULL, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert_str_eq(buf, "grpc-status: 0\r\ngrpc-message: \r\n");
    ferry_wire_grpc_trailers(FERRY_RPC_UNAVAILABLE, "100% down\r\n", NULL, buf, sizeof(buf));
    ck_assert_str_eq(buf, "grpc-status: 14\r\ngrpc-message: 100%25 down%0D%0A\r\n");
    ferry_wire_grpc_trailers(FERRY_RPC_UNAUTHENTICATED, "no", "E_AUTH_INVALID", buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "ferry-error-code: E_AUTH_INVALID\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "grpc-status-details-bin: "));
    ck_assert_uint_eq(ferry_wire_grpc_trailers(FERRY_RPC_OK, "", NULL, buf, 100), 0);
}
END_TEST

/* Decodes the grpc-status-details-bin value in |text| and checks code and message. */
static void check_details(const char *text, ferry_rpc_code_t code, const char *message)
{
    const char *d = strstr(text, "grpc-status-details-bin: ");
    ck_assert_ptr_nonnull(d);
    d += strlen("grpc-status-details-bin: ");
    size_t dlen = strcspn(d, "\r");
    uint8_t st[2048];
    long n = ferry_b64_decode(d, dlen, st, sizeof(st));
    ck_assert_int_gt(n, 4);
    ck_assert_int_eq(st[0], 0x08); /* code */
    ck_assert_int_eq(st[1], (int)code);
    ck_assert_int_eq(st[2], 0x12); /* message, field 2 */
    size_t mlen = strlen(message);
    size_t off = 3, len = st[off] & 0x7f;
    if (st[off] & 0x80) {
        len |= (size_t)st[off + 1] << 7;
        off++;
    }
    off++;
    ck_assert_uint_eq(len, mlen);
    ck_assert(memcmp(st + off, message, mlen) == 0);
    ck_assert_int_eq(st[off + mlen], 0x1a); /* then the ErrorInfo detail */
}

/* The google.rpc.Status in grpc-status-details-bin carries the message: clients that
 * find the details (connect-es, grpc-web) take the message from there. */
START_TEST(grpc_details_carry_message)
{
    char buf[4096], hdr[4096];
    ferry_wire_grpc_trailers(FERRY_RPC_ALREADY_EXISTS, "version 1.2.3.4 exists \xe2\x9c\x93",
                             "E_VERSION_DUPLICATE", buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "grpc-message: version 1.2.3.4 exists %E2%9C%93\r\n"));
    check_details(buf, FERRY_RPC_ALREADY_EXISTS, "version 1.2.3.4 exists \xe2\x9c\x93");

    /* The longest message a call keeps (511 bytes, every byte escaped) still fits whole. */
    char longmsg[512];
    memset(longmsg, '\x7f', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    size_t n = ferry_wire_grpc_trailers(FERRY_RPC_INTERNAL, longmsg, "E_IO", buf, sizeof(buf));
    ck_assert_uint_lt(n, sizeof(buf));
    check_details(buf, FERRY_RPC_INTERNAL, longmsg);
    ck_assert_uint_eq(strstr(buf, "\r\nferry-error-code") - strstr(buf, "grpc-message: "),
                      strlen("grpc-message: ") + 3 * 511);

    /* The header form (trailers-only responses). */
    ck_assert_uint_gt(
        ferry_wire_grpc_status_details(FERRY_RPC_NOT_FOUND, "no such thing", "E_NOT_FOUND", hdr, sizeof(hdr)),
        0);
    char text[4200];
    snprintf(text, sizeof(text), "grpc-status-details-bin: %s\r\n", hdr);
    check_details(text, FERRY_RPC_NOT_FOUND, "no such thing");

    /* A small buffer: the message moves out of the details, the trailers stay well-formed. */
    n = ferry_wire_grpc_trailers(FERRY_RPC_INTERNAL, longmsg, "E_IO", buf, 600);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, 600);
    ck_assert_ptr_nonnull(strstr(buf, "grpc-status-details-bin: "));
    ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(envelopes)
{
    uint8_t body[64];
    ferry_wire_msg_t m[4];
    size_t n;
    const char *why;
    ferry_envelope_write_header(body, 0, 2);
    memcpy(body + 5, "ab", 2);
    ferry_envelope_write_header(body + 7, FERRY_ENVELOPE_COMPRESSED, 0);
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 12, 100, true, m, 4, &n, &why), FERRY_RPC_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(m[0].len, 2);
    ck_assert(!m[0].compressed);
    ck_assert(m[1].compressed);
    ck_assert_uint_eq(m[1].len, 0);
    /* compressed flag without a negotiated encoding */
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 12, 100, false, m, 4, &n, &why), FERRY_RPC_INTERNAL);
    ck_assert_uint_eq(n, 0);
    /* truncated: every cut inside an envelope */
    for (size_t cut = 1; cut < 12; cut++) {
        if (cut == 7)
            continue;
        ck_assert_int_eq(ferry_wire_read_envelopes(body, cut, 100, true, m, 4, &n, &why),
                         FERRY_RPC_INVALID_ARGUMENT);
    }
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 0, 100, true, m, 4, &n, &why), FERRY_RPC_OK);
    ck_assert_uint_eq(n, 0);
    /* over the limit / lying prefix */
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 12, 1, true, m, 4, &n, &why),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    ferry_envelope_write_header(body, 0, 0xffffffffu);
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 5, 1u << 20, true, m, 4, &n, &why),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    /* end-stream or trailer flags never appear in requests */
    ferry_envelope_write_header(body, FERRY_ENVELOPE_END_STREAM, 0);
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 5, 100, true, m, 4, &n, &why),
                     FERRY_RPC_INVALID_ARGUMENT);
    ferry_envelope_write_header(body, FERRY_ENVELOPE_TRAILER, 0);
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 5, 100, true, m, 4, &n, &why),
                     FERRY_RPC_INVALID_ARGUMENT);
    /* too many messages */
    for (int i = 0; i < 5; i++)
        ferry_envelope_write_header(body + 5 * i, 0, 0);
    ck_assert_int_eq(ferry_wire_read_envelopes(body, 25, 100, true, m, 4, &n, &why),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc_server_wire");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, content_types);
    tcase_add_test(tc, connect_timeout);
    tcase_add_test(tc, grpc_timeout);
    tcase_add_test(tc, encodings);
    tcase_add_test(tc, get_query);
    tcase_add_test(tc, error_json);
    tcase_add_test(tc, error_info_and_status);
    tcase_add_test(tc, grpc_trailers);
    tcase_add_test(tc, grpc_details_carry_message);
    tcase_add_test(tc, envelopes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
