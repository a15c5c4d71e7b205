/*
 * Repository of uploads (ferry/store/uploads.h) against a real SQLite file: rows round
 * trip, a refused insert or close changes nothing, the expiry list and the quota usage
 * count what they say.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/blob.h"
#include "ferry/fs.h"
#include "ferry/store/uploads.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

static store_fixture_t F;
static ferry_store_t *s;

static void setup(void)
{
    s = sf_open(&F, "store-up");
    ferry_store_lock(s);
    sf_exec(
        s,
        "INSERT INTO admin_token (id, token_id, token_hash, role, created_at) VALUES"
        " (1, 'fya_a', x'00', 1, 1), (2, 'fya_b', x'00', 1, 1);"
        "INSERT INTO customer (id, code, name, created_at, updated_at) VALUES (1, 'C', 'C', 1, 1);"
        "INSERT INTO store (id, customer_id, code, name, created_at, updated_at) VALUES (1, 1, 'S', 'S', 1, "
        "1);"
        "INSERT INTO node (id, store_id, code, environment, token_id, token_hash, token_issued_at, "
        "created_at,"
        " updated_at) VALUES (7, 1, 'N', 1, 'fyn_n', x'00', 1, 1, 1);");
}

static void teardown(void)
{
    ferry_store_unlock(s);
    sf_close(&F);
    s = NULL;
}

static void insert(const char *id, int64_t by, uint64_t size, int64_t created, int64_t expires)
{
    ferry_err_t e = {0};
    ferry_store_upload_new_t u = {id, "pkg.zip", size, "", by, created, expires};
    ck_assert_int_eq(ferry_store_package_upload_insert(s, &u, &e), FERRY_OK);
}

START_TEST(insert_get_round_trip)
{
    ferry_err_t e = {0};
    ferry_store_upload_t u;
    static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ferry_store_upload_new_t n = {"u1", "p-1.0.zip", 1234, sha, 2, 1000, 5000};

    ck_assert_int_eq(ferry_store_package_upload_insert(s, &n, &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_upload_get(s, "u1", &u, &e), FERRY_OK);
    ck_assert_str_eq(u.id, "u1");
    ck_assert_str_eq(u.purpose, FERRY_STORE_UPLOAD_PACKAGE);
    ck_assert_str_eq(u.status, FERRY_STORE_UPLOAD_OPEN);
    ck_assert_str_eq(u.file_name, "p-1.0.zip");
    ck_assert_str_eq(u.expected_sha256, sha);
    ck_assert_str_eq(u.blob_sha256, "");
    ck_assert_uint_eq(u.expected_size, 1234);
    ck_assert_int_eq(u.created_by, 2);
    ck_assert_int_eq(u.node_id, 0);
    ck_assert_int_eq(u.created_at, 1000);
    ck_assert_int_eq(u.expires_at, 5000);

    /* No creator: stored as NULL, read back as 0. */
    insert("u2", 0, 1, 1, 2);
    ck_assert_int_eq(sf_scalar(s, "SELECT created_by IS NULL FROM upload WHERE id = 'u2'"), 1);
    ck_assert_int_eq(ferry_store_upload_get(s, "u2", &u, &e), FERRY_OK);
    ck_assert_int_eq(u.created_by, 0);
}
END_TEST

START_TEST(refusals_change_nothing)
{
    ferry_err_t e = {0};
    ferry_store_upload_t u;
    bool changed = true, open = true;
    ferry_store_upload_new_t dup = {"u1", "other.zip", 99, "", 1, 7, 8};

    insert("u1", 1, 10, 1, 100);
    /* Same id again: refused, the first row as it was. */
    ck_assert_int_eq(ferry_store_package_upload_insert(s, &dup, &e), FERRY_E_IO);
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM upload"), 1);
    ck_assert_int_eq(ferry_store_upload_get(s, "u1", &u, &e), FERRY_OK);
    ck_assert_str_eq(u.file_name, "pkg.zip");
    ck_assert_uint_eq(u.expected_size, 10);

    /* Unknown id: not found, naming it; closing it changes nothing. */
    ck_assert_int_eq(ferry_store_upload_get(s, "nope", &u, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "nope"));
    ck_assert_int_eq(ferry_store_upload_close(s, "nope", NULL, &changed, &e), FERRY_OK);
    ck_assert(!changed);
    ck_assert_int_eq(ferry_store_upload_is_open(s, "nope", &open, &e), FERRY_OK);
    ck_assert(!open);

    /* Committed once; a second close (commit or abort) leaves it committed. */
    ck_assert_int_eq(ferry_store_upload_close(s, "u1", "aa", &changed, &e), FERRY_OK);
    ck_assert(changed);
    ck_assert_int_eq(ferry_store_upload_close(s, "u1", NULL, &changed, &e), FERRY_OK);
    ck_assert(!changed);
    ck_assert_int_eq(ferry_store_upload_close(s, "u1", "bb", &changed, &e), FERRY_OK);
    ck_assert(!changed);
    ck_assert_int_eq(ferry_store_upload_get(s, "u1", &u, &e), FERRY_OK);
    ck_assert_str_eq(u.status, FERRY_STORE_UPLOAD_COMMITTED);
    ck_assert_str_eq(u.blob_sha256, "aa");
    ck_assert_int_eq(ferry_store_upload_is_open(s, "u1", &open, &e), FERRY_OK);
    ck_assert(!open);
}
END_TEST

START_TEST(abort_closes_an_open_upload)
{
    ferry_err_t e = {0};
    ferry_store_upload_t u;
    bool changed = false, open = false;

    insert("u1", 1, 10, 1, 100);
    ck_assert_int_eq(ferry_store_upload_is_open(s, "u1", &open, &e), FERRY_OK);
    ck_assert(open);
    ck_assert_int_eq(ferry_store_upload_close(s, "u1", NULL, &changed, &e), FERRY_OK);
    ck_assert(changed);
    ck_assert_int_eq(ferry_store_upload_get(s, "u1", &u, &e), FERRY_OK);
    ck_assert_str_eq(u.status, FERRY_STORE_UPLOAD_ABORTED);
    ck_assert_str_eq(u.blob_sha256, "");
}
END_TEST

START_TEST(expired_lists_open_uploads_past_expiry_or_ttl)
{
    ferry_err_t e = {0};
    char ids[4][FERRY_STORE_UPLOAD_ID_MAX + 1];
    size_t n = 99;

    insert("young", 1, 1, 900, 5000); /* neither */
    insert("past", 1, 1, 500, 999);   /* expires_at passed */
    insert("old", 1, 1, 100, 5000);   /* older than the TTL */
    insert("closed", 1, 1, 50, 60);   /* would be, but committed */
    ck_assert_int_eq(ferry_store_upload_close(s, "closed", "cc", NULL, &e), FERRY_OK);

    ck_assert_int_eq(ferry_store_uploads_expired(s, 1000, 800, ids, 4, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(ids[0], "old"); /* oldest first */
    ck_assert_str_eq(ids[1], "past");
    /* The cap holds. */
    ck_assert_int_eq(ferry_store_uploads_expired(s, 1000, 800, ids, 1, &n, &e), FERRY_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(ids[0], "old");
    /* Listing changed nothing. */
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM upload WHERE status = 'open'"), 3);
}
END_TEST

START_TEST(usage_counts_open_uploads_per_owner_and_kind)
{
    ferry_err_t e = {0};
    ferry_store_upload_owner_t a1 = {FERRY_STORE_UPLOAD_PACKAGE, 1}, a2 = {FERRY_STORE_UPLOAD_PACKAGE, 2},
                               n7 = {FERRY_STORE_UPLOAD_NODE_FILE, 7};
    int64_t count = -1;
    uint64_t bytes = 1;

    insert("a", 1, 100, 1, 10);
    insert("b", 1, 50, 1, 10);
    insert("c", 2, 7, 1, 10);
    insert("d", 1, 1000, 1, 10);
    ck_assert_int_eq(ferry_store_upload_close(s, "d", NULL, NULL, &e), FERRY_OK); /* closed: not counted */
    sf_exec(s, "INSERT INTO upload (id, purpose, node_id, expected_size, created_at, expires_at) VALUES"
               " ('n1', 'node_file', 7, 4096, 1, 10), ('n2', 'node_file', 7, 1, 1, 10);");

    ck_assert_int_eq(ferry_store_uploads_open_usage(s, &a1, &count, &bytes, &e), FERRY_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_uint_eq(bytes, 150);
    ck_assert_int_eq(ferry_store_uploads_open_usage(s, &a2, &count, &bytes, &e), FERRY_OK);
    ck_assert_int_eq(count, 1);
    ck_assert_uint_eq(bytes, 7);
    ck_assert_int_eq(ferry_store_uploads_open_usage(s, &n7, &count, &bytes, &e), FERRY_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_uint_eq(bytes, 4097);
    n7.id = 8;
    ck_assert_int_eq(ferry_store_uploads_open_usage(s, &n7, &count, &bytes, &e), FERRY_OK);
    ck_assert_int_eq(count, 0);
    ck_assert_uint_eq(bytes, 0);
}
END_TEST

/* ---- the blob store's upload area (what the orphan sweep walks) ------------------------- */

typedef struct seen {
    char ids[8][72];
    uint64_t sizes[8];
    size_t n;
} seen_t;

static bool visit(const char *id, uint64_t size, void *user)
{
    seen_t *v = user;
    if (v->n < 8) {
        snprintf(v->ids[v->n], sizeof(v->ids[0]), "%s", id);
        v->sizes[v->n++] = size;
    }
    return true;
}

static bool stop_at_first(const char *id, uint64_t size, void *user)
{
    (void)id, (void)size;
    (*(int *)user)++;
    return false;
}

START_TEST(upload_area_lists_partial_files_only)
{
    ferry_err_t e = {0};
    char root[128], p[256];
    ferry_blob_store_t *bs;
    seen_t v = {0};
    int calls = 0;
    FILE *fp;

    snprintf(root, sizeof(root), "%s/blobs", F.dir);
    ck_assert_ptr_nonnull(bs = ferry_blob_store_open(root, &e));
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up1", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_upload_write(bs, "up1", 0, "abc", 3, 10, &e), FERRY_OK);
    /* Not partial files of an upload: a temporary file, a bad id, a directory. */
    snprintf(p, sizeof(p), "%s/uploads/put-1-1.tmp", root);
    ck_assert_ptr_nonnull(fp = fopen(p, "w"));
    fclose(fp);
    snprintf(p, sizeof(p), "%s/uploads/bad id.part", root);
    ck_assert_ptr_nonnull(fp = fopen(p, "w"));
    fclose(fp);
    snprintf(p, sizeof(p), "%s/uploads/d.part", root);
    ck_assert_int_eq(mkdir(p, 0700), 0);

    ck_assert_int_eq(ferry_blob_uploads_each(bs, visit, &v, &e), FERRY_OK);
    ck_assert_uint_eq(v.n, 1);
    ck_assert_str_eq(v.ids[0], "up1");
    ck_assert_uint_eq(v.sizes[0], 3);
    ck_assert_int_eq(ferry_blob_upload_begin(bs, "up2", &e), FERRY_OK);
    ck_assert_int_eq(ferry_blob_uploads_each(bs, stop_at_first, &calls, &e), FERRY_OK);
    ck_assert_int_eq(calls, 1);
    /* Listing deleted nothing. */
    ck_assert_int_eq(ferry_blob_uploads_each(bs, visit, &v, &e), FERRY_OK);
    ck_assert_uint_eq(v.n, 3);
    ferry_blob_store_free(bs);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_uploads");
    TCase *tc = tcase_create("uploads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, insert_get_round_trip);
    tcase_add_test(tc, refusals_change_nothing);
    tcase_add_test(tc, abort_closes_an_open_upload);
    tcase_add_test(tc, expired_lists_open_uploads_past_expiry_or_ttl);
    tcase_add_test(tc, usage_counts_open_uploads_per_owner_and_kind);
    tcase_add_test(tc, upload_area_lists_partial_files_only);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
