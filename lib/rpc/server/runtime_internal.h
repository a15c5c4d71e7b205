/**
 * @file runtime_internal.h
 * What the parts of the h2o adapter share on a loop thread: the server object and its
 * loop threads, the method index, the loop of the calling thread and the clock.
 * server.c starts and stops them; call.c (RPC calls), route.c (transfer routes) and
 * timer.c (deadlines) run on them. runtime.c defines the few functions they all use,
 * so that none of those files needs another for them.
 *
 * Threads: every field of a loop_thread_t is touched by that loop's thread only.
 */
#ifndef FERRY_RPC_SERVER_RUNTIME_INTERNAL_H
#define FERRY_RPC_SERVER_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>

#include "ferry/rpc_route.h"
#include "ferry/rpc_server.h"
#include "workers_internal.h"

#define MAX_INTERCEPTORS 16
#define MAX_HTTP_ROUTES  32

typedef struct route {
    const ferry_rpc_method_t *method;
    size_t path_len;         /* strlen(method->path) */
    ferry_rpc_handler_fn fn; /* NULL = unimplemented */
    void *user;
} route_t;

typedef struct http_route {
    char *prefix; /* owned */
    size_t len;
    ferry_http_handler_fn fn; /* a raw route, or */
    ferry_route_fn route_fn;  /* a transfer route (route.c) */
    void *user;
} http_route_t;

typedef struct loop_thread loop_thread_t;

/* A place in a loop's deadline heap (timer.c), kept inside what has the deadline. */
typedef struct ferry_timer_entry {
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
    size_t heap_idx;      /* SIZE_MAX when not in the heap */
} ferry_timer_entry_t;

struct loop_thread {
    ferry_rpc_server_t *srv;
    unsigned index;
    pthread_t tid;
    bool running;   /* thread created and not joined */
    bool init_done; /* loop_init ran on the thread (under srv->life_mu) */
    bool stopped;   /* the event loop returned (under srv->life_mu) */
    bool disposed;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    bool ctx_ready;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;       /* call kicks from other threads */
    h2o_multithread_receiver_t route_receiver; /* transfer-route completions from workers */
    size_t n_route_reqs;                       /* live transfer-route requests (route.c) */
    int timer_fd;
    h2o_socket_t *timer_sock;
    uint64_t timer_armed_ns; /* 0 = disarmed */
    int shutdown_pipe[2];    /* ferry_rpc_server_shutdown() writes one byte */
    h2o_socket_t *shutdown_sock;
    /* deadline min-heap (timer.c) of calls' timer entries (owned array, borrowed entries) */
    ferry_timer_entry_t **heap;
    size_t heap_len, heap_cap;
    h2o_linklist_t calls; /* live calls of this thread */
    size_t n_calls;
    bool shutting_down;
    bool forced;
    uint64_t force_at_ns;
    uint64_t rng;
    ferry_rpc_call_t *pool; /* idle calls, linked through pool_next */
    size_t n_pool;
};

struct ferry_rpc_server {
    ferry_rpc_server_config_t cfg; /* defaults applied; strings below owned */
    char *host, *tls_cert, *tls_key;
    h2o_globalconf_t globalconf;
    bool globalconf_ready;
    SSL_CTX *ssl_ctx;
    /* method lookup: open addressing over routes (power-of-two size) */
    route_t *routes;
    size_t n_routes;
    route_t **route_index;
    size_t route_index_size;
    ferry_rpc_interceptor_t interceptors[MAX_INTERCEPTORS];
    size_t n_interceptors;
    http_route_t http_routes[MAX_HTTP_ROUTES];
    size_t n_http_routes;
    loop_thread_t *threads;
    unsigned n_threads;
    ferry_workers_t *workers;
    uint16_t port;
    bool started;
    atomic_bool shutdown_requested;
    /* loop thread life cycle: init results, stop, permission to dispose */
    pthread_mutex_t life_mu;
    pthread_cond_t life_cv;
    bool life_ready;
    ferry_err_code_t init_rc;
    ferry_err_t init_err;
    bool dispose_ok;
};

/** The loop thread the caller runs on, NULL on any other thread. */
extern _Thread_local loop_thread_t *ferry_tls_loop;

/** CLOCK_MONOTONIC in nanoseconds: the clock of every deadline and duration here. */
uint64_t ferry_now_ns(void);

/**
 * Builds |srv|'s method index over srv->routes (fills each route's path_len). Once, at
 * start, before any loop runs. FERRY_E_NOMEM on failure.
 */
ferry_err_code_t ferry_server_build_index(ferry_rpc_server_t *srv, ferry_err_t *err);

/** The route of the method at |path| (|len| bytes, no query), NULL when none has it. */
const route_t *ferry_server_find_route(const ferry_rpc_server_t *srv, const char *path, size_t len);

#endif
