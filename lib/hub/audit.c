/*
 * The audit log: one row per mutating AdminService call, success or not.
 *
 * Who writes the row:
 *   - on success, the handler, with hub_audit(..., "ok") inside its own transaction,
 *     so the change and its audit row commit together;
 *   - on failure or refusal (wrong role), the interceptor's `after` hook
 *     (hub_audit_after), with the targets the handler announced (hub_audit_target)
 *     and the error name hub_fail() recorded; a successful call whose handler wrote
 *     no row also gets a row there (without targets), so nothing goes unrecorded.
 * Calls without a valid token are not attributable to anyone: they are logged
 * (auth.c) but not written here, so an anonymous flood cannot grow the table.
 * The after hook runs on an event-loop thread and takes the DB lock briefly (one
 * insert); only failed mutating admin calls pay that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "hub_audit.h"
#include "ferry/log.h"

#define AUDIT_TARGETS_MAX FERRY_STORE_AUDIT_TARGETS_MAX

/* Per-call audit state lives in the call context (auth.c) so the after hook sees
 * what the handler did. The targets are kept beside it. */
typedef struct audit_state {
    char targets[AUDIT_TARGETS_MAX];
    bool wrote_failure;
} audit_state_t;

static const char state_key = 'A';

static audit_state_t *state_of(ferry_rpc_call_t *call, bool create)
{
    audit_state_t *s = ferry_rpc_call_get_data(call, &state_key);
    if (s == NULL && create && (s = calloc(1, sizeof(*s))) != NULL)
        ferry_rpc_call_set_data(call, &state_key, s, free);
    return s;
}

/** Announces the call's target(s) before the outcome is known ("customer:ACME"). */
void hub_audit_target(ferry_rpc_call_t *call, const char *target)
{
    audit_state_t *s = state_of(call, true);
    if (s != NULL && target != NULL)
        snprintf(s->targets, sizeof(s->targets), "%s", target);
}

void hub_audit_actor_of(const ferry_rpc_call_t *call, hub_audit_actor_t *out)
{
    const hub_call_ctx_t *ctx = hub_call_ctx(call);
    const ferry_rpc_method_t *m = call != NULL ? ferry_rpc_call_method(call) : NULL;

    memset(out, 0, sizeof(*out));
    if (call == NULL)
        return;
    if (ctx != NULL && ctx->has_principal) {
        snprintf(out->token_id, sizeof(out->token_id), "%s", ctx->p.token_id);
        out->role = ctx->p.role;
    }
    if (ctx != NULL)
        snprintf(out->name, sizeof(out->name), "%s", ctx->name);
    if (m != NULL)
        snprintf(out->method, sizeof(out->method), "%s/%s", m->service, m->name);
    snprintf(out->request_id, sizeof(out->request_id), "%s", ferry_rpc_call_request_id(call));
    snprintf(out->peer, sizeof(out->peer), "%s", ferry_rpc_call_peer(call));
}

/* Inserts one row (+ its split targets). Caller holds the DB lock. */
static ferry_err_code_t insert_row(ferry_store_t *s, const hub_audit_actor_t *who, const char *target,
                                   int outcome, const char *error_code, ferry_err_t *err)
{
    ferry_store_audit_row_t row = {
        .at = hub_now_ms(),
        .actor_token_id = who->token_id,
        .actor_name = who->name,
        .actor_role = who->role,
        .method = who->method,
        .target = target,
        .request_id = who->request_id,
        .outcome = outcome,
        .error_code = error_code,
        .remote_addr = who->peer,
    };
    return ferry_store_audit_insert(s, &row, err);
}

ferry_err_code_t hub_audit_write(ferry_store_t *s, const hub_audit_actor_t *who, const char *target,
                                 const char *error_code, ferry_err_t *err)
{
    int outcome = FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS;

    if (error_code != NULL && error_code[0] != '\0')
        outcome = strcmp(error_code, "E_PERMISSION") == 0 ? FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_DENIED
                                                          : FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE;
    return insert_row(s, who, target, outcome, error_code != NULL ? error_code : "", err);
}

void hub_audit_written(ferry_rpc_call_t *call, const char *target, bool ok)
{
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    audit_state_t *s;

    if (call == NULL)
        return;
    s = state_of(call, true);
    if (ctx != NULL)
        ctx->audited = true;
    if (s != NULL) {
        if (target != NULL)
            snprintf(s->targets, sizeof(s->targets), "%s", target);
        if (!ok)
            s->wrote_failure = true;
    }
}

ferry_err_code_t hub_audit(ferry_hub_t *hub, const ferry_rpc_call_t *ccall, const char *target,
                           const char *outcome, ferry_err_t *err)
{
    /* The call is not modified in any way a client can see; the const in the shared
     * contract is about that. The per-call slot is ours. */
    ferry_rpc_call_t *call = (ferry_rpc_call_t *)ccall;
    bool ok = outcome == NULL || strcmp(outcome, "ok") == 0;
    hub_audit_actor_t who;
    ferry_err_code_t rc;

    hub_audit_actor_of(call, &who);
    rc = insert_row(hub->store, &who, target,
                    ok ? FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS
                       : FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE,
                    ok ? "" : outcome, err);
    if (rc == FERRY_OK)
        hub_audit_written(call, target, ok);
    return rc;
}

void hub_audit_after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user);

void hub_audit_after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user)
{
    ferry_hub_t *hub = user;
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    audit_state_t *s = state_of(call, false);
    ferry_err_t err = {0};
    hub_audit_actor_t who;
    int outcome;
    const char *ecode;

    (void)duration_ns;
    if (ctx == NULL || !ctx->mutating_admin || !ctx->has_principal)
        return;
    if (code == FERRY_RPC_OK && ctx->audited)
        return;
    if (code != FERRY_RPC_OK && s != NULL && s->wrote_failure)
        return;
    if (code == FERRY_RPC_OK) {
        outcome = FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS;
        ecode = "";
    } else {
        outcome = code == FERRY_RPC_PERMISSION_DENIED && strcmp(ctx->error_code, "E_PERMISSION") == 0 &&
                          !ctx->audited
                      ? FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_DENIED
                      : FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE;
        ecode = ctx->error_code[0] != '\0' ? ctx->error_code : ferry_rpc_code_name(code);
    }
    hub_audit_actor_of(call, &who);
    hub_db_lock(hub);
    if (insert_row(hub->store, &who, s != NULL ? s->targets : "", outcome, ecode, &err) != FERRY_OK)
        FERRY_ERROR("audit: %s: could not record %s: %s", ferry_rpc_call_request_id(call),
                    ferry_rpc_call_method(call)->path, err.msg);
    hub_db_unlock(hub);
}

/* ---- ListAuditLogs ------------------------------------------------------------------ */

static void list_audit_logs(ferry_rpc_call_t *call, const Ferry__V1__ListAuditLogsRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListAuditLogsResponse resp = FERRY__V1__LIST_AUDIT_LOGS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    ferry_store_page_t rows;
    ferry_store_audit_filter_t f = {
        .page_token = req->page_token,
        .page_size = req->page_size,
        .actor_token_id = req->actor_token_id,
        .method = req->method,
        .target_kind = req->target_kind,
        .target_id = req->target_id,
        .has_since = req->since != NULL,
        .has_until = req->until != NULL,
        .since = hub_ts_ms(req->since),
        .until = hub_ts_ms(req->until),
        .outcome = req->outcome,
    };

    if (ferry_store_audit_list_ro(hub->store, &f, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.entries = (Ferry__V1__AuditEntry **)rows.items;
    resp.n_entries = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_audit_logs_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

void hub_audit_bind(ferry_hub_t *hub)
{
    hub->admin.list_audit_logs = list_audit_logs;
}
