#include <check.h>
#include <string.h>

#include "ferry/version.h"

START_TEST(parses_and_formats_the_seed_example)
{
    ferry_version_t v;
    ck_assert_int_eq(ferry_version_parse("1.25.12.13(12521)", &v, NULL), FERRY_OK);
    ck_assert_uint_eq(v.major, 1);
    ck_assert_uint_eq(v.minor, 25);
    ck_assert_uint_eq(v.patch, 12);
    ck_assert_uint_eq(v.revision, 13);
    ck_assert_uint_eq(v.build, 12521);
    char buf[FERRY_VERSION_STR_MAX];
    ferry_version_format(&v, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1.25.12.13(12521)");
    ck_assert_int_eq(ferry_version_parse("4294967295.0.0.0(4294967295)", &v, NULL), FERRY_OK);
}
END_TEST

START_TEST(rejects_malformed_versions_with_a_reason)
{
    static const char *const bad[] = {"",
                                      "1.2.3",
                                      "1.2.3.4",
                                      "1.2.3.4()",
                                      "1.2.3.4(5",
                                      "1.2.3.4(5)x",
                                      "1..3.4(5)",
                                      "01.2.3.4(5)",
                                      "1.2.3.4(05)",
                                      "1.2.3.-4(5)",
                                      " 1.2.3.4(5)",
                                      "1.2.3.4 (5)",
                                      "4294967296.0.0.0(1)",
                                      "1.2.3.4.5(6)",
                                      "a.b.c.d(e)",
                                      "../../etc(1)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ferry_version_t v;
        ferry_err_t e = {0};
        ck_assert_msg(ferry_version_parse(bad[i], &v, &e) == FERRY_E_VERSION_INVALID, "accepted '%s'",
                      bad[i]);
        ck_assert_ptr_nonnull(strstr(e.msg, "version"));
    }
    ferry_err_t e = {0};
    ferry_version_t v;
    ck_assert_int_eq(ferry_version_parse(NULL, &v, &e), FERRY_E_VERSION_INVALID);
}
END_TEST

START_TEST(orders_numerically_not_lexically)
{
    ferry_version_t a, b;
    ferry_version_parse("1.25.12.13(12521)", &a, NULL);
    ferry_version_parse("1.25.12.9(99999)", &b, NULL);
    ck_assert_int_gt(ferry_version_compare(&a, &b), 0);
    ferry_version_parse("1.25.12.13(12522)", &b, NULL);
    ck_assert_int_lt(ferry_version_compare(&a, &b), 0);
    ferry_version_parse("1.25.12.13(12521)", &b, NULL);
    ck_assert_int_eq(ferry_version_compare(&a, &b), 0);
    ferry_version_parse("2.0.0.0(1)", &b, NULL);
    ck_assert_int_lt(ferry_version_compare(&a, &b), 0);
}
END_TEST

START_TEST(path_safety)
{
    ck_assert(ferry_version_is_path_safe("1.25.12.13(12521)"));
    ck_assert(!ferry_version_is_path_safe(".."));
    ck_assert(!ferry_version_is_path_safe("a/b"));
    ck_assert(!ferry_version_is_path_safe("a\\b"));
    ck_assert(!ferry_version_is_path_safe("a\nb"));
    ck_assert(!ferry_version_is_path_safe(""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_version");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, parses_and_formats_the_seed_example);
    tcase_add_test(tc, rejects_malformed_versions_with_a_reason);
    tcase_add_test(tc, orders_numerically_not_lexically);
    tcase_add_test(tc, path_safety);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
