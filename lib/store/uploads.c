/*
 * Repository: upload rows (see ferry/store/uploads.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/uploads.h"
#include "ferry/store_sqlite.h"

ferry_err_code_t ferry_store_package_upload_insert(ferry_store_t *s, const ferry_store_upload_new_t *u,
                                                   ferry_err_t *err)
{
    static const char sql[] = "INSERT INTO upload (id, purpose, file_name, expected_size, expected_sha256,"
                              " created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(db, sql, &st, "create upload", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, u->id);
    ferry_store_bind_text(st, 2, FERRY_STORE_UPLOAD_PACKAGE);
    ferry_store_bind_text(st, 3, u->file_name);
    sqlite3_bind_int64(st, 4, (int64_t)u->expected_size);
    ferry_store_bind_text(st, 5, u->expected_sha256);
    if (u->created_by > 0)
        sqlite3_bind_int64(st, 6, u->created_by);
    sqlite3_bind_int64(st, 7, u->created_at);
    sqlite3_bind_int64(st, 8, u->expires_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create upload", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_upload_get(ferry_store_t *s, const char *id, ferry_store_upload_t *out,
                                        ferry_err_t *err)
{
    static const char sql[] =
        "SELECT id, purpose, status, COALESCE(node_id, 0), COALESCE(created_by, 0),"
        " file_name, expected_size, expected_sha256, blob_sha256, created_at, expires_at"
        " FROM upload WHERE id = ?";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    memset(out, 0, sizeof(*out));
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "upload", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "no upload '%.64s'", id);
        goto out;
    }
    if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "upload", err);
        goto out;
    }
    snprintf(out->id, sizeof(out->id), "%s", ferry_store_col_text(st, 0));
    snprintf(out->purpose, sizeof(out->purpose), "%s", ferry_store_col_text(st, 1));
    snprintf(out->status, sizeof(out->status), "%s", ferry_store_col_text(st, 2));
    out->node_id = sqlite3_column_int64(st, 3);
    out->created_by = sqlite3_column_int64(st, 4);
    snprintf(out->file_name, sizeof(out->file_name), "%s", ferry_store_col_text(st, 5));
    out->expected_size = (uint64_t)sqlite3_column_int64(st, 6);
    snprintf(out->expected_sha256, sizeof(out->expected_sha256), "%s", ferry_store_col_text(st, 7));
    snprintf(out->blob_sha256, sizeof(out->blob_sha256), "%s", ferry_store_col_text(st, 8));
    out->created_at = sqlite3_column_int64(st, 9);
    out->expires_at = sqlite3_column_int64(st, 10);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_upload_close(ferry_store_t *s, const char *id, const char *blob_sha256,
                                          bool *changed, ferry_err_t *err)
{
    static const char commit_sql[] =
        "UPDATE upload SET status = 'committed', blob_sha256 = ?2 WHERE id = ?1 AND status = 'open'";
    static const char abort_sql[] = "UPDATE upload SET status = 'aborted' WHERE id = ?1 AND status = 'open'";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if (changed != NULL)
        *changed = false;
    if ((rc = ferry_store_prepare_cached(s, blob_sha256 != NULL ? commit_sql : abort_sql, &st, "close upload",
                                         err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, id);
    if (blob_sha256 != NULL)
        ferry_store_bind_text(st, 2, blob_sha256);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "close upload", err);
        goto out;
    }
    if (changed != NULL)
        *changed = sqlite3_changes(db) > 0;
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_uploads_expired(ferry_store_t *s, int64_t now_ms, int64_t ttl_ms,
                                             char (*ids)[FERRY_STORE_UPLOAD_ID_MAX + 1], size_t max,
                                             size_t *n, ferry_err_t *err)
{
    static const char sql[] = "SELECT id FROM upload WHERE status = 'open' AND (expires_at <= ?1 OR"
                              " created_at <= ?1 - ?2) ORDER BY created_at LIMIT ?3";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step = SQLITE_DONE;

    *n = 0;
    if ((rc = ferry_store_prepare(db, sql, &st, "upload sweep", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, ttl_ms);
    sqlite3_bind_int64(st, 3, (int64_t)max);
    while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(ids[(*n)++], FERRY_STORE_UPLOAD_ID_MAX + 1, "%s", ferry_store_col_text(st, 0));
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "upload sweep", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_upload_is_open(ferry_store_t *s, const char *id, bool *open, ferry_err_t *err)
{
    static const char sql[] = "SELECT count(*) FROM upload WHERE id = ? AND status = 'open'";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    *open = false;
    if ((rc = ferry_store_prepare_cached(s, sql, &st, "upload", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "upload", err);
    else
        *open = sqlite3_column_int64(st, 0) > 0;
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

ferry_err_code_t ferry_store_uploads_open_usage(ferry_store_t *s, const ferry_store_upload_owner_t *owner,
                                                int64_t *count, uint64_t *bytes, ferry_err_t *err)
{
    static const char by_admin[] = "SELECT count(*), COALESCE(sum(expected_size), 0) FROM upload"
                                   " WHERE status = 'open' AND purpose = ?1 AND created_by = ?2";
    static const char by_node[] = "SELECT count(*), COALESCE(sum(expected_size), 0) FROM upload"
                                  " WHERE status = 'open' AND purpose = ?1 AND node_id = ?2";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    bool node = strcmp(owner->purpose, FERRY_STORE_UPLOAD_NODE_FILE) == 0;
    ferry_err_code_t rc;

    *count = 0;
    *bytes = 0;
    if ((rc = ferry_store_prepare_cached(s, node ? by_node : by_admin, &st, "upload quota", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, owner->purpose);
    sqlite3_bind_int64(st, 2, owner->id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "upload quota", err);
        goto out;
    }
    *count = sqlite3_column_int64(st, 0);
    *bytes = (uint64_t)sqlite3_column_int64(st, 1);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}
