/**
 * @file metrics.h
 * The store's figures for GET /metrics: tasks by state and enabled nodes, read on the
 * read-only connection (a scrape never waits for a writer's fsync).
 */
#ifndef FERRY_STORE_METRICS_H
#define FERRY_STORE_METRICS_H

#include <stdint.h>

#include "ferry/store.h"

/** Calls |fn| once per task state present with its task count. */
ferry_err_code_t ferry_store_task_states_ro(ferry_store_t *s, void (*fn)(void *ctx, int state, int64_t count),
                                            void *ctx, ferry_err_t *err);

/** How many nodes are not disabled (their own flag). */
ferry_err_code_t ferry_store_nodes_enabled_ro(ferry_store_t *s, int64_t *count, ferry_err_t *err);

#endif
