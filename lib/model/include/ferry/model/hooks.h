/**
 * @file hooks.h
 * The upgrade hooks a package may carry (seed 002): `hooks.json` at the top level of the
 * package, beside server.zip, declares hooks for five phases:
 *
 *   pre_check            前置业务检查  checks only, after verification, service running
 *   pre_upgrade          前置升级处理  service running, before it is stopped (state 50)
 *   startup_pre_process  启动前处理    service stopped, after install and the package SQL
 *   startup_post_process 启动后处理    after start and health check
 *   post_upgrade         升级后处理    after 100 Succeeded, in the background
 *
 * A hook is one of three kinds:
 *   check - `sql` returns one count; count <= `threshold` passes, above it is
 *           `severity` ("fail", the default, or "warn"); `suggestion` goes to the report;
 *   sql   - `file` (a script in the package) run with the node's executor, GO batches;
 *   exec  - `run` (a program in the package) with `args`, a clean environment plus
 *           FERRY_* variables, a timeout and captured output.
 * Common fields: `id` (unique across the file, [A-Za-z0-9_.-], <= 64), `name`,
 * `description`, `is_common` (default true; false needs `site_ids`, matched against the
 * node's customer, store and node codes), `versions` {min, max} (either may be absent;
 * the hook applies when the installed OR the target version lies in [min, max], seed 002
 * §1), `timeout_seconds` (1..86400, default 600), `retries` (0..10, extra attempts after
 * a failure, default 0), `on_failure` ("rollback", the default, or "continue"; used by
 * startup_post_process), `idempotent` (default false: an interrupted run is not redone)
 * and, for exec hooks, `rollback` (a program in the package run when the hook fails in
 * pre_upgrade). pre_check holds check hooks only: it must not change anything.
 *
 * Validation (ferry_hooks_parse(), and ferry_pkg_manifest() for a package holding
 * hooks.json) refuses, with FERRY_E_PACKAGE_INVALID and a message naming the field
 * ("hooks.json: pre_upgrade[0].run: 'x.sh' is not in the package"): malformed JSON,
 * unknown keys at any level, wrong types, missing required fields, fields that do not
 * belong to the hook's kind, duplicate ids, versions that do not parse or min > max,
 * paths that are absolute, hold "..", a backslash or a control byte, or are not a file of
 * the package, and sizes over the caps below.
 */
#ifndef FERRY_MODEL_HOOKS_H
#define FERRY_MODEL_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Top-level name of the hooks manifest inside a package. */
#define FERRY_PKG_HOOKS_JSON "hooks.json"

#define FERRY_HOOKS_JSON_MAX   (1u << 20) /**< bytes of hooks.json */
#define FERRY_HOOKS_MAX        64         /**< hooks per phase */
#define FERRY_HOOK_ID_MAX      64         /**< bytes of an id */
#define FERRY_HOOK_ARGS_MAX    64         /**< args of an exec hook */
#define FERRY_HOOK_SITES_MAX   256        /**< site_ids of a hook */
#define FERRY_HOOK_TIMEOUT_MAX 86400      /**< seconds */
#define FERRY_HOOK_RETRIES_MAX 10

typedef enum ferry_hook_phase {
    FERRY_HOOK_PRE_CHECK,
    FERRY_HOOK_PRE_UPGRADE,
    FERRY_HOOK_STARTUP_PRE,
    FERRY_HOOK_STARTUP_POST,
    FERRY_HOOK_POST_UPGRADE,
    FERRY_HOOK_PHASES
} ferry_hook_phase_t;

typedef enum ferry_hook_kind { FERRY_HOOK_CHECK, FERRY_HOOK_SQL, FERRY_HOOK_EXEC } ferry_hook_kind_t;

typedef struct ferry_hook {
    char id[FERRY_HOOK_ID_MAX + 1];
    ferry_hook_phase_t phase;
    ferry_hook_kind_t kind;
    char *name;        /**< may be NULL */
    char *description; /**< may be NULL */
    /* check */
    char *sql; /**< the count query */
    int64_t threshold;
    bool warn_only; /**< severity "warn" */
    char *suggestion;
    /* sql */
    char *file; /**< package path of the script */
    /* exec */
    char *run; /**< package path of the program */
    char **args;
    size_t n_args;
    char *rollback; /**< package path, may be NULL */
    /* common */
    unsigned timeout_s;
    unsigned retries;
    bool on_failure_continue;
    bool idempotent;
    bool is_common;
    char **site_ids;
    size_t n_site_ids;
    bool has_min, has_max;
    ferry_version_t vmin, vmax;
} ferry_hook_t;

/** A parsed hooks.json. */
typedef struct ferry_hooks {
    char *description;
    ferry_hook_t *hooks[FERRY_HOOK_PHASES];
    size_t n[FERRY_HOOK_PHASES];
} ferry_hooks_t;

/** Where the hooks run: to decide which ones apply. */
typedef struct ferry_hook_target {
    const char *const *sites; /**< the node's site codes (customer, store, node, --site) */
    size_t n_sites;
    const ferry_version_t *from; /**< installed version; NULL = unknown */
    const ferry_version_t *to;   /**< target version; NULL = unknown */
} ferry_hook_target_t;

/** Lookup of package entries for path validation; returns true if |path| is a file. */
typedef bool (*ferry_hooks_has_file_fn)(void *user, const char *path);

/**
 * Parses and validates |json| (|len| bytes, not necessarily NUL-terminated). Every
 * referenced path is checked with |has_file| (NULL: paths are only checked for their
 * form). On success *out owns the model (ferry_hooks_free()). Errors:
 * FERRY_E_PACKAGE_INVALID naming the field, FERRY_E_NOMEM.
 */
ferry_err_code_t ferry_hooks_parse(const char *json, size_t len, ferry_hooks_has_file_fn has_file, void *user,
                                   ferry_hooks_t **out, ferry_err_t *err);

/** Frees |h| (NULL is fine). */
void ferry_hooks_free(ferry_hooks_t *h);

/** "pre_check", "pre_upgrade", "startup_pre_process", "startup_post_process", "post_upgrade". */
const char *ferry_hook_phase_name(ferry_hook_phase_t p);

/** "check", "sql", "exec". */
const char *ferry_hook_kind_name(ferry_hook_kind_t k);

/** Total number of hooks in all phases. */
size_t ferry_hooks_count(const ferry_hooks_t *h);

/** True if |s| is a hook id hooks.json accepts: 1..FERRY_HOOK_ID_MAX of [A-Za-z0-9_.-]. */
bool ferry_hook_id_valid(const char *s);

/** The hook with |id|, or NULL. */
const ferry_hook_t *ferry_hooks_find(const ferry_hooks_t *h, const char *id);

/**
 * True if |h| runs on |t|. When false, |reason| (may be NULL) receives why, for the
 * report's NOT_APPLICABLE line: "site ACME not in [US, EU]", "versions 1.2.0.0(0)..
 * 1.3.0.0(0) hold neither 1.1.0.0(1) nor 1.4.0.0(1)".
 */
bool ferry_hook_applies(const ferry_hook_t *h, const ferry_hook_target_t *t, char *reason, size_t size);

#ifdef __cplusplus
}
#endif
#endif
