/* Migrations on a database an older ferryd created: the rows it holds survive. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/db.h"
#include "ferry/fs.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ferry-mig-XXXXXX");
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
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    ferry_err_t e = {0};
    ck_assert_msg(ferry_db_exec(db, sql, "test", &e) == FERRY_OK, "%s: %s", sql, e.msg);
}

/* The migrations strictly older than `version`: the schema an older ferryd left. */
static size_t migrations_before(int version)
{
    size_t n = 0, k = 0;
    const ferry_db_migration_t *m = ferry_db_migrations(&n);
    while (k < n && m[k].version < version)
        k++;
    ck_assert_msg(k < n, "no migration %d", version);
    return k;
}

/* A digest of every report_file row, to compare before and after. */
static const char ROWS_DIGEST[] =
    "SELECT group_concat(id || '|' || node_id || '|' || COALESCE(task_id, '-') || '|' ||"
    " kind || '|' || name || '|' || blob_sha256 || '|' || size || '|' || summary ||"
    " '|' || content_type || '|' || created_at, ';') FROM"
    " (SELECT * FROM report_file ORDER BY id)";

static char *text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ck_assert_ptr_nonnull(v);
    return v;
}

START_TEST(upgrade_report_kind_keeps_report_files)
{
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    size_t n = 0;
    const ferry_db_migration_t *all = ferry_db_migrations(&n);
    size_t old = migrations_before(6);

    ck_assert_int_eq(ferry_db_open_with(path, all, old, &db, &e), FERRY_OK);
    ck_assert_int_eq(ferry_db_schema_version(db), 5);
    exec_ok(db, "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'c', 1, 1);"
                "INSERT INTO store (id, customer_id, code, name, created_at, updated_at)"
                "  VALUES (1, 1, 'S', 's', 1, 1);"
                "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, token_issued_at,"
                "  created_at, updated_at) VALUES (1, 1, 'N', 1, 'tid', x'00', 1, 1, 1);"
                "INSERT INTO report_file (id, node_id, task_id, kind, name, blob_sha256, size, summary,"
                "  content_type, created_at) VALUES"
                "  (7, 1, NULL, 1, 'node.json', 'aa', 10, 's1', 'application/json', 100),"
                "  (9, 1, NULL, 2, 'a.log', 'bb', 20, '', 'text/plain', 200),"
                "  (12, 1, NULL, 4, 'sql.log', 'cc', 30, '', '', 300);"
                "INSERT INTO node_config_index (node_id, config_version, file_id, blob_sha256, size,"
                "  summary_json, uploaded_at) VALUES (1, 3, 7, 'aa', 10, '{}', 100);");
    /* The old schema refuses kind 5: that is what the migration is for. */
    ck_assert_int_ne(
        ferry_db_exec(db,
                      "INSERT INTO report_file (node_id, kind, name, blob_sha256, size, created_at)"
                      " VALUES (1, 5, 'upgrade-report.json', 'dd', 1, 1)",
                      "kind 5 at v5", &e),
        FERRY_OK);
    char *before = text(db, ROWS_DIGEST);
    ferry_db_close(db);
    db = NULL;

    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    ck_assert_int_ge(ferry_db_schema_version(db), 6);
    char *after = text(db, ROWS_DIGEST);
    ck_assert_str_eq(after, before);
    free(before);
    free(after);
    /* The node config index still points at its file, through a foreign key that still
     * names report_file (a RENAME would have rewritten it), and it is enforced. */
    ck_assert_int_eq(scalar(db, "SELECT file_id FROM node_config_index WHERE node_id = 1"), 7);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM pragma_foreign_key_list('node_config_index')"
                                " WHERE \"table\" = 'report_file' AND \"from\" = 'file_id'"),
                     1);
    ck_assert_int_ne(ferry_db_exec(db, "DELETE FROM report_file WHERE id = 7", "delete referenced", &e),
                     FERRY_OK);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM report_file WHERE id = 7"), 1);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name ="
                                " 'report_file' AND name IN ('report_file_task', 'report_file_node')"),
                     2);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM sqlite_temp_schema WHERE name = 'report_file_copy'"),
                     0);
    /* Kind 5 is accepted now, 6 still is not; new ids follow the copied ones. */
    exec_ok(db, "INSERT INTO report_file (node_id, kind, name, blob_sha256, size, created_at)"
                " VALUES (1, 5, 'upgrade-report.json', 'dd', 1, 1)");
    ck_assert_int_eq(scalar(db, "SELECT max(id) FROM report_file WHERE kind = 5"), 13);
    ck_assert_int_ne(
        ferry_db_exec(db,
                      "INSERT INTO report_file (node_id, kind, name, blob_sha256, size, created_at)"
                      " VALUES (1, 6, 'x', 'ee', 1, 1)",
                      "kind 6", &e),
        FERRY_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "CHECK"));
    ferry_db_close(db);
}
END_TEST

/* Migration 8 (rollouts) on a v6 database: its releases and tasks keep their rows and read as
 * releases without waves (wave_count 0, no window), nodes get the server's zone (''). */
START_TEST(rollout_waves_on_an_older_database)
{
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    size_t n = 0;
    const ferry_db_migration_t *all = ferry_db_migrations(&n);
    size_t old = migrations_before(8);

    ck_assert_int_eq(ferry_db_open_with(path, all, old, &db, &e), FERRY_OK);
    ck_assert_int_lt(ferry_db_schema_version(db), 8);
    exec_ok(db,
            "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'c', 1, 1);"
            "INSERT INTO store (id, customer_id, code, name, created_at, updated_at)"
            "  VALUES (1, 1, 'S', 's', 1, 1);"
            "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, token_issued_at,"
            "  created_at, updated_at) VALUES (1, 1, 'N', 4, 'tid', x'00', 1, 1, 1);"
            "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
            "  has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
            "  VALUES (1, '1.0', 1, 0, 0, 0, 0, 1, 'aa', 1, 0, 0, 0, x'', x'', 'k', 1);"
            "INSERT INTO release (id, package_id, customer_id, environment, policy, status, created_at,"
            "  updated_at) VALUES (3, 1, 1, 4, 1, 2, 1, 1);"
            "INSERT INTO update_task (id, release_id, node_id, state, halted, created_at, updated_at)"
            "  VALUES (5, 3, 1, 10, 1, 1, 1);");
    ferry_db_close(db);
    db = NULL;

    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    ck_assert_int_ge(ferry_db_schema_version(db), 8);
    ck_assert_int_eq(scalar(db, "SELECT status FROM release WHERE id = 3"), 2);
    ck_assert_int_eq(scalar(db, "SELECT wave_count + current_wave + approve_waves + awaiting_promotion"
                                " FROM release WHERE id = 3"),
                     0);
    ck_assert_int_eq(
        scalar(db, "SELECT window_start IS NULL AND paused_reason = '' FROM release WHERE id = 3"), 1);
    ck_assert_int_eq(scalar(db, "SELECT wave FROM update_task WHERE id = 5"), 0);
    ck_assert_int_eq(scalar(db, "SELECT time_zone = '' FROM node WHERE id = 1"), 1);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM release_wave"), 0);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('release_node',"
                                " 'release_node_wave', 'update_task_wave')"),
                     3);
    ferry_db_close(db);
}
END_TEST

/* Migration 10: a paused-then-resumed release's acknowledged failures (release.failures_acked,
 * the current wave's) move to that wave's row; other waves start at 0. */
START_TEST(wave_failures_acked_move_to_their_wave)
{
    sqlite3 *db = NULL;
    ferry_err_t e = {0};
    size_t n = 0;
    const ferry_db_migration_t *all = ferry_db_migrations(&n);
    size_t old = migrations_before(10);

    ck_assert_int_eq(ferry_db_open_with(path, all, old, &db, &e), FERRY_OK);
    ck_assert_int_eq(ferry_db_schema_version(db), 9);
    exec_ok(db,
            "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'c', 1, 1);"
            "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
            "  has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
            "  VALUES (1, '1.0', 1, 0, 0, 0, 0, 1, 'aa', 1, 0, 0, 0, x'', x'', 'k', 1);"
            "INSERT INTO release (id, package_id, customer_id, environment, policy, created_at, updated_at,"
            "  wave_count, current_wave, failures_acked) VALUES (3, 1, 1, 4, 1, 1, 1, 3, 2, 4),"
            "  (4, 1, 1, 4, 1, 1, 1, 0, 0, 0);"
            "INSERT INTO release_wave (release_id, number, spec, node_count) VALUES (3, 1, '2', 2),"
            "  (3, 2, '5', 3), (3, 3, 'rest', 9);");
    ferry_db_close(db);
    db = NULL;

    ck_assert_int_eq(ferry_db_open(path, &db, &e), FERRY_OK);
    ck_assert_int_ge(ferry_db_schema_version(db), 10);
    /* digits: wave 1, wave 2, wave 3 */
    ck_assert_int_eq(scalar(db,
                            "SELECT sum(failures_acked * CASE number WHEN 1 THEN 100 WHEN 2 THEN 10 ELSE 1"
                            " END) FROM release_wave WHERE release_id = 3"),
                     40);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM release_wave"), 3);
    ferry_db_close(db);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_migrations");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, upgrade_report_kind_keeps_report_files);
    tcase_add_test(tc, rollout_waves_on_an_older_database);
    tcase_add_test(tc, wave_failures_acked_move_to_their_wave);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
