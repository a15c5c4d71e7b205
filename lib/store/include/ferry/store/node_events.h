/**
 * @file node_events.h
 * Repository of node status (seed 001 ONLINE / OFFLINE / MAINTENANCE / EXPIRED) and
 * its transitions. Rows are written on transitions only (never per heartbeat): the
 * hub keeps the live status in memory (lib/hub/fleet_status.c) and records a change
 * here. A node without a node_status row has never left OFFLINE.
 *
 * Functions without "_ro" run on the writer connection with the store lock held.
 */
#ifndef FERRY_STORE_NODE_EVENTS_H
#define FERRY_STORE_NODE_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

#define FERRY_STORE_NODE_EVENT_REASON_MAX 256 /**< bytes of a reason kept */

/** A node as the fleet table needs it. */
typedef struct ferry_store_fleet_node {
    int64_t id, customer_id;
    const char *code, *store_code, *customer_code; /**< valid during the callback only */
    int status;        /**< recorded Ferry__V1__NodeStatus, 0 = none recorded (OFFLINE) */
    int64_t since;     /**< unix ms of the recorded transition, 0 = none */
    bool maintenance;  /**< the admin's flag */
    int64_t last_seen; /**< node.last_seen_at, 0 = never */
} ferry_store_fleet_node_t;

/** Called per node; non-zero stops the walk. */
typedef int (*ferry_store_fleet_node_fn)(void *ctx, const ferry_store_fleet_node_t *n);

/** Every node with id > |after_id| in id order (read-only connection). */
ferry_err_code_t ferry_store_fleet_nodes_ro(ferry_store_t *s, int64_t after_id, ferry_store_fleet_node_fn fn,
                                            void *ctx, ferry_err_t *err);

/** The node |code| (read-only connection) through |fn|. FERRY_E_NOT_FOUND "node '<code>' not found". */
ferry_err_code_t ferry_store_fleet_node_by_code_ro(ferry_store_t *s, const char *code,
                                                   ferry_store_fleet_node_fn fn, void *ctx, ferry_err_t *err);

/** One transition to record. */
typedef struct ferry_store_node_transition {
    int64_t node_id;
    int from, to; /**< Ferry__V1__NodeStatus */
    int64_t at;   /**< unix ms */
    const char *reason;
    const char *actor;      /**< admin token id or "" */
    int maintenance;        /**< -1 keep, 0 off, 1 on */
    const char *maint_note; /**< with maintenance >= 0 */
} ferry_store_node_transition_t;

/**
 * Records |t|: node_status set to |t->to| since |t->at| (and the maintenance flag
 * when given), plus a node_event row when from != to. Store lock held.
 */
ferry_err_code_t ferry_store_node_transition(ferry_store_t *s, const ferry_store_node_transition_t *t,
                                             ferry_err_t *err);

/** Filters of a status list. */
typedef struct ferry_store_node_status_filter {
    int status;                /**< 0 = any; OFFLINE also matches nodes without a row */
    const char *customer_code; /**< "" = any */
    const char *page_token;    /**< keyset: after this node code */
    int32_t page_size;
} ferry_store_node_status_filter_t;

/**
 * One page of Ferry__V1__NodeStatusInfo ordered by node code (read-only connection):
 * recorded status, since, maintenance and its note, last_seen_at from the node row.
 * The caller overlays what it knows fresher (live presence, licence).
 */
ferry_err_code_t ferry_store_node_statuses_list_ro(ferry_store_t *s,
                                                   const ferry_store_node_status_filter_t *f,
                                                   ferry_arena_t *a, ferry_store_page_t *out,
                                                   ferry_err_t *err);

/** One page of Ferry__V1__NodeEvent of node |code|, newest first (read-only). FERRY_E_NOT_FOUND for a bad
 * code. */
ferry_err_code_t ferry_store_node_events_list_ro(ferry_store_t *s, const char *code, const char *page_token,
                                                 int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                                 ferry_err_t *err);

#endif
