/*
 * Transfer routes (ferry/rpc_route.h): plain HTTP requests completed from any thread,
 * files served by sendfile(2) or read in pieces, bodies handed to the worker pool.
 *
 * A route request lives in malloc'd memory of its own (not h2o's pool), so a worker
 * may fill in the response while h2o goes on. It holds two references, both dropped on
 * its loop thread: one for h2o's request (dropped by a dispose hook on req->pool), one
 * for the completion (dropped once the response was handed to h2o or found no one to
 * go to). The loop does not exit while any is alive (lt->n_route_reqs).
 *
 * Body lifetime: h2o 2.2.5 keeps a request body in memory that goes away with the
 * connection. Over HTTP/1.x it stops reading the socket and clears the I/O timeout once
 * the body is complete (http1.c on_entity_read_complete), so nothing can end the request
 * before we answer: a worker may read the body in place. Over HTTP/2 a RST_STREAM or a
 * closed connection frees the stream's body at once, so an offloaded request copies it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/log.h"
#include "ferry/rpc_route.h"
#include "route_internal.h"

#define ROUTE_MAX_HEADERS 16
#define ROUTE_HEADER_MEM  2048
#define ROUTE_RANGE_MAX   256          /* a longer Range header is ignored (several ranges or junk) */
#define ROUTE_REPLY_MAX   (1u << 20)   /* cap on a copied reply body */
#define FILE_PIECE        (256u << 10) /* bytes read and handed to h2o per step */
#define SENDFILE_TURN     (8u << 20)   /* bytes sendfile(2) moves before other sockets get a turn */

struct ferry_route_req {
    loop_thread_t *lt;
    h2o_req_t *req; /* NULL once h2o disposed it (loop thread) */
    int refs;       /* loop thread only */
    h2o_multithread_message_t msg;
    atomic_bool completed;
    bool head;
    bool path_ok, query_ok;
    char method[16];
    char path[FERRY_ROUTE_URL_PART_MAX + 1];
    char query[FERRY_ROUTE_URL_PART_MAX + 1];
    char range[ROUTE_RANGE_MAX + 1];
    size_t range_len;
    bool has_range;
    const uint8_t *body;
    size_t body_len;
    uint8_t *body_owned;
    /* the response, written by the completing thread */
    int status;
    const char *content_type; /* static, or in hdr_mem */
    struct {
        const char *name, *value; /* in hdr_mem */
    } headers[ROUTE_MAX_HEADERS];
    size_t n_headers, hdr_used;
    char hdr_mem[ROUTE_HEADER_MEM];
    uint8_t *resp_body; /* owned */
    size_t resp_len;
    int file_fd; /* send_file: owned until handed to the generator */
};

typedef struct file_gen file_gen_t;
struct file_gen {
    h2o_generator_t super; /* first: h2o hands this pointer back */
    h2o_req_t *req;
    int fd;
    uint64_t pos, end; /* next byte to send, one past the last */
    uint8_t *buf;      /* FILE_PIECE bytes, owned */
    /* Cleartext HTTP/1.x: the connection's socket. Once the headers and the first piece
     * went out through h2o, the middle of the file goes by sendfile(2) straight from the
     * page cache (no copy in user space, as nginx does); the last piece goes through h2o
     * again so that h2o ends the response and keeps the connection alive. */
    h2o_socket_t *sock;
    h2o_socket_t *conn_sock; /* the connection's socket whatever the protocol, or NULL */
    bool started;            /* h2o wrote the headers */
    bool waiting;            /* h2o polls |sock| for us */
    file_gen_t *next;        /* in live_gens until the request is disposed */
};

/*
 * The file responses of this loop thread, from start to dispose. h2o's write callback
 * hands back only the socket, whose data pointer belongs to h2o's connection, so a
 * generator waiting for its socket is found here by it; shutdown's force walks it too.
 * A generator leaves the list when its request is disposed, before its socket can be
 * freed, so no entry outlives its socket.
 */
static _Thread_local file_gen_t *live_gens;

/* ---- range syntax ---------------------------------------------------------------------- */

/* Decimal digits at *p (no sign, at least one digit, no overflow). */
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

ferry_range_kind_t ferry_http_parse_range(const char *hdr, size_t len, uint64_t size, uint64_t *first,
                                          uint64_t *last)
{
    const char *p = hdr, *end;
    uint64_t a = 0, b = 0;
    bool have_a, have_b;
    if (hdr == NULL)
        return FERRY_RANGE_NONE;
    end = hdr + len;
    skip_ows(&p, end);
    if ((size_t)(end - p) < 6 || strncasecmp(p, "bytes=", 6) != 0)
        return FERRY_RANGE_NONE;
    p += 6;
    skip_ows(&p, end);
    have_a = parse_u64(&p, end, &a);
    skip_ows(&p, end);
    if (p >= end || *p != '-')
        return FERRY_RANGE_NONE;
    p++;
    skip_ows(&p, end);
    have_b = parse_u64(&p, end, &b);
    skip_ows(&p, end);
    if (p != end) /* several ranges or trailing garbage: not served, send it all */
        return FERRY_RANGE_NONE;
    if (have_a) {
        if (have_b && b < a)
            return FERRY_RANGE_NONE; /* invalid syntax per RFC 9110: ignore */
        if (a >= size)
            return FERRY_RANGE_UNSATISFIABLE;
        *first = a;
        *last = (!have_b || b >= size) ? size - 1 : b;
        return FERRY_RANGE_PARTIAL;
    }
    if (!have_b)
        return FERRY_RANGE_NONE;
    /* suffix range: the last b bytes */
    if (b == 0 || size == 0)
        return FERRY_RANGE_UNSATISFIABLE;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return FERRY_RANGE_PARTIAL;
}

ferry_err_code_t ferry_http_parse_content_range(const char *hdr, size_t len, uint64_t *first, uint64_t *last,
                                                uint64_t *total, ferry_err_t *err)
{
    const char *p = hdr, *end;
    uint64_t a, b, t;
    if (hdr == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "Content-Range missing");
    end = hdr + len;
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

/* ---- life cycle ------------------------------------------------------------------------ */

static void route_release(ferry_route_req_t *r)
{
    if (--r->refs > 0)
        return;
    r->lt->n_route_reqs--;
    if (r->file_fd >= 0)
        close(r->file_fd);
    free(r->body_owned);
    free(r->resp_body);
    free(r);
}

static void on_route_req_dispose(void *p)
{
    ferry_route_req_t *r = *(ferry_route_req_t **)p;
    r->req = NULL;
    route_release(r);
}

static bool copy_part(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
    return memchr(dst, '\0', len) == NULL;
}

void ferry_route_begin(loop_thread_t *lt, h2o_req_t *req, ferry_route_fn fn, void *user)
{
    ferry_route_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        h2o_send_error_generic(req, 503, "Service Unavailable", "out of memory\n", 0);
        return;
    }
    r->lt = lt;
    r->req = req;
    r->refs = 2;
    r->file_fd = -1;
    lt->n_route_reqs++;
    ferry_route_req_t **slot =
        h2o_mem_alloc_shared(&req->pool, sizeof(ferry_route_req_t *), on_route_req_dispose);
    *slot = r;

    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    copy_part(r->method, sizeof(r->method), req->method.base, req->method.len);
    r->path_ok = copy_part(r->path, sizeof(r->path), req->path.base, plen);
    if (req->query_at != SIZE_MAX)
        r->query_ok = copy_part(r->query, sizeof(r->query), req->path.base + req->query_at + 1,
                                req->path.len - req->query_at - 1);
    else
        r->query_ok = true;
    r->head = strcmp(r->method, "HEAD") == 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (i >= 0 && req->headers.entries[i].value.len <= ROUTE_RANGE_MAX) {
        r->range_len = req->headers.entries[i].value.len;
        memcpy(r->range, req->headers.entries[i].value.base, r->range_len);
        r->has_range = true;
    }
    if (req->entity.base != NULL) {
        r->body = (const uint8_t *)req->entity.base;
        r->body_len = req->entity.len;
    }
    fn(r, user);
}

/* ---- request accessors ------------------------------------------------------------------ */

const char *ferry_route_method(const ferry_route_req_t *r)
{
    return r->method;
}

const char *ferry_route_path(const ferry_route_req_t *r)
{
    return r->path_ok ? r->path : NULL;
}

const char *ferry_route_query(const ferry_route_req_t *r)
{
    return r->query_ok ? r->query : NULL;
}

const char *ferry_route_header(const ferry_route_req_t *r, const char *name, size_t *len)
{
    if (ferry_tls_loop != r->lt || r->req == NULL || atomic_load(&r->completed))
        return NULL;
    ssize_t i = h2o_find_header_by_str(&r->req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    if (len != NULL)
        *len = r->req->headers.entries[i].value.len;
    return r->req->headers.entries[i].value.base;
}

const void *ferry_route_body(const ferry_route_req_t *r, size_t *len)
{
    *len = r->body_len;
    return r->body_len > 0 ? r->body : NULL;
}

ferry_err_code_t ferry_route_body_range(const ferry_route_req_t *r, uint64_t *first, uint64_t *last,
                                        uint64_t *total, ferry_err_t *err)
{
    size_t crlen = 0;
    const char *cr = ferry_route_header(r, "content-range", &crlen);
    if (cr != NULL)
        return ferry_http_parse_content_range(cr, crlen, first, last, total, err);
    if (r->body_len == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "empty body");
    *first = 0; /* the whole file in one request */
    *last = r->body_len - 1;
    *total = r->body_len;
    return FERRY_OK;
}

/* ---- the response ---------------------------------------------------------------------- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 416:
        return "Range Not Satisfiable";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

static const char *hdr_dup(ferry_route_req_t *r, const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > sizeof(r->hdr_mem) - r->hdr_used)
        return NULL;
    char *p = r->hdr_mem + r->hdr_used;
    memcpy(p, s, n);
    r->hdr_used += n;
    return p;
}

void ferry_route_set_header(ferry_route_req_t *r, const char *name, const char *value)
{
    const char *n = NULL, *v = NULL;
    if (r->n_headers < ROUTE_MAX_HEADERS && (n = hdr_dup(r, name)) != NULL &&
        (v = hdr_dup(r, value)) != NULL) {
        r->headers[r->n_headers].name = n;
        r->headers[r->n_headers].value = v;
        r->n_headers++;
        return;
    }
    FERRY_ERROR("http route %s: response header '%s' dropped (more than %d or %d bytes)", r->path, name,
                ROUTE_MAX_HEADERS, ROUTE_HEADER_MEM);
}

void ferry_route_set_header_u64(ferry_route_req_t *r, const char *name, uint64_t value)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, value);
    ferry_route_set_header(r, name, buf);
}

void ferry_route_clear_headers(ferry_route_req_t *r)
{
    r->n_headers = 0;
    r->hdr_used = 0;
}

static void add_headers(ferry_route_req_t *r, h2o_req_t *req)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        h2o_iovec_t v = h2o_strdup(&req->pool, r->headers[i].value, SIZE_MAX);
        h2o_iovec_t n = h2o_strdup(&req->pool, r->headers[i].name, SIZE_MAX);
        h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 0, NULL, v.base, v.len);
    }
}

static void file_gen_dispose(void *p)
{
    file_gen_t *g = p;
    for (file_gen_t **pp = &live_gens; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    free(g->buf);
    g->buf = NULL;
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

/* The length already went out: the only honest thing left is to abort (h2o closes). */
static void file_gen_abort(file_gen_t *g, const char *why)
{
    FERRY_WARN("http route: file %s at %" PRIu64 " of %" PRIu64 ": response aborted", why, g->pos, g->end);
    h2o_send(g->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

/* Reads the next piece into the buffer and hands it to h2o, which calls proceed again
 * once it is out. A file cut short under the response ends it with an error. */
static void send_piece(file_gen_t *g)
{
    size_t piece = g->end - g->pos < FILE_PIECE ? (size_t)(g->end - g->pos) : FILE_PIECE;
    ssize_t n;
    do
        n = pread(g->fd, g->buf, piece, (off_t)g->pos);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        file_gen_abort(g, n == 0 ? "shrank" : "cannot be read");
        return;
    }
    g->pos += (uint64_t)n;
    g->started = true;
    h2o_iovec_t pv = h2o_iovec_init(g->buf, (size_t)n);
    h2o_send(g->req, &pv, 1, g->pos == g->end ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_writable(h2o_socket_t *sock, const char *err);

static void wait_writable(file_gen_t *g)
{
    g->waiting = true;
    h2o_socket_notify_write(g->sock, on_writable);
}

/*
 * Moves the middle of the file with sendfile(2) while the socket takes it, at most
 * SENDFILE_TURN bytes per turn so one fast reader does not starve the loop's other
 * sockets; then waits for h2o's poller. Called only when h2o has nothing queued on the
 * socket (the previous write completed), so bytes cannot overtake each other. A file
 * cut short makes sendfile(2) return 0 before the end: the response is aborted.
 */
static void pump_sendfile(file_gen_t *g)
{
    uint64_t stop = g->end - FILE_PIECE; /* the last piece goes through h2o */
    uint64_t turn = 0;
    int sfd = h2o_socket_get_fd(g->sock);

    while (g->pos < stop) {
        size_t want = (size_t)(stop - g->pos < SENDFILE_TURN ? stop - g->pos : SENDFILE_TURN);
        off_t off = (off_t)g->pos;
        ssize_t n = sendfile(sfd, g->fd, &off, want);
        if (n > 0) {
            g->pos += (uint64_t)n;
            g->req->bytes_sent += (size_t)n;
            turn += (uint64_t)n;
            if (turn >= SENDFILE_TURN && g->pos < stop) {
                wait_writable(g);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_writable(g);
            return;
        }
        if (n == 0) {
            file_gen_abort(g, "shrank");
        } else {
            /* the peer went away (EPIPE, ECONNRESET): nothing to tell, h2o closes */
            h2o_send(g->req, NULL, 0, H2O_SEND_STATE_ERROR);
        }
        return;
    }
    send_piece(g);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    file_gen_t *g = live_gens;
    while (g != NULL && !(g->waiting && g->sock == sock))
        g = g->next;
    if (g == NULL) { /* cannot be: the list holds every socket we asked h2o to poll */
        FERRY_ERROR("http route: write notification for an unknown socket");
        return;
    }
    g->waiting = false;
    if (err != NULL)
        h2o_send(g->req, NULL, 0, H2O_SEND_STATE_ERROR);
    else
        pump_sendfile(g);
}

/* h2o wants more: the first piece (with the headers) and the last through h2o, the
 * rest by sendfile(2) where the connection allows it. */
static void file_gen_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    file_gen_t *g = (file_gen_t *)self;
    (void)req;
    if (g->sock != NULL && g->started && g->end - g->pos > FILE_PIECE)
        pump_sendfile(g);
    else
        send_piece(g);
}

static void file_gen_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)self;
    (void)req; /* the fd and buffer go with the pool's dispose */
}

void ferry_route_force_close(loop_thread_t *lt)
{
    (void)lt; /* live_gens is this (loop) thread's */
    /* shutdown(2), not close: the fd stays h2o's. The pending write or the poll for one
     * fails, h2o closes the connection and disposes the request as for a peer gone. */
    for (file_gen_t *g = live_gens; g != NULL; g = g->next)
        if (g->conn_sock != NULL)
            shutdown(h2o_socket_get_fd(g->conn_sock), SHUT_RDWR);
}

static void text_reply(h2o_req_t *req, int status, const char *body);

static void start_file(ferry_route_req_t *r, h2o_req_t *req)
{
    struct stat st;
    uint64_t first = 0, last = 0, size;
    ferry_range_kind_t kind;
    char buf[160];
    int fd = r->file_fd;

    r->file_fd = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("ferry-error-code"), 0, NULL,
                              H2O_STRLIT("E_IO"));
        text_reply(req, 500, "E_IO: cannot read the file\n");
        return;
    }
    size = (uint64_t)st.st_size;
    kind =
        r->has_range ? ferry_http_parse_range(r->range, r->range_len, size, &first, &last) : FERRY_RANGE_NONE;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("accept-ranges"), 0, NULL,
                          H2O_STRLIT("bytes"));
    if (kind == FERRY_RANGE_UNSATISFIABLE) {
        close(fd);
        int n = snprintf(buf, sizeof(buf), "bytes */%" PRIu64, size);
        h2o_iovec_t v = h2o_strdup(&req->pool, buf, (size_t)n);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-range"), 0, NULL, v.base,
                              v.len);
        char body[200];
        snprintf(body, sizeof(body), "range '%.*s' is outside the %" PRIu64 " bytes\n",
                 (int)(r->range_len > 100 ? 100 : r->range_len), r->range, size);
        text_reply(req, 416, body);
        return;
    }
    if (kind == FERRY_RANGE_NONE) {
        first = 0;
        last = size == 0 ? 0 : size - 1;
        req->res.status = 200;
    } else {
        int n = snprintf(buf, sizeof(buf), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, first, last, size);
        h2o_iovec_t v = h2o_strdup(&req->pool, buf, (size_t)n);
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-range"), 0, NULL, v.base,
                              v.len);
        req->res.status = 206;
    }
    req->res.reason = reason_of(req->res.status);
    if (r->content_type != NULL) {
        h2o_iovec_t v = h2o_strdup(&req->pool, r->content_type, SIZE_MAX);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, v.base, v.len);
    }
    h2o_socket_t *sock =
        req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    /* sendfile(2) only where h2o writes the bytes as they are: HTTP/1.x without TLS */
    bool plain = req->version < 0x200 && sock != NULL && sock->ssl == NULL;
    uint8_t *piece_buf = NULL;
    if (!r->head && (piece_buf = malloc(FILE_PIECE)) == NULL) {
        close(fd);
        text_reply(req, 503, "E_NOMEM: out of memory\n");
        return;
    }
    file_gen_t *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), file_gen_dispose);
    g->super.proceed = file_gen_proceed;
    g->super.stop = file_gen_stop;
    g->req = req;
    g->fd = fd;
    g->sock = plain ? sock : NULL;
    g->conn_sock = sock;
    g->started = false;
    g->waiting = false;
    g->next = live_gens;
    live_gens = g;
    g->buf = piece_buf;
    g->pos = first;
    g->end = size == 0 ? 0 : last + 1;
    req->res.content_length = (size_t)(g->end - g->pos);
    h2o_start_response(req, &g->super);
    if (r->head || g->pos == g->end)
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    else
        file_gen_proceed(&g->super, req);
}

static void text_reply(h2o_req_t *req, int status, const char *body)
{
    req->res.status = status;
    req->res.reason = reason_of(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("text/plain; charset=utf-8"));
    h2o_send_inline(req, body, strlen(body));
}

/* Hands the finished response to h2o (loop thread), then drops the completion reference. */
static void emit(ferry_route_req_t *r)
{
    h2o_req_t *req = r->req;
    if (req != NULL) {
        add_headers(r, req);
        if (r->file_fd >= 0) {
            start_file(r, req);
        } else {
            req->res.status = r->status;
            req->res.reason = reason_of(r->status);
            if (r->content_type != NULL) {
                h2o_iovec_t v = h2o_strdup(&req->pool, r->content_type, SIZE_MAX);
                h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, v.base, v.len);
            }
            h2o_send_inline(req, r->resp_body != NULL ? (const char *)r->resp_body : "", r->resp_len);
        }
    }
    route_release(r);
}

void ferry_route_on_kicks(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        h2o_linklist_t *link = messages->next;
        /* h2o's lists are circular: a linked node's neighbours are never NULL, and a node
         * emitted (and freed) below is no longer in the list. Said for the static analyzer,
         * which knows neither: it follows a NULL into h2o_linklist_unlink, and a node that
         * is its own neighbour to a read after free. */
        if (link == NULL || link->next == NULL || link->prev == NULL) // NOLINT(clang-analyzer-unix.Malloc)
            break;
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, link);
        ferry_route_req_t *r = H2O_STRUCT_FROM_MEMBER(ferry_route_req_t, msg, m);
        h2o_linklist_unlink(link);
        emit(r);
    }
}

/* Marks |r| completed; false (and a log line) when it already was. */
static bool try_complete(ferry_route_req_t *r)
{
    if (atomic_exchange(&r->completed, true)) {
        FERRY_ERROR("http route %s: request completed twice", r->path);
        return false;
    }
    return true;
}

static void finish(ferry_route_req_t *r)
{
    if (ferry_tls_loop == r->lt)
        emit(r);
    else
        h2o_multithread_send_message(&r->lt->route_receiver, &r->msg);
}

void ferry_route_reply(ferry_route_req_t *r, int status, const char *content_type, const void *body,
                       size_t len)
{
    if (!try_complete(r))
        return;
    r->status = status;
    r->content_type = content_type != NULL ? hdr_dup(r, content_type) : NULL;
    if (len > ROUTE_REPLY_MAX) {
        FERRY_ERROR("http route %s: reply of %zu bytes cut to %u", r->path, len, ROUTE_REPLY_MAX);
        len = ROUTE_REPLY_MAX;
    }
    if (len > 0 && (r->resp_body = malloc(len)) != NULL) {
        memcpy(r->resp_body, body, len);
        r->resp_len = len;
    } else if (len > 0) {
        r->status = 500;
        r->content_type = "text/plain; charset=utf-8";
    }
    finish(r);
}

void ferry_route_fail(ferry_route_req_t *r, int status, const char *app_code, const char *fmt, ...)
{
    char body[768];
    int n = 0;
    va_list ap;
    if (app_code != NULL) {
        ferry_route_set_header(r, "ferry-error-code", app_code);
        n = snprintf(body, sizeof(body), "%s: ", app_code);
        if (n < 0 || (size_t)n >= sizeof(body))
            n = 0;
    }
    va_start(ap, fmt);
    vsnprintf(body + n, sizeof(body) - (size_t)n, fmt, ap);
    va_end(ap);
    strncat(body, "\n", sizeof(body) - strlen(body) - 1);
    ferry_route_reply(r, status, "text/plain; charset=utf-8", body, strlen(body));
}

void ferry_route_fail_err(ferry_route_req_t *r, const ferry_err_t *err)
{
    int status = 500;
    switch (err->code) {
    case FERRY_E_NOT_FOUND:
        status = 404;
        break;
    case FERRY_E_INVALID_ARG:
        status = 400;
        break;
    case FERRY_E_PRECONDITION:
        status = 409;
        break;
    case FERRY_E_TOO_LARGE:
        status = 413;
        break;
    case FERRY_E_NOSPACE:
        status = 507;
        break;
    default:
        break;
    }
    ferry_route_fail(r, status, ferry_err_name(err->code), "%s", err->msg);
}

void ferry_route_send_file(ferry_route_req_t *r, int fd, const char *content_type)
{
    if (!try_complete(r)) {
        if (fd >= 0)
            close(fd);
        return;
    }
    r->file_fd = fd;
    r->content_type = content_type != NULL ? hdr_dup(r, content_type) : NULL;
    finish(r);
}

/* ---- offload ---------------------------------------------------------------------------- */

typedef struct route_job {
    ferry_route_req_t *r;
    void (*fn)(ferry_route_req_t *r, void *arg);
    void *arg;
} route_job_t;

static void route_job_run(void *p)
{
    route_job_t job = *(route_job_t *)p;
    free(p);
    job.fn(job.r, job.arg);
}

ferry_err_code_t ferry_route_offload(ferry_route_req_t *r, void (*fn)(ferry_route_req_t *r, void *arg),
                                     void *arg)
{
    route_job_t *job;
    if (r->req != NULL && r->req->version >= 0x200 && r->body_len > 0 && r->body_owned == NULL) {
        if ((r->body_owned = malloc(r->body_len)) == NULL)
            return FERRY_E_NOMEM;
        memcpy(r->body_owned, r->body, r->body_len);
        r->body = r->body_owned;
    }
    if ((job = malloc(sizeof(*job))) == NULL)
        return FERRY_E_NOMEM;
    job->r = r;
    job->fn = fn;
    job->arg = arg;
    if (ferry_workers_submit(r->lt->srv->workers, route_job_run, job) != 0) {
        free(job);
        return FERRY_E_UNAVAILABLE;
    }
    return FERRY_OK;
}
