/*
 * The storage-configuration repository (ferry/store/storage.h) against a real SQLite
 * file: the global row and overrides, upsert in place, the effective row, deletes and
 * pages of overrides.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/store/storage.h"
#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

static store_fixture_t F;
static ferry_store_t *st;
static int64_t acme, beta, gamma_id;

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

static void setup(void)
{
    ferry_err_t e = {0};
    st = sf_open(&F, "storage");
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "ACME", "Acme", 1, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "BETA", "Beta", 1, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_customer_insert(st, "GAMMA", "Gamma", 1, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "ACME", &acme, NULL, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "BETA", &beta, NULL, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, "GAMMA", &gamma_id, NULL, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

static void teardown(void)
{
    sf_close(&F);
    st = NULL;
}

static void put(int64_t customer, const char *kind, const char *settings, int64_t at)
{
    ferry_err_t e = {0};
    ferry_store_storage_put_t p = {customer, kind, settings, "[{\"name\":\"m1\",\"baseUrl\":\"http://m\"}]",
                                   at,       0};
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_tx_begin(st, &e), FERRY_OK);
    ck_assert_msg(ferry_store_storage_put(st, &p, &e) == FERRY_OK, "%s", e.msg);
    ck_assert_int_eq(ferry_store_tx_commit(st, &e), FERRY_OK);
    ferry_store_unlock(st);
}

START_TEST(global_and_overrides)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_storage_row_t *r = NULL;
    bool override = true;

    /* nothing stored: no row, the caller's default applies */
    ck_assert_int_eq(ferry_store_storage_get_ro(st, &a, 0, &r, &e), FERRY_OK);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(ferry_store_storage_effective_ro(st, &a, acme, &r, &override, &e), FERRY_OK);
    ck_assert_ptr_null(r);
    ck_assert(!override);

    put(0, "local_dir", "{\"public_base_url\":\"http://g\"}", 10);
    put(0, "local_dir", "{\"public_base_url\":\"http://g2\"}", 20); /* in place */
    ck_assert_int_eq(count("SELECT count(*) FROM storage_config"), 1);
    ck_assert_int_eq(ferry_store_storage_effective_ro(st, &a, acme, &r, &override, &e), FERRY_OK);
    ck_assert_ptr_nonnull(r);
    ck_assert(!override);
    ck_assert_str_eq(r->settings_json, "{\"public_base_url\":\"http://g2\"}");
    ck_assert_int_eq(r->updated_at, 20);
    ck_assert_str_eq(r->customer_code, "");
    ck_assert_str_eq(r->mirrors_json, "[{\"name\":\"m1\",\"baseUrl\":\"http://m\"}]");

    put(acme, "s3", "{\"bucket\":\"b\"}", 30);
    ck_assert_int_eq(ferry_store_storage_effective_ro(st, &a, acme, &r, &override, &e), FERRY_OK);
    ck_assert(override);
    ck_assert_str_eq(r->kind, "s3");
    ck_assert_str_eq(r->customer_code, "ACME");
    ck_assert_int_eq(r->customer_id, acme);
    ck_assert_int_eq(ferry_store_storage_effective_ro(st, &a, beta, &r, &override, &e), FERRY_OK);
    ck_assert(!override);
    ck_assert_str_eq(r->kind, "local_dir");

    /* writer-side read sees the same */
    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_storage_get(st, &a, acme, &r, &e), FERRY_OK);
    ferry_store_unlock(st);
    ck_assert_str_eq(r->settings_json, "{\"bucket\":\"b\"}");
    ferry_arena_free(&a);
}
END_TEST

START_TEST(delete_and_pages)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_storage_row_t **rows = NULL;
    size_t n = 0;
    bool more = false, deleted = false;

    put(0, "local_dir", "{}", 1);
    put(gamma_id, "local_dir", "{}", 2);
    put(acme, "local_dir", "{}", 3);
    put(beta, "local_dir", "{}", 4);
    /* overrides only, by customer code, 2 at a time */
    ck_assert_int_eq(ferry_store_storage_overrides_ro(st, &a, 0, 2, &rows, &n, &more, &e), FERRY_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(more);
    ck_assert_str_eq(rows[0]->customer_code, "ACME");
    ck_assert_str_eq(rows[1]->customer_code, "BETA");
    ck_assert_int_eq(ferry_store_storage_overrides_ro(st, &a, 2, 2, &rows, &n, &more, &e), FERRY_OK);
    ck_assert_int_eq(n, 1);
    ck_assert(!more);
    ck_assert_str_eq(rows[0]->customer_code, "GAMMA");
    ck_assert_int_eq(ferry_store_storage_overrides_ro(st, &a, 0, 0, &rows, &n, &more, &e),
                     FERRY_E_INVALID_ARG);

    ferry_store_lock(st);
    ck_assert_int_eq(ferry_store_storage_delete(st, beta, &deleted, &e), FERRY_OK);
    ck_assert(deleted);
    ck_assert_int_eq(ferry_store_storage_delete(st, beta, &deleted, &e), FERRY_OK);
    ck_assert(!deleted);
    /* the global row is never deleted through here */
    ck_assert_int_eq(ferry_store_storage_delete(st, 0, &deleted, &e), FERRY_E_INVALID_ARG);
    ferry_store_unlock(st);
    ck_assert_int_eq(count("SELECT count(*) FROM storage_config"), 3);
    ck_assert_int_eq(count("SELECT count(*) FROM storage_config WHERE customer_id IS NULL"), 1);
    ferry_arena_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_storage");
    TCase *tc = tcase_create("storage");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, global_and_overrides);
    tcase_add_test(tc, delete_and_pages);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
