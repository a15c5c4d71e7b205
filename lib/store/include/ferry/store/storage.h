/**
 * @file storage.h
 * Repository of storage configurations: one global row (customer 0) and optional
 * per-customer overrides. The settings and the mirror list are kept as the JSON text
 * the hub's storage module writes (its codec, with validation, lives there); this
 * repository stores and finds rows, nothing more.
 *
 * Functions without "_ro" run on the writer connection: store lock held.
 */
#ifndef FERRY_STORE_STORAGE_H
#define FERRY_STORE_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"

/** One stored configuration; strings owned by the arena it was read into. */
typedef struct ferry_store_storage_row {
    char *kind;          /**< "local_dir" or "s3" */
    char *settings_json; /**< the kind's settings (may hold a secret: never log it) */
    char *mirrors_json;  /**< proto3 JSON array of ferry.v1.DownloadMirror */
    int64_t updated_at;  /**< unix ms */
    char *updated_by;    /**< public id of the admin token, "" when none */
    char *customer_code; /**< "" for the global row */
    int64_t customer_id; /**< 0 for the global row */
} ferry_store_storage_row_t;

/** The row of |customer_id| (0 = global), or *out = NULL when there is none. Store lock held. */
ferry_err_code_t ferry_store_storage_get(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                         ferry_store_storage_row_t **out, ferry_err_t *err);
/** The same on the read-only connection. */
ferry_err_code_t ferry_store_storage_get_ro(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                            ferry_store_storage_row_t **out, ferry_err_t *err);

/**
 * The row in effect for |customer_id| (read-only connection, one snapshot): the
 * customer's own (*override = true), else the global one, else *out = NULL (the
 * embedded default applies).
 */
ferry_err_code_t ferry_store_storage_effective_ro(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                                  ferry_store_storage_row_t **out, bool *override,
                                                  ferry_err_t *err);

/** What ferry_store_storage_put() writes. */
typedef struct ferry_store_storage_put {
    int64_t customer_id; /**< 0 = global */
    const char *kind;
    const char *settings_json;
    const char *mirrors_json;
    int64_t updated_at;
    int64_t updated_by; /**< admin_token.id, 0 = nobody */
} ferry_store_storage_put_t;

/** Inserts or replaces the row of p->customer_id. Store lock held. */
ferry_err_code_t ferry_store_storage_put(ferry_store_t *s, const ferry_store_storage_put_t *p,
                                         ferry_err_t *err);

/** Deletes the override of |customer_id| (> 0); *deleted says whether one existed. Store lock held. */
ferry_err_code_t ferry_store_storage_delete(ferry_store_t *s, int64_t customer_id, bool *deleted,
                                            ferry_err_t *err);

/**
 * Up to |limit| customer overrides in customer-code order from |offset| (read-only
 * connection) into |rows| (allocated in |a|, *n of them); *more when further rows exist.
 */
ferry_err_code_t ferry_store_storage_overrides_ro(ferry_store_t *s, ferry_arena_t *a, int64_t offset,
                                                  int limit, ferry_store_storage_row_t ***rows, size_t *n,
                                                  bool *more, ferry_err_t *err);

#endif
