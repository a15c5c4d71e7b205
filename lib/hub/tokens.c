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

static const char token_cols[] = "SELECT t.token_id, t.name, t.role, t.created_at, COALESCE(c.token_id, ''), "
                                 "t.last_used_at, t.expires_at, t.revoked_at, t.id "
                                 "FROM admin_token t LEFT JOIN admin_token c ON c.id = t.created_by";

static void *token_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__AdminToken *t = hub_arena_alloc(a, sizeof(*t));
    (void)ctx;
    (void)err;
    if (t == NULL)
        return NULL;
    ferry__v1__admin_token__init(t);
    t->id = hub_arena_col(a, st, 0);
    t->name = hub_arena_col(a, st, 1);
    t->role = (Ferry__V1__Role)sqlite3_column_int(st, 2);
    t->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 3));
    t->created_by = hub_arena_col(a, st, 4);
    t->last_used_at = hub_arena_ts(a, sqlite3_column_int64(st, 5));
    t->expires_at = hub_arena_ts(a, sqlite3_column_int64(st, 6));
    t->revoked_at = hub_arena_ts(a, sqlite3_column_int64(st, 7));
    return t;
}

static Ferry__V1__AdminToken *load_token(hub_arena_t *a, sqlite3 *db, const char *token_id, ferry_err_t *err)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    Ferry__V1__AdminToken *t = NULL;
    int step;

    snprintf(sql, sizeof(sql), "%s WHERE t.token_id = ?", token_cols);
    if (hub_prepare(db, sql, &st, "admin token", err) != FERRY_OK)
        goto out;
    hub_bind_text(st, 1, token_id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        ferry_err_set(err, FERRY_E_NOT_FOUND, "admin token '%.40s' not found", token_id);
    else if (step != SQLITE_ROW)
        hub_sql_err(db, "admin token", err);
    else if ((t = token_row(a, st, NULL, err)) == NULL)
        ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    return t;
}

static void create_admin_token_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateAdminTokenRequest *req = vreq;
    Ferry__V1__CreateAdminTokenResponse resp = FERRY__V1__CREATE_ADMIN_TOKEN_RESPONSE__INIT;
    const hub_principal_t *me = hub_principal(call);
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[64];
    int64_t now = hub_now_ms(), expires = 0;
    bool locked = false;
    hub_token_t tok;

    memset(&tok, 0, sizeof(tok));
    if (req->role != FERRY__V1__ROLE__ROLE_SYSADMIN && req->role != FERRY__V1__ROLE__ROLE_IMPLEMENTER) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "role: required, SYSADMIN or IMPLEMENTER (got %d)",
                      (int)req->role);
        goto fail;
    }
    if (strlen(req->name) > TOKEN_NAME_MAX) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG, "name: at most %d bytes", TOKEN_NAME_MAX);
        goto fail;
    }
    if (req->ttl != NULL) {
        if (req->ttl->seconds <= 0 || req->ttl->seconds > 100LL * 365 * 86400) {
            ferry_err_set(&err, FERRY_E_INVALID_ARG, "ttl: must be positive and at most 100 years");
            goto fail;
        }
        expires = now + req->ttl->seconds * 1000;
    }
    if (hub_token_new(HUB_TOKEN_ADMIN, &tok, &err) != FERRY_OK)
        goto fail;
    snprintf(target, sizeof(target), "admin_token:%s", tok.id);
    hub_audit_target(call, target);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO admin_token (token_id, token_hash, role, name, created_at, created_by, "
            "expires_at) VALUES (?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK) {
        hub_sql_err(hub->db, "create admin token", &err);
        goto fail;
    }
    hub_bind_text(st, 1, tok.id);
    sqlite3_bind_blob(st, 2, tok.hash, sizeof(tok.hash), SQLITE_STATIC);
    sqlite3_bind_int(st, 3, req->role);
    hub_bind_text(st, 4, req->name);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int64(st, 6, me->row_id);
    if (expires > 0)
        sqlite3_bind_int64(st, 7, expires);
    if (sqlite3_step(st) != SQLITE_DONE) {
        hub_sql_err(hub->db, "create admin token", &err);
        goto fail;
    }
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.token = load_token(&a, hub->db, tok.id, &err)) == NULL || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    resp.secret = tok.token; /* shown once */
    ferry_v1_admin_service_create_admin_token_reply(call, &resp);
    resp.secret = NULL;
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
    memset(&tok, 0, sizeof(tok));
}

HUB_OFFLOADED(create_admin_token, Ferry__V1__CreateAdminTokenRequest)

static void revoke_admin_token_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__RevokeAdminTokenRequest *req = vreq;
    Ferry__V1__RevokeAdminTokenResponse resp = FERRY__V1__REVOKE_ADMIN_TOKEN_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[96];
    bool locked = false;
    int role = 0, revoked = 0;
    int64_t now = hub_now_ms();

    snprintf(target, sizeof(target), "admin_token:%.40s", req->id);
    hub_audit_target(call, target);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    if (hub_prepare(hub->db, "SELECT role, revoked_at IS NOT NULL FROM admin_token WHERE token_id = ?", &st,
                    "revoke admin token", &err) != FERRY_OK)
        goto fail;
    hub_bind_text(st, 1, req->id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "admin token '%.40s' not found", req->id);
        goto fail;
    }
    role = sqlite3_column_int(st, 0);
    revoked = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    if (!revoked && role == FERRY__V1__ROLE__ROLE_SYSADMIN) {
        /* Keep at least one usable SYSADMIN token. */
        if (hub_prepare(hub->db,
                        "SELECT count(*) FROM admin_token WHERE role = ? AND revoked_at IS NULL AND "
                        "(expires_at IS NULL OR expires_at > ?) AND token_id <> ?",
                        &st, "revoke admin token", &err) != FERRY_OK)
            goto fail;
        sqlite3_bind_int(st, 1, FERRY__V1__ROLE__ROLE_SYSADMIN);
        sqlite3_bind_int64(st, 2, now);
        hub_bind_text(st, 3, req->id);
        if (sqlite3_step(st) != SQLITE_ROW) {
            hub_sql_err(hub->db, "revoke admin token", &err);
            goto fail;
        }
        if (sqlite3_column_int64(st, 0) == 0) {
            ferry_err_set(&err, FERRY_E_PRECONDITION,
                          "admin token '%s' is the last active SYSADMIN token: create another one first",
                          req->id);
            goto fail;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (!revoked) { /* revoking twice is a no-op that keeps the first time */
        if (hub_prepare(hub->db, "UPDATE admin_token SET revoked_at = ? WHERE token_id = ?", &st,
                        "revoke admin token", &err) != FERRY_OK)
            goto fail;
        sqlite3_bind_int64(st, 1, now);
        hub_bind_text(st, 2, req->id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            hub_sql_err(hub->db, "revoke admin token", &err);
            goto fail;
        }
    }
    if (hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.token = load_token(&a, hub->db, req->id, &err)) == NULL || hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    hub_auth_forget(hub, req->id);
    ferry_v1_admin_service_revoke_admin_token_reply(call, &resp);
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
}

HUB_OFFLOADED(revoke_admin_token, Ferry__V1__RevokeAdminTokenRequest)

static void list_admin_tokens(ferry_rpc_call_t *call, const Ferry__V1__ListAdminTokensRequest *req,
                              void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListAdminTokensResponse resp = FERRY__V1__LIST_ADMIN_TOKENS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    int64_t after;
    /* Keyset paging by row id (column 8). */
    hub_list_t l = {HUB_DB_RO, "list admin tokens", hub_page_limit(req->page_size), 0, 8, token_row, NULL};

    if (hub_page_token_read(req->page_token, &after, &err) != FERRY_OK)
        goto fail;
    hub_query_sql(&q, token_cols);
    hub_query_int(&q, " WHERE t.id > ?", after);
    if (!req->include_revoked)
        hub_query_int(&q, " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)",
                      hub_now_ms());
    hub_query_sql(&q, " ORDER BY t.id LIMIT ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.tokens = (Ferry__V1__AdminToken **)rows.items;
    resp.n_tokens = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_admin_tokens_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

void hub_tokens_bind(ferry_hub_t *hub)
{
    hub->admin.who_am_i = who_am_i;
    hub->admin.create_admin_token = create_admin_token;
    hub->admin.list_admin_tokens = list_admin_tokens;
    hub->admin.revoke_admin_token = revoke_admin_token;
}
