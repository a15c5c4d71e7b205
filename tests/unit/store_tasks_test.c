/*
 * Repository of tasks (ferry/store/tasks.h) against a real SQLite file: a task reads
 * back with its tree, package, effective policy, timings and history; lists filter;
 * a retry resets exactly what it says; report files, the node configuration index and
 * the dashboard count what is there; refusals change nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fs.h"
#include "ferry/model/states.h"
#include "ferry/store/tasks.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

#define PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static store_fixture_t F;
static ferry_store_t *s;
static ferry_arena_t A;

/* Customer C / store S / PROD nodes a (1), b (2); package 1.0; release 1 OPTIONAL with a
 * deadline at 5000; release 2 FORCED and PAUSED. */
static void setup(void)
{
    s = sf_open(&F, "store-task");
    memset(&A, 0, sizeof(A));
    ferry_store_lock(s);
    sf_exec(
        s,
        "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'C', 1, 1);"
        "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'S', 'S', 1, "
        "1);"
        "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, token_issued_at, "
        "created_at,"
        " updated_at, last_seen_at) VALUES (1, 1, 'a', 4, 'n1', x'00', 1, 1, 1, 9000),"
        " (2, 1, 'b', 4, 'n2', x'00', 1, 1, 1, NULL);"
        "INSERT INTO package (id, version, v_major, v_minor, v_patch, v_revision, v_build, type, size, "
        "sha256,"
        " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
        " VALUES (1, '1.0', 1, 0, 0, 0, 0, 1, 10, 'aa', 1, 0, 0, 0, x'', x'', "
        "'k', 1);"
        "INSERT INTO release (id, package_id, customer_id, environment, policy, deadline_at, status, "
        "created_at,"
        " updated_at) VALUES (1, 1, 1, 4, 2, 5000, 1, 1, 1), (2, 1, 1, 4, 1, NULL, 2, 1, 1);");
}

static void teardown(void)
{
    ferry_store_unlock(s);
    sf_close(&F);
    s = NULL;
    ferry_arena_free(&A);
}

static int64_t task(int64_t release, int64_t node, int state)
{
    ferry_err_t e = {0};
    ferry_store_task_new_t t = {
        release, node, FERRY__V1__TASK_KIND__TASK_KIND_UPDATE, state, "m", 0, "", "/srv", "", 1000};
    int64_t id = 0;
    ck_assert_int_eq(ferry_store_task_insert(s, &t, &id, &e), FERRY_OK);
    return id;
}

START_TEST(task_round_trip)
{
    ferry_err_t e = {0};
    Ferry__V1__UpdateTask t;
    int64_t id = task(1, 1, FERRY_STATE_DOWNLOADING);
    char sql[256];

    snprintf(sql, sizeof(sql),
             "INSERT INTO task_timing (task_id, state, started_at, duration_ms, seq)"
             " VALUES (%lld, 30, 2000, 5, 1), (%lld, 20, 1000, 7, 1)",
             (long long)id, (long long)id);
    sf_exec(s, sql);
    ck_assert_int_eq(ferry_store_task_get(s, &A, id, 4000, &t, &e), FERRY_OK);
    ck_assert_str_eq(t.node_code, "a");
    ck_assert_str_eq(t.store_code, "S");
    ck_assert_str_eq(t.customer_code, "C");
    ck_assert_str_eq(t.package_version, "1.0");
    ck_assert_str_eq(t.release_id, "1");
    ck_assert_str_eq(t.rollback_of_task_id, "");
    ck_assert_str_eq(t.server_dir, "/srv");
    ck_assert_int_eq(t.state, FERRY_STATE_DOWNLOADING);
    ck_assert_int_eq(t.policy, FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL);
    ck_assert_uint_eq(t.n_timings, 2);
    ck_assert_int_eq(t.timings[0]->state, 20); /* oldest step first */
    ck_assert_int_eq(t.timings[1]->duration->nanos, 5000000);
    /* Past the deadline, an optional release is forced. */
    ck_assert_int_eq(ferry_store_task_get(s, &A, id, 5000, &t, &e), FERRY_OK);
    ck_assert_int_eq(t.policy, FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED);
    ck_assert_int_eq(ferry_store_task_get(s, &A, 777, 0, &t, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "777"));
}
END_TEST

START_TEST(list_filters_and_refuses_bad_input)
{
    ferry_err_t e = {0};
    ferry_store_page_t page;
    ferry_store_task_filter_t f = {0};
    int states[15] = {FERRY_STATE_FAILED};

    task(1, 1, FERRY_STATE_PENDING);
    task(1, 2, FERRY_STATE_FAILED);
    task(2, 1, FERRY_STATE_FAILED);
    ferry_store_unlock(s);
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "", 0, 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 3);
    f.states = states;
    f.n_states = 1;
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "", 0, 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 2);
    f.node_code = "b";
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "", 0, 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    f.node_code = "";
    f.release_id = 2;
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "", 0, 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    f.n_states = 15;
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "", 0, 0, &A, &page, &e), FERRY_E_INVALID_ARG);
    f.n_states = 0;
    ck_assert_int_eq(ferry_store_tasks_list(s, &f, "x", 0, 0, &A, &page, &e), FERRY_E_INVALID_ARG);
    ferry_store_lock(s);
}
END_TEST

START_TEST(history_and_retry)
{
    ferry_err_t e = {0};
    ferry_store_page_t page;
    ferry_store_task_ref_t ref;
    int64_t id = task(1, 2, FERRY_STATE_FAILED);
    ferry_store_task_event_new_t ev = {id, FERRY_STATE_PENDING, "", "retry requested", "admin:fya_x", 3000};

    sf_exec(
        s,
        "UPDATE update_task SET error_code = 'E_X', percent = 40, halted = 1, attempt = 1, finished_at = 9");
    ck_assert_int_eq(ferry_store_task_ref(s, id, &ref, &e), FERRY_OK);
    ck_assert_int_eq(ref.node_id, 2);
    ck_assert_int_eq(ref.release_id, 1);
    ck_assert_int_eq(ref.state, FERRY_STATE_FAILED);
    ck_assert_int_eq(ref.release_status, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    ck_assert_int_eq(ferry_store_task_retry(s, id, "retry requested", 3000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_task_event_add(s, &ev, &e), FERRY_OK);
    ck_assert_int_eq(
        sf_scalar(s, "SELECT state = 10 AND error_code = '' AND percent = 0 AND halted = 0 AND attempt = 2"
                     " AND finished_at IS NULL AND updated_at = 3000 FROM update_task"),
        1);
    ferry_store_unlock(s);
    ck_assert_int_eq(ferry_store_task_events_list(s, id, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ck_assert_str_eq(((Ferry__V1__TaskEvent *)page.items[0])->source, "admin:fya_x");
    ck_assert_str_eq(((Ferry__V1__TaskEvent *)page.items[0])->task_id, "1");
    /* Unknown task: not found, nothing written. */
    ck_assert_int_eq(ferry_store_task_events_list(s, 55, "", 0, &A, &page, &e), FERRY_E_NOT_FOUND);
    ferry_store_lock(s);
    ck_assert_int_eq(ferry_store_task_ref(s, 55, &ref, &e), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM task_event"), 1);
}
END_TEST

START_TEST(files_configs_dashboard)
{
    ferry_err_t e = {0};
    ferry_store_page_t page;
    ferry_store_report_file_item_t fi;
    ferry_store_node_config_item_t ci;
    ferry_store_report_file_filter_t ff = {0};
    Ferry__V1__GetDashboardResponse d = FERRY__V1__GET_DASHBOARD_RESPONSE__INIT;
    int64_t t1 = task(1, 1, FERRY_STATE_FAILED);

    sf_exec(s, "UPDATE update_task SET error_code = 'E_SQL_FAILED'");
    sf_exec(
        s, "INSERT INTO report_file (id, node_id, task_id, kind, name, blob_sha256, size, created_at) VALUES"
           " (1, 1, 1, 1, 'log.txt', 'f1', 3, 1), (2, 2, NULL, 3, 'node-config.json', 'f2', 4, 2);"
           "INSERT INTO node_config_index (node_id, config_version, file_id, blob_sha256, size, summary_json,"
           " uploaded_at) VALUES (2, 7, 2, 'f2', 4, '{}', 2)");
    ck_assert_int_eq(ferry_store_report_file_get(s, &A, 1, &fi, &e), FERRY_OK);
    ck_assert_str_eq(fi.file->file_name, "log.txt");
    ck_assert_str_eq(fi.file->task_id, "1");
    ck_assert_int_eq(fi.customer_id, 1);
    ck_assert_int_eq(ferry_store_report_file_get(s, &A, 3, &fi, &e), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_store_node_config_get(s, &A, "b", &ci, &e), FERRY_OK);
    ck_assert_int_eq(ci.summary->config_version, 7);
    ck_assert_str_eq(ci.summary->file_id, "2");
    ck_assert_str_eq(ci.summary_json, "{}");
    ck_assert_int_eq(ferry_store_node_config_get(s, &A, "a", &ci, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "'a'"));

    ck_assert_int_eq(ferry_store_dashboard(s, &A, "", 0, 10000, 8000, &d, &e), FERRY_OK);
    ck_assert_uint_eq(d.nodes_total, 2);
    ck_assert_uint_eq(d.nodes_online, 1);
    ck_assert_uint_eq(d.nodes_never_seen, 1);
    ck_assert_uint_eq(d.n_failures_by_error, 1);
    ck_assert_uint_eq(d.n_recent_failures, 1);
    ck_assert_uint_eq(d.releases_open, 0); /* its only task is final */
    task(2, 2, FERRY_STATE_PENDING);       /* a PAUSED release counts as open */
    ck_assert_int_eq(ferry_store_dashboard(s, &A, "C", PROD, 10000, 8000, &d, &e), FERRY_OK);
    ck_assert_uint_eq(d.releases_open, 1);

    ferry_store_unlock(s);
    ff.task_id = t1;
    ck_assert_int_eq(ferry_store_report_files_list(s, &ff, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ff = (ferry_store_report_file_filter_t){0};
    ck_assert_int_eq(ferry_store_report_files_list(s, &ff, "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 2);
    ck_assert_int_eq(ferry_store_node_configs_list(s, "C", "", "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ck_assert_int_eq(ferry_store_node_configs_list(s, "nope", "", "", 0, &A, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 0);
    ferry_store_lock(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_tasks");
    TCase *tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, task_round_trip);
    tcase_add_test(tc, list_filters_and_refuses_bad_input);
    tcase_add_test(tc, history_and_retry);
    tcase_add_test(tc, files_configs_dashboard);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
