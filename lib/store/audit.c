/*
 * Repository: the audit log (see ferry/store/audit.h).
 */
#include <stdio.h>
#include <string.h>

#include "ferry/store/audit.h"
#include "ferry/store_sqlite.h"

ferry_err_code_t ferry_store_audit_insert(ferry_store_t *s, const ferry_store_audit_row_t *row,
                                          ferry_err_t *err)
{
    static const char insert_sql[] =
        "INSERT INTO audit_log (at, actor_token_id, actor_name, actor_role, method, target, "
        "request_id, outcome, error_code, remote_addr, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)";
    static const char target_sql[] = "INSERT INTO audit_target (audit_id, kind, target_id) VALUES (?,?,?)";
    sqlite3 *db = ferry_store_sqlite(s);
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    char buf[FERRY_STORE_AUDIT_TARGETS_MAX];
    int64_t audit_id;

    if ((rc = ferry_store_prepare_cached(s, insert_sql, &st, "audit insert", err)) != FERRY_OK)
        goto out;
    sqlite3_bind_int64(st, 1, row->at);
    ferry_store_bind_text(st, 2, row->actor_token_id);
    ferry_store_bind_text(st, 3, row->actor_name);
    sqlite3_bind_int(st, 4, row->actor_role);
    ferry_store_bind_text(st, 5, row->method);
    ferry_store_bind_text(st, 6, row->target);
    ferry_store_bind_text(st, 7, row->request_id);
    sqlite3_bind_int(st, 8, row->outcome);
    ferry_store_bind_text(st, 9, row->error_code);
    ferry_store_bind_text(st, 10, row->remote_addr);
    ferry_store_bind_text(st, 11, row->detail);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = ferry_store_sql_err(db, "audit insert", err);
        goto out;
    }
    audit_id = sqlite3_last_insert_rowid(db);
    ferry_store_stmt_release(s, st);
    st = NULL;
    if (row->target == NULL || row->target[0] == '\0')
        goto out;
    if ((rc = ferry_store_prepare_cached(s, target_sql, &st, "audit target insert", err)) != FERRY_OK)
        goto out;
    /* "kind:id,kind:id": ids are codes, versions or numbers, none contains ','. */
    snprintf(buf, sizeof(buf), "%s", row->target);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, audit_id);
        ferry_store_bind_text(st, 2, t);
        ferry_store_bind_text(st, 3, colon + 1);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = ferry_store_sql_err(db, "audit target insert", err);
            goto out;
        }
    }
out:
    ferry_store_stmt_release(s, st);
    return rc;
}

/* Splits "kind:id,kind:id" into AuditTarget messages. */
static void fill_targets(ferry_arena_t *a, Ferry__V1__AuditEntry *e, const char *target)
{
    char buf[FERRY_STORE_AUDIT_TARGETS_MAX];
    size_t n = 0;

    snprintf(buf, sizeof(buf), "%s", target != NULL ? target : "");
    for (const char *p = buf; *p != '\0'; p++)
        if (*p == ',')
            n++;
    if (buf[0] == '\0' || (e->targets = ferry_arena_alloc(a, (n + 1) * sizeof(*e->targets))) == NULL)
        return;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        Ferry__V1__AuditTarget *at = ferry_arena_alloc(a, sizeof(*at));
        if (at == NULL)
            break;
        ferry__v1__audit_target__init(at);
        if (colon != NULL)
            *colon = '\0';
        at->kind = ferry_arena_strdup(a, colon != NULL ? t : "");
        at->id = ferry_arena_strdup(a, colon != NULL ? colon + 1 : t);
        e->targets[e->n_targets++] = at;
    }
}

static void *entry_row(ferry_arena_t *a, sqlite3_stmt *st, void *ctx, ferry_err_t *err)
{
    Ferry__V1__AuditEntry *e = ferry_arena_alloc(a, sizeof(*e));
    (void)ctx;
    (void)err;
    if (e == NULL)
        return NULL;
    ferry__v1__audit_entry__init(e);
    e->id = ferry_store_col_dup(a, st, 0);
    e->time = ferry_arena_ts(a, sqlite3_column_int64(st, 1));
    e->actor_token_id = ferry_store_col_dup(a, st, 2);
    e->actor_name = ferry_store_col_dup(a, st, 3);
    e->actor_role = (Ferry__V1__Role)sqlite3_column_int(st, 4);
    e->method = ferry_store_col_dup(a, st, 5);
    fill_targets(a, e, ferry_store_col_text(st, 6));
    e->request_id = ferry_store_col_dup(a, st, 7);
    e->outcome = (Ferry__V1__AuditOutcome)sqlite3_column_int(st, 8);
    e->error_code = ferry_store_col_dup(a, st, 9);
    e->remote_addr = ferry_store_col_dup(a, st, 10);
    e->details_json = ferry_store_col_dup(a, st, 11);
    return e;
}

ferry_err_code_t ferry_store_audit_list_ro(ferry_store_t *s, const ferry_store_audit_filter_t *f,
                                           ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_store_query_t q = {0};
    int64_t after;
    ferry_err_code_t rc;
    const char *method = f->method != NULL ? f->method : "";
    const char *kind = f->target_kind != NULL ? f->target_kind : "";
    const char *id = f->target_id != NULL ? f->target_id : "";
    /* Keyset paging, newest first: the next page starts below the last id. */
    ferry_store_list_t l = {FERRY_STORE_CONN_RO, "list audit", ferry_store_page_limit(f->page_size), 0, 0,
                            entry_row,           NULL};

    *out = (ferry_store_page_t){0};
    if ((rc = ferry_store_page_token_read(f->page_token, &after, err)) != FERRY_OK)
        return rc;
    /* Fixed SQL fragments only; every value is bound. */
    ferry_store_query_sql(
        &q, "SELECT id, at, actor_token_id, actor_name, actor_role, method, target, request_id, "
            "outcome, error_code, remote_addr, detail FROM audit_log a WHERE 1=1");
    if (after > 0)
        ferry_store_query_int(&q, " AND id < ?", after);
    if (f->actor_token_id != NULL && f->actor_token_id[0])
        ferry_store_query_text(&q, " AND actor_token_id = ?", f->actor_token_id);
    if (method[0]) /* accept "/ferry.v1.AdminService/X" as well as the documented form */
        ferry_store_query_text(&q, " AND method = ?", method[0] == '/' ? method + 1 : method);
    if (kind[0] || id[0]) {
        ferry_store_query_text(
            &q, " AND EXISTS (SELECT 1 FROM audit_target t WHERE t.audit_id = a.id AND (? = ''", kind);
        ferry_store_query_text(&q, " OR t.kind = ?)", kind);
        ferry_store_query_text(&q, " AND (? = ''", id);
        ferry_store_query_text(&q, " OR t.target_id = ?))", id);
    }
    if (f->has_since)
        ferry_store_query_int(&q, " AND at >= ?", f->since);
    if (f->has_until)
        ferry_store_query_int(&q, " AND at < ?", f->until);
    if (f->outcome != 0)
        ferry_store_query_int(&q, " AND outcome = ?", f->outcome);
    ferry_store_query_sql(&q, " ORDER BY id DESC LIMIT ?");
    return ferry_store_list(s, &l, &q, a, out, err);
}
