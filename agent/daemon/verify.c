#include "verify.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry/engine/states.h"
#include "ferry/rpc.h"
#include "ferry/v1/common.pb-c.h"
#include "ferry/version.h"

/* Largest manifest accepted: a manifest lists a handful of parts (< 2 KiB in practice). */
#define MANIFEST_MAX (64 * 1024)

static void fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

ferry_err_code_t agentd_verify_manifest(const agentd_key_t *keys, size_t n_keys, const char *key_id,
                                        const uint8_t *manifest, size_t manifest_len, const uint8_t *sig,
                                        size_t sig_len, const agentd_expect_t *ex, agentd_manifest_t *out,
                                        ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const agentd_key_t *key = NULL;
    Ferry__V1__PackageManifest *m = NULL;
    char when[32];

    /* 1. key: one of the pinned ones. */
    for (size_t i = 0; key_id != NULL && i < n_keys; i++)
        if (strcmp(keys[i].key_id, key_id) == 0)
            key = &keys[i];
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
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signature is %zu bytes, not %d", sig_len,
                           FERRY_ED25519_SIG_LEN);
        goto out;
    }
    if ((rc = ferry_sign_verify(key->pub, manifest, manifest_len, sig, err)) != FERRY_OK) {
        ferry_err_prefix(err, "key %s", key->key_id);
        goto out;
    }
    /* 3. only now: decode (with the wire check protobuf-c lacks). */
    if (ferry_pb_check(&ferry__v1__package_manifest__descriptor, manifest, manifest_len, err) != FERRY_OK ||
        (m = ferry__v1__package_manifest__unpack(NULL, manifest_len, manifest)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "signed manifest does not decode as a PackageManifest");
        goto out;
    }
    /* 4. freshness (TUF anti-freeze). */
    int64_t expires =
        m->expires_at != NULL ? (int64_t)m->expires_at->seconds * 1000 + m->expires_at->nanos / 1000000 : 0;
    if (expires == 0) {
        rc = ferry_err_set(err, FERRY_E_MANIFEST_EXPIRED,
                           "manifest carries no expiry: refused (freeze attack)");
        goto out;
    }
    if (expires <= ex->now_ms) {
        fmt_time(expires, when, sizeof(when));
        rc = ferry_err_set(err, FERRY_E_MANIFEST_EXPIRED, "manifest expired at %s", when);
        goto out;
    }
    /* 5. binding to this task and node (replay). */
    const char *mt = nz(m->task_id), *mn = nz(m->node_code), *mc = nz(m->customer_code);
    if (mt[0] == '\0' && mn[0] == '\0') {
        if (ex->task_id[0] != '\0') {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID,
                               "an offline manifest (no task) was offered for task %.40s", ex->task_id);
            goto out;
        }
        if (mc[0] != '\0' && strcmp(mc, ex->customer_code) != 0) {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID,
                               "offline manifest is limited to customer %.40s, not %.40s", mc,
                               ex->customer_code);
            goto out;
        }
    } else {
        if (strcmp(mt, ex->task_id) != 0) {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signed for task %.40s, not %.40s",
                               mt, ex->task_id[0] ? ex->task_id : "(offline)");
            goto out;
        }
        if (ex->node_code[0] != '\0' && strcmp(mn, ex->node_code) != 0) {
            rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signed for node %.40s, not %.40s",
                               mn, ex->node_code);
            goto out;
        }
    }
    /* 6. identity: what the task and GetDownload announced. */
    const char *mv = nz(m->version);
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
    if (ex->sha256[0] != '\0' && strcmp(nz(m->sha256), ex->sha256) != 0) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID,
                           "manifest SHA-256 %.16s... differs from the announced %.16s...", nz(m->sha256),
                           ex->sha256);
        goto out;
    }
    if (strlen(nz(m->sha256)) != 64) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "manifest SHA-256 is not 64 hex digits");
        goto out;
    }
    ferry_version_t v, inst;
    if (ferry_version_parse(mv, &v, err) != FERRY_OK) {
        rc = ferry_err_recode(err, FERRY_E_PACKAGE_INVALID);
        goto out;
    }
    /* 7. anti-rollback: older than installed only through a ROLLBACK statement. */
    bool rollback = m->task_kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
    if (ex->installed_version[0] != '\0' &&
        ferry_version_parse(ex->installed_version, &inst, NULL) == FERRY_OK &&
        ferry_version_compare(&v, &inst) < 0 && !rollback) {
        rc = ferry_err_set(
            err, FERRY_E_DOWNGRADE_REFUSED,
            "version %.60s is older than the installed %.60s and the server issued no rollback for it", mv,
            ex->installed_version);
        goto out;
    }
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        snprintf(out->version, sizeof(out->version), "%s", mv);
        snprintf(out->sha256, sizeof(out->sha256), "%s", m->sha256);
        out->size = m->size;
        out->rollback = rollback;
        out->expires_ms = expires;
        for (size_t i = 0; i < m->n_parts; i++) {
            switch (m->parts[i]->kind) {
            case FERRY__V1__PART_KIND__PART_KIND_SERVER_ZIP:
                out->parts |= FERRY_PART_SERVER;
                break;
            case FERRY__V1__PART_KIND__PART_KIND_CLIENT_ZIP:
                out->parts |= FERRY_PART_CLIENT;
                break;
            case FERRY__V1__PART_KIND__PART_KIND_SCHEMA_SQL:
                out->parts |= FERRY_PART_SQL_SCHEMA;
                break;
            case FERRY__V1__PART_KIND__PART_KIND_DATA_SQL:
                out->parts |= FERRY_PART_SQL_DATA;
                break;
            default:
                break;
            }
        }
    }
out:
    if (m != NULL)
        ferry__v1__package_manifest__free_unpacked(m, NULL);
    return rc;
}
