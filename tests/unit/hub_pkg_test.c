/* Unit tests of the pure decisions of the hub's package/release modules (hub_pkg.h):
 * HTTP Range / Content-Range parsing, incremental UTF-8 validation, release scope
 * selection and the effective policy. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hub_pkg.h"

#define R(s) (s), strlen(s)

START_TEST(range_forms)
{
    uint64_t a = 99, b = 99;
    ck_assert_int_eq(hub_parse_range(NULL, 0, 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("bytes=0-9"), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, 9);
    ck_assert_int_eq(hub_parse_range(R("bytes=50-"), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(a, 50);
    ck_assert_uint_eq(b, 99);
    ck_assert_int_eq(hub_parse_range(R("bytes=90-1000"), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(b, 99); /* clamped */
    ck_assert_int_eq(hub_parse_range(R("bytes=-10"), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(a, 90);
    ck_assert_uint_eq(b, 99);
    ck_assert_int_eq(hub_parse_range(R("bytes=-1000"), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(a, 0);
    ck_assert_int_eq(hub_parse_range(R("BYTES=1-2 "), 100, &a, &b), HUB_RANGE_PARTIAL);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(b, 2);
}
END_TEST

START_TEST(range_unsatisfiable_and_ignored)
{
    uint64_t a, b;
    ck_assert_int_eq(hub_parse_range(R("bytes=100-"), 100, &a, &b), HUB_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(hub_parse_range(R("bytes=200-300"), 100, &a, &b), HUB_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(hub_parse_range(R("bytes=-0"), 100, &a, &b), HUB_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(hub_parse_range(R("bytes=0-"), 0, &a, &b), HUB_RANGE_UNSATISFIABLE);
    /* Not served: ignored, the whole body goes out. */
    ck_assert_int_eq(hub_parse_range(R("bytes=0-1,5-6"), 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("items=0-1"), 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("bytes=9-1"), 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("bytes=-"), 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("bytes=99999999999999999999999-"), 100, &a, &b), HUB_RANGE_NONE);
    ck_assert_int_eq(hub_parse_range(R("bytes=1x-2"), 100, &a, &b), HUB_RANGE_NONE);
}
END_TEST

START_TEST(content_range)
{
    uint64_t a, b, t;
    ferry_err_t err = {0};
    ck_assert_int_eq(hub_parse_content_range(R("bytes 0-99/1000"), &a, &b, &t, &err), FERRY_OK);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, 99);
    ck_assert_uint_eq(t, 1000);
    ck_assert_int_eq(hub_parse_content_range(R("bytes 999-999/1000"), &a, &b, &t, &err), FERRY_OK);
    const char *bad[] = {"bytes 0-99/*",  "bytes */1000", "bytes 5-4/10",
                         "bytes 0-10/10", "bits 0-1/2",   "bytes 0-1/2 x",
                         "bytes -1/2",    "bytes 0-1/",   ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(hub_parse_content_range(R(bad[i]), &a, &b, &t, &err), FERRY_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err.msg, "Content-Range"));
    }
    ck_assert_int_eq(hub_parse_content_range(NULL, 0, &a, &b, &t, &err), FERRY_E_INVALID_ARG);
}
END_TEST

static bool utf8_ok_chunked(const char *s, size_t len, size_t chunk)
{
    hub_utf8_t u = {0};
    for (size_t i = 0; i < len; i += chunk)
        hub_utf8_feed(&u, s + i, len - i < chunk ? len - i : chunk);
    return hub_utf8_finish(&u);
}

START_TEST(utf8)
{
    const char good[] = "\xef\xbb\xbf"
                        "CREATE TABLE \xe7\xbb\x93\xe6\x9e\x84 (x INT); -- \xf0\x9f\x98\x80\n";
    for (size_t c = 1; c < 8; c++)
        ck_assert(utf8_ok_chunked(good, strlen(good), c)); /* any split of a sequence */
    const char *bad[] = {"\xc0\xaf",                       /* overlong '/' */
                         "\xe0\x80\xaf",                   /* overlong */
                         "\xed\xa0\x80",                   /* surrogate */
                         "\xf4\x90\x80\x80",               /* > U+10FFFF */
                         "\xff",
                         "abc\x80",
                         "\xe7\xbb", /* truncated at the end */
                         "\xe7"
                         "a\xbb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (size_t c = 1; c < 4; c++)
            ck_assert_msg(!utf8_ok_chunked(bad[i], strlen(bad[i]), c), "case %zu accepted", i);
    hub_utf8_t u = {0};
    hub_utf8_feed(&u, "ab\xff", 3);
    ck_assert(u.bad);
    ck_assert_uint_eq(u.bad_at, 2);
}
END_TEST

static const hub_scope_node_t cands[] = {
    {1, "N1", "S1", false}, {2, "N2", "S1", false}, {3, "N3", "S2", false},
    {4, "N4", "S2", true},  {5, "N5", "S3", false},
};
static const char *const stores[] = {"S1", "S2", "S3", "S4"};

START_TEST(scope)
{
    bool sel[5];
    size_t n;
    ferry_err_t err = {0};
    /* customer-wide: every enabled node */
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, NULL, 0, NULL, 0, sel, &n, &err), FERRY_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert(!sel[3]);
    /* stores: their enabled nodes */
    const char *s2[] = {"S2"};
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, s2, 1, NULL, 0, sel, &n, &err), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert(sel[2] && !sel[3] && !sel[0]);
    /* stores plus nodes */
    const char *n1[] = {"N1"};
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, s2, 1, n1, 1, sel, &n, &err), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(sel[0] && sel[2]);
    /* a store with no node in this environment: fine, nothing from it */
    const char *s4[] = {"S4"};
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, s4, 1, NULL, 0, sel, &n, &err), FERRY_OK);
    ck_assert_uint_eq(n, 0);
    /* unknown names, disabled named node */
    const char *sx[] = {"NOPE"};
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, sx, 1, NULL, 0, sel, &n, &err), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "NOPE"));
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, NULL, 0, sx, 1, sel, &n, &err), FERRY_E_NOT_FOUND);
    const char *n4[] = {"N4"};
    ck_assert_int_eq(hub_scope_select(cands, 5, stores, 4, NULL, 0, n4, 1, sel, &n, &err),
                     FERRY_E_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(err.msg, "N4"));
}
END_TEST

START_TEST(policy)
{
    const int F = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED,
              O = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL;
    ck_assert_int_eq(hub_effective_policy(F, 0, 1000), F);
    ck_assert_int_eq(hub_effective_policy(O, 0, 1000), O);    /* no deadline: stays optional */
    ck_assert_int_eq(hub_effective_policy(O, 2000, 1000), O); /* before the deadline */
    ck_assert_int_eq(hub_effective_policy(O, 1000, 1000), F); /* at it */
    ck_assert_int_eq(hub_effective_policy(O, 1000, 5000), F); /* after it */
    ck_assert(hub_task_state_final(100) && hub_task_state_final(110) && hub_task_state_final(130));
    ck_assert(!hub_task_state_final(10) && !hub_task_state_final(120) && !hub_task_state_final(90));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_pkg");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, range_forms);
    tcase_add_test(tc, range_unsatisfiable_and_ignored);
    tcase_add_test(tc, content_range);
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, scope);
    tcase_add_test(tc, policy);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
