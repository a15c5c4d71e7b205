/*
 * Node file uploads under hostile use (issue 9), against a real in-process ferryd
 * (tests/support/hub_harness), a real SQLite file and real signed-URL PUTs (libcurl):
 *   - a node's open uploads are capped in number and in announced bytes: the next
 *     CreateFileUpload is refused with E_NOSPACE naming the limit and stores nothing;
 *     committing one frees its place;
 *   - a task lists at most 256 report files: the 257th is refused with E_INVALID_ARG
 *     naming the cap, and nothing is stored;
 *   - a committed file tied to a task is listed on it.
 */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/store/reports.h"
#include "ferry/v1/report.ferry-client.h"
#include "hub_harness.h"
#include "hub_internal.h"

#define PROD  FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD
#define HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" /* sha256("hello") */

static hh_t H;

static void setup(void)
{
    ck_assert_int_eq(hh_start(&H, NULL), 0);
}

static void teardown(void)
{
    hh_stop(&H);
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

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p, (void)u;
    return s * n;
}

static long put_all(const char *url, const char *data)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    char cr[96];
    long status = 0;
    size_t len = strlen(data);
    snprintf(cr, sizeof(cr), "Content-Range: bytes 0-%zu/%zu", len - 1, len);
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

/* CreateFileUpload of a LOG of |size| bytes (sha256 of "hello"), for |task| ("" = none). */
static ferry_rpc_code_t create(ferry_rpc_client_t *node, const char *task, uint64_t size, char *id, char *url,
                               ferry_rpc_status_t *st)
{
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_LOG;
    cu.task_id = (char *)task;
    cu.file_name = (char *)"agent.log";
    cu.size = size;
    cu.sha256 = (char *)HELLO;
    cu.content_type = (char *)"text/plain";
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, st);
    if (rc == FERRY_RPC_OK) {
        snprintf(id, 64, "%s", cur->upload_id);
        snprintf(url, 1024, "%s", cur->target->url);
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    }
    return rc;
}

static ferry_rpc_code_t commit(ferry_rpc_client_t *node, const char *id, ferry_rpc_status_t *st)
{
    Ferry__V1__CommitFileUploadRequest req = FERRY__V1__COMMIT_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CommitFileUploadResponse *resp = NULL;
    req.upload_id = (char *)id;
    req.summary = (char *)"";
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_report_service_commit_file_upload(node, &req, &resp, NULL, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* An UPGRADE_REPORT (kind 5, issue 11) belongs to a task; kinds past it are refused. Each
 * refusal names the culprit and opens no upload. */
START_TEST(upgrade_report_kind_needs_a_task)
{
    char tok[HH_TOKEN_MAX];
    ferry_rpc_status_t st;
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;

    ck_assert_int_eq(hh_create_tree(&H, "UC", "US", "UN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    long before = hh_count(&H, "upload", NULL);
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_UPGRADE_REPORT;
    cu.task_id = (char *)"";
    cu.file_name = (char *)"upgrade-report.json";
    cu.size = 5;
    cu.sha256 = (char *)HELLO;
    cu.content_type = (char *)"application/json";
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(st.message, "task_id is required"));
    cu.kind = (Ferry__V1__FileKind)6;
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(node, &cu, &cur, NULL, &st),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "UPGRADE_REPORT"));
    ck_assert_ptr_null(cur);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), before);
    ferry_rpc_client_free(node);
}
END_TEST

START_TEST(node_quota_refuses_and_changes_nothing)
{
    char tok[HH_TOKEN_MAX], id[64], url[1024], first[64], first_url[1024];
    ferry_rpc_status_t st;

    ck_assert_int_eq(hh_create_tree(&H, "QC", "QS", "QN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    H.hub->cfg.node_upload_max_open = 2;
    H.hub->cfg.node_upload_max_bytes = 100;
    ck_assert_int_eq(create(node, "", 5, first, first_url, &st), FERRY_RPC_OK);
    ck_assert_int_eq(create(node, "", 5, id, url, &st), FERRY_RPC_OK);
    long before = hh_count(&H, "upload", NULL);
    /* a third open upload: refused, naming the limit, no row */
    ck_assert_int_eq(create(node, "", 5, id, url, &st), FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(st.app_code, "E_NOSPACE");
    ck_assert_ptr_nonnull(strstr(st.message, "the limit is 2"));
    ck_assert_int_eq(hh_count(&H, "upload", NULL), before);
    /* committing one frees its place */
    ck_assert_int_eq(put_all(first_url, "hello"), 204);
    ck_assert_int_eq(commit(node, first, &st), FERRY_RPC_OK);
    /* announced bytes count too: 5 open + 96 > 100 */
    ck_assert_int_eq(create(node, "", 96, id, url, &st), FERRY_RPC_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(st.app_code, "E_NOSPACE");
    ck_assert_ptr_nonnull(strstr(st.message, "100 bytes"));
    ck_assert_int_eq(hh_count(&H, "upload", NULL), before);
    ck_assert_int_eq(create(node, "", 95, id, url, &st), FERRY_RPC_OK);
    ferry_rpc_client_free(node);
}
END_TEST

START_TEST(task_file_list_is_capped)
{
    char tok[HH_TOKEN_MAX], id[64], url[1024], task[32], msg[128];
    ferry_rpc_status_t st;

    ck_assert_int_eq(hh_create_tree(&H, "TC", "TS", "TN", PROD, tok, sizeof(tok)), 0);
    ferry_rpc_client_t *node = hh_client(&H, tok);
    sql_exec("INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
             " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
             " VALUES ('1.0.0', 1, 0, 0, 0, 0, 3, 'aa', 1, 0, 0, 0, x'', x'', 'k', 1);"
             "INSERT INTO release (package_id, customer_id, environment, policy, created_at, updated_at)"
             " SELECT last_insert_rowid(), s.customer_id, n.environment, 1, 1, 1"
             " FROM node n JOIN store s ON s.id = n.store_id WHERE n.code = 'TN';"
             "INSERT INTO update_task (release_id, node_id, created_at, updated_at)"
             " SELECT last_insert_rowid(), id, 1, 1 FROM node WHERE code = 'TN';");
    snprintf(task, sizeof(task), "%lld", hh_query_int(&H, "SELECT max(id) FROM update_task"));

    /* a file tied to the task is listed on it */
    ck_assert_int_eq(create(node, task, 5, id, url, &st), FERRY_RPC_OK);
    ck_assert_int_eq(put_all(url, "hello"), 204);
    ck_assert_int_eq(commit(node, id, &st), FERRY_RPC_OK);
    ck_assert_int_eq(hh_query_int(&H, "SELECT json_array_length(report_files_json) FROM update_task"), 1);

    /* an upload opened before the list filled up cannot be committed past the cap */
    ck_assert_int_eq(create(node, task, 5, id, url, &st), FERRY_RPC_OK);
    ck_assert_int_eq(put_all(url, "hello"), 204);
    sql_exec(
        "UPDATE update_task SET report_files_json = (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
        " SELECT i + 1 FROM n WHERE i < 256) SELECT json_group_array(json_object('fileId', CAST(i AS TEXT),"
        " 'kind', 2, 'fileName', 'x.log', 'size', 1)) FROM n)");
    long files = hh_count(&H, "report_file", NULL);
    ck_assert_int_eq(commit(node, id, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    snprintf(msg, sizeof(msg), "at most %d", FERRY_STORE_TASK_FILES_MAX);
    ck_assert_ptr_nonnull(strstr(st.message, msg));
    ck_assert_int_eq(hh_count(&H, "report_file", NULL), files);
    ck_assert_int_eq(hh_query_int(&H, "SELECT json_array_length(report_files_json) FROM update_task"), 256);
    /* and its row is closed: it no longer counts against the node's quota */
    ck_assert_int_eq(hh_count(&H, "upload", "status = 'open'"), 0);

    /* a new upload for the full task is refused up front: no row */
    long uploads = hh_count(&H, "upload", NULL);
    ck_assert_int_eq(create(node, task, 5, id, url, &st), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(st.message, msg));
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads);
    /* files not tied to a task are still accepted */
    ck_assert_int_eq(create(node, "", 5, id, url, &st), FERRY_RPC_OK);
    ferry_rpc_client_free(node);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("hub_report_files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, node_quota_refuses_and_changes_nothing);
    tcase_add_test(tc, task_file_list_is_capped);
    tcase_add_test(tc, upgrade_report_kind_needs_a_task);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
