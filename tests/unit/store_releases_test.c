/*
 * Repository of releases (ferry/store/releases.h) against a real SQLite file: the
 * scope a release is chosen from, a release with its targets and tasks read back
 * (COMPLETED derived from the final task states), list filters, overlap detection,
 * pause / resume / cancel on the right tasks only, rollback candidates, and refusals
 * that change nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fs.h"
#include "ferry/model/states.h"
#include "ferry/store/releases.h"
#include "ferry/store/tasks.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

#define PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD
#define TEST FERRY__V1__ENVIRONMENT__ENVIRONMENT_TEST

static store_fixture_t F;
static ferry_store_t *s;
static ferry_arena_t A;

/* Customer C (1) with stores S1 (1) and S2 (2, disabled); PROD nodes a (S1), b (S1,
 * disabled), c (S2), d (S1); TEST node t (S1); customer D (2) disabled; package 1.0. */
static void setup(void)
{
    s = sf_open(&F, "store-rel");
    memset(&A, 0, sizeof(A));
    ferry_store_lock(s);
    sf_exec(
        s,
        "INSERT INTO admin_token (id, token_id, token_hash, role, created_at) VALUES (1, 'fya_a', x'00', 1, "
        "1);"
        "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'C', 1, 1);"
        "INSERT INTO customer (id, code, name, disabled, created_at, updated_at) VALUES (2, 'D', 'D', 1, 1, "
        "1);"
        "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'S1', 'S', "
        "1, 1);"
        "INSERT INTO store (id, customer_id, code, name, disabled, created_at, updated_at)"
        " VALUES (2, 1, 'S2', 'S', 1, 1, 1);"
        "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, disabled, token_issued_at,"
        " created_at, updated_at) VALUES (1, 1, 'a', 4, 'n1', x'00', 0, 1, 1, 1), (2, 1, 'b', 4, 'n2', "
        "x'00', 1,"
        " 1, 1, 1), (3, 2, 'c', 4, 'n3', x'00', 0, 1, 1, 1), (4, 1, 'd', 4, 'n4', x'00', 0, 1, 1, 1),"
        " (5, 1, 't', 2, 'n5', x'00', 0, 1, 1, 1);"
        "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, type, size, "
        "sha256,"
        " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
        " VALUES (1, '1.0', 1, 0, 0, 0, 0, 1, 10, 'aa', 1, 0, 0, 0, x'', x'', "
        "'k', 1);");
}

static void teardown(void)
{
    ferry_store_unlock(s);
    sf_close(&F);
    s = NULL;
    ferry_arena_free(&A);
}

/* A release of package 1 to customer C in PROD with tasks (state |states[i]|) on nodes |nodes|. */
static int64_t release_with(const int64_t *nodes, const int *states, size_t n)
{
    ferry_err_t e = {0};
    ferry_store_release_new_t r = {1, 1,   PROD, FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED,
                                   0, "d", 1,    1000};
    int64_t id = 0, tid = 0;
    ck_assert_int_eq(ferry_store_release_insert(s, &r, &id, &e), FERRY_OK);
    for (size_t i = 0; i < n; i++) {
        ferry_store_task_new_t t = {
            id, nodes[i], FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, states[i], "", 0, "", "", "", 1000};
        ck_assert_int_eq(ferry_store_task_insert(s, &t, &tid, &e), FERRY_OK);
    }
    return id;
}

START_TEST(scope_lists_stores_and_candidates)
{
    ferry_err_t e = {0};
    ferry_store_scope_t sc;
    int64_t id = 0;
    bool disabled = true;

    ck_assert_int_eq(ferry_store_release_customer(s, "C", &id, &disabled, &e), FERRY_OK);
    ck_assert_int_eq(id, 1);
    ck_assert(!disabled);
    ck_assert_int_eq(ferry_store_release_customer(s, "D", &id, &disabled, &e), FERRY_OK);
    ck_assert(disabled);
    ck_assert_int_eq(ferry_store_release_customer(s, "nope", &id, &disabled, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope"));

    ck_assert_int_eq(ferry_store_release_scope(s, &A, 1, PROD, &sc, &e), FERRY_OK);
    ck_assert_uint_eq(sc.n_store_codes, 2);
    ck_assert_uint_eq(sc.n_nodes, 4); /* t is TEST */
    ck_assert_str_eq(sc.nodes[0].code, "a");
    ck_assert(!sc.nodes[0].disabled);
    ck_assert_str_eq(sc.nodes[1].code, "b");
    ck_assert(sc.nodes[1].disabled); /* the node */
    ck_assert_str_eq(sc.nodes[2].code, "c");
    ck_assert(sc.nodes[2].disabled); /* its store */
    ck_assert_str_eq(sc.nodes[2].store_code, "S2");
    ck_assert_int_eq(ferry_store_release_scope(s, &A, 1, TEST, &sc, &e), FERRY_OK);
    ck_assert_uint_eq(sc.n_nodes, 1);
    ck_assert_str_eq(sc.nodes[0].code, "t");
}
END_TEST

START_TEST(release_round_trip_and_completed)
{
    ferry_err_t e = {0};
    Ferry__V1__Release r;
    int64_t nodes[] = {1, 4};
    int states[] = {FERRY_STATE_PENDING, FERRY_STATE_SUCCEEDED};
    int64_t id = release_with(nodes, states, 2);

    ck_assert_int_eq(ferry_store_release_target_add(s, id, 1, PROD, "S1", false, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_release_target_add(s, id, 1, PROD, "c", true, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_release_get(s, &A, id, &r, &e), FERRY_OK);
    ck_assert_str_eq(r.package_version, "1.0");
    ck_assert_str_eq(r.scope->customer_code, "C");
    ck_assert_int_eq(r.scope->environment, PROD);
    ck_assert_uint_eq(r.scope->n_store_codes, 1);
    ck_assert_str_eq(r.scope->store_codes[0], "S1");
    ck_assert_uint_eq(r.scope->n_node_codes, 1);
    ck_assert_str_eq(r.scope->node_codes[0], "c");
    ck_assert_uint_eq(r.node_count, 2);
    ck_assert_str_eq(r.created_by, "fya_a");
    ck_assert_int_eq(r.state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);

    /* Every task final (Succeeded, Failed, Rollbacked): ACTIVE reads COMPLETED. */
    sf_exec(s, "UPDATE update_task SET state = 110 WHERE node_id = 1");
    ck_assert_int_eq(ferry_store_release_get(s, &A, id, &r, &e), FERRY_OK);
    ck_assert_int_eq(r.state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED);
    sf_exec(s, "UPDATE update_task SET state = 120 WHERE node_id = 1"); /* rolling back: open */
    ck_assert_int_eq(ferry_store_release_get(s, &A, id, &r, &e), FERRY_OK);
    ck_assert_int_eq(r.state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);

    ck_assert_int_eq(ferry_store_release_get(s, &A, 999, &r, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "999"));
}
END_TEST

START_TEST(list_filters_by_derived_state)
{
    ferry_err_t e = {0};
    ferry_store_page_t page;
    int64_t nodes[] = {1};
    int open[] = {FERRY_STATE_DOWNLOADING}, done[] = {FERRY_STATE_SUCCEEDED};
    int64_t r1 = release_with(nodes, open, 1), r2 = release_with(nodes, done, 1),
            r3 = release_with(nodes, open, 1);
    ferry_store_release_filter_t f = {"", "", 0, 0};

    ck_assert_int_eq(
        ferry_store_release_set_status(s, r3, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED, 2, &e),
        FERRY_OK);
    ferry_store_unlock(s);
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 3);
    ck_assert_str_eq(((Ferry__V1__Release *)page.items[0])->id, "3"); /* newest first */
    f.state = FERRY__V1__RELEASE_STATE__RELEASE_STATE_COMPLETED;
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ck_assert_int_eq(atoll(((Ferry__V1__Release *)page.items[0])->id), r2);
    f.state = FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE;
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ck_assert_int_eq(atoll(((Ferry__V1__Release *)page.items[0])->id), r1);
    f.state = FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED;
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    f.state = 0;
    f.customer_code = "D";
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 0);
    f.customer_code = "";
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "", 2, &A, &page, &e), FERRY_OK);
    ck_assert_str_eq(page.next_page_token, "2");
    ck_assert_int_eq(ferry_store_releases_list(s, &f, "-1", 2, &A, &page, &e), FERRY_E_INVALID_ARG);
    ferry_store_lock(s);
}
END_TEST

START_TEST(overlap_ignores_failed_and_rollbacked)
{
    ferry_err_t e = {0};
    int64_t nodes[] = {1, 4};
    int states[] = {FERRY_STATE_SUCCEEDED, FERRY_STATE_FAILED};
    int64_t id = release_with(nodes, states, 2), rid = 0;
    bool has = false;
    int state = 0;

    ck_assert_int_eq(ferry_store_release_node_has_version(s, 1, 1, &has, &rid, &state, &e), FERRY_OK);
    ck_assert(has);
    ck_assert_int_eq(rid, id);
    ck_assert_int_eq(state, FERRY_STATE_SUCCEEDED);
    ck_assert_int_eq(ferry_store_release_node_has_version(s, 4, 1, &has, &rid, &state, &e), FERRY_OK);
    ck_assert(!has);
    sf_exec(s, "UPDATE update_task SET state = 130 WHERE node_id = 1");
    ck_assert_int_eq(ferry_store_release_node_has_version(s, 1, 1, &has, &rid, &state, &e), FERRY_OK);
    ck_assert(!has);
}
END_TEST

START_TEST(pause_resume_cancel_touch_only_early_tasks)
{
    ferry_err_t e = {0};
    int64_t nodes[] = {1, 2, 3, 4};
    int states[] = {FERRY_STATE_PENDING, FERRY_STATE_WAITING_USER, FERRY_STATE_INSTALLING_SERVER,
                    FERRY_STATE_SUCCEEDED};
    int64_t id = release_with(nodes, states, 4);
    ferry_store_task_change_t *ch = NULL;
    size_t n = 99;
    int status = 0;

    ck_assert_int_eq(
        ferry_store_release_tasks_apply(s, &A, id, FERRY_STORE_RELEASE_PAUSE, "", 5, &ch, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM update_task WHERE halted = 1"), 2);
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM update_task WHERE halted = 1 AND node_id IN (1, 2)"),
                     2);
    ck_assert_int_eq(
        ferry_store_release_tasks_apply(s, &A, id, FERRY_STORE_RELEASE_RESUME, "", 6, &ch, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM update_task WHERE halted = 1"), 0);
    ck_assert_int_eq(
        ferry_store_release_tasks_apply(s, &A, id, FERRY_STORE_RELEASE_CANCEL, "stop", 7, &ch, &n, &e),
        FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ch[0].state, FERRY_STATE_FAILED);
    ck_assert_int_eq(
        sf_scalar(s, "SELECT count(*) FROM update_task WHERE state = 110 AND error_code = 'E_CANCELED'"
                     " AND message = 'stop' AND halted = 1 AND finished_at = 7"),
        2);
    /* Later tasks run on untouched. */
    ck_assert_int_eq(sf_scalar(s, "SELECT state FROM update_task WHERE node_id = 3"),
                     FERRY_STATE_INSTALLING_SERVER);
    ck_assert_int_eq(sf_scalar(s, "SELECT state FROM update_task WHERE node_id = 4"), FERRY_STATE_SUCCEEDED);

    ck_assert_int_eq(ferry_store_release_status(s, id, &status, &e), FERRY_OK);
    ck_assert_int_eq(status, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    ck_assert_int_eq(ferry_store_release_status(s, 42, &status, &e), FERRY_E_NOT_FOUND);
}
END_TEST

START_TEST(rollback_candidates_and_summary)
{
    ferry_err_t e = {0};
    int64_t nodes[] = {4, 1};
    int states[] = {FERRY_STATE_SUCCEEDED, FERRY_STATE_FAILED};
    int64_t id = release_with(nodes, states, 2), tid = 0;
    ferry_store_rollback_candidate_t *c = NULL;
    ferry_store_release_node_seen_t *seen = NULL;
    Ferry__V1__GetReleaseSummaryResponse sum = FERRY__V1__GET_RELEASE_SUMMARY_RESPONSE__INIT;
    size_t n = 0;
    bool has = false;

    sf_exec(
        s, "UPDATE update_task SET backup_local_path = '/b/a', error_code = 'E_SQL_FAILED' WHERE node_id = 1;"
           "UPDATE node SET last_seen_at = 77 WHERE id = 1");
    ferry_store_task_new_t rb = {
        id, 1, FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK, FERRY_STATE_PENDING, "m", 1, "/b/a", "", "", 5};
    ck_assert_int_eq(ferry_store_task_insert(s, &rb, &tid, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_release_update_tasks(s, &A, id, &c, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2); /* update tasks only, by node code */
    ck_assert_str_eq(c[0].node_code, "a");
    ck_assert_str_eq(c[0].backup_local_path, "/b/a");
    ck_assert(c[0].has_rollback);
    ck_assert_str_eq(c[1].node_code, "d");
    ck_assert(!c[1].has_rollback);
    ck_assert_int_eq(ferry_store_release_has_node(s, id, "d", &has, &e), FERRY_OK);
    ck_assert(has);
    ck_assert_int_eq(ferry_store_release_has_node(s, id, "t", &has, &e), FERRY_OK);
    ck_assert(!has);

    ck_assert_int_eq(ferry_store_release_summary(s, &A, id, &sum, &seen, &n, &e), FERRY_OK);
    ck_assert_uint_eq(sum.total, 3);
    ck_assert_uint_eq(sum.finished, 2);
    ck_assert_uint_eq(sum.n_by_error, 1);
    ck_assert_str_eq(sum.by_error[0]->error_code, "E_SQL_FAILED");
    ck_assert_uint_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(seen[i].last_seen_at, seen[i].node_id == 1 ? 77 : 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_releases");
    TCase *tc = tcase_create("releases");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scope_lists_stores_and_candidates);
    tcase_add_test(tc, release_round_trip_and_completed);
    tcase_add_test(tc, list_filters_by_derived_state);
    tcase_add_test(tc, overlap_ignores_failed_and_rollbacked);
    tcase_add_test(tc, pause_resume_cancel_touch_only_early_tasks);
    tcase_add_test(tc, rollback_candidates_and_summary);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
