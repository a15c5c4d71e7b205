/*
 * Fleet management over real RPC (hub_harness: a real ferryd hub on loopback, a real
 * SQLite file): licences delivered signed and verifiable, grace and expiry, node status
 * transitions recorded once, maintenance holding tasks, configuration templates
 * rendered per node and the agents' results.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/encoding.h"
#include "ferry/fleet.h"
#include "ferry/hash.h"
#include "ferry/sign.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_agent.h"
#include "hub_harness.h"

#define PROD      FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD
#define DAY_S     86400LL
#define LIC_TRIAL FERRY__V1__LICENSE_TYPE__LICENSE_TYPE_TRIAL

static hh_t H;
static char TOK1[HH_TOKEN_MAX], TOK2[HH_TOKEN_MAX];

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void sql_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(H.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        ck_abort_msg("sql '%s': %s", sql, msg);
    sqlite3_close(db);
}

static void setup(void)
{
    hh_options_t o = {0};
    o.poll_interval_s = 1;
    o.offline_after_s = 2;
    o.keepalive_s = 1;
    ck_assert_int_eq(hh_start(&H, &o), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "N1", PROD, TOK1, sizeof(TOK1)), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "N2", PROD, TOK2, sizeof(TOK2)), 0);
}

static void teardown(void)
{
    hh_stop(&H);
}

/* CreateLicense for |node| ending |end_s| (unix s); returns the RPC code, id in |id|. */
static ferry_rpc_code_t create_license(const char *node, int64_t start_s, int64_t end_s, char *id,
                                       size_t size, ferry_rpc_status_t *st)
{
    Ferry__V1__CreateLicenseRequest req = FERRY__V1__CREATE_LICENSE_REQUEST__INIT;
    Ferry__V1__CreateLicenseResponse *resp = NULL;
    Google__Protobuf__Timestamp s = GOOGLE__PROTOBUF__TIMESTAMP__INIT, e = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    char *features[] = {(char *)"crm", (char *)"erp"};
    req.node_code = (char *)node;
    req.type = LIC_TRIAL;
    s.seconds = start_s;
    e.seconds = end_s;
    req.starts_at = &s;
    req.ends_at = &e;
    req.max_users = 10;
    req.max_companies = 2;
    req.features = features;
    req.n_features = 2;
    ferry_rpc_code_t rc = ferry_v1_admin_service_create_license(H.admin, &req, &resp, NULL, st);
    if (resp != NULL) {
        snprintf(id, size, "%s", resp->license->id);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

static Ferry__V1__CheckInResponse *check_in(ferry_rpc_client_t *c, const char *sha)
{
    Ferry__V1__CheckInRequest req = FERRY__V1__CHECK_IN_REQUEST__INIT;
    Ferry__V1__CheckInResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.license_sha256 = (char *)sha;
    ck_assert_int_eq(ferry_v1_agent_service_check_in(c, &req, &resp, NULL, &st), FERRY_RPC_OK);
    return resp;
}

/* The pinned key, as an agent gets it at Bind. */
static void bind_key(ferry_rpc_client_t *c, const char *code, uint8_t pub[32])
{
    Ferry__V1__BindRequest req = FERRY__V1__BIND_REQUEST__INIT;
    Ferry__V1__BindResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.node_code = (char *)code;
    req.environment = PROD;
    req.token = (char *)(strcmp(code, "N1") == 0 ? TOK1 : TOK2);
    ck_assert_int_eq(ferry_v1_agent_service_bind(c, &req, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_ge(resp->n_signing_keys, 1);
    ck_assert_uint_eq(resp->signing_keys[0]->public_key.len, 32);
    memcpy(pub, resp->signing_keys[0]->public_key.data, 32);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void doc_sha(const Ferry__V1__SignedLicense *sl, char hex[65])
{
    ferry_sha256_hex(sl->document.data, sl->document.len, hex);
}

START_TEST(licence_signed_delivered_once_and_tamper_evident)
{
    ferry_rpc_client_t *n1 = hh_client(&H, TOK1);
    ferry_rpc_status_t st = {0};
    uint8_t pub[32];
    char id[32], sha[65], sha2[65];
    ferry_err_t err = {0};

    bind_key(n1, "N1", pub);
    /* no licence: nothing delivered */
    Ferry__V1__CheckInResponse *r = check_in(n1, "");
    ck_assert_ptr_null(r->license);
    ck_assert_ptr_null(r->signed_license);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    ck_assert_int_eq(create_license("N1", now_s() - DAY_S, now_s() + 100 * DAY_S, id, sizeof(id), &st),
                     FERRY_RPC_OK);
    r = check_in(n1, "");
    ck_assert_ptr_nonnull(r->license);
    ck_assert_ptr_nonnull(r->signed_license);
    ck_assert_int_eq(r->license->status, FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE);
    const Ferry__V1__SignedLicense *sl = r->signed_license;
    ck_assert_uint_eq(sl->signature.len, FERRY_ED25519_SIG_LEN);
    ck_assert_int_eq(ferry_sign_verify(pub, sl->document.data, sl->document.len, sl->signature.data, &err),
                     FERRY_OK);
    Ferry__V1__LicenseDocument *d =
        ferry__v1__license_document__unpack(NULL, sl->document.len, sl->document.data);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->node_code, "N1");
    ck_assert_str_eq(d->customer_code, "ACME");
    ck_assert_str_eq(d->license_key, r->license->license_key);
    ck_assert_uint_eq(d->n_features, 2);
    ck_assert_str_eq(d->features[1], "erp");
    ck_assert_uint_eq(d->max_users, 10);
    ck_assert_uint_eq(d->revision, 1);
    ck_assert_int_eq(d->offline_grace->seconds, 7 * DAY_S); /* the server default */
    protobuf_c_message_free_unpacked(&d->base, NULL);
    /* tampered: one byte of the document flipped -> the signature no longer holds */
    uint8_t *copy = malloc(sl->document.len);
    memcpy(copy, sl->document.data, sl->document.len);
    copy[sl->document.len / 2] ^= 0x01;
    ck_assert_int_eq(ferry_sign_verify(pub, copy, sl->document.len, sl->signature.data, &err),
                     FERRY_E_SIGNATURE_INVALID);
    free(copy);
    doc_sha(sl, sha);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* the agent holds it: not sent again (the idle path answers from memory) */
    r = check_in(n1, sha);
    ck_assert_ptr_null(r->signed_license);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* N2 is not covered by N1's licence */
    ferry_rpc_client_t *n2 = hh_client(&H, TOK2);
    r = check_in(n2, "");
    ck_assert_ptr_null(r->license);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* renew: a new revision reaches the node */
    Ferry__V1__UpdateLicenseRequest u = FERRY__V1__UPDATE_LICENSE_REQUEST__INIT;
    Ferry__V1__UpdateLicenseResponse *ur = NULL;
    Google__Protobuf__Timestamp end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    end.seconds = now_s() + 400 * DAY_S;
    u.id = id;
    u.ends_at = &end;
    ck_assert_int_eq(ferry_v1_admin_service_update_license(H.admin, &u, &ur, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(ur->license->revision, 2);
    protobuf_c_message_free_unpacked(&ur->base, NULL);
    r = check_in(n1, sha);
    ck_assert_ptr_nonnull(r->signed_license);
    doc_sha(r->signed_license, sha2);
    ck_assert_str_ne(sha, sha2);
    d = ferry__v1__license_document__unpack(NULL, r->signed_license->document.len,
                                            r->signed_license->document.data);
    ck_assert_int_eq(d->ends_at->seconds, end.seconds);
    ck_assert_uint_eq(d->revision, 2);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* GetLicenseStatus */
    Ferry__V1__GetLicenseStatusRequest g = FERRY__V1__GET_LICENSE_STATUS_REQUEST__INIT;
    Ferry__V1__GetLicenseStatusResponse *gr = NULL;
    ck_assert_int_eq(ferry_v1_agent_service_get_license_status(n1, &g, &gr, NULL, &st), FERRY_RPC_OK);
    ck_assert(gr->valid);
    ck_assert_ptr_nonnull(gr->signed_license);
    ck_assert_int_gt(gr->remaining->seconds, 399 * DAY_S);
    protobuf_c_message_free_unpacked(&gr->base, NULL);

    /* revoke: delivered, status REVOKED, no longer valid; audited */
    Ferry__V1__RevokeLicenseRequest rv = FERRY__V1__REVOKE_LICENSE_REQUEST__INIT;
    Ferry__V1__RevokeLicenseResponse *rvr = NULL;
    rv.id = id;
    rv.reason = (char *)"contract ended";
    ck_assert_int_eq(ferry_v1_admin_service_revoke_license(H.admin, &rv, &rvr, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(rvr->license->status, FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED);
    protobuf_c_message_free_unpacked(&rvr->base, NULL);
    r = check_in(n1, sha2);
    ck_assert_ptr_nonnull(r->signed_license);
    ck_assert_int_eq(r->license->status, FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(ferry_v1_agent_service_get_license_status(n1, &g, &gr, NULL, &st), FERRY_RPC_OK);
    ck_assert(!gr->valid);
    protobuf_c_message_free_unpacked(&gr->base, NULL);
    ck_assert_int_eq(hh_count(&H, "audit_target", "kind = 'license'"), 3);
    /* a revoked licence cannot be renewed: refused, unchanged */
    ck_assert_int_eq(ferry_v1_admin_service_update_license(H.admin, &u, &ur, NULL, &st),
                     FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_int_eq(hh_query_int(&H, "SELECT revision FROM license"), 3);
    ferry_rpc_client_free(n1);
    ferry_rpc_client_free(n2);
}
END_TEST

START_TEST(licence_refusals_change_nothing)
{
    ferry_rpc_status_t st = {0};
    char id[32];
    ck_assert_int_eq(create_license("NOPE", now_s(), now_s() + DAY_S, id, sizeof(id), &st),
                     FERRY_RPC_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(st.message, "NOPE"));
    ck_assert_str_eq(st.app_code, "E_NOT_FOUND");
    ck_assert_int_eq(create_license("N1", now_s(), now_s() - DAY_S, id, sizeof(id), &st),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "ends_at"));
    ck_assert_int_eq(hh_count(&H, "license", NULL), 0);
    /* an implementer may not create licences */
    char itok[HH_TOKEN_MAX];
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);
    ferry_rpc_client_t *impl = hh_client(&H, itok);
    Ferry__V1__CreateLicenseRequest req = FERRY__V1__CREATE_LICENSE_REQUEST__INIT;
    Ferry__V1__CreateLicenseResponse *resp = NULL;
    req.node_code = (char *)"N1";
    ck_assert_int_eq(ferry_v1_admin_service_create_license(impl, &req, &resp, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    ck_assert_int_eq(hh_count(&H, "license", NULL), 0);
    ferry_rpc_client_free(impl);
}
END_TEST

/* ListLicenses status filter and reminder threshold. */
static size_t list_count(int status, int64_t ends_before_s, bool *any_expiring)
{
    Ferry__V1__ListLicensesRequest req = FERRY__V1__LIST_LICENSES_REQUEST__INIT;
    Ferry__V1__ListLicensesResponse *resp = NULL;
    Google__Protobuf__Timestamp b = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ferry_rpc_status_t st = {0};
    req.status = (Ferry__V1__LicenseStatus)status;
    if (ends_before_s > 0) {
        b.seconds = ends_before_s;
        req.ends_before = &b;
    }
    ck_assert_int_eq(ferry_v1_admin_service_list_licenses(H.admin, &req, &resp, NULL, &st), FERRY_RPC_OK);
    size_t n = resp->n_licenses;
    if (any_expiring != NULL) {
        *any_expiring = false;
        for (size_t i = 0; i < n; i++)
            *any_expiring = *any_expiring || resp->licenses[i]->expiring;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return n;
}

START_TEST(grace_then_expired_and_reminders)
{
    ferry_rpc_status_t st = {0};
    char id1[32], id2[32];
    bool expiring = false;
    ferry_err_t err = {0};

    /* N1 ended yesterday: GRACE (default 7 days), still valid; N2 ended 8 days ago: EXPIRED */
    ck_assert_int_eq(create_license("N1", now_s() - 30 * DAY_S, now_s() - DAY_S, id1, sizeof(id1), &st),
                     FERRY_RPC_OK);
    ck_assert_int_eq(create_license("N2", now_s() - 30 * DAY_S, now_s() - 8 * DAY_S, id2, sizeof(id2), &st),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(list_count(FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE, 0, NULL), 1);
    ck_assert_uint_eq(list_count(FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED, 0, NULL), 1);
    ferry_rpc_client_t *n1 = hh_client(&H, TOK1), *n2 = hh_client(&H, TOK2);
    Ferry__V1__GetLicenseStatusRequest g = FERRY__V1__GET_LICENSE_STATUS_REQUEST__INIT;
    Ferry__V1__GetLicenseStatusResponse *gr = NULL;
    ck_assert_int_eq(ferry_v1_agent_service_get_license_status(n1, &g, &gr, NULL, &st), FERRY_RPC_OK);
    ck_assert(gr->valid);
    ck_assert_int_eq(gr->license->status, FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE);
    ck_assert_int_eq(gr->remaining->seconds, 0);
    protobuf_c_message_free_unpacked(&gr->base, NULL);
    ck_assert_int_eq(ferry_v1_agent_service_get_license_status(n2, &g, &gr, NULL, &st), FERRY_RPC_OK);
    ck_assert(!gr->valid);
    ck_assert_int_eq(gr->license->status, FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED);
    protobuf_c_message_free_unpacked(&gr->base, NULL);

    /* node status: N2 EXPIRED (recorded once), N1 not */
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_query_int(&H, "SELECT ns.status FROM node_status ns JOIN node n ON n.id = ns.node_id "
                                      "WHERE n.code = 'N2'"),
                     FERRY__V1__NODE_STATUS__NODE_STATUS_EXPIRED);
    ck_assert_int_eq(hh_count(&H, "node_event", "to_status = 4"), 1);
    ck_assert_int_eq(hh_count(&H, "node_status", "status = 4"), 1);

    /* reminders: a licence ending in 29 days is expiring (window 30), one in 31 is not */
    Ferry__V1__RevokeLicenseRequest rv = FERRY__V1__REVOKE_LICENSE_REQUEST__INIT;
    Ferry__V1__RevokeLicenseResponse *rvr = NULL;
    rv.id = id1;
    ck_assert_int_eq(ferry_v1_admin_service_revoke_license(H.admin, &rv, &rvr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&rvr->base, NULL);
    ck_assert_int_eq(create_license("N1", now_s(), now_s() + 31 * DAY_S, id1, sizeof(id1), &st),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(list_count(FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE, 0, &expiring), 1);
    ck_assert(!expiring);
    ck_assert_int_eq(create_license("N1", now_s(), now_s() + 29 * DAY_S, id1, sizeof(id1), &st),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(
        list_count(FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE, now_s() + 30 * DAY_S, &expiring), 1);
    ck_assert(expiring);
    /* renewing N2 releases the node from EXPIRED */
    Ferry__V1__UpdateLicenseRequest u = FERRY__V1__UPDATE_LICENSE_REQUEST__INIT;
    Ferry__V1__UpdateLicenseResponse *ur = NULL;
    Google__Protobuf__Timestamp end = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    end.seconds = now_s() + 365 * DAY_S;
    u.id = id2;
    u.ends_at = &end;
    ck_assert_int_eq(ferry_v1_admin_service_update_license(H.admin, &u, &ur, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&ur->base, NULL);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node_status", "status = 4"), 0);
    ck_assert_int_eq(hh_count(&H, "node_event", "from_status = 4 AND to_status = 2"), 1);
    ferry_rpc_client_free(n1);
    ferry_rpc_client_free(n2);
}
END_TEST

/* Creates package + release + one PENDING task for |node_code| and publishes the offer
 * (as releases.c does), returning the task id. */
static int64_t make_task(const char *node_code)
{
    static int seq = 0;
    char sql[2048];
    int v = ++seq;
    int64_t t = now_s() * 1000;
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
    sql_exec(sql);
    int64_t id = hh_query_int(&H, "SELECT max(id) FROM update_task");
    hub_task_event_t ev = {0};
    char q[256];
    ev.task_id = id;
    ev.release_id = hh_query_int(&H, "SELECT max(id) FROM release");
    snprintf(q, sizeof(q), "SELECT id FROM node WHERE code = '%s'", node_code);
    ev.node_id = hh_query_int(&H, q);
    ev.state = 10;
    ev.new_assignment = 1;
    hub_bus_publish(H.hub, &ev);
    return id;
}

static Ferry__V1__SetNodeMaintenanceResponse *maintenance(const char *node, bool on, const char *reason,
                                                          ferry_rpc_code_t want)
{
    Ferry__V1__SetNodeMaintenanceRequest req = FERRY__V1__SET_NODE_MAINTENANCE_REQUEST__INIT;
    Ferry__V1__SetNodeMaintenanceResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.node_code = (char *)node;
    req.maintenance = on;
    req.reason = (char *)reason;
    ck_assert_int_eq(ferry_v1_admin_service_set_node_maintenance(H.admin, &req, &resp, NULL, &st), want);
    return resp;
}

START_TEST(maintenance_holds_tasks_until_released)
{
    ferry_rpc_client_t *n1 = hh_client(&H, TOK1), *n2 = hh_client(&H, TOK2);
    Ferry__V1__CheckInResponse *r;

    Ferry__V1__SetNodeMaintenanceResponse *m = maintenance("N1", true, "disk swap", FERRY_RPC_OK);
    ck_assert_int_eq(m->status->status, FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE);
    ck_assert(m->status->maintenance);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    ck_assert_int_eq(hh_count(&H, "node_event", "to_status = 3 AND reason = 'disk swap' AND actor <> ''"), 1);
    ck_assert_int_eq(hh_count(&H, "audit_target", "kind = 'node' AND target_id = 'N1'"),
                     2); /* create + this */

    int64_t t1 = make_task("N1"), t2 = make_task("N2");
    r = check_in(n1, "");
    ck_assert_uint_eq(r->n_assignments, 0); /* not started on a node in maintenance */
    ck_assert_uint_eq(r->n_halted_task_ids, 1);
    ck_assert_int_eq(atoll(r->halted_task_ids[0]), t1);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = check_in(n2, "");
    ck_assert_uint_eq(r->n_assignments, 1); /* other nodes unaffected */
    ck_assert_int_eq(atoll(r->assignments[0]->task->id), t2);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* a bad node code: refused, named, nothing recorded */
    long ev0 = hh_count(&H, "node_event", NULL);
    ck_assert_ptr_null(maintenance("NOPE", true, "", FERRY_RPC_NOT_FOUND)); /* a refusal has no body */
    ck_assert_int_eq(hh_count(&H, "node_event", NULL), ev0);

    m = maintenance("N1", false, "", FERRY_RPC_OK);
    ck_assert_int_ne(m->status->status, FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    r = check_in(n1, "");
    ck_assert_uint_eq(r->n_assignments, 1); /* released: offered again */
    ck_assert_int_eq(atoll(r->assignments[0]->task->id), t1);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* history, newest first */
    Ferry__V1__ListNodeEventsRequest lr = FERRY__V1__LIST_NODE_EVENTS_REQUEST__INIT;
    Ferry__V1__ListNodeEventsResponse *le = NULL;
    ferry_rpc_status_t st = {0};
    lr.node_code = (char *)"N1";
    ck_assert_int_eq(ferry_v1_admin_service_list_node_events(H.admin, &lr, &le, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_ge(le->n_events, 2);
    ck_assert_int_eq(le->events[le->n_events - 1]->to_status,
                     FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE);
    ck_assert_int_eq(le->events[le->n_events - 2]->from_status,
                     FERRY__V1__NODE_STATUS__NODE_STATUS_MAINTENANCE);
    protobuf_c_message_free_unpacked(&le->base, NULL);
    ferry_rpc_client_free(n1);
    ferry_rpc_client_free(n2);
}
END_TEST

static size_t statuses(int status)
{
    Ferry__V1__ListNodeStatusesRequest req = FERRY__V1__LIST_NODE_STATUSES_REQUEST__INIT;
    Ferry__V1__ListNodeStatusesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.status = (Ferry__V1__NodeStatus)status;
    ck_assert_int_eq(ferry_v1_admin_service_list_node_statuses(H.admin, &req, &resp, NULL, &st),
                     FERRY_RPC_OK);
    size_t n = resp->n_nodes;
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return n;
}

START_TEST(status_transitions_recorded_once)
{
    ferry_rpc_client_t *n2 = hh_client(&H, TOK2);
    ferry_err_t err = {0};

    ck_assert_uint_eq(statuses(FERRY__V1__NODE_STATUS__NODE_STATUS_OFFLINE), 2);
    ck_assert_int_eq(hh_count(&H, "node_status", NULL), 0); /* a fresh fleet writes nothing */
    /* 50 heartbeats: one transition, one row */
    for (int i = 0; i < 50; i++)
        protobuf_c_message_free_unpacked(&check_in(n2, "")->base, NULL);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node_event", NULL), 1);
    ck_assert_int_eq(hh_count(&H, "node_event", "from_status = 2 AND to_status = 1 AND reason = 'check-in'"),
                     1);
    ck_assert_uint_eq(statuses(FERRY__V1__NODE_STATUS__NODE_STATUS_ONLINE), 1);
    ck_assert_uint_eq(statuses(FERRY__V1__NODE_STATUS__NODE_STATUS_OFFLINE), 1);
    /* silent past the overdue time (2 s): OFFLINE, dated at last sign of life + 2 s */
    int64_t last = hh_query_int(&H, "SELECT at FROM node_event");
    sleep(3);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node_event", "to_status = 2"), 1);
    long long off_at = hh_query_int(&H, "SELECT at FROM node_event WHERE to_status = 2");
    ck_assert_int_ge(off_at, last + 2000);
    ck_assert_int_le(off_at, last + 2000 + 1500);
    ck_assert_uint_eq(statuses(FERRY__V1__NODE_STATUS__NODE_STATUS_ONLINE), 0);
    /* the sweep thread does it alone too: back online within a sweep period */
    ferry_fleet_config_t c = {0};
    c.sweep_ms = 100;
    ferry_hub_set_fleet_config(H.hub, &c);
    protobuf_c_message_free_unpacked(&check_in(n2, "")->base, NULL);
    for (int i = 0; i < 50 && hh_count(&H, "node_event", NULL) < 3; i++)
        usleep(50000);
    ck_assert_int_eq(hh_count(&H, "node_event", "to_status = 1"), 2);
    ferry_rpc_client_free(n2);
}
END_TEST

/* ---- WatchAssignments pushes licence and configuration changes at once ------------------ */

typedef struct wctx {
    ferry_rpc_client_t *c;
    volatile int cancel;
    atomic_int licences, configs;
    char last_rendered[512];
    pthread_mutex_t mu;
} wctx_t;

static int on_wa(Ferry__V1__WatchAssignmentsResponse *m, void *user)
{
    wctx_t *w = user;
    if (m->event_case == FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_LICENSE) {
        atomic_fetch_add(&w->licences, 1);
    } else if (m->event_case == FERRY__V1__WATCH_ASSIGNMENTS_RESPONSE__EVENT_CONFIG_ASSIGNMENT) {
        pthread_mutex_lock(&w->mu);
        snprintf(w->last_rendered, sizeof(w->last_rendered), "%s", m->config_assignment->rendered);
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_add(&w->configs, 1);
    }
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return 0;
}

static void *wa_thread(void *arg)
{
    wctx_t *w = arg;
    Ferry__V1__WatchAssignmentsRequest req = FERRY__V1__WATCH_ASSIGNMENTS_REQUEST__INIT;
    ferry_rpc_call_opts_t opts = {0};
    opts.timeout_ms = 60000;
    opts.cancel = &w->cancel;
    ferry_v1_agent_service_watch_assignments(w->c, &req, on_wa, w, &opts, NULL);
    return NULL;
}

static int wait_for(atomic_int *v, int at_least, int ms)
{
    for (int i = 0; i < ms / 10 && atomic_load(v) < at_least; i++)
        usleep(10000);
    return atomic_load(v) >= at_least;
}

START_TEST(stream_pushes_licence_and_config)
{
    wctx_t w;
    pthread_t th;
    ferry_rpc_status_t st = {0};
    char id[32];
    memset(&w, 0, sizeof(w));
    pthread_mutex_init(&w.mu, NULL);
    w.c = hh_client(&H, TOK1);
    pthread_create(&th, NULL, wa_thread, &w);
    usleep(300000); /* the stream is up (its first keep-alive) */

    int64_t t0 = now_s();
    ck_assert_int_eq(create_license("N1", now_s(), now_s() + 100 * DAY_S, id, sizeof(id), &st), FERRY_RPC_OK);
    ck_assert(wait_for(&w.licences, 1, 2000));

    Ferry__V1__PutConfigTemplateRequest put = FERRY__V1__PUT_CONFIG_TEMPLATE_REQUEST__INIT;
    Ferry__V1__PutConfigTemplateResponse *pr = NULL;
    put.name = (char *)"app";
    put.type = FERRY__V1__CONFIG_TYPE__CONFIG_TYPE_SERVER;
    put.format = FERRY__V1__CONFIG_FORMAT__CONFIG_FORMAT_INI;
    put.data_json =
        (char *)"{\"top\": \"${customer.code}\", \"main\": {\"node\": \"${node.code}\", \"port\": 80}}";
    put.target_path = (char *)"conf/app.ini";
    ck_assert_int_eq(ferry_v1_admin_service_put_config_template(H.admin, &put, &pr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&pr->base, NULL);
    Ferry__V1__AssignConfigRequest as = FERRY__V1__ASSIGN_CONFIG_REQUEST__INIT;
    Ferry__V1__ReleaseScope scope = FERRY__V1__RELEASE_SCOPE__INIT;
    Ferry__V1__AssignConfigResponse *ar = NULL;
    char *stores[] = {(char *)"S1"};
    scope.customer_code = (char *)"ACME";
    scope.store_codes = stores;
    scope.n_store_codes = 1;
    as.template_name = (char *)"app";
    as.scope = &scope;
    ck_assert_int_eq(ferry_v1_admin_service_assign_config(H.admin, &as, &ar, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(ar->n_assignments, 2);
    protobuf_c_message_free_unpacked(&ar->base, NULL);
    ck_assert(wait_for(&w.configs, 1, 2000));
    ck_assert_int_le(now_s() - t0, 3);
    pthread_mutex_lock(&w.mu);
    ck_assert_str_eq(w.last_rendered, "top=ACME\n\n[main]\nnode=N1\nport=80\n");
    pthread_mutex_unlock(&w.mu);
    w.cancel = 1;
    pthread_join(th, NULL);
    ferry_rpc_client_free(w.c);
    pthread_mutex_destroy(&w.mu);
}
END_TEST

START_TEST(server_backups_over_rpc)
{
    Ferry__V1__CreateServerBackupRequest req = FERRY__V1__CREATE_SERVER_BACKUP_REQUEST__INIT;
    Ferry__V1__CreateServerBackupResponse *r1 = NULL, *r2 = NULL;
    Ferry__V1__ListServerBackupsRequest lr = FERRY__V1__LIST_SERVER_BACKUPS_REQUEST__INIT;
    Ferry__V1__ListServerBackupsResponse *l = NULL;
    ferry_rpc_status_t st = {0};
    struct stat sb;
    char r1_id[64];

    req.include_blobs = true;
    ck_assert_int_eq(ferry_v1_admin_service_create_server_backup(H.admin, &req, &r1, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_uint_eq(strlen(r1->backup->sha256), 64);
    ck_assert(r1->backup->includes_blobs);
    ck_assert_int_eq(stat(r1->backup->path, &sb), 0);
    ck_assert_uint_eq((uint64_t)sb.st_size, r1->backup->size);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    req.include_blobs = false;
    ck_assert_int_eq(ferry_v1_admin_service_create_server_backup(H.admin, &req, &r2, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_str_ne(r1->backup->id, r2->backup->id);
    snprintf(r1_id, sizeof(r1_id), "%s", r1->backup->id);
    ck_assert_int_eq(ferry_v1_admin_service_list_server_backups(H.admin, &lr, &l, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(l->n_backups, 2);
    ck_assert_str_eq(l->backups[0]->id, r2->backup->id); /* newest first */
    ck_assert(!l->backups[0]->includes_blobs);
    ck_assert_int_eq(hh_count(&H, "audit_target", "kind = 'server_backup'"), 2);
    protobuf_c_message_free_unpacked(&l->base, NULL);
    /* an implementer may not */
    char itok[HH_TOKEN_MAX];
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);
    ferry_rpc_client_t *impl = hh_client(&H, itok);
    Ferry__V1__CreateServerBackupResponse *r3 = NULL;
    ck_assert_int_eq(ferry_v1_admin_service_create_server_backup(impl, &req, &r3, NULL, &st),
                     FERRY_RPC_PERMISSION_DENIED);
    ferry_rpc_client_free(impl);
    protobuf_c_message_free_unpacked(&r1->base, NULL);
    protobuf_c_message_free_unpacked(&r2->base, NULL);

    /* scheduled: every second, keep 3 (the two above count): the oldest go */
    ferry_fleet_config_t c = {0};
    c.backup_every_s = 1;
    c.backup_keep = 3;
    ferry_hub_set_fleet_config(H.hub, &c);
    sleep(4);
    c.backup_every_s = 0;
    ferry_hub_set_fleet_config(H.hub, &c);
    ck_assert_int_eq(ferry_v1_admin_service_list_server_backups(H.admin, &lr, &l, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(l->n_backups, 3);
    for (size_t i = 0; i < l->n_backups; i++)
        ck_assert_str_ne(l->backups[i]->id, r1_id);
    protobuf_c_message_free_unpacked(&l->base, NULL);
}
END_TEST

START_TEST(mass_transitions_in_one_sweep)
{
    ferry_err_t err = {0};
    char sql[512];
    /* 1,300 more nodes straight into the database (the sweep learns new nodes itself) */
    snprintf(
        sql, sizeof(sql),
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 1300) "
        "INSERT INTO node (store_id, code, environment, token_id, token_hash, token_issued_at, created_at, "
        "updated_at) SELECT (SELECT id FROM store WHERE code = 'S1'), 'M' || i, 4, 'fyn_m' || i, "
        "randomblob(32), 1, 1, 1 FROM k");
    sql_exec(sql);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err),
                     FERRY_OK); /* loads them: all OFFLINE, nothing written */
    ck_assert_int_eq(hh_count(&H, "node_event", NULL), 0);
    for (long long id = hh_query_int(&H, "SELECT min(id) FROM node WHERE code LIKE 'M%'"),
                   last = hh_query_int(&H, "SELECT max(id) FROM node");
         id <= last; id++)
        hub_presence_touch(H.hub, id, NULL);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node_event", "to_status = 1"), 1300); /* one sweep, several batches */
    ck_assert_int_eq(hh_count(&H, "node_status", "status = 1"), 1300);
    ck_assert_int_eq(ferry_hub_fleet_sweep(H.hub, &err), FERRY_OK);
    ck_assert_int_eq(hh_count(&H, "node_event", NULL), 1300);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fleet");
    TCase *tc = tcase_create("licences");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, licence_signed_delivered_once_and_tamper_evident);
    tcase_add_test(tc, licence_refusals_change_nothing);
    tcase_add_test(tc, grace_then_expired_and_reminders);
    suite_add_tcase(s, tc);
    tc = tcase_create("status");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, maintenance_holds_tasks_until_released);
    tcase_add_test(tc, status_transitions_recorded_once);
    tcase_add_test(tc, stream_pushes_licence_and_config);
    tcase_add_test(tc, server_backups_over_rpc);
    tcase_add_test(tc, mass_transitions_in_one_sweep);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
