/*
 * The transfer client (ferry/transfer.h) against a small HTTP/1.1 server written here
 * (loopback, a thread per connection, optional TLS with a CA made at test time) that
 * can serve a blob with Range support, cut the connection after N bytes, ignore the
 * range, answer a given status, announce or send more than expected, stall, and take
 * PUT/HEAD for uploads; h2 over TLS (ALPN) against the RPC server runtime with a plain
 * route; and against a real in-process ferryd (signed blob URLs) when the hub harness
 * is built.
 *
 * check runs in no-fork mode: the server threads live in the test process.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/hash.h"
#include "ferry/transfer.h"

#ifdef FERRY_XFER_TEST_H2
#include <h2o.h>

#include "ferry/rpc_server.h"
#endif
#ifdef FERRY_XFER_TEST_HUB
#include "ferry/blob.h"
#include "ferry/sign.h"
#include "hub_harness.h"
#include "hub_internal.h"
#endif

#define SECRET "sig=SECRET0123456789" /* in every URL's query: must never show in a message */

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char g_tmp[128];

static void tmp_path(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", g_tmp, name);
    unlink(out);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : UINT64_MAX;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void sha_hex_of_file(const char *path, char out[FERRY_SHA256_HEX_LEN + 1])
{
    ferry_err_t err = {0};
    ck_assert_int_eq(ferry_sha256_file(path, out, NULL, &err), FERRY_OK);
}

/* ------------------------------------------------------------------------- */
/* The test server                                                           */
/* ------------------------------------------------------------------------- */

typedef enum srv_mode {
    M_NORMAL,       /* Range honoured: 200, 206, 416 */
    M_CUT,          /* like NORMAL, but the body stops after cut_after bytes and the
                       connection closes; then back to NORMAL */
    M_IGNORE_RANGE, /* always 200 with the whole blob */
    M_STATUS,       /* answer |status| with a short text body (PUT: plus Upload-Offset) */
    M_OVERSIZE_CL,  /* 200 announcing and sending the blob plus 1000 bytes */
    M_ENDLESS,      /* 200, no length, bytes until the client goes away */
    M_SHORT,        /* 200, a complete body of half the blob */
    M_STALL,        /* 200 with the blob's length, 1000 bytes, then silence */
} srv_mode_t;

typedef struct srv {
    int lfd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int active; /* connection threads running */
    SSL_CTX *tls;

    pthread_mutex_t mu; /* guards everything below */
    srv_mode_t mode;
    int status;
    uint64_t cut_after;
    uint8_t *blob;
    size_t blob_len;
    /* Replaced blobs: a connection of an earlier test (kept alive, or still streaming
     * M_ENDLESS) may be writing from one, so they live until srv_stop. */
    uint8_t *retired[64];
    size_t n_retired;
    int conns, reqs;
    char method[16], target[1024], version[16];
    char range[128], crange[128], ua[128], ctype[128], xtest[128], upgrade[128];
    uint8_t *put_body;
    size_t put_len;
} srv_t;

static srv_t g_plain, g_tls;

typedef struct conn {
    srv_t *s;
    int fd;
    SSL *ssl;
} conn_t;

static ssize_t c_read(conn_t *c, void *buf, size_t len)
{
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
            return SSL_read(c->ssl, buf, (int)len);
        int pr = poll(&p, 1, 100);
        if (atomic_load(&c->s->stop))
            return -1;
        if (pr <= 0)
            continue;
        if (c->ssl != NULL) {
            int r = SSL_read(c->ssl, buf, (int)len);
            if (r <= 0 && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
                continue;
            return r;
        }
        ssize_t r = recv(c->fd, buf, len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

static bool c_write(conn_t *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w;
        if (c->ssl != NULL)
            w = SSL_write(c->ssl, p, (int)(len > (1u << 20) ? (1u << 20) : len));
        else
            w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && c->ssl == NULL && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

static bool c_printf(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool c_printf(conn_t *c, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return n > 0 && (size_t)n < sizeof(buf) && c_write(c, buf, (size_t)n);
}

/* Copies the value of header |name| from the request head |h| into |out| ("" if absent). */
static void header_value(const char *h, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *line = strstr(h, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r");
            snprintf(out, size, "%.*s", (int)(vl < size ? vl : size - 1), v);
            return;
        }
    }
}

/* Waits until the client closes the connection (or the server stops). */
static void wait_close(conn_t *c)
{
    char buf[4096];
    while (c_read(c, buf, sizeof(buf)) > 0) {
    }
}

/* Serves one request; false = close the connection. */
static bool serve_one(conn_t *c, const char *head, const uint8_t *body, size_t body_len)
{
    srv_t *s = c->s;
    char method[16] = "", target[1024] = "", version[16] = "", range[128];
    sscanf(head, "%15s %1023s %15s", method, target, version);
    header_value(head, "Range", range, sizeof(range));

    pthread_mutex_lock(&s->mu);
    s->reqs++;
    snprintf(s->method, sizeof(s->method), "%s", method);
    snprintf(s->target, sizeof(s->target), "%s", target);
    snprintf(s->version, sizeof(s->version), "%s", version);
    snprintf(s->range, sizeof(s->range), "%s", range);
    header_value(head, "Content-Range", s->crange, sizeof(s->crange));
    header_value(head, "User-Agent", s->ua, sizeof(s->ua));
    header_value(head, "Content-Type", s->ctype, sizeof(s->ctype));
    header_value(head, "X-Test", s->xtest, sizeof(s->xtest));
    header_value(head, "Upgrade", s->upgrade, sizeof(s->upgrade));
    srv_mode_t mode = s->mode;
    int status = s->status;
    uint64_t cut = s->cut_after;
    if (mode == M_CUT)
        s->mode = M_NORMAL;
    if (strcmp(method, "PUT") == 0) {
        free(s->put_body);
        s->put_body = malloc(body_len ? body_len : 1);
        memcpy(s->put_body, body, body_len);
        s->put_len = body_len;
    }
    uint8_t *blob = s->blob;
    size_t len = s->blob_len;
    uint64_t put_len = s->put_len;
    pthread_mutex_unlock(&s->mu);

    if (mode == M_STATUS) {
        char text[64];
        int n = snprintf(text, sizeof(text), "nope: status %d\n", status);
        return c_printf(c,
                        "HTTP/1.1 %d Whatever\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n"
                        "Upload-Offset: 4242\r\n\r\n",
                        status, n) &&
               (strcmp(method, "HEAD") == 0 || c_write(c, text, (size_t)n));
    }
    if (strcmp(method, "PUT") == 0) {
        uint64_t first = 0;
        if (strncmp(s->crange, "bytes ", 6) == 0)
            first = strtoull(s->crange + 6, NULL, 10);
        return c_printf(c, "HTTP/1.1 204 No Content\r\nUpload-Offset: %" PRIu64 "\r\n\r\n", first + body_len);
    }
    if (strcmp(method, "HEAD") == 0)
        return c_printf(c, "HTTP/1.1 200 OK\r\nUpload-Offset: %" PRIu64 "\r\nContent-Length: 0\r\n\r\n",
                        put_len);

    uint64_t from = 0;
    if (strncmp(range, "bytes=", 6) == 0 && mode != M_IGNORE_RANGE)
        from = strtoull(range + 6, NULL, 10);
    switch (mode) {
    case M_NORMAL:
    case M_CUT:
    case M_IGNORE_RANGE:
        if (from >= len && from > 0)
            return c_printf(c,
                            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%zu\r\n"
                            "Content-Length: 3\r\n\r\nno\n",
                            len);
        if (from > 0) {
            if (!c_printf(c,
                          "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %" PRIu64 "-%zu/%zu\r\n"
                          "Content-Length: %" PRIu64 "\r\n\r\n",
                          from, len - 1, len, len - from))
                return false;
        } else if (!c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len)) {
            return false;
        }
        if (mode == M_CUT) {
            uint64_t n = cut < len - from ? cut : len - from;
            c_write(c, blob + from, (size_t)n);
            return false;
        }
        return c_write(c, blob + from, len - (size_t)from);
    case M_OVERSIZE_CL: {
        uint8_t extra[1000];
        memset(extra, 'X', sizeof(extra));
        return c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len + sizeof(extra)) &&
               c_write(c, blob, len) && c_write(c, extra, sizeof(extra));
    }
    case M_ENDLESS: {
        if (!c_printf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"))
            return false;
        for (uint64_t sent = 0; sent < (64u << 20) && !atomic_load(&s->stop); sent += len) {
            if (!c_write(c, blob, len))
                break;
        }
        return false;
    }
    case M_SHORT:
        return c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len / 2) &&
               c_write(c, blob, len / 2);
    case M_STALL:
        if (c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", len) && c_write(c, blob, 1000))
            wait_close(c);
        return false;
    case M_STATUS:
        break;
    }
    return false;
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    srv_t *s = c->s;
    char *buf = malloc(1u << 16);
    uint8_t *body = NULL;
    size_t have = 0;
    if (buf == NULL)
        goto out;
    if (s->tls != NULL) {
        c->ssl = SSL_new(s->tls);
        SSL_set_fd(c->ssl, c->fd);
        if (SSL_accept(c->ssl) <= 0)
            goto out; /* e.g. the client refused our certificate */
    }
    for (;;) {
        char *end = NULL;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            if (have >= (1u << 16) - 1)
                goto out;
            ssize_t r = c_read(c, buf + have, (1u << 16) - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char head[16384];
        if (head_len >= sizeof(head))
            goto out;
        memcpy(head, buf, head_len);
        head[head_len] = '\0';
        char cl[32];
        header_value(head, "Content-Length", cl, sizeof(cl));
        size_t blen = cl[0] ? (size_t)strtoull(cl, NULL, 10) : 0;
        if (blen > (64u << 20))
            goto out;
        free(body);
        body = malloc(blen ? blen : 1);
        if (body == NULL)
            goto out;
        size_t got = have - head_len < blen ? have - head_len : blen;
        memcpy(body, buf + head_len, got);
        size_t rest = have - head_len - got;
        memmove(buf, buf + head_len + got, rest);
        have = rest;
        while (got < blen) {
            ssize_t r = c_read(c, body + got, blen - got);
            if (r <= 0)
                goto out;
            got += (size_t)r;
        }
        if (!serve_one(c, head, body, blen))
            goto out;
    }
out:
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    free(body);
    free(buf);
    atomic_fetch_sub(&s->active, 1);
    free(c);
    return NULL;
}

static void *accept_main(void *arg)
{
    srv_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn_t *c = calloc(1, sizeof(*c));
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->mu);
        s->conns++;
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->active, 1);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_main, c) != 0) {
            atomic_fetch_sub(&s->active, 1);
            close(fd);
            free(c);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

static void srv_start(srv_t *s, SSL_CTX *tls)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    s->tls = tls;
    /* Runs outside any test: no ck_assert here. */
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 64) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pthread_create(&s->thread, NULL, accept_main, s) != 0) {
        perror("test server");
        exit(1);
    }
    s->port = ntohs(a.sin_port);
}

static void srv_stop(srv_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    while (atomic_load(&s->active) > 0)
        sleep_ms(10);
    close(s->lfd);
    free(s->blob);
    for (size_t i = 0; i < s->n_retired; i++)
        free(s->retired[i]);
    free(s->put_body);
    pthread_mutex_destroy(&s->mu);
}

/* Sets what the server does next (and a fresh random blob of |len| bytes if len > 0). */
static void srv_set(srv_t *s, srv_mode_t mode, int status, uint64_t cut_after)
{
    pthread_mutex_lock(&s->mu);
    s->mode = mode;
    s->status = status;
    s->cut_after = cut_after;
    pthread_mutex_unlock(&s->mu);
}

static void srv_blob(srv_t *s, size_t len)
{
    ferry_err_t err = {0};
    uint8_t *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(ferry_random_bytes(b, len, &err), FERRY_OK);
    pthread_mutex_lock(&s->mu);
    ck_assert_uint_lt(s->n_retired, sizeof(s->retired) / sizeof(s->retired[0]));
    if (s->blob != NULL)
        s->retired[s->n_retired++] = s->blob;
    s->blob = b;
    s->blob_len = len;
    pthread_mutex_unlock(&s->mu);
}

static int srv_count(srv_t *s, bool conns)
{
    pthread_mutex_lock(&s->mu);
    int n = conns ? s->conns : s->reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void srv_url(const srv_t *s, const char *path, char *out, size_t size)
{
    snprintf(out, size, "%s://127.0.0.1:%u%s?" SECRET, s->tls ? "https" : "http", (unsigned)s->port, path);
}

/* The blob's SHA-256 (hex). */
static void blob_hex(srv_t *s, char out[FERRY_SHA256_HEX_LEN + 1])
{
    pthread_mutex_lock(&s->mu);
    ferry_sha256_hex(s->blob, s->blob_len, out);
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------- */
/* Data callback recorder                                                    */
/* ------------------------------------------------------------------------- */

typedef struct seen {
    uint64_t first_offset, next_offset, total;
    unsigned calls;
    bool gap;         /* a call did not continue where the last ended */
    uint64_t stop_at; /* return 1 once this many bytes were seen (0 = never) */
} seen_t;

static int on_data(void *user, uint64_t offset, const uint8_t *data, size_t len)
{
    seen_t *s = user;
    if (s->calls == 0)
        s->first_offset = s->next_offset = offset;
    if (offset != s->next_offset)
        s->gap = true;
    s->next_offset = offset + len;
    s->total += len;
    s->calls++;
    (void)data;
    return s->stop_at > 0 && s->total >= s->stop_at ? 1 : 0;
}

static ferry_xfer_t *xfer(uint64_t bps, uint32_t low_speed_s)
{
    ferry_err_t err = {0};
    ferry_xfer_config_t cfg = {
        .user_agent = "xfer-test/1", .max_bytes_per_sec = bps, .low_speed_timeout_s = low_speed_s};
    ferry_xfer_t *x = ferry_xfer_new(&cfg, &err);
    ck_assert_msg(x != NULL, "ferry_xfer_new: %s", err.msg);
    return x;
}

static void no_secret(const ferry_err_t *err, const ferry_xfer_get_result_t *res)
{
    ck_assert_msg(strstr(err->msg, "SECRET") == NULL, "query leaked: %s", err->msg);
    ck_assert_msg(res == NULL || strstr(res->error, "SECRET") == NULL, "query leaked: %s", res->error);
}

/* ------------------------------------------------------------------------- */
/* Downloads                                                                 */
/* ------------------------------------------------------------------------- */

START_TEST(full_download_and_reuse)
{
    char url[256], path[512], path2[512], want[65], got[65];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    const size_t len = 1u << 20;
    srv_blob(&g_plain, len);
    srv_set(&g_plain, M_NORMAL, 0, 0);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("full.bin", path, sizeof(path));
    int conns0 = srv_count(&g_plain, true);
    ferry_xfer_t *x = xfer(0, 0);

    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert_uint_eq(res.bytes_received, len);
    ck_assert_uint_eq(res.resumed_from, 0);
    ck_assert_uint_eq(res.file_size, len);
    ck_assert_str_eq(res.error, "");
    ck_assert(res.seconds > 0);
    ck_assert_uint_eq(seen.first_offset, 0);
    ck_assert_uint_eq(seen.total, len);
    ck_assert(!seen.gap);
    blob_hex(&g_plain, want);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    /* What the server saw: HTTP/1.1 (no h2c Upgrade), our user agent, no Range. */
    pthread_mutex_lock(&g_plain.mu);
    ck_assert_str_eq(g_plain.version, "HTTP/1.1");
    ck_assert_str_eq(g_plain.upgrade, "");
    ck_assert_str_eq(g_plain.ua, "xfer-test/1");
    ck_assert_str_eq(g_plain.range, "");
    ck_assert_str_eq(g_plain.target, "/blob?" SECRET);
    pthread_mutex_unlock(&g_plain.mu);

    /* A second download (no data callback, no result) reuses the connection. */
    tmp_path("full2.bin", path2, sizeof(path2));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path2, 0, NULL, NULL, NULL, NULL, &err), FERRY_OK);
    sha_hex_of_file(path2, got);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(srv_count(&g_plain, true), conns0 + 1);
    struct stat sb;
    ck_assert_int_eq(stat(path2, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(resume_after_cut)
{
    char url[256], path[512], want[65], got[65];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    const size_t len = 1500000, cut = 300000;
    srv_blob(&g_plain, len);
    srv_set(&g_plain, M_CUT, 0, cut);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("cut.bin", path, sizeof(path));
    ferry_xfer_t *x = xfer(0, 0);

    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err),
                     FERRY_E_UNAVAILABLE);
    ck_assert_int_eq(err.code, FERRY_E_UNAVAILABLE);
    no_secret(&err, &res);
    ck_assert_ptr_nonnull(strstr(err.msg, "GET http://127.0.0.1:"));
    ck_assert_int_eq(res.http_status, 200);
    ck_assert_uint_eq(res.bytes_received, cut);
    ck_assert_uint_eq(res.file_size, cut);
    ck_assert_uint_eq(file_size(path), cut); /* the bytes stay */
    ck_assert_uint_eq(seen.total, cut);
    ck_assert_str_ne(res.error, "");

    /* Resume: Range from the partial length; the data callback sees only new bytes. */
    memset(&seen, 0, sizeof(seen));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 206);
    ck_assert_uint_eq(res.resumed_from, cut);
    ck_assert_uint_eq(res.bytes_received, len - cut);
    ck_assert_uint_eq(res.file_size, len);
    ck_assert_uint_eq(seen.first_offset, cut);
    ck_assert_uint_eq(seen.total, len - cut);
    ck_assert(!seen.gap);
    pthread_mutex_lock(&g_plain.mu);
    ck_assert_str_eq(g_plain.range, "bytes=300000-");
    pthread_mutex_unlock(&g_plain.mu);
    blob_hex(&g_plain, want);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(ignored_range_restarts)
{
    char url[256], path[512], want[65], got[65];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    const size_t len = 200000;
    srv_blob(&g_plain, len);
    srv_set(&g_plain, M_IGNORE_RANGE, 0, 0);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("restart.bin", path, sizeof(path));
    write_file(path, "not the real prefix, and longer than nothing", 44);
    ferry_xfer_t *x = xfer(0, 0);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 200);
    ck_assert_uint_eq(res.resumed_from, 0);
    ck_assert_uint_eq(res.bytes_received, len);
    ck_assert_uint_eq(seen.first_offset, 0);
    ck_assert_uint_eq(seen.total, len);
    pthread_mutex_lock(&g_plain.mu);
    ck_assert_str_eq(g_plain.range, "bytes=44-");
    pthread_mutex_unlock(&g_plain.mu);
    blob_hex(&g_plain, want);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(already_complete)
{
    char url[256], path[512];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    const size_t len = 5000;
    srv_blob(&g_plain, len);
    srv_set(&g_plain, M_NORMAL, 0, 0);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("complete.bin", path, sizeof(path));
    ferry_xfer_t *x = xfer(0, 0);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, NULL, &err), FERRY_OK);

    /* 416 with the file at the expected size: success, nothing received. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 416);
    ck_assert_uint_eq(res.bytes_received, 0);
    ck_assert_uint_eq(res.file_size, len);
    ck_assert_uint_eq(seen.calls, 0);
    /* Size unknown: the server's Content-Range total decides. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, 0, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 416);
    /* Expecting more than the server has: 416 is an error. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len + 10, NULL, NULL, NULL, &res, &err),
                     FERRY_E_PRECONDITION);
    no_secret(&err, &res);
    /* A local file longer than expected fails before any request. */
    int reqs = srv_count(&g_plain, false);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len - 1, NULL, NULL, NULL, &res, &err),
                     FERRY_E_TOO_LARGE);
    ck_assert_int_eq(srv_count(&g_plain, false), reqs);
    ck_assert_uint_eq(file_size(path), len);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(expected_size_caps)
{
    char url[256], path[512];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    const size_t len = 100000;
    srv_blob(&g_plain, len);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    ferry_xfer_t *x = xfer(0, 0);

    /* Announced too long: refused before the first byte. */
    srv_set(&g_plain, M_OVERSIZE_CL, 0, 0);
    tmp_path("over.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err),
                     FERRY_E_TOO_LARGE);
    no_secret(&err, &res);
    ck_assert_uint_eq(file_size(path), 0);
    ck_assert_uint_eq(seen.total, 0);

    /* No length, endless bytes: never more than expected on disk. */
    srv_set(&g_plain, M_ENDLESS, 0, 0);
    tmp_path("endless.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err),
                     FERRY_E_TOO_LARGE);
    ck_assert_uint_eq(file_size(path), len);
    ck_assert_uint_eq(res.bytes_received, len);
    ck_assert_uint_eq(seen.total, len);

    /* A complete reply shorter than expected. */
    srv_set(&g_plain, M_SHORT, 0, 0);
    tmp_path("short.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_E_CORRUPT);
    ck_assert_uint_eq(file_size(path), len / 2);
    no_secret(&err, &res);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(http_errors)
{
    static const struct {
        int status;
        ferry_err_code_t code;
    } cases[] = {{404, FERRY_E_NOT_FOUND},    {410, FERRY_E_NOT_FOUND},   {403, FERRY_E_AUTH_INVALID},
                 {401, FERRY_E_AUTH_INVALID}, {503, FERRY_E_UNAVAILABLE}, {500, FERRY_E_UNAVAILABLE},
                 {429, FERRY_E_UNAVAILABLE},  {400, FERRY_E_PROTOCOL},    {302, FERRY_E_PROTOCOL}};
    char url[256], path[512], expect[32];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    srv_blob(&g_plain, 1000);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("errors.bin", path, sizeof(path));
    write_file(path, "partial", 7);
    ferry_xfer_t *x = xfer(0, 0);
    int conns0 = srv_count(&g_plain, true);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        srv_set(&g_plain, M_STATUS, cases[i].status, 0);
        ck_assert_int_eq(ferry_xfer_get_file(x, url, path, 1000, NULL, NULL, NULL, &res, &err),
                         cases[i].code);
        ck_assert_int_eq(res.http_status, cases[i].status);
        snprintf(expect, sizeof(expect), "HTTP %d", cases[i].status);
        ck_assert_str_eq(res.error, expect);
        ck_assert_msg(strstr(err.msg, expect) != NULL && strstr(err.msg, "nope: status") != NULL, "%s",
                      err.msg);
        no_secret(&err, &res);
        ck_assert_uint_eq(file_size(path), 7); /* the partial stays */
    }
    /* Error replies with a body keep the connection. */
    ck_assert_int_eq(srv_count(&g_plain, true), conns0 + 1);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(connection_refused)
{
    char url[256], path[512], expect[64];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd); /* nobody listens there now */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/blob?" SECRET, (unsigned)ntohs(a.sin_port));
    tmp_path("refused.bin", path, sizeof(path));
    ferry_xfer_t *x = xfer(0, 0);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, 10, NULL, NULL, NULL, &res, &err),
                     FERRY_E_UNAVAILABLE);
    snprintf(expect, sizeof(expect), "connect to 127.0.0.1:%u refused", (unsigned)ntohs(a.sin_port));
    ck_assert_str_eq(res.error, expect);
    ck_assert_int_eq(res.http_status, 0);
    ck_assert_ptr_nonnull(strstr(err.msg, expect));
    no_secret(&err, &res);
    int st = -1;
    ck_assert_int_eq(ferry_xfer_head(x, url, NULL, &st, NULL, NULL, &err), FERRY_E_UNAVAILABLE);
    ck_assert_int_eq(st, 0);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(bad_arguments)
{
    char path[512];
    ferry_err_t err = {0};
    ferry_xfer_t *x = xfer(0, 0);
    tmp_path("args.bin", path, sizeof(path));
    ck_assert_int_eq(
        ferry_xfer_get_file(x, "ftp://127.0.0.1/x?" SECRET, path, 0, NULL, NULL, NULL, NULL, &err),
        FERRY_E_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "SECRET") == NULL, "%s", err.msg);
    ck_assert_int_eq(ferry_xfer_get_file(x, "not a url?" SECRET, path, 0, NULL, NULL, NULL, NULL, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_msg(strstr(err.msg, "SECRET") == NULL, "%s", err.msg);
    ck_assert_int_eq(ferry_xfer_get_file(x, "http://127.0.0.1/", NULL, 0, NULL, NULL, NULL, NULL, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_xfer_get_file(x, "http://127.0.0.1/", g_tmp, 0, NULL, NULL, NULL, NULL, &err),
                     FERRY_E_IO); /* a directory */
    ferry_xfer_free(x);
    ferry_xfer_config_t bad = {.pin_sha256 = "abcd"};
    ck_assert_ptr_null(ferry_xfer_new(&bad, &err));
    ck_assert_int_eq(err.code, FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "pin_sha256"));
    ferry_xfer_free(NULL);
}
END_TEST

typedef struct canceler {
    volatile int *flag;
    unsigned after_ms;
} canceler_t;

static void *cancel_main(void *arg)
{
    canceler_t *c = arg;
    sleep_ms(c->after_ms);
    *c->flag = 1;
    return NULL;
}

START_TEST(cancel_and_stall)
{
    char url[256], path[512];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    volatile int flag = 0;
    const size_t len = 400000;
    srv_blob(&g_plain, len);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    ferry_xfer_t *x = xfer(0, 1);

    /* Canceled from another thread while nothing moves. */
    srv_set(&g_plain, M_STALL, 0, 0);
    tmp_path("cancel.bin", path, sizeof(path));
    canceler_t c = {.flag = &flag, .after_ms = 300};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_main, &c), 0);
    double t0 = now_s();
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, &flag, &res, &err), FERRY_E_CANCELED);
    double took = now_s() - t0;
    pthread_join(t, NULL);
    /* ~100 ms after the flag is set; generous bound for a loaded machine. */
    ck_assert_msg(took >= 0.29 && took < 1.0, "cancel took %.3f s", took);
    fprintf(stderr, "cancel_and_stall: canceled %.0f ms after the flag was set\n", (took - 0.3) * 1000);
    ck_assert_uint_eq(file_size(path), 1000);
    /* Already set: nothing happens. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, &flag, &res, &err), FERRY_E_CANCELED);

    /* Stalled: the low-speed timeout (1 s here) ends it as UNAVAILABLE. */
    t0 = now_s();
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err),
                     FERRY_E_UNAVAILABLE);
    took = now_s() - t0;
    ck_assert_msg(strncmp(res.error, "timeout", 7) == 0, "%s", res.error);
    ck_assert_msg(took >= 0.9 && took < 5, "stall ended after %.3f s", took);
    ck_assert_uint_eq(file_size(path), 1000);

    /* The data callback stops it. */
    srv_set(&g_plain, M_NORMAL, 0, 0);
    tmp_path("cb.bin", path, sizeof(path));
    seen.stop_at = 1;
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err),
                     FERRY_E_CANCELED);
    ck_assert_uint_eq(seen.calls, 1);
    ck_assert_uint_eq(file_size(path), seen.total);
    /* ... and the client still works afterwards. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ck_assert_uint_eq(file_size(path), len);
    ferry_xfer_free(x);
}
END_TEST

START_TEST(bandwidth_limit)
{
    char url[256], path[512];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    const size_t len = 2000000;
    srv_blob(&g_plain, len);
    srv_set(&g_plain, M_NORMAL, 0, 0);
    srv_url(&g_plain, "/blob", url, sizeof(url));
    tmp_path("limited.bin", path, sizeof(path));
    ferry_xfer_t *x = xfer(4000000, 0);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ck_assert_msg(res.seconds >= 0.3, "2 MB at 4 MB/s took only %.3f s", res.seconds);
    fprintf(stderr, "bandwidth_limit: 2 MB at 4 MB/s took %.3f s\n", res.seconds);
    ferry_xfer_free(x);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* Uploads                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct hdrs_seen {
    char upload_offset[32];
    unsigned n;
} hdrs_seen_t;

static void on_resp_header(void *user, const char *name, const char *value)
{
    hdrs_seen_t *h = user;
    h->n++;
    if (strcasecmp(name, "upload-offset") == 0)
        snprintf(h->upload_offset, sizeof(h->upload_offset), "%s", value);
}

START_TEST(put_and_head)
{
    char url[256], path[512];
    ferry_err_t err = {0};
    hdrs_seen_t h = {0};
    int status = 0;
    const size_t len = 100000;
    uint8_t *data = malloc(len);
    ck_assert_int_eq(ferry_random_bytes(data, len, &err), FERRY_OK);
    tmp_path("up.bin", path, sizeof(path));
    write_file(path, data, len);
    srv_set(&g_plain, M_NORMAL, 0, 0);
    srv_url(&g_plain, "/upload", url, sizeof(url));
    ferry_xfer_t *x = xfer(0, 0);
    const char *const extra[] = {"X-Test: yes", NULL};

    ck_assert_int_eq(
        ferry_xfer_put_file(x, url, path, 40000, 30000, len, extra, &status, on_resp_header, &h, &err),
        FERRY_OK);
    ck_assert_int_eq(status, 204);
    ck_assert_str_eq(h.upload_offset, "70000");
    pthread_mutex_lock(&g_plain.mu);
    ck_assert_str_eq(g_plain.method, "PUT");
    ck_assert_str_eq(g_plain.crange, "bytes 40000-69999/100000");
    ck_assert_str_eq(g_plain.ctype, "application/octet-stream");
    ck_assert_str_eq(g_plain.xtest, "yes");
    ck_assert_uint_eq(g_plain.put_len, 30000);
    ck_assert(memcmp(g_plain.put_body, data + 40000, 30000) == 0);
    pthread_mutex_unlock(&g_plain.mu);

    /* The whole file, no Content-Range, our own Content-Type. */
    const char *const ct[] = {"Content-Type: application/zip", NULL};
    ck_assert_int_eq(ferry_xfer_put_file(x, url, path, 0, len, 0, ct, &status, NULL, NULL, &err), FERRY_OK);
    pthread_mutex_lock(&g_plain.mu);
    ck_assert_str_eq(g_plain.crange, "");
    ck_assert_str_eq(g_plain.ctype, "application/zip");
    ck_assert_uint_eq(g_plain.put_len, len);
    ck_assert(memcmp(g_plain.put_body, data, len) == 0);
    pthread_mutex_unlock(&g_plain.mu);

    /* HEAD reads Upload-Offset. */
    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(ferry_xfer_head(x, url, extra, &status, on_resp_header, &h, &err), FERRY_OK);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(h.upload_offset, "100000");

    /* An offset conflict: 409, headers still delivered, body quoted. */
    memset(&h, 0, sizeof(h));
    srv_set(&g_plain, M_STATUS, 409, 0);
    ck_assert_int_eq(ferry_xfer_put_file(x, url, path, 0, 10, len, NULL, &status, on_resp_header, &h, &err),
                     FERRY_E_PRECONDITION);
    ck_assert_int_eq(status, 409);
    ck_assert_str_eq(h.upload_offset, "4242");
    ck_assert_ptr_nonnull(strstr(err.msg, "HTTP 409: nope: status 409"));
    ck_assert_ptr_nonnull(strstr(err.msg, "PUT http://127.0.0.1:"));
    no_secret(&err, NULL);
    srv_set(&g_plain, M_STATUS, 403, 0);
    ck_assert_int_eq(ferry_xfer_put_file(x, url, path, 0, 10, len, NULL, &status, NULL, NULL, &err),
                     FERRY_E_AUTH_INVALID);
    srv_set(&g_plain, M_STATUS, 404, 0);
    ck_assert_int_eq(ferry_xfer_head(x, url, NULL, &status, NULL, NULL, &err), FERRY_E_NOT_FOUND);
    ck_assert_int_eq(status, 404);
    srv_set(&g_plain, M_NORMAL, 0, 0);

    /* More bytes than the file has, a range past the total. */
    ck_assert_int_eq(ferry_xfer_put_file(x, url, path, 90000, 20000, 0, NULL, &status, NULL, NULL, &err),
                     FERRY_E_IO);
    ck_assert_int_eq(ferry_xfer_put_file(x, url, path, 90000, 20000, 100000, NULL, &status, NULL, NULL, &err),
                     FERRY_E_INVALID_ARG);
    free(data);
    ferry_xfer_free(x);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* TLS                                                                       */
/* ------------------------------------------------------------------------- */

static char g_certs[256], g_ca[300], g_other_ca[300], g_pin[80];

START_TEST(tls_ca_and_pin)
{
    char url[256], path[512], want[65], got[65];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    const size_t len = 300000;
    srv_blob(&g_tls, len);
    srv_set(&g_tls, M_NORMAL, 0, 0);
    srv_url(&g_tls, "/blob", url, sizeof(url));
    blob_hex(&g_tls, want);

    ferry_xfer_config_t cfg = {.ca_file = g_ca, .pin_sha256 = g_pin};
    ferry_xfer_t *x = ferry_xfer_new(&cfg, &err);
    ck_assert_ptr_nonnull(x);
    tmp_path("tls.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    ferry_xfer_free(x);

    /* Wrong pin, unrelated CA: transport errors that name TLS. */
    ferry_xfer_config_t wrong_pin = {
        .ca_file = g_ca, .pin_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"};
    x = ferry_xfer_new(&wrong_pin, &err);
    ck_assert_ptr_nonnull(x);
    tmp_path("tls2.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err),
                     FERRY_E_UNAVAILABLE);
    ck_assert_msg(strncmp(res.error, "TLS", 3) == 0, "%s", res.error);
    ck_assert_uint_eq(file_size(path), 0);
    ferry_xfer_free(x);
    ferry_xfer_config_t other = {.ca_file = g_other_ca};
    x = ferry_xfer_new(&other, &err);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err),
                     FERRY_E_UNAVAILABLE);
    ck_assert_msg(strncmp(res.error, "TLS", 3) == 0, "%s", res.error);
    no_secret(&err, &res);
    ferry_xfer_free(x);
    /* Tests-only escape hatch. */
    ferry_xfer_config_t insecure = {.ca_file = g_other_ca, .insecure_skip_verify = true};
    x = ferry_xfer_new(&insecure, &err);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ferry_xfer_free(x);
}
END_TEST

/* ------------------------------------------------------------------------- */
/* h2 over TLS (the RPC server runtime with a plain route)                   */
/* ------------------------------------------------------------------------- */

#ifdef FERRY_XFER_TEST_H2
static uint8_t *g_h2_blob;
static size_t g_h2_len;
static atomic_int g_h2_version; /* h2o's req->version of the last request (0x200 = HTTP/2) */

/* Serves g_h2_blob with `Range: bytes=N-` support (206 + Content-Range). Loop thread. */
static int h2_route(void *r, void *user)
{
    h2o_req_t *req = r;
    size_t rl = 0;
    const char *range = ferry_http_req_header(r, "range", &rl);
    char rb[64], cr[96];
    uint64_t from = 0;
    (void)user;
    atomic_store(&g_h2_version, req->version);
    if (range != NULL && rl > 6 && rl < sizeof(rb) && strncmp(range, "bytes=", 6) == 0) {
        memcpy(rb, range + 6, rl - 6);
        rb[rl - 6] = '\0';
        from = strtoull(rb, NULL, 10);
    }
    if (from > 0 && from < g_h2_len) {
        int n = snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%zu/%zu", from, g_h2_len - 1, g_h2_len);
        req->res.status = 206;
        req->res.reason = "Partial Content";
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-range"), 0, NULL,
                              h2o_strdup(&req->pool, cr, (size_t)n).base, (size_t)n);
    } else {
        from = 0;
        req->res.status = 200;
        req->res.reason = "OK";
    }
    h2o_send_inline(req, (const char *)g_h2_blob + from, g_h2_len - (size_t)from);
    return 0;
}

START_TEST(tls_h2_alpn)
{
    char url[256], path[512], want[65], got[65], cert[300], key[300];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    g_h2_len = 1u << 20;
    g_h2_blob = malloc(g_h2_len);
    ck_assert_int_eq(ferry_random_bytes(g_h2_blob, g_h2_len, &err), FERRY_OK);
    ferry_sha256_hex(g_h2_blob, g_h2_len, want);
    snprintf(cert, sizeof(cert), "%s/server.pem", g_certs);
    snprintf(key, sizeof(key), "%s/server.key", g_certs);
    ferry_rpc_server_config_t sc = {.threads = 1, .tls_cert_file = cert, .tls_key_file = key};
    ferry_rpc_server_t *srv = ferry_rpc_server_new(&sc, &err);
    ck_assert_msg(srv != NULL, "%s", err.msg);
    ck_assert_int_eq(ferry_rpc_server_add_route(srv, "/h2blob", h2_route, NULL, &err), FERRY_OK);
    ck_assert_int_eq(ferry_rpc_server_start(srv, &err), FERRY_OK);
    snprintf(url, sizeof(url), "https://localhost:%u/h2blob?" SECRET, (unsigned)ferry_rpc_server_port(srv));

    ferry_xfer_config_t cfg = {.ca_file = g_ca, .pin_sha256 = g_pin};
    ferry_xfer_t *x = ferry_xfer_new(&cfg, &err);
    ck_assert_ptr_nonnull(x);
    tmp_path("h2.bin", path, sizeof(path));
    write_file(path, g_h2_blob, 100000); /* a prefix: resumed over h2 */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, g_h2_len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(atomic_load(&g_h2_version), 0x200);
    ck_assert_int_eq(res.http_status, 206);
    ck_assert_uint_eq(res.resumed_from, 100000);
    ck_assert_uint_eq(seen.first_offset, 100000);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    /* From scratch, same client. */
    tmp_path("h2b.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, g_h2_len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 200);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, want);
    ferry_xfer_free(x);
    ferry_rpc_server_shutdown(srv);
    ferry_rpc_server_wait(srv);
    ferry_rpc_server_free(srv);
    free(g_h2_blob);
    g_h2_blob = NULL;
}
END_TEST
#endif

/* ------------------------------------------------------------------------- */
/* A real ferryd                                                             */
/* ------------------------------------------------------------------------- */

#ifdef FERRY_XFER_TEST_HUB
START_TEST(ferryd_signed_blob)
{
    hh_t h;
    hh_options_t o = {.tag = "xfer"};
    char src[512], path[512], sha[65], got[65], url[1024], upath[256], query[FERRY_SIGNURL_QUERY_MAX];
    ferry_err_t err = {0};
    ferry_xfer_get_result_t res;
    seen_t seen = {0};
    uint64_t size = 0;
    const size_t len = 3000000;
    uint8_t *data = malloc(len);
    ck_assert_int_eq(ferry_random_bytes(data, len, &err), FERRY_OK);
    tmp_path("hub-src.bin", src, sizeof(src));
    write_file(src, data, len);
    free(data);
    ck_assert_int_eq(hh_start(&h, &o), 0);
    ck_assert_int_eq(ferry_blob_put_file(h.hub->blobs, src, sha, &size, &err), FERRY_OK);
    snprintf(upath, sizeof(upath), "/blobs/sha256/%s", sha);
    ck_assert_int_eq(ferry_signurl_make(h.hub->url_key, sizeof(h.hub->url_key), "GET", upath,
                                        (int64_t)time(NULL) + 300, query, sizeof(query), &err),
                     FERRY_OK);
    snprintf(url, sizeof(url), "%s%s?%s", h.base_url, upath, query);

    /* Resume from a prefix already on disk (ferryd answers 206). */
    tmp_path("hub-dst.bin", path, sizeof(path));
    FILE *in = fopen(src, "rb");
    uint8_t *prefix = malloc(1000000);
    ck_assert_uint_eq(fread(prefix, 1, 1000000, in), 1000000);
    fclose(in);
    write_file(path, prefix, 1000000);
    free(prefix);
    ferry_xfer_t *x = xfer(0, 0);
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, on_data, &seen, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 206);
    ck_assert_uint_eq(res.resumed_from, 1000000);
    ck_assert_uint_eq(seen.first_offset, 1000000);
    sha_hex_of_file(path, got);
    ck_assert_str_eq(got, sha);
    /* Complete already: ferryd's 416. */
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err), FERRY_OK);
    ck_assert_int_eq(res.http_status, 416);

    /* An expired signature is E_AUTH_INVALID; the message has no signature. */
    ck_assert_int_eq(ferry_signurl_make(h.hub->url_key, sizeof(h.hub->url_key), "GET", upath,
                                        (int64_t)time(NULL) - 5, query, sizeof(query), &err),
                     FERRY_OK);
    snprintf(url, sizeof(url), "%s%s?%s", h.base_url, upath, query);
    tmp_path("hub-exp.bin", path, sizeof(path));
    ck_assert_int_eq(ferry_xfer_get_file(x, url, path, len, NULL, NULL, NULL, &res, &err),
                     FERRY_E_AUTH_INVALID);
    ck_assert_int_eq(res.http_status, 403);
    ck_assert_ptr_null(strstr(err.msg, "sig="));
    ck_assert_ptr_nonnull(strstr(err.msg, "E_AUTH_INVALID"));
    ferry_xfer_free(x);
    hh_stop(&h);
}
END_TEST
#endif

/* ------------------------------------------------------------------------- */

static void load_certs(void)
{
    const char *src = getenv("FERRY_SOURCE_DIR");
    char cmd[1024], pinfile[300];
    snprintf(g_certs, sizeof(g_certs), "%s/certs", g_tmp);
    snprintf(cmd, sizeof(cmd), "bash '%s/tests/integration/gen-test-certs.sh' '%s' >/dev/null",
             src ? src : FERRY_TEST_SOURCE_DIR, g_certs);
    int rc = system(cmd);
    if (rc != 0) {
        printf("SKIP: could not generate test certificates (openssl missing?), status %d\n", rc);
        exit(77);
    }
    snprintf(g_ca, sizeof(g_ca), "%s/ca.pem", g_certs);
    snprintf(g_other_ca, sizeof(g_other_ca), "%s/other-ca.pem", g_certs);
    snprintf(pinfile, sizeof(pinfile), "%s/pin.hex", g_certs);
    FILE *f = fopen(pinfile, "r");
    if (f == NULL || fgets(g_pin, sizeof(g_pin), f) == NULL) {
        fprintf(stderr, "no %s\n", pinfile);
        exit(1);
    }
    fclose(f);
    g_pin[strcspn(g_pin, "\r\n")] = '\0';
}

static SSL_CTX *server_tls(void)
{
    char cert[300], key[300];
    snprintf(cert, sizeof(cert), "%s/server.pem", g_certs);
    snprintf(key, sizeof(key), "%s/server.key", g_certs);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        fprintf(stderr, "server TLS set-up failed\n");
        exit(1);
    }
    return ctx;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_tmp, sizeof(g_tmp), "/tmp/ferry-xfer-XXXXXX");
    if (mkdtemp(g_tmp) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    load_certs();
    SSL_CTX *ctx = server_tls();
    srv_start(&g_plain, NULL);
    srv_start(&g_tls, ctx);

    Suite *s = suite_create("rpc_transfer");
    TCase *tc = tcase_create("transfer");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_download_and_reuse);
    tcase_add_test(tc, resume_after_cut);
    tcase_add_test(tc, ignored_range_restarts);
    tcase_add_test(tc, already_complete);
    tcase_add_test(tc, expected_size_caps);
    tcase_add_test(tc, http_errors);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, cancel_and_stall);
    tcase_add_test(tc, bandwidth_limit);
    tcase_add_test(tc, put_and_head);
    tcase_add_test(tc, tls_ca_and_pin);
#ifdef FERRY_XFER_TEST_H2
    tcase_add_test(tc, tls_h2_alpn);
#endif
#ifdef FERRY_XFER_TEST_HUB
    tcase_add_test(tc, ferryd_signed_blob);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    srv_stop(&g_plain);
    srv_stop(&g_tls);
    SSL_CTX_free(ctx);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
    if (getenv("FERRY_KEEP_TMP") == NULL && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmp);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
