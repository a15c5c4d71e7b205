/**
 * @file pipeline.h
 * The update pipeline: drives one task through the state machine (ferry/model/states.h), recording
 * every transition in the journal (journal.h) before running the step of the new state
 * (the step table in steps.c: verify, stop, back up, install server, install client,
 * SQL, start + health check, rollback).
 *
 * One task at a time: each entry point takes the state dir's lock for its whole run and
 * refuses to start a new task while one is active (it must be resumed first).
 *
 * Return value of the entry points: FERRY_OK when the task reached a terminal state,
 * whatever it is (look at result->state and result->error_code); an error when no task
 * could be run or finished (bad version, config, lock held, journal I/O), with nothing
 * changed by this call except, for journal failures, a task left to resume.
 */
#ifndef FERRY_ENGINE_PIPELINE_H
#define FERRY_ENGINE_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/engine/config.h"
#include "ferry/engine/journal.h"
#include "ferry/model/states.h"
#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One progress event. */
typedef struct ferry_pipeline_event {
    ferry_state_t state;  /**< state whose step is running */
    bool transition;      /**< true when this event announces entering |state| */
    int percent;          /**< progress within the state 0..100, -1 when unknown */
    uint64_t done, total; /**< bytes (or items) done / total within the state; total 0 = unknown */
    const char *message;  /**< transition text or current item; valid during the callback only */
} ferry_pipeline_event_t;

/** Receives progress events on the thread running the pipeline; must be cheap. */
typedef void (*ferry_pipeline_event_fn)(void *user, const ferry_pipeline_event_t *ev);

/** Options shared by the entry points. Zero-initialise, then set. */
typedef struct ferry_pipeline_opts {
    const ferry_node_config_t *cfg;   /**< required, borrowed */
    ferry_pipeline_event_fn on_event; /**< may be NULL */
    void *user;
    const char *agent_log; /**< agent log file, tail goes into diagnostic files; may be NULL */
    /**
     * May be NULL. When *stop becomes non-zero (a signal handler may set it), the run
     * returns FERRY_E_CANCELED after the current step, its next state recorded: the
     * task stays active and ferry_pipeline_resume() continues it.
     */
    volatile int *stop;
    /**
     * Optional: the journal task id for a new task (<= 32 of [A-Za-z0-9_-]); NULL or
     * "" = random. The daemon uses the server's task id, so a journal task
     * and its server task are the same thing after a crash.
     */
    const char *task_id;
    /** Rollback only: the backup folder to restore (the server's BackupLocalPath); NULL = find it. */
    const char *backup_path;
} ferry_pipeline_opts_t;

/**
 * Applies the package at |package_path| for |version| (`a.b.c.d(build)`). |sha256| (64
 * hex, may be NULL) is checked in Verifying (E_HASH_MISMATCH). |result| receives the
 * final task record.
 */
ferry_err_code_t ferry_pipeline_apply(const ferry_pipeline_opts_t *o, const char *package_path,
                                      const char *version, const char *sha256, ferry_task_t *result,
                                      ferry_err_t *err);

/**
 * Finishes or rolls back the task the journal holds as active (after a crash or
 * reboot). *found = 0 (and FERRY_OK) when there is nothing to resume; |result| then
 * holds the latest task if any (found_latest tells), else is zeroed.
 */
ferry_err_code_t ferry_pipeline_resume(const ferry_pipeline_opts_t *o, ferry_task_t *result, int *found,
                                       ferry_err_t *err);

/**
 * Manual rollback to the state saved before |version| was installed: finds that backup
 * (BackupLocalPath in the journal, else the newest complete `{backupRoot}/{version}` or
 * `{version}_*` folder) and runs the rollback step (stop, restore server, client and
 * database, start) as a new task ending in Rollbacked or Failed. No backup: the task
 * ends Failed with E_BACKUP_MISSING.
 */
ferry_err_code_t ferry_pipeline_rollback(const ferry_pipeline_opts_t *o, const char *version,
                                         ferry_task_t *result, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
