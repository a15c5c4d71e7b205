/**
 * @file assign.h
 * The reads the agent service needs of tasks and releases to hand out assignments:
 * a node's open tasks, a rollback task's backup, a release's task ids. (The task and
 * package messages themselves are loaded by the tasks and packages repositories.)
 *
 * Every function runs on the writer connection with the store lock held.
 */
#ifndef FERRY_STORE_ASSIGN_H
#define FERRY_STORE_ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/store.h"

#define FERRY_STORE_ASSIGN_MAX 256 /**< open tasks handed out per check-in (the rest come next time) */

/** An open task of a node. */
typedef struct ferry_store_open_task {
    int64_t id;
    bool halted;      /**< the task is halted, or its release paused or canceled */
    bool window_held; /**< still 10 Pending and its release's maintenance window is closed in the
                       *   node's zone: not offered (the window sweep offers it when it opens) */
    /** What the update brings, for the person asked to install it (the tray's prompt): its
     *  release's description, or its package's when the release has none; "" when neither
     *  has one; NULL when the caller passed no arena. */
    char *notes;
} ferry_store_open_task_t;

/**
 * The open (not final) tasks of |node_id|, oldest first, at most |max|; or, with
 * |only_task| > 0, that task of the node whatever its state. *n = how many. The notes
 * go in |a| (NULL: not read).
 */
ferry_err_code_t ferry_store_node_open_tasks(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                             int64_t only_task, ferry_store_open_task_t *out, size_t max,
                                             size_t *n, ferry_err_t *err);

/** The backup path of the task rollback task |task_id| undoes ("" when none), in |a|. */
ferry_err_code_t ferry_store_rollback_backup_path(ferry_store_t *s, ferry_arena_t *a, int64_t task_id,
                                                  char **out, ferry_err_t *err);

/**
 * The task ids of release |release_id| in id order (FERRY_E_NOT_FOUND "release <id> not
 * found"), or, with |task_id| > 0, just that task (FERRY_E_NOT_FOUND "task <id> not
 * found"). *ids is allocated in |a|.
 */
ferry_err_code_t ferry_store_release_task_ids(ferry_store_t *s, ferry_arena_t *a, int64_t release_id,
                                              int64_t task_id, int64_t **ids, size_t *n, ferry_err_t *err);

#endif
