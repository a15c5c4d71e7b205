/**
 * @file call_internal.h
 * The RPC call machinery of the h2o adapter (call.c): the call object handed to
 * handlers, its arena and limits, and the entry points the server lifecycle (server.c)
 * drives it through: requests, cross-thread kicks, deadlines, shutdown, the call pool.
 *
 * Threads: the loop-only fields of a call are touched by its loop's thread only.
 * Fields under call->mu may be touched by any thread. A call is freed when call->refs
 * drops to zero.
 */
#ifndef FERRY_RPC_SERVER_CALL_INTERNAL_H
#define FERRY_RPC_SERVER_CALL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <h2o.h>

#include "ferry/rpc_server.h"
#include "runtime_internal.h"
#include "wire_internal.h"

#define MAX_CALL_HEADERS    64         /* request headers kept per call */
#define MAX_CALL_HEADER_MEM (32 << 10) /* bytes of request headers kept per call */
#define MAX_RESP_HEADERS    32
#define MAX_RESP_HEADER_MEM (16 << 10)
#define MAX_CANCEL_CBS      4
#define MAX_DATA_SLOTS      4
#define MAX_CLIENT_MSGS     100000
#define MAX_INFLIGHT_BUFS   64
#define GZIP_MIN_BYTES      1024       /* smaller responses are never compressed */
#define CALL_ARENA_INLINE   3072       /* per-call scratch kept with a pooled call */
#define CALL_ARENA_BIG      1024       /* larger allocations get a chunk of their own */
#define CALL_ARENA_MAX      (1u << 30) /* cap on everything one call may take from its arena */
#define CALL_POOL_MAX       256        /* idle call objects kept per loop thread */
#define REQUEST_ID_MAX      64         /* a client-sent ferry-request-id longer than this is ignored */

/*
 * A bump allocator owned by one call: request headers, decoded request messages,
 * response headers and the unary response body live here and go away together when
 * the call ends, so a typical call makes no malloc at all. Allocation before the call
 * is dispatched needs no lock; after that it happens under call->mu.
 */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    _Alignas(16) uint8_t data[];
} arena_chunk_t;

typedef struct call_arena {
    size_t inline_used;
    size_t total;          /* bytes handed out, for CALL_ARENA_MAX */
    arena_chunk_t *chunks; /* owned overflow chunks, newest first */
    _Alignas(16) uint8_t inline_buf[CALL_ARENA_INLINE];
} call_arena_t;

/* Kinds of calls, by the protocol and method kind. */
typedef enum call_style {
    STYLE_UNARY = 0,      /* Connect unary (POST or GET): status + body */
    STYLE_CONNECT_STREAM, /* Connect envelopes + end-stream */
    STYLE_GRPC_WEB,       /* gRPC-Web frames + trailer frame */
} call_style_t;

typedef struct outbuf {
    struct outbuf *next;
    size_t len;
    uint8_t data[];
} outbuf_t;

typedef struct resp_header {
    char *name; /* in the call's arena */
    char *value;
} resp_header_t;

typedef struct req_header {
    const char *name; /* as h2o hands it (lower-case), NUL-terminated, in the call's arena */
    const char *value;
} req_header_t;

typedef enum cancel_reason {
    CANCEL_NONE = 0,
    CANCEL_PEER,
    CANCEL_DEADLINE,
    CANCEL_SHUTDOWN,
} cancel_reason_t;

struct ferry_rpc_call {
    loop_thread_t *lt;
    const route_t *route;
    atomic_int refs;
    /* ---- loop thread only ---- */
    h2o_req_t *req; /* NULL once h2o disposed the request */
    h2o_generator_t gen;
    h2o_linklist_t link;       /* in lt->calls */
    ferry_timer_entry_t timer; /* the deadline; in lt->heap while it runs with one */
    call_style_t style;
    ferry_wire_codec_t codec;
    const char *content_type; /* static string echoed on success */
    bool resp_gzip;           /* peer accepts gzip responses */
    bool started;             /* h2o_start_response done */
    bool sending;             /* an h2o_send is in flight (streams) */
    bool stopped;             /* generator stop() ran */
    bool responded;           /* final bytes handed to h2o, or the peer is gone */
    bool completion_done;     /* the completion was processed on the loop */
    bool any_message_sent;
    bool final_sent; /* the FINAL h2o_send was made */
    bool final_gzip; /* final_body is gzip-compressed (unary) */
    ferry_rpc_code_t sent_code;
    uint8_t *end_frame;  /* the last frame of a stream, in the arena */
    size_t n_inflight;   /* entries of inflight[] (below) handed to h2o */
    uint8_t *final_body; /* unary response bytes (arena, or owned if final_body_owned) */
    size_t final_len;
    bool final_body_owned;
    bool detached_body; /* the response body handed to h2o lives in req->pool */
    uint64_t start_ns;
    h2o_multithread_message_t kick_msg;
    atomic_bool kick_pending;
    /* ---- any thread ---- */
    atomic_bool completed; /* reply/fail/finish was called */
    atomic_bool canceled;
    atomic_int cancel_reason;
    /* under mu: */
    outbuf_t *outq_head, *outq_tail;
    size_t queued_bytes; /* queued + in flight */
    bool end_queued;     /* the end-of-stream frame is in outq */
    ferry_rpc_code_t final_code;
    char app_code[48];
    char *message; /* owned, NULL = empty (errors only) */
    size_t n_resp_headers;
    size_t resp_mem_used;
    size_t n_cancel_cbs;
    struct {
        const void *key;
        void *data;
        void (*free_fn)(void *);
    } data[MAX_DATA_SLOTS];
    bool peer_done;
    atomic_int id_state; /* request_id text: 0 not written, 1 being written, 2 ready */
    uint64_t id_bits;    /* the server-made id, formatted on first use */
    /* ---- immutable after creation ---- */
    req_header_t *headers; /* in the arena */
    size_t n_headers;
    ProtobufCMessage **reqs; /* request messages: req_inline or owned array */
    size_t n_reqs;
    bool reqs_malloced; /* messages were allocated by malloc (JSON), not by the arena */
    ProtobufCMessage *req_inline[1];
    /* ---- pooling: everything above is zeroed for reuse; below, only what counts says ---- */
    ferry_rpc_call_t *pool_next;
    char request_id[REQUEST_ID_MAX + 1];          /* set when the call is attached */
    resp_header_t resp_headers[MAX_RESP_HEADERS]; /* n_resp_headers valid, under mu */
    outbuf_t *inflight[MAX_INFLIGHT_BUFS];        /* n_inflight valid (streams, loop thread) */
    struct {
        void (*fn)(ferry_rpc_call_t *, void *);
        void *arg;
    } cancel_cbs[MAX_CANCEL_CBS]; /* n_cancel_cbs valid, under mu */
    char peer[56];                /* valid once peer_done, under mu */
    struct sockaddr_in6 peer_sa;  /* or a sockaddr_in; set when attached */
    pthread_mutex_t mu;           /* guards the fields marked "any thread" */
    call_arena_t arena;
};

/** h2o's handler for every request: an RPC method of |srv|, a route by prefix, or an error. Loop thread. */
int ferry_call_on_req(ferry_rpc_server_t *srv, h2o_req_t *req);

/** The receiver of lt->receiver: processes calls completed from other threads. Loop thread. */
void ferry_call_on_kicks(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/** Answers |call| with DEADLINE_EXCEEDED unless it responded (timer entry already out). Loop thread. */
void ferry_call_expire(ferry_rpc_call_t *call);

/**
 * Answers |call| with UNAVAILABLE for shutdown unless it responded: a server stream at once,
 * a unary call only when |force| (it may finish during the grace period). Loop thread.
 */
void ferry_call_shutdown(ferry_rpc_call_t *call, bool force);

/** Frees the idle calls of |lt|'s pool, when the loop is disposed. Loop thread. */
void ferry_call_pool_drain(loop_thread_t *lt);

#endif
