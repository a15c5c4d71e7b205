/**
 * @file backup.h
 * The backup trio and its restore (seed 000 §0.5, §5.4 step 5, §5.5, appendix B).
 *
 * Layout of one backup folder `{backupRoot}/{version}` (or `{version}_{yyyyMMddHHmmss}`
 * when the plain name exists, e.g. on a retry):
 *   .ferry-backup-started    JSON {version, startedAt}: written first, marks the folder
 *                            as Ferry's (retention only ever touches such folders)
 *   server/                  faithful mirror of serverDir: files, directories (empty ones
 *                            too), modes, mtimes, symlinks as symlinks, owners when root
 *   client.zip               clientDir zipped by libzip, with Unix modes and mtimes of
 *                            files, symlinks and directories (extended-timestamp: seconds,
 *                            read by unzip; NTFS: 100 ns) and the root's mode and mtime in
 *                            the archive comment; unzips back identical
 *   data.bak                 the database backup, produced by the SQL executor (not here)
 *   .ferry-backup-complete   JSON marker: version, times, counts, sizes, SHA-256 of the zip
 *                            and of data.bak. A folder without it is NOT a usable backup.
 *
 * Order for the pipeline: ferry_backup_check_space, ferry_backup_begin (journal the
 * returned path), ferry_backup_server, ferry_backup_client, (executor writes data.bak),
 * ferry_backup_finalize. Each step can be redone after a crash with the same folder: it
 * first removes its own partial output.
 *
 * Durability: mirror files and zip are written without per-file fsync; finalize runs one
 * syncfs() over the backup file system and only then writes the marker durably (temp,
 * fsync, rename, fsync dir). A crash before the marker leaves an incomplete folder that
 * restore refuses (FERRY_E_BACKUP_MISSING), so no un-synced byte is ever trusted.
 *
 * Crash points: "backup.server.file" (after each mirrored file), "backup.client.entry"
 * (after each file read into client.zip), "backup.client.rename" (zip complete, before
 * its rename), "backup.finalize" (synced, before the marker), "restore.server.file",
 * "restore.server.delete", "restore.client.file", "restore.client.delete".
 */
#ifndef FERRY_ENGINE_BACKUP_H
#define FERRY_ENGINE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_BACKUP_STARTED_FILE  ".ferry-backup-started"
#define FERRY_BACKUP_COMPLETE_FILE ".ferry-backup-complete"
#define FERRY_BACKUP_SERVER_DIR    "server"
#define FERRY_BACKUP_CLIENT_ZIP    "client.zip" /**< default of backup.clientBackupFileName */
#define FERRY_BACKUP_DB_FILE       "data.bak"   /**< default of backup.db.backupFileName */
/** Longest version string accepted in a folder name. */
#define FERRY_BACKUP_VERSION_MAX 128

/** File names inside a backup folder; NULL members mean the defaults above. */
typedef struct ferry_backup_names {
    const char *client_zip;
    const char *db_file;
} ferry_backup_names_t;

/** Counts of one mirrored tree or zipped tree. */
typedef struct ferry_backup_stats {
    uint64_t files;
    uint64_t dirs;
    uint64_t symlinks;
    uint64_t bytes; /**< sum of regular file sizes */
} ferry_backup_stats_t;

/** What the completeness marker records (filled by ferry_backup_verify). */
typedef struct ferry_backup_info {
    char version[FERRY_BACKUP_VERSION_MAX + 1];
    int64_t started_at;   /**< unix seconds */
    int64_t completed_at; /**< unix seconds */
    ferry_backup_stats_t server;
    ferry_backup_stats_t client;
    uint64_t client_zip_bytes;
    char client_zip_sha256[65];
    uint64_t db_bytes;
    char db_sha256[65];
} ferry_backup_info_t;

/**
 * Checks that the file system of |backup_root| (or its nearest existing parent) has room
 * for the regular files of |server_dir| and |client_dir| (missing dirs count 0) plus
 * |extra_bytes| (the caller's database size estimate) plus a margin of 2% + 16 MiB.
 * *need_out / *free_out may be NULL. FERRY_E_BACKUP_FAILED_SERVER with both numbers when
 * short (the backup cannot start), FERRY_E_IO when a tree cannot be read.
 */
ferry_err_code_t ferry_backup_check_space(const char *backup_root, const char *server_dir,
                                          const char *client_dir, uint64_t extra_bytes, uint64_t *need_out,
                                          uint64_t *free_out, ferry_err_t *err);

/**
 * Creates the backup folder for |version| under |backup_root| (created if missing):
 * `{version}` if free, else `{version}_{yyyyMMddHHmmss}` (local time; "_N" appended in the
 * unlikely case that exists too), and durably writes the started stamp. The real path goes
 * to |out| (record it as BackupLocalPath). |version| must be a single path component.
 * Errors: FERRY_E_INVALID_ARG (bad version), FERRY_E_BACKUP_FAILED_SERVER (I/O).
 */
ferry_err_code_t ferry_backup_begin(const char *backup_root, const char *version, char *out, size_t out_size,
                                    ferry_err_t *err);

/**
 * Mirrors |server_dir| into `{backup_dir}/server/` (a partial mirror from an earlier
 * attempt is removed first). A missing |server_dir| gives an empty mirror (restore then
 * empties serverDir). Progress: bytes copied of the tree's total.
 * Errors: FERRY_E_BACKUP_FAILED_SERVER naming the failing path.
 */
ferry_err_code_t ferry_backup_server(const char *backup_dir, const char *server_dir,
                                     ferry_progress_t progress, ferry_backup_stats_t *stats,
                                     ferry_err_t *err);

/**
 * Zips |client_dir| into `{backup_dir}/{zip_name}` (NULL = "client.zip"): deflate level
 * 6 (like `zip -r`), already-compressed file types stored; written to a temporary name,
 * fsynced and renamed. Entries are sorted (deterministic). A missing |client_dir| gives
 * an empty zip. Errors: FERRY_E_BACKUP_FAILED_CLIENT naming the failing path.
 */
ferry_err_code_t ferry_backup_client(const char *backup_dir, const char *client_dir, const char *zip_name,
                                     ferry_progress_t progress, ferry_backup_stats_t *stats,
                                     ferry_err_t *err);

/**
 * Declares the backup complete: checks that server/, the client zip and the db file
 * exist, hashes the zip and the db file, syncfs()es, and durably writes the marker.
 * |server| and |client| are the stats returned by the two backup calls (may be NULL: the
 * marker then records zeros). Errors: FERRY_E_BACKUP_FAILED_SERVER / _CLIENT / _DB
 * naming the missing or unreadable part.
 */
ferry_err_code_t ferry_backup_finalize(const char *backup_dir, const ferry_backup_names_t *names,
                                       const ferry_backup_stats_t *server, const ferry_backup_stats_t *client,
                                       ferry_err_t *err);

/**
 * Checks that |backup_dir| is a complete backup: the marker parses and server/, the zip
 * and the db file exist with the recorded sizes (hashes are not recomputed). Fills |info|
 * (may be NULL). FERRY_E_BACKUP_MISSING otherwise, naming what is missing.
 */
ferry_err_code_t ferry_backup_verify(const char *backup_dir, const ferry_backup_names_t *names,
                                     ferry_backup_info_t *info, ferry_err_t *err);

/**
 * Restores |server_dir| from `{backup_dir}/server/` (the marker and server/ must exist;
 * call ferry_backup_verify() with the node's names for the full check): afterwards every mirrored entry is
 * byte-, mode-, mtime- (nanoseconds; directories, the root included, get theirs after
 * their contents) and owner- (when root) identical, and everything else is deleted
 * EXCEPT entries under |protect| (absolute or relative to server_dir; pass the node's
 * protectPaths so logs written during the failed attempt survive for diagnosis, or NULL
 * for an exact copy). Protected files that exist in the mirror ARE restored. Idempotent.
 * Errors: FERRY_E_BACKUP_MISSING (no complete backup), FERRY_E_ROLLBACK_FAILED otherwise.
 */
ferry_err_code_t ferry_restore_server(const char *backup_dir, const char *server_dir,
                                      const char *const *protect, size_t n_protect, ferry_progress_t progress,
                                      ferry_err_t *err);

/**
 * Restores |client_dir| from `{backup_dir}/{zip_name}` (NULL = "client.zip"; the marker
 * must exist): extracts it (trusted mode) to
 * `{temp_dir}/client-restore.extract` and syncs it in with deletion (no protect paths: the
 * client dir is a package directory). Owners: kept for replaced files, inherited from the
 * directory for new ones (zip stores no owners). Directory modes and mtimes are applied
 * after their contents (deepest first), the root's own (from the archive comment) last,
 * so every entry's mtime matches the backed-up tree to 100 ns. Idempotent. Errors as
 * ferry_restore_server().
 */
ferry_err_code_t ferry_restore_client(const char *backup_dir, const char *client_dir, const char *zip_name,
                                      const char *temp_dir, ferry_progress_t progress, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
