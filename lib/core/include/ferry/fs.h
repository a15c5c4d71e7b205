/**
 * @file fs.h
 * Crash-safe file primitives shared by the server and the agent. "Durable" below
 * means: written to a temporary name in the same directory, fsynced, renamed over
 * the target, and the directory fsynced, so a crash leaves the old or the new
 * content, never a mix.
 */
#ifndef FERRY_FS_H
#define FERRY_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/err.h"

/** Durably replaces |path| with |len| bytes of |data| and mode |mode|. */
ferry_err_code_t ferry_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                       ferry_err_t *err);

/** fsyncs directory |dir| so a rename or unlink inside it survives a crash. */
ferry_err_code_t ferry_fs_fsync_dir(const char *dir, ferry_err_t *err);

/** fsyncs the directory containing |path|. */
ferry_err_code_t ferry_fs_fsync_parent(const char *path, ferry_err_t *err);

/** Creates |path| and its missing parents with |mode| (like mkdir -p). Existing dirs are fine. */
ferry_err_code_t ferry_fs_mkdir_p(const char *path, mode_t mode, ferry_err_t *err);

/** Removes |path| recursively without following symlinks (like rm -rf). Missing is fine. */
ferry_err_code_t ferry_fs_rm_rf(const char *path, ferry_err_t *err);

/**
 * Reads all of |path| into a new NUL-terminated buffer (*out, free()), refusing files
 * over |max_bytes| with FERRY_E_TOO_LARGE before allocating. *len_out may be NULL.
 */
ferry_err_code_t ferry_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len_out,
                                    ferry_err_t *err);

/** Free bytes available to an unprivileged writer on the file system holding |path|. */
ferry_err_code_t ferry_fs_free_bytes(const char *path, uint64_t *out, ferry_err_t *err);

/**
 * Joins |a| and |b| with one '/' into |buf|. Returns FERRY_E_TOO_LARGE when it does not
 * fit (buf then holds an empty string).
 */
ferry_err_code_t ferry_fs_join(char *buf, size_t size, const char *a, const char *b);

/** True (1) if |path| exists (lstat succeeds), 0 otherwise. */
int ferry_fs_exists(const char *path);

/** True if |path| is a directory (not following a final symlink). */
int ferry_fs_is_dir(const char *path);

#endif
