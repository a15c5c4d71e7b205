/* libcurl set-up shared by the RPC and transfer clients: see curl_tls_internal.h. */
#include "curl_tls_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_util_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

ferry_err_code_t ferry_curl_global_init(const char *who, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "%s: curl_global_init: %s", who,
                           curl_easy_strerror(curl_init_rc));
    return rc;
}

ferry_err_code_t ferry_curl_tls_init(ferry_curl_tls_t *t, const char *ca_file, const char *pin_sha256,
                                     bool insecure, const char *who, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    memset(t, 0, sizeof(*t));
    if (pin_sha256 != NULL && pin_sha256[0] != '\0' &&
        ferry_rpc_pin_from_hex(pin_sha256, t->pin, sizeof(t->pin)) != 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "%s: pin_sha256 must be 64 hex digits (SHA-256 of the server's public key)", who);
        goto out;
    }
    if (ca_file != NULL && ca_file[0] != '\0' && (t->ca_file = strdup(ca_file)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", who);
        goto out;
    }
    t->insecure = insecure;
out:
    if (rc != FERRY_OK)
        memset(t, 0, sizeof(*t));
    return rc;
}

void ferry_curl_tls_free(ferry_curl_tls_t *t)
{
    if (t == NULL)
        return;
    free(t->ca_file);
    memset(t, 0, sizeof(*t));
}

void ferry_curl_tls_apply(const ferry_curl_tls_t *t, CURL *e)
{
    if (t->ca_file != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    if (t->pin[0] != '\0')
        curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, t->pin);
    if (t->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}
