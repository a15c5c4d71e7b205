/* lib/core/connstr.c: the connection-string password masker shared by the engine and ferryd. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/connstr.h"

static void mask_is(const char *in, unsigned flags, const char *want)
{
    char *got = ferry_connstr_mask(in, flags);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0, "mask(%s) = %s, want %s", in != NULL ? in : "(null)", got, want);
    free(got);
}

START_TEST(password_masked_shape_kept)
{
    mask_is("Server=127.0.0.1;Database=master;User Id=sa;Password=hunter2;TrustServerCertificate=True;", 0,
            "Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;");
    mask_is("server=x;PWD=hunter2", 0, "server=x;PWD=***");
    mask_is(" Password = hunter2 ;Server=x", 0, " Password =***;Server=x");
    mask_is("Server=x;Password={a;b}}c};Database=d", 0, "Server=x;Password=***;Database=d");
    mask_is("Server=x;Password=\"a;b\"\"c\";Database=d", 0, "Server=x;Password=***;Database=d");
    mask_is("Server=x;Password='a;b'  ;Uid=u", 0, "Server=x;Password=***;Uid=u");
    mask_is("Server=x;Password=;Database=d", 0, "Server=x;Password=;Database=d");
    mask_is("Server=x;;Database=d;", 0, "Server=x;;Database=d;");
    mask_is("Server=x; ;Database={a;b}", 0, "Server=x; ;Database={a;b}");
    mask_is("  USER   ID = sa ;pAsSwOrD=x", 0, "  USER   ID = sa ;pAsSwOrD=***");
    mask_is("Driver={ODBC Driver 18 for SQL Server};Server=tcp:h,1433;Uid=u;Pwd={p}", 0,
            "Driver={ODBC Driver 18 for SQL Server};Server=tcp:h,1433;Uid=u;Pwd=***");
    mask_is("", 0, "");
    mask_is("", FERRY_CONNSTR_SAY_WITHHELD, "");
    /* The flag only changes what a withheld string becomes. */
    mask_is("Server=x;Password=y", FERRY_CONNSTR_SAY_WITHHELD, "Server=x;Password=***");
}
END_TEST

START_TEST(unreadable_strings_withheld_whole)
{
    static const char *const bad[] = {
        "Server=x;Password={unterminated;Database=d", /* quote never closed */
        "Server=x;Password=\"a\"b;Database=d",        /* text after the closing quote */
        "hunter2",                                    /* no '=' at all */
        "Server=x;Password=ab;cd;Database=d",         /* a password's tail without '=' */
        "Server=x;Password=ab;cd=ef",                 /* a password's tail that looks like a pair */
        "Server=x;Passwort=hunter2",                  /* misspelt: not a known key */
        "Server=x;=hunter2",                          /* empty key */
        "Server=x;Pass word=hunter2",                 /* blanks inside a word are not ignored */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mask_is(bad[i], 0, FERRY_CONNSTR_MASK);
        mask_is(bad[i], FERRY_CONNSTR_SAY_WITHHELD, FERRY_CONNSTR_WITHHELD);
    }
    mask_is(NULL, 0, "***");
    mask_is(NULL, FERRY_CONNSTR_SAY_WITHHELD, "(withheld: does not parse)");
}
END_TEST

START_TEST(length_cap)
{
    char *s = malloc(FERRY_CONNSTR_MAX + 2);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "Server=", 7);
    memset(s + 7, 'h', FERRY_CONNSTR_MAX - 7);
    s[FERRY_CONNSTR_MAX] = '\0';
    char *m = ferry_connstr_mask(s, 0); /* exactly at the cap: shown */
    ck_assert_str_eq(m, s);
    free(m);
    s[FERRY_CONNSTR_MAX] = 'h';
    s[FERRY_CONNSTR_MAX + 1] = '\0';
    mask_is(s, 0, FERRY_CONNSTR_MASK); /* one byte more: withheld */
    free(s);

    /* Many short password pairs: the growth of each mask fits the output. */
    char many[FERRY_CONNSTR_MAX + 1] = "";
    char want[FERRY_CONNSTR_MAX * 3] = "";
    while (strlen(many) + 6 <= FERRY_CONNSTR_MAX) {
        strcat(many, "Pwd=x;");
        strcat(want, "Pwd=***;");
    }
    mask_is(many, 0, want);
}
END_TEST

START_TEST(keys)
{
    ck_assert(ferry_connstr_is_password_key(" Password ", 10));
    ck_assert(ferry_connstr_is_password_key("PWD", 3));
    ck_assert(!ferry_connstr_is_password_key("passwd", 6));
    ck_assert(ferry_connstr_known_key("Trust  Server\tCertificate", 25));
    ck_assert(ferry_connstr_known_key("Initial Catalog", 15));
    ck_assert(!ferry_connstr_known_key("Colour", 6));
    ck_assert(!ferry_connstr_known_key("", 0));
    char longk[200];
    memset(longk, 'a', sizeof(longk));
    ck_assert(!ferry_connstr_known_key(longk, sizeof(longk)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_connstr");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, password_masked_shape_kept);
    tcase_add_test(tc, unreadable_strings_withheld_whole);
    tcase_add_test(tc, length_cap);
    tcase_add_test(tc, keys);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
