/**
 * @file releases.h
 * Repository of releases: a package version published to a scope (a customer's
 * environment, optionally narrowed to stores and nodes) with a policy, and resolved at
 * once into one update task per node (ferry/store/tasks.h). The reads a release needs
 * of the customer tree (the customer, its stores, the candidate nodes) live here too,
 * so the release aggregate needs nothing else.
 *
 * Every function runs on the read-write connection with the store lock held, except
 * ferry_store_releases_list(), which takes it itself.
 */
#ifndef FERRY_STORE_RELEASES_H
#define FERRY_STORE_RELEASES_H

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** Id and disabled flag of customer |code|. FERRY_E_NOT_FOUND "no customer '<code>'". */
ferry_err_code_t ferry_store_release_customer(ferry_store_t *s, const char *code, int64_t *id, bool *disabled,
                                              ferry_err_t *err);

/** A node a release scope may select. */
typedef struct ferry_store_scope_node {
    int64_t id;
    const char *code;
    const char *store_code;
    bool disabled; /**< the node, or its store, is disabled */
} ferry_store_scope_node_t;

/** What a scope is chosen from (memory in the arena given). */
typedef struct ferry_store_scope {
    const char **store_codes; /**< every store of the customer */
    size_t n_store_codes;
    ferry_store_scope_node_t *nodes; /**< every node of the customer in the environment, by code */
    size_t n_nodes;
} ferry_store_scope_t;

/** The stores of customer |customer_id| and its nodes in |environment|. */
ferry_err_code_t ferry_store_release_scope(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                           int environment, ferry_store_scope_t *out, ferry_err_t *err);

/**
 * Whether node |node_id| has an update task for package |package_id| that is neither
 * Failed nor Rollbacked (running, pending or Succeeded), or is planned in a wave not
 * started yet of a release not canceled (state Pending): then *release_id / *state
 * name it.
 */
ferry_err_code_t ferry_store_release_node_has_version(ferry_store_t *s, int64_t node_id, int64_t package_id,
                                                      bool *has, int64_t *release_id, int *state,
                                                      ferry_err_t *err);

/** A new release (ACTIVE). */
typedef struct ferry_store_release_new {
    int64_t package_id, customer_id;
    int environment;         /**< Ferry__V1__Environment */
    int policy;              /**< Ferry__V1__ReleasePolicy */
    int64_t deadline_at;     /**< unix ms, 0 = none */
    const char *description; /**< "" allowed */
    int64_t created_by;      /**< admin_token.id, 0 = none */
    int64_t now;
} ferry_store_release_new_t;

/** Inserts |r|; *id = the new release's id. */
ferry_err_code_t ferry_store_release_insert(ferry_store_t *s, const ferry_store_release_new_t *r, int64_t *id,
                                            ferry_err_t *err);

/**
 * Records one named store (|is_node| false) or node of the scope as requested, looked up
 * under customer |customer_id| (nodes in |environment|).
 */
ferry_err_code_t ferry_store_release_target_add(ferry_store_t *s, int64_t release_id, int64_t customer_id,
                                                int environment, const char *code, bool is_node,
                                                ferry_err_t *err);

/**
 * Release |id| into |out| (memory in |a|): its scope as requested and its state, where
 * an ACTIVE release with no task left in a non-final state reads COMPLETED.
 * FERRY_E_NOT_FOUND "no release <id>".
 */
ferry_err_code_t ferry_store_release_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                         Ferry__V1__Release *out, ferry_err_t *err);

/** Filters of ferry_store_releases_list(); "" / 0 mean "any". */
typedef struct ferry_store_release_filter {
    const char *customer_code, *package_version;
    int environment; /**< Ferry__V1__Environment */
    int state;       /**< Ferry__V1__ReleaseState, COMPLETED as derived */
} ferry_store_release_filter_t;

/** One page of releases, newest first (items Ferry__V1__Release), paged by offset. */
ferry_err_code_t ferry_store_releases_list(ferry_store_t *s, const ferry_store_release_filter_t *f,
                                           const char *page_token, int32_t page_size, ferry_arena_t *a,
                                           ferry_store_page_t *out, ferry_err_t *err);

/** A node of a release and when it was last seen (stored; presence may know better). */
typedef struct ferry_store_release_node_seen {
    int64_t node_id, last_seen_at;
} ferry_store_release_node_seen_t;

/**
 * Release |id|'s task counts into |out| (by_state, total, finished, by_error: the 64
 * commonest error codes of Failed tasks) and its nodes with their stored last-seen time
 * into *nodes / *n_nodes (memory in |a|). The release itself is not loaded.
 */
ferry_err_code_t ferry_store_release_summary(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                             Ferry__V1__GetReleaseSummaryResponse *out,
                                             ferry_store_release_node_seen_t **nodes, size_t *n_nodes,
                                             ferry_err_t *err);

/** Stored status (ACTIVE, PAUSED, CANCELED) of release |id|. FERRY_E_NOT_FOUND "no release <id>". */
ferry_err_code_t ferry_store_release_status(ferry_store_t *s, int64_t id, int *status, ferry_err_t *err);

/** Sets release |id|'s status to |status| at |now|. */
ferry_err_code_t ferry_store_release_set_status(ferry_store_t *s, int64_t id, int status, int64_t now,
                                                ferry_err_t *err);

/** What pause / resume / cancel does to a release's tasks. */
typedef enum ferry_store_release_op {
    FERRY_STORE_RELEASE_PAUSE = 0,  /**< tasks not past WaitingUser: halted */
    FERRY_STORE_RELEASE_RESUME = 1, /**< halted unfinished tasks: offered again */
    FERRY_STORE_RELEASE_CANCEL = 2  /**< tasks not past WaitingUser: Failed E_CANCELED, halted, finished */
} ferry_store_release_op_t;

/** One task a release operation or a rollback changed. */
typedef struct ferry_store_task_change {
    int64_t task_id, node_id;
    int state; /**< its state afterwards */
} ferry_store_task_change_t;

/**
 * Applies |op| to the tasks of release |id| (|message| on canceled tasks) at |now| and
 * lists the tasks changed in *out / *n (memory in |a|).
 */
ferry_err_code_t ferry_store_release_tasks_apply(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                                 ferry_store_release_op_t op, const char *message,
                                                 int64_t now, ferry_store_task_change_t **out, size_t *n,
                                                 ferry_err_t *err);

/** An update task of a release, as a rollback looks at it. */
typedef struct ferry_store_rollback_candidate {
    int64_t task_id, node_id;
    const char *node_code;
    int state;
    const char *backup_local_path, *server_dir, *client_dir;
    bool has_rollback; /**< the node already has a rollback task in this release */
} ferry_store_rollback_candidate_t;

/** Every update task of release |id|, by node code (memory in |a|). */
ferry_err_code_t ferry_store_release_update_tasks(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                                  ferry_store_rollback_candidate_t **out, size_t *n,
                                                  ferry_err_t *err);

/** Whether node |node_code| has an update task in release |id|. */
ferry_err_code_t ferry_store_release_has_node(ferry_store_t *s, int64_t id, const char *node_code, bool *has,
                                              ferry_err_t *err);

#endif
