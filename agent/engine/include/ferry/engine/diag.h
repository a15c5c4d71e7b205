/**
 * @file diag.h
 * The diagnostic file written when the service cannot be stopped (seed 000 §5.4 step 4):
 * a zip the agent uploads and the dashboard links to.
 *
 * Entries: summary.txt (error code and name, message, task version, start/failure
 * times, host, service kind/name), service-status.txt (the control kind's describe
 * output), processes.txt (`ps auxww`, or a /proc walk when ps is missing),
 * agent-log-tail.txt (the last FERRY_DIAG_LOG_TAIL bytes of the agent log),
 * effective-config.json (secrets masked). Every text passes through
 * ferry_log_mask_secrets(); the connection string's password never appears.
 */
#ifndef FERRY_ENGINE_DIAG_H
#define FERRY_ENGINE_DIAG_H

#include <stddef.h>
#include <time.h>

#include "ferry/engine/config.h"
#include "ferry/engine/svcctl.h"
#include "ferry/err.h"

/** Bytes of the agent log tail kept. */
#define FERRY_DIAG_LOG_TAIL (256 * 1024)
/** Cap on each command output kept (ps, status). */
#define FERRY_DIAG_OUTPUT_CAP (1024 * 1024)

/** What goes into the diagnostic file; every pointer may be NULL (entry then says so). */
typedef struct ferry_diag_input {
    const char *out_dir;               /**< where the zip is written (created if missing); required */
    const char *version;               /**< the task's package version */
    ferry_err_code_t code;             /**< the failure (E_SERVICE_STOP_TIMEOUT...) */
    const char *message;               /**< its message */
    time_t started;                    /**< task start (0 = unknown) */
    time_t failed;                     /**< failure time (0 = now) */
    ferry_svcctl_t *svc;               /**< for the status description */
    const char *agent_log;             /**< agent log path for the tail */
    const ferry_node_config_t *config; /**< for the masked effective config */
} ferry_diag_input_t;

/**
 * Writes `{out_dir}/diag-{version}-{yyyyMMddHHmmss}.zip` crash-safely (temporary
 * name, fsync, rename, fsync dir) and copies its path into |path| (size bytes).
 * Missing inputs become notes inside the zip, not errors; only failing to write the
 * zip itself is an error (FERRY_E_IO / FERRY_E_NOSPACE).
 */
ferry_err_code_t ferry_diag_write(const ferry_diag_input_t *in, char *path, size_t size, ferry_err_t *err);

#endif
