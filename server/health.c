/* grpc.health.v1.Health over the generated stubs; see health.h. */
#include "health.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.ferry-server.h"

#define MAX_SERVICES 256
#define MAX_WATCHERS 1024
#define NAME_MAX_LEN 200

typedef struct svc_status {
    char name[NAME_MAX_LEN + 1];
    ferry_health_status_t st;
} svc_status_t;

typedef struct watcher {
    ferry_rpc_call_t *call; /* borrowed: removed before the call completes */
    char name[NAME_MAX_LEN + 1];
    ferry_health_status_t last;
} watcher_t;

struct ferry_health {
    pthread_mutex_t mu;
    svc_status_t svcs[MAX_SERVICES];
    size_t n_svcs;
    watcher_t *watchers[MAX_WATCHERS];
    size_t n_watchers;
    grpc_health_v1_health_server_t impl;
};

static ferry_health_status_t lookup_locked(const ferry_health_t *h, const char *name, bool *found)
{
    for (size_t i = 0; i < h->n_svcs; i++) {
        if (strcmp(h->svcs[i].name, name) == 0) {
            *found = true;
            return h->svcs[i].st;
        }
    }
    *found = false;
    return FERRY_HEALTH_SERVICE_UNKNOWN;
}

static void send_status(ferry_rpc_call_t *call, ferry_health_status_t st)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    grpc_health_v1_health_watch_send(call, &resp);
}

void ferry_health_set(ferry_health_t *h, const char *service, ferry_health_status_t st)
{
    pthread_mutex_lock(&h->mu);
    size_t i;
    for (i = 0; i < h->n_svcs; i++)
        if (strcmp(h->svcs[i].name, service) == 0)
            break;
    if (i == h->n_svcs) {
        if (h->n_svcs == MAX_SERVICES || strlen(service) > NAME_MAX_LEN)
            goto out;
        memcpy(h->svcs[i].name, service, strlen(service) + 1); /* length checked above */
        h->n_svcs++;
    }
    h->svcs[i].st = st;
    for (size_t w = 0; w < h->n_watchers; w++) {
        watcher_t *wt = h->watchers[w];
        if (strcmp(wt->name, service) == 0 && wt->last != st) {
            wt->last = st;
            send_status(wt->call, st);
        }
    }
out:
    pthread_mutex_unlock(&h->mu);
}

static void check(ferry_rpc_call_t *call, const Grpc__Health__V1__HealthCheckRequest *req, void *user)
{
    ferry_health_t *h = user;
    bool found;
    pthread_mutex_lock(&h->mu);
    ferry_health_status_t st = lookup_locked(h, req->service, &found);
    pthread_mutex_unlock(&h->mu);
    if (!found) {
        ferry_rpc_call_fail(call, FERRY_RPC_NOT_FOUND, NULL, "unknown service '%.200s'", req->service);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    grpc_health_v1_health_check_reply(call, &resp);
}

/* The peer left, the deadline passed or the server is stopping: end the watch. */
static void on_watch_cancel(ferry_rpc_call_t *call, void *arg)
{
    ferry_health_t *h = arg;
    watcher_t *found = NULL;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n_watchers; i++) {
        if (h->watchers[i]->call == call) {
            found = h->watchers[i];
            h->watchers[i] = h->watchers[--h->n_watchers];
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (found != NULL) {
        free(found);
        ferry_rpc_call_finish(call, FERRY_RPC_CANCELED, NULL, "watch ended");
    }
}

static void watch(ferry_rpc_call_t *call, const Grpc__Health__V1__HealthCheckRequest *req, void *user)
{
    ferry_health_t *h = user;
    bool found;
    if (strlen(req->service) > NAME_MAX_LEN) {
        ferry_rpc_call_finish(call, FERRY_RPC_INVALID_ARGUMENT, NULL, "service name too long");
        return;
    }
    watcher_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        ferry_rpc_call_finish(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL, "out of memory");
        return;
    }
    w->call = call;
    memcpy(w->name, req->service, strlen(req->service) + 1); /* length checked above */
    pthread_mutex_lock(&h->mu);
    if (h->n_watchers == MAX_WATCHERS) {
        pthread_mutex_unlock(&h->mu);
        free(w);
        ferry_rpc_call_finish(call, FERRY_RPC_RESOURCE_EXHAUSTED, NULL, "too many health watchers");
        return;
    }
    w->last = lookup_locked(h, req->service, &found);
    h->watchers[h->n_watchers++] = w;
    send_status(call, w->last);
    pthread_mutex_unlock(&h->mu);
    /* Runs at once when the call is already canceled. */
    ferry_rpc_call_on_cancel(call, on_watch_cancel, h);
}

static int healthz(void *req, void *user)
{
    ferry_health_t *h = user;
    bool found;
    pthread_mutex_lock(&h->mu);
    ferry_health_status_t st = lookup_locked(h, "", &found);
    pthread_mutex_unlock(&h->mu);
    if (st == FERRY_HEALTH_SERVING)
        ferry_http_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
    else
        ferry_http_reply(req, 503, "text/plain; charset=utf-8", "not serving\n", 12);
    return 0;
}

ferry_health_t *ferry_health_new(void)
{
    ferry_health_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    pthread_mutex_init(&h->mu, NULL);
    h->svcs[0].name[0] = '\0';
    h->svcs[0].st = FERRY_HEALTH_SERVING;
    h->n_svcs = 1;
    h->impl.check = check;
    h->impl.watch = watch;
    h->impl.user = h;
    return h;
}

ferry_err_code_t ferry_health_register(ferry_health_t *h, ferry_rpc_server_t *srv, ferry_err_t *err)
{
    ferry_err_code_t rc = grpc_health_v1_health_server_register(srv, &h->impl, err);
    if (rc == FERRY_OK)
        rc = ferry_rpc_server_add_route(srv, "/healthz", healthz, h, err);
    return rc;
}

void ferry_health_free(ferry_health_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_watchers; i++)
        free(h->watchers[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
