/* The definitions below: without the analyzer-only wrappers of err.h. */
#define FERRY_ERR_IMPL
#include "ferry/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    ferry_err_code_t code;
    const char *name;
} names[] = {
    {FERRY_OK, "OK"},
    {FERRY_E_INVALID_ARG, "E_INVALID_ARG"},
    {FERRY_E_NOMEM, "E_NOMEM"},
    {FERRY_E_IO, "E_IO"},
    {FERRY_E_NOSPACE, "E_NOSPACE"},
    {FERRY_E_NOT_FOUND, "E_NOT_FOUND"},
    {FERRY_E_EXISTS, "E_EXISTS"},
    {FERRY_E_PERMISSION, "E_PERMISSION"},
    {FERRY_E_UNAUTHENTICATED, "E_UNAUTHENTICATED"},
    {FERRY_E_TIMEOUT, "E_TIMEOUT"},
    {FERRY_E_CANCELED, "E_CANCELED"},
    {FERRY_E_UNAVAILABLE, "E_UNAVAILABLE"},
    {FERRY_E_PRECONDITION, "E_PRECONDITION"},
    {FERRY_E_TOO_LARGE, "E_TOO_LARGE"},
    {FERRY_E_CORRUPT, "E_CORRUPT"},
    {FERRY_E_UNSUPPORTED, "E_UNSUPPORTED"},
    {FERRY_E_INTERNAL, "E_INTERNAL"},
    {FERRY_E_PROTOCOL, "E_PROTOCOL"},
    {FERRY_E_AUTH_INVALID, "E_AUTH_INVALID"},
    {FERRY_E_VERSION_DUPLICATE, "E_VERSION_DUPLICATE"},
    {FERRY_E_PACKAGE_INVALID, "E_PACKAGE_INVALID"},
    {FERRY_E_DOWNLOAD_FAILED, "E_DOWNLOAD_FAILED"},
    {FERRY_E_HASH_MISMATCH, "E_HASH_MISMATCH"},
    {FERRY_E_SERVICE_STOP_TIMEOUT, "E_SERVICE_STOP_TIMEOUT"},
    {FERRY_E_SERVICE_STOP_FAILED, "E_SERVICE_STOP_FAILED"},
    {FERRY_E_BACKUP_FAILED_SERVER, "E_BACKUP_FAILED_SERVER"},
    {FERRY_E_BACKUP_FAILED_CLIENT, "E_BACKUP_FAILED_CLIENT"},
    {FERRY_E_BACKUP_FAILED_DB, "E_BACKUP_FAILED_DB"},
    {FERRY_E_INSTALL_FAILED_SERVER, "E_INSTALL_FAILED_SERVER"},
    {FERRY_E_INSTALL_FAILED_CLIENT, "E_INSTALL_FAILED_CLIENT"},
    {FERRY_E_SQL_FAILED_SCHEMA, "E_SQL_FAILED_SCHEMA"},
    {FERRY_E_SQL_FAILED_DATA, "E_SQL_FAILED_DATA"},
    {FERRY_E_SERVICE_START_FAILED, "E_SERVICE_START_FAILED"},
    {FERRY_E_ROLLBACK_FAILED, "E_ROLLBACK_FAILED"},
    {FERRY_E_BACKUP_MISSING, "E_BACKUP_MISSING"},
    {FERRY_E_SIGNATURE_INVALID, "E_SIGNATURE_INVALID"},
    {FERRY_E_VERSION_INVALID, "E_VERSION_INVALID"},
    {FERRY_E_TRANSITION_INVALID, "E_TRANSITION_INVALID"},
    {FERRY_E_MANIFEST_EXPIRED, "E_MANIFEST_EXPIRED"},
    {FERRY_E_DOWNGRADE_REFUSED, "E_DOWNGRADE_REFUSED"},
    {FERRY_E_PRECHECK_FAILED, "E_PRECHECK_FAILED"},
    {FERRY_E_HOOK_FAILED, "E_HOOK_FAILED"},
};

const char *ferry_err_name(ferry_err_code_t code)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == code)
            return names[i].name;
    return "E_UNKNOWN";
}

ferry_err_code_t ferry_err_from_name(const char *name)
{
    if (name == NULL)
        return FERRY_OK;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].code;
    return FERRY_OK;
}

/* Truncation is marked so a reader knows the message was cut, not wrong. */
static void mark_truncated(char *buf, int wanted)
{
    if (wanted >= FERRY_ERR_MSG_MAX)
        memcpy(buf + FERRY_ERR_MSG_MAX - 4, "...", 4);
}

ferry_err_code_t ferry_err_set(ferry_err_t *err, ferry_err_code_t code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    mark_truncated(err->msg, n);
    err->code = code;
    return code;
}

ferry_err_code_t ferry_err_set_errno(ferry_err_t *err, ferry_err_code_t code, int errnum, const char *fmt,
                                     ...)
{
    if (err == NULL)
        return code;
    char head[FERRY_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    if (n < 0)
        head[0] = '\0';
    char ebuf[128];
    const char *etext = strerror_r(errnum, ebuf, sizeof(ebuf));
    n = snprintf(err->msg, sizeof(err->msg), "%s: %s", head, etext);
    mark_truncated(err->msg, n);
    err->code = code;
    return code;
}

ferry_err_code_t ferry_err_from_errno(int errnum)
{
    switch (errnum) {
    case ENOSPC:
    case EDQUOT:
        return FERRY_E_NOSPACE;
    case ENOENT:
    case ENOTDIR:
        return FERRY_E_NOT_FOUND;
    case EEXIST:
    case ENOTEMPTY:
        return FERRY_E_EXISTS;
    case EACCES:
    case EPERM:
    case EROFS:
        return FERRY_E_PERMISSION;
    case ENOMEM:
        return FERRY_E_NOMEM;
    case ETIMEDOUT:
        return FERRY_E_TIMEOUT;
    case EINVAL:
        return FERRY_E_INVALID_ARG;
    case EFBIG:
        return FERRY_E_TOO_LARGE;
    default:
        return FERRY_E_IO;
    }
}

ferry_err_code_t ferry_err_prefix(ferry_err_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return FERRY_E_INTERNAL;
    char ctx[FERRY_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    if (n < 0)
        return err->code;
    char old[FERRY_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof(old));
    n = snprintf(err->msg, sizeof(err->msg), "%s: %s", ctx, old);
    mark_truncated(err->msg, n);
    return err->code;
}

ferry_err_code_t ferry_err_recode(ferry_err_t *err, ferry_err_code_t code)
{
    if (err == NULL)
        return code;
    err->code = code;
    return code;
}

void ferry_err_clear(ferry_err_t *err)
{
    if (err == NULL)
        return;
    err->code = FERRY_OK;
    err->msg[0] = '\0';
}
