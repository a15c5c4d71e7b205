/**
 * @file tasks.h
 * Repository of update tasks as administrators and releases see them: one task (or a
 * page of them) as a ferry.v1.UpdateTask, its history, creating tasks and their history
 * rows (releases, rollback, retry), and the monitoring reads over what nodes reported
 * (report files, the node configuration index, the dashboard). What a node writes
 * into its own task lives in ferry/store/reports.h.
 *
 * Every function runs on the read-write connection with the store lock held, except
 * the page lists, which take the store lock themselves.
 */
#ifndef FERRY_STORE_TASKS_H
#define FERRY_STORE_TASKS_H

#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/**
 * The policy in effect at |now_ms|: an OPTIONAL release whose deadline (> 0) has passed
 * is FORCED (hawkBit's "time forced"); otherwise |policy| unchanged.
 */
int ferry_store_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms);

/**
 * Task |task_id| into |out| (strings in |a|), showing the policy in effect at |now_ms|.
 * FERRY_E_NOT_FOUND "no task <id>". UpdateTask.hooks stays empty: ferry_store_task_hooks.
 */
ferry_err_code_t ferry_store_task_get(ferry_store_t *s, ferry_arena_t *a, int64_t task_id, int64_t now_ms,
                                      Ferry__V1__UpdateTask *out, ferry_err_t *err);

/**
 * Fills |out|->hooks with task |task_id|'s upgrade hook results (task_hook rows, at most
 * FERRY_STORE_TASK_HOOKS_MAX) in stage order, each stage in the order the hooks were first
 * reported; strings in |a|. For the views of one task (GetTask, RetryTask): a CheckIn's
 * assignments and the task lists leave them out.
 */
ferry_err_code_t ferry_store_task_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                        Ferry__V1__UpdateTask *out, ferry_err_t *err);

/** Filters of ferry_store_tasks_list(); "" / 0 mean "any". */
typedef struct ferry_store_task_filter {
    int64_t release_id;
    const char *customer_code, *store_code, *node_code, *error_code;
    int kind;          /**< Ferry__V1__TaskKind */
    const int *states; /**< n_states FERRY_STATE_* values, at most 14 */
    size_t n_states;
} ferry_store_task_filter_t;

/**
 * One page of tasks, newest first, paged by offset (FERRY_E_INVALID_ARG for a page token
 * this server did not issue, or more than 14 states). Items are Ferry__V1__UpdateTask.
 */
ferry_err_code_t ferry_store_tasks_list(ferry_store_t *s, const ferry_store_task_filter_t *f,
                                        const char *page_token, int32_t page_size, int64_t now_ms,
                                        ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err);

/**
 * One page of task |task_id|'s history, oldest first (items Ferry__V1__TaskEvent).
 * FERRY_E_NOT_FOUND "no task <id>" when there is no such task.
 */
ferry_err_code_t ferry_store_task_events_list(ferry_store_t *s, int64_t task_id, const char *page_token,
                                              int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                              ferry_err_t *err);

/** A new task (state |state|; attempt: the column default, 0). Strings may be NULL (""). */
typedef struct ferry_store_task_new {
    int64_t release_id, node_id;
    int kind;  /**< Ferry__V1__TaskKind */
    int state; /**< FERRY_STATE_* */
    const char *message;
    int64_t rollback_of_task_id; /**< 0 = none */
    const char *backup_local_path, *server_dir, *client_dir;
    int64_t now; /**< created_at = updated_at */
    int wave;    /**< the rollout wave it belongs to (0: the release has no waves) */
} ferry_store_task_new_t;

/** Inserts |t|; *id = the new task's id. */
ferry_err_code_t ferry_store_task_insert(ferry_store_t *s, const ferry_store_task_new_t *t, int64_t *id,
                                         ferry_err_t *err);

/** A history row written by the server (not a node report). Strings may be NULL (""). */
typedef struct ferry_store_task_event_new {
    int64_t task_id;
    int state;
    const char *error_code, *message;
    const char *source; /**< "admin:<token id>" */
    int64_t at;
} ferry_store_task_event_new_t;

/** Appends |e| to its task's history. */
ferry_err_code_t ferry_store_task_event_add(ferry_store_t *s, const ferry_store_task_event_new_t *e,
                                            ferry_err_t *err);

/** Where a task stands for a retry. */
typedef struct ferry_store_task_ref {
    int64_t task_id, release_id, node_id;
    int state, kind;
    int release_status; /**< Ferry__V1__ReleaseState as stored (ACTIVE, PAUSED, CANCELED) */
} ferry_store_task_ref_t;

/** Task |task_id|'s ids, state and its release's status. FERRY_E_NOT_FOUND "no task <id>". */
ferry_err_code_t ferry_store_task_ref(ferry_store_t *s, int64_t task_id, ferry_store_task_ref_t *out,
                                      ferry_err_t *err);

/**
 * Puts task |task_id| back to Pending for another attempt: attempt + 1, error, progress
 * and halted cleared, |message| shown, updated at |now|.
 */
ferry_err_code_t ferry_store_task_retry(ferry_store_t *s, int64_t task_id, const char *message, int64_t now,
                                        ferry_err_t *err);

/** Most hooks one retry may skip (five phases of FERRY_HOOKS_MAX each could hold more;
 *  an administrator names a few). */
#define FERRY_STORE_SKIP_HOOKS_MAX 64

/**
 * Replaces the hooks task |task_id|'s next attempt skips with |ids| (|n| <=
 * FERRY_STORE_SKIP_HOOKS_MAX hooks.json ids, already validated; n = 0 clears the list).
 * Stored as a JSON array. FERRY_E_NOT_FOUND "no task <id>".
 */
ferry_err_code_t ferry_store_task_set_skip_hooks(ferry_store_t *s, int64_t task_id, const char *const *ids,
                                                 size_t n, ferry_err_t *err);

/**
 * The hooks task |task_id|'s attempt skips, in the order stored: *ids (NULL when none)
 * and its strings in |a|, *n how many. A task without a list (or an unknown task) has
 * none.
 */
ferry_err_code_t ferry_store_task_skip_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id, char ***ids,
                                             size_t *n, ferry_err_t *err);

/**
 * The hooks that failed in task |task_id|'s current attempt (its task_hook rows of result
 * FAIL reported since the last RetryTask), post_upgrade excluded (it never fails a task):
 * what `ferry task retry --skip-failed-hook` skips. At most FERRY_STORE_SKIP_HOOKS_MAX,
 * in stage and report order; *ids (in |a|) is NULL and *n 0 when none.
 */
ferry_err_code_t ferry_store_task_failed_hooks(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                               char ***ids, size_t *n, ferry_err_t *err);

/* ---- what nodes reported (read-only for administrators) ------------------------------------ */

/** A report file with the customer whose storage serves it. */
typedef struct ferry_store_report_file_item {
    Ferry__V1__ReportFile *file; /**< without a download link */
    int64_t customer_id;
} ferry_store_report_file_item_t;

/** Filters of ferry_store_report_files_list(); "" / 0 mean "any". */
typedef struct ferry_store_report_file_filter {
    const char *node_code;
    int64_t task_id, release_id;
    int kind; /**< Ferry__V1__FileKind */
} ferry_store_report_file_filter_t;

/** One page of report files, newest first (items ferry_store_report_file_item_t). */
ferry_err_code_t ferry_store_report_files_list(ferry_store_t *s, const ferry_store_report_file_filter_t *f,
                                               const char *page_token, int32_t page_size, ferry_arena_t *a,
                                               ferry_store_page_t *out, ferry_err_t *err);

/** Report file |id|. FERRY_E_NOT_FOUND "no report file <id>". */
ferry_err_code_t ferry_store_report_file_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                             ferry_store_report_file_item_t *out, ferry_err_t *err);

/** A node configuration index entry. */
typedef struct ferry_store_node_config_item {
    Ferry__V1__NodeConfigSummary *summary; /**< without config and download link */
    const char *summary_json;              /**< the stored (masked) document */
    int64_t customer_id;
} ferry_store_node_config_item_t;

/**
 * The newest configuration node |node_code| uploaded. FERRY_E_NOT_FOUND "node '<code>'
 * has not uploaded a configuration (or does not exist)".
 */
ferry_err_code_t ferry_store_node_config_get(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                             ferry_store_node_config_item_t *out, ferry_err_t *err);

/** One page of configurations by node code (items ferry_store_node_config_item_t); "" = any. */
ferry_err_code_t ferry_store_node_configs_list(ferry_store_t *s, const char *customer_code,
                                               const char *store_code, const char *page_token,
                                               int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                               ferry_err_t *err);

/**
 * The dashboard of |customer_code| ("" = all) in |environment| (0 = all) into |out|
 * (memory in |a|): nodes (online = seen at or after |online_cutoff|), tasks of open
 * releases by state, failures by error code, the 20 latest failures, open releases.
 */
ferry_err_code_t ferry_store_dashboard(ferry_store_t *s, ferry_arena_t *a, const char *customer_code,
                                       int environment, int64_t now_ms, int64_t online_cutoff,
                                       Ferry__V1__GetDashboardResponse *out, ferry_err_t *err);

#endif
