/*
 * The metrics repository (ferry/store/metrics.h) against a real SQLite file: task
 * counts by state and enabled nodes, read while a write transaction is open (the
 * read-only connection sees the last commit and does not wait).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/store/metrics.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

static store_fixture_t F;
static ferry_store_t *st;

static void setup(void)
{
    st = sf_open(&F, "metrics");
    sf_exec(st, SF_SEED_CUSTOMER_STORE
            "INSERT INTO node (id, store_id, code, environment, name, token_id, token_hash, token_issued_at,"
            " created_at, updated_at, disabled) VALUES (1, 1, 'N1', 4, 'N1', 't1', x'00', 0, 0, 0, 0),"
            " (2, 1, 'N2', 4, 'N2', 't2', x'00', 0, 0, 0, 1), (3, 1, 'N3', 4, 'N3', 't3', x'00', 0, 0, 0, "
            "0);" SF_SEED_PACKAGE
            "INSERT INTO release (id, package_id, customer_id, environment, policy, created_at, updated_at)"
            " VALUES (1, 1, 1, 4, 1, 0, 0), (2, 1, 1, 4, 1, 0, 0);"
            "INSERT INTO update_task (release_id, node_id, state, created_at, updated_at) VALUES"
            " (1, 1, 100, 0, 0), (1, 2, 100, 0, 0), (1, 3, 20, 0, 0), (2, 1, 110, 0, 0);");
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

static void count(void *ctx, int state, int64_t n)
{
    int64_t *by_state = ctx;
    if (state >= 0 && state <= 130)
        by_state[state] = n;
}

START_TEST(figures)
{
    ferry_err_t e = {0};
    int64_t by_state[131] = {0}, nodes = -1;

    /* an open write transaction with uncommitted rows neither blocks nor shows */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    sf_exec(st,
            "UPDATE node SET disabled = 1 WHERE id = 3; INSERT INTO update_task (release_id, node_id, state,"
            " created_at, updated_at) VALUES (2, 3, 10, 0, 0)");
    ck_assert_int_eq(ferry_store_task_states_ro(st, count, by_state, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_nodes_enabled_ro(st, &nodes, &e), FERRY_OK);
    ferry_store_tx_rollback(st);
    ferry_store_unlock(st);
    ck_assert_int_eq(by_state[100], 2);
    ck_assert_int_eq(by_state[110], 1);
    ck_assert_int_eq(by_state[20], 1);
    ck_assert_int_eq(by_state[10], 0);
    ck_assert_int_eq(nodes, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, figures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
