/* hooks.json: the model, every validation rule (each refusal names the field), hostile
 * manifests inside real zip packages, and site / version applicability. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/model/hooks.h"
#include "ferry/model/zipsafe.h"
#include "ferry_test_util.h"

static const char *GOOD =
    "{\"description\": \"1.25.12.13 upgrade\", \"version\": \"1.25.12.13\","
    " \"pre_check\": [{\"id\": \"orders_user_null\", \"name\": \"orders.user_id must be set\", \"kind\": "
    "\"check\", \"sql\": \"SELECT COUNT(*) FROM orders WHERE user_id IS NULL\", \"threshold\": 0, "
    "\"severity\": \"fail\", \"suggestion\": \"UPDATE orders SET user_id=0 WHERE user_id IS NULL;\"},"
    " {\"id\": \"neg\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"threshold\": 5, \"severity\": "
    "\"warn\"}],"
    " \"pre_upgrade\": [{\"id\": \"export_cfg\", \"kind\": \"exec\", \"run\": \"hooks/export.sh\", \"args\": "
    "[\"-v\", \"x y\"], \"timeout_seconds\": 60, \"retries\": 3, \"rollback\": \"hooks/undo.sh\"}],"
    " \"startup_pre_process\": [{\"id\": \"migrate\", \"kind\": \"sql\", \"file\": \"hooks/migrate.sql\", "
    "\"idempotent\": true}],"
    " \"startup_post_process\": [{\"id\": \"warm_cache\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", "
    "\"on_failure\": \"continue\"}],"
    " \"post_upgrade\": [{\"id\": \"overseas\", \"kind\": \"exec\", \"run\": \"hooks/overseas.sh\", "
    "\"is_common\": false, \"site_ids\": [\"ACME\", \"ACME-SH01\"], \"versions\": {\"min\": \"1.25.0.0(0)\", "
    "\"max\": \"1.25.12.99(99999)\"}}]}";

static const char *FILES[] = {"hooks/export.sh", "hooks/undo.sh", "hooks/migrate.sql", "hooks/warm.sh",
                              "hooks/overseas.sh"};

static bool has_file(void *user, const char *path)
{
    (void)user;
    for (size_t i = 0; i < sizeof(FILES) / sizeof(FILES[0]); i++)
        if (strcmp(FILES[i], path) == 0)
            return true;
    return false;
}

START_TEST(good_manifest_parses)
{
    ferry_hooks_t *h = NULL;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_hooks_parse(GOOD, strlen(GOOD), has_file, NULL, &h, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_uint_eq(ferry_hooks_count(h), 6);
    ck_assert_str_eq(h->description, "1.25.12.13 upgrade");
    const ferry_hook_t *c = &h->hooks[FERRY_HOOK_PRE_CHECK][0];
    ck_assert_str_eq(c->id, "orders_user_null");
    ck_assert_int_eq(c->kind, FERRY_HOOK_CHECK);
    ck_assert(!c->warn_only);
    ck_assert_str_eq(c->suggestion, "UPDATE orders SET user_id=0 WHERE user_id IS NULL;");
    ck_assert(h->hooks[FERRY_HOOK_PRE_CHECK][1].warn_only);
    ck_assert_int_eq(h->hooks[FERRY_HOOK_PRE_CHECK][1].threshold, 5);
    const ferry_hook_t *x = ferry_hooks_find(h, "export_cfg");
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(x->phase, FERRY_HOOK_PRE_UPGRADE);
    ck_assert_uint_eq(x->n_args, 2);
    ck_assert_str_eq(x->args[1], "x y");
    ck_assert_uint_eq(x->retries, 3);
    ck_assert_uint_eq(x->timeout_s, 60);
    ck_assert_str_eq(x->rollback, "hooks/undo.sh");
    ck_assert(!x->idempotent);
    ck_assert(ferry_hooks_find(h, "migrate")->idempotent);
    ck_assert_uint_eq(ferry_hooks_find(h, "migrate")->timeout_s, 600); /* default */
    ck_assert(ferry_hooks_find(h, "warm_cache")->on_failure_continue);
    const ferry_hook_t *o = ferry_hooks_find(h, "overseas");
    ck_assert(!o->is_common);
    ck_assert_uint_eq(o->n_site_ids, 2);
    ck_assert(o->has_min && o->has_max);
    ck_assert_ptr_null(ferry_hooks_find(h, "nope"));
    ferry_hooks_free(h);
}
END_TEST

/* Each hostile/mistaken manifest is refused with E_PACKAGE_INVALID naming |culprit|. */
static const struct {
    const char *json;
    const char *culprit;
} BAD[] = {
    {"[1]", "must be a JSON object"},
    {"{\"pre_check\": [", "hooks.json: line"},
    {"{\"pre_chek\": []}", "hooks.json: pre_chek: unknown key"},
    {"{\"pre_check\": {}}", "pre_check: must be an array"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"treshold\": 1}]}",
     "pre_check[0].treshold: unknown key"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\"}]}",
     "pre_check[0].kind: pre_check holds check hooks only"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\"}]}", "pre_upgrade[0].run: is required"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"../../etc/passwd\"}]}",
     "pre_upgrade[0].run: '../../etc/passwd' escapes"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"/bin/sh\"}]}",
     "pre_upgrade[0].run: '/bin/sh' is absolute"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks\\\\x.sh\"}]}",
     "pre_upgrade[0].run: 'hooks\\x.sh' holds a backslash"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/./warm.sh\"}]}",
     "pre_upgrade[0].run: 'hooks/./warm.sh' escapes"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/missing.sh\"}]}",
     "pre_upgrade[0].run: 'hooks/missing.sh' is not in the package"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"rollback\": "
     "\"hooks/gone.sh\"}]}",
     "pre_upgrade[0].rollback: 'hooks/gone.sh' is not in the package"},
    {"{\"startup_pre_process\": [{\"id\": \"a\", \"kind\": \"sql\", \"file\": \"hooks/none.sql\"}]}",
     "startup_pre_process[0].file: 'hooks/none.sql' is not in the package"},
    {"{\"startup_pre_process\": [{\"id\": \"a\", \"kind\": \"sql\", \"file\": \"hooks/migrate.sql\", "
     "\"run\": "
     "\"hooks/warm.sh\"}]}",
     "startup_pre_process[0].run: not allowed for kind sql"},
    {"{\"startup_pre_process\": [{\"id\": \"a\", \"kind\": \"shell\"}]}",
     "startup_pre_process[0].kind: must be check, sql or exec"},
    {"{\"startup_pre_process\": [{\"kind\": \"sql\", \"file\": \"hooks/migrate.sql\"}]}",
     "startup_pre_process[0].id: is required"},
    {"{\"startup_pre_process\": [{\"id\": \"a b\", \"kind\": \"sql\", \"file\": \"hooks/migrate.sql\"}]}",
     "startup_pre_process[0].id: must be"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\"}], \"post_upgrade\": "
     "[{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\"}]}",
     "post_upgrade[0].id: 'a' is already used by pre_check[0]"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"versions\": "
     "{\"min\": \"1.25\"}}]}",
     "post_upgrade[0].versions.min:"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"versions\": "
     "{\"min\": \"2.0.0.0(0)\", \"max\": \"1.0.0.0(0)\"}}]}",
     "post_upgrade[0].versions: min is above max"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"versions\": "
     "{\"from\": \"1.0.0.0(0)\"}}]}",
     "post_upgrade[0].versions.from: unknown key"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"is_common\": "
     "false}]}",
     "post_upgrade[0].site_ids: is required"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"site_ids\": "
     "[\"X\"]}]}",
     "post_upgrade[0].site_ids: given but is_common is true"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"is_common\": "
     "false, "
     "\"site_ids\": [\"\"]}]}",
     "post_upgrade[0].site_ids[0]: is empty"},
    {"{\"post_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"on_failure\": "
     "\"rollback\"}]}",
     "post_upgrade[0].on_failure: post_upgrade never rolls back"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", "
     "\"timeout_seconds\": "
     "0}]}",
     "pre_upgrade[0].timeout_seconds: 0 is outside 1..86400"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"retries\": 99}]}",
     "pre_upgrade[0].retries: 99 is outside 0..10"},
    {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/warm.sh\", \"retries\": "
     "\"3\"}]}",
     "pre_upgrade[0].retries: must be an integer"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"threshold\": -1}]}",
     "pre_check[0].threshold: -1 is outside"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"  \"}]}",
     "pre_check[0].sql: is empty"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"severity\": "
     "\"fatal\"}]}",
     "pre_check[0].severity: must be fail or warn"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"name\": "
     "\"a\\u0007b\"}]}",
     "pre_check[0].name: holds a control character"},
    {"{\"pre_check\": [{\"id\": \"a\", \"kind\": \"check\", \"sql\": \"SELECT 1\", \"name\": "
     "\"a\\u0000b\"}]}",
     "hooks.json: line"},
    {"{\"pre_check\": [{\"id\": \"a\", \"id\": \"b\", \"kind\": \"check\", \"sql\": \"SELECT 1\"}]}",
     "duplicate object key"},
};

START_TEST(bad_manifest_refused)
{
    ferry_hooks_t *h = NULL;
    ferry_err_t e = {0};
    ferry_err_code_t rc = ferry_hooks_parse(BAD[_i].json, strlen(BAD[_i].json), has_file, NULL, &h, &e);
    ck_assert_msg(rc == FERRY_E_PACKAGE_INVALID, "case %d: got %s: %s", _i, ferry_err_name(rc), e.msg);
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(e.msg, BAD[_i].culprit) != NULL, "case %d: '%s' does not say '%s'", _i, e.msg,
                  BAD[_i].culprit);
}
END_TEST

START_TEST(too_many_hooks_and_too_large)
{
    /* 65 hooks in one phase: over the cap, refused before anything else about them. */
    size_t cap = 70 * 80 + 64;
    char *j = malloc(cap);
    size_t n = (size_t)snprintf(j, cap, "{\"pre_check\": [");
    for (int i = 0; i < FERRY_HOOKS_MAX + 1; i++)
        n += (size_t)snprintf(j + n, cap - n,
                              "%s{\"id\": \"c%d\", \"kind\": \"check\", \"sql\": \"SELECT 1\"}", i ? "," : "",
                              i);
    n += (size_t)snprintf(j + n, cap - n, "]}");
    ferry_hooks_t *h = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_hooks_parse(j, n, NULL, NULL, &h, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_msg(strstr(e.msg, "pre_check: more than 64 hooks") != NULL, "%s", e.msg);
    free(j);
    ck_assert_int_eq(ferry_hooks_parse("{}", FERRY_HOOKS_JSON_MAX + 1, NULL, NULL, &h, &e),
                     FERRY_E_PACKAGE_INVALID);
    ck_assert_msg(strstr(e.msg, "larger than") != NULL, "%s", e.msg);
}
END_TEST

START_TEST(applicability)
{
    ferry_hooks_t *h = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_hooks_parse(GOOD, strlen(GOOD), has_file, NULL, &h, &e), FERRY_OK);
    const ferry_hook_t *o = ferry_hooks_find(h, "overseas"), *c = ferry_hooks_find(h, "neg");
    ferry_version_t in, out_lo, out_hi;
    ck_assert_int_eq(ferry_version_parse("1.25.12.13(12521)", &in, &e), FERRY_OK);
    ck_assert_int_eq(ferry_version_parse("1.24.9.9(1)", &out_lo, &e), FERRY_OK);
    ck_assert_int_eq(ferry_version_parse("1.26.0.0(1)", &out_hi, &e), FERRY_OK);
    const char *acme[] = {"CUST", "ACME-SH01", "NODE7"}, *other[] = {"BETA", "BETA-1"};
    char why[256];
    ferry_hook_target_t t = {.sites = acme, .n_sites = 3, .from = &out_lo, .to = &in};
    ck_assert(ferry_hook_applies(o, &t, why, sizeof(why)));
    ck_assert(ferry_hook_applies(c, &t, why, sizeof(why))); /* common, no range */
    t.sites = other, t.n_sites = 2;
    ck_assert(!ferry_hook_applies(o, &t, why, sizeof(why)));
    ck_assert_msg(strstr(why, "[BETA, BETA-1] are not in site_ids [ACME, ACME-SH01]") != NULL, "%s", why);
    ck_assert(ferry_hook_applies(c, &t, why, sizeof(why)));
    /* Range: applies when installed OR target is inside; neither -> not applicable. */
    t.sites = acme, t.n_sites = 3;
    t.from = &in, t.to = &out_hi;
    ck_assert(ferry_hook_applies(o, &t, why, sizeof(why)));
    t.from = &out_lo, t.to = &out_hi;
    ck_assert(!ferry_hook_applies(o, &t, why, sizeof(why)));
    ck_assert_msg(strstr(why,
                         "versions 1.25.0.0(0)..1.25.12.99(99999) hold neither the installed 1.24.9.9(1) "
                         "nor the target 1.26.0.0(1)") != NULL,
                  "%s", why);
    t.from = NULL; /* unknown installed version: only the target counts */
    ck_assert(!ferry_hook_applies(o, &t, why, sizeof(why)));
    ck_assert_msg(strstr(why, "installed unknown") != NULL, "%s", why);
    ferry_hooks_free(h);
}
END_TEST

/* The package manifest step (shared by the server's commit and the agent's verification)
 * validates hooks.json against the package's real entries. */
static char root[256];

static void setup(void)
{
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "hooks"), 0);
}

static void teardown(void)
{
    ftu_rm_rf(root);
}

static ferry_err_code_t manifest_of(const ftu_zip_entry_t *ents, size_t n, ferry_pkg_manifest_t *m,
                                    ferry_err_t *e)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/p.zip", root);
    unlink(path);
    ck_assert_int_eq(ftu_zip_build(path, ents, n), 0);
    ferry_zip_t *z = NULL;
    ferry_err_code_t rc = ferry_zip_open_as(path, "package", NULL, 0, &z, e);
    if (rc == FERRY_OK)
        rc = ferry_pkg_manifest(z, m, e);
    ferry_zip_close(z);
    return rc;
}

START_TEST(package_manifest_validates_hooks)
{
    ferry_pkg_manifest_t m;
    ferry_err_t e = {0};
    ftu_zip_entry_t ok[] = {
        {.name = "data.sql", .data = "SELECT 1;\n"},
        {.name = "hooks/", .kind = FTU_DIR},
        {.name = "hooks/a.sh", .data = "#!/bin/sh\n", .mode = 0755},
        {.name = "hooks.json",
         .data = "{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/a.sh\"}]}"},
    };
    ck_assert_msg(manifest_of(ok, 4, &m, &e) == FERRY_OK, "%s", e.msg);
    ck_assert(m.has_hooks && m.has_data_sql);

    ftu_zip_entry_t none[] = {{.name = "data.sql", .data = "SELECT 1;\n"}};
    ck_assert_int_eq(manifest_of(none, 1, &m, &e), FERRY_OK);
    ck_assert(!m.has_hooks);

    /* A directory is not a file; a missing file; a path escaping the package. */
    const char *bad[][2] = {
        {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/\"}]}",
         "pre_upgrade[0].run"},
        {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks\"}]}",
         "'hooks' is not in the package"},
        {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/../data.sql\"}]}",
         "escapes"},
        {"{\"pre_upgrade\": [{\"id\": \"a\", \"kind\": \"exec\", \"run\": \"hooks/a.sh\", \"bogus\": 1}]}",
         "pre_upgrade[0].bogus: unknown key"},
        {"not json", "hooks.json: line 1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ftu_zip_entry_t b[] = {ok[0], ok[1], ok[2], {.name = "hooks.json", .data = bad[i][0]}};
        ck_assert_int_eq(manifest_of(b, 4, &m, &e), FERRY_E_PACKAGE_INVALID);
        ck_assert_msg(strstr(e.msg, bad[i][1]) != NULL, "%zu: '%s' does not say '%s'", i, e.msg, bad[i][1]);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("model_hooks");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, good_manifest_parses);
    tcase_add_loop_test(tc, bad_manifest_refused, 0, (int)(sizeof(BAD) / sizeof(BAD[0])));
    tcase_add_test(tc, too_many_hooks_and_too_large);
    tcase_add_test(tc, applicability);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("package");
    tcase_add_checked_fixture(tp, setup, teardown);
    tcase_add_test(tp, package_manifest_validates_hooks);
    suite_add_tcase(s, tp);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
