/*
 * ferry_loadgen: an HTTP/2 load generator for Ferry's benchmarks (not a test).
 *
 * Cleartext HTTP/2 by prior knowledge (h2c) on libnghttp2's client API, one thread,
 * non-blocking sockets and epoll. C connections carry up to M concurrent streams
 * each (never more than the server's SETTINGS_MAX_CONCURRENT_STREAMS); every
 * request carries the next bearer token of a tokens file, round robin, so a server
 * that caches tokens sees as many distinct tokens as the file holds.
 *
 * Load mode (default): closed loop until N requests (-n) completed or D seconds
 * (-D) elapsed, or paced (-r R: requests start at R per second; a request that could
 * not start on time because every stream was busy counts its wait). Each request's
 * latency runs from the moment its HEADERS frame is serialized (paced: from when it
 * was due) to the end of its stream, on the monotonic clock. A response without a
 * 2xx :status, a reset stream or a lost connection fails the run. With --cpu-pid, the
 * utime+stime that process used during the run, from /proc/PID/stat. One summary
 * line of key=value pairs goes to stdout:
 *
 *   mode=load requests=.. ok=.. non2xx=.. errors=.. seconds=.. rps=.. p50_ms=.. p90_ms=..
 *   p99_ms=.. max_ms=.. [server_cpu_s=.. server_cpu_us_per_req=..] client_cpu_us_per_req=..
 *   connections=.. streams=.. remote_max_streams=.. paced_rps=.. tokens=..
 *
 * Hold mode (--hold S): opens C x M streams once (e.g. server-streaming RPCs), prints
 * "ready streams=K sent=K" when every request has been written, holds them for S
 * seconds, then closes the connections and prints
 *
 *   mode=hold streams=.. sent=.. open_at_end=.. closed_early=.. with_data=.. non2xx=.. errors=..
 *
 * SIGUSR1 during the hold sets a mark: from then on each stream's first DATA chunk of at
 * least MARK_MIN_BYTES (a pushed message, not a keep-alive) is timed from the mark, and
 * the end prints "mark streams_with_message=K p50_ms=.. p99_ms=.. last_ms=..".
 *
 * Exit status: 0 when every request got a 2xx (load) / every stream stayed open
 * (hold), 1 otherwise, 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS         100000    /* connections */
#define MAX_STREAMS       1000      /* concurrent streams per connection */
#define MAX_REQUESTS      50000000u /* per run (latencies are kept: 4 bytes each) */
#define MAX_DURATION_S    3600
#define MAX_BODY          (16u << 20)
#define MAX_TOKENS        10000000u
#define MAX_TOKEN_LEN     4096
#define MAX_HEADERS       8   /* extra -H headers */
#define MAX_CONNECTING    256 /* connections in TCP handshake at once (do not flood the accept queue) */
#define READ_CHUNK        (64 * 1024)
#define WRITE_BATCH       (64 * 1024)
#define ERR_SAMPLE        200 /* bytes of the first non-2xx body echoed to stderr */
#define DEFAULT_TIMEOUT   30
#define MAX_URL_AUTHORITY 256

typedef struct slot {
    uint64_t start_ns; /* HEADERS serialized; with -r: when the request was due */
    size_t body_off;
    int status;
    bool in_use, sent, got_data, got_after_mark;
    struct conn *conn;
} slot_t;

typedef struct conn {
    int fd;
    nghttp2_session *s;
    bool connecting, dead;
    uint32_t events; /* registered epoll events */
    int inflight;
    slot_t *slots;
    int *free_slots, n_free;
    uint8_t *wbuf;
    size_t wlen, woff, wcap;
} conn_t;

static struct {
    /* options */
    char authority[MAX_URL_AUTHORITY], path[2048];
    struct sockaddr_storage addr;
    socklen_t addr_len;
    unsigned conns, streams;
    uint64_t requests; /* 0 = by duration */
    double duration_s, hold_s, timeout_s, rate;
    const char *method, *content_type;
    uint8_t *body;
    size_t body_len;
    bool has_body;
    char content_length[24];
    char **auth; /* "Bearer <token>" per token */
    size_t n_tokens;
    nghttp2_nv extra[MAX_HEADERS];
    size_t n_extra;
    long cpu_pid;

    /* state */
    int ep;
    conn_t *c;
    unsigned started, connecting, alive;
    uint64_t submitted, completed, ok, non2xx, errors, tok_next, sent, with_data, closed_early;
    uint32_t *lat_us;
    size_t n_lat, lat_cap;
    uint64_t t_start, t_end, last_progress, deadline;
    bool stop_submitting, err_sampled, holding;
    int err_status;
    char err_body[ERR_SAMPLE + 1];
    size_t err_len;
    unsigned remote_limit; /* smallest SETTINGS_MAX_CONCURRENT_STREAMS seen */
    uint64_t mark_ns;      /* hold mode: when SIGUSR1 arrived (0 = not yet) */
    uint64_t after_mark;   /* streams that received a message of >= MARK_MIN_BYTES since */
} g;

/* Hold mode, SIGUSR1: from now on, time each stream's first DATA chunk of at least this
 * many bytes (a pushed message; WatchAssignments' keep-alive is ~20 bytes). */
#define MARK_MIN_BYTES 48
static volatile sig_atomic_t mark_requested;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ferry_loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferry_loadgen [options] http://HOST:PORT/PATH\n"
            "HTTP/2 cleartext (prior knowledge) load generator; prints one key=value summary line.\n"
            "  -c, --connections C     connections (default 1, at most %d)\n"
            "  -m, --streams M         concurrent streams per connection (default 1, at most %d)\n"
            "  -n, --requests N        total requests (load mode; at most %u)\n"
            "  -D, --duration S        or: run for S seconds (at most %d)\n"
            "  -r, --rate R            pace: start at most R requests/s in total (latency then runs\n"
            "                          from when each request was due, so client queueing counts)\n"
            "  -d, --data FILE         request body (implies POST; at most %u bytes)\n"
            "  -T, --content-type CT   content-type of the body\n"
            "  -X, --method M          request method (default GET, POST with -d)\n"
            "  -k, --tokens FILE       one bearer token per line; each request sends the next one,\n"
            "                          round robin, as 'authorization: Bearer <token>'\n"
            "  -H, --header 'N: V'     extra request header (up to %d)\n"
            "      --hold S            hold mode: open C x M streams once, hold them S seconds\n"
            "      --cpu-pid PID       report the CPU time (utime+stime) PID used during the load\n"
            "      --timeout S         give up after S seconds without progress (default %d)\n"
            "  -h, --help\n",
            MAX_CONNS, MAX_STREAMS, MAX_REQUESTS, MAX_DURATION_S, MAX_BODY, MAX_HEADERS, DEFAULT_TIMEOUT);
}

/* ---- setup ------------------------------------------------------------------------- */

static unsigned long parse_num(const char *s, const char *what, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        die("%s must be a number in %lu..%lu, got '%s'", what, lo, hi, s);
    return v;
}

static double parse_positive(const char *s, const char *what, const char *unit, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > hi)
        die("%s must be %s in (0, %g], got '%s'", what, unit, hi, s);
    return v;
}

static uint8_t *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    struct stat stbuf;
    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &stbuf) != 0 || !S_ISREG(stbuf.st_mode))
        die("%s: not a regular file", path);
    if ((uint64_t)stbuf.st_size > max)
        die("%s: %lld bytes, more than the %zu allowed", path, (long long)stbuf.st_size, max);
    if ((buf = malloc((size_t)stbuf.st_size + 1)) == NULL)
        die("out of memory");
    *len = fread(buf, 1, (size_t)stbuf.st_size, f);
    if (ferror(f) || *len != (size_t)stbuf.st_size)
        die("%s: read error", path);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void load_tokens(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;
    if (f == NULL)
        die("%s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (n > MAX_TOKEN_LEN || strpbrk(line, " \t") != NULL)
            die("%s: line %zu is not one token (spaces, or longer than %d)", path, g.n_tokens + 1,
                MAX_TOKEN_LEN);
        if (g.n_tokens == MAX_TOKENS)
            die("%s: more than %u tokens", path, MAX_TOKENS);
        if (g.n_tokens == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            if ((g.auth = realloc(g.auth, alloc * sizeof(*g.auth))) == NULL)
                die("out of memory");
        }
        if ((g.auth[g.n_tokens] = malloc((size_t)n + 8)) == NULL)
            die("out of memory");
        memcpy(g.auth[g.n_tokens], "Bearer ", 7);
        memcpy(g.auth[g.n_tokens] + 7, line, (size_t)n + 1);
        g.n_tokens++;
    }
    free(line);
    fclose(f);
    if (g.n_tokens == 0)
        die("%s: no tokens", path);
}

static void parse_url(const char *url)
{
    const char *p, *slash, *colon;
    char host[MAX_URL_AUTHORITY], port[8];
    struct addrinfo hints = {0}, *res;
    int rc;

    if (strncmp(url, "http://", 7) != 0)
        die("only http:// URLs (h2c prior knowledge) are supported: '%s'", url);
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    if ((size_t)(slash - p) >= sizeof(g.authority) || slash == p)
        die("bad authority in '%s'", url);
    memcpy(g.authority, p, (size_t)(slash - p));
    g.authority[slash - p] = '\0';
    snprintf(g.path, sizeof(g.path), "%s", *slash ? slash : "/");
    if (strlen(slash) >= sizeof(g.path))
        die("path too long in '%s'", url);
    colon = strrchr(g.authority, ':');
    if (g.authority[0] == '[') {
        const char *end = strchr(g.authority, ']');
        if (end == NULL)
            die("bad IPv6 authority in '%s'", url);
        snprintf(host, sizeof(host), "%.*s", (int)(end - g.authority - 1), g.authority + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
    } else {
        snprintf(host, sizeof(host), "%.*s",
                 (int)(colon != NULL ? (size_t)(colon - g.authority) : strlen(g.authority)), g.authority);
    }
    snprintf(port, sizeof(port), "%s", colon != NULL ? colon + 1 : "80");
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
        die("%s:%s: %s", host, port, gai_strerror(rc));
    memcpy(&g.addr, res->ai_addr, res->ai_addrlen);
    g.addr_len = res->ai_addrlen;
    freeaddrinfo(res);
}

/* Raises RLIMIT_NOFILE as far as the hard limit allows; |need| descriptors or die. */
static void ensure_fds(unsigned need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        die("%u connections need %u file descriptors; the limit is %llu (raise it: ulimit -n %u)", g.conns,
            need, (unsigned long long)rl.rlim_cur, need);
}

/* utime+stime of |pid| in clock ticks, or -1. */
static long long proc_cpu_ticks(long pid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* ---- requests ------------------------------------------------------------------------ */

static bool hold_mode(void)
{
    return g.hold_s > 0;
}

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    slot_t *sl = src->ptr;
    size_t n = g.body_len - sl->body_off;
    if (n > len)
        n = len;
    memcpy(buf, g.body + sl->body_off, n);
    sl->body_off += n;
    if (sl->body_off == g.body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v, vlen)                                                                                       \
    (nghttp2_nv)                                                                                             \
    {                                                                                                        \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen),                                               \
            NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE                                     \
    }

/* Submits one request on |c|. false when the budget is spent or nghttp2 refused. */
static bool submit_one(conn_t *c)
{
    nghttp2_nv nva[6 + MAX_HEADERS];
    size_t n = 0;
    nghttp2_data_provider prd;
    slot_t *sl;
    int32_t id;

    if (c->n_free == 0 || g.stop_submitting)
        return false;
    if (!hold_mode() && g.requests > 0 && g.submitted >= g.requests)
        return false;
    uint64_t due = 0;
    if (g.rate > 0 && (due = g.t_start + (uint64_t)((double)g.submitted * 1e9 / g.rate)) > now_ns())
        return false;
    if (g.submitted >= MAX_REQUESTS) {
        g.stop_submitting = true;
        fprintf(stderr, "ferry_loadgen: request cap (%u) reached; stopping\n", MAX_REQUESTS);
        return false;
    }
    sl = &c->slots[c->free_slots[--c->n_free]];
    memset(sl, 0, sizeof(*sl));
    sl->in_use = true;
    sl->conn = c;
    sl->start_ns = due;
    nva[n++] = NV(":method", g.method, strlen(g.method));
    nva[n++] = NV(":scheme", "http", 4);
    nva[n++] = NV(":authority", g.authority, strlen(g.authority));
    nva[n++] = NV(":path", g.path, strlen(g.path));
    if (g.content_type != NULL)
        nva[n++] = NV("content-type", g.content_type, strlen(g.content_type));
    if (g.n_tokens > 0) {
        const char *a = g.auth[g.tok_next++ % g.n_tokens];
        nva[n++] = NV("authorization", a, strlen(a));
    }
    for (size_t i = 0; i < g.n_extra; i++)
        nva[n++] = g.extra[i];
    prd.source.ptr = sl;
    prd.read_callback = body_read;
    id = nghttp2_submit_request(c->s, NULL, nva, n, g.has_body ? &prd : NULL, sl);
    if (id < 0) {
        fprintf(stderr, "ferry_loadgen: submit: %s\n", nghttp2_strerror(id));
        sl->in_use = false;
        c->free_slots[c->n_free++] = (int)(sl - c->slots);
        g.stop_submitting = true;
        return false;
    }
    c->inflight++;
    g.submitted++;
    return true;
}

/* Streams |c| may have in flight now. */
static int conn_limit(conn_t *c)
{
    uint32_t remote = nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (remote < g.remote_limit)
        g.remote_limit = remote;
    return (int)(remote < g.streams ? remote : g.streams);
}

static void conn_fill(conn_t *c)
{
    if (c->dead)
        return;
    int limit = conn_limit(c);
    while (c->inflight < limit && submit_one(c))
        ;
}

/* ---- nghttp2 callbacks ------------------------------------------------------------------ */

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    slot_t *sl;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    if ((sl = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
        g.last_progress = now_ns();
        if (sl->start_ns == 0)
            sl->start_ns = g.last_progress;
    }
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !sl->sent) {
        sl->sent = true;
        g.sent++;
    }
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    slot_t *sl;
    if (f->hd.type != NGHTTP2_HEADERS || namelen != 7 || memcmp(name, ":status", 7) != 0)
        return 0;
    if ((sl = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) == NULL)
        return 0;
    sl->status = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++)
        sl->status = sl->status * 10 + (value[i] - '0');
    return 0;
}

static void record_latency(uint64_t ns);

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
    slot_t *sl = nghttp2_session_get_stream_user_data(s, id);
    if (sl == NULL)
        return 0;
    if (!sl->got_data && len > 0) {
        sl->got_data = true;
        g.with_data++;
    }
    if (g.mark_ns != 0 && !sl->got_after_mark && len >= MARK_MIN_BYTES) {
        sl->got_after_mark = true;
        g.after_mark++;
        record_latency(now_ns() - g.mark_ns);
    }
    if ((sl->status < 200 || sl->status > 299) && !g.err_sampled) {
        size_t n = len < ERR_SAMPLE - g.err_len ? len : ERR_SAMPLE - g.err_len;
        memcpy(g.err_body + g.err_len, data, n);
        g.err_len += n;
        g.err_status = sl->status;
    }
    return 0;
}

static void record_latency(uint64_t ns)
{
    if (g.n_lat == g.lat_cap) {
        size_t ncap = g.lat_cap ? g.lat_cap * 2 : 1u << 16;
        uint32_t *n = realloc(g.lat_us, ncap * sizeof(*n));
        if (n == NULL)
            die("out of memory (latencies)");
        g.lat_us = n;
        g.lat_cap = ncap;
    }
    uint64_t us = (ns + 500) / 1000;
    g.lat_us[g.n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    slot_t *sl = nghttp2_session_get_stream_user_data(s, id);
    conn_t *c;
    if (sl == NULL || !sl->in_use)
        return 0;
    c = sl->conn;
    if (error_code != NGHTTP2_NO_ERROR || sl->status == 0)
        g.errors++;
    else if (sl->status < 200 || sl->status > 299)
        g.non2xx++;
    else
        g.ok++;
    if ((error_code != NGHTTP2_NO_ERROR || sl->status < 200 || sl->status > 299) && !g.err_sampled) {
        g.err_sampled = true;
        if (g.err_status == 0)
            g.err_status = sl->status;
        g.err_body[g.err_len] = '\0';
        fprintf(stderr, "ferry_loadgen: first failure: HTTP status %d, h2 error %s, body: %s\n", sl->status,
                nghttp2_http2_strerror(error_code), g.err_len ? g.err_body : "(none)");
    }
    if (hold_mode())
        g.closed_early++;
    else
        record_latency(now_ns() - (sl->start_ns ? sl->start_ns : g.t_start));
    g.completed++;
    g.last_progress = now_ns();
    sl->in_use = false;
    c->free_slots[c->n_free++] = (int)(sl - c->slots);
    c->inflight--;
    return 0;
}

/* ---- connections ------------------------------------------------------------------------ */

static void set_events(conn_t *c, uint32_t ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->events = ev;
}

static void conn_kill(conn_t *c, const char *why)
{
    if (c->dead)
        return;
    if (!g.stop_submitting || c->inflight > 0)
        fprintf(stderr, "ferry_loadgen: connection %d lost (%s); %d streams in flight fail\n", (int)(c - g.c),
                why, c->inflight);
    g.errors += (uint64_t)c->inflight;
    g.completed += (uint64_t)c->inflight;
    if (hold_mode())
        g.closed_early += (uint64_t)c->inflight;
    c->inflight = 0;
    c->dead = true;
    if (c->connecting)
        g.connecting--;
    c->connecting = false;
    g.alive--;
    epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* Serializes pending frames and writes them; keeps what the socket does not take. */
static void conn_flush(conn_t *c)
{
    if (c->dead || c->connecting)
        return;
    for (;;) {
        if (c->woff == c->wlen) {
            c->woff = c->wlen = 0;
            while (c->wlen < WRITE_BATCH) {
                const uint8_t *data;
                ssize_t n = nghttp2_session_mem_send(c->s, &data);
                if (n < 0) {
                    conn_kill(c, nghttp2_strerror((int)n));
                    return;
                }
                if (n == 0)
                    break;
                if (c->wlen + (size_t)n > c->wcap) {
                    size_t ncap = c->wcap ? c->wcap : 4096;
                    while (ncap < c->wlen + (size_t)n)
                        ncap *= 2;
                    if ((c->wbuf = realloc(c->wbuf, ncap)) == NULL)
                        die("out of memory");
                    c->wcap = ncap;
                }
                memcpy(c->wbuf + c->wlen, data, (size_t)n);
                c->wlen += (size_t)n;
            }
            if (c->wlen == 0)
                break;
        }
        ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            conn_kill(c, strerror(errno));
            return;
        }
        c->woff += (size_t)w;
    }
    set_events(c, EPOLLIN | (c->woff < c->wlen ? EPOLLOUT : 0));
}

static void conn_start(conn_t *c)
{
    static nghttp2_session_callbacks *cbs;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    int one = 1;

    if (cbs == NULL) {
        if (nghttp2_session_callbacks_new(&cbs) != 0)
            die("out of memory");
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    }
    if ((c->fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        die("socket: %s (connection %d)", strerror(errno), (int)(c - g.c));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&g.addr, g.addr_len) != 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    if (nghttp2_session_client_new(&c->s, cbs, c) != 0)
        die("out of memory");
    if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0)
        die("nghttp2_submit_settings failed");
    if ((c->slots = calloc(g.streams, sizeof(*c->slots))) == NULL ||
        (c->free_slots = malloc(g.streams * sizeof(*c->free_slots))) == NULL)
        die("out of memory");
    for (unsigned i = 0; i < g.streams; i++)
        c->free_slots[c->n_free++] = (int)(g.streams - 1 - i);
    c->connecting = true;
    c->events = EPOLLIN | EPOLLOUT;
    struct epoll_event e = {.events = c->events, .data.ptr = c};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->fd, &e) != 0)
        die("epoll_ctl: %s", strerror(errno));
    g.connecting++;
    g.alive++;
    /* The first requests go out with the preface: nghttp2 queues them. Hold mode
     * cannot know the server's stream limit yet: it submits up to -m and checks later. */
    if (hold_mode()) {
        while (submit_one(c))
            ;
    } else {
        while (c->inflight < (int)g.streams && c->inflight < 100 && submit_one(c))
            ;
    }
}

static void conn_on_event(conn_t *c, uint32_t ev)
{
    static uint8_t buf[READ_CHUNK];
    if (c->connecting) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            conn_kill(c, strerror(soerr));
            return;
        }
        c->connecting = false;
        g.connecting--;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0) {
            conn_kill(c, "closed by the server");
            return;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_kill(c, strerror(errno));
            return;
        }
        if (n > 0) {
            ssize_t r = nghttp2_session_mem_recv(c->s, buf, (size_t)n);
            if (r < 0) {
                conn_kill(c, nghttp2_strerror((int)r));
                return;
            }
        }
    }
    if (hold_mode())
        conn_limit(c); /* notes the server's stream limit */
    else
        conn_fill(c);
    conn_flush(c);
}

/* ---- report ------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(double p)
{
    if (g.n_lat == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)g.n_lat + 0.999999); /* nearest rank */
    if (rank < 1)
        rank = 1;
    if (rank > g.n_lat)
        rank = g.n_lat;
    return g.lat_us[rank - 1] / 1000.0;
}

/* ---- main ---------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void on_mark(int sig)
{
    (void)sig;
    mark_requested = 1;
}

static void run_loop(uint64_t until_ns, bool (*done)(void))
{
    struct epoll_event evs[256];
    while (!interrupted && !done()) {
        if (mark_requested && g.mark_ns == 0) {
            g.mark_ns = now_ns();
            g.n_lat = 0;
        }
        uint64_t now = now_ns();
        if (until_ns && now >= until_ns)
            return;
        while (g.started < g.conns && g.connecting < MAX_CONNECTING) {
            conn_start(&g.c[g.started++]);
            conn_flush(&g.c[g.started - 1]);
        }
        if (!hold_mode() && g.duration_s > 0 && !g.stop_submitting && now >= g.deadline)
            g.stop_submitting = true;
        if (!g.holding && now - g.last_progress > (uint64_t)(g.timeout_s * 1e9)) {
            fprintf(stderr,
                    "ferry_loadgen: no progress for %.0f s; giving up (%" PRIu64 " streams in flight)\n",
                    g.timeout_s, g.submitted - g.completed);
            return;
        }
        int n = epoll_wait(g.ep, evs, 256, g.rate > 0 ? 1 : 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c->dead)
                conn_on_event(c, evs[i].events);
        }
        /* Paced: requests fall due with time, not with events. */
        for (unsigned i = 0; g.rate > 0 && i < g.started; i++) {
            if (!g.c[i].dead && !g.c[i].connecting) {
                conn_fill(&g.c[i]);
                conn_flush(&g.c[i]);
            }
        }
        if (g.alive == 0 && g.started == g.conns)
            return;
    }
}

static bool load_done(void)
{
    bool budget_spent = g.stop_submitting || (g.requests > 0 && g.submitted >= g.requests);
    return budget_spent && g.completed == g.submitted && g.started == g.conns;
}

static bool hold_ready(void)
{
    if (g.remote_limit < g.streams)
        die("the server allows %u concurrent streams per connection; -m %u cannot be held (use more -c)",
            g.remote_limit, g.streams);
    return g.started == g.conns && g.connecting == 0 && g.sent + g.closed_early >= g.submitted;
}

static bool never(void)
{
    return false;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"connections", required_argument, NULL, 'c'},
                                         {"streams", required_argument, NULL, 'm'},
                                         {"requests", required_argument, NULL, 'n'},
                                         {"duration", required_argument, NULL, 'D'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"content-type", required_argument, NULL, 'T'},
                                         {"method", required_argument, NULL, 'X'},
                                         {"tokens", required_argument, NULL, 'k'},
                                         {"header", required_argument, NULL, 'H'},
                                         {"hold", required_argument, NULL, 'O'},
                                         {"cpu-pid", required_argument, NULL, 'P'},
                                         {"timeout", required_argument, NULL, 'W'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    g.conns = g.streams = 1;
    g.timeout_s = DEFAULT_TIMEOUT;
    while ((opt = getopt_long(argc, argv, "c:m:n:D:r:d:T:X:k:H:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            g.conns = (unsigned)parse_num(optarg, "--connections", 1, MAX_CONNS);
            break;
        case 'm':
            g.streams = (unsigned)parse_num(optarg, "--streams", 1, MAX_STREAMS);
            break;
        case 'n':
            g.requests = parse_num(optarg, "--requests", 1, MAX_REQUESTS);
            break;
        case 'D':
            g.duration_s = parse_positive(optarg, "--duration", "seconds", MAX_DURATION_S);
            break;
        case 'r':
            g.rate = parse_positive(optarg, "--rate", "requests/s", 10e6);
            break;
        case 'd':
            g.body = read_file(optarg, MAX_BODY, &g.body_len);
            g.has_body = true;
            break;
        case 'T':
            g.content_type = optarg;
            break;
        case 'X':
            g.method = optarg;
            break;
        case 'k':
            load_tokens(optarg);
            break;
        case 'H': {
            const char *colon = strchr(optarg, ':');
            if (g.n_extra == MAX_HEADERS)
                die("at most %d -H headers", MAX_HEADERS);
            if (colon == NULL || colon == optarg)
                die("-H wants 'name: value', got '%s'", optarg);
            size_t nl = (size_t)(colon - optarg);
            char *name = strndup(optarg, nl);
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            if (name == NULL)
                die("out of memory");
            for (char *p = name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            g.extra[g.n_extra++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)v, nl, strlen(v),
                                                NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
            break;
        }
        case 'O':
            g.hold_s = parse_positive(optarg, "--hold", "seconds", MAX_DURATION_S);
            break;
        case 'P':
            g.cpu_pid = (long)parse_num(optarg, "--cpu-pid", 1, INT_MAX);
            break;
        case 'W':
            g.timeout_s = parse_positive(optarg, "--timeout", "seconds", MAX_DURATION_S);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (!hold_mode() && (g.requests == 0) == (g.duration_s == 0)) {
        fprintf(stderr, "ferry_loadgen: give exactly one of -n and -D (or --hold)\n");
        return 2;
    }
    if (hold_mode() && (g.requests != 0 || g.duration_s != 0 || g.rate != 0)) {
        fprintf(stderr, "ferry_loadgen: --hold opens -c x -m streams once; -n and -D do not apply\n");
        return 2;
    }
    if (hold_mode() && (uint64_t)g.conns * g.streams > MAX_REQUESTS)
        die("too many streams");
    parse_url(argv[optind]);
    if (g.method == NULL)
        g.method = g.has_body ? "POST" : "GET";
    if (g.has_body) {
        snprintf(g.content_length, sizeof(g.content_length), "%zu", g.body_len);
        if (g.n_extra == MAX_HEADERS)
            die("at most %d -H headers with -d", MAX_HEADERS - 1);
        g.extra[g.n_extra++] = NV("content-length", g.content_length, strlen(g.content_length));
    }
    if (g.cpu_pid > 0 && proc_cpu_ticks(g.cpu_pid) < 0)
        die("--cpu-pid %ld: cannot read /proc/%ld/stat", g.cpu_pid, g.cpu_pid);
    ensure_fds(g.conns + 64);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_mark);
    if ((g.c = calloc(g.conns, sizeof(*g.c))) == NULL)
        die("out of memory");
    if ((g.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1: %s", strerror(errno));
    g.remote_limit = UINT32_MAX;

    long long cpu0 = g.cpu_pid > 0 ? proc_cpu_ticks(g.cpu_pid) : 0;
    double self0 = self_cpu_s();
    g.t_start = g.last_progress = now_ns();
    g.deadline = g.t_start + (uint64_t)(g.duration_s * 1e9);

    if (!hold_mode()) {
        run_loop(0, load_done);
        g.t_end = now_ns();
        long long cpu1 = g.cpu_pid > 0 ? proc_cpu_ticks(g.cpu_pid) : 0;
        double self1 = self_cpu_s(), secs = (double)(g.t_end - g.t_start) / 1e9;
        qsort(g.lat_us, g.n_lat, sizeof(*g.lat_us), cmp_u32);
        printf("mode=load requests=%" PRIu64 " ok=%" PRIu64 " non2xx=%" PRIu64 " errors=%" PRIu64
               " seconds=%.3f rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
               g.completed, g.ok, g.non2xx, g.errors, secs, secs > 0 ? (double)g.completed / secs : 0,
               pct_ms(50), pct_ms(90), pct_ms(99), g.n_lat ? g.lat_us[g.n_lat - 1] / 1000.0 : 0.0);
        if (g.cpu_pid > 0) {
            double s = (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK);
            printf(" server_cpu_s=%.2f server_cpu_us_per_req=%.3f", s,
                   g.completed ? s * 1e6 / (double)g.completed : 0.0);
        }
        printf(" client_cpu_us_per_req=%.3f connections=%u streams=%u remote_max_streams=%u paced_rps=%.0f"
               " tokens=%zu\n",
               g.completed ? (self1 - self0) * 1e6 / (double)g.completed : 0.0, g.conns, g.streams,
               g.remote_limit, g.rate, g.n_tokens);
        bool incomplete = interrupted || (g.requests > 0 && g.completed < g.requests);
        return g.non2xx == 0 && g.errors == 0 && !incomplete && g.completed > 0 ? 0 : 1;
    }

    /* Hold mode: open everything, say so, hold, close. */
    run_loop(0, hold_ready);
    if (!hold_ready()) {
        fprintf(stderr, "ferry_loadgen: only %" PRIu64 " of %" PRIu64 " streams could be opened\n", g.sent,
                (uint64_t)g.conns * g.streams);
        printf("mode=hold streams=%" PRIu64 " sent=%" PRIu64 " open_at_end=0 closed_early=%" PRIu64
               " with_data=%" PRIu64 " non2xx=%" PRIu64 " errors=%" PRIu64 " connections=%u\n",
               g.submitted, g.sent, g.closed_early, g.with_data, g.non2xx, g.errors, g.conns);
        return 1;
    }
    printf("ready streams=%" PRIu64 " sent=%" PRIu64 " closed_early=%" PRIu64 " seconds=%.3f\n", g.submitted,
           g.sent, g.closed_early, (double)(now_ns() - g.t_start) / 1e9);
    fflush(stdout);
    g.holding = true; /* holding is not stalling */
    run_loop(now_ns() + (uint64_t)(g.hold_s * 1e9), never);
    uint64_t open = g.submitted - g.completed;
    printf("mode=hold streams=%" PRIu64 " sent=%" PRIu64 " open_at_end=%" PRIu64 " closed_early=%" PRIu64
           " with_data=%" PRIu64 " non2xx=%" PRIu64 " errors=%" PRIu64 " connections=%u\n",
           g.submitted, g.sent, open, g.closed_early, g.with_data, g.non2xx, g.errors, g.conns);
    if (g.mark_ns != 0) {
        qsort(g.lat_us, g.n_lat, sizeof(*g.lat_us), cmp_u32);
        printf("mark streams_with_message=%" PRIu64 " p50_ms=%.3f p99_ms=%.3f last_ms=%.3f\n", g.after_mark,
               pct_ms(50), pct_ms(99), pct_ms(100));
    }
    fflush(stdout);
    for (unsigned i = 0; i < g.started; i++)
        if (!g.c[i].dead)
            close(g.c[i].fd);
    return open == (uint64_t)g.conns * g.streams && !interrupted ? 0 : 1;
}
