/*
 * The h2o adapter, part 1: server lifecycle, loop threads, listeners (TLS with
 * ALPN, cleartext h2 by prior knowledge or Upgrade, HTTP/1.1 on one port, one
 * SO_REUSEPORT socket per thread), the per-thread timerfd that expires calls past
 * their deadline (the heap behind it is timer.c) and graceful shutdown.
 */
#include "call_internal.h"
#include "route_internal.h"
#include "runtime_internal.h"
#include "timer_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/log.h"

#define MAX_SERVICES     64
#define MAX_METHODS      4096
#define MAX_WORKER_QUEUE 65536

typedef struct rpc_handler {
    h2o_handler_t super;
    ferry_rpc_server_t *srv;
} rpc_handler_t;

/* ---- config ------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    rpc_handler_t *h = (rpc_handler_t *)self;
    return ferry_call_on_req(h->srv, req);
}

static ferry_err_code_t setup_tls(ferry_rpc_server_t *srv, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "SSL_CTX_new failed");
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, srv->tls_cert) != 1) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "TLS certificate '%s': %s", srv->tls_cert,
                           ERR_reason_error_string(ERR_get_error()));
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, srv->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "TLS key '%s': %s", srv->tls_key,
                           ERR_reason_error_string(ERR_get_error()));
        goto out;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols);
    srv->ssl_ctx = ctx;
    ctx = NULL;
out:
    SSL_CTX_free(ctx);
    return rc;
}

ferry_rpc_server_t *ferry_rpc_server_new(const ferry_rpc_server_config_t *cfg, ferry_err_t *err)
{
    ferry_rpc_server_t *srv = calloc(1, sizeof(*srv));
    ferry_rpc_server_t *ret = NULL;
    if (srv == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc server: out of memory");
        goto out;
    }
    pthread_mutex_init(&srv->life_mu, NULL);
    pthread_cond_init(&srv->life_cv, NULL);
    srv->life_ready = true;
    if (cfg != NULL)
        srv->cfg = *cfg;
    ferry_rpc_server_config_t *c = &srv->cfg;
    srv->host = strdup(c->host != NULL ? c->host : "127.0.0.1");
    srv->tls_cert = dup_or_null(c->tls_cert_file);
    srv->tls_key = dup_or_null(c->tls_key_file);
    c->host = srv->host;
    c->tls_cert_file = srv->tls_cert;
    c->tls_key_file = srv->tls_key;
    if (c->threads == 0)
        c->threads = 2;
    if (c->workers == 0)
        c->workers = 4;
    if (c->max_message_bytes == 0)
        c->max_message_bytes = 4u << 20;
    if (c->max_request_bytes == 0)
        c->max_request_bytes = 16u << 20;
    if (c->max_stream_queue == 0)
        c->max_stream_queue = 1u << 20;
    if (c->shutdown_grace_ms == 0)
        c->shutdown_grace_ms = 10000;
    if (c->threads > 256 || c->workers > 1024) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "rpc server: too many threads (%u loops, %u workers)",
                      c->threads, c->workers);
        goto out;
    }
    if (c->max_message_bytes > UINT32_MAX) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "rpc server: max_message_bytes over 4 GiB");
        goto out;
    }
    if ((srv->tls_cert == NULL) != (srv->tls_key == NULL)) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "rpc server: TLS needs both a certificate and a key file");
        goto out;
    }
    if (srv->host == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc server: out of memory");
        goto out;
    }
    if (srv->tls_cert != NULL && setup_tls(srv, err) != FERRY_OK)
        goto out;
    /* h2o buffers each request body in malloc'd memory that doubles as it fills (a 2 MiB
     * upload chunk ends in a 4 MiB buffer). Left alone, glibc raises its mmap threshold to
     * the largest mapped block freed and its trim threshold to twice that: after one 8 MiB
     * chunk ferryd kept ~50 MB. Mapping every large block afresh (a fixed 256 KiB
     * threshold) returned it all but cost a page fault per 4 KiB of every body, most of an
     * upload's CPU (faults are slow under virtualisation). Fixed values in between: blocks
     * under 8 MiB come from the loop threads' arenas and up to 8 MiB of free top is kept
     * for the next body (no faults), anything larger is a mapping given back at free.
     * Process-wide, once; FERRY_MALLOC_DEFAULTS=1 keeps glibc's own policy (benchmarks). */
    const char *md = getenv("FERRY_MALLOC_DEFAULTS");
    if (md == NULL || strcmp(md, "1") != 0) {
        mallopt(M_MMAP_THRESHOLD, 8 << 20);
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
    }

    h2o_config_init(&srv->globalconf);
    srv->globalconf_ready = true;
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("ferry"));
    srv->globalconf.max_request_entity_size = c->max_request_bytes;
    srv->globalconf.http1.upgrade_to_http2 = 1;
    srv->globalconf.http2.graceful_shutdown_timeout = c->shutdown_grace_ms;
    h2o_hostconf_t *host =
        h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    rpc_handler_t *h = (rpc_handler_t *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
    ret = srv;
    srv = NULL;
out:
    ferry_rpc_server_free(srv);
    return ret;
}

ferry_err_code_t ferry_rpc_server_register(ferry_rpc_server_t *srv, const ferry_rpc_service_desc_t *svc,
                                           const ferry_rpc_handler_fn *handlers, void *user, ferry_err_t *err)
{
    if (srv->started)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "register '%s': server already started", svc->name);
    if (srv->n_routes + svc->n_methods > MAX_METHODS)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "register '%s': more than %d methods", svc->name,
                             MAX_METHODS);
    route_t *r = realloc(srv->routes, (srv->n_routes + svc->n_methods) * sizeof(*r));
    if (r == NULL && srv->n_routes + svc->n_methods > 0)
        return ferry_err_set(err, FERRY_E_NOMEM, "register '%s': out of memory", svc->name);
    srv->routes = r;
    for (size_t i = 0; i < svc->n_methods; i++) {
        const ferry_rpc_method_t *m = &svc->methods[i];
        for (size_t j = 0; j < srv->n_routes; j++)
            if (strcmp(srv->routes[j].method->path, m->path) == 0)
                return ferry_err_set(err, FERRY_E_EXISTS, "register '%s': method %s registered twice",
                                     svc->name, m->path);
        srv->routes[srv->n_routes].method = m;
        srv->routes[srv->n_routes].fn = handlers != NULL ? handlers[i] : NULL;
        srv->routes[srv->n_routes].user = user;
        srv->n_routes++;
    }
    if (svc->json_files != NULL)
        for (size_t i = 0; svc->json_files[i] != NULL; i++)
            ferry_json_register_file(svc->json_files[i]);
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_server_add_interceptor(ferry_rpc_server_t *srv, const ferry_rpc_interceptor_t *ic,
                                                  ferry_err_t *err)
{
    if (srv->started)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "add interceptor: server already started");
    if (srv->n_interceptors >= MAX_INTERCEPTORS)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "add interceptor: more than %d", MAX_INTERCEPTORS);
    srv->interceptors[srv->n_interceptors++] = *ic;
    return FERRY_OK;
}

static ferry_err_code_t add_http_route(ferry_rpc_server_t *srv, const char *path_prefix,
                                       ferry_http_handler_fn fn, ferry_route_fn route_fn, void *user,
                                       ferry_err_t *err)
{
    if (srv->started)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "add route '%s': server already started",
                             path_prefix);
    if (srv->n_http_routes >= MAX_HTTP_ROUTES)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "add route '%s': more than %d routes", path_prefix,
                             MAX_HTTP_ROUTES);
    char *p = strdup(path_prefix);
    if (p == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "add route: out of memory");
    http_route_t *r = &srv->http_routes[srv->n_http_routes++];
    r->prefix = p;
    r->len = strlen(p);
    r->fn = fn;
    r->route_fn = route_fn;
    r->user = user;
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_server_add_route(ferry_rpc_server_t *srv, const char *path_prefix,
                                            ferry_http_handler_fn fn, void *user, ferry_err_t *err)
{
    return add_http_route(srv, path_prefix, fn, NULL, user, err);
}

ferry_err_code_t ferry_rpc_server_add_transfer_route(ferry_rpc_server_t *srv, const char *path_prefix,
                                                     ferry_route_fn fn, void *user, ferry_err_t *err)
{
    return add_http_route(srv, path_prefix, NULL, fn, user, err);
}

uint16_t ferry_rpc_server_port(const ferry_rpc_server_t *srv)
{
    return srv->port;
}

/* ---- deadline timer ---------------------------------------------------------- */

static void force_close(loop_thread_t *lt);

static void on_timer(h2o_socket_t *sock, const char *err)
{
    loop_thread_t *lt = sock->data;
    h2o_buffer_consume(&sock->input, sock->input->size);
    uint64_t now = ferry_now_ns();
    lt->timer_armed_ns = 0; /* fired: re-arm below */
    while (lt->heap_len > 0 && lt->heap[0]->deadline_ns <= now) {
        ferry_rpc_call_t *call = H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, timer, lt->heap[0]);
        ferry_timer_remove(lt, &call->timer);
        ferry_call_expire(call);
    }
    if (lt->shutting_down && !lt->forced && now >= lt->force_at_ns)
        force_close(lt);
    ferry_timer_arm(lt);
}

/* ---- shutdown --------------------------------------------------------------------- */

static bool conns_empty(loop_thread_t *lt)
{
    return h2o_linklist_is_empty(&lt->ctx.http1._conns) && h2o_linklist_is_empty(&lt->ctx.http2._conns);
}

static bool should_exit(loop_thread_t *lt)
{
    if (!lt->shutting_down || lt->n_calls > 0 || lt->n_route_reqs > 0)
        return false;
    if (conns_empty(lt))
        return true;
    /* After the grace period, stragglers (idle HTTP/1 keep-alives) do not hold us. */
    return lt->forced && ferry_now_ns() >= lt->force_at_ns + 1000000000ull;
}

static void force_close(loop_thread_t *lt)
{
    lt->forced = true;
    for (h2o_linklist_t *n = lt->calls.next, *next; n != &lt->calls; n = next) {
        next = n->next;
        ferry_call_shutdown(H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, link, n), true);
    }
    ferry_route_force_close(lt);
}

static void begin_shutdown(loop_thread_t *lt)
{
    if (lt->shutting_down)
        return;
    lt->shutting_down = true;
    lt->force_at_ns = ferry_now_ns() + (uint64_t)lt->srv->cfg.shutdown_grace_ms * 1000000ull;
    if (lt->listener != NULL) {
        h2o_socket_read_stop(lt->listener);
        h2o_socket_close(lt->listener);
        lt->listener = NULL;
        lt->listen_fd = -1;
    }
    h2o_context_request_shutdown(&lt->ctx);
    for (h2o_linklist_t *n = lt->calls.next, *next; n != &lt->calls; n = next) {
        next = n->next;
        ferry_call_shutdown(H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, link, n), false);
    }
    ferry_timer_arm(lt);
}

static void on_shutdown_pipe(h2o_socket_t *sock, const char *err)
{
    loop_thread_t *lt = sock->data;
    h2o_buffer_consume(&sock->input, sock->input->size);
    begin_shutdown(lt);
}

void ferry_rpc_server_shutdown(ferry_rpc_server_t *srv)
{
    /* Async-signal-safe: an atomic store and write(2) only. */
    if (srv == NULL || atomic_exchange(&srv->shutdown_requested, true))
        return;
    for (unsigned i = 0; i < srv->n_threads; i++) {
        int fd = srv->threads[i].shutdown_pipe[1];
        if (fd >= 0) {
            ssize_t w = write(fd, "x", 1);
            (void)w;
        }
    }
}

/* ---- accept + loop threads ----------------------------------------------------- */

static void on_accept(h2o_socket_t *listener, const char *err)
{
    loop_thread_t *lt = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        h2o_accept(&lt->accept_ctx, sock);
    }
}

static int make_listener(const ferry_rpc_server_t *srv, const struct addrinfo *ai, uint16_t port,
                         uint16_t *bound_port, ferry_err_t *err)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)ai->ai_addrlen;
    if (fd < 0) {
        ferry_err_set_errno(err, FERRY_E_IO, errno, "socket");
        goto fail;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        ferry_err_set_errno(err, FERRY_E_IO, errno, "SO_REUSEPORT");
        goto fail;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        ferry_err_set_errno(err, FERRY_E_IO, errno, "bind %s:%u", srv->host, port);
        goto fail;
    }
    if (listen(fd, SOMAXCONN) != 0) {
        ferry_err_set_errno(err, FERRY_E_IO, errno, "listen %s:%u", srv->host, port);
        goto fail;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

static ferry_err_code_t loop_init(ferry_rpc_server_t *srv, loop_thread_t *lt, ferry_err_t *err);
static void loop_dispose(loop_thread_t *lt);

/*
 * A loop thread creates, runs and destroys its own h2o objects: h2o keeps per-thread
 * state (the socket input-buffer recycle list is a __thread variable captured when a
 * socket is created), so a socket made on another thread would share that thread's
 * unlocked list with this one.
 */
static void *loop_main(void *arg)
{
    loop_thread_t *lt = arg;
    ferry_rpc_server_t *srv = lt->srv;
    ferry_err_t err = {0};
    /* h2o writes with writev(): a peer that closed its socket raises SIGPIPE in this
     * thread, which would kill the whole embedding process (ferryd, tests, anything
     * linking the runtime). Blocked here, the write fails with EPIPE and h2o closes
     * the connection, whatever the process's own SIGPIPE disposition is. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    ferry_tls_loop = lt;
    ferry_err_code_t rc = loop_init(srv, lt, &err);
    pthread_mutex_lock(&srv->life_mu);
    if (rc != FERRY_OK && srv->init_rc == FERRY_OK) {
        srv->init_rc = rc;
        srv->init_err = err;
    }
    lt->init_done = true;
    pthread_cond_broadcast(&srv->life_cv);
    pthread_mutex_unlock(&srv->life_mu);
    if (rc == FERRY_OK)
        while (!should_exit(lt))
            h2o_evloop_run(lt->loop, lt->shutting_down ? 100 : INT32_MAX);
    /* Offloaded jobs may still complete calls and post to this loop's queue: dispose
     * only once ferry_rpc_server_wait() has drained the worker pool. */
    pthread_mutex_lock(&srv->life_mu);
    lt->stopped = true;
    pthread_cond_broadcast(&srv->life_cv);
    while (!srv->dispose_ok)
        pthread_cond_wait(&srv->life_cv, &srv->life_mu);
    pthread_mutex_unlock(&srv->life_mu);
    loop_dispose(lt);
    return NULL;
}

/* Tears down one loop's h2o objects and fds, on the thread that made them (or on the
 * caller's, if the loop thread never ran and only fds exist). */
static void loop_dispose(loop_thread_t *lt)
{
    if (lt->disposed)
        return;
    lt->disposed = true;
    if (lt->loop == NULL) {
        if (lt->listen_fd >= 0)
            close(lt->listen_fd);
        if (lt->timer_fd >= 0)
            close(lt->timer_fd);
        if (lt->shutdown_pipe[0] >= 0)
            close(lt->shutdown_pipe[0]);
        if (lt->shutdown_pipe[1] >= 0)
            close(lt->shutdown_pipe[1]);
        lt->listen_fd = lt->timer_fd = lt->shutdown_pipe[0] = lt->shutdown_pipe[1] = -1;
        goto out;
    }
    ferry_tls_loop = lt;
    if (lt->listener != NULL)
        h2o_socket_close(lt->listener);
    else if (lt->listen_fd >= 0)
        close(lt->listen_fd);
    if (lt->timer_sock != NULL)
        h2o_socket_close(lt->timer_sock);
    else if (lt->timer_fd >= 0)
        close(lt->timer_fd);
    if (lt->shutdown_sock != NULL)
        h2o_socket_close(lt->shutdown_sock);
    else if (lt->shutdown_pipe[0] >= 0)
        close(lt->shutdown_pipe[0]);
    if (lt->shutdown_pipe[1] >= 0)
        close(lt->shutdown_pipe[1]);
    lt->shutdown_pipe[0] = lt->shutdown_pipe[1] = -1;
    if (lt->ctx_ready) {
        if (lt->receiver.queue != NULL)
            h2o_multithread_unregister_receiver(lt->ctx.queue, &lt->receiver);
        if (lt->route_receiver.queue != NULL)
            h2o_multithread_unregister_receiver(lt->ctx.queue, &lt->route_receiver);
        if (!conns_empty(lt) || lt->n_calls > 0 || lt->n_route_reqs > 0) {
            /* h2o cannot dispose a context with live connections: leave them to exit. */
            FERRY_WARN("rpc: loop %u exits with %s still open", lt->index,
                       lt->n_calls > 0 ? "calls" : "connections");
            goto out;
        }
        h2o_evloop_run(lt->loop, 0); /* frees the closed sockets */
        /* h2o's graceful-shutdown GOAWAY timer stays linked for a second even with no
         * connections; the context cannot be disposed with a linked entry. */
        if (h2o_timeout_is_linked(&lt->ctx.http2._graceful_shutdown_timeout))
            h2o_timeout_unlink(&lt->ctx.http2._graceful_shutdown_timeout);
        h2o_multithread_queue_t *queue = lt->ctx.queue;
        h2o_context_dispose(&lt->ctx);
        h2o_evloop_run(lt->loop, 0); /* frees the queue's closed socket */
        /* libh2o 2.2.5 (evloop) closes but never frees the queue object. */
        free(queue);
    }
    h2o_evloop_destroy(lt->loop);
    lt->loop = NULL;
out:
    ferry_call_pool_drain(lt);
    free(lt->heap);
    lt->heap = NULL;
    ferry_tls_loop = NULL;
}

/* Builds the loop's h2o objects around the fds start() made. Loop thread. */
static ferry_err_code_t loop_init(ferry_rpc_server_t *srv, loop_thread_t *lt, ferry_err_t *err)
{
    lt->loop = h2o_evloop_create();
    h2o_context_init(&lt->ctx, lt->loop, &srv->globalconf);
    lt->ctx_ready = true;
    lt->accept_ctx.ctx = &lt->ctx;
    lt->accept_ctx.hosts = srv->globalconf.hosts;
    lt->accept_ctx.ssl_ctx = srv->ssl_ctx;
    lt->listener = h2o_evloop_socket_create(lt->loop, lt->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    lt->listener->data = lt;
    h2o_socket_read_start(lt->listener, on_accept);
    h2o_multithread_register_receiver(lt->ctx.queue, &lt->receiver, ferry_call_on_kicks);
    h2o_multithread_register_receiver(lt->ctx.queue, &lt->route_receiver, ferry_route_on_kicks);
    lt->timer_sock = h2o_evloop_socket_create(lt->loop, lt->timer_fd, 0);
    lt->timer_sock->data = lt;
    h2o_socket_read_start(lt->timer_sock, on_timer);
    /* A shutdown requested before this point is already a byte in the pipe. */
    lt->shutdown_sock = h2o_evloop_socket_create(lt->loop, lt->shutdown_pipe[0], 0);
    lt->shutdown_sock->data = lt;
    h2o_socket_read_start(lt->shutdown_sock, on_shutdown_pipe);
    (void)err; /* nothing here fails short of an abort inside h2o */
    return FERRY_OK;
}

/* The fds of one loop, made on the caller's thread so errors surface from start(). */
static ferry_err_code_t loop_fds(loop_thread_t *lt, ferry_err_t *err)
{
    lt->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (lt->timer_fd < 0)
        return ferry_err_set_errno(err, FERRY_E_IO, errno, "rpc server: timerfd_create");
    if (pipe2(lt->shutdown_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return ferry_err_set_errno(err, FERRY_E_IO, errno, "rpc server: pipe");
    return FERRY_OK;
}

ferry_err_code_t ferry_rpc_server_start(ferry_rpc_server_t *srv, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    struct addrinfo hints = {0}, *ai = NULL;
    char portstr[8];
    if (srv->started)
        return ferry_err_set(err, FERRY_E_PRECONDITION, "rpc server: already started");
    srv->started = true;
    if ((rc = ferry_server_build_index(srv, err)) != FERRY_OK)
        goto out;
    srv->workers = ferry_workers_new(srv->cfg.workers, MAX_WORKER_QUEUE);
    if (srv->workers == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "rpc server: cannot start the worker pool");
        goto out;
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%u", srv->cfg.port);
    int gai = getaddrinfo(srv->host, portstr, &hints, &ai);
    if (gai != 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "rpc server: listen address '%s': %s", srv->host,
                           gai_strerror(gai));
        goto out;
    }
    srv->threads = calloc(srv->cfg.threads, sizeof(*srv->threads));
    if (srv->threads == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "rpc server: out of memory");
        goto out;
    }
    uint16_t port = srv->cfg.port;
    for (unsigned i = 0; i < srv->cfg.threads; i++) {
        loop_thread_t *lt = &srv->threads[i];
        lt->srv = srv;
        lt->index = i;
        lt->listen_fd = lt->timer_fd = -1;
        lt->shutdown_pipe[0] = lt->shutdown_pipe[1] = -1;
        h2o_linklist_init_anchor(&lt->calls);
        ferry_random_bytes(&lt->rng, sizeof(lt->rng), NULL);
        lt->rng |= 1;
        srv->n_threads++;
        int fd = make_listener(srv, ai, port, &port, err);
        if (fd < 0) {
            rc = ferry_err_prefix(err, "rpc server");
            goto out;
        }
        lt->listen_fd = fd;
        if ((rc = loop_fds(lt, err)) != FERRY_OK)
            goto out;
    }
    srv->port = port;
    for (unsigned i = 0; i < srv->n_threads; i++) {
        if (pthread_create(&srv->threads[i].tid, NULL, loop_main, &srv->threads[i]) != 0) {
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "rpc server: pthread_create");
            goto out;
        }
        srv->threads[i].running = true;
    }
    pthread_mutex_lock(&srv->life_mu);
    for (unsigned i = 0; i < srv->n_threads; i++)
        while (!srv->threads[i].init_done)
            pthread_cond_wait(&srv->life_cv, &srv->life_mu);
    rc = srv->init_rc;
    if (rc != FERRY_OK && err != NULL)
        *err = srv->init_err;
    pthread_mutex_unlock(&srv->life_mu);
    if (rc != FERRY_OK)
        goto out;
    FERRY_INFO("rpc: listening on %s:%u (%s, %u threads)", srv->host, srv->port,
               srv->ssl_ctx ? "TLS h2/http1.1" : "cleartext h2c/http1.1", srv->n_threads);
out:
    if (ai != NULL)
        freeaddrinfo(ai);
    if (rc != FERRY_OK) {
        ferry_rpc_server_shutdown(srv);
        ferry_rpc_server_wait(srv);
    }
    return rc;
}

void ferry_rpc_server_wait(ferry_rpc_server_t *srv)
{
    if (srv == NULL || srv->threads == NULL)
        return;
    pthread_mutex_lock(&srv->life_mu);
    for (unsigned i = 0; i < srv->n_threads; i++)
        while (srv->threads[i].running && !srv->threads[i].stopped)
            pthread_cond_wait(&srv->life_cv, &srv->life_mu);
    pthread_mutex_unlock(&srv->life_mu);
    /* Offloaded jobs may still complete calls; they only post to the (stopped) loops,
     * which dispose of their queues once the pool is gone. */
    ferry_workers_free(srv->workers);
    srv->workers = NULL;
    pthread_mutex_lock(&srv->life_mu);
    srv->dispose_ok = true;
    pthread_cond_broadcast(&srv->life_cv);
    pthread_mutex_unlock(&srv->life_mu);
    for (unsigned i = 0; i < srv->n_threads; i++) {
        loop_thread_t *lt = &srv->threads[i];
        if (lt->running) {
            pthread_join(lt->tid, NULL);
            lt->running = false;
        } else {
            loop_dispose(lt); /* never ran: only fds to close */
        }
    }
}

void ferry_rpc_server_free(ferry_rpc_server_t *srv)
{
    if (srv == NULL)
        return;
    ferry_rpc_server_wait(srv);
    free(srv->threads);
    if (srv->globalconf_ready)
        h2o_config_dispose(&srv->globalconf);
    SSL_CTX_free(srv->ssl_ctx);
    for (size_t i = 0; i < srv->n_http_routes; i++)
        free(srv->http_routes[i].prefix);
    free(srv->routes);
    free(srv->route_index);
    free(srv->host);
    free(srv->tls_cert);
    free(srv->tls_key);
    if (srv->life_ready) {
        pthread_mutex_destroy(&srv->life_mu);
        pthread_cond_destroy(&srv->life_cv);
    }
    free(srv);
}

/* ---- plain HTTP helpers --------------------------------------------------------------- */

void ferry_http_req_view(void *h2o_req, ferry_http_req_view_t *out)
{
    h2o_req_t *req = h2o_req;
    out->method = req->method.base;
    out->method_len = req->method.len;
    out->path = req->path.base;
    out->path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    out->query = req->query_at != SIZE_MAX ? req->path.base + req->query_at + 1 : NULL;
    out->query_len = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
}

const char *ferry_http_req_header(void *h2o_req, const char *name, size_t *len)
{
    h2o_req_t *req = h2o_req;
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    if (len != NULL)
        *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

void ferry_http_reply(void *h2o_req, int status, const char *content_type, const void *body, size_t len)
{
    h2o_req_t *req = h2o_req;
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Error";
    if (content_type != NULL)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    h2o_send_inline(req, body, len);
}
