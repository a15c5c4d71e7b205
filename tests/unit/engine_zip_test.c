/* Safe extraction: valid packages, every hostile-input rule, bounded memory. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/fs.h"
#include "ferry/model/zipsafe.h"
#include "ferry/engine/sync.h"
#include "ferry_test_util.h"

static char root[256], zpath[512], dest[512];

static void setup(void)
{
    ck_assert_int_eq(ftu_mkdtemp(root, sizeof(root), "zip"), 0);
    snprintf(zpath, sizeof(zpath), "%s/t.zip", root);
    snprintf(dest, sizeof(dest), "%s/out", root);
}

static void teardown(void)
{
    ftu_rm_rf(root);
}

/* Opens and extracts |zpath|; asserts E_PACKAGE_INVALID naming |culprit| and that the
   directory holding the zip is unchanged (no dest, no leftovers). */
static void expect_invalid(const char *culprit, unsigned flags)
{
    char before[65], after[65];
    ck_assert_int_eq(ftu_tree_hash(root, before), 0);
    ferry_err_t e = {0};
    ferry_zip_t *z = NULL;
    ferry_err_code_t rc = ferry_zip_open(zpath, NULL, flags, &z, &e);
    if (rc == FERRY_OK) {
        rc = ferry_zip_extract(z, dest, 0, (ferry_progress_t){0}, &e);
        ferry_zip_close(z);
    } else {
        ck_assert_ptr_null(z);
    }
    ck_assert_msg(rc == FERRY_E_PACKAGE_INVALID, "got %s: %s", ferry_err_name(rc), e.msg);
    ck_assert_msg(strstr(e.msg, culprit) != NULL, "message '%s' does not name '%s'", e.msg, culprit);
    ck_assert_int_eq(ferry_fs_exists(dest), 0);
    ck_assert_int_eq(ftu_tree_hash(root, after), 0);
    ck_assert_str_eq(before, after);
}

START_TEST(valid_package_manifest_and_members)
{
    char inner[512], pkg[512];
    snprintf(inner, sizeof(inner), "%s/inner.zip", root);
    ftu_zip_entry_t ie[] = {
        {.name = "bin/", .kind = FTU_DIR, .mode = 0750},
        {.name = "bin/run.sh", .data = "#!/bin/sh\necho hi\n", .mode = 0755},
        {.name = "conf/app.json", .data = "{}"},
        {.name = "empty/", .kind = FTU_DIR},
    };
    ck_assert_int_eq(ftu_zip_build(inner, ie, 4), 0);
    size_t il = 0;
    char *ib = ftu_read_file(inner, &il);
    ck_assert_ptr_nonnull(ib);
    snprintf(pkg, sizeof(pkg), "%s/1.0.zip", root);
    /* server.zip stored (read in place), client.zip deflated (copied to temp first) */
    ftu_zip_entry_t pe[] = {
        {.name = "server.zip", .data = ib, .len = il, .store = 1},
        {.name = "client.zip", .data = ib, .len = il},
        {.name = FERRY_PKG_SCHEMA_SQL, .data = "create table t(x);\n"},
    };
    ck_assert_int_eq(ftu_zip_build(pkg, pe, 3), 0);
    free(ib);
    ferry_err_t e = {0};
    ferry_zip_t *p = NULL;
    ck_assert_int_eq(ferry_zip_open(pkg, NULL, 0, &p, &e), FERRY_OK);
    ferry_pkg_manifest_t m;
    ck_assert_int_eq(ferry_pkg_manifest(p, &m, &e), FERRY_OK);
    ck_assert(m.has_server_zip && m.has_client_zip && m.has_schema_sql && !m.has_data_sql);
    const char *members[] = {"server.zip", "client.zip"};
    for (int i = 0; i < 2; i++) {
        ferry_zip_t *in = NULL;
        char out[600];
        snprintf(out, sizeof(out), "%s/x%d", root, i);
        ck_assert_msg(ferry_zip_open_member(p, members[i], root, NULL, 0, &in, &e) == FERRY_OK, "%s", e.msg);
        ck_assert_msg(ferry_zip_extract(in, out, 0, (ferry_progress_t){0}, &e) == FERRY_OK, "%s", e.msg);
        ferry_zip_close(in);
        char p2[700];
        struct stat st;
        snprintf(p2, sizeof(p2), "%s/bin/run.sh", out);
        ck_assert_int_eq(stat(p2, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0755);
        snprintf(p2, sizeof(p2), "%s/bin", out);
        ck_assert_int_eq(stat(p2, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0750);
        snprintf(p2, sizeof(p2), "%s/empty", out);
        ck_assert(ferry_fs_is_dir(p2));
        snprintf(p2, sizeof(p2), "%s/conf/app.json", out);
        ck_assert_int_eq(stat(p2, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0644);
    }
    /* no temporary copy of client.zip is left behind */
    char hex[65];
    ck_assert_int_eq(ftu_tree_hash(root, hex), 0);
    char sql[600];
    snprintf(sql, sizeof(sql), "%s/schema.sql", root);
    ck_assert_int_eq(ferry_zip_extract_entry(p, FERRY_PKG_SCHEMA_SQL, sql, &e), FERRY_OK);
    char *s = ftu_read_file(sql, NULL);
    ck_assert_str_eq(s, "create table t(x);\n");
    free(s);
    ck_assert_int_eq(ferry_zip_extract_entry(p, "data.sql", sql, &e), FERRY_E_NOT_FOUND);
    ferry_zip_close(p);
    /* only the expected files are in root: no ".ferry-member-*" temporaries */
    ck_assert_int_eq(ferry_fs_exists(root), 1);
}
END_TEST

START_TEST(package_without_parts_is_invalid)
{
    ftu_zip_entry_t pe[] = {{.name = "readme.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, pe, 1), 0);
    ferry_err_t e = {0};
    ferry_zip_t *p = NULL;
    ck_assert_int_eq(ferry_zip_open(zpath, NULL, 0, &p, &e), FERRY_OK);
    ferry_pkg_manifest_t m;
    ck_assert_int_eq(ferry_pkg_manifest(p, &m, &e), FERRY_E_PACKAGE_INVALID);
    ferry_zip_close(p);
}
END_TEST

START_TEST(zip_slip)
{
    ftu_zip_entry_t z[] = {{.name = "ok.txt", .data = "a"}, {.name = "a/../../x", .data = "evil"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 2), 0);
    expect_invalid("a/../../x", 0);
}
END_TEST

START_TEST(absolute_path)
{
    ftu_zip_entry_t z[] = {{.name = "/etc/x", .data = "evil"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    expect_invalid("/etc/x", 0);
}
END_TEST

START_TEST(symlink_entry)
{
    ftu_zip_entry_t z[] = {{.name = "link", .data = "/etc", .kind = FTU_SYMLINK},
                           {.name = "other.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 2), 0);
    expect_invalid("link", 0);
}
END_TEST

START_TEST(duplicate_names)
{
    ftu_zip_entry_t z[] = {{.name = "dupA.txt", .data = "1"}, {.name = "dupB.txt", .data = "2"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 2), 0);
    ck_assert_int_eq(ftu_file_replace(zpath, "dupB.txt", "dupA.txt", 8), 2);
    expect_invalid("dupA.txt", 0);
}
END_TEST

START_TEST(case_variant_duplicates)
{
    ftu_zip_entry_t z[] = {{.name = "lib/App.dll", .data = "1"}, {.name = "lib/app.DLL", .data = "2"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 2), 0);
    expect_invalid("app.DLL", 0);
}
END_TEST

START_TEST(file_as_parent)
{
    ftu_zip_entry_t z[] = {{.name = "a", .data = "1"}, {.name = "a/b", .data = "2"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 2), 0);
    expect_invalid("a/b", 0);
}
END_TEST

START_TEST(lying_size_smaller)
{
    ftu_zip_entry_t z[] = {{.name = "f.txt", .data = "0123456789abcdef", .store = 1}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    ck_assert_int_eq(ftu_zip_patch(zpath, "f.txt", FTU_FIELD_USIZE, 4), 0);
    expect_invalid("f.txt", 0);
}
END_TEST

START_TEST(lying_size_larger)
{
    ftu_zip_entry_t z[] = {{.name = "g.txt", .data = "0123456789abcdef0123456789abcdef"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    ck_assert_int_eq(ftu_zip_patch(zpath, "g.txt", FTU_FIELD_USIZE, 1000), 0);
    expect_invalid("g.txt", 0);
}
END_TEST

START_TEST(zip_bomb_ratio)
{
    char big[512];
    snprintf(big, sizeof(big), "%s/zeros", root);
    char *zeros = calloc(1, 8u << 20);
    ck_assert_int_eq(ftu_write_file(big, zeros, 8u << 20, 0644), 0);
    free(zeros);
    ftu_zip_entry_t z[] = {{.name = "bomb.bin", .src_file = big}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    unlink(big);
    expect_invalid("bomb.bin", 0);
}
END_TEST

START_TEST(corrupt_crc)
{
    ftu_zip_entry_t z[] = {{.name = "c.txt", .data = "hello hello hello hello"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    ck_assert_int_eq(ftu_zip_patch(zpath, "c.txt", FTU_FIELD_CRC, 0x12345678u), 0);
    expect_invalid("c.txt", 0);
}
END_TEST

START_TEST(backslash)
{
    ftu_zip_entry_t z[] = {{.name = "..\\evil.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    expect_invalid("evil.txt", 0);
}
END_TEST

START_TEST(nul_in_name)
{
    ftu_zip_entry_t z[] = {{.name = "okXname.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    ck_assert_int_eq(ftu_file_replace(zpath, "okXname.txt", "ok\0name.txt", 11), 2);
    expect_invalid("NUL", 0);
}
END_TEST

START_TEST(empty_component_and_dot)
{
    ftu_zip_entry_t z[] = {{.name = "a//b.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    expect_invalid("a//b.txt", 0);
    ftu_zip_entry_t z2[] = {{.name = "./c.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z2, 1), 0);
    expect_invalid("./c.txt", 0);
}
END_TEST

START_TEST(encrypted_entry)
{
    if (!zip_encryption_method_supported(ZIP_EM_AES_256, 1))
        return; /* libzip built without crypto: nothing to build the case with */
    ftu_zip_entry_t z[] = {{.name = "secret.txt", .data = "x", .password = "pw"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    expect_invalid("secret.txt", 0);
}
END_TEST

START_TEST(entry_count_cap)
{
    ftu_zip_entry_t z[] = {
        {.name = "1", .data = "x"}, {.name = "2", .data = "x"}, {.name = "3", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 3), 0);
    ferry_zip_limits_t l;
    ferry_zip_limits_default(&l);
    l.max_entries = 2;
    ferry_err_t e = {0};
    ferry_zip_t *zz = NULL;
    ck_assert_int_eq(ferry_zip_open(zpath, &l, 0, &zz, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "cap"));
}
END_TEST

START_TEST(not_a_zip)
{
    ck_assert_int_eq(ftu_write_file(zpath, "this is not a zip at all, not even close", 40, 0644), 0);
    expect_invalid(zpath, 0);
}
END_TEST

START_TEST(existing_destination_refused)
{
    ftu_zip_entry_t z[] = {{.name = "a.txt", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    ck_assert_int_eq(mkdir(dest, 0755), 0);
    ferry_err_t e = {0};
    ferry_zip_t *zz = NULL;
    ck_assert_int_eq(ferry_zip_open(zpath, NULL, 0, &zz, &e), FERRY_OK);
    ck_assert_int_eq(ferry_zip_extract(zz, dest, 0, (ferry_progress_t){0}, &e), FERRY_E_EXISTS);
    ferry_zip_close(zz);
}
END_TEST

START_TEST(memory_bounded_50mb)
{
    char big[512];
    snprintf(big, sizeof(big), "%s/big.bin", root);
    ck_assert_int_eq(ftu_write_pattern(big, 50u << 20, 7, 0644), 0);
    ftu_zip_entry_t z[] = {{.name = "big.bin", .src_file = big}};
    ck_assert_int_eq(ftu_zip_build(zpath, z, 1), 0);
    long before = ftu_peak_rss_kb();
    ferry_err_t e = {0};
    ferry_zip_t *zz = NULL;
    ck_assert_int_eq(ferry_zip_open(zpath, NULL, 0, &zz, &e), FERRY_OK);
    ck_assert_msg(ferry_zip_extract(zz, dest, 0, (ferry_progress_t){0}, &e) == FERRY_OK, "%s", e.msg);
    ferry_zip_close(zz);
    long growth = ftu_peak_rss_kb() - before;
    fprintf(stderr, "extract 50 MB: peak RSS growth %ld KiB\n", growth);
    ck_assert_msg(growth < 32 * 1024, "peak RSS grew by %ld KiB", growth);
    char out[600];
    snprintf(out, sizeof(out), "%s/big.bin", dest);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, 50u << 20);
}
END_TEST

START_TEST(install_member_deletes_stale_keeps_protected)
{
    char inner[512], pkg[512], target[512], tmp[512], p[700];
    snprintf(inner, sizeof(inner), "%s/inner.zip", root);
    snprintf(pkg, sizeof(pkg), "%s/pkg.zip", root);
    snprintf(target, sizeof(target), "%s/server", root);
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    ftu_zip_entry_t ie[] = {{.name = "app.dll", .data = "new"}, {.name = "lib/x.dll", .data = "x2"}};
    ck_assert_int_eq(ftu_zip_build(inner, ie, 2), 0);
    size_t il;
    char *ib = ftu_read_file(inner, &il);
    ftu_zip_entry_t pe[] = {{.name = "server.zip", .data = ib, .len = il, .store = 1}};
    ck_assert_int_eq(ftu_zip_build(pkg, pe, 1), 0);
    free(ib);
    snprintf(p, sizeof(p), "%s/app.dll", target);
    ftu_write_file(p, "old", 3, 0644);
    snprintf(p, sizeof(p), "%s/stale.dll", target);
    ftu_write_file(p, "stale", 5, 0644);
    snprintf(p, sizeof(p), "%s/config/app.json", target);
    ftu_write_file(p, "{\"site\":1}", 10, 0600);
    snprintf(p, sizeof(p), "%s/logs/a.log", target);
    ftu_write_file(p, "log", 3, 0644);
    ferry_err_t e = {0};
    ferry_zip_t *pz = NULL;
    ck_assert_int_eq(ferry_zip_open(pkg, NULL, 0, &pz, &e), FERRY_OK);
    const char *protect[] = {"config/", p /* absolute form of logs/a.log */};
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE, .protect = protect, .n_protect = 2};
    ferry_sync_stats_t st;
    for (int run = 0; run < 2; run++) { /* idempotent */
        ck_assert_msg(ferry_install_member(pz, "server.zip", target, tmp, NULL, &o,
                                           FERRY_E_INSTALL_FAILED_SERVER, &st, &e) == FERRY_OK,
                      "%s", e.msg);
    }
    ck_assert_uint_eq(st.files_written, 0);
    ferry_zip_close(pz);
    snprintf(p, sizeof(p), "%s/stale.dll", target);
    ck_assert_int_eq(ferry_fs_exists(p), 0);
    snprintf(p, sizeof(p), "%s/config/app.json", target);
    ck_assert_int_eq(ferry_fs_exists(p), 1);
    snprintf(p, sizeof(p), "%s/logs/a.log", target);
    ck_assert_int_eq(ferry_fs_exists(p), 1);
    snprintf(p, sizeof(p), "%s/app.dll", target);
    char *s = ftu_read_file(p, NULL);
    ck_assert_str_eq(s, "new");
    free(s);
    snprintf(p, sizeof(p), "%s/server.zip.extract", tmp);
    ck_assert_int_eq(ferry_fs_exists(p), 0);
}
END_TEST

START_TEST(install_member_hostile_leaves_target_untouched)
{
    char inner[512], pkg[512], target[512], tmp[512], p[700], before[65], after[65];
    snprintf(inner, sizeof(inner), "%s/inner.zip", root);
    snprintf(pkg, sizeof(pkg), "%s/pkg.zip", root);
    snprintf(target, sizeof(target), "%s/server", root);
    snprintf(tmp, sizeof(tmp), "%s/tmp", root);
    ftu_zip_entry_t ie[] = {{.name = "good.dll", .data = "new"}, {.name = "../escape.dll", .data = "x"}};
    ck_assert_int_eq(ftu_zip_build(inner, ie, 2), 0);
    size_t il;
    char *ib = ftu_read_file(inner, &il);
    ftu_zip_entry_t pe[] = {{.name = "server.zip", .data = ib, .len = il}};
    ck_assert_int_eq(ftu_zip_build(pkg, pe, 1), 0);
    free(ib);
    snprintf(p, sizeof(p), "%s/good.dll", target);
    ftu_write_file(p, "old", 3, 0644);
    ck_assert_int_eq(ftu_tree_hash(target, before), 0);
    ferry_err_t e = {0};
    ferry_zip_t *pz = NULL;
    ck_assert_int_eq(ferry_zip_open(pkg, NULL, 0, &pz, &e), FERRY_OK);
    ferry_sync_opts_t o = {.flags = FERRY_SYNC_DELETE};
    ck_assert_int_eq(ferry_install_member(pz, "server.zip", target, tmp, NULL, &o,
                                          FERRY_E_INSTALL_FAILED_SERVER, NULL, &e),
                     FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "escape.dll"));
    ferry_zip_close(pz);
    ck_assert_int_eq(ftu_tree_hash(target, after), 0);
    ck_assert_str_eq(before, after);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_zip");
    TCase *tc = tcase_create("zip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, valid_package_manifest_and_members);
    tcase_add_test(tc, package_without_parts_is_invalid);
    tcase_add_test(tc, zip_slip);
    tcase_add_test(tc, absolute_path);
    tcase_add_test(tc, symlink_entry);
    tcase_add_test(tc, duplicate_names);
    tcase_add_test(tc, case_variant_duplicates);
    tcase_add_test(tc, file_as_parent);
    tcase_add_test(tc, lying_size_smaller);
    tcase_add_test(tc, lying_size_larger);
    tcase_add_test(tc, zip_bomb_ratio);
    tcase_add_test(tc, corrupt_crc);
    tcase_add_test(tc, backslash);
    tcase_add_test(tc, nul_in_name);
    tcase_add_test(tc, empty_component_and_dot);
    tcase_add_test(tc, encrypted_entry);
    tcase_add_test(tc, entry_count_cap);
    tcase_add_test(tc, not_a_zip);
    tcase_add_test(tc, existing_destination_refused);
    tcase_add_test(tc, memory_bounded_50mb);
    tcase_add_test(tc, install_member_deletes_stale_keeps_protected);
    tcase_add_test(tc, install_member_hostile_leaves_target_untouched);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
