/**
 * @file license.h
 * The node's signed licence (docs/fleet.md, agent contract): verified against the pinned
 * server key before anything in it is decoded, cached crash-safely in the state dir
 * (`license.pb`, a serialized SignedLicense), written for the managed application at
 * node-config `license.file`, and judged offline by its own dates (ACTIVE, GRACE,
 * EXPIRED; SUSPENDED and REVOKED invalid at once).
 */
#ifndef FERRY_AGENTD_LICENSE_H
#define FERRY_AGENTD_LICENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "verify.h"

/** Largest SignedLicense.document accepted (a document is a few hundred bytes). */
#define AGENTD_LICENSE_DOC_MAX (64 * 1024)

/** The facts of a verified licence document that the agent acts on. */
typedef struct agentd_license {
    bool have;
    char sha256[65]; /**< of the document bytes (what CheckIn/WatchAssignments announce) */
    char license_id[64];
    char license_key[128];
    char node_code[64];
    int status; /**< common.proto LicenseStatus as the admin set it */
    int64_t starts_ms, ends_ms, grace_ms;
    uint64_t revision;
} agentd_license_t;

/** Offline judgement of a licence at a given time. */
typedef struct agentd_license_state {
    int status;           /**< LicenseStatus: ACTIVE, GRACE, EXPIRED, SUSPENDED, REVOKED (0 = none) */
    bool valid;           /**< ACTIVE or GRACE */
    bool expiring;        /**< ACTIVE and the end is within 30 days */
    int64_t remaining_ms; /**< until ends_at (ACTIVE) or the grace end (GRACE); 0 otherwise */
} agentd_license_state_t;

struct agentd;

/**
 * Verifies |doc| (|doc_len| bytes) signed with |sig| by key |key_id| against |keys|, in
 * this order: key pinned, Ed25519 signature (E_SIGNATURE_INVALID), only then decoded as a
 * LicenseDocument (E_INVALID_ARG), issued to |node_code| (E_SIGNATURE_INVALID, "issued
 * for node X, not Y"). Pure: no I/O. |out| filled on success (may be NULL).
 */
ferry_err_code_t agentd_license_verify(const agentd_key_t *keys, size_t n_keys, const char *key_id,
                                       const uint8_t *doc, size_t doc_len, const uint8_t *sig, size_t sig_len,
                                       const char *node_code, agentd_license_t *out, ferry_err_t *err);

/** Judges |l| at |now_ms| by the offline rule (pure). */
agentd_license_state_t agentd_license_eval(const agentd_license_t *l, int64_t now_ms);

/** "ACTIVE", "GRACE", "EXPIRED", "SUSPENDED", "REVOKED" or "NONE". */
const char *agentd_license_status_name(int status);

/**
 * A SignedLicense from the server (|packed|: the serialized message, as cached): verified
 * with the binding's keys; on success cached in the state dir, written to license.file
 * (when configured) and made current. A refused document is logged and changes nothing.
 */
ferry_err_code_t agentd_license_accept(struct agentd *ad, const uint8_t *doc, size_t doc_len,
                                       const uint8_t *sig, size_t sig_len, const char *key_id,
                                       ferry_err_t *err);

/**
 * At start: loads the cached licence, verifies it again (a file changed on disk is
 * refused and not announced, so the server sends the current one) and rewrites
 * license.file from it when configured.
 */
void agentd_license_load(struct agentd *ad);

#endif
