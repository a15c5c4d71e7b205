/*
 * The customer -> store -> node tree (seed 000 §3.2) and node tokens.
 *
 * Codes: 1..64 of [A-Za-z0-9_-], immutable, unique server-wide for each level (the
 * IDL addresses stores and nodes by code alone). Duplicates -> already_exists.
 *
 * What "disabled" means:
 *   customer: its nodes' tokens are refused (cannot bind or check in), it gets no new
 *             releases, no new stores can be created under it;
 *   store:    its nodes' tokens are refused like a customer's, they get no new tasks
 *             (releases.c skips disabled stores); no new nodes under it;
 *   node:     its token is refused and it gets no new tasks.
 * One rule for tokens (hub_auth_node, auth.c): node, store and customer all enabled,
 * for Bind and every node-authenticated method alike.
 * Re-enabling restores everything; nothing is deleted.
 *
 * Node tokens are created with the node and by RotateNodeToken, returned once, and
 * stored only as SHA-256 (auth.c). Rotation evicts the old token from the auth cache
 * at once and clears bound_at (the agent must bind again with the new token).
 *
 * Reads run inline on the read-only connection; writes run on the worker pool under
 * the DB lock, with the audit row in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth_internal.h"
#include "hub_sql.h" /* not yet on a repository: scripts/check-layering.sh allow-list */

#define NAME_MAX_LEN 256

/* ---- row -> message ------------------------------------------------------------------ */

static const char customer_cols[] =
    "SELECT c.id, c.code, c.name, c.disabled, c.created_at, c.updated_at, "
    "EXISTS (SELECT 1 FROM storage_config sc WHERE sc.customer_id = c.id) FROM customer c";

static Ferry__V1__Customer *row_customer(hub_arena_t *a, sqlite3_stmt *st)
{
    Ferry__V1__Customer *c = hub_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return NULL;
    ferry__v1__customer__init(c);
    c->code = hub_arena_col(a, st, 1);
    c->name = hub_arena_col(a, st, 2);
    c->disabled = sqlite3_column_int(st, 3) != 0;
    c->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 4));
    c->updated_at = hub_arena_ts(a, sqlite3_column_int64(st, 5));
    c->has_storage_override = sqlite3_column_int(st, 6) != 0;
    return c;
}

static const char store_cols[] =
    "SELECT s.id, s.code, c.code, s.name, s.disabled, s.created_at, s.updated_at "
    "FROM store s JOIN customer c ON c.id = s.customer_id";

static Ferry__V1__Store *row_store(hub_arena_t *a, sqlite3_stmt *st)
{
    Ferry__V1__Store *s = hub_arena_alloc(a, sizeof(*s));
    if (s == NULL)
        return NULL;
    ferry__v1__store__init(s);
    s->code = hub_arena_col(a, st, 1);
    s->customer_code = hub_arena_col(a, st, 2);
    s->name = hub_arena_col(a, st, 3);
    s->disabled = sqlite3_column_int(st, 4) != 0;
    s->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 5));
    s->updated_at = hub_arena_ts(a, sqlite3_column_int64(st, 6));
    return s;
}

static const char node_cols[] =
    "SELECT n.id, n.code, s.code, c.code, n.environment, n.name, n.disabled, n.created_at, n.updated_at, "
    "n.last_seen_at, n.bound_at, n.agent_version, n.installed_version, n.free_disk_bytes, n.current_task_id, "
    "n.host_json, n.token_issued_at FROM node n JOIN store s ON s.id = n.store_id "
    "JOIN customer c ON c.id = s.customer_id";

/* HostInfo from the proto3 JSON the agent service stores ('' = none). */
static Ferry__V1__HostInfo *host_from_json(hub_arena_t *a, const char *text)
{
    json_t *j = NULL, *ips;
    Ferry__V1__HostInfo *h = NULL;

    if (text == NULL || text[0] == '\0' || (j = json_loads(text, 0, NULL)) == NULL || !json_is_object(j))
        goto out;
    if ((h = hub_arena_alloc(a, sizeof(*h))) == NULL)
        goto out;
    ferry__v1__host_info__init(h);
    h->hostname = hub_arena_strdup(a, json_string_value(json_object_get(j, "hostname")));
    h->os = hub_arena_strdup(a, json_string_value(json_object_get(j, "os")));
    h->arch = hub_arena_strdup(a, json_string_value(json_object_get(j, "arch")));
    ips = json_object_get(j, "ipAddresses");
    if (json_is_array(ips) && json_array_size(ips) > 0 && json_array_size(ips) <= 64 &&
        (h->ip_addresses = hub_arena_alloc(a, json_array_size(ips) * sizeof(char *))) != NULL) {
        for (size_t i = 0; i < json_array_size(ips); i++)
            h->ip_addresses[h->n_ip_addresses++] =
                hub_arena_strdup(a, json_string_value(json_array_get(ips, i)));
    }
out:
    json_decref(j);
    return h;
}

static Ferry__V1__Node *row_node(const ferry_hub_t *hub, hub_arena_t *a, sqlite3_stmt *st)
{
    Ferry__V1__Node *n = hub_arena_alloc(a, sizeof(*n));

    if (n == NULL)
        return NULL;
    ferry__v1__node__init(n);
    n->code = hub_arena_col(a, st, 1);
    n->store_code = hub_arena_col(a, st, 2);
    n->customer_code = hub_arena_col(a, st, 3);
    n->environment = (Ferry__V1__Environment)sqlite3_column_int(st, 4);
    n->name = hub_arena_col(a, st, 5);
    n->disabled = sqlite3_column_int(st, 6) != 0;
    n->created_at = hub_arena_ts(a, sqlite3_column_int64(st, 7));
    n->updated_at = hub_arena_ts(a, sqlite3_column_int64(st, 8));
    if (sqlite3_column_type(st, 9) == SQLITE_NULL) {
        n->connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN;
    } else {
        int64_t seen = sqlite3_column_int64(st, 9);
        n->last_seen_at = hub_arena_ts(a, seen);
        n->connectivity = hub_now_ms() - seen <= (int64_t)hub->cfg.offline_after_s * 1000
                              ? FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE
                              : FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE;
    }
    n->bound_at = hub_arena_ts(a, sqlite3_column_int64(st, 10));
    n->agent_version = hub_arena_col(a, st, 11);
    n->installed_version = hub_arena_col(a, st, 12);
    n->free_disk_bytes = (uint64_t)sqlite3_column_int64(st, 13);
    if (sqlite3_column_type(st, 14) != SQLITE_NULL) {
        n->current_task_id = hub_arena_col(a, st, 14);
    }
    n->host = host_from_json(a, (const char *)sqlite3_column_text(st, 15));
    n->token_issued_at = hub_arena_ts(a, sqlite3_column_int64(st, 16));
    return n;
}

/* Loads one row of |kind| by code with |db|: 'c' customer, 's' store, 'n' node. */
static void *load_one(ferry_hub_t *hub, hub_arena_t *a, sqlite3 *db, char kind, const char *code,
                      ferry_err_t *err)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    void *out = NULL;
    int step;
    const char *what = kind == 'c' ? "customer" : kind == 's' ? "store" : "node";

    snprintf(sql, sizeof(sql), "%s WHERE %s.code = ?",
             kind == 'c'   ? customer_cols
             : kind == 's' ? store_cols
                           : node_cols,
             kind == 'c'   ? "c"
             : kind == 's' ? "s"
                           : "n");
    if (hub_prepare(db, sql, &st, what, err) != FERRY_OK)
        goto out;
    hub_bind_text(st, 1, code);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        ferry_err_set(err, FERRY_E_NOT_FOUND, "%s '%.64s' not found", what, code != NULL ? code : "");
        goto out;
    }
    if (step != SQLITE_ROW) {
        hub_sql_err(db, what, err);
        goto out;
    }
    out = kind == 'c'   ? (void *)row_customer(a, st)
          : kind == 's' ? (void *)row_store(a, st)
                        : (void *)row_node(hub, a, st);
    if (out == NULL)
        ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    return out;
}

/* ---- common checks ------------------------------------------------------------------------ */

static ferry_err_code_t check_name(const char *name, ferry_err_t *err)
{
    if (name != NULL && strlen(name) > NAME_MAX_LEN)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "name: at most %d bytes (got %zu)", NAME_MAX_LEN,
                             strlen(name));
    return FERRY_OK;
}

static bool env_valid(int env)
{
    return env >= FERRY__V1__ENVIRONMENT__ENVIRONMENT_DEV && env <= FERRY__V1__ENVIRONMENT__ENVIRONMENT_PROD;
}

/* Looks up id and disabled flag of a row by code in |table| (customer/store/node). */
static ferry_err_code_t id_of(sqlite3 *db, const char *table, const char *code, int64_t *id, int *disabled,
                              ferry_err_t *err)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int step;

    snprintf(sql, sizeof(sql), "SELECT id, disabled FROM %s WHERE code = ?", table); /* table: a constant */
    if ((rc = hub_prepare(db, sql, &st, table, err)) != FERRY_OK)
        goto out;
    hub_bind_text(st, 1, code);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "%s '%.64s' not found", table, code);
    else if (step != SQLITE_ROW)
        rc = hub_sql_err(db, table, err);
    else {
        *id = sqlite3_column_int64(st, 0);
        if (disabled != NULL)
            *disabled = sqlite3_column_int(st, 1);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Runs a prepared write; maps UNIQUE violations to FERRY_E_EXISTS with |dup_msg|. */
static ferry_err_code_t step_write(sqlite3 *db, sqlite3_stmt *st, const char *what, const char *dup_msg,
                                   ferry_err_t *err)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE)
        return FERRY_OK;
    if (sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_UNIQUE ||
        sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_PRIMARYKEY)
        return ferry_err_set(err, FERRY_E_EXISTS, "%s", dup_msg);
    return hub_sql_err(db, what, err);
}

/* ---- customers ------------------------------------------------------------------------------- */

static void create_customer_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateCustomerRequest *req = vreq;
    Ferry__V1__CreateCustomerResponse resp = FERRY__V1__CREATE_CUSTOMER_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[128], dup[160];
    int64_t now = hub_now_ms();
    bool locked = false;

    snprintf(target, sizeof(target), "customer:%.64s", req->code);
    hub_audit_target(call, target);
    if (hub_check_code("code", req->code, &err) != FERRY_OK || check_name(req->name, &err) != FERRY_OK)
        goto fail;
    snprintf(dup, sizeof(dup), "customer '%s' already exists", req->code);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    if (hub_prepare(hub->db, "INSERT INTO customer (code, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    &st, "create customer", &err) != FERRY_OK)
        goto fail;
    hub_bind_text(st, 1, req->code);
    hub_bind_text(st, 2, req->name[0] != '\0' ? req->name : req->code);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    if (step_write(hub->db, st, "create customer", dup, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.customer = load_one(hub, &a, hub->db, 'c', req->code, &err)) == NULL ||
        hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_create_customer_reply(call, &resp);
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
}

HUB_OFFLOADED(create_customer, Ferry__V1__CreateCustomerRequest)

/* UpdateX / DisableX share one shape: change one row by code, audit, reload. */
typedef struct tree_change {
    char kind; /* 'c', 's', 'n' */
    const char *code;
    const char *name; /* new name or NULL */
    int set_disabled; /* -1 keep, 0/1 */
    int environment;  /* 0 keep */
} tree_change_t;

static ferry_err_code_t apply_change(ferry_rpc_call_t *call, ferry_hub_t *hub, hub_arena_t *a,
                                     const tree_change_t *ch, void **out, ferry_err_t *err)
{
    const char *table = ch->kind == 'c' ? "customer" : ch->kind == 's' ? "store" : "node";
    char target[128];
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    ferry_err_code_t rc;
    bool locked = false;
    char token_id[HUB_TOKEN_ID_LEN + 1] = "";

    *out = NULL;
    snprintf(target, sizeof(target), "%s:%.64s", table, ch->code);
    hub_audit_target(call, target);
    if ((rc = hub_check_code("code", ch->code, err)) != FERRY_OK ||
        (rc = check_name(ch->name, err)) != FERRY_OK)
        goto out;
    if (ch->environment != 0 && !env_valid(ch->environment)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "environment: %d is not DEV, TEST, UAT or PROD",
                           ch->environment);
        goto out;
    }
    hub_db_lock(hub);
    locked = true;
    if ((rc = hub_tx_begin(hub, err)) != FERRY_OK ||
        (rc = id_of(hub->db, table, ch->code, &id, NULL, err)) != FERRY_OK)
        goto out;
    {
        char sql[256];
        /* table and columns are constants; values are bound */
        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET name = COALESCE(?, name), disabled = COALESCE(?, disabled), updated_at = ?%s "
                 "WHERE id = ?",
                 table, ch->kind == 'n' ? ", environment = COALESCE(?, environment)" : "");
        if ((rc = hub_prepare(hub->db, sql, &st, table, err)) != FERRY_OK)
            goto out;
    }
    if (ch->name != NULL)
        hub_bind_text(st, 1, ch->name[0] != '\0' ? ch->name : ch->code);
    if (ch->set_disabled >= 0)
        sqlite3_bind_int(st, 2, ch->set_disabled);
    sqlite3_bind_int64(st, 3, hub_now_ms());
    if (ch->kind == 'n') {
        if (ch->environment != 0)
            sqlite3_bind_int(st, 4, ch->environment);
        sqlite3_bind_int64(st, 5, id);
    } else {
        sqlite3_bind_int64(st, 4, id);
    }
    if ((rc = step_write(hub->db, st, table, "conflict", err)) != FERRY_OK)
        goto out;
    if (ch->kind == 'n') {
        sqlite3_finalize(st);
        st = NULL;
        if (sqlite3_prepare_v2(hub->db, "SELECT token_id FROM node WHERE id = ?", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(st, 1, id);
            if (sqlite3_step(st) == SQLITE_ROW)
                snprintf(token_id, sizeof(token_id), "%s", (const char *)sqlite3_column_text(st, 0));
        }
    }
    if ((rc = hub_audit(hub, call, target, "ok", err)) != FERRY_OK)
        goto out;
    if ((*out = load_one(hub, a, hub->db, ch->kind, ch->code, err)) == NULL) {
        rc = err->code;
        goto out;
    }
    if ((rc = hub_tx_commit(hub, err)) != FERRY_OK)
        goto out;
    /* Auth effects after the commit (hub_auth_node: node, store and customer must be
     * enabled): a disabled customer's or store's nodes, a disabled node. */
    if (ch->set_disabled >= 0 && (ch->kind == 'c' || ch->kind == 's'))
        hub_auth_forget_all(hub);
    if (ch->set_disabled >= 0 && ch->kind == 'n')
        hub_auth_forget(hub, token_id);
out:
    sqlite3_finalize(st);
    if (locked) {
        if (rc != FERRY_OK)
            hub_tx_rollback(hub);
        hub_db_unlock(hub);
    }
    if (rc != FERRY_OK)
        *out = NULL;
    return rc;
}

#define CHANGE_HANDLER(fn, Req, Resp, RESP_INIT, member, reply, ...)                                         \
    static void fn##_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)                        \
    {                                                                                                        \
        const Req *req = vreq;                                                                               \
        Resp resp = RESP_INIT;                                                                               \
        ferry_err_t err = {0};                                                                               \
        tree_change_t ch = __VA_ARGS__;                                                                      \
        hub_arena_t a = {0};                                                                                 \
        void *out = NULL;                                                                                    \
        if (apply_change(call, hub, &a, &ch, &out, &err) != FERRY_OK)                                        \
            hub_fail(call, &err);                                                                            \
        else {                                                                                               \
            resp.member = out;                                                                               \
            reply(call, &resp);                                                                              \
        }                                                                                                    \
        hub_arena_free(&a);                                                                                  \
    }                                                                                                        \
    HUB_OFFLOADED(fn, Req)

CHANGE_HANDLER(update_customer, Ferry__V1__UpdateCustomerRequest, Ferry__V1__UpdateCustomerResponse,
               FERRY__V1__UPDATE_CUSTOMER_RESPONSE__INIT, customer,
               ferry_v1_admin_service_update_customer_reply,
               {'c', req->code, req->name != NULL ? req->name->value : NULL, -1, 0})
CHANGE_HANDLER(disable_customer, Ferry__V1__DisableCustomerRequest, Ferry__V1__DisableCustomerResponse,
               FERRY__V1__DISABLE_CUSTOMER_RESPONSE__INIT, customer,
               ferry_v1_admin_service_disable_customer_reply,
               {'c', req->code, NULL, req->disabled ? 1 : 0, 0})
CHANGE_HANDLER(update_store, Ferry__V1__UpdateStoreRequest, Ferry__V1__UpdateStoreResponse,
               FERRY__V1__UPDATE_STORE_RESPONSE__INIT, store, ferry_v1_admin_service_update_store_reply,
               {'s', req->code, req->name != NULL ? req->name->value : NULL, -1, 0})
CHANGE_HANDLER(disable_store, Ferry__V1__DisableStoreRequest, Ferry__V1__DisableStoreResponse,
               FERRY__V1__DISABLE_STORE_RESPONSE__INIT, store, ferry_v1_admin_service_disable_store_reply,
               {'s', req->code, NULL, req->disabled ? 1 : 0, 0})
CHANGE_HANDLER(update_node, Ferry__V1__UpdateNodeRequest, Ferry__V1__UpdateNodeResponse,
               FERRY__V1__UPDATE_NODE_RESPONSE__INIT, node, ferry_v1_admin_service_update_node_reply,
               {'n', req->code, req->name != NULL ? req->name->value : NULL, -1, (int)req->environment})
CHANGE_HANDLER(disable_node, Ferry__V1__DisableNodeRequest, Ferry__V1__DisableNodeResponse,
               FERRY__V1__DISABLE_NODE_RESPONSE__INIT, node, ferry_v1_admin_service_disable_node_reply,
               {'n', req->code, NULL, req->disabled ? 1 : 0, 0})

/* Get: inline read on the read-only connection. */
#define GET_HANDLER(fn, Req, Resp, RESP_INIT, member, reply, kind)                                           \
    static void fn(ferry_rpc_call_t *call, const Req *req, void *user)                                       \
    {                                                                                                        \
        ferry_hub_t *hub = user;                                                                             \
        Resp resp = RESP_INIT;                                                                               \
        ferry_err_t err = {0};                                                                               \
        hub_arena_t a = {0};                                                                                 \
        sqlite3 *db;                                                                                         \
        if (hub_check_code("code", req->code, &err) == FERRY_OK &&                                           \
            (db = hub_ro_acquire(hub, &err)) != NULL) {                                                      \
            resp.member = load_one(hub, &a, db, kind, req->code, &err);                                      \
            hub_ro_release(hub);                                                                             \
        }                                                                                                    \
        if (resp.member == NULL)                                                                             \
            hub_fail(call, &err);                                                                            \
        else                                                                                                 \
            reply(call, &resp);                                                                              \
        hub_arena_free(&a);                                                                                  \
    }

GET_HANDLER(get_customer, Ferry__V1__GetCustomerRequest, Ferry__V1__GetCustomerResponse,
            FERRY__V1__GET_CUSTOMER_RESPONSE__INIT, customer, ferry_v1_admin_service_get_customer_reply, 'c')
GET_HANDLER(get_store, Ferry__V1__GetStoreRequest, Ferry__V1__GetStoreResponse,
            FERRY__V1__GET_STORE_RESPONSE__INIT, store, ferry_v1_admin_service_get_store_reply, 's')
GET_HANDLER(get_node, Ferry__V1__GetNodeRequest, Ferry__V1__GetNodeResponse,
            FERRY__V1__GET_NODE_RESPONSE__INIT, node, ferry_v1_admin_service_get_node_reply, 'n')

/* ---- lists ---------------------------------------------------------------------------------------- */

/* Lists read the read-only connection, keyset-paged by code (column 1): the page token
 * is the last code returned. */
static ferry_err_code_t page_start(hub_query_t *q, const char *alias, const char *token, ferry_err_t *err)
{
    char frag[64];
    if (token == NULL || token[0] == '\0')
        return FERRY_OK;
    if (hub_check_code("page_token", token, err) != FERRY_OK)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "page_token '%.64s' is not one this server issued",
                             token);
    snprintf(frag, sizeof(frag), " AND %s.code > ?", alias);
    hub_query_text(q, frag, token);
    return FERRY_OK;
}

static void query_filter(hub_query_t *q, const char *alias, const char *text)
{
    char frag[256];
    if (text == NULL || text[0] == '\0')
        return;
    snprintf(frag, sizeof(frag), " AND (instr(lower(%s.code), lower(?)) > 0", alias);
    hub_query_text(q, frag, text);
    snprintf(frag, sizeof(frag), " OR instr(lower(%s.name), lower(?)) > 0)", alias);
    hub_query_text(q, frag, text);
}

static void *customer_item(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    (void)ctx;
    (void)err;
    return row_customer(a, st);
}

static void *store_item(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    (void)ctx;
    (void)err;
    return row_store(a, st);
}

static void *node_item(hub_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    (void)err;
    return row_node(ctx, a, st);
}

static void list_customers(ferry_rpc_call_t *call, const Ferry__V1__ListCustomersRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListCustomersResponse resp = FERRY__V1__LIST_CUSTOMERS_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {HUB_DB_RO, "list", hub_page_limit(req->page_size), 0, 1, customer_item, NULL};

    hub_query_sql(&q, customer_cols);
    hub_query_sql(&q, " WHERE 1=1");
    if (page_start(&q, "c", req->page_token, &err) != FERRY_OK)
        goto fail;
    if (!req->include_disabled)
        hub_query_sql(&q, " AND c.disabled = 0");
    query_filter(&q, "c", req->query);
    hub_query_sql(&q, " ORDER BY c.code LIMIT ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.customers = (Ferry__V1__Customer **)rows.items;
    resp.n_customers = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_customers_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

static void list_stores(ferry_rpc_call_t *call, const Ferry__V1__ListStoresRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListStoresResponse resp = FERRY__V1__LIST_STORES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {HUB_DB_RO, "list", hub_page_limit(req->page_size), 0, 1, store_item, NULL};

    hub_query_sql(&q, store_cols);
    hub_query_sql(&q, " WHERE 1=1");
    if (page_start(&q, "s", req->page_token, &err) != FERRY_OK)
        goto fail;
    if (req->customer_code[0] != '\0')
        hub_query_text(&q, " AND c.code = ?", req->customer_code);
    if (!req->include_disabled)
        hub_query_sql(&q, " AND s.disabled = 0");
    query_filter(&q, "s", req->query);
    hub_query_sql(&q, " ORDER BY s.code LIMIT ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.stores = (Ferry__V1__Store **)rows.items;
    resp.n_stores = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_stores_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

static void list_nodes(ferry_rpc_call_t *call, const Ferry__V1__ListNodesRequest *req, void *user)
{
    ferry_hub_t *hub = user;
    Ferry__V1__ListNodesResponse resp = FERRY__V1__LIST_NODES_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    hub_query_t q = {0};
    hub_rows_t rows;
    hub_list_t l = {HUB_DB_RO, "list", hub_page_limit(req->page_size), 0, 1, node_item, hub};
    int64_t online_since = hub_now_ms() - (int64_t)hub->cfg.offline_after_s * 1000;

    hub_query_sql(&q, node_cols);
    hub_query_sql(&q, " WHERE 1=1");
    if (page_start(&q, "n", req->page_token, &err) != FERRY_OK)
        goto fail;
    if (req->customer_code[0] != '\0')
        hub_query_text(&q, " AND c.code = ?", req->customer_code);
    if (req->store_code[0] != '\0')
        hub_query_text(&q, " AND s.code = ?", req->store_code);
    if (req->environment != 0)
        hub_query_int(&q, " AND n.environment = ?", req->environment);
    if (req->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN)
        hub_query_sql(&q, " AND n.last_seen_at IS NULL");
    else if (req->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE)
        hub_query_int(&q, " AND n.last_seen_at >= ?", online_since);
    else if (req->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE)
        hub_query_int(&q, " AND n.last_seen_at < ?", online_since);
    if (!req->include_disabled)
        hub_query_sql(&q, " AND n.disabled = 0");
    query_filter(&q, "n", req->query);
    if (req->installed_version[0] != '\0')
        hub_query_text(&q, " AND n.installed_version = ?", req->installed_version);
    hub_query_sql(&q, " ORDER BY n.code LIMIT ?");
    if (hub_list(hub, &l, &q, &a, &rows, &err) != FERRY_OK)
        goto fail;
    resp.nodes = (Ferry__V1__Node **)rows.items;
    resp.n_nodes = rows.n;
    resp.next_page_token = rows.next_page_token;
    ferry_v1_admin_service_list_nodes_reply(call, &resp);
    goto out;
fail:
    hub_fail(call, &err);
out:
    hub_arena_free(&a);
}

/* ---- stores ------------------------------------------------------------------------------------------ */

static void create_store_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateStoreRequest *req = vreq;
    Ferry__V1__CreateStoreResponse resp = FERRY__V1__CREATE_STORE_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[160], dup[160];
    int64_t now = hub_now_ms(), customer_id = 0;
    int disabled = 0;
    bool locked = false;

    snprintf(target, sizeof(target), "store:%.64s,customer:%.64s", req->code, req->customer_code);
    hub_audit_target(call, target);
    if (hub_check_code("customer_code", req->customer_code, &err) != FERRY_OK ||
        hub_check_code("code", req->code, &err) != FERRY_OK || check_name(req->name, &err) != FERRY_OK)
        goto fail;
    snprintf(dup, sizeof(dup), "store '%s' already exists (store codes are unique on the server)", req->code);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK ||
        id_of(hub->db, "customer", req->customer_code, &customer_id, &disabled, &err) != FERRY_OK)
        goto fail;
    if (disabled) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "customer '%s' is disabled", req->customer_code);
        goto fail;
    }
    if (sqlite3_prepare_v2(
            hub->db, "INSERT INTO store (customer_id, code, name, created_at, updated_at) VALUES (?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK) {
        hub_sql_err(hub->db, "create store", &err);
        goto fail;
    }
    sqlite3_bind_int64(st, 1, customer_id);
    hub_bind_text(st, 2, req->code);
    hub_bind_text(st, 3, req->name[0] != '\0' ? req->name : req->code);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now);
    if (step_write(hub->db, st, "create store", dup, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.store = load_one(hub, &a, hub->db, 's', req->code, &err)) == NULL ||
        hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    ferry_v1_admin_service_create_store_reply(call, &resp);
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
}

HUB_OFFLOADED(create_store, Ferry__V1__CreateStoreRequest)

/* ---- nodes ----------------------------------------------------------------------------------------------
 */

static void create_node_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__CreateNodeRequest *req = vreq;
    Ferry__V1__CreateNodeResponse resp = FERRY__V1__CREATE_NODE_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[160], dup[160];
    int64_t now = hub_now_ms(), store_id = 0;
    int disabled = 0;
    bool locked = false;
    hub_token_t tok;

    memset(&tok, 0, sizeof(tok));
    snprintf(target, sizeof(target), "node:%.64s,store:%.64s", req->code, req->store_code);
    hub_audit_target(call, target);
    if (hub_check_code("store_code", req->store_code, &err) != FERRY_OK ||
        hub_check_code("code", req->code, &err) != FERRY_OK || check_name(req->name, &err) != FERRY_OK)
        goto fail;
    if (!env_valid(req->environment)) {
        ferry_err_set(&err, FERRY_E_INVALID_ARG,
                      "environment: required, one of DEV, TEST, UAT, PROD (got %d)", (int)req->environment);
        goto fail;
    }
    if (hub_token_new(HUB_TOKEN_NODE, &tok, &err) != FERRY_OK)
        goto fail;
    snprintf(dup, sizeof(dup), "node '%s' already exists (node codes are unique on the server)", req->code);
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK ||
        id_of(hub->db, "store", req->store_code, &store_id, &disabled, &err) != FERRY_OK)
        goto fail;
    if (disabled) {
        ferry_err_set(&err, FERRY_E_PRECONDITION, "store '%s' is disabled", req->store_code);
        goto fail;
    }
    if (hub_prepare(hub->db,
                    "INSERT INTO node (store_id, code, environment, name, token_id, token_hash, "
                    "token_issued_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    &st, "create node", &err) != FERRY_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, store_id);
    hub_bind_text(st, 2, req->code);
    sqlite3_bind_int(st, 3, req->environment);
    hub_bind_text(st, 4, req->name[0] != '\0' ? req->name : req->code);
    hub_bind_text(st, 5, tok.id);
    sqlite3_bind_blob(st, 6, tok.hash, sizeof(tok.hash), SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now);
    sqlite3_bind_int64(st, 9, now);
    if (step_write(hub->db, st, "create node", dup, &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.node = load_one(hub, &a, hub->db, 'n', req->code, &err)) == NULL ||
        hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    resp.token = tok.token; /* shown once; never stored */
    ferry_v1_admin_service_create_node_reply(call, &resp);
    resp.token = NULL;
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
    memset(&tok, 0, sizeof(tok));
}

HUB_OFFLOADED(create_node, Ferry__V1__CreateNodeRequest)

static void rotate_node_token_work(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *vreq)
{
    const Ferry__V1__RotateNodeTokenRequest *req = vreq;
    Ferry__V1__RotateNodeTokenResponse resp = FERRY__V1__ROTATE_NODE_TOKEN_RESPONSE__INIT;
    hub_arena_t a = {0};
    ferry_err_t err = {0};
    sqlite3_stmt *st = NULL;
    char target[96], old_id[HUB_TOKEN_ID_LEN + 1] = "";
    int64_t now = hub_now_ms();
    bool locked = false;
    hub_token_t tok;

    memset(&tok, 0, sizeof(tok));
    snprintf(target, sizeof(target), "node:%.64s", req->code);
    hub_audit_target(call, target);
    if (hub_check_code("code", req->code, &err) != FERRY_OK ||
        hub_token_new(HUB_TOKEN_NODE, &tok, &err) != FERRY_OK)
        goto fail;
    hub_db_lock(hub);
    locked = true;
    if (hub_tx_begin(hub, &err) != FERRY_OK)
        goto fail;
    if (hub_prepare(hub->db, "SELECT token_id FROM node WHERE code = ?", &st, "rotate node token", &err) !=
        FERRY_OK)
        goto fail;
    hub_bind_text(st, 1, req->code);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ferry_err_set(&err, FERRY_E_NOT_FOUND, "node '%s' not found", req->code);
        goto fail;
    }
    snprintf(old_id, sizeof(old_id), "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(
            hub->db,
            "UPDATE node SET token_id = ?, token_hash = ?, token_issued_at = ?, bound_at = NULL, "
            "updated_at = ? WHERE code = ?",
            -1, &st, NULL) != SQLITE_OK) {
        st = NULL;
        hub_sql_err(hub->db, "rotate node token", &err);
        goto fail;
    }
    hub_bind_text(st, 1, tok.id);
    sqlite3_bind_blob(st, 2, tok.hash, sizeof(tok.hash), SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    hub_bind_text(st, 5, req->code);
    if (step_write(hub->db, st, "rotate node token", "token id collision", &err) != FERRY_OK ||
        hub_audit(hub, call, target, "ok", &err) != FERRY_OK ||
        (resp.node = load_one(hub, &a, hub->db, 'n', req->code, &err)) == NULL ||
        hub_tx_commit(hub, &err) != FERRY_OK)
        goto fail;
    hub_db_unlock(hub);
    locked = false;
    hub_auth_forget(hub, old_id); /* the old token stops working now, not in HUB_AUTH_CACHE_MS */
    resp.token = tok.token;
    ferry_v1_admin_service_rotate_node_token_reply(call, &resp);
    resp.token = NULL;
    goto out;
fail:
    hub_fail_tx(hub, call, &err, locked);
out:
    sqlite3_finalize(st);
    hub_arena_free(&a);
    memset(&tok, 0, sizeof(tok));
}

HUB_OFFLOADED(rotate_node_token, Ferry__V1__RotateNodeTokenRequest)

void hub_tree_bind(ferry_hub_t *hub)
{
    hub->admin.create_customer = create_customer;
    hub->admin.list_customers = list_customers;
    hub->admin.get_customer = get_customer;
    hub->admin.update_customer = update_customer;
    hub->admin.disable_customer = disable_customer;
    hub->admin.create_store = create_store;
    hub->admin.list_stores = list_stores;
    hub->admin.get_store = get_store;
    hub->admin.update_store = update_store;
    hub->admin.disable_store = disable_store;
    hub->admin.create_node = create_node;
    hub->admin.list_nodes = list_nodes;
    hub->admin.get_node = get_node;
    hub->admin.update_node = update_node;
    hub->admin.disable_node = disable_node;
    hub->admin.rotate_node_token = rotate_node_token;
}
