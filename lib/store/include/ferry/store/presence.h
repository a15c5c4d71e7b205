/**
 * @file presence.h
 * Repository of node presence and binding: what a node's agent last told the server
 * (last seen, versions, free disk, current task), written in batches by the hub's
 * presence table (agent.c), and the first Bind of a node.
 *
 * Functions without "_ro" run on the writer connection: store lock held.
 */
#ifndef FERRY_STORE_PRESENCE_H
#define FERRY_STORE_PRESENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** One node's presence as flushed. */
typedef struct ferry_store_presence_row {
    int64_t node_id;
    int64_t last_seen_ms; /**< never moves last_seen_at backwards */
    bool has_facts;       /**< false: a keep-alive, only last_seen_at is written */
    const char *agent_version;
    const char *installed_version;
    uint64_t free_disk;
    int64_t current_task_id; /**< kept only when it is a task of this node */
} ferry_store_presence_row_t;

/**
 * Writes |n| rows (sorted by node_id walks the table once). Inside the caller's
 * transaction; statement prepared once.
 */
ferry_err_code_t ferry_store_presence_flush(ferry_store_t *s, const ferry_store_presence_row_t *rows,
                                            size_t n, ferry_err_t *err);

/** Calls |fn| for every node with its last_seen_at (0 = never). */
ferry_err_code_t ferry_store_presence_nodes(ferry_store_t *s,
                                            void (*fn)(void *ctx, int64_t node_id, int64_t last_seen),
                                            void *ctx, ferry_err_t *err);

/** Calls |fn| once for every node with at least one open (not final) task. */
ferry_err_code_t ferry_store_presence_busy_nodes(ferry_store_t *s, void (*fn)(void *ctx, int64_t node_id),
                                                 void *ctx, ferry_err_t *err);

/**
 * Node |node_id| as Bind shows it (code, environment, store, customer, name, created,
 * updated, bound_at) in |a|, and its bound_at (0 = never bound). FERRY_E_NOT_FOUND.
 */
ferry_err_code_t ferry_store_node_for_bind(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                           Ferry__V1__Node **out, int64_t *bound_at, ferry_err_t *err);

/** Records the first bind of |node_id| at |now| (a later bind keeps the first time). */
ferry_err_code_t ferry_store_node_mark_bound(ferry_store_t *s, int64_t node_id, int64_t now,
                                             ferry_err_t *err);

#endif
