/*
 * The signed-URL HTTP routes ferryd serves itself (the local storage kind):
 *
 *   GET|HEAD /blobs/sha256/<hex>   a stored blob; single `Range` -> 206 + Content-Range,
 *                                  unsatisfiable -> 416. Streamed from the file in
 *                                  HUB_READ_CHUNK pieces by an h2o generator, never
 *                                  read whole into memory.
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
 * h2o hands us whole request bodies (capped by the server's max_request_bytes), so
 * uploads are chunked; a chunk over HUB_CHUNK_MAX is 413. Chunk writes happen on the
 * loop thread: at most one chunk (<= 8 MiB, fdatasynced) per request, and the plain
 * HTTP route API has no offload; a given upload id is written by one request at a
 * time (hub_upload_claim), a concurrent one gets 409.
 */
#include <errno.h>
#include <fcntl.h>
#include <h2o.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hub_pkg.h"

#define HUB_READ_CHUNK   (64u << 10) /* bytes per generator step */
#define HUB_URL_PART_MAX 512         /* longest path or query we look at */
#define HUB_CLAIMS_MAX   256         /* uploads being written or committed at once */

/* ---- pure parsing ------------------------------------------------------------------------ */

/* Parses decimal digits at *p (no sign, at least one digit, no overflow). */
static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static void skip_ows(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

hub_range_kind_t hub_parse_range(const char *hdr, size_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    const char *p = hdr, *end = hdr + len;
    uint64_t a = 0, b = 0;
    bool have_a, have_b;
    if (hdr == NULL)
        return HUB_RANGE_NONE;
    skip_ows(&p, end);
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return HUB_RANGE_NONE;
    p += 6;
    skip_ows(&p, end);
    have_a = parse_u64(&p, end, &a);
    skip_ows(&p, end);
    if (p >= end || *p != '-')
        return HUB_RANGE_NONE;
    p++;
    skip_ows(&p, end);
    have_b = parse_u64(&p, end, &b);
    skip_ows(&p, end);
    if (p != end) /* several ranges or trailing garbage: not served, send it all */
        return HUB_RANGE_NONE;
    if (have_a) {
        if (have_b && b < a)
            return HUB_RANGE_NONE; /* invalid syntax per RFC 9110: ignore */
        if (a >= size)
            return HUB_RANGE_UNSATISFIABLE;
        *first = a;
        *last = (!have_b || b >= size) ? size - 1 : b;
        return HUB_RANGE_PARTIAL;
    }
    if (!have_b)
        return HUB_RANGE_NONE;
    /* suffix range: the last b bytes */
    if (b == 0 || size == 0)
        return HUB_RANGE_UNSATISFIABLE;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return HUB_RANGE_PARTIAL;
}

ferry_err_code_t hub_parse_content_range(const char *hdr, size_t len, uint64_t *first, uint64_t *last,
                                         uint64_t *total, ferry_err_t *err)
{
    const char *p = hdr, *end = hdr + len;
    uint64_t a, b, t;
    if (hdr == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "Content-Range missing");
    skip_ows(&p, end);
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes ", 6) != 0)
        goto bad;
    p += 6;
    skip_ows(&p, end);
    if (!parse_u64(&p, end, &a) || p >= end || *p++ != '-' || !parse_u64(&p, end, &b) || p >= end ||
        *p++ != '/' || !parse_u64(&p, end, &t))
        goto bad;
    skip_ows(&p, end);
    if (p != end || b < a || b >= t)
        goto bad;
    *first = a;
    *last = b;
    *total = t;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "Content-Range '%.*s' is not 'bytes FIRST-LAST/TOTAL'",
                         (int)(len > 100 ? 100 : len), hdr);
}

/* ---- per-upload claims ------------------------------------------------------------------ */

static pthread_mutex_t claims_mu = PTHREAD_MUTEX_INITIALIZER;
static char claims[HUB_CLAIMS_MAX][65];

/**
 * Claims upload |id| for one writer (a chunk PUT or a commit). Returns false when
 * someone else holds it (or the table is full). Process-wide: ids are random 128-bit
 * values, so hubs sharing a process cannot collide.
 */
bool hub_upload_claim(const char *id)
{
    bool ok = false;
    int free_slot = -1;
    if (strlen(id) > 64)
        return false;
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < HUB_CLAIMS_MAX; i++) {
        if (claims[i][0] == '\0') {
            if (free_slot < 0)
                free_slot = i;
        } else if (strcmp(claims[i], id) == 0) {
            goto out;
        }
    }
    if (free_slot >= 0) {
        strcpy(claims[free_slot], id);
        ok = true;
    }
out:
    pthread_mutex_unlock(&claims_mu);
    return ok;
}

/** Releases a claim taken with hub_upload_claim(). */
void hub_upload_release(const char *id)
{
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < HUB_CLAIMS_MAX; i++)
        if (strcmp(claims[i], id) == 0)
            claims[i][0] = '\0';
    pthread_mutex_unlock(&claims_mu);
}

/* ---- responses ------------------------------------------------------------------------- */

static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, value, strlen(value));
}

static void add_header_u64(h2o_req_t *req, const char *name, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    add_header(req, name, h2o_strdup(&req->pool, buf, SIZE_MAX).base);
}

/* A text answer; |code| (a seed/Ferry error name) also goes into `ferry-error-code`. */
static int reply_text(h2o_req_t *req, int status, const char *reason, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int reply_text(h2o_req_t *req, int status, const char *reason, const char *code, const char *fmt, ...)
{
    char body[768];
    int n = 0;
    if (code != NULL) {
        add_header(req, "ferry-error-code", code);
        n = snprintf(body, sizeof(body), "%s: ", code);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body + n, sizeof(body) - (size_t)n, fmt, ap);
    va_end(ap);
    strncat(body, "\n", sizeof(body) - strlen(body) - 1);
    req->res.status = status;
    req->res.reason = reason;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_send_inline(req, body, strlen(body));
    return 0;
}

static int reply_err(h2o_req_t *req, const ferry_err_t *err)
{
    int status = 500;
    const char *reason = "Internal Server Error";
    switch (err->code) {
    case FERRY_E_NOT_FOUND:
        status = 404, reason = "Not Found";
        break;
    case FERRY_E_INVALID_ARG:
        status = 400, reason = "Bad Request";
        break;
    case FERRY_E_PRECONDITION:
        status = 409, reason = "Conflict";
        break;
    case FERRY_E_TOO_LARGE:
        status = 413, reason = "Payload Too Large";
        break;
    case FERRY_E_NOSPACE:
        status = 507, reason = "Insufficient Storage";
        break;
    default:
        break;
    }
    return reply_text(req, status, reason, ferry_err_name(err->code), "%s", err->msg);
}

/* ---- GET / HEAD of a blob --------------------------------------------------------------- */

typedef struct blob_gen {
    h2o_generator_t super; /* first: h2o hands us this pointer back */
    int fd;
    uint64_t pos, end; /* next byte to send, one past the last */
    char buf[HUB_READ_CHUNK];
} blob_gen_t;

static void blob_gen_dispose(void *p)
{
    blob_gen_t *g = p;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

/* Reads the next piece and hands it to h2o; h2o calls proceed again when it is sent. */
static void blob_gen_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    blob_gen_t *g = (blob_gen_t *)self;
    uint64_t left = g->end - g->pos;
    size_t want = left < sizeof(g->buf) ? (size_t)left : sizeof(g->buf);
    ssize_t n;
    do
        n = pread(g->fd, g->buf, want, (off_t)g->pos);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        /* The file shrank or failed under us: the length already went out, so the
         * only honest thing left is to abort the response. */
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    g->pos += (uint64_t)n;
    h2o_iovec_t v = h2o_iovec_init(g->buf, (size_t)n);
    h2o_send(req, &v, 1, g->pos == g->end ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void blob_gen_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)self;
    (void)req; /* the fd is closed by the pool's dispose */
}

static int serve_blob(ferry_hub_t *hub, h2o_req_t *req, const char *hex, bool head)
{
    char path[PATH_MAX];
    ferry_err_t err = {0};
    struct stat st;
    uint64_t first = 0, last = 0, size;
    size_t rlen = 0;
    const char *range;
    hub_range_kind_t kind;
    blob_gen_t *g;
    int fd;

    if (ferry_blob_path(hub->blobs, hex, path, sizeof(path), &err) != FERRY_OK)
        return reply_err(req, &err);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        ferry_err_set_errno(&err, ferry_err_from_errno(e), e, "open blob %s", hex);
        return reply_err(req, &err);
    }
    size = (uint64_t)st.st_size;
    range = ferry_http_req_header(req, "range", &rlen);
    kind = hub_parse_range(range, rlen, size, &first, &last);
    add_header(req, "accept-ranges", "bytes");
    if (kind == HUB_RANGE_UNSATISFIABLE) {
        close(fd);
        char cr[48];
        snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
        add_header(req, "content-range", h2o_strdup(&req->pool, cr, SIZE_MAX).base);
        return reply_text(req, 416, "Range Not Satisfiable", NULL,
                          "range '%.*s' is outside the %" PRIu64 " bytes", (int)(rlen > 100 ? 100 : rlen),
                          range, size);
    }
    if (kind == HUB_RANGE_NONE) {
        first = 0;
        last = size == 0 ? 0 : size - 1;
        req->res.status = 200;
        req->res.reason = "OK";
    } else {
        char cr[80];
        snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        add_header(req, "content-range", h2o_strdup(&req->pool, cr, SIZE_MAX).base);
        req->res.status = 206;
        req->res.reason = "Partial Content";
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/octet-stream"));
    g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), blob_gen_dispose);
    g->super.proceed = blob_gen_proceed;
    g->super.stop = blob_gen_stop;
    g->fd = fd;
    g->pos = first;
    g->end = size == 0 ? 0 : last + 1;
    req->res.content_length = (size_t)(g->end - g->pos);
    h2o_start_response(req, &g->super);
    if (head || g->pos == g->end)
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        blob_gen_proceed(&g->super, req);
    return 0;
}

/* ---- uploads ------------------------------------------------------------------------------ */

typedef struct upload_row {
    char status[16];
    uint64_t expected_size;
    int64_t expires_at;
} upload_row_t;

static ferry_err_code_t load_upload(ferry_hub_t *hub, const char *id, upload_row_t *out, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int s;
    hub_db_lock(hub);
    if ((rc = hub_prepare(hub->db, "SELECT status, expected_size, expires_at FROM upload WHERE id = ?", &st,
                          "upload lookup", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no upload '%s'", id);
        goto out;
    }
    if (s != SQLITE_ROW) {
        rc = ferry_err_set(err, FERRY_E_IO, "upload lookup: %s", sqlite3_errmsg(hub->db));
        goto out;
    }
    snprintf(out->status, sizeof(out->status), "%s", (const char *)sqlite3_column_text(st, 0));
    out->expected_size = (uint64_t)sqlite3_column_int64(st, 1);
    out->expires_at = sqlite3_column_int64(st, 2);
    rc = FERRY_OK;
out:
    sqlite3_finalize(st);
    hub_db_unlock(hub);
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

static int serve_upload(ferry_hub_t *hub, h2o_req_t *req, const char *id, bool head)
{
    ferry_err_t err = {0};
    upload_row_t row;
    uint64_t cur = 0, first, last, total;
    size_t crlen = 0;
    const char *cr;
    size_t len = req->entity.base != NULL ? req->entity.len : 0;
    bool claimed = false;
    int ret;

    if (!upload_id_ok(id)) {
        ret = reply_text(req, 404, "Not Found", "E_NOT_FOUND", "no upload '%s'", id);
        goto out;
    }
    if (load_upload(hub, id, &row, &err) != FERRY_OK) {
        ret = reply_err(req, &err);
        goto out;
    }
    if (strcmp(row.status, "open") != 0) {
        ret = reply_text(req, 409, "Conflict", "E_PRECONDITION", "upload '%s' is %s", id, row.status);
        goto out;
    }
    if (row.expires_at < hub_now_ms()) {
        ret = reply_text(req, 410, "Gone", "E_PRECONDITION", "upload '%s' expired: start a new one", id);
        goto out;
    }
    if (ferry_blob_upload_offset(hub->blobs, id, &cur, &err) != FERRY_OK) {
        ret = reply_err(req, &err);
        goto out;
    }
    add_header_u64(req, "upload-offset", cur);
    add_header_u64(req, "upload-length", row.expected_size);
    if (head) {
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_send_inline(req, "", 0);
        ret = 0;
        goto out;
    }
    if (len > HUB_CHUNK_MAX) {
        ret = reply_text(req, 413, "Payload Too Large", "E_TOO_LARGE", "chunk of %zu bytes exceeds %u bytes",
                         len, HUB_CHUNK_MAX);
        goto out;
    }
    cr = ferry_http_req_header(req, "content-range", &crlen);
    if (cr != NULL) {
        if (hub_parse_content_range(cr, crlen, &first, &last, &total, &err) != FERRY_OK) {
            ret = reply_err(req, &err);
            goto out;
        }
    } else if (len == 0) {
        ret = reply_text(req, 400, "Bad Request", "E_INVALID_ARG", "empty body");
        goto out;
    } else {
        first = 0, last = len - 1, total = len; /* the whole file in one request */
    }
    if (total != row.expected_size) {
        ret =
            reply_text(req, 400, "Bad Request", "E_INVALID_ARG",
                       "total %" PRIu64 " differs from the declared size %" PRIu64, total, row.expected_size);
        goto out;
    }
    if (last - first + 1 != len) {
        ret =
            reply_text(req, 400, "Bad Request", "E_INVALID_ARG",
                       "Content-Range covers %" PRIu64 " bytes but the body has %zu", last - first + 1, len);
        goto out;
    }
    if (!hub_upload_claim(id)) {
        ret = reply_text(req, 409, "Conflict", "E_PRECONDITION",
                         "upload '%s' is busy (another chunk or a commit)", id);
        goto out;
    }
    claimed = true;
    /* Re-read under the claim: a chunk that finished meanwhile moved the offset. The
     * claim is given back BEFORE answering: once the answer is out the client may send
     * the next chunk, possibly to another loop thread. */
    ferry_err_code_t wrc = ferry_blob_upload_offset(hub->blobs, id, &cur, &err);
    if (wrc == FERRY_OK && first == cur)
        wrc = ferry_blob_upload_write(hub->blobs, id, first, req->entity.base, len, row.expected_size, &err);
    hub_upload_release(id);
    claimed = false;
    if (wrc != FERRY_OK) {
        ret = reply_err(req, &err);
        goto out;
    }
    if (first != cur) {
        req->res.headers = (h2o_headers_t){NULL, 0, 0};
        add_header_u64(req, "upload-offset", cur);
        add_header_u64(req, "upload-length", row.expected_size);
        ret = reply_text(req, 409, "Conflict", "E_PRECONDITION",
                         "chunk starts at %" PRIu64 " but %" PRIu64 " bytes were received: resume from there",
                         first, cur);
        goto out;
    }
    req->res.headers = (h2o_headers_t){NULL, 0, 0};
    add_header_u64(req, "upload-offset", cur + len);
    add_header_u64(req, "upload-length", row.expected_size);
    req->res.status = 204;
    req->res.reason = "No Content";
    h2o_send_inline(req, "", 0);
    ret = 0;
out:
    if (claimed)
        hub_upload_release(id);
    return ret;
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static bool copy_part(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return memchr(dst, '\0', len) == NULL;
}

static bool signed_for(const ferry_hub_t *hub, const char *method, const char *path, const char *query,
                       int64_t now, ferry_err_t *err)
{
    return ferry_signurl_verify(hub->url_key, sizeof(hub->url_key), method, path, query, now, err) ==
           FERRY_OK;
}

static int on_request(void *h2o_req, void *user)
{
    ferry_hub_t *hub = user;
    h2o_req_t *req = h2o_req;
    ferry_http_req_view_t v;
    char method[16], path[HUB_URL_PART_MAX], query[HUB_URL_PART_MAX];
    ferry_err_t err = {0};
    bool is_blob, head, ok;
    int64_t now = (int64_t)time(NULL);

    ferry_http_req_view(req, &v);
    if (!copy_part(method, sizeof(method), v.method, v.method_len) ||
        !copy_part(path, sizeof(path), v.path, v.path_len) ||
        !copy_part(query, sizeof(query), v.query != NULL ? v.query : "", v.query_len))
        return reply_text(req, 403, "Forbidden", "E_AUTH_INVALID", "malformed signed URL");
    is_blob = strncmp(path, "/blobs/", 7) == 0;
    head = strcmp(method, "HEAD") == 0;

    /* The signature first: nothing about the object is revealed before it verifies. */
    ok = signed_for(hub, method, path, query, now, &err);
    if (!ok && head) {
        ferry_err_t e2 = {0};
        ok = signed_for(hub, is_blob ? "GET" : "PUT", path, query, now, &e2);
    }
    if (!ok)
        return reply_text(req, 403, "Forbidden", "E_AUTH_INVALID", "%s",
                          err.msg[0] ? err.msg : "signature mismatch");

    if (is_blob) {
        if (strncmp(path, "/blobs/sha256/", 14) != 0)
            return reply_text(req, 404, "Not Found", "E_NOT_FOUND", "unknown blob path");
        if (!head && strcmp(method, "GET") != 0)
            return reply_text(req, 405, "Method Not Allowed", NULL, "blobs accept GET and HEAD");
        return serve_blob(hub, req, path + 14, head);
    }
    if (!head && strcmp(method, "PUT") != 0)
        return reply_text(req, 405, "Method Not Allowed", NULL, "uploads accept PUT and HEAD");
    return serve_upload(hub, req, path + strlen("/uploads/"), head);
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
    if (ferry_rpc_server_add_route(srv, "/blobs/", on_request, hub, err) != FERRY_OK ||
        ferry_rpc_server_add_route(srv, "/uploads/", on_request, hub, err) != FERRY_OK)
        return ferry_err_prefix(err, "blob routes");
    return FERRY_OK;
}
