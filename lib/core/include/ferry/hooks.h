/**
 * @file hooks.h
 * Hooks shared by the package format (ferry/model) and every part of the update engine:
 * progress reporting and crash points.
 */
#ifndef FERRY_HOOKS_H
#define FERRY_HOOKS_H

#include <stdint.h>

/**
 * Progress of a long operation: |done| of |total| units (bytes, or files when bytes are
 * unknown; total 0 = unknown), |what| names the current item (a relative path, a
 * batch number). Called from the thread doing the work, at most every few ms or per
 * item; must be cheap. May be NULL wherever one is accepted.
 */
typedef void (*ferry_progress_fn)(void *user, uint64_t done, uint64_t total, const char *what);

/** A progress callback and its argument, passed by value. */
typedef struct ferry_progress {
    ferry_progress_fn fn;
    void *user;
} ferry_progress_t;

/** Calls p.fn if set. */
static inline void ferry_progress_report(ferry_progress_t p, uint64_t done, uint64_t total, const char *what)
{
    if (p.fn != NULL)
        p.fn(p.user, done, total, what);
}

/**
 * Crash-test hook. When the environment variable FERRY_CRASH_AT equals |name| (and,
 * if FERRY_CRASH_AFTER=N is set, on the N-th hit of that name, counting from 1), the
 * process kills itself with SIGKILL: no cleanup, exactly like a power cut. Costs one
 * getenv per call otherwise. Names are dotted: "state.60", "backup.server.file",
 * "install.server.rename", "sql.batch".
 */
void ferry_crashpoint(const char *name);

/**
 * Test hook for work that must not hold anything else up: when FERRY_PAUSE_AT equals
 * |name|, the calling thread sleeps FERRY_PAUSE_MS milliseconds (default 1000, at most
 * 60000), as a slow disk would make it, after writing "ferry: pause at NAME for N ms" to
 * stderr. Costs one getenv per call otherwise.
 */
void ferry_pausepoint(const char *name);

#endif
