/*
 * Tree writes through the handler frame (hub_frame.h: HUB_FRAME_WRITE | HUB_FRAME_AUDIT)
 * on a real SQLite file, the way CreateStore runs them: a body that succeeds commits its
 * rows with an "ok" audit row in the same transaction; a body that fails after writing
 * (a disabled customer, a duplicate code) leaves none of its rows, and one failure row
 * carrying the E_* name and the target is written after the rollback.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"
#include "hub_frame.h"

static store_fixture_t F;
static ferry_store_t *st;

static void text(const char *sql, char *out, size_t size)
{
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    ck_assert_int_eq(sqlite3_prepare_v2(ferry_store_sqlite(st), sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static void setup(void)
{
    st = sf_open(&F, "treeframe");
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

/* What the test body creates: a customer (unless it exists), then a store under it. */
typedef struct create_req {
    const char *customer, *store;
    bool disable_customer_first; /* written, then refused: the rollback must take it back */
} create_req_t;

static ferry_err_code_t create_body(hub_frame_t *f, const void *vreq, void *resp, ferry_err_t *err)
{
    const create_req_t *req = vreq;
    ferry_store_tree_change_t off = {NULL, 1, 0, 2000};
    int64_t cid = 0;
    bool disabled = false;
    ferry_err_code_t rc;

    (void)resp;
    hub_frame_target(f, "store:%s,customer:%s", req->store, req->customer);
    if (ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, req->customer, &cid, &disabled, err) !=
            FERRY_OK &&
        ((rc = ferry_store_customer_insert(f->store, req->customer, req->customer, 1000, err)) != FERRY_OK ||
         (rc = ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, req->customer, &cid, &disabled, err)) !=
             FERRY_OK))
        return rc;
    if (req->disable_customer_first &&
        ((rc = ferry_store_tree_update(f->store, FERRY_STORE_CUSTOMER, cid, &off, err)) != FERRY_OK ||
         (rc = ferry_store_tree_id(f->store, FERRY_STORE_CUSTOMER, req->customer, &cid, &disabled, err)) !=
             FERRY_OK))
        return rc;
    if (disabled)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "customer '%s' is disabled", req->customer);
    return ferry_store_store_insert(f->store, cid, req->store, req->store, 1000, err);
}

static const hub_method_t create_method = {"create_store",
                                           HUB_FRAME_WRITE | HUB_FRAME_AUDIT,
                                           &ferry__v1__create_store_response__descriptor,
                                           create_body,
                                           NULL,
                                           NULL};

static ferry_err_code_t run(const create_req_t *req, ferry_err_t *err)
{
    hub_frame_t f;
    Ferry__V1__CreateStoreResponse resp = FERRY__V1__CREATE_STORE_RESPONSE__INIT;
    ferry_err_code_t rc;

    hub_frame_init(&f, NULL, st);
    snprintf(f.actor.token_id, sizeof(f.actor.token_id), "fya_0123456789abcdef");
    snprintf(f.actor.method, sizeof(f.actor.method), "ferry.v1.AdminService/CreateStore");
    snprintf(f.actor.request_id, sizeof(f.actor.request_id), "req-1");
    f.actor.role = FERRY__V1__ROLE__ROLE_SYSADMIN;
    rc = hub_frame_exec(&f, &create_method, req, &resp, err);
    hub_frame_clear(&f);
    return rc;
}

START_TEST(success_commits_rows_with_their_audit_row)
{
    ferry_err_t e = {0};
    create_req_t req = {"ACME", "S1", false};
    char buf[256];

    ck_assert_int_eq(run(&req, &e), FERRY_OK);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM customer WHERE code = 'ACME'"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM store WHERE code = 'S1'"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM audit_log"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT outcome FROM audit_log"),
                     FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS);
    text("SELECT target FROM audit_log", buf, sizeof(buf));
    ck_assert_str_eq(buf, "store:S1,customer:ACME");
    ck_assert(!ferry_store_in_tx(st));
}
END_TEST

START_TEST(failure_rolls_back_everything_and_records_the_refusal)
{
    ferry_err_t e = {0};
    create_req_t req = {"BETA", "S2", true};
    char buf[256];

    /* customer inserted and disabled, then the store refused: nothing of it stays */
    ck_assert_int_eq(run(&req, &e), FERRY_E_PRECONDITION);
    ck_assert_str_eq(e.msg, "customer 'BETA' is disabled");
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM customer"), 0);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM store"), 0);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM audit_log"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT outcome FROM audit_log"),
                     FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE);
    text("SELECT error_code FROM audit_log", buf, sizeof(buf));
    ck_assert_str_eq(buf, "E_PRECONDITION");
    text("SELECT target FROM audit_log", buf, sizeof(buf));
    ck_assert_str_eq(buf, "store:S2,customer:BETA");
    ck_assert(!ferry_store_in_tx(st));

    /* a duplicate store code: E_EXISTS, the new customer rolled back too */
    req = (create_req_t){"ACME", "S1", false};
    ck_assert_int_eq(run(&req, &e), FERRY_OK);
    req = (create_req_t){"GAMMA", "S1", false};
    ck_assert_int_eq(run(&req, &e), FERRY_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(e.msg, "store 'S1' already exists"));
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM customer WHERE code = 'GAMMA'"), 0);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM store"), 1);
    ck_assert_int_eq(sf_scalar(st, "SELECT count(*) FROM audit_log WHERE error_code = 'E_EXISTS'"), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_tree_frame");
    TCase *tc = tcase_create("frame");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, success_commits_rows_with_their_audit_row);
    tcase_add_test(tc, failure_rolls_back_everything_and_records_the_refusal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
