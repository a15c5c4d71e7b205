/**
 * @file packages.h
 * Repository of packages: a package version, its signed manifest (stored exactly as
 * signed) and the content hash of its zip (the blob). Packages are immutable once
 * inserted.
 *
 * Functions without "_ro" run on the read-write connection with the store lock held.
 */
#ifndef FERRY_STORE_PACKAGES_H
#define FERRY_STORE_PACKAGES_H

#include "ferry/hash.h"
#include "ferry/store.h"
#include "ferry/v1/admin.pb-c.h"

/** A new package row. */
typedef struct ferry_store_package_new {
    const char *version;
    uint32_t major, minor, patch, revision, build; /**< parsed |version|: orders lists */
    const char *description;
    int type; /**< Ferry__V1__PackageType */
    uint64_t size;
    const char *sha256;                                        /**< of the zip: the blob's name */
    bool has_server, has_client, has_schema_sql, has_data_sql; /**< parts present */
    const uint8_t *manifest;                                   /**< serialized PackageManifest, as signed */
    size_t manifest_len;
    const uint8_t *signature; /**< Ed25519 over |manifest| */
    size_t signature_len;
    const char *key_id;
    int64_t created_by; /**< admin_token.id, 0 = none */
    int64_t created_at; /**< unix ms */
} ferry_store_package_new_t;

/**
 * Inserts |p|. FERRY_E_VERSION_DUPLICATE "package version <v> already exists" when the
 * version is taken (also by a concurrent insert); FERRY_E_IO otherwise.
 */
ferry_err_code_t ferry_store_package_insert(ferry_store_t *s, const ferry_store_package_new_t *p,
                                            ferry_err_t *err);

/** Row id of package |version|. FERRY_E_NOT_FOUND "no package version '<v>'". */
ferry_err_code_t ferry_store_package_id(ferry_store_t *s, const char *version, int64_t *id, ferry_err_t *err);

/** Whether package |version| exists. */
ferry_err_code_t ferry_store_package_exists(ferry_store_t *s, const char *version, bool *known,
                                            ferry_err_t *err);

/**
 * Package |version| into |out| (strings, the signed manifest and the parts read from
 * the signed bytes themselves, all in |a|); *package_id and blob_sha (65 bytes) receive
 * its row id and content hash (either may be NULL). FERRY_E_NOT_FOUND "no package
 * version '<v>'".
 */
ferry_err_code_t ferry_store_package_get(ferry_store_t *s, ferry_arena_t *a, const char *version,
                                         Ferry__V1__Package *out, int64_t *package_id,
                                         char blob_sha[FERRY_SHA256_HEX_LEN + 1], ferry_err_t *err);

/**
 * One page of packages, newest version first, whose version contains |query| ("" =
 * all); paged by offset (|page_token|: FERRY_E_INVALID_ARG when not one this server
 * issued). Items are Ferry__V1__Package. Takes the store lock itself.
 */
ferry_err_code_t ferry_store_packages_list(ferry_store_t *s, const char *query, const char *page_token,
                                           int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                           ferry_err_t *err);

/** Whether blob |sha256| is referenced by a package or a node's report file (then it must stay). */
ferry_err_code_t ferry_store_blob_in_use(ferry_store_t *s, const char *sha256, bool *used, ferry_err_t *err);

#endif
