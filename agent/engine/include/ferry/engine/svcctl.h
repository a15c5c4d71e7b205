/**
 * @file svcctl.h
 * Service control behind a narrow platform interface, plus the health check and a
 * small process runner.
 *
 * A platform kind implements four primitives (ferry_svcctl_ops_t): ask the service to
 * stop, ask it to start, report its status, describe it for diagnostics. The policy
 * (deadlines, polling, idempotence, health check, error codes) lives once in
 * ferry_svcctl_stop()/ferry_svcctl_start(). Linux kinds: `systemd` (systemctl) and
 * `command` (the configured shell lines). A Windows port adds an SCM kind
 * (ControlService/StartService/QueryServiceStatusEx) implementing the same four.
 */
#ifndef FERRY_ENGINE_SVCCTL_H
#define FERRY_ENGINE_SVCCTL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/engine/config.h"
#include "ferry/err.h"

typedef enum ferry_svc_status {
    FERRY_SVC_UNKNOWN = 0, /**< could not tell (status command timed out, transitional state) */
    FERRY_SVC_RUNNING,
    FERRY_SVC_STOPPED
} ferry_svc_status_t;

/** "running", "stopped" or "unknown". */
const char *ferry_svc_status_name(ferry_svc_status_t st);

typedef struct ferry_svcctl ferry_svcctl_t;

/**
 * Platform primitives. Each gets an absolute deadline (CLOCK_MONOTONIC ms, see
 * ferry_now_ms()) it must not overrun.
 */
typedef struct ferry_svcctl_ops {
    const char *kind; /**< "systemd", "command", later "scm" */
    /** Asks the service to stop; returns once the request was made (it may still be stopping).
     * FERRY_E_TIMEOUT if the request itself overran the deadline; other codes = it failed. */
    ferry_err_code_t (*request_stop)(ferry_svcctl_t *s, int64_t deadline_ms, ferry_err_t *err);
    /** Asks the service to start; same conventions. */
    ferry_err_code_t (*request_start)(ferry_svcctl_t *s, int64_t deadline_ms, ferry_err_t *err);
    /** Current status; never fails (UNKNOWN instead). */
    ferry_svc_status_t (*status)(ferry_svcctl_t *s, int64_t deadline_ms);
    /** Appends a human description (status output) to a new string *out (free()). */
    ferry_err_code_t (*describe)(ferry_svcctl_t *s, int64_t deadline_ms, char **out, ferry_err_t *err);
    void (*free)(ferry_svcctl_t *s);
} ferry_svcctl_ops_t;

/** Common head of every kind. */
struct ferry_svcctl {
    const ferry_svcctl_ops_t *ops;
    char *name;                 /**< service name for messages */
    ferry_health_kind_t health; /**< checked by ferry_svcctl_start() */
    char *health_target;        /**< NULL for NONE */
    unsigned poll_ms;           /**< status poll interval, default 200 */
};

/** Builds the kind chosen by cfg->service (control, name, commands, health check). */
ferry_err_code_t ferry_svcctl_new(const ferry_node_config_t *cfg, ferry_svcctl_t **out, ferry_err_t *err);

/**
 * The command kind: |stop|, |start|, |status| are shell lines run with /bin/sh -c in
 * their own process group (killed as a group on timeout). Status exit 0 = running,
 * any other exit = stopped, timeout or signal = unknown.
 */
ferry_err_code_t ferry_svcctl_new_command(const char *name, const char *stop, const char *start,
                                          const char *status, ferry_svcctl_t **out, ferry_err_t *err);

/**
 * The systemd kind on unit |unit| (validated: letters, digits, ":_.@-\\"). |systemctl|
 * is the program to run (NULL = "systemctl" from PATH; tests pass a fake).
 * stop: `systemctl stop -- UNIT`; start: `systemctl start -- UNIT`; status:
 * `systemctl is-active -- UNIT` (active = running; inactive/failed = stopped; others
 * unknown); describe: `systemctl status --no-pager --full -n 50 -- UNIT`.
 */
ferry_err_code_t ferry_svcctl_new_systemd(const char *unit, const char *systemctl, ferry_svcctl_t **out,
                                          ferry_err_t *err);

/** Sets the health check used by ferry_svcctl_start() (target copied; NULL for NONE). */
ferry_err_code_t ferry_svcctl_set_health(ferry_svcctl_t *s, ferry_health_kind_t kind, const char *target,
                                         ferry_err_t *err);

/**
 * Stops the service within |timeout_s|. Already stopped -> FERRY_OK without running
 * anything (idempotent, for resume). Otherwise requests the stop and polls the status
 * until stopped. Errors: FERRY_E_SERVICE_STOP_FAILED (the request failed: non-zero
 * exit, with its output in the message), FERRY_E_SERVICE_STOP_TIMEOUT (still not
 * stopped at the deadline, or the request itself overran).
 */
ferry_err_code_t ferry_svcctl_stop(ferry_svcctl_t *s, unsigned timeout_s, ferry_err_t *err);

/**
 * Starts the service and verifies it within |timeout_s| (one deadline for all):
 * request start (skipped if already running), poll until running, then the health
 * check until it passes. Any failure is FERRY_E_SERVICE_START_FAILED with the reason.
 */
ferry_err_code_t ferry_svcctl_start(ferry_svcctl_t *s, unsigned timeout_s, ferry_err_t *err);

/** Current status (status command bounded by 10 s). */
ferry_svc_status_t ferry_svcctl_status(ferry_svcctl_t *s);

/** Diagnostic description (status output), new string in *out (free()). */
ferry_err_code_t ferry_svcctl_describe(ferry_svcctl_t *s, char **out, ferry_err_t *err);

/** Frees |s|. NULL is a no-op. */
void ferry_svcctl_free(ferry_svcctl_t *s);

/**
 * One health probe, bounded by |deadline_ms|: TCP connect to "host:port" ("[v6]:port"
 * accepted), or HTTP/1.1 GET of "http://host[:port]/path" expecting a 2xx status.
 * NONE always passes. FERRY_E_UNAVAILABLE with the reason when it does not pass
 * (connection refused, status 503...), FERRY_E_INVALID_ARG for a malformed target.
 */
ferry_err_code_t ferry_health_probe(ferry_health_kind_t kind, const char *target, int64_t deadline_ms,
                                    ferry_err_t *err);

/** Checks a health target's syntax for |kind| (used by config validation). */
ferry_err_code_t ferry_health_target_check(ferry_health_kind_t kind, const char *target, ferry_err_t *err);

/** CLOCK_MONOTONIC in milliseconds. */
int64_t ferry_now_ms(void);

/** Result of ferry_proc_run(). */
typedef struct ferry_proc_result {
    int exited;    /**< 1 if it exited normally */
    int exit_code; /**< valid when exited */
    int signaled;  /**< signal number that ended it, 0 if none */
    int timed_out; /**< 1 if the deadline passed and the group was killed */
    char *output;  /**< stdout+stderr, NUL-terminated, at most the cap (+ a "[truncated]" note); free() */
    size_t output_len;
} ferry_proc_result_t;

/**
 * Runs |argv| (argv[0] looked up in PATH) with stdin from /dev/null and stdout+stderr
 * captured (at most |out_cap| bytes kept, the rest drained and dropped), in a new
 * process group. If it has not exited by |deadline_ms|, the whole group gets SIGTERM,
 * then SIGKILL 1 s later. Returns after the process exited; children it left running
 * in the background are not waited for (their output is no longer read). FERRY_OK
 * whenever the process could be run (inspect |res|); FERRY_E_IO if fork/pipe failed.
 * Free res->output with ferry_proc_result_clear().
 */
ferry_err_code_t ferry_proc_run(char *const argv[], int64_t deadline_ms, size_t out_cap,
                                ferry_proc_result_t *res, ferry_err_t *err);

/** ferry_proc_run() of {"/bin/sh", "-c", line}. */
ferry_err_code_t ferry_proc_run_shell(const char *line, int64_t deadline_ms, size_t out_cap,
                                      ferry_proc_result_t *res, ferry_err_t *err);

/** Frees res->output and zeroes |res|. */
void ferry_proc_result_clear(ferry_proc_result_t *res);

#endif
