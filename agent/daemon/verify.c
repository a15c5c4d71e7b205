/*
 * The manifest verifier (verify.h): TUF checks for one pinned Ed25519 key, in the
 * contract's order; nothing of the manifest is decoded before its signature holds.
 */
#include "verify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/model/states.h"
#include "ferry/rpc.h"
#include "ferry/v1/common.pb-c.h"
#include "ferry/version.h"

/* Largest manifest accepted: a manifest lists a handful of parts (< 2 KiB in practice). */
#define MANIFEST_MAX (64 * 1024)

/* "2026-12-03T10:00:00Z" (or the raw milliseconds when out of gmtime's range). */
static void fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld ms", (long long)ms);
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static bool is_lower_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

/* A Timestamp as Unix ms, saturating instead of overflowing (the field is the signer's). */
static int64_t ts_ms(const Google__Protobuf__Timestamp *ts)
{
    const int64_t lim = INT64_MAX / 1000 - 1;
    if (ts->seconds > lim)
        return INT64_MAX;
    if (ts->seconds < -lim)
        return INT64_MIN;
    int32_t nanos = ts->nanos >= 0 && ts->nanos < 1000000000 ? ts->nanos : 0;
    return ts->seconds * 1000 + nanos / 1000000;
}

static unsigned part_bits(const Ferry__V1__PackageManifest *m)
{
    unsigned bits = 0;
    for (size_t i = 0; i < m->n_parts; i++) {
        if (m->parts[i] == NULL)
            continue;
        switch (m->parts[i]->kind) {
        case FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP:
            bits |= FERRY_PART_SERVER;
            break;
        case FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP:
            bits |= FERRY_PART_CLIENT;
            break;
        case FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL:
            bits |= FERRY_PART_SQL_SCHEMA;
            break;
        case FERRY__V1__PART_KIND__PART_KIND_DATA_SQL:
            bits |= FERRY_PART_SQL_DATA;
            break;
        default: /* hooks and kinds newer than this agent: no engine part */
            break;
        }
    }
    return bits;
}

ferry_err_code_t agentd_verify_manifest(const agentd_key_t *keys, size_t n_keys, const char *key_id,
                                        const uint8_t *manifest, size_t manifest_len, const uint8_t *sig,
                                        size_t sig_len, const agentd_expect_t *ex, agentd_manifest_t *out,
                                        ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const agentd_key_t *key = NULL;
    Ferry__V1__PackageManifest *m = NULL;
    char when[40];

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (ex == NULL || (keys == NULL && n_keys > 0)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "verify: no expectations given");
        goto out;
    }
    /* 1. key: one of the pinned ones. */
    for (size_t i = 0; key_id != NULL && key_id[0] != '\0' && i < n_keys; i++) {
        if (strncmp(keys[i].key_id, key_id, sizeof(keys[i].key_id)) == 0 &&
            strlen(key_id) < sizeof(keys[i].key_id)) {
            key = &keys[i];
            break;
        }
    }
    if (key == NULL) {
        rc = ferry_err_set(
            err, FERRY_E_SIGNATURE_INVALID,
            "manifest signed by key '%.40s', which is not pinned on this node (bind again if the "
            "server's key was rotated)",
            nz(key_id));
        goto out;
    }
    /* 2. signature, before a single byte of the manifest is interpreted. */
    if (manifest == NULL || manifest_len == 0 || manifest_len > MANIFEST_MAX) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest is empty or larger than %d bytes",
                           MANIFEST_MAX);
        goto out;
    }
    if (sig == NULL || sig_len != FERRY_ED25519_SIG_LEN) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signature is %zu bytes, not %d",
                           sig != NULL ? sig_len : 0, FERRY_ED25519_SIG_LEN);
        goto out;
    }
    if ((rc = ferry_sign_verify(key->pub, manifest, manifest_len, sig, err)) != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_SIGNATURE_INVALID);
        ferry_err_prefix(err, "key %.40s", key->key_id);
        goto out;
    }
    /* 3. only now: decode (with the wire check protobuf-c lacks). */
    ferry_err_t perr = {0};
    if (ferry_pb_check(&ferry__v1__package_manifest__descriptor, manifest, manifest_len, &perr) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "signed manifest does not decode as a PackageManifest: %s", perr.msg);
        goto out;
    }
    if ((m = ferry__v1__package_manifest__unpack(NULL, manifest_len, manifest)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "signed manifest does not decode as a PackageManifest");
        goto out;
    }
    /* 4. freshness (TUF anti-freeze). */
    if (m->expires_at == NULL) {
        rc = ferry_err_set(err, FERRY_E_MANIFEST_EXPIRED,
                           "manifest carries no expiry: refused (freeze attack)");
        goto out;
    }
    int64_t expires = ts_ms(m->expires_at);
    if (expires <= ex->now_ms) {
        fmt_time(expires, when, sizeof(when));
        rc = ferry_err_set(err, FERRY_E_MANIFEST_EXPIRED, "manifest expired at %s", when);
        goto out;
    }
    /* 5. binding to this task and node (replay), or an offline manifest of this customer. */
    const char *mt = nz(m->task_id), *mn = nz(m->node_code), *mc = nz(m->customer_code);
    if (mt[0] == '\0' && mn[0] == '\0') {
        if (ex->task_id[0] != '\0') {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID,
                               "manifest signed for offline use (no task), not for task %.40s", ex->task_id);
            goto out;
        }
        if (mc[0] != '\0' && strcmp(mc, ex->customer_code) != 0) {
            rc =
                ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signed for customer %.40s, not %.40s",
                              mc, ex->customer_code[0] ? ex->customer_code : "(unknown)");
            goto out;
        }
    } else {
        if (strcmp(mt, ex->task_id) != 0) {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signed for task %.40s, not %.40s",
                               mt[0] ? mt : "(none)", ex->task_id[0] ? ex->task_id : "(offline)");
            goto out;
        }
        if (ex->node_code[0] != '\0' && strcmp(mn, ex->node_code) != 0) {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signed for node %.40s, not %.40s",
                               mn[0] ? mn : "(none)", ex->node_code);
            goto out;
        }
    }
    /* 6. identity: what the task and GetDownload announced. */
    const char *mv = nz(m->version), *ms = nz(m->sha256);
    if (ex->version[0] != '\0' && strcmp(mv, ex->version) != 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "manifest is for version %.60s, the task for %.60s",
                           mv, ex->version);
        goto out;
    }
    if (ex->size != 0 && m->size != ex->size) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "manifest says %llu bytes, the download %llu",
                           (unsigned long long)m->size, (unsigned long long)ex->size);
        goto out;
    }
    if (ex->sha256[0] != '\0' && strcmp(ms, ex->sha256) != 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "manifest SHA-256 %.16s... differs from the announced %.16s...", ms, ex->sha256);
        goto out;
    }
    if (!is_lower_hex64(ms) || m->size == 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "manifest lacks a size or a 64-digit lower-case SHA-256");
        goto out;
    }
    ferry_version_t v, inst;
    ferry_err_t verr = {0};
    if (ferry_version_parse(mv, &v, &verr) != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "manifest version: %s", verr.msg);
        goto out;
    }
    /* 7. anti-rollback: older than installed only through a signed ROLLBACK statement. */
    bool rollback = m->task_kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
    if (!rollback && ex->installed_version[0] != '\0' &&
        ferry_version_parse(ex->installed_version, &inst, NULL) == FERRY_OK &&
        ferry_version_compare(&v, &inst) < 0) {
        rc = ferry_err_set(err, FERRY_E_DOWNGRADE_REFUSED,
                           "version %.60s is older than the installed %.60s and was not signed as a rollback",
                           mv, ex->installed_version);
        goto out;
    }
    if (out != NULL) {
        snprintf(out->version, sizeof(out->version), "%s", mv);
        snprintf(out->sha256, sizeof(out->sha256), "%s", ms);
        out->size = m->size;
        out->rollback = rollback;
        out->expires_ms = expires;
        out->parts = part_bits(m);
    }
out:
    if (m != NULL)
        ferry__v1__package_manifest__free_unpacked(m, NULL);
    return rc;
}
