/**
 * @file reports.h
 * Repository of what nodes report: progress (the task's state columns, its history
 * row, its step timings, its upgrade hooks' results) and the files they upload (the node-file upload row, the
 * report_file row, the task's file list and the node configuration index).
 *
 * Every growable thing a node can add to is capped here, with FERRY_E_INVALID_ARG
 * naming the cap: timings per task, hook results per task, files per task; history rows past
 * FERRY_STORE_TASK_EVENTS_MAX keep state changes only.
 *
 * Every function runs on the read-write connection with the store lock held, inside
 * the caller's transaction.
 */
#ifndef FERRY_STORE_REPORTS_H
#define FERRY_STORE_REPORTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/hash.h"
#include "ferry/store.h"

#define FERRY_STORE_TASK_TIMINGS_MAX 256  /**< step timing rows of one task */
#define FERRY_STORE_TASK_FILES_MAX   256  /**< report files listed on one task */
#define FERRY_STORE_TASK_EVENTS_MAX  4096 /**< history rows of one task before progress-only rows stop */
#define FERRY_STORE_TASK_HOOKS_MAX   320  /**< hook results of one task (5 stages of 64 hooks) */

/** What a report is checked against. */
typedef struct ferry_store_report_task {
    int64_t node_id;
    int64_t release_id;
    int state;         /**< FERRY_STATE_* */
    uint64_t last_seq; /**< the last accepted report sequence */
    bool halted;       /**< the task is halted, or its release paused or canceled */
} ferry_store_report_task_t;

/** Task |task_id|. FERRY_E_NOT_FOUND "task <id> not found". */
ferry_err_code_t ferry_store_report_task(ferry_store_t *s, int64_t task_id, ferry_store_report_task_t *out,
                                         ferry_err_t *err);

/** One step timing (unix ms and ms). */
typedef struct ferry_store_timing {
    int state;
    int64_t started_at;
    int64_t duration_ms;
} ferry_store_timing_t;

/**
 * Stores |n| timings of task |task_id| from report |seq| (a later report of the same
 * state + started_at replaces the duration). All or nothing: when the task would keep
 * more than FERRY_STORE_TASK_TIMINGS_MAX rows, FERRY_E_INVALID_ARG and none is stored.
 */
ferry_err_code_t ferry_store_report_timings_put(ferry_store_t *s, int64_t task_id,
                                                const ferry_store_timing_t *t, size_t n, uint64_t seq,
                                                ferry_err_t *err);

/** One upgrade hook's result as the node reported it (ProgressReport.hook). */
typedef struct ferry_store_hook {
    const char *hook_id;               /**< a hooks.json id (the caller checked it) */
    int stage;                         /**< ferry.v1.HookStage, 1..5 */
    const char *name;                  /**< may be NULL */
    int result;                        /**< ferry.v1.HookResult, 1..5 */
    const char *message, *stderr_tail; /**< may be NULL */
    int64_t duration_ms;
    int exit_status;
} ferry_store_hook_t;

/**
 * Stores |h| as task |task_id|'s result of that hook, tagged with the task's current
 * attempt (a later report of the same hook id replaces it: the newest result counts).
 * A task keeps at most FERRY_STORE_TASK_HOOKS_MAX hooks: a new id past that is
 * FERRY_E_INVALID_ARG and nothing is stored.
 */
ferry_err_code_t ferry_store_report_hook_put(ferry_store_t *s, int64_t task_id, const ferry_store_hook_t *h,
                                             uint64_t seq, int64_t now, ferry_err_t *err);

/** One accepted report. Strings may be NULL ("" when stored). */
typedef struct ferry_store_report {
    int64_t task_id;
    int prev_state; /**< the task's state before this report */
    int state;
    const char *error_code; /**< "" keeps the last one on a failure path, clears it otherwise */
    const char *message;
    int percent;
    uint64_t bytes, bytes_total;
    uint64_t seq;
    const char *backup_local_path, *server_dir, *client_dir, *checkpoint; /**< "" keeps the stored one */
    const char *download_json; /**< DownloadStats as proto3 JSON, NULL keeps the stored one */
    int64_t reported_at;       /**< agent clock, unix ms; 0 = not given */
    int64_t now;
    const char *hook_json; /**< the report's HookReport as proto3 JSON for the history row, or NULL */
    /**
     * A hook's result for a task that is already final (post_upgrade runs after 100): only
     * the sequence and the history row are written; state, message and the rest stay.
     */
    bool hook_only;
} ferry_store_report_t;

/** Applies |r| to its task and appends its history row. */
ferry_err_code_t ferry_store_report_apply(ferry_store_t *s, const ferry_store_report_t *r, ferry_err_t *err);

/* ---- node files --------------------------------------------------------------------------- */

/** The node owning task |task_id|. FERRY_E_NOT_FOUND "task <id> not found". */
ferry_err_code_t ferry_store_task_node(ferry_store_t *s, int64_t task_id, int64_t *node_id, ferry_err_t *err);

/** How many report files task |task_id| lists. */
ferry_err_code_t ferry_store_task_files_count(ferry_store_t *s, int64_t task_id, int64_t *n,
                                              ferry_err_t *err);

/** A new node-file upload row ('open'). */
typedef struct ferry_store_node_upload_new {
    const char *id;
    int64_t node_id;
    const char *file_name;
    uint64_t size;
    const char *sha256; /**< announced, lowercase hex */
    int kind;           /**< Ferry__V1__FileKind */
    int64_t task_id;    /**< 0 = none */
    const char *content_type;
    int64_t created_at, expires_at;
} ferry_store_node_upload_new_t;

/** Inserts |u|. */
ferry_err_code_t ferry_store_node_upload_insert(ferry_store_t *s, const ferry_store_node_upload_new_t *u,
                                                ferry_err_t *err);

/** A node-file upload row. */
typedef struct ferry_store_node_upload {
    int64_t node_id;
    int64_t task_id; /**< 0 = none */
    int kind;
    char status[16]; /**< "open", "committed", "aborted" */
    char file_name[256];
    char expected_sha256[FERRY_SHA256_HEX_LEN + 1];
    uint64_t expected_size;
    char content_type[256];
    int64_t report_file_id; /**< 0 until committed */
    char blob_sha256[FERRY_SHA256_HEX_LEN + 1];
} ferry_store_node_upload_t;

/** Node-file upload |id|. FERRY_E_NOT_FOUND "upload <id> not found" (package uploads included). */
ferry_err_code_t ferry_store_node_upload_get(ferry_store_t *s, const char *id, ferry_store_node_upload_t *out,
                                             ferry_err_t *err);

/** A committed node file. */
typedef struct ferry_store_report_file_new {
    const char *upload_id;
    int64_t node_id;
    int64_t task_id; /**< 0 = none */
    int kind;
    const char *name;
    const char *sha256; /**< the blob */
    uint64_t size;
    const char *summary;
    const char *content_type;
    int64_t now;
    /* NODE_CONFIG only: the node configuration index entry */
    int64_t config_version;
    const char *config_summary_json; /**< masked NodeConfig JSON, "" when it did not parse */
} ferry_store_report_file_new_t;

/**
 * Closes the open upload f->upload_id as committed with its report_file row, links it
 * (upload -> file, the task's file list, the node configuration index for NODE_CONFIG)
 * and sets *file_id. FERRY_E_PRECONDITION "upload <id> is no longer open" when a
 * concurrent commit won; FERRY_E_INVALID_ARG when the task already lists
 * FERRY_STORE_TASK_FILES_MAX files.
 */
ferry_err_code_t ferry_store_node_upload_commit(ferry_store_t *s, const ferry_store_report_file_new_t *f,
                                                int64_t *file_id, ferry_err_t *err);

#endif
