#include <check.h>
#include <errno.h>
#include <string.h>

#include "ferry/err.h"

START_TEST(seed_names_round_trip)
{
    static const char *const seed[] = {
        "E_AUTH_INVALID",        "E_VERSION_DUPLICATE",     "E_PACKAGE_INVALID",
        "E_DOWNLOAD_FAILED",     "E_HASH_MISMATCH",         "E_SERVICE_STOP_TIMEOUT",
        "E_SERVICE_STOP_FAILED", "E_BACKUP_FAILED_SERVER",  "E_BACKUP_FAILED_CLIENT",
        "E_BACKUP_FAILED_DB",    "E_INSTALL_FAILED_SERVER", "E_INSTALL_FAILED_CLIENT",
        "E_SQL_FAILED_SCHEMA",   "E_SQL_FAILED_DATA",       "E_SERVICE_START_FAILED",
        "E_ROLLBACK_FAILED",     "E_BACKUP_MISSING"};
    for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
        ferry_err_code_t c = ferry_err_from_name(seed[i]);
        ck_assert_int_ne(c, FERRY_OK);
        ck_assert_str_eq(ferry_err_name(c), seed[i]);
    }
    ck_assert_int_eq(ferry_err_from_name("E_NOPE"), FERRY_OK);
    ck_assert_int_eq(ferry_err_from_name(NULL), FERRY_OK);
}
END_TEST

START_TEST(prefix_and_recode)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_err_set(&e, FERRY_E_IO, "write '%s'", "data.bak"), FERRY_E_IO);
    ferry_err_prefix(&e, "backup db '%s'", "main");
    ck_assert_str_eq(e.msg, "backup db 'main': write 'data.bak'");
    ferry_err_recode(&e, FERRY_E_BACKUP_FAILED_DB);
    ck_assert_int_eq(e.code, FERRY_E_BACKUP_FAILED_DB);
    ck_assert_str_eq(e.msg, "backup db 'main': write 'data.bak'");
    ferry_err_clear(&e);
    ck_assert_int_eq(e.code, FERRY_OK);
    ck_assert_str_eq(e.msg, "");
}
END_TEST

START_TEST(errno_text_and_mapping)
{
    ferry_err_t e = {0};
    ferry_err_set_errno(&e, ferry_err_from_errno(ENOSPC), ENOSPC, "copy '%s'", "a");
    ck_assert_int_eq(e.code, FERRY_E_NOSPACE);
    ck_assert_ptr_nonnull(strstr(e.msg, "copy 'a': "));
    ck_assert_ptr_nonnull(strstr(e.msg, "space"));
    ck_assert_int_eq(ferry_err_from_errno(ENOENT), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_err_from_errno(EACCES), FERRY_E_PERMISSION);
}
END_TEST

START_TEST(long_messages_are_marked_truncated)
{
    ferry_err_t e = {0};
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ferry_err_set(&e, FERRY_E_INVALID_ARG, "%s", big);
    ck_assert_uint_eq(strlen(e.msg), FERRY_ERR_MSG_MAX - 1);
    ck_assert_str_eq(e.msg + FERRY_ERR_MSG_MAX - 4, "...");
    ferry_err_set(NULL, FERRY_E_IO, "ignored"); /* NULL err is allowed */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_err");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, seed_names_round_trip);
    tcase_add_test(tc, prefix_and_recode);
    tcase_add_test(tc, errno_text_and_mapping);
    tcase_add_test(tc, long_messages_are_marked_truncated);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
