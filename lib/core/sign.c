#include "ferry/sign.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "ferry/encoding.h"
#include "ferry/fs.h"

struct ferry_signer {
    EVP_PKEY *key;
};

ferry_err_code_t ferry_sign_keygen_file(const char *path, ferry_err_t *err)
{
    EVP_PKEY *key = NULL;
    BIO *mem = NULL;
    ferry_err_code_t rc = FERRY_OK;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "generate Ed25519 key failed");
        goto out;
    }
    mem = BIO_new(BIO_s_mem());
    if (mem == NULL || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "encode Ed25519 key failed");
        goto out;
    }
    char *pem = NULL;
    long len = BIO_get_mem_data(mem, &pem);
    rc = ferry_fs_write_atomic(path, pem, (size_t)len, 0600, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "write signing key");
out:
    BIO_free(mem);
    EVP_PKEY_free(key);
    return rc;
}

ferry_signer_t *ferry_signer_load(const char *pem_path, ferry_err_t *err)
{
    char *pem = NULL;
    size_t len = 0;
    BIO *mem = NULL;
    ferry_signer_t *s = NULL;
    if (ferry_fs_read_file(pem_path, 64 * 1024, &pem, &len, err) != FERRY_OK) {
        ferry_err_prefix(err, "load signing key");
        goto out;
    }
    mem = BIO_new_mem_buf(pem, (int)len);
    s = calloc(1, sizeof(*s));
    if (mem == NULL || s == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "load signing key: out of memory");
        goto fail;
    }
    s->key = PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL);
    if (s->key == NULL || EVP_PKEY_get_id(s->key) != EVP_PKEY_ED25519) {
        ferry_err_set(err, FERRY_E_CORRUPT, "load signing key '%s': not an Ed25519 private key", pem_path);
        goto fail;
    }
    goto out;
fail:
    ferry_signer_free(s);
    s = NULL;
out:
    BIO_free(mem);
    if (pem != NULL) {
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    return s;
}

void ferry_signer_free(ferry_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

void ferry_signer_public_key(const ferry_signer_t *s, uint8_t out[FERRY_ED25519_PUBLIC_LEN])
{
    size_t n = FERRY_ED25519_PUBLIC_LEN;
    EVP_PKEY_get_raw_public_key(s->key, out, &n);
}

ferry_err_code_t ferry_signer_sign(const ferry_signer_t *s, const void *msg, size_t len,
                                   uint8_t sig[FERRY_ED25519_SIG_LEN], ferry_err_t *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = FERRY_ED25519_SIG_LEN;
    ferry_err_code_t rc = FERRY_OK;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 || siglen != FERRY_ED25519_SIG_LEN)
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "Ed25519 sign failed");
    EVP_MD_CTX_free(ctx);
    return rc;
}

ferry_err_code_t ferry_sign_verify(const uint8_t pub[FERRY_ED25519_PUBLIC_LEN], const void *msg, size_t len,
                                   const uint8_t sig[FERRY_ED25519_SIG_LEN], ferry_err_t *err)
{
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, FERRY_ED25519_PUBLIC_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ferry_err_code_t rc = FERRY_OK;
    if (key == NULL || ctx == NULL) {
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "bad Ed25519 public key");
        goto out;
    }
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1 ||
        EVP_DigestVerify(ctx, sig, FERRY_ED25519_SIG_LEN, msg, len) != 1)
        rc = ferry_err_set(err, FERRY_E_SIGNATURE_INVALID, "manifest signature does not verify");
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return rc;
}

static ferry_err_code_t mac(const uint8_t *key, size_t key_len, const char *method, const char *path,
                            int64_t expires, char hex[65], ferry_err_t *err)
{
    char expbuf[24];
    uint8_t md[32];
    unsigned int mdlen = 0;
    snprintf(expbuf, sizeof(expbuf), "%" PRId64, expires);
    /* Fields are NUL-separated: no field can contain NUL, so no two triples share
     * a canonical form. */
    size_t ml = strlen(method), pl = strlen(path), el = strlen(expbuf);
    size_t total = ml + 1 + pl + 1 + el;
    char *canon = malloc(total);
    if (canon == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "signed URL: out of memory");
    memcpy(canon, method, ml);
    canon[ml] = '\0';
    memcpy(canon + ml + 1, path, pl);
    canon[ml + 1 + pl] = '\0';
    memcpy(canon + ml + 2 + pl, expbuf, el);
    unsigned char *r = HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)canon, total, md, &mdlen);
    free(canon);
    if (r == NULL || mdlen != 32)
        return ferry_err_set(err, FERRY_E_INTERNAL, "signed URL: HMAC failed");
    ferry_hex_encode(md, 32, hex);
    return FERRY_OK;
}

ferry_err_code_t ferry_signurl_make(const uint8_t *key, size_t key_len, const char *method, const char *path,
                                    int64_t expires, char *query, size_t size, ferry_err_t *err)
{
    char hex[65];
    ferry_err_code_t rc = mac(key, key_len, method, path, expires, hex, err);
    if (rc != FERRY_OK)
        return rc;
    int n = snprintf(query, size, "expires=%" PRId64 "&sig=%s", expires, hex);
    if (n < 0 || (size_t)n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "signed URL: query buffer too small");
    return FERRY_OK;
}

/* Finds |name|=value in an &-separated query; returns the value length or -1. */
static long query_param(const char *query, const char *name, const char **val)
{
    size_t nl = strlen(name);
    const char *p = query;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *val = p + nl + 1;
            return (long)(len - nl - 1);
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

ferry_err_code_t ferry_signurl_verify(const uint8_t *key, size_t key_len, const char *method,
                                      const char *path, const char *query, int64_t now, ferry_err_t *err)
{
    const char *exp_s = NULL, *sig_s = NULL;
    long exp_len = query != NULL ? query_param(query, "expires", &exp_s) : -1;
    long sig_len = query != NULL ? query_param(query, "sig", &sig_s) : -1;
    if (exp_len <= 0 || exp_len > 19)
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "signed URL: missing or malformed 'expires'");
    if (sig_len != 64)
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "signed URL: missing or malformed 'sig'");
    int64_t expires = 0;
    for (long i = 0; i < exp_len; i++) {
        if (exp_s[i] < '0' || exp_s[i] > '9')
            return ferry_err_set(err, FERRY_E_AUTH_INVALID, "signed URL: malformed 'expires'");
        expires = expires * 10 + (exp_s[i] - '0');
    }
    char want[65];
    ferry_err_code_t rc = mac(key, key_len, method, path, expires, want, err);
    if (rc != FERRY_OK)
        return rc;
    char got[65];
    for (int i = 0; i < 64; i++)
        got[i] = (char)((sig_s[i] >= 'A' && sig_s[i] <= 'F') ? sig_s[i] + 32 : sig_s[i]);
    got[64] = '\0';
    /* Check the MAC before the expiry so a forged URL never learns whether its
     * expiry would have been accepted. */
    if (!ferry_ct_equal(want, got, 64))
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "signed URL: signature mismatch");
    if (now > expires)
        return ferry_err_set(err, FERRY_E_AUTH_INVALID, "signed URL expired at %" PRId64 " (now %" PRId64 ")",
                             expires, now);
    return FERRY_OK;
}
