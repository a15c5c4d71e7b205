/**
 * @file journal.h
 * The agent's task journal: one SQLite database `journal.db` in the agent's stateDir
 * (WAL, synchronous=FULL), so every recorded transition survives a power cut. The
 * pipeline writes a transition BEFORE it runs the step of the new state; after a crash
 * the journal therefore names the step that was (maybe) running.
 *
 * Tables: `task` (one row per task: the current state and everything needed to resume
 * or roll back it) and `event` (the history: every transition and note, in order).
 * Only one task is active (non-terminal) at a time; ferry_journal_lock() guards the
 * whole state dir against a second agent process.
 */
#ifndef FERRY_ENGINE_JOURNAL_H
#define FERRY_ENGINE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/model/states.h"
#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_TASK_ID_LEN    32    /**< hex characters of a task id */
#define FERRY_JOURNAL_PATH   1024  /**< longest path kept in the journal */
#define FERRY_JOURNAL_TEXT   64    /**< version, kind and substep strings */
#define FERRY_JOURNAL_EVENTS 10000 /**< events kept per task; older ones are pruned */

/** Kinds of task. */
#define FERRY_TASK_KIND_APPLY    "apply"
#define FERRY_TASK_KIND_ROLLBACK "rollback"

/** One task as the journal keeps it. Plain data: copy it freely. */
typedef struct ferry_task {
    char task_id[FERRY_TASK_ID_LEN + 1];
    char kind[FERRY_JOURNAL_TEXT]; /**< "apply" or "rollback" */
    char version[FERRY_JOURNAL_TEXT];
    char package_path[FERRY_JOURNAL_PATH]; /**< empty for a manual rollback */
    char package_sha256[65];               /**< expected digest, lower-case hex; may be empty */
    char backup_path[FERRY_JOURNAL_PATH];  /**< BackupLocalPath; empty until chosen */
    char diag_path[FERRY_JOURNAL_PATH];    /**< diagnostic zip written for this task, or empty */
    ferry_state_t state;
    ferry_state_t failed_state; /**< where the failure that started a rollback happened */
    unsigned attempt;           /**< starts of the current state's step */
    unsigned resumes;           /**< times the task was resumed after a crash */
    ferry_sm_facts_t facts;
    char substep[FERRY_JOURNAL_TEXT]; /**< finer position inside a step ("sql.data") */
    ferry_err_code_t error_code;
    char error_msg[FERRY_ERR_MSG_MAX];
    int64_t created_ms, updated_ms, finished_ms; /**< Unix ms; finished 0 while active */
} ferry_task_t;

/** One line of a task's history. */
typedef struct ferry_journal_event {
    int64_t at_ms;
    ferry_state_t from, to;
    unsigned attempt;
    ferry_err_code_t error_code;
    const char *message; /**< valid during the callback only */
} ferry_journal_event_t;

typedef struct ferry_journal ferry_journal_t;

/**
 * Takes an exclusive, non-blocking flock on `{state_dir}/agent.lock` (created if
 * missing, with state_dir). *fd_out receives the descriptor; close it to release (the
 * kernel also releases it when the process dies, even by SIGKILL).
 * FERRY_E_PRECONDITION if another process holds it.
 */
ferry_err_code_t ferry_journal_lock(const char *state_dir, int *fd_out, ferry_err_t *err);

/** Opens (creating if needed) `{state_dir}/journal.db`. Caller owns *out: ferry_journal_close(). */
ferry_err_code_t ferry_journal_open(const char *state_dir, ferry_journal_t **out, ferry_err_t *err);

/** Closes the journal; NULL is fine. */
void ferry_journal_close(ferry_journal_t *j);

/**
 * Inserts |t| as a new task in state Pending (attempt 1), with a fresh random task id (or
 * |t|'s own) and timestamps written back into |t|. FERRY_E_PRECONDITION if another task is
 * active or the journal already holds |t|'s id (see ferry_journal_new_attempt).
 */
ferry_err_code_t ferry_journal_create(ferry_journal_t *j, ferry_task_t *t, ferry_err_t *err);

/**
 * Starts a new attempt of task |t->task_id|, which the journal holds as a Failed apply of
 * the same version (the server's RetryTask reuses the task id; ferry_journal_create
 * refuses an id it already holds). In one synced transaction: the row goes back to
 * Pending with |t|'s package, sha256, facts and backup path (empty = take a new backup;
 * the caller decides whether the earlier one is reused), step attempt 1, resumes, error,
 * failed_state, diag path and finish time cleared, and it becomes the journal's latest
 * task; the history stays, with an event naming the earlier result; the earlier attempt's
 * hook checkpoints are dropped except the PASS results of pre_upgrade hooks first met up to
 * and including the hook |checkpoint| (NULL or "" = none kept: the attempt starts from
 * the start). |t| receives the new row, *kept the number of hook checkpoints kept.
 * FERRY_E_PRECONDITION, nothing changed, when a task is active or |t->task_id| is not such
 * a task. The hook context is the caller's to save (ferry_journal_hook_ctx_save).
 */
ferry_err_code_t ferry_journal_new_attempt(ferry_journal_t *j, ferry_task_t *t, const char *checkpoint,
                                           unsigned *kept, ferry_err_t *err);

/**
 * Records the move of |t| to |to| (attempt 1, or attempt+1 when to == t->state) and
 * an event with |message|, in one synced transaction, then updates |t|. A non-OK
 * |code| replaces the recorded error (message |message|). Entering a terminal state
 * sets finished_ms. Refuses transitions ferry/model/states.h forbids (FERRY_E_TRANSITION_INVALID).
 */
ferry_err_code_t ferry_journal_transition(ferry_journal_t *j, ferry_task_t *t, ferry_state_t to,
                                          ferry_err_code_t code, const char *message, ferry_err_t *err);

/** Saves |t|'s descriptive fields (paths, facts, substep, failed_state) with no transition. */
ferry_err_code_t ferry_journal_save(ferry_journal_t *j, const ferry_task_t *t, ferry_err_t *err);

/** Counts a resume of |t| (resumes + 1) and records an event; synced. */
ferry_err_code_t ferry_journal_note_resume(ferry_journal_t *j, ferry_task_t *t, ferry_err_t *err);

/** Appends a history line to |t| without changing its state (e.g. "sql: data.sql"). */
ferry_err_code_t ferry_journal_note(ferry_journal_t *j, const ferry_task_t *t, const char *message,
                                    ferry_err_t *err);

/** Loads the active (non-terminal) task into |out|; *found = 0 if there is none. */
ferry_err_code_t ferry_journal_active(ferry_journal_t *j, ferry_task_t *out, int *found, ferry_err_t *err);

/** Loads the most recently created task (any state); *found = 0 if the journal is empty. */
ferry_err_code_t ferry_journal_latest(ferry_journal_t *j, ferry_task_t *out, int *found, ferry_err_t *err);

/**
 * Loads the newest task of kind "apply" for |version| that recorded a backup path and got past
 * BackingUp; *found = 0 if none. Used by manual rollback to find BackupLocalPath.
 */
ferry_err_code_t ferry_journal_find_backup(ferry_journal_t *j, const char *version, ferry_task_t *out,
                                           int *found, ferry_err_t *err);

/** Calls |fn| for each event of |task_id| in order (at most FERRY_JOURNAL_EVENTS). */
ferry_err_code_t ferry_journal_events(ferry_journal_t *j, const char *task_id,
                                      void (*fn)(void *user, const ferry_journal_event_t *ev), void *user,
                                      ferry_err_t *err);

/* ---- upgrade hooks (hooks.json, seed 002) ---- */

#define FERRY_HOOK_OUTPUT_TAIL 4096 /**< bytes of a hook's output kept in the journal and report */
#define FERRY_HOOK_CTX_MAX     32   /**< site codes / skipped hook ids kept per task */
#define FERRY_HOOK_CTX_ITEM    72   /**< bytes of one site code or hook id (+ NUL) */

/** Outcomes of a hook (the report's words). */
#define FERRY_HOOK_PASS           "PASS"
#define FERRY_HOOK_WARN           "WARN"
#define FERRY_HOOK_FAIL           "FAIL"
#define FERRY_HOOK_SKIPPED        "SKIPPED"
#define FERRY_HOOK_NOT_APPLICABLE "NOT_APPLICABLE"
#define FERRY_HOOK_RUNNING        "RUNNING"

/** One hook's checkpoint: written with done = 0 before it runs and done = 1 after. */
typedef struct ferry_hook_rec {
    char hook_id[FERRY_JOURNAL_TEXT + 8];
    char phase[32];
    int done;         /**< 0: started, no result yet (interrupted if found on resume) */
    char outcome[16]; /**< FERRY_HOOK_* */
    char reason[FERRY_ERR_MSG_MAX];
    int64_t count;  /**< check: the count; -1 otherwise */
    int exit_code;  /**< exec: the exit status, 128+N for signal N, -1 none */
    unsigned tries; /**< attempts made in the last run (1 + retries used) */
    unsigned runs;  /**< times the hook was started, counting re-runs after a crash */
    int64_t started_ms, ended_ms;
    char output[FERRY_HOOK_OUTPUT_TAIL + 1]; /**< tail of stdout+stderr (or SQL messages) */
    char log_path[FERRY_JOURNAL_PATH];       /**< full output, or empty */
} ferry_hook_rec_t;

/** What a task's hooks are matched against (kept so a resume sees the same). */
typedef struct ferry_hook_ctx {
    char sites[FERRY_HOOK_CTX_MAX][FERRY_HOOK_CTX_ITEM];
    size_t n_sites;
    char skip[FERRY_HOOK_CTX_MAX][FERRY_HOOK_CTX_ITEM]; /**< hook ids an operator chose to skip */
    size_t n_skip;
    char from_version[FERRY_JOURNAL_TEXT]; /**< installed version, or empty when unknown */
    char post_state[16];                   /**< post_upgrade: "", "running", "done", "failed" */
} ferry_hook_ctx_t;

/** Loads the checkpoint of |hook_id| in |task_id|; *found = 0 if the hook never started. */
ferry_err_code_t ferry_journal_hook_get(ferry_journal_t *j, const char *task_id, const char *hook_id,
                                        ferry_hook_rec_t *out, int *found, ferry_err_t *err);

/** Writes (inserts or replaces) the checkpoint |r| of |task_id|; synced. */
ferry_err_code_t ferry_journal_hook_put(ferry_journal_t *j, const char *task_id, const ferry_hook_rec_t *r,
                                        ferry_err_t *err);

/** Calls |fn| for every checkpoint of |task_id| in the order the hooks were first met. */
ferry_err_code_t ferry_journal_hooks(ferry_journal_t *j, const char *task_id,
                                     void (*fn)(void *user, const ferry_hook_rec_t *rec), void *user,
                                     ferry_err_t *err);

/** Saves / loads the hook context of |task_id| (*found = 0 when none was saved). */
ferry_err_code_t ferry_journal_hook_ctx_save(ferry_journal_t *j, const char *task_id,
                                             const ferry_hook_ctx_t *c, ferry_err_t *err);
ferry_err_code_t ferry_journal_hook_ctx_load(ferry_journal_t *j, const char *task_id, ferry_hook_ctx_t *c,
                                             int *found, ferry_err_t *err);

/** The version of the newest apply task that Succeeded ("" if none): the installed version. */
ferry_err_code_t ferry_journal_installed_version(ferry_journal_t *j, char *out, size_t size,
                                                 ferry_err_t *err);

/** Loads the task |task_id| (any state); *found = 0 if it is not in the journal. */
ferry_err_code_t ferry_journal_get(ferry_journal_t *j, const char *task_id, ferry_task_t *out, int *found,
                                   ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
