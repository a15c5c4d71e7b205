/*
 * Rollouts in waves and maintenance windows (waves.c, issue 13): the part of
 * CreateRelease that plans the waves, the wave evaluation run when a task of a waved
 * release finishes (and on resume), PromoteRelease, and the maintenance-window sweep.
 */
#ifndef FERRY_HUB_WAVES_H
#define FERRY_HUB_WAVES_H

#include "ferry/model/window.h"
#include "ferry/store/releases.h"
#include "hub_pkg.h"

/** A CreateRelease request's rollout settings, checked (hub_rollout_check). */
typedef struct hub_rollout_req {
    ferry_wave_spec_t specs[FERRY_WAVES_MAX];
    size_t n_specs;
    bool waved;                 /**< waves or canaries requested */
    uint32_t success_threshold; /**< 1..100 */
    uint32_t error_threshold;
    bool error_is_count;
    bool approve_waves;
    int window_start, window_end; /**< -1: no window */
} hub_rollout_req_t;

/** Checks the rollout fields of |req| (waves, thresholds, window, canary list) before anything is written. */
ferry_err_code_t hub_rollout_check(const Ferry__V1__CreateReleaseRequest *req, hub_rollout_req_t *out,
                                   ferry_err_t *err);

/**
 * Inside CreateRelease's transaction: orders the selected nodes (canaries first, in the
 * order named, then by store code and node code), cuts them into waves and writes the
 * rollout (release columns, release_wave, release_node). wave_of[i] receives the wave of
 * scope node i (0: not selected, or the release has no waves). A canary that is not a
 * selected node of the scope is FERRY_E_INVALID_ARG naming it.
 */
ferry_err_code_t hub_rollout_create(ferry_hub_t *hub, int64_t release_id, const hub_rollout_req_t *ro,
                                    const Ferry__V1__CreateReleaseRequest *req,
                                    const ferry_store_scope_t *scope, const bool *sel, int *wave_of,
                                    ferry_err_t *err);

/**
 * Evaluates release |release_id|'s current wave (its own transaction; takes the store
 * lock): pauses it past the error threshold, starts the next wave (or marks it awaiting
 * promotion) at the success threshold. A release without waves costs one primary-key
 * read. Called after a task of the release reached a final state, and after a resume.
 */
void hub_waves_evaluate(ferry_hub_t *hub, int64_t release_id);

/** Tells release |release_id|'s watchers that the release itself changed (WatchRelease `release`). */
void hub_waves_release_changed(ferry_hub_t *hub, int64_t release_id);

/** Offers the tasks whose maintenance window opened since the last sweep (the fleet sweep thread). */
void hub_waves_sweep(ferry_hub_t *hub);

/** Binds PromoteRelease. */
void hub_waves_bind(ferry_hub_t *hub);

#endif
