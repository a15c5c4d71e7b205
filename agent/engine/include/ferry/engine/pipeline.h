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
#include <stddef.h>
#include <stdint.h>

#include "ferry/engine/config.h"
#include "ferry/engine/journal.h"
#include "ferry/model/hooks.h"
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

/**
 * Receives the result of one upgrade hook as soon as the journal holds it (ran, failed,
 * skipped or not applicable), on the thread running the pipeline; must be cheap. A
 * result found in the journal again (a resume, a new attempt keeping a passed hook) is
 * announced again, so a listener that lost one after a crash hears it once more: treat
 * it as an upsert by hook id. |h| and |rec| are valid during the callback only.
 */
typedef void (*ferry_pipeline_hook_fn)(void *user, const ferry_hook_t *h, const ferry_hook_rec_t *rec);

/** Options shared by the entry points. Zero-initialise, then set. */
typedef struct ferry_pipeline_opts {
    const ferry_node_config_t *cfg;   /**< required, borrowed */
    ferry_pipeline_event_fn on_event; /**< may be NULL */
    ferry_pipeline_hook_fn on_hook;   /**< may be NULL; gets |user| too */
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
    /*
     * Upgrade hooks (hooks.json, docs/hooks.md). Read when a task is created and kept in
     * the journal, so a resume matches the same hooks; ignored by resume.
     */
    const char *const *sites;      /**< site codes for `site_ids` (customer, store, node codes; --site) */
    size_t n_sites;                /**< at most FERRY_HOOK_CTX_MAX */
    const char *const *skip_hooks; /**< hook ids an administrator chose to skip (task retry --skip) */
    size_t n_skip_hooks;
    /** The installed version for `versions` ranges; NULL = the journal's last Succeeded apply. */
    const char *from_version;
    /** Path of node-config.json, given to exec hooks as FERRY_NODE_CONFIG; may be NULL. */
    const char *config_path;
    /**
     * Apply with a |task_id| the journal holds as a Failed apply of the same version (the
     * server's RetryTask): a new attempt of that task (ferry_journal_new_attempt). This is
     * the hook (Assignment.resume_checkpoint) after which it resumes: the PASS results of
     * pre_upgrade hooks up to it are kept, not run again; NULL or "" = from the start.
     */
    const char *resume_checkpoint;
} ferry_pipeline_opts_t;

/**
 * Applies the package at |package_path| for |version| (`a.b.c.d(build)`). |sha256| (64
 * hex, may be NULL) is checked in Verifying (E_HASH_MISMATCH). |result| receives the
 * final task record. With o->task_id naming a Failed apply of |version| in the journal,
 * the run is a new attempt of it (see resume_checkpoint); the earlier attempt's backup
 * is reused when that attempt got past BackingUp and the backup still verifies.
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
 * Runs the post_upgrade hooks of task |task_id| (an apply that ended 100 Succeeded), the
 * phase seed 002 runs after the update: never rolls back; a failure after its retries is
 * recorded (the report is flagged) and returned as E_HOOK_FAILED while the task stays
 * Succeeded. Checkpointed like the other phases: after a crash, call it again (finished
 * hooks are not re-run, an interrupted one only if idempotent). Progress events carry
 * state 100 and "post_upgrade <id>". Runs under its own lock (`post.lock`), not the task
 * lock, so a new task may start meanwhile. *ran = 0 when there was nothing to do (no
 * such task, not Succeeded, no post_upgrade hooks, already finished). o->stop set:
 * the running hook is killed and FERRY_E_CANCELED returned, the phase left to resume
 * (that hook counts as interrupted). The report
 * (ferry_pipeline_report_path()) is rewritten when the phase ends.
 */
ferry_err_code_t ferry_pipeline_post_upgrade(const ferry_pipeline_opts_t *o, const char *task_id, int *ran,
                                             ferry_err_t *err);

/**
 * The newest apply task whose post_upgrade phase is still pending or was interrupted
 * (after a crash or restart); *found = 0 if none. The daemon calls it on start.
 */
ferry_err_code_t ferry_pipeline_post_upgrade_pending(const ferry_node_config_t *cfg, char *task_id,
                                                     size_t size, int *found, ferry_err_t *err);

/** Path of task |task_id|'s upgrade-report.json ({stateDir}/reports/{id}/upgrade-report.json). */
ferry_err_code_t ferry_pipeline_report_path(const ferry_node_config_t *cfg, const char *task_id, char *out,
                                            size_t size, ferry_err_t *err);

/**
 * Manual rollback to the state saved before |version| was installed: finds that backup
 * (BackupLocalPath in the journal, else the newest complete `{backupRoot}/{version}` or
 * `{version}_*` folder) and runs the rollback step (stop, restore server, client and
 * database, start) as a new task ending in Rollbacked or Failed. No backup: the task
 * ends Failed with E_BACKUP_MISSING.
 */
ferry_err_code_t ferry_pipeline_rollback(const ferry_pipeline_opts_t *o, const char *version,
                                         ferry_task_t *result, ferry_err_t *err);

/**
 * For a change to the node outside a task (the daemon's configuration apply): takes the
 * task lock (`agent.lock`) and checks that the journal holds no active task. *fd_out
 * gets the lock; release it with ferry_pipeline_unlock(). FERRY_E_PRECONDITION when a
 * task is active (it is resumed first) or another process holds the lock: try later.
 */
ferry_err_code_t ferry_pipeline_lock_idle(const ferry_node_config_t *cfg, int *fd_out, ferry_err_t *err);

/** Releases a lock from ferry_pipeline_lock_idle() (-1 is a no-op). */
void ferry_pipeline_unlock(int fd);

/**
 * Restarts the managed service the way an update does (Stopping, then Starting with the
 * node-config health check, within service.stopTimeoutSeconds / startTimeoutSeconds).
 * Errors: E_SERVICE_STOP_FAILED / E_SERVICE_STOP_TIMEOUT / E_SERVICE_START_FAILED, the
 * message naming the service and the reason (health check included).
 */
ferry_err_code_t ferry_pipeline_restart_service(const ferry_node_config_t *cfg, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
