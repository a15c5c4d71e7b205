/*
 * Repository: storage configurations (see ferry/store/storage.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/storage.h"
#include "ferry/store_sqlite.h"

static const char cfg_cols[] = "SELECT sc.kind, sc.settings_json, sc.updated_at, COALESCE(t.token_id, ''), "
                               "COALESCE(c.code, ''), sc.customer_id, sc.mirrors_json FROM storage_config sc "
                               "LEFT JOIN admin_token t ON t.id = sc.updated_by "
                               "LEFT JOIN customer c ON c.id = sc.customer_id";

static ferry_store_storage_row_t *row_of(ferry_arena_t *a, sqlite3_stmt *st)
{
    ferry_store_storage_row_t *r = ferry_arena_alloc(a, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->kind = ferry_store_col_dup(a, st, 0);
    r->settings_json = ferry_store_col_dup(a, st, 1);
    r->updated_at = sqlite3_column_int64(st, 2);
    r->updated_by = ferry_store_col_dup(a, st, 3);
    r->customer_code = ferry_store_col_dup(a, st, 4);
    r->customer_id = sqlite3_column_int64(st, 5);
    r->mirrors_json = ferry_store_col_dup(a, st, 6);
    return a->failed ? NULL : r;
}

static ferry_err_code_t get_on(sqlite3 *db, ferry_arena_t *a, int64_t customer_id,
                               ferry_store_storage_row_t **out, ferry_err_t *err)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    snprintf(sql, sizeof(sql), "%s WHERE sc.customer_id IS ?", cfg_cols);
    if ((rc = ferry_store_prepare(db, sql, &st, "storage config", err)) != FERRY_OK)
        goto out;
    if (customer_id > 0)
        sqlite3_bind_int64(st, 1, customer_id); /* unbound: NULL, the global row */
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        if ((*out = row_of(a, st)) == NULL)
            rc = ferry_err_set(err, FERRY_E_NOMEM, "storage config: out of memory");
    } else if (step != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "storage config", err);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_storage_get(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                         ferry_store_storage_row_t **out, ferry_err_t *err)
{
    return get_on(ferry_store_sqlite(s), a, customer_id, out, err);
}

ferry_err_code_t ferry_store_storage_get_ro(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                            ferry_store_storage_row_t **out, ferry_err_t *err)
{
    sqlite3 *db;
    ferry_err_code_t rc;

    *out = NULL;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    rc = get_on(db, a, customer_id, out, err);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_storage_effective_ro(ferry_store_t *s, ferry_arena_t *a, int64_t customer_id,
                                                  ferry_store_storage_row_t **out, bool *override,
                                                  ferry_err_t *err)
{
    sqlite3 *db;
    ferry_err_code_t rc = FERRY_OK;

    *out = NULL;
    *override = false;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if (customer_id > 0 && (rc = get_on(db, a, customer_id, out, err)) == FERRY_OK)
        *override = *out != NULL;
    if (rc == FERRY_OK && *out == NULL)
        rc = get_on(db, a, 0, out, err);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_storage_put(ferry_store_t *s, const ferry_store_storage_put_t *p,
                                         ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    /* Update in place (the row keeps its id), else insert: the unique indexes allow one
     * global row and one per customer. */
    for (int pass = 0; pass < 2; pass++) {
        if ((rc = ferry_store_prepare(db,
                                      pass == 0
                                          ? "UPDATE storage_config SET kind = ?1, settings_json = ?2, "
                                            "updated_at = ?3, updated_by = ?4, mirrors_json = ?6 "
                                            "WHERE customer_id IS ?5"
                                          : "INSERT INTO storage_config (kind, settings_json, updated_at, "
                                            "updated_by, customer_id, mirrors_json) VALUES (?,?,?,?,?,?)",
                                      &st, "set storage config", err)) != FERRY_OK)
            goto out;
        ferry_store_bind_text(st, 1, p->kind);
        ferry_store_bind_text(st, 2, p->settings_json);
        sqlite3_bind_int64(st, 3, p->updated_at);
        if (p->updated_by > 0)
            sqlite3_bind_int64(st, 4, p->updated_by);
        if (p->customer_id > 0)
            sqlite3_bind_int64(st, 5, p->customer_id);
        ferry_store_bind_text(st, 6, p->mirrors_json != NULL ? p->mirrors_json : "[]");
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = ferry_store_sql_err(db, "set storage config", err);
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (pass == 0 && sqlite3_changes(db) > 0)
            break;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_storage_delete(ferry_store_t *s, int64_t customer_id, bool *deleted,
                                            ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *deleted = false;
    if (customer_id <= 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "delete storage config: a customer is required");
    if ((rc = ferry_store_prepare(db, "DELETE FROM storage_config WHERE customer_id = ?", &st,
                                  "delete storage config", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, customer_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "delete storage config", err);
    else
        *deleted = sqlite3_changes(db) > 0;
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_storage_overrides_ro(ferry_store_t *s, ferry_arena_t *a, int64_t offset,
                                                  int limit, ferry_store_storage_row_t ***rows, size_t *n,
                                                  bool *more, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    char sql[640];
    ferry_err_code_t rc;
    int step;

    *rows = NULL;
    *n = 0;
    *more = false;
    if (limit <= 0 || offset < 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "list storage configs: bad page (%d at %lld)", limit,
                             (long long)offset);
    if ((*rows = ferry_arena_alloc(a, (size_t)limit * sizeof(**rows))) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "list storage configs: out of memory");
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    snprintf(sql, sizeof(sql), "%s WHERE sc.customer_id IS NOT NULL ORDER BY c.code LIMIT ? OFFSET ?",
             cfg_cols);
    if ((rc = ferry_store_prepare(db, sql, &st, "list storage configs", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int(st, 1, limit + 1);
    sqlite3_bind_int64(st, 2, offset);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((int)*n >= limit) {
            *more = true;
            break;
        }
        if (((*rows)[*n] = row_of(a, st)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "list storage configs: out of memory");
            goto out;
        }
        (*n)++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "list storage configs", err);
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}
