/*
 * The reports repository (ferry/store/reports.h) against a real SQLite file: the task a
 * report is judged against, applying a report (columns + history), the caps (timings
 * per task all-or-nothing, files per task, history past its cap keeps state changes
 * only), upgrade hook results (upsert by id, per-task cap, the attempt that
 * --skip-failed-hook reads, a final task's hook-only report) and committing node files (report_file, links,
 * node configuration index).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/model/states.h"
#include "ferry/store/reports.h"
#include "ferry/store/tasks.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"
#include "ferry/v1/admin.pb-c.h"

static store_fixture_t F;
static ferry_store_t *st;
static const int64_t TASK = 7, NODE = 1;

static void setup(void)
{
    st = sf_open(&F, "reports");
    sf_exec(
        st, SF_SEED_CUSTOMER_STORE
        "INSERT INTO node (id, store_id, code, environment, name, token_id, token_hash, token_issued_at,"
        " created_at, updated_at) VALUES (1, 1, 'N1', 4, 'N1', 'fyn_1', x'00', 0, 0, 0),"
        " (2, 1, 'N2', 4, 'N2', 'fyn_2', x'00', 0, 0, 0);" SF_SEED_PACKAGE
        "INSERT INTO release (id, package_id, customer_id, environment, policy, created_at, updated_at)"
        " VALUES (3, 1, 1, 4, 1, 0, 0);"
        "INSERT INTO update_task (id, release_id, node_id, created_at, updated_at) VALUES (7, 3, 1, 0, 0);");
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

static void begin(void)
{
    ferry_err_t e = {0};
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
}

static void commit(void)
{
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

static void rollback(void)
{
    ferry_store_tx_rollback(st);
    ferry_store_unlock(st);
}

START_TEST(task_and_apply)
{
    ferry_err_t e = {0};
    ferry_store_report_task_t t;
    ferry_store_report_t r = {.task_id = TASK,
                              .prev_state = FERRY_STATE_PENDING,
                              .state = FERRY_STATE_DOWNLOADING,
                              .message = "downloading",
                              .percent = 40,
                              .bytes = 400,
                              .bytes_total = 1000,
                              .seq = 1,
                              .server_dir = "/srv/app",
                              .download_json = "{\"sourceName\":\"primary\"}",
                              .reported_at = 5000,
                              .now = 6000};

    begin();
    ck_assert_int_eq(ferry_store_report_task(st, TASK, &t, &e), FERRY_OK);
    ck_assert_int_eq(t.node_id, NODE);
    ck_assert_int_eq(t.release_id, 3);
    ck_assert_int_eq(t.state, FERRY_STATE_PENDING);
    ck_assert_int_eq(t.last_seq, 0);
    ck_assert(!t.halted);
    ck_assert_int_eq(ferry_store_report_task(st, 99, &t, &e), FERRY_E_NOT_FOUND);
    ck_assert_str_eq(e.msg, "task 99 not found");
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e), FERRY_OK);
    commit();
    ck_assert_int_eq(sf_scalar(st, "SELECT state FROM update_task WHERE id = 7"), FERRY_STATE_DOWNLOADING);
    ck_assert_int_eq(sf_scalar(st, "SELECT last_seq * 1000 + percent FROM update_task WHERE id = 7"), 1040);
    ck_assert_int_eq(sf_scalar(st, "SELECT started_at FROM update_task WHERE id = 7"), 6000);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM update_task WHERE server_dir = '/srv/app' AND "
                                   "download_json LIKE '%primary%'"),
                     1);
    ck_assert_int_eq(sf_scalar(st, "SELECT reported_at FROM task_event WHERE task_id = 7 AND seq = 1"), 5000);

    /* a failure keeps the last error code when the report gives none; "" keeps the dirs */
    r = (ferry_store_report_t){.task_id = TASK,
                               .prev_state = FERRY_STATE_DOWNLOADING,
                               .state = FERRY_STATE_FAILED,
                               .error_code = "E_NOSPACE",
                               .seq = 2,
                               .now = 7000};
    begin();
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e), FERRY_OK);
    r.seq = 3;
    r.error_code = "";
    r.prev_state = FERRY_STATE_FAILED;
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e), FERRY_OK);
    commit();
    ck_assert_int_eq(
        sf_scalar(st, "SELECT count(*) FROM update_task WHERE id = 7 AND error_code = 'E_NOSPACE' AND "
                      "server_dir = '/srv/app' AND finished_at = 7000"),
        1);

    /* a paused release halts its tasks */
    sf_exec(st, "UPDATE release SET status = 2 WHERE id = 3");
    begin();
    ck_assert_int_eq(ferry_store_report_task(st, TASK, &t, &e), FERRY_OK);
    rollback();
    ck_assert(t.halted);
    ck_assert_int_eq(t.last_seq, 3);
}
END_TEST

START_TEST(timings_are_capped_all_or_nothing)
{
    ferry_err_t e = {0};
    ferry_store_timing_t t[64];

    for (int i = 0; i < 64; i++)
        t[i] = (ferry_store_timing_t){FERRY_STATE_DOWNLOADING, 1000 + i, 10};
    /* 4 reports of 64 distinct timings reach the cap of 256 exactly */
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 64; i++)
            t[i].started_at = 1000 + k * 64 + i;
        begin();
        ck_assert_msg(ferry_store_report_timings_put(st, TASK, t, 64, (uint64_t)k + 1, &e) == FERRY_OK, "%s",
                      e.msg);
        commit();
    }
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_timing WHERE task_id = 7"),
                     FERRY_STORE_TASK_TIMINGS_MAX);
    /* a repeated step only updates its duration */
    t[0].duration_ms = 99;
    begin();
    ck_assert_int_eq(ferry_store_report_timings_put(st, TASK, t, 1, 9, &e), FERRY_OK);
    commit();
    ck_assert_int_eq(
        sf_scalar(st, "SELECT duration_ms FROM task_timing WHERE task_id = 7 AND started_at = 1192"), 99);
    /* one more new step: refused naming the cap, and none of the report's rows is kept */
    t[0].started_at = 5000;
    t[1].started_at = 5001;
    begin();
    ck_assert_int_eq(ferry_store_report_timings_put(st, TASK, t, 2, 10, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "at most 256"));
    /* the savepoint left the transaction usable */
    ck_assert(ferry_store_in_tx(st));
    commit();
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_timing WHERE task_id = 7"),
                     FERRY_STORE_TASK_TIMINGS_MAX);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_timing WHERE started_at >= 5000"), 0);
}
END_TEST

START_TEST(history_past_its_cap_keeps_state_changes)
{
    ferry_err_t e = {0};
    ferry_store_report_t r = {
        .task_id = TASK, .prev_state = FERRY_STATE_DOWNLOADING, .state = FERRY_STATE_DOWNLOADING};

    /* fill the history to its cap directly (a long download reported every second) */
    sf_exec(st, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4096)"
                " INSERT INTO task_event (task_id, seq, state, at) SELECT 7, i, 50, i FROM n");
    r.seq = 5000;
    begin();
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e),
                     FERRY_OK); /* progress only: task updated, no row */
    commit();
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_event WHERE task_id = 7"),
                     FERRY_STORE_TASK_EVENTS_MAX);
    ck_assert_int_eq(sf_scalar(st, "SELECT last_seq FROM update_task WHERE id = 7"), 5000);
    r.seq = 5001;
    r.state = FERRY_STATE_VERIFYING;
    begin();
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e), FERRY_OK); /* a state change is still recorded */
    commit();
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_event WHERE task_id = 7"),
                     FERRY_STORE_TASK_EVENTS_MAX + 1);
}
END_TEST

static ferry_err_code_t hook(const char *id, int stage, int result, const char *msg, uint64_t seq,
                             ferry_err_t *e)
{
    ferry_store_hook_t h = {.hook_id = id,
                            .stage = stage,
                            .name = "n",
                            .result = result,
                            .message = msg,
                            .stderr_tail = result == 3 ? "boom\n" : "",
                            .duration_ms = 1500,
                            .exit_status = result == 3 ? 2 : 0};
    begin();
    ferry_err_code_t rc = ferry_store_report_hook_put(st, TASK, &h, seq, 9000, e);
    commit();
    return rc;
}

/* The ids --skip-failed-hook would skip, joined by ",". */
static const char *failed_ids(char *buf, size_t size)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    char **ids = NULL;
    size_t n = 0, l = 0;
    buf[0] = '\0';
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_task_failed_hooks(st, &a, TASK, &ids, &n, &e), FERRY_OK);
    ferry_store_unlock(st);
    for (size_t i = 0; i < n; i++)
        l += (size_t)snprintf(buf + l, size - l, "%s%s", i ? "," : "", ids[i]);
    ferry_arena_free(&a);
    return buf;
}

START_TEST(hook_results_upsert_cap_and_attempts)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__UpdateTask t = FERRY__V1__UPDATE_TASK__INIT;
    char buf[512], id[16];

    /* stage 1 check fails, stage 2 passes, a post_upgrade (5) failure never fails a task */
    ck_assert_int_eq(hook("tea", 1, 3, "3 rows", 1, &e), FERRY_OK);
    ck_assert_int_eq(hook("exp", 2, 1, "ok", 2, &e), FERRY_OK);
    ck_assert_int_eq(hook("post", 5, 3, "late", 3, &e), FERRY_OK);
    ck_assert_str_eq(failed_ids(buf, sizeof(buf)), "tea");
    /* GetTask's view: stage order, every field */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_task_get(st, &a, TASK, 0, &t, &e), FERRY_OK);
    ck_assert_uint_eq(t.n_hooks, 0); /* a task's plain view (CheckIn, lists) goes without */
    ck_assert_int_eq(ferry_store_task_hooks(st, &a, TASK, &t, &e), FERRY_OK);
    ferry_store_unlock(st);
    ck_assert_uint_eq(t.n_hooks, 3);
    ck_assert_str_eq(t.hooks[0]->hook_id, "tea");
    ck_assert_int_eq(t.hooks[0]->result, 3);
    ck_assert_str_eq(t.hooks[0]->message, "3 rows");
    ck_assert_str_eq(t.hooks[0]->stderr_tail, "boom\n");
    ck_assert_int_eq(t.hooks[0]->duration->seconds * 1000 + t.hooks[0]->duration->nanos / 1000000, 1500);
    ck_assert_int_eq(t.hooks[0]->exit_status, 2);
    ck_assert_str_eq(t.hooks[1]->hook_id, "exp");
    ck_assert_str_eq(t.hooks[2]->hook_id, "post");
    ferry_arena_free(&a);

    /* a retry (attempt 1): the earlier attempt's failure no longer counts ... */
    sf_exec(st, "UPDATE update_task SET attempt = 1 WHERE id = 7");
    ck_assert_str_eq(failed_ids(buf, sizeof(buf)), "");
    /* ... the new attempt's does; a later result of the same id replaces the row */
    ck_assert_int_eq(hook("exp", 2, 3, "exit 1", 4, &e), FERRY_OK);
    ck_assert_int_eq(hook("tea", 1, 4, "skipped by an administrator", 5, &e), FERRY_OK);
    ck_assert_str_eq(failed_ids(buf, sizeof(buf)), "exp");
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_hook WHERE task_id = 7"), 3);
    ck_assert_int_eq(sf_scalar(st, "SELECT result * 10 + attempt FROM task_hook WHERE hook_id = 'tea'"), 41);

    /* the cap: 320 distinct ids; one more is refused naming it and nothing is stored */
    for (int i = 3; i < FERRY_STORE_TASK_HOOKS_MAX; i++) {
        snprintf(id, sizeof(id), "h%d", i);
        ck_assert_msg(hook(id, 3, 1, "", 10 + (uint64_t)i, &e) == FERRY_OK, "%s", e.msg);
    }
    ck_assert_int_eq(hook("one_more", 3, 1, "", 900, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "at most 320 hook results ('one_more'"));
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_hook WHERE task_id = 7"),
                     FERRY_STORE_TASK_HOOKS_MAX);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_hook WHERE hook_id = 'one_more'"), 0);
    /* a known id still updates at the cap */
    ck_assert_int_eq(hook("h3", 3, 2, "warn", 901, &e), FERRY_OK);
    ck_assert_int_eq(sf_scalar(st, "SELECT result FROM task_hook WHERE hook_id = 'h3'"), 2);
    /* no such task: nothing to attach the result to */
    ferry_store_hook_t h = {.hook_id = "x", .stage = 1, .result = 1};
    begin();
    ck_assert_int_eq(ferry_store_report_hook_put(st, 99, &h, 1, 0, &e), FERRY_E_INVALID_ARG);
    rollback();
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM task_hook WHERE task_id = 99"), 0);
}
END_TEST

START_TEST(hook_only_report_of_a_final_task)
{
    ferry_err_t e = {0};
    sf_exec(st, "UPDATE update_task SET state = 100, message = 'update applied', percent = 100, last_seq = 5,"
                " finished_at = 4000, updated_at = 4000 WHERE id = 7");
    ferry_store_report_t r = {.task_id = TASK,
                              .prev_state = FERRY_STATE_SUCCEEDED,
                              .state = FERRY_STATE_SUCCEEDED,
                              .message = "hook mark (post_upgrade): PASS",
                              .percent = 0,
                              .seq = 6,
                              .now = 8000,
                              .hook_json = "{\"hookId\":\"mark\",\"result\":\"HOOK_RESULT_PASS\"}",
                              .hook_only = true};
    begin();
    ck_assert_int_eq(ferry_store_report_apply(st, &r, &e), FERRY_OK);
    commit();
    /* only the sequence moved; the final task's columns are as they were */
    ck_assert_int_eq(
        sf_scalar(st, "SELECT count(*) FROM update_task WHERE id = 7 AND state = 100 AND last_seq = 6 AND"
                      " message = 'update applied' AND percent = 100 AND finished_at = 4000 AND"
                      " updated_at = 4000"),
        1);
    ck_assert_int_eq(
        sf_scalar(st, "SELECT count(*) FROM task_event WHERE task_id = 7 AND seq = 6 AND state = 100 AND"
                      " hook_json LIKE '%\"mark\"%' AND message = 'hook mark (post_upgrade): PASS'"),
        1);
}
END_TEST

static void upload(const char *id, int64_t node, int kind, int64_t task)
{
    ferry_err_t e = {0};
    ferry_store_node_upload_new_t u = {id, node, "f.log", 10, "ab", kind, task, "text/plain", 100, 200};
    begin();
    ck_assert_msg(ferry_store_node_upload_insert(st, &u, &e) == FERRY_OK, "%s", e.msg);
    commit();
}

START_TEST(node_files_commit_and_cap)
{
    ferry_err_t e = {0};
    ferry_store_node_upload_t up;
    int64_t file_id = 0, owner = 0, n = 0;
    ferry_store_report_file_new_t f = {.upload_id = "u1",
                                       .node_id = NODE,
                                       .task_id = TASK,
                                       .kind = FERRY__V1__FILE_KIND__FILE_KIND_LOG,
                                       .name = "f.log",
                                       .sha256 = "cd",
                                       .size = 10,
                                       .summary = "tail",
                                       .content_type = "text/plain",
                                       .now = 300};

    upload("u1", NODE, FERRY__V1__FILE_KIND__FILE_KIND_LOG, TASK);
    begin();
    ck_assert_int_eq(ferry_store_task_node(st, TASK, &owner, &e), FERRY_OK);
    ck_assert_int_eq(owner, NODE);
    ck_assert_int_eq(ferry_store_node_upload_get(st, "u1", &up, &e), FERRY_OK);
    ck_assert_str_eq(up.status, "open");
    ck_assert_int_eq(up.task_id, TASK);
    ck_assert_str_eq(up.content_type, "text/plain");
    ck_assert_int_eq(ferry_store_node_upload_get(st, "nope", &up, &e), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_store_node_upload_commit(st, &f, &file_id, &e), FERRY_OK);
    commit();
    ck_assert_int_gt(file_id, 0);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM upload WHERE id = 'u1' AND status = 'committed' AND "
                                   "blob_sha256 = 'cd' AND report_file_id IS NOT NULL"),
                     1);
    ck_assert_int_eq(
        sf_scalar(st, "SELECT json_array_length(report_files_json) FROM update_task WHERE id = 7"), 1);
    /* a second commit of the same upload loses */
    begin();
    ck_assert_int_eq(ferry_store_node_upload_commit(st, &f, &file_id, &e), FERRY_E_PRECONDITION);
    rollback();

    /* the task's list is capped: the commit past it is refused and changes nothing */
    sf_exec(
        st,
        "UPDATE update_task SET report_files_json = (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
        " FROM n WHERE i < 256) SELECT json_group_array(json_object('fileId', CAST(i AS TEXT))) FROM n)"
        " WHERE id = 7");
    begin();
    ck_assert_int_eq(ferry_store_task_files_count(st, TASK, &n, &e), FERRY_OK);
    ck_assert_int_eq(n, FERRY_STORE_TASK_FILES_MAX);
    rollback();
    upload("u2", NODE, FERRY__V1__FILE_KIND__FILE_KIND_LOG, TASK);
    f.upload_id = "u2";
    begin();
    ck_assert_int_eq(ferry_store_node_upload_commit(st, &f, &file_id, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "at most 256"));
    rollback();
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM report_file"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM upload WHERE id = 'u2' AND status = 'open'"), 1);

    /* a node configuration replaces the node's index entry */
    for (int i = 0; i < 2; i++) {
        char id[8];
        snprintf(id, sizeof(id), "c%d", i);
        upload(id, 2, FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG, 0);
        f = (ferry_store_report_file_new_t){.upload_id = id,
                                            .node_id = 2,
                                            .kind = FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG,
                                            .name = "node-config.json",
                                            .sha256 = "ef",
                                            .size = 5,
                                            .now = 400 + i,
                                            .config_version = 10 + i,
                                            .config_summary_json = "{\"configVersion\":\"1\"}"};
        begin();
        ck_assert_msg(ferry_store_node_upload_commit(st, &f, &file_id, &e) == FERRY_OK, "%s", e.msg);
        commit();
    }
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM node_config_index"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT config_version FROM node_config_index WHERE node_id = 2"), 11);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM report_file WHERE task_id IS NULL"), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_reports");
    TCase *tc = tcase_create("reports");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, task_and_apply);
    tcase_add_test(tc, timings_are_capped_all_or_nothing);
    tcase_add_test(tc, history_past_its_cap_keeps_state_changes);
    tcase_add_test(tc, node_files_commit_and_cap);
    tcase_add_test(tc, hook_results_upsert_cap_and_attempts);
    tcase_add_test(tc, hook_only_report_of_a_final_task);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
