/**
 * @file verify.h
 * Checks a signed package manifest before anything in it is trusted (TUF rules for a
 * single pinned key). Pure: bytes in, verdict out; no I/O, so it is fuzzed and
 * unit-tested directly.
 *
 * Order of checks (the first failure wins, nothing past a failed check is parsed):
 *   1. key: the manifest's key_id names one of the pinned keys (E_SIGNATURE_INVALID);
 *   2. signature: Ed25519 over the manifest bytes with that key (E_SIGNATURE_INVALID);
 *   3. only now the bytes are decoded as a PackageManifest (E_PACKAGE_INVALID if not);
 *   4. freshness: expires_at is set and later than |now_ms| (E_MANIFEST_EXPIRED);
 *   5. binding: task_id equals the task's (replay of another task's manifest), node_code
 *      equals this node's, or both empty for an exported offline manifest whose
 *      customer_code is empty or this node's (E_SIGNATURE_INVALID, "signed for ...");
 *   6. identity: version equals the task's version, size and sha256 equal what
 *      GetDownload announced (E_PACKAGE_INVALID);
 *   7. anti-rollback: version older than |installed_version| is refused unless the
 *      manifest's task_kind is ROLLBACK (E_DOWNGRADE_REFUSED).
 */
#ifndef FERRY_AGENTD_VERIFY_H
#define FERRY_AGENTD_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/sign.h"

/** A pinned signing key (from Bind, stored in the binding). */
typedef struct agentd_key {
    char key_id[40];
    uint8_t pub[FERRY_ED25519_PUBLIC_LEN];
} agentd_key_t;

/** What the agent expects of a manifest. Strings may be "" to skip that comparison, never NULL. */
typedef struct agentd_expect {
    const char *task_id;           /**< "" for an offline package */
    const char *node_code;         /**< this node */
    const char *customer_code;     /**< this node's customer */
    const char *version;           /**< the task's package version ("" = take the manifest's) */
    const char *sha256;            /**< announced by GetDownload ("" = no announcement) */
    uint64_t size;                 /**< announced size, 0 = none */
    const char *installed_version; /**< trusted installed version, "" = unknown (first install) */
    int64_t now_ms;                /**< current time, Unix ms */
} agentd_expect_t;

/** Facts taken from a manifest that passed every check. */
typedef struct agentd_manifest {
    char version[64];
    char sha256[65];
    uint64_t size;
    bool rollback; /**< task_kind ROLLBACK */
    int64_t expires_ms;
    unsigned parts; /**< FERRY_PART_* bits of ferry/model/states.h */
} agentd_manifest_t;

/**
 * Verifies |manifest| (serialized PackageManifest, |manifest_len| bytes) signed with
 * |sig| (|sig_len| bytes) by key |key_id| against |keys|. FERRY_OK and |out| filled, or
 * the code of the first failed check with a message naming it ("manifest expired at
 * 2026-12-03T10:00:00Z", "signed for task 0af3..., not 91c2..."). |out| may be NULL.
 */
ferry_err_code_t agentd_verify_manifest(const agentd_key_t *keys, size_t n_keys, const char *key_id,
                                        const uint8_t *manifest, size_t manifest_len, const uint8_t *sig,
                                        size_t sig_len, const agentd_expect_t *expect, agentd_manifest_t *out,
                                        ferry_err_t *err);

#endif
