/**
 * @file sign.h
 * Ed25519 signatures for package manifests (the server signs, agents verify before
 * trusting anything in a manifest), and HMAC-SHA256 signed URLs for blob downloads
 * and uploads. Over OpenSSL 3.
 */
#ifndef FERRY_SIGN_H
#define FERRY_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"

#define FERRY_ED25519_PUBLIC_LEN 32
#define FERRY_ED25519_SIG_LEN    64

typedef struct ferry_signer ferry_signer_t;

/** Generates a new Ed25519 private key and durably writes it as PKCS#8 PEM, mode 0600. */
ferry_err_code_t ferry_sign_keygen_file(const char *path, ferry_err_t *err);

/** Loads a private key written by ferry_sign_keygen_file(). NULL and |err| on failure. */
ferry_signer_t *ferry_signer_load(const char *pem_path, ferry_err_t *err);

/** Frees |s|; NULL is a no-op. */
void ferry_signer_free(ferry_signer_t *s);

/** The raw 32-byte public key (what agents pin). */
void ferry_signer_public_key(const ferry_signer_t *s, uint8_t out[FERRY_ED25519_PUBLIC_LEN]);

/** Signs |len| bytes of |msg|. */
ferry_err_code_t ferry_signer_sign(const ferry_signer_t *s, const void *msg, size_t len,
                                   uint8_t sig[FERRY_ED25519_SIG_LEN], ferry_err_t *err);

/**
 * Verifies |sig| over |msg| with the raw public key |pub|. FERRY_OK or
 * FERRY_E_SIGNATURE_INVALID. Constant work regardless of where a mismatch is.
 */
ferry_err_code_t ferry_sign_verify(const uint8_t pub[FERRY_ED25519_PUBLIC_LEN], const void *msg, size_t len,
                                   const uint8_t sig[FERRY_ED25519_SIG_LEN], ferry_err_t *err);

/* ---- signed URLs ---------------------------------------------------------- */

/** Longest query string ferry_signurl_make() writes ("expires=...&sig=<64 hex>"). */
#define FERRY_SIGNURL_QUERY_MAX 128

/**
 * Signs (|method|, |path|, |expires| unix seconds) with HMAC-SHA256 under |key| and
 * writes the query string `expires=<n>&sig=<hex>` into |query| (size >=
 * FERRY_SIGNURL_QUERY_MAX). |path| is the URL path without query, as the server will
 * see it (percent-encoding included).
 */
ferry_err_code_t ferry_signurl_make(const uint8_t *key, size_t key_len, const char *method, const char *path,
                                    int64_t expires, char *query, size_t size, ferry_err_t *err);

/**
 * Checks a request against its query string: the signature must match in constant
 * time and |now| must not be past `expires`. Other query parameters are ignored
 * (but not signed, so a handler must not trust them). FERRY_E_AUTH_INVALID with
 * "signed URL expired" / "signature mismatch" / "missing ..." otherwise.
 */
ferry_err_code_t ferry_signurl_verify(const uint8_t *key, size_t key_len, const char *method,
                                      const char *path, const char *query, int64_t now, ferry_err_t *err);

#endif
