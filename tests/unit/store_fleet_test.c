/*
 * The fleet repositories against a real SQLite file: licences (insert, update bumps the
 * revision, the licence in force for a node, effective-status filters), node status
 * transitions (a row per change only), configuration templates (versions) and
 * assignments (supersede, open, result, diff).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/store/configs.h"
#include "ferry/store/licenses.h"
#include "ferry/store/node_events.h"
#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

#define DAY 86400000LL

static store_fixture_t F;
static ferry_store_t *st;
static int64_t cid, n1, n2;

static long long count(const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    ck_assert_int_eq(sqlite3_prepare_v2(ferry_store_sqlite(st), sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

#define TX(expr)                                                                                             \
    do {                                                                                                     \
        ferry_err_t e_ = {0};                                                                                \
        ferry_store_lock(st);                                                                                \
        ck_assert_int_eq(ferry_store_tx_begin(st, &e_), FERRY_OK);                                           \
        ck_assert_msg((expr) == FERRY_OK, "%s: %s", #expr, e_.msg);                                          \
        ck_assert_int_eq(ferry_store_tx_commit(st, &e_), FERRY_OK);                                          \
        ferry_store_unlock(st);                                                                              \
    } while (0)

static void setup(void)
{
    ferry_err_t e = {0};
    int64_t sid = 0;
    bool dis;
    st = sf_open(&F, "fleet");
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "ACME", "Acme", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "ACME", &cid, &dis, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_store_insert(st, cid, "S1", "s", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_STORE, "S1", &sid, &dis, &e), FERRY_OK);
    for (int i = 1; i <= 2; i++) {
        ferry_store_node_new_t n = {0};
        char code[8], tid[40];
        snprintf(code, sizeof(code), "N%d", i);
        snprintf(tid, sizeof(tid), "fyn_%016d", i);
        n.store_id = sid;
        n.code = code;
        n.environment = 4;
        n.name = "node";
        n.token_id = tid;
        n.now = 1000;
        ck_assert_int_eq(ferry_store_node_insert(st, &n, &e), FERRY_OK);
    }
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_NODE, "N1", &n1, &dis, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_NODE, "N2", &n2, &dis, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

static ferry_err_code_t add_licence(int64_t node, const char *key, int64_t ends, int64_t *id, ferry_err_t *e)
{
    const char *feats[] = {"crm"};
    ferry_store_license_new_t l = {key, cid, node, 2, 0, ends, 7 * DAY, 10, 1, feats, 1, 1000, 0};
    return ferry_store_license_insert(st, &l, id, e);
}

START_TEST(licences)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    int64_t wide = 0, bound = 0, dup = 0, now = 100 * DAY;
    Ferry__V1__License *l = NULL;
    ferry_store_license_meta_t m;

    TX(add_licence(0, "FL-AAAAA", now + 30 * DAY, &wide, &e_));
    TX(add_licence(n1, "FL-BBBBB", now - DAY, &bound, &e_));
    /* a duplicate key is refused, nothing stored */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_int_eq(add_licence(n1, "FL-BBBBB", now, &dup, &e), FERRY_E_EXISTS);
    ferry_store_tx_rollback(st);
    ferry_store_unlock(st);
    ck_assert_int_eq(count("SELECT count(*) FROM license"), 2);

    /* N1: its own licence wins over the customer-wide one; N2 gets the customer's */
    ck_assert_int_eq(ferry_store_license_for_node_ro(st, &a, n1, cid, &l, &m, &e), FERRY_OK);
    ck_assert_str_eq(l->license_key, "FL-BBBBB");
    ck_assert_str_eq(l->node_code, "N1");
    ck_assert_int_eq(m.grace_ms, 7 * DAY);
    ck_assert_int_eq(ferry_store_license_for_node_ro(st, &a, n2, cid, &l, &m, &e), FERRY_OK);
    ck_assert_str_eq(l->license_key, "FL-AAAAA");
    ck_assert_str_eq(l->node_code, "");
    /* revoked: only when nothing else exists */
    ferry_store_license_change_t rv = {0};
    rv.has_status = true;
    rv.status = 4;
    TX(ferry_store_license_update(st, bound, &rv, now, &e_));
    ck_assert_int_eq(ferry_store_license_for_node_ro(st, &a, n1, cid, &l, &m, &e), FERRY_OK);
    ck_assert_str_eq(l->license_key, "FL-AAAAA");
    ck_assert_int_eq(count("SELECT revision FROM license WHERE license_key = 'FL-BBBBB'"), 2);

    /* renew: end, features replaced, revision bumped; unknown id refused */
    ferry_store_license_change_t c = {0};
    const char *nf[] = {"wms", "oa"};
    c.has_ends_at = true;
    c.ends_at = now + 400 * DAY;
    c.replace_features = true;
    c.features = nf;
    c.n_features = 2;
    TX(ferry_store_license_update(st, wide, &c, now, &e_));
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_license_get(st, &a, wide, &l, &m, &e), FERRY_OK);
    ck_assert_uint_eq(l->revision, 2);
    ck_assert_uint_eq(l->n_features, 2);
    ck_assert_str_eq(l->features[1], "oa");
    ck_assert_int_eq(ferry_store_license_update(st, 999, &c, now, &e), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_store_license_get(st, &a, 999, &l, &m, &e), FERRY_E_NOT_FOUND);
    ferry_store_unlock(st);

    /* effective-status filters at |now| */
    TX(add_licence(n2, "FL-GRACE", now - 2 * DAY, &dup, &e_));
    TX(add_licence(n2, "FL-EXPIRED", now - 9 * DAY, &dup, &e_));
    ferry_store_page_t p;
    ferry_store_license_filter_t f = {0};
    f.now = now;
    f.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE;
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 1);
    ck_assert_str_eq(((Ferry__V1__License *)p.items[0])->license_key, "FL-GRACE");
    f.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED;
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 1);
    f.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 1); /* FL-AAAAA, renewed */
    f.status = 0;
    f.node_code = "N1"; /* bound to N1 or customer-wide */
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 2);
    f.node_code = NULL;
    f.page_size = 2;
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_str_eq(p.next_page_token, "2");
    f.page_token = "x";
    ck_assert_int_eq(ferry_store_licenses_list_ro(st, &f, &a, &p, &e), FERRY_E_INVALID_ARG);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(node_transitions)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_page_t p;
    ferry_store_node_transition_t t = {n1, 2, 1, 5000, "check-in", "", -1, NULL};
    TX(ferry_store_node_transition(st, &t, &e_));
    /* same status again: the row stays, no event */
    ferry_store_node_transition_t same = {n1, 1, 1, 6000, "check-in", "", -1, NULL};
    TX(ferry_store_node_transition(st, &same, &e_));
    ck_assert_int_eq(count("SELECT count(*) FROM node_event"), 1);
    ck_assert_int_eq(count("SELECT since FROM node_status"), 5000);
    ferry_store_node_transition_t m = {n1, 1, 3, 7000, "disk swap", "fya_1", 1, "disk swap"};
    TX(ferry_store_node_transition(st, &m, &e_));
    ck_assert_int_eq(count("SELECT maintenance FROM node_status"), 1);
    ck_assert_int_eq(ferry_store_node_events_list_ro(st, "N1", "", 0, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_int_eq(((Ferry__V1__NodeEvent *)p.items[0])->to_status, 3);
    ck_assert_str_eq(((Ferry__V1__NodeEvent *)p.items[0])->actor, "fya_1");
    ck_assert_int_eq(ferry_store_node_events_list_ro(st, "NOPE", "", 0, &a, &p, &e), FERRY_E_NOT_FOUND);
    /* status filter: N2 has no row and counts as OFFLINE */
    ferry_store_node_status_filter_t f = {2, "", "", 0};
    ck_assert_int_eq(ferry_store_node_statuses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 1);
    ck_assert_str_eq(((Ferry__V1__NodeStatusInfo *)p.items[0])->node_code, "N2");
    f.status = 3;
    ck_assert_int_eq(ferry_store_node_statuses_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_uint_eq(p.n, 1);
    ck_assert(((Ferry__V1__NodeStatusInfo *)p.items[0])->maintenance);
    ck_assert_str_eq(((Ferry__V1__NodeStatusInfo *)p.items[0])->maintenance_reason, "disk swap");
    ferry_arena_free(&a);
}
END_TEST

static int collect(void *ctx, const ferry_store_config_scope_node_t *n)
{
    int64_t *ids = ctx;
    ids[ids[0] + 1] = n->id;
    ids[0]++;
    return 0;
}

START_TEST(configs)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    uint64_t v = 0;
    int64_t tid = 0, a1 = 0, a2 = 0, a3 = 0, ids[8] = {0};
    Ferry__V1__ConfigTemplate *t = NULL;
    Ferry__V1__ConfigAssignment **open = NULL, *x = NULL;
    Ferry__V1__NodeConfigDiff **d = NULL;
    size_t n = 0;
    ferry_store_config_template_new_t tn = {"app", 1, 1, "{\"p\":1}", "conf/app.json", "", true, 1000, 0};

    TX(ferry_store_config_template_insert(st, &tn, &v, &e_));
    ck_assert_uint_eq(v, 1);
    tn.data_json = "{\"p\":2}";
    TX(ferry_store_config_template_insert(st, &tn, &v, &e_));
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(ferry_store_config_template_get_ro(st, &a, "app", 0, &t, &e), FERRY_OK);
    ck_assert_uint_eq(t->version, 2);
    ck_assert(t->restart_service);
    ck_assert_int_eq(ferry_store_config_template_get_ro(st, &a, "app", 9, &t, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "version 9"));

    /* scope: every node of the customer; a foreign store is refused */
    char *stores[] = {(char *)"S1"}, *bad[] = {(char *)"NOPE"};
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_config_scope(st, "ACME", stores, 1, NULL, 0, 0, collect, ids, &e), FERRY_OK);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ferry_store_config_scope(st, "ACME", bad, 1, NULL, 0, 0, collect, ids, &e),
                     FERRY_E_NOT_FOUND);
    ck_assert_int_eq(ferry_store_config_template_get(st, &a, "app", 1, &t, &tid, &e), FERRY_OK);
    ferry_store_unlock(st);

    ferry_store_config_assignment_new_t an = {n1, tid, "app", "{}", "{\"p\":1}", "sha-1", 2000, 0};
    TX(ferry_store_config_assignment_insert(st, &an, &a1, &e_));
    TX(ferry_store_config_assignment_result(st, a1, 2, "", 2500, &e_));
    an.rendered = "{\"p\":2}";
    an.rendered_sha256 = "sha-2";
    TX(ferry_store_config_assignment_insert(st, &an, &a2, &e_));
    an.rendered_sha256 = "sha-3";
    TX(ferry_store_config_assignment_insert(st, &an, &a3, &e_)); /* supersedes a2 */
    ck_assert_int_eq(ferry_store_config_open_ro(st, &a, n1, &open, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(open[0]->rendered_sha256, "sha-3");
    ck_assert_str_eq(open[0]->template_->target_path, "conf/app.json");
    ck_assert_int_eq(ferry_store_config_assignment_get(st, &a, a1, true, &x, NULL, &e), FERRY_OK);
    ck_assert_int_eq(x->state, 2);
    ck_assert_int_eq(ferry_store_config_diff_ro(st, &a, "N1", "", &d, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(d[0]->applied->rendered_sha256, "sha-1");
    ck_assert_str_eq(d[0]->latest->rendered_sha256, "sha-3");
    ck_assert(d[0]->differs);
    ferry_arena_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_fleet");
    TCase *tc = tcase_create("fleet");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, licences);
    tcase_add_test(tc, node_transitions);
    tcase_add_test(tc, configs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
