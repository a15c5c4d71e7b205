/*
 * "Enabled" is one rule for node tokens: the node, its store and its customer. A node
 * of a disabled store or customer is refused like a disabled node (unauthenticated +
 * E_AUTH_INVALID) on Bind and on every node-authenticated method (CheckIn,
 * WatchAssignments, GetAssignment, GetDownload, ReportProgress, CreateFileUpload), at
 * once even when its token was just cached, and works again once re-enabled.
 */
#include <check.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_harness.h"

#define ENV_PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static hh_t H;
static char TOK[HH_TOKEN_MAX];
static char TASK[24];
static uint64_t SEQ;

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

/* package + release + one task for node NA (rows, as releases.c would write them). */
static void make_task(void)
{
    char sql[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000;
    snprintf(sql, sizeof(sql),
             "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
             " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
             " VALUES ('1.0.0.1(1)', 1, 0, 0, 1, 1, 3, '%s', 1, 0, 0, 0, x'', x'', 'k', %" PRId64 ");"
             "INSERT INTO release (package_id, customer_id, environment, policy, created_at, updated_at)"
             " SELECT last_insert_rowid(), s.customer_id, n.environment, 1, %" PRId64 ", %" PRId64
             " FROM node n JOIN store s ON s.id = n.store_id WHERE n.code = 'NA';"
             "INSERT INTO update_task (release_id, node_id, created_at, updated_at)"
             " SELECT last_insert_rowid(), id, %" PRId64 ", %" PRId64 " FROM node WHERE code = 'NA';",
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", t, t, t, t, t);
    sql_exec(&H, sql);
    snprintf(TASK, sizeof(TASK), "%lld", hh_query_int(&H, "SELECT max(id) FROM update_task"));
}

static void setup(void)
{
    hh_options_t o = {0};
    o.tag = "hubenabled";
    ck_assert_int_eq(hh_start(&H, &o), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NA", ENV_PROD, TOK, sizeof(TOK)), 0);
    make_task();
    SEQ = 0;
}

static void teardown(void)
{
    hh_stop(&H);
}

static void set_disabled(char kind, int disabled)
{
    ferry_rpc_status_t st = {0};
    ferry_rpc_code_t rc;
    if (kind == 'c') {
        Ferry__V1__DisableCustomerRequest r = FERRY__V1__DISABLE_CUSTOMER_REQUEST__INIT;
        Ferry__V1__DisableCustomerResponse *resp = NULL;
        r.code = (char *)"ACME";
        r.disabled = disabled;
        rc = ferry_v1_admin_service_disable_customer(H.admin, &r, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
    } else if (kind == 's') {
        Ferry__V1__DisableStoreRequest r = FERRY__V1__DISABLE_STORE_REQUEST__INIT;
        Ferry__V1__DisableStoreResponse *resp = NULL;
        r.code = (char *)"S1";
        r.disabled = disabled;
        rc = ferry_v1_admin_service_disable_store(H.admin, &r, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
    } else {
        Ferry__V1__DisableNodeRequest r = FERRY__V1__DISABLE_NODE_REQUEST__INIT;
        Ferry__V1__DisableNodeResponse *resp = NULL;
        r.code = (char *)"NA";
        r.disabled = disabled;
        rc = ferry_v1_admin_service_disable_node(H.admin, &r, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    ck_assert_msg(rc == FERRY_RPC_OK, "disable %c=%d: %s", kind, disabled, st.message);
}

static int on_wa(Ferry__V1__WatchAssignmentsResponse *m, void *user)
{
    (void)user;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return 1; /* the first message is enough: the stream was accepted */
}

/* Calls each node method once with the node's token; |enabled| says what to expect. */
static void probe(const char *what, int enabled)
{
    ferry_rpc_client_t *c = hh_client(&H, TOK);
    ferry_rpc_status_t st;
    ferry_rpc_code_t rc;

#define EXPECT(name)                                                                                         \
    do {                                                                                                     \
        if (enabled) {                                                                                       \
            ck_assert_msg(rc != FERRY_RPC_UNAUTHENTICATED && strcmp(st.app_code, "E_AUTH_INVALID") != 0,     \
                          "%s, %s: refused (%d %s: %s)", what, name, (int)rc, st.app_code, st.message);      \
        } else {                                                                                             \
            ck_assert_msg(rc == FERRY_RPC_UNAUTHENTICATED && strcmp(st.app_code, "E_AUTH_INVALID") == 0,     \
                          "%s, %s: expected unauthenticated + E_AUTH_INVALID, got %d '%s' (%s)", what, name, \
                          (int)rc, st.app_code, st.message);                                                 \
        }                                                                                                    \
    } while (0)

    /* Bind (the token travels in the body) */
    {
        ferry_rpc_client_t *anon = hh_client(&H, NULL);
        Ferry__V1__BindRequest req = FERRY__V1__BIND_REQUEST__INIT;
        Ferry__V1__BindResponse *resp = NULL;
        req.node_code = (char *)"NA";
        req.environment = ENV_PROD;
        req.token = TOK;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_agent_service_bind(anon, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        ferry_rpc_client_free(anon);
        EXPECT("Bind");
        if (enabled)
            ck_assert_int_eq(rc, FERRY_RPC_OK);
    }
    /* CheckIn */
    {
        Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
        Ferry__V1__CheckInResponse *resp = NULL;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_agent_service_check_in(c, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        EXPECT("CheckIn");
        if (enabled)
            ck_assert_int_eq(rc, FERRY_RPC_OK);
    }
    /* WatchAssignments */
    {
        Ferry__V1__WatchAssignmentsRequest req = FERRY__V1__WATCH_ASSIGNMENTS_REQUEST__INIT;
        ferry_rpc_call_opts_t opts = {0};
        opts.timeout_ms = 5000;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_agent_service_watch_assignments(c, &req, on_wa, NULL, &opts, &st);
        EXPECT("WatchAssignments");
    }
    /* GetAssignment */
    {
        Ferry__V1__GetAssignmentRequest req = FERRY__V1__GET_ASSIGNMENT_REQUEST__INIT;
        Ferry__V1__GetAssignmentResponse *resp = NULL;
        req.task_id = TASK;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_agent_service_get_assignment(c, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        EXPECT("GetAssignment");
        if (enabled)
            ck_assert_int_eq(rc, FERRY_RPC_OK);
    }
    /* GetDownload (the fake package has no blob: past auth anything but a refusal is fine) */
    {
        Ferry__V1__GetDownloadRequest req = FERRY__V1__GET_DOWNLOAD_REQUEST__INIT;
        Ferry__V1__GetDownloadResponse *resp = NULL;
        req.task_id = TASK;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_agent_service_get_download(c, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        EXPECT("GetDownload");
    }
    /* ReportProgress */
    {
        Ferry__V1__ProgressReport r = FERRY__V1__PROGRESS_REPORT__INIT;
        Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
        Ferry__V1__ReportProgressResponse *resp = NULL;
        r.task_id = TASK;
        r.sequence = ++SEQ;
        r.state = (Ferry__V1__TaskState)20;
        r.message = (char *)"step";
        r.percent = 10;
        req.report = &r;
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_report_service_report_progress(c, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        EXPECT("ReportProgress");
        if (enabled)
            ck_assert_int_eq(rc, FERRY_RPC_OK);
    }
    /* CreateFileUpload */
    {
        Ferry__V1__CreateFileUploadRequest req = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
        Ferry__V1__CreateFileUploadResponse *resp = NULL;
        req.kind = FERRY__V1__FILE_KIND__FILE_KIND_LOG;
        req.task_id = TASK;
        req.file_name = (char *)"agent.log";
        req.size = 3;
        req.sha256 = (char *)"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        memset(&st, 0, sizeof(st));
        rc = ferry_v1_report_service_create_file_upload(c, &req, &resp, NULL, &st);
        if (resp != NULL)
            protobuf_c_message_free_unpacked(&resp->base, NULL);
        EXPECT("CreateFileUpload");
        if (enabled)
            ck_assert_int_eq(rc, FERRY_RPC_OK);
    }
#undef EXPECT
    ferry_rpc_client_free(c);
}

/* The token is cached by a working call first: disabling must not wait for the cache. */
static void cycle(char kind, const char *what)
{
    char on[64], off[64];
    snprintf(on, sizeof(on), "%s enabled", what);
    snprintf(off, sizeof(off), "%s disabled", what);
    probe(on, 1);
    set_disabled(kind, 1);
    probe(off, 0);
    set_disabled(kind, 0);
    probe(on, 1);
}

START_TEST(disabled_node_refused)
{
    cycle('n', "node");
}
END_TEST

START_TEST(disabled_store_refused)
{
    cycle('s', "store");
}
END_TEST

START_TEST(disabled_customer_refused)
{
    cycle('c', "customer");
}
END_TEST

/* A change behind the hub's back (manual SQL) takes effect within the cache lifetime. */
START_TEST(store_disabled_by_sql_within_cache_lifetime)
{
    probe("store enabled", 1);
    sql_exec(&H, "UPDATE store SET disabled = 1 WHERE code = 'S1'");
    struct timespec ts = {5, 200 * 1000 * 1000}; /* HUB_AUTH_CACHE_MS = 5000 */
    nanosleep(&ts, NULL);
    probe("store disabled by SQL", 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_enabled");
    TCase *tc = tcase_create("enabled");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, disabled_node_refused);
    tcase_add_test(tc, disabled_store_refused);
    tcase_add_test(tc, disabled_customer_refused);
    tcase_add_test(tc, store_disabled_by_sql_within_cache_lifetime);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
