/*
 * Repository: licences (see ferry/store/licenses.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/store/licenses.h"
#include "ferry/store_sqlite.h"

#define LIC_COLS                                                                                             \
    "SELECT l.id, l.license_key, c.code, COALESCE(n.code, ''), l.type, l.starts_at, l.ends_at, "             \
    "l.max_users, "                                                                                          \
    "l.max_companies, l.features_json, l.status, l.created_at, l.updated_at, l.grace_ms, l.revision, "       \
    "l.customer_id, COALESCE(l.node_id, 0) "                                                                 \
    "FROM license l JOIN customer c ON c.id = l.customer_id LEFT JOIN node n ON n.id = l.node_id"
static const char lic_cols[] = LIC_COLS;

/* features_json -> repeated string (a malformed column reads as no features). */
static void read_features(ferry_arena_t *a, const char *text, Ferry__V1__License *l)
{
    json_error_t jerr;
    json_t *arr = json_loads(text, 0, &jerr);
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;

    if (n > FERRY_STORE_LICENSE_FEATURES_MAX)
        n = FERRY_STORE_LICENSE_FEATURES_MAX;
    if (n > 0 && (l->features = ferry_arena_alloc(a, n * sizeof(char *))) != NULL) {
        for (size_t i = 0; i < n; i++) {
            const char *v = json_string_value(json_array_get(arr, i));
            l->features[l->n_features++] = ferry_arena_strdup(a, v != NULL ? v : "");
        }
    }
    json_decref(arr);
}

static void *lic_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__License *l = ferry_arena_alloc(a, sizeof(*l));
    Google__Protobuf__Duration *grace = ferry_arena_alloc(a, sizeof(*grace));
    ferry_store_license_meta_t *meta = ctx;
    (void)err;
    if (l == NULL || grace == NULL)
        return NULL;
    ferry__v1__license__init(l);
    google__protobuf__duration__init(grace);
    l->id = ferry_arena_printf(a, "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
    l->license_key = ferry_store_col_dup(a, st, 1);
    l->customer_code = ferry_store_col_dup(a, st, 2);
    l->node_code = ferry_store_col_dup(a, st, 3);
    l->type = (Ferry__V1__LicenseType)sqlite3_column_int(st, 4);
    l->starts_at = ferry_arena_ts(a, sqlite3_column_int64(st, 5));
    l->ends_at = ferry_arena_ts(a, sqlite3_column_int64(st, 6));
    l->max_users = (uint32_t)sqlite3_column_int64(st, 7);
    l->max_companies = (uint32_t)sqlite3_column_int64(st, 8);
    read_features(a, ferry_store_col_text(st, 9), l);
    l->status = (Ferry__V1__LicenseStatus)sqlite3_column_int(st, 10);
    l->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, 11));
    l->updated_at = ferry_arena_ts(a, sqlite3_column_int64(st, 12));
    grace->seconds = sqlite3_column_int64(st, 13) / 1000;
    l->offline_grace = grace;
    l->revision = (uint64_t)sqlite3_column_int64(st, 14);
    if (meta != NULL) {
        meta->id = sqlite3_column_int64(st, 0);
        meta->customer_id = sqlite3_column_int64(st, 15);
        meta->node_id = sqlite3_column_int64(st, 16);
        meta->grace_ms = sqlite3_column_int64(st, 13);
        meta->status = sqlite3_column_int(st, 10);
    }
    return l;
}

/* The feature list as a JSON array text (caller frees), NULL on allocation failure. */
static char *features_json(const char *const *features, size_t n)
{
    json_t *arr = json_array();
    char *s = NULL;
    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(features[i] != NULL ? features[i] : ""));
    s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

ferry_err_code_t ferry_store_license_insert(ferry_store_t *s, const ferry_store_license_new_t *l, int64_t *id,
                                            ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    char *feat = features_json(l->features, l->n_features);
    ferry_err_code_t rc = FERRY_OK;
    int step;

    if (feat == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "create licence: out of memory");
        goto out;
    }
    if ((rc = ferry_store_prepare(
             db,
             "INSERT INTO license (license_key, customer_id, node_id, type, starts_at, "
             "ends_at, max_users, max_companies, features_json, status, grace_ms, revision, "
             "created_at, updated_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,1,?,1,?,?,?)",
             &st, "create licence", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, l->license_key);
    sqlite3_bind_int64(st, 2, l->customer_id);
    if (l->node_id > 0)
        sqlite3_bind_int64(st, 3, l->node_id);
    sqlite3_bind_int(st, 4, l->type);
    sqlite3_bind_int64(st, 5, l->starts_at);
    sqlite3_bind_int64(st, 6, l->ends_at);
    sqlite3_bind_int64(st, 7, l->max_users);
    sqlite3_bind_int64(st, 8, l->max_companies);
    ferry_store_bind_text(st, 9, feat);
    sqlite3_bind_int64(st, 10, l->grace_ms);
    sqlite3_bind_int64(st, 11, l->created_at);
    sqlite3_bind_int64(st, 12, l->created_at);
    if (l->created_by > 0)
        sqlite3_bind_int64(st, 13, l->created_by);
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT)
        rc = ferry_err_set(err, FERRY_E_EXISTS, "licence key '%s' already exists", l->license_key);
    else if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "create licence", err);
    else
        *id = sqlite3_last_insert_rowid(db);
out:
    sqlite3_finalize(st);
    free(feat);
    return rc;
}

/* One licence by a WHERE clause binding one integer, on |db|. */
/*
 * One licence row of |sql| (LIC_COLS + a WHERE with ?1 = |v1| and, when it has one, ?2 =
 * |v2|). |ro| non-NULL: |db| is its read-only connection (acquired) and the statement
 * comes from that connection's cache, so the per-CheckIn lookup is not compiled each
 * time; |sql| must then be a static string (the cache keys on its address).
 */
static ferry_err_code_t get_one(sqlite3 *db, ferry_store_t *ro, ferry_arena_t *a, const char *sql, int64_t v1,
                                int64_t v2, Ferry__V1__License **out, ferry_store_license_meta_t *meta,
                                bool must, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    if ((rc = ro != NULL ? ferry_store_ro_prepare_cached(ro, sql, &st, "licence", err)
                         : ferry_store_prepare(db, sql, &st, "licence", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, v1);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, v2);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        if (must)
            rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "licence '%" PRId64 "' not found", v1);
    } else if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "licence", err);
    } else if ((*out = lic_row(a, st, meta, err)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "licence: out of memory");
    }
out:
    if (ro != NULL)
        ferry_store_stmt_release(ro, st);
    else
        sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_license_get(ferry_store_t *s, ferry_arena_t *a, int64_t id,
                                         Ferry__V1__License **out, ferry_store_license_meta_t *meta,
                                         ferry_err_t *err)
{
    static const char sql[] = LIC_COLS " WHERE l.id = ?1";
    return get_one(ferry_store_sqlite(s), NULL, a, sql, id, 0, out, meta, true, err);
}

ferry_err_code_t ferry_store_license_update(ferry_store_t *s, int64_t id,
                                            const ferry_store_license_change_t *c, int64_t now,
                                            ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    char *feat = NULL;
    ferry_err_code_t rc = FERRY_OK;

    if (c->replace_features && (feat = features_json(c->features, c->n_features)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "update licence: out of memory");
        goto out;
    }
    /* NULL parameters keep the column (COALESCE): one statement for every change. */
    if ((rc = ferry_store_prepare(db,
                                  "UPDATE license SET ends_at = COALESCE(?2, ends_at), "
                                  "max_users = COALESCE(?3, max_users), max_companies = COALESCE(?4, "
                                  "max_companies), features_json = COALESCE(?5, features_json), "
                                  "status = COALESCE(?6, status), revision = revision + 1, updated_at = ?7 "
                                  "WHERE id = ?1",
                                  &st, "update licence", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (c->has_ends_at)
        sqlite3_bind_int64(st, 2, c->ends_at);
    if (c->has_max_users)
        sqlite3_bind_int64(st, 3, c->max_users);
    if (c->has_max_companies)
        sqlite3_bind_int64(st, 4, c->max_companies);
    if (feat != NULL)
        ferry_store_bind_text(st, 5, feat);
    if (c->has_status)
        sqlite3_bind_int(st, 6, c->status);
    sqlite3_bind_int64(st, 7, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "update licence", err);
    else if (sqlite3_changes(db) == 0)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "licence '%" PRId64 "' not found", id);
out:
    sqlite3_finalize(st);
    free(feat);
    return rc;
}

ferry_err_code_t ferry_store_licenses_list_ro(ferry_store_t *s, const ferry_store_license_filter_t *f,
                                              ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t offset = 0;
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(f->page_token, &offset, err)) != FERRY_OK)
        return rc;
    ferry_store_list_t l = {FERRY_STORE_CONN_RO,
                            "list licences",
                            ferry_store_page_limit(f->page_size),
                            offset,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            lic_row,
                            NULL};
    ferry_store_query_sql(&q, lic_cols);
    ferry_store_query_sql(&q, " WHERE 1");
    if (f->customer_code != NULL && f->customer_code[0] != '\0')
        ferry_store_query_text(&q, " AND c.code = ?", f->customer_code);
    if (f->node_code != NULL && f->node_code[0] != '\0') {
        ferry_store_query_text(&q, " AND (n.code = ?", f->node_code);
        ferry_store_query_text(&q,
                               " OR (l.node_id IS NULL AND l.customer_id = (SELECT s2.customer_id"
                               " FROM node n2 JOIN store s2 ON s2.id = n2.store_id WHERE n2.code = ?)))",
                               f->node_code);
    }
    switch (f->status) {
    case 0:
        break;
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_ACTIVE:
        ferry_store_query_int(&q, " AND l.status = 1 AND l.ends_at >= ?", f->now);
        break;
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_GRACE:
        ferry_store_query_int(&q, " AND l.status = 1 AND l.ends_at < ?", f->now);
        ferry_store_query_int(&q, " AND l.ends_at + l.grace_ms >= ?", f->now);
        break;
    case FERRY__V1__LICENSE_STATUS__LICENSE_STATUS_EXPIRED:
        ferry_store_query_int(&q, " AND l.status = 1 AND l.ends_at + l.grace_ms < ?", f->now);
        break;
    default: /* SUSPENDED, REVOKED: as stored */
        ferry_store_query_int(&q, " AND l.status = ?", f->status);
        break;
    }
    if (f->ends_before > 0)
        ferry_store_query_int(&q, " AND l.ends_at < ?", f->ends_before);
    if (f->ends_after > 0)
        ferry_store_query_int(&q, " AND l.ends_at >= ?", f->ends_after);
    ferry_store_query_sql(&q, " ORDER BY l.ends_at, l.id LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

ferry_err_code_t ferry_store_license_for_node_ro(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                                 int64_t customer_id, Ferry__V1__License **out,
                                                 ferry_store_license_meta_t *meta, ferry_err_t *err)
{
    static const char node_sql[] =
        LIC_COLS " WHERE l.node_id = ?1 OR (l.node_id IS NULL AND l.customer_id = ?2) "
                 "ORDER BY l.status = 4, l.node_id IS NULL, l.ends_at DESC, l.id DESC LIMIT 1";
    sqlite3 *db;
    ferry_err_code_t rc;

    *out = NULL;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    rc = get_one(db, s, a, node_sql, node_id, customer_id, out, meta, false, err);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_license_nodes_ro(ferry_store_t *s, int64_t customer_id,
                                              ferry_store_license_node_fn fn, void *ctx, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_prepare(
             db,
             customer_id > 0 ? "SELECT n.id, s.customer_id FROM node n JOIN store s ON s.id = n.store_id"
                               " WHERE s.customer_id = ?1"
                             : "SELECT n.id, s.customer_id FROM node n JOIN store s ON s.id = n.store_id"
                               " WHERE s.customer_id IN (SELECT customer_id FROM license)",
             &st, "licence nodes", err)) != FERRY_OK)
        goto out;
    if (customer_id > 0)
        sqlite3_bind_int64(st, 1, customer_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)) != 0)
            break;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "licence nodes", err);
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}
