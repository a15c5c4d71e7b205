/* Engine side of the upgrade hooks: the journal's hook checkpoints (before/after, order,
 * survive a reopen, pruned with their task), the hook context, and check queries on a real
 * SQLite file: one integer, read-only, a single statement, interrupted at the timeout. */
#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/engine/journal.h"
#include "ferry/engine/sqlexec.h"
#include "ferry/fs.h"

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ferry-hooks-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    ferry_fs_rm_rf(root, NULL);
}

static ferry_journal_t *open_j(void)
{
    ferry_journal_t *j = NULL;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_journal_open(root, &j, &e) == FERRY_OK, "%s", e.msg);
    return j;
}

static void rec_init(ferry_hook_rec_t *r, const char *id, const char *phase, int done, const char *outcome)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->hook_id, sizeof(r->hook_id), "%s", id);
    snprintf(r->phase, sizeof(r->phase), "%s", phase);
    snprintf(r->outcome, sizeof(r->outcome), "%s", outcome);
    r->done = done;
    r->count = -1;
    r->exit_code = -1;
    r->runs = 1;
}

typedef struct seen {
    char ids[8][128];
    int n;
} seen_t;

static void on_rec(void *user, const ferry_hook_rec_t *r)
{
    seen_t *s = user;
    if (s->n < 8)
        snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s:%s", r->hook_id, r->outcome);
}

START_TEST(checkpoints_roundtrip_and_order)
{
    ferry_journal_t *j = open_j();
    ferry_task_t t;
    ferry_err_t e = {0};
    memset(&t, 0, sizeof(t));
    snprintf(t.kind, sizeof(t.kind), "%s", FERRY_TASK_KIND_APPLY);
    snprintf(t.version, sizeof(t.version), "1.0.0.0(1)");
    ck_assert_int_eq(ferry_journal_create(j, &t, &e), FERRY_OK);

    ferry_hook_rec_t r, got;
    int found = 0;
    ck_assert_int_eq(ferry_journal_hook_get(j, t.task_id, "b", &got, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 0);
    rec_init(&r, "b", "pre_check", 0, FERRY_HOOK_RUNNING);
    ck_assert_int_eq(ferry_journal_hook_put(j, t.task_id, &r, &e), FERRY_OK);
    rec_init(&r, "a", "pre_upgrade", 1, FERRY_HOOK_NOT_APPLICABLE);
    ck_assert_int_eq(ferry_journal_hook_put(j, t.task_id, &r, &e), FERRY_OK);
    /* The result of "b": same row, keeps its place before "a". */
    rec_init(&r, "b", "pre_check", 1, FERRY_HOOK_FAIL);
    r.count = 15;
    snprintf(r.reason, sizeof(r.reason), "15 record(s) found, threshold 0");
    snprintf(r.output, sizeof(r.output), "line\n\xe4\xb8\xad\n");
    ck_assert_int_eq(ferry_journal_hook_put(j, t.task_id, &r, &e), FERRY_OK);
    ferry_journal_close(j);

    j = open_j(); /* what a resume after a crash sees */
    ck_assert_int_eq(ferry_journal_hook_get(j, t.task_id, "b", &got, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(got.done, 1);
    ck_assert_str_eq(got.outcome, FERRY_HOOK_FAIL);
    ck_assert_int_eq(got.count, 15);
    ck_assert_str_eq(got.output, "line\n\xe4\xb8\xad\n");
    seen_t s = {0};
    ck_assert_int_eq(ferry_journal_hooks(j, t.task_id, on_rec, &s, &e), FERRY_OK);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.ids[0], "b:FAIL");
    ck_assert_str_eq(s.ids[1], "a:NOT_APPLICABLE");

    ferry_hook_ctx_t c, c2;
    memset(&c, 0, sizeof(c));
    snprintf(c.sites[c.n_sites++], FERRY_HOOK_CTX_ITEM, "ACME");
    snprintf(c.sites[c.n_sites++], FERRY_HOOK_CTX_ITEM, "ACME-SH01");
    snprintf(c.skip[c.n_skip++], FERRY_HOOK_CTX_ITEM, "b");
    snprintf(c.from_version, sizeof(c.from_version), "0.9.0.0(1)");
    snprintf(c.post_state, sizeof(c.post_state), "pending");
    ck_assert_int_eq(ferry_journal_hook_ctx_save(j, t.task_id, &c, &e), FERRY_OK);
    ck_assert_int_eq(ferry_journal_hook_ctx_load(j, t.task_id, &c2, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_uint_eq(c2.n_sites, 2);
    ck_assert_str_eq(c2.sites[1], "ACME-SH01");
    ck_assert_uint_eq(c2.n_skip, 1);
    ck_assert_str_eq(c2.from_version, "0.9.0.0(1)");
    ck_assert_str_eq(c2.post_state, "pending");
    ck_assert_int_eq(ferry_journal_hook_ctx_load(j, "nope", &c2, &found, &e), FERRY_OK);
    ck_assert_int_eq(found, 0);

    /* Installed version: the newest apply that Succeeded. */
    char v[64];
    ck_assert_int_eq(ferry_journal_installed_version(j, v, sizeof(v), &e), FERRY_OK);
    ck_assert_str_eq(v, "");
    ferry_state_t path[] = {FERRY_STATE_VERIFYING,   FERRY_STATE_STOPPING_SERVICE, FERRY_STATE_BACKING_UP,
                            FERRY_STATE_RUNNING_SQL, FERRY_STATE_STARTING_SERVICE, FERRY_STATE_SUCCEEDED};
    for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++)
        ck_assert_msg(ferry_journal_transition(j, &t, path[i], FERRY_OK, "step", &e) == FERRY_OK, "%s",
                      e.msg);
    ck_assert_int_eq(ferry_journal_installed_version(j, v, sizeof(v), &e), FERRY_OK);
    ck_assert_str_eq(v, "1.0.0.0(1)");
    ferry_journal_close(j);
}
END_TEST

/* A real database with 200,000 rows. */
static ferry_sqlexec_t *open_db(void)
{
    char db[512];
    sqlite3 *h = NULL;
    snprintf(db, sizeof(db), "%s/main.db", root);
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(h,
                     "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER, amount INTEGER);"
                     "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)"
                     " INSERT INTO orders(user_id, amount) SELECT CASE WHEN i % 1000 = 0 THEN NULL"
                     " ELSE i END, i FROM c;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    ferry_sqlexec_t *x = NULL;
    ferry_err_t e = {0};
    ck_assert_msg(ferry_sqlexec_open_sqlite(db, &x, &e) == FERRY_OK, "%s", e.msg);
    return x;
}

START_TEST(check_queries)
{
    ferry_sqlexec_t *x = open_db();
    ferry_err_t e = {0};
    int64_t n = -1;
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT COUNT(*) FROM orders WHERE user_id IS NULL", &n, &e),
                     FERRY_OK);
    ck_assert_int_eq(n, 200);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT COUNT(*) FROM orders WHERE amount < 0;  ", &n, &e),
                     FERRY_OK);
    ck_assert_int_eq(n, 0);
    /* Refused, with nothing changed: writes, two statements, text, no row, errors. */
    ck_assert_int_eq(ferry_sqlexec_count(x, "DELETE FROM orders", &n, &e), FERRY_E_INVALID_ARG);
    ck_assert_msg(strstr(e.msg, "read-only") != NULL, "%s", e.msg);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT 1; DELETE FROM orders", &n, &e), FERRY_E_INVALID_ARG);
    ck_assert_msg(strstr(e.msg, "more than one statement") != NULL, "%s", e.msg);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT 'x'", &n, &e), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT 1 WHERE 0", &n, &e), FERRY_E_INVALID_ARG);
    ck_assert_msg(strstr(e.msg, "no row") != NULL, "%s", e.msg);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT COUNT(*) FROM no_such", &n, &e), FERRY_E_IO);
    ck_assert_msg(strstr(e.msg, "no_such") != NULL, "%s", e.msg);
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT COUNT(*) FROM orders", &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 200000);
    ferry_sqlexec_free(x);
}
END_TEST

START_TEST(check_timeout_interrupts)
{
    ferry_sqlexec_t *x = open_db();
    ferry_err_t e = {0};
    int64_t n = -1;
    struct timespec a, b;
    /* A cross join that would take minutes: interrupted at the 1-second timeout. */
    ck_assert(ferry_sqlexec_set_timeout(x, 1));
    clock_gettime(CLOCK_MONOTONIC, &a);
    ferry_err_code_t rc = ferry_sqlexec_count(
        x, "SELECT COUNT(*) FROM orders o1, orders o2 WHERE o1.amount + o2.amount = -1", &n, &e);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    ck_assert_int_eq(rc, FERRY_E_IO);
    ck_assert_msg(strstr(e.msg, "interrupt") != NULL, "%s", e.msg);
    ck_assert_msg(took >= 0.9 && took < 10.0, "took %.2f s", took);
    /* Cleared: the connection works again without a deadline. */
    ck_assert(ferry_sqlexec_set_timeout(x, 0));
    ck_assert_int_eq(ferry_sqlexec_count(x, "SELECT COUNT(*) FROM orders", &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 200000);
    ferry_sqlexec_free(x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("engine_hooks");
    TCase *tc = tcase_create("hooks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, checkpoints_roundtrip_and_order);
    tcase_add_test(tc, check_queries);
    tcase_add_test(tc, check_timeout_interrupts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
