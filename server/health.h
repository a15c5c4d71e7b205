/**
 * @file health.h
 * The standard gRPC health service (grpc.health.v1.Health: Check and the
 * server-streaming Watch) over the generated stubs, plus a plain `GET /healthz`.
 *
 * A status registry keyed by service name ("" = the whole server). Thread-safe:
 * ferry_health_set() may be called from any thread; watchers get a new message on
 * every change and their stream ends when the peer leaves or the server shuts down.
 */
#ifndef FERRY_SERVER_HEALTH_H
#define FERRY_SERVER_HEALTH_H

#include "ferry/err.h"
#include "ferry/rpc_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ferry_health ferry_health_t;

/** grpc.health.v1.HealthCheckResponse.ServingStatus values. */
typedef enum ferry_health_status {
    FERRY_HEALTH_UNKNOWN = 0,
    FERRY_HEALTH_SERVING = 1,
    FERRY_HEALTH_NOT_SERVING = 2,
    FERRY_HEALTH_SERVICE_UNKNOWN = 3,
} ferry_health_status_t;

/** A registry where "" (the server) is SERVING. NULL on allocation failure. */
ferry_health_t *ferry_health_new(void);

/** Sets the status of |service| (added if new, at most 256) and notifies its watchers. */
void ferry_health_set(ferry_health_t *h, const char *service, ferry_health_status_t st);

/** Registers grpc.health.v1.Health and the `/healthz` route on |srv|. |h| must outlive it. */
ferry_err_code_t ferry_health_register(ferry_health_t *h, ferry_rpc_server_t *srv, ferry_err_t *err);

/** Frees the registry (after the server stopped). NULL is a no-op. */
void ferry_health_free(ferry_health_t *h);

#ifdef __cplusplus
}
#endif
#endif
