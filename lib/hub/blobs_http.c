/*
 * The signed-URL HTTP routes ferryd serves itself (the local storage kind):
 *
 *   GET|HEAD /blobs/sha256/<hex>   a stored blob; single `Range` -> 206 + Content-Range,
 *                                  unsatisfiable -> 416. Served by the RPC runtime's
 *                                  transfer route (ferry_route_send_file(): mapped, never
 *                                  read whole into memory).
 *   PUT      /uploads/<id>         one chunk of a resumable upload, `Content-Range:
 *                                  bytes a-b/total` (or the whole file in one body);
 *                                  `a` must equal the bytes received so far, else 409
 *                                  with `Upload-Offset`. Answer 204 + `Upload-Offset`.
 *   HEAD     /uploads/<id>         `Upload-Offset` (bytes received) and `Upload-Length`.
 *
 * Every request is checked with ferry_signurl_verify() (method, path, expiry; constant
 * time) BEFORE anything else, including any lookup: a bad or expired signature is 403
 * with a body naming E_AUTH_INVALID. HEAD is accepted with a signature for HEAD, or for
 * the method the URL was issued for (GET for blobs, PUT for uploads): an upload target
 * is one URL used for both PUT and HEAD (admin.proto UploadTarget), and HEAD reveals
 * nothing the issued method does not.
 *
 * The runtime hands us whole request bodies (capped by the server's max_request_bytes),
 * so uploads are chunked; a chunk over HUB_CHUNK_MAX is 413. Everything of an upload
 * request after the signature (the SQL lookup, the write and its fdatasync) runs on the
 * worker pool (ferry_route_offload()), never on an event loop; a given upload id is
 * written by one request at a time (hub_upload_claim), a concurrent one gets 409.
 * No h2o here: HTTP belongs to lib/rpc.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/hooks.h"
#include "ferry/rpc_route.h"
#include "ferry/store/uploads.h"
#include "hub_pkg.h"

/* ---- range syntax (the runtime's parsers, under the hub's names) ----------------------- */

hub_range_kind_t hub_parse_range(const char *hdr, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    switch (ferry_http_parse_range(hdr, len, size, first, last)) {
    case FERRY_RANGE_PARTIAL:
        return HUB_RANGE_PARTIAL;
    case FERRY_RANGE_UNSATISFIABLE:
        return HUB_RANGE_UNSATISFIABLE;
    default:
        return HUB_RANGE_NONE;
    }
}

ferry_err_code_t hub_parse_content_range(const char *hdr, size_t len, uint64_t *first, uint64_t *last,
                                         uint64_t *total, ferry_err_t *err)
{
    return ferry_http_parse_content_range(hdr, len, first, last, total, err);
}

/* ---- GET / HEAD of a blob --------------------------------------------------------------- */

/* Loop thread: a stat and an open; the runtime maps and sends the file with Range. */
static void serve_blob(ferry_hub_t *hub, ferry_route_req_t *r, const char *hex)
{
    char path[PATH_MAX];
    ferry_err_t err = {0};
    int fd;

    if (ferry_blob_path(hub->blobs, hex, path, sizeof(path), &err) != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        return;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        int e = errno;
        ferry_err_set_errno(&err, ferry_err_from_errno(e), e, "open blob %s", hex);
        ferry_route_fail_err(r, &err);
        return;
    }
    ferry_route_send_file(r, fd, "application/octet-stream");
}

/* ---- uploads ------------------------------------------------------------------------------ */

/* Upload |id|'s row (takes the store lock for the read). */
static ferry_err_code_t load_upload(ferry_hub_t *hub, const char *id, ferry_store_upload_t *out,
                                    ferry_err_t *err)
{
    ferry_err_code_t rc;
    ferry_store_lock(hub->store);
    rc = ferry_store_upload_get(hub->store, id, out, err);
    ferry_store_unlock(hub->store);
    return rc;
}

static bool upload_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

/* What the loop thread learned of a chunk request, for the worker that handles it. */
typedef struct upload_job {
    ferry_hub_t *hub;
    bool head;
    char id[65];
    ferry_err_code_t range_rc; /* ferry_route_body_range(): checked after the upload's own state */
    ferry_err_t range_err;
    uint64_t first, last, total;
} upload_job_t;

/* Worker thread: the SQL lookup, the chunk's write and fdatasync never hold up a loop. */
static void upload_work(ferry_route_req_t *r, void *arg)
{
    upload_job_t *job = arg;
    ferry_hub_t *hub = job->hub;
    const char *id = job->id;
    ferry_err_t err = {0};
    ferry_store_upload_t row;
    uint64_t cur = 0, first = job->first, last = job->last, total = job->total;
    size_t len = 0;
    const void *body = ferry_route_body(r, &len);
    ferry_err_code_t wrc;

    if (load_upload(hub, id, &row, &err) != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        goto out;
    }
    if (strcmp(row.status, "open") != 0) {
        ferry_route_fail(r, 409, "E_PRECONDITION", "upload '%s' is %s", id, row.status);
        goto out;
    }
    if (row.expires_at < ferry_store_now_ms()) {
        ferry_route_fail(r, 410, "E_PRECONDITION", "upload '%s' expired: start a new one", id);
        goto out;
    }
    if (ferry_blob_upload_offset(hub->blobs, id, &cur, &err) != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        goto out;
    }
    ferry_route_set_header_u64(r, "upload-offset", cur);
    ferry_route_set_header_u64(r, "upload-length", row.expected_size);
    if (job->head) {
        ferry_route_reply(r, 200, NULL, NULL, 0);
        goto out;
    }
    if (len > HUB_CHUNK_MAX) {
        ferry_route_fail(r, 413, "E_TOO_LARGE", "chunk of %zu bytes exceeds %u bytes", len, HUB_CHUNK_MAX);
        goto out;
    }
    if (job->range_rc != FERRY_OK) {
        ferry_route_fail_err(r, &job->range_err);
        goto out;
    }
    if (total != row.expected_size) {
        ferry_route_fail(r, 400, "E_INVALID_ARG", "total %" PRIu64 " differs from the declared size %" PRIu64,
                         total, row.expected_size);
        goto out;
    }
    if (last - first + 1 != len) {
        ferry_route_fail(r, 400, "E_INVALID_ARG",
                         "Content-Range covers %" PRIu64 " bytes but the body has %zu", last - first + 1,
                         len);
        goto out;
    }
    /* A node's chunk never eats into the free space kept for administrators. */
    if (hub_upload_space_check(hub, row.purpose, len, &err) != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        goto out;
    }
    if (!hub_upload_claim(id)) {
        ferry_route_fail(r, 409, "E_PRECONDITION", "upload '%s' is busy (another chunk or a commit)", id);
        goto out;
    }
    /* Re-read under the claim: a chunk that finished meanwhile moved the offset. The
     * claim is given back BEFORE answering: once the answer is out the client may send
     * the next chunk, possibly to another loop thread. */
    wrc = ferry_blob_upload_offset(hub->blobs, id, &cur, &err);
    if (wrc == FERRY_OK && first == cur) {
        ferry_pausepoint("hub.upload.write");
        wrc = ferry_blob_upload_write(hub->blobs, id, first, body, len, row.expected_size, &err);
    }
    hub_upload_release(id);
    if (wrc != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        goto out;
    }
    ferry_route_clear_headers(r);
    if (first != cur) {
        ferry_route_set_header_u64(r, "upload-offset", cur);
        ferry_route_set_header_u64(r, "upload-length", row.expected_size);
        ferry_route_fail(r, 409, "E_PRECONDITION",
                         "chunk starts at %" PRIu64 " but %" PRIu64 " bytes were received: resume from there",
                         first, cur);
        goto out;
    }
    ferry_route_set_header_u64(r, "upload-offset", cur + len);
    ferry_route_set_header_u64(r, "upload-length", row.expected_size);
    ferry_route_reply(r, 204, NULL, NULL, 0);
out:
    free(job);
}

/* Loop thread: what needs the request's headers, then everything else on a worker. */
static void serve_upload(ferry_hub_t *hub, ferry_route_req_t *r, const char *id, bool head)
{
    upload_job_t *job = NULL;
    ferry_err_code_t rc;

    if (!upload_id_ok(id)) {
        ferry_route_fail(r, 404, "E_NOT_FOUND", "no upload '%s'", id);
        return;
    }
    if ((job = calloc(1, sizeof(*job))) == NULL) {
        ferry_route_fail(r, 503, "E_NOMEM", "out of memory: retry");
        return;
    }
    job->hub = hub;
    job->head = head;
    snprintf(job->id, sizeof(job->id), "%s", id);
    if (!head)
        job->range_rc = ferry_route_body_range(r, &job->first, &job->last, &job->total, &job->range_err);
    if ((rc = ferry_route_offload(r, upload_work, job)) != FERRY_OK) {
        free(job);
        ferry_route_fail(r, 503, ferry_err_name(rc), "server busy: retry the chunk");
    }
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static bool signed_for(const ferry_hub_t *hub, const char *method, const char *path, const char *query,
                       int64_t now, ferry_err_t *err)
{
    return ferry_signurl_verify(hub->url_key, sizeof(hub->url_key), method, path, query, now, err) ==
           FERRY_OK;
}

static void on_request(ferry_route_req_t *r, void *user)
{
    ferry_hub_t *hub = user;
    const char *method = ferry_route_method(r), *path = ferry_route_path(r), *query = ferry_route_query(r);
    ferry_err_t err = {0};
    bool is_blob, head, ok;
    int64_t now = (int64_t)time(NULL);

    if (method[0] == '\0' || path == NULL || query == NULL) {
        ferry_route_fail(r, 403, "E_AUTH_INVALID", "malformed signed URL");
        return;
    }
    is_blob = strncmp(path, "/blobs/", 7) == 0;
    head = strcmp(method, "HEAD") == 0;

    /* The signature first: nothing about the object is revealed before it verifies. */
    ok = signed_for(hub, method, path, query, now, &err);
    if (!ok && head) {
        ferry_err_t e2 = {0};
        ok = signed_for(hub, is_blob ? "GET" : "PUT", path, query, now, &e2);
    }
    if (!ok) {
        ferry_route_fail(r, 403, "E_AUTH_INVALID", "%s", err.msg[0] ? err.msg : "signature mismatch");
        return;
    }

    if (is_blob) {
        if (strncmp(path, "/blobs/sha256/", 14) != 0)
            ferry_route_fail(r, 404, "E_NOT_FOUND", "unknown blob path");
        else if (!head && strcmp(method, "GET") != 0)
            ferry_route_fail(r, 405, NULL, "blobs accept GET and HEAD");
        else
            serve_blob(hub, r, path + 14);
        return;
    }
    if (!head && strcmp(method, "PUT") != 0)
        ferry_route_fail(r, 405, NULL, "uploads accept PUT and HEAD");
    else
        serve_upload(hub, r, path + strlen("/uploads/"), head);
}

void hub_blob_url_path(const char *sha256_hex, char *buf, size_t size)
{
    snprintf(buf, size, "/blobs/sha256/%s", sha256_hex);
}

ferry_err_code_t hub_blob_download_link(ferry_hub_t *hub, hub_arena_t *a, int64_t customer_id,
                                        const char *sha256_hex, Ferry__V1__DownloadLink **out,
                                        ferry_err_t *err)
{
    char path[96], url[1024];
    int64_t expires = 0;
    Ferry__V1__DownloadLink *l;
    hub_blob_url_path(sha256_hex, path, sizeof(path));
    if (hub_storage_signed_url(hub, customer_id, "GET", path, url, sizeof(url), &expires, err) != FERRY_OK)
        return ferry_err_prefix(err, "download link");
    if ((l = hub_arena_alloc(a, sizeof(*l))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "download link: out of memory");
    ferry__v1__download_link__init(l);
    l->url = hub_arena_strdup(a, url);
    l->expires_at = hub_arena_ts(a, hub_expiry_ms(expires));
    *out = l;
    return FERRY_OK;
}

ferry_err_code_t hub_blobs_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    if (ferry_rpc_server_add_transfer_route(srv, "/blobs/", on_request, hub, err) != FERRY_OK ||
        ferry_rpc_server_add_transfer_route(srv, "/uploads/", on_request, hub, err) != FERRY_OK)
        return ferry_err_prefix(err, "blob routes");
    return FERRY_OK;
}
