#include <check.h>
#include <string.h>

#include "ferry/encoding.h"
#include "ferry/hash.h"

START_TEST(b64_rfc4648_vectors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[32];
        ferry_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, 0, 1);
        ck_assert_str_eq(out, enc[i]);
        uint8_t dec[32];
        long n = ferry_b64_decode(enc[i], strlen(enc[i]), dec, sizeof(dec));
        ck_assert_int_eq(n, (long)strlen(plain[i]));
        ck_assert_int_eq(memcmp(dec, plain[i], (size_t)n), 0);
        /* unpadded form decodes too */
        size_t el = strlen(enc[i]);
        while (el > 0 && enc[i][el - 1] == '=')
            el--;
        ck_assert_int_eq(ferry_b64_decode(enc[i], el, dec, sizeof(dec)), (long)strlen(plain[i]));
    }
}
END_TEST

START_TEST(b64_both_alphabets_and_rejects)
{
    const uint8_t raw[] = {0xfb, 0xff, 0xbf};
    char std[8], url[8];
    ferry_b64_encode(raw, 3, std, 0, 1);
    ferry_b64_encode(raw, 3, url, 1, 0);
    ck_assert_str_eq(std, "+/+/");
    ck_assert_str_eq(url, "-_-_");
    uint8_t out[8];
    ck_assert_int_eq(ferry_b64_decode("-_+/", 4, out, sizeof(out)), 3);
    ck_assert_int_eq(memcmp(out, raw, 3), 0);
    ck_assert_int_eq(ferry_b64_decode("Zm9v!", 5, out, sizeof(out)), -1); /* bad char */
    ck_assert_int_eq(ferry_b64_decode("Z", 1, out, sizeof(out)), -1);     /* dangling */
    ck_assert_int_eq(ferry_b64_decode("Zh==", 4, out, sizeof(out)), -1);  /* non-zero pad bits */
    ck_assert_int_eq(ferry_b64_decode("Zg=", 3, out, sizeof(out)), -1);   /* half padding */
    ck_assert_int_eq(ferry_b64_decode("Zm9vYmFy", 8, out, 2), -1);        /* too small output */
}
END_TEST

START_TEST(hex_and_ct_equal)
{
    const uint8_t raw[] = {0x00, 0xab, 0xff};
    char hex[7];
    ferry_hex_encode(raw, 3, hex);
    ck_assert_str_eq(hex, "00abff");
    uint8_t back[3];
    ck_assert_int_eq(ferry_hex_decode("00ABff", 6, back, 3), 3);
    ck_assert_int_eq(memcmp(back, raw, 3), 0);
    ck_assert_int_eq(ferry_hex_decode("0g", 2, back, 3), -1);
    ck_assert_int_eq(ferry_hex_decode("abc", 3, back, 3), -1);
    ck_assert_int_eq(ferry_ct_equal("abc", "abc", 3), 1);
    ck_assert_int_eq(ferry_ct_equal("abc", "abd", 3), 0);
}
END_TEST

START_TEST(sha256_known_answer)
{
    char hex[65];
    ferry_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_encoding");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, b64_rfc4648_vectors);
    tcase_add_test(tc, b64_both_alphabets_and_rejects);
    tcase_add_test(tc, hex_and_ct_equal);
    tcase_add_test(tc, sha256_known_answer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
