/**
 * @file curl_tls_internal.h
 * libcurl set-up shared by the RPC client (rpc_client.c) and the transfer client
 * (transfer.c): the process-wide curl_global_init(), and the TLS settings of a client
 * (CA file, SPKI pin, test-only "accept any certificate") parsed once and applied to
 * each easy handle. Not installed; nothing outside lib/rpc/client includes it.
 */
#ifndef FERRY_RPC_CURL_TLS_INTERNAL_H
#define FERRY_RPC_CURL_TLS_INTERNAL_H

#include <stdbool.h>

#include <curl/curl.h>

#include "ferry/err.h"

/** Room for libcurl's pin form "sha256//<base64 of 32 bytes>" + NUL. */
#define FERRY_CURL_PIN_MAX 64

/** A client's TLS settings. Zero-initialise; free with ferry_curl_tls_free(). */
typedef struct ferry_curl_tls {
    char *ca_file;                /**< owned copy, NULL = system store */
    char pin[FERRY_CURL_PIN_MAX]; /**< "sha256//..." or "" (no pin) */
    bool insecure;                /**< tests only: no peer or host verification */
} ferry_curl_tls_t;

/**
 * Runs curl_global_init() once per process (thread-safe). Returns FERRY_OK, or
 * FERRY_E_INTERNAL with "|who|: curl_global_init: ..." in |err|.
 */
ferry_err_code_t ferry_curl_global_init(const char *who, ferry_err_t *err);

/**
 * Fills |t| from a client config: copies |ca_file| (NULL or "" = system store),
 * converts |pin_sha256| (NULL or "" = none; 64 hex digits, ':' allowed) to libcurl's
 * pin form. On error |t| holds nothing to free and |err| says
 * "|who|: pin_sha256 must be 64 hex digits (...)" (FERRY_E_INVALID_ARG) or names the
 * allocation (FERRY_E_NOMEM).
 */
ferry_err_code_t ferry_curl_tls_init(ferry_curl_tls_t *t, const char *ca_file, const char *pin_sha256,
                                     bool insecure, const char *who, ferry_err_t *err);

/** Frees what ferry_curl_tls_init() copied; |t| is zeroed. NULL ok. */
void ferry_curl_tls_free(ferry_curl_tls_t *t);

/**
 * Sets CAINFO, PINNEDPUBLICKEY and (insecure only) SSL_VERIFYPEER/HOST = 0 on |e|
 * (libcurl copies the strings). Harmless on a handle used for cleartext URLs.
 */
void ferry_curl_tls_apply(const ferry_curl_tls_t *t, CURL *e);

#endif
