/* Backup trio and restore: faithful mirror, client.zip round trip, marker, retry folder,
   restore after a simulated failed install. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/engine/backup.h"
#include "ferry/engine/sync.h"
#include "ferry_test_util.h"

static char root[256], server[512], client[512], broot[512], tmp[512], bdir[600];

static void put(const char *base, const char *rel, const char *data, mode_t mode)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    ck_assert_int_eq(ftu_write_file(p, data, strlen(data), mode), 0);
}

static void populate(const char *base)
{
    char p[700];
    put(base, "app.dll", "application v1", 0644);
    put(base, "bin/run.sh", "#!/bin/sh\n", 0750);
    put(base, "config/site.json", "{\"site\":\"A\"}", 0600);
    put(base, "logs/old.log", "old log", 0644);
    put(base, "\xe4\xb8\xad\xe6\x96\x87/\xe6\x96\x87\xe4\xbb\xb6.txt", "utf-8 names", 0644);
    snprintf(p, sizeof(p), "%s/big.bin", base);
    ck_assert_int_eq(ftu_write_pattern(p, 3u << 20, 1, 0644), 0);
    snprintf(p, sizeof(p), "%s/empty", base);
    mkdir(p, 0711);
    snprintf(p, sizeof(p), "%s/current", base);
    ck_assert_int_eq(symlink("bin/run.sh", p), 0);
    snprintf(p, sizeof(p), "%s/app.dll", base);
    ftu_set_mtime(p, 1700000000, 123456789);
    snprintf(p, sizeof(p), "%s/empty", base);
    ftu_set_mtime(p, 1600000000, 987654321);
}

static void setup(void)
{
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "backup"), 0);
    snprintf(server, sizeof(server), "%s/server", root);
    snprintf(client, sizeof(client), "%s/client", root);
    snprintf(broot, sizeof(broot), "%s/backup", root);
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    populate(server);
    populate(client);
}

static void teardown(void)
{
    ftu_rm_rf(root);
}

/* The whole trio; data.bak is faked here (the SQL executor makes the real one). */
static void full_backup(const char *version, char *out, size_t out_size)
{
    ferry_err_t e = {0};
    ferry_backup_stats_t ss, cs;
    ck_assert_msg(ferry_backup_check_space(broot, server, client, 0, NULL, NULL, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_msg(ferry_backup_begin(broot, version, out, out_size, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_msg(ferry_backup_server(out, server, (ferry_progress_t){0}, &ss, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_msg(ferry_backup_client(out, client, NULL, (ferry_progress_t){0}, &cs, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_uint_eq(cs.files, 6);
    ck_assert_uint_eq(cs.symlinks, 1);
    char db[700];
    snprintf(db, sizeof(db), "%s/data.bak", out);
    ck_assert_int_eq(ftu_write_file(db, "SQLite format 3", 15, 0644), 0);
    ck_assert_msg(ferry_backup_finalize(out, NULL, &ss, &cs, &e) == FERRY_OK, "%s", e.msg);
}

START_TEST(trio_mirror_and_zip_are_faithful)
{
    full_backup("1.25.12.13(12521)", bdir, sizeof(bdir));
    char exp[700], why[512];
    snprintf(exp, sizeof(exp), "%s/1.25.12.13(12521)", broot);
    ck_assert_str_eq(bdir, exp);
    char mirror[700];
    snprintf(mirror, sizeof(mirror), "%s/server", bdir);
    ck_assert_msg(
        ftu_tree_equal(server, mirror, FTU_CMP_MTIME | FTU_CMP_OWNER | FTU_CMP_ROOT, why, sizeof(why)) == 0,
        "%s", why);
    ferry_backup_info_t info;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_backup_verify(bdir, NULL, &info, &e), FERRY_OK);
    ck_assert_str_eq(info.version, "1.25.12.13(12521)");
    ck_assert_uint_eq(info.server.files, 6);
    ck_assert_int_eq(strlen(info.client_zip_sha256), 64);
    /* client.zip unzips back identically (modes, 100 ns mtimes, symlink, empty dir) */
    char back[700];
    snprintf(back, sizeof(back), "%s/client-back", root);
    ck_assert_msg(ferry_restore_client(bdir, back, NULL, tmp, (ferry_progress_t){0}, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_msg(ftu_tree_equal(client, back, FTU_CMP_MTIME_100NS, why, sizeof(why)) == 0, "%s", why);
    /* and standard tools read it */
    if (system("command -v unzip >/dev/null 2>&1") == 0) {
        char cmd[900];
        snprintf(cmd, sizeof(cmd), "unzip -tq '%s/client.zip' >/dev/null", bdir);
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

START_TEST(retry_uses_timestamped_folder)
{
    char first[600], second[600];
    full_backup("2.0", first, sizeof(first));
    full_backup("2.0", second, sizeof(second));
    ck_assert_str_ne(first, second);
    char prefix[600];
    snprintf(prefix, sizeof(prefix), "%s/2.0_", broot);
    ck_assert_int_eq(strncmp(second, prefix, strlen(prefix)), 0);
    ck_assert_int_eq(strlen(second), strlen(prefix) + 14); /* yyyyMMddHHmmss */
}
END_TEST

START_TEST(incomplete_backup_is_missing)
{
    ferry_err_t e = {0};
    char d[600];
    ck_assert_int_eq(ferry_backup_begin(broot, "3.0", d, sizeof(d), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_server(d, server, (ferry_progress_t){0}, NULL, &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_verify(d, NULL, NULL, &e), FERRY_E_BACKUP_MISSING);
    ck_assert_int_eq(ferry_restore_server(d, server, NULL, 0, (ferry_progress_t){0}, &e),
                     FERRY_E_BACKUP_MISSING);
    ck_assert_int_eq(ferry_restore_client(d, client, NULL, tmp, (ferry_progress_t){0}, &e),
                     FERRY_E_BACKUP_MISSING);
    /* finalize names the missing part */
    ck_assert_int_eq(ferry_backup_finalize(d, NULL, NULL, NULL, &e), FERRY_E_BACKUP_FAILED_CLIENT);
    ck_assert_int_eq(ferry_backup_begin(broot, "../x", d, sizeof(d), &e), FERRY_E_INVALID_ARG);
}
END_TEST

START_TEST(missing_source_dirs)
{
    ferry_err_t e = {0};
    char d[600], nos[600], noc[600];
    snprintf(nos, sizeof(nos), "%s/none-s", root);
    snprintf(noc, sizeof(noc), "%s/none-c", root);
    ck_assert_int_eq(ferry_backup_begin(broot, "4.0", d, sizeof(d), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_server(d, "/nonexistent/ferry/x", (ferry_progress_t){0}, NULL, &e),
                     FERRY_OK);
    ck_assert_int_eq(ferry_backup_client(d, noc, NULL, (ferry_progress_t){0}, NULL, &e), FERRY_OK);
    char db[700];
    snprintf(db, sizeof(db), "%s/data.bak", d);
    ftu_write_file(db, "x", 1, 0644);
    ck_assert_int_eq(ferry_backup_finalize(d, NULL, NULL, NULL, &e), FERRY_OK);
    ck_assert_msg(ferry_restore_client(d, noc, NULL, tmp, (ferry_progress_t){0}, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert(ferry_fs_is_dir(noc));
}
END_TEST

START_TEST(restore_after_failed_install_is_identical)
{
    char ref_s[600], ref_c[600], why[512];
    snprintf(ref_s, sizeof(ref_s), "%s/ref-server", root);
    snprintf(ref_c, sizeof(ref_c), "%s/ref-client", root);
    populate(ref_c);
    ferry_err_t e = {0};
    ferry_sync_opts_t cp = {0};
    cp.flags = FERRY_SYNC_OWNERS;
    ck_assert_int_eq(ferry_sync_tree(server, ref_s, &cp, NULL, &e), FERRY_OK);
    full_backup("5.0", bdir, sizeof(bdir));
    /* the "failed install": overwrite, add, delete, change modes, replace a dir by a file */
    put(server, "app.dll", "application v2 (broken)", 0644);
    put(server, "new.dll", "added by install", 0644);
    put(server, "config/site.json", "{\"site\":\"overwritten\"}", 0644);
    put(server, "logs/during-failed-attempt.log", "diagnostics", 0644);
    char p[700];
    snprintf(p, sizeof(p), "%s/bin/run.sh", server);
    chmod(p, 0777);
    snprintf(p, sizeof(p), "%s/empty", server);
    rmdir(p);
    put(server, "empty", "now a file", 0644);
    put(client, "app.dll", "client v2", 0644);
    put(client, "extra.txt", "x", 0644);
    snprintf(p, sizeof(p), "%s/current", client);
    unlink(p);
    /* exact restore */
    for (int run = 0; run < 2; run++) /* idempotent: a crash-resumed rollback redoes it */
        ck_assert_msg(ferry_restore_server(bdir, server, NULL, 0, (ferry_progress_t){0}, &e) == FERRY_OK,
                      "%s", e.msg);
    ck_assert_msg(
        ftu_tree_equal(ref_s, server, FTU_CMP_MTIME | FTU_CMP_OWNER | FTU_CMP_ROOT, why, sizeof(why)) == 0,
        "%s", why);
    ck_assert_msg(ferry_restore_client(bdir, client, NULL, tmp, (ferry_progress_t){0}, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_msg(ftu_tree_equal(ref_c, client, 0, why, sizeof(why)) == 0, "%s", why);
    /* with protect paths, the failed attempt's new log survives but protected files in the
       mirror are still restored */
    put(server, "logs/during-failed-attempt.log", "diagnostics", 0644);
    put(server, "config/site.json", "{\"site\":\"overwritten\"}", 0644);
    const char *protect[] = {"config", "logs"};
    ck_assert_int_eq(ferry_restore_server(bdir, server, protect, 2, (ferry_progress_t){0}, &e), FERRY_OK);
    snprintf(p, sizeof(p), "%s/logs/during-failed-attempt.log", server);
    ck_assert_int_eq(ferry_fs_exists(p), 1);
    snprintf(p, sizeof(p), "%s/config/site.json", server);
    char *s = ftu_read_file(p, NULL);
    ck_assert_str_eq(s, "{\"site\":\"A\"}");
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_backup");
    TCase *tc = tcase_create("backup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, trio_mirror_and_zip_are_faithful);
    tcase_add_test(tc, retry_uses_timestamped_folder);
    tcase_add_test(tc, incomplete_backup_is_missing);
    tcase_add_test(tc, missing_source_dirs);
    tcase_add_test(tc, restore_after_failed_install_is_identical);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
