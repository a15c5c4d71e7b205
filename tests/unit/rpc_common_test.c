#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/rpc.h"

START_TEST(code_names_and_http_table)
{
    static const struct {
        ferry_rpc_code_t c;
        const char *name;
        int http;
    } t[] = {{FERRY_RPC_CANCELED, "canceled", 499},
             {FERRY_RPC_UNKNOWN, "unknown", 500},
             {FERRY_RPC_INVALID_ARGUMENT, "invalid_argument", 400},
             {FERRY_RPC_DEADLINE_EXCEEDED, "deadline_exceeded", 504},
             {FERRY_RPC_NOT_FOUND, "not_found", 404},
             {FERRY_RPC_ALREADY_EXISTS, "already_exists", 409},
             {FERRY_RPC_PERMISSION_DENIED, "permission_denied", 403},
             {FERRY_RPC_RESOURCE_EXHAUSTED, "resource_exhausted", 429},
             {FERRY_RPC_FAILED_PRECONDITION, "failed_precondition", 400},
             {FERRY_RPC_ABORTED, "aborted", 409},
             {FERRY_RPC_OUT_OF_RANGE, "out_of_range", 400},
             {FERRY_RPC_UNIMPLEMENTED, "unimplemented", 501},
             {FERRY_RPC_INTERNAL, "internal", 500},
             {FERRY_RPC_UNAVAILABLE, "unavailable", 503},
             {FERRY_RPC_DATA_LOSS, "data_loss", 500},
             {FERRY_RPC_UNAUTHENTICATED, "unauthenticated", 401}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        ck_assert_str_eq(ferry_rpc_code_name(t[i].c), t[i].name);
        ck_assert_int_eq(ferry_rpc_code_to_http(t[i].c), t[i].http);
        ferry_rpc_code_t back;
        ck_assert_int_eq(ferry_rpc_code_from_name(t[i].name, &back), 0);
        ck_assert_int_eq(back, t[i].c);
    }
    ferry_rpc_code_t x;
    ck_assert_int_eq(ferry_rpc_code_from_name("bogus", &x), -1);
    ck_assert_str_eq(ferry_rpc_code_name((ferry_rpc_code_t)99), "unknown");
    ck_assert_int_eq(ferry_rpc_code_from_http(400), FERRY_RPC_INTERNAL);
    ck_assert_int_eq(ferry_rpc_code_from_http(404), FERRY_RPC_UNIMPLEMENTED);
    ck_assert_int_eq(ferry_rpc_code_from_http(502), FERRY_RPC_UNAVAILABLE);
    ck_assert_int_eq(ferry_rpc_code_from_http(418), FERRY_RPC_UNKNOWN);
    ck_assert_int_eq(ferry_rpc_code_from_err(FERRY_E_VERSION_DUPLICATE), FERRY_RPC_ALREADY_EXISTS);
    ck_assert_int_eq(ferry_rpc_code_from_err(FERRY_E_AUTH_INVALID), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_int_eq(ferry_rpc_code_from_err(FERRY_E_PACKAGE_INVALID), FERRY_RPC_INVALID_ARGUMENT);
}
END_TEST

START_TEST(envelope_partial_oversize_zero_and_flags)
{
    uint8_t buf[16];
    ferry_envelope_write_header(buf, FERRY_ENVELOPE_COMPRESSED, 3);
    memcpy(buf + 5, "abc", 3);
    ferry_envelope_t env;
    size_t used = 99;
    for (size_t n = 0; n < 8; n++) {
        ck_assert_int_eq(ferry_envelope_next(buf, n, 100, &env, &used), FERRY_ENVELOPE_NEED_MORE);
        ck_assert_uint_eq(used, 0);
    }
    ck_assert_int_eq(ferry_envelope_next(buf, 8, 100, &env, &used), FERRY_ENVELOPE_OK);
    ck_assert_uint_eq(used, 8);
    ck_assert_uint_eq(env.flags, FERRY_ENVELOPE_COMPRESSED);
    ck_assert_uint_eq(env.len, 3);
    ck_assert_int_eq(memcmp(env.data, "abc", 3), 0);
    /* limit is checked from the prefix alone, before the payload arrives */
    ck_assert_int_eq(ferry_envelope_next(buf, 5, 2, &env, &used), FERRY_ENVELOPE_TOO_LARGE);
    /* lying prefix: 4 GiB */
    uint8_t lie[5] = {0, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(ferry_envelope_next(lie, 5, 4u << 20, &env, &used), FERRY_ENVELOPE_TOO_LARGE);
    /* zero-length message */
    ferry_envelope_write_header(buf, FERRY_ENVELOPE_END_STREAM, 0);
    ck_assert_int_eq(ferry_envelope_next(buf, 5, 0, &env, &used), FERRY_ENVELOPE_OK);
    ck_assert_uint_eq(used, 5);
    ck_assert_uint_eq(env.len, 0);
    ck_assert_uint_eq(env.flags, FERRY_ENVELOPE_END_STREAM);
}
END_TEST

START_TEST(gzip_round_trip_and_bomb_cap)
{
    size_t n = 1 << 20;
    uint8_t *zeros = calloc(1, n);
    uint8_t *z = NULL, *back = NULL;
    size_t zl = 0, bl = 0;
    ck_assert_int_eq(ferry_gzip_compress(zeros, n, &z, &zl, NULL), FERRY_OK);
    ck_assert_uint_lt(zl, n / 100);
    ck_assert_int_eq(ferry_gzip_decompress(z, zl, n, &back, &bl, NULL), FERRY_OK);
    ck_assert_uint_eq(bl, n);
    ck_assert_int_eq(memcmp(back, zeros, n), 0);
    free(back);
    back = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_gzip_decompress(z, zl, n - 1, &back, &bl, &e), FERRY_E_TOO_LARGE);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(ferry_gzip_decompress(z, zl / 2, n, &back, &bl, &e), FERRY_E_CORRUPT);
    ck_assert_int_eq(ferry_gzip_decompress((const uint8_t *)"not gzip", 8, n, &back, &bl, &e),
                     FERRY_E_CORRUPT);
    free(z);
    free(zeros);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc_common");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, code_names_and_http_table);
    tcase_add_test(tc, envelope_partial_oversize_zero_and_flags);
    tcase_add_test(tc, gzip_round_trip_and_bomb_cap);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
