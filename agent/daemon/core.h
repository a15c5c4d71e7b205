/**
 * @file core.h
 * The daemon's decisions, without I/O (nghttp2 style): which task to work on next and
 * what to do with it, how an optional update's prompt answers change it, how long to
 * back off. The runtime (agentd.c) feeds it the task table and the clock and performs
 * what it returns; tests feed it events directly.
 *
 * Rules (docs/agent.md "The daemon's loop"):
 * - a task the engine holds (phase APPLYING: interrupted by SIGTERM or a crash) is
 *   resumed before anything else, even when halted;
 * - otherwise tasks are considered oldest first; finished and halted ones are skipped;
 * - a rollback task runs at once (it restores a backup, nothing to download);
 * - an update is downloaded and verified first (phase NEW -> READY), whatever its policy,
 *   so "update now" starts without waiting for the network;
 * - FORCED runs when READY; OPTIONAL waits for the user (40 WaitingUser): "now" runs it,
 *   "defer" hides it until the chosen time, never past the release deadline; when the
 *   deadline has passed (or the server says forced_now) it runs as forced;
 * - a task waiting for the user does not block a later task;
 * - a finished task comes back only for a new attempt (agentd_core_merge): the server's
 *   attempt counter went up (RetryTask) and its state is not final.
 */
#ifndef FERRY_AGENTD_CORE_H
#define FERRY_AGENTD_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

/** Where the agent is with a task, independent of the seed state it reported. */
typedef enum agentd_phase {
    AGENTD_PHASE_NEW = 0,      /**< known, package not yet downloaded and verified */
    AGENTD_PHASE_READY = 1,    /**< package downloaded and its signed manifest verified */
    AGENTD_PHASE_APPLYING = 2, /**< handed to the engine (its journal owns the task now) */
    AGENTD_PHASE_DONE = 3      /**< a final state was reported (100, 110, 130) */
} agentd_phase_t;

/** Numbering of local.proto's PromptState. */
typedef enum agentd_prompt {
    AGENTD_PROMPT_NONE = 1,
    AGENTD_PROMPT_WAITING = 2,
    AGENTD_PROMPT_DEFERRED = 3,
    AGENTD_PROMPT_ACCEPTED = 4,
    AGENTD_PROMPT_FORCED = 5
} agentd_prompt_t;

/** Numbering of common.proto's TaskKind / ReleasePolicy. */
enum { AGENTD_KIND_UPDATE = 1, AGENTD_KIND_ROLLBACK = 2 };
enum { AGENTD_POLICY_FORCED = 1, AGENTD_POLICY_OPTIONAL = 2 };

#define AGENTD_ID_MAX   64
#define AGENTD_TEXT_MAX 256
#define AGENTD_PATH_MAX 1024

/** One task as the daemon keeps it (agent.db, table `task`). Plain data. */
typedef struct agentd_task {
    char id[AGENTD_ID_MAX];
    char release_id[AGENTD_ID_MAX];
    int kind;   /**< AGENTD_KIND_* */
    int policy; /**< AGENTD_POLICY_* */
    char version[AGENTD_ID_MAX];
    char description[AGENTD_TEXT_MAX];
    char rollback_backup[AGENTD_PATH_MAX]; /**< rollback tasks: BackupLocalPath to restore */
    int64_t deadline_ms;                   /**< optional updates: forced after it; 0 = none */
    int64_t created_ms;                    /**< server's creation time (ordering) */
    agentd_phase_t phase;
    agentd_prompt_t prompt;
    int64_t deferred_until_ms;
    bool halted;     /**< release paused or canceled: do not start */
    bool forced_now; /**< the server says the deadline passed */
    int last_state;  /**< last seed state queued for the server */
    uint64_t size;   /**< package size (from the assignment's manifest) */
    int percent;     /**< progress of the current step */
    char error_code[48];
    unsigned attempt; /**< the server's UpdateTask.attempt this record works on (0 = first run) */
} agentd_task_t;

typedef enum agentd_act {
    AGENTD_ACT_NONE = 0, /**< nothing to do until |wake_ms| (0 = until an event) */
    AGENTD_ACT_DOWNLOAD, /**< download + verify tasks[index] */
    AGENTD_ACT_PROMPT,   /**< tasks[index] now waits for the user: record and report 40 */
    AGENTD_ACT_APPLY,    /**< run the engine on tasks[index] */
    AGENTD_ACT_ROLLBACK  /**< run the engine's rollback for tasks[index] */
} agentd_act_t;

typedef struct agentd_action {
    agentd_act_t act;
    size_t index;
    int64_t wake_ms; /**< ACT_NONE: earliest time something changes by itself (deferral, deadline) */
    bool forced;     /**< ACT_APPLY of an optional update whose deadline passed */
} agentd_action_t;

/** The next thing to do with |tasks| (any order) at |now_ms|. */
agentd_action_t agentd_core_next(const agentd_task_t *tasks, size_t n, int64_t now_ms);

/**
 * Merges the server's view |srv| of a task (from an Assignment: its facts, with
 * |srv|->last_state = the server's state and |srv|->attempt = the server's attempt) into
 * the daemon's record |cur| (NULL when the task is new) and writes the record to keep to
 * |out|. The server's facts (policy, deadline, halted...) win; the daemon's progress
 * (phase, last_state, percent, error) and the user's answers stay, except when a finished
 * task (DONE) starts a new attempt: only when |srv|->attempt is GREATER than the local one
 * AND the server's state is not final (100, 110, 130). Equal attempts never revive a task,
 * so a stale view (the final report still in the outbox while the server shows 30) changes
 * nothing. A new attempt starts over at phase NEW (download and verify again) with the
 * progress, error and the user's prompt answer of the earlier attempt cleared: an optional
 * update asks the user again (the earlier "now" chose a moment that has passed; past the
 * deadline it runs as forced, as any optional update). The attempt never goes down.
 * Returns true when the task came back to life. |out| may not alias |cur| or |srv|.
 */
bool agentd_core_merge(const agentd_task_t *cur, const agentd_task_t *srv, agentd_task_t *out);

/** Numbering of local.proto's PromptChoice. */
enum { AGENTD_CHOICE_NOW = 1, AGENTD_CHOICE_DEFER = 2 };

/**
 * Applies the user's answer to |t| (an optional update that is NEW, READY or waiting).
 * DEFER: deferred until now + |defer_ms| (default 1 h when 0), clamped to the deadline.
 * FERRY_E_PRECONDITION when |t| is not an optional update that can still be answered
 * (forced, finished, already running), FERRY_E_INVALID_ARG for an unknown choice;
 * |t| is unchanged then.
 */
ferry_err_code_t agentd_core_answer(agentd_task_t *t, int choice, int64_t defer_ms, int64_t now_ms,
                                    ferry_err_t *err);

/**
 * Capped exponential backoff with jitter: base * 2^attempt capped at |cap_ms|, then a
 * random point in [d/2, d] (|rand01| in [0,1) supplies the randomness, so tests are
 * deterministic).
 */
int64_t agentd_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms, double rand01);

/** |interval_ms| with +-10 % jitter (|rand01| in [0,1)), never below 1 s. */
int64_t agentd_jitter_ms(int64_t interval_ms, double rand01);

#endif
