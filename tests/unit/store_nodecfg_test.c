/*
 * The node configuration index repository (ferry/store/nodecfg.h) against a real SQLite
 * file: one node's row, not found, pages filtered by customer and store.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/store/nodecfg.h"
#include "ferry/store_sqlite.h"

static char dir[64], path[128];
static ferry_store_t *st;

static void exec(const char *sql)
{
    char *msg = NULL;
    ck_assert_msg(sqlite3_exec(ferry_store_sqlite(st), sql, NULL, NULL, &msg) == SQLITE_OK, "%s",
                  msg ? msg : "");
}

static void setup(void)
{
    ferry_err_t e = {0};
    snprintf(dir, sizeof(dir), "/tmp/ferry-nodecfg-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ferry.db", dir);
    ck_assert_int_eq(ferry_store_open(path, &st, &e), FERRY_OK);
    exec("INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'A', 'A', 0, 0), (2, 'B', "
         "'B', 0, 0);"
         "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'SA', 'SA', "
         "0, 0),"
         " (2, 2, 'SB', 'SB', 0, 0);"
         "INSERT INTO node (id, store_id, code, environment, name, token_id, token_hash, token_issued_at,"
         " created_at, updated_at) VALUES (1, 1, 'N1', 4, 'N1', 't1', x'00', 0, 0, 0),"
         " (2, 1, 'N2', 4, 'N2', 't2', x'00', 0, 0, 0), (3, 2, 'N3', 4, 'N3', 't3', x'00', 0, 0, 0),"
         " (4, 2, 'N4', 4, 'N4', 't4', x'00', 0, 0, 0);"
         "INSERT INTO node_config_index (node_id, config_version, file_id, blob_sha256, size, summary_json,"
         " uploaded_at) VALUES (1, 5, NULL, 'aa', 10, '{\"configVersion\":5}', 100),"
         " (2, 6, NULL, 'bb', 11, '', 200), (3, 7, NULL, 'cc', 12, '{}', 300);");
}

static void teardown(void)
{
    ferry_store_free(st);
    st = NULL;
    ferry_fs_rm_rf(dir, NULL);
}

START_TEST(get_and_list)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_node_config_t *c = NULL;
    ferry_store_page_t p;
    ferry_store_node_config_filter_t f = {.page_size = 2};

    ck_assert_int_eq(ferry_store_node_config_get_ro(st, &a, "N1", &c, &e), FERRY_OK);
    ck_assert_str_eq(c->node_code, "N1");
    ck_assert_int_eq(c->config_version, 5);
    ck_assert_int_eq(c->uploaded_at, 100);
    ck_assert_int_eq(c->file_id, 0);
    ck_assert_str_eq(c->sha256, "aa");
    ck_assert_str_eq(c->summary_json, "{\"configVersion\":5}");
    ck_assert_int_eq(c->customer_id, 1);
    /* a node without an upload and an unknown node read alike */
    ck_assert_int_eq(ferry_store_node_config_get_ro(st, &a, "N4", &c, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "'N4' has not uploaded"));
    ck_assert_int_eq(ferry_store_node_config_get_ro(st, &a, "ZZ", &c, &e), FERRY_E_NOT_FOUND);

    ck_assert_int_eq(ferry_store_node_configs_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 2);
    ck_assert_str_eq(((ferry_store_node_config_t *)p.items[1])->node_code, "N2");
    ck_assert_str_eq(p.next_page_token, "2");
    f.page_token = p.next_page_token;
    ck_assert_int_eq(ferry_store_node_configs_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(((ferry_store_node_config_t *)p.items[0])->node_code, "N3");
    ck_assert_str_eq(p.next_page_token, "");

    f = (ferry_store_node_config_filter_t){.customer_code = "B"};
    ck_assert_int_eq(ferry_store_node_configs_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 1);
    f = (ferry_store_node_config_filter_t){.store_code = "SA"};
    ck_assert_int_eq(ferry_store_node_configs_list_ro(st, &f, &a, &p, &e), FERRY_OK);
    ck_assert_int_eq(p.n, 2);
    f = (ferry_store_node_config_filter_t){.page_token = "abc"};
    ck_assert_int_eq(ferry_store_node_configs_list_ro(st, &f, &a, &p, &e), FERRY_E_INVALID_ARG);
    ferry_arena_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_nodecfg");
    TCase *tc = tcase_create("nodecfg");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get_and_list);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
