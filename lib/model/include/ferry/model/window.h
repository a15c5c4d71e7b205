/**
 * @file window.h
 * Rollout rules shared by the server and the CLI, pure (no I/O): a release's daily
 * maintenance window ("01:00-05:00", evaluated in a node's time zone, may cross
 * midnight), node time zones as fixed UTC offsets ("+08:00", "UTC"), and the wave plan
 * of a rollout (cumulative sizes "5", "25%" cut over an ordered scope).
 *
 * Decisions:
 * - A window is [start, end) in minutes after local midnight; start == end is refused
 *   (an always-open window is no window). start > end crosses midnight: 22:00-02:00 is
 *   open from 22:00 to 01:59.
 * - A time zone is a fixed offset: "UTC", "Z", "+HH:MM", "-HH:MM", "+HH" (|offset| at
 *   most 14:00). Fixed offsets, not IANA names: the server then needs no time zone
 *   database and a node's window never moves under a daylight-saving rule the operator
 *   did not see. "" means the server's own zone (its offset at that instant).
 * - Waves: each spec is a count ("5", 1..1000000) or a percent ("25%", 1..100) of the
 *   scope, cumulative; counts must strictly increase among counts, percents among
 *   percents; at most FERRY_WAVES_MAX. Resolved against a scope of N nodes (canaries
 *   first), a wave that adds no node is dropped, and a last wave takes the rest.
 */
#ifndef FERRY_MODEL_WINDOW_H
#define FERRY_MODEL_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Waves a rollout may have (requested specs, canary wave included). */
#define FERRY_WAVES_MAX 20

/** Parses "HH:MM-HH:MM" into minutes after midnight; the message names |what| and the culprit. */
ferry_err_code_t ferry_window_parse(const char *s, const char *what, int *start_min, int *end_min,
                                    ferry_err_t *err);

/** "HH:MM-HH:MM" of a parsed window into |buf| ("" for start < 0: no window). */
void ferry_window_format(int start_min, int end_min, char *buf, size_t size);

/** True when local minute |local_min| (0..1439) is inside [start, end) (crossing midnight if start > end). */
bool ferry_window_open_at(int start_min, int end_min, int local_min);

/** Parses a time zone ("UTC", "+08:00", "-05:30", "+8"); "" is the server's zone (*is_server = true). */
ferry_err_code_t ferry_tz_parse(const char *s, int *offset_min, bool *is_server, ferry_err_t *err);

/** Offset from UTC in minutes of |tz| at |now_ms|: the parsed offset, or the server's for "" or bad text. */
int ferry_tz_offset(const char *tz, int64_t now_ms);

/**
 * Why a task in |tz| must wait at |now_ms| for window [start, end) ("outside maintenance
 * window 01:00-05:00 (node time +08:00 14:03); opens in 10h57m"), or "" when it may run
 * (also with no window: start < 0).
 */
void ferry_window_hold_reason(int start_min, int end_min, const char *tz, int64_t now_ms, char *buf,
                              size_t size);

/** One requested wave size. */
typedef struct ferry_wave_spec {
    bool percent; /**< value is a percent of the scope, else a node count */
    uint32_t value;
} ferry_wave_spec_t;

/** Parses one wave spec ("5", "25%"); |index| (1-based) names it in the message. */
ferry_err_code_t ferry_wave_spec_parse(const char *s, size_t index, ferry_wave_spec_t *out, ferry_err_t *err);

/** Checks a whole list (parse, increasing, count); nothing else changes. */
ferry_err_code_t ferry_wave_specs_check(const char *const *specs, size_t n, ferry_wave_spec_t *out,
                                        ferry_err_t *err);

/**
 * Cuts a scope of |n_nodes| ordered nodes (the |n_canary| canaries first) into waves:
 * |ends| receives each wave's cumulative end (exclusive, strictly increasing, the last
 * == n_nodes) and |from| the index of the spec it came from (-1: the canary wave, or
 * the implied last wave). |ends| and |from| hold FERRY_WAVES_MAX + 2 entries.
 */
size_t ferry_waves_resolve(const ferry_wave_spec_t *specs, size_t n_specs, size_t n_canary, size_t n_nodes,
                           size_t *ends, int *from);

/**
 * Parses an error threshold: "10" or "10%" (percent 0..100), "count:3" (tasks, 0..1000000);
 * "" = "0%". *is_count tells which.
 */
ferry_err_code_t ferry_error_threshold_parse(const char *s, uint32_t *value, bool *is_count,
                                             ferry_err_t *err);

/** True when |failed| of |total| tasks exceeds the threshold. */
bool ferry_error_threshold_exceeded(uint32_t value, bool is_count, uint64_t failed, uint64_t total);

/** True when |succeeded| of |total| reaches |percent| (1..100). */
bool ferry_success_threshold_reached(uint32_t percent, uint64_t succeeded, uint64_t total);

#ifdef __cplusplus
}
#endif

#endif
