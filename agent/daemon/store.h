/**
 * @file store.h
 * The daemon's durable state: `agent.db` (SQLite, WAL, synchronous=FULL) in the state
 * dir. Owns all of the daemon's SQL.
 *
 * - task: the tasks the server assigned, with the daemon's phase and prompt answers;
 * - outbox: progress reports not yet acknowledged, in sequence order. A report is
 *   committed here (with its per-task sequence, strictly increasing across restarts)
 *   BEFORE it is sent, and deleted only when the server acknowledged it, so reports
 *   survive offline periods, kill -9 and reboots and reach the server exactly once in
 *   order (the server treats a repeated sequence as a duplicate);
 * - upload: files to upload (diagnostic zip, sql.log, log excerpt, node-config.json);
 * - config: configuration assignments (cfgplan.h) with their rendered content until they
 *   are done, then their result (kept to answer a re-offer with the same state);
 * - kv: small facts (installed version = the trusted version for anti-rollback, the
 *   last uploaded node-config digest).
 *
 * Thread-safe: one connection behind a mutex (calls are short).
 */
#ifndef FERRY_AGENTD_STORE_H
#define FERRY_AGENTD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfgplan.h"
#include "core.h"
#include "ferry/err.h"

typedef struct agentd_store agentd_store_t;

/** Opens (creating) `{state_dir}/agent.db`, mode 0600. */
ferry_err_code_t agentd_store_open(const char *state_dir, agentd_store_t **out, ferry_err_t *err);
void agentd_store_close(agentd_store_t *s); /**< NULL ok */

/**
 * Inserts or refreshes a task from the server's view |t| (last_state = the server's state,
 * attempt = the server's attempt) by agentd_core_merge's rules: the local phase, prompt and
 * last_state stay unless a finished task starts a new attempt (*revived = 1 then). *is_new
 * and *revived may be NULL.
 */
ferry_err_code_t agentd_store_merge_task(agentd_store_t *s, const agentd_task_t *t, int *is_new, int *revived,
                                         ferry_err_t *err);
/** Writes every field of |t| (phase, prompt...). */
ferry_err_code_t agentd_store_save_task(agentd_store_t *s, const agentd_task_t *t, ferry_err_t *err);
/** Loads one task; *found = 0 if unknown. */
ferry_err_code_t agentd_store_get_task(agentd_store_t *s, const char *id, agentd_task_t *out, int *found,
                                       ferry_err_t *err);
/**
 * Loads up to |cap| tasks that are not DONE (and, with |include_done|, the newest done
 * ones too), oldest first. *n gets the count.
 */
ferry_err_code_t agentd_store_list_tasks(agentd_store_t *s, agentd_task_t *out, size_t cap, size_t *n,
                                         int include_done, ferry_err_t *err);
/** Sets halted on a task (no-op if unknown). */
ferry_err_code_t agentd_store_halt(agentd_store_t *s, const char *id, int halted, ferry_err_t *err);

/**
 * Appends a report for |task_id|: assigns the next sequence (returned in *seq) and stores
 * |body| (a packed ProgressReport whose sequence the caller fills through |fill|) in one
 * synced transaction.
 */
ferry_err_code_t agentd_store_outbox_add(agentd_store_t *s, const char *task_id,
                                         int (*fill)(void *user, uint64_t seq, uint8_t **body, size_t *len),
                                         void *user, uint64_t *seq, ferry_err_t *err);
/** What an outbox row holds. */
enum { AGENTD_OUTBOX_PROGRESS = 0, AGENTD_OUTBOX_CONFIG = 1 };

/**
 * The oldest unsent row: *found = 0 when the outbox is empty. *kind: AGENTD_OUTBOX_PROGRESS
 * (a packed ProgressReport) or AGENTD_OUTBOX_CONFIG (a packed ReportConfigResultRequest).
 * *body is malloc'ed.
 */
ferry_err_code_t agentd_store_outbox_peek(agentd_store_t *s, int64_t *row, int *kind, uint8_t **body,
                                          size_t *len, int *found, ferry_err_t *err);
/** Removes an acknowledged report. */
ferry_err_code_t agentd_store_outbox_ack(agentd_store_t *s, int64_t row, ferry_err_t *err);
/** Reports waiting in the outbox. */
unsigned agentd_store_outbox_count(agentd_store_t *s);

/** One queued upload. */
typedef struct agentd_upload {
    int64_t row;
    int kind; /**< common.proto FileKind */
    char task_id[AGENTD_ID_MAX];
    char path[AGENTD_PATH_MAX]; /**< file to send (a copy owned by the queue when |owned|) */
    char name[128];
    char content_type[64];
    char summary[512];
    int owned;    /**< delete |path| after the upload */
    int attempts; /**< failed tries so far */
} agentd_upload_t;

ferry_err_code_t agentd_store_upload_add(agentd_store_t *s, const agentd_upload_t *u, ferry_err_t *err);
ferry_err_code_t agentd_store_upload_peek(agentd_store_t *s, agentd_upload_t *out, int *found,
                                          ferry_err_t *err);
ferry_err_code_t agentd_store_upload_done(agentd_store_t *s, int64_t row, ferry_err_t *err);
ferry_err_code_t agentd_store_upload_failed(agentd_store_t *s, int64_t row, ferry_err_t *err);

/* ---- configuration assignments ---- */

/** Stores a new QUEUED job with its content; *added = 0 when the id was known already. */
ferry_err_code_t agentd_store_cfg_add(agentd_store_t *s, const agentd_cfg_job_t *j, const char *rendered,
                                      size_t len, int *added, ferry_err_t *err);
/**
 * Loads job |id| (report_queued filled from the outbox); *found = 0 if unknown.
 * |newest| (may be NULL, AGENTD_ID_MAX bytes) gets the newest id kept for the same
 * template as |template_name| ("" = none).
 */
ferry_err_code_t agentd_store_cfg_get(agentd_store_t *s, const char *id, const char *template_name,
                                      agentd_cfg_job_t *out, int *found, char *newest, ferry_err_t *err);
/** Up to |cap| jobs that are not DONE, interrupted ones (APPLYING, RESTORING) first. */
ferry_err_code_t agentd_store_cfg_open(agentd_store_t *s, agentd_cfg_job_t *out, size_t cap, size_t *n,
                                       ferry_err_t *err);
/** The job's rendered content (*out malloc'ed, NUL-terminated). */
ferry_err_code_t agentd_store_cfg_rendered(agentd_store_t *s, const char *id, char **out, size_t *len,
                                           ferry_err_t *err);
/** Moves a job to APPLYING or RESTORING, with had_prev and (RESTORING) the reason. Synced. */
ferry_err_code_t agentd_store_cfg_phase(agentd_store_t *s, const char *id, agentd_cfg_phase_t phase,
                                        bool had_prev, const char *error, ferry_err_t *err);
/**
 * Finishes a job in one synced transaction: DONE with |state|, |error| and |done_ms|,
 * its content dropped, and (|body| not NULL) the packed ReportConfigResultRequest
 * appended to the outbox. Older finished jobs beyond the kept number are pruned.
 */
ferry_err_code_t agentd_store_cfg_finish(agentd_store_t *s, const char *id, int state, const char *error,
                                         int64_t done_ms, const uint8_t *body, size_t len, ferry_err_t *err);
/** Appends a result again unless one for |id| still waits in the outbox (*queued = 1 if appended). */
ferry_err_code_t agentd_store_cfg_requeue(agentd_store_t *s, const char *id, const uint8_t *body, size_t len,
                                          int *queued, ferry_err_t *err);
/** The job finished last with a result (state != 0); *found = 0 if none. */
ferry_err_code_t agentd_store_cfg_last(agentd_store_t *s, agentd_cfg_job_t *out, int *found,
                                       ferry_err_t *err);

/** Small durable facts; *out "" when unset. */
ferry_err_code_t agentd_store_kv_get(agentd_store_t *s, const char *key, char *out, size_t size,
                                     ferry_err_t *err);
ferry_err_code_t agentd_store_kv_set(agentd_store_t *s, const char *key, const char *value, ferry_err_t *err);

#endif
