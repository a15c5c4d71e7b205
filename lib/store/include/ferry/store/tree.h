/**
 * @file tree.h
 * Repository of the customer -> store -> node tree (seed 000 §3.2). Codes are unique
 * server-wide per level and immutable; rows are never deleted (disabled instead).
 * Results are the IDL's messages (Ferry__V1__Customer / Store / Node) in an arena.
 *
 * Functions without "_ro" run on the writer connection: store lock held (inside the
 * caller's transaction). "_ro" ones read the read-only connection.
 */
#ifndef FERRY_STORE_TREE_H
#define FERRY_STORE_TREE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/hash.h"
#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** A level of the tree. */
typedef enum ferry_store_tree_kind {
    FERRY_STORE_CUSTOMER = 'c',
    FERRY_STORE_STORE = 's',
    FERRY_STORE_NODE = 'n'
} ferry_store_tree_kind_t;

/**
 * How a node's connectivity is derived: ONLINE when it was last seen at or after
 * |online_since| (unix ms: now - the hub's offline_after), OFFLINE before, NEVER_SEEN
 * without a last_seen_at.
 */
typedef struct ferry_store_node_view {
    int64_t online_since;
} ferry_store_node_view_t;

/** Id and disabled flag of the row of |kind| with |code|. FERRY_E_NOT_FOUND "<kind> '<code>' not found". */
ferry_err_code_t ferry_store_tree_id(ferry_store_t *s, ferry_store_tree_kind_t kind, const char *code,
                                     int64_t *id, bool *disabled, ferry_err_t *err);

/** The same on the read-only connection. */
ferry_err_code_t ferry_store_tree_id_ro(ferry_store_t *s, ferry_store_tree_kind_t kind, const char *code,
                                        int64_t *id, bool *disabled, ferry_err_t *err);

/**
 * The row of |kind| with |code| as its message (Ferry__V1__Customer, Store or Node,
 * per |kind|) in |a|; |view| is needed for nodes only. FERRY_E_NOT_FOUND as above.
 */
ferry_err_code_t ferry_store_tree_get(ferry_store_t *s, ferry_arena_t *a, ferry_store_tree_kind_t kind,
                                      const char *code, const ferry_store_node_view_t *view, void **out,
                                      ferry_err_t *err);
/** The same on the read-only connection. */
ferry_err_code_t ferry_store_tree_get_ro(ferry_store_t *s, ferry_arena_t *a, ferry_store_tree_kind_t kind,
                                         const char *code, const ferry_store_node_view_t *view, void **out,
                                         ferry_err_t *err);

/** Inserts a customer. FERRY_E_EXISTS "customer '<code>' already exists". */
ferry_err_code_t ferry_store_customer_insert(ferry_store_t *s, const char *code, const char *name,
                                             int64_t now, ferry_err_t *err);

/** Inserts a store under customer row |customer_id|. FERRY_E_EXISTS "store '<code>' already exists ...". */
ferry_err_code_t ferry_store_store_insert(ferry_store_t *s, int64_t customer_id, const char *code,
                                          const char *name, int64_t now, ferry_err_t *err);

/** A new node row with its first token (only the SHA-256 is stored). */
typedef struct ferry_store_node_new {
    int64_t store_id;
    const char *code;
    int environment; /**< Ferry__V1__Environment */
    const char *name;
    const char *token_id;
    uint8_t token_hash[FERRY_SHA256_LEN];
    int64_t now;
    const char *time_zone; /**< "+08:00", "UTC" or NULL / "" (the server's zone) */
} ferry_store_node_new_t;

/** Inserts |n|. FERRY_E_EXISTS "node '<code>' already exists ...". */
ferry_err_code_t ferry_store_node_insert(ferry_store_t *s, const ferry_store_node_new_t *n, ferry_err_t *err);

/** A change of one row: NULL / -1 / 0 keep the current value. */
typedef struct ferry_store_tree_change {
    const char *name;      /**< new name, NULL = keep */
    int disabled;          /**< 0 / 1, -1 = keep */
    int environment;       /**< nodes only, 0 = keep */
    int64_t now;           /**< updated_at */
    const char *time_zone; /**< nodes only, NULL = keep */
} ferry_store_tree_change_t;

/** Applies |ch| to the row |id| of |kind|. */
ferry_err_code_t ferry_store_tree_update(ferry_store_t *s, ferry_store_tree_kind_t kind, int64_t id,
                                         const ferry_store_tree_change_t *ch, ferry_err_t *err);

/** The public token id of node |code| (read-only connection). FERRY_E_NOT_FOUND. */
ferry_err_code_t ferry_store_node_token_id_ro(ferry_store_t *s, const char *code, char *out, size_t size,
                                              ferry_err_t *err);

/**
 * Replaces the token of node |code| (id + SHA-256, issued at |now|) and clears
 * bound_at (the agent binds again). FERRY_E_NOT_FOUND "node '<code>' not found".
 */
ferry_err_code_t ferry_store_node_rotate_token(ferry_store_t *s, const char *code, const char *token_id,
                                               const uint8_t hash[FERRY_SHA256_LEN], int64_t now,
                                               ferry_err_t *err);

/** Filters of a list page; "" / 0 / false mean "any". Page tokens are the last code returned. */
typedef struct ferry_store_tree_filter {
    const char *page_token;
    int32_t page_size;
    bool include_disabled;
    const char *query;             /**< substring of code or name, case-insensitive */
    const char *customer_code;     /**< stores and nodes */
    const char *store_code;        /**< nodes */
    int environment;               /**< nodes */
    int connectivity;              /**< nodes: Ferry__V1__Connectivity */
    const char *installed_version; /**< nodes */
} ferry_store_tree_filter_t;

/**
 * One page of |kind| in code order (read-only connection). Items are the kind's
 * messages. FERRY_E_INVALID_ARG for a page token this server did not issue.
 */
ferry_err_code_t ferry_store_tree_list_ro(ferry_store_t *s, ferry_store_tree_kind_t kind,
                                          const ferry_store_tree_filter_t *f,
                                          const ferry_store_node_view_t *view, ferry_arena_t *a,
                                          ferry_store_page_t *out, ferry_err_t *err);

#endif
