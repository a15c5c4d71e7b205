/*
 * ReportProgress under hostile input (issue 9): every repeated field of a report is
 * capped (E_INVALID_ARG naming the field, nothing stored), step timings are stored as
 * bounded task_timing rows, and what an agent reported shows up in GetTask / ListTasks.
 * Upgrade hook results (ProgressReport.hook) are checked, kept one per hook id, shown by
 * GetTask, accepted for a final task as hook-only reports (post_upgrade) and read by
 * RetryTask's skip_failed_hook.
 *
 * Real RPC server on loopback (tests/support/hub_harness), generated client stubs, a
 * real SQLite file; tasks are inserted on a second connection (as hub_agent_test does).
 */
#include <check.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/db.h"
#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_harness.h"

#define ENV_PROD   FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD
#define PER_REPORT 64  /* report.c TIMINGS_MAX */
#define PER_TASK   256 /* report.c TASK_TIMINGS_MAX */
#define T0         1700000000000ll

static hh_t H;
static char TOK_A[HH_TOKEN_MAX], TOK_B[HH_TOKEN_MAX];

static void sql_exec(const hh_t *h, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(h->db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("sql '%s': %s", sql, msg);
    sqlite3_close(db);
}

/* Package + release + one task for |node_code|; returns the task id. */
static int64_t make_task(hh_t *h, const char *node_code)
{
    static int seq = 0;
    char sql[2048];
    int v = ++seq;
    snprintf(sql, sizeof(sql),
             "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
             " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
             " VALUES ('1.0.0.%d(%d)', 1, 0, 0, %d, %d, 3, '%s', 1, 0, 0, 0, x'', x'', 'k', %lld);"
             "INSERT INTO release (package_id, customer_id, environment, policy, created_at, updated_at)"
             " SELECT last_insert_rowid(), s.customer_id, n.environment, 1, %lld, %lld"
             " FROM node n JOIN store s ON s.id = n.store_id WHERE n.code = '%s';"
             "INSERT INTO update_task (release_id, node_id, created_at, updated_at)"
             " SELECT last_insert_rowid(), id, %lld, %lld FROM node WHERE code = '%s';",
             v, v, v, v, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", T0, T0, T0,
             node_code, T0, T0, node_code);
    sql_exec(h, sql);
    return hh_query_int(h, "SELECT max(id) FROM update_task");
}

/* Timings |first|..|first+n-1|: state 20, started T0 + i s, lasting i ms + |extra_ms|. */
typedef struct timings {
    Ferry__V1__StepTiming *t;
    Ferry__V1__StepTiming **p;
    Google__Protobuf__Timestamp *ts;
    Google__Protobuf__Duration *d;
    size_t n;
} timings_t;

static void timings_make(timings_t *w, size_t first, size_t n, int state, int64_t extra_ms)
{
    w->n = n;
    w->t = calloc(n ? n : 1, sizeof(*w->t));
    w->p = calloc(n ? n : 1, sizeof(*w->p));
    w->ts = calloc(n ? n : 1, sizeof(*w->ts));
    w->d = calloc(n ? n : 1, sizeof(*w->d));
    ck_assert(w->t != NULL && w->p != NULL && w->ts != NULL && w->d != NULL);
    for (size_t i = 0; i < n; i++) {
        int64_t k = (int64_t)(first + i);
        ferry__v1__step_timing__init(&w->t[i]);
        google__protobuf__timestamp__init(&w->ts[i]);
        google__protobuf__duration__init(&w->d[i]);
        w->ts[i].seconds = (T0 / 1000) + k;
        w->d[i].seconds = (k + extra_ms) / 1000;
        w->d[i].nanos = (int32_t)((k + extra_ms) % 1000) * 1000000;
        w->t[i].state = (Ferry__V1__TaskState)state;
        w->t[i].started_at = &w->ts[i];
        w->t[i].duration = &w->d[i];
        w->p[i] = &w->t[i];
    }
}

static void timings_free(timings_t *w)
{
    free(w->t);
    free(w->p);
    free(w->ts);
    free(w->d);
}

static void report_init(Ferry__V1__ProgressReport *r, char *id, int64_t task, uint64_t seq, int state,
                        timings_t *w)
{
    ferry__v1__progress_report__init(r);
    snprintf(id, 24, "%" PRId64, task);
    r->task_id = id;
    r->sequence = seq;
    r->state = (Ferry__V1__TaskState)state;
    r->message = (char *)"step";
    if (w != NULL) {
        r->timings = w->p;
        r->n_timings = w->n;
    }
}

static ferry_rpc_code_t send(ferry_rpc_client_t *c, Ferry__V1__ProgressReport *r, ferry_rpc_status_t *st)
{
    Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
    Ferry__V1__ReportProgressResponse *resp = NULL;
    req.report = r;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_report_service_report_progress(c, &req, &resp, NULL, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* Sends a report of |task| carrying |w| (NULL = none). */
static ferry_rpc_code_t report_timings(ferry_rpc_client_t *c, int64_t task, uint64_t seq, int state,
                                       timings_t *w, ferry_rpc_status_t *st)
{
    char id[24];
    Ferry__V1__ProgressReport r;
    report_init(&r, id, task, seq, state, w);
    return send(c, &r, st);
}

static Ferry__V1__GetTaskResponse *get_task(ferry_rpc_client_t *adm, int64_t task)
{
    char id[24];
    Ferry__V1__GetTaskRequest req = FERRY__V1__GET_TASK_REQUEST__INIT;
    Ferry__V1__GetTaskResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    snprintf(id, sizeof(id), "%" PRId64, task);
    req.id = id;
    ck_assert_int_eq(ferry_v1_admin_service_get_task(adm, &req, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_ptr_nonnull(resp->task);
    return resp;
}

/* hh_query_int of |sql_head| followed by |task|'s id. */
static long long q_int(const char *sql_head, int64_t task)
{
    char q[256];
    snprintf(q, sizeof(q), "%s%" PRId64, sql_head, task);
    return hh_query_int(&H, q);
}

static void setup(void)
{
    hh_options_t o = {0};
    o.tag = "hubreport";
    ck_assert_int_eq(hh_start(&H, &o), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NA", ENV_PROD, TOK_A, sizeof(TOK_A)), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NB", ENV_PROD, TOK_B, sizeof(TOK_B)), 0);
}

static void teardown(void)
{
    hh_stop(&H);
}

/* Reported timings come back through GetTask and ListTasks, oldest first; a later report
 * of the same step (state + started_at) updates its duration instead of adding a row. */
START_TEST(timings_round_trip)
{
    int64_t t = make_task(&H, "NA");
    ferry_rpc_client_t *a = hh_client(&H, TOK_A), *adm = hh_client(&H, H.admin_token);
    ferry_rpc_status_t st;
    timings_t w1, w2;

    timings_make(&w1, 1, 2, 20, 0);
    ck_assert_int_eq(report_timings(a, t, 1, 20, &w1, &st), FERRY_RPC_OK);
    /* Cumulative, as the agent sends them: step 2 again (now longer) and step 3. */
    timings_make(&w2, 2, 2, 20, 5000);
    ck_assert_int_eq(report_timings(a, t, 2, 30, &w2, &st), FERRY_RPC_OK);
    /* A report without timings keeps them. */
    ck_assert_int_eq(report_timings(a, t, 3, 30, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), 3);

    Ferry__V1__GetTaskResponse *g = get_task(adm, t);
    ck_assert_int_eq(g->task->n_timings, 3);
    for (size_t i = 0; i < 3; i++) {
        const Ferry__V1__StepTiming *x = g->task->timings[i];
        int64_t k = (int64_t)i + 1, dur = k + (k >= 2 ? 5000 : 0);
        ck_assert_int_eq(x->state, 20);
        ck_assert_ptr_nonnull(x->started_at);
        ck_assert_int_eq(x->started_at->seconds, T0 / 1000 + k);
        ck_assert_ptr_nonnull(x->duration);
        ck_assert_int_eq(x->duration->seconds * 1000 + x->duration->nanos / 1000000, dur);
    }
    protobuf_c_message_free_unpacked(&g->base, NULL);

    Ferry__V1__ListTasksRequest lr = FERRY__V1__LIST_TASKS_REQUEST__INIT;
    Ferry__V1__ListTasksResponse *l = NULL;
    lr.node_code = (char *)"NA";
    ck_assert_int_eq(ferry_v1_admin_service_list_tasks(adm, &lr, &l, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(l->n_tasks, 1);
    ck_assert_int_eq(l->tasks[0]->n_timings, 3);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    timings_free(&w1);
    timings_free(&w2);
    ferry_rpc_client_free(a);
    ferry_rpc_client_free(adm);
}
END_TEST

/* Too many timings in one report: E_INVALID_ARG naming the field and the cap; nothing of
 * the report is stored (state, sequence, history, timings). */
START_TEST(too_many_timings_refused)
{
    int64_t t = make_task(&H, "NA");
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st;
    timings_t big, huge;

    ck_assert_int_eq(report_timings(a, t, 1, 20, NULL, &st), FERRY_RPC_OK);
    timings_make(&big, 0, PER_REPORT + 1, 20, 0);
    ck_assert_int_eq(report_timings(a, t, 2, 30, &big, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(st.message, "timings"));
    ck_assert_ptr_nonnull(strstr(st.message, "64"));
    /* The probe's shape: tens of thousands of timings (well under the message cap). */
    timings_make(&huge, 0, 20000, 20, 0);
    ck_assert_int_eq(report_timings(a, t, 2, 30, &huge, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "timings"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), 0);
    ck_assert_int_eq(q_int("SELECT state * 1000 + last_seq FROM update_task WHERE id = ", t), 20001);
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_event WHERE task_id = ", t), 1);

    /* A timing that is not a task state, and the other bounded fields. */
    timings_t one;
    timings_make(&one, 0, 1, 20, 0);
    one.t[0].state = (Ferry__V1__TaskState)55;
    ck_assert_int_eq(report_timings(a, t, 2, 30, &one, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "timings[0].state"));
    char id[24], name[200];
    Ferry__V1__ProgressReport r;
    report_init(&r, id, t, 2, 30, NULL);
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    r.step_name = name;
    ck_assert_int_eq(send(a, &r, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "step_name"));
    Ferry__V1__HookReport hook = FERRY__V1__HOOK_REPORT__INIT;
    char *tail = malloc(20000);
    memset(tail, 'e', 19999);
    tail[19999] = '\0';
    hook.stderr_tail = tail;
    hook.hook_id = (char *)"h"; /* a valid hook but for its tail */
    hook.stage = FERRY__V1__HOOK_STAGE__HOOK_STAGE_PRE_CHECK;
    hook.result = FERRY__V1__HOOK_RESULT__HOOK_RESULT_FAIL;
    report_init(&r, id, t, 2, 30, NULL);
    r.hook = &hook;
    ck_assert_int_eq(send(a, &r, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "hook.stderr_tail"));
    free(tail);
    ck_assert_int_eq(q_int("SELECT state * 1000 + last_seq FROM update_task WHERE id = ", t), 20001);

    /* In a batch: that item is rejected with the same message, the others go through. */
    Ferry__V1__ProgressReport br[2];
    Ferry__V1__ReportProgressBatchRequest b[2];
    const Ferry__V1__ReportProgressBatchRequest *bp[2] = {&b[0], &b[1]};
    char bid[2][24];
    report_init(&br[0], bid[0], t, 2, 30, &big);
    report_init(&br[1], bid[1], t, 3, 30, NULL);
    for (int i = 0; i < 2; i++) {
        ferry__v1__report_progress_batch_request__init(&b[i]);
        b[i].report = &br[i];
    }
    Ferry__V1__ReportProgressBatchResponse *resp = NULL;
    ck_assert_int_eq(ferry_v1_report_service_report_progress_batch(a, bp, 2, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(resp->rejected, 1);
    ck_assert_int_eq(resp->accepted, 1);
    ck_assert_str_eq(resp->results[0]->error_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(resp->results[0]->message, "timings"));
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), 0);
    timings_free(&big);
    timings_free(&huge);
    timings_free(&one);
    ferry_rpc_client_free(a);
}
END_TEST

/* A node that sends the most it may: the task holds at most PER_TASK timings (a report
 * that would pass the cap is refused and leaves nothing, also inside a batch), nothing
 * is kept as JSON, and another node's CheckIn and reports still work. */
START_TEST(task_timings_bounded)
{
    int64_t t = make_task(&H, "NA");
    int64_t tb = make_task(&H, "NB");
    ferry_rpc_client_t *a = hh_client(&H, TOK_A), *b = hh_client(&H, TOK_B),
                       *adm = hh_client(&H, H.admin_token);
    ferry_rpc_status_t st;
    uint64_t seq = 0;

    for (size_t i = 0; i < PER_TASK / PER_REPORT; i++) {
        timings_t w;
        timings_make(&w, i * PER_REPORT, PER_REPORT, 20, 0);
        ck_assert_int_eq(report_timings(a, t, ++seq, 20, &w, &st), FERRY_RPC_OK);
        timings_free(&w);
    }
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), PER_TASK);
    /* Re-sending known steps (cumulative reports) is fine: no new rows. */
    timings_t again;
    timings_make(&again, 0, PER_REPORT, 20, 7);
    ck_assert_int_eq(report_timings(a, t, ++seq, 20, &again, &st), FERRY_RPC_OK);
    timings_free(&again);
    /* One new step past the cap: refused, nothing stored. */
    timings_t more;
    timings_make(&more, PER_TASK, 1, 20, 0);
    ck_assert_int_eq(report_timings(a, t, seq + 1, 30, &more, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(st.message, "timings"));
    ck_assert_ptr_nonnull(strstr(st.message, "256"));
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), PER_TASK);
    ck_assert_int_eq(q_int("SELECT state FROM update_task WHERE id = ", t), 20);
    /* The same inside a batch after an accepted report: the accepted one stays, the
     * refused one leaves no row behind (savepoint inside the batch transaction). */
    {
        Ferry__V1__ProgressReport br[2];
        Ferry__V1__ReportProgressBatchRequest bq[2];
        const Ferry__V1__ReportProgressBatchRequest *bp[2] = {&bq[0], &bq[1]};
        char bid[2][24];
        report_init(&br[0], bid[0], t, ++seq, 20, NULL);
        report_init(&br[1], bid[1], t, seq + 1, 30, &more);
        for (int i = 0; i < 2; i++) {
            ferry__v1__report_progress_batch_request__init(&bq[i]);
            bq[i].report = &br[i];
        }
        Ferry__V1__ReportProgressBatchResponse *resp = NULL;
        ck_assert_int_eq(ferry_v1_report_service_report_progress_batch(a, bp, 2, &resp, NULL, &st),
                         FERRY_RPC_OK);
        ck_assert_int_eq(resp->accepted, 1);
        ck_assert_int_eq(resp->rejected, 1);
        ck_assert_ptr_nonnull(strstr(resp->results[1]->message, "timings"));
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_timing WHERE task_id = ", t), PER_TASK);
    ck_assert_int_eq(q_int("SELECT last_seq FROM update_task WHERE id = ", t), (long long)seq);
    timings_free(&more);

    /* What loading the task reads is bounded: no JSON document, a few KiB of rows. */
    ck_assert_int_eq(q_int("SELECT length(timings_json) FROM update_task WHERE id = ", t), 2);
    ck_assert_int_le(q_int("SELECT sum(length(state || started_at || duration_ms) + 3) FROM task_timing"
                           " WHERE task_id = ",
                           t),
                     16 * 1024);
    Ferry__V1__GetTaskResponse *g = get_task(adm, t);
    ck_assert_int_eq(g->task->n_timings, PER_TASK);
    ck_assert_int_eq(g->task->timings[0]->started_at->seconds, T0 / 1000);
    ck_assert_int_eq(g->task->timings[PER_TASK - 1]->started_at->seconds, T0 / 1000 + PER_TASK - 1);
    protobuf_c_message_free_unpacked(&g->base, NULL);

    /* The other node is unaffected: CheckIn (which loads its pending task) and a report. */
    Ferry__V1__CheckInRequest creq = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__AgentInfo info = FERRY__V1__AGENT_INFO__INIT;
    Ferry__V1__CheckInResponse *cresp = NULL;
    info.agent_version = (char *)"1.2.3";
    creq.agent = &info;
    ck_assert_int_eq(ferry_v1_agent_service_check_in(b, &creq, &cresp, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&cresp->base, NULL);
    ck_assert_int_eq(report_timings(b, tb, 1, 20, NULL, &st), FERRY_RPC_OK);
    /* And the reporting node's own CheckIn still answers. */
    ck_assert_int_eq(ferry_v1_agent_service_check_in(a, &creq, &cresp, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&cresp->base, NULL);
    ferry_rpc_client_free(a);
    ferry_rpc_client_free(b);
    ferry_rpc_client_free(adm);
}
END_TEST

/* A database from before task_timing: its small, well-formed timings_json arrays (the
 * old {"state","startedAt","durationMs"} shape) become rows; an oversized one is dropped;
 * the column is left '[]' everywhere. */
START_TEST(old_timings_json_migrates)
{
    char dir[] = "/tmp/ferry-hubreport-XXXXXX", path[96], side[112];
    size_t n, k;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ferry_err_t err = {0};
    const ferry_db_migration_t *all = ferry_db_migrations(&n);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ferry.db", dir);
    for (k = 0; k < n && all[k].version < 4; k++)
        ;
    ck_assert_uint_lt(k, n);
    ck_assert_int_eq(ferry_db_open_with(path, all, k, &db, &err), FERRY_OK);
    ck_assert_int_eq(
        ferry_db_exec(db,
                      "INSERT INTO customer (code, name, created_at, updated_at) VALUES ('C', 'C', 1, 1);"
                      "INSERT INTO store (customer_id, code, name, created_at, updated_at)"
                      " VALUES (1, 'S', 'S', 1, 1);"
                      "INSERT INTO node (store_id, code, environment, token_id, token_hash,"
                      " token_issued_at, created_at, updated_at) VALUES (1, 'N', 4, 't', x'00', 1, 1, 1);"
                      "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build,"
                      " size, sha256, has_server, has_client, has_schema_sql, has_data_sql, manifest,"
                      " signature, key_id, created_at) VALUES ('1.0.0.0(1)', 1, 0, 0, 0, 1, 1, 'x', 1,"
                      " 0, 0, 0, x'', x'', 'k', 1);"
                      "INSERT INTO release (package_id, customer_id, environment, policy, created_at,"
                      " updated_at) VALUES (1, 1, 4, 1, 1, 1), (1, 1, 4, 1, 1, 1), (1, 1, 4, 1, 1, 1);"
                      "INSERT INTO update_task (release_id, node_id, created_at, updated_at, last_seq,"
                      " timings_json) VALUES (1, 1, 1, 1, 5, '[{\"state\":20,\"startedAt\":1000,"
                      "\"durationMs\":250},{\"state\":30,\"startedAt\":2000,\"durationMs\":1500}]');"
                      "WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 5000)"
                      " INSERT INTO update_task (release_id, node_id, created_at, updated_at, timings_json)"
                      " SELECT 2, 1, 1, 1, json_group_array(json_object('state', 20, 'startedAt', x,"
                      " 'durationMs', 1)) FROM i;"
                      "INSERT INTO update_task (release_id, node_id, created_at, updated_at, timings_json)"
                      " VALUES (3, 1, 1, 1, 'not json');",
                      "seed", &err),
        FERRY_OK);
    ferry_db_close(db);
    ck_assert_msg(ferry_db_open(path, &db, &err) == FERRY_OK, "%s", err.msg);
    ck_assert_int_eq(ferry_db_schema_version(db), all[n - 1].version);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db,
                           "SELECT (SELECT count(*) FROM task_timing),"
                           " (SELECT group_concat(task_id || ':' || state || ':' || started_at || ':'"
                           " || duration_ms || ':' || seq, ',') FROM (SELECT * FROM task_timing"
                           " ORDER BY started_at)),"
                           " (SELECT count(*) FROM update_task WHERE timings_json <> '[]')",
                           -1, &st, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int(st, 0), 2);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "1:20:1000:250:5,1:30:2000:1500:5");
    ck_assert_int_eq(sqlite3_column_int(st, 2), 0);
    sqlite3_finalize(st);
    ferry_db_close(db);
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    rmdir(dir);
}
END_TEST

static ferry_rpc_code_t report_hook(ferry_rpc_client_t *c, int64_t task, uint64_t seq, int state,
                                    const char *hook_id, int stage, int result, ferry_rpc_status_t *st)
{
    char id[24];
    Ferry__V1__ProgressReport r;
    Ferry__V1__HookReport h = FERRY__V1__HOOK_REPORT__INIT;
    report_init(&r, id, task, seq, state, NULL);
    h.hook_id = (char *)hook_id;
    h.stage = (Ferry__V1__HookStage)stage;
    h.result = (Ferry__V1__HookResult)result;
    h.message = (char *)"3 rows above the threshold 0";
    h.stderr_tail = (char *)(result == 3 ? "line 1\nline 2\n" : "");
    h.exit_status = -1;
    r.hook = &h;
    return send(c, &r, st);
}

/* What a task's hook results look like in the database, for "nothing changed" checks. */
static long long hooks_fingerprint(int64_t t)
{
    return q_int(
        "SELECT (SELECT count(*) FROM task_hook WHERE task_id = u.id) * 1000000 + u.last_seq * 1000 +"
        " u.state FROM update_task u WHERE u.id = ",
        t);
}

static ferry_rpc_code_t retry_failed_hook(ferry_rpc_client_t *adm, int64_t task, ferry_rpc_status_t *st)
{
    char id[24];
    Ferry__V1__RetryTaskRequest req = FERRY__V1__RETRY_TASK_REQUEST__INIT;
    Ferry__V1__RetryTaskResponse *resp = NULL;
    snprintf(id, sizeof(id), "%" PRId64, task);
    req.id = id;
    req.skip_failed_hook = true;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_admin_service_retry_task(adm, &req, &resp, NULL, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

START_TEST(hook_results)
{
    int64_t t = make_task(&H, "NA"), t2 = make_task(&H, "NA");
    ferry_rpc_client_t *a = hh_client(&H, TOK_A), *b = hh_client(&H, TOK_B),
                       *adm = hh_client(&H, H.admin_token);
    ferry_rpc_status_t st;
    long long before;

    ck_assert_int_eq(report_timings(a, t, 1, 20, NULL, &st), FERRY_RPC_OK);
    /* hostile hook reports: refused naming the field, nothing stored */
    before = hooks_fingerprint(t);
    ck_assert_int_eq(report_hook(a, t, 2, 20, "../etc", 1, 1, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "hook.hook_id: '../etc' is not a hook id"));
    ck_assert_int_eq(report_hook(a, t, 2, 20, "", 1, 1, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(report_hook(a, t, 2, 20, "ok", 9, 1, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "hook.stage: 9 is not a hook stage"));
    ck_assert_int_eq(report_hook(a, t, 2, 20, "ok", 1, 0, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "hook.result: 0 is not a hook result"));
    /* another node's task */
    ck_assert_int_eq(report_hook(b, t, 2, 20, "ok", 1, 1, &st), FERRY_RPC_PERMISSION_DENIED);
    ck_assert_int_eq(hooks_fingerprint(t), before);

    /* a failing check and a passing one; the same id again replaces its row */
    ck_assert_int_eq(report_hook(a, t, 2, 20, "tea", 1, 1, &st), FERRY_RPC_OK);
    ck_assert_int_eq(report_hook(a, t, 3, 20, "soft", 1, 2, &st), FERRY_RPC_OK);
    ck_assert_int_eq(report_hook(a, t, 4, 20, "tea", 1, 3, &st), FERRY_RPC_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_hook WHERE task_id = ", t), 2);
    ck_assert_int_eq(
        q_int("SELECT count(*) FROM task_event WHERE hook_json LIKE '%\"tea\"%' AND task_id = ", t), 2);
    Ferry__V1__GetTaskResponse *g = get_task(adm, t);
    ck_assert_int_eq(g->task->n_hooks, 2);
    ck_assert_str_eq(g->task->hooks[0]->hook_id, "tea");
    ck_assert_int_eq(g->task->hooks[0]->result, FERRY__V1__HOOK_RESULT__HOOK_RESULT_FAIL);
    ck_assert_str_eq(g->task->hooks[0]->stderr_tail, "line 1\nline 2\n");
    ck_assert_int_eq(g->task->hooks[0]->stage, FERRY__V1__HOOK_STAGE__HOOK_STAGE_PRE_CHECK);
    ck_assert_str_eq(g->task->hooks[1]->hook_id, "soft");
    ck_assert_int_eq(g->task->hooks[1]->result, FERRY__V1__HOOK_RESULT__HOOK_RESULT_WARN);
    protobuf_c_message_free_unpacked(&g->base, NULL);

    /* the task fails; a post_upgrade-style hook-only report of the final state is taken
     * and changes nothing else; any other report of a final task is still refused */
    char id[24];
    Ferry__V1__ProgressReport r;
    report_init(&r, id, t, 5, 110, NULL);
    r.error_code = (char *)"E_PRECHECK_FAILED";
    ck_assert_int_eq(send(a, &r, &st), FERRY_RPC_OK);
    long long fin = q_int("SELECT updated_at FROM update_task WHERE id = ", t);
    ck_assert_int_eq(report_hook(a, t, 6, 110, "late", 5, 1, &st), FERRY_RPC_OK);
    ck_assert_int_eq(
        q_int("SELECT count(*) FROM update_task WHERE state = 110 AND error_code = 'E_PRECHECK_FAILED'"
              " AND message = 'step' AND last_seq = 6 AND id = ",
              t),
        1);
    ck_assert_int_eq(q_int("SELECT updated_at FROM update_task WHERE id = ", t), fin);
    ck_assert_int_eq(
        q_int("SELECT count(*) FROM task_event WHERE state = 110 AND message = 'hook late (post_upgrade):"
              " PASS' AND task_id = ",
              t),
        1);
    before = hooks_fingerprint(t);
    ck_assert_int_eq(report_timings(a, t, 7, 110, NULL, &st), FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_int_eq(report_hook(a, t, 7, 20, "later", 2, 1, &st), FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_int_eq(hooks_fingerprint(t), before);

    /* RetryTask --skip-failed-hook on a task whose attempt reported no failed hook: a
     * clear E_PRECONDITION and nothing changes (attempt, state, history) */
    ck_assert_int_eq(report_timings(a, t2, 1, 20, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(report_hook(a, t2, 2, 20, "fine", 1, 1, &st), FERRY_RPC_OK);
    report_init(&r, id, t2, 3, 110, NULL);
    r.error_code = (char *)"E_DOWNLOAD_FAILED";
    ck_assert_int_eq(send(a, &r, &st), FERRY_RPC_OK);
    long long ev = q_int("SELECT count(*) FROM task_event WHERE task_id = ", t2);
    ck_assert_int_eq(retry_failed_hook(adm, t2, &st), FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_msg(strstr(st.message, "skip_failed_hook: no hook failed in task") != NULL &&
                      strstr(st.message, "(its error is E_DOWNLOAD_FAILED)") != NULL,
                  "%s", st.message);
    ck_assert_int_eq(q_int("SELECT state * 10 + attempt FROM update_task WHERE id = ", t2), 1100);
    ck_assert_int_eq(q_int("SELECT count(*) FROM task_event WHERE task_id = ", t2), ev);
    ferry_rpc_client_free(a);
    ferry_rpc_client_free(b);
    ferry_rpc_client_free(adm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_report");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, timings_round_trip);
    tcase_add_test(tc, too_many_timings_refused);
    tcase_add_test(tc, task_timings_bounded);
    tcase_add_test(tc, hook_results);
    suite_add_tcase(s, tc);
    TCase *mig = tcase_create("migration");
    tcase_add_test(mig, old_timings_json_migrates);
    suite_add_tcase(s, mig);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
