/*
 * The node's signed licence (license.h). Verification is pure; accept/load do the I/O:
 * state dir cache and the managed application's copy, both written crash-safely by
 * ferry_fs_write_atomic (temp, fsync, rename, fsync dir).
 */
#include "license.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentd.h"
#include "ferry/encoding.h"
#include "ferry/fs.h"
#include "ferry/hash.h"
#include "ferry/json.h"
#include "ferry/v1/common.pb-c.h"

#define DAY_MS        (24LL * 3600 * 1000)
#define EXPIRING_MS   (30 * DAY_MS)
#define CACHE_NAME    "license.pb"
#define DEFAULT_GRACE (7 * DAY_MS) /* the server's default, for a document without one */

static int64_t ts_ms(const Google__Protobuf__Timestamp *t)
{
    return t != NULL ? (int64_t)t->seconds * 1000 + t->nanos / 1000000 : 0;
}

ferry_err_code_t agentd_license_verify(const agentd_key_t *keys, size_t n_keys, const char *key_id,
                                       const uint8_t *doc, size_t doc_len, const uint8_t *sig, size_t sig_len,
                                       const char *node_code, agentd_license_t *out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    Ferry__V1__LicenseDocument *d = NULL;
    const agentd_key_t *k = NULL;
    for (size_t i = 0; i < n_keys && key_id != NULL; i++)
        if (strcmp(keys[i].key_id, key_id) == 0)
            k = &keys[i];
    if (k == NULL) {
        rc =
            ferry_err_set(err, FERRY_E_SIGNATURE_INVALID,
                          "licence signed by key '%.40s', which is not pinned", key_id != NULL ? key_id : "");
        goto out;
    }
    if (doc_len == 0 || doc_len > AGENTD_LICENSE_DOC_MAX) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "licence document of %zu bytes (1..%d allowed)",
                           doc_len, AGENTD_LICENSE_DOC_MAX);
        goto out;
    }
    if (sig_len != FERRY_ED25519_SIG_LEN) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "licence signature of %zu bytes, not %d", sig_len,
                           FERRY_ED25519_SIG_LEN);
        goto out;
    }
    /* The signature first: nothing of an unverified document is decoded. */
    if ((rc = ferry_sign_verify(k->pub, doc, doc_len, sig, err)) != FERRY_OK) {
        ferry_err_prefix(err, "licence signature (key %s)", k->key_id);
        goto out;
    }
    d = ferry__v1__license_document__unpack(NULL, doc_len, doc);
    if (d == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "licence document is not a LicenseDocument");
        goto out;
    }
    if (d->node_code == NULL || strcmp(d->node_code, node_code) != 0) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "licence issued for node '%.64s', not '%.64s'",
                           d->node_code != NULL ? d->node_code : "", node_code);
        goto out;
    }
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->have = true;
        ferry_sha256_hex(doc, doc_len, out->sha256);
        snprintf(out->license_id, sizeof(out->license_id), "%s", d->license_id ? d->license_id : "");
        snprintf(out->license_key, sizeof(out->license_key), "%s", d->license_key ? d->license_key : "");
        snprintf(out->node_code, sizeof(out->node_code), "%s", d->node_code);
        out->status = (int)d->status;
        out->starts_ms = ts_ms(d->starts_at);
        out->ends_ms = ts_ms(d->ends_at);
        out->grace_ms = d->offline_grace != NULL ? (int64_t)d->offline_grace->seconds * 1000 : DEFAULT_GRACE;
        out->revision = d->revision;
    }
out:
    if (d != NULL)
        ferry__v1__license_document__free_unpacked(d, NULL);
    return rc;
}

agentd_license_state_t agentd_license_eval(const agentd_license_t *l, int64_t now_ms)
{
    agentd_license_state_t s = {0};
    if (l == NULL || !l->have)
        return s;
    if (l->status == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_SUSPENDED ||
        l->status == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED ||
        l->status == FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED) {
        s.status = l->status; /* an admin's verdict holds at once, whatever the dates say */
        return s;
    }
    if (now_ms <= l->ends_ms) {
        s.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE;
        s.valid = true;
        s.remaining_ms = l->ends_ms - now_ms;
        s.expiring = s.remaining_ms <= EXPIRING_MS;
    } else if (now_ms <= l->ends_ms + l->grace_ms) {
        s.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE;
        s.valid = true;
        s.remaining_ms = l->ends_ms + l->grace_ms - now_ms;
    } else {
        s.status = FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED;
    }
    return s;
}

const char *agentd_license_status_name(int status)
{
    switch (status) {
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE:
        return "ACTIVE";
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE:
        return "GRACE";
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED:
        return "EXPIRED";
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_SUSPENDED:
        return "SUSPENDED";
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_REVOKED:
        return "REVOKED";
    default:
        return "NONE";
    }
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
    char *buf = malloc(FERRY_B64_ENCODED_SIZE(n));
    json_t *j = NULL;
    if (buf != NULL) {
        ferry_b64_encode(p, n, buf, 0, 1);
        j = json_string(buf);
    }
    free(buf);
    return j;
}

/* The managed application's copy: the signed bytes (to verify itself) and the decoded
 * licence (to read limits and features without a protobuf library). */
static ferry_err_code_t write_app_file(const char *path, const uint8_t *doc, size_t doc_len,
                                       const uint8_t *sig, size_t sig_len, const agentd_key_t *key,
                                       ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    Ferry__V1__LicenseDocument *d = ferry__v1__license_document__unpack(NULL, doc_len, doc);
    char *doc_json = NULL, *text = NULL;
    json_t *root = NULL, *lic = NULL;
    if (d == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "licence document is not a LicenseDocument");
        goto out;
    }
    if ((rc = ferry_json_encode(&d->base, 0, &doc_json, NULL, err)) != FERRY_OK)
        goto out;
    lic = json_loads(doc_json, 0, NULL);
    root = json_object();
    if (lic == NULL || root == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "licence file: out of memory");
        goto out;
    }
    json_object_set_new(root, "document", b64_json(doc, doc_len));
    json_object_set_new(root, "signature", b64_json(sig, sig_len));
    json_object_set_new(root, "keyId", json_string(key->key_id));
    json_object_set_new(root, "publicKey", b64_json(key->pub, sizeof(key->pub)));
    json_object_set_new(root, "license", lic);
    lic = NULL;
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "licence file: out of memory");
        goto out;
    }
    /* 0644: the managed service usually runs as another user and must read it; the
     * document holds no secret (the licence key is shown to the customer anyway). */
    if ((rc = ferry_fs_write_atomic(path, text, strlen(text), 0644, err)) != FERRY_OK)
        ferry_err_prefix(err, "license.file");
out:
    json_decref(lic);
    json_decref(root);
    free(text);
    free(doc_json);
    if (d != NULL)
        ferry__v1__license_document__free_unpacked(d, NULL);
    return rc;
}

/* Verifies against the binding and, when |cache|, stores the SignedLicense in the state
 * dir; then writes license.file and makes it current. */
static ferry_err_code_t take(agentd_t *ad, const uint8_t *doc, size_t doc_len, const uint8_t *sig,
                             size_t sig_len, const char *key_id, bool cache, ferry_err_t *err)
{
    ferry_err_code_t rc;
    agentd_license_t l;
    char file[4096] = "";
    uint8_t *packed = NULL;
    pthread_mutex_lock(&ad->mu);
    agentd_binding_t b = ad->binding;
    if (ad->cfg != NULL && ad->cfg->license.file != NULL)
        snprintf(file, sizeof(file), "%s", ad->cfg->license.file);
    pthread_mutex_unlock(&ad->mu);
    if ((rc = agentd_license_verify(b.keys, b.n_keys, key_id, doc, doc_len, sig, sig_len, b.node_code, &l,
                                    err)) != FERRY_OK)
        goto out;
    pthread_mutex_lock(&ad->mu);
    bool same = cache && ad->license.have && strcmp(ad->license.sha256, l.sha256) == 0;
    pthread_mutex_unlock(&ad->mu);
    if (same)
        goto out; /* CheckIn and the stream may both deliver one change: written once */
    if (cache) {
        Ferry__V1__SignedLicense sl = FERRY__V1__SIGNED_LICENSE__INIT;
        char path[600];
        sl.document.data = (uint8_t *)doc;
        sl.document.len = doc_len;
        sl.signature.data = (uint8_t *)sig;
        sl.signature.len = sig_len;
        sl.key_id = (char *)key_id;
        size_t n = ferry__v1__signed_license__get_packed_size(&sl);
        if ((packed = malloc(n)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "licence cache: out of memory");
            goto out;
        }
        ferry__v1__signed_license__pack(&sl, packed);
        snprintf(path, sizeof(path), "%s/" CACHE_NAME, ad->state_dir);
        if ((rc = ferry_fs_write_atomic(path, packed, n, 0600, err)) != FERRY_OK)
            goto out;
    }
    if (file[0] != '\0') {
        const agentd_key_t *k = NULL;
        for (size_t i = 0; i < b.n_keys; i++)
            if (strcmp(b.keys[i].key_id, key_id) == 0)
                k = &b.keys[i];
        /* The cache holds the licence already: a failed copy is retried at the next start
         * or delivery, and shows in the log. */
        if (write_app_file(file, doc, doc_len, sig, sig_len, k, err) != FERRY_OK)
            agentd_log("licence: %s", err->msg);
    }
    pthread_mutex_lock(&ad->mu);
    ad->license = l;
    agentd_changed_locked(ad);
    pthread_mutex_unlock(&ad->mu);
    agentd_log("licence %s (revision %llu, %s) verified%s%s", l.license_id, (unsigned long long)l.revision,
               agentd_license_status_name(agentd_license_eval(&l, agentd_now_ms()).status),
               file[0] ? ", written to " : "", file);
out:
    free(packed);
    return rc;
}

ferry_err_code_t agentd_license_accept(agentd_t *ad, const uint8_t *doc, size_t doc_len, const uint8_t *sig,
                                       size_t sig_len, const char *key_id, ferry_err_t *err)
{
    ferry_err_code_t rc = take(ad, doc, doc_len, sig, sig_len, key_id != NULL ? key_id : "", true, err);
    if (rc != FERRY_OK)
        agentd_log("licence refused (%s): %s; nothing cached or written", ferry_err_name(rc), err->msg);
    return rc;
}

void agentd_license_load(agentd_t *ad)
{
    char path[600];
    char *buf = NULL;
    size_t len = 0;
    ferry_err_t err = {0};
    Ferry__V1__SignedLicense *sl = NULL;
    snprintf(path, sizeof(path), "%s/" CACHE_NAME, ad->state_dir);
    if (!ferry_fs_exists(path))
        goto out;
    if (ferry_fs_read_file(path, 2 * AGENTD_LICENSE_DOC_MAX, &buf, &len, &err) != FERRY_OK) {
        agentd_log("licence cache: %s", err.msg);
        goto out;
    }
    sl = ferry__v1__signed_license__unpack(NULL, len, (const uint8_t *)buf);
    if (sl == NULL) {
        agentd_log("licence cache %s: not a SignedLicense; ignored (the server sends it again)", path);
        goto out;
    }
    /* Verified again: the state dir is not trusted more than the network. */
    if (take(ad, sl->document.data, sl->document.len, sl->signature.data, sl->signature.len,
             sl->key_id != NULL ? sl->key_id : "", false, &err) != FERRY_OK)
        agentd_log("licence cache %s refused (%s); ignored (the server sends it again)", path, err.msg);
out:
    if (sl != NULL)
        ferry__v1__signed_license__free_unpacked(sl, NULL);
    free(buf);
}
