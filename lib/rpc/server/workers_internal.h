/**
 * @file workers_internal.h
 * A fixed-size worker thread pool with a bounded job queue (offloaded RPC handlers).
 */
#ifndef FERRY_RPC_SERVER_WORKERS_INTERNAL_H
#define FERRY_RPC_SERVER_WORKERS_INTERNAL_H

#include <stddef.h>

typedef struct ferry_workers ferry_workers_t;

/** Starts |n| threads; at most |max_queued| jobs wait. NULL on failure. */
ferry_workers_t *ferry_workers_new(unsigned n, size_t max_queued);

/** Queues fn(arg). Returns 0, or -1 when the queue is full or the pool is stopping. */
int ferry_workers_submit(ferry_workers_t *w, void (*fn)(void *arg), void *arg);

/** Runs every queued job, then joins the threads and frees the pool. NULL is a no-op. */
void ferry_workers_free(ferry_workers_t *w);

#endif
