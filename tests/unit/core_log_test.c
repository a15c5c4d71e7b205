#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ferry/log.h"

static void masked(const char *in, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", in);
    size_t n = ferry_log_mask_secrets(buf);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(masks_connection_string_passwords)
{
    masked("Server=127.0.0.1;Database=master;User Id=sa;Password=S3cret!x;TrustServerCertificate=True;",
           "Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;");
    masked("pwd=hunter2", "pwd=***");
    masked("password=ab", "password=**");
    masked("mypassword=notakey", "mypassword=notakey");
}
END_TEST

START_TEST(masks_json_members_and_bearer)
{
    masked("{\"token\": \"abcdef\", \"name\": \"x\"}", "{\"token\": \"***\", \"name\": \"x\"}");
    masked("{\"password\":\"p\\\"q\"}", "{\"password\":\"***\"}");
    masked("authorization: Bearer fya_0123456789abcdef_secret more", "authorization: Bearer *** more");
    masked("nothing secret here", "nothing secret here");
    masked("refused: missing bearer token", "refused: missing bearer token");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_log");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, masks_connection_string_passwords);
    tcase_add_test(tc, masks_json_members_and_bearer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
