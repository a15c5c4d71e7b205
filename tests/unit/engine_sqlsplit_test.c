/* GO splitter: table tests of SQL Server's batch rules, streaming, and limits. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/engine/sqlsplit.h"

#define MAXB 16

typedef struct got {
    size_t n;
    char *sql[MAXB];
    uint64_t line[MAXB];
    uint32_t repeat[MAXB];
} got_t;

static ferry_err_code_t collect(void *user, const ferry_sql_batch_t *b, ferry_err_t *err)
{
    got_t *g = user;
    ck_assert_uint_lt(g->n, MAXB);
    ck_assert_uint_eq(strlen(b->sql), b->len);
    ck_assert_uint_eq(b->index, g->n + 1);
    g->sql[g->n] = strdup(b->sql);
    g->line[g->n] = b->start_line;
    g->repeat[g->n] = b->repeat;
    g->n++;
    return FERRY_OK;
}

static void got_free(got_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->sql[i]);
    memset(g, 0, sizeof(*g));
}

/* Splits |in| whole and also fed one byte at a time; both must agree. */
static ferry_err_code_t split(const char *in, size_t len, got_t *g, ferry_err_t *e)
{
    got_t g2 = {0};
    ferry_err_t e2 = {0};
    memset(g, 0, sizeof(*g));
    ferry_err_code_t rc = ferry_sqlsplit_buffer(in, len, 0, collect, g, e);
    ferry_sqlsplit_t *s = ferry_sqlsplit_new(0, collect, &g2);
    ferry_err_code_t rc2 = FERRY_OK;
    for (size_t i = 0; i < len && rc2 == FERRY_OK; i++)
        rc2 = ferry_sqlsplit_feed(s, in + i, 1, &e2);
    if (rc2 == FERRY_OK)
        rc2 = ferry_sqlsplit_finish(s, &e2);
    ferry_sqlsplit_free(s);
    ck_assert_int_eq(rc, rc2);
    ck_assert_uint_eq(g->n, g2.n);
    for (size_t i = 0; i < g->n; i++) {
        ck_assert_str_eq(g->sql[i], g2.sql[i]);
        ck_assert_uint_eq(g->line[i], g2.line[i]);
    }
    got_free(&g2);
    return rc;
}

static ferry_err_code_t splits(const char *in, got_t *g, ferry_err_t *e)
{
    return split(in, strlen(in), g, e);
}

START_TEST(basic_and_case_insensitive)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("CREATE TABLE a(x int)\nGO\nINSERT a VALUES(1)\ngo\n  Go  \nSELECT 1\n", &g, &e),
                     FERRY_OK);
    ck_assert_uint_eq(g.n, 3);
    ck_assert_str_eq(g.sql[0], "CREATE TABLE a(x int)\n");
    ck_assert_str_eq(g.sql[1], "INSERT a VALUES(1)\n");
    ck_assert_str_eq(g.sql[2], "SELECT 1\n");
    ck_assert_uint_eq(g.line[0], 1);
    ck_assert_uint_eq(g.line[1], 3);
    ck_assert_uint_eq(g.line[2], 6);
    got_free(&g);
}
END_TEST

START_TEST(go_first_line_and_empty_batches)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("GO\nGO\n\n   \nGO\nSELECT 1\nGO\nGO\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.sql[0], "SELECT 1\n");
    ck_assert_uint_eq(g.line[0], 6);
    got_free(&g);
    ck_assert_int_eq(splits("", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 0);
    ck_assert_int_eq(splits("\n\n  \n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 0);
}
END_TEST

START_TEST(repeat_count)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("INSERT t DEFAULT VALUES\nGO 3\nSELECT 1\nGO   12   -- twelve\n", &g, &e),
                     FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_uint_eq(g.repeat[0], 3);
    ck_assert_uint_eq(g.repeat[1], 12);
    got_free(&g);
    ck_assert_int_eq(splits("SELECT 1\nGO 0\n", &g, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "line 2"));
    got_free(&g);
    ck_assert_int_eq(splits("SELECT 1\nGO 99999999999\n", &g, &e), FERRY_E_PACKAGE_INVALID);
    got_free(&g);
}
END_TEST

START_TEST(trailing_comments)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(
        splits("SELECT 1\nGO -- end of batch one\nSELECT 2\nGO--tight\nSELECT 3\nGO /* c */\nSELECT 4\n"
               "GO 2 /* twice */ -- and more\n",
               &g, &e),
        FERRY_OK);
    ck_assert_uint_eq(g.n, 4);
    ck_assert_str_eq(g.sql[3], "SELECT 4\n");
    ck_assert_uint_eq(g.repeat[3], 2);
    got_free(&g);
    /* A block comment opened on the GO line and not closed: not a separator. */
    ck_assert_int_eq(splits("SELECT 1\nGO /* open\nGO\n*/\nSELECT 2\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    got_free(&g);
}
END_TEST

START_TEST(not_separators)
{
    got_t g;
    ferry_err_t e = {0};
    /* GOTO, GO;, GO x, GO followed by text, GOod identifiers: all stay in the batch. */
    const char *in = "lbl:\nGOTO lbl\nGO;\nGO x\nGO 3x\nGOod\nSELECT 'GO'\n  GO\n";
    ck_assert_int_eq(splits(in, &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.sql[0], "lbl:\nGOTO lbl\nGO;\nGO x\nGO 3x\nGOod\nSELECT 'GO'\n");
    got_free(&g);
}
END_TEST

START_TEST(go_inside_block_comments)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("SELECT 1\n/*\nGO\n*/\nSELECT 2\nGO\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.sql[0], "SELECT 1\n/*\nGO\n*/\nSELECT 2\n");
    got_free(&g);
    /* Nested: the first closing marker closes only the inner comment. */
    ck_assert_int_eq(splits("SELECT 1\n/* outer /* inner */\nGO\n still comment */\nGO\nSELECT 2\n", &g, &e),
                     FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_str_eq(g.sql[1], "SELECT 2\n");
    got_free(&g);
    /* A line comment hides a comment opener. */
    ck_assert_int_eq(splits("SELECT 1 -- /* not a comment\nGO\nSELECT 2\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    got_free(&g);
    /* A block comment hides a quote. */
    ck_assert_int_eq(splits("SELECT 1 /* it's */\nGO\nSELECT 2\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    got_free(&g);
}
END_TEST

START_TEST(go_inside_strings_and_identifiers)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("INSERT t VALUES('line1\nGO\nit''s')\nGO\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.sql[0], "INSERT t VALUES('line1\nGO\nit''s')\n");
    got_free(&g);
    ck_assert_int_eq(splits("INSERT t VALUES(N'中文\nGO\n')\nGO\nSELECT 2\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    got_free(&g);
    ck_assert_int_eq(splits("SELECT 1 AS \"a\nGO\nb\"\nGO\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    got_free(&g);
    /* [a]]b] is one identifier: the ]] does not close it. */
    ck_assert_int_eq(splits("CREATE TABLE [a]]b\nGO\n](x int)\nGO\nSELECT 2\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    ck_assert_str_eq(g.sql[0], "CREATE TABLE [a]]b\nGO\n](x int)\n");
    got_free(&g);
    /* Comment markers inside strings are text. */
    ck_assert_int_eq(splits("SELECT '/*'\nGO\nSELECT '--'\nGO\n", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 2);
    got_free(&g);
}
END_TEST

START_TEST(crlf_bom_and_no_trailing_newline)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("\xEF\xBB\xBFSELECT 1\r\nGO\r\nSELECT 2\r\ngo 2\r\nSELECT 3", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 3);
    ck_assert_str_eq(g.sql[0], "SELECT 1\r\n");
    ck_assert_uint_eq(g.repeat[1], 2);
    ck_assert_str_eq(g.sql[2], "SELECT 3");
    ck_assert_uint_eq(g.line[2], 5);
    got_free(&g);
    /* BOM then GO on the first line. */
    ck_assert_int_eq(splits("\xEF\xBB\xBFGO\r\nSELECT 1\r\nGO", &g, &e), FERRY_OK);
    ck_assert_uint_eq(g.n, 1);
    ck_assert_str_eq(g.sql[0], "SELECT 1\r\n");
    got_free(&g);
}
END_TEST

START_TEST(invalid_utf8_rejected)
{
    got_t g;
    ferry_err_t e = {0};
    const char *bad[] = {"SELECT 1\nSELECT '\xff'\n", "SELECT '\xC0\xAF'\n", "SELECT '\xED\xA0\x80'\n",
                         "SELECT '\xE4\xB8'\n", "SELECT 1\nGO\n\xF5\x80\x80\x80\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(splits(bad[i], &g, &e), FERRY_E_PACKAGE_INVALID);
        ck_assert_ptr_nonnull(strstr(e.msg, "invalid UTF-8"));
        got_free(&g);
    }
    ck_assert_int_eq(splits("SELECT 1\nSELECT '\xff'\n", &g, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "line 2"));
    got_free(&g);
}
END_TEST

START_TEST(unterminated_constructs_rejected)
{
    got_t g;
    ferry_err_t e = {0};
    ck_assert_int_eq(splits("SELECT 'abc\nGO\n", &g, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "string literal"));
    ck_assert_ptr_nonnull(strstr(e.msg, "line 1"));
    got_free(&g);
    ck_assert_int_eq(splits("SELECT 1\nGO\n/* never closed\nGO\n", &g, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "block comment"));
    got_free(&g);
}
END_TEST

START_TEST(batch_cap_and_callback_error)
{
    got_t g = {0};
    ferry_err_t e = {0};
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(ferry_sqlsplit_buffer(big, strlen(big), 100, collect, &g, &e), FERRY_E_PACKAGE_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "exceeds 100 bytes"));
    got_free(&g);
}
END_TEST

static ferry_err_code_t fail_second(void *user, const ferry_sql_batch_t *b, ferry_err_t *err)
{
    (void)user;
    if (b->index == 2)
        return ferry_err_set(err, FERRY_E_SQL_FAILED_DATA, "boom");
    return FERRY_OK;
}

START_TEST(callback_stops_split)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sqlsplit_buffer("A\nGO\nB\nGO\nC\n", 12, 0, fail_second, NULL, &e),
                     FERRY_E_SQL_FAILED_DATA);
    ck_assert_str_eq(e.msg, "boom");
}
END_TEST

static ferry_err_code_t count(void *user, const ferry_sql_batch_t *b, ferry_err_t *err)
{
    (void)err;
    uint64_t *n = user;
    ck_assert_uint_eq(b->start_line, *n * 2 + 1);
    (*n)++;
    return FERRY_OK;
}

/* A file streams through with memory bounded by the batch cap, not the file size. */
START_TEST(streams_file)
{
    char path[] = "/tmp/ferry-split-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 20000; i++)
        fprintf(f, "INSERT t VALUES(%d, 'row %d -- not a comment')\nGO\n", i, i);
    fclose(f);
    uint64_t n = 0;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_sqlsplit_file(path, 128, count, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 20000);
    unlink(path);
    ck_assert_int_eq(ferry_sqlsplit_file("/nonexistent/x.sql", 0, count, &n, &e), FERRY_E_NOT_FOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sqlsplit");
    TCase *tc = tcase_create("go");
    tcase_add_test(tc, basic_and_case_insensitive);
    tcase_add_test(tc, go_first_line_and_empty_batches);
    tcase_add_test(tc, repeat_count);
    tcase_add_test(tc, trailing_comments);
    tcase_add_test(tc, not_separators);
    tcase_add_test(tc, go_inside_block_comments);
    tcase_add_test(tc, go_inside_strings_and_identifiers);
    tcase_add_test(tc, crlf_bom_and_no_trailing_newline);
    tcase_add_test(tc, invalid_utf8_rejected);
    tcase_add_test(tc, unterminated_constructs_rejected);
    tcase_add_test(tc, batch_cap_and_callback_error);
    tcase_add_test(tc, callback_stops_split);
    tcase_add_test(tc, streams_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
