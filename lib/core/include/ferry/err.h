/**
 * @file err.h
 * One error-code enum for all of Ferry, and an error object (code + message) that
 * callers fill and prefix with their context ("backup db 'main': ...").
 *
 * Codes named E_* in seed 000 §8.3 keep exactly those names (ferry_err_name()
 * returns "E_PACKAGE_INVALID" for FERRY_E_PACKAGE_INVALID); they travel to the
 * server, CLI and dashboards as strings. The generic codes are mapped to RPC status
 * codes only at the RPC boundary (ferry_rpc_code_from_err()).
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ferry_err_code {
    FERRY_OK = 0,

    /* Generic codes. */
    FERRY_E_INVALID_ARG,     /**< caller passed bad input (usage, malformed data) */
    FERRY_E_NOMEM,           /**< allocation failed */
    FERRY_E_IO,              /**< an OS call failed; message carries strerror */
    FERRY_E_NOSPACE,         /**< disk full or quota exceeded */
    FERRY_E_NOT_FOUND,       /**< the named thing does not exist */
    FERRY_E_EXISTS,          /**< the named thing already exists */
    FERRY_E_PERMISSION,      /**< authenticated but not allowed */
    FERRY_E_UNAUTHENTICATED, /**< no or bad credentials (generic; see FERRY_E_AUTH_INVALID) */
    FERRY_E_TIMEOUT,         /**< a deadline passed */
    FERRY_E_CANCELED,        /**< the operation was canceled */
    FERRY_E_UNAVAILABLE,     /**< transient: try again later */
    FERRY_E_PRECONDITION,    /**< the system is not in a state that allows this */
    FERRY_E_TOO_LARGE,       /**< a size cap was exceeded */
    FERRY_E_CORRUPT,         /**< data failed an integrity check */
    FERRY_E_UNSUPPORTED,     /**< not implemented / not supported */
    FERRY_E_INTERNAL,        /**< a bug: an invariant broke */
    FERRY_E_PROTOCOL,        /**< the peer violated the wire protocol */

    /* Seed 000 §8.3, names are part of the contract. */
    FERRY_E_AUTH_INVALID = 100,
    FERRY_E_VERSION_DUPLICATE,
    FERRY_E_PACKAGE_INVALID,
    FERRY_E_DOWNLOAD_FAILED,
    FERRY_E_HASH_MISMATCH,
    FERRY_E_SERVICE_STOP_TIMEOUT,
    FERRY_E_SERVICE_STOP_FAILED,
    FERRY_E_BACKUP_FAILED_SERVER,
    FERRY_E_BACKUP_FAILED_CLIENT,
    FERRY_E_BACKUP_FAILED_DB,
    FERRY_E_INSTALL_FAILED_SERVER,
    FERRY_E_INSTALL_FAILED_CLIENT,
    FERRY_E_SQL_FAILED_SCHEMA,
    FERRY_E_SQL_FAILED_DATA,
    FERRY_E_SERVICE_START_FAILED,
    FERRY_E_ROLLBACK_FAILED,
    FERRY_E_BACKUP_MISSING,
    /* Ferry additions in the same spirit (not in the seed's minimal set). */
    FERRY_E_SIGNATURE_INVALID,  /**< package manifest signature does not verify */
    FERRY_E_VERSION_INVALID,    /**< version string is not `a.b.c.d(build)` */
    FERRY_E_TRANSITION_INVALID, /**< a task state change the state machine forbids */
    FERRY_E_MANIFEST_EXPIRED,   /**< signed manifest past its expires_at (TUF anti-freeze) */
    FERRY_E_DOWNGRADE_REFUSED,  /**< package older than the installed version, not a rollback task */
    FERRY_E_PRECHECK_FAILED,    /**< a pre_check hook (seed 002) failed: nothing was changed */
    FERRY_E_HOOK_FAILED         /**< an upgrade hook (hooks.json) failed or was interrupted */
} ferry_err_code_t;

/** Longest message kept; longer messages are truncated with "...". */
#define FERRY_ERR_MSG_MAX 512

/** An error: a code and a human message naming the culprit. Zero-initialise it. */
typedef struct ferry_err {
    ferry_err_code_t code;
    char msg[FERRY_ERR_MSG_MAX];
} ferry_err_t;

/**
 * Sets |err| (if not NULL) to |code| and the formatted message, replacing what was
 * there. Returns |code| so callers can write `return ferry_err_set(err, ...)`.
 */
ferry_err_code_t ferry_err_set(ferry_err_t *err, ferry_err_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Like ferry_err_set() with the text of errno |errnum| appended (": No space left"). */
ferry_err_code_t ferry_err_set_errno(ferry_err_t *err, ferry_err_code_t code, int errnum, const char *fmt,
                                     ...) __attribute__((format(printf, 4, 5)));

#if defined(__clang_analyzer__) && !defined(FERRY_ERR_IMPL)
/* The static analyzer (scripts/check-tidy.sh) sees one file at a time and so cannot know
 * that ferry_err_set() returns its |code|: on `return ferry_err_set(...)` it would assume
 * FERRY_OK and report paths where a failed call "succeeds". For the analysis only, the
 * value is spelled out; the program calls the functions as declared. */
#define ferry_err_set(err, code, ...) (ferry_err_set((err), (code), __VA_ARGS__), (code))
#define ferry_err_set_errno(err, code, errnum, ...)                                                          \
    (ferry_err_set_errno((err), (code), (errnum), __VA_ARGS__), (code))
#endif

/** Maps an errno to a generic code (ENOSPC -> FERRY_E_NOSPACE, ENOENT -> NOT_FOUND, ...). */
ferry_err_code_t ferry_err_from_errno(int errnum);

/**
 * Prepends the formatted context and ": " to |err|'s message; the code is unchanged.
 * No-op if |err| is NULL. Returns err->code (or FERRY_E_INTERNAL when err is NULL).
 */
ferry_err_code_t ferry_err_prefix(ferry_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Replaces the code of |err| keeping the message (e.g. IO -> E_BACKUP_FAILED_DB). */
ferry_err_code_t ferry_err_recode(ferry_err_t *err, ferry_err_code_t code);

/** Clears |err| to FERRY_OK and an empty message. */
void ferry_err_clear(ferry_err_t *err);

/**
 * The stable name of |code|: "E_PACKAGE_INVALID" for seed codes, "E_IO", "E_NOSPACE"...
 * for generic ones, "OK" for FERRY_OK. Never NULL.
 */
const char *ferry_err_name(ferry_err_code_t code);

/** Parses a name produced by ferry_err_name(). Returns FERRY_OK if unknown or NULL. */
ferry_err_code_t ferry_err_from_name(const char *name);

#ifdef __cplusplus
}
#endif
#endif
