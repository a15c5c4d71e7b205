/*
 * Repository: admin tokens and the credential lookups (see ferry/store/tokens.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/tokens.h"
#include "ferry/store_sqlite.h"

static const char token_cols[] = "SELECT t.token_id, t.name, t.role, t.created_at, COALESCE(c.token_id, ''), "
                                 "t.last_used_at, t.expires_at, t.revoked_at, t.id "
                                 "FROM admin_token t LEFT JOIN admin_token c ON c.id = t.created_by";

static void *token_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__AdminToken *t = ferry_arena_alloc(a, sizeof(*t));
    (void)ctx;
    (void)err;
    if (t == NULL)
        return NULL;
    ferry__v1__admin_token__init(t);
    t->id = ferry_store_col_dup(a, st, 0);
    t->name = ferry_store_col_dup(a, st, 1);
    t->role = (Ferry__V1__Role)sqlite3_column_int(st, 2);
    t->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 3));
    t->created_by = ferry_store_col_dup(a, st, 4);
    t->last_used_at = ferry_arena_ts(a, sqlite3_column_int64(st, 5));
    t->expires_at = ferry_arena_ts(a, sqlite3_column_int64(st, 6));
    t->revoked_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
    return t;
}

ferry_err_code_t ferry_store_admin_token_insert(ferry_store_t *s, const ferry_store_admin_token_new_t *t,
                                                ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db,
                                  "INSERT INTO admin_token (token_id, token_hash, role, name, created_at, "
                                  "created_by, expires_at) VALUES (?,?,?,?,?,?,?)",
                                  &st, "create admin token", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, t->token_id);
    sqlite3_bind_blob(st, 2, t->hash, sizeof(t->hash), SQLITE_STATIC);
    sqlite3_bind_int(st, 3, t->role);
    ferry_store_bind_text(st, 4, t->name);
    sqlite3_bind_int64(st, 5, t->created_at);
    if (t->created_by > 0)
        sqlite3_bind_int64(st, 6, t->created_by);
    if (t->expires_at > 0)
        sqlite3_bind_int64(st, 7, t->expires_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create admin token", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_admin_token_get(ferry_store_t *s, ferry_arena_t *a, const char *token_id,
                                             Ferry__V1__AdminToken **out, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    char sql[512];
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    snprintf(sql, sizeof(sql), "%s WHERE t.token_id = ?", token_cols);
    if ((rc = ferry_store_prepare(db, sql, &st, "admin token", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, token_id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "admin token '%.40s' not found", token_id);
    else if (step != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "admin token", err);
    else if ((*out = token_row(a, st, NULL, err)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_admin_token_state(ferry_store_t *s, const char *token_id, int *role,
                                               bool *revoked, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_prepare(db,
                                  "SELECT role, revoked_at IS NOT NULL FROM admin_token WHERE token_id = ?",
                                  &st, "revoke admin token", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, token_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *role = sqlite3_column_int(st, 0);
        *revoked = sqlite3_column_int(st, 1) != 0;
    } else if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "admin token '%.40s' not found", token_id);
    } else {
        rc = ferry_store_sql_err(db, "revoke admin token", err);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_admin_tokens_count_usable(ferry_store_t *s, int role, int64_t now,
                                                       const char *except_id, int64_t *count,
                                                       ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc =
             ferry_store_prepare(db,
                                 "SELECT count(*) FROM admin_token WHERE role = ? AND revoked_at IS NULL AND "
                                 "(expires_at IS NULL OR expires_at > ?) AND token_id <> ?",
                                 &st, "revoke admin token", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 1, role);
    sqlite3_bind_int64(st, 2, now);
    ferry_store_bind_text(st, 3, except_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "revoke admin token", err);
    else
        *count = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_admin_token_revoke(ferry_store_t *s, const char *token_id, int64_t now,
                                                ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db, "UPDATE admin_token SET revoked_at = ? WHERE token_id = ?", &st,
                                  "revoke admin token", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, now);
    ferry_store_bind_text(st, 2, token_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "revoke admin token", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_admin_tokens_list_ro(ferry_store_t *s, const char *page_token, int32_t page_size,
                                                  bool include_revoked, int64_t now, ferry_arena_t *a,
                                                  ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t after;
    ferry_err_code_t rc;
    /* Keyset paging by row id (column 8). */
    ferry_store_list_t l = {
        FERRY_STORE_CONN_RO, "list admin tokens", ferry_store_page_limit(page_size), 0, 8, token_row, NULL};

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &after, err)) != FERRY_OK)
        return rc;
    ferry_store_query_sql(&q, token_cols);
    ferry_store_query_int(&q, " WHERE t.id > ?", after);
    if (!include_revoked)
        ferry_store_query_int(&q, " AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)",
                              now);
    ferry_store_query_sql(&q, " ORDER BY t.id LIMIT ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

static void copy_hash(sqlite3_stmt *st, int col, ferry_store_credential_t *out)
{
    const void *h = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (h == NULL || n > sizeof(out->hash))
        n = 0; /* a malformed stored hash never matches */
    if (n > 0)
        memcpy(out->hash, h, n);
    out->hash_len = n;
}

/* Prepared once on the read-only connection: a CheckIn of a node whose token left
 * the auth cache costs one indexed lookup, not a parse. */
static ferry_err_code_t credential_ro(ferry_store_t *s, const char *sql, const char *token_id, bool admin,
                                      ferry_store_credential_t *out, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_ro_prepare_cached(s, sql, &st, "auth lookup", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_text(st, 1, token_id, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "unknown token %s", token_id);
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "auth lookup", err);
        goto out;
    }
    out->row_id = sqlite3_column_int64(st, 0);
    copy_hash(st, 1, out);
    if (admin) {
        out->role = sqlite3_column_int(st, 2);
        snprintf(out->name, sizeof(out->name), "%s", ferry_store_col_text(st, 3));
        out->revoked = sqlite3_column_type(st, 4) != SQLITE_NULL;
        out->expires_at = sqlite3_column_type(st, 5) != SQLITE_NULL ? sqlite3_column_int64(st, 5) : 0;
    } else {
        out->node_disabled = sqlite3_column_int(st, 2) != 0;
        out->customer_id = sqlite3_column_int64(st, 3);
        out->store_disabled = sqlite3_column_int(st, 4) != 0;
        out->customer_disabled = sqlite3_column_int(st, 5) != 0;
    }
out:
    ferry_store_stmt_release(s, st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_admin_credential_ro(ferry_store_t *s, const char *token_id,
                                                 ferry_store_credential_t *out, ferry_err_t *err)
{
    static const char sql[] =
        "SELECT id, token_hash, role, name, revoked_at, expires_at FROM admin_token WHERE token_id = ?";
    return credential_ro(s, sql, token_id, true, out, err);
}

ferry_err_code_t ferry_store_node_credential_ro(ferry_store_t *s, const char *token_id,
                                                ferry_store_credential_t *out, ferry_err_t *err)
{
    /* The one rule for "enabled" needs the node's, its store's and its customer's flag. */
    static const char sql[] = "SELECT n.id, n.token_hash, n.disabled, s.customer_id, s.disabled, c.disabled "
                              "FROM node n JOIN store s ON s.id = n.store_id "
                              "JOIN customer c ON c.id = s.customer_id WHERE n.token_id = ?";
    return credential_ro(s, sql, token_id, false, out, err);
}
