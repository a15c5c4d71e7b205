/**
 * @file waves.h
 * Repository of rollouts: a release's waves (release_wave), its scope in rollout order
 * with each node's wave (release_node), the rollout settings and progress on the
 * release row (thresholds, current wave, approval, window, paused reason), and the
 * reads the wave evaluation and the maintenance-window sweep need (lib/hub/waves.c).
 *
 * Every function runs on the read-write connection with the store lock held.
 */
#ifndef FERRY_STORE_WAVES_H
#define FERRY_STORE_WAVES_H

#include "ferry/store.h"

/** A release's rollout settings and where it stands. */
typedef struct ferry_store_rollout {
    int status;                   /**< stored ReleaseState (1 active, 2 paused, 3 canceled) */
    int wave_count;               /**< 0: no waves */
    int current_wave;             /**< 1-based; 0 without waves */
    int success_threshold;        /**< percent 1..100 */
    uint32_t error_threshold;     /**< percent or task count */
    bool error_is_count;          /**< error_threshold counts tasks */
    bool approve_waves;           /**< next waves wait for PromoteRelease */
    bool awaiting_promotion;      /**< the current wave reached its threshold; waiting */
    int window_start, window_end; /**< minutes after local midnight; -1: no window */
} ferry_store_rollout_t;

/** Stores |r|'s settings (wave_count, current_wave, thresholds, approval, window) on release |id|. */
ferry_err_code_t ferry_store_rollout_set(ferry_store_t *s, int64_t id, const ferry_store_rollout_t *r,
                                         ferry_err_t *err);

/** Reads release |id|'s rollout. FERRY_E_NOT_FOUND "no release <id>". */
ferry_err_code_t ferry_store_rollout_get(ferry_store_t *s, int64_t id, ferry_store_rollout_t *out,
                                         ferry_err_t *err);

/** Adds wave |number| (1-based) of |node_count| nodes, |spec| as requested ("5", "25%", "canary", "rest"). */
ferry_err_code_t ferry_store_wave_add(ferry_store_t *s, int64_t id, int number, const char *spec,
                                      int64_t node_count, ferry_err_t *err);

/** Adds node |node_id| at rollout position |ord| in wave |wave|. */
ferry_err_code_t ferry_store_wave_node_add(ferry_store_t *s, int64_t id, int64_t ord, int64_t node_id,
                                           int wave, bool canary, ferry_err_t *err);

/** The node ids of wave |wave| in rollout order, leaving out nodes disabled since (malloc'd; free it). */
ferry_err_code_t ferry_store_wave_nodes(ferry_store_t *s, int64_t id, int wave, int64_t **ids, size_t *n,
                                        ferry_err_t *err);

/** Wave |wave| starts now: its started_at, the release's current wave; approval resets.
 */
ferry_err_code_t ferry_store_wave_started(ferry_store_t *s, int64_t id, int wave, int64_t now,
                                          ferry_err_t *err);

/** Update tasks of wave |wave|: all, at 100 Succeeded, failed (110 Failed, 130 Rollbacked). */
ferry_err_code_t ferry_store_wave_counts(ferry_store_t *s, int64_t id, int wave, uint64_t *total,
                                         uint64_t *succeeded, uint64_t *failed, ferry_err_t *err);

/** One started wave's tally, for the error threshold. */
typedef struct ferry_store_wave_tally {
    int wave;           /**< 1-based */
    uint64_t total;     /**< update tasks of the wave */
    uint64_t succeeded; /**< at 100 Succeeded */
    uint64_t failed;    /**< at 110 Failed or 130 Rollbacked */
    uint64_t acked;     /**< failures an admin resumed past (ferry_store_waves_ack) */
} ferry_store_wave_tally_t;

/**
 * Waves 1..|upto| of release |id| in order (at most |max|): a wave's late failures count
 * against the error threshold even after the next wave started.
 */
ferry_err_code_t ferry_store_wave_tallies(ferry_store_t *s, int64_t id, int upto,
                                          ferry_store_wave_tally_t *out, size_t max, size_t *n,
                                          ferry_err_t *err);

/** A resume acknowledges every failure so far, wave by wave (the threshold then waits for a new one). */
ferry_err_code_t ferry_store_waves_ack(ferry_store_t *s, int64_t id, ferry_err_t *err);

/** Sets (or clears) the release's awaiting_promotion. */
ferry_err_code_t ferry_store_rollout_awaiting(ferry_store_t *s, int64_t id, bool awaiting, int64_t now,
                                              ferry_err_t *err);

/** Sets the release's paused reason ("" clears). */
ferry_err_code_t ferry_store_rollout_paused_reason(ferry_store_t *s, int64_t id, const char *reason,
                                                   ferry_err_t *err);

/** Whether a release has waves (for the cheap check on every finished task). */
ferry_err_code_t ferry_store_release_wave_count(ferry_store_t *s, int64_t id, int *wave_count,
                                                ferry_err_t *err);

/** An ACTIVE release with a maintenance window. */
typedef struct ferry_store_windowed {
    int64_t id;
    int window_start, window_end;
} ferry_store_windowed_t;

/** Every ACTIVE release with a window (malloc'd; free it). */
ferry_err_code_t ferry_store_windowed_releases(ferry_store_t *s, ferry_store_windowed_t **out, size_t *n,
                                               ferry_err_t *err);

/** A task of a windowed release waiting in 10 Pending (not halted), with its node's zone. */
typedef struct ferry_store_waiting_task {
    int64_t task_id, node_id;
    char time_zone[16];
} ferry_store_waiting_task_t;

/** The Pending, not halted tasks of release |id| (malloc'd; free it). */
ferry_err_code_t ferry_store_waiting_tasks(ferry_store_t *s, int64_t id, ferry_store_waiting_task_t **out,
                                           size_t *n, ferry_err_t *err);

#endif
