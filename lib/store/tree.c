/*
 * Repository: the customer -> store -> node tree (see ferry/store/tree.h).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"

#define HOST_IPS_MAX 64 /* a node reports a handful; more is not shown */

static const char customer_cols[] =
    "SELECT c.id, c.code, c.name, c.disabled, c.created_at, c.updated_at, "
    "EXISTS (SELECT 1 FROM storage_config sc WHERE sc.customer_id = c.id) FROM customer c";

static const char store_cols[] =
    "SELECT s.id, s.code, c.code, s.name, s.disabled, s.created_at, s.updated_at "
    "FROM store s JOIN customer c ON c.id = s.customer_id";

static const char node_cols[] =
    "SELECT n.id, n.code, s.code, c.code, n.environment, n.name, n.disabled, n.created_at, n.updated_at, "
    "n.last_seen_at, n.bound_at, n.agent_version, n.installed_version, n.free_disk_bytes, n.current_task_id, "
    "n.host_json, n.token_issued_at, n.time_zone FROM node n JOIN store s ON s.id = n.store_id "
    "JOIN customer c ON c.id = s.customer_id";

static const char *kind_table(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER ? "customer" : kind == FERRY_STORE_STORE ? "store" : "node";
}

static const char *kind_cols(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER ? customer_cols : kind == FERRY_STORE_STORE ? store_cols : node_cols;
}

static const char *kind_alias(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER ? "c" : kind == FERRY_STORE_STORE ? "s" : "n";
}

static bool kind_valid(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER || kind == FERRY_STORE_STORE || kind == FERRY_STORE_NODE;
}

/* ---- row -> message ------------------------------------------------------------------------- */

static void *row_customer(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Customer *c = ferry_arena_alloc(a, sizeof(*c));
    (void)ctx;
    (void)err;
    if (c == NULL)
        return NULL;
    ferry__v1__customer__init(c);
    c->code = ferry_store_col_dup(a, st, 1);
    c->name = ferry_store_col_dup(a, st, 2);
    c->disabled = sqlite3_column_int(st, 3) != 0;
    c->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 4));
    c->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 5));
    c->has_storage_override = sqlite3_column_int(st, 6) != 0;
    return c;
}

static void *row_store(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__Store *s = ferry_arena_alloc(a, sizeof(*s));
    (void)ctx;
    (void)err;
    if (s == NULL)
        return NULL;
    ferry__v1__store__init(s);
    s->code = ferry_store_col_dup(a, st, 1);
    s->customer_code = ferry_store_col_dup(a, st, 2);
    s->name = ferry_store_col_dup(a, st, 3);
    s->disabled = sqlite3_column_int(st, 4) != 0;
    s->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 5));
    s->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 6));
    return s;
}

/* HostInfo from the proto3 JSON the agent service stores ('' = none). The column is
 * written by CheckIn from a capped message, so this parse is small. */
static Ferry__V1__HostInfo *host_from_json(ferry_arena_t *a, const char *text)
{
    json_t *j = NULL, *ips;
    Ferry__V1__HostInfo *h = NULL;

    if (text == NULL || text[0] == '\0' || (j = json_loads(text, 0, NULL)) == NULL || !json_is_object(j))
        goto out;
    if ((h = ferry_arena_alloc(a, sizeof(*h))) == NULL)
        goto out;
    ferry__v1__host_info__init(h);
    h->hostname = ferry_arena_strdup(a, json_string_value(json_object_get(j, "hostname")));
    h->os = ferry_arena_strdup(a, json_string_value(json_object_get(j, "os")));
    h->arch = ferry_arena_strdup(a, json_string_value(json_object_get(j, "arch")));
    ips = json_object_get(j, "ipAddresses");
    if (json_is_array(ips) && json_array_size(ips) > 0 && json_array_size(ips) <= HOST_IPS_MAX &&
        (h->ip_addresses = ferry_arena_alloc(a, json_array_size(ips) * sizeof(char *))) != NULL) {
        for (size_t i = 0; i < json_array_size(ips); i++)
            h->ip_addresses[h->n_ip_addresses++] =
                ferry_arena_strdup(a, json_string_value(json_array_get(ips, i)));
    }
out:
    json_decref(j);
    return h;
}

static void *row_node(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    const ferry_store_node_view_t *view = ctx;
    Ferry__V1__Node *n = ferry_arena_alloc(a, sizeof(*n));

    (void)err;
    if (n == NULL)
        return NULL;
    ferry__v1__node__init(n);
    n->code = ferry_store_col_dup(a, st, 1);
    n->store_code = ferry_store_col_dup(a, st, 2);
    n->customer_code = ferry_store_col_dup(a, st, 3);
    n->environment = (Ferry__V1__Environment)sqlite3_column_int(st, 4);
    n->name = ferry_store_col_dup(a, st, 5);
    n->disabled = sqlite3_column_int(st, 6) != 0;
    n->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
    n->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 8));
    if (sqlite3_column_type(st, 9) == SQLITE_NULL) {
        n->connectivity = FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN;
    } else {
        int64_t seen = sqlite3_column_int64(st, 9);
        n->last_seen_at = ferry_arena_ts(a, seen);
        n->connectivity = view != NULL && seen >= view->online_since
                              ? FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE
                              : FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE;
    }
    n->bound_at = ferry_arena_ts(a, sqlite3_column_int64(st, 10));
    n->agent_version = ferry_store_col_dup(a, st, 11);
    n->installed_version = ferry_store_col_dup(a, st, 12);
    n->free_disk_bytes = (uint64_t)sqlite3_column_int64(st, 13);
    if (sqlite3_column_type(st, 14) != SQLITE_NULL)
        n->current_task_id = ferry_store_col_dup(a, st, 14);
    n->host = host_from_json(a, (const char *)sqlite3_column_text(st, 15));
    n->token_issued_at = ferry_arena_ts(a, sqlite3_column_int64(st, 16));
    n->time_zone = ferry_store_col_dup(a, st, 17);
    return n;
}

static ferry_store_row_fn kind_row(ferry_store_tree_kind_t kind)
{
    return kind == FERRY_STORE_CUSTOMER ? row_customer : kind == FERRY_STORE_STORE ? row_store : row_node;
}

/* ---- single rows ----------------------------------------------------------------------------- */

static ferry_err_code_t get_on(sqlite3 *db, ferry_arena_t *a, ferry_store_tree_kind_t kind, const char *code,
                               const ferry_store_node_view_t *view, void **out, ferry_err_t *err)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    const char *what = kind_table(kind);
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    snprintf(sql, sizeof(sql), "%s WHERE %s.code = ?", kind_cols(kind), kind_alias(kind));
    if ((rc = ferry_store_prepare(db, sql, &st, what, err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "%s '%.64s' not found", what, code != NULL ? code : "");
    else if (step != SQLITE_ROW)
        rc = ferry_store_sql_err(db, what, err);
    else if ((*out = kind_row(kind)(a, st, (void *)view, err)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_tree_get(ferry_store_t *s, ferry_arena_t *a, ferry_store_tree_kind_t kind,
                                      const char *code, const ferry_store_node_view_t *view, void **out,
                                      ferry_err_t *err)
{
    *out = NULL;
    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    return get_on(ferry_store_sqlite(s), a, kind, code, view, out, err);
}

ferry_err_code_t ferry_store_tree_get_ro(ferry_store_t *s, ferry_arena_t *a, ferry_store_tree_kind_t kind,
                                         const char *code, const ferry_store_node_view_t *view, void **out,
                                         ferry_err_t *err)
{
    sqlite3 *db;
    ferry_err_code_t rc;

    *out = NULL;
    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    rc = get_on(db, a, kind, code, view, out, err);
    ferry_store_ro_release(s);
    return rc;
}

static ferry_err_code_t id_on(sqlite3 *db, ferry_store_tree_kind_t kind, const char *code, int64_t *id,
                              bool *disabled, ferry_err_t *err)
{
    const char *table = kind_table(kind);
    char sql[128];
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    snprintf(sql, sizeof(sql), "SELECT id, disabled FROM %s WHERE code = ?", table); /* table: a constant */
    if ((rc = ferry_store_prepare(db, sql, &st, table, err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "%s '%.64s' not found", table, code != NULL ? code : "");
    } else if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, table, err);
    } else {
        *id = sqlite3_column_int64(st, 0);
        if (disabled != NULL)
            *disabled = sqlite3_column_int(st, 1) != 0;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_tree_id(ferry_store_t *s, ferry_store_tree_kind_t kind, const char *code,
                                     int64_t *id, bool *disabled, ferry_err_t *err)
{
    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    return id_on(ferry_store_sqlite(s), kind, code, id, disabled, err);
}

ferry_err_code_t ferry_store_tree_id_ro(ferry_store_t *s, ferry_store_tree_kind_t kind, const char *code,
                                        int64_t *id, bool *disabled, ferry_err_t *err)
{
    sqlite3 *db;
    ferry_err_code_t rc;

    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    rc = id_on(db, kind, code, id, disabled, err);
    ferry_store_ro_release(s);
    return rc;
}

/* ---- writes ------------------------------------------------------------------------------------- */

/* Runs a prepared write; a UNIQUE violation is FERRY_E_EXISTS with |dup_msg|. */
static ferry_err_code_t step_write(sqlite3 *db, sqlite3_stmt *st, const char *what, const char *dup_msg,
                                   ferry_err_t *err)
{
    int ext;
    if (sqlite3_step(st) == SQLITE_DONE)
        return FERRY_OK;
    ext = sqlite3_extended_errcode(db);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return ferry_err_set(err, FERRY_E_EXISTS, "%s", dup_msg);
    return ferry_store_sql_err(db, what, err);
}

ferry_err_code_t ferry_store_customer_insert(ferry_store_t *s, const char *code, const char *name,
                                             int64_t now, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    char dup[160];
    ferry_err_code_t rc;

    snprintf(dup, sizeof(dup), "customer '%.64s' already exists", code);
    if ((rc = ferry_store_prepare(
             db, "INSERT INTO customer (code, name, created_at, updated_at) VALUES (?, ?, ?, ?)", &st,
             "create customer", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    ferry_store_bind_text(st, 2, name);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    rc = step_write(db, st, "create customer", dup, err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_store_insert(ferry_store_t *s, int64_t customer_id, const char *code,
                                          const char *name, int64_t now, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    char dup[160];
    ferry_err_code_t rc;

    snprintf(dup, sizeof(dup), "store '%.64s' already exists (store codes are unique on the server)", code);
    if ((rc = ferry_store_prepare(
             db, "INSERT INTO store (customer_id, code, name, created_at, updated_at) VALUES (?,?,?,?,?)",
             &st, "create store", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, customer_id);
    ferry_store_bind_text(st, 2, code);
    ferry_store_bind_text(st, 3, name);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, now);
    rc = step_write(db, st, "create store", dup, err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_insert(ferry_store_t *s, const ferry_store_node_new_t *n, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    char dup[160];
    ferry_err_code_t rc;

    snprintf(dup, sizeof(dup), "node '%.64s' already exists (node codes are unique on the server)", n->code);
    if ((rc = ferry_store_prepare(
             db,
             "INSERT INTO node (store_id, code, environment, name, token_id, token_hash, "
             "token_issued_at, created_at, updated_at, time_zone) VALUES (?,?,?,?,?,?,?,?,?,?)",
             &st, "create node", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, n->store_id);
    ferry_store_bind_text(st, 2, n->code);
    sqlite3_bind_int(st, 3, n->environment);
    ferry_store_bind_text(st, 4, n->name);
    ferry_store_bind_text(st, 5, n->token_id);
    sqlite3_bind_blob(st, 6, n->token_hash, sizeof(n->token_hash), SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, n->now);
    sqlite3_bind_int64(st, 8, n->now);
    sqlite3_bind_int64(st, 9, n->now);
    ferry_store_bind_text(st, 10, n->time_zone);
    rc = step_write(db, st, "create node", dup, err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_tree_update(ferry_store_t *s, ferry_store_tree_kind_t kind, int64_t id,
                                         const ferry_store_tree_change_t *ch, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    const char *table = kind_table(kind);
    sqlite3_stmt *st = NULL;
    char sql[256];
    ferry_err_code_t rc;

    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    /* table and columns are constants; values are bound */
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET name = COALESCE(?1, name), disabled = COALESCE(?2, disabled), updated_at = ?3%s "
             "WHERE id = ?4",
             table,
             kind == FERRY_STORE_NODE
                 ? ", environment = COALESCE(?5, environment), time_zone = COALESCE(?6, time_zone)"
                 : "");
    if ((rc = ferry_store_prepare(db, sql, &st, table, err)) != FERRY_OK)
        goto out;
    if (ch->name != NULL)
        ferry_store_bind_text(st, 1, ch->name);
    if (ch->disabled >= 0)
        sqlite3_bind_int(st, 2, ch->disabled != 0);
    sqlite3_bind_int64(st, 3, ch->now);
    sqlite3_bind_int64(st, 4, id);
    if (kind == FERRY_STORE_NODE && ch->environment != 0)
        sqlite3_bind_int(st, 5, ch->environment);
    if (kind == FERRY_STORE_NODE && ch->time_zone != NULL)
        ferry_store_bind_text(st, 6, ch->time_zone);
    rc = step_write(db, st, table, "conflict", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_node_token_id_ro(ferry_store_t *s, const char *code, char *out, size_t size,
                                              ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if (size > 0)
        out[0] = '\0';
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_prepare(db, "SELECT token_id FROM node WHERE code = ?", &st, "node token", err)) !=
        FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        snprintf(out, size, "%s", ferry_store_col_text(st, 0));
    else if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "node '%.64s' not found", code != NULL ? code : "");
    else
        rc = ferry_store_sql_err(db, "node token", err);
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_node_rotate_token(ferry_store_t *s, const char *code, const char *token_id,
                                               const uint8_t hash[FERRY_SHA256_LEN], int64_t now,
                                               ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db,
                                  "UPDATE node SET token_id = ?, token_hash = ?, token_issued_at = ?, "
                                  "bound_at = NULL, updated_at = ? WHERE code = ?",
                                  &st, "rotate node token", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, token_id);
    sqlite3_bind_blob(st, 2, hash, FERRY_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    ferry_store_bind_text(st, 5, code);
    if ((rc = step_write(db, st, "rotate node token", "token id collision", err)) != FERRY_OK)
        goto out;
    if (sqlite3_changes(db) == 0)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "node '%.64s' not found", code != NULL ? code : "");
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- lists ---------------------------------------------------------------------------------------- */

/* A page token is the last code of the previous page: 1..64 of [A-Za-z0-9_-]. */
static bool token_code_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static void query_filter(ferry_store_query_t *q, const char *alias, const char *text)
{
    char frag[256];
    if (text == NULL || text[0] == '\0')
        return;
    snprintf(frag, sizeof(frag), " AND (instr(lower(%s.code), lower(?)) > 0", alias);
    ferry_store_query_text(q, frag, text);
    snprintf(frag, sizeof(frag), " OR instr(lower(%s.name), lower(?)) > 0)", alias);
    ferry_store_query_text(q, frag, text);
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

ferry_err_code_t ferry_store_tree_list_ro(ferry_store_t *s, ferry_store_tree_kind_t kind,
                                          const ferry_store_tree_filter_t *f,
                                          const ferry_store_node_view_t *view, ferry_arena_t *a,
                                          ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    const char *al = kind_alias(kind);
    char frag[64];
    /* Keyset paging by code (column 1): the page token is the last code returned. */
    ferry_store_list_t l = {FERRY_STORE_CONN_RO, "list",      ferry_store_page_limit(f->page_size), 0, 1,
                            kind_row(kind),      (void *)view};

    *out = (ferry_store_page_t){0};
    if (!kind_valid(kind))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "tree: unknown kind %d", (int)kind);
    ferry_store_query_sql(&q, kind_cols(kind));
    ferry_store_query_sql(&q, " WHERE 1=1");
    if (set(f->page_token)) {
        if (!token_code_ok(f->page_token))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "page_token '%.64s' is not one this server issued",
                                 f->page_token);
        snprintf(frag, sizeof(frag), " AND %s.code > ?", al);
        ferry_store_query_text(&q, frag, f->page_token);
    }
    if (kind != FERRY_STORE_CUSTOMER && set(f->customer_code))
        ferry_store_query_text(&q, " AND c.code = ?", f->customer_code);
    if (kind == FERRY_STORE_NODE) {
        int64_t since = view != NULL ? view->online_since : 0;
        if (set(f->store_code))
            ferry_store_query_text(&q, " AND s.code = ?", f->store_code);
        if (f->environment != 0)
            ferry_store_query_int(&q, " AND n.environment = ?", f->environment);
        if (f->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_NEVER_SEEN)
            ferry_store_query_sql(&q, " AND n.last_seen_at IS NULL");
        else if (f->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_ONLINE)
            ferry_store_query_int(&q, " AND n.last_seen_at >= ?", since);
        else if (f->connectivity == FERRY__V1__CONNECTIVITY__CONNECTIVITY_OFFLINE)
            ferry_store_query_int(&q, " AND n.last_seen_at < ?", since);
    }
    if (!f->include_disabled) {
        snprintf(frag, sizeof(frag), " AND %s.disabled = 0", al);
        ferry_store_query_sql(&q, frag);
    }
    query_filter(&q, al, f->query);
    if (kind == FERRY_STORE_NODE && set(f->installed_version))
        ferry_store_query_text(&q, " AND n.installed_version = ?", f->installed_version);
    snprintf(frag, sizeof(frag), " ORDER BY %s.code LIMIT ?", al);
    ferry_store_query_sql(&q, frag);
    return ferry_store_list(s, &l, &q, a, out, err);
}
