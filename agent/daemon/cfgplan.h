/**
 * @file cfgplan.h
 * Configuration assignments (docs/fleet.md, agent contract "Configuration"): the
 * decisions, without I/O (core.h style). The runtime (cfgapply.c) feeds them the rows of
 * agent.db's `config` table and the task table and performs what they return; tests feed
 * them tables directly.
 *
 * Rules (docs/agent.md "Configuration"):
 * - an offered assignment unknown here is queued; one queued or being applied is ignored
 *   (offered again by every CheckIn until reported); one finished is reported again with
 *   the same state, unless that report still waits in the outbox; one older than an
 *   assignment of the same template already here is ignored (superseded);
 * - a job interrupted while applying (kill -9, reboot) is finished before anything else:
 *   the node's file may be half-way between two versions;
 * - otherwise nothing starts while an update task is under way (not final and not halted:
 *   downloading, waiting for the user, deferred, applying) or its post_upgrade hooks run;
 * - queued jobs run oldest assignment first; a queued job whose template has a newer
 *   assignment here is dropped unreported (the server superseded it too);
 * - the target path is relative to the server dir, without '.', '..' or empty segments,
 *   backslashes or control characters (symlinks are checked on disk by cfgapply.c).
 */
#ifndef FERRY_AGENTD_CFGPLAN_H
#define FERRY_AGENTD_CFGPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "ferry/err.h"

/** ReportConfigResult.error_message limit (the server refuses longer). */
#define AGENTD_CFG_ERROR_MAX 4096
/** Largest rendered file accepted (the server renders at most 256 KiB). */
#define AGENTD_CFG_RENDERED_MAX (1024 * 1024)
/** Target path limit (the server's is 255 bytes). */
#define AGENTD_CFG_TARGET_MAX 256
/** Jobs looked at per decision (open ones: queued or applying). */
#define AGENTD_CFG_OPEN_MAX 32

/** Numbering of common.proto's ConfigAssignmentState. */
enum { AGENTD_CFG_APPLIED = 2, AGENTD_CFG_FAILED = 3, AGENTD_CFG_ROLLED_BACK = 4 };

/** Where the agent is with one assignment (agent.db `config.phase`). */
typedef enum agentd_cfg_phase {
    AGENTD_CFG_QUEUED = 0,    /**< received, nothing touched yet */
    AGENTD_CFG_APPLYING = 1,  /**< `<target>.ferry-prev` kept; the file may be the new one */
    AGENTD_CFG_RESTORING = 2, /**< the restart failed: putting the previous file back */
    AGENTD_CFG_DONE = 3       /**< result committed to the outbox (or dropped: state 0) */
} agentd_cfg_phase_t;

/** One assignment as the daemon keeps it (without the rendered content). Plain data. */
typedef struct agentd_cfg_job {
    char id[AGENTD_ID_MAX];
    char template_name[AGENTD_ID_MAX + 64];
    uint64_t template_version;
    char target[AGENTD_CFG_TARGET_MAX];
    bool restart;
    char sha256[65];
    agentd_cfg_phase_t phase;
    int state;     /**< AGENTD_CFG_APPLIED/FAILED/ROLLED_BACK when DONE; 0 = dropped (superseded) */
    bool had_prev; /**< a previous file existed (APPLYING/RESTORING: `.ferry-prev` is it) */
    char error[AGENTD_CFG_ERROR_MAX + 1];
    int64_t received_ms, done_ms;
    bool report_queued; /**< its result still waits in the outbox */
} agentd_cfg_job_t;

typedef enum agentd_cfg_offer {
    AGENTD_CFG_OFFER_QUEUE = 0,   /**< new: store it and wake the work loop */
    AGENTD_CFG_OFFER_IGNORE,      /**< already queued, being applied, or its report is queued */
    AGENTD_CFG_OFFER_REPORT_AGAIN /**< finished before: queue the same result again */
} agentd_cfg_offer_t;

/**
 * What to do with the assignment |offered_id|, given the row kept for it (|known|, NULL:
 * none) and the newest assignment id kept for the same template (|newest_of_template|,
 * "" or NULL: none). An unknown assignment older than one already here is stale (a
 * CheckIn answer overtaken by the stream): ignored, the server superseded it.
 */
agentd_cfg_offer_t agentd_cfg_on_offer(const agentd_cfg_job_t *known, const char *offered_id,
                                       const char *newest_of_template);

typedef enum agentd_cfg_act {
    AGENTD_CFG_ACT_NONE = 0,  /**< nothing to do */
    AGENTD_CFG_ACT_WAIT,      /**< queued work waits for the update task to be final */
    AGENTD_CFG_ACT_APPLY,     /**< apply jobs[index] from the start */
    AGENTD_CFG_ACT_RESUME,    /**< jobs[index] was interrupted while APPLYING: write again, restart */
    AGENTD_CFG_ACT_RESTORE,   /**< jobs[index] was interrupted while RESTORING: finish the rollback */
    AGENTD_CFG_ACT_SUPERSEDED /**< drop jobs[index] unreported (a newer one of its template is here) */
} agentd_cfg_act_t;

typedef struct agentd_cfg_action {
    agentd_cfg_act_t act;
    size_t index;
} agentd_cfg_action_t;

/**
 * The next step for the open |jobs| (any order; DONE ones are ignored) when
 * |update_busy| tells whether an update is under way (agentd_cfg_update_busy()).
 */
agentd_cfg_action_t agentd_cfg_next(const agentd_cfg_job_t *jobs, size_t n, bool update_busy);

/** Whether |tasks| holds an update under way: not final and not halted. */
bool agentd_cfg_update_busy(const agentd_task_t *tasks, size_t n);

/**
 * Orders two assignment ids (decimal, as ferryd issues them; others by text): <0, 0, >0.
 * A larger id is a newer assignment.
 */
int agentd_cfg_id_cmp(const char *a, const char *b);

/**
 * Checks |target| lexically: 1..255 bytes, relative ('/' separators), no empty, '.' or
 * '..' segment, no backslash or control character. FERRY_E_INVALID_ARG naming the path
 * and the reason otherwise.
 */
ferry_err_code_t agentd_cfg_path_check(const char *target, ferry_err_t *err);

/** "APPLIED", "FAILED", "ROLLED_BACK" or "-". */
const char *agentd_cfg_state_name(int state);

#endif
