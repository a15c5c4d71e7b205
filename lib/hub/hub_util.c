/*
 * The handlers' plumbing (see hub_util.h): offload, failure with the audit's error
 * name, paging, transactions, argument checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "hub_util.h"

/* ---- offload and failure -------------------------------------------------------------- */

typedef struct hub_job {
    ferry_hub_t *hub;
    const void *req;
    hub_work_fn fn;
} hub_job_t;

static void job_run(ferry_rpc_call_t *call, void *arg)
{
    hub_job_t j = *(hub_job_t *)arg;
    free(arg);
    j.fn(call, j.hub, j.req);
}

void hub_offload(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, hub_work_fn fn)
{
    hub_job_t *j = malloc(sizeof(*j));
    ferry_err_t err = {0};

    if (j == NULL) {
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server out of memory");
        goto fail;
    }
    *j = (hub_job_t){hub, req, fn};
    if (ferry_rpc_call_offload(call, job_run, j) != FERRY_OK) {
        free(j);
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server busy: worker pool full, retry later");
        goto fail;
    }
    return;
fail:
    hub_fail(call, &err);
}

const hub_principal_t *hub_node_principal(ferry_rpc_call_t *call)
{
    const hub_principal_t *p = hub_principal(call);
    if (p == NULL || p->kind != HUB_PRINCIPAL_NODE || p->node_id <= 0) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNAUTHENTICATED, "E_AUTH_INVALID", "a node token is required");
        p = NULL;
    }
    return p;
}

void hub_fail(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    if (ctx != NULL)
        snprintf(ctx->error_code, sizeof(ctx->error_code), "%s", ferry_err_name(err->code));
    ferry_rpc_call_fail_err(call, err);
}

void hub_fail_named(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    hub_fail(call, err);
}

void hub_fail_tx(ferry_hub_t *hub, ferry_rpc_call_t *call, const ferry_err_t *err, bool locked)
{
    if (locked) {
        hub_tx_rollback(hub);
        hub_db_unlock(hub);
    }
    hub_fail(call, err);
}

/* ---- paging ------------------------------------------------------------------------------ */

int hub_page_limit(int32_t requested)
{
    return ferry_store_page_limit(requested);
}

int64_t hub_page_token_parse(const char *token)
{
    char *end = NULL;
    long long v;

    if (token == NULL || token[0] == '\0')
        return 0;
    if (token[0] < '0' || token[0] > '9')
        return -1;
    v = strtoll(token, &end, 10);
    if (end == NULL || *end != '\0' || v < 0)
        return -1;
    return (int64_t)v;
}

ferry_err_code_t hub_page_token_read(const char *token, int64_t *out, ferry_err_t *err)
{
    *out = hub_page_token_parse(token);
    if (*out < 0) {
        *out = 0;
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "page_token '%.32s' is not one this server issued",
                             token);
    }
    return FERRY_OK;
}

/* ---- transactions ---------------------------------------------------------------------- */

ferry_err_code_t hub_tx_begin(ferry_hub_t *hub, ferry_err_t *err)
{
    return ferry_store_tx_begin(hub->store, err);
}

ferry_err_code_t hub_tx_commit(ferry_hub_t *hub, ferry_err_t *err)
{
    return ferry_store_tx_commit(hub->store, err);
}

void hub_tx_rollback(ferry_hub_t *hub)
{
    ferry_store_tx_rollback(hub->store);
}

/* ---- values and arguments ----------------------------------------------------------------------- */

int64_t hub_ts_ms(const Google__Protobuf__Timestamp *ts)
{
    return ts != NULL ? ts->seconds * 1000 + ts->nanos / 1000000 : 0;
}

char *hub_strdup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

ferry_err_code_t hub_check_code(const char *field, const char *code, ferry_err_t *err)
{
    size_t n = code != NULL ? strlen(code) : 0;
    if (n == 0 || n > 64)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be 1..64 characters (got %zu)", field, n);
    for (size_t i = 0; i < n; i++) {
        char c = code[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "%s '%.64s': only letters, digits, '-' and '_' are allowed", field, code);
    }
    return FERRY_OK;
}

ferry_err_code_t hub_parse_id(const char *s, const char *what, int64_t *out, ferry_err_t *err)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        goto bad;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        goto bad;
    *out = v;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%.40s' is not an id", what, s != NULL ? s : "");
}
