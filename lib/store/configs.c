/*
 * Repository: configuration templates and assignments (see ferry/store/configs.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/store/configs.h"
#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"

#define TPL_COLS                                                                                             \
    "t.name, t.type, t.version, t.data_json, t.target_path, t.description, t.created_at, "                   \
    "COALESCE(k.token_id, ''), t.format, t.restart_service, t.id"
#define TPL_FROM "config_template t LEFT JOIN admin_token k ON k.id = t.created_by"

/* The 11 template columns starting at |c|. */
static Ferry__V1__ConfigTemplate *tpl_at(ferry_arena_t *a, sqlite3_stmt *st, int c)
{
    Ferry__V1__ConfigTemplate *t = ferry_arena_alloc(a, sizeof(*t));
    if (t == NULL)
        return NULL;
    ferry__v1__config_template__init(t);
    t->name = ferry_store_col_dup(a, st, c);
    t->type = (Ferry__V1__ConfigType)sqlite3_column_int(st, c + 1);
    t->version = (uint64_t)sqlite3_column_int64(st, c + 2);
    t->data_json = ferry_store_col_dup(a, st, c + 3);
    t->target_path = ferry_store_col_dup(a, st, c + 4);
    t->description = ferry_store_col_dup(a, st, c + 5);
    t->created_at = ferry_arena_ts(a, sqlite3_column_int64(st, c + 6));
    t->created_by = ferry_store_col_dup(a, st, c + 7);
    t->format = (Ferry__V1__ConfigFormat)sqlite3_column_int(st, c + 8);
    t->restart_service = sqlite3_column_int(st, c + 9) != 0;
    return t;
}

static void *tpl_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    (void)ctx;
    (void)err;
    return tpl_at(a, st, 0);
}

ferry_err_code_t ferry_store_config_template_insert(ferry_store_t *s,
                                                    const ferry_store_config_template_new_t *t,
                                                    uint64_t *version, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(
             db,
             "INSERT INTO config_template (name, version, type, format, data_json, "
             "target_path, restart_service, description, created_at, created_by) "
             "VALUES (?1, (SELECT COALESCE(MAX(version), 0) + 1 FROM config_template WHERE "
             "name = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING version",
             &st, "put config template", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, t->name);
    sqlite3_bind_int(st, 2, t->type);
    sqlite3_bind_int(st, 3, t->format);
    ferry_store_bind_text(st, 4, t->data_json);
    ferry_store_bind_text(st, 5, t->target_path);
    sqlite3_bind_int(st, 6, t->restart_service ? 1 : 0);
    ferry_store_bind_text(st, 7, t->description);
    sqlite3_bind_int64(st, 8, t->created_at);
    if (t->created_by > 0)
        sqlite3_bind_int64(st, 9, t->created_by);
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "put config template", err);
    else
        *version = (uint64_t)sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

static ferry_err_code_t tpl_get(sqlite3 *db, ferry_arena_t *a, const char *name, uint64_t version,
                                Ferry__V1__ConfigTemplate **out, int64_t *id, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    if ((rc = ferry_store_prepare(db,
                                  version > 0 ? "SELECT " TPL_COLS " FROM " TPL_FROM
                                                " WHERE t.name = ?1 AND t.version = ?2"
                                              : "SELECT " TPL_COLS " FROM " TPL_FROM
                                                " WHERE t.name = ?1 ORDER BY t.version DESC LIMIT 1",
                                  &st, "config template", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, name);
    if (version > 0)
        sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        if (version > 0)
            rc = ferry_err_set(err, FERRY_E_NOT_FOUND,
                               "config template '%.64s' version %" PRIu64 " not found", name, version);
        else
            rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "config template '%.64s' not found", name);
    } else if (step != SQLITE_ROW) {
        rc = ferry_store_sql_err(db, "config template", err);
    } else if ((*out = tpl_at(a, st, 0)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "config template: out of memory");
    } else if (id != NULL) {
        *id = sqlite3_column_int64(st, 10);
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_config_template_get(ferry_store_t *s, ferry_arena_t *a, const char *name,
                                                 uint64_t version, Ferry__V1__ConfigTemplate **out,
                                                 int64_t *id, ferry_err_t *err)
{
    return tpl_get(ferry_store_sqlite(s), a, name, version, out, id, err);
}

ferry_err_code_t ferry_store_config_template_get_ro(ferry_store_t *s, ferry_arena_t *a, const char *name,
                                                    uint64_t version, Ferry__V1__ConfigTemplate **out,
                                                    ferry_err_t *err)
{
    sqlite3 *db;
    ferry_err_code_t rc;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    rc = tpl_get(db, a, name, version, out, NULL, err);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_config_templates_list_ro(ferry_store_t *s, int type, const char *name,
                                                      const char *page_token, int32_t page_size,
                                                      ferry_arena_t *a, ferry_store_page_t *out,
                                                      ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t offset = 0;
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &offset, err)) != FERRY_OK)
        return rc;
    ferry_store_list_t l = {FERRY_STORE_CONN_RO,
                            "list config templates",
                            ferry_store_page_limit(page_size),
                            offset,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            tpl_row,
                            NULL};
    ferry_store_query_sql(&q, "SELECT " TPL_COLS " FROM " TPL_FROM " WHERE 1");
    if (name != NULL && name[0] != '\0')
        ferry_store_query_text(&q, " AND t.name = ?", name);
    else
        ferry_store_query_sql(&q,
                              " AND t.version = (SELECT MAX(version) FROM config_template x WHERE x.name = "
                              "t.name)");
    if (type > 0)
        ferry_store_query_int(&q, " AND t.type = ?", type);
    ferry_store_query_sql(&q, name != NULL && name[0] != '\0' ? " ORDER BY t.version DESC LIMIT ? OFFSET ?"
                                                              : " ORDER BY t.name LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

/* ---- scope --------------------------------------------------------------------------- */

/* FERRY_E_NOT_FOUND unless |code| of |kind| exists under customer |customer_id|. */
static ferry_err_code_t check_member(sqlite3 *db, const char *kind, const char *code, int64_t customer_id,
                                     ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    const char *sql = kind[0] == 's' ? "SELECT customer_id FROM store WHERE code = ?1"
                                     : "SELECT s.customer_id FROM node n JOIN store s ON s.id = n.store_id "
                                       "WHERE n.code = ?1";
    if ((rc = ferry_store_prepare(db, sql, &st, "assignment scope", err)) != FERRY_OK)
        goto out;
    ferry_store_bind_text(st, 1, code);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != customer_id)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "%s '%.64s' not found under this customer", kind, code);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_config_scope(ferry_store_t *s, const char *customer_code, char *const *stores,
                                          size_t n_stores, char *const *nodes, size_t n_nodes, int env,
                                          ferry_store_config_scope_fn fn, void *ctx, ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    int64_t cid = 0;
    bool disabled = false;
    ferry_err_code_t rc;
    int step;

    if ((rc = ferry_store_tree_id(s, FERRY_STORE_CUSTOMER, customer_code, &cid, &disabled, err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < n_stores; i++)
        if ((rc = check_member(db, "store", stores[i], cid, err)) != FERRY_OK)
            return rc;
    for (size_t i = 0; i < n_nodes; i++)
        if ((rc = check_member(db, "node", nodes[i], cid, err)) != FERRY_OK)
            return rc;
    /* The lists ride as JSON arrays (json_each): any number of codes, one statement. */
    if ((rc = ferry_store_prepare(db,
                                  "SELECT n.id, n.code, n.name, s.code, c.code, n.environment FROM node n "
                                  "JOIN store s ON s.id = n.store_id JOIN customer c ON c.id = s.customer_id "
                                  "WHERE c.id = ?1 AND n.disabled = 0 AND s.disabled = 0 "
                                  "AND (?2 = 0 OR n.environment = ?2) "
                                  "AND ((?3 = 0 AND ?4 = 0) OR s.code IN (SELECT value FROM json_each(?5)) "
                                  "OR n.code IN (SELECT value FROM json_each(?6))) ORDER BY n.code",
                                  &st, "assignment scope", err)) != FERRY_OK)
        return rc;
    {
        /* Codes are [A-Za-z0-9_-] (checked by the caller): quoting needs no escaping. */
        size_t cap = 3 + (n_stores + n_nodes) * 70;
        char *js = malloc(cap), *jn = malloc(cap);
        size_t o1 = 0, o2 = 0;
        if (js == NULL || jn == NULL) {
            free(js);
            free(jn);
            rc = ferry_err_set(err, FERRY_E_NOMEM, "assignment scope: out of memory");
            goto out;
        }
        js[o1++] = '[';
        for (size_t i = 0; i < n_stores; i++)
            o1 += (size_t)snprintf(js + o1, cap - o1, "%s\"%.64s\"", i ? "," : "", stores[i]);
        js[o1++] = ']';
        js[o1] = '\0';
        jn[o2++] = '[';
        for (size_t i = 0; i < n_nodes; i++)
            o2 += (size_t)snprintf(jn + o2, cap - o2, "%s\"%.64s\"", i ? "," : "", nodes[i]);
        jn[o2++] = ']';
        jn[o2] = '\0';
        sqlite3_bind_int64(st, 1, cid);
        sqlite3_bind_int(st, 2, env);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)n_stores);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)n_nodes);
        sqlite3_bind_text(st, 5, js, -1, free);
        sqlite3_bind_text(st, 6, jn, -1, free);
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_store_config_scope_node_t n = {sqlite3_column_int64(st, 0), ferry_store_col_text(st, 1),
                                             ferry_store_col_text(st, 2), ferry_store_col_text(st, 3),
                                             ferry_store_col_text(st, 4), sqlite3_column_int(st, 5)};
        if (fn(ctx, &n) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "assignment scope", err);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- assignments ------------------------------------------------------------------------- */

ferry_err_code_t ferry_store_config_assignment_insert(ferry_store_t *s,
                                                      const ferry_store_config_assignment_new_t *a,
                                                      int64_t *id, ferry_err_t *err)
{
    static const char supersede[] = "UPDATE config_assignment SET superseded = 1 WHERE node_id = ?1 AND "
                                    "template_name = ?2 AND superseded = 0";
    static const char insert[] =
        "INSERT INTO config_assignment (node_id, template_id, template_name, values_json, rendered, "
        "rendered_sha256, state, assigned_at, assigned_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, supersede, &st, "assign config", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, a->node_id);
    ferry_store_bind_text(st, 2, a->template_name);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "assign config", err);
        goto out;
    }
    ferry_store_stmt_release(s, st);
    st = NULL;
    if ((rc = ferry_store_prepare_cached(s, insert, &st, "assign config", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, a->node_id);
    sqlite3_bind_int64(st, 2, a->template_id);
    ferry_store_bind_text(st, 3, a->template_name);
    ferry_store_bind_text(st, 4, a->values_json != NULL ? a->values_json : "{}");
    ferry_store_bind_text(st, 5, a->rendered);
    ferry_store_bind_text(st, 6, a->rendered_sha256);
    sqlite3_bind_int64(st, 7, a->assigned_at);
    if (a->assigned_by > 0)
        sqlite3_bind_int64(st, 8, a->assigned_by);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "assign config", err);
    else
        *id = sqlite3_last_insert_rowid(db);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

#define ASG_COLS                                                                                             \
    "a.id, n.code, a.template_name, t.version, a.state, a.error_message, a.assigned_at, "                    \
    "COALESCE(a.applied_at, 0), a.rendered, a.rendered_sha256, a.node_id, a.superseded"
#define ASG_FROM                                                                                             \
    "config_assignment a JOIN node n ON n.id = a.node_id JOIN config_template t ON t.id = a.template_id "    \
    "LEFT JOIN admin_token k ON k.id = t.created_by"

/* Row: ASG_COLS (12), then with |with_tpl| TPL_COLS. */
static Ferry__V1__ConfigAssignment *asg_at(ferry_arena_t *a, sqlite3_stmt *st, bool with_body)
{
    Ferry__V1__ConfigAssignment *x = ferry_arena_alloc(a, sizeof(*x));
    if (x == NULL)
        return NULL;
    ferry__v1__config_assignment__init(x);
    x->id = ferry_arena_printf(a, "%" PRId64, (int64_t)sqlite3_column_int64(st, 0));
    x->node_code = ferry_store_col_dup(a, st, 1);
    x->template_name = ferry_store_col_dup(a, st, 2);
    x->template_version = (uint64_t)sqlite3_column_int64(st, 3);
    x->state = (Ferry__V1__ConfigAssignmentState)sqlite3_column_int(st, 4);
    x->error_message = ferry_store_col_dup(a, st, 5);
    x->assigned_at = ferry_arena_ts(a, sqlite3_column_int64(st, 6));
    if (sqlite3_column_int64(st, 7) > 0)
        x->applied_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
    x->rendered_sha256 = ferry_store_col_dup(a, st, 9);
    x->superseded = sqlite3_column_int(st, 11) != 0;
    if (with_body) {
        x->rendered = ferry_store_col_dup(a, st, 8);
        x->template_ = tpl_at(a, st, 12);
    }
    return x;
}

static void *asg_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    (void)ctx;
    (void)err;
    return asg_at(a, st, false);
}

ferry_err_code_t ferry_store_config_assignment_get(ferry_store_t *s, ferry_arena_t *a, int64_t id, bool ro,
                                                   Ferry__V1__ConfigAssignment **out, int64_t *node_id,
                                                   ferry_err_t *err)
{
    sqlite3 *db = ro ? ferry_store_ro_acquire(s, err) : ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    if (db == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_prepare(db, "SELECT " ASG_COLS ", " TPL_COLS " FROM " ASG_FROM " WHERE a.id = ?1",
                                  &st, "config assignment", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "config assignment '%" PRId64 "' not found", id);
    else if (step != SQLITE_ROW)
        rc = ferry_store_sql_err(db, "config assignment", err);
    else if ((*out = asg_at(a, st, true)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "config assignment: out of memory");
    else if (node_id != NULL)
        *node_id = sqlite3_column_int64(st, 10);
out:
    sqlite3_finalize(st);
    if (ro)
        ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_config_assignment_result(ferry_store_t *s, int64_t id, int state,
                                                      const char *error_message, int64_t applied_at,
                                                      ferry_err_t *err)
{
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare(
             db,
             "UPDATE config_assignment SET state = ?2, error_message = ?3, applied_at = ?4 "
             "WHERE id = ?1",
             &st, "config result", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, state);
    ferry_store_bind_text(st, 3, error_message);
    sqlite3_bind_int64(st, 4, applied_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "config result", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_store_config_assignments_list_ro(ferry_store_t *s,
                                                        const ferry_store_config_assignment_filter_t *f,
                                                        ferry_arena_t *a, ferry_store_page_t *out,
                                                        ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t offset = 0;
    ferry_err_code_t rc;

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(f->page_token, &offset, err)) != FERRY_OK)
        return rc;
    ferry_store_list_t l = {FERRY_STORE_CONN_RO,
                            "list config assignments",
                            ferry_store_page_limit(f->page_size),
                            offset,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            asg_row,
                            NULL};
    ferry_store_query_sql(&q, "SELECT " ASG_COLS " FROM " ASG_FROM " WHERE 1");
    if (f->template_name != NULL && f->template_name[0] != '\0')
        ferry_store_query_text(&q, " AND a.template_name = ?", f->template_name);
    if (f->node_code != NULL && f->node_code[0] != '\0')
        ferry_store_query_text(&q, " AND n.code = ?", f->node_code);
    if (f->state > 0)
        ferry_store_query_int(&q, " AND a.state = ?", f->state);
    if (!f->include_superseded)
        ferry_store_query_sql(&q, " AND a.superseded = 0");
    ferry_store_query_sql(&q, " ORDER BY a.id DESC LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

ferry_err_code_t ferry_store_config_open_ro(ferry_store_t *s, ferry_arena_t *a, int64_t node_id,
                                            Ferry__V1__ConfigAssignment ***out, size_t *n, ferry_err_t *err)
{
    static const char open_sql[] =
        "SELECT " ASG_COLS ", " TPL_COLS " FROM " ASG_FROM
        " WHERE a.node_id = ?1 AND a.state = 1 AND a.superseded = 0 ORDER BY a.id LIMIT ?2";
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    *out = NULL;
    *n = 0;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((*out = ferry_arena_alloc(a, FERRY_STORE_CONFIG_OPEN_MAX * sizeof(**out))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "open config assignments: out of memory");
        goto out;
    }
    /* Cached on the read-only connection: every CheckIn of a node with work asks. */
    if ((rc = ferry_store_ro_prepare_cached(s, open_sql, &st, "open config assignments", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, node_id);
    sqlite3_bind_int(st, 2, FERRY_STORE_CONFIG_OPEN_MAX);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (((*out)[*n] = asg_at(a, st, true)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "open config assignments: out of memory");
            goto out;
        }
        (*n)++;
    }
    if (step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "open config assignments", err);
out:
    ferry_store_stmt_release(s, st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_config_open_nodes_ro(ferry_store_t *s, int (*fn)(void *ctx, int64_t node_id),
                                                  void *ctx, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int step;

    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    if ((rc = ferry_store_prepare(
             db, "SELECT DISTINCT node_id FROM config_assignment WHERE state = 1 AND superseded = 0", &st,
             "open config nodes", err)) != FERRY_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (fn(ctx, sqlite3_column_int64(st, 0)) != 0)
            break;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "open config nodes", err);
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_config_diff_ro(ferry_store_t *s, ferry_arena_t *a, const char *node_code,
                                            const char *template_name, Ferry__V1__NodeConfigDiff ***out,
                                            size_t *n, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    int64_t node_id = 0;
    bool disabled;
    ferry_err_code_t rc;
    int step;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if ((rc = ferry_store_tree_id_ro(s, FERRY_STORE_NODE, node_code, &node_id, &disabled, err)) != FERRY_OK)
        return rc;
    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    /* Per template: the newest assignment, then the newest APPLIED one (two rows, kind 0/1). */
    if ((rc = ferry_store_prepare(db,
                                  "SELECT 0, " ASG_COLS ", " TPL_COLS " FROM " ASG_FROM
                                  " WHERE a.id IN (SELECT MAX(id) FROM "
                                  "config_assignment WHERE node_id = ?1 AND (?2 = '' OR template_name = ?2) "
                                  "GROUP BY template_name) "
                                  "UNION ALL SELECT 1, " ASG_COLS ", " TPL_COLS " FROM " ASG_FROM
                                  " WHERE a.id IN (SELECT MAX(id) FROM "
                                  "config_assignment WHERE node_id = ?1 AND (?2 = '' OR template_name = ?2) "
                                  "AND state = 2 GROUP BY "
                                  "template_name) ORDER BY 4, 1",
                                  &st, "config diff", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, node_id);
    ferry_store_bind_text(st, 2, template_name != NULL ? template_name : "");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        Ferry__V1__ConfigAssignment *x;
        Ferry__V1__NodeConfigDiff *d = *n > 0 ? (*out)[*n - 1] : NULL;
        int kind = sqlite3_column_int(st, 0);
        /* shift the columns by one: asg_at reads from 0; use a view through a subquery-free copy */
        x = ferry_arena_alloc(a, sizeof(*x));
        if (x == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "config diff: out of memory");
            goto out;
        }
        ferry__v1__config_assignment__init(x);
        x->id = ferry_arena_printf(a, "%" PRId64, (int64_t)sqlite3_column_int64(st, 1));
        x->node_code = ferry_store_col_dup(a, st, 2);
        x->template_name = ferry_store_col_dup(a, st, 3);
        x->template_version = (uint64_t)sqlite3_column_int64(st, 4);
        x->state = (Ferry__V1__ConfigAssignmentState)sqlite3_column_int(st, 5);
        x->error_message = ferry_store_col_dup(a, st, 6);
        x->assigned_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
        if (sqlite3_column_int64(st, 8) > 0)
            x->applied_at = ferry_arena_ts(a, sqlite3_column_int64(st, 8));
        x->rendered = ferry_store_col_dup(a, st, 9);
        x->rendered_sha256 = ferry_store_col_dup(a, st, 10);
        x->superseded = sqlite3_column_int(st, 12) != 0;
        x->template_ = tpl_at(a, st, 13);
        if (d == NULL || strcmp(d->template_name, x->template_name) != 0) {
            if (*n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                Ferry__V1__NodeConfigDiff **nv = ferry_arena_alloc(a, ncap * sizeof(*nv));
                if (nv == NULL) {
                    rc = ferry_err_set(err, FERRY_E_NOMEM, "config diff: out of memory");
                    goto out;
                }
                if (*n > 0)
                    memcpy(nv, *out, *n * sizeof(*nv));
                *out = nv;
                cap = ncap;
            }
            if ((d = ferry_arena_alloc(a, sizeof(*d))) == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "config diff: out of memory");
                goto out;
            }
            ferry__v1__node_config_diff__init(d);
            d->template_name = x->template_name;
            d->target_path = x->template_ != NULL ? x->template_->target_path : (char *)"";
            (*out)[(*n)++] = d;
        }
        if (kind == 0)
            d->latest = x;
        else
            d->applied = x;
    }
    if (step != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "config diff", err);
        goto out;
    }
    for (size_t i = 0; i < *n; i++) {
        Ferry__V1__NodeConfigDiff *d = (*out)[i];
        d->differs = d->latest == NULL || d->applied == NULL ||
                     strcmp(d->latest->rendered_sha256, d->applied->rendered_sha256) != 0;
    }
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}
