#include <string.h>

#include "ferry/rpc.h"

static const char *const code_names[] = {
    "ok",        "canceled",        "unknown",           "invalid_argument",   "deadline_exceeded",
    "not_found", "already_exists",  "permission_denied", "resource_exhausted", "failed_precondition",
    "aborted",   "out_of_range",    "unimplemented",     "internal",           "unavailable",
    "data_loss", "unauthenticated",
};

const char *ferry_rpc_code_name(ferry_rpc_code_t code)
{
    if ((unsigned)code >= sizeof(code_names) / sizeof(code_names[0]))
        return "unknown";
    return code_names[code];
}

int ferry_rpc_code_from_name(const char *name, ferry_rpc_code_t *out)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(code_names) / sizeof(code_names[0]); i++) {
        if (strcmp(code_names[i], name) == 0) {
            *out = (ferry_rpc_code_t)i;
            return 0;
        }
    }
    return -1;
}

int ferry_rpc_code_to_http(ferry_rpc_code_t code)
{
    switch (code) {
    case FERRY_RPC_OK:
        return 200;
    case FERRY_RPC_CANCELED:
        return 499;
    case FERRY_RPC_INVALID_ARGUMENT:
    case FERRY_RPC_FAILED_PRECONDITION:
    case FERRY_RPC_OUT_OF_RANGE:
        return 400;
    case FERRY_RPC_DEADLINE_EXCEEDED:
        return 504;
    case FERRY_RPC_NOT_FOUND:
        return 404;
    case FERRY_RPC_ALREADY_EXISTS:
    case FERRY_RPC_ABORTED:
        return 409;
    case FERRY_RPC_PERMISSION_DENIED:
        return 403;
    case FERRY_RPC_RESOURCE_EXHAUSTED:
        return 429;
    case FERRY_RPC_UNIMPLEMENTED:
        return 501;
    case FERRY_RPC_UNAVAILABLE:
        return 503;
    case FERRY_RPC_UNAUTHENTICATED:
        return 401;
    case FERRY_RPC_UNKNOWN:
    case FERRY_RPC_INTERNAL:
    case FERRY_RPC_DATA_LOSS:
    default:
        return 500;
    }
}

ferry_rpc_code_t ferry_rpc_code_from_http(int http_status)
{
    switch (http_status) {
    case 200:
        return FERRY_RPC_OK;
    case 400:
        return FERRY_RPC_INTERNAL;
    case 401:
        return FERRY_RPC_UNAUTHENTICATED;
    case 403:
        return FERRY_RPC_PERMISSION_DENIED;
    case 404:
        return FERRY_RPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return FERRY_RPC_UNAVAILABLE;
    default:
        return FERRY_RPC_UNKNOWN;
    }
}

ferry_rpc_code_t ferry_rpc_code_from_err(ferry_err_code_t code)
{
    switch (code) {
    case FERRY_OK:
        return FERRY_RPC_OK;
    case FERRY_E_INVALID_ARG:
    case FERRY_E_PACKAGE_INVALID:
    case FERRY_E_VERSION_INVALID:
    case FERRY_E_HASH_MISMATCH:
    case FERRY_E_SIGNATURE_INVALID:
        return FERRY_RPC_INVALID_ARGUMENT;
    case FERRY_E_NOT_FOUND:
    case FERRY_E_BACKUP_MISSING:
        return FERRY_RPC_NOT_FOUND;
    case FERRY_E_EXISTS:
    case FERRY_E_VERSION_DUPLICATE:
        return FERRY_RPC_ALREADY_EXISTS;
    case FERRY_E_PERMISSION:
        return FERRY_RPC_PERMISSION_DENIED;
    case FERRY_E_UNAUTHENTICATED:
    case FERRY_E_AUTH_INVALID:
        return FERRY_RPC_UNAUTHENTICATED;
    case FERRY_E_TIMEOUT:
        return FERRY_RPC_DEADLINE_EXCEEDED;
    case FERRY_E_CANCELED:
        return FERRY_RPC_CANCELED;
    case FERRY_E_UNAVAILABLE:
        return FERRY_RPC_UNAVAILABLE;
    case FERRY_E_PRECONDITION:
    case FERRY_E_TRANSITION_INVALID:
    case FERRY_E_MANIFEST_EXPIRED:
    case FERRY_E_DOWNGRADE_REFUSED:
        return FERRY_RPC_FAILED_PRECONDITION;
    case FERRY_E_TOO_LARGE:
    case FERRY_E_NOSPACE:
        return FERRY_RPC_RESOURCE_EXHAUSTED;
    case FERRY_E_CORRUPT:
        return FERRY_RPC_DATA_LOSS;
    case FERRY_E_UNSUPPORTED:
        return FERRY_RPC_UNIMPLEMENTED;
    case FERRY_E_NOMEM:
        return FERRY_RPC_RESOURCE_EXHAUSTED;
    default:
        /* Agent-side failure codes (E_SQL_FAILED_*, E_SERVICE_*...) reaching the RPC
         * boundary are server-side faults from the caller's point of view. */
        return FERRY_RPC_INTERNAL;
    }
}
