/*
 * rpc_test_server: serves the test IDL (ferrytest.v1.TestService) and
 * grpc.health.v1.Health on the real RPC runtime, for the integration, client-runtime
 * and interop tests and for bench/rpc_bench.sh.
 *
 * Usage:
 *   rpc_test_server [--host H] [--port N] [--port-file F] [--tls-cert F --tls-key F]
 *                   [--threads N] [--workers N] [--max-message-bytes N]
 *                   [--max-request-bytes N] [--grace-ms N]
 *
 *   --host H               listen address (default 127.0.0.1)
 *   --port N               port, 0 (default) picks a free one
 *   --port-file F          once listening, writes the port number and a newline to F
 *                          (atomically: wait for the file to appear)
 *   --tls-cert/--tls-key   PEM files: TLS with ALPN h2/http1.1; else cleartext h2c/HTTP/1.1
 *   --threads N            event-loop threads (default 2)
 *   --workers N            worker-pool threads (default 4)
 *   --max-message-bytes N  per-message limit (default 4 MiB)
 *   --max-request-bytes N  whole request body limit (default 16 MiB)
 *   --grace-ms N           graceful shutdown period (default 10000)
 *
 * Prints "listening on port N" on stdout once ready. SIGTERM / SIGINT shut down
 * gracefully (in-flight unary calls finish, streams end with `unavailable`); exit 0.
 *
 * Besides the RPCs it serves plain routes:
 *   GET /healthz      "ok" (the health service's route)
 *   GET /inline       a fixed 12-byte inline reply (the benchmark's baseline)
 *   GET /test/stats   JSON counters: {"canceled":N,"slow_done":N,"count_canceled":N}
 *                     canceled = cancel callbacks run for Slow calls, slow_done = Slow
 *                     handlers that finished, count_canceled = Count streams that saw
 *                     their cancel callback.
 *
 * Handler behaviour is described in tests/proto/ferrytest/v1/test.proto; every request
 * header named in EchoRequest.echo_headers is copied into EchoResponse.headers.
 * Echo also sets the response header `x-echo: 1`.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/rpc_server.h"
#include "ferrytest/v1/test.ferry-server.h"
#include "health.h"

#define MAX_ECHO_HEADERS 32
#define MAX_BLOB_REPLY   (64u << 20)
#define MAX_FLAKY_KEYS   256

static atomic_long g_slow_canceled, g_slow_done, g_count_canceled;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- Echo ------------------------------------------------------------------------- */

static void echo(ferry_rpc_call_t *call, const Ferrytest__V1__EchoRequest *req, void *user)
{
    Ferrytest__V1__EchoResponse resp = FERRYTEST__V1__ECHO_RESPONSE__INIT;
    Ferrytest__V1__EchoResponse__HeadersEntry entries[MAX_ECHO_HEADERS];
    Ferrytest__V1__EchoResponse__HeadersEntry *ptrs[MAX_ECHO_HEADERS];
    size_t n = 0;
    resp.payload = req->payload;
    for (size_t i = 0; i < req->n_echo_headers && n < MAX_ECHO_HEADERS; i++) {
        const char *v = ferry_rpc_call_header(call, req->echo_headers[i]);
        if (v == NULL)
            continue;
        ferrytest__v1__echo_response__headers_entry__init(&entries[n]);
        entries[n].key = req->echo_headers[i];
        entries[n].value = (char *)v;
        ptrs[n] = &entries[n];
        n++;
    }
    resp.n_headers = n;
    resp.headers = ptrs;
    ferry_rpc_call_set_header(call, "x-echo", "1");
    ferrytest_v1_test_service_echo_reply(call, &resp);
}

/* ---- Ping ------------------------------------------------------------------------- */

static void ping(ferry_rpc_call_t *call, const Ferrytest__V1__PingRequest *req, void *user)
{
    Ferrytest__V1__PingResponse resp = FERRYTEST__V1__PING_RESPONSE__INIT;
    (void)user;
    resp.text = req->text;
    resp.seq = req->seq;
    ferrytest_v1_test_service_ping_reply(call, &resp);
}

/* ---- Fail ------------------------------------------------------------------------- */

static void fail(ferry_rpc_call_t *call, const Ferrytest__V1__FailRequest *req, void *user)
{
    ferry_rpc_code_t code;
    if (ferry_rpc_code_from_name(req->code, &code) != 0 || code == FERRY_RPC_OK)
        code = FERRY_RPC_UNKNOWN;
    ferry_rpc_call_fail(call, code, req->app_code[0] ? req->app_code : NULL, "%s", req->message);
}

/* ---- Slow (worker thread) ------------------------------------------------------------ */

typedef struct slow_job {
    unsigned delay_ms;
} slow_job_t;

static void on_slow_cancel(ferry_rpc_call_t *call, void *arg)
{
    atomic_fetch_add(&g_slow_canceled, 1);
    FERRY_INFO("test server: Slow %s canceled", ferry_rpc_call_request_id(call));
}

static void slow_work(ferry_rpc_call_t *call, void *arg)
{
    slow_job_t *job = arg;
    uint64_t start = mono_ms();
    while (mono_ms() - start < job->delay_ms && !ferry_rpc_call_is_canceled(call))
        sleep_ms(5);
    Ferrytest__V1__SlowResponse resp = FERRYTEST__V1__SLOW_RESPONSE__INIT;
    resp.slept_ms = (uint32_t)(mono_ms() - start);
    free(job);
    atomic_fetch_add(&g_slow_done, 1);
    ferrytest_v1_test_service_slow_reply(call, &resp);
}

static void slow(ferry_rpc_call_t *call, const Ferrytest__V1__SlowRequest *req, void *user)
{
    slow_job_t *job = malloc(sizeof(*job));
    if (job == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
        return;
    }
    job->delay_ms = req->delay_ms;
    ferry_rpc_call_on_cancel(call, on_slow_cancel, NULL);
    if (ferry_rpc_call_offload(call, slow_work, job) != FERRY_OK) {
        free(job);
        ferry_rpc_call_fail(call, FERRY_RPC_UNAVAILABLE, NULL, "worker pool full");
    }
}

/* ---- Count (server streaming, worker thread) ----------------------------------------- */

typedef struct count_job {
    Ferrytest__V1__CountRequest req; /* scalars copied; strings below owned */
    char *fail_code;
    char *fail_message;
} count_job_t;

static void on_count_cancel(ferry_rpc_call_t *call, void *arg)
{
    atomic_fetch_add(&g_count_canceled, 1);
}

static void count_work(ferry_rpc_call_t *call, void *arg)
{
    count_job_t *job = arg;
    const Ferrytest__V1__CountRequest *r = &job->req;
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->fail && i == r->fail_after)
            break;
        if (i > 0 && r->interval_ms > 0) {
            uint64_t until = mono_ms() + r->interval_ms;
            while (mono_ms() < until && !ferry_rpc_call_is_canceled(call))
                sleep_ms(r->interval_ms < 5 ? r->interval_ms : 5);
        }
        if (ferry_rpc_call_is_canceled(call))
            break;
        Ferrytest__V1__CountResponse msg = FERRYTEST__V1__COUNT_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts.seconds = now.tv_sec;
        ts.nanos = (int32_t)now.tv_nsec;
        msg.index = i;
        msg.sent_at = &ts;
        ferry_err_code_t rc;
        while ((rc = ferrytest_v1_test_service_count_send(call, &msg)) == FERRY_E_UNAVAILABLE)
            sleep_ms(2); /* backpressure: the client reads slower than we produce */
        if (rc != FERRY_OK)
            break;
    }
    if (ferry_rpc_call_is_canceled(call)) {
        ferry_rpc_call_finish(call, FERRY_RPC_CANCELED, NULL, "canceled");
    } else if (r->fail) {
        ferry_rpc_code_t code = FERRY_RPC_ABORTED;
        if (job->fail_code[0] && ferry_rpc_code_from_name(job->fail_code, &code) != 0)
            code = FERRY_RPC_UNKNOWN;
        ferry_rpc_call_finish(call, code, NULL, job->fail_message);
    } else {
        ferry_rpc_call_finish(call, FERRY_RPC_OK, NULL, NULL);
    }
    free(job->fail_code);
    free(job->fail_message);
    free(job);
}

static void count(ferry_rpc_call_t *call, const Ferrytest__V1__CountRequest *req, void *user)
{
    count_job_t *job = calloc(1, sizeof(*job));
    if (job != NULL) {
        job->req = *req;
        job->fail_code = strdup(req->fail_code);
        job->fail_message = strdup(req->fail_message);
    }
    if (job == NULL || job->fail_code == NULL || job->fail_message == NULL) {
        if (job != NULL) {
            free(job->fail_code);
            free(job->fail_message);
            free(job);
        }
        ferry_rpc_call_finish(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
        return;
    }
    ferry_rpc_call_on_cancel(call, on_count_cancel, NULL);
    if (ferry_rpc_call_offload(call, count_work, job) != FERRY_OK) {
        free(job->fail_code);
        free(job->fail_message);
        free(job);
        ferry_rpc_call_finish(call, FERRY_RPC_UNAVAILABLE, NULL, "worker pool full");
    }
}

/* ---- Sum, Blob, Flaky ------------------------------------------------------------------- */

static void sum(ferry_rpc_call_t *call, const Ferrytest__V1__SumRequest *const *reqs, size_t n_reqs,
                void *user)
{
    Ferrytest__V1__SumResponse resp = FERRYTEST__V1__SUM_RESPONSE__INIT;
    for (size_t i = 0; i < n_reqs; i++)
        resp.total += reqs[i]->value;
    resp.count = (uint32_t)n_reqs;
    ferrytest_v1_test_service_sum_reply(call, &resp);
}

static void blob(ferry_rpc_call_t *call, const Ferrytest__V1__BlobRequest *req, void *user)
{
    Ferrytest__V1__BlobResponse resp = FERRYTEST__V1__BLOB_RESPONSE__INIT;
    if (req->reply_bytes > MAX_BLOB_REPLY) {
        ferry_rpc_call_fail(call, FERRY_RPC_INVALID_ARGUMENT, NULL, "reply_bytes over %u", MAX_BLOB_REPLY);
        return;
    }
    uint8_t *data = calloc(1, req->reply_bytes ? req->reply_bytes : 1);
    if (data == NULL) {
        ferry_rpc_call_fail(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
        return;
    }
    resp.received_bytes = req->data.len;
    resp.data.data = data;
    resp.data.len = req->reply_bytes;
    ferrytest_v1_test_service_blob_reply(call, &resp);
    free(data);
}

static pthread_mutex_t g_flaky_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char key[64];
    uint32_t attempts;
} g_flaky[MAX_FLAKY_KEYS];
static size_t g_n_flaky;

static void flaky(ferry_rpc_call_t *call, const Ferrytest__V1__FlakyRequest *req, void *user)
{
    uint32_t attempts = 0;
    pthread_mutex_lock(&g_flaky_mu);
    size_t i;
    for (i = 0; i < g_n_flaky; i++)
        if (strncmp(g_flaky[i].key, req->key, sizeof(g_flaky[i].key) - 1) == 0)
            break;
    if (i == g_n_flaky && g_n_flaky < MAX_FLAKY_KEYS) {
        snprintf(g_flaky[i].key, sizeof(g_flaky[i].key), "%s", req->key);
        g_flaky[i].attempts = 0;
        g_n_flaky++;
    }
    if (i < MAX_FLAKY_KEYS)
        attempts = ++g_flaky[i].attempts;
    pthread_mutex_unlock(&g_flaky_mu);
    if (attempts <= req->failures) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNAVAILABLE, NULL, "flaky: attempt %u of %u fails", attempts,
                            req->failures);
        return;
    }
    Ferrytest__V1__FlakyResponse resp = FERRYTEST__V1__FLAKY_RESPONSE__INIT;
    resp.attempts = attempts;
    ferrytest_v1_test_service_flaky_reply(call, &resp);
}

/* ---- plain routes ------------------------------------------------------------------------- */

static int route_inline(void *req, void *user)
{
    ferry_http_reply(req, 200, "text/plain", "hello world\n", 12);
    return 0;
}

static int route_stats(void *req, void *user)
{
    char buf[256];
    int n =
        snprintf(buf, sizeof(buf), "{\"canceled\":%ld,\"slow_done\":%ld,\"count_canceled\":%ld}\n",
                 atomic_load(&g_slow_canceled), atomic_load(&g_slow_done), atomic_load(&g_count_canceled));
    ferry_http_reply(req, 200, "application/json", buf, (size_t)n);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static const ferrytest_v1_test_service_server_t g_impl = {.echo = echo,
                                                          .ping = ping,
                                                          .fail = fail,
                                                          .slow = slow,
                                                          .count = count,
                                                          .sum = sum,
                                                          .blob = blob,
                                                          .flaky = flaky};
static const ferrytest_v1_test_bidi_service_server_t g_bidi_impl = {0};

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"port-file", required_argument, NULL, 'f'},
                                         {"tls-cert", required_argument, NULL, 'c'},
                                         {"tls-key", required_argument, NULL, 'k'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"max-message-bytes", required_argument, NULL, 'm'},
                                         {"max-request-bytes", required_argument, NULL, 'r'},
                                         {"grace-ms", required_argument, NULL, 'g'},
                                         {NULL, 0, NULL, 0}};
    ferry_rpc_server_config_t cfg = {0};
    const char *port_file = NULL;
    ferry_err_t err = {0};
    ferry_rpc_server_t *srv = NULL;
    ferry_health_t *health = NULL;
    int c, rc = 1;
    sigset_t sigs;

    ferry_log_set_ident("rpc_test_server");
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            cfg.host = optarg;
            break;
        case 'p':
            cfg.port = (uint16_t)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            port_file = optarg;
            break;
        case 'c':
            cfg.tls_cert_file = optarg;
            break;
        case 'k':
            cfg.tls_key_file = optarg;
            break;
        case 't':
            cfg.threads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            cfg.workers = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            cfg.max_message_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            cfg.max_request_bytes = strtoull(optarg, NULL, 10);
            break;
        case 'g':
            cfg.shutdown_grace_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: see the comment at the top of tests/integration/rpc_test_server.c\n");
            return 2;
        }
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((srv = ferry_rpc_server_new(&cfg, &err)) == NULL || (health = ferry_health_new()) == NULL ||
        ferrytest_v1_test_service_server_register(srv, &g_impl, &err) != FERRY_OK ||
        ferrytest_v1_test_bidi_service_server_register(srv, &g_bidi_impl, &err) != FERRY_OK ||
        ferry_health_register(health, srv, &err) != FERRY_OK ||
        ferry_rpc_server_add_route(srv, "/inline", route_inline, NULL, &err) != FERRY_OK ||
        ferry_rpc_server_add_route(srv, "/test/stats", route_stats, NULL, &err) != FERRY_OK) {
        fprintf(stderr, "rpc_test_server: %s\n", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    ferry_health_set(health, "ferrytest.v1.TestService", FERRY_HEALTH_SERVING);
    if (ferry_rpc_server_start(srv, &err) != FERRY_OK) {
        fprintf(stderr, "rpc_test_server: %s\n", err.msg);
        goto out;
    }
    unsigned port = ferry_rpc_server_port(srv);
    if (port_file != NULL) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%u\n", port);
        if (ferry_fs_write_atomic(port_file, buf, (size_t)n, 0644, &err) != FERRY_OK) {
            fprintf(stderr, "rpc_test_server: port file: %s\n", err.msg);
            ferry_rpc_server_shutdown(srv);
            ferry_rpc_server_wait(srv);
            goto out;
        }
    }
    printf("listening on port %u\n", port);
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    ferry_health_set(health, "", FERRY_HEALTH_NOT_SERVING);
    ferry_rpc_server_shutdown(srv);
    ferry_rpc_server_wait(srv);
    rc = 0;
out:
    ferry_rpc_server_free(srv);
    ferry_health_free(health);
    return rc;
}
