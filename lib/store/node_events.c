/*
 * Repository: node status and its transitions (see ferry/store/node_events.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ferry/store/node_events.h"
#include "ferry/store/tree.h"
#include "ferry/store_sqlite.h"

#define OFFLINE FERRY__V1__NODE_STATUS__NODE_STATUS_OFFLINE

static const char fleet_cols[] =
    "SELECT n.id, n.code, s.code, c.code, s.customer_id, COALESCE(ns.status, 0), COALESCE(ns.since, 0), "
    "COALESCE(ns.maintenance, 0), COALESCE(n.last_seen_at, 0) FROM node n JOIN store s ON s.id = n.store_id "
    "JOIN customer c ON c.id = s.customer_id LEFT JOIN node_status ns ON ns.node_id = n.id";

static void fleet_node_of(sqlite3_stmt *st, ferry_store_fleet_node_t *n)
{
    n->id = sqlite3_column_int64(st, 0);
    n->code = ferry_store_col_text(st, 1);
    n->store_code = ferry_store_col_text(st, 2);
    n->customer_code = ferry_store_col_text(st, 3);
    n->customer_id = sqlite3_column_int64(st, 4);
    n->status = sqlite3_column_int(st, 5);
    n->since = sqlite3_column_int64(st, 6);
    n->maintenance = sqlite3_column_int(st, 7) != 0;
    n->last_seen = sqlite3_column_int64(st, 8);
}

/* Runs |sql| (fleet_cols + a WHERE binding ?1 as text or integer) through |fn|. */
static ferry_err_code_t walk(ferry_store_t *s, const char *where, const char *text, int64_t num,
                             ferry_store_fleet_node_fn fn, void *ctx, bool must, ferry_err_t *err)
{
    sqlite3 *db;
    sqlite3_stmt *st = NULL;
    char sql[1024];
    ferry_err_code_t rc;
    int step, rows = 0;

    if ((db = ferry_store_ro_acquire(s, err)) == NULL)
        return err != NULL && err->code != FERRY_OK ? err->code : FERRY_E_IO;
    snprintf(sql, sizeof(sql), "%s %s", fleet_cols, where);
    if ((rc = ferry_store_prepare(db, sql, &st, "fleet nodes", err)) != FERRY_OK)
        goto out;
    if (text != NULL)
        ferry_store_bind_text(st, 1, text);
    else
        sqlite3_bind_int64(st, 1, num);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_store_fleet_node_t n;
        fleet_node_of(st, &n);
        rows++;
        if (fn(ctx, &n) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "fleet nodes", err);
    else if (must && rows == 0)
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "node '%.64s' not found", text != NULL ? text : "");
out:
    sqlite3_finalize(st);
    ferry_store_ro_release(s);
    return rc;
}

ferry_err_code_t ferry_store_fleet_nodes_ro(ferry_store_t *s, int64_t after_id, ferry_store_fleet_node_fn fn,
                                            void *ctx, ferry_err_t *err)
{
    return walk(s, "WHERE n.id > ?1 ORDER BY n.id", NULL, after_id, fn, ctx, false, err);
}

ferry_err_code_t ferry_store_fleet_node_by_code_ro(ferry_store_t *s, const char *code,
                                                   ferry_store_fleet_node_fn fn, void *ctx, ferry_err_t *err)
{
    return walk(s, "WHERE n.code = ?1", code != NULL ? code : "", 0, fn, ctx, true, err);
}

ferry_err_code_t ferry_store_node_transition(ferry_store_t *s, const ferry_store_node_transition_t *t,
                                             ferry_err_t *err)
{
    static const char upsert[] =
        "INSERT INTO node_status (node_id, status, since, maintenance, maintenance_reason) "
        "VALUES (?1, ?2, ?3, MAX(?4, 0), COALESCE(?5, '')) ON CONFLICT(node_id) DO UPDATE SET "
        "status = excluded.status, since = CASE WHEN status = excluded.status THEN since ELSE excluded.since "
        "END, "
        "maintenance = CASE WHEN ?4 >= 0 THEN ?4 ELSE maintenance END, "
        "maintenance_reason = CASE WHEN ?4 >= 0 THEN COALESCE(?5, '') ELSE maintenance_reason END";
    static const char event[] = "INSERT INTO node_event (node_id, at, from_status, to_status, reason, actor) "
                                "VALUES (?1, ?2, ?3, ?4, substr(?5, 1, 256), ?6)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;

    if ((rc = ferry_store_prepare_cached(s, upsert, &st, "record node status", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, t->node_id);
    sqlite3_bind_int(st, 2, t->to);
    sqlite3_bind_int64(st, 3, t->at);
    sqlite3_bind_int(st, 4, t->maintenance);
    if (t->maintenance >= 0)
        ferry_store_bind_text(st, 5, t->maint_note);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "record node status", err);
        goto out;
    }
    ferry_store_stmt_release(s, st);
    st = NULL;
    if (t->from == t->to)
        goto out;
    if ((rc = ferry_store_prepare_cached(s, event, &st, "record node event", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, t->node_id);
    sqlite3_bind_int64(st, 2, t->at);
    sqlite3_bind_int(st, 3, t->from);
    sqlite3_bind_int(st, 4, t->to);
    ferry_store_bind_text(st, 5, t->reason);
    ferry_store_bind_text(st, 6, t->actor);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = ferry_store_sql_err(db, "record node event", err);
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

static void *status_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__NodeStatusInfo *n = ferry_arena_alloc(a, sizeof(*n));
    (void)ctx;
    (void)err;
    if (n == NULL)
        return NULL;
    ferry__v1__node_status_info__init(n);
    n->node_code = ferry_store_col_dup(a, st, 0);
    n->store_code = ferry_store_col_dup(a, st, 1);
    n->customer_code = ferry_store_col_dup(a, st, 2);
    n->status = (Ferry__V1__NodeStatus)sqlite3_column_int(st, 3);
    if (sqlite3_column_int64(st, 4) > 0)
        n->since = ferry_arena_ts(a, sqlite3_column_int64(st, 4));
    n->maintenance = sqlite3_column_int(st, 5) != 0;
    n->maintenance_reason = ferry_store_col_dup(a, st, 6);
    if (sqlite3_column_int64(st, 7) > 0)
        n->last_seen_at = ferry_arena_ts(a, sqlite3_column_int64(st, 7));
    return n;
}

ferry_err_code_t ferry_store_node_statuses_list_ro(ferry_store_t *s,
                                                   const ferry_store_node_status_filter_t *f,
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
                            "list node statuses",
                            ferry_store_page_limit(f->page_size),
                            offset,
                            FERRY_STORE_PAGE_BY_OFFSET,
                            status_row,
                            NULL};
    ferry_store_query_int(
        &q,
        "SELECT n.code, s.code, c.code, COALESCE(ns.status, ?), COALESCE(ns.since, 0), "
        "COALESCE(ns.maintenance, 0), COALESCE(ns.maintenance_reason, ''), "
        "COALESCE(n.last_seen_at, 0) FROM node n JOIN store s ON s.id = n.store_id "
        "JOIN customer c ON c.id = s.customer_id LEFT JOIN node_status ns ON ns.node_id = n.id "
        "WHERE 1",
        OFFLINE);
    if (f->status > 0)
        ferry_store_query_int(&q, " AND COALESCE(ns.status, 2) = ?", f->status);
    if (f->customer_code != NULL && f->customer_code[0] != '\0')
        ferry_store_query_text(&q, " AND c.code = ?", f->customer_code);
    ferry_store_query_sql(&q, " ORDER BY n.code LIMIT ? OFFSET ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}

static void *event_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__NodeEvent *e = ferry_arena_alloc(a, sizeof(*e));
    (void)ctx;
    (void)err;
    if (e == NULL)
        return NULL;
    ferry__v1__node_event__init(e);
    e->node_code = ferry_store_col_dup(a, st, 1);
    e->at = ferry_arena_ts(a, sqlite3_column_int64(st, 2));
    e->from_status = (Ferry__V1__NodeStatus)sqlite3_column_int(st, 3);
    e->to_status = (Ferry__V1__NodeStatus)sqlite3_column_int(st, 4);
    e->reason = ferry_store_col_dup(a, st, 5);
    e->actor = ferry_store_col_dup(a, st, 6);
    return e;
}

ferry_err_code_t ferry_store_node_events_list_ro(ferry_store_t *s, const char *code, const char *page_token,
                                                 int32_t page_size, ferry_arena_t *a, ferry_store_page_t *out,
                                                 ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t before = 0, id = 0;
    bool disabled = false;
    ferry_err_code_t rc;
    /* Keyset paging by event id, newest first: the token is the last id shown. */
    ferry_store_list_t l = {
        FERRY_STORE_CONN_RO, "list node events", ferry_store_page_limit(page_size), 0, 0, event_row, NULL};

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(page_token, &before, err)) != FERRY_OK ||
        (rc = ferry_store_tree_id_ro(s, FERRY_STORE_NODE, code, &id, &disabled, err)) != FERRY_OK)
        return rc;
    ferry_store_query_int(&q,
                          "SELECT e.id, n.code, e.at, e.from_status, e.to_status, e.reason, e.actor FROM "
                          "node_event e JOIN node n ON n.id = e.node_id WHERE e.node_id = ?",
                          id);
    if (before > 0)
        ferry_store_query_int(&q, " AND e.id < ?", before);
    ferry_store_query_sql(&q, " ORDER BY e.id DESC LIMIT ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}
