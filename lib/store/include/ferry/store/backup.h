/**
 * @file backup.h
 * Backup and restore of a ferryd data dir (seed 004 数据备份与恢复), online.
 *
 * A backup is one tar file (ustar, regular files only, mode 0600):
 *   ferry.db                 a consistent snapshot (SQLite online backup API, one read
 *                            transaction: the WAL keeps writers going meanwhile)
 *   url-signing.key, package-signing.pem   the server's keys (without them a restored
 *                            server could not verify its own URLs or sign for pinned agents)
 *   blobs/sha256/ab/<hex>    every committed blob, hashed while copied (optional)
 *   ferry-backup.json        last: format, time, SHA-256 of ferry.db, counts
 * Blobs are immutable and written before the rows that name them commit, so copying
 * them AFTER the snapshot captures every blob the snapshot references (extra, newer
 * blobs are harmless). Open uploads' partial files are not included.
 *
 * Restore extracts into a temporary sibling of the target, checks every entry (names,
 * blob digests, the database's SHA-256 and PRAGMA integrity_check), and only then
 * moves it into place: a bad backup changes nothing.
 */
#ifndef FERRY_STORE_BACKUP_H
#define FERRY_STORE_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/hash.h"

/** What a backup holds. */
typedef struct ferry_store_backup_info {
    char db_sha256[FERRY_SHA256_HEX_LEN + 1];
    uint64_t size;      /**< bytes of the backup file */
    uint64_t blobs;     /**< blob files included */
    int64_t created_at; /**< unix ms */
    bool includes_blobs;
} ferry_store_backup_info_t;

/**
 * Backs up |data_dir| to |out_path| (written as a temp file, fsynced, renamed, the
 * directory fsynced; refused if |out_path| exists). Safe while ferryd serves.
 */
ferry_err_code_t ferry_store_backup(const char *data_dir, const char *out_path, bool include_blobs,
                                    ferry_store_backup_info_t *info, ferry_err_t *err);

/**
 * Restores |from| into |data_dir|. A non-empty |data_dir| is refused (FERRY_E_EXISTS)
 * unless |force| (then it is replaced as a whole, after the backup checked out). The
 * server must not be running on |data_dir|.
 */
ferry_err_code_t ferry_store_restore(const char *data_dir, const char *from, bool force,
                                     ferry_store_backup_info_t *info, ferry_err_t *err);

#endif
