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
#include "ferry/log.h"

#define AUDIT_TARGETS_MAX 512

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

/* Inserts one row (+ its split targets). Caller holds the DB lock. */
static ferry_err_code_t insert_row(ferry_hub_t *hub, ferry_rpc_call_t *call, const char *target, int outcome,
                                   const char *error_code, ferry_err_t *err)
{
    const hub_call_ctx_t *ctx = hub_call_ctx(call);
    const ferry_rpc_method_t *m = ferry_rpc_call_method(call);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    char method[160];
    char buf[AUDIT_TARGETS_MAX];
    int64_t audit_id;

    snprintf(method, sizeof(method), "%s/%s", m->service, m->name);
    if (sqlite3_prepare_v2(
            hub->db,
            "INSERT INTO audit_log (at, actor_token_id, actor_name, actor_role, method, target, "
            "request_id, outcome, error_code, remote_addr) VALUES (?,?,?,?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = hub_sql_err(hub->db, "audit insert", err);
        goto out;
    }
    sqlite3_bind_int64(st, 1, hub_now_ms());
    hub_bind_text(st, 2, ctx != NULL && ctx->has_principal ? ctx->p.token_id : "");
    hub_bind_text(st, 3, ctx != NULL ? ctx->name : "");
    sqlite3_bind_int(st, 4, ctx != NULL && ctx->has_principal ? ctx->p.role : 0);
    hub_bind_text(st, 5, method);
    hub_bind_text(st, 6, target);
    hub_bind_text(st, 7, ferry_rpc_call_request_id(call));
    sqlite3_bind_int(st, 8, outcome);
    hub_bind_text(st, 9, error_code);
    hub_bind_text(st, 10, ferry_rpc_call_peer(call));
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = hub_sql_err(hub->db, "audit insert", err);
        goto out;
    }
    audit_id = sqlite3_last_insert_rowid(hub->db);
    sqlite3_finalize(st);
    st = NULL;
    if (target == NULL || target[0] == '\0')
        goto out;
    if ((rc = hub_prepare(hub->db, "INSERT INTO audit_target (audit_id, kind, target_id) VALUES (?,?,?)", &st,
                          "audit target insert", err)) != FERRY_OK)
        goto out;
    /* "kind:id,kind:id": ids are codes, versions or numbers, none contains ','. */
    snprintf(buf, sizeof(buf), "%s", target);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, audit_id);
        hub_bind_text(st, 2, t);
        hub_bind_text(st, 3, colon + 1);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = hub_sql_err(hub->db, "audit target insert", err);
            goto out;
        }
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t hub_audit(ferry_hub_t *hub, const ferry_rpc_call_t *ccall, const char *target,
                           const char *outcome, ferry_err_t *err)
{
    /* The call is not modified in any way a client can see; the const in the shared
     * contract is about that. The per-call slot is ours. */
    ferry_rpc_call_t *call = (ferry_rpc_call_t *)ccall;
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    audit_state_t *s = state_of(call, true);
    bool ok = outcome == NULL || strcmp(outcome, "ok") == 0;
    ferry_err_code_t rc;

    rc = insert_row(hub, call, target,
                    ok ? FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_SUCCESS
                       : FERRY__V1__AUDIT_OUTCOME__AUDIT_OUTCOME_FAILURE,
                    ok ? "" : outcome, err);
    if (rc == FERRY_OK) {
        if (ctx != NULL)
            ctx->audited = true;
        if (s != NULL) {
            if (target != NULL)
                snprintf(s->targets, sizeof(s->targets), "%s", target);
            if (!ok)
                s->wrote_failure = true;
        }
    }
    return rc;
}

void hub_audit_after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user);

void hub_audit_after(ferry_rpc_call_t *call, ferry_rpc_code_t code, uint64_t duration_ns, void *user)
{
    ferry_hub_t *hub = user;
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    audit_state_t *s = state_of(call, false);
    ferry_err_t err = {0};
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
    hub_db_lock(hub);
    if (insert_row(hub, call, s != NULL ? s->targets : "", outcome, ecode, &err) != FERRY_OK)
        FERRY_ERROR("audit: %s: could not record %s: %s", ferry_rpc_call_request_id(call),
                    ferry_rpc_call_method(call)->path, err.msg);
    hub_db_unlock(hub);
}

/* ---- ListAuditLogs ------------------------------------------------------------------ */

/* Splits "kind:id,kind:id" into AuditTarget messages. */
static void fill_targets(hub_arena_t *a, Ferry__V1__AuditEntry *e, const char *target)
{
    char buf[AUDIT_TARGETS_MAX];
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", target != NULL ? target : "");
    for (const char *p = buf; *p != '\0'; p++)
        if (*p == ',')
            n++;
    if (buf[0] == '\0' || (e->targets = hub_arena_alloc(a, (n + 1) * sizeof(*e->targets))) == NULL)
        return;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        Ferry__V1__AuditTarget *at = hub_arena_alloc(a, sizeof(*at));
        if (at == NULL)
            break;
        ferry__v1__audit_target__init(at);
        if (colon != NULL)
            *colon = '\0';
        at->kind = hub_arena_strdup(a, colon != NULL ? t : "");
        at->id = hub_arena_strdup(a, colon != NULL ? colon + 1 : t);
        e->targets[e->n_targets++] = at;
    }
}

static void *entry_row(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__AuditEntry *e = hub_arena_alloc(a, sizeof(*e));
    (void)ctx;
    (void)err;
    if (e == NULL)
        return NULL;
    ferry__v1__audit_entry__init(e);
    e->id = hub_arena_col(a, st, 0);
    e->time = hub_arena_ts(a, sqlite3_column_int64(st, 1));
    e->actor_token_id = hub_arena_col(a, st, 2);
    e->actor_name = hub_arena_col(a, st, 3);
    e->actor_role = (Ferry__V1__Role)sqlite3_column_int(st, 4);
    e->method = hub_arena_col(a, st, 5);
    fill_targets(a, e, hub_col_text(st, 6));
    e->request_id = hub_arena_col(a, st, 7);
    e->outcome = (Ferry__V1__AuditOutcome)sqlite3_column_int(st, 8);
    e->error_code = hub_arena_col(a, st, 9);
    e->remote_addr = hub_arena_col(a, st, 10);
    e->details_json = hub_arena_col(a, st, 11);
    return e;
}

static void list_audit_logs(ferry_rpc_call_t *call, const Ferry__V1__ListAuditLogsRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListAuditLogsResponse resp = FERRY__V1__LIST_AUDIT_LOGS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    int64_t after;
    /* Keyset paging, newest first: the next page starts below the last id. */
    hub_list_t l = {HUB_DB_RO, "list audit", hub_page_limit(req->page_size), 0, 0, entry_row, NULL};

    if (hub_page_token_read(req->page_token, &after, &err) != FERRY_OK)
        goto fail;
    /* Fixed SQL fragments only; every value is bound. */
    hub_query_sql(&q, "SELECT id, at, actor_token_id, actor_name, actor_role, method, target, request_id, "
                      "outcome, error_code, remote_addr, detail FROM audit_log a WHERE 1=1");
    if (after > 0)
        hub_query_int(&q, " AND id < ?", after);
    if (req->actor_token_id[0])
        hub_query_text(&q, " AND actor_token_id = ?", req->actor_token_id);
    if (req->method[0]) /* accept "/ferry.v1.AdminService/X" as well as the documented form */
        hub_query_text(&q, " AND method = ?", req->method[0] == '/' ? req->method + 1 : req->method);
    if (req->target_kind[0] || req->target_id[0]) {
        hub_query_text(&q, " AND EXISTS (SELECT 1 FROM audit_target t WHERE t.audit_id = a.id AND (? = ''",
                       req->target_kind);
        hub_query_text(&q, " OR t.kind = ?)", req->target_kind);
        hub_query_text(&q, " AND (? = ''", req->target_id);
        hub_query_text(&q, " OR t.target_id = ?))", req->target_id);
    }
    if (req->since != NULL)
        hub_query_int(&q, " AND at >= ?", hub_ts_ms(req->since));
    if (req->until != NULL)
        hub_query_int(&q, " AND at < ?", hub_ts_ms(req->until));
    if (req->outcome != 0)
        hub_query_int(&q, " AND outcome = ?", req->outcome);
    hub_query_sql(&q, " ORDER BY id DESC LIMIT ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
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
