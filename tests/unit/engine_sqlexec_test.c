/* SQLite executor on real files: the SQL step, sql.log, data.bak round trips. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/engine/sqlexec.h"
#include "ferry/fs.h"

static char root[256], scripts[300], dbpath[300], db2path[300], logpath[300], bakdir[300];

static void sh_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ferry-sqlexec-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(scripts, sizeof(scripts), "%s/pkg", root);
    snprintf(dbpath, sizeof(dbpath), "%s/main.db", root);
    snprintf(db2path, sizeof(db2path), "%s/second.db", root);
    snprintf(logpath, sizeof(logpath), "%s/logs/sql.log", root);
    snprintf(bakdir, sizeof(bakdir), "%s/backup/1.0.0.1", root);
    ck_assert_int_eq(ferry_fs_mkdir_p(scripts, 0755, NULL), FERRY_OK);
    sh_exec(dbpath, "CREATE TABLE trail(step TEXT); INSERT INTO trail VALUES('before');");
    sh_exec(db2path, "CREATE TABLE other(v INTEGER); INSERT INTO other VALUES(42);");
}

static void teardown(void)
{
    ferry_fs_rm_rf(root, NULL);
}

static void write_script(const char *name, const char *text)
{
    char p[512];
    ferry_fs_join(p, sizeof(p), scripts, name);
    ck_assert_int_eq(ferry_fs_write_atomic(p, text, strlen(text), 0644, NULL), FERRY_OK);
}

/* A deterministic text dump of a database: schema and every row of every table. */
static char *dump(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *t = NULL;
    size_t cap = 65536, len = 0;
    char *out = calloc(1, cap);
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master ORDER BY name", -1, &t, NULL), SQLITE_OK);
    while (sqlite3_step(t) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(t, 0);
        len +=
            (size_t)snprintf(out + len, cap - len, "%s|%s\n", name, (const char *)sqlite3_column_text(t, 1));
        char q[300];
        snprintf(q, sizeof(q), "SELECT * FROM \"%s\" ORDER BY rowid", name);
        sqlite3_stmt *r = NULL;
        if (sqlite3_prepare_v2(db, q, -1, &r, NULL) != SQLITE_OK)
            continue; /* indexes */
        while (sqlite3_step(r) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(r); c++)
                len += (size_t)snprintf(out + len, cap - len, "%s%s", (const char *)sqlite3_column_text(r, c),
                                        c + 1 < sqlite3_column_count(r) ? "," : "\n");
        sqlite3_finalize(r);
    }
    sqlite3_finalize(t);
    sqlite3_close(db);
    return out;
}

static char *read_log(void)
{
    char *buf = NULL;
    ck_assert_int_eq(ferry_fs_read_file(logpath, 1 << 20, &buf, NULL, NULL), FERRY_OK);
    return buf;
}

typedef struct progress {
    uint64_t calls, last_done, last_total;
} progress_t;

static void on_progress(void *user, uint64_t done, uint64_t total, const char *what)
{
    progress_t *p = user;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
    ck_assert_ptr_nonnull(strchr(what, '#'));
}

static ferry_err_code_t run(progress_t *p, ferry_err_t *e)
{
    ferry_sqlexec_t *x = NULL;
    ck_assert_int_eq(ferry_sqlexec_open_sqlite(dbpath, &x, e), FERRY_OK);
    ferry_sql_run_opts_t o = {.script_dir = scripts,
                              .sql_log = logpath,
                              .exec = x,
                              .progress = {p != NULL ? on_progress : NULL, p}};
    ferry_err_code_t rc = ferry_sql_run_dir(&o, e);
    ferry_sqlexec_free(x);
    return rc;
}

START_TEST(schema_then_data)
{
    write_script("data.sql", "INSERT INTO trail(step) VALUES('data');\nGO\n");
    write_script("结构.sql", "\xEF\xBB\xBF"
                             "ALTER TABLE trail ADD COLUMN extra TEXT;\r\nGO\r\n"
                             "INSERT INTO trail(step) VALUES('schema');\r\nGO 3\r\n");
    ferry_err_t e = {0};
    progress_t p = {0};
    ck_assert_int_eq(run(&p, &e), FERRY_OK);
    char *d = dump(dbpath);
    ck_assert_ptr_nonnull(
        strstr(d, "before,(null)\nschema,(null)\nschema,(null)\nschema,(null)\ndata,(null)\n"));
    free(d);
    ck_assert_uint_eq(p.last_done, 5);
    ck_assert_uint_eq(p.last_total, 5);
    char *log = read_log();
    char *s = strstr(log, "begin file=结构.sql"), *dd = strstr(log, "begin file=data.sql");
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(dd);
    ck_assert(s < dd);
    ck_assert_ptr_nonnull(strstr(log, "batch file=结构.sql index=2 line=3 repeat=3 outcome=ok ms="));
    ck_assert_ptr_nonnull(strstr(log, "rows=3"));
    ck_assert_ptr_nonnull(strstr(log, "end file=data.sql outcome=ok"));
    free(log);
}
END_TEST

START_TEST(only_one_file_or_none)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(run(NULL, &e), FERRY_OK);
    write_script("data.sql", "INSERT INTO trail VALUES('data');");
    ck_assert_int_eq(run(NULL, &e), FERRY_OK);
    char *log = read_log();
    ck_assert_ptr_nonnull(strstr(log, "skip file=结构.sql"));
    ck_assert_ptr_nonnull(strstr(log, "begin file=data.sql"));
    free(log);
    char p[512];
    ferry_fs_join(p, sizeof(p), scripts, "data.sql");
    unlink(p);
    write_script("结构.sql", "CREATE TABLE s(x);");
    ck_assert_int_eq(run(NULL, &e), FERRY_OK);
    char *d = dump(dbpath);
    ck_assert_ptr_nonnull(strstr(d, "s|CREATE TABLE s(x)"));
    ck_assert_ptr_nonnull(strstr(d, "before\ndata\n"));
    free(d);
}
END_TEST

START_TEST(schema_failure_names_file_batch_line)
{
    write_script("结构.sql", "CREATE TABLE a(x);\nGO\n\n-- the broken one\nCREATE TABLE a(x);\nGO\n");
    write_script("data.sql", "INSERT INTO trail VALUES('data');\n");
    ferry_err_t e = {0};
    ck_assert_int_eq(run(NULL, &e), FERRY_E_SQL_FAILED_SCHEMA);
    ck_assert_ptr_nonnull(strstr(e.msg, "结构.sql: batch 2 (line 4) failed"));
    ck_assert_ptr_nonnull(strstr(e.msg, "already exists"));
    char *log = read_log();
    ck_assert_ptr_nonnull(strstr(log, "index=2 line=4 repeat=1 outcome=failed run=1/1"));
    ck_assert_ptr_nonnull(strstr(log, "  sql:  -- the broken one CREATE TABLE a(x);"));
    ck_assert_ptr_nonnull(strstr(log, "  msg: SQLite error"));
    ck_assert_ptr_nonnull(strstr(log, "end file=结构.sql outcome=failed ms="));
    ck_assert_ptr_null(strstr(log, "begin file=data.sql"));
    free(log);
    char *d = dump(dbpath);
    ck_assert_ptr_null(strstr(d, "data"));
    free(d);
}
END_TEST

START_TEST(data_failure_and_open_transaction_rolled_back)
{
    write_script("data.sql", "BEGIN;\nINSERT INTO trail VALUES('in-tx');\nINSERT INTO nope VALUES(1);\nGO\n");
    ferry_err_t e = {0};
    ck_assert_int_eq(run(NULL, &e), FERRY_E_SQL_FAILED_DATA);
    ck_assert_ptr_nonnull(strstr(e.msg, "data.sql: batch 1 (line 1)"));
    ck_assert_ptr_nonnull(strstr(e.msg, "no such table: nope"));
    char *d = dump(dbpath);
    ck_assert_ptr_null(strstr(d, "in-tx"));
    free(d);
}
END_TEST

START_TEST(malformed_script_changes_nothing)
{
    write_script("结构.sql", "INSERT INTO trail VALUES('schema');\n");
    write_script("data.sql", "INSERT INTO trail VALUES('ok');\nGO\nINSERT INTO trail VALUES('\xC3\x28');\n");
    ferry_err_t e = {0};
    ck_assert_int_eq(run(NULL, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "data.sql: line 3: invalid UTF-8"));
    char *d = dump(dbpath);
    ck_assert_str_eq(d, "trail|CREATE TABLE trail(step TEXT)\nbefore\n");
    free(d);
    uint64_t n = 0;
    ck_assert_int_eq(ferry_sql_validate_dir(scripts, 0, &n, &e), FERRY_E_PACKAGE_INVALID);
}
END_TEST

static ferry_node_config_t *config_for_two_dbs(void)
{
    char json[2048];
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    snprintf(json, sizeof(json),
             "{\"backup\": {\"db\": {\"engine\": \"sqlite\", \"databases\": [\"%s\", \"%s\"]}}}", dbpath,
             db2path);
    ck_assert_int_eq(ferry_node_config_parse(json, strlen(json), &c, &e), FERRY_OK);
    return c;
}

START_TEST(backup_restore_round_trip)
{
    ferry_node_config_t *c = config_for_two_dbs();
    ferry_err_t e = {0};
    char *before1 = dump(dbpath), *before2 = dump(db2path);
    ck_assert_int_eq(ferry_db_backup_all(c, bakdir, &e), FERRY_OK);
    char p[512];
    ferry_fs_join(p, sizeof(p), bakdir, "data.bak");
    ck_assert(ferry_fs_exists(p));
    ferry_fs_join(p, sizeof(p), bakdir, "data.1.bak");
    ck_assert(ferry_fs_exists(p));
    ferry_fs_join(p, sizeof(p), bakdir, "data.bak.tmp");
    ck_assert(!ferry_fs_exists(p));
    /* The "update" changes both databases, then everything is restored. */
    write_script("结构.sql", "CREATE TABLE added(x);\nGO\nINSERT INTO trail VALUES('new');\n");
    ck_assert_int_eq(run(NULL, &e), FERRY_OK);
    sh_exec(db2path, "DELETE FROM other; DROP TABLE other;");
    char *mid = dump(dbpath);
    ck_assert_str_ne(mid, before1);
    free(mid);
    ck_assert_int_eq(ferry_db_restore_all(c, bakdir, &e), FERRY_OK);
    char *after1 = dump(dbpath), *after2 = dump(db2path);
    ck_assert_str_eq(after1, before1);
    ck_assert_str_eq(after2, before2);
    /* The backup is a plain database file too. */
    ferry_fs_join(p, sizeof(p), bakdir, "data.bak");
    char *bak = dump(p);
    ck_assert_str_eq(bak, before1);
    free(bak);
    free(before1);
    free(before2);
    free(after1);
    free(after2);
    ferry_node_config_free(c);
}
END_TEST

START_TEST(restore_refuses_missing_or_corrupt_backup)
{
    ferry_node_config_t *c = config_for_two_dbs();
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_db_restore_all(c, bakdir, &e), FERRY_E_BACKUP_MISSING);
    ck_assert_ptr_nonnull(strstr(e.msg, "data.bak"));
    ck_assert_int_eq(ferry_db_backup_all(c, bakdir, &e), FERRY_OK);
    char p[512];
    ferry_fs_join(p, sizeof(p), bakdir, "data.1.bak");
    ck_assert_int_eq(
        ferry_fs_write_atomic(p, "not a database at all, just text padding......", 46, 0600, NULL), FERRY_OK);
    char *before = dump(db2path);
    ck_assert_int_eq(ferry_db_restore_all(c, bakdir, &e), FERRY_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(e.msg, "data.1.bak"));
    char *after = dump(db2path);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    ferry_node_config_free(c);
}
END_TEST

START_TEST(backup_failure_is_backup_failed_db)
{
    ferry_node_config_t *c = config_for_two_dbs();
    ferry_err_t e = {0};
    unlink(db2path);
    ck_assert_int_eq(ferry_db_backup_all(c, bakdir, &e), FERRY_E_BACKUP_FAILED_DB);
    ck_assert_ptr_nonnull(strstr(e.msg, "second.db"));
    ferry_node_config_free(c);
}
END_TEST

START_TEST(executor_interface)
{
    ferry_sqlexec_t *x = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sqlexec_open_sqlite("/nonexistent/dir/x.db", &x, &e), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_sqlexec_open_sqlite(dbpath, &x, &e), FERRY_OK);
    ck_assert_str_eq(x->ops->kind, "sqlite");
    int64_t rows = -1;
    const char *sql = "INSERT INTO trail VALUES('a'),('b') -- trailing comment";
    ck_assert_int_eq(ferry_sqlexec_exec(x, sql, strlen(sql), &rows, &e), FERRY_OK);
    ck_assert_int_eq(rows, 2);
    /* Not NUL-terminated at len: only the first statement runs. */
    ck_assert_int_eq(ferry_sqlexec_exec(x, "DELETE FROM trail WHERE step='a';XXXX", 33, &rows, &e), FERRY_OK);
    ck_assert_int_eq(rows, 1);
    ferry_sqlexec_free(x);
    ferry_sqlexec_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlexec");
    TCase *tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, schema_then_data);
    tcase_add_test(tc, only_one_file_or_none);
    tcase_add_test(tc, schema_failure_names_file_batch_line);
    tcase_add_test(tc, data_failure_and_open_transaction_rolled_back);
    tcase_add_test(tc, malformed_script_changes_nothing);
    tcase_add_test(tc, backup_restore_round_trip);
    tcase_add_test(tc, restore_refuses_missing_or_corrupt_backup);
    tcase_add_test(tc, backup_failure_is_backup_failed_db);
    tcase_add_test(tc, executor_interface);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
