/**
 * @file download.h
 * Downloads a task's package from an ordered list of sources (seed 003, Omaha rules):
 * try each source in priority order; on a transport error, HTTP error or timeout move
 * on to the next source CONTINUING FROM THE SAME OFFSET (the partial file is kept);
 * when the finished file's length or SHA-256 is wrong, delete it and try the next
 * source from zero. When every source failed, the caller may ask the server for fresh
 * URLs and call again: the partial file is resumed.
 *
 * The SHA-256 is computed while the bytes arrive (the prefix kept from an earlier run
 * is hashed first), so verifying costs no second read of the file. Free disk on the
 * target volume is checked first (size - bytes already there + 64 MiB reserve).
 * All HTTP goes through the runtime's transfer client (ferry/transfer.h).
 */
#ifndef FERRY_AGENTD_DOWNLOAD_H
#define FERRY_AGENTD_DOWNLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/transfer.h"

#define AGENTD_MAX_SOURCES 16

typedef struct agentd_source {
    const char *name; /**< "primary", "mirror-1" */
    const char *url;  /**< signed URL (never logged with its query) */
    int priority;     /**< lower first */
} agentd_source_t;

/** Per-download telemetry, reported with the task (DownloadStats). */
typedef struct agentd_dl_stats {
    char source_name[64];   /**< source that delivered the last byte ("" if none did) */
    uint64_t bytes;         /**< bytes received in this call, all sources */
    uint64_t resumed_bytes; /**< bytes already on disk when the call started */
    double seconds;
    unsigned attempts;      /**< sources tried (a source counts once per try) */
    char fallbacks[8][160]; /**< "primary: connect to 127.0.0.1:9 refused", in order */
    unsigned n_fallbacks;
} agentd_dl_stats_t;

/** Progress: bytes on disk so far of |total|. Return non-zero to cancel. */
typedef int (*agentd_dl_progress_fn)(void *user, uint64_t done, uint64_t total);

/**
 * Downloads into |path| (|path|.part while incomplete; renamed and fsynced when the
 * size and |sha256| (64 lower-case hex) match). Sources are tried in priority order.
 * FERRY_OK: |path| is complete and verified. FERRY_E_HASH_MISMATCH when a complete file
 * had the wrong digest on every source that delivered one (the file is deleted),
 * FERRY_E_NOSPACE when the disk is too small (nothing written), FERRY_E_DOWNLOAD_FAILED
 * when no source delivered (partial kept for the next call; the message lists each
 * source's error), FERRY_E_CANCELED when |cancel| was set or progress returned non-zero.
 * |progress| is called at most ~4 times a second. |stats| may be NULL.
 */
ferry_err_code_t agentd_download(ferry_xfer_t *x, const agentd_source_t *sources, size_t n_sources,
                                 const char *path, uint64_t size, const char *sha256,
                                 agentd_dl_progress_fn progress, void *user, volatile int *cancel,
                                 agentd_dl_stats_t *stats, ferry_err_t *err);

#endif
