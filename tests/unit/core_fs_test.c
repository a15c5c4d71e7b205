#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/hash.h"

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ferry-fs-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    ferry_fs_rm_rf(root, NULL);
}

START_TEST(atomic_write_replaces_content_and_mode)
{
    char p[512];
    ferry_fs_join(p, sizeof(p), root, "a.txt");
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_fs_write_atomic(p, "one", 3, 0600, &e), FERRY_OK);
    ck_assert_int_eq(ferry_fs_write_atomic(p, "second", 6, 0640, &e), FERRY_OK);
    char *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(ferry_fs_read_file(p, 100, &buf, &len, &e), FERRY_OK);
    ck_assert_uint_eq(len, 6);
    ck_assert_str_eq(buf, "second");
    free(buf);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    /* no temp file left behind */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", p, (long)getpid());
    ck_assert_int_eq(ferry_fs_exists(tmp), 0);
}
END_TEST

START_TEST(atomic_write_into_missing_dir_fails_cleanly)
{
    char p[512];
    ferry_fs_join(p, sizeof(p), root, "nope/a.txt");
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_fs_write_atomic(p, "x", 1, 0600, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope/a.txt"));
}
END_TEST

START_TEST(read_file_cap_checked_before_alloc)
{
    char p[512];
    ferry_fs_join(p, sizeof(p), root, "big");
    ck_assert_int_eq(ferry_fs_write_atomic(p, "0123456789", 10, 0600, NULL), FERRY_OK);
    char *buf = (char *)1;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_fs_read_file(p, 9, &buf, NULL, &e), FERRY_E_TOO_LARGE);
    ck_assert_ptr_null(buf);
    ck_assert_ptr_nonnull(strstr(e.msg, "over the 9-byte limit"));
}
END_TEST

START_TEST(mkdir_p_and_rm_rf_do_not_follow_symlinks)
{
    char d[512], outside[512], link[600], keep[600];
    ferry_fs_join(d, sizeof(d), root, "x/y/z");
    ck_assert_int_eq(ferry_fs_mkdir_p(d, 0755, NULL), FERRY_OK);
    ck_assert_int_eq(ferry_fs_mkdir_p(d, 0755, NULL), FERRY_OK);
    ck_assert(ferry_fs_is_dir(d));
    ferry_fs_join(outside, sizeof(outside), root, "outside");
    ck_assert_int_eq(ferry_fs_mkdir_p(outside, 0755, NULL), FERRY_OK);
    ferry_fs_join(keep, sizeof(keep), outside, "keep");
    ck_assert_int_eq(ferry_fs_write_atomic(keep, "k", 1, 0600, NULL), FERRY_OK);
    ferry_fs_join(link, sizeof(link), d, "link");
    ck_assert_int_eq(symlink(outside, link), 0);
    char x[512];
    ferry_fs_join(x, sizeof(x), root, "x");
    ck_assert_int_eq(ferry_fs_rm_rf(x, NULL), FERRY_OK);
    ck_assert_int_eq(ferry_fs_exists(x), 0);
    ck_assert_int_eq(ferry_fs_exists(keep), 1);
    ck_assert_int_eq(ferry_fs_rm_rf(x, NULL), FERRY_OK); /* missing is fine */
}
END_TEST

START_TEST(join_and_free_bytes_and_hash_file)
{
    char b[16];
    ck_assert_int_eq(ferry_fs_join(b, sizeof(b), "/a/", "/b"), FERRY_OK);
    ck_assert_str_eq(b, "/a/b");
    ck_assert_int_eq(ferry_fs_join(b, 4, "/abc", "def"), FERRY_E_TOO_LARGE);
    ck_assert_str_eq(b, "");
    uint64_t fb = 0;
    ck_assert_int_eq(ferry_fs_free_bytes(root, &fb, NULL), FERRY_OK);
    ck_assert_uint_gt(fb, 0);
    char p[512], hex[65];
    uint64_t size = 0;
    ferry_fs_join(p, sizeof(p), root, "h");
    ck_assert_int_eq(ferry_fs_write_atomic(p, "abc", 3, 0600, NULL), FERRY_OK);
    ck_assert_int_eq(ferry_sha256_file(p, hex, &size, NULL), FERRY_OK);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_uint_eq(size, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_fs");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, atomic_write_replaces_content_and_mode);
    tcase_add_test(tc, atomic_write_into_missing_dir_fails_cleanly);
    tcase_add_test(tc, read_file_cap_checked_before_alloc);
    tcase_add_test(tc, mkdir_p_and_rm_rf_do_not_follow_symlinks);
    tcase_add_test(tc, join_and_free_bytes_and_hash_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
