/**
 * @file configs.h
 * Repository of configuration distribution (seed 001 配置分发): template versions
 * (name, version) and assignments of a version to one node, rendered for it. Every put
 * makes a new version; older ones stay (rollback = assign an older version). An
 * assignment supersedes the node's previous one of the same template; only the newest
 * is delivered ("open": PENDING and not superseded).
 *
 * Results are the IDL's messages in an arena. Functions without "_ro" run on the
 * writer connection with the store lock held.
 */
#ifndef FERRY_STORE_CONFIGS_H
#define FERRY_STORE_CONFIGS_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** A new template version. */
typedef struct ferry_store_config_template_new {
    const char *name;
    int type, format; /**< ConfigType 1..4, ConfigFormat 1..3 */
    const char *data_json, *target_path, *description;
    bool restart_service;
    int64_t created_at, created_by; /**< created_by: admin_token.id, 0 = none */
} ferry_store_config_template_new_t;

/** Inserts the next version of |t->name| (1 for a new name); *version receives it. Lock held. */
ferry_err_code_t ferry_store_config_template_insert(ferry_store_t *s,
                                                    const ferry_store_config_template_new_t *t,
                                                    uint64_t *version, ferry_err_t *err);

/**
 * Version |version| (0 = latest) of template |name|; *id its row id (may be NULL).
 * FERRY_E_NOT_FOUND "config template '<name>' [version N] not found". Lock held.
 */
ferry_err_code_t ferry_store_config_template_get(ferry_store_t *s, ferry_arena_t *a, const char *name,
                                                 uint64_t version, Ferry__V1__ConfigTemplate **out,
                                                 int64_t *id, ferry_err_t *err);
/** The same on the read-only connection. */
ferry_err_code_t ferry_store_config_template_get_ro(ferry_store_t *s, ferry_arena_t *a, const char *name,
                                                    uint64_t version, Ferry__V1__ConfigTemplate **out,
                                                    ferry_err_t *err);

/**
 * One page of templates (read-only): the latest version of each, ordered by name; or,
 * with |name|, every version of that template, newest first. |type| 0 = any.
 */
ferry_err_code_t ferry_store_config_templates_list_ro(ferry_store_t *s, int type, const char *name,
                                                      const char *page_token, int32_t page_size,
                                                      ferry_arena_t *a, ferry_store_page_t *out,
                                                      ferry_err_t *err);

/** A node of an assignment scope, with what rendering needs. */
typedef struct ferry_store_config_scope_node {
    int64_t id;
    const char *code, *name, *store_code, *customer_code; /**< valid during the callback */
    int environment;
} ferry_store_config_scope_node_t;

/** Called per node; non-zero stops (and is returned as FERRY_E_... by the caller's own choice). */
typedef int (*ferry_store_config_scope_fn)(void *ctx, const ferry_store_config_scope_node_t *n);

/**
 * The enabled nodes of customer |customer_code| in scope: of |stores| or in |nodes|
 * (every node of the customer when both are empty), of environment |env| (0 = any),
 * ordered by code. FERRY_E_NOT_FOUND names a store or node that does not exist or
 * belongs to another customer. Lock held.
 */
ferry_err_code_t ferry_store_config_scope(ferry_store_t *s, const char *customer_code, char *const *stores,
                                          size_t n_stores, char *const *nodes, size_t n_nodes, int env,
                                          ferry_store_config_scope_fn fn, void *ctx, ferry_err_t *err);

/** A new assignment. */
typedef struct ferry_store_config_assignment_new {
    int64_t node_id, template_id;
    const char *template_name, *values_json, *rendered, *rendered_sha256;
    int64_t assigned_at, assigned_by;
} ferry_store_config_assignment_new_t;

/** Inserts |a| (superseding the node's earlier ones of the template); *id its id. Lock held. */
ferry_err_code_t ferry_store_config_assignment_insert(ferry_store_t *s,
                                                      const ferry_store_config_assignment_new_t *a,
                                                      int64_t *id, ferry_err_t *err);

/**
 * Assignment |id| with its template and rendering; *node_id its node. |ro|: read-only
 * connection. FERRY_E_NOT_FOUND "config assignment '<id>' not found".
 */
ferry_err_code_t ferry_store_config_assignment_get(ferry_store_t *s, ferry_arena_t *a, int64_t id, bool ro,
                                                   Ferry__V1__ConfigAssignment **out, int64_t *node_id,
                                                   ferry_err_t *err);

/** Records an agent's result on assignment |id|. Lock held. */
ferry_err_code_t ferry_store_config_assignment_result(ferry_store_t *s, int64_t id, int state,
                                                      const char *error_message, int64_t applied_at,
                                                      ferry_err_t *err);

/** Filters of ListConfigAssignments ("" / 0 = any). */
typedef struct ferry_store_config_assignment_filter {
    const char *template_name, *node_code;
    int state;
    const char *page_token;
    int32_t page_size;
    bool include_superseded; /**< false: only the current assignment per node and template */
} ferry_store_config_assignment_filter_t;

/** One page of assignments, newest first, without template or rendering (read-only). */
ferry_err_code_t ferry_store_config_assignments_list_ro(ferry_store_t *s,
                                                        const ferry_store_config_assignment_filter_t *f,
                                                        ferry_arena_t *a, ferry_store_page_t *out,
                                                        ferry_err_t *err);

#define FERRY_STORE_CONFIG_OPEN_MAX 64 /**< open assignments delivered at once to one node */

/** The open assignments of |node_id| (template and rendering included), oldest first (read-only). */
ferry_err_code_t ferry_store_config_open_ro(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                            Ferry__V1__ConfigAssignment ***out, size_t *n, ferry_err_t *err);

/** Ids of the nodes with open assignments (read-only), through |fn| (non-zero stops). */
ferry_err_code_t ferry_store_config_open_nodes_ro(ferry_store_t *s, int (*fn)(void *ctx, int64_t node_id),
                                                  void *ctx, ferry_err_t *err);

/** Per template assigned to node |node_code|: its latest assignment and its last APPLIED one (read-only). */
ferry_err_code_t ferry_store_config_diff_ro(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                            const char *template_name, Ferry__V1__NodeConfigDiff ***out,
                                            size_t *n, ferry_err_t *err);

#endif
