/**
 * @file states.h
 * The update task's state machine (seed 000 §8.2), pure: it takes the current state,
 * a few facts about the task and an event (a step finished, a step failed, the engine
 * came back after a crash) and returns the next state. No I/O here: the engine's journal
 * (ferry/engine/journal.h) records decisions, its pipeline (ferry/engine/pipeline.h) runs
 * the steps; the server and the CLI use the same codes and the same final set.
 *
 * Rules encoded here, in one place:
 * - order 10 -> (20) -> 30 -> (40) -> 50 -> 60 -> (70) -> (75) -> (80) -> 90 -> 100,
 *   skipping parts the package does not carry;
 * - a failure before the backup is complete (10..60) ends in 110 Failed with nothing
 *   touched; after it (70..90) goes to 120 Rollbacking, which ends in 130 Rollbacked or,
 *   if the rollback itself fails, 110 Failed with E_ROLLBACK_FAILED (E_BACKUP_MISSING
 *   when there was no complete backup to restore);
 * - after a crash, a step that is safe to redo is redone (at most
 *   FERRY_SM_MAX_ATTEMPTS starts in all), RunningSql is never redone (scripts are not
 *   re-runnable) and rolls back instead.
 */
#ifndef FERRY_MODEL_STATES_H
#define FERRY_MODEL_STATES_H

#include <stdbool.h>

#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** UpdateTask.Status, codes and names exactly as seed 000 §8.2. */
typedef enum ferry_state {
    FERRY_STATE_PENDING = 10,
    FERRY_STATE_DOWNLOADING = 20,
    FERRY_STATE_VERIFYING = 30,
    FERRY_STATE_WAITING_USER = 40,
    FERRY_STATE_STOPPING_SERVICE = 50,
    FERRY_STATE_BACKING_UP = 60,
    FERRY_STATE_INSTALLING_SERVER = 70,
    FERRY_STATE_INSTALLING_CLIENT = 75,
    FERRY_STATE_RUNNING_SQL = 80,
    FERRY_STATE_STARTING_SERVICE = 90,
    FERRY_STATE_SUCCEEDED = 100,
    FERRY_STATE_FAILED = 110,
    FERRY_STATE_ROLLBACKING = 120,
    FERRY_STATE_ROLLBACKED = 130
} ferry_state_t;

/** Number of states; ferry_state_at(i) for i < FERRY_STATE_COUNT lists them in code order. */
#define FERRY_STATE_COUNT 14

/** Starts of one step (first run + redos after crashes) before the machine gives up on it. */
#define FERRY_SM_MAX_ATTEMPTS 3

/** Package parts (appendix A); a package carries at least one. */
enum {
    FERRY_PART_SERVER = 1u << 0,     /**< server.zip */
    FERRY_PART_CLIENT = 1u << 1,     /**< client.zip */
    FERRY_PART_SQL_SCHEMA = 1u << 2, /**< 结构.sql */
    FERRY_PART_SQL_DATA = 1u << 3    /**< data.sql */
};

/** What the machine needs to know about the task; the journal keeps it. */
typedef struct ferry_sm_facts {
    unsigned parts;        /**< FERRY_PART_* bits; known once Verifying succeeded */
    bool needs_download;   /**< false for an offline apply of a local file */
    bool needs_user;       /**< optional update: wait for the tray's now/defer */
    bool manual_rollback;  /**< the task restores an existing backup (ferry-agent rollback) */
    bool sql_data_started; /**< RunningSql got as far as data.sql (picks the error code) */
} ferry_sm_facts_t;

typedef enum ferry_sm_event_kind {
    FERRY_SM_STEP_OK,     /**< the current state's step finished */
    FERRY_SM_STEP_FAILED, /**< it failed with |code| */
    FERRY_SM_RESUMED      /**< the engine restarted and found the task in the current state */
} ferry_sm_event_kind_t;

typedef struct ferry_sm_event {
    ferry_sm_event_kind_t kind;
    ferry_err_code_t code; /**< STEP_FAILED: the step's error code */
    unsigned attempts;     /**< RESUMED: how many times the step was started already (>= 1) */
} ferry_sm_event_t;

/** Side effects the pipeline must perform around the next step. */
enum {
    /** Make sure the service is stopped before redoing the step (a reboot may have started it). */
    FERRY_SM_ENSURE_STOPPED = 1u << 0,
    /** Best-effort start of the service: it was stopped but nothing was installed. */
    FERRY_SM_RESTART_SERVICE = 1u << 1
};

typedef struct ferry_sm_decision {
    ferry_state_t next;     /**< state to record and then run (== current when redo) */
    bool redo;              /**< same state again: the attempt counter goes up */
    ferry_err_code_t error; /**< cause to record with |next|; FERRY_OK keeps the recorded one */
    unsigned flags;         /**< FERRY_SM_* side effects */
} ferry_sm_decision_t;

/** "Pending", "RunningSql"... (seed names); "Unknown" for a value that is not a state. */
const char *ferry_state_name(int code);

/** True if |code| is one of the 14 state codes. */
bool ferry_state_valid(int code);

/** The i-th state in code order (0 -> 10 Pending ... 13 -> 130 Rollbacked). */
ferry_state_t ferry_state_at(unsigned i);

/** Succeeded, Failed and Rollbacked end a task. */
bool ferry_state_is_terminal(ferry_state_t s);

/**
 * True once the task may have changed the installation (70..90, 120): a failure there
 * must roll back. The backup is complete whenever the task is in one of these states,
 * because 60 -> 70/75/80 is recorded only after the backup finished.
 */
bool ferry_state_touches_install(ferry_state_t s);

/** True if the machine may move from |from| to |to| (a redo, from == to, included). */
bool ferry_state_transition_allowed(ferry_state_t from, ferry_state_t to);

/**
 * The error code used when the step of |s| cannot finish (it crashed too often, or
 * RunningSql was interrupted): E_INSTALL_FAILED_SERVER for 70 and so on.
 */
ferry_err_code_t ferry_sm_failure_code(ferry_state_t s, const ferry_sm_facts_t *facts);

/**
 * The decision for |ev| in state |current|. A terminal |current| yields itself with
 * redo false (nothing to do). Never returns a transition that
 * ferry_state_transition_allowed() forbids.
 */
ferry_sm_decision_t ferry_sm_next(ferry_state_t current, const ferry_sm_facts_t *facts,
                                  const ferry_sm_event_t *ev);

#ifdef __cplusplus
}
#endif
#endif
