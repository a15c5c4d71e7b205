/*
 * The agent's multi-source downloader (agent/daemon/download.c) over the real transfer
 * client against small HTTP/1.1 servers written here (loopback, a thread per
 * connection, an 8 MiB generated package with Range support). Each server can serve
 * normally, cut the connection after N bytes (once), answer a status (503), serve the
 * package with one byte flipped, serve half of it as if complete, or ignore Range.
 *
 * Omaha rules checked: priority order, fallback on refused connections and HTTP
 * errors continuing from the same offset (the next source sees the Range), a wrong
 * digest deletes the file and the next source starts from zero, a failed round keeps
 * the partial file for the next call; plus the free-disk check and cancellation.
 * Every URL carries a secret query that must never show in a message or telemetry.
 *
 * check runs in no-fork mode: the server threads live in the test process.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "download.h"
#include "ferry/fs.h"
#include "ferry/hash.h"

#define SECRET   "sig=SECRET0123456789" /* in every URL's query: must never show */
#define PKG_SIZE (8u << 20)
#define MIB      (1u << 20)

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static uint8_t *g_blob; /* the package */
static char g_blob_hex[FERRY_SHA256_HEX_LEN + 1];
static char g_tmp[256];
static char g_path[512], g_part[520];

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

/* Size of |path|, or -1 when it does not exist. */
static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static void assert_file_is_package(const char *path)
{
    char hex[FERRY_SHA256_HEX_LEN + 1];
    uint64_t size = 0;
    ferry_err_t err = {0};
    ck_assert_int_eq(ferry_sha256_file(path, hex, &size, &err), FERRY_OK);
    ck_assert_uint_eq(size, PKG_SIZE);
    ck_assert_str_eq(hex, g_blob_hex);
}

/* Writes the first |len| bytes of the package to |path| (a partial from an earlier run). */
static void write_prefix(const char *path, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(g_blob, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void no_secret(const ferry_err_t *err, const agentd_dl_stats_t *st)
{
    ck_assert_msg(strstr(err->msg, "SECRET") == NULL, "query leaked: %s", err->msg);
    for (unsigned i = 0; i < st->n_fallbacks; i++)
        ck_assert_msg(strstr(st->fallbacks[i], "SECRET") == NULL, "query leaked: %s", st->fallbacks[i]);
}

/* ------------------------------------------------------------------------- */
/* The test servers                                                          */
/* ------------------------------------------------------------------------- */

typedef enum srv_mode {
    M_NORMAL,       /* Range honoured: 200, 206, 416 */
    M_CUT,          /* like NORMAL, but the body stops after cut_after bytes and the
                       connection closes; then back to NORMAL */
    M_STATUS,       /* answer |status| with a short text body */
    M_CORRUPT,      /* like NORMAL, with the byte at corrupt_at flipped */
    M_SHORT,        /* 200, a complete body of half the package */
    M_IGNORE_RANGE, /* always 200 with the whole package */
} srv_mode_t;

#define MAX_RANGES 16

typedef struct srv {
    int lfd;
    uint16_t port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int active; /* connection threads running */

    pthread_mutex_t mu; /* guards everything below */
    srv_mode_t mode;
    int status;
    uint64_t cut_after, corrupt_at;
    int reqs;
    char ranges[MAX_RANGES][64]; /* Range header of each request ("" = none) */
} srv_t;

#define N_SRV 3
static srv_t g_srv[N_SRV];

typedef struct conn {
    srv_t *s;
    int fd;
} conn_t;

static ssize_t c_read(conn_t *c, void *buf, size_t len)
{
    for (;;) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&p, 1, 100);
        if (atomic_load(&c->s->stop))
            return -1;
        if (pr <= 0)
            continue;
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
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
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
    char buf[1024];
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

/* Sends package bytes [from, to) with the byte at |flip| (if inside) inverted. */
static bool send_range(conn_t *c, uint64_t from, uint64_t to, uint64_t flip)
{
    if (flip >= from && flip < to) {
        uint8_t b = (uint8_t)(g_blob[flip] ^ 0xff);
        return c_write(c, g_blob + from, (size_t)(flip - from)) && c_write(c, &b, 1) &&
               c_write(c, g_blob + flip + 1, (size_t)(to - flip - 1));
    }
    return c_write(c, g_blob + from, (size_t)(to - from));
}

/* Serves one request; false = close the connection. */
static bool serve_one(conn_t *c, const char *head)
{
    srv_t *s = c->s;
    char method[16] = "", target[1024] = "", range[64];
    sscanf(head, "%15s %1023s", method, target);
    header_value(head, "Range", range, sizeof(range));

    pthread_mutex_lock(&s->mu);
    if (s->reqs < MAX_RANGES)
        snprintf(s->ranges[s->reqs], sizeof(s->ranges[0]), "%s", range);
    s->reqs++;
    srv_mode_t mode = s->mode;
    int status = s->status;
    uint64_t cut = s->cut_after, flip = s->corrupt_at;
    if (mode == M_CUT)
        s->mode = M_NORMAL;
    pthread_mutex_unlock(&s->mu);

    const uint64_t len = PKG_SIZE;
    if (mode == M_STATUS) {
        return c_printf(c, "HTTP/1.1 %d Busy\r\nContent-Length: 5\r\nRetry-After: 1\r\n\r\nbusy\n", status);
    }
    if (mode == M_SHORT) {
        return c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %" PRIu64 "\r\n\r\n", len / 2) &&
               send_range(c, 0, len / 2, UINT64_MAX);
    }
    uint64_t from = 0;
    if (strncmp(range, "bytes=", 6) == 0 && mode != M_IGNORE_RANGE)
        from = strtoull(range + 6, NULL, 10);
    if (from >= len && from > 0)
        return c_printf(c,
                        "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%" PRIu64
                        "\r\nContent-Length: 3\r\n\r\nno\n",
                        len);
    if (from > 0) {
        if (!c_printf(c,
                      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64
                      "\r\nContent-Length: %" PRIu64 "\r\n\r\n",
                      from, len - 1, len, len - from))
            return false;
    } else if (!c_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: %" PRIu64 "\r\n\r\n", len)) {
        return false;
    }
    if (mode == M_CUT) {
        uint64_t to = from + cut < len ? from + cut : len;
        send_range(c, from, to, UINT64_MAX);
        return false;
    }
    return send_range(c, from, len, mode == M_CORRUPT ? flip : UINT64_MAX);
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    srv_t *s = c->s;
    char buf[16384];
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            if (have >= sizeof(buf) - 1)
                goto out;
            ssize_t r = c_read(c, buf + have, sizeof(buf) - 1 - have);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char head[sizeof(buf)];
        memcpy(head, buf, head_len);
        head[head_len] = '\0';
        memmove(buf, buf + head_len, have - head_len);
        have -= head_len;
        if (!serve_one(c, head))
            goto out;
    }
out:
    close(c->fd);
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
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->s = s;
        c->fd = fd;
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

static void srv_start(srv_t *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
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
    pthread_mutex_destroy(&s->mu);
}

static void srv_set(srv_t *s, srv_mode_t mode, int status, uint64_t arg)
{
    pthread_mutex_lock(&s->mu);
    s->mode = mode;
    s->status = status;
    s->cut_after = mode == M_CUT ? arg : 0;
    s->corrupt_at = mode == M_CORRUPT ? arg : UINT64_MAX;
    pthread_mutex_unlock(&s->mu);
}

static int srv_reqs(srv_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->reqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Range header of request |i| (0-based) that |s| received. */
static void srv_range(srv_t *s, int i, char *out, size_t size)
{
    pthread_mutex_lock(&s->mu);
    snprintf(out, size, "%s", i < s->reqs && i < MAX_RANGES ? s->ranges[i] : "(no such request)");
    pthread_mutex_unlock(&s->mu);
}

static char g_url[N_SRV][256], g_refused_url[256];

/* A loopback port nothing listens on (bound, then closed). */
static uint16_t dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        perror("dead port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------------- */
/* Fixture                                                                   */
/* ------------------------------------------------------------------------- */

static ferry_xfer_t *g_x;

static ferry_xfer_t *new_xfer(uint64_t bps)
{
    ferry_err_t err = {0};
    ferry_xfer_config_t cfg = {.user_agent = "agentd-download-test/1",
                               .connect_timeout_ms = 3000,
                               .low_speed_timeout_s = 10,
                               .max_bytes_per_sec = bps};
    ferry_xfer_t *x = ferry_xfer_new(&cfg, &err);
    ck_assert_msg(x != NULL, "ferry_xfer_new: %s", err.msg);
    return x;
}

static void setup(void)
{
    static unsigned n;
    snprintf(g_path, sizeof(g_path), "%s/case%u/pkg/package.zip", g_tmp, ++n);
    snprintf(g_part, sizeof(g_part), "%s.part", g_path);
    for (int i = 0; i < N_SRV; i++) {
        srv_set(&g_srv[i], M_NORMAL, 0, 0);
        pthread_mutex_lock(&g_srv[i].mu);
        g_srv[i].reqs = 0;
        pthread_mutex_unlock(&g_srv[i].mu);
    }
    g_x = new_xfer(0);
}

static void teardown(void)
{
    ferry_xfer_free(g_x);
    g_x = NULL;
}

/* Progress recorder. */
typedef struct prog {
    unsigned calls;
    uint64_t last_done, total;
    bool backwards;
    uint64_t stop_after; /* return 1 once done >= this (0 = never) */
} prog_t;

static int on_progress(void *user, uint64_t done, uint64_t total)
{
    prog_t *p = user;
    if (done < p->last_done && done != 0)
        p->backwards = true;
    p->calls++;
    p->last_done = done;
    p->total = total;
    return p->stop_after > 0 && done >= p->stop_after ? 1 : 0;
}

/* ------------------------------------------------------------------------- */
/* Tests                                                                     */
/* ------------------------------------------------------------------------- */

START_TEST(single_source_ok)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0}};
    agentd_dl_stats_t st;
    prog_t p = {0};
    ferry_err_t err = {0};
    ferry_err_code_t rc =
        agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, on_progress, &p, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_int_eq(file_size(g_part), -1);
    ck_assert_str_eq(st.source_name, "primary");
    ck_assert_uint_eq(st.bytes, PKG_SIZE);
    ck_assert_uint_eq(st.resumed_bytes, 0);
    ck_assert_uint_eq(st.attempts, 1);
    ck_assert_uint_eq(st.n_fallbacks, 0);
    ck_assert(st.seconds >= 0.0);
    ck_assert_uint_ge(p.calls, 1);
    ck_assert_uint_eq(p.last_done, PKG_SIZE);
    ck_assert_uint_eq(p.total, PKG_SIZE);
    ck_assert(!p.backwards);
    ck_assert_int_eq(srv_reqs(&g_srv[0]), 1);

    /* Called again with the verified file in place: nothing is fetched. */
    rc = agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    ck_assert_int_eq(srv_reqs(&g_srv[0]), 1);
    ck_assert_uint_eq(st.bytes, 0);
    assert_file_is_package(g_path);
    /* stats may be NULL; upper-case digests are accepted. */
    char upper[FERRY_SHA256_HEX_LEN + 1];
    for (size_t i = 0; i <= FERRY_SHA256_HEX_LEN; i++)
        upper[i] = (char)(g_blob_hex[i] >= 'a' && g_blob_hex[i] <= 'f' ? g_blob_hex[i] - 32 : g_blob_hex[i]);
    ck_assert_int_eq(unlink(g_path), 0);
    rc = agentd_download(g_x, src, 1, g_path, PKG_SIZE, upper, NULL, NULL, NULL, NULL, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
}
END_TEST

START_TEST(primary_refused_mirror_serves)
{
    /* Listed out of order: the priority decides. */
    agentd_source_t src[] = {{.name = "mirror-1", .url = g_url[1], .priority = 10},
                             {.name = "primary", .url = g_refused_url, .priority = 0}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    ferry_err_code_t rc =
        agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_str_eq(st.source_name, "mirror-1");
    ck_assert_uint_eq(st.attempts, 2);
    ck_assert_uint_eq(st.n_fallbacks, 1);
    ck_assert_msg(
        strncmp(st.fallbacks[0], "primary: ", 9) == 0 &&
            (strstr(st.fallbacks[0], "refused") != NULL || strstr(st.fallbacks[0], "connect") != NULL),
        "fallback: %s", st.fallbacks[0]);
    ck_assert_uint_eq(st.bytes, PKG_SIZE);
    ck_assert_int_eq(srv_reqs(&g_srv[1]), 1);
    no_secret(&err, &st);
}
END_TEST

START_TEST(cut_midway_continues_on_next_source)
{
    const uint64_t cut = 3 * MIB;
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0},
                             {.name = "mirror-1", .url = g_url[1], .priority = 1}};
    agentd_dl_stats_t st;
    prog_t p = {0};
    ferry_err_t err = {0};
    char range[64];
    srv_set(&g_srv[0], M_CUT, 0, cut);
    ferry_err_code_t rc =
        agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, on_progress, &p, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_str_eq(st.source_name, "mirror-1");
    ck_assert_uint_eq(st.resumed_bytes, 0);
    ck_assert_uint_eq(st.bytes, PKG_SIZE); /* 3 MiB from the primary, 5 MiB from the mirror */
    ck_assert_uint_eq(st.attempts, 2);
    ck_assert_uint_eq(st.n_fallbacks, 1);
    ck_assert_msg(strncmp(st.fallbacks[0], "primary: ", 9) == 0, "fallback: %s", st.fallbacks[0]);
    /* The mirror was asked for the rest only, from the very byte the primary stopped at. */
    ck_assert_int_eq(srv_reqs(&g_srv[0]), 1);
    ck_assert_int_eq(srv_reqs(&g_srv[1]), 1);
    srv_range(&g_srv[0], 0, range, sizeof(range));
    ck_assert_str_eq(range, "");
    srv_range(&g_srv[1], 0, range, sizeof(range));
    ck_assert_str_eq(range, "bytes=3145728-");
    ck_assert_uint_eq(p.last_done, PKG_SIZE);
    ck_assert(!p.backwards);
    no_secret(&err, &st);
}
END_TEST

START_TEST(corrupt_source_deleted_next_from_zero)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0},
                             {.name = "mirror-1", .url = g_url[1], .priority = 1}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    char range[64];
    srv_set(&g_srv[0], M_CORRUPT, 0, 4 * MIB + 17);
    ferry_err_code_t rc =
        agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_str_eq(st.source_name, "mirror-1");
    ck_assert_uint_eq(st.bytes, 2 * (uint64_t)PKG_SIZE);
    ck_assert_uint_eq(st.n_fallbacks, 1);
    ck_assert_str_eq(st.fallbacks[0], "primary: SHA-256 mismatch");
    srv_range(&g_srv[1], 0, range, sizeof(range));
    ck_assert_str_eq(range, ""); /* from zero */

    /* A source that ends early (a complete reply of half the size): deleted as well. */
    ck_assert_int_eq(unlink(g_path), 0);
    srv_set(&g_srv[0], M_SHORT, 0, 0);
    rc = agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_str_eq(st.source_name, "mirror-1");
    ck_assert_uint_eq(st.n_fallbacks, 1);
    srv_range(&g_srv[1], 1, range, sizeof(range));
    ck_assert_str_eq(range, "");

    /* Every source delivers the wrong bytes: E_HASH_MISMATCH, nothing left behind. */
    ck_assert_int_eq(unlink(g_path), 0);
    srv_set(&g_srv[0], M_CORRUPT, 0, 0);
    srv_set(&g_srv[1], M_CORRUPT, 0, PKG_SIZE - 1);
    rc = agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_E_HASH_MISMATCH, "%s: %s", ferry_err_name(rc), err.msg);
    ck_assert_int_eq(file_size(g_path), -1);
    ck_assert_int_eq(file_size(g_part), -1);
    ck_assert_uint_eq(st.n_fallbacks, 2);
    ck_assert_str_eq(st.source_name, "");
    no_secret(&err, &st);
}
END_TEST

START_TEST(all_fail_keeps_partial_then_resumes)
{
    const uint64_t cut = 2 * MIB;
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0},
                             {.name = "mirror-1", .url = g_url[1], .priority = 1},
                             {.name = "mirror-2", .url = g_refused_url, .priority = 2}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    char range[64];
    srv_set(&g_srv[0], M_CUT, 0, cut);
    srv_set(&g_srv[1], M_STATUS, 503, 0);
    ferry_err_code_t rc =
        agentd_download(g_x, src, 3, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_E_DOWNLOAD_FAILED, "%s: %s", ferry_err_name(rc), err.msg);
    ck_assert_int_eq(file_size(g_part), (int64_t)cut);
    ck_assert_int_eq(file_size(g_path), -1);
    ck_assert_uint_eq(st.attempts, 3);
    ck_assert_uint_eq(st.n_fallbacks, 3);
    ck_assert_uint_eq(st.bytes, cut);
    ck_assert_str_eq(st.source_name, "");
    ck_assert_msg(strstr(err.msg, "primary") && strstr(err.msg, "mirror-1: HTTP 503") &&
                      strstr(err.msg, "mirror-2"),
                  "message: %s", err.msg);
    ck_assert_msg(strstr(st.fallbacks[1], "mirror-1: HTTP 503") != NULL, "%s", st.fallbacks[1]);
    srv_range(&g_srv[1], 0, range, sizeof(range));
    ck_assert_str_eq(range, "bytes=2097152-"); /* the 503 source was asked for the rest too */
    no_secret(&err, &st);

    /* The next round (fresh URLs from the server) resumes the kept bytes. */
    srv_set(&g_srv[1], M_NORMAL, 0, 0);
    rc = agentd_download(g_x, src, 3, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_int_eq(file_size(g_part), -1);
    ck_assert_str_eq(st.source_name, "primary");
    ck_assert_uint_eq(st.resumed_bytes, cut);
    ck_assert_uint_eq(st.bytes, PKG_SIZE - cut);
    ck_assert_uint_eq(st.attempts, 1);
    srv_range(&g_srv[0], 1, range, sizeof(range));
    ck_assert_str_eq(range, "bytes=2097152-");
}
END_TEST

START_TEST(partial_from_earlier_run_is_hashed_first)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    char range[64];
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", g_path);
    *strrchr(dir, '/') = '\0';
    ck_assert_int_eq(ferry_fs_mkdir_p(dir, 0700, &err), FERRY_OK);
    write_prefix(g_part, 5 * MIB + 3);
    ferry_err_code_t rc =
        agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_uint_eq(st.resumed_bytes, 5 * MIB + 3);
    ck_assert_uint_eq(st.bytes, PKG_SIZE - (5 * MIB + 3));
    srv_range(&g_srv[0], 0, range, sizeof(range));
    ck_assert_str_eq(range, "bytes=5242883-");

    /* A server that ignores Range restarts the file: the hash restarts with it. */
    ck_assert_int_eq(unlink(g_path), 0);
    write_prefix(g_part, MIB);
    srv_set(&g_srv[0], M_IGNORE_RANGE, 0, 0);
    rc = agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_uint_eq(st.bytes, PKG_SIZE);

    /* A complete .part left by a crash before the rename: checked, renamed, no body fetched. */
    ck_assert_int_eq(unlink(g_path), 0);
    write_prefix(g_part, PKG_SIZE);
    srv_set(&g_srv[0], M_NORMAL, 0, 0);
    rc = agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_uint_eq(st.bytes, 0);
    ck_assert_uint_eq(st.resumed_bytes, PKG_SIZE);

    /* A .part longer than the package cannot be a prefix: dropped. */
    ck_assert_int_eq(unlink(g_path), 0);
    write_prefix(g_part, PKG_SIZE);
    FILE *f = fopen(g_part, "ab");
    ck_assert_ptr_nonnull(f);
    fputs("trailing", f);
    fclose(f);
    rc = agentd_download(g_x, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    assert_file_is_package(g_path);
    ck_assert_uint_eq(st.resumed_bytes, 0);
    ck_assert_uint_eq(st.bytes, PKG_SIZE);
}
END_TEST

START_TEST(disk_too_small_writes_nothing)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    uint64_t free_bytes = 0;
    ck_assert_int_eq(ferry_fs_free_bytes(g_tmp, &free_bytes, &err), FERRY_OK);
    /* Bigger than the disk, and (with the 64 MiB reserve) just too big. */
    const uint64_t sizes[] = {free_bytes + (1ull << 30), free_bytes - (32ull << 20)};
    for (size_t i = 0; i < 2; i++) {
        ferry_err_code_t rc =
            agentd_download(g_x, src, 1, g_path, sizes[i], g_blob_hex, NULL, NULL, NULL, &st, &err);
        ck_assert_msg(rc == FERRY_E_NOSPACE, "%s: %s", ferry_err_name(rc), err.msg);
        ck_assert_msg(strstr(err.msg, "MiB free") != NULL, "%s", err.msg);
        ck_assert_int_eq(file_size(g_part), -1);
        ck_assert_int_eq(file_size(g_path), -1);
        ck_assert_int_eq(srv_reqs(&g_srv[0]), 0);
        ck_assert_uint_eq(st.attempts, 0);
    }
}
END_TEST

static volatile int g_cancel;

static void *cancel_later(void *arg)
{
    (void)arg;
    sleep_ms(400);
    g_cancel = 1;
    return NULL;
}

START_TEST(cancel_flag_and_progress)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0},
                             {.name = "mirror-1", .url = g_url[1], .priority = 1}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    prog_t p = {0};
    /* 2 MiB/s: the download would take 4 s; the flag is set after 0.4 s. */
    ferry_xfer_t *slow = new_xfer(2 * MIB);
    pthread_t t;
    g_cancel = 0;
    ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, NULL), 0);
    double t0 = now_s();
    ferry_err_code_t rc =
        agentd_download(slow, src, 2, g_path, PKG_SIZE, g_blob_hex, on_progress, &p, &g_cancel, &st, &err);
    double took = now_s() - t0;
    pthread_join(t, NULL);
    ck_assert_msg(rc == FERRY_E_CANCELED, "%s: %s", ferry_err_name(rc), err.msg);
    ck_assert_msg(took < 2.0, "cancel took %.2f s", took);
    ck_assert_int_eq(srv_reqs(&g_srv[1]), 0); /* canceled is not a reason to fall back */
    int64_t kept = file_size(g_part);
    ck_assert_msg(kept > 0 && kept < (int64_t)PKG_SIZE, "kept %" PRId64, kept);
    ck_assert_int_eq(file_size(g_path), -1);
    /* At most ~4 progress calls a second. */
    ck_assert_msg(p.calls <= (unsigned)(took * 4.0) + 2, "%u progress calls in %.2f s", p.calls, took);

    /* Already set: nothing is requested. */
    int before = srv_reqs(&g_srv[0]);
    rc = agentd_download(slow, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, &g_cancel, &st, &err);
    ck_assert_int_eq(rc, FERRY_E_CANCELED);
    ck_assert_int_eq(srv_reqs(&g_srv[0]), before);
    ferry_xfer_free(slow);

    /* The progress callback cancels: the partial stays, the next call resumes it. */
    memset(&p, 0, sizeof(p));
    p.stop_after = 4 * MIB;
    ferry_xfer_t *mid = new_xfer(8 * MIB);
    rc = agentd_download(mid, src, 2, g_path, PKG_SIZE, g_blob_hex, on_progress, &p, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_E_CANCELED, "%s: %s", ferry_err_name(rc), err.msg);
    ck_assert_int_eq(srv_reqs(&g_srv[1]), 0);
    kept = file_size(g_part);
    ck_assert_msg(kept >= (int64_t)(4 * MIB) && kept < (int64_t)PKG_SIZE, "kept %" PRId64, kept);
    rc = agentd_download(g_x, src, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    ck_assert_uint_eq(st.resumed_bytes, (uint64_t)kept);
    assert_file_is_package(g_path);
    ferry_xfer_free(mid);
}
END_TEST

START_TEST(bad_arguments)
{
    agentd_source_t src[] = {{.name = "primary", .url = g_url[0], .priority = 0}};
    agentd_source_t no_url[] = {{.name = "primary", .url = NULL, .priority = 0}};
    agentd_dl_stats_t st;
    ferry_err_t err = {0};
    ck_assert_int_eq(agentd_download(g_x, src, 0, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_download(g_x, src, 1, g_path, 0, g_blob_hex, NULL, NULL, NULL, &st, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_download(g_x, src, 1, g_path, PKG_SIZE, "abc", NULL, NULL, NULL, &st, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_download(g_x, src, 1, g_path, PKG_SIZE, NULL, NULL, NULL, NULL, &st, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(
        agentd_download(g_x, no_url, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err),
        FERRY_E_INVALID_ARG);
    ck_assert_int_eq(agentd_download(NULL, src, 1, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(srv_reqs(&g_srv[0]), 0);
    /* A source with an unusable URL is skipped like a failed one. */
    agentd_source_t ftp[] = {{.name = "weird", .url = "ftp://127.0.0.1/x?" SECRET, .priority = 0},
                             {.name = "primary", .url = g_url[0], .priority = 1}};
    ferry_err_code_t rc =
        agentd_download(g_x, ftp, 2, g_path, PKG_SIZE, g_blob_hex, NULL, NULL, NULL, &st, &err);
    ck_assert_msg(rc == FERRY_OK, "%s", err.msg);
    ck_assert_uint_eq(st.n_fallbacks, 1);
    ck_assert_msg(strncmp(st.fallbacks[0], "weird: ", 7) == 0, "%s", st.fallbacks[0]);
    no_secret(&err, &st);
}
END_TEST

int main(void)
{
    ferry_err_t err = {0};
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_tmp, sizeof(g_tmp), "%s/ferry-agentd-dl-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(g_tmp) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    uint64_t free_bytes = 0;
    if (ferry_fs_free_bytes(g_tmp, &free_bytes, &err) != FERRY_OK || free_bytes < (256ull << 20)) {
        printf("skipped: %s has less than 256 MiB free (%s)\n", g_tmp, err.msg);
        rmdir(g_tmp);
        return 77;
    }
    if ((g_blob = malloc(PKG_SIZE)) == NULL || ferry_random_bytes(g_blob, PKG_SIZE, &err) != FERRY_OK) {
        fprintf(stderr, "package: %s\n", err.msg);
        return EXIT_FAILURE;
    }
    ferry_sha256_hex(g_blob, PKG_SIZE, g_blob_hex);
    for (int i = 0; i < N_SRV; i++) {
        srv_start(&g_srv[i]);
        snprintf(g_url[i], sizeof(g_url[i]), "http://127.0.0.1:%u/blobs/pkg-%d.zip?" SECRET,
                 (unsigned)g_srv[i].port, i);
    }
    snprintf(g_refused_url, sizeof(g_refused_url), "http://127.0.0.1:%u/blobs/pkg.zip?" SECRET,
             (unsigned)dead_port());

    Suite *s = suite_create("agentd_download");
    TCase *tc = tcase_create("download");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, single_source_ok);
    tcase_add_test(tc, primary_refused_mirror_serves);
    tcase_add_test(tc, cut_midway_continues_on_next_source);
    tcase_add_test(tc, corrupt_source_deleted_next_from_zero);
    tcase_add_test(tc, all_fail_keeps_partial_then_resumes);
    tcase_add_test(tc, partial_from_earlier_run_is_hashed_first);
    tcase_add_test(tc, disk_too_small_writes_nothing);
    tcase_add_test(tc, cancel_flag_and_progress);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    for (int i = 0; i < N_SRV; i++)
        srv_stop(&g_srv[i]);
    free(g_blob);
    if (getenv("FERRY_KEEP_TMP") == NULL)
        ferry_fs_rm_rf(g_tmp, NULL);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
