/* Retention: newest N complete backups kept, current never deleted, foreign folders ignored. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/engine/backup.h"
#include "ferry/engine/retention.h"
#include "ferry_test_util.h"

static char root[256];

static void setup(void)
{
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "retention"), 0);
}

static void teardown(void)
{
    ftu_rm_rf(root);
}

/* A backup folder started at |t|, complete or not. */
static void fake(const char *name, long t, int complete)
{
    char p[600], j[128];
    snprintf(p, sizeof(p), "%s/%s/%s", root, name, FERRY_BACKUP_STARTED_FILE);
    int n = snprintf(j, sizeof(j), "{\"format\":1,\"version\":\"%s\",\"startedAt\":%ld}", name, t);
    ck_assert_int_eq(ftu_write_file(p, j, (size_t)n, 0644), 0);
    if (complete) {
        snprintf(p, sizeof(p), "%s/%s/%s", root, name, FERRY_BACKUP_COMPLETE_FILE);
        ck_assert_int_eq(ftu_write_file(p, "{}", 2, 0644), 0);
    }
}

static int has(const char *name)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", root, name);
    return ferry_fs_exists(p);
}

START_TEST(keeps_newest_n_and_current)
{
    fake("1.0", 100, 1);
    fake("1.1", 200, 1);
    fake("1.2", 300, 1);
    fake("1.2_20250101120000", 400, 1); /* retry of 1.2: newer */
    fake("1.3", 500, 0);                /* crashed before the marker */
    fake("1.4", 600, 1);
    fake("0.9", 50, 1); /* the current task's backup (e.g. a rollback target) */
    char p[600];
    snprintf(p, sizeof(p), "%s/unrelated", root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/notes.txt", root);
    ftu_write_file(p, "x", 1, 0644);
    snprintf(p, sizeof(p), "%s/link-to-backup", root);
    symlink("1.0", p);
    char cur[600];
    snprintf(cur, sizeof(cur), "%s/0.9/", root);
    const char *keep[] = {cur};
    unsigned deleted = 0;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_retention_apply(root, 3, keep, 1, &deleted, &e) == FERRY_OK, "%s", e.msg);
    /* kept: 0.9 (current, counts), 1.4, 1.2_2025...; deleted: 1.3 (incomplete), 1.2, 1.1, 1.0 */
    ck_assert(has("0.9") && has("1.4") && has("1.2_20250101120000"));
    ck_assert(!has("1.3") && !has("1.2") && !has("1.1") && !has("1.0"));
    ck_assert_uint_eq(deleted, 4);
    ck_assert(has("unrelated") && has("notes.txt") && has("link-to-backup"));
    /* idempotent; N = 0 disables */
    ck_assert_int_eq(ferry_retention_apply(root, 3, keep, 1, &deleted, &e), FERRY_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(ferry_retention_apply(root, 0, NULL, 0, &deleted, &e), FERRY_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(ferry_retention_apply(root, 1, NULL, 0, &deleted, &e), FERRY_OK);
    ck_assert(has("1.4") && !has("0.9") && !has("1.2_20250101120000"));
}
END_TEST

START_TEST(real_backups_and_missing_root)
{
    char broot[600], d1[700], d2[700];
    snprintf(broot, sizeof(broot), "%s/b", root);
    ferry_err_t e = {0};
    unsigned deleted = 9;
    ck_assert_int_eq(ferry_retention_apply(broot, 2, NULL, 0, &deleted, &e), FERRY_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(ferry_backup_begin(broot, "7.0", d1, sizeof(d1), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_begin(broot, "7.0", d2, sizeof(d2), &e), FERRY_OK);
    /* both incomplete, the current one (d2) is kept, the older incomplete one too (nothing
       newer is kept yet... except d2 which counts) */
    const char *keep[] = {d2};
    ck_assert_int_eq(ferry_retention_apply(broot, 2, keep, 1, &deleted, &e), FERRY_OK);
    ck_assert(ferry_fs_exists(d2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_retention");
    TCase *tc = tcase_create("retention");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, keeps_newest_n_and_current);
    tcase_add_test(tc, real_backups_and_missing_root);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
