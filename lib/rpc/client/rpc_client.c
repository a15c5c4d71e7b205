/*
 * The RPC client transport: one libcurl multi handle driven by a dedicated I/O
 * thread. Calls are submitted through a queue and curl_multi_wakeup(); the calling
 * thread blocks on its call's condition variable, runs the user's stream callback
 * for messages the I/O thread queued, and enforces deadlines and cancellation by
 * asking the I/O thread to remove the transfer (which resets the HTTP/2 stream).
 *
 * Response bytes are decoded on the I/O thread by the pure decoder in
 * response_decoder.c as they arrive.
 *
 * Locking: one mutex per client guards the submission list, the token, and every
 * call's shared fields (done, abort, pause flags, message queue). libcurl handles are
 * touched only by the I/O thread while a call is in flight, and by the calling thread
 * before submission and after `done`.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "client_util_internal.h"
#include "curl_tls_internal.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/rpc_client.h"
#include "response_decoder_internal.h"

#define DEFAULT_MAX_MESSAGE   (4u * 1024u * 1024u)
#define DEFAULT_MAX_RETRIES   4u
#define DEFAULT_RETRY_BASE_MS 100u
#define DEFAULT_RETRY_MAX_MS  5000u
#define DEFAULT_USER_AGENT    "ferry-rpc/0.1"
#define QUEUE_HIGH_WATER      64u /* queued stream messages before the transfer is paused */
#define QUEUE_LOW_WATER       16u /* ... and resumed */
#define CANCEL_POLL_MS        20u /* how often a blocked caller looks at opts->cancel */
#define CONNECT_TIMEOUT_MS    10000L
#define IDLE_POLL_MS          1000
#define MAX_TIMEOUT_HEADER_MS 9999999999ull /* connect-timeout-ms: at most 10 digits */

/* ------------------------------------------------------------------------- */
/* Types                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct qnode {
    ProtobufCMessage *msg;
    struct qnode *next;
} qnode_t;

typedef struct call {
    ferry_rpc_client_t *client;
    struct call *next; /* pending list, then the I/O thread's active list */
    CURL *easy;
    struct curl_slist *headers;
    ferry_rd_t *rd;
    char errbuf[CURL_ERROR_SIZE];
    pthread_cond_t cond;

    /* Guarded by client->mu. */
    bool done;
    ferry_rpc_code_t abort; /* FERRY_RPC_OK, or CANCELED / DEADLINE_EXCEEDED asked by the caller */
    bool paused;
    bool want_unpause;
    CURLcode result;
    qnode_t *qhead, *qtail;
    size_t qcount;
    struct call *wnext; /* guarded by client->mu: the list of calls a caller waits on */
} call_t;

struct ferry_rpc_client {
    ferry_rpc_client_config_t cfg; /* strings below are owned copies */
    char *base_url;
    char *user_agent;
    ferry_curl_tls_t tlsset; /* CA file, pin, insecure (curl_tls.c) */
    bool tls;

    pthread_mutex_t mu;
    char *token;     /* guarded by mu */
    bool closing;    /* guarded by mu */
    call_t *pending; /* guarded by mu: submitted, not yet added to the multi handle */
    call_t *waiting; /* guarded by mu: calls whose caller is in wait_call() */
    call_t *active;  /* I/O thread only */
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
};

/* ------------------------------------------------------------------------- */
/* Time                                                                      */
/* ------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec abs_ms(uint64_t ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    return ts;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------------- */
/* I/O thread                                                                */
/* ------------------------------------------------------------------------- */

static void call_complete(ferry_rpc_client_t *c, call_t *k, CURLcode result)
{
    pthread_mutex_lock(&c->mu);
    k->result = result;
    k->done = true;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&c->mu);
}

static void active_remove(ferry_rpc_client_t *c, call_t *k)
{
    for (call_t **pp = &c->active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            k->next = NULL;
            break;
        }
    }
}

static void *io_main(void *arg)
{
    ferry_rpc_client_t *c = arg;
    /* A write to a connection the peer closed must not kill the process: SIGPIPE is
     * thread-directed, so blocking it here is enough (libcurl also uses MSG_NOSIGNAL). */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool closing = c->closing;
        call_t *fresh = c->pending;
        c->pending = NULL;
        pthread_mutex_unlock(&c->mu);

        while (fresh != NULL) {
            call_t *k = fresh;
            fresh = k->next;
            CURLMcode mc = curl_multi_add_handle(c->multi, k->easy);
            if (mc != CURLM_OK) {
                snprintf(k->errbuf, sizeof(k->errbuf), "%s", curl_multi_strerror(mc));
                call_complete(c, k, CURLE_FAILED_INIT);
                continue;
            }
            k->next = c->active;
            c->active = k;
        }

        /* Aborts (deadline, cancel) and resumptions asked by calling threads. */
        call_t *k = c->active;
        while (k != NULL) {
            call_t *nx = k->next;
            pthread_mutex_lock(&c->mu);
            ferry_rpc_code_t abort = k->abort;
            bool unpause = k->want_unpause;
            k->want_unpause = false;
            if (unpause)
                k->paused = false;
            pthread_mutex_unlock(&c->mu);
            if (abort != FERRY_RPC_OK) {
                /* Removing a live transfer resets its HTTP/2 stream (or closes its
                 * HTTP/1.1 connection). libcurl 7.88 leaves that RST_STREAM in its
                 * output buffer until the connection next sends something (curl#17611),
                 * so the server would not learn of the cancellation: forbidding reuse
                 * closes the connection instead when no other call is using it. */
                curl_easy_setopt(k->easy, CURLOPT_FORBID_REUSE, 1L);
                curl_multi_remove_handle(c->multi, k->easy);
                active_remove(c, k);
                call_complete(c, k, CURLE_ABORTED_BY_CALLBACK);
            } else if (unpause) {
                curl_easy_pause(k->easy, CURLPAUSE_CONT);
            }
            k = nx;
        }

        if (closing && c->active == NULL)
            break;

        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            call_t *done = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&done);
            CURLcode res = m->data.result;
            curl_multi_remove_handle(c->multi, m->easy_handle);
            if (done != NULL) {
                active_remove(c, done);
                call_complete(c, done, res);
            }
        }
        /* Every change a calling thread makes (new call, abort, unpause, close) calls
         * curl_multi_wakeup(), and libcurl shortens the wait to its own next timer. But
         * libcurl 7.88 can leave HTTP/2 response data it already read unprocessed until
         * the next poll returns: a 2.4 MB AssignConfig reply (10,000 nodes) took 10.5 s
         * with a 5 s bound and 1.7 s with 1 s (the server answers in 0.9 s). So 1 s. */
        curl_multi_poll(c->multi, NULL, 0, IDLE_POLL_MS, NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* libcurl callbacks (I/O thread)                                            */
/* ------------------------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    call_t *k = user;
    size_t len = size * n;
    return ferry_rd_header_line(k->rd, data, len) == 0 ? len : 0;
}

static size_t on_write(char *data, size_t size, size_t n, void *user)
{
    call_t *k = user;
    ferry_rpc_client_t *c = k->client;
    size_t len = size * n;
    pthread_mutex_lock(&c->mu);
    bool full = k->qcount >= QUEUE_HIGH_WATER;
    if (full)
        k->paused = true;
    pthread_mutex_unlock(&c->mu);
    if (full)
        return CURL_WRITEFUNC_PAUSE; /* libcurl hands the same bytes again after resuming */
    return ferry_rd_body(k->rd, (const uint8_t *)data, len) == 0 ? len : 0;
}

/* Decoder callback: queues a streamed message for the calling thread. */
static int on_message(ProtobufCMessage *msg, void *user)
{
    call_t *k = user;
    ferry_rpc_client_t *c = k->client;
    qnode_t *q = malloc(sizeof(*q));
    if (q == NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return -1;
    }
    q->msg = msg;
    q->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (k->qtail != NULL)
        k->qtail->next = q;
    else
        k->qhead = q;
    k->qtail = q;
    k->qcount++;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Client                                                                    */
/* ------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

ferry_rpc_client_t *ferry_rpc_client_new(const ferry_rpc_client_config_t *cfg, ferry_err_t *err)
{
    ferry_rpc_client_t *c = NULL;
    bool mu_ok = false;
    if (cfg == NULL || cfg->base_url == NULL) {
        ferry_err_set(err, FERRY_E_INVALID_ARG, "rpc client: base_url is required");
        goto fail;
    }
    bool https = strncmp(cfg->base_url, "https://", 8) == 0;
    if (!https && strncmp(cfg->base_url, "http://", 7) != 0) {
        ferry_err_set(err, FERRY_E_INVALID_ARG,
                      "rpc client: base_url '%s' must start with http:// or https://", cfg->base_url);
        goto fail;
    }
    if (ferry_curl_global_init("rpc client", err) != FERRY_OK)
        goto fail;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc client: out of memory");
        goto fail;
    }
    c->cfg = *cfg;
    c->tls = https;
    if (c->cfg.max_retries == 0)
        c->cfg.max_retries = DEFAULT_MAX_RETRIES;
    if (c->cfg.retry_base_ms == 0)
        c->cfg.retry_base_ms = DEFAULT_RETRY_BASE_MS;
    if (c->cfg.retry_max_ms == 0)
        c->cfg.retry_max_ms = DEFAULT_RETRY_MAX_MS;
    if (c->cfg.max_message_bytes == 0)
        c->cfg.max_message_bytes = DEFAULT_MAX_MESSAGE;
    c->base_url = strdup(cfg->base_url);
    c->user_agent = strdup(cfg->user_agent != NULL ? cfg->user_agent : DEFAULT_USER_AGENT);
    c->token = dup_or_null(cfg->bearer_token);
    if (c->base_url == NULL || c->user_agent == NULL || (cfg->bearer_token && !c->token)) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc client: out of memory");
        goto fail;
    }
    size_t bl = strlen(c->base_url);
    while (bl > 0 && c->base_url[bl - 1] == '/')
        c->base_url[--bl] = '\0';
    c->cfg.base_url = c->base_url;
    c->cfg.user_agent = c->user_agent;
    c->cfg.bearer_token = NULL; /* only c->token, under mu */
    if (ferry_curl_tls_init(&c->tlsset, cfg->ca_file, cfg->pin_sha256, cfg->insecure_skip_verify,
                            "rpc client", err) != FERRY_OK)
        goto fail;
    c->cfg.ca_file = c->tlsset.ca_file;
    c->cfg.pin_sha256 = NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc client: pthread_mutex_init failed");
        goto fail;
    }
    mu_ok = true;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "rpc client: curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    int prc = pthread_create(&c->thread, NULL, io_main, c);
    if (prc != 0) {
        ferry_err_set_errno(err, FERRY_E_IO, prc, "rpc client: starting the I/O thread");
        goto fail;
    }
    c->thread_started = true;
    return c;
fail:
    if (c != NULL) {
        if (c->multi != NULL)
            curl_multi_cleanup(c->multi);
        if (mu_ok)
            pthread_mutex_destroy(&c->mu);
        free(c->base_url);
        ferry_curl_tls_free(&c->tlsset);
        free(c->user_agent);
        free(c->token);
        free(c);
    }
    return NULL;
}

void ferry_rpc_client_free(ferry_rpc_client_t *c)
{
    if (c == NULL)
        return;
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        c->closing = true;
        pthread_mutex_unlock(&c->mu);
        curl_multi_wakeup(c->multi);
        pthread_join(c->thread, NULL);
    }
    curl_multi_cleanup(c->multi);
    pthread_mutex_destroy(&c->mu);
    free(c->base_url);
    ferry_curl_tls_free(&c->tlsset);
    free(c->user_agent);
    free(c->token);
    free(c);
}

void ferry_rpc_client_set_token(ferry_rpc_client_t *c, const char *bearer_token)
{
    char *t = dup_or_null(bearer_token);
    pthread_mutex_lock(&c->mu);
    char *old = c->token;
    c->token = t;
    pthread_mutex_unlock(&c->mu);
    free(old);
}

void ferry_rpc_client_register_service(const ferry_rpc_service_desc_t *svc)
{
    if (svc == NULL || svc->json_files == NULL)
        return;
    for (const ferry_json_file_info_t *const *f = svc->json_files; *f != NULL; f++)
        ferry_json_register_file(*f);
}

/* ------------------------------------------------------------------------- */
/* Request encoding                                                          */
/* ------------------------------------------------------------------------- */

/* A request body being built: growable, freed by the caller. */
typedef struct body {
    uint8_t *data;
    size_t len, cap;
} body_t;

static int body_append(body_t *b, const void *p, size_t n)
{
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Serializes |msg| with |codec| into a new buffer (*out, free()). */
static ferry_rpc_code_t serialize(const ProtobufCMessage *msg, ferry_rpc_codec_t codec, uint8_t **out,
                                  size_t *out_len, ferry_rpc_status_t *st)
{
    ferry_rpc_code_t code = FERRY_RPC_OK;
    *out = NULL;
    if (codec == FERRY_RPC_CODEC_JSON) {
        ferry_err_t err = {0};
        char *json = NULL;
        if (ferry_json_encode(msg, 0, &json, out_len, &err) != FERRY_OK) {
            ferry_rd_status_set(st, FERRY_RPC_INTERNAL, "encoding the request as JSON: %s", err.msg);
            code = FERRY_RPC_INTERNAL;
            goto out;
        }
        *out = (uint8_t *)json;
    } else {
        size_t n = protobuf_c_message_get_packed_size(msg);
        *out = malloc(n ? n : 1);
        if (*out == NULL) {
            ferry_rd_status_set(st, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte request", n);
            code = FERRY_RPC_RESOURCE_EXHAUSTED;
            goto out;
        }
        *out_len = protobuf_c_message_pack(msg, *out);
    }
out:
    return code;
}

/*
 * Builds the request body: the bare (maybe gzipped) message for Connect unary,
 * envelopes otherwise. Sets *compressed when gzip was applied.
 */
static ferry_rpc_code_t build_body(const ferry_rpc_client_t *c, bool enveloped,
                                   const ProtobufCMessage *const *reqs, size_t n_reqs, body_t *b,
                                   bool *compressed, ferry_rpc_status_t *st)
{
    ferry_rpc_code_t code = FERRY_RPC_OK;
    uint8_t *raw = NULL, *gz = NULL;
    *compressed = false;
    for (size_t i = 0; i < n_reqs; i++) {
        size_t raw_len = 0, gz_len = 0;
        code = serialize(reqs[i], c->cfg.codec, &raw, &raw_len, st);
        if (code != FERRY_RPC_OK)
            goto out;
        const uint8_t *p = raw;
        size_t plen = raw_len;
        uint8_t flags = 0;
        if (c->cfg.gzip_requests && raw_len > 0) {
            ferry_err_t err = {0};
            if (ferry_gzip_compress(raw, raw_len, &gz, &gz_len, &err) != FERRY_OK) {
                code = FERRY_RPC_INTERNAL;
                ferry_rd_status_set(st, code, "compressing the request: %s", err.msg);
                goto out;
            }
            p = gz;
            plen = gz_len;
            flags = FERRY_ENVELOPE_COMPRESSED;
            *compressed = true;
        }
        if (plen > UINT32_MAX) {
            code = FERRY_RPC_RESOURCE_EXHAUSTED;
            ferry_rd_status_set(st, code, "request message of %zu bytes is too large", plen);
            goto out;
        }
        uint8_t hdr[FERRY_ENVELOPE_HEADER_LEN];
        ferry_envelope_write_header(hdr, flags, (uint32_t)plen);
        if ((enveloped && body_append(b, hdr, sizeof(hdr)) != 0) || body_append(b, p, plen) != 0) {
            code = FERRY_RPC_RESOURCE_EXHAUSTED;
            ferry_rd_status_set(st, code, "out of memory for the request body");
            goto out;
        }
        free(raw);
        free(gz);
        raw = gz = NULL;
    }
out:
    free(raw);
    free(gz);
    return code;
}

/* ------------------------------------------------------------------------- */
/* Calls                                                                     */
/* ------------------------------------------------------------------------- */

/* One logical call (all attempts). */
typedef struct request {
    const ferry_rpc_method_t *m;
    ferry_rd_wire_t wire;
    bool single;
    body_t body;
    bool compressed;
    uint64_t deadline; /* CLOCK_MONOTONIC ms, 0 = none */
    uint32_t timeout_ms;
    const ferry_rpc_call_opts_t *opts;
    ferry_rpc_stream_cb cb;
    void *user;
    bool cb_stopped;  /* the callback asked to stop */
    size_t delivered; /* messages handed to cb */
} request_t;

static void call_free(call_t *k)
{
    if (k == NULL)
        return;
    if (k->easy != NULL)
        curl_easy_cleanup(k->easy);
    curl_slist_free_all(k->headers);
    ferry_rd_free(k->rd);
    for (qnode_t *q = k->qhead; q != NULL;) {
        qnode_t *nx = q->next;
        protobuf_c_message_free_unpacked(q->msg, NULL);
        free(q);
        q = nx;
    }
    pthread_cond_destroy(&k->cond);
    free(k);
}

static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *n = curl_slist_append(*list, h);
    if (n == NULL)
        return -1;
    *list = n;
    return 0;
}

static int add_headerf(struct curl_slist **list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int add_headerf(struct curl_slist **list, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    return add_header(list, buf);
}

/* Builds the headers of one attempt; |remaining_ms| 0 = no deadline. */
static int build_headers(ferry_rpc_client_t *c, const request_t *r, uint64_t remaining_ms,
                         struct curl_slist **h)
{
    bool json = c->cfg.codec == FERRY_RPC_CODEC_JSON;
    int rc = -1;
    char *token = NULL;
    if (add_header(h, "Expect:") != 0)
        goto out;
    if (c->cfg.protocol == FERRY_RPC_PROTOCOL_GRPC_WEB) {
        if (add_headerf(h, "Content-Type: application/grpc-web+%s", json ? "json" : "proto") != 0 ||
            add_header(h, "X-Grpc-Web: 1") != 0 || add_header(h, "Grpc-Accept-Encoding: gzip") != 0)
            goto out;
        if (r->compressed && add_header(h, "Grpc-Encoding: gzip") != 0)
            goto out;
        if (remaining_ms > 0) {
            char tv[16];
            ferry_rpc_format_grpc_timeout(remaining_ms, tv);
            if (add_headerf(h, "Grpc-Timeout: %s", tv) != 0)
                goto out;
        }
    } else {
        if (add_header(h, "Connect-Protocol-Version: 1") != 0)
            goto out;
        if (r->wire == FERRY_RD_CONNECT_UNARY) {
            if (add_headerf(h, "Content-Type: application/%s", json ? "json" : "proto") != 0 ||
                add_header(h, "Accept-Encoding: gzip") != 0)
                goto out;
            if (r->compressed && add_header(h, "Content-Encoding: gzip") != 0)
                goto out;
        } else {
            if (add_headerf(h, "Content-Type: application/connect+%s", json ? "json" : "proto") != 0 ||
                add_header(h, "Connect-Accept-Encoding: gzip") != 0)
                goto out;
            if (r->compressed && add_header(h, "Connect-Content-Encoding: gzip") != 0)
                goto out;
        }
        if (remaining_ms > 0) {
            uint64_t v = remaining_ms > MAX_TIMEOUT_HEADER_MS ? MAX_TIMEOUT_HEADER_MS : remaining_ms;
            if (add_headerf(h, "Connect-Timeout-Ms: %" PRIu64, v) != 0)
                goto out;
        }
    }
    pthread_mutex_lock(&c->mu);
    token = dup_or_null(c->token);
    bool has_token = c->token != NULL;
    pthread_mutex_unlock(&c->mu);
    if (has_token && (token == NULL || add_headerf(h, "Authorization: Bearer %s", token) != 0))
        goto out;
    if (r->opts != NULL && r->opts->headers != NULL) {
        for (const char *const *x = r->opts->headers; *x != NULL; x++) {
            if (add_header(h, *x) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}

static call_t *call_new(ferry_rpc_client_t *c, request_t *r, uint64_t remaining_ms, ferry_rpc_status_t *st)
{
    call_t *k = calloc(1, sizeof(*k));
    pthread_condattr_t ca;
    bool ca_ok = false;
    if (k == NULL)
        goto nomem;
    k->client = c;
    if (pthread_condattr_init(&ca) != 0)
        goto nomem_free;
    ca_ok = true;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_cond_init(&k->cond, &ca) != 0) {
        free(k);
        k = NULL;
        goto nomem;
    }
    ferry_rd_config_t rc = {
        .wire = r->wire,
        .codec = c->cfg.codec,
        .output = r->m->output,
        .max_message_bytes = c->cfg.max_message_bytes,
        .single = r->single,
        .on_message = r->single ? NULL : on_message,
        .user = k,
    };
    k->rd = ferry_rd_new(&rc);
    k->easy = curl_easy_init();
    if (k->rd == NULL || k->easy == NULL || build_headers(c, r, remaining_ms, &k->headers) != 0)
        goto nomem_free;

    char url[2048];
    int ul = snprintf(url, sizeof(url), "%s%s", c->base_url, r->m->path);
    if (ul < 0 || (size_t)ul >= sizeof(url)) {
        ferry_rd_status_set(st, FERRY_RPC_INVALID_ARGUMENT, "URL too long");
        call_free(k);
        k = NULL;
        goto out;
    }
    CURL *e = k->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, k);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.len ? (const char *)r->body.data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L); /* we decompress, with caps */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (c->cfg.http_version == FERRY_RPC_HTTP_1_1) {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    } else {
        /* TLS: ALPN h2. Cleartext: HTTP/1.1 Upgrade to h2c, never prior knowledge
         * (curl 7.88 breaks reusing a prior-knowledge connection). */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                         (long)(c->tls ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_2_0));
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    }
    if (c->tls)
        ferry_curl_tls_apply(&c->tlsset, e);
    goto out;
nomem_free:
    call_free(k);
    k = NULL;
nomem:
    ferry_rd_status_set(st, FERRY_RPC_RESOURCE_EXHAUSTED, "out of memory starting a call");
out:
    if (ca_ok)
        pthread_condattr_destroy(&ca);
    return k;
}

/* Maps a transport failure; *retryable says whether trying again may help. */
static void transport_status(CURLcode res, const char *errbuf, ferry_rpc_status_t *st, bool *retryable)
{
    ferry_rpc_code_t code = FERRY_RPC_UNAVAILABLE;
    *retryable = true;
    switch (res) {
    case CURLE_OPERATION_TIMEDOUT:
        code = FERRY_RPC_DEADLINE_EXCEEDED;
        *retryable = false;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
        *retryable = false; /* the same server certificate will fail again */
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_OUT_OF_MEMORY:
        code = FERRY_RPC_INTERNAL;
        *retryable = false;
        break;
    default:
        break;
    }
    ferry_rd_status_set(st, code, "transport: %s%s%s", curl_easy_strerror(res), errbuf[0] ? ": " : "",
                        errbuf);
}

/* Pops one queued message (under mu). */
static ProtobufCMessage *queue_pop(call_t *k)
{
    qnode_t *q = k->qhead;
    if (q == NULL)
        return NULL;
    k->qhead = q->next;
    if (k->qhead == NULL)
        k->qtail = NULL;
    k->qcount--;
    ProtobufCMessage *msg = q->msg;
    free(q);
    return msg;
}

/*
 * Blocks until the I/O thread is done with |k|, running the stream callback for
 * queued messages on this thread and turning the deadline, the cancel flag and a
 * callback's stop request into an abort the I/O thread carries out.
 */
static void wait_call(ferry_rpc_client_t *c, request_t *r, call_t *k)
{
    pthread_mutex_lock(&c->mu);
    k->wnext = c->waiting;
    c->waiting = k;
    for (;;) {
        ProtobufCMessage *msg = NULL;
        if (k->abort == FERRY_RPC_OK && (msg = queue_pop(k)) != NULL) {
            bool resume = k->paused && k->qcount <= QUEUE_LOW_WATER && !k->want_unpause;
            if (resume)
                k->want_unpause = true;
            pthread_mutex_unlock(&c->mu);
            if (resume)
                curl_multi_wakeup(c->multi);
            int stop = 1;
            if (r->cb != NULL) /* only streams queue messages, and a stream always has one */
                stop = r->cb(msg, r->user);
            else
                protobuf_c_message_free_unpacked(msg, NULL);
            r->delivered++;
            pthread_mutex_lock(&c->mu);
            if (stop != 0 && k->abort == FERRY_RPC_OK) {
                r->cb_stopped = true;
                k->abort = FERRY_RPC_CANCELED;
                if (!k->done)
                    curl_multi_wakeup(c->multi);
            }
            continue;
        }
        if (k->done)
            break;
        if (k->abort == FERRY_RPC_OK) {
            if (r->opts != NULL && r->opts->cancel != NULL && *r->opts->cancel) {
                k->abort = FERRY_RPC_CANCELED;
                curl_multi_wakeup(c->multi);
            } else if (r->deadline != 0 && now_ms() >= r->deadline) {
                k->abort = FERRY_RPC_DEADLINE_EXCEEDED;
                curl_multi_wakeup(c->multi);
            }
        }
        if (k->abort != FERRY_RPC_OK) {
            /* Wait for the I/O thread to drop the transfer. */
            pthread_cond_wait(&k->cond, &c->mu);
            continue;
        }
        uint64_t wake = r->deadline;
        if (r->opts != NULL && r->opts->cancel != NULL) {
            uint64_t poll = now_ms() + CANCEL_POLL_MS;
            if (wake == 0 || poll < wake)
                wake = poll;
        }
        if (wake == 0) {
            pthread_cond_wait(&k->cond, &c->mu);
        } else {
            struct timespec ts = abs_ms(wake);
            pthread_cond_timedwait(&k->cond, &c->mu, &ts);
        }
    }
    for (call_t **pp = &c->waiting; *pp != NULL; pp = &(*pp)->wnext)
        if (*pp == k) {
            *pp = k->wnext;
            break;
        }
    pthread_mutex_unlock(&c->mu);
}

void ferry_rpc_client_cancel_all(ferry_rpc_client_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    for (call_t *k = c->waiting; k != NULL; k = k->wnext) {
        if (!k->done && k->abort == FERRY_RPC_OK)
            k->abort = FERRY_RPC_CANCELED;
        pthread_cond_signal(&k->cond);
    }
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
}

/*
 * Runs one attempt: submits the transfer, waits for it (wait_call), and computes its
 * status. Sets *retryable. With |r->single| and OK, *resp receives the response.
 */
static ferry_rpc_code_t attempt(ferry_rpc_client_t *c, request_t *r, ProtobufCMessage **resp,
                                ferry_rpc_status_t *st, bool *retryable)
{
    uint64_t remaining = 0;
    call_t *k = NULL;
    *retryable = false;
    if (r->deadline != 0) {
        uint64_t now = now_ms();
        if (now >= r->deadline) {
            ferry_rd_status_set(st, FERRY_RPC_DEADLINE_EXCEEDED, "deadline exceeded (%" PRIu32 " ms)",
                                r->timeout_ms);
            goto out;
        }
        remaining = r->deadline - now;
    }
    k = call_new(c, r, remaining, st);
    if (k == NULL)
        goto out;

    pthread_mutex_lock(&c->mu);
    k->next = c->pending;
    c->pending = k;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    wait_call(c, r, k);

    /* The I/O thread no longer touches |k|: no lock needed from here on. */
    long http_version = 0;
    curl_easy_getinfo(k->easy, CURLINFO_HTTP_VERSION, &http_version);
    FERRY_DEBUG("rpc %s: attempt done over %s", r->m->path,
                http_version == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
                : http_version == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1"
                                                        : "no HTTP response");
    ferry_rpc_status_t dst;
    if (k->abort == FERRY_RPC_CANCELED) {
        ferry_rd_status_set(st, FERRY_RPC_CANCELED, "%s",
                            r->cb_stopped ? "canceled by the stream callback" : "call canceled");
    } else if (k->abort == FERRY_RPC_DEADLINE_EXCEEDED) {
        ferry_rd_status_set(st, FERRY_RPC_DEADLINE_EXCEEDED, "deadline exceeded (%" PRIu32 " ms)",
                            r->timeout_ms);
    } else if (ferry_rd_failed(k->rd, &dst)) {
        *st = dst; /* the decoder stopped the transfer */
    } else if (k->result != CURLE_OK) {
        transport_status(k->result, k->errbuf, st, retryable);
    } else {
        ferry_rd_finish(k->rd, resp, st);
        *retryable = st->code == FERRY_RPC_UNAVAILABLE;
    }
out:
    call_free(k);
    return st->code;
}

static uint64_t random_u64(void)
{
    uint64_t v = 0;
    ferry_err_t err = {0};
    if (ferry_random_bytes(&v, sizeof(v), &err) != FERRY_OK)
        v = (uint64_t)now_ms() * 6364136223846793005ull;
    return v;
}

/* The whole call: attempts with retries for idempotent methods. */
static ferry_rpc_code_t run(ferry_rpc_client_t *c, request_t *r, ProtobufCMessage **resp,
                            ferry_rpc_status_t *st)
{
    bool idempotent =
        r->m->idempotency == FERRY_RPC_NO_SIDE_EFFECTS || r->m->idempotency == FERRY_RPC_IDEMPOTENT;
    uint64_t start = now_ms();
    r->timeout_ms = r->opts != NULL && r->opts->timeout_ms ? r->opts->timeout_ms : c->cfg.default_timeout_ms;
    r->deadline = r->timeout_ms ? start + r->timeout_ms : 0;
    for (unsigned n = 0;; n++) {
        bool retryable = false;
        ferry_rpc_code_t code = attempt(c, r, resp, st, &retryable);
        if (code == FERRY_RPC_OK || !idempotent || !retryable || code != FERRY_RPC_UNAVAILABLE ||
            n >= c->cfg.max_retries || r->delivered > 0)
            break;
        uint64_t wait = ferry_rpc_backoff_ms(n, c->cfg.retry_base_ms, c->cfg.retry_max_ms, random_u64());
        if (r->deadline != 0 && now_ms() + wait >= r->deadline)
            break;
        FERRY_DEBUG("rpc %s: unavailable (%s), retry %u in %" PRIu64 " ms", r->m->path, st->message, n + 1,
                    wait);
        /* Sleep in slices so a cancel request is noticed. */
        uint64_t until = now_ms() + wait;
        for (uint64_t t = now_ms(); t < until; t = now_ms()) {
            if (r->opts != NULL && r->opts->cancel != NULL && *r->opts->cancel) {
                ferry_rd_status_set(st, FERRY_RPC_CANCELED, "call canceled");
                goto out;
            }
            sleep_ms(until - t < CANCEL_POLL_MS ? until - t : CANCEL_POLL_MS);
        }
    }
out:
    if (st->code != FERRY_RPC_OK)
        FERRY_DEBUG("rpc %s: %s: %s", r->m->path, ferry_rpc_code_name(st->code), st->message);
    return st->code;
}

static ferry_rpc_code_t call_common(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                    const ProtobufCMessage *const *reqs, size_t n_reqs,
                                    ferry_rpc_stream_cb cb, void *user, ProtobufCMessage **resp,
                                    const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st_out)
{
    ferry_rpc_status_t st_local;
    ferry_rpc_status_t *st = st_out != NULL ? st_out : &st_local;
    request_t r;
    memset(&r, 0, sizeof(r));
    memset(st, 0, sizeof(*st));
    if (resp != NULL)
        *resp = NULL;
    if (c == NULL || m == NULL || m->output == NULL) {
        ferry_rd_status_set(st, FERRY_RPC_INVALID_ARGUMENT, "rpc client: missing client or method");
        goto out;
    }
    for (size_t i = 0; i < n_reqs; i++) {
        if (reqs[i] == NULL || reqs[i]->descriptor != m->input) {
            ferry_rd_status_set(st, FERRY_RPC_INVALID_ARGUMENT, "rpc %s: request %zu is not a %s", m->path, i,
                                m->input ? m->input->name : "?");
            goto out;
        }
    }
    r.m = m;
    r.opts = opts;
    r.cb = cb;
    r.user = user;
    r.single = cb == NULL;
    bool grpc_web = c->cfg.protocol == FERRY_RPC_PROTOCOL_GRPC_WEB;
    if (grpc_web)
        r.wire = FERRY_RD_GRPC_WEB;
    else
        r.wire = m->kind == FERRY_RPC_UNARY ? FERRY_RD_CONNECT_UNARY : FERRY_RD_CONNECT_STREAM;
    if (build_body(c, r.wire != FERRY_RD_CONNECT_UNARY, reqs, n_reqs, &r.body, &r.compressed, st) !=
        FERRY_RPC_OK)
        goto out;
    run(c, &r, resp, st);
out:
    free(r.body.data);
    return st->code;
}

ferry_rpc_code_t ferry_rpc_client_unary(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                        const ProtobufCMessage *req, ProtobufCMessage **resp,
                                        const ferry_rpc_call_opts_t *opts, ferry_rpc_status_t *st)
{
    const ProtobufCMessage *reqs[1] = {req};
    return call_common(c, m, reqs, 1, NULL, NULL, resp, opts, st);
}

ferry_rpc_code_t ferry_rpc_client_server_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *req, ferry_rpc_stream_cb cb,
                                                void *user, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st)
{
    const ProtobufCMessage *reqs[1] = {req};
    ferry_rpc_code_t code = FERRY_RPC_INVALID_ARGUMENT;
    if (cb == NULL) {
        if (st != NULL) {
            memset(st, 0, sizeof(*st));
            ferry_rd_status_set(st, code, "rpc client: a stream callback is required");
        }
        goto out;
    }
    code = call_common(c, m, reqs, 1, cb, user, NULL, opts, st);
out:
    return code;
}

ferry_rpc_code_t ferry_rpc_client_client_stream(ferry_rpc_client_t *c, const ferry_rpc_method_t *m,
                                                const ProtobufCMessage *const *reqs, size_t n_reqs,
                                                ProtobufCMessage **resp, const ferry_rpc_call_opts_t *opts,
                                                ferry_rpc_status_t *st)
{
    return call_common(c, m, reqs, n_reqs, NULL, NULL, resp, opts, st);
}
