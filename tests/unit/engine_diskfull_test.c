/* Disk full during backup and during extraction, on a real 2 MiB tmpfs (root only; the
   whole binary exits 77 when a tmpfs cannot be mounted). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/engine/backup.h"
#include "ferry/model/zipsafe.h"
#include "ferry_test_util.h"

static char root[256], small[512], server[512], client[512];

static void setup(void)
{
    char why[256];
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "diskfull"), 0);
    snprintf(small, sizeof(small), "%s/small", root);
    snprintf(server, sizeof(server), "%s/server", root);
    snprintf(client, sizeof(client), "%s/client", root);
    mkdir(small, 0755);
    ck_assert_msg(ftu_mount_tmpfs(small, "2m", why, sizeof(why)) == 0, "%s", why);
    char p[700];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/f%d.bin", server, i);
        ck_assert_int_eq(ftu_write_pattern(p, 1u << 20, (uint32_t)i, 0644), 0);
    }
    snprintf(p, sizeof(p), "%s/c.bin", client);
    ck_assert_int_eq(ftu_write_pattern(p, 3u << 20, 9, 0644), 0);
}

static void teardown(void)
{
    ftu_umount(small);
    ftu_rm_rf(root);
}

START_TEST(backup_space_check_refuses)
{
    ferry_err_t e = {0};
    char broot[600];
    snprintf(broot, sizeof(broot), "%s/backup", small);
    ck_assert_int_eq(ferry_backup_check_space(broot, server, client, 0, NULL, NULL, &e),
                     FERRY_E_BACKUP_FAILED_SERVER);
    ck_assert_ptr_nonnull(strstr(e.msg, "free space"));
}
END_TEST

START_TEST(backup_server_enospc_mid_write)
{
    ferry_err_t e = {0};
    char broot[600], d[700], marker[800];
    snprintf(broot, sizeof(broot), "%s/backup", small);
    ck_assert_int_eq(ferry_backup_begin(broot, "9.0", d, sizeof(d), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_server(d, server, (ferry_progress_t){0}, NULL, &e),
                     FERRY_E_BACKUP_FAILED_SERVER);
    fprintf(stderr, "backup server on full disk: %s\n", e.msg);
    ck_assert_ptr_nonnull(strstr(e.msg, "No space"));
    snprintf(marker, sizeof(marker), "%s/%s", d, FERRY_BACKUP_COMPLETE_FILE);
    ck_assert_int_eq(ferry_fs_exists(marker), 0);
    ck_assert_int_eq(ferry_backup_verify(d, NULL, NULL, &e), FERRY_E_BACKUP_MISSING);
}
END_TEST

START_TEST(backup_client_enospc)
{
    ferry_err_t e = {0};
    char broot[600], d[700], z[800];
    snprintf(broot, sizeof(broot), "%s/backup", small);
    ck_assert_int_eq(ferry_backup_begin(broot, "9.1", d, sizeof(d), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_client(d, client, NULL, (ferry_progress_t){0}, NULL, &e),
                     FERRY_E_BACKUP_FAILED_CLIENT);
    fprintf(stderr, "backup client on full disk: %s\n", e.msg);
    snprintf(z, sizeof(z), "%s/client.zip", d);
    ck_assert_int_eq(ferry_fs_exists(z), 0);
    snprintf(z, sizeof(z), "%s/.client.zip.part", d);
    ck_assert_int_eq(ferry_fs_exists(z), 0);
}
END_TEST

static void build_zip(char *zpath, size_t size)
{
    snprintf(zpath, size, "%s/pkg.zip", root);
    char f[600];
    snprintf(f, sizeof(f), "%s/f0.bin", server);
    ftu_zip_entry_t z[] = {{.name = "a.bin", .src_file = f, .store = 1},
                           {.name = "b.bin", .src_file = f, .store = 1},
                           {.name = "c.bin", .src_file = f, .store = 1}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 3), 0);
}

START_TEST(extract_space_check_and_enospc)
{
    char zpath[600], dest[600], before[65], after[65];
    build_zip(zpath, sizeof(zpath));
    snprintf(dest, sizeof(dest), "%s/out", small);
    ck_assert_int_eq(ftu_tree_hash(small, before), 0);
    ferry_err_t e = {0};
    ferry_zip_t *z = NULL;
    ck_assert_int_eq(ferry_zip_open(zpath, NULL, 0, &z, &e), FERRY_OK);
    ck_assert_int_eq(ferry_zip_extract(z, dest, 0, (ferry_progress_t){0}, &e), FERRY_E_NOSPACE);
    /* bypass the check: the write itself hits ENOSPC, and the partial tree is removed */
    ck_assert_int_eq(ferry_zip_extract(z, dest, FERRY_ZIP_NO_SPACE_CHECK, (ferry_progress_t){0}, &e),
                     FERRY_E_NOSPACE);
    fprintf(stderr, "extract on full disk: %s\n", e.msg);
    ferry_zip_close(z);
    ck_assert_int_eq(ferry_fs_exists(dest), 0);
    ck_assert_int_eq(ftu_tree_hash(small, after), 0);
    ck_assert_str_eq(before, after);
}
END_TEST

int main(void)
{
    char probe[256], why[256];
    if (ftu_mkdtemp(probe, sizeof(probe), "tmpfs-probe") != 0)
        return 77;
    int ok = ftu_mount_tmpfs(probe, "1m", why, sizeof(why)) == 0;
    if (ok)
        ftu_umount(probe);
    rmdir(probe);
    if (!ok) {
        printf("SKIPPED engine_diskfull_test: %s\n", why);
        return 77;
    }
    Suite *s = suite_create("engine_diskfull");
    TCase *tc = tcase_create("diskfull");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, backup_space_check_refuses);
    tcase_add_test(tc, backup_server_enospc_mid_write);
    tcase_add_test(tc, backup_client_enospc);
    tcase_add_test(tc, extract_space_check_and_enospc);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
