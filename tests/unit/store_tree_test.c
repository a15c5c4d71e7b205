/*
 * The tree repository (ferry/store/tree.h) against a real SQLite file: inserts,
 * duplicates refused without a change, lookups, updates, node tokens, list filters
 * and keyset pages.
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

static store_fixture_t F;
static ferry_store_t *st;

static void setup(void)
{
    st = sf_open(&F, "tree");
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

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

/* One committed write transaction, like the handler frame runs. */
#define TX(expr)                                                                                             \
    do {                                                                                                     \
        ferry_err_t e_ = {0};                                                                                \
        ferry_store_lock(st);                                                                                \
        ck_assert_int_eq(ferry_store_tx_begin(st, &e_), FERRY_OK);                                           \
        ck_assert_msg((expr) == FERRY_OK, "%s: %s", #expr, e_.msg);                                          \
        ck_assert_int_eq(ferry_store_tx_commit(st, &e_), FERRY_OK);                                          \
        ferry_store_unlock(st);                                                                              \
    } while (0)

static void make_tree(void)
{
    ferry_err_t e = {0};
    int64_t cid = 0, sid = 0;
    bool dis = true;
    ferry_store_node_new_t n = {0};

    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "ACME", "Acme Corp", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "BETA", "Beta", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "ACME", &cid, &dis, &e), FERRY_OK);
    ck_assert(!dis);
    ck_assert_int_eq(ferry_store_store_insert(st, cid, "S1", "Store one", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_store_insert(st, cid, "S2", "Store two", 1000, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_STORE, "S1", &sid, NULL, &e), FERRY_OK);
    n.store_id = sid;
    n.environment = FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD;
    n.now = 1000;
    for (int i = 0; i < 5; i++) {
        char code[16], tid[32];
        snprintf(code, sizeof(code), "N%d", i);
        snprintf(tid, sizeof(tid), "fyn_%016d", i);
        n.code = code;
        n.name = code;
        n.token_id = tid;
        memset(n.token_hash, i, sizeof(n.token_hash));
        ck_assert_msg(ferry_store_node_insert(st, &n, &e) == FERRY_OK, "%s", e.msg);
    }
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

START_TEST(insert_get_and_duplicates)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__Customer *c = NULL;
    Ferry__V1__Node *n = NULL;
    ferry_store_node_view_t v = {0};

    make_tree();
    ck_assert_int_eq(ferry_store_tree_get_ro(st, &a, FERRY_STORE_CUSTOMER, "ACME", NULL, (void **)&c, &e),
                     FERRY_OK);
    ck_assert_str_eq(c->code, "ACME");
    ck_assert_str_eq(c->name, "Acme Corp");
    ck_assert(!c->disabled);
    ck_assert_int_eq(c->created_at->seconds, 1);
    ck_assert(!c->has_storage_override);
    ck_assert_int_eq(ferry_store_tree_get_ro(st, &a, FERRY_STORE_NODE, "N3", &v, (void **)&n, &e), FERRY_OK);
    ck_assert_str_eq(n->store_code, "S1");
    ck_assert_str_eq(n->customer_code, "ACME");
    ck_assert_int_eq(n->environment, FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD);
    ck_assert_int_eq(n->connectivity, FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN);
    ck_assert_ptr_null(n->host);

    /* duplicates: E_EXISTS naming the code, nothing added */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "ACME", "x", 2000, &e), FERRY_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(e.msg, "customer 'ACME' already exists"));
    ck_assert_int_eq(ferry_store_store_insert(st, 1, "S1", "x", 2000, &e), FERRY_E_EXISTS);
    ck_assert_ptr_nonnull(strstr(e.msg, "store 'S1'"));
    ferry_store_tx_rollback(st);
    ferry_store_unlock(st);
    ck_assert_int_eq(count("SELECT count(*) FROM customer"), 2);
    ck_assert_int_eq(count("SELECT count(*) FROM store"), 2);

    /* not found names the kind and the code */
    ck_assert_int_eq(ferry_store_tree_get_ro(st, &a, FERRY_STORE_STORE, "NOPE", NULL, (void **)&c, &e),
                     FERRY_E_NOT_FOUND);
    ck_assert_str_eq(e.msg, "store 'NOPE' not found");
    ck_assert_ptr_null(c);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(update_keeps_unset_fields)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__Node *n = NULL;
    int64_t id = 0;
    bool dis = false;
    ferry_store_tree_change_t rename = {"Renamed", -1, 0, 5000};
    ferry_store_tree_change_t disable = {NULL, 1, 0, 6000};
    ferry_store_tree_change_t env = {NULL, -1, FERRY__V1__ENVIRONMENT__ENVIRONMENT_TEST, 7000};

    make_tree();
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_NODE, "N1", &id, NULL, &e), FERRY_OK);
    ferry_store_unlock(st);
    TX(ferry_store_tree_update(st, FERRY_STORE_NODE, id, &rename, &e_));
    TX(ferry_store_tree_update(st, FERRY_STORE_NODE, id, &disable, &e_));
    TX(ferry_store_tree_update(st, FERRY_STORE_NODE, id, &env, &e_));
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tree_get(st, &a, FERRY_STORE_NODE, "N1", NULL, (void **)&n, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_NODE, "N1", &id, &dis, &e), FERRY_OK);
    ferry_store_unlock(st);
    ck_assert_str_eq(n->name, "Renamed");
    ck_assert(n->disabled && dis);
    dis = false;
    ck_assert_int_eq(ferry_store_tree_id_ro(st, FERRY_STORE_NODE, "N1", &id, &dis, &e), FERRY_OK);
    ck_assert(dis);
    ck_assert_int_eq(ferry_store_tree_id_ro(st, FERRY_STORE_NODE, "N9", &id, &dis, &e), FERRY_E_NOT_FOUND);
    ck_assert_str_eq(e.msg, "node 'N9' not found");
    ck_assert_int_eq(n->environment, FERRY__V1__ENVIRONMENT__ENVIRONMENT_TEST);
    ck_assert_int_eq(n->updated_at->seconds, 7);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(rotate_token_clears_binding)
{
    ferry_err_t e = {0};
    char tid[32];
    uint8_t h[FERRY_SHA256_LEN];

    make_tree();
    ck_assert_int_eq(ferry_store_node_token_id_ro(st, "N2", tid, sizeof(tid), &e), FERRY_OK);
    ck_assert_str_eq(tid, "fyn_0000000000000002");
    ck_assert_int_eq(sqlite3_exec(ferry_store_sqlite(st), "UPDATE node SET bound_at = 5 WHERE code = 'N2'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    memset(h, 0xab, sizeof(h));
    TX(ferry_store_node_rotate_token(st, "N2", "fyn_ffffffffffffffff", h, 9000, &e_));
    ck_assert_int_eq(ferry_store_node_token_id_ro(st, "N2", tid, sizeof(tid), &e), FERRY_OK);
    ck_assert_str_eq(tid, "fyn_ffffffffffffffff");
    ck_assert_int_eq(count("SELECT count(*) FROM node WHERE code = 'N2' AND bound_at IS NULL AND "
                           "token_issued_at = 9000"),
                     1);
    /* unknown node: not found, nothing changed */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_node_rotate_token(st, "NOPE", "fyn_eeeeeeeeeeeeeeee", h, 9000, &e),
                     FERRY_E_NOT_FOUND);
    ferry_store_unlock(st);
    ck_assert_str_eq(e.msg, "node 'NOPE' not found");
    ck_assert_int_eq(ferry_store_node_token_id_ro(st, "NOPE", tid, sizeof(tid), &e), FERRY_E_NOT_FOUND);
}
END_TEST

START_TEST(lists_filter_and_page)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_page_t p;
    ferry_store_node_view_t v = {.online_since = 50000};
    ferry_store_tree_filter_t f = {.page_size = 2};
    ferry_store_tree_change_t disable = {NULL, 1, 0, 6000};
    int64_t id = 0;

    make_tree();
    /* N0 seen recently (online), N1 long ago (offline), the rest never */
    ck_assert_int_eq(
        sqlite3_exec(ferry_store_sqlite(st),
                     "UPDATE node SET last_seen_at = 60000 WHERE code = 'N0';"
                     "UPDATE node SET last_seen_at = 100, installed_version = '1.2.0' WHERE code = 'N1'",
                     NULL, NULL, NULL),
        SQLITE_OK);
    /* pages of 2 in code order: N0 N1 | N2 N3 | N4 */
    const char *want[] = {"N0", "N1", "N2", "N3", "N4"};
    size_t seen = 0;
    char token[80] = "";
    for (int page = 0; page < 5; page++) {
        f.page_token = token;
        ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_NODE, &f, &v, &a, &p, &e), FERRY_OK);
        for (size_t i = 0; i < p.n; i++)
            ck_assert_str_eq(((Ferry__V1__Node *)p.items[i])->code, want[seen++]);
        snprintf(token, sizeof(token), "%s", p.next_page_token);
        if (token[0] == '\0')
            break;
    }
    ck_assert_int_eq(seen, 5);

    f = (ferry_store_tree_filter_t){.connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_NODE, &f, &v, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(((Ferry__V1__Node *)p.items[0])->code, "N0");
    ck_assert_int_eq(((Ferry__V1__Node *)p.items[0])->connectivity,
                     FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE);
    f.connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE;
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_NODE, &f, &v, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(((Ferry__V1__Node *)p.items[0])->code, "N1");
    f = (ferry_store_tree_filter_t){.installed_version = "1.2.0"};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_NODE, &f, &v, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);

    /* stores of a customer; a query matches code or name, case-insensitively */
    f = (ferry_store_tree_filter_t){.customer_code = "ACME", .query = "two"};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_STORE, &f, NULL, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(((Ferry__V1__Store *)p.items[0])->code, "S2");
    f = (ferry_store_tree_filter_t){.customer_code = "BETA"};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_STORE, &f, NULL, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 0);

    /* disabled rows are hidden unless asked for */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "BETA", &id, NULL, &e), FERRY_OK);
    ferry_store_unlock(st);
    TX(ferry_store_tree_update(st, FERRY_STORE_CUSTOMER, id, &disable, &e_));
    f = (ferry_store_tree_filter_t){0};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_CUSTOMER, &f, NULL, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    f.include_disabled = true;
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_CUSTOMER, &f, NULL, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 2);

    /* a page token this server never issued */
    f = (ferry_store_tree_filter_t){.page_token = "x' OR 1=1 --"};
    ck_assert_int_eq(ferry_store_tree_list_ro(st, FERRY_STORE_NODE, &f, &v, &a, &p, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, "page_token"));
    ferry_arena_free(&a);
}
END_TEST

START_TEST(host_json_becomes_host_info)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__Node *n = NULL;

    make_tree();
    ck_assert_int_eq(sqlite3_exec(ferry_store_sqlite(st),
                                  "UPDATE node SET host_json = '{\"hostname\":\"pos-1\",\"os\":\"linux\","
                                  "\"ipAddresses\":[\"10.0.0.1\",\"10.0.0.2\"]}' WHERE code = 'N4'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(ferry_store_tree_get_ro(st, &a, FERRY_STORE_NODE, "N4", NULL, (void **)&n, &e),
                     FERRY_OK);
    ck_assert_ptr_nonnull(n->host);
    ck_assert_str_eq(n->host->hostname, "pos-1");
    ck_assert_int_eq(n->host->n_ip_addresses, 2);
    ck_assert_str_eq(n->host->ip_addresses[1], "10.0.0.2");
    ferry_arena_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_tree");
    TCase *tc = tcase_create("tree");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, insert_get_and_duplicates);
    tcase_add_test(tc, update_keeps_unset_fields);
    tcase_add_test(tc, rotate_token_clears_binding);
    tcase_add_test(tc, lists_filter_and_page);
    tcase_add_test(tc, host_json_becomes_host_info);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
