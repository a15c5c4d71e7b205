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
 * Inserts |t| as a new task in state Pending (attempt 1), with a fresh random task id and
 * timestamps written back into |t|. FERRY_E_PRECONDITION if another task is active.
 */
ferry_err_code_t ferry_journal_create(ferry_journal_t *j, ferry_task_t *t, ferry_err_t *err);

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

#ifdef __cplusplus
}
#endif
#endif
