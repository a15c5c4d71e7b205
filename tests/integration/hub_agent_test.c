/*
 * The hub's agent/report services and streams, over the real RPC server on loopback
 * (tests/support/hub_harness) with the generated client stubs and a real SQLite file.
 *
 * Tasks are created by inserting rows (package, release, update_task) on a second
 * SQLite connection and publishing on the bus, exactly what releases.c does after its
 * commit; that keeps these tests independent of package uploads.
 */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/hash.h"
#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_agent.h"
#include "hub_harness.h"

#define ENV_PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Creates package + release + one task for |node_code| and publishes the offer. */
static int64_t make_task(hh_t *h, const char *node_code)
{
    static int seq = 0;
    char sql[2048];
    int v = ++seq;
    int64_t t = now_ms();
    snprintf(sql, sizeof(sql),
             "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
             " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
             " VALUES ('1.0.0.%d(%d)', 1, 0, 0, %d, %d, 3, '%s', 1, 0, 0, 0, x'', x'', 'k', %" PRId64 ");"
             "INSERT INTO release (package_id, customer_id, environment, policy, created_at, updated_at)"
             " SELECT last_insert_rowid(), s.customer_id, n.environment, 1, %" PRId64 ", %" PRId64
             " FROM node n JOIN store s ON s.id = n.store_id WHERE n.code = '%s';"
             "INSERT INTO update_task (release_id, node_id, created_at, updated_at)"
             " SELECT last_insert_rowid(), id, %" PRId64 ", %" PRId64 " FROM node WHERE code = '%s';",
             v, v, v, v, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", t, t, t,
             node_code, t, t, node_code);
    sql_exec(h, sql);
    int64_t id = hh_query_int(h, "SELECT max(id) FROM update_task");
    hub_task_event_t ev = {0};
    ev.task_id = id;
    ev.release_id = hh_query_int(h, "SELECT max(id) FROM release");
    char q[256];
    snprintf(q, sizeof(q), "SELECT id FROM node WHERE code = '%s'", node_code);
    ev.node_id = hh_query_int(h, q);
    ev.state = 10;
    ev.new_assignment = 1;
    hub_bus_publish(h->hub, &ev);
    return id;
}

static int64_t node_id_of(hh_t *h, const char *code)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT id FROM node WHERE code = '%s'", code);
    return hh_query_int(h, q);
}

/* ReportProgress with the essentials; returns the RPC code. */
static ferry_rpc_code_t report(ferry_rpc_client_t *c, int64_t task, uint64_t seq, int state,
                               const char *error, ferry_rpc_status_t *st,
                               Ferry__V1__ReportProgressResponse **out)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, task);
    Ferry__V1__ProgressReport r = FERRY__V1__PROGRESS_REPORT__INIT;
    Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
    Ferry__V1__ReportProgressResponse *resp = NULL;
    r.task_id = id;
    r.sequence = seq;
    r.state = (Ferry__V1__TaskState)state;
    r.error_code = (char *)(error != NULL ? error : "");
    r.message = (char *)"step";
    r.percent = 50;
    r.backup_local_path = (char *)(state == 60 ? "/backup/1.0(1)/" : "");
    req.report = &r;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_report_service_report_progress(c, &req, &resp, NULL, st);
    if (out != NULL)
        *out = resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

static hh_t H;
static char TOK_A[HH_TOKEN_MAX], TOK_B[HH_TOKEN_MAX];

static void setup(void)
{
    hh_options_t o = {0};
    o.keepalive_s = 1;
    o.offline_after_s = 2;
    o.tag = "hubagent";
    ck_assert_int_eq(hh_start(&H, &o), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NA", ENV_PROD, TOK_A, sizeof(TOK_A)), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NB", ENV_PROD, TOK_B, sizeof(TOK_B)), 0);
}

static void teardown(void)
{
    hh_stop(&H);
}

/* ---- Bind --------------------------------------------------------------------------- */

static ferry_rpc_code_t do_bind(const char *code, int env, const char *token, ferry_rpc_status_t *st,
                                Ferry__V1__BindResponse **out)
{
    ferry_rpc_client_t *c = hh_client(&H, NULL);
    Ferry__V1__BindRequest req = FERRY__V1__BIND_REQUEST__INIT;
    Ferry__V1__BindResponse *resp = NULL;
    req.node_code = (char *)code;
    req.environment = (Ferry__V1__Environment)env;
    req.token = (char *)token;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_agent_service_bind(c, &req, &resp, NULL, st);
    ferry_rpc_client_free(c);
    if (out != NULL)
        *out = resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

START_TEST(bind_ok_and_refusals)
{
    ferry_rpc_status_t st;
    Ferry__V1__BindResponse *resp = NULL;
    ck_assert_int_eq(do_bind("NA", ENV_PROD, TOK_A, &st, &resp), FERRY_RPC_OK);
    ck_assert_str_eq(resp->node->code, "NA");
    ck_assert_str_eq(resp->node->customer_code, "ACME");
    ck_assert_int_eq(resp->n_signing_keys, 1);
    ck_assert_int_eq(resp->signing_keys[0]->public_key.len, 32);
    ck_assert(memcmp(resp->signing_keys[0]->public_key.data, H.hub->signing_pub, 32) == 0);
    ck_assert_ptr_nonnull(resp->poll_interval);
    ck_assert_int_gt(resp->poll_interval->seconds, 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ck_assert_int_eq(hh_count(&H, "node", "code = 'NA' AND bound_at IS NOT NULL"), 1);

    char first[512];
    ck_assert_int_eq(do_bind("NOPE", ENV_PROD, TOK_A, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    snprintf(first, sizeof(first), "%s", st.message);
    ck_assert_int_eq(do_bind("NA", FERRY__V1__ENVIRONMENT__ENVIRONMENT_DEV, TOK_A, &st, NULL),
                     FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    ck_assert_str_eq(st.message, first); /* nothing says which part was wrong */
    ck_assert_int_eq(do_bind("NA", ENV_PROD, TOK_B, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.message, first);
    ck_assert_int_eq(do_bind("NA", ENV_PROD, "fyn_garbage", &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ck_assert_str_eq(st.app_code, "E_AUTH_INVALID");
    ck_assert_int_eq(hh_count(&H, "node", "code = 'NB' AND bound_at IS NOT NULL"), 0);
}
END_TEST

/* ---- CheckIn and presence --------------------------------------------------------------- */

START_TEST(check_in_presence_and_pending)
{
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__AgentInfo info = FERRY__V1__AGENT_INFO__INIT;
    Ferry__V1__CheckInResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    int64_t na = node_id_of(&H, "NA");
    info.agent_version = (char *)"1.2.3";
    info.installed_version = (char *)"1.0.0.0(1)";
    info.free_disk_bytes = 12345;
    req.agent = &info;

    ck_assert_int_eq(hub_presence_count_online(H.hub), 0);
    ck_assert_int_eq(ferry_v1_agent_service_check_in(a, &req, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(resp->n_assignments, 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ck_assert_int_gt(hub_presence_last_seen(H.hub, na), 0);
    ck_assert_int_eq(hub_presence_count_online(H.hub), 1);

    /* A task appears: the next CheckIn returns it (the idle hint is cleared by the bus). */
    int64_t task = make_task(&H, "NA");
    ck_assert_int_eq(ferry_v1_agent_service_check_in(a, &req, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(resp->n_assignments, 1);
    ck_assert_int_eq(atoll(resp->assignments[0]->task->id), task);
    ck_assert_int_eq(resp->assignments[0]->task->state, 10);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* Last-seen reaches the DB on the periodic flush, not per check-in. */
    ck_assert_int_eq(hub_presence_flush(H.hub, NULL), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node",
                              "code = 'NA' AND last_seen_at IS NOT NULL AND agent_version = '1.2.3'"
                              " AND free_disk_bytes = 12345"),
                     1);
    /* offline_after_s = 2: overdue -> offline. */
    sleep(3);
    ck_assert_int_eq(hub_presence_count_online(H.hub), 0);
    ck_assert_int_eq(hub_connectivity(hub_presence_last_seen(H.hub, na), now_ms(), 2),
                     FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE);
    ferry_rpc_client_free(a);
}
END_TEST

/* ---- WatchAssignments -------------------------------------------------------------------- */

typedef struct watch_ctx {
    ferry_rpc_client_t *c;
    volatile int cancel;
    atomic_int assignments, keepalives, halts;
    atomic_llong last_task;
    atomic_llong first_assignment_ms;
    ferry_rpc_code_t end;
} watch_ctx_t;

static int on_wa(Ferry__V1__WatchAssignmentsResponse *m, void *user)
{
    watch_ctx_t *w = user;
    if (m->event_case == FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_ASSIGNMENT) {
        atomic_store(&w->last_task, atoll(m->assignment->task->id));
        if (atomic_fetch_add(&w->assignments, 1) == 0)
            atomic_store(&w->first_assignment_ms, now_ms());
    } else if (m->event_case == FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_KEEP_ALIVE) {
        atomic_fetch_add(&w->keepalives, 1);
    } else if (m->event_case == FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_HALT) {
        atomic_fetch_add(&w->halts, 1);
    }
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return 0;
}

static void *wa_thread(void *arg)
{
    watch_ctx_t *w = arg;
    Ferry__V1__WatchAssignmentsRequest req = FERRY__V1__WATCH_ASSIGNMENTS_REQUEST__INIT;
    ferry_rpc_call_opts_t opts = {0};
    opts.timeout_ms = 60000;
    opts.cancel = &w->cancel;
    w->end = ferry_v1_agent_service_watch_assignments(w->c, &req, on_wa, w, &opts, NULL);
    return NULL;
}

static int wait_for(atomic_int *v, int at_least, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (atomic_load(v) >= at_least)
            return 1;
        usleep(10000);
    }
    return atomic_load(v) >= at_least;
}

START_TEST(watch_assignments_live_and_keepalive)
{
    watch_ctx_t w = {0};
    pthread_t th;
    int64_t pending = make_task(&H, "NA"); /* exists before the stream: sent first */
    w.c = hh_client(&H, TOK_A);
    pthread_create(&th, NULL, wa_thread, &w);
    ck_assert(wait_for(&w.assignments, 1, 3000));
    ck_assert_int_eq(atomic_load(&w.last_task), pending);

    int64_t t0 = now_ms();
    int64_t task = make_task(&H, "NA");
    ck_assert(wait_for(&w.assignments, 2, 3000));
    ck_assert_int_eq(atomic_load(&w.last_task), task);
    ck_assert_int_lt(now_ms() - t0, 1000); /* "the moment it exists" */

    /* Node B's task never reaches A's stream. */
    make_task(&H, "NB");
    usleep(300000);
    ck_assert_int_eq(atomic_load(&w.assignments), 2);

    /* keepalive_s = 1 */
    ck_assert(wait_for(&w.keepalives, 1, 4000));
    w.cancel = 1;
    pthread_join(th, NULL);
    ferry_rpc_client_free(w.c);
}
END_TEST

/* ---- isolation between nodes ---------------------------------------------------------------- */

START_TEST(node_cannot_touch_another_nodes_task)
{
    int64_t tb = make_task(&H, "NB");
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, tb);
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st = {0};

    Ferry__V1__GetAssignmentRequest ga = FERRY__V1__GET_ASSIGNMENT_REQUEST__INIT;
    Ferry__V1__GetAssignmentResponse *gar = NULL;
    ga.task_id = id;
    ck_assert_int_eq(ferry_v1_agent_service_get_assignment(a, &ga, &gar, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    ck_assert_str_eq(st.app_code, "E_PERMISSION"); /* one rule: every refusal carries its code */

    Ferry__V1__GetDownloadRequest gd = FERRY__V1__GET_DOWNLOAD_REQUEST__INIT;
    Ferry__V1__GetDownloadResponse *gdr = NULL;
    gd.task_id = id;
    ck_assert_int_eq(ferry_v1_agent_service_get_download(a, &gd, &gdr, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    ck_assert_str_eq(st.app_code, "E_PERMISSION");

    long events = hh_count(&H, "task_event", NULL);
    ck_assert_int_eq(report(a, tb, 1, 20, NULL, &st, NULL), FERRY_RPC_PERMISSION_DENIED);
    ck_assert_str_eq(st.app_code, "E_PERMISSION");
    ck_assert_int_eq(hh_count(&H, "task_event", NULL), events);
    char q[128];
    snprintf(q, sizeof(q), "SELECT state * 1000 + last_seq FROM update_task WHERE id = %" PRId64, tb);
    ck_assert_int_eq(hh_query_int(&H, q), 10000);

    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_LOG;
    cu.task_id = id;
    cu.file_name = (char *)"agent.log";
    cu.size = 3;
    cu.sha256 = (char *)"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    long uploads = hh_count(&H, "upload", NULL);
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(a, &cu, &cur, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    ck_assert_str_eq(st.app_code, "E_PERMISSION");
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads);

    /* Nonexistent task: not_found; no token: unauthenticated. */
    ga.task_id = (char *)"999999";
    ck_assert_int_eq(ferry_v1_agent_service_get_assignment(a, &ga, &gar, NULL, &st), FERRY_RPC_NOT_FOUND);
    ck_assert_str_eq(st.app_code, "E_NOT_FOUND");
    ferry_rpc_client_t *anon = hh_client(&H, NULL);
    ck_assert_int_eq(report(anon, tb, 1, 20, NULL, &st, NULL), FERRY_RPC_UNAUTHENTICATED);
    ferry_rpc_client_free(anon);
    ferry_rpc_client_free(a);
}
END_TEST

/* ---- ReportProgress rules ------------------------------------------------------------------- */

START_TEST(report_rules)
{
    int64_t t = make_task(&H, "NA");
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st = {0};
    Ferry__V1__ReportProgressResponse *r = NULL;
    char where[128];
    snprintf(where, sizeof(where), "task_id = %" PRId64, t);

    ck_assert_int_eq(report(a, t, 1, 20, NULL, &st, &r), FERRY_RPC_OK);
    ck_assert(!r->duplicate);
    ck_assert_int_eq(r->last_sequence, 1);
    ck_assert_int_eq(r->directive, FERRY__V1__REPORT_DIRECTIVE__REPORT_DIRECTIVE_CONTINUE);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Replay: acknowledged again, stored once. */
    ck_assert_int_eq(report(a, t, 1, 20, NULL, &st, &r), FERRY_RPC_OK);
    ck_assert(r->duplicate);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(hh_count(&H, "task_event", where), 1);
    /* Progress within a state (same state, higher sequence) is fine. */
    ck_assert_int_eq(report(a, t, 2, 20, NULL, &st, NULL), FERRY_RPC_OK);
    /* Lower sequence: ignored, acknowledged. */
    ck_assert_int_eq(report(a, t, 1, 30, NULL, &st, &r), FERRY_RPC_OK);
    ck_assert(r->duplicate);
    ck_assert_int_eq(r->state, 20);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Impossible transition: 20 -> 100. Nothing changes. */
    ck_assert_int_eq(report(a, t, 3, 100, NULL, &st, NULL), FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_str_eq(st.app_code, "E_TRANSITION_INVALID");
    ck_assert_int_eq(hh_count(&H, "task_event", where), 2);
    char q[128];
    snprintf(q, sizeof(q), "SELECT state * 1000 + last_seq FROM update_task WHERE id = %" PRId64, t);
    ck_assert_int_eq(hh_query_int(&H, q), 20002);
    /* Unknown error code, state out of the list, sequence 0: invalid_argument. */
    ck_assert_int_eq(report(a, t, 3, 110, "E_MADE_UP", &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(report(a, t, 3, 55, NULL, &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(report(a, t, 0, 30, NULL, &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(hh_query_int(&H, q), 20002);
    /* A legal failure with a seed error code. */
    ck_assert_int_eq(report(a, t, 3, 110, "E_DOWNLOAD_FAILED", &st, NULL), FERRY_RPC_OK);
    snprintf(q, sizeof(q), "SELECT error_code FROM update_task WHERE id = %" PRId64, t);
    char ec[64];
    ck_assert_int_eq(hh_query_text(&H, q, ec, sizeof(ec)), 0);
    ck_assert_str_eq(ec, "E_DOWNLOAD_FAILED");
    /* Final: nothing moves any more. */
    ck_assert_int_eq(report(a, t, 4, 20, NULL, &st, NULL), FERRY_RPC_FAILED_PRECONDITION);
    ferry_rpc_client_free(a);
}
END_TEST

START_TEST(report_batch)
{
    int64_t t = make_task(&H, "NA");
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, t);
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st = {0};
    static const struct {
        uint64_t seq;
        int state;
    } items[] = {{1, 20}, {2, 30}, {2, 30}, {3, 100}, {3, 50}};
    Ferry__V1__ProgressReport r[5];
    Ferry__V1__ReportProgressBatchRequest b[5];
    const Ferry__V1__ReportProgressBatchRequest *ptrs[5];
    for (int i = 0; i < 5; i++) {
        ferry__v1__progress_report__init(&r[i]);
        ferry__v1__report_progress_batch_request__init(&b[i]);
        r[i].task_id = id;
        r[i].sequence = items[i].seq;
        r[i].state = (Ferry__V1__TaskState)items[i].state;
        b[i].report = &r[i];
        ptrs[i] = &b[i];
    }
    Ferry__V1__ReportProgressBatchResponse *resp = NULL;
    ck_assert_int_eq(ferry_v1_report_service_report_progress_batch(a, ptrs, 5, &resp, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_int_eq(resp->accepted, 3);   /* 20, 30, 50 */
    ck_assert_int_eq(resp->duplicates, 1); /* second seq 2 */
    ck_assert_int_eq(resp->rejected, 1);   /* 30 -> 100 */
    ck_assert_int_eq(resp->n_results, 5);
    ck_assert_str_eq(resp->results[3]->error_code, "E_TRANSITION_INVALID");
    ck_assert(resp->results[4]->accepted);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    char q[128];
    snprintf(q, sizeof(q), "SELECT state * 1000 + last_seq FROM update_task WHERE id = %" PRId64, t);
    ck_assert_int_eq(hh_query_int(&H, q), 50003);
    ferry_rpc_client_free(a);
}
END_TEST

/* ---- file uploads ----------------------------------------------------------------------- */

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static long http_put(const char *url, const char *data, size_t len)
{
    CURL *c = curl_easy_init();
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

START_TEST(file_upload_each_kind)
{
    int64_t t = make_task(&H, "NA");
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, t);
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st = {0};
    static const char *config =
        "{\"configVersion\":202512140001,\"service\":{\"name\":\"RCA7_Service_A\"},"
        "\"paths\":{\"serverDir\":\"D:/rca7/server\"},"
        "\"backup\":{\"db\":{\"sqlConnectionString\":\"Server=x;Password=hunter2\"}}}";
    const char *bodies[5] = {NULL, config, "log line\n", "PK-diagnostic", "sql.log 1\n"};
    for (int kind = 1; kind <= 4; kind++) {
        char sha[FERRY_SHA256_HEX_LEN + 1];
        ferry_sha256_hex(bodies[kind], strlen(bodies[kind]), sha);
        Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
        Ferry__V1__CreateFileUploadResponse *cur = NULL;
        cu.kind = (Ferry__V1__FileKind)kind;
        cu.task_id = kind == 1 ? (char *)"" : id;
        cu.file_name = (char *)(kind == 1 ? "node-config.json" : "file.txt");
        cu.size = strlen(bodies[kind]);
        cu.sha256 = sha;
        cu.content_type = (char *)"text/plain";
        ck_assert_int_eq(ferry_v1_report_service_create_file_upload(a, &cu, &cur, NULL, &st), FERRY_RPC_OK);
        ck_assert_int_eq(http_put(cur->target->url, bodies[kind], strlen(bodies[kind])) / 100, 2);
        Ferry__V1__CommitFileUploadRequest cm = FERRY__V1__COMMIT_FILE_UPLOAD_REQUEST__INIT;
        Ferry__V1__CommitFileUploadResponse *cmr = NULL;
        cm.upload_id = cur->upload_id;
        cm.summary = (char *)"summary";
        ck_assert_int_eq(ferry_v1_report_service_commit_file_upload(a, &cm, &cmr, NULL, &st), FERRY_RPC_OK);
        ck_assert_str_eq(cmr->file->sha256, sha);
        ck_assert_int_eq(cmr->file->kind, kind);
        protobuf_c_message_free_unpacked(&cmr->base, NULL);
        /* Commit again: idempotent, still one row. */
        ck_assert_int_eq(ferry_v1_report_service_commit_file_upload(a, &cm, &cmr, NULL, &st), FERRY_RPC_OK);
        protobuf_c_message_free_unpacked(&cmr->base, NULL);
        /* Node B cannot commit A's upload. */
        ferry_rpc_client_t *b = hh_client(&H, TOK_B);
        ck_assert_int_eq(ferry_v1_report_service_commit_file_upload(b, &cm, &cmr, NULL, &st),
                         FERRY_RPC_PERMISSION_DENIED);
        ck_assert_str_eq(st.app_code, "E_PERMISSION");
        ferry_rpc_client_free(b);
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    }
    ck_assert_int_eq(hh_count(&H, "report_file", NULL), 4);
    char q[160];
    snprintf(q, sizeof(q), "SELECT json_array_length(report_files_json) FROM update_task WHERE id = %" PRId64,
             t);
    ck_assert_int_eq(hh_query_int(&H, q), 3);
    ck_assert_int_eq(hh_query_int(&H, "SELECT config_version FROM node_config_index"), 202512140001LL);
    char summary[1024];
    ck_assert_int_eq(
        hh_query_text(&H, "SELECT summary_json FROM node_config_index", summary, sizeof(summary)), 0);
    ck_assert_ptr_null(strstr(summary, "hunter2"));
    ck_assert_ptr_nonnull(strstr(summary, "RCA7_Service_A"));

    /* SHA mismatch on commit: E_HASH_MISMATCH, no file row. */
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_LOG;
    cu.task_id = id;
    cu.file_name = (char *)"x.log";
    cu.size = 3;
    cu.sha256 = (char *)"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; /* "abc" */
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(a, &cu, &cur, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(http_put(cur->target->url, "xyz", 3) / 100, 2);
    Ferry__V1__CommitFileUploadRequest cm = FERRY__V1__COMMIT_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CommitFileUploadResponse *cmr = NULL;
    cm.upload_id = cur->upload_id;
    ck_assert_int_ne(ferry_v1_report_service_commit_file_upload(a, &cm, &cmr, NULL, &st), FERRY_RPC_OK);
    ck_assert_str_eq(st.app_code, "E_HASH_MISMATCH");
    ck_assert_int_eq(hh_count(&H, "report_file", NULL), 4);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    /* Bad kind: invalid_argument. */
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_UNSPECIFIED;
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(a, &cu, &cur, NULL, &st),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ferry_rpc_client_free(a);
}
END_TEST

/* ---- WatchRelease ---------------------------------------------------------------------- */

typedef struct wr_ctx {
    ferry_rpc_client_t *c;
    char release[24];
    volatile int cancel;
    atomic_int n_tasks, snapshot_done;
    int states[64];
} wr_ctx_t;

static int on_wr(Ferry__V1__WatchReleaseResponse *m, void *user)
{
    wr_ctx_t *w = user;
    if (m->snapshot_done)
        atomic_store(&w->snapshot_done, 1);
    if (m->event_case == FERRY__V1__WATCH_RELEASE_RESPONSE__EVENT_TASK) {
        int i = atomic_load(&w->n_tasks);
        if (i < 64)
            w->states[i] = m->task->state;
        atomic_store(&w->n_tasks, i + 1);
    }
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return 0;
}

static void *wr_thread(void *arg)
{
    wr_ctx_t *w = arg;
    Ferry__V1__WatchReleaseRequest req = FERRY__V1__WATCH_RELEASE_REQUEST__INIT;
    ferry_rpc_call_opts_t opts = {0};
    req.id = w->release;
    req.initial_snapshot = true;
    opts.timeout_ms = 60000;
    opts.cancel = &w->cancel;
    ferry_v1_admin_service_watch_release(w->c, &req, on_wr, w, &opts, NULL);
    return NULL;
}

START_TEST(watch_release_sees_every_change)
{
    int64_t t = make_task(&H, "NA");
    wr_ctx_t w = {0};
    pthread_t th;
    snprintf(w.release, sizeof(w.release), "%lld", hh_query_int(&H, "SELECT max(id) FROM release"));
    w.c = hh_client(&H, H.admin_token);
    pthread_create(&th, NULL, wr_thread, &w);
    ck_assert(wait_for(&w.snapshot_done, 1, 3000));
    ck_assert_int_eq(w.states[0], 10);

    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    ferry_rpc_status_t st = {0};
    static const int path[] = {20, 30, 50, 60, 70, 90, 100};
    for (int i = 0; i < 7; i++) {
        ck_assert_int_eq(report(a, t, (uint64_t)i + 1, path[i], NULL, &st, NULL), FERRY_RPC_OK);
        ck_assert(wait_for(&w.n_tasks, i + 2, 2000)); /* each change arrives before the next is made */
        ck_assert_int_eq(w.states[i + 1], path[i]);
    }
    w.cancel = 1;
    pthread_join(th, NULL);
    ferry_rpc_client_free(a);
    ferry_rpc_client_free(w.c);

    /* Unknown release: not_found. */
    ferry_rpc_client_t *adm = hh_client(&H, H.admin_token);
    Ferry__V1__WatchReleaseRequest req = FERRY__V1__WATCH_RELEASE_REQUEST__INIT;
    req.id = (char *)"99999";
    ck_assert_int_eq(ferry_v1_admin_service_watch_release(adm, &req, on_wr, &w, NULL, &st),
                     FERRY_RPC_NOT_FOUND);
    ferry_rpc_client_free(adm);
}
END_TEST

/* ---- /metrics ----------------------------------------------------------------------------- */

typedef struct body {
    char *p;
    size_t n;
} body_t;

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    body_t *b = u;
    char *np = realloc(b->p, b->n + s * n + 1);
    if (np == NULL)
        return 0;
    memcpy(np + b->n, p, s * n);
    b->n += s * n;
    np[b->n] = '\0';
    b->p = np;
    return s * n;
}

START_TEST(metrics_series)
{
    ferry_rpc_client_t *a = hh_client(&H, TOK_A);
    Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__CheckInResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    make_task(&H, "NA");
    ck_assert_int_eq(ferry_v1_agent_service_check_in(a, &req, &resp, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(a);

    char url[128];
    body_t b = {0};
    long status = 0;
    snprintf(url, sizeof(url), "%s/metrics", H.base_url);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(b.p);
    ck_assert_ptr_nonnull(strstr(
        b.p, "ferry_rpc_requests_total{service=\"ferry.v1.AgentService\",method=\"CheckIn\",code=\"ok\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.p, "ferry_rpc_duration_seconds_bucket{service=\"ferry.v1.AgentService\","
                                      "method=\"CheckIn\",code=\"ok\",le=\"+Inf\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.p, "ferry_tasks{state=\"10\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.p, "ferry_nodes_online 1"));
    ck_assert_ptr_nonnull(strstr(b.p, "ferry_nodes 2"));
    free(b.p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_agent");
    TCase *tc = tcase_create("agent");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bind_ok_and_refusals);
    tcase_add_test(tc, check_in_presence_and_pending);
    tcase_add_test(tc, watch_assignments_live_and_keepalive);
    tcase_add_test(tc, node_cannot_touch_another_nodes_task);
    tcase_add_test(tc, report_rules);
    tcase_add_test(tc, report_batch);
    tcase_add_test(tc, file_upload_each_kind);
    tcase_add_test(tc, watch_release_sees_every_change);
    tcase_add_test(tc, metrics_series);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
