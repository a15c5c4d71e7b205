/*
 * Transfer routes of the RPC server runtime (ferry/rpc_route.h) against a real server on
 * loopback, spoken to by libcurl over HTTP/1.1 and h2c (prior knowledge):
 *   - a file route: 200, 206 (first-last, open-ended, suffix), 416, HEAD, a file of many
 *     pieces, and a file cut short under the response;
 *   - HTTP/1.1 sendfile(2) path: a slow reader gets every byte while the only event loop
 *     answers others, the connection is reused after it, a reader that gives up or a
 *     server that stops under a stalled reader leave nothing behind;
 *   - an upload route that offloads: while its worker is held, a plain route on the same
 *     (single) event loop answers; released, the body arrives whole and the reply carries
 *     the worker's headers; a client that gives up meanwhile leaves a server that still
 *     reads the whole body (HTTP/2 copies it) and goes on serving;
 *   - errors: status, `ferry-error-code`, "E_CODE: message" body;
 *   - the server stops cleanly with requests done.
 */
#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/rpc_route.h"
#include "ferry/rpc_server.h"

#define BIG_SIZE ((9u << 20) + 12345) /* many 256 KiB pieces and sendfile turns, not a multiple */

static ferry_rpc_server_t *srv;
static char dir[64], small_path[128], big_path[128], cut_path[128];
static uint8_t *big;
static char base[64];

/* the upload route's worker gate */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed, worker_waiting;
static int uploads_done;
static char upload_sha[65];
static size_t upload_len;

/* ---- server side ------------------------------------------------------------------------ */

static void files_route(ferry_route_req_t *r, void *user)
{
    (void)user;
    const char *path = ferry_route_path(r);
    const char *file = NULL;
    if (strcmp(path, "/files/small") == 0)
        file = small_path;
    else if (strcmp(path, "/files/big") == 0)
        file = big_path;
    else if (strcmp(path, "/files/cut") == 0)
        file = cut_path;
    if (file == NULL) {
        ferry_route_fail(r, 404, "E_NOT_FOUND", "no file '%s'", path);
        return;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ferry_route_send_file(r, fd, "application/octet-stream");
    if (file == cut_path) /* shrinks once the response has started: its length is out */
        ck_assert_int_eq(truncate(cut_path, 1000), 0);
}

static void upload_work(ferry_route_req_t *r, void *arg)
{
    (void)arg;
    size_t len = 0;
    const void *body = ferry_route_body(r, &len);
    pthread_mutex_lock(&gate_mu);
    worker_waiting = true;
    pthread_cond_broadcast(&gate_cv);
    while (gate_closed)
        pthread_cond_wait(&gate_cv, &gate_mu);
    worker_waiting = false;
    pthread_mutex_unlock(&gate_mu);
    /* Read every byte only now, after the client may have gone. */
    char sha[65];
    ferry_sha256_hex(body, len, sha);
    pthread_mutex_lock(&gate_mu);
    memcpy(upload_sha, sha, sizeof(sha));
    upload_len = len;
    uploads_done++;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    ferry_route_set_header(r, "x-sha256", sha);
    ferry_route_set_header_u64(r, "upload-offset", len);
    ferry_route_reply(r, 204, NULL, NULL, 0);
}

static void upload_route(ferry_route_req_t *r, void *user)
{
    (void)user;
    uint64_t first, last, total;
    ferry_err_t err = {0};
    if (strcmp(ferry_route_method(r), "PUT") != 0) {
        ferry_route_fail(r, 405, NULL, "PUT only");
        return;
    }
    if (ferry_route_body_range(r, &first, &last, &total, &err) != FERRY_OK) {
        ferry_route_fail_err(r, &err);
        return;
    }
    ck_assert_int_eq(ferry_route_offload(r, upload_work, NULL), FERRY_OK);
}

static int healthz(void *req, void *user)
{
    (void)user;
    ferry_http_reply(req, 200, "text/plain", "ok\n", 3);
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    ck_assert_int_eq(ferry_fs_write_atomic(path, data, len, 0600, NULL), FERRY_OK);
}

static void setup(void)
{
    ferry_err_t err = {0};
    ferry_rpc_server_config_t cfg = {0};
    snprintf(dir, sizeof(dir), "/tmp/ferry-route-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(small_path, sizeof(small_path), "%s/small", dir);
    snprintf(big_path, sizeof(big_path), "%s/big", dir);
    snprintf(cut_path, sizeof(cut_path), "%s/cut", dir);
    write_file(small_path, "0123456789abcdefghij", 20);
    big = malloc(BIG_SIZE);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (uint8_t)(i * 2654435761u >> 13);
    write_file(big_path, big, BIG_SIZE);
    write_file(cut_path, big, BIG_SIZE);
    cfg.threads = 1; /* one event loop: a blocked loop would block every request */
    cfg.workers = 2;
    cfg.shutdown_grace_ms = 2000;
    srv = ferry_rpc_server_new(&cfg, &err);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(ferry_rpc_server_add_transfer_route(srv, "/files/", files_route, NULL, &err), FERRY_OK);
    ck_assert_int_eq(ferry_rpc_server_add_transfer_route(srv, "/up/", upload_route, NULL, &err), FERRY_OK);
    ck_assert_int_eq(ferry_rpc_server_add_route(srv, "/healthz", healthz, NULL, &err), FERRY_OK);
    ck_assert_int_eq(ferry_rpc_server_start(srv, &err), FERRY_OK);
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", ferry_rpc_server_port(srv));
    gate_closed = false;
    uploads_done = 0;
}

static void teardown(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_closed = false;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    ferry_rpc_server_shutdown(srv);
    ferry_rpc_server_wait(srv);
    ferry_rpc_server_free(srv);
    srv = NULL;
    free(big);
    ferry_fs_rm_rf(dir, NULL);
}

/* ---- client side ------------------------------------------------------------------------ */

typedef struct resp {
    long status;
    long version; /* CURL_HTTP_VERSION_* of the answer */
    CURLcode rc;
    uint8_t *body;
    size_t len, cap;
    char headers[4096];
    size_t hlen;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    resp_t *r = u;
    if (r->len + sz * n + 1 > r->cap) {
        /* doubling: under ASan every realloc copies, and a client that copies 9 MiB in
         * 16 KiB steps reads so slowly that h2o's keep-alive timeout (10 s) closes the
         * connection before its next request */
        size_t cap = r->cap < 65536 ? 65536 : r->cap;
        while (cap < r->len + sz * n + 1)
            cap *= 2;
        uint8_t *nb = realloc(r->body, cap);
        ck_assert_ptr_nonnull(nb);
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
    resp_t *r = u;
    size_t k = sz * n;
    if (r->hlen + k < sizeof(r->headers)) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

/* The value of response header |name| (case-insensitive) into |out|, or "" when absent. */
static const char *hdr(const resp_t *r, const char *name, char *out, size_t size)
{
    const char *p = r->headers;
    size_t nl = strlen(name);
    out[0] = '\0';
    while (p != NULL && *p) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t k = strcspn(v, "\r\n");
            snprintf(out, size, "%.*s", (int)(k < size ? k : size - 1), v);
            return out;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return out;
}

/* One request; |h2| uses HTTP/2 prior knowledge, else HTTP/1.1; |timeout_ms| 0 = none. */
static void req(resp_t *out, const char *method, const char *path, const char *const *headers,
                const void *body, size_t len, bool h2, long timeout_ms)
{
    char url[256];
    struct curl_slist *hl = NULL;
    CURL *c = curl_easy_init();
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
                     h2 ? CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (timeout_ms > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &out->version);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

static void resp_free(resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void check_ranges(bool h2)
{
    resp_t r;
    char v[128];
    const char *range[2] = {NULL, NULL};

    req(&r, "GET", "/files/small", NULL, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.version, h2 ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 20);
    ck_assert_mem_eq(r.body, "0123456789abcdefghij", 20);
    ck_assert_str_eq(hdr(&r, "accept-ranges", v, sizeof(v)), "bytes");
    ck_assert_str_eq(hdr(&r, "content-type", v, sizeof(v)), "application/octet-stream");
    resp_free(&r);

    range[0] = "Range: bytes=10-14";
    req(&r, "GET", "/files/small", range, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 5);
    ck_assert_mem_eq(r.body, "abcde", 5);
    ck_assert_str_eq(hdr(&r, "content-range", v, sizeof(v)), "bytes 10-14/20");
    resp_free(&r);

    range[0] = "Range: bytes=15-";
    req(&r, "GET", "/files/small", range, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 206);
    ck_assert_mem_eq(r.body, "fghij", 5);
    ck_assert_str_eq(hdr(&r, "content-range", v, sizeof(v)), "bytes 15-19/20");
    resp_free(&r);

    range[0] = "Range: bytes=-3";
    req(&r, "GET", "/files/small", range, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 3);
    ck_assert_mem_eq(r.body, "hij", 3);
    resp_free(&r);

    range[0] = "Range: bytes=20-";
    req(&r, "GET", "/files/small", range, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 416);
    ck_assert_str_eq(hdr(&r, "content-range", v, sizeof(v)), "bytes */20");
    ck_assert_ptr_nonnull(strstr((const char *)r.body, "outside the 20 bytes"));
    resp_free(&r);

    range[0] = "Range: bytes=0-1,5-6"; /* several ranges: ignored, all of it */
    req(&r, "GET", "/files/small", range, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 20);
    resp_free(&r);

    req(&r, "HEAD", "/files/big", NULL, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 0);
    snprintf(v, sizeof(v), "%u", BIG_SIZE);
    char got[64];
    ck_assert_str_eq(hdr(&r, "content-length", got, sizeof(got)), v);
    resp_free(&r);

    req(&r, "GET", "/files/big", NULL, NULL, 0, h2, 30000);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, BIG_SIZE);
    ck_assert(memcmp(r.body, big, BIG_SIZE) == 0);
    resp_free(&r);

    range[0] = "Range: bytes=4194000-8389000"; /* across a window boundary, unaligned */
    req(&r, "GET", "/files/big", range, NULL, 0, h2, 30000);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 8389000 - 4194000 + 1);
    ck_assert(memcmp(r.body, big + 4194000, r.len) == 0);
    resp_free(&r);

    req(&r, "GET", "/files/none", NULL, NULL, 0, h2, 10000);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(hdr(&r, "ferry-error-code", v, sizeof(v)), "E_NOT_FOUND");
    ck_assert_str_eq((const char *)r.body, "E_NOT_FOUND: no file '/files/none'\n");
    resp_free(&r);
}

START_TEST(file_route_serves_ranges_over_http1)
{
    check_ranges(false);
}
END_TEST

START_TEST(file_route_serves_ranges_over_h2)
{
    check_ranges(true);
}
END_TEST

START_TEST(file_cut_short_under_the_response_aborts_it)
{
    for (int h2 = 0; h2 < 2; h2++) {
        resp_t r;
        write_file(cut_path, big, BIG_SIZE);
        req(&r, "GET", "/files/cut", NULL, NULL, 0, h2, 10000);
        ck_assert_int_ne(r.rc, CURLE_OK); /* never a short body passed off as complete */
        ck_assert_uint_lt(r.len, BIG_SIZE);
        resp_free(&r);
        /* and the server goes on */
        req(&r, "GET", "/files/small", NULL, NULL, 0, h2, 10000);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
    }
}
END_TEST

/* ---- HTTP/1.1: the middle of a file goes by sendfile(2) ------------------------------------ */

typedef struct slow_dl {
    curl_off_t max_speed; /* bytes/s the client reads at (0 = as fast as it can) */
    size_t give_up_after; /* the write callback fails once this much arrived (0 = never) */
    long timeout_ms;
    resp_t r;
    atomic_bool done;
    atomic_bool stop; /* the write callback fails from now on */
} slow_dl_t;

static size_t on_body_capped(char *p, size_t sz, size_t n, void *u)
{
    slow_dl_t *d = u;
    if ((d->give_up_after > 0 && d->r.len >= d->give_up_after) || atomic_load(&d->stop))
        return 0; /* curl closes the connection */
    return on_body(p, sz, n, &d->r);
}

/* Called at least once a second, even while curl holds back for the speed limit. */
static int on_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return atomic_load(&((slow_dl_t *)u)->stop) ? 1 : 0;
}

static void *slow_dl_thread(void *p)
{
    slow_dl_t *d = p;
    char url[256];
    CURL *c = curl_easy_init();
    snprintf(url, sizeof(url), "%s/files/big", base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_capped);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    /* a small receive buffer keeps the kernel from absorbing the whole file */
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 16384L);
    if (d->max_speed > 0)
        curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, d->max_speed);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, d->timeout_ms);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    d->r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &d->r.status);
    curl_easy_cleanup(c);
    atomic_store(&d->done, true);
    return NULL;
}

START_TEST(slow_http1_reader_gets_every_byte_and_the_loop_stays_free)
{
    /* 9 MiB at 3 MiB/s: the socket fills, sendfile(2) meets EAGAIN and the generator
     * waits for h2o's poller many times over; meanwhile the one event loop answers. */
    slow_dl_t d = {.max_speed = 3 << 20, .timeout_ms = 30000};
    pthread_t t;
    resp_t r;
    ck_assert_int_eq(pthread_create(&t, NULL, slow_dl_thread, &d), 0);
    usleep(300 * 1000);
    for (int i = 0; i < 5; i++) {
        req(&r, "GET", "/files/small", NULL, NULL, 0, false, 10000);
        ck_assert_int_eq(r.status, 200);
        ck_assert_mem_eq(r.body, "0123456789abcdefghij", 20);
        resp_free(&r);
    }
    ck_assert(!atomic_load(&d.done)); /* answered while the big response was in flight */
    pthread_join(t, NULL);
    ck_assert_int_eq(d.r.rc, CURLE_OK);
    ck_assert_int_eq(d.r.status, 200);
    ck_assert_uint_eq(d.r.len, BIG_SIZE);
    ck_assert(memcmp(d.r.body, big, BIG_SIZE) == 0);
    resp_free(&d.r);
}
END_TEST

START_TEST(http1_connection_is_reused_after_a_sendfile_response)
{
    char url[256];
    const char *paths[3] = {"/files/big", "/files/big", "/files/small"};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    for (int i = 0; i < 3; i++) {
        resp_t r = {0};
        long status = 0, connects = -1;
        snprintf(url, sizeof(url), "%s%s", base, paths[i]);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        ck_assert_int_eq(status, 200);
        /* the response ended through h2o, which kept the connection alive */
        ck_assert_int_eq(connects, i == 0 ? 1 : 0);
        if (i < 2) {
            ck_assert_uint_eq(r.len, BIG_SIZE);
            ck_assert(memcmp(r.body, big, BIG_SIZE) == 0);
        } else {
            ck_assert_mem_eq(r.body, "0123456789abcdefghij", 20);
        }
        resp_free(&r);
    }
    curl_easy_cleanup(c);
}
END_TEST

START_TEST(http1_reader_that_gives_up_mid_file_leaves_a_working_server)
{
    for (int i = 0; i < 3; i++) {
        slow_dl_t d = {.max_speed = 4 << 20, .give_up_after = (size_t)(1 + i) << 20, .timeout_ms = 30000};
        resp_t r;
        slow_dl_thread(&d);
        ck_assert_int_eq(d.r.rc, CURLE_WRITE_ERROR);
        ck_assert_uint_lt(d.r.len, BIG_SIZE);
        resp_free(&d.r);
        req(&r, "GET", "/files/small", NULL, NULL, 0, false, 10000);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
    }
}
END_TEST

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

START_TEST(server_stops_under_a_stalled_http1_reader)
{
    /* 64 KiB/s: the response would take minutes. Shutdown's grace (2 s) ends it: the
     * request waiting on the poller loses its connection and is disposed (ASan sees the
     * rest). Without that the loop would wait for the reader, i.e. for ever. */
    slow_dl_t d = {.max_speed = 64 << 10, .timeout_ms = 120000};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, slow_dl_thread, &d), 0);
    usleep(500 * 1000);
    ck_assert(!atomic_load(&d.done));
    uint64_t t0 = mono_ms();
    ferry_rpc_server_shutdown(srv);
    ferry_rpc_server_wait(srv);
    uint64_t waited = mono_ms() - t0;
    ck_assert_msg(waited < 20000, "server took %llu ms to stop under a stalled reader",
                  (unsigned long long)waited);
    fprintf(stderr, "server stopped in %llu ms under a stalled reader\n", (unsigned long long)waited);
    /* The kernel still holds megabytes for the slow client: let it go. */
    atomic_store(&d.stop, true);
    pthread_join(t, NULL);
    ck_assert_int_ne(d.r.rc, CURLE_OK); /* never passed off as complete */
    ck_assert_uint_lt(d.r.len, BIG_SIZE);
    resp_free(&d.r);
}
END_TEST

typedef struct put_arg {
    bool h2;
    long timeout_ms;
    size_t len;
    resp_t r;
} put_arg_t;

static void *put_thread(void *p)
{
    put_arg_t *a = p;
    char cr[96];
    const char *h[2] = {cr, NULL};
    snprintf(cr, sizeof(cr), "Content-Range: bytes 0-%zu/%zu", a->len - 1, a->len);
    req(&a->r, "PUT", "/up/x", h, big, a->len, a->h2, a->timeout_ms);
    return NULL;
}

static void close_gate(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_closed = true;
    pthread_mutex_unlock(&gate_mu);
}

static void wait_worker_waiting(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!worker_waiting)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void open_gate_and_wait_done(int want_done)
{
    pthread_mutex_lock(&gate_mu);
    gate_closed = false;
    pthread_cond_broadcast(&gate_cv);
    while (uploads_done < want_done)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void check_offload(bool h2)
{
    put_arg_t a = {.h2 = h2, .timeout_ms = 30000, .len = BIG_SIZE - 1000};
    pthread_t t;
    resp_t r;
    char v[80], want[65];

    close_gate();
    ck_assert_int_eq(pthread_create(&t, NULL, put_thread, &a), 0);
    wait_worker_waiting();
    /* The upload's work is held on a worker: the only event loop still answers. */
    for (int i = 0; i < 3; i++) {
        req(&r, "GET", "/healthz", NULL, NULL, 0, h2, 10000);
        ck_assert_int_eq(r.rc, CURLE_OK);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
        req(&r, "GET", "/files/small", NULL, NULL, 0, h2, 10000);
        ck_assert_int_eq(r.status, 200);
        resp_free(&r);
    }
    pthread_mutex_lock(&gate_mu);
    ck_assert_int_eq(uploads_done, 0); /* nothing was answered behind the held worker */
    pthread_mutex_unlock(&gate_mu);
    open_gate_and_wait_done(1);
    pthread_join(t, NULL);
    ck_assert_int_eq(a.r.rc, CURLE_OK);
    ck_assert_int_eq(a.r.status, 204);
    ferry_sha256_hex(big, a.len, want);
    ck_assert_str_eq(upload_sha, want);
    ck_assert_str_eq(hdr(&a.r, "x-sha256", v, sizeof(v)), want);
    snprintf(want, sizeof(want), "%zu", a.len);
    ck_assert_str_eq(hdr(&a.r, "upload-offset", v, sizeof(v)), want);
    resp_free(&a.r);
}

START_TEST(offloaded_upload_does_not_hold_the_loop_http1)
{
    check_offload(false);
}
END_TEST

START_TEST(offloaded_upload_does_not_hold_the_loop_h2)
{
    check_offload(true);
}
END_TEST

START_TEST(client_gone_while_offloaded_leaves_the_body_intact)
{
    /* HTTP/2: the client's timeout resets the stream and h2o frees the stream's body at
     * once; the worker reads it afterwards (an ASan build sees any use after free). */
    put_arg_t a = {.h2 = true, .timeout_ms = 800, .len = (4u << 20) + 7};
    pthread_t t;
    resp_t r;
    char want[65];

    close_gate();
    ck_assert_int_eq(pthread_create(&t, NULL, put_thread, &a), 0);
    wait_worker_waiting();
    pthread_join(t, NULL); /* gave up */
    ck_assert_int_ne(a.r.rc, CURLE_OK);
    resp_free(&a.r);
    open_gate_and_wait_done(1);
    ferry_sha256_hex(big, a.len, want);
    ck_assert_str_eq(upload_sha, want);
    ck_assert_uint_eq(upload_len, a.len);
    req(&r, "GET", "/healthz", NULL, NULL, 0, true, 10000);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

START_TEST(bad_requests_get_a_code_and_reach_no_worker)
{
    resp_t r;
    char v[64];
    const char *h[2] = {"Content-Range: bytes 5-1/10", NULL};
    req(&r, "PUT", "/up/x", h, "abc", 3, false, 10000);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(hdr(&r, "ferry-error-code", v, sizeof(v)), "E_INVALID_ARG");
    ck_assert_ptr_nonnull(strstr((const char *)r.body, "E_INVALID_ARG: Content-Range 'bytes 5-1/10'"));
    resp_free(&r);
    req(&r, "PUT", "/up/x", NULL, NULL, 0, true, 10000);
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq((const char *)r.body, "E_INVALID_ARG: empty body\n");
    resp_free(&r);
    req(&r, "DELETE", "/up/x", NULL, NULL, 0, false, 10000);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(hdr(&r, "ferry-error-code", v, sizeof(v)), "");
    resp_free(&r);
    ck_assert_int_eq(uploads_done, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rpc_route");
    TCase *tc = tcase_create("route");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, file_route_serves_ranges_over_http1);
    tcase_add_test(tc, file_route_serves_ranges_over_h2);
    tcase_add_test(tc, file_cut_short_under_the_response_aborts_it);
    tcase_add_test(tc, slow_http1_reader_gets_every_byte_and_the_loop_stays_free);
    tcase_add_test(tc, http1_connection_is_reused_after_a_sendfile_response);
    tcase_add_test(tc, http1_reader_that_gives_up_mid_file_leaves_a_working_server);
    tcase_add_test(tc, server_stops_under_a_stalled_http1_reader);
    tcase_add_test(tc, offloaded_upload_does_not_hold_the_loop_http1);
    tcase_add_test(tc, offloaded_upload_does_not_hold_the_loop_h2);
    tcase_add_test(tc, client_gone_while_offloaded_leaves_the_body_intact);
    tcase_add_test(tc, bad_requests_get_a_code_and_reach_no_worker);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
