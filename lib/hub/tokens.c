/*
 * WhoAmI and admin tokens (create: secret shown once; list; revoke).
 *
 * Revoking: takes effect at once (the auth cache entry is evicted after the commit).
 * The last active SYSADMIN token cannot be revoked (failed_precondition): otherwise
 * nobody could manage the server any more without editing the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/store/tokens.h"
#include "hub_frame.h"
#include "ferry/version.h"

#define TOKEN_NAME_MAX 64

/* The project version (CMake project()); a build-generated define would be better. */
#ifndef FERRY_SERVER_VERSION
#define FERRY_SERVER_VERSION "0.1.0"
#endif

static void who_am_i(ferry_rpc_call_t *call, const Ferry__V1__WhoAmIRequest *req, void *user)
{
    Ferry__V1__WhoAmIResponse resp = FERRY__V1__WHO_AM_IRESPONSE__INIT;
    const hub_call_ctx_t *ctx = hub_call_ctx(call);
    (void)req;
    (void)user;
    resp.token_id = (char *)ctx->p.token_id;
    resp.name = (char *)ctx->name;
    resp.role = (Ferry__V1__Role)ctx->p.role;
    resp.server_version = (char *)FERRY_SERVER_VERSION;
    ferry_v1_admin_service_who_am_i_reply(call, &resp);
}

static void revoke_admin_token_done(hub_frame_t *f, const void *vreq, void *resp);

/* The method rows: what the frame does around each body. */
HUB_METHOD(admin, create_admin_token, Ferry__V1__CreateAdminTokenRequest, Ferry__V1__CreateAdminTokenResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, NULL)
HUB_METHOD(admin, revoke_admin_token, Ferry__V1__RevokeAdminTokenRequest, Ferry__V1__RevokeAdminTokenResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, revoke_admin_token_done)
HUB_METHOD(admin, list_admin_tokens, Ferry__V1__ListAdminTokensRequest, Ferry__V1__ListAdminTokensResponse, 0,
           NULL)

static ferry_err_code_t create_admin_token_body(hub_frame_t *f, const Ferry__V1__CreateAdminTokenRequest *req,
                                                Ferry__V1__CreateAdminTokenResponse *resp, ferry_err_t *err)
{
    ferry_store_admin_token_new_t row = {0};
    hub_token_t *tok = hub_arena_alloc(&f->arena, sizeof(*tok));
    ferry_err_code_t rc;

    if (tok == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    hub_frame_secret(f, tok, sizeof(*tok));
    row.created_at = hub_now_ms();
    if (req->role != FERRY__V1__ROLE__ROLE_SYSADMIN && req->role != FERRY__V1__ROLE__ROLE_IMPLEMENTER)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "role: required, SYSADMIN or IMPLEMENTER (got %d)",
                             (int)req->role);
    if (strlen(req->name) > TOKEN_NAME_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "name: at most %d bytes", TOKEN_NAME_MAX);
    if (req->ttl != NULL) {
        if (req->ttl->seconds <= 0 || req->ttl->seconds > 100LL * 365 * 86400)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "ttl: must be positive and at most 100 years");
        row.expires_at = row.created_at + req->ttl->seconds * 1000;
    }
    if ((rc = hub_token_new(HUB_TOKEN_ADMIN, tok, err)) != FERRY_OK)
        return rc;
    hub_frame_target(f, "admin_token:%s", tok->id);
    row.token_id = tok->id;
    memcpy(row.hash, tok->hash, sizeof(row.hash));
    row.role = req->role;
    row.name = req->name;
    row.created_by = f->me != NULL ? f->me->row_id : 0;
    if ((rc = ferry_store_admin_token_insert(f->store, &row, err)) != FERRY_OK ||
        (rc = ferry_store_admin_token_get(f->store, &f->arena, tok->id, &resp->token, err)) != FERRY_OK)
        return rc;
    resp->secret = tok->token; /* shown once, wiped after the reply */
    return FERRY_OK;
}

static ferry_err_code_t revoke_admin_token_body(hub_frame_t *f, const Ferry__V1__RevokeAdminTokenRequest *req,
                                                Ferry__V1__RevokeAdminTokenResponse *resp, ferry_err_t *err)
{
    int64_t now = hub_now_ms(), others = 0;
    int role = 0;
    bool revoked = false;
    ferry_err_code_t rc;

    hub_frame_target(f, "admin_token:%.40s", req->id);
    if ((rc = ferry_store_admin_token_state(f->store, req->id, &role, &revoked, err)) != FERRY_OK)
        return rc;
    if (!revoked && role == FERRY__V1__ROLE__ROLE_SYSADMIN) {
        /* Keep at least one usable SYSADMIN token. */
        if ((rc = ferry_store_admin_tokens_count_usable(f->store, FERRY__V1__ROLE__ROLE_SYSADMIN, now,
                                                        req->id, &others, err)) != FERRY_OK)
            return rc;
        if (others == 0)
            return ferry_err_set(
                err, FERRY_E_PRECONDITION,
                "admin token '%s' is the last active SYSADMIN token: create another one first", req->id);
    }
    /* Revoking twice is a no-op that keeps the first time. */
    if (!revoked && (rc = ferry_store_admin_token_revoke(f->store, req->id, now, err)) != FERRY_OK)
        return rc;
    return ferry_store_admin_token_get(f->store, &f->arena, req->id, &resp->token, err);
}

/* After the commit: the revoked token stops working at once. */
static void revoke_admin_token_done(hub_frame_t *f, const void *vreq, void *resp)
{
    const Ferry__V1__RevokeAdminTokenRequest *req = vreq;
    (void)resp;
    hub_auth_forget(f->hub, req->id);
}

static ferry_err_code_t list_admin_tokens_body(hub_frame_t *f, const Ferry__V1__ListAdminTokensRequest *req,
                                               Ferry__V1__ListAdminTokensResponse *resp, ferry_err_t *err)
{
    ferry_store_page_t rows;
    ferry_err_code_t rc = ferry_store_admin_tokens_list_ro(
        f->store, req->page_token, req->page_size, req->include_revoked, hub_now_ms(), &f->arena, &rows, err);
    if (rc != FERRY_OK)
        return rc;
    resp->tokens = (Ferry__V1__AdminToken **)rows.items;
    resp->n_tokens = rows.n;
    resp->next_page_token = rows.next_page_token;
    return FERRY_OK;
}

void hub_tokens_bind(ferry_hub_t *hub)
{
    hub->admin.who_am_i = who_am_i;
    hub->admin.create_admin_token = create_admin_token;
    hub->admin.list_admin_tokens = list_admin_tokens;
    hub->admin.revoke_admin_token = revoke_admin_token;
}
