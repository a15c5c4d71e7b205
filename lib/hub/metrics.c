/*
 * The hub's metrics: an interceptor counting every RPC by method and status code
 * with a latency histogram, and `GET /metrics` in the Prometheus text format (0.0.4)
 * adding tasks by state, nodes online and open streams.
 *
 * The counters are lock-free: a fixed open-addressed table of methods (claimed once
 * with a CAS on the method pointer), each with per-code atomic counters, so the
 * `after` hook costs a few relaxed atomic adds on the hot path (CheckIn at 20k/s).
 * Scrapes read the counters without stopping writers; a scrape may see a count and
 * its histogram a few increments apart, which Prometheus tolerates.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/model/states.h"
#include "ferry/store/metrics.h"
#include "hub_agent.h"
#include "hub_fleet.h"

#define MX_METHODS 256 /* > every method of every service we register */
#define MX_CODES   17  /* FERRY_RPC_OK .. FERRY_RPC_UNAUTHENTICATED */

/* Upper bounds of the latency buckets, in nanoseconds (and their labels). */
static const uint64_t BUCKET_NS[] = {100000,   250000,   500000,    1000000,   2500000,    5000000,
                                     10000000, 25000000, 100000000, 500000000, 1000000000, 5000000000ull};
static const char *const BUCKET_LE[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                        "0.01",   "0.025",   "0.1",    "0.5",   "1",      "5"};
#define MX_BUCKETS (sizeof(BUCKET_NS) / sizeof(BUCKET_NS[0]))

typedef struct mx_code {
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
    atomic_uint_fast64_t bucket[MX_BUCKETS]; /* non-cumulative; summed at scrape */
} mx_code_t;

typedef struct mx_method {
    _Atomic(const ferry_rpc_method_t *) method;
    mx_code_t codes[MX_CODES];
} mx_method_t;

struct hub_metrics {
    mx_method_t methods[MX_METHODS];
    atomic_uint_fast64_t dropped; /* calls not counted: table full (never expected) */
    atomic_int_fast64_t streams;
};

static struct hub_metrics *metrics_of(ferry_hub_t *hub)
{
    return hub->metrics;
}

void hub_metrics_stream(ferry_hub_t *hub, int delta)
{
    struct hub_metrics *m = metrics_of(hub);
    if (m != NULL)
        atomic_fetch_add_explicit(&m->streams, delta, memory_order_relaxed);
}

static mx_method_t *slot_for(struct hub_metrics *m, const ferry_rpc_method_t *method)
{
    size_t h = (size_t)(((uintptr_t)method >> 4) * 0x9E3779B97F4A7C15ull >> 32) & (MX_METHODS - 1);
    for (size_t i = 0; i < MX_METHODS; i++) {
        mx_method_t *s = &m->methods[(h + i) & (MX_METHODS - 1)];
        const ferry_rpc_method_t *cur = atomic_load_explicit(&s->method, memory_order_acquire);
        if (cur == method)
            return s;
        if (cur == NULL) {
            const ferry_rpc_method_t *expected = NULL;
            if (atomic_compare_exchange_strong(&s->method, &expected, method) || expected == method)
                return s;
        }
    }
    return NULL;
}

static void after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user)
{
    struct hub_metrics *m = user;
    const ferry_rpc_method_t *method = ferry_rpc_call_method(call);
    mx_method_t *s = method != NULL ? slot_for(m, method) : NULL;
    if (s == NULL || (unsigned)code >= MX_CODES) {
        atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
        return;
    }
    mx_code_t *c = &s->codes[code];
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->sum_ns, duration_ns, memory_order_relaxed);
    for (size_t i = 0; i < MX_BUCKETS; i++) {
        if (duration_ns <= BUCKET_NS[i]) {
            atomic_fetch_add_explicit(&c->bucket[i], 1, memory_order_relaxed);
            break;
        }
    }
}

/* A growing text buffer; on allocation failure it stops growing and marks itself. */
typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf_t;

static void bprintf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void render_rpc(struct hub_metrics *m, buf_t *b)
{
    bprintf(b, "# HELP ferry_rpc_requests_total RPCs completed, by method and status code.\n"
               "# TYPE ferry_rpc_requests_total counter\n");
    for (size_t i = 0; i < MX_METHODS; i++) {
        const ferry_rpc_method_t *me = atomic_load(&m->methods[i].method);
        for (int c = 0; me != NULL && c < MX_CODES; c++) {
            uint64_t n = atomic_load_explicit(&m->methods[i].codes[c].count, memory_order_relaxed);
            if (n > 0)
                bprintf(b, "ferry_rpc_requests_total{service=\"%s\",method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                        me->service, me->name, ferry_rpc_code_name((ferry_rpc_code_t)c), n);
        }
    }
    bprintf(b,
            "# HELP ferry_rpc_duration_seconds RPC latency (streams: their lifetime), by method and code.\n"
            "# TYPE ferry_rpc_duration_seconds histogram\n");
    for (size_t i = 0; i < MX_METHODS; i++) {
        const ferry_rpc_method_t *me = atomic_load(&m->methods[i].method);
        for (int c = 0; me != NULL && c < MX_CODES; c++) {
            mx_code_t *k = &m->methods[i].codes[c];
            uint64_t n = atomic_load_explicit(&k->count, memory_order_relaxed);
            if (n == 0)
                continue;
            uint64_t cum = 0;
            const char *code = ferry_rpc_code_name((ferry_rpc_code_t)c);
            for (size_t j = 0; j < MX_BUCKETS; j++) {
                cum += atomic_load_explicit(&k->bucket[j], memory_order_relaxed);
                bprintf(
                    b,
                    "ferry_rpc_duration_seconds_bucket{service=\"%s\",method=\"%s\",code=\"%s\",le=\"%s\"} "
                    "%" PRIu64 "\n",
                    me->service, me->name, code, BUCKET_LE[j], cum);
            }
            bprintf(b,
                    "ferry_rpc_duration_seconds_bucket{service=\"%s\",method=\"%s\",code=\"%s\",le=\"+Inf\"} "
                    "%" PRIu64 "\n",
                    me->service, me->name, code, n);
            bprintf(b, "ferry_rpc_duration_seconds_sum{service=\"%s\",method=\"%s\",code=\"%s\"} %.9f\n",
                    me->service, me->name, code,
                    (double)atomic_load_explicit(&k->sum_ns, memory_order_relaxed) / 1e9);
            bprintf(
                b, "ferry_rpc_duration_seconds_count{service=\"%s\",method=\"%s\",code=\"%s\"} %" PRIu64 "\n",
                me->service, me->name, code, n);
        }
    }
}

static const int STATES[] = {
    FERRY_STATE_PENDING,           FERRY_STATE_DOWNLOADING,       FERRY_STATE_VERIFYING,
    FERRY_STATE_WAITING_USER,      FERRY_STATE_STOPPING_SERVICE,  FERRY_STATE_BACKING_UP,
    FERRY_STATE_INSTALLING_SERVER, FERRY_STATE_INSTALLING_CLIENT, FERRY_STATE_RUNNING_SQL,
    FERRY_STATE_STARTING_SERVICE,  FERRY_STATE_SUCCEEDED,         FERRY_STATE_FAILED,
    FERRY_STATE_ROLLBACKING,       FERRY_STATE_ROLLBACKED,
};
#define N_STATES (sizeof(STATES) / sizeof(STATES[0]))

static void count_state(void *ctx, int state, int64_t count)
{
    uint64_t *counts = ctx;
    for (size_t i = 0; i < N_STATES; i++) {
        if (STATES[i] == state)
            counts[i] = (uint64_t)count;
    }
}

/* Tasks by state and node totals, from the read-only side connection (never waits
 * for a writer's fsync). */
static void render_db(ferry_hub_t *hub, buf_t *b)
{
    ferry_err_t err = {0};
    uint64_t counts[N_STATES] = {0};
    int64_t nodes = -1;
    if (ferry_store_task_states_ro(hub->store, count_state, counts, &err) != FERRY_OK)
        return;
    if (ferry_store_nodes_enabled_ro(hub->store, &nodes, &err) != FERRY_OK)
        nodes = -1;
    bprintf(
        b,
        "# HELP ferry_tasks Update tasks by state (seed 000 section 8.2 code).\n# TYPE ferry_tasks gauge\n");
    for (size_t i = 0; i < N_STATES; i++)
        bprintf(b, "ferry_tasks{state=\"%d\"} %" PRIu64 "\n", STATES[i], counts[i]);
    if (nodes >= 0)
        bprintf(b, "# HELP ferry_nodes Enabled nodes.\n# TYPE ferry_nodes gauge\nferry_nodes %" PRId64 "\n",
                nodes);
}

static int metrics_route(void *req, void *user)
{
    ferry_hub_t *hub = user;
    struct hub_metrics *m = metrics_of(hub);
    ferry_http_req_view_t v;
    buf_t b = {0};
    ferry_http_req_view(req, &v);
    if (!(v.method_len == 3 && memcmp(v.method, "GET", 3) == 0) || v.path_len != 8) {
        if (v.path_len != 8)
            return -1; /* "/metricsX": not ours */
        ferry_http_reply(req, 405, "text/plain; charset=utf-8", "use GET\n", 8);
        return 0;
    }
    render_rpc(m, &b);
    render_db(hub, &b);
    bprintf(&b,
            "# HELP ferry_nodes_online Nodes with a sign of life within the offline-after time.\n"
            "# TYPE ferry_nodes_online gauge\nferry_nodes_online %" PRIu64 "\n"
            "# HELP ferry_streams_open Open WatchAssignments and WatchRelease streams.\n"
            "# TYPE ferry_streams_open gauge\nferry_streams_open %" PRId64 "\n"
            "# HELP ferry_rpc_uncounted_total RPCs the metrics table could not hold.\n"
            "# TYPE ferry_rpc_uncounted_total counter\nferry_rpc_uncounted_total %" PRIu64 "\n",
            hub_presence_count_online(hub), (int64_t)atomic_load(&m->streams),
            (uint64_t)atomic_load(&m->dropped));
    {
        char *fleet = hub_fleet_metrics(hub); /* fleet_status.c: nodes by status, heartbeat ages, licences */
        if (fleet != NULL)
            bprintf(&b, "%s", fleet);
        free(fleet);
    }
    if (b.failed)
        ferry_http_reply(req, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
    else
        ferry_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    free(b.p);
    return 0;
}

ferry_err_code_t hub_metrics_attach(ferry_hub_t *hub, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    ferry_err_code_t rc;
    if (hub->metrics == NULL && (hub->metrics = calloc(1, sizeof(*hub->metrics))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "metrics: out of memory");
    ferry_rpc_interceptor_t ic = {.before = NULL, .after = after, .user = hub->metrics};
    if ((rc = ferry_rpc_server_add_interceptor(srv, &ic, err)) != FERRY_OK)
        return rc;
    return ferry_rpc_server_add_route(srv, "/metrics", metrics_route, hub, err);
}

void hub_metrics_free(ferry_hub_t *hub)
{
    free(hub->metrics);
    hub->metrics = NULL;
}
