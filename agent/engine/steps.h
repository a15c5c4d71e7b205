/**
 * @file steps.h
 * Private to the engine: the step table the pipeline drives. Each state that does work
 * has one entry with three operations in the manner of SWUpdate's handlers:
 *   prepare  - checks that change nothing (inputs present, free space);
 *   apply    - does the state's work; idempotent, because after a crash it may run again;
 *   rollback - undoes what apply may have changed, used by the Rollbacking step, which
 *              calls them in reverse table order.
 * Steps do I/O; the decisions stay in lib/model/states.c and the records in journal.c.
 */
#ifndef FERRY_ENGINE_STEPS_H
#define FERRY_ENGINE_STEPS_H

#include <limits.h>
#include <stdbool.h>

#include "ferry/engine/backup.h"
#include "ferry/engine/config.h"
#include "ferry/engine/journal.h"
#include "ferry/engine/pipeline.h"
#include "ferry/model/states.h"
#include "ferry/engine/svcctl.h"
#include "ferry/model/hooks.h"
#include "ferry/model/zipsafe.h"
#include "ferry/err.h"

/** Everything one run of the pipeline works with. Owned by pipeline.c. */
typedef struct ferry_run {
    const ferry_node_config_t *cfg; /**< borrowed */
    const char *agent_log;          /**< borrowed, may be NULL */
    ferry_journal_t *journal;       /**< borrowed */
    ferry_task_t *task;             /**< borrowed: the journal's view of the task */
    ferry_pipeline_event_fn on_event;
    ferry_pipeline_hook_fn on_hook;
    void *user;
    ferry_svcctl_t *svc;     /**< owned, created on first use */
    ferry_zip_t *pkg;        /**< owned, opened (and validated) on first use */
    bool ensure_stopped;     /**< stop the service before the next step (resume after reboot) */
    char work_dir[PATH_MAX]; /**< {tempDir}/ferry-task-{id}: scripts, zip temporaries */
    ferry_backup_stats_t server_stats, client_stats;
    volatile int *stop; /**< borrowed, may be NULL: set -> return between steps */
    /* Upgrade hooks (hookrun.c). */
    ferry_hooks_t *hooks;      /**< owned: the package's hooks.json, NULL when it has none */
    bool hooks_loaded;         /**< hooks is valid (possibly NULL) */
    ferry_hook_ctx_t hctx;     /**< sites, installed version, skip list: saved in the journal */
    const char *config_path;   /**< borrowed, may be NULL: node-config.json, for FERRY_NODE_CONFIG */
    char report_dir[PATH_MAX]; /**< {stateDir}/reports/{task id} */
    /**
     * post_upgrade only (borrowed, may be NULL): set -> the running hook's process group is
     * killed and the phase returns FERRY_E_CANCELED with that hook left "started", so the
     * next start treats it like a crash (re-run if idempotent). Steps of the update itself
     * never use it: the pipeline stops between steps, not inside them.
     */
    volatile int *hook_stop;
} ferry_run_t;

typedef ferry_err_code_t (*ferry_step_fn)(ferry_run_t *r, ferry_err_t *err);

typedef struct ferry_step {
    ferry_state_t state;
    ferry_step_fn prepare;  /**< may be NULL */
    ferry_step_fn apply;    /**< may be NULL: nothing to do */
    ferry_step_fn rollback; /**< may be NULL: nothing to undo */
} ferry_step_t;

/** The entry for |s|, or NULL for states without work (terminal ones). */
const ferry_step_t *ferry_steps_find(ferry_state_t s);

/** Opens and validates the package once per run (re-checking its SHA-256 when one was given). */
ferry_err_code_t ferry_steps_need_pkg(ferry_run_t *r, ferry_err_t *err);

/** Stops the service (idempotent); used before redoing a step after a crash. */
ferry_err_code_t ferry_steps_ensure_stopped(ferry_run_t *r, ferry_err_t *err);

/** Best-effort start of the service after a failure that left it stopped; logs failures. */
void ferry_steps_restart_service(ferry_run_t *r);

/** Keeps the newest retentionN backups (never the task's own); logs failures, never fails. */
void ferry_steps_retention(ferry_run_t *r);

/** Sends a progress event for the current state. */
void ferry_run_emit(ferry_run_t *r, bool transition, uint64_t done, uint64_t total, const char *message);

/**
 * Loads hooks.json from the package (once) and extracts every file it references into
 * work_dir/hooks.tree, programs mode 0700. No hooks.json: nothing to do.
 */
ferry_err_code_t ferry_hooks_prepare(ferry_run_t *r, ferry_err_t *err);

/**
 * Runs the hooks of |phase| that apply to this node, each checkpointed in the journal
 * before and after it runs; finished hooks are not run again; an interrupted hook is
 * re-run only if it is idempotent (checks always are), else it fails. Errors:
 * E_PRECHECK_FAILED (pre_check: a `fail` check above its threshold or a check that could
 * not run; every check runs first), E_HOOK_FAILED (any other phase).
 */
ferry_err_code_t ferry_hooks_run_phase(ferry_run_t *r, ferry_hook_phase_t phase, ferry_err_t *err);

/**
 * Writes {report_dir}/upgrade-report.json and .txt from the task record, hooks.json and
 * the journal's checkpoints (durably: temp, fsync, rename). Best effort for callers: the
 * task's outcome never depends on it.
 */
ferry_err_code_t ferry_report_write(ferry_run_t *r, ferry_err_t *err);

/** Releases what the run opened (package, service handle) and, if |finished|, removes work_dir. */
void ferry_run_release(ferry_run_t *r, bool finished);

#endif
