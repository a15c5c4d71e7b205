/**
 * @file uploads.h
 * Repository of uploads: the rows of resumable uploads (an admin's package upload, a
 * node's file upload). The bytes themselves live in the blob store's upload area
 * (ferry/blob.h); a row says who started the upload, what it announced, and whether it
 * is still open ('open'), moved into the store ('committed') or given up ('aborted').
 *
 * Every function here runs on the read-write connection with the store lock held.
 */
#ifndef FERRY_STORE_UPLOADS_H
#define FERRY_STORE_UPLOADS_H

#include "ferry/hash.h"
#include "ferry/store.h"

#define FERRY_STORE_UPLOAD_ID_MAX 64 /**< upload ids are 1..64 of [A-Za-z0-9_-] */

/** Upload purposes (the column's values). */
#define FERRY_STORE_UPLOAD_PACKAGE   "package"   /**< an admin's package upload (packages) */
#define FERRY_STORE_UPLOAD_NODE_FILE "node_file" /**< a node's report file (report files) */

/** Upload states (the column's values). */
#define FERRY_STORE_UPLOAD_OPEN      "open"
#define FERRY_STORE_UPLOAD_COMMITTED "committed"
#define FERRY_STORE_UPLOAD_ABORTED   "aborted"

/** One upload row. */
typedef struct ferry_store_upload {
    char id[FERRY_STORE_UPLOAD_ID_MAX + 1];
    char purpose[16];   /**< FERRY_STORE_UPLOAD_PACKAGE / _NODE_FILE */
    char status[16];    /**< FERRY_STORE_UPLOAD_OPEN / _COMMITTED / _ABORTED */
    int64_t node_id;    /**< node_file: the node; 0 otherwise */
    int64_t created_by; /**< package: admin_token.id of the uploader; 0 = none */
    char file_name[256];
    uint64_t expected_size;
    char expected_sha256[FERRY_SHA256_HEX_LEN + 1]; /**< "" = not announced */
    char blob_sha256[FERRY_SHA256_HEX_LEN + 1];     /**< set once committed */
    int64_t created_at;                             /**< unix ms */
    int64_t expires_at;                             /**< unix ms */
} ferry_store_upload_t;

/** A new package upload row (status 'open'). */
typedef struct ferry_store_upload_new {
    const char *id;
    const char *file_name; /**< "" allowed */
    uint64_t expected_size;
    const char *expected_sha256; /**< "" = not announced */
    int64_t created_by;          /**< admin_token.id, 0 = none */
    int64_t created_at, expires_at;
} ferry_store_upload_new_t;

/** Inserts a package upload row. FERRY_E_IO on a database error (a duplicate id included). */
ferry_err_code_t ferry_store_package_upload_insert(ferry_store_t *s, const ferry_store_upload_new_t *u,
                                                   ferry_err_t *err);

/** Upload |id| into |out|. FERRY_E_NOT_FOUND "no upload '<id>'" when there is no such row. */
ferry_err_code_t ferry_store_upload_get(ferry_store_t *s, const char *id, ferry_store_upload_t *out,
                                        ferry_err_t *err);

/**
 * Closes open upload |id|: 'committed' with |blob_sha256| when it is not NULL, else
 * 'aborted'. *changed (may be NULL) says whether the row was open (a closed or absent
 * upload is left as it is: a concurrent close wins once).
 */
ferry_err_code_t ferry_store_upload_close(ferry_store_t *s, const char *id, const char *blob_sha256,
                                          bool *changed, ferry_err_t *err);

/**
 * Up to |max| ids (each FERRY_STORE_UPLOAD_ID_MAX + 1 bytes in |ids|) of uploads still
 * open at |now_ms| past their expires_at or created at or before now_ms - |ttl_ms|,
 * oldest first. *n = how many.
 */
ferry_err_code_t ferry_store_uploads_expired(ferry_store_t *s, int64_t now_ms, int64_t ttl_ms,
                                             char (*ids)[FERRY_STORE_UPLOAD_ID_MAX + 1], size_t max,
                                             size_t *n, ferry_err_t *err);

/** Whether upload |id| has a row that is still open (false for no row). */
ferry_err_code_t ferry_store_upload_is_open(ferry_store_t *s, const char *id, bool *open, ferry_err_t *err);

/** Who an upload quota counts against. */
typedef struct ferry_store_upload_owner {
    const char *purpose; /**< FERRY_STORE_UPLOAD_PACKAGE (by created_by) or _NODE_FILE (by node_id) */
    int64_t id;          /**< admin_token.id or node.id */
} ferry_store_upload_owner_t;

/**
 * The open uploads of |owner|: how many, and the bytes they announced (the space
 * they may still claim).
 */
ferry_err_code_t ferry_store_uploads_open_usage(ferry_store_t *s, const ferry_store_upload_owner_t *owner,
                                                int64_t *count, uint64_t *bytes, ferry_err_t *err);

#endif
