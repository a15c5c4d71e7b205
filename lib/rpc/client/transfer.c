/*
 * The transfer client (ferry/transfer.h): one libcurl easy handle driven through a
 * private multi handle on the caller's thread. The multi handle keeps the connection
 * cache between calls, and its poll loop (POLL_MS) is what lets a cancel flag set by
 * another thread or a signal handler stop a transfer within ~100 ms even when no byte
 * moves (libcurl's progress callback may run only once a second on an idle transfer).
 *
 * Each call starts from curl_easy_reset() (which keeps live connections, the DNS and
 * TLS session caches) and sets every option it needs, so no option of one call leaks
 * into the next.
 *
 * Downloads: the header callback sees the final status line and headers and decides,
 * before the first body byte, whether the body is the file (200, or 206 from the right
 * byte) or an error text; the write callback appends file bytes with write() and hands
 * them to the caller's data callback, never past |expected_size|. Uploads read the file
 * with pread() in the read callback (with a seek callback, so libcurl can rewind when it
 * retries on a connection that turned out dead).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "curl_tls_internal.h"
#include "ferry/log.h"
#include "ferry/transfer.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_LOW_SPEED_S        30u
#define LOW_SPEED_BYTES            1024u /* "slow" means under this many bytes/s ... */
#define DEFAULT_USER_AGENT         "ferry-xfer/0.1"
#define POLL_MS                    50            /* cancel flag checked at least this often */
#define RECV_BUFFER                (256 * 1024)  /* libcurl receive buffer (fewer write() calls) */
#define URL_MAX                    8192u         /* longest URL accepted */
#define SAFE_URL_MAX               300u          /* URL as shown in messages (no query) */
#define HEADERS_MAX                64u           /* extra request headers per call */
#define HEADER_LINE_MAX            8192u         /* longer response header lines are skipped */
#define ERR_BODY_KEEP              200u          /* bytes of an error body quoted in messages */
#define ERR_BODY_MAX               (64u * 1024u) /* an error body longer than this ends the transfer */

struct ferry_xfer {
    CURLM *multi;
    CURL *easy;
    ferry_curl_tls_t tls;
    char *user_agent;
    uint32_t connect_timeout_ms;
    uint32_t low_speed_s;
    long low_speed_bytes;
    uint64_t max_bps;
    char errbuf[CURL_ERROR_SIZE];
};

typedef enum op_kind { OP_GET, OP_PUT, OP_HEAD } op_kind_t;

/* One call in progress. */
typedef struct op {
    ferry_xfer_t *x;
    op_kind_t kind;
    const char *method;
    char safe_url[SAFE_URL_MAX];
    char host[256];
    long port;
    volatile int *cancel;

    /* Response, from the header callback. */
    int status;             /* status of the header block being read */
    bool final;             /* that block is a final (non-1xx) response */
    bool headers_done;      /* the final block ended */
    int64_t content_length; /* -1 = not announced */
    bool have_range;
    uint64_t range_first;
    int64_t range_total; /* -1 = '*' or absent */
    ferry_xfer_header_fn hdr_fn;
    void *hdr_user;

    /* Error body (any response that is not the file). */
    char body[ERR_BODY_KEEP + 1];
    size_t body_len;
    uint64_t body_total;
    bool body_overflow; /* we stopped reading a long error body */

    /* A failure decided in a callback (wins over the CURLcode it causes). */
    ferry_err_code_t fail;
    char fail_reason[256];

    /* GET */
    int fd;
    bool file_body; /* the body being received is the file's */
    uint64_t pos;   /* bytes in the file (= offset of the next byte) */
    uint64_t start; /* offset the body started at */
    uint64_t expected;
    uint64_t received;
    ferry_xfer_data_fn on_data;
    void *user;

    /* PUT */
    int rfd;
    uint64_t r_start, r_len, r_done;
} op_t;

/* ------------------------------------------------------------------------- */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_fail(op_t *op, ferry_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_fail(op_t *op, ferry_err_code_t code, const char *fmt, ...)
{
    va_list ap;
    if (op->fail != FERRY_OK)
        return; /* the first reason is the one that matters */
    op->fail = code;
    va_start(ap, fmt);
    vsnprintf(op->fail_reason, sizeof(op->fail_reason), fmt, ap);
    va_end(ap);
}

/* Cuts |s| at the first '?' or '#': URLs' queries carry signatures. */
static void cut_query(char *s)
{
    s[strcspn(s, "?#")] = '\0';
}

static ferry_err_code_t local_errno_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? FERRY_E_NOSPACE : FERRY_E_IO;
}

/* The error code of a final HTTP status (see transfer.h). */
static ferry_err_code_t status_code(int s)
{
    if (s >= 200 && s <= 299)
        return FERRY_OK;
    if (s == 401 || s == 403)
        return FERRY_E_AUTH_INVALID;
    if (s == 404 || s == 410)
        return FERRY_E_NOT_FOUND;
    if (s == 408 || s == 429 || s >= 500)
        return FERRY_E_UNAVAILABLE;
    if (s == 409 || s == 412 || s == 416)
        return FERRY_E_PRECONDITION;
    if (s == 413)
        return FERRY_E_TOO_LARGE;
    return FERRY_E_PROTOCOL;
}

/* Parses decimal digits (no sign, no overflow) at *p; advances *p. */
static bool parse_u64(const char **p, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return true;
}

/* Content-Range: "bytes FIRST-LAST/TOTAL", with "*" for an unknown range or total. */
static void parse_content_range(op_t *op, const char *v)
{
    uint64_t first = 0, last = 0, total = 0;
    op->have_range = false;
    op->range_total = -1;
    if (strncasecmp(v, "bytes ", 6) != 0)
        return;
    v += 6;
    if (*v == '*') {
        v++;
    } else {
        if (!parse_u64(&v, &first) || *v++ != '-' || !parse_u64(&v, &last) || last < first)
            return;
        op->have_range = true;
        op->range_first = first;
    }
    if (*v++ != '/')
        return;
    if (parse_u64(&v, &total) && total <= INT64_MAX)
        op->range_total = (int64_t)total;
}

/* Splits the URL: checks the scheme, fills op->safe_url (no user, query, fragment),
 * host and port. */
static ferry_err_code_t parse_url(op_t *op, const char *url, bool *https, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_E_INVALID_ARG;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *clean = NULL;
    char shown[SAFE_URL_MAX];
    snprintf(shown, sizeof(shown), "%s", url != NULL ? url : "(null)");
    cut_query(shown);
    if (url == NULL || strlen(url) > URL_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s %s: URL missing or longer than %u bytes", op->method,
                           shown, URL_MAX);
        goto out;
    }
    if (u == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s %s: out of memory", op->method, shown);
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "%s %s: not a valid URL", op->method, shown);
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "%s %s: only http and https URLs are supported", op->method,
                      shown);
        goto out;
    }
    *https = strcmp(scheme, "https") == 0;
    snprintf(op->host, sizeof(op->host), "%s", host);
    op->port = strtol(port, NULL, 10);
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_QUERY, NULL, 0);
    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &clean, 0) == CURLUE_OK)
        snprintf(op->safe_url, sizeof(op->safe_url), "%s", clean);
    else
        snprintf(op->safe_url, sizeof(op->safe_url), "%s", shown);
    cut_query(op->safe_url);
    rc = FERRY_OK;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(clean);
    curl_url_cleanup(u);
    return rc;
}

/* Short reason of a transport failure, without the URL. */
static void transport_reason(const op_t *op, CURLcode rc, char *out, size_t size)
{
    ferry_xfer_t *x = op->x;
    long oserr = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            snprintf(out, size, "connect to %.100s:%ld refused", op->host, op->port);
        else
            snprintf(out, size, "connect to %.100s:%ld failed: %.120s", op->host, op->port,
                     oserr != 0 ? strerror((int)oserr) : x->errbuf);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, size, "cannot resolve host '%.100s'", op->host);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        if (connect_us == 0)
            snprintf(out, size, "timeout: no connection to %.100s:%ld within %" PRIu32 " ms", op->host,
                     op->port, x->connect_timeout_ms);
        else
            snprintf(out, size, "timeout: under %ld bytes/s for %" PRIu32 " s", x->low_speed_bytes,
                     x->low_speed_s);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        snprintf(out, size, "TLS: %.200s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
        break;
    default:
        snprintf(out, size, "%.60s%s%.180s", curl_easy_strerror(rc), x->errbuf[0] ? ": " : "", x->errbuf);
        break;
    }
    cut_query(out);
}

/* ------------------------------------------------------------------------- */
/* libcurl callbacks                                                         */
/* ------------------------------------------------------------------------- */

/* Keeps the start of a response body that is not the file (for messages). */
static bool keep_error_body(op_t *op, const char *data, size_t len)
{
    size_t room = ERR_BODY_KEEP - op->body_len;
    size_t n = len < room ? len : room;
    memcpy(op->body + op->body_len, data, n);
    op->body_len += n;
    op->body[op->body_len] = '\0';
    op->body_total += len;
    if (op->body_total > ERR_BODY_MAX) {
        op->body_overflow = true;
        return false;
    }
    return true;
}

/* GET: the final headers are in; decides what the body is. Returns false to abort. */
static bool get_headers_done(op_t *op)
{
    int s = op->status;
    if (s != 200 && s != 206)
        return true; /* an error text (or 416): kept by keep_error_body */
    if (s == 206 && (!op->have_range || op->range_first != op->pos)) {
        if (op->have_range)
            set_fail(op, FERRY_E_PROTOCOL, "HTTP 206 from byte %" PRIu64 ", asked for byte %" PRIu64,
                     op->range_first, op->pos);
        else
            set_fail(op, FERRY_E_PROTOCOL, "HTTP 206 without a usable Content-Range");
        return false;
    }
    uint64_t from = s == 206 ? op->pos : 0;
    if (op->expected > 0) {
        if (op->content_length >= 0 && (uint64_t)op->content_length > op->expected - from) {
            set_fail(op, FERRY_E_TOO_LARGE,
                     "HTTP %d announces %" PRId64 " bytes from byte %" PRIu64
                     ", more than the expected %" PRIu64,
                     s, op->content_length, from, op->expected);
            return false;
        }
        if (s == 206 && op->range_total >= 0 && (uint64_t)op->range_total != op->expected) {
            set_fail(op, (uint64_t)op->range_total > op->expected ? FERRY_E_TOO_LARGE : FERRY_E_CORRUPT,
                     "the server's file has %" PRId64 " bytes, expected %" PRIu64, op->range_total,
                     op->expected);
            return false;
        }
    }
    if (s == 200 && op->pos > 0) {
        /* The server ignored the range: start over. */
        if (ftruncate(op->fd, 0) != 0 || lseek(op->fd, 0, SEEK_SET) != 0) {
            int e = errno;
            set_fail(op, local_errno_code(e), "truncating the file to restart: %s", strerror(e));
            return false;
        }
        FERRY_DEBUG("xfer GET %s: HTTP 200 to a range request, restarting from 0 (had %" PRIu64 " bytes)",
                    op->safe_url, op->pos);
        op->pos = 0;
    }
    op->start = op->pos;
    op->file_body = true;
    return true;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    op_t *op = arg;
    size_t len = size * n;
    char line[HEADER_LINE_MAX];
    size_t l = len;
    while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
        l--;
    if (op->headers_done)
        return len; /* trailers */
    if (l >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        const char *sp = memchr(buf, ' ', l);
        op->status = sp != NULL && sp + 4 <= buf + l ? (int)strtol(sp + 1, NULL, 10) : 0;
        op->final = op->status >= 200;
        op->content_length = -1;
        op->have_range = false;
        op->range_total = -1;
        return len;
    }
    if (l == 0) {
        if (op->final) {
            op->headers_done = true;
            if (op->kind == OP_GET && !get_headers_done(op))
                return 0;
        }
        return len;
    }
    if (!op->final || l >= sizeof(line))
        return len;
    memcpy(line, buf, l);
    line[l] = '\0';
    char *colon = strchr(line, ':');
    if (colon == NULL)
        return len;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
        *--e = '\0';
    if (strcasecmp(line, "content-length") == 0) {
        uint64_t cl = 0;
        const char *p = v;
        if (parse_u64(&p, &cl) && *p == '\0' && cl <= INT64_MAX)
            op->content_length = (int64_t)cl;
    } else if (strcasecmp(line, "content-range") == 0) {
        parse_content_range(op, v);
    }
    if (op->hdr_fn != NULL)
        op->hdr_fn(op->hdr_user, line, v);
    return len;
}

/* Writes all of |data| at the current file position. */
static bool write_all(op_t *op, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(op->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            set_fail(op, local_errno_code(e), "write at byte %" PRIu64 ": %s", op->pos, strerror(e));
            return false;
        }
        data += w;
        len -= (size_t)w;
        op->pos += (uint64_t)w;
        op->received += (uint64_t)w;
    }
    return true;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
    op_t *op = arg;
    size_t len = size * n;
    size_t fit = len;
    uint64_t at = op->pos;
    if (!op->file_body)
        return keep_error_body(op, buf, len) ? len : 0;
    if (op->cancel != NULL && *op->cancel) {
        set_fail(op, FERRY_E_CANCELED, "canceled");
        return 0;
    }
    if (op->expected > 0 && (uint64_t)len > op->expected - op->pos)
        fit = (size_t)(op->expected - op->pos);
    if (fit > 0 && !write_all(op, (const uint8_t *)buf, fit))
        return 0;
    if (fit > 0 && op->on_data != NULL && op->on_data(op->user, at, (const uint8_t *)buf, fit) != 0) {
        set_fail(op, FERRY_E_CANCELED, "canceled by the data callback at byte %" PRIu64, op->pos);
        return 0;
    }
    if (fit < len) {
        set_fail(op, FERRY_E_TOO_LARGE, "the server sent more than the expected %" PRIu64 " bytes",
                 op->expected);
        return 0;
    }
    return len;
}

/* PUT and HEAD: any body is kept for messages only. */
static size_t on_write_discard(char *buf, size_t size, size_t n, void *arg)
{
    op_t *op = arg;
    size_t len = size * n;
    return keep_error_body(op, buf, len) ? len : 0;
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    op_t *op = arg;
    size_t want = size * n;
    uint64_t left = op->r_len - op->r_done;
    if ((uint64_t)want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    for (;;) {
        ssize_t r = pread(op->rfd, buf, want, (off_t)(op->r_start + op->r_done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_fail(op, FERRY_E_IO, "read at byte %" PRIu64 ": %s", op->r_start + op->r_done,
                     strerror(errno));
            return CURL_READFUNC_ABORT;
        }
        if (r == 0) {
            set_fail(op, FERRY_E_IO, "the file ended at byte %" PRIu64 " (it shrank while being sent)",
                     op->r_start + op->r_done);
            return CURL_READFUNC_ABORT;
        }
        op->r_done += (uint64_t)r;
        return (size_t)r;
    }
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
    op_t *op = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > op->r_len)
        return CURL_SEEKFUNC_CANTSEEK;
    op->r_done = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* ------------------------------------------------------------------------- */
/* Client                                                                    */
/* ------------------------------------------------------------------------- */

ferry_xfer_t *ferry_xfer_new(const ferry_xfer_config_t *cfg, ferry_err_t *err)
{
    ferry_xfer_t *x = NULL;
    ferry_xfer_config_t zero = {0};
    bool ok = false;
    if (cfg == NULL)
        cfg = &zero;
    if (ferry_curl_global_init("transfer client", err) != FERRY_OK)
        goto out;
    if ((x = calloc(1, sizeof(*x))) == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "transfer client: out of memory");
        goto out;
    }
    if (ferry_curl_tls_init(&x->tls, cfg->ca_file, cfg->pin_sha256, cfg->insecure_skip_verify,
                            "transfer client", err) != FERRY_OK)
        goto out;
    x->user_agent = strdup(cfg->user_agent != NULL ? cfg->user_agent : DEFAULT_USER_AGENT);
    x->multi = curl_multi_init();
    x->easy = curl_easy_init();
    if (x->user_agent == NULL || x->multi == NULL || x->easy == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "transfer client: out of memory");
        goto out;
    }
    x->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    x->low_speed_s = cfg->low_speed_timeout_s ? cfg->low_speed_timeout_s : DEFAULT_LOW_SPEED_S;
    x->max_bps = cfg->max_bytes_per_sec;
    x->low_speed_bytes = LOW_SPEED_BYTES;
    /* A bandwidth limit under 2 KiB/s must not look like a stall. */
    if (x->max_bps > 0 && x->max_bps / 2 < LOW_SPEED_BYTES)
        x->low_speed_bytes = x->max_bps / 2 > 0 ? (long)(x->max_bps / 2) : 1;
    ok = true;
out:
    if (!ok) {
        ferry_xfer_free(x);
        x = NULL;
    }
    return x;
}

void ferry_xfer_free(ferry_xfer_t *x)
{
    if (x == NULL)
        return;
    if (x->easy != NULL)
        curl_easy_cleanup(x->easy);
    if (x->multi != NULL)
        curl_multi_cleanup(x->multi);
    ferry_curl_tls_free(&x->tls);
    free(x->user_agent);
    free(x);
}

/* Builds the request header list: |extra| (capped), then the call's own lines. */
static ferry_err_code_t build_headers(op_t *op, const char *const *extra, const char *const *own,
                                      struct curl_slist **out, ferry_err_t *err)
{
    struct curl_slist *l = NULL;
    size_t n = 0;
    ferry_err_code_t rc = FERRY_OK;
    for (const char *const *h = extra; h != NULL && *h != NULL; h++, n++) {
        if (n >= HEADERS_MAX || strlen(*h) > HEADER_LINE_MAX || strchr(*h, '\n') != NULL ||
            strchr(*h, '\r') != NULL) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s %s: request header %zu is too long, has a line break, or "
                               "there are more than %u",
                               op->method, op->safe_url, n, HEADERS_MAX);
            goto out;
        }
        struct curl_slist *nl = curl_slist_append(l, *h);
        if (nl == NULL)
            goto nomem;
        l = nl;
    }
    for (const char *const *h = own; h != NULL && *h != NULL; h++) {
        if ((*h)[0] == '\0')
            continue;
        struct curl_slist *nl = curl_slist_append(l, *h);
        if (nl == NULL)
            goto nomem;
        l = nl;
    }
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "%s %s: out of memory", op->method, op->safe_url);
out:
    if (rc != FERRY_OK) {
        curl_slist_free_all(l);
        l = NULL;
    }
    *out = l;
    return rc;
}

/* Options every call sets after curl_easy_reset(). */
static void common_options(ferry_xfer_t *x, op_t *op, const char *url, bool https, struct curl_slist *hl)
{
    CURL *e = x->easy;
    curl_easy_reset(e);
    x->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    /* Cleartext: HTTP/1.1 (libcurl 7.88's h2c Upgrade breaks on large bodies). TLS: ALPN. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)(https ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_USERAGENT, x->user_agent);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)x->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, x->low_speed_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)x->low_speed_s);
    if (x->max_bps > 0) {
        curl_off_t bps = x->max_bps > (uint64_t)INT64_MAX ? (curl_off_t)INT64_MAX : (curl_off_t)x->max_bps;
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, bps);
        curl_easy_setopt(e, CURLOPT_MAX_SEND_SPEED_LARGE, bps);
    } else {
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER);
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, op);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, op);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    ferry_curl_tls_apply(&x->tls, e);
}

/*
 * Runs the transfer on this thread: multi perform/poll, the cancel flag looked at every
 * POLL_MS. SIGPIPE is blocked for the thread meanwhile (a write to a closed peer must
 * not kill the process; libcurl sends with MSG_NOSIGNAL, this covers the rest).
 */
static CURLcode perform(ferry_xfer_t *x, op_t *op)
{
    CURLcode res = CURLE_OK;
    sigset_t pipe_set, old_set, pending;
    bool had_pipe = false;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    if (sigpending(&pending) == 0)
        had_pipe = sigismember(&pending, SIGPIPE) == 1;

    CURLMcode mc = curl_multi_add_handle(x->multi, x->easy);
    if (mc != CURLM_OK) {
        snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_multi_strerror(mc));
        res = CURLE_FAILED_INIT;
        goto out;
    }
    for (;;) {
        int running = 0, left = 0;
        bool done = false;
        CURLMsg *m;
        mc = curl_multi_perform(x->multi, &running);
        while ((m = curl_multi_info_read(x->multi, &left)) != NULL) {
            if (m->msg == CURLMSG_DONE && m->easy_handle == x->easy) {
                res = m->data.result;
                done = true;
            }
        }
        if (done)
            break;
        if (mc != CURLM_OK) {
            snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_multi_strerror(mc));
            res = CURLE_FAILED_INIT;
            break;
        }
        if (op->cancel != NULL && *op->cancel) {
            set_fail(op, FERRY_E_CANCELED, "canceled");
            res = CURLE_ABORTED_BY_CALLBACK;
            /* Close the connection rather than leave an h2 RST_STREAM unsent in libcurl
             * 7.88's buffer (see docs/rpc.md, cancellation on the wire). */
            curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, 1L);
            break;
        }
        curl_multi_poll(x->multi, NULL, 0, POLL_MS, NULL);
    }
    curl_multi_remove_handle(x->multi, x->easy);
out:
    if (!had_pipe && !sigismember(&old_set, SIGPIPE) && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero); /* swallow the one we caused */
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    return res;
}

/* Printable, single-line copy of the kept error body ("" if none). */
static void body_text(op_t *op, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < op->body_len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)op->body[i];
        out[n++] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/*
 * The outcome of a PUT or HEAD (and of a GET that got an HTTP error): the callback's
 * failure, else the transport's, else the status. |reason| gets the short form.
 */
static ferry_err_code_t finish(op_t *op, CURLcode res, int *status_out, char *reason, size_t rsize,
                               ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    long status = 0;
    char body[ERR_BODY_KEEP + 1];
    curl_easy_getinfo(op->x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 0 && op->final)
        status = op->status;
    if (status_out != NULL)
        *status_out = (int)status;
    reason[0] = '\0';
    if (op->fail != FERRY_OK) {
        rc = op->fail;
        snprintf(reason, rsize, "%s", op->fail_reason);
    } else if (res != CURLE_OK && !(op->body_overflow && status_code((int)status) != FERRY_OK)) {
        rc = res == CURLE_URL_MALFORMAT || res == CURLE_UNSUPPORTED_PROTOCOL ? FERRY_E_INVALID_ARG
             : res == CURLE_OUT_OF_MEMORY                                    ? FERRY_E_NOMEM
                                                                             : FERRY_E_UNAVAILABLE;
        transport_reason(op, res, reason, rsize);
    } else if ((rc = status_code((int)status)) != FERRY_OK) {
        snprintf(reason, rsize, "HTTP %ld", status);
    }
    if (rc != FERRY_OK) {
        body_text(op, body, sizeof(body));
        if (rc == status_code((int)status) && op->fail == FERRY_OK && body[0] != '\0')
            ferry_err_set(err, rc, "%s %s: %s: %s", op->method, op->safe_url, reason, body);
        else
            ferry_err_set(err, rc, "%s %s: %s", op->method, op->safe_url, reason);
    }
    return rc;
}

static void op_init(op_t *op, ferry_xfer_t *x, op_kind_t kind, const char *method)
{
    memset(op, 0, sizeof(*op));
    op->x = x;
    op->kind = kind;
    op->method = method;
    op->fd = -1;
    op->rfd = -1;
    op->content_length = -1;
    op->range_total = -1;
    snprintf(op->safe_url, sizeof(op->safe_url), "(no URL)");
}

ferry_err_code_t ferry_xfer_get_file(ferry_xfer_t *x, const char *url, const char *path,
                                     uint64_t expected_size, ferry_xfer_data_fn on_data, void *user,
                                     volatile int *cancel, ferry_xfer_get_result_t *res_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_xfer_get_result_t res_local;
    ferry_xfer_get_result_t *res = res_out != NULL ? res_out : &res_local;
    op_t op;
    struct curl_slist *hl = NULL;
    struct stat sb = {0}; /* read only after fstat succeeded; zeroed for the analyzer */
    char range[64] = "";
    const char *own[] = {range, NULL};
    bool https = false;
    double t0 = now_s();
    int oerr = 0;
    CURLcode cres;

    memset(res, 0, sizeof(*res));
    op_init(&op, x, OP_GET, "GET");
    if (x == NULL || path == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "GET: missing transfer client or file path");
        goto out;
    }
    if ((rc = parse_url(&op, url, &https, err)) != FERRY_OK)
        goto out;
    if (cancel != NULL && *cancel) {
        rc = ferry_err_set(err, FERRY_E_CANCELED, "GET %s: canceled", op.safe_url);
        snprintf(res->error, sizeof(res->error), "canceled");
        goto out;
    }
    op.fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (op.fd < 0 || fstat(op.fd, &sb) != 0)
        oerr = errno != 0 ? errno : EIO; /* never 0 here: sb is only valid when fstat succeeded */
    else if (!S_ISREG(sb.st_mode))
        oerr = EINVAL; /* a directory, device or FIFO */
    if (oerr != 0) {
        int e = oerr;
        rc = ferry_err_set_errno(err, local_errno_code(e), e, "GET %s: open '%s'", op.safe_url, path);
        snprintf(res->error, sizeof(res->error), "open '%s': %s", path, strerror(e));
        goto out;
    }
    op.pos = (uint64_t)sb.st_size;
    if (lseek(op.fd, 0, SEEK_END) < 0) {
        int e = errno;
        rc = ferry_err_set_errno(err, FERRY_E_IO, e, "GET %s: seek in '%s'", op.safe_url, path);
        snprintf(res->error, sizeof(res->error), "seek: %s", strerror(e));
        goto out;
    }
    res->resumed_from = op.pos;
    if (expected_size > 0 && op.pos > expected_size) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE,
                           "GET %s: '%s' already has %" PRIu64 " bytes, more than the expected %" PRIu64,
                           op.safe_url, path, op.pos, expected_size);
        snprintf(res->error, sizeof(res->error), "local file larger than expected");
        goto out;
    }
    op.expected = expected_size;
    op.on_data = on_data;
    op.user = user;
    op.cancel = cancel;
    if (op.pos > 0)
        snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", op.pos);
    if ((rc = build_headers(&op, NULL, own, &hl, err)) != FERRY_OK)
        goto out;
    common_options(x, &op, url, https, hl);
    curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    cres = perform(x, &op);

    res->bytes_received = op.received;
    res->resumed_from = op.file_body ? op.start : res->resumed_from;
    if (op.fail == FERRY_OK && cres == CURLE_OK && op.status == 416) {
        /* Nothing left to send: complete if the file has the size we expect. */
        res->http_status = 416;
        if ((expected_size > 0 && op.pos == expected_size) ||
            (expected_size == 0 && op.pos > 0 && op.range_total >= 0 && (uint64_t)op.range_total == op.pos)) {
            rc = FERRY_OK;
        } else {
            rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                               "GET %s: HTTP 416: '%s' has %" PRIu64 " bytes, the server's file %s%" PRId64,
                               op.safe_url, path, op.pos, op.range_total >= 0 ? "" : "size is unknown ",
                               op.range_total);
            snprintf(res->error, sizeof(res->error), "HTTP 416");
            goto out;
        }
    } else if (op.fail != FERRY_OK || cres != CURLE_OK || !op.file_body) {
        rc = finish(&op, cres, &res->http_status, res->error, sizeof(res->error), err);
        if (rc == FERRY_OK) /* e.g. 204: a 2xx that is not the file */
            rc = ferry_err_set(err, FERRY_E_PROTOCOL, "GET %s: HTTP %d is not a download", op.safe_url,
                               res->http_status);
        if (rc == FERRY_E_PROTOCOL && res->error[0] == '\0')
            snprintf(res->error, sizeof(res->error), "HTTP %d", res->http_status);
        if (op.fail != FERRY_OK && (rc == FERRY_E_IO || rc == FERRY_E_NOSPACE))
            ferry_err_set(err, rc, "GET %s: '%s': %s", op.safe_url, path, op.fail_reason);
        goto out;
    } else {
        res->http_status = op.status;
        if (expected_size > 0 && op.pos != expected_size) {
            rc = ferry_err_set(err, FERRY_E_CORRUPT,
                               "GET %s: the reply ended with '%s' at %" PRIu64 " bytes, expected %" PRIu64,
                               op.safe_url, path, op.pos, expected_size);
            snprintf(res->error, sizeof(res->error), "reply ended at %" PRIu64 " of %" PRIu64 " bytes",
                     op.pos, expected_size);
            goto out;
        }
    }
    if (fdatasync(op.fd) != 0) {
        int e = errno;
        rc = ferry_err_set_errno(err, local_errno_code(e), e, "GET %s: fdatasync '%s'", op.safe_url, path);
        snprintf(res->error, sizeof(res->error), "fdatasync: %s", strerror(e));
        goto out;
    }
out:
    if (op.fd >= 0) {
        if (fstat(op.fd, &sb) == 0)
            res->file_size = (uint64_t)sb.st_size;
        if (close(op.fd) != 0 && rc == FERRY_OK) {
            int e = errno;
            rc = ferry_err_set_errno(err, local_errno_code(e), e, "GET %s: close '%s'", op.safe_url, path);
            snprintf(res->error, sizeof(res->error), "close: %s", strerror(e));
        }
    }
    curl_slist_free_all(hl);
    res->seconds = now_s() - t0;
    if (rc != FERRY_OK)
        FERRY_DEBUG("xfer GET %s: %s (%" PRIu64 " bytes received)", op.safe_url, res->error,
                    res->bytes_received);
    return rc;
}

/* Does |headers| name a Content-Type? */
static bool has_content_type(const char *const *headers)
{
    for (const char *const *h = headers; h != NULL && *h != NULL; h++) {
        if (strncasecmp(*h, "content-type:", 13) == 0)
            return true;
    }
    return false;
}

ferry_err_code_t ferry_xfer_put_file(ferry_xfer_t *x, const char *url, const char *path, uint64_t offset,
                                     uint64_t len, uint64_t total, const char *const *headers,
                                     int *http_status,
                                     void (*resp_header_fn)(void *user, const char *name, const char *value),
                                     void *user, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    op_t op;
    struct curl_slist *hl = NULL;
    struct stat sb;
    char crange[96] = "";
    char reason[256];
    const char *own[] = {"Expect:", crange, NULL, NULL};
    bool https = false;
    CURLcode cres;

    op_init(&op, x, OP_PUT, "PUT");
    if (http_status != NULL)
        *http_status = 0;
    if (x == NULL || path == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "PUT: missing transfer client or file path");
        goto out;
    }
    if ((rc = parse_url(&op, url, &https, err)) != FERRY_OK)
        goto out;
    if (len > UINT64_MAX - offset || (total > 0 && offset + len > total)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "PUT %s: bytes %" PRIu64 "+%" PRIu64 " do not fit in a total of %" PRIu64,
                           op.safe_url, offset, len, total);
        goto out;
    }
    op.rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (op.rfd < 0 || fstat(op.rfd, &sb) != 0) {
        int e = errno;
        rc = ferry_err_set_errno(err, local_errno_code(e), e, "PUT %s: open '%s'", op.safe_url, path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < offset + len) {
        rc = ferry_err_set(err, FERRY_E_IO, "PUT %s: '%s' has %lld bytes, fewer than the %" PRIu64 " to send",
                           op.safe_url, path, (long long)sb.st_size, offset + len);
        goto out;
    }
    op.r_start = offset;
    op.r_len = len;
    if (total > 0 && len > 0)
        snprintf(crange, sizeof(crange), "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, offset,
                 offset + len - 1, total);
    else if (total > 0)
        snprintf(crange, sizeof(crange), "Content-Range: bytes */%" PRIu64, total);
    if (!has_content_type(headers))
        own[2] = "Content-Type: application/octet-stream";
    if ((rc = build_headers(&op, headers, own, &hl, err)) != FERRY_OK)
        goto out;
    op.hdr_fn = resp_header_fn;
    op.hdr_user = user;
    common_options(x, &op, url, https, hl);
    curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(x->easy, CURLOPT_READDATA, &op);
    curl_easy_setopt(x->easy, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(x->easy, CURLOPT_SEEKDATA, &op);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write_discard);
    cres = perform(x, &op);
    rc = finish(&op, cres, http_status, reason, sizeof(reason), err);
    if (op.fail == FERRY_E_IO)
        ferry_err_set(err, rc, "PUT %s: '%s': %s", op.safe_url, path, op.fail_reason);
out:
    if (op.rfd >= 0)
        close(op.rfd);
    curl_slist_free_all(hl);
    return rc;
}

ferry_err_code_t ferry_xfer_head(ferry_xfer_t *x, const char *url, const char *const *headers,
                                 int *http_status,
                                 void (*resp_header_fn)(void *user, const char *name, const char *value),
                                 void *user, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    op_t op;
    struct curl_slist *hl = NULL;
    char reason[256];
    bool https = false;
    CURLcode cres;

    op_init(&op, x, OP_HEAD, "HEAD");
    if (http_status != NULL)
        *http_status = 0;
    if (x == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "HEAD: missing transfer client");
        goto out;
    }
    if ((rc = parse_url(&op, url, &https, err)) != FERRY_OK)
        goto out;
    if ((rc = build_headers(&op, headers, NULL, &hl, err)) != FERRY_OK)
        goto out;
    op.hdr_fn = resp_header_fn;
    op.hdr_user = user;
    common_options(x, &op, url, https, hl);
    curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write_discard);
    cres = perform(x, &op);
    rc = finish(&op, cres, http_status, reason, sizeof(reason), err);
out:
    curl_slist_free_all(hl);
    return rc;
}
