/* Backup trio and restore: faithful mirror, client.zip round trip, marker, retry folder,
   restore after a simulated failed install, every file's and directory's mode and mtime
   back after backup -> modify -> restore. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

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
static void backup_all(const char *version, char *out, size_t out_size, uint64_t client_files)
{
    ferry_err_t e = {0};
    ferry_backup_stats_t ss, cs;
    ck_assert_msg(ferry_backup_check_space(broot, server, client, 0, NULL, NULL, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_msg(ferry_backup_begin(broot, version, out, out_size, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_msg(ferry_backup_server(out, server, (ferry_progress_t){0}, &ss, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_msg(ferry_backup_client(out, client, NULL, (ferry_progress_t){0}, &cs, &e) == FERRY_OK, "%s",
                  e.msg);
    ck_assert_uint_eq(cs.files, client_files);
    ck_assert_uint_eq(cs.symlinks, 1);
    char db[700];
    snprintf(db, sizeof(db), "%s/data.bak", out);
    ck_assert_int_eq(ftu_write_file(db, "SQLite format 3", 15, 0644), 0);
    ck_assert_msg(ferry_backup_finalize(out, NULL, &ss, &cs, &e) == FERRY_OK, "%s", e.msg);
}

static void full_backup(const char *version, char *out, size_t out_size)
{
    backup_all(version, out, out_size, 6);
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

/* ---- every entry's mode and mtime survive backup -> modify -> restore ---- */

/* Gives every entry below |dir| (and |dir| itself) its own mtime with a nanosecond part
   that is not a multiple of 100, children before their directory (setting a child's
   mtime does not touch its directory's, creating one does). */
static void stamp_tree(const char *dir, long *seq)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[1024];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        ck_assert_int_eq(lstat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            stamp_tree(p, seq);
        } else {
            (*seq)++;
            ck_assert_int_eq(ftu_set_mtime(p, 1500000000 + *seq * 3607, (*seq * 123456789 + 17) % 1000000000),
                             0);
        }
    }
    closedir(d);
    (*seq)++;
    ck_assert_int_eq(ftu_set_mtime(dir, 1500000000 + *seq * 3607, (*seq * 123456789 + 17) % 1000000000), 0);
}

/* One line per entry (the root is "."), sorted: type, mode, mtime to |ns_div| ns. */
static void list_tree(const char *dir, const char *rel, long ns_div, char ***lines, size_t *n, size_t *cap)
{
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), 0);
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *lines = realloc(*lines, *cap * sizeof(**lines));
        ck_assert_ptr_nonnull(*lines);
    }
    char line[1200];
    snprintf(line, sizeof(line), "%s %c %04o %lld.%09ld", rel,
             S_ISDIR(st.st_mode)   ? 'd'
             : S_ISLNK(st.st_mode) ? 'l'
                                   : 'f',
             S_ISLNK(st.st_mode) ? 0 : (unsigned)(st.st_mode & 07777), (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec / ns_div * ns_div);
    (*lines)[(*n)++] = strdup(line);
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[1024], r[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        snprintf(r, sizeof(r), "%s/%s", rel, de->d_name);
        list_tree(p, r, ns_div, lines, n, cap);
    }
    closedir(d);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole listing as one string (caller frees). */
static char *tree_meta(const char *dir, long ns_div)
{
    char **lines = NULL;
    size_t n = 0, cap = 0, len = 1;
    list_tree(dir, ".", ns_div, &lines, &n, &cap);
    qsort(lines, n, sizeof(*lines), cmp_line);
    for (size_t i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *out = calloc(1, len);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* Fails naming the first differing line. */
static void assert_same_meta(const char *what, const char *want, const char *got)
{
    if (strcmp(want, got) == 0)
        return;
    size_t i = 0, line = 0;
    while (want[i] != '\0' && want[i] == got[i])
        i++;
    while (i > 0 && want[i - 1] != '\n')
        i--;
    line = i;
    ck_abort_msg("%s: mode/mtime differ after restore:\n  want %.*s\n  got  %.*s", what,
                 (int)strcspn(want + line, "\n"), want + line, (int)strcspn(got + line, "\n"), got + line);
}

/* Deeper trees than populate(): nested, empty, restrictive and renamed directories. */
static void populate_deep(const char *base)
{
    char p[700];
    put(base, "a/b/c/deep.txt", "deep", 0644);
    put(base, "a/b/sibling.txt", "sibling", 0640);
    put(base, "a/top.txt", "top", 0644);
    put(base, "gone/sub/x.txt", "removed by the failed install", 0644);
    put(base, "turns-into-file/y.txt", "y", 0644);
    put(base, "turns-into-dir", "a file first", 0644);
    snprintf(p, sizeof(p), "%s/a/b/c/empty", base);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/a/b", base);
    ck_assert_int_eq(chmod(p, 0750), 0);
    snprintf(p, sizeof(p), "%s/a/b/c", base);
    ck_assert_int_eq(chmod(p, 0711), 0);
}

/* What a failed install does to a tree: every kind of change a directory can see. */
static void break_tree(const char *base)
{
    char p[700], q[700];
    put(base, "a/b/c/new-in-deep.txt", "added", 0644); /* a new file deep down */
    put(base, "a/b/c/deep.txt", "rewritten, longer than before", 0644);
    put(base, "brand/new/dir/file.txt", "new tree", 0644); /* a new tree */
    snprintf(p, sizeof(p), "%s/a/b/sibling.txt", base);
    ck_assert_int_eq(unlink(p), 0); /* a deleted file */
    snprintf(p, sizeof(p), "%s/gone", base);
    ftu_rm_rf(p); /* a deleted tree */
    snprintf(p, sizeof(p), "%s/turns-into-file", base);
    ftu_rm_rf(p);
    put(base, "turns-into-file", "now a file", 0644);
    snprintf(p, sizeof(p), "%s/turns-into-dir", base);
    ck_assert_int_eq(unlink(p), 0);
    put(base, "turns-into-dir/z.txt", "now a dir", 0644);
    snprintf(p, sizeof(p), "%s/a/b/c/empty", base); /* an empty dir gets content, a new mode */
    put(base, "a/b/c/empty/filled.txt", "filled", 0644);
    ck_assert_int_eq(chmod(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/a/b", base);
    ck_assert_int_eq(chmod(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/a", base); /* a directory renamed away and back */
    snprintf(q, sizeof(q), "%s/a-moved", base);
    ck_assert_int_eq(rename(p, q), 0);
    ck_assert_int_eq(rename(q, p), 0);
    ck_assert_int_eq(chmod(base, 0700), 0); /* the root's own mode */
    ck_assert_int_eq(ftu_set_mtime(base, 1800000000, 5), 0);
}

START_TEST(restore_keeps_every_mode_and_mtime)
{
    long seq = 0;
    populate_deep(server);
    populate_deep(client);
    ck_assert_int_eq(chmod(server, 0750), 0);
    ck_assert_int_eq(chmod(client, 0751), 0);
    stamp_tree(server, &seq);
    stamp_tree(client, &seq);
    /* server: the mirror keeps nanoseconds; client.zip keeps 100 ns (NTFS extra field) */
    char *want_s = tree_meta(server, 1), *want_c = tree_meta(client, 100);
    backup_all("6.0", bdir, sizeof(bdir), 12);

    /* client.zip itself: every entry, directories included, carries its mtime in the
       extended-timestamp field (seconds exact for unzip), the root in the comment */
    char zpath[700];
    snprintf(zpath, sizeof(zpath), "%s/client.zip", bdir);
    int zerr = 0;
    zip_t *za = zip_open(zpath, ZIP_RDONLY, &zerr);
    ck_assert_ptr_nonnull(za);
    zip_int64_t n = zip_get_num_entries(za, 0), dirs = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        zip_uint16_t len = 0;
        const zip_uint8_t *ut =
            zip_file_extra_field_get_by_id(za, (zip_uint64_t)i, 0x5455, 0, &len, ZIP_FL_CENTRAL);
        ck_assert_msg(ut != NULL && len >= 5 && (ut[0] & 1), "'%s' has no extended timestamp", name);
        char p[1024];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%.*s", client, (int)strcspn(name, "\0"), name);
        size_t pl = strlen(p);
        if (pl > 0 && p[pl - 1] == '/') {
            p[pl - 1] = '\0';
            dirs++;
        }
        ck_assert_int_eq(lstat(p, &st), 0);
        uint32_t t = (uint32_t)ut[1] | (uint32_t)ut[2] << 8 | (uint32_t)ut[3] << 16 | (uint32_t)ut[4] << 24;
        ck_assert_msg((time_t)(int32_t)t == st.st_mtim.tv_sec, "'%s': zip mtime %u, file %lld", name, t,
                      (long long)st.st_mtim.tv_sec);
    }
    ck_assert_int_ge(dirs, 8);
    int clen = 0;
    const char *comment = zip_get_archive_comment(za, &clen, ZIP_FL_ENC_RAW);
    ck_assert_ptr_nonnull(comment);
    ck_assert_msg(clen > 0 && strncmp(comment, "ferry-client-root mode=0751 mtime=", 34) == 0,
                  "comment '%.*s'", clen, comment);
    zip_discard(za);

    break_tree(server);
    break_tree(client);
    char *broken = tree_meta(server, 1);
    ck_assert_str_ne(broken, want_s);
    free(broken);

    ferry_err_t e = {0};
    for (int run = 0; run < 2; run++) { /* a crash-resumed rollback restores twice */
        ck_assert_msg(ferry_restore_server(bdir, server, NULL, 0, (ferry_progress_t){0}, &e) == FERRY_OK,
                      "%s", e.msg);
        ck_assert_msg(ferry_restore_client(bdir, client, NULL, tmp, (ferry_progress_t){0}, &e) == FERRY_OK,
                      "%s", e.msg);
        char *got_s = tree_meta(server, 1), *got_c = tree_meta(client, 100);
        assert_same_meta("server", want_s, got_s);
        assert_same_meta("client", want_c, got_c);
        free(got_s);
        free(got_c);
    }
    /* and the contents too */
    char why[512], ref[600];
    snprintf(ref, sizeof(ref), "%s/ref", root);
    ck_assert_int_eq(ferry_restore_client(bdir, ref, NULL, tmp, (ferry_progress_t){0}, &e), FERRY_OK);
    ck_assert_msg(ftu_tree_equal(client, ref, FTU_CMP_MTIME_100NS | FTU_CMP_ROOT, why, sizeof(why)) == 0,
                  "%s", why);
    free(want_s);
    free(want_c);
}
END_TEST

/* An empty client dir still brings its root's mode and mtime back (the empty zip
   libzip does not write is written by hand, comment included). */
START_TEST(empty_client_dir_root_meta)
{
    char empty[600], d[600];
    snprintf(empty, sizeof(empty), "%s/empty-client", root);
    ck_assert_int_eq(mkdir(empty, 0705), 0);
    ck_assert_int_eq(chmod(empty, 0705), 0);
    ck_assert_int_eq(ftu_set_mtime(empty, 1650000000, 123456789), 0);
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_backup_begin(broot, "7.0", d, sizeof(d), &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_server(d, server, (ferry_progress_t){0}, NULL, &e), FERRY_OK);
    ck_assert_int_eq(ferry_backup_client(d, empty, NULL, (ferry_progress_t){0}, NULL, &e), FERRY_OK);
    char db[700];
    snprintf(db, sizeof(db), "%s/data.bak", d);
    ftu_write_file(db, "x", 1, 0644);
    ck_assert_int_eq(ferry_backup_finalize(d, NULL, NULL, NULL, &e), FERRY_OK);
    put(empty, "junk/added.txt", "added", 0644);
    ck_assert_int_eq(chmod(empty, 0755), 0);
    ck_assert_msg(ferry_restore_client(d, empty, NULL, tmp, (ferry_progress_t){0}, &e) == FERRY_OK, "%s",
                  e.msg);
    struct stat st;
    ck_assert_int_eq(stat(empty, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0705);
    ck_assert_int_eq(st.st_mtim.tv_sec, 1650000000);
    ck_assert_int_eq(st.st_mtim.tv_nsec, 123456789);
    char *meta = tree_meta(empty, 1);
    ck_assert_str_eq(meta, ". d 0705 1650000000.123456789\n");
    free(meta);
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
    tcase_add_test(tc, restore_keeps_every_mode_and_mtime);
    tcase_add_test(tc, empty_client_dir_root_meta);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
