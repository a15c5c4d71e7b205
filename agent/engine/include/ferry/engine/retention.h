/**
 * @file retention.h
 * Keeps the newest N backups under backupRoot (seed 000 appendix B).
 *
 * Only folders that are Ferry's are ever considered: real directories (not symlinks)
 * directly under backupRoot that hold FERRY_BACKUP_STARTED_FILE or
 * FERRY_BACKUP_COMPLETE_FILE. Everything else is ignored.
 * Age: the startedAt time recorded in the stamp (the folder's creation time as Ferry saw
 * it; ties broken by name), falling back to the folder's mtime when the stamp is unreadable.
 * Complete backups: the newest N are kept, older ones deleted. Incomplete ones (crash
 * before the marker; never restorable) are deleted when older than the newest kept
 * backup. Folders named in |keep| (the current task's) are never deleted and count toward N.
 */
#ifndef FERRY_ENGINE_RETENTION_H
#define FERRY_ENGINE_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most backup folders examined in one call; more is an error (nothing deleted). */
#define FERRY_RETENTION_MAX_DIRS 4096

/**
 * Applies retention with |keep_n| (0 = keep everything: retention disabled). |keep| holds
 * paths (absolute, or names relative to |backup_root|) that must survive. |deleted| (may
 * be NULL) receives the number of folders removed. Each deletion is rm -rf without
 * following symlinks, then an fsync of |backup_root|. A missing |backup_root| is fine.
 * Errors: FERRY_E_IO naming the folder that could not be removed (earlier deletions stay).
 */
ferry_err_code_t ferry_retention_apply(const char *backup_root, unsigned keep_n, const char *const *keep,
                                       size_t n_keep, unsigned *deleted, ferry_err_t *err);

#ifdef __cplusplus
}
#endif
#endif
