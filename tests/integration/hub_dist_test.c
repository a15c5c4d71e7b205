/*
 * Distribution to nodes against a real in-process ferryd (tests/support/hub_harness):
 * generated client stubs over loopback, real SQLite, real zip packages, real HTTP for
 * the signed URLs.
 *
 *   - GetDownload: the primary signed URL, then the storage's mirrors in order, each
 *     with the primary's path and signed query; a customer override names its primary
 *     "customer-storage" and brings its own mirrors;
 *   - the manifest GetDownload returns is signed for the calling node's task (task id,
 *     node, task kind, customer, expiry = now + manifest TTL) and verifies with the key
 *     Bind hands out; the package's upload-time manifest stays as it was;
 *   - ExportPackage: a manifest signed for no task and no node (optionally one customer)
 *     with the validity asked for, verifying with the Bind key, and a link from that
 *     customer's storage; refusals name the field, are audited and change nothing;
 *   - mirror validation: every refusal names the field and changes nothing;
 *   - download telemetry (DownloadStats) is stored per task;
 *   - the node-config preview understands the engine's node-config.json (service
 *     control, command lines, health check and stateDir included) and masks the
 *     connection string's password and the secrets in command lines.
 */
#include <check.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/sign.h"
#include "ferry/v1/admin.ferry-client.h"
#include "ferry/v1/agent.ferry-client.h"
#include "ferry/v1/report.ferry-client.h"
#include "ferry_test_util.h"
#include "hub_harness.h"
#include "hub_internal.h"

#define PROD  FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD
#define CHUNK (256u << 10)

static hh_t H;
static char tmp[1024];
static char TOK_A[HH_TOKEN_MAX], TOK_B[HH_TOKEN_MAX], TOK_C[HH_TOKEN_MAX];

static void setup(void)
{
    hh_options_t o = {0};
    o.tag = "hubdist";
    ck_assert_int_eq(hh_start(&H, &o), 0);
    ck_assert_int_eq(ftu_mkdtemp(tmp, sizeof(tmp), "hubdist"), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NA", PROD, TOK_A, sizeof(TOK_A)), 0);
    ck_assert_int_eq(hh_create_tree(&H, "ACME", "S1", "NC", PROD, TOK_C, sizeof(TOK_C)), 0);
    ck_assert_int_eq(hh_create_tree(&H, "BETA", "S2", "NB", PROD, TOK_B, sizeof(TOK_B)), 0);
}

static void teardown(void)
{
    hh_stop(&H);
    ftu_rm_rf(tmp);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ts_ms(const Google__Protobuf__Timestamp *t)
{
    return t == NULL ? 0 : (int64_t)t->seconds * 1000 + t->nanos / 1000000;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t collect(char *p, size_t s, size_t n, void *u)
{
    buf_t *b = u;
    char *x = realloc(b->p, b->n + s * n + 1);
    if (x == NULL)
        return 0;
    memcpy(x + b->n, p, s * n);
    b->p = x;
    b->n += s * n;
    b->p[b->n] = '\0';
    return s * n;
}

/* GET or PUT |url|; returns the status (0 on transport failure); |body| receives the answer. */
static long http(const char *method, const char *url, const void *data, size_t len, const char *hdr,
                 buf_t *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    long status = 0;
    buf_t sink = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data != NULL ? data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (hdr != NULL)
        hs = curl_slist_append(hs, hdr);
    hs = curl_slist_append(hs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body != NULL ? body : &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    free(sink.p);
    return status;
}

/* ---- packages and releases --------------------------------------------------------------- */

/* A valid package with all four parts. */
static void build_package(const char *path, const char *tag)
{
    char big[PATH_MAX], server[PATH_MAX], client[PATH_MAX];
    snprintf(big, sizeof(big), "%s/%s-big.bin", tmp, tag);
    snprintf(server, sizeof(server), "%s/%s-server.zip", tmp, tag);
    snprintf(client, sizeof(client), "%s/%s-client.zip", tmp, tag);
    ck_assert_int_eq(ftu_write_pattern(big, 200000, (uint32_t)strlen(tag), 0644), 0);
    ftu_zip_entry_t se[] = {{.name = "bin/app.dll", .src_file = big, .store = 1},
                            {.name = "tag.txt", .data = tag}};
    ck_assert_int_eq(ftu_zip_build(server, se, 2), 0);
    ftu_zip_entry_t ce[] = {{.name = "client.exe", .data = "MZ client"}};
    ck_assert_int_eq(ftu_zip_build(client, ce, 1), 0);
    ftu_zip_entry_t pe[] = {
        {.name = "server.zip", .src_file = server, .store = 1},
        {.name = "client.zip", .src_file = client},
        {.name = "\xe7\xbb\x93\xe6\x9e\x84.sql", .data = "CREATE TABLE t (x INT);\nGO\n"},
        {.name = "data.sql", .data = "INSERT INTO t VALUES (1);\n"},
    };
    ck_assert_int_eq(ftu_zip_build(path, pe, 4), 0);
}

/* Uploads |path| in chunks and commits it as |version|; returns the stored package. */
static Ferry__V1__Package *upload_package(const char *path, const char *version)
{
    Ferry__V1__CreatePackageUploadRequest cr = FERRY__V1__CREATE_PACKAGE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreatePackageUploadResponse *crr = NULL;
    Ferry__V1__CommitPackageRequest cm = FERRY__V1__COMMIT_PACKAGE_REQUEST__INIT;
    Ferry__V1__CommitPackageResponse *cmr = NULL;
    ferry_rpc_status_t st = {0};
    size_t len = 0;
    char *data = ftu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    cr.file_name = (char *)"pkg.zip";
    cr.size = len;
    ck_assert_int_eq(ferry_v1_admin_service_create_package_upload(H.admin, &cr, &crr, NULL, &st),
                     FERRY_RPC_OK);
    for (size_t off = 0; off < len; off += CHUNK) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;
        char hdr[128];
        snprintf(hdr, sizeof(hdr), "Content-Range: bytes %zu-%zu/%zu", off, off + n - 1, len);
        ck_assert_int_eq(http("PUT", crr->target->url, data + off, n, hdr, NULL), 204);
    }
    cm.upload_id = crr->upload_id;
    cm.version = (char *)version;
    ck_assert_msg(ferry_v1_admin_service_commit_package(H.admin, &cm, &cmr, NULL, &st) == FERRY_RPC_OK,
                  "commit: %s", st.message);
    /* Keep only the package (a copy that outlives the response). */
    size_t n = ferry__v1__package__get_packed_size(cmr->package);
    uint8_t *b = malloc(n + 1);
    ferry__v1__package__pack(cmr->package, b);
    Ferry__V1__Package *p = ferry__v1__package__unpack(NULL, n, b);
    free(b);
    free(data);
    protobuf_c_message_free_unpacked(&cmr->base, NULL);
    protobuf_c_message_free_unpacked(&crr->base, NULL);
    return p;
}

/* Publishes |version| FORCED to |customer|/PROD; writes the task id of |node| to |task|. */
static void release_to(const char *version, const char *customer, const char *node, char *task, size_t size)
{
    Ferry__V1__CreateReleaseRequest req = FERRY__V1__CREATE_RELEASE_REQUEST__INIT;
    Ferry__V1__ReleaseScope scope = FERRY__V1__RELEASE_SCOPE__INIT;
    Ferry__V1__CreateReleaseResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    scope.customer_code = (char *)customer;
    scope.environment = PROD;
    req.package_version = (char *)version;
    req.scope = &scope;
    req.policy = FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_FORCED;
    ck_assert_msg(ferry_v1_admin_service_create_release(H.admin, &req, &resp, NULL, &st) == FERRY_RPC_OK,
                  "release: %s", st.message);
    task[0] = '\0';
    for (size_t i = 0; i < resp->n_tasks; i++)
        if (strcmp(resp->tasks[i]->node_code, node) == 0)
            snprintf(task, size, "%s", resp->tasks[i]->id);
    ck_assert_str_ne(task, "");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Binds |code| and returns its pinned key (and key id). */
static void bind_key(const char *code, const char *token, uint8_t pub[32], char key_id[40])
{
    ferry_rpc_client_t *c = hh_client(&H, NULL);
    Ferry__V1__BindRequest req = FERRY__V1__BIND_REQUEST__INIT;
    Ferry__V1__BindResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.node_code = (char *)code;
    req.environment = PROD;
    req.token = (char *)token;
    ck_assert_int_eq(ferry_v1_agent_service_bind(c, &req, &resp, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(resp->n_signing_keys, 1);
    ck_assert_uint_eq(resp->signing_keys[0]->public_key.len, 32);
    memcpy(pub, resp->signing_keys[0]->public_key.data, 32);
    snprintf(key_id, 40, "%s", resp->signing_keys[0]->key_id);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
}

static Ferry__V1__GetDownloadResponse *get_download(const char *token, const char *task)
{
    ferry_rpc_client_t *c = hh_client(&H, token);
    Ferry__V1__GetDownloadRequest req = FERRY__V1__GET_DOWNLOAD_REQUEST__INIT;
    Ferry__V1__GetDownloadResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.task_id = (char *)task;
    ck_assert_msg(ferry_v1_agent_service_get_download(c, &req, &resp, NULL, &st) == FERRY_RPC_OK,
                  "GetDownload %s: %s", task, st.message);
    ferry_rpc_client_free(c);
    return resp;
}

/* Verifies |sm| with |pub| (and its key id) and returns the decoded manifest. */
static Ferry__V1__PackageManifest *verified(const Ferry__V1__SignedManifest *sm, const uint8_t pub[32],
                                            const char *key_id)
{
    ferry_err_t err = {0};
    ck_assert_ptr_nonnull(sm);
    ck_assert_str_eq(sm->key_id, key_id);
    ck_assert_uint_eq(sm->signature.len, FERRY_ED25519_SIG_LEN);
    ck_assert_msg(ferry_sign_verify(pub, sm->manifest.data, sm->manifest.len, sm->signature.data, &err) ==
                      FERRY_OK,
                  "manifest does not verify: %s", err.msg);
    /* One flipped byte and it no longer does. */
    uint8_t *copy = malloc(sm->manifest.len);
    memcpy(copy, sm->manifest.data, sm->manifest.len);
    copy[sm->manifest.len / 2] ^= 1;
    ck_assert_int_eq(ferry_sign_verify(pub, copy, sm->manifest.len, sm->signature.data, &err),
                     FERRY_E_SIGNATURE_INVALID);
    free(copy);
    Ferry__V1__PackageManifest *m =
        ferry__v1__package_manifest__unpack(NULL, sm->manifest.len, sm->manifest.data);
    ck_assert_ptr_nonnull(m);
    return m;
}

/* ---- storage --------------------------------------------------------------------------------- */

/* SetStorageConfig (LOCAL_DIR) for |customer| ("" = global) with |n| mirrors. */
static ferry_rpc_code_t set_storage(const char *customer, size_t n, const char *const *names,
                                    const char *const *urls, ferry_rpc_status_t *st,
                                    Ferry__V1__SetStorageConfigResponse **out)
{
    Ferry__V1__SetStorageConfigRequest req = FERRY__V1__SET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__StorageConfig cfg = FERRY__V1__STORAGE_CONFIG__INIT;
    Ferry__V1__LocalDirStorage local = FERRY__V1__LOCAL_DIR_STORAGE__INIT;
    Ferry__V1__DownloadMirror ms[16], *mp[16];
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++) {
        ferry__v1__download_mirror__init(&ms[i]);
        ms[i].name = (char *)names[i];
        ms[i].base_url = (char *)urls[i];
        mp[i] = &ms[i];
    }
    cfg.customer_code = (char *)customer;
    cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
    cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR;
    cfg.local_dir = &local;
    cfg.n_mirrors = n;
    cfg.mirrors = mp;
    req.config = &cfg;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_admin_service_set_storage_config(H.admin, &req, &resp, NULL, st);
    if (out != NULL)
        *out = resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

/* The stored configuration of |customer| as JSON (what an admin reads back), malloc'd. */
static char *storage_json(const char *customer)
{
    Ferry__V1__GetStorageConfigRequest req = FERRY__V1__GET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__GetStorageConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_err_t err = {0};
    char *out = NULL;
    req.customer_code = (char *)customer;
    ck_assert_int_eq(ferry_v1_admin_service_get_storage_config(H.admin, &req, &resp, NULL, &st),
                     FERRY_RPC_OK);
    ck_assert_int_eq(ferry_json_encode(&resp->config->base, 0, &out, NULL, &err), FERRY_OK);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return out;
}

/* ---- GetDownload -------------------------------------------------------------------------------- */

static void check_mirror(const Ferry__V1__DownloadSource *primary, const Ferry__V1__DownloadSource *s,
                         const char *name, const char *base, int prio, const char *sha)
{
    char want[2048];
    snprintf(want, sizeof(want), "%s/blobs/sha256/%s%s", base, sha, strchr(primary->url, '?'));
    ck_assert_str_eq(s->name, name);
    ck_assert_str_eq(s->url, want);
    ck_assert_int_eq(s->priority, prio);
    ck_assert_int_eq(ts_ms(s->expires_at), ts_ms(primary->expires_at));
}

START_TEST(download_sources_and_task_manifests)
{
    char pkg_path[PATH_MAX], ta[32], tc[32], tb[32], key_id[40], key_id_b[40], want[1024], sql[512];
    uint8_t pub[32], pub_b[32];
    ferry_rpc_status_t st;
    const char *mn[] = {"m1", "m-2"};
    const char *mu[] = {"http://mirror-one.example:8080/ferry/", "https://m2.example/base"};

    snprintf(pkg_path, sizeof(pkg_path), "%s/p.zip", tmp);
    build_package(pkg_path, "dist");
    Ferry__V1__Package *pkg = upload_package(pkg_path, "1.25.12.13(12521)");
    ck_assert_int_eq(set_storage("", 2, mn, mu, &st, NULL), FERRY_RPC_OK);
    release_to("1.25.12.13(12521)", "ACME", "NA", ta, sizeof(ta));
    release_to("1.25.12.13(12521)", "BETA", "NB", tb, sizeof(tb));
    snprintf(
        sql, sizeof(sql),
        "SELECT id FROM update_task WHERE release_id = (SELECT release_id FROM update_task WHERE id = %s)"
        " AND node_id = (SELECT id FROM node WHERE code = 'NC')",
        ta);
    snprintf(tc, sizeof(tc), "%lld", hh_query_int(&H, sql));
    bind_key("NA", TOK_A, pub, key_id);
    bind_key("NB", TOK_B, pub_b, key_id_b);
    ck_assert(memcmp(pub, pub_b, 32) == 0);
    H.hub->cfg.manifest_ttl_s = 3600;

    /* Primary first, then the mirrors in their order, same path and signed query. */
    int64_t t0 = now_ms();
    Ferry__V1__GetDownloadResponse *d = get_download(TOK_A, ta);
    int64_t t1 = now_ms();
    ck_assert_str_eq(d->package_version, "1.25.12.13(12521)");
    ck_assert_str_eq(d->sha256, pkg->sha256);
    ck_assert_uint_eq(d->size, pkg->size);
    ck_assert_uint_eq(d->n_sources, 3);
    snprintf(want, sizeof(want), "%s/blobs/sha256/%s?", H.base_url, pkg->sha256);
    ck_assert_str_eq(d->sources[0]->name, "primary");
    ck_assert_int_eq(d->sources[0]->priority, 0);
    ck_assert_msg(strncmp(d->sources[0]->url, want, strlen(want)) == 0, "primary url %s", d->sources[0]->url);
    ck_assert_int_gt(ts_ms(d->sources[0]->expires_at), t0);
    check_mirror(d->sources[0], d->sources[1], "m1", "http://mirror-one.example:8080/ferry", 10, pkg->sha256);
    check_mirror(d->sources[0], d->sources[2], "m-2", "https://m2.example/base", 20, pkg->sha256);
    /* The primary really serves the package. */
    buf_t body = {0};
    char sha[65];
    ck_assert_int_eq(http("GET", d->sources[0]->url, NULL, 0, NULL, &body), 200);
    ferry_sha256_hex(body.p, body.n, sha);
    ck_assert_str_eq(sha, pkg->sha256);
    free(body.p);

    /* The manifest: signed now for this node's task, verifies with the Bind key. */
    Ferry__V1__PackageManifest *m = verified(d->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, ta);
    ck_assert_str_eq(m->node_code, "NA");
    ck_assert_str_eq(m->customer_code, "ACME");
    ck_assert_int_eq(m->task_kind, FERRY__V1__TASK_KIND__TASK_KIND_UPDATE);
    ck_assert_str_eq(m->version, "1.25.12.13(12521)");
    ck_assert_str_eq(m->sha256, pkg->sha256);
    ck_assert_uint_eq(m->size, pkg->size);
    ck_assert_int_eq(m->type, FERRY__V1__PACKAGE_TYPE__PACKAGE_TYPE_FULL);
    ck_assert_ptr_nonnull(m->version_info);
    ck_assert_uint_eq(m->version_info->build, 12521);
    ck_assert_uint_eq(m->n_parts, 4);
    ck_assert_uint_eq(m->n_parts, pkg->n_parts);
    for (size_t i = 0; i < m->n_parts; i++) {
        ck_assert_str_eq(m->parts[i]->name, pkg->parts[i]->name);
        ck_assert_str_eq(m->parts[i]->sha256, pkg->parts[i]->sha256);
        ck_assert_uint_eq(m->parts[i]->size, pkg->parts[i]->size);
    }
    ck_assert_int_ge(ts_ms(m->signed_at), t0 - 1000);
    ck_assert_int_le(ts_ms(m->signed_at), t1 + 1000);
    ck_assert_int_eq(ts_ms(m->expires_at) - ts_ms(m->signed_at), 3600 * 1000);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    /* Another node of the same release, another customer: each its own statement. */
    d = get_download(TOK_C, tc);
    m = verified(d->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, tc);
    ck_assert_str_eq(m->node_code, "NC");
    ck_assert_str_eq(m->customer_code, "ACME");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    d = get_download(TOK_B, tb);
    m = verified(d->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, tb);
    ck_assert_str_eq(m->node_code, "NB");
    ck_assert_str_eq(m->customer_code, "BETA");
    ck_assert_uint_eq(d->n_sources, 3);
    ck_assert_str_eq(d->sources[0]->name, "primary");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    /* The package's upload-time manifest is unchanged (export and GetPackage use it). */
    Ferry__V1__GetPackageRequest gp = FERRY__V1__GET_PACKAGE_REQUEST__INIT;
    Ferry__V1__GetPackageResponse *gpr = NULL;
    gp.version = (char *)"1.25.12.13(12521)";
    ck_assert_int_eq(ferry_v1_admin_service_get_package(H.admin, &gp, &gpr, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(gpr->package->signed_manifest->manifest.len, pkg->signed_manifest->manifest.len);
    ck_assert(memcmp(gpr->package->signed_manifest->manifest.data, pkg->signed_manifest->manifest.data,
                     pkg->signed_manifest->manifest.len) == 0);
    m = verified(gpr->package->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, "");
    ck_assert_ptr_null(m->expires_at);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&gpr->base, NULL);

    /* A customer override: its primary is "customer-storage" with its own mirrors only. */
    const char *cn[] = {"acme-lan"};
    const char *cu[] = {"http://10.0.0.5:8080/ferry-mirror"};
    ck_assert_int_eq(set_storage("ACME", 1, cn, cu, &st, NULL), FERRY_RPC_OK);
    d = get_download(TOK_A, ta);
    ck_assert_uint_eq(d->n_sources, 2);
    ck_assert_str_eq(d->sources[0]->name, "customer-storage");
    ck_assert_int_eq(d->sources[0]->priority, 0);
    check_mirror(d->sources[0], d->sources[1], "acme-lan", "http://10.0.0.5:8080/ferry-mirror", 10,
                 pkg->sha256);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    d = get_download(TOK_B, tb); /* BETA still uses the global storage */
    ck_assert_uint_eq(d->n_sources, 3);
    ck_assert_str_eq(d->sources[0]->name, "primary");
    ck_assert_str_eq(d->sources[1]->name, "m1");
    protobuf_c_message_free_unpacked(&d->base, NULL);

    /* A rollback task gets a ROLLBACK statement (lets the agent go back a version). */
    snprintf(
        sql, sizeof(sql),
        "INSERT INTO update_task (release_id, node_id, kind, rollback_of_task_id, created_at, updated_at)"
        " SELECT release_id, node_id, 2, id, 1, 1 FROM update_task WHERE id = %s",
        ta);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(H.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char rb[32];
    snprintf(rb, sizeof(rb), "%lld", hh_query_int(&H, "SELECT max(id) FROM update_task WHERE kind = 2"));
    H.hub->cfg.manifest_ttl_s = 60;
    d = get_download(TOK_A, rb);
    m = verified(d->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, rb);
    ck_assert_int_eq(m->task_kind, FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK);
    ck_assert_int_eq(ts_ms(m->expires_at) - ts_ms(m->signed_at), 60 * 1000);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&d->base, NULL);

    /* A node cannot ask for another node's task. */
    ferry_rpc_client_t *b = hh_client(&H, TOK_B);
    Ferry__V1__GetDownloadRequest gd = FERRY__V1__GET_DOWNLOAD_REQUEST__INIT;
    gd.task_id = ta;
    ck_assert_int_eq(ferry_v1_agent_service_get_download(b, &gd, &d, NULL, &st), FERRY_RPC_PERMISSION_DENIED);
    ferry_rpc_client_free(b);
    protobuf_c_message_free_unpacked(&pkg->base, NULL);
}
END_TEST

/* ---- ExportPackage ------------------------------------------------------------------------------ */

static ferry_rpc_code_t export_package(ferry_rpc_client_t *c, const char *version, int64_t valid_s,
                                       const char *customer, Ferry__V1__ExportPackageResponse **out,
                                       ferry_rpc_status_t *st)
{
    Ferry__V1__ExportPackageRequest req = FERRY__V1__EXPORT_PACKAGE_REQUEST__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = valid_s;
    req.version = (char *)version;
    req.valid_for = valid_s >= 0 ? &d : NULL; /* < 0: not given */
    req.customer_code = (char *)customer;
    *out = NULL;
    memset(st, 0, sizeof(*st));
    return ferry_v1_admin_service_export_package(c, &req, out, NULL, st);
}

/* ACME's own storage: local, links on |base|. */
static void acme_storage_on(const char *base)
{
    Ferry__V1__SetStorageConfigRequest req = FERRY__V1__SET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__StorageConfig cfg = FERRY__V1__STORAGE_CONFIG__INIT;
    Ferry__V1__LocalDirStorage local = FERRY__V1__LOCAL_DIR_STORAGE__INIT;
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    local.public_base_url = (char *)base;
    cfg.customer_code = (char *)"ACME";
    cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
    cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR;
    cfg.local_dir = &local;
    req.config = &cfg;
    ck_assert_msg(ferry_v1_admin_service_set_storage_config(H.admin, &req, &resp, NULL, &st) == FERRY_RPC_OK,
                  "storage: %s", st.message);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Audit rows of ExportPackage with |outcome| (1 ok, 2 failure, 3 denied) and |error_code|. */
static long export_audits(int outcome, const char *error_code, const char *target)
{
    char where[256];
    snprintf(where, sizeof(where),
             "method = 'ferry.v1.AdminService/ExportPackage' AND outcome = %d AND error_code = '%s'"
             " AND target = '%s'",
             outcome, error_code, target);
    return hh_count(&H, "audit_log", where);
}

START_TEST(export_package_offline_manifest)
{
    static const char V[] = "2.0.0.1(7)";
    char pkg_path[PATH_MAX], key_id[40], want[1024], sha[65], itok[HH_TOKEN_MAX];
    uint8_t pub[32];
    ferry_rpc_status_t st;
    Ferry__V1__ExportPackageResponse *r = NULL;

    snprintf(pkg_path, sizeof(pkg_path), "%s/x.zip", tmp);
    build_package(pkg_path, "export");
    Ferry__V1__Package *pkg = upload_package(pkg_path, V);
    bind_key("NA", TOK_A, pub, key_id);

    /* For any customer, a week: global storage, no task, no node, kind UPDATE. */
    int64_t t0 = now_ms();
    ck_assert_msg(export_package(H.admin, V, 7 * 86400, "", &r, &st) == FERRY_RPC_OK, "export: %s",
                  st.message);
    int64_t t1 = now_ms();
    ck_assert_str_eq(r->package->version, V);
    ck_assert_str_eq(r->package->sha256, pkg->sha256);
    Ferry__V1__PackageManifest *m = verified(r->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->task_id, "");
    ck_assert_str_eq(m->node_code, "");
    ck_assert_str_eq(m->customer_code, "");
    ck_assert_int_eq(m->task_kind, FERRY__V1__TASK_KIND__TASK_KIND_UPDATE);
    ck_assert_str_eq(m->version, V);
    ck_assert_str_eq(m->sha256, pkg->sha256);
    ck_assert_uint_eq(m->size, pkg->size);
    ck_assert_uint_eq(m->n_parts, 4);
    ck_assert_int_ge(ts_ms(m->signed_at), t0 - 1000);
    ck_assert_int_le(ts_ms(m->signed_at), t1 + 1000);
    ck_assert_int_eq(ts_ms(m->expires_at) - ts_ms(m->signed_at), 7 * 86400 * 1000LL);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    snprintf(want, sizeof(want), "%s/blobs/sha256/%s?", H.base_url, pkg->sha256);
    ck_assert_msg(strncmp(r->download->url, want, strlen(want)) == 0, "link %s", r->download->url);
    ck_assert_int_gt(ts_ms(r->download->expires_at), t0);
    buf_t body = {0};
    ck_assert_int_eq(http("GET", r->download->url, NULL, 0, NULL, &body), 200);
    ferry_sha256_hex(body.p, body.n, sha);
    ck_assert_str_eq(sha, pkg->sha256);
    free(body.p);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(export_audits(1, "", "package:2.0.0.1(7)"), 1);

    /* Limited to ACME, by an implementer, the bounds themselves: ACME's storage. */
    acme_storage_on("http://acme-files.example:8080");
    ck_assert_int_eq(hh_create_admin_token(&H, FERRY__V1__ROLE__ROLE_IMPLEMENTER, "impl", itok, sizeof(itok)),
                     0);
    ferry_rpc_client_t *impl = hh_client(&H, itok);
    ck_assert_msg(export_package(impl, V, 366 * 86400, "ACME", &r, &st) == FERRY_RPC_OK, "export: %s",
                  st.message);
    m = verified(r->signed_manifest, pub, key_id);
    ck_assert_str_eq(m->customer_code, "ACME");
    ck_assert_str_eq(m->task_id, "");
    ck_assert_int_eq(ts_ms(m->expires_at) - ts_ms(m->signed_at), 366 * 86400 * 1000LL);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    snprintf(want, sizeof(want), "http://acme-files.example:8080/blobs/sha256/%s?", pkg->sha256);
    ck_assert_msg(strncmp(r->download->url, want, strlen(want)) == 0, "link %s", r->download->url);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(export_package(impl, V, 3600, "", &r, &st), FERRY_RPC_OK);
    snprintf(want, sizeof(want), "%s/blobs/sha256/", H.base_url); /* BETA or nobody: global */
    ck_assert_msg(strncmp(r->download->url, want, strlen(want)) == 0, "link %s", r->download->url);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(export_audits(1, "", "package:2.0.0.1(7)"), 3);

    /* Refusals: the E_* code, the field named, an audit row each, nothing else changed. */
    long packages = hh_count(&H, "package", NULL), uploads = hh_count(&H, "upload", NULL);
    long tasks = hh_count(&H, "update_task", NULL);
    static const struct {
        const char *version;
        int64_t valid_s;
        const char *customer;
        ferry_rpc_code_t code;
        const char *app, *field;
    } bad[] = {
        {"9.9.9.9(9)", 86400, "", FERRY_RPC_NOT_FOUND, "E_NOT_FOUND", "9.9.9.9(9)"},
        {V, 3599, "", FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "valid_for"},
        {V, 366 * 86400 + 1, "", FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "valid_for"},
        {V, -1, "", FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "valid_for"},
        {V, 86400, "NOPE", FERRY_RPC_NOT_FOUND, "E_NOT_FOUND", "customer_code"},
        {V, 86400, "bad code!", FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "customer_code"},
        {"", 86400, "", FERRY_RPC_INVALID_ARGUMENT, "E_INVALID_ARG", "version"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(export_package(impl, bad[i].version, bad[i].valid_s, bad[i].customer, &r, &st),
                         bad[i].code);
        ck_assert_ptr_null(r);
        ck_assert_msg(strcmp(st.app_code, bad[i].app) == 0, "case %zu: app code %s", i, st.app_code);
        ck_assert_msg(strstr(st.message, bad[i].field) != NULL, "case %zu: %s", i, st.message);
    }
    ck_assert_int_eq(export_audits(2, "E_INVALID_ARG", "package:2.0.0.1(7)"), 4);
    ck_assert_int_eq(export_audits(2, "E_INVALID_ARG", "package:"), 1);
    ck_assert_int_eq(export_audits(2, "E_NOT_FOUND", "package:2.0.0.1(7)"), 1);
    ck_assert_int_eq(export_audits(2, "E_NOT_FOUND", "package:9.9.9.9(9)"), 1);
    ck_assert_int_eq(export_audits(1, "", "package:2.0.0.1(7)"), 3);
    ck_assert_int_eq(hh_count(&H, "package", NULL), packages);
    ck_assert_int_eq(hh_count(&H, "upload", NULL), uploads);
    ck_assert_int_eq(hh_count(&H, "update_task", NULL), tasks);

    /* A node token may not export. */
    ferry_rpc_client_t *node = hh_client(&H, TOK_A);
    ck_assert_int_eq(export_package(node, V, 86400, "", &r, &st), FERRY_RPC_PERMISSION_DENIED);
    ferry_rpc_client_free(node);
    ferry_rpc_client_free(impl);
    protobuf_c_message_free_unpacked(&pkg->base, NULL);
}
END_TEST

/* ---- mirror validation ------------------------------------------------------------------------ */

START_TEST(mirror_validation_changes_nothing)
{
    ferry_rpc_status_t st;
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    const char *gn[] = {"m1"};
    const char *gu[] = {"http://mirror-one.example:8080/ferry//"};
    ck_assert_int_eq(set_storage("", 1, gn, gu, &st, &resp), FERRY_RPC_OK);
    ck_assert_uint_eq(resp->config->n_mirrors, 1);
    ck_assert_str_eq(resp->config->mirrors[0]->name, "m1");
    ck_assert_str_eq(resp->config->mirrors[0]->base_url, "http://mirror-one.example:8080/ferry");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    char *before = storage_json("");
    ck_assert_ptr_nonnull(strstr(before, "\"mirrors\":[{\"name\":\"m1\""));
    long rows = hh_count(&H, "storage_config", NULL);

    static const char long_name[] = "abcdefghijklmnopqrstuvwxyz0123456"; /* 33 */
    static const char *nine_n[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    static const char *nine_u[] = {"http://a", "http://b", "http://c", "http://d", "http://e",
                                   "http://f", "http://g", "http://h", "http://i"};
    static const struct {
        size_t n;
        const char *names[2];
        const char *urls[2];
        const char *field;
    } bad[] = {
        {1, {""}, {"http://x"}, "mirrors[0].name"},
        {1, {"has space"}, {"http://x"}, "mirrors[0].name"},
        {1, {long_name}, {"http://x"}, "mirrors[0].name"},
        {1, {"primary"}, {"http://x"}, "reserved"},
        {1, {"Customer-Storage"}, {"http://x"}, "reserved"},
        {2, {"lan", "LAN"}, {"http://x", "http://y"}, "mirrors[1].name"},
        {1, {"m"}, {""}, "mirrors[0].base_url"},
        {1, {"m"}, {"ftp://x/y"}, "mirrors[0].base_url"},
        {1, {"m"}, {"http://x/a?b=1"}, "mirrors[0].base_url"},
        {1, {"m"}, {"http://x/a#frag"}, "mirrors[0].base_url"},
        {1, {"m"}, {"http://"}, "mirrors[0].base_url"},
        {1, {"m"}, {"https:///path"}, "mirrors[0].base_url"},
        {1, {"m"}, {"http://user:pw@x/"}, "mirrors[0].base_url"},
        {1, {"m"}, {"http://x/a b"}, "mirrors[0].base_url"},
        {2, {"ok", "m"}, {"http://x", "x.example/no-scheme"}, "mirrors[1].base_url"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(set_storage("", bad[i].n, bad[i].names, bad[i].urls, &st, NULL),
                         FERRY_RPC_INVALID_ARGUMENT);
        ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
        ck_assert_msg(strstr(st.message, bad[i].field) != NULL, "case %zu: '%s' does not name %s", i,
                      st.message, bad[i].field);
        char *after = storage_json("");
        ck_assert_str_eq(after, before);
        free(after);
    }
    ck_assert_int_eq(set_storage("", 9, nine_n, nine_u, &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.app_code, "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr(st.message, "mirrors: at most 8"));
    char *after = storage_json("");
    ck_assert_str_eq(after, before);
    free(after);
    /* Eight is fine. */
    ck_assert_int_eq(set_storage("ACME", 8, nine_n, nine_u, &st, NULL), FERRY_RPC_OK);
    ck_assert_int_eq(hh_count(&H, "storage_config", NULL), rows + 1);
    /* A refused override for a customer without one creates no row. */
    ck_assert_int_eq(set_storage("BETA", 1, bad[0].names, bad[0].urls, &st, NULL),
                     FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_int_eq(hh_count(&H, "storage_config", NULL), rows + 1);
    after = storage_json("");
    ck_assert_str_eq(after, before);
    free(after);
    /* An empty list clears the mirrors. */
    ck_assert_int_eq(set_storage("", 0, NULL, NULL, &st, &resp), FERRY_RPC_OK);
    ck_assert_uint_eq(resp->config->n_mirrors, 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    free(before);
}
END_TEST

/* ---- download telemetry ------------------------------------------------------------------------- */

static ferry_rpc_code_t report(const char *token, const char *task, uint64_t seq, int state,
                               const Ferry__V1__DownloadStats *dl, ferry_rpc_status_t *st, bool *duplicate)
{
    ferry_rpc_client_t *c = hh_client(&H, token);
    Ferry__V1__ProgressReport r = FERRY__V1__PROGRESS_REPORT__INIT;
    Ferry__V1__ReportProgressRequest req = FERRY__V1__REPORT_PROGRESS_REQUEST__INIT;
    Ferry__V1__ReportProgressResponse *resp = NULL;
    r.task_id = (char *)task;
    r.sequence = seq;
    r.state = (Ferry__V1__TaskState)state;
    r.download = (Ferry__V1__DownloadStats *)dl;
    req.report = &r;
    memset(st, 0, sizeof(*st));
    ferry_rpc_code_t rc = ferry_v1_report_service_report_progress(c, &req, &resp, NULL, st);
    if (duplicate != NULL)
        *duplicate = resp != NULL && resp->duplicate;
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
    return rc;
}

/* The stored telemetry of |task|, decoded. */
static Ferry__V1__DownloadStats *stored_stats(const char *task)
{
    char q[160], text[2048];
    ProtobufCMessage *m = NULL;
    ferry_err_t err = {0};
    snprintf(q, sizeof(q), "SELECT download_json FROM update_task WHERE id = %s", task);
    ck_assert_int_eq(hh_query_text(&H, q, text, sizeof(text)), 0);
    if (text[0] == '\0')
        return NULL;
    ck_assert_msg(ferry_json_decode(&ferry__v1__download_stats__descriptor, text, strlen(text), &m, &err) ==
                      FERRY_OK,
                  "%s: %s", text, err.msg);
    return (Ferry__V1__DownloadStats *)m;
}

START_TEST(download_telemetry_round_trip)
{
    char pkg_path[PATH_MAX], ta[32];
    ferry_rpc_status_t st;
    bool dup = false;
    snprintf(pkg_path, sizeof(pkg_path), "%s/p.zip", tmp);
    build_package(pkg_path, "tele");
    Ferry__V1__Package *pkg = upload_package(pkg_path, "1.0.0.1(1)");
    release_to("1.0.0.1(1)", "ACME", "NA", ta, sizeof(ta));

    ck_assert_int_eq(report(TOK_A, ta, 1, 20, NULL, &st, NULL), FERRY_RPC_OK);
    ck_assert_ptr_null(stored_stats(ta));
    Ferry__V1__DownloadStats dl = FERRY__V1__DOWNLOAD_STATS__INIT;
    Google__Protobuf__Duration dur = GOOGLE__PROTOBUF__DURATION__INIT;
    char *fb[] = {(char *)"primary: connect to 127.0.0.1:9 refused", (char *)"m1: HTTP 404"};
    dur.seconds = 2;
    dur.nanos = 500000000;
    dl.source_name = (char *)"m-2";
    dl.bytes = pkg->size;
    dl.duration = &dur;
    dl.attempts = 3;
    dl.n_fallbacks = 2;
    dl.fallbacks = fb;
    dl.resumed_bytes = 1000;
    ck_assert_int_eq(report(TOK_A, ta, 2, 30, &dl, &st, NULL), FERRY_RPC_OK);

    Ferry__V1__DownloadStats *s = stored_stats(ta);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s->source_name, "m-2");
    ck_assert_uint_eq(s->bytes, pkg->size);
    ck_assert_int_eq(s->duration->seconds, 2);
    ck_assert_int_eq(s->duration->nanos, 500000000);
    ck_assert_uint_eq(s->attempts, 3);
    ck_assert_uint_eq(s->n_fallbacks, 2);
    ck_assert_str_eq(s->fallbacks[0], fb[0]);
    ck_assert_str_eq(s->fallbacks[1], fb[1]);
    ck_assert_uint_eq(s->resumed_bytes, 1000);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* A duplicate (same sequence, other stats) stores nothing; later reports keep them. */
    dl.source_name = (char *)"primary";
    ck_assert_int_eq(report(TOK_A, ta, 2, 30, &dl, &st, &dup), FERRY_RPC_OK);
    ck_assert(dup);
    ck_assert_int_eq(report(TOK_A, ta, 3, 50, NULL, &st, NULL), FERRY_RPC_OK);
    s = stored_stats(ta);
    ck_assert_str_eq(s->source_name, "m-2");
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* Malformed telemetry is refused with the field named, and changes nothing. */
    char long_src[80];
    memset(long_src, 'x', sizeof(long_src) - 1);
    long_src[sizeof(long_src) - 1] = '\0';
    dl.source_name = long_src;
    ck_assert_int_eq(report(TOK_A, ta, 4, 50, &dl, &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "download.source_name"));
    dl.source_name = (char *)"m1";
    dur.seconds = -1;
    ck_assert_int_eq(report(TOK_A, ta, 4, 50, &dl, &st, NULL), FERRY_RPC_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "download.duration"));
    char q[128];
    snprintf(q, sizeof(q), "SELECT last_seq FROM update_task WHERE id = %s", ta);
    ck_assert_int_eq(hh_query_int(&H, q), 3);
    s = stored_stats(ta);
    ck_assert_str_eq(s->source_name, "m-2");
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* GetTask and ListTasks carry it (UpdateTask.download). */
    Ferry__V1__GetTaskRequest gt = FERRY__V1__GET_TASK_REQUEST__INIT;
    Ferry__V1__GetTaskResponse *gtr = NULL;
    gt.id = ta;
    ck_assert_int_eq(ferry_v1_admin_service_get_task(H.admin, &gt, &gtr, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(gtr->task->state, 50);
    ck_assert_ptr_nonnull(gtr->task->download);
    ck_assert_str_eq(gtr->task->download->source_name, "m-2");
    ck_assert_uint_eq(gtr->task->download->bytes, pkg->size);
    ck_assert_uint_eq(gtr->task->download->attempts, 3);
    ck_assert_uint_eq(gtr->task->download->n_fallbacks, 2);
    ck_assert_str_eq(gtr->task->download->fallbacks[0], fb[0]);
    ck_assert_uint_eq(gtr->task->download->resumed_bytes, 1000);
    ck_assert_int_eq(gtr->task->download->duration->seconds, 2);
    protobuf_c_message_free_unpacked(&gtr->base, NULL);
    Ferry__V1__ListTasksRequest lt = FERRY__V1__LIST_TASKS_REQUEST__INIT;
    Ferry__V1__ListTasksResponse *ltr = NULL;
    lt.node_code = (char *)"NA";
    ck_assert_int_eq(ferry_v1_admin_service_list_tasks(H.admin, &lt, &ltr, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(ltr->n_tasks, 1);
    ck_assert_ptr_nonnull(ltr->tasks[0]->download);
    ck_assert_str_eq(ltr->tasks[0]->download->source_name, "m-2");
    protobuf_c_message_free_unpacked(&ltr->base, NULL);
    /* A task that has not downloaded yet has none. */
    char tc[32];
    snprintf(tc, sizeof(tc), "%lld",
             hh_query_int(
                 &H, "SELECT t.id FROM update_task t JOIN node n ON n.id = t.node_id WHERE n.code = 'NC'"));
    gt.id = tc;
    ck_assert_int_eq(ferry_v1_admin_service_get_task(H.admin, &gt, &gtr, NULL, &st), FERRY_RPC_OK);
    ck_assert_ptr_null(gtr->task->download);
    protobuf_c_message_free_unpacked(&gtr->base, NULL);
    protobuf_c_message_free_unpacked(&pkg->base, NULL);
}
END_TEST

/* ---- node-config preview --------------------------------------------------------------------- */

static void upload_node_config(const char *token, const char *text)
{
    ferry_rpc_client_t *c = hh_client(&H, token);
    ferry_rpc_status_t st = {0};
    char sha[FERRY_SHA256_HEX_LEN + 1];
    Ferry__V1__CreateFileUploadRequest cu = FERRY__V1__CREATE_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CreateFileUploadResponse *cur = NULL;
    Ferry__V1__CommitFileUploadRequest cm = FERRY__V1__COMMIT_FILE_UPLOAD_REQUEST__INIT;
    Ferry__V1__CommitFileUploadResponse *cmr = NULL;
    ferry_sha256_hex(text, strlen(text), sha);
    cu.kind = FERRY__V1__FILE_KIND__FILE_KIND_NODE_CONFIG;
    cu.file_name = (char *)"node-config.json";
    cu.size = strlen(text);
    cu.sha256 = sha;
    cu.content_type = (char *)"application/json";
    ck_assert_int_eq(ferry_v1_report_service_create_file_upload(c, &cu, &cur, NULL, &st), FERRY_RPC_OK);
    ck_assert_int_eq(http("PUT", cur->target->url, text, strlen(text), NULL, NULL) / 100, 2);
    cm.upload_id = cur->upload_id;
    ck_assert_int_eq(ferry_v1_report_service_commit_file_upload(c, &cm, &cmr, NULL, &st), FERRY_RPC_OK);
    protobuf_c_message_free_unpacked(&cmr->base, NULL);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    ferry_rpc_client_free(c);
}

static Ferry__V1__GetNodeConfigResponse *get_node_config(const char *node)
{
    Ferry__V1__GetNodeConfigRequest req = FERRY__V1__GET_NODE_CONFIG_REQUEST__INIT;
    Ferry__V1__GetNodeConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    req.node_code = (char *)node;
    ck_assert_int_eq(ferry_v1_admin_service_get_node_config(H.admin, &req, &resp, NULL, &st), FERRY_RPC_OK);
    return resp;
}

/* True if |needle| occurs anywhere in the serialized response (what goes on the wire). */
static bool wire_has(const ProtobufCMessage *m, const char *needle)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n + 1);
    protobuf_c_message_pack(m, b);
    bool found = memmem(b, n, needle, strlen(needle)) != NULL;
    free(b);
    return found;
}

/* The engine's format (agent/engine/include/ferry/engine/config.h), SQL Server flavour. */
static const char ENGINE_MSSQL[] =
    "{\n"
    "  \"configVersion\": 202512140001,\n"
    "  \"service\": {\n"
    "    \"name\": \"RCA7_Service_InstanceA\", \"stopTimeoutSeconds\": 90, \"startTimeoutSeconds\": 150,\n"
    "    \"control\": \"command\",\n"
    "    \"stopCommand\": \"/opt/rca7/ctl stop --password=topsecret\",\n"
    "    \"startCommand\": \"/opt/rca7/ctl start\", \"statusCommand\": \"/opt/rca7/ctl status\",\n"
    "    \"healthCheck\": {\"kind\": \"http\", \"target\": \"http://127.0.0.1:8080/health\"}\n"
    "  },\n"
    "  \"paths\": {\n"
    "    \"serverDir\": \"/srv/rca7/server\", \"clientDir\": \"/srv/rca7/files/package/client\",\n"
    "    \"backupRoot\": \"/srv/rca7/backup\", \"tempDir\": \"/srv/rca7/update_tmp\",\n"
    "    \"protectPaths\": [\"/srv/rca7/server/config\", \"/srv/rca7/server/logs\"]\n"
    "  },\n"
    "  \"backup\": {\n"
    "    \"retentionN\": 7,\n"
    "    \"db\": {\n"
    "      \"engine\": \"mssql\",\n"
    "      \"sqlConnectionString\": \"Server=127.0.0.1;Database=master;User Id=sa;Password={hun;ter2};"
    "TrustServerCertificate=True;\",\n"
    "      \"databases\": [\"RCA7_Main\", \"RCA7_Log\"], \"backupFileName\": \"data.bak\"\n"
    "    },\n"
    "    \"clientBackupFileName\": \"client.zip\"\n"
    "  },\n"
    "  \"deploy\": {\"deleteOldFiles\": true, \"clientDeleteOldFiles\": false},\n"
    "  \"stateDir\": \"/var/lib/ferry-agent\"\n"
    "}\n";

/* scripts/demo.sh's file: SQLite, command control, everything else default. */
static const char ENGINE_SQLITE[] =
    "{\"configVersion\": 1, \"service\": {\"name\": \"rca7-demo\", \"stopTimeoutSeconds\": 20,"
    " \"startTimeoutSeconds\": 20, \"control\": \"command\", \"startCommand\": \"testd --daemon\","
    " \"stopCommand\": \"testd --stop\", \"statusCommand\": \"testd --status\","
    " \"healthCheck\": {\"kind\": \"http\", \"target\": \"http://127.0.0.1:9/health\"}},"
    " \"paths\": {\"serverDir\": \"/site/server\", \"clientDir\": \"/site/client\", \"backupRoot\": "
    "\"/site/backup\","
    " \"tempDir\": \"/site/tmp\", \"protectPaths\": [\"/site/server/config\", \"/site/server/logs\"]},"
    " \"backup\": {\"retentionN\": 5, \"db\": {\"engine\": \"sqlite\", \"databases\": [\"/site/db/main.db\"],"
    " \"backupFileName\": \"data.bak\"}, \"clientBackupFileName\": \"client.zip\"},"
    " \"deploy\": {\"deleteOldFiles\": true, \"clientDeleteOldFiles\": true}, \"stateDir\": \"/site/state\"}";

START_TEST(node_config_preview)
{
    upload_node_config(TOK_A, ENGINE_MSSQL);
    upload_node_config(TOK_C, ENGINE_SQLITE);

    Ferry__V1__GetNodeConfigResponse *r = get_node_config("NA");
    const Ferry__V1__NodeConfigSummary *s = r->summary;
    ck_assert_int_eq(s->config_version, 202512140001LL);
    ck_assert_ptr_nonnull(s->config);
    const Ferry__V1__NodeConfig *c = s->config;
    ck_assert_int_eq(c->config_version, 202512140001LL);
    ck_assert_ptr_nonnull(c->service);
    ck_assert_str_eq(c->service->name, "RCA7_Service_InstanceA");
    ck_assert_uint_eq(c->service->stop_timeout_seconds, 90);
    ck_assert_uint_eq(c->service->start_timeout_seconds, 150);
    ck_assert_ptr_nonnull(c->paths);
    ck_assert_str_eq(c->paths->server_dir, "/srv/rca7/server");
    ck_assert_str_eq(c->paths->client_dir, "/srv/rca7/files/package/client");
    ck_assert_str_eq(c->paths->backup_root, "/srv/rca7/backup");
    ck_assert_str_eq(c->paths->temp_dir, "/srv/rca7/update_tmp");
    ck_assert_uint_eq(c->paths->n_protect_paths, 2);
    ck_assert_str_eq(c->paths->protect_paths[1], "/srv/rca7/server/logs");
    ck_assert_ptr_nonnull(c->backup);
    ck_assert_uint_eq(c->backup->retention_n, 7);
    ck_assert_str_eq(c->backup->client_backup_file_name, "client.zip");
    ck_assert_ptr_nonnull(c->backup->db);
    ck_assert_int_eq(c->backup->db->engine, FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER);
    ck_assert_uint_eq(c->backup->db->n_databases, 2);
    ck_assert_str_eq(c->backup->db->databases[0], "RCA7_Main");
    ck_assert_str_eq(c->backup->db->backup_file_name, "data.bak");
    ck_assert_str_eq(c->backup->db->sql_connection_string,
                     "Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;");
    ck_assert_ptr_nonnull(c->deploy);
    ck_assert(c->deploy->delete_old_files);
    ck_assert(!c->deploy->client_delete_old_files);
    /* Service control, command lines (secrets masked), health check and stateDir. */
    ck_assert_int_eq(c->service->control, FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND);
    ck_assert_str_eq(c->service->stop_command, "/opt/rca7/ctl stop --password=***");
    ck_assert_str_eq(c->service->start_command, "/opt/rca7/ctl start");
    ck_assert_str_eq(c->service->status_command, "/opt/rca7/ctl status");
    ck_assert_ptr_nonnull(c->service->health_check);
    ck_assert_int_eq(c->service->health_check->kind, FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP);
    ck_assert_str_eq(c->service->health_check->target, "http://127.0.0.1:8080/health");
    ck_assert_str_eq(c->state_dir, "/var/lib/ferry-agent");
    ck_assert_ptr_nonnull(s->download);
    /* No secret anywhere in the answer, nor in what the index stores. */
    ck_assert(!wire_has(&r->base, "hun;ter2"));
    ck_assert(!wire_has(&r->base, "ter2"));
    ck_assert(!wire_has(&r->base, "topsecret"));
    char stored[8192];
    ck_assert_int_eq(hh_query_text(&H,
                                   "SELECT summary_json FROM node_config_index WHERE node_id ="
                                   " (SELECT id FROM node WHERE code = 'NA')",
                                   stored, sizeof(stored)),
                     0);
    ck_assert_ptr_null(strstr(stored, "ter2"));
    ck_assert_ptr_null(strstr(stored, "topsecret"));
    ck_assert_ptr_nonnull(strstr(stored, "/opt/rca7/ctl start")); /* kept, for the preview to come */
    protobuf_c_message_free_unpacked(&r->base, NULL);

    r = get_node_config("NC");
    c = r->summary->config;
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->config_version, 1);
    ck_assert_str_eq(c->service->name, "rca7-demo");
    ck_assert_int_eq(c->backup->db->engine, FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE);
    ck_assert_str_eq(c->backup->db->databases[0], "/site/db/main.db");
    ck_assert_str_eq(c->backup->db->sql_connection_string, "");
    ck_assert_str_eq(c->paths->protect_paths[0], "/site/server/config");
    /* The demo's file: every member has its NodeConfig field now. */
    ck_assert_int_eq(c->service->control, FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND);
    ck_assert_str_eq(c->service->start_command, "testd --daemon");
    ck_assert_str_eq(c->service->stop_command, "testd --stop");
    ck_assert_str_eq(c->service->status_command, "testd --status");
    ck_assert_int_eq(c->service->health_check->kind, FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP);
    ck_assert_str_eq(c->service->health_check->target, "http://127.0.0.1:9/health");
    ck_assert_str_eq(c->state_dir, "/site/state");
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* A row indexed by the previous server (whole document, connection string "***")
     * previews too. */
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(H.db_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    ck_assert_int_eq(
        sqlite3_exec(
            db,
            "UPDATE node_config_index SET summary_json = '{\"backup\":{\"db\":{\"engine\":\"mssql\","
            "\"sqlConnectionString\":\"***\"}},\"configVersion\":5,\"service\":{\"control\":\"systemd\","
            "\"name\":\"old\"},\"stateDir\":\"/x\"}' WHERE node_id = (SELECT id FROM node WHERE code = 'NC')",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    r = get_node_config("NC");
    ck_assert_ptr_nonnull(r->summary->config);
    ck_assert_str_eq(r->summary->config->service->name, "old");
    ck_assert_int_eq(r->summary->config->service->control,
                     FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_SYSTEMD);
    ck_assert_ptr_null(r->summary->config->service->health_check);
    ck_assert_str_eq(r->summary->config->state_dir, "/x");
    ck_assert_str_eq(r->summary->config->backup->db->sql_connection_string, "***");
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* The list shows the same previews. */
    Ferry__V1__ListNodeConfigsRequest lq = FERRY__V1__LIST_NODE_CONFIGS_REQUEST__INIT;
    Ferry__V1__ListNodeConfigsResponse *lr = NULL;
    ferry_rpc_status_t st;
    lq.customer_code = (char *)"ACME";
    ck_assert_int_eq(ferry_v1_admin_service_list_node_configs(H.admin, &lq, &lr, NULL, &st), FERRY_RPC_OK);
    ck_assert_uint_eq(lr->n_summaries, 2);
    ck_assert_str_eq(lr->summaries[0]->node_code, "NA");
    ck_assert_ptr_nonnull(lr->summaries[0]->config);
    ck_assert_str_eq(lr->summaries[0]->config->service->name, "RCA7_Service_InstanceA");
    ck_assert(!wire_has(&lr->base, "ter2"));
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_dist");
    TCase *tc = tcase_create("dist");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, download_sources_and_task_manifests);
    tcase_add_test(tc, mirror_validation_changes_nothing);
    tcase_add_test(tc, export_package_offline_manifest);
    tcase_add_test(tc, download_telemetry_round_trip);
    tcase_add_test(tc, node_config_preview);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
