/**
 * @file nodecfg.h
 * Repository of the node configuration index (seed 000 §5.2): one row per node, the
 * last node-config.json it uploaded (written by ferry_store_node_upload_commit,
 * ferry/store/reports.h). The stored document is the masked JSON text; mapping it onto
 * ferry.v1.NodeConfig and signing its download link are the hub's (hub_nodecfg.h).
 *
 * Reads only, on the read-only connection: the caller may sign URLs (which read the
 * storage configuration) while it holds a result.
 */
#ifndef FERRY_STORE_NODECFG_H
#define FERRY_STORE_NODECFG_H

#include <stdint.h>

#include "ferry/store.h"

/** One index row; strings owned by the arena it was read into. */
typedef struct ferry_store_node_config {
    char *node_code;
    int64_t config_version;
    int64_t uploaded_at; /**< unix ms */
    int64_t file_id;     /**< report_file row, 0 when none */
    char *sha256;        /**< the uploaded file's blob */
    uint64_t size;
    char *summary_json;  /**< masked document, "" when it did not parse */
    int64_t customer_id; /**< the node's customer (its storage signs the link) */
} ferry_store_node_config_t;

/** The row of node |node_code|. FERRY_E_NOT_FOUND "node '<code>' has not uploaded a configuration ...". */
ferry_err_code_t ferry_store_node_config_get_ro(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                                ferry_store_node_config_t **out, ferry_err_t *err);

/** Filters of a page; "" means any. Page tokens are offsets. */
typedef struct ferry_store_node_config_filter {
    const char *page_token;
    int32_t page_size;
    const char *customer_code;
    const char *store_code;
} ferry_store_node_config_filter_t;

/** One page in node-code order. Items are ferry_store_node_config_t. */
ferry_err_code_t ferry_store_node_configs_list_ro(ferry_store_t *s, const ferry_store_node_config_filter_t *f,
                                                  ferry_arena_t *a, ferry_store_page_t *out,
                                                  ferry_err_t *err);

#endif
