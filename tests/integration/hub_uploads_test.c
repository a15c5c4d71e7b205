/*
 * Upload hygiene (issue 9) against a real in-process ferryd (tests/support/hub_harness),
 * real SQLite, real files in the blob store's upload area and real HTTP (libcurl) for
 * the signed URLs:
 *   - partial files no open upload row owns are deleted by the janitor's sweep, at
 *     start and on every sweep; open uploads keep theirs;
 *   - AbortPackageUpload deletes an open upload's bytes and closes it (audited);
 *     unknown, closed or node uploads are refused and nothing changes;
 *   - quotas per admin token and per node (open uploads, announced bytes) and the
 *     free-space reserve refuse with E_NOSPACE naming the limit, and change nothing.
 */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "ferry_test_util.h"
#include "hub_harness.h"
#include "hub_internal.h"
#include "hub_pkg.h"

#define PROD FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD

static hh_t H;

static void setup(void)
{
    ck_assert_int_eq(hh_start(&H, NULL), 0);
}

static void teardown(void)
{
    hh_stop(&H);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

/* PUTs |len| bytes at offset 0 of an upload of |total| bytes; returns the HTTP status. */
static long put_chunk(const char *url, const void *data, size_t len, uint64_t total)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char cr[96];
    long status = 0;
    snprintf(cr, sizeof(cr), "Content-Range: bytes 0-%zu/%" PRIu64, len - 1, total);
    hs = curl_slist_append(hs, cr);
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    return status;
}

static ferry_rpc_code_t create_upload(ferry_rpc_client_t *cl, uint64_t size, char *id, size_t id_size,
                                      char *url, size_t url_size, ferry_rpc_status_t *st)
{
    Ferry__V1__CreatePackageUploadRequest req = FERRY__V1__CREATE_PACKAGE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreatePackageUploadResponse *resp = NULL;
    req.file_name = "pkg.zip";
    req.size = size;
    req.sha256 = "";
    ferry_rpc_code_t rc = ferry_v1_admin_service_create_package_upload(cl, &req, &resp, NULL, st);
    if (rc == FERRY_RPC_OK) {
        snprintf(id, id_size, "%s", resp->upload_id);
        if (url != NULL)
            snprintf(url, url_size, "%s", resp->target->url);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

static ferry_rpc_code_t abort_upload(const char *id, uint64_t *bytes, ferry_rpc_status_t *st)
{
    Ferry__V1__AbortPackageUploadRequest req = FERRY__V1__ABORT_PACKAGE_UPLOAD_REQUEST__INIT;
    Ferry__V1__AbortPackageUploadResponse *resp = NULL;
    req.upload_id = (char *)id;
    ferry_rpc_code_t rc = ferry_v1_admin_service_abort_package_upload(H.admin, &req, &resp, NULL, st);
    if (rc == FERRY_RPC_OK) {
        ck_assert_str_eq(resp->upload_id, id);
        if (bytes != NULL)
            *bytes = resp->reclaimed_bytes;
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return rc;
}

static void part_path(const char *id, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/blobs/uploads/%.64s.part", H.dir, id);
    ck_assert(n > 0 && (size_t)n < size);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static long open_uploads(void)
{
    return hh_count(&H, "upload", "status = 'open'");
}

/* ---- orphans -------------------------------------------------------------------------------- */

START_TEST(orphan_parts_are_swept)
{
    char id[80], url[1024], orphan[PATH_MAX + 64], keep[PATH_MAX + 64], other[PATH_MAX + 64],
        p[PATH_MAX + 64];
    ferry_rpc_status_t st;

    /* An open upload with some bytes: its partial file stays. */
    ck_assert_int_eq(create_upload(H.admin, 10, id, sizeof(id), url, sizeof(url), &st), FERRY_RPC_OK);
    ck_assert_int_eq(put_chunk(url, "abcd", 4, 10), 204);
    part_path(id, keep, sizeof(keep));
    ck_assert(exists(keep));
    /* A partial file without a row (a crash before the row committed), one whose row is
     * closed, and a file that is no upload's partial file at all. */
    part_path("0123456789abcdef0123456789abcdef", orphan, sizeof(orphan));
    ck_assert_int_eq(ftu_write_file(orphan, "stale bytes", 11, 0640), 0);
    ck_assert_int_eq(create_upload(H.admin, 10, p, sizeof(p), NULL, 0, &st), FERRY_RPC_OK);
    ck_assert_int_eq(hh_query_int(&H, "SELECT count(*) FROM upload"), 2);
    char closed[PATH_MAX + 64];
    part_path(p, closed, sizeof(closed));
    ck_assert(exists(closed));
    snprintf(other, sizeof(other), "%s/blobs/uploads/put-1-1.tmp", H.dir);
    ck_assert_int_eq(ftu_write_file(other, "x", 1, 0640), 0);

    /* The expired sweep alone does not touch an open upload; the orphan goes. */
    ck_assert_uint_eq(hub_uploads_sweep_orphans(H.hub), 1);
    ck_assert(!exists(orphan));
    ck_assert(exists(keep));
    ck_assert(exists(closed));
    ck_assert(exists(other));
    ck_assert_int_eq(open_uploads(), 2);

    /* Its row closed behind its back (as a crash between deleting bytes and closing the
     * row would leave the reverse): the file goes at the next sweep. */
    {
        sqlite3 *db = NULL;
        char sql[256];
        ck_assert_int_eq(sqlite3_open(H.db_path, &db), SQLITE_OK);
        sqlite3_busy_timeout(db, 5000);
        snprintf(sql, sizeof(sql), "UPDATE upload SET status = 'aborted' WHERE id = '%.64s'", p);
        ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    ck_assert_uint_eq(hub_uploads_sweep(H.hub, hub_now_ms()), 1);
    ck_assert(!exists(closed));
    ck_assert(exists(keep));
    ck_assert_int_eq(open_uploads(), 1);

    /* At start: an orphan left while ferryd was down is gone once it serves again. */
    ck_assert_int_eq(ftu_write_file(orphan, "stale bytes", 11, 0640), 0);
    ck_assert_int_eq(hh_restart(&H), 0);
    part_path("0123456789abcdef0123456789abcdef", orphan, sizeof(orphan));
    for (int i = 0; i < 100 && exists(orphan); i++)
        usleep(50 * 1000);
    ck_assert(!exists(orphan));
    part_path(id, keep, sizeof(keep));
    ck_assert(exists(keep));
    ck_assert_int_eq(open_uploads(), 1);
}
END_TEST

/* ---- abort ------------------------------------------------------------------------------------ */

START_TEST(abort_deletes_bytes_and_closes)
{
    char id[80], url[1024], part[PATH_MAX + 64], tok[HH_TOKEN_MAX];
    ferry_rpc_status_t st;
    uint64_t bytes = 0;
    long audit0;

    ck_assert_int_eq(create_upload(H.admin, 100, id, sizeof(id), url, sizeof(url), &st), FERRY_RPC_OK);
    ck_assert_int_eq(put_chunk(url, "0123456789", 10, 100), 204);
    part_path(id, part, sizeof(part));
    ck_assert(exists(part));
    audit0 = hh_count(&H, "audit_log", "method LIKE '%AbortPackageUpload'");

    ck_assert_int_eq(abort_upload(id, &bytes, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(bytes, 10);
    ck_assert(!exists(part));
    ck_assert_int_eq(open_uploads(), 0);
    ck_assert_int_eq(hh_count(&H, "upload", "status = 'aborted'"), 1);
    ck_assert_int_eq(hh_count(&H, "audit_log", "method LIKE '%AbortPackageUpload' AND outcome = 1"),
                     audit0 + 1);
    {
        char target[128];
        ck_assert_int_eq(hh_query_text(&H,
                                       "SELECT target FROM audit_log WHERE method LIKE '%AbortPackageUpload'"
                                       " ORDER BY id DESC LIMIT 1",
                                       target, sizeof(target)),
                         0);
        ck_assert_ptr_nonnull(strstr(target, id));
    }
    /* No more chunks for it. */
    ck_assert_int_eq(put_chunk(url, "0123456789", 10, 100) / 100, 4);
    ck_assert(!exists(part));

    /* Twice: refused, nothing changes. */
    ck_assert_int_eq(abort_upload(id, NULL, &st), FERRY_RPC_FAILED_PRECONDITION);
    ck_assert_str_eq(st.app_code, "E_PRECONDITION");
    ck_assert_ptr_nonnull(strstr(st.message, id));
    ck_assert_int_eq(hh_count(&H, "upload", "status = 'aborted'"), 1);

    /* Unknown: not found, naming it. */
    ck_assert_int_eq(abort_upload("ffffffffffffffffffffffffffffffff", NULL, &st), FERRY_RPC_NOT_FOUND);
    ck_assert_str_eq(st.app_code, "E_NOT_FOUND");
    ck_assert_ptr_nonnull(strstr(st.message, "ffffffffffffffffffffffffffffffff"));
    ck_assert_int_eq(abort_upload("", NULL, &st), FERRY_RPC_INVALID_ARGUMENT);

    /* A node's upload is no package upload: not found, its bytes stay. */
    ck_assert_int_eq(hh_create_tree(&H, "AC", "AS", "AN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_DIAGNOSTIC;
    cu.task_id = (char *)"";
    cu.file_name = (char *)"diag.txt";
    cu.size = 5;
    cu.sha256 = (char *)"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; /* "hello" */
    cu.content_type = (char *)"text/plain";
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(put_chunk(cur->target->url, "hello", 5, 5), 204);
    part_path(cur->upload_id, part, sizeof(part));
    ck_assert_int_eq(abort_upload(cur->upload_id, NULL, &st), FERRY_RPC_NOT_FOUND);
    ck_assert(exists(part));
    ck_assert_int_eq(open_uploads(), 1);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    ferry_rpc_client_free(node);

    /* An IMPLEMENTER (who may upload packages) may abort one too. */
    char itok[HH_TOKEN_MAX];
    ck_assert_int_eq(create_upload(H.admin, 100, id, sizeof(id), url, sizeof(url), &st), FERRY_RPC_OK);
    ck_assert_int_eq(open_uploads(), 2);
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);
    ferry_rpc_client_t *impl = hh_client(&H, itok);
    Ferry__V1__AbortPackageUploadRequest ar = FERRY__V1__ABORT_PACKAGE_UPLOAD_REQUEST__INIT;
    Ferry__V1__AbortPackageUploadResponse *arr = NULL;
    ar.upload_id = id;
    ck_assert_int_eq(ferry_v1_admin_service_abort_package_upload(impl, &ar, &arr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&arr->base, NULL);
    ferry_rpc_client_free(impl);
    ck_assert_int_eq(open_uploads(), 1);
}
END_TEST

/* ---- quotas ----------------------------------------------------------------------------------- */

START_TEST(admin_quotas_refuse_and_change_nothing)
{
    char id[80], id2[80], id3[80];
    ferry_rpc_status_t st;
    long uploads0;

    H.hub->cfg.upload_max_open = 2;
    H.hub->cfg.upload_max_bytes = 1000;
    ck_assert_int_eq(create_upload(H.admin, 400, id, sizeof(id), NULL, 0, &st), FERRY_RPC_OK);
    /* 400 + 700 > 1000 bytes announced. */
    uploads0 = hh_count(&H, "upload", NULL);
    ck_assert_int_eq(create_upload(H.admin, 700, id2, sizeof(id2), NULL, 0, &st),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(st.app_code, "E_NOSPACE");
    ck_assert_msg(strstr(st.message, "1000") != NULL && strstr(st.message, "400") != NULL, "%s", st.message);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads0);
    ck_assert_int_eq(create_upload(H.admin, 600, id2, sizeof(id2), NULL, 0, &st), FERRY_RPC_OK);
    /* Two open: a third is refused, naming the limit. */
    ck_assert_int_eq(create_upload(H.admin, 1, id3, sizeof(id3), NULL, 0, &st), FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(st.app_code, "E_NOSPACE");
    ck_assert_msg(strstr(st.message, "open uploads") != NULL && strstr(st.message, "2") != NULL, "%s",
                  st.message);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads0 + 1);
    /* Another admin token has its own quota. */
    char tok[HH_TOKEN_MAX];
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_SYSADMIN, "other", tok, sizeof(tok)), 0);
    ferry_rpc_client_t *other = hh_client(&H, tok);
    ck_assert_int_eq(create_upload(other, 1, id3, sizeof(id3), NULL, 0, &st), FERRY_RPC_OK);
    ferry_rpc_client_free(other);
    /* Aborting one frees its place. */
    ck_assert_int_eq(abort_upload(id, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(create_upload(H.admin, 1, id3, sizeof(id3), NULL, 0, &st), FERRY_RPC_OK);
}
END_TEST

START_TEST(reserve_is_kept_from_node_chunks)
{
    char tok[HH_TOKEN_MAX], id[80], url[1024], part[PATH_MAX + 64];
    ferry_rpc_status_t st;

    ck_assert_int_eq(hh_create_tree(&H, "QC", "QS", "QN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_DIAGNOSTIC;
    cu.task_id = (char *)"";
    cu.file_name = (char *)"diag.txt";
    cu.size = 5;
    cu.sha256 = (char *)"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; /* "hello" */
    cu.content_type = (char *)"text/plain";
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(create_upload(H.admin, 5, id, sizeof(id), url, sizeof(url), &st), FERRY_RPC_OK);

    /* A reserve larger than any disk: the node's chunk is refused, no byte written; the
     * administrator's upload still goes through. */
    H.hub->cfg.upload_disk_reserve = 1ull << 62;
    ck_assert_int_eq(put_chunk(cur->target->url, "hello", 5, 5), 507);
    part_path(cur->upload_id, part, sizeof(part));
    struct stat sb;
    ck_assert_int_eq(stat(part, &sb), 0);
    ck_assert_int_eq(sb.st_size, 0);
    ck_assert_int_eq(put_chunk(url, "hello", 5, 5), 204);
    /* Back to a sane reserve: the node continues. */
    H.hub->cfg.upload_disk_reserve = 1;
    ck_assert_int_eq(put_chunk(cur->target->url, "hello", 5, 5), 204);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    ferry_rpc_client_free(node);
}
END_TEST

START_TEST(node_quotas_refuse_and_change_nothing)
{
    char tok[HH_TOKEN_MAX];
    ferry_rpc_status_t st;
    long uploads0;

    ck_assert_int_eq(hh_create_tree(&H, "NC", "NS", "NN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_DIAGNOSTIC;
    cu.task_id = (char *)"";
    cu.file_name = (char *)"diag.txt";
    cu.size = 5;
    cu.sha256 = (char *)"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; /* "hello" */
    cu.content_type = (char *)"text/plain";

    H.hub->cfg.node_upload_max_open = 1;
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    uploads0 = hh_count(&H, "upload", NULL);
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(st.app_code, "E_NOSPACE");
    ck_assert_msg(strstr(st.message, "this node") != NULL && strstr(st.message, "1") != NULL, "%s",
                  st.message);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads0);

    /* Bytes: 5 announced already, 5 more over a limit of 8. */
    H.hub->cfg.node_upload_max_open = 10;
    H.hub->cfg.node_upload_max_bytes = 8;
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(st.message, "8 bytes") != NULL, "%s", st.message);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads0);

    /* The reserve: a node may not announce what would eat into it. */
    H.hub->cfg.node_upload_max_bytes = 0; /* default */
    H.hub->cfg.upload_disk_reserve = 1ull << 62;
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st),
                     FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_msg(strstr(st.message, "reserved for administrators") != NULL, "%s", st.message);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads0);
    /* ... while an administrator's package upload still goes through. */
    char id[80];
    ck_assert_int_eq(create_upload(H.admin, 5, id, sizeof(id), NULL, 0, &st), FERRY_RPC_OK);
    ferry_rpc_client_free(node);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("hub_uploads");
    TCase *tc = tcase_create("uploads");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, orphan_parts_are_swept);
    tcase_add_test(tc, abort_deletes_bytes_and_closes);
    tcase_add_test(tc, admin_quotas_refuse_and_change_nothing);
    tcase_add_test(tc, reserve_is_kept_from_node_chunks);
    tcase_add_test(tc, node_quotas_refuse_and_change_nothing);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
