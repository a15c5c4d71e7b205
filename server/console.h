/**
 * @file console.h
 * ferryd serves the web console (web/, a Vue single-page app built by vite) at
 * `/console/` through a transfer route of the RPC runtime (ferry/rpc_route.h).
 *
 * - GET and HEAD only (405 + `Allow` otherwise); `/console` redirects to `/console/`.
 * - Content types by extension; `assets/` (content-hashed names) are cached for a year
 *   (`immutable`), every other file (index.html) is `no-cache` so a new build is seen.
 * - A strict Content-Security-Policy (no inline script or style, no eval, connections
 *   to this origin only, no framing) plus nosniff, no-referrer and DENY framing.
 * - SPA fallback: a path whose last segment has no extension (a client-side route such
 *   as `/console/releases/42`) gets index.html; a missing file with an extension is 404.
 * - A `NAME.gz` next to a file is sent instead (`content-encoding: gzip`) when the
 *   request accepts gzip.
 * - Paths are confined to the directory: only `[A-Za-z0-9._-]` segments, none starting
 *   with '.', no symlinks followed at the last component.
 */
#ifndef FERRY_SERVER_CONSOLE_H
#define FERRY_SERVER_CONSOLE_H

#include <stddef.h>

#include "ferry/err.h"
#include "ferry/rpc_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The console mount: the directory it serves. */
typedef struct ferry_console ferry_console_t;

/** Longest console directory path (bytes). */
#define FERRY_CONSOLE_DIR_MAX 1024

/**
 * A console serving |dir| (copied). FERRY_E_NOT_FOUND (message naming the directory)
 * when |dir| holds no index.html, FERRY_E_INVALID_ARG when the path is too long,
 * FERRY_E_NOMEM. NULL on failure.
 */
ferry_console_t *ferry_console_new(const char *dir, ferry_err_t *err);

/** Adds the `/console` route to |srv| (before start). |c| must outlive the server. */
ferry_err_code_t ferry_console_register(ferry_console_t *c, ferry_rpc_server_t *srv, ferry_err_t *err);

/** The directory served. */
const char *ferry_console_dir(const ferry_console_t *c);

/**
 * Finds the built console next to the running binary: `<bin>/../web/dist` (a build
 * tree: build/server/ferryd) or `<bin>/../share/ferry/console` (installed). Writes the
 * first that holds index.html into |buf| and returns 0; -1 when none does (|buf| then
 * lists the places looked at, for the log).
 */
int ferry_console_find_default(char *buf, size_t size);

/** Frees the mount (after the server stopped). NULL is a no-op. */
void ferry_console_free(ferry_console_t *c);

#ifdef __cplusplus
}
#endif
#endif
