/*
 * Rollouts in waves (issue 13) through the hub's real RPC services on loopback
 * (tests/support/hub_harness): CreateRelease with waves and thresholds, node reports
 * driving tasks, CheckIn, PromoteRelease. Complements agentd_waves (real agents) with the
 * threshold arithmetic, exactly:
 *   - a node of a later wave gets no assignment on CheckIn, and has no task;
 *   - error threshold count:1 tolerates one failure; the second pauses the release by
 *     itself (reason, audit row by "ferryd"); resume acknowledges those failures (no
 *     immediate re-pause);
 *   - success threshold 50%: wave 2 starts when half of wave 1 is at 100, the other half
 *     still pending; promote of a release without approval waiting is refused;
 *   - bad input refused naming the culprit, nothing written.
 */
#include <check.h>
#include <sqlite3.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_harness.h"

#define ENV_PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static hh_t H;
static char TOK[4][HH_TOKEN_MAX];
static const char *const NODES[4] = {"NA", "NB", "NC", "ND"};

static void setup(void)
{
    hh_options_t o = {0};
    o.tag = "hubwaves";
    ck_assert_int_eq(hh_start(&H, &o), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", NODES[i], ENV_PROD, TOK[i], sizeof(TOK[i])), 0);
    /* A package row (releases only need it to exist). */
    char sql[1024];
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
        " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
        " VALUES ('%s', 1, 0, 0, %d, 1, 3, "
        "'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',"
        " 1, 0, 0, 0, x'', x'', 'k', 1), ('%s', 1, 0, 0, %d, 1, 3,"
        " 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 1, 0, 0, 0, x'', x'', 'k', 1)",
        "1.0.0.1(1)", 1, "1.0.0.2(1)", 2);
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(H.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("sql: %s", msg);
    sqlite3_close(db);
}

static void teardown(void)
{
    hh_stop(&H);
}

static ferry_rpc_code_t create(const char *version, const char *const *waves, size_t n_waves,
                               const char *const *canaries, size_t n_canaries, uint32_t success,
                               const char *error, const char *window, char *id, ferry_rpc_status_t *st)
{
    Ferry__V1__CreateReleaseRequest req = FERRY__V1__CREATE_RELEASE_REQUEST__INIT;
    Ferry__V1__ReleaseScope sc = FERRY__V1__RELEASE_SCOPE__INIT;
    Ferry__V1__CreateReleaseResponse *resp = NULL;
    sc.customer_code = (char *)"ACME";
    sc.environment = ENV_PROD;
    req.scope = &sc;
    req.package_version = (char *)version;
    req.policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    req.waves = (char **)waves;
    req.n_waves = n_waves;
    req.canary_node_codes = (char **)canaries;
    req.n_canary_node_codes = n_canaries;
    req.success_threshold = success;
    req.error_threshold = (char *)error;
    req.maintenance_window = (char *)window;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_admin_service_create_release(H.admin, &req, &resp, NULL, st);
    if (resp != NULL) {
        snprintf(id, 24, "%s", resp->release->id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

/* The task of |node| in release |rel| (0: none). */
static int64_t task_of(const char *rel, const char *node)
{
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT COALESCE(max(t.id), 0) FROM update_task t JOIN node n ON n.id = t.node_id"
             " WHERE t.release_id = %s AND n.code = '%s'",
             rel, node);
    return hh_query_int(&H, q);
}

static void report(int node, int64_t task, uint64_t seq, int state, const char *error)
{
    ferry_rpc_client_t *c = hh_client(&H, TOK[node]);
    char id[24];
    Ferry__V1__ProgressReport r = FERRY__V1__PROGRESS_REPORT__INIT;
    Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
    Ferry__V1__ReportProgressResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    snprintf(id, sizeof(id), "%" PRId64, task);
    r.task_id = id;
    r.sequence = seq;
    r.state = (Ferry__V1__TaskState)state;
    r.error_code = (char *)error;
    r.message = (char *)"step";
    r.backup_local_path = (char *)(state == 60 ? "/backup/x/" : "");
    req.report = &r;
    ck_assert_int_eq(ferry_v1_report_service_report_progress(c, &req, &resp, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
}

static void succeed(int node, int64_t task)
{
    static const int steps[] = {30, 50, 60, 70, 90, 100};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        report(node, task, i + 1, steps[i], "");
}

static Ferry__V1__Release *get(const char *id)
{
    Ferry__V1__GetReleaseRequest req = FERRY__V1__GET_RELEASE_REQUEST__INIT;
    Ferry__V1__GetReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.id = (char *)id;
    ck_assert_int_eq(ferry_v1_admin_service_get_release(H.admin, &req, &resp, NULL, &st), FERRY_RPC_OK);
    return (Ferry__V1__Release *)resp; /* freed by the caller through rel_free */
}

static void rel_free(Ferry__V1__Release *r)
{
    protobuf_c_message_free_unpacked((ProtobufCMessage *)r, NULL);
}

#define REL(x) (((Ferry__V1__GetReleaseResponse *)(x))->release)

static size_t checkin_assignments(int node)
{
    ferry_rpc_client_t *c = hh_client(&H, TOK[node]);
    Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__CheckInResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    size_t n;
    ck_assert_int_eq(ferry_v1_agent_service_check_in(c, &req, &resp, NULL, &st), FERRY_RPC_OK);
    n = resp->n_assignments;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
    return n;
}

static void resume(char *id)
{
    Ferry__V1__ResumeReleaseRequest rq = FERRY__V1__RESUME_RELEASE_REQUEST__INIT;
    Ferry__V1__ResumeReleaseResponse *rr = NULL;
    ferry_rpc_status_t st = {0};
    rq.id = id;
    ck_assert_int_eq(ferry_v1_admin_service_resume_release(H.admin, &rq, &rr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&rr->base, NULL);
}

START_TEST(bad_input_changes_nothing)
{
    ferry_rpc_status_t st;
    char id[24] = "";
    const char *zero[] = {"0"}, *dec[] = {"50%", "20%"}, *ok[] = {"1", "100%"}, *nosuch[] = {"NOSUCH"};
    long rel = hh_count(&H, "release", NULL), tasks = hh_count(&H, "update_task", NULL);
    ck_assert_int_eq(create("1.0.0.1(1)", zero, 1, NULL, 0, 0, "", "", id, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "wave 1 '0'"));
    ck_assert_int_eq(create("1.0.0.1(1)", dec, 2, NULL, 0, 0, "", "", id, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "'20%'"));
    ck_assert_int_eq(create("1.0.0.1(1)", ok, 2, NULL, 0, 0, "", "25:00-01:00", id, &st),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "'25:00'"));
    ck_assert_int_eq(create("1.0.0.1(1)", ok, 2, nosuch, 1, 0, "", "", id, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "'NOSUCH'"));
    ck_assert_int_eq(create("1.0.0.1(1)", NULL, 0, NULL, 0, 90, "", "", id, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(hh_count(&H, "release", NULL), rel);
    ck_assert_int_eq(hh_count(&H, "update_task", NULL), tasks);
    ck_assert_int_eq(hh_count(&H, "release_node", NULL), 0);
    ck_assert_int_eq(hh_count(&H, "release_wave", NULL), 0);
}
END_TEST

START_TEST(error_count_threshold_and_resume)
{
    ferry_rpc_status_t st;
    char id[24] = "";
    const char *waves[] = {"2", "100%"};
    Ferry__V1__Release *r;

    /* Wave 1 = NA, NB (store, then node code); 1 failure tolerated. */
    ck_assert_int_eq(create("1.0.0.1(1)", waves, 2, NULL, 0, 100, "count:1", "", id, &st), FERRY_RPC_OK);
    ck_assert_int_ne(task_of(id, "NA"), 0);
    ck_assert_int_ne(task_of(id, "NB"), 0);
    ck_assert_int_eq(task_of(id, "NC"), 0);
    ck_assert_uint_eq(checkin_assignments(2), 0); /* NC: nothing to offer before its wave */
    ck_assert_uint_eq(checkin_assignments(0), 1);

    report(0, task_of(id, "NA"), 1, 110, "E_DOWNLOAD_FAILED");
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    rel_free(r);
    report(1, task_of(id, "NB"), 1, 110, "E_DOWNLOAD_FAILED");
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    ck_assert_str_eq(REL(r)->paused_reason,
                     "wave 1: 2 of 2 task(s) failed, above the error threshold count:1");
    ck_assert_str_eq(REL(r)->error_threshold, "count:1");
    ck_assert_uint_eq(REL(r)->n_waves, 2);
    ck_assert_uint_eq(REL(r)->waves[0]->failed, 2);
    ck_assert_uint_eq(REL(r)->node_count, 4);
    rel_free(r);
    ck_assert_int_eq(task_of(id, "NC"), 0);
    ck_assert_int_eq(hh_count(&H, "audit_log", "actor_token_id = 'ferryd' AND detail LIKE '%count:1%'"), 1);

    /* Resume acknowledges the two failures: ACTIVE, still wave 1, no second audit row. */
    resume(id);
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    ck_assert_str_eq(REL(r)->paused_reason, "");
    ck_assert_uint_eq(REL(r)->current_wave, 1);
    rel_free(r);
    ck_assert_int_eq(hh_count(&H, "audit_log", "actor_token_id = 'ferryd'"), 1);
}
END_TEST

START_TEST(success_percent_starts_next_wave)
{
    ferry_rpc_status_t st;
    char id[24] = "";
    const char *waves[] = {"2", "100%"}, *canary[] = {"NC"};
    Ferry__V1__Release *r;

    /* Canary NC alone, then up to 2 nodes (NA), then the rest (NB, ND); 50% succeeds a wave. */
    ck_assert_int_eq(create("1.0.0.2(1)", waves, 2, canary, 1, 50, "", "", id, &st), FERRY_RPC_OK);
    ck_assert_int_ne(task_of(id, "NC"), 0);
    ck_assert_int_eq(hh_count(&H, "update_task", NULL), 1);

    Ferry__V1__PromoteReleaseRequest pq = FERRY__V1__PROMOTE_RELEASE_REQUEST__INIT;
    Ferry__V1__PromoteReleaseResponse *pr = NULL;
    pq.id = id;
    ck_assert_int_eq(ferry_v1_admin_service_promote_release(H.admin, &pq, &pr, NULL, &st),
                     FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_ptr_nonnull(strstr(st.message, "0 of 1 task(s) at 100"));

    succeed(2, task_of(id, "NC"));
    ck_assert_int_ne(task_of(id, "NA"), 0); /* wave 2 = NA */
    ck_assert_int_eq(task_of(id, "NB"), 0);
    succeed(0, task_of(id, "NA"));
    ck_assert_int_ne(task_of(id, "NB"), 0); /* wave 3 = NB, ND */
    ck_assert_int_ne(task_of(id, "ND"), 0);
    succeed(1, task_of(id, "NB"));
    r = get(id);
    ck_assert_uint_eq(REL(r)->current_wave, 3);
    ck_assert_uint_eq(REL(r)->n_waves, 3);
    ck_assert_str_eq(REL(r)->waves[0]->spec, "canary");
    ck_assert_str_eq(REL(r)->waves[1]->spec, "2");
    ck_assert_str_eq(REL(r)->waves[2]->spec, "100%");
    ck_assert_uint_eq(REL(r)->n_canary_node_codes, 1);
    /* ND still pending: the last wave, 50% reached, nothing further; not COMPLETED. */
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    rel_free(r);
}
END_TEST

/* With a success threshold below 100 the next wave starts while the previous one still
 * runs; a failure of that earlier wave arriving afterwards still pauses the release
 * (judged against its own wave), and a resume acknowledges it like any other. */
START_TEST(late_failure_of_an_earlier_wave_pauses)
{
    ferry_rpc_status_t st;
    char id[24] = "";
    const char *waves[] = {"2", "100%"};
    Ferry__V1__Release *r;

    /* Wave 1 = NA, NB; 50% starts wave 2 (NC, ND); no failure tolerated. */
    ck_assert_int_eq(create("1.0.0.1(1)", waves, 2, NULL, 0, 50, "", "", id, &st), FERRY_RPC_OK);
    succeed(0, task_of(id, "NA"));
    ck_assert_int_ne(task_of(id, "NC"), 0); /* wave 2 started; NB still running */
    report(1, task_of(id, "NB"), 1, 30, "");
    r = get(id);
    ck_assert_uint_eq(REL(r)->current_wave, 2);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    rel_free(r);
    /* NB (wave 1) fails now: the release pauses, naming wave 1 */
    report(1, task_of(id, "NB"), 2, 110, "E_DOWNLOAD_FAILED");
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    ck_assert_str_eq(REL(r)->paused_reason,
                     "wave 1: 1 of 2 task(s) failed, above the error threshold 0% (after "
                     "the next wave started)");
    rel_free(r);
    ck_assert_int_eq(
        hh_count(&H, "audit_log", "actor_token_id = 'ferryd' AND detail LIKE '%wave 1: 1 of 2%'"), 1);

    /* Resume acknowledges it; wave 2's own success then goes on without a new pause */
    resume(id);
    ck_assert_int_eq(hh_query_int(&H,
                                  "SELECT failures_acked FROM release_wave WHERE number = 1 AND release_id = "
                                  "(SELECT max(id) FROM release)"),
                     1);
    succeed(2, task_of(id, "NC"));
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_ACTIVE);
    ck_assert_str_eq(REL(r)->paused_reason, "");
    rel_free(r);
    /* ... and a new failure in wave 2 pauses again, naming wave 2 */
    report(3, task_of(id, "ND"), 1, 110, "E_DOWNLOAD_FAILED");
    r = get(id);
    ck_assert_int_eq(REL(r)->state, FERRY__V1__RELEASE_STATE__RELEASE_STATE_PAUSED);
    ck_assert_str_eq(REL(r)->paused_reason, "wave 2: 1 of 2 task(s) failed, above the error threshold 0%");
    rel_free(r);
    ck_assert_int_eq(hh_count(&H, "audit_log", "actor_token_id = 'ferryd'"), 2);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("hub_waves");
    TCase *tc = tcase_create("waves");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bad_input_changes_nothing);
    tcase_add_test(tc, error_count_threshold_and_resume);
    tcase_add_test(tc, success_percent_starts_next_wave);
    tcase_add_test(tc, late_failure_of_an_earlier_wave_pauses);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
