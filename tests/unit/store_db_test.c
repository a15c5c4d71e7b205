#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/db.h"
#include "ferry/fs.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-db-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ferry.db", dir);
}

static void teardown(void)
{
    ferry_fs_rm_rf(dir, NULL);
}

static long long scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

START_TEST(open_applies_schema_with_durable_settings)
{
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    size_t n = 0;
    const ferry_db_migration_t *m = ferry_db_migrations(&n);
    ck_assert_int_eq(ferry_db_schema_version(db), m[n - 1].version);
    ck_assert_int_eq(scalar(db, "PRAGMA synchronous"), 2); /* FULL */
    ck_assert_int_eq(scalar(db, "PRAGMA foreign_keys"), 1);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    static const char *const tables[] = {"customer",    "store",      "node",           "storage_config",
                                         "package",     "release",    "release_target", "node_config_index",
                                         "update_task", "task_event", "report_file",    "audit_log",
                                         "admin_token"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char q[160];
        snprintf(q, sizeof(q), "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name='%s'",
                 tables[i]);
        ck_assert_msg(scalar(db, q) == 1, "missing table %s", tables[i]);
    }
    /* UpdateTask carries the seed's §7.2 fields */
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM pragma_table_info('update_task') WHERE name IN "
                                "('backup_local_path','server_dir','client_dir','report_files_json')"),
                     4);
    ferry_db_close(db);
    /* reopening is a no-op */
    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    ferry_db_close(db);
}
END_TEST

START_TEST(foreign_keys_are_enforced)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(ferry_db_open(path, &db, NULL), FERRY_OK);
    ferry_err_t e = {0};
    ck_assert_int_ne(
        ferry_db_exec(
            db, "INSERT INTO store(customer_id, code, name, created_at, updated_at) VALUES (42,'s','S',0,0)",
            "insert", &e),
        FERRY_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "FOREIGN KEY"));
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM store"), 0);
    ferry_db_close(db);
}
END_TEST

START_TEST(failed_migration_changes_nothing_and_newer_schema_is_refused)
{
    static const ferry_db_migration_t good[] = {{1, "one", "CREATE TABLE a(x);"}};
    static const ferry_db_migration_t bad[] = {{1, "one", "CREATE TABLE a(x);"},
                                               {2, "two", "CREATE TABLE b(y); INSERT INTO nope VALUES(1);"}};
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_db_open_with(path, good, 1, &db, &e), FERRY_OK);
    ferry_db_close(db);
    ck_assert_int_ne(ferry_db_open_with(path, bad, 2, &db, &e), FERRY_OK);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(e.msg, "migration 2 (two)"));
    ck_assert_int_eq(ferry_db_open_with(path, good, 1, &db, &e), FERRY_OK);
    ck_assert_int_eq(ferry_db_schema_version(db), 1);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name='b'"), 0);
    ferry_db_exec(db, "PRAGMA user_version=7", "bump", NULL);
    ferry_db_close(db);
    ck_assert_int_eq(ferry_db_open_with(path, good, 1, &db, &e), FERRY_E_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(e.msg, "newer than this binary"));
}
END_TEST

/* The database and its -wal/-shm are owner-only (0600) whatever the umask, and a file
 * an older version left 0644 is tightened on open. */
static int mode_of(const char *suffix)
{
    char p[160];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    ck_assert_msg(stat(p, &sb) == 0, "%s missing", p);
    return (int)(sb.st_mode & 07777);
}

START_TEST(database_files_are_owner_only)
{
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    mode_t old = umask(022);
    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    /* a write with the connection open: the -wal and -shm exist now */
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO customer (code, name, created_at, updated_at)"
                                  " VALUES ('C', 'C', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(mode_of(""), 0600);
    ck_assert_int_eq(mode_of("-wal"), 0600);
    ck_assert_int_eq(mode_of("-shm"), 0600);
    ferry_db_close(db);

    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    ck_assert_int_eq(mode_of(""), 0600);
    ferry_db_close(db);
    umask(old);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_db");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, open_applies_schema_with_durable_settings);
    tcase_add_test(tc, foreign_keys_are_enforced);
    tcase_add_test(tc, database_files_are_owner_only);
    tcase_add_test(tc, failed_migration_changes_nothing_and_newer_schema_is_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
