/*
 * Repository: the node configuration index (see ferry/store/nodecfg.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/nodecfg.h"
#include "ferry/store_sqlite.h"

static const char config_cols[] =
    "SELECT n.code, i.config_version, i.uploaded_at, COALESCE(i.file_id, 0), i.blob_sha256, i.size, "
    "i.summary_json, s.customer_id FROM node_config_index i JOIN node n ON n.id = i.node_id "
    "JOIN store s ON s.id = n.store_id JOIN customer c ON c.id = s.customer_id";

static void *config_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    ferry_store_node_config_t *c = ferry_arena_alloc(a, sizeof(*c));
    (void)ctx;
    (void)err;
    if (c == NULL)
        return NULL;
    c->node_code = ferry_store_col_dup(a, st, 0);
    c->config_version = sqlite3_column_int64(st, 1);
    c->uploaded_at = sqlite3_column_int64(st, 2);
    c->file_id = sqlite3_column_int64(st, 3);
    c->sha256 = ferry_store_col_dup(a, st, 4);
    c->size = (uint64_t)sqlite3_column_int64(st, 5);
    c->summary_json = ferry_store_col_dup(a, st, 6);
    c->customer_id = sqlite3_column_int64(st, 7);
    return a->failed ? NULL : c;
}

ferry_err_code_t ferry_store_node_config_get_ro(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                                ferry_store_node_config_t **out, ferry_err_t *err)
{
    char sql[512];
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    snprintf(sql, sizeof(sql), "%s WHERE n.code = ?", config_cols);
    if ((rc = ferry_store_prepare(db, sql, &st, "node config", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, node_code);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND,
                           "node '%.64s' has not uploaded a configuration (or does not exist)",
                           node_code != NULL ? node_code : "");
    else if (step != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "node config", err);
    else if ((*out = config_row(a, st, NULL, err)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_node_configs_list_ro(ferry_store_t *s, const ferry_store_node_config_filter_t *f,
                                                  ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    ferry_store_list_t l = {FERRY_STORE_CONN_RO,
                            "node configs",
                            ferry_store_page_limit(f->page_size),
                            0,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            config_row,
                            NULL};
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(f->page_token, &l.offset, err)) != FERRY_OK)
        return rc;
    ferry_store_query_sql(&q, config_cols);
    ferry_store_query_sql(&q, " WHERE 1=1");
    if (f->customer_code != NULL && f->customer_code[0] != '\0')
        ferry_store_query_text(&q, " AND c.code = ?", f->customer_code);
    if (f->store_code != NULL && f->store_code[0] != '\0')
        ferry_store_query_text(&q, " AND s.code = ?", f->store_code);
    ferry_store_query_sql(&q, " ORDER BY n.code LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}
