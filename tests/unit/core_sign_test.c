#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/fs.h"
#include "ferry/sign.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-sign-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    ferry_fs_rm_rf(dir, NULL);
}

START_TEST(ed25519_sign_verify_and_tamper)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/signing.pem", dir);
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sign_keygen_file(path, &e), FERRY_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ferry_signer_t *s = ferry_signer_load(path, &e);
    ck_assert_ptr_nonnull(s);
    uint8_t pub[32], sig[64];
    ferry_signer_public_key(s, pub);
    const char msg[] = "{\"version\":\"1.25.12.13(12521)\",\"sha256\":\"ab\"}";
    ck_assert_int_eq(ferry_signer_sign(s, msg, strlen(msg), sig, &e), FERRY_OK);
    ck_assert_int_eq(ferry_sign_verify(pub, msg, strlen(msg), sig, &e), FERRY_OK);
    char bad[sizeof(msg)];
    memcpy(bad, msg, sizeof(msg));
    bad[5] ^= 1;
    ck_assert_int_eq(ferry_sign_verify(pub, bad, strlen(bad), sig, &e), FERRY_E_SIGNATURE_INVALID);
    sig[10] ^= 0x40;
    ck_assert_int_eq(ferry_sign_verify(pub, msg, strlen(msg), sig, &e), FERRY_E_SIGNATURE_INVALID);
    ferry_signer_free(s);
    ferry_signer_free(NULL);
}
END_TEST

START_TEST(loading_garbage_fails_clearly)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.pem", dir);
    ferry_fs_write_atomic(path, "not a key", 9, 0600, NULL);
    ferry_err_t e = {0};
    ck_assert_ptr_null(ferry_signer_load(path, &e));
    ck_assert_int_eq(e.code, FERRY_E_CORRUPT);
    snprintf(path, sizeof(path), "%s/missing.pem", dir);
    ck_assert_ptr_null(ferry_signer_load(path, &e));
    ck_assert_int_eq(e.code, FERRY_E_NOT_FOUND);
}
END_TEST

START_TEST(signed_urls_expire_and_resist_tampering)
{
    const uint8_t key[] = "0123456789abcdef0123456789abcdef";
    char q[FERRY_SIGNURL_QUERY_MAX];
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_signurl_make(key, 32, "GET", "/blobs/abc", 1000, q, sizeof(q), &e), FERRY_OK);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", q, 999, &e), FERRY_OK);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", q, 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", q, 1001, &e), FERRY_E_AUTH_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "expired"));
    /* other method, other path, other key, edited expiry: all refused */
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "PUT", "/blobs/abc", q, 1, &e), FERRY_E_AUTH_INVALID);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abd", q, 1, &e), FERRY_E_AUTH_INVALID);
    ck_assert_int_eq(ferry_signurl_verify(key, 31, "GET", "/blobs/abc", q, 1, &e), FERRY_E_AUTH_INVALID);
    char forged[FERRY_SIGNURL_QUERY_MAX];
    snprintf(forged, sizeof(forged), "expires=9999%s", strchr(q, '&'));
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", forged, 1, &e), FERRY_E_AUTH_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "mismatch"));
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", "expires=5", 1, &e),
                     FERRY_E_AUTH_INVALID);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", NULL, 1, &e), FERRY_E_AUTH_INVALID);
    /* extra parameters and order do not matter */
    char reordered[256];
    snprintf(reordered, sizeof(reordered), "x=1&%s&expires=1000", strchr(q, '&') + 1);
    ck_assert_int_eq(ferry_signurl_verify(key, 32, "GET", "/blobs/abc", reordered, 5, &e), FERRY_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_sign");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ed25519_sign_verify_and_tamper);
    tcase_add_test(tc, loading_garbage_fails_clearly);
    tcase_add_test(tc, signed_urls_expire_and_resist_tampering);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
