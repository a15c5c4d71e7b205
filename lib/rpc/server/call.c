/*
 * The h2o adapter, part 2: request dispatch (routing, protocol negotiation, body
 * decoding), the call object handed to handlers, completion from any thread
 * (posted back to the loop through h2o's multithread queue), streaming with flow
 * control (one h2o_send in flight, the next after proceed()), deadlines,
 * cancellation and shutdown of individual calls. Protocol details (headers,
 * error bodies, trailers) come from the pure functions in wire.c.
 */
#include "call_internal.h"
#include "route_internal.h"
#include "runtime_internal.h"
#include "timer_internal.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/encoding.h"
#include "ferry/json.h"
#include "ferry/log.h"

#define ERR_JSON_MAX  2048
#define POOL_COPY_MAX (16 << 10) /* unary bodies up to this size are copied into h2o's pool */
#define TRAILER_MAX   4096
#define CT_JSON       "application/json"
#define H_REQUEST_ID  "ferry-request-id"
#define H_ERROR_CODE  "ferry-error-code"

static void call_release(ferry_rpc_call_t *call);
static void process(ferry_rpc_call_t *call);
static void *pb_arena_alloc(void *data, size_t size);
static void pb_arena_free(void *data, void *p);
static void *arena_alloc(call_arena_t *a, size_t n);

/* ---- small h2o helpers ------------------------------------------------------------- */

static void add_hdr(h2o_req_t *req, const char *name, const char *value, size_t vlen)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, value, vlen);
}

static void add_hdr_dup(h2o_req_t *req, const char *name, const char *value)
{
    size_t n = strlen(value);
    char *v = h2o_mem_alloc_pool(&req->pool, n + 1);
    memcpy(v, value, n + 1);
    add_hdr(req, name, v, n);
}

static const h2o_iovec_t *find_hdr(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i >= 0 ? &req->headers.entries[i].value : NULL;
}

static const char *stream_ct(ferry_wire_protocol_t p, ferry_wire_codec_t c)
{
    switch (p) {
    case FERRY_WIRE_CONNECT_UNARY:
        return c == FERRY_WIRE_CODEC_JSON ? CT_JSON : "application/proto";
    case FERRY_WIRE_CONNECT_STREAM:
        return c == FERRY_WIRE_CODEC_JSON ? "application/connect+json" : "application/connect+proto";
    case FERRY_WIRE_GRPC_WEB:
        return c == FERRY_WIRE_CODEC_JSON ? "application/grpc-web+json" : "application/grpc-web+proto";
    case FERRY_WIRE_GRPC:
        return "application/grpc";
    default:
        return CT_JSON;
    }
}

/* Adds grpc-status / grpc-message (+ details) as headers: a trailers-only response. */
static void add_grpc_status_headers(h2o_req_t *req, ferry_rpc_code_t code, const char *msg, const char *app)
{
    char buf[TRAILER_MAX];
    char num[16];
    snprintf(num, sizeof(num), "%d", (int)code);
    add_hdr_dup(req, "grpc-status", num);
    ferry_wire_grpc_percent_encode(msg != NULL ? msg : "", buf, sizeof(buf));
    add_hdr_dup(req, "grpc-message", buf);
    if (app != NULL && app[0]) {
        add_hdr_dup(req, H_ERROR_CODE, app);
        if (ferry_wire_grpc_status_details(code, msg, app, buf, sizeof(buf)) > 0)
            add_hdr_dup(req, "grpc-status-details-bin", buf);
    }
}

/*
 * Answers a request that never became a call (routing and protocol errors).
 * |http_status| 0 = the code's HTTP status.
 */
static int send_early_error(h2o_req_t *req, ferry_wire_protocol_t proto, ferry_wire_codec_t codec,
                            ferry_rpc_code_t code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int send_early_error(h2o_req_t *req, ferry_wire_protocol_t proto, ferry_wire_codec_t codec,
                            ferry_rpc_code_t code, int http_status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (http_status == 0 && (proto == FERRY_WIRE_GRPC_WEB || proto == FERRY_WIRE_GRPC)) {
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       h2o_strdup(&req->pool, stream_ct(proto, codec), SIZE_MAX).base,
                       strlen(stream_ct(proto, codec)));
        add_grpc_status_headers(req, code, msg, NULL);
        h2o_send_inline(req, "", 0);
        return 0;
    }
    if (http_status == 0 && proto == FERRY_WIRE_CONNECT_STREAM) {
        char *body = h2o_mem_alloc_pool(&req->pool, ERR_JSON_MAX + FERRY_ENVELOPE_HEADER_LEN);
        size_t n =
            ferry_wire_end_stream_json(code, msg, NULL, body + FERRY_ENVELOPE_HEADER_LEN, ERR_JSON_MAX);
        ferry_envelope_write_header((uint8_t *)body, FERRY_ENVELOPE_END_STREAM, (uint32_t)n);
        req->res.status = 200;
        req->res.reason = "OK";
        const char *ct = stream_ct(proto, codec);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, strlen(ct));
        h2o_send_inline(req, body, n + FERRY_ENVELOPE_HEADER_LEN);
        return 0;
    }
    char *body = h2o_mem_alloc_pool(&req->pool, ERR_JSON_MAX);
    size_t n = ferry_wire_error_json(code, msg, NULL, body, ERR_JSON_MAX);
    req->res.status = http_status ? http_status : ferry_rpc_code_to_http(code);
    req->res.reason = "Error";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT(CT_JSON));
    if (req->res.status == 405)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("POST"));
    h2o_send_inline(req, body, n);
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------ */

typedef struct decode_err {
    ferry_rpc_code_t code;
    char msg[512];
} decode_err_t;

static bool fail_decode(decode_err_t *de, ferry_rpc_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail_decode(decode_err_t *de, ferry_rpc_code_t code, const char *fmt, ...)
{
    va_list ap;
    de->code = code;
    va_start(ap, fmt);
    vsnprintf(de->msg, sizeof(de->msg), fmt, ap);
    va_end(ap);
    return false;
}

/*
 * Decodes one message (decompressing first when |gz|) into |call|'s arena (binary) or
 * malloc (JSON: then call->reqs_malloced is set), appending it to call->reqs.
 */
static bool decode_one(const ferry_rpc_server_t *srv, ferry_rpc_call_t *call,
                       const ProtobufCMessageDescriptor *desc, ferry_wire_codec_t codec, const uint8_t *data,
                       size_t len, bool gz, decode_err_t *de)
{
    ProtobufCMessage *msg = NULL;
    ProtobufCMessage **out = &msg;
    uint8_t *plain = NULL;
    bool ok = false;
    ferry_err_t err;
    size_t max = srv->cfg.max_message_bytes;
    err.code = FERRY_OK;
    err.msg[0] = '\0';
    *out = NULL;
    if (gz && len > 0) {
        size_t plen;
        ferry_err_code_t rc = ferry_gzip_decompress(data, len, max, &plain, &plen, &err);
        if (rc == FERRY_E_TOO_LARGE) {
            fail_decode(de, FERRY_RPC_RESOURCE_EXHAUSTED, "message larger than %zu bytes after decompression",
                        max);
            goto out;
        }
        if (rc != FERRY_OK) {
            fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "cannot decompress the message: %s", err.msg);
            goto out;
        }
        data = plain;
        len = plen;
    } else if (len > max) {
        fail_decode(de, FERRY_RPC_RESOURCE_EXHAUSTED, "message of %zu bytes exceeds the limit of %zu bytes",
                    len, max);
        goto out;
    }
    if (codec == FERRY_WIRE_CODEC_JSON) {
        if (len == 0) {
            data = (const uint8_t *)"{}";
            len = 2;
        }
        call->reqs_malloced = true;
        if (ferry_json_decode(desc, (const char *)data, len, out, &err) != FERRY_OK) {
            fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "cannot decode %s from JSON: %s", desc->name,
                        err.msg);
            goto out;
        }
    } else {
        /* protobuf-c would truncate strings at U+0000 and accept invalid UTF-8. */
        if (ferry_pb_check(desc, data, len, &err) != FERRY_OK) {
            fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "cannot decode %s: %s", desc->name, err.msg);
            goto out;
        }
        ProtobufCAllocator pa = {
            .alloc = pb_arena_alloc, .free = pb_arena_free, .allocator_data = &call->arena};
        *out = protobuf_c_message_unpack(desc, &pa, len, data);
        if (*out == NULL) {
            fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "cannot decode %s: malformed protobuf", desc->name);
            goto out;
        }
    }
    call->reqs[call->n_reqs++] = msg;
    ok = true;
out:
    free(plain);
    return ok;
}

/* Serializes |msg| into a new buffer with |prefix| spare bytes in front. */
static uint8_t *encode_msg(const ProtobufCMessage *msg, ferry_wire_codec_t codec, size_t prefix, size_t *len)
{
    uint8_t *buf = NULL;
    if (codec == FERRY_WIRE_CODEC_JSON) {
        char *json = NULL;
        size_t jlen = 0;
        ferry_err_t err = {0};
        if (ferry_json_encode(msg, 0, &json, &jlen, &err) != FERRY_OK) {
            FERRY_ERROR("rpc: cannot encode %s as JSON: %s", msg->descriptor->name, err.msg);
            return NULL;
        }
        buf = malloc(prefix + jlen + 1);
        if (buf != NULL)
            memcpy(buf + prefix, json, jlen);
        free(json);
        *len = jlen;
        return buf;
    }
    size_t n = protobuf_c_message_get_packed_size(msg);
    buf = malloc(prefix + n + 1);
    if (buf == NULL)
        return NULL;
    *len = protobuf_c_message_pack(msg, buf + prefix);
    return buf;
}

/* ---- the call object ----------------------------------------------------------------- */

static void on_req_dispose(void *p);
static void gen_proceed(h2o_generator_t *self, h2o_req_t *req);
static void gen_stop(h2o_generator_t *self, h2o_req_t *req);

static uint64_t next_id_bits(loop_thread_t *lt)
{
    uint64_t x = lt->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    lt->rng = x;
    return x * 2685821657736338717ull;
}

/* The id as text, written on first use: most successful calls never need it. */
static const char *call_id(ferry_rpc_call_t *call)
{
    static const char hex[] = "0123456789abcdef";
    int st = atomic_load_explicit(&call->id_state, memory_order_acquire);
    if (st == 2)
        return call->request_id;
    if (st == 0 && atomic_compare_exchange_strong(&call->id_state, &st, 1)) {
        uint64_t x = call->id_bits;
        for (int i = 15; i >= 0; i--, x >>= 4)
            call->request_id[i] = hex[x & 15];
        call->request_id[16] = '\0';
        atomic_store_explicit(&call->id_state, 2, memory_order_release);
        return call->request_id;
    }
    while (atomic_load_explicit(&call->id_state, memory_order_acquire) != 2)
        ; /* another thread is writing 17 bytes */
    return call->request_id;
}

/* A client-chosen id is adopted only if it is short and made of log-safe characters. */
static bool valid_request_id(const char *v, size_t len)
{
    if (len == 0 || len > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

/* ---- the call arena -------------------------------------------------------------------- */

/* Returns |n| bytes aligned to 16, or NULL past CALL_ARENA_MAX / out of memory. */
static void *arena_alloc(call_arena_t *a, size_t n)
{
    if (n <= CALL_ARENA_INLINE - a->inline_used) { /* the common case: inline space left */
        void *p = a->inline_buf + a->inline_used;
        a->inline_used += (n + 15) & ~(size_t)15;
        if (a->inline_used > CALL_ARENA_INLINE)
            a->inline_used = CALL_ARENA_INLINE; /* the last few bytes, unaligned tail */
        return p;
    }
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n || need > CALL_ARENA_MAX - a->total)
        return NULL;
    arena_chunk_t *c = a->chunks;
    if (need <= CALL_ARENA_BIG && c != NULL && c->cap - c->used >= need) {
        void *p = c->data + c->used;
        c->used += need;
        a->total += need;
        return p;
    }
    /* Big requests get their own chunk; small ones start a fresh shared chunk. */
    size_t cap = need > CALL_ARENA_BIG ? need : 4 * CALL_ARENA_INLINE;
    c = malloc(sizeof(*c) + cap);
    if (c == NULL)
        return NULL;
    c->cap = cap;
    c->used = need;
    if (need > CALL_ARENA_BIG && a->chunks != NULL) {
        /* keep the shared chunk at the head so later small requests still fit in it */
        c->next = a->chunks->next;
        a->chunks->next = c;
    } else {
        c->next = a->chunks;
        a->chunks = c;
    }
    a->total += need;
    return c->data;
}

static void arena_reset(call_arena_t *a)
{
    for (arena_chunk_t *c = a->chunks, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->chunks = NULL;
    a->inline_used = 0;
    a->total = 0;
}

/* protobuf-c output straight into the arena, starting in the inline space left. */
typedef struct arena_buf {
    ProtobufCBuffer base;
    call_arena_t *a;
    uint8_t *data;
    size_t len, cap;
    bool in_inline, failed;
} arena_buf_t;

static void arena_buf_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    arena_buf_t *ab = (arena_buf_t *)b;
    if (ab->failed)
        return;
    if (len > ab->cap - ab->len) {
        size_t cap = ab->cap * 2 > ab->len + len ? ab->cap * 2 : ab->len + len + 256;
        if (ab->in_inline) {
            ab->a->inline_used = CALL_ARENA_INLINE; /* the inline part is now this buffer's */
            ab->in_inline = false;
        }
        uint8_t *n = cap > ab->cap ? arena_alloc(ab->a, cap) : NULL;
        if (n == NULL) {
            ab->failed = true;
            return;
        }
        memcpy(n, ab->data, ab->len);
        ab->data = n;
        ab->cap = cap;
    }
    memcpy(ab->data + ab->len, data, len);
    ab->len += len;
}

/*
 * Serializes |msg| into |a| in one pass (no separate size pass over the top level).
 * Caller holds whatever guards |a|. NULL when out of arena/memory.
 */
static uint8_t *arena_pack(call_arena_t *a, const ProtobufCMessage *msg, size_t *len)
{
    arena_buf_t ab = {.base = {.append = arena_buf_append}, .a = a};
    ab.data = a->inline_buf + a->inline_used;
    ab.cap = CALL_ARENA_INLINE - a->inline_used;
    ab.in_inline = true;
    protobuf_c_message_pack_to_buffer(msg, &ab.base);
    if (ab.failed)
        return NULL;
    if (ab.in_inline)
        a->inline_used += (ab.len + 15) & ~(size_t)15;
    if (a->inline_used > CALL_ARENA_INLINE)
        a->inline_used = CALL_ARENA_INLINE;
    *len = ab.len;
    return ab.data;
}

static void *pb_arena_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void pb_arena_free(void *data, void *p)
{
    (void)data; /* released with the whole arena */
    (void)p;
}

/* ---- the call object ----------------------------------------------------------------- */

/*
 * Copies the request headers into the arena (before dispatch: no lock needed).
 * Returns the value of ferry-request-id, or NULL.
 */
static const char *copy_headers(ferry_rpc_call_t *call, h2o_req_t *req)
{
    const char *id = NULL;
    size_t total = 0, n = 0;
    for (size_t i = 0; i < req->headers.size && n < MAX_CALL_HEADERS; i++, n++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (total + h->name->len + h->value.len + 2 > MAX_CALL_HEADER_MEM)
            break;
        total += h->name->len + h->value.len + 2;
    }
    req_header_t *hs = arena_alloc(&call->arena, n * sizeof(req_header_t) + total + 1);
    if (hs == NULL)
        return NULL;
    char *p = (char *)(hs + n);
    for (size_t i = 0; i < n; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        /* h2o hands names lower-case (HTTP/2 requires it, HTTP/1 names are folded);
         * lookups compare case-insensitively anyway. */
        hs[i].name = p;
        memcpy(p, h->name->base, h->name->len);
        p += h->name->len;
        *p++ = '\0';
        hs[i].value = p;
        if (h->name->len == sizeof(H_REQUEST_ID) - 1 && strcasecmp(hs[i].name, H_REQUEST_ID) == 0)
            id = p;
        memcpy(p, h->value.base, h->value.len);
        p += h->value.len;
        *p++ = '\0';
    }
    call->headers = hs;
    call->n_headers = n;
    return id;
}

/* A clean call object from the thread's pool (or a new one). Loop thread. */
static ferry_rpc_call_t *call_get(loop_thread_t *lt)
{
    ferry_rpc_call_t *call = lt->pool;
    if (call != NULL) {
        lt->pool = call->pool_next;
        lt->n_pool--;
    } else {
        call = malloc(sizeof(*call));
        if (call == NULL)
            return NULL;
        pthread_mutex_init(&call->mu, NULL);
        call->arena.chunks = NULL;
        arena_reset(&call->arena);
    }
    memset(call, 0, offsetof(ferry_rpc_call_t, pool_next));
    call->pool_next = NULL;
    call->lt = lt;
    call->timer.heap_idx = SIZE_MAX;
    atomic_init(&call->refs, 3); /* request alive, completion owed, dispatch in progress */
    atomic_init(&call->kick_pending, false);
    atomic_init(&call->completed, false);
    atomic_init(&call->canceled, false);
    atomic_init(&call->cancel_reason, 0);
    atomic_init(&call->id_state, 0);
    return call;
}

/* Returns |call|'s memory to the pool (or frees it). Loop thread. */
static void call_put(ferry_rpc_call_t *call)
{
    loop_thread_t *lt = call->lt;
    if (call->reqs_malloced) {
        for (size_t i = 0; i < call->n_reqs; i++)
            protobuf_c_message_free_unpacked(call->reqs[i], NULL);
    }
    if (call->reqs != call->req_inline)
        free(call->reqs);
    call->reqs = NULL;
    call->n_reqs = 0;
    arena_reset(&call->arena);
    if (lt->n_pool < CALL_POOL_MAX && !lt->shutting_down) {
        call->pool_next = lt->pool;
        lt->pool = call;
        lt->n_pool++;
        return;
    }
    pthread_mutex_destroy(&call->mu);
    free(call);
}

/* Frees the thread's idle calls (at loop exit). */
void ferry_call_pool_drain(loop_thread_t *lt)
{
    while (lt->pool != NULL) {
        ferry_rpc_call_t *call = lt->pool;
        lt->pool = call->pool_next;
        pthread_mutex_destroy(&call->mu);
        free(call);
    }
    lt->n_pool = 0;
}

/* Makes a decoded call live: bound to |req|, counted, with its request id. */
static void call_attach(ferry_rpc_call_t *call, const route_t *route, h2o_req_t *req)
{
    loop_thread_t *lt = call->lt;
    call->route = route;
    call->req = req;
    call->gen.proceed = gen_proceed;
    call->gen.stop = gen_stop;
    call->start_ns = ferry_now_ns();
    const char *cid = copy_headers(call, req);
    if (cid != NULL && valid_request_id(cid, strlen(cid))) {
        memcpy(call->request_id, cid, strlen(cid) + 1);
        atomic_init(&call->id_state, 2);
    } else {
        call->id_bits = next_id_bits(lt);
    }
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    memset(&call->peer_sa, 0, sizeof(call->peer_sa));
    if (sl > 0 && sl <= sizeof(call->peer_sa))
        memcpy(&call->peer_sa, &ss, sl);
    h2o_linklist_insert(&lt->calls, &call->link);
    lt->n_calls++;
}

/*
 * After dispatch: a unary call answered in full during dispatch, with a body h2o does
 * not need from the call's memory, lets go of its request now;
 * any other call learns of the request's end through a dispose hook on its pool (a
 * shared allocation, so only calls that outlive dispatch pay for it). h2o neither
 * disposes a request nor calls the generator after a FINAL send within this callback.
 */
static void settle_request(ferry_rpc_call_t *call, h2o_req_t *req)
{
    if (call->final_sent && call->detached_body) {
        call->req = NULL;
        call->responded = true;
        call_release(call); /* the request reference */
        return;
    }
    ferry_rpc_call_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(ferry_rpc_call_t *), on_req_dispose);
    *slot = call;
}

static void call_free(ferry_rpc_call_t *call)
{
    loop_thread_t *lt = call->lt;
    h2o_linklist_unlink(&call->link);
    lt->n_calls--;
    for (size_t i = 0; i < MAX_DATA_SLOTS; i++)
        if (call->data[i].key != NULL && call->data[i].free_fn != NULL)
            call->data[i].free_fn(call->data[i].data);
    for (outbuf_t *b = call->outq_head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    for (size_t i = 0; i < call->n_inflight; i++)
        free(call->inflight[i]);
    if (call->final_body_owned)
        free(call->final_body);
    free(call->message);
    call_put(call);
}

/* Replaces the error message (call->mu held). */
static void set_message_locked(ferry_rpc_call_t *call, const char *msg)
{
    free(call->message);
    call->message = msg != NULL && msg[0] ? strndup(msg, 511) : NULL;
}

/* Loop thread only. */
static void call_release(ferry_rpc_call_t *call)
{
    if (atomic_fetch_sub(&call->refs, 1) == 1)
        call_free(call);
}

/* Runs the cancel callbacks once (loop thread). */
static void cancel(ferry_rpc_call_t *call, cancel_reason_t reason)
{
    if (atomic_exchange(&call->canceled, true))
        return;
    atomic_store(&call->cancel_reason, (int)reason);
    struct {
        void (*fn)(ferry_rpc_call_t *, void *);
        void *arg;
    } cbs[MAX_CANCEL_CBS];
    pthread_mutex_lock(&call->mu);
    size_t n = call->n_cancel_cbs;
    memcpy(cbs, call->cancel_cbs, n * sizeof(cbs[0]));
    call->n_cancel_cbs = 0;
    pthread_mutex_unlock(&call->mu);
    for (size_t i = 0; i < n; i++)
        cbs[i].fn(call, cbs[i].arg);
}

static void on_req_dispose(void *p)
{
    ferry_rpc_call_t *call = *(ferry_rpc_call_t **)p;
    bool gone_early = !call->final_sent;
    call->req = NULL;
    call->responded = true;
    ferry_timer_remove(call->lt, &call->timer);
    if (gone_early)
        cancel(call, CANCEL_PEER);
    call_release(call);
}

/* Posts |call| to its loop (any thread) or processes it now (its loop thread). */
static void notify(ferry_rpc_call_t *call)
{
    if (ferry_tls_loop == call->lt) {
        process(call);
        return;
    }
    if (atomic_exchange(&call->kick_pending, true))
        return;
    atomic_fetch_add(&call->refs, 1);
    h2o_multithread_send_message(&call->lt->receiver, &call->kick_msg);
}

void ferry_call_on_kicks(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        ferry_rpc_call_t *call = H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, kick_msg, m);
        h2o_linklist_unlink(&m->link);
        atomic_store(&call->kick_pending, false);
        process(call);
        call_release(call);
    }
}

/* ---- responses --------------------------------------------------------------------- */

/*
 * The request id goes back on errors and streams only: a unique header value on every response would cost
 * each response an HPACK dynamic-table insertion and search in h2o 2.2.5 (which indexes every header), a
 * third of the runtime's per-call CPU. A client that wants to correlate successful
 * calls sends its own ferry-request-id.
 */
static void add_common_headers(ferry_rpc_call_t *call, h2o_req_t *req, bool with_id, size_t n_hdrs)
{
    if (with_id) {
        const char *id = call_id(call);
        add_hdr(req, H_REQUEST_ID, id, strlen(id));
    }
    if (n_hdrs == SIZE_MAX) {
        pthread_mutex_lock(&call->mu);
        n_hdrs = call->n_resp_headers;
        pthread_mutex_unlock(&call->mu);
    }
    /* set_header only appends, so the first n_hdrs entries are stable */
    for (size_t i = 0; i < n_hdrs; i++)
        add_hdr(req, call->resp_headers[i].name, call->resp_headers[i].value,
                strlen(call->resp_headers[i].value));
}

/*
 * Unary (Connect POST/GET) response: success body or error JSON. Loop thread.
 * |n_hdrs|: handler headers to send, read under call->mu by the caller, or SIZE_MAX.
 */
static void respond_unary(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app, const char *msg,
                          size_t n_hdrs)
{
    h2o_req_t *req = call->req;
    if (req == NULL || call->responded)
        return;
    call->responded = true;
    call->final_sent = true;
    call->sent_code = code;
    h2o_iovec_t body;
    if (code == FERRY_RPC_OK) {
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, call->content_type,
                       strlen(call->content_type));
        if (call->final_gzip)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_ENCODING, NULL,
                           H2O_STRLIT("gzip"));
        if (call->final_len <= POOL_COPY_MAX) {
            /* h2o keeps pointing at the body until it is written: a small one moves to the
             * request's pool so the call can end now (see settle_request) */
            char *copy = h2o_mem_alloc_pool(&req->pool, call->final_len + 1);
            memcpy(copy, call->final_body, call->final_len);
            body = h2o_iovec_init(copy, call->final_len);
            call->detached_body = true;
        } else {
            body = h2o_iovec_init(call->final_body, call->final_len);
        }
    } else {
        char *json = h2o_mem_alloc_pool(&req->pool, ERR_JSON_MAX);
        size_t n = ferry_wire_error_json(code, msg, app, json, ERR_JSON_MAX);
        req->res.status = ferry_rpc_code_to_http(code);
        req->res.reason = "Error";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT(CT_JSON));
        if (app != NULL && app[0])
            add_hdr_dup(req, H_ERROR_CODE, app);
        body = h2o_iovec_init(json, n);
        call->detached_body = true;
    }
    add_common_headers(call, req, code != FERRY_RPC_OK, n_hdrs);
    h2o_start_response(req, &call->gen);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void start_stream_response(ferry_rpc_call_t *call, bool with_id)
{
    h2o_req_t *req = call->req;
    call->started = true;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, call->content_type,
                   strlen(call->content_type));
    if (call->resp_gzip)
        add_hdr(req, call->style == STYLE_GRPC_WEB ? "grpc-encoding" : "connect-content-encoding",
                H2O_STRLIT("gzip"));
    add_common_headers(call, req, with_id, SIZE_MAX);
    h2o_start_response(req, &call->gen);
}

/* Builds the last frame of a stream into call->end_frame. */
static size_t build_end_frame(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app, const char *msg)
{
    char frame[FERRY_ENVELOPE_HEADER_LEN + TRAILER_MAX];
    char *text = frame + FERRY_ENVELOPE_HEADER_LEN;
    size_t n;
    uint8_t flag;
    if (call->style == STYLE_GRPC_WEB) {
        n = ferry_wire_grpc_trailers(code, msg, app, text, TRAILER_MAX);
        flag = FERRY_ENVELOPE_TRAILER;
    } else {
        n = ferry_wire_end_stream_json(code, msg, app, text, TRAILER_MAX);
        flag = FERRY_ENVELOPE_END_STREAM;
    }
    ferry_envelope_write_header((uint8_t *)frame, flag, (uint32_t)n);
    pthread_mutex_lock(&call->mu); /* the arena is shared with set_header */
    call->end_frame = arena_alloc(&call->arena, FERRY_ENVELOPE_HEADER_LEN + n);
    pthread_mutex_unlock(&call->mu);
    if (call->end_frame == NULL)
        return 0;
    memcpy(call->end_frame, frame, FERRY_ENVELOPE_HEADER_LEN + n);
    return FERRY_ENVELOPE_HEADER_LEN + n;
}

/* Streams: hands queued frames to h2o, one send in flight at a time. Loop thread. */
static void pump(ferry_rpc_call_t *call)
{
    h2o_iovec_t iov[MAX_INFLIGHT_BUFS + 1];
    size_t n = 0;
    bool fin;
    ferry_rpc_code_t code;
    char app[48], msg[512];
    if (call->req == NULL || call->stopped || call->final_sent || call->sending)
        return;
    pthread_mutex_lock(&call->mu);
    while (call->outq_head != NULL && n < MAX_INFLIGHT_BUFS) {
        outbuf_t *b = call->outq_head;
        call->outq_head = b->next;
        if (call->outq_head == NULL)
            call->outq_tail = NULL;
        call->inflight[n] = b;
        iov[n] = h2o_iovec_init(b->data, b->len);
        n++;
    }
    call->n_inflight = n;
    fin = call->outq_head == NULL && call->end_queued;
    code = call->final_code;
    app[0] = msg[0] = '\0';
    if (fin && code != FERRY_RPC_OK) {
        memcpy(app, call->app_code, sizeof(app));
        if (call->message != NULL)
            snprintf(msg, sizeof(msg), "%s", call->message);
    }
    pthread_mutex_unlock(&call->mu);
    if (n == 0 && !fin)
        return;
    h2o_req_t *req = call->req;
    if (fin && n == 0 && !call->any_message_sent && !call->started && call->style == STYLE_GRPC_WEB &&
        code != FERRY_RPC_OK) {
        /* gRPC-Web trailers-only error: the status rides in the headers, empty body. */
        call->final_sent = call->responded = true;
        call->sent_code = code;
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, call->content_type,
                       strlen(call->content_type));
        add_grpc_status_headers(req, code, msg, app);
        add_common_headers(call, req, true, SIZE_MAX);
        h2o_start_response(req, &call->gen);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (!call->started) /* a gRPC-Web unary success is answered like a Connect one: no id */
        start_stream_response(call, call->route->method->kind == FERRY_RPC_SERVER_STREAMING || !fin ||
                                        code != FERRY_RPC_OK);
    if (n > 0)
        call->any_message_sent = true;
    if (fin) {
        size_t len = build_end_frame(call, code, app, msg);
        if (len > 0)
            iov[n++] = h2o_iovec_init(call->end_frame, len);
        call->final_sent = call->responded = true;
        call->sent_code = code;
    } else {
        call->sending = true;
    }
    h2o_send(req, iov, n, fin ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void gen_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    ferry_rpc_call_t *call = H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, gen, self);
    size_t bytes = 0;
    for (size_t i = 0; i < call->n_inflight; i++) {
        bytes += call->inflight[i]->len;
        free(call->inflight[i]);
    }
    call->n_inflight = 0;
    pthread_mutex_lock(&call->mu);
    call->queued_bytes -= bytes;
    pthread_mutex_unlock(&call->mu);
    call->sending = false;
    pump(call);
}

static void gen_stop(h2o_generator_t *self, h2o_req_t *req)
{
    ferry_rpc_call_t *call = H2O_STRUCT_FROM_MEMBER(ferry_rpc_call_t, gen, self);
    call->stopped = true;
    call->responded = true;
    cancel(call, CANCEL_PEER);
}

/* Ends a stream from the runtime (deadline, shutdown) unless the handler already did. */
static void end_stream_runtime(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *msg)
{
    pthread_mutex_lock(&call->mu);
    if (!call->end_queued) {
        call->end_queued = true;
        call->final_code = code;
        call->app_code[0] = '\0';
        set_message_locked(call, msg);
    }
    pthread_mutex_unlock(&call->mu);
    pump(call);
}

/* |code|: the completion's code as read under call->mu. */
static void run_after_interceptors(ferry_rpc_call_t *call, ferry_rpc_code_t code)
{
    const ferry_rpc_server_t *srv = call->lt->srv;
    if (srv->n_interceptors == 0)
        return;
    uint64_t dur = ferry_now_ns() - call->start_ns;
    if (call->responded && call->final_sent && call->style == STYLE_UNARY)
        code = call->sent_code;
    for (size_t i = 0; i < srv->n_interceptors; i++)
        if (srv->interceptors[i].after != NULL)
            srv->interceptors[i].after(call, code, dur, srv->interceptors[i].user);
}

/* Applies whatever other threads queued or completed. Loop thread. */
static void process(ferry_rpc_call_t *call)
{
    if (call->style != STYLE_UNARY)
        pump(call);
    if (!atomic_load(&call->completed) || call->completion_done)
        return;
    call->completion_done = true;
    char app[48], msg[512];
    app[0] = msg[0] = '\0';
    pthread_mutex_lock(&call->mu);
    ferry_rpc_code_t code = call->final_code;
    size_t n_hdrs = call->n_resp_headers;
    if (code != FERRY_RPC_OK && call->style == STYLE_UNARY) {
        memcpy(app, call->app_code, sizeof(app));
        if (call->message != NULL)
            snprintf(msg, sizeof(msg), "%s", call->message);
    }
    pthread_mutex_unlock(&call->mu);
    if (call->style == STYLE_UNARY)
        respond_unary(call, code, app, msg, n_hdrs);
    ferry_timer_remove(call->lt, &call->timer);
    run_after_interceptors(call, code);
    call_release(call);
}

void ferry_call_expire(ferry_rpc_call_t *call)
{
    if (call->responded)
        return;
    cancel(call, CANCEL_DEADLINE);
    if (call->style == STYLE_UNARY)
        respond_unary(call, FERRY_RPC_DEADLINE_EXCEEDED, NULL, "deadline exceeded", SIZE_MAX);
    else
        end_stream_runtime(call, FERRY_RPC_DEADLINE_EXCEEDED, "deadline exceeded");
}

void ferry_call_shutdown(ferry_rpc_call_t *call, bool force)
{
    if (call->responded)
        return;
    bool is_stream = call->route->method->kind == FERRY_RPC_SERVER_STREAMING;
    if (!force && !is_stream)
        return; /* in-flight unary calls may finish during the grace period */
    cancel(call, CANCEL_SHUTDOWN);
    if (call->style == STYLE_UNARY)
        respond_unary(call, FERRY_RPC_UNAVAILABLE, NULL, "server is shutting down", SIZE_MAX);
    else
        end_stream_runtime(call, FERRY_RPC_UNAVAILABLE, "server is shutting down");
}

/* ---- dispatch ------------------------------------------------------------------------ */

typedef struct negotiated {
    ferry_wire_protocol_t proto;
    ferry_wire_codec_t codec;
    ferry_wire_encoding_t req_enc;
    bool resp_gzip;
    uint64_t timeout_ns;
    bool has_timeout;
} negotiated_t;

/* Lookup by h2o token: a pointer comparison per header instead of a string compare. */
static const char *hdr_tok(h2o_req_t *req, const h2o_token_t *token, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    *len = i >= 0 ? req->headers.entries[i].value.len : 0;
    return i >= 0 ? req->headers.entries[i].value.base : NULL;
}

static const char *hdr_str(h2o_req_t *req, const char *name, size_t *len)
{
    const h2o_iovec_t *v = find_hdr(req, name);
    *len = v != NULL ? v->len : 0;
    return v != NULL ? v->base : NULL;
}

/* Decodes the request messages of a POST into |call|. Returns false with |de| filled. */
static bool decode_post(const ferry_rpc_server_t *srv, const route_t *route, const negotiated_t *ng,
                        h2o_req_t *req, ferry_rpc_call_t *call, decode_err_t *de)
{
    const ferry_rpc_method_t *m = route->method;
    const uint8_t *body = (const uint8_t *)req->entity.base;
    size_t len = body != NULL ? req->entity.len : 0;
    ferry_wire_msg_t two[2], *slices = NULL;
    bool ok = false;
    if (ng->proto == FERRY_WIRE_CONNECT_UNARY) {
        call->reqs = call->req_inline;
        ok = decode_one(srv, call, m->input, ng->codec, body, len, ng->req_enc == FERRY_WIRE_ENC_GZIP, de);
        goto out;
    }
    size_t max = len / FERRY_ENVELOPE_HEADER_LEN + 1;
    if (max > MAX_CLIENT_MSGS)
        max = MAX_CLIENT_MSGS;
    /* A single-message method reads two envelopes at most: a second one is the error. */
    bool single = m->kind != FERRY_RPC_CLIENT_STREAMING;
    size_t cap = single && max > 2 ? 2 : max;
    size_t n_slices = 0;
    const char *why = "";
    if (single || max == 1) {
        call->reqs = call->req_inline;
    } else if ((call->reqs = calloc(max, sizeof(ProtobufCMessage *))) == NULL) {
        fail_decode(de, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if ((slices = cap <= 2 ? two : calloc(cap, sizeof(*slices))) == NULL) {
        fail_decode(de, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    ferry_rpc_code_t rc =
        ferry_wire_read_envelopes(body, len, (uint32_t)srv->cfg.max_message_bytes,
                                  ng->req_enc != FERRY_WIRE_ENC_IDENTITY, slices, cap, &n_slices, &why);
    bool too_many = rc == FERRY_RPC_RESOURCE_EXHAUSTED && why == ferry_wire_why_too_many;
    if (single && (too_many || (rc == FERRY_RPC_OK && n_slices != 1))) {
        char got[24] = "more than two";
        if (!too_many)
            snprintf(got, sizeof(got), "%zu", n_slices);
        fail_decode(de,
                    ng->proto == FERRY_WIRE_GRPC_WEB ? FERRY_RPC_INVALID_ARGUMENT : FERRY_RPC_UNIMPLEMENTED,
                    "%s expects exactly one request message, got %s", m->path, got);
        goto out;
    }
    if (rc != FERRY_RPC_OK) {
        fail_decode(de, rc, "%s", why);
        goto out;
    }
    for (size_t i = 0; i < n_slices; i++)
        if (!decode_one(srv, call, m->input, ng->codec, slices[i].data, slices[i].len, slices[i].compressed,
                        de))
            goto out;
    ok = true;
out:
    if (slices != two)
        free(slices);
    return ok;
}

/* Decodes the message of a Connect GET into |call|. */
static bool decode_get(const ferry_rpc_server_t *srv, const route_t *route, const ferry_wire_get_query_t *q,
                       ferry_rpc_call_t *call, decode_err_t *de)
{
    bool ok = false;
    size_t cap = q->message_len + 4;
    uint8_t *raw = malloc(cap), *bin = NULL;
    long n;
    call->reqs = call->req_inline;
    if (raw == NULL) {
        fail_decode(de, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    n = ferry_wire_percent_decode(q->message, q->message_len, raw, cap);
    if (n < 0) {
        fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "message query parameter: bad percent-encoding");
        goto out;
    }
    const uint8_t *data = raw;
    if (q->base64) {
        bin = malloc((size_t)n / 4 * 3 + 4);
        long b =
            bin != NULL ? ferry_b64_decode((const char *)raw, (size_t)n, bin, (size_t)n / 4 * 3 + 4) : -1;
        if (b < 0) {
            fail_decode(de, FERRY_RPC_INVALID_ARGUMENT, "message query parameter: invalid base64");
            goto out;
        }
        data = bin;
        n = b;
    }
    ok = decode_one(srv, call, route->method->input, q->codec, data, (size_t)n,
                    q->compression == FERRY_WIRE_ENC_GZIP, de);
out:
    free(raw);
    free(bin);
    return ok;
}

static int handle_http_route(ferry_rpc_server_t *srv, h2o_req_t *req, const char *path, size_t plen,
                             bool *done)
{
    *done = false;
    for (size_t i = 0; i < srv->n_http_routes; i++) {
        const http_route_t *r = &srv->http_routes[i];
        if (plen >= r->len && memcmp(path, r->prefix, r->len) == 0) {
            *done = true;
            if (r->route_fn != NULL) {
                ferry_route_begin(ferry_tls_loop, req, r->route_fn, r->user);
                return 0;
            }
            if (r->fn(req, r->user) == 0)
                return 0;
            h2o_send_error_404(req, "Not Found", "not found\n", 0);
            return 0;
        }
    }
    return 0;
}

int ferry_call_on_req(ferry_rpc_server_t *srv, h2o_req_t *req)
{
    loop_thread_t *lt = ferry_tls_loop;
    const char *path = req->path.base;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    /* RPC paths first (one hash probe); plain routes see what no method claims. */
    const route_t *route = ferry_server_find_route(srv, path, plen);
    if (route == NULL) {
        bool done;
        handle_http_route(srv, req, path, plen, &done);
        if (done)
            return 0;
    }

    negotiated_t ng = {0};
    size_t ctlen;
    const char *ct = hdr_tok(req, H2O_TOKEN_CONTENT_TYPE, &ctlen);
    ng.proto = ct != NULL ? ferry_wire_content_type(ct, ctlen, &ng.codec) : FERRY_WIRE_UNSUPPORTED;
    bool is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    bool is_post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (route == NULL) {
        bool grpcish = ng.proto == FERRY_WIRE_GRPC_WEB || ng.proto == FERRY_WIRE_GRPC;
        return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_UNIMPLEMENTED, grpcish ? 0 : 404,
                                "unknown method %.*s", (int)(plen > 200 ? 200 : plen), path);
    }
    const ferry_rpc_method_t *m = route->method;
    ferry_wire_get_query_t q;
    if (is_get) {
        const char *why = "";
        if (m->kind != FERRY_RPC_UNARY || m->idempotency != FERRY_RPC_NO_SIDE_EFFECTS)
            return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 405,
                                    "%s does not support GET (not marked NO_SIDE_EFFECTS)", m->path);
        if (req->entity.base != NULL && req->entity.len > 0)
            return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 415,
                                    "a GET request must not have a body");
        const char *qs = req->query_at != SIZE_MAX ? path + req->query_at + 1 : "";
        size_t qlen = req->query_at != SIZE_MAX ? req->path.len - req->query_at - 1 : 0;
        if (ferry_wire_get_query(qs, qlen, &q, &why) != 0)
            return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_INVALID_ARGUMENT, 0,
                                    "%s", why);
        if (q.compression == FERRY_WIRE_ENC_UNSUPPORTED)
            return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 0,
                                    "unsupported compression (supported: gzip, identity)");
        ng.proto = FERRY_WIRE_CONNECT_UNARY;
        ng.codec = q.codec;
    } else if (!is_post) {
        return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 405,
                                "method %.*s not allowed", (int)(req->method.len > 16 ? 16 : req->method.len),
                                req->method.base);
    } else {
        switch (ng.proto) {
        case FERRY_WIRE_UNSUPPORTED:
        case FERRY_WIRE_GRPC_WEB_TEXT:
            return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 415,
                                    "unsupported content-type '%.*s' (supported: application/proto, "
                                    "application/json, application/connect+proto|json, "
                                    "application/grpc-web[+proto|+json])",
                                    (int)(ctlen > 100 ? 100 : ctlen), ct != NULL ? ct : "");
        case FERRY_WIRE_GRPC:
            return send_early_error(req, FERRY_WIRE_GRPC, ng.codec, FERRY_RPC_UNIMPLEMENTED, 0,
                                    "native gRPC is not supported by this server (its HTTP/2 library cannot "
                                    "send trailers): use gRPC-Web (application/grpc-web) or Connect");
        case FERRY_WIRE_CONNECT_UNARY:
            if (m->kind != FERRY_RPC_UNARY)
                return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 415,
                                        "%s is a streaming method: use application/connect+proto|json",
                                        m->path);
            break;
        case FERRY_WIRE_CONNECT_STREAM:
            if (m->kind == FERRY_RPC_UNARY)
                return send_early_error(req, FERRY_WIRE_CONNECT_UNARY, ng.codec, FERRY_RPC_UNIMPLEMENTED, 415,
                                        "%s is a unary method: use application/proto or application/json",
                                        m->path);
            break;
        case FERRY_WIRE_GRPC_WEB:
            break;
        }
    }
    if (m->kind == FERRY_RPC_BIDI_STREAMING)
        return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_UNIMPLEMENTED, 0,
                                "%s: bidirectional streaming is not supported", m->path);

    /* Timeout and compression headers of the protocol. */
    size_t vlen;
    const char *v;
    if (ng.proto == FERRY_WIRE_GRPC_WEB) {
        if ((v = hdr_str(req, "grpc-timeout", &vlen)) != NULL) {
            if (ferry_wire_grpc_timeout(v, vlen, &ng.timeout_ns) != 0)
                return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_INVALID_ARGUMENT, 0,
                                        "malformed grpc-timeout header");
            ng.has_timeout = true;
        }
        v = hdr_str(req, "grpc-encoding", &vlen);
        ng.req_enc = ferry_wire_encoding(v, vlen);
        v = hdr_str(req, "grpc-accept-encoding", &vlen);
        ng.resp_gzip = ferry_wire_accepts_gzip(v, vlen);
    } else {
        if ((v = hdr_str(req, "connect-timeout-ms", &vlen)) != NULL) {
            if (ferry_wire_connect_timeout(v, vlen, &ng.timeout_ns) != 0)
                return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_INVALID_ARGUMENT, 0,
                                        "malformed connect-timeout-ms header");
            ng.has_timeout = true;
        }
        bool stream = ng.proto == FERRY_WIRE_CONNECT_STREAM;
        if (!is_get) {
            v = stream ? hdr_str(req, "connect-content-encoding", &vlen)
                       : hdr_tok(req, H2O_TOKEN_CONTENT_ENCODING, &vlen);
            ng.req_enc = ferry_wire_encoding(v, vlen);
        }
        v = stream ? hdr_str(req, "connect-accept-encoding", &vlen)
                   : hdr_tok(req, H2O_TOKEN_ACCEPT_ENCODING, &vlen);
        ng.resp_gzip = ferry_wire_accepts_gzip(v, vlen);
    }
    if (ng.req_enc == FERRY_WIRE_ENC_UNSUPPORTED)
        return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_UNIMPLEMENTED, 0,
                                "unsupported request compression (supported: gzip, identity)");

    /* Messages, decoded straight into the call's arena. */
    ferry_rpc_call_t *call = call_get(lt);
    if (call == NULL)
        return send_early_error(req, ng.proto, ng.codec, FERRY_RPC_RESOURCE_EXHAUSTED, 0, "out of memory");
    decode_err_t de;
    de.code = FERRY_RPC_INTERNAL;
    de.msg[0] = '\0';
    if (!(is_get ? decode_get(srv, route, &q, call, &de) : decode_post(srv, route, &ng, req, call, &de))) {
        call_put(call);
        return send_early_error(req, ng.proto, ng.codec, de.code, 0, "%s", de.msg);
    }
    call_attach(call, route, req);
    call->codec = ng.codec;
    call->resp_gzip = ng.resp_gzip;
    call->style = ng.proto == FERRY_WIRE_CONNECT_UNARY ? STYLE_UNARY
                  : ng.proto == FERRY_WIRE_GRPC_WEB    ? STYLE_GRPC_WEB
                                                       : STYLE_CONNECT_STREAM;
    call->content_type = stream_ct(ng.proto, ng.codec);
    if (ng.has_timeout) {
        call->timer.deadline_ns =
            call->start_ns +
            (ng.timeout_ns > UINT64_MAX - call->start_ns ? UINT64_MAX - call->start_ns : ng.timeout_ns);
        if (ng.timeout_ns == 0) {
            ferry_rpc_call_fail(call, FERRY_RPC_DEADLINE_EXCEEDED, NULL, "deadline exceeded");
            goto out;
        }
        if (ferry_timer_add(lt, &call->timer) != 0) {
            /* Out of timer slots: the call runs without a server-side deadline. */
            FERRY_WARN("rpc: deadline heap full, call %s runs without a deadline",
                       ferry_rpc_call_request_id(call));
        }
    }
    if (lt->shutting_down) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNAVAILABLE, NULL, "server is shutting down");
        goto out;
    }
    for (size_t i = 0; i < srv->n_interceptors; i++) {
        const ferry_rpc_interceptor_t *ic = &srv->interceptors[i];
        char app[48] = "", msg[512] = "";
        if (ic->before == NULL)
            continue;
        ferry_rpc_code_t rc = ic->before(call, ic->user, app, sizeof(app), msg, sizeof(msg));
        if (rc != FERRY_RPC_OK) {
            ferry_rpc_call_fail(call, rc, app[0] ? app : NULL, "%s", msg);
            goto out;
        }
    }
    if (route->fn == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNIMPLEMENTED, NULL, "%s is not implemented", m->path);
        goto out;
    }
    route->fn(call, (const ProtobufCMessage *const *)call->reqs, call->n_reqs, route->user);
out:
    settle_request(call, req);
    call_release(call); /* the dispatch reference */
    return 0;
}

/* ---- handler API ------------------------------------------------------------------------ */

const ferry_rpc_method_t *ferry_rpc_call_method(const ferry_rpc_call_t *call)
{
    return call->route->method;
}

const char *ferry_rpc_call_header(const ferry_rpc_call_t *call, const char *name)
{
    for (size_t i = 0; i < call->n_headers; i++)
        if (strcasecmp(call->headers[i].name, name) == 0)
            return call->headers[i].value;
    return NULL;
}

const char *ferry_rpc_call_peer(const ferry_rpc_call_t *call)
{
    ferry_rpc_call_t *c = (ferry_rpc_call_t *)call;
    pthread_mutex_lock(&c->mu);
    if (!c->peer_done) {
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (c->peer_sa.sin6_family == AF_INET) {
            const struct sockaddr_in *s = (const struct sockaddr_in *)&c->peer_sa;
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
            port = ntohs(s->sin_port);
            snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, port);
        } else if (c->peer_sa.sin6_family == AF_INET6) {
            const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&c->peer_sa;
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
            port = ntohs(s->sin6_port);
            snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, port);
        } else {
            snprintf(c->peer, sizeof(c->peer), "unknown");
        }
        c->peer_done = true;
    }
    pthread_mutex_unlock(&c->mu);
    return c->peer;
}

const char *ferry_rpc_call_request_id(const ferry_rpc_call_t *call)
{
    return call_id((ferry_rpc_call_t *)call);
}

uint64_t ferry_rpc_call_deadline_ns(const ferry_rpc_call_t *call)
{
    return call->timer.deadline_ns;
}

/* |name| is lower-case here (checked by the caller). */
static bool reserved_header(const char *name)
{
    if (name[0] != 'c' && name[0] != 't' && name[0] != 'f' && name[0] != 'g' && name[0] != ':')
        return false;
    static const char *const reserved[] = {"content-type",      "content-length", "content-encoding",
                                           "transfer-encoding", "connection",     H_REQUEST_ID,
                                           H_ERROR_CODE};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return strncasecmp(name, "grpc-", 5) == 0 || strncasecmp(name, "connect-", 8) == 0 || name[0] == ':';
}

ferry_err_code_t ferry_rpc_call_set_header(ferry_rpc_call_t *call, const char *name, const char *value)
{
    ferry_err_code_t rc = FERRY_OK;
    size_t nlen = strlen(name), vlen = strlen(value);
    if (nlen == 0 || reserved_header(name))
        return FERRY_E_INVALID_ARG;
    for (size_t i = 0; i < nlen; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
              name[i] == '_' || name[i] == '.'))
            return FERRY_E_INVALID_ARG;
    for (size_t i = 0; i < vlen; i++)
        if (value[i] == '\r' || value[i] == '\n')
            return FERRY_E_INVALID_ARG;
    pthread_mutex_lock(&call->mu);
    if (call->n_resp_headers >= MAX_RESP_HEADERS || call->resp_mem_used + nlen + vlen > MAX_RESP_HEADER_MEM) {
        rc = FERRY_E_TOO_LARGE;
        goto out;
    }
    char *n = arena_alloc(&call->arena, nlen + vlen + 2);
    if (n == NULL) {
        rc = FERRY_E_NOMEM;
        goto out;
    }
    memcpy(n, name, nlen + 1);
    memcpy(n + nlen + 1, value, vlen + 1);
    call->resp_headers[call->n_resp_headers].name = n;
    call->resp_headers[call->n_resp_headers].value = n + nlen + 1;
    call->n_resp_headers++;
    call->resp_mem_used += nlen + vlen;
out:
    pthread_mutex_unlock(&call->mu);
    return rc;
}

void ferry_rpc_call_set_data(ferry_rpc_call_t *call, const void *key, void *data, void (*free_fn)(void *))
{
    pthread_mutex_lock(&call->mu);
    size_t free_slot = MAX_DATA_SLOTS;
    for (size_t i = 0; i < MAX_DATA_SLOTS; i++) {
        if (call->data[i].key == key) {
            if (call->data[i].free_fn != NULL && call->data[i].data != data)
                call->data[i].free_fn(call->data[i].data);
            call->data[i].data = data;
            call->data[i].free_fn = free_fn;
            goto out;
        }
        if (call->data[i].key == NULL && free_slot == MAX_DATA_SLOTS)
            free_slot = i;
    }
    if (free_slot == MAX_DATA_SLOTS) {
        FERRY_ERROR("rpc: call %s: more than %d data slots", call_id(call), MAX_DATA_SLOTS);
        if (free_fn != NULL)
            free_fn(data);
        goto out;
    }
    call->data[free_slot].key = key;
    call->data[free_slot].data = data;
    call->data[free_slot].free_fn = free_fn;
out:
    pthread_mutex_unlock(&call->mu);
}

void *ferry_rpc_call_get_data(const ferry_rpc_call_t *call, const void *key)
{
    ferry_rpc_call_t *c = (ferry_rpc_call_t *)call;
    void *ret = NULL;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < MAX_DATA_SLOTS; i++)
        if (c->data[i].key == key)
            ret = c->data[i].data;
    pthread_mutex_unlock(&c->mu);
    return ret;
}

bool ferry_rpc_call_is_canceled(const ferry_rpc_call_t *call)
{
    return atomic_load(&call->canceled);
}

void ferry_rpc_call_on_cancel(ferry_rpc_call_t *call, void (*fn)(ferry_rpc_call_t *call, void *arg),
                              void *arg)
{
    bool now = false;
    pthread_mutex_lock(&call->mu);
    if (atomic_load(&call->canceled)) {
        now = true;
    } else if (call->n_cancel_cbs < MAX_CANCEL_CBS) {
        call->cancel_cbs[call->n_cancel_cbs].fn = fn;
        call->cancel_cbs[call->n_cancel_cbs].arg = arg;
        call->n_cancel_cbs++;
    } else {
        FERRY_ERROR("rpc: call %s: more than %d cancel callbacks", call_id(call), MAX_CANCEL_CBS);
    }
    pthread_mutex_unlock(&call->mu);
    if (now)
        fn(call, arg);
}

typedef struct offload_job {
    ferry_rpc_call_t *call;
    void (*fn)(ferry_rpc_call_t *call, void *arg);
    void *arg;
} offload_job_t;

static void offload_run(void *p)
{
    offload_job_t job = *(offload_job_t *)p;
    free(p);
    /* The call stays alive until its completion is processed on the loop, so no extra
     * reference is needed; nothing here touches it after fn returns. */
    job.fn(job.call, job.arg);
}

ferry_err_code_t ferry_rpc_call_offload(ferry_rpc_call_t *call, void (*fn)(ferry_rpc_call_t *call, void *arg),
                                        void *arg)
{
    offload_job_t *job = malloc(sizeof(*job));
    if (job == NULL)
        return FERRY_E_NOMEM;
    job->call = call;
    job->fn = fn;
    job->arg = arg;
    if (ferry_workers_submit(call->lt->srv->workers, offload_run, job) != 0) {
        free(job);
        return FERRY_E_UNAVAILABLE;
    }
    return FERRY_OK;
}

static ferry_err_code_t complete_error(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                       const char *message);

/* Marks the call completed; false if it already was (a handler bug). */
static bool try_complete(ferry_rpc_call_t *call)
{
    if (atomic_exchange(&call->completed, true)) {
        FERRY_ERROR("rpc: call %s (%s) completed twice", call_id(call), call->route->method->path);
        return false;
    }
    return true;
}

/* Builds an envelope frame for |msg|, compressed when negotiated and worth it. */
static outbuf_t *make_frame(ferry_rpc_call_t *call, const ProtobufCMessage *msg)
{
    size_t len = 0;
    const size_t pre = sizeof(outbuf_t) + FERRY_ENVELOPE_HEADER_LEN;
    uint8_t *raw = encode_msg(msg, call->codec, pre, &len);
    if (raw == NULL)
        return NULL;
    outbuf_t *b = (outbuf_t *)raw;
    uint8_t flags = 0;
    if (call->resp_gzip && len >= GZIP_MIN_BYTES) {
        uint8_t *gz = NULL;
        size_t gzlen = 0;
        if (ferry_gzip_compress(raw + pre, len, &gz, &gzlen, NULL) == FERRY_OK && gzlen < len) {
            outbuf_t *c = malloc(pre + gzlen);
            if (c != NULL) {
                memcpy((uint8_t *)c + pre, gz, gzlen);
                free(raw);
                b = c;
                len = gzlen;
                flags = FERRY_ENVELOPE_COMPRESSED;
            }
        }
        free(gz);
    }
    if (len > UINT32_MAX) {
        free(b);
        return NULL;
    }
    b->next = NULL;
    b->len = FERRY_ENVELOPE_HEADER_LEN + len;
    ferry_envelope_write_header(b->data, flags, (uint32_t)len);
    return b;
}

/*
 * Serializes a unary response: binary straight into the call's arena, JSON into a
 * malloc'ed buffer (*owned set). NULL if it cannot be encoded.
 */
/*
 * Serializes a unary response: binary straight into the call's arena (packed under
 * call->mu, which also guards the arena), JSON into a malloc'ed buffer (*owned set).
 * NULL if it cannot be encoded.
 */
static uint8_t *encode_unary(ferry_rpc_call_t *call, const ProtobufCMessage *resp, size_t *len, bool *owned)
{
    if (call->codec == FERRY_WIRE_CODEC_JSON) {
        *owned = true;
        return encode_msg(resp, call->codec, 0, len);
    }
    pthread_mutex_lock(&call->mu);
    uint8_t *buf = arena_pack(&call->arena, resp, len);
    pthread_mutex_unlock(&call->mu);
    *owned = false;
    return buf;
}

static void enqueue_locked(ferry_rpc_call_t *call, outbuf_t *b)
{
    if (call->outq_tail != NULL)
        call->outq_tail->next = b;
    else
        call->outq_head = b;
    call->outq_tail = b;
    call->queued_bytes += b->len;
}

ferry_err_code_t ferry_rpc_call_reply(ferry_rpc_call_t *call, const ProtobufCMessage *resp)
{
    ferry_err_code_t rc = FERRY_OK;
    if (call->route->method->kind == FERRY_RPC_SERVER_STREAMING)
        return ferry_rpc_call_finish(call, FERRY_RPC_INTERNAL, NULL, "reply() on a server-streaming call");
    if (resp == NULL)
        return complete_error(call, FERRY_RPC_INTERNAL, NULL, "the handler replied without a message");
    if (!try_complete(call))
        return FERRY_E_INVALID_ARG;
    if (call->style == STYLE_UNARY) {
        size_t len = 0;
        bool owned = false, gz = false;
        uint8_t *body = encode_unary(call, resp, &len, &owned);
        if (body != NULL && call->resp_gzip && len >= GZIP_MIN_BYTES) {
            uint8_t *c = NULL;
            size_t clen = 0;
            if (ferry_gzip_compress(body, len, &c, &clen, NULL) == FERRY_OK && clen < len) {
                if (owned)
                    free(body);
                body = c;
                len = clen;
                gz = owned = true;
            } else {
                free(c);
            }
        }
        pthread_mutex_lock(&call->mu);
        if (body != NULL) {
            call->final_code = FERRY_RPC_OK;
            call->final_body = body;
            call->final_len = len;
            call->final_gzip = gz;
            call->final_body_owned = owned;
        } else {
            call->final_code = FERRY_RPC_INTERNAL;
            set_message_locked(call, "cannot encode the response");
        }
        pthread_mutex_unlock(&call->mu);
    } else {
        outbuf_t *b = make_frame(call, resp);
        pthread_mutex_lock(&call->mu);
        if (!call->end_queued) {
            if (b != NULL) {
                enqueue_locked(call, b);
                b = NULL;
                call->final_code = FERRY_RPC_OK;
            } else {
                call->final_code = FERRY_RPC_INTERNAL;
                set_message_locked(call, "cannot encode the response");
            }
            call->end_queued = true;
        }
        pthread_mutex_unlock(&call->mu);
        free(b);
    }
    if (atomic_load(&call->canceled))
        rc = FERRY_E_CANCELED;
    notify(call);
    return rc;
}

static ferry_err_code_t complete_error(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                       const char *message)
{
    ferry_err_code_t rc = FERRY_OK;
    if (!try_complete(call))
        return FERRY_E_INVALID_ARG;
    pthread_mutex_lock(&call->mu);
    if (!call->end_queued) {
        call->final_code = code;
        snprintf(call->app_code, sizeof(call->app_code), "%s", app_code != NULL ? app_code : "");
        set_message_locked(call, message);
        if (call->style != STYLE_UNARY)
            call->end_queued = true;
    }
    pthread_mutex_unlock(&call->mu);
    if (atomic_load(&call->canceled))
        rc = FERRY_E_CANCELED;
    notify(call);
    return rc;
}

ferry_err_code_t ferry_rpc_call_fail(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (code == FERRY_RPC_OK)
        code = FERRY_RPC_UNKNOWN; /* fail() always fails */
    return complete_error(call, code, app_code, msg);
}

ferry_err_code_t ferry_rpc_call_fail_err(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    ferry_rpc_code_t code = ferry_rpc_code_from_err(err->code);
    if (code == FERRY_RPC_OK)
        code = FERRY_RPC_UNKNOWN;
    /* Every error name travels as the application code: seed names (E_PACKAGE_INVALID...)
     * and generic ones (E_PERMISSION, E_NOSPACE, E_INVALID_ARG...) alike. */
    const char *app = err->code != FERRY_OK ? ferry_err_name(err->code) : NULL;
    return complete_error(call, code, app, err->msg);
}

ferry_err_code_t ferry_rpc_call_send(ferry_rpc_call_t *call, const ProtobufCMessage *msg)
{
    ferry_err_code_t rc = FERRY_OK;
    if (call->route->method->kind != FERRY_RPC_SERVER_STREAMING || atomic_load(&call->completed))
        return FERRY_E_INVALID_ARG;
    if (atomic_load(&call->canceled))
        return FERRY_E_CANCELED;
    outbuf_t *b = make_frame(call, msg);
    if (b == NULL)
        return FERRY_E_INTERNAL;
    pthread_mutex_lock(&call->mu);
    if (call->end_queued) {
        rc = FERRY_E_CANCELED;
    } else if (call->queued_bytes + b->len > call->lt->srv->cfg.max_stream_queue && call->queued_bytes > 0) {
        rc = FERRY_E_UNAVAILABLE;
    } else {
        enqueue_locked(call, b);
        b = NULL;
    }
    pthread_mutex_unlock(&call->mu);
    free(b);
    if (rc == FERRY_OK)
        notify(call);
    return rc;
}

ferry_err_code_t ferry_rpc_call_finish(ferry_rpc_call_t *call, ferry_rpc_code_t code, const char *app_code,
                                       const char *message)
{
    return complete_error(call, code, code == FERRY_RPC_OK ? NULL : app_code,
                          code == FERRY_RPC_OK ? NULL : message);
}
