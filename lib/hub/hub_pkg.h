/*
 * Private interface of the package / release / task modules (packages.c, releases.c,
 * tasks.c, blobs_http.c), also for agent.c, report.c and watch.c, which hand the same
 * objects to nodes and streams:
 *   - building ferry.v1.UpdateTask / Release / Package / SignedManifest from the rows;
 *   - the pure decisions: effective policy, HTTP Range / Content-Range parsing,
 *     release scope selection, incremental UTF-8 validation.
 */
#ifndef FERRY_HUB_PKG_H
#define FERRY_HUB_PKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/store/releases.h"
#include "hub_internal.h"
#include "hub_util.h"

/* ---- caps ------------------------------------------------------------------------ */

#define HUB_CHUNK_MAX       (8u << 20)  /**< largest upload chunk (one PUT body) */
#define HUB_MANIFEST_MAX    (64u << 10) /**< largest serialized PackageManifest */
#define HUB_SCOPE_CODES_MAX 1000        /**< stores or nodes named in one release scope */

/* ---- pure decisions ---------------------------------------------------------------- */

/**
 * The policy in effect at |now_ms|: an OPTIONAL release whose deadline (> 0) has passed
 * is FORCED (hawkBit's "time forced"); otherwise |policy| unchanged.
 */
int hub_effective_policy(int policy, int64_t deadline_ms, int64_t now_ms);

/** Result of hub_parse_range(). */
typedef enum hub_range_kind {
    HUB_RANGE_NONE = 0,         /**< no (usable) Range header: send everything, 200 */
    HUB_RANGE_PARTIAL = 1,      /**< send [*first, *last], 206 */
    HUB_RANGE_UNSATISFIABLE = 2 /**< 416 with `Content-Range: bytes * / size` */
} hub_range_kind_t;

/**
 * Parses one `Range: bytes=a-b` / `bytes=a-` / `bytes=-n` header (|hdr| may be NULL)
 * against a resource of |size| bytes. Syntax we do not serve (several ranges, other
 * units, garbage) is ignored (HUB_RANGE_NONE), as RFC 9110 allows; a well-formed
 * range starting at or past the end is UNSATISFIABLE. |last| is clamped to size-1.
 */
hub_range_kind_t hub_parse_range(const char *hdr, size_t len, uint64_t size, uint64_t *first, uint64_t *last);

/**
 * Parses `Content-Range: bytes a-b/total` of an upload chunk. FERRY_E_INVALID_ARG for
 * anything else (also `*` forms, b < a, b >= total).
 */
ferry_err_code_t hub_parse_content_range(const char *hdr, size_t len, uint64_t *first, uint64_t *last,
                                         uint64_t *total, ferry_err_t *err);

/** Incremental UTF-8 validator (streams of any chunking). Zero-initialise. */
typedef struct hub_utf8 {
    uint32_t need;   /**< continuation bytes still expected */
    uint32_t cp;     /**< code point so far */
    uint32_t min;    /**< smallest legal value for this length (overlong check) */
    uint64_t offset; /**< bytes consumed */
    bool bad;
    uint64_t bad_at; /**< offset of the first bad byte */
} hub_utf8_t;

/** Feeds bytes; false once invalid (then bad_at says where). */
bool hub_utf8_feed(hub_utf8_t *u, const void *data, size_t len);
/** True when everything fed was valid and no sequence is left open. */
bool hub_utf8_finish(hub_utf8_t *u);

/** A node considered by a release scope (id, code, store code, disabled: node or store). */
typedef ferry_store_scope_node_t hub_scope_node_t;

/**
 * Selects the nodes of a scope among |cands| (all nodes of the customer in the
 * release environment): none named = every enabled candidate; otherwise the enabled
 * nodes of the named stores plus the named nodes. |known_stores| are the customer's
 * store codes. A named store not in |known_stores|, or a named node not among the
 * candidates, is FERRY_E_NOT_FOUND; a named node that is disabled is
 * FERRY_E_PRECONDITION (the admin asked for it explicitly); both name the culprit.
 * Sets selected[i] for each chosen candidate; *count = how many.
 */
ferry_err_code_t hub_scope_select(const hub_scope_node_t *cands, size_t n, const char *const *known_stores,
                                  size_t n_known, const char *const *stores, size_t n_stores,
                                  const char *const *nodes, size_t n_nodes, bool *selected, size_t *count,
                                  ferry_err_t *err);

/* ---- objects ------------------------------------------------------------------------- */

/** Whether |state| ends a task: ferry_state_is_terminal() of ferry/model/states.h. */
bool hub_task_state_final(int state);

/**
 * Loads task |task_id| as a ferry.v1.UpdateTask into |out| (strings in |a|). Caller
 * holds the DB lock. FERRY_E_NOT_FOUND if there is no such task. The policy shown is
 * the effective one at |now_ms|.
 */
ferry_err_code_t hub_task_load(ferry_hub_t *hub, hub_arena_t *a, int64_t task_id, int64_t now_ms,
                               Ferry__V1__UpdateTask *out, ferry_err_t *err);

/** Loads release |id| (DB lock held). FERRY_E_NOT_FOUND otherwise. */
ferry_err_code_t hub_release_load(ferry_hub_t *hub, hub_arena_t *a, int64_t id, Ferry__V1__Release *out,
                                  ferry_err_t *err);

/**
 * Loads package |version| (DB lock held) with its signed manifest; *package_id and
 * *blob_sha (65 bytes, may be NULL) receive its row id and content hash.
 */
ferry_err_code_t hub_package_load(ferry_hub_t *hub, hub_arena_t *a, const char *version,
                                  Ferry__V1__Package *out, int64_t *package_id, char *blob_sha,
                                  ferry_err_t *err);

/** The signing key's id: hex of the first 8 bytes of SHA-256 of the raw public key. */
void hub_signing_key_id(const ferry_hub_t *hub, char out[17]);

/** What a freshly signed manifest is bound to (TUF: freshness, replay, rollback). */
typedef struct hub_manifest_binding {
    const char *task_id;       /**< "" for an exported offline manifest */
    const char *node_code;     /**< "" for an exported offline manifest */
    int task_kind;             /**< Ferry__V1__TaskKind */
    const char *customer_code; /**< "" = not limited */
    int64_t expires_ms;        /**< unix ms after which agents refuse it (> now) */
} hub_manifest_binding_t;

/**
 * Signs a new PackageManifest for |pkg| (as loaded by hub_package_load: version,
 * structured version, size, SHA-256, parts, type) bound by |b|, signed_at = |now_ms|,
 * with the hub's key and key id. The result (and its bytes) lives in |a|; nothing is
 * cached or stored. FERRY_E_INVALID_ARG when expires_ms <= now_ms.
 */
ferry_err_code_t hub_manifest_sign(ferry_hub_t *hub, hub_arena_t *a, const Ferry__V1__Package *pkg,
                                   const hub_manifest_binding_t *b, int64_t now_ms,
                                   Ferry__V1__SignedManifest **out, ferry_err_t *err);

/** Largest number of download mirrors of one storage configuration (seed 003). */
#define HUB_MIRRORS_MAX 8

/** Mirror name rule: 1..32 of [A-Za-z0-9._-], not "primary" / "customer-storage". */
ferry_err_code_t hub_mirror_name_check(const char *field, const char *name, ferry_err_t *err);
/** Mirror base URL rule: http(s), a host, no user info, no query, fragment or spaces, <= 200 chars. */
ferry_err_code_t hub_mirror_url_check(const char *field, const char *url, ferry_err_t *err);

/**
 * The sources agents download blob |path| ("/blobs/sha256/<hex>") from, in order: the
 * primary signed GET URL of the storage in effect for |customer_id| (name "primary",
 * or "customer-storage" when that customer's override applies; priority 0), then each
 * mirror of that configuration in its order (priority 10, 20, ...; url = base URL +
 * |path| + the primary URL's signed query; same expiry). Allocated in |a|.
 */
ferry_err_code_t hub_storage_download_sources(ferry_hub_t *hub, hub_arena_t *a, int64_t customer_id,
                                              const char *path, Ferry__V1__DownloadSource ***out, size_t *n,
                                              ferry_err_t *err);

/** Blob URL path for |sha256_hex| ("/blobs/sha256/<hex>"). */
void hub_blob_url_path(const char *sha256_hex, char *buf, size_t size);

/** A signed GET link for blob |sha256_hex| from the storage of |customer_id| (0 = global). */
ferry_err_code_t hub_blob_download_link(ferry_hub_t *hub, hub_arena_t *a, int64_t customer_id,
                                        const char *sha256_hex, Ferry__V1__DownloadLink **out,
                                        ferry_err_t *err);

/**
 * One writer per upload id at a time (a chunk PUT or a commit): claim before touching
 * the partial file, release after. false = someone else holds it.
 */
bool hub_upload_claim(const char *id);
void hub_upload_release(const char *id);

/* ---- reclaiming uploads (uploads.c) ------------------------------------------------ */

/**
 * Upload |id| was refused on its content: deletes its bytes and closes its row
 * ('aborted') so nothing of it stays on disk; the client starts a new upload. When
 * |resumable_below| > 0 and fewer bytes than that were received, the upload is left
 * open (unfinished, not refused). |claimed|: the caller holds hub_upload_claim(id);
 * otherwise it is taken here and a busy upload is left to the expiry sweep. Call
 * without the DB lock. true when the bytes were reclaimed.
 */
bool hub_upload_refuse(ferry_hub_t *hub, const char *id, uint64_t resumable_below, bool claimed);

/**
 * Reclaims every upload still open at |now_ms| past its expires_at or older than
 * cfg.upload_ttl_s: bytes deleted, row 'aborted'. Busy uploads wait for the next sweep.
 * Returns how many were reclaimed. Call without the DB lock.
 */
size_t hub_uploads_sweep(ferry_hub_t *hub, int64_t now_ms);

/**
 * Deletes the partial files in the blob store's upload area that no open upload row
 * owns. Part of every hub_uploads_sweep(). Returns how many. Call without the store lock.
 */
size_t hub_uploads_sweep_orphans(ferry_hub_t *hub);

/**
 * An administrator gives up open upload |id| of |purpose| (FERRY_STORE_UPLOAD_*): its
 * bytes are deleted and its row closed ('aborted'). FERRY_E_NOT_FOUND when there is no
 * such upload, FERRY_E_PRECONDITION when it is closed already or busy (a chunk or a
 * commit right now). *bytes = the bytes deleted. Call without the store lock.
 */
ferry_err_code_t hub_upload_abort(ferry_hub_t *hub, const char *id, const char *purpose, uint64_t *bytes,
                                  ferry_err_t *err);

/**
 * Whether |owner| (admin_token.id for package uploads, node.id for node files) may open
 * one more upload of |purpose| announcing |bytes|: its open uploads and the bytes they
 * announced stay within the configured quotas, and hub_upload_space_check(). Store lock
 * held. FERRY_E_NOSPACE naming the limit otherwise.
 */
ferry_err_code_t hub_upload_quota_check(ferry_hub_t *hub, const char *purpose, int64_t owner, uint64_t bytes,
                                        ferry_err_t *err);

/**
 * Whether the data dir's file system can take |bytes| more for an upload of |purpose|:
 * a node's upload must leave the free-space reserve (cfg.upload_disk_reserve) untouched,
 * an administrator's must fit. FERRY_E_NOSPACE naming the free space and the reserve.
 */
ferry_err_code_t hub_upload_space_check(ferry_hub_t *hub, const char *purpose, uint64_t bytes,
                                        ferry_err_t *err);

/**
 * hub_storage_signed_url() reports expiry as unix seconds or milliseconds depending
 * on the storage kind's convention; this normalises to milliseconds.
 */
static inline int64_t hub_expiry_ms(int64_t v)
{
    return v < 100000000000ll ? v * 1000 : v;
}

#endif
