/**
 * @file licenses.h
 * Repository of licences (seed 001 授权): one row per licence, bound to one node or to
 * every node of a customer. The row holds what an admin set (status ACTIVE, SUSPENDED
 * or REVOKED, dates, limits, features); the time-based states (GRACE, EXPIRED) are the
 * hub's to compute (lib/hub/licenses.c), so no timer ever writes a licence.
 *
 * Results are Ferry__V1__License messages in an arena with the STORED status and
 * `offline_grace` and `revision` filled. Functions without "_ro" run on the writer
 * connection with the store lock held (inside the caller's transaction).
 */
#ifndef FERRY_STORE_LICENSES_H
#define FERRY_STORE_LICENSES_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

#define FERRY_STORE_LICENSE_FEATURES_MAX 64 /**< features of one licence */
#define FERRY_STORE_LICENSE_FEATURE_LEN  64 /**< bytes of one feature name */
#define FERRY_STORE_LICENSE_KEY_LEN      26 /**< "FL-XXXXX-XXXXX-XXXXX-XXXXX", without NUL */

/** A new licence row. */
typedef struct ferry_store_license_new {
    const char *license_key;
    int64_t customer_id;
    int64_t node_id; /**< 0 = every node of the customer */
    int type;        /**< Ferry__V1__LicenseType 1..3 */
    int64_t starts_at, ends_at, grace_ms;
    uint32_t max_users, max_companies;
    const char *const *features;
    size_t n_features;
    int64_t created_at;
    int64_t created_by; /**< admin_token.id, 0 = none */
} ferry_store_license_new_t;

/** Inserts |l|; *id receives the row id. FERRY_E_EXISTS on a duplicate key. Lock held. */
ferry_err_code_t ferry_store_license_insert(ferry_store_t *s, const ferry_store_license_new_t *l, int64_t *id,
                                            ferry_err_t *err);

/** Facts of a licence row the hub needs besides the message. */
typedef struct ferry_store_license_meta {
    int64_t id, customer_id, node_id; /**< node_id 0: customer-wide */
    int64_t grace_ms;
    int status; /**< stored: 1, 3 or 4 */
} ferry_store_license_meta_t;

/**
 * The licence with id |id| (the decimal text of License.id) in |a|, and its |meta|
 * (may be NULL). FERRY_E_NOT_FOUND "licence '<id>' not found". Lock held.
 */
ferry_err_code_t ferry_store_license_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                         Ferry__V1__License **out, ferry_store_license_meta_t *meta,
                                         ferry_err_t *err);

/** A change; members with has_* false (or NULL features) keep their value. */
typedef struct ferry_store_license_change {
    bool has_ends_at;
    int64_t ends_at;
    bool has_max_users, has_max_companies;
    uint32_t max_users, max_companies;
    bool replace_features;
    const char *const *features;
    size_t n_features;
    bool has_status;
    int status; /**< 1, 3 or 4 */
} ferry_store_license_change_t;

/** Applies |c| to licence |id|, bumps revision and updated_at = |now|. Lock held. */
ferry_err_code_t ferry_store_license_update(ferry_store_t *s, int64_t id,
                                            const ferry_store_license_change_t *c, int64_t now,
                                            ferry_err_t *err);

/** Filters of a licence list; ""/0 = any. */
typedef struct ferry_store_license_filter {
    const char *customer_code;
    const char *node_code;  /**< licences bound to it or customer-wide for its customer */
    int status;             /**< 0 = any; else an effective Ferry__V1__LicenseStatus at |now| */
    int64_t now;            /**< unix ms, for |status| */
    int64_t ends_before;    /**< 0 = any: ends_at < this */
    int64_t ends_after;     /**< 0 = any: ends_at >= this */
    const char *page_token; /**< offset paging */
    int32_t page_size;
} ferry_store_license_filter_t;

/** One page of licences ordered by end date (read-only connection). Items: Ferry__V1__License. */
ferry_err_code_t ferry_store_licenses_list_ro(ferry_store_t *s, const ferry_store_license_filter_t *f,
                                              ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err);

/**
 * The licence in force for node |node_id| of customer |customer_id| (read-only
 * connection): a node-bound licence before a customer-wide one, a revoked one only
 * when no other exists, then the latest end. *out NULL (FERRY_OK) when there is none.
 */
ferry_err_code_t ferry_store_license_for_node_ro(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                                 int64_t customer_id, Ferry__V1__License **out,
                                                 ferry_store_license_meta_t *meta, ferry_err_t *err);

/** Called once per node a licence may apply to; non-zero stops. */
typedef int (*ferry_store_license_node_fn)(void *ctx, int64_t node_id, int64_t customer_id);

/**
 * Every node of a customer that has at least one licence (or, with |customer_id| > 0,
 * every node of that customer), read-only connection.
 */
ferry_err_code_t ferry_store_license_nodes_ro(ferry_store_t *s, int64_t customer_id,
                                              ferry_store_license_node_fn fn, void *ctx, ferry_err_t *err);

#endif
