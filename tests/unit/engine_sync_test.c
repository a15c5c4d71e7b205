/* Sync into a target: delete/protect, idempotence, symlinks never followed, type changes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/engine/sync.h"
#include "ferry_test_util.h"

static char root[256], src[512], dst[512], outside[512];

static void setup(void)
{
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "sync"), 0);
    snprintf(src, sizeof(src), "%s/src", root);
    snprintf(dst, sizeof(dst), "%s/dst", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    mkdir(src, 0755);
    mkdir(dst, 0755);
    mkdir(outside, 0755);
}

static void teardown(void)
{
    ftu_rm_rf(root);
}

static void put(const char *base, const char *rel, const char *data, mode_t mode)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    ck_assert_int_eq(ftu_write_file(p, data, strlen(data), mode), 0);
}

static int has(const char *base, const char *rel)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    return ferry_fs_exists(p);
}

START_TEST(mirror_then_idempotent)
{
    put(src, "a.txt", "alpha", 0640);
    put(src, "d/b.bin", "beta", 0755);
    char p[700];
    snprintf(p, sizeof(p), "%s/emptydir", src);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/link", src);
    ck_assert_int_eq(symlink("d/b.bin", p), 0);
    ftu_set_mtime(p, 1600000000, 5);
    snprintf(p, sizeof(p), "%s/a.txt", src);
    ftu_set_mtime(p, 1500000000, 123456789);
    ferry_err_t e = {0};
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE};
    ferry_sync_stats_t st;
    ck_assert_msg(ferry_sync_tree(src, dst, &o, &st, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_uint_eq(st.files_written, 2);
    char why[512];
    ck_assert_msg(ftu_tree_equal(src, dst, FTU_CMP_MTIME | FTU_CMP_ROOT, why, sizeof(why)) == 0, "%s", why);
    ck_assert_int_eq(ferry_sync_tree(src, dst, &o, &st, &e), FERRY_OK);
    ck_assert_uint_eq(st.files_written, 0);
    ck_assert_uint_eq(st.files_same, 2);
    ck_assert_msg(ftu_tree_equal(src, dst, FTU_CMP_MTIME | FTU_CMP_ROOT, why, sizeof(why)) == 0, "%s", why);
}
END_TEST

START_TEST(same_size_different_content_is_rewritten)
{
    put(src, "f", "AAAA", 0644);
    put(dst, "f", "BBBB", 0644);
    char p[700];
    snprintf(p, sizeof(p), "%s/f", src);
    ftu_set_mtime(p, 1000, 0);
    snprintf(p, sizeof(p), "%s/f", dst);
    ftu_set_mtime(p, 1000, 0); /* same size and mtime: a quick check would be fooled */
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sync_tree(src, dst, NULL, NULL, &e), FERRY_OK);
    char *s = ftu_read_file(p, NULL);
    ck_assert_str_eq(s, "AAAA");
    free(s);
}
END_TEST

START_TEST(delete_stale_keep_protected)
{
    put(src, "app.dll", "new", 0644);
    put(dst, "app.dll", "old", 0644);
    put(dst, "stale.dll", "x", 0644);
    put(dst, "olddir/sub/f", "x", 0644);
    put(dst, "config/site.json", "{}", 0600);
    put(dst, "logs/x.log", "l", 0644);
    put(dst, "data/keep/me", "k", 0644); /* protected path below a doomed directory */
    put(dst, "data/drop.me", "d", 0644);
    put(dst, ".ferry-tmp.3", "junk", 0644); /* leftover of a crashed run */
    char abs_logs[600];
    snprintf(abs_logs, sizeof(abs_logs), "%s/logs/", dst);
    const char *protect[] = {"config", abs_logs, "./data/keep"};
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE, .protect = protect, .n_protect = 3};
    ferry_sync_stats_t st;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_sync_tree(src, dst, &o, &st, &e) == FERRY_OK, "%s", e.msg);
    ck_assert(!has(dst, "stale.dll") && !has(dst, "olddir") && !has(dst, "data/drop.me"));
    ck_assert(!has(dst, ".ferry-tmp.3"));
    ck_assert(has(dst, "config/site.json") && has(dst, "logs/x.log") && has(dst, "data/keep/me"));
    ck_assert_uint_ge(st.protected_kept, 2);
    /* without DELETE nothing extra goes */
    put(dst, "extra", "e", 0644);
    o.flags = 0;
    ck_assert_int_eq(ferry_sync_tree(src, dst, &o, &st, &e), FERRY_OK);
    ck_assert(has(dst, "extra"));
}
END_TEST

START_TEST(target_symlinks_are_never_followed)
{
    put(src, "plugins/p.dll", "plugin", 0644);
    put(outside, "precious", "keep", 0644);
    char p[700];
    snprintf(p, sizeof(p), "%s/plugins", dst);
    ck_assert_int_eq(symlink(outside, p), 0); /* target's dir is a link out of the tree */
    snprintf(p, sizeof(p), "%s/gone", dst);
    ck_assert_int_eq(symlink(outside, p), 0); /* an extra link to delete */
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE};
    ferry_err_t e = {0};
    ck_assert_msg(ferry_sync_tree(src, dst, &o, NULL, &e) == FERRY_OK, "%s", e.msg);
    ck_assert(has(outside, "precious"));
    ck_assert(!has(outside, "p.dll"));
    ck_assert(!has(dst, "gone"));
    snprintf(p, sizeof(p), "%s/plugins", dst);
    ck_assert(ferry_fs_is_dir(p));
    char why[512];
    ck_assert_msg(ftu_tree_equal(src, dst, 0, why, sizeof(why)) == 0, "%s", why);
}
END_TEST

START_TEST(type_changes)
{
    put(src, "was_dir", "now a file", 0644);
    put(src, "was_file/inner", "now a dir", 0644);
    put(dst, "was_dir/x/y", "old", 0644);
    put(dst, "was_file", "old", 0644);
    ferry_err_t e = {0};
    ck_assert_msg(ferry_sync_tree(src, dst, NULL, NULL, &e) == FERRY_OK, "%s", e.msg);
    char why[512];
    ck_assert_msg(ftu_tree_equal(src, dst, 0, why, sizeof(why)) == 0, "%s", why);
}
END_TEST

START_TEST(move_mode_consumes_source)
{
    put(src, "m/a", "1", 0644);
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_MOVE};
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sync_tree(src, dst, &o, NULL, &e), FERRY_OK);
    ck_assert(has(dst, "m/a"));
    ck_assert(!has(src, "m/a"));
}
END_TEST

START_TEST(bad_protect_path)
{
    const char *protect[] = {"../etc"};
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE, .protect = protect, .n_protect = 1};
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sync_tree(src, dst, &o, NULL, &e), FERRY_E_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_sync");
    TCase *tc = tcase_create("sync");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, mirror_then_idempotent);
    tcase_add_test(tc, same_size_different_content_is_rewritten);
    tcase_add_test(tc, delete_stale_keep_protected);
    tcase_add_test(tc, target_symlinks_are_never_followed);
    tcase_add_test(tc, type_changes);
    tcase_add_test(tc, move_mode_consumes_source);
    tcase_add_test(tc, bad_protect_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
