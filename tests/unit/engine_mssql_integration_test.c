/*
 * SQL Server executor against a real server. Runs only when FERRY_TEST_MSSQL holds a
 * connection string (e.g. "Server=127.0.0.1,1433;User Id=sa;Password=...;
 * TrustServerCertificate=True"); FERRY_TEST_MSSQL_DIR names a directory the SQL
 * Server process can write backups to (default /var/opt/mssql/data). Otherwise exits
 * 77 (skipped) saying why.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/engine/sqlexec.h"

static const char *connstr;
static char dbname[64];

static void msg(void *user, const char *m)
{
    (void)user;
    fprintf(stderr, "server: %s\n", m);
}

static ferry_sqlexec_t *open_db(const char *db)
{
    ferry_sqlexec_t *x = NULL;
    ferry_err_t e = {0};
    if (ferry_sqlexec_open_mssql(connstr, db, &x, &e) != FERRY_OK)
        ck_abort_msg("connect: %s", e.msg);
    ferry_sqlexec_set_message_sink(x, msg, NULL);
    return x;
}

static void exec_ok(ferry_sqlexec_t *x, const char *sql)
{
    ferry_err_t e = {0};
    if (ferry_sqlexec_exec(x, sql, strlen(sql), NULL, &e) != FERRY_OK)
        ck_abort_msg("%s: %s", sql, e.msg);
}

START_TEST(batches_backup_restore)
{
    char sql[512], dir[512], bak[700];
    snprintf(dir, sizeof(dir), "%s",
             getenv("FERRY_TEST_MSSQL_DIR") ? getenv("FERRY_TEST_MSSQL_DIR") : "/var/opt/mssql/data");
    snprintf(bak, sizeof(bak), "%s/%s.bak", dir, dbname);
    ferry_sqlexec_t *m = open_db("master");
    snprintf(sql, sizeof(sql), "CREATE DATABASE [%s]", dbname);
    exec_ok(m, sql);
    ferry_sqlexec_t *x = open_db(dbname);
    exec_ok(x, "CREATE TABLE t(id int PRIMARY KEY, name nvarchar(50))");
    int64_t rows = -1;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sqlexec_exec(x, "INSERT t VALUES(1, N'一'), (2, N'二')",
                                        strlen("INSERT t VALUES(1, N'一'), (2, N'二')"), &rows, &e),
                     FERRY_OK);
    ck_assert_int_eq(rows, 2);
    /* A runtime error in a later statement fails the batch. */
    ck_assert_int_ne(ferry_sqlexec_exec(x, "SELECT 1; INSERT t VALUES(1, N'dup')",
                                        strlen("SELECT 1; INSERT t VALUES(1, N'dup')"), &rows, &e),
                     FERRY_OK);
    ck_assert_ptr_nonnull(strstr(e.msg, "Msg 2627"));
    ck_assert_int_eq(ferry_sqlexec_backup(m, dbname, bak, &e), FERRY_OK);
    exec_ok(x, "DELETE t");
    ferry_sqlexec_free(x);
    ck_assert_int_eq(ferry_sqlexec_restore(m, dbname, bak, &e), FERRY_OK);
    x = open_db(dbname);
    ck_assert_int_eq(
        ferry_sqlexec_exec(x, "UPDATE t SET name = name", strlen("UPDATE t SET name = name"), &rows, &e),
        FERRY_OK);
    ck_assert_int_eq(rows, 2);
    ferry_sqlexec_free(x);
    snprintf(sql, sizeof(sql),
             "ALTER DATABASE [%s] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [%s]", dbname,
             dbname);
    exec_ok(m, sql);
    ferry_sqlexec_free(m);
}
END_TEST

int main(void)
{
    connstr = getenv("FERRY_TEST_MSSQL");
    if (connstr == NULL || connstr[0] == '\0') {
        puts(
            "SKIPPED: engine_mssql_integration_test needs a SQL Server; set FERRY_TEST_MSSQL to a connection "
            "string (none can run on this machine)");
        return 77;
    }
    snprintf(dbname, sizeof(dbname), "ferry_it_%ld_%d", (long)time(NULL), (int)getpid());
    Suite *s = suite_create("mssql-integration");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batches_backup_restore);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
