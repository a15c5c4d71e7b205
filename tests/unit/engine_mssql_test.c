/* SQL Server executor helpers: connection strings, quoting, statements, messages. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/engine/mssql.h"
#include "ferry/engine/sqlexec.h"

static ferry_mssql_connstr_t cs;

START_TEST(seed_format)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(
        ferry_mssql_connstr_parse(
            "Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;", &cs, &e),
        FERRY_OK);
    ck_assert_str_eq(cs.host, "127.0.0.1");
    ck_assert_uint_eq(cs.port, 0);
    ck_assert_str_eq(cs.database, "master");
    ck_assert_str_eq(cs.user, "sa");
    ck_assert_str_eq(cs.password, "***");
    ck_assert(cs.trust_server_certificate);
    ck_assert(cs.encrypt);
    ck_assert_uint_eq(cs.connect_timeout_s, 15);
    char buf[512];
    ck_assert_int_eq(ferry_mssql_server_name(&cs, buf, sizeof(buf)), FERRY_OK);
    ck_assert_str_eq(buf, "127.0.0.1:1433");
}
END_TEST

START_TEST(keys_synonyms_ports_quoting)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_mssql_connstr_parse(
                         "  data source = tcp:db.example,14330 ; INITIAL CATALOG=RCA7 Main;uid=app;"
                         "pwd={p;a}}ss=1};Encrypt=optional;Connect Timeout=30;Application Name='Ferry ''x''';"
                         "Packet Size=4096;Pooling=false;MultipleActiveResultSets=True;;",
                         &cs, &e),
                     FERRY_OK);
    ck_assert_str_eq(cs.host, "db.example");
    ck_assert_uint_eq(cs.port, 14330);
    ck_assert_str_eq(cs.database, "RCA7 Main");
    ck_assert_str_eq(cs.user, "app");
    ck_assert_str_eq(cs.password, "p;a}ss=1");
    ck_assert(!cs.encrypt);
    ck_assert_uint_eq(cs.connect_timeout_s, 30);
    ck_assert_str_eq(cs.app_name, "Ferry 'x'");
    ck_assert_uint_eq(cs.packet_size, 4096);
    char buf[1024];
    ck_assert_int_eq(ferry_mssql_server_name(&cs, buf, sizeof(buf)), FERRY_OK);
    ck_assert_str_eq(buf, "db.example:14330");
    ck_assert_int_eq(ferry_mssql_connstr_format_masked(&cs, buf, sizeof(buf)), FERRY_OK);
    ck_assert_ptr_null(strstr(buf, "p;a"));
    ck_assert_ptr_nonnull(strstr(buf, "Password=***;"));
    ck_assert_ptr_nonnull(strstr(buf, "Server=db.example,14330;"));
    /* The masked form parses back to the same non-secret fields. */
    ferry_mssql_connstr_t again;
    ck_assert_int_eq(ferry_mssql_connstr_parse(buf, &again, &e), FERRY_OK);
    ck_assert_str_eq(again.database, "RCA7 Main");
    ck_assert_str_eq(again.app_name, "Ferry 'x'");

    ck_assert_int_eq(
        ferry_mssql_connstr_parse("Server=(local)\\SQLEXPRESS;User=u;Password=\"a\"\"b\"", &cs, &e),
        FERRY_OK);
    ck_assert_str_eq(cs.host, "127.0.0.1");
    ck_assert_str_eq(cs.instance, "SQLEXPRESS");
    ck_assert_str_eq(cs.password, "a\"b");
    ck_assert_int_eq(ferry_mssql_server_name(&cs, buf, sizeof(buf)), FERRY_OK);
    ck_assert_str_eq(buf, "127.0.0.1\\SQLEXPRESS");
    ck_assert_int_eq(ferry_mssql_connstr_parse("Server=h;User Id=u;Integrated Security=false", &cs, &e),
                     FERRY_OK);
}
END_TEST

START_TEST(malformed_strings_rejected_without_leaking)
{
    static const struct {
        const char *s, *want;
    } bad[] = {
        {"Database=x;User Id=u", "Server: required"},
        {"Server=h", "User Id: required"},
        {"Server=h;User Id=u;Colour=red", "key 'Colour' is not supported"},
        {"Server=h;User Id=u;Server=i", "Server: given more than once"},
        {"Server=h,0;User Id=u", "port '0' is not in 1..65535"},
        {"Server=h,99999;User Id=u", "port '99999' is not in 1..65535"},
        {"Server=h,12a;User Id=u", "is not in 1..65535"},
        {"Server=np:\\\\h\\pipe;User Id=u", "only TCP is supported"},
        {"Server=h\\;User Id=u", "empty instance name"},
        {"Server=,1433;User Id=u", "empty host name"},
        {"Server=h;User Id=u;Encrypt=maybe", "Encrypt: must be"},
        {"Server=h;User Id=u;TrustServerCertificate=1", "TrustServerCertificate: must be true or false"},
        {"Server=h;User Id=u;Connect Timeout=0", "must be 1..3600"},
        {"Server=h;User Id=u;Packet Size=100", "must be 512..32767"},
        {"Server=h;User Id=u;Integrated Security=SSPI", "Windows authentication is not supported"},
        {"Server=h;User Id=u;=x", "empty key"},
        {"Server=h;User Id=u;Password={abc", "Password: quoted value is not closed"},
        {"Server=h;User Id=u;Password={abc}x", "Password: unexpected text after the closing quote"},
    };
    ferry_err_t e = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ferry_mssql_connstr_parse(bad[i].s, &cs, &e), FERRY_E_INVALID_ARG);
        if (strstr(e.msg, bad[i].want) == NULL)
            ck_abort_msg("%s: wanted '%s' in '%s'", bad[i].s, bad[i].want, e.msg);
    }
    /* A password with an unquoted ';' never shows up in the message. */
    ck_assert_int_eq(ferry_mssql_connstr_parse("Server=h;User Id=u;Password=Sec;ret=9", &cs, &e),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(strstr(e.msg, "ret"));
    ck_assert_int_eq(ferry_mssql_connstr_parse("Server=h;User Id=u;Password=Sec;ret", &cs, &e),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(strstr(e.msg, "ret"));
    ck_assert_str_eq(cs.password, "");
}
END_TEST

START_TEST(quoting_and_statements)
{
    char buf[1024];
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_mssql_quote_ident("a]b", buf, sizeof(buf), &e), FERRY_OK);
    ck_assert_str_eq(buf, "[a]]b]");
    ck_assert_int_eq(ferry_mssql_quote_ident("数据库", buf, sizeof(buf), &e), FERRY_OK);
    ck_assert_str_eq(buf, "[数据库]");
    ck_assert_int_eq(ferry_mssql_quote_ident("", buf, sizeof(buf), &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_mssql_quote_ident("a\nb", buf, sizeof(buf), &e), FERRY_E_INVALID_ARG);
    char long_name[200];
    memset(long_name, 'x', 129);
    long_name[129] = '\0';
    ck_assert_int_eq(ferry_mssql_quote_ident(long_name, buf, sizeof(buf), &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_mssql_quote_ident("abc", buf, 4, &e), FERRY_E_TOO_LARGE);
    ck_assert_int_eq(ferry_mssql_quote_nstring("it's", buf, sizeof(buf), &e), FERRY_OK);
    ck_assert_str_eq(buf, "N'it''s'");

    ck_assert_int_eq(
        ferry_mssql_build_backup("RCA7]Main", "D:\\rca7\\backup\\1.0's\\data.bak", buf, sizeof(buf), &e),
        FERRY_OK);
    ck_assert_str_eq(
        buf, "BACKUP DATABASE [RCA7]]Main] TO DISK = N'D:\\rca7\\backup\\1.0''s\\data.bak' WITH INIT");
    ck_assert_int_eq(ferry_mssql_build_verify("/b/data.bak", buf, sizeof(buf), &e), FERRY_OK);
    ck_assert_str_eq(buf, "RESTORE VERIFYONLY FROM DISK = N'/b/data.bak'");
    ck_assert_int_eq(ferry_mssql_build_restore(0, "RCA7_Main", "/b/data.bak", buf, sizeof(buf), &e),
                     FERRY_OK);
    ck_assert_str_eq(buf, "ALTER DATABASE [RCA7_Main] SET SINGLE_USER WITH ROLLBACK IMMEDIATE");
    ck_assert_int_eq(ferry_mssql_build_restore(1, "RCA7_Main", "/b/data.bak", buf, sizeof(buf), &e),
                     FERRY_OK);
    ck_assert_str_eq(buf, "RESTORE DATABASE [RCA7_Main] FROM DISK = N'/b/data.bak' WITH REPLACE");
    ck_assert_int_eq(ferry_mssql_build_restore(2, "RCA7_Main", "/b/data.bak", buf, sizeof(buf), &e),
                     FERRY_OK);
    ck_assert_str_eq(buf, "ALTER DATABASE [RCA7_Main] SET MULTI_USER");
    ck_assert_int_eq(ferry_mssql_build_restore(3, "x", "y", buf, sizeof(buf), &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_mssql_build_backup("x", "bad\x01path", buf, sizeof(buf), &e), FERRY_E_INVALID_ARG);
}
END_TEST

START_TEST(message_formatting)
{
    char buf[512];
    ferry_mssql_format_message(buf, sizeof(buf), 208, 16, 1, 3, "SRV", "", "Invalid object name 'x'.");
    ck_assert_str_eq(buf, "Msg 208, Level 16, State 1, Server SRV, Line 3: Invalid object name 'x'.");
    ferry_mssql_format_message(buf, sizeof(buf), 50000, 11, 2, 7, "", "usp_fix", "custom");
    ck_assert_str_eq(buf, "Msg 50000, Level 11, State 2, Procedure usp_fix, Line 7: custom");
    ferry_mssql_format_message(buf, sizeof(buf), 0, 0, 1, 1, "SRV", NULL, "hello from PRINT");
    ck_assert_str_eq(buf, "hello from PRINT");
    ferry_mssql_format_message(buf, sizeof(buf), 1, 16, 1, 1, NULL, NULL, "login Password=hunter2; failed");
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    ferry_mssql_format_dberror(buf, sizeof(buf), 20009, 9, "Unable to connect", "Connection refused");
    ck_assert_str_eq(buf, "db-lib error 20009 (severity 9): Unable to connect (OS: Connection refused)");
    ferry_mssql_format_dberror(buf, sizeof(buf), 20002, 9, "Adaptive Server connection failed", NULL);
    ck_assert_str_eq(buf, "db-lib error 20002 (severity 9): Adaptive Server connection failed");
    /* Truncation is safe. */
    ferry_mssql_format_message(buf, 8, 208, 16, 1, 3, "SRV", "", "long text");
    ck_assert_uint_lt(strlen(buf), 8);
}
END_TEST

/* The real db-lib path, without a server: a refused connection is a clean error. */
START_TEST(connect_refused_is_clean)
{
    ferry_sqlexec_t *x = NULL;
    ferry_err_t e = {0};
    ferry_err_code_t rc = ferry_sqlexec_open_mssql(
        "Server=127.0.0.1,1;User Id=sa;Password=NotLogged42;Connect Timeout=2;Encrypt=false", "RCA7", &x, &e);
    ck_assert_int_eq(rc, FERRY_E_UNAVAILABLE);
    ck_assert_ptr_null(x);
    ck_assert_ptr_nonnull(strstr(e.msg, "127.0.0.1:1"));
    ck_assert_ptr_null(strstr(e.msg, "NotLogged42"));
    rc = ferry_sqlexec_open_mssql("Server=h;Password=x", NULL, &x, &e);
    ck_assert_int_eq(rc, FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "connection string: User Id: required"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mssql");
    TCase *tc = tcase_create("mssql");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, seed_format);
    tcase_add_test(tc, keys_synonyms_ports_quoting);
    tcase_add_test(tc, malformed_strings_rejected_without_leaking);
    tcase_add_test(tc, quoting_and_statements);
    tcase_add_test(tc, message_formatting);
    tcase_add_test(tc, connect_refused_is_clean);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
