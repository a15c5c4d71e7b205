/**
 * @file sync.h
 * Makes a target directory match a source tree (seed 000 appendix C), crash-safely, and
 * installs one inner zip of a package (extract to tempDir, then sync).
 *
 * Per directory, the sync: creates missing directories; for each new or changed file
 * (size or content differ) puts the new content at a temporary name in the target
 * directory (".ferry-tmp.<name>"), makes it durable, renames it over the target name,
 * and fsyncs the directory once. Files whose content already matches are not rewritten
 * (only their mode/mtime are fixed), so running a sync twice is cheap and correct: this
 * is what crash resume relies on. Symlinks in the source are recreated as symlinks.
 * The target is never traversed through a symlink: a symlink in the target is an entry
 * to replace or delete, never a directory to enter.
 *
 * Durability without an fsync storm: the temporaries of one directory are written
 * first, then ONE syncfs() of the file system makes them all durable, then they are
 * renamed and the directory is fsynced. In FERRY_SYNC_MOVE mode the source files are
 * renamed in directly (the source must already be durable, e.g. made by
 * ferry_zip_extract(), which ends with a syncfs).
 *
 * Protect paths (only with FERRY_SYNC_DELETE): entries at or below a protect path are
 * never deleted. They do NOT stop the package from writing a file there (seed 000
 * appendix C protects against deletion only), so a package that ships config/x.json
 * overwrites it; rollback restores it from the backup.
 *
 * Crash points: "<crash_prefix>.file" after each file is renamed into place,
 * "<crash_prefix>.delete" after each deletion (e.g. "install.server.file").
 */
#ifndef FERRY_ENGINE_SYNC_H
#define FERRY_ENGINE_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/hooks.h"
#include "ferry/model/zipsafe.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most protect paths accepted. */
#define FERRY_SYNC_MAX_PROTECT 64

enum {
    /** Delete target entries absent from the source and not under a protect path. */
    FERRY_SYNC_DELETE = 1u << 0,
    /** Rename source files into the target instead of copying (same file system only;
        falls back to copying per file on EXDEV). Consumes the source tree. */
    FERRY_SYNC_MOVE = 1u << 1,
    /** Copy owner and group from the source (when running as root). Without it, a replaced
        file keeps its owner and a new entry takes the owner of its target directory, so a
        service running as its own user can still write its tree. */
    FERRY_SYNC_OWNERS = 1u << 2,
    /** For a fresh, untrusted-until-marked target (backup mirror): write straight to the
        final names, no temporaries, no syncs. The caller makes the result durable later
        (ferry_backup_finalize() does one syncfs before writing the completeness marker). */
    FERRY_SYNC_DEFER_DURABILITY = 1u << 3,
};

/** What a sync did. */
typedef struct ferry_sync_stats {
    uint64_t files_written; /**< new or changed files put in place */
    uint64_t files_same;    /**< files left alone (same content) */
    uint64_t bytes_written; /**< bytes of the files put in place */
    uint64_t dirs_created;
    uint64_t symlinks;
    uint64_t deleted;        /**< target entries removed (a removed directory counts once) */
    uint64_t protected_kept; /**< target entries kept only because of a protect path */
} ferry_sync_stats_t;

/** Options of ferry_sync_tree(). Zero-initialise, then set what you need. */
typedef struct ferry_sync_opts {
    unsigned flags;             /**< FERRY_SYNC_* */
    const char *const *protect; /**< protect paths, absolute (under target) or relative to target */
    size_t n_protect;           /**< at most FERRY_SYNC_MAX_PROTECT */
    const char *crash_prefix;   /**< e.g. "install.server"; NULL = no crash points */
    ferry_progress_t progress;  /**< bytes of source files processed / total */
} ferry_sync_opts_t;

/**
 * Makes |target_dir| match |source_dir| (created if missing, with parents). Modes and
 * mtimes (nanoseconds) are copied from the source for files, directories and symlinks. On error the target
 * holds a mix of old and new files (each file whole), and re-running the same sync completes it. |stats| may
 * be NULL. Errors: FERRY_E_IO / FERRY_E_NOSPACE / FERRY_E_INVALID_ARG with the failing path.
 */
ferry_err_code_t ferry_sync_tree(const char *source_dir, const char *target_dir,
                                 const ferry_sync_opts_t *opts, ferry_sync_stats_t *stats, ferry_err_t *err);

/**
 * Installs the inner zip |member| ("server.zip" or "client.zip") of the opened package
 * |pkg| into |target_dir|: opens and validates it (ferry_zip_open_member), extracts it to
 * a fresh directory under |temp_dir| (free space checked), syncs it into |target_dir| in
 * move mode with |opts| (FERRY_SYNC_MOVE is added), and removes the
 * extraction directory. Idempotent: a crashed install is redone by calling it again.
 * Progress: extraction then sync, each reported by its own totals.
 * Errors: FERRY_E_PACKAGE_INVALID (the zip is hostile or corrupt; the target was not
 * touched), otherwise |fail_code| (the caller passes FERRY_E_INSTALL_FAILED_SERVER or
 * FERRY_E_INSTALL_FAILED_CLIENT) with the underlying message.
 */
ferry_err_code_t ferry_install_member(ferry_zip_t *pkg, const char *member, const char *target_dir,
                                      const char *temp_dir, const ferry_zip_limits_t *limits,
                                      const ferry_sync_opts_t *opts, ferry_err_code_t fail_code,
                                      ferry_sync_stats_t *stats, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
