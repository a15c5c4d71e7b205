/*
 * Repository of packages (ferry/store/packages.h) against a real SQLite file: a package
 * round trips with its signed manifest and the parts read from those bytes, a
 * duplicate version is refused and changes nothing, lists order versions numerically
 * and page, and blob references count packages and report files.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fs.h"
#include "ferry/store/packages.h"
#include "ferry/store_sqlite.h"
#include "store_fixture.h"

static store_fixture_t F;
static ferry_store_t *s;

static void setup(void)
{
    s = sf_open(&F, "store-pkg");
    ferry_store_lock(s);
    sf_exec(
        s,
        "INSERT INTO admin_token (id, token_id, token_hash, role, created_at) VALUES (3, 'fya_x', x'00', 1, "
        "1)");
}

static void teardown(void)
{
    if (s != NULL)
        ferry_store_unlock(s);
    sf_close(&F);
    s = NULL;
}

/* A manifest with one part, serialized as the hub signs it. */
static size_t manifest(const char *version, uint8_t *buf, size_t cap)
{
    Ferry__V1__PackageManifest m = FERRY__V1__PACKAGE_MANIFEST__INIT;
    Ferry__V1__PackagePart part = FERRY__V1__PACKAGE_PART__INIT, *parts[1] = {&part};
    size_t n;
    part.kind = FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP;
    part.name = (char *)"server.zip";
    part.size = 77;
    part.sha256 = (char *)"ab";
    m.version = (char *)version;
    m.n_parts = 1;
    m.parts = parts;
    n = ferry__v1__package_manifest__get_packed_size(&m);
    ck_assert_uint_le(n, cap);
    ferry__v1__package_manifest__pack(&m, buf);
    return n;
}

static ferry_err_code_t insert(const char *version, uint32_t major, uint32_t minor, const char *sha,
                               ferry_err_t *e)
{
    uint8_t mbuf[512], sig[64];
    ferry_store_package_new_t p = {0};
    memset(sig, 0x5a, sizeof(sig));
    p.version = version;
    p.major = major, p.minor = minor;
    p.description = "desc";
    p.type = FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_FULL;
    p.size = 4096;
    p.sha256 = sha;
    p.has_server = true;
    p.manifest = mbuf;
    p.manifest_len = manifest(version, mbuf, sizeof(mbuf));
    p.signature = sig;
    p.signature_len = sizeof(sig);
    p.key_id = "k1";
    p.created_by = 3;
    p.created_at = 1700000000000;
    return ferry_store_package_insert(s, &p, e);
}

START_TEST(insert_get_round_trip)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__Package p;
    int64_t id = 0;
    char sha[FERRY_SHA256_HEX_LEN + 1];
    bool known = true;

    ck_assert_int_eq(ferry_store_package_exists(s, "1.2", &known, &e), FERRY_OK);
    ck_assert(!known);
    ck_assert_int_eq(insert("1.2", 1, 2, "sha-a", &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_package_exists(s, "1.2", &known, &e), FERRY_OK);
    ck_assert(known);
    ck_assert_int_eq(ferry_store_package_get(s, &a, "1.2", &p, &id, sha, &e), FERRY_OK);
    ck_assert_int_gt(id, 0);
    ck_assert_str_eq(sha, "sha-a");
    ck_assert_str_eq(p.version, "1.2");
    ck_assert_uint_eq(p.version_info->major, 1);
    ck_assert_uint_eq(p.version_info->minor, 2);
    ck_assert_str_eq(p.description, "desc");
    ck_assert_uint_eq(p.size, 4096);
    ck_assert_str_eq(p.created_by, "fya_x");
    ck_assert_int_eq(p.created_at->seconds, 1700000000);
    ck_assert_uint_eq(p.signed_manifest->signature.len, 64);
    ck_assert_uint_eq(p.signed_manifest->signature.data[0], 0x5a);
    ck_assert_str_eq(p.signed_manifest->key_id, "k1");
    /* The parts come from the stored signed bytes. */
    ck_assert_uint_eq(p.n_parts, 1);
    ck_assert_str_eq(p.parts[0]->name, "server.zip");
    ck_assert_uint_eq(p.parts[0]->size, 77);
    ck_assert_int_eq(sf_scalar(s, "SELECT has_server + 2 * has_client FROM package"), 1);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(refusals_change_nothing)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    Ferry__V1__Package p;
    char sha[FERRY_SHA256_HEX_LEN + 1];

    ck_assert_int_eq(insert("2.0", 2, 0, "sha-a", &e), FERRY_OK);
    ck_assert_int_eq(insert("2.0", 2, 0, "sha-b", &e), FERRY_E_VERSION_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(e.msg, "2.0"));
    ck_assert_int_eq(sf_scalar(s, "SELECT count(*) FROM package"), 1);
    ck_assert_int_eq(ferry_store_package_get(s, &a, "2.0", &p, NULL, sha, &e), FERRY_OK);
    ck_assert_str_eq(sha, "sha-a");
    ck_assert_int_eq(ferry_store_package_get(s, &a, "9.9", &p, NULL, NULL, &e), FERRY_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "9.9"));
    ferry_arena_free(&a);
}
END_TEST

START_TEST(list_orders_versions_and_pages)
{
    ferry_err_t e = {0};
    ferry_arena_t a = {0};
    ferry_store_page_t page;

    ck_assert_int_eq(insert("1.9", 1, 9, "s1", &e), FERRY_OK);
    ck_assert_int_eq(insert("1.10", 1, 10, "s2", &e), FERRY_OK);
    ck_assert_int_eq(insert("2.1", 2, 1, "s3", &e), FERRY_OK);
    ferry_store_unlock(s); /* lists take the store lock themselves */

    ck_assert_int_eq(ferry_store_packages_list(s, "", "", 2, &a, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 2);
    ck_assert_str_eq(((Ferry__V1__Package *)page.items[0])->version, "2.1");
    ck_assert_str_eq(((Ferry__V1__Package *)page.items[1])->version, "1.10"); /* numeric, not text */
    ck_assert_str_eq(page.next_page_token, "2");
    ck_assert_int_eq(ferry_store_packages_list(s, "", page.next_page_token, 2, &a, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 1);
    ck_assert_str_eq(((Ferry__V1__Package *)page.items[0])->version, "1.9");
    ck_assert_str_eq(page.next_page_token, "");

    ck_assert_int_eq(ferry_store_packages_list(s, "1.", "", 0, &a, &page, &e), FERRY_OK);
    ck_assert_uint_eq(page.n, 2);
    ck_assert_int_eq(ferry_store_packages_list(s, "", "x1", 0, &a, &page, &e), FERRY_E_INVALID_ARG);
    ferry_store_lock(s);
    ferry_arena_free(&a);
}
END_TEST

START_TEST(blob_in_use_counts_packages_and_files)
{
    ferry_err_t e = {0};
    bool used = false;

    ck_assert_int_eq(insert("1.0", 1, 0, "pkgblob", &e), FERRY_OK);
    ck_assert_int_eq(ferry_store_blob_in_use(s, "pkgblob", &used, &e), FERRY_OK);
    ck_assert(used);
    ck_assert_int_eq(ferry_store_blob_in_use(s, "other", &used, &e), FERRY_OK);
    ck_assert(!used);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store_packages");
    TCase *tc = tcase_create("packages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, insert_get_round_trip);
    tcase_add_test(tc, refusals_change_nothing);
    tcase_add_test(tc, list_orders_versions_and_pages);
    tcase_add_test(tc, blob_in_use_counts_packages_and_files);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
