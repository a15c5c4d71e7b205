/*
 * The presence repository (ferry/store/presence.h) and the agent service's task reads
 * (ferry/store/assign.h) against a real SQLite file: flushed presence never moves
 * last-seen back and writes facts only when given, a current task only when it is the
 * node's own; start-up enumerations; first bind recorded once; open tasks (final ones
 * excluded, halted by a paused release, capped); rollback backups; a release's tasks.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/model/states.h"
#include "ferry/store/assign.h"
#include "ferry/store/presence.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

static store_fixture_t F;
static ferry_store_t *st;

static void setup(void)
{
    st = sf_open(&F, "presence");
    sf_exec(
        st, SF_SEED_CUSTOMER_STORE
        "INSERT INTO node (id, store_id, code, environment, name, token_id, token_hash, token_issued_at,"
        " created_at, updated_at) VALUES (1, 1, 'N1', 4, 'Node one', 't1', x'00', 0, 10, 20),"
        " (2, 1, 'N2', 4, 'N2', 't2', x'00', 0, 0, 0), (3, 1, 'N3', 4, 'N3', 't3', x'00', 0, 0, "
        "0);" SF_SEED_PACKAGE
        "INSERT INTO release (id, package_id, customer_id, environment, policy, created_at, updated_at)"
        " VALUES (1, 1, 1, 4, 1, 0, 0), (2, 1, 1, 4, 1, 0, 0);"
        /* node 1: an open task (50), a final one (100) and a paused release's task; node 2: a task of
         * its own; node 3: only final tasks */
        "INSERT INTO update_task (id, release_id, node_id, state, backup_local_path, created_at, updated_at)"
        " VALUES (10, 1, 1, 50, '/backups/10', 0, 0), (11, 2, 1, 100, '', 0, 0), (12, 1, 2, 10, '', 0, 0),"
        " (13, 2, 3, 110, '', 0, 0);"
        "INSERT INTO update_task (id, release_id, node_id, kind, state, rollback_of_task_id, created_at,"
        " updated_at) VALUES (14, 2, 1, 2, 10, 10, 0, 0);");
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

static void flush(const ferry_store_presence_row_t *rows, size_t n)
{
    ferry_err_t e = {0};
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_msg(ferry_store_presence_flush(st, rows, n, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

START_TEST(flush_rules)
{
    ferry_store_presence_row_t r[2] = {{1, 5000, true, "2.0.0", "1.0.0", 1234, 10},
                                       {2, 6000, true, "2.0.0", "", 1, 10 /* node 1's task: not kept */}};
    flush(r, 2);
    ck_assert_int_eq(
        sf_scalar(st, "SELECT count(*) FROM node WHERE id = 1 AND last_seen_at = 5000 AND agent_version = "
                      "'2.0.0' AND installed_version = '1.0.0' AND free_disk_bytes = 1234 AND "
                      "current_task_id = 10"),
        1);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM node WHERE id = 2 AND current_task_id IS NULL"), 1);
    /* an older keep-alive neither moves last_seen back nor touches the facts */
    ferry_store_presence_row_t k = {1, 4000, false, "9.9.9", "9.9.9", 0, 0};
    flush(&k, 1);
    ck_assert_int_eq(
        sf_scalar(st, "SELECT count(*) FROM node WHERE id = 1 AND last_seen_at = 5000 AND agent_version = "
                      "'2.0.0' AND current_task_id = 10"),
        1);
}
END_TEST

static void on_node(void *ctx, int64_t id, int64_t seen)
{
    int64_t *seen_of = ctx;
    seen_of[id] = seen;
}

static void on_busy(void *ctx, int64_t id)
{
    int *busy = ctx;
    busy[id]++;
}

START_TEST(enumerations_and_bind)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    int64_t seen_of[4] = {-1, -1, -1, -1}, bound = -1;
    int busy[4] = {0};
    Ferry__V1__Node *n = NULL;

    sf_exec(st, "UPDATE node SET last_seen_at = 777 WHERE id = 2");
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_presence_nodes(st, on_node, seen_of, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_presence_busy_nodes(st, on_busy, busy, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_node_for_bind(st, &a, 1, &n, &bound, &e), FERRY_OK);
    ck_assert_str_eq(n->code, "N1");
    ck_assert_str_eq(n->name, "Node one");
    ck_assert_str_eq(n->store_code, "S");
    ck_assert_str_eq(n->customer_code, "C");
    ck_assert_int_eq(n->environment, 4);
    ck_assert_int_eq(bound, 0);
    ck_assert_ptr_null(n->bound_at);
    ck_assert_int_eq(ferry_store_node_mark_bound(st, 1, 9000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_node_mark_bound(st, 1, 9999, &e), FERRY_OK); /* keeps the first */
    ck_assert_int_eq(ferry_store_node_for_bind(st, &a, 1, &n, &bound, &e), FERRY_OK);
    ck_assert_int_eq(bound, 9000);
    ck_assert_int_eq(ferry_store_node_for_bind(st, &a, 99, &n, &bound, &e), FERRY_E_NOT_FOUND);
    ferry_store_unlock(st);
    ck_assert_int_eq(seen_of[1], 0);
    ck_assert_int_eq(seen_of[2], 777);
    ck_assert_int_eq(seen_of[3], 0);
    ck_assert_int_eq(busy[1], 1); /* once, though it has two open tasks */
    ck_assert_int_eq(busy[2], 1);
    ck_assert_int_eq(busy[3], 0);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(open_tasks_and_reads)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_open_task_t open[4];
    size_t n = 0;
    char *backup = NULL;
    int64_t *ids = NULL;

    sf_exec(st, "UPDATE release SET status = 2 WHERE id = 2"); /* paused */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_node_open_tasks(st, NULL, 1, 0, open, 4, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 2); /* 10 and 14; 11 is final */
    ck_assert_int_eq(open[0].id, 10);
    ck_assert(!open[0].halted);
    ck_assert_int_eq(open[1].id, 14);
    ck_assert(open[1].halted);
    ck_assert_ptr_null(open[0].notes); /* no arena: not read */
    ck_assert_int_eq(ferry_store_node_open_tasks(st, NULL, 1, 0, open, 1, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 1); /* capped */
    /* the notes: the release's description, else the package's, else "" */
    sf_exec(st, "UPDATE package SET description = 'what 1.0.0 brings' WHERE id = 1;"
                "UPDATE release SET description = 'roll out to the east' WHERE id = 2");
    ck_assert_int_eq(ferry_store_node_open_tasks(st, &a, 1, 0, open, 4, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(open[0].notes, "what 1.0.0 brings");
    ck_assert_str_eq(open[1].notes, "roll out to the east");
    sf_exec(st, "UPDATE package SET description = '' WHERE id = 1");
    ck_assert_int_eq(ferry_store_node_open_tasks(st, &a, 1, 10, open, 4, &n, &e), FERRY_OK);
    ck_assert_str_eq(open[0].notes, "");
    /* one task by id, final or not, only the node's own */
    ck_assert_int_eq(ferry_store_node_open_tasks(st, NULL, 1, 11, open, 4, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ferry_store_node_open_tasks(st, NULL, 1, 12, open, 4, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 0);

    ck_assert_int_eq(ferry_store_rollback_backup_path(st, &a, 14, &backup, &e), FERRY_OK);
    ck_assert_str_eq(backup, "/backups/10");
    ck_assert_int_eq(ferry_store_rollback_backup_path(st, &a, 12, &backup, &e), FERRY_OK);
    ck_assert_ptr_null(backup);

    ck_assert_int_eq(ferry_store_release_task_ids(st, &a, 2, 0, &ids, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[0], 11);
    ck_assert_int_eq(ids[2], 14);
    ck_assert_int_eq(ferry_store_release_task_ids(st, &a, 0, 12, &ids, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ferry_store_release_task_ids(st, &a, 9, 0, &ids, &n, &e), FERRY_E_NOT_FOUND);
    ck_assert_str_eq(e.msg, "release 9 not found");
    ck_assert_int_eq(ferry_store_release_task_ids(st, &a, 0, 99, &ids, &n, &e), FERRY_E_NOT_FOUND);
    ck_assert_str_eq(e.msg, "task 99 not found");
    ferry_store_unlock(st);
    ferry_arena_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_presence");
    TCase *tc = tcase_create("presence");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, flush_rules);
    tcase_add_test(tc, enumerations_and_bind);
    tcase_add_test(tc, open_tasks_and_reads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
