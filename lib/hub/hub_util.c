/*
 * The handlers' plumbing (see hub_util.h): reply arena, offload, failure with the
 * audit's error name, paging, SQLite helpers, argument checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "ferry/db.h"
#include "hub_util.h"

/* ---- reply arena -------------------------------------------------------------------- */

struct hub_arena_block {
    struct hub_arena_block *next;
    ProtobufCMessage *msg; /* an unpacked message to free with the arena, or NULL */
    max_align_t data[];
};

void *hub_arena_alloc(hub_arena_t *a, size_t n)
{
    struct hub_arena_block *b = calloc(1, sizeof(*b) + n);
    if (b == NULL) {
        a->failed = true;
        return NULL;
    }
    b->next = a->head;
    a->head = b;
    return b->data;
}

char *hub_arena_strdup(hub_arena_t *a, const char *s)
{
    static char empty[1];
    size_t n = s != NULL ? strlen(s) : 0;
    char *p = hub_arena_alloc(a, n + 1);
    if (p == NULL)
        return empty;
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

char *hub_arena_printf(hub_arena_t *a, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return hub_arena_strdup(a, buf);
}

Google__Protobuf__Timestamp *hub_arena_ts(hub_arena_t *a, int64_t ms)
{
    Google__Protobuf__Timestamp *t;
    if (ms <= 0 || (t = hub_arena_alloc(a, sizeof(*t))) == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
    return t;
}

char *hub_arena_col(hub_arena_t *a, sqlite3_stmt *st, int i)
{
    return hub_arena_strdup(a, hub_col_text(st, i));
}

void hub_arena_own(hub_arena_t *a, ProtobufCMessage *m)
{
    struct hub_arena_block *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        protobuf_c_message_free_unpacked(m, NULL);
        a->failed = true;
        return;
    }
    b->msg = m;
    b->next = a->head;
    a->head = b;
}

void hub_arena_free(hub_arena_t *a)
{
    struct hub_arena_block *b = a->head, *n;
    while (b != NULL) {
        n = b->next;
        if (b->msg != NULL)
            protobuf_c_message_free_unpacked(b->msg, NULL);
        free(b);
        b = n;
    }
    a->head = NULL;
}

/* ---- offload and failure -------------------------------------------------------------- */

typedef struct hub_job {
    ferry_hub_t *hub;
    const void *req;
    hub_work_fn fn;
} hub_job_t;

static void job_run(ferry_rpc_call_t *call, void *arg)
{
    hub_job_t j = *(hub_job_t *)arg;
    free(arg);
    j.fn(call, j.hub, j.req);
}

void hub_offload(ferry_rpc_call_t *call, ferry_hub_t *hub, const void *req, hub_work_fn fn)
{
    hub_job_t *j = malloc(sizeof(*j));
    ferry_err_t err = {0};

    if (j == NULL) {
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server out of memory");
        goto fail;
    }
    *j = (hub_job_t){hub, req, fn};
    if (ferry_rpc_call_offload(call, job_run, j) != FERRY_OK) {
        free(j);
        ferry_err_set(&err, FERRY_E_UNAVAILABLE, "server busy: worker pool full, retry later");
        goto fail;
    }
    return;
fail:
    hub_fail(call, &err);
}

const hub_principal_t *hub_node_principal(ferry_rpc_call_t *call)
{
    const hub_principal_t *p = hub_principal(call);
    if (p == NULL || p->kind != HUB_PRINCIPAL_NODE || p->node_id <= 0) {
        ferry_rpc_call_fail(call, FERRY_RPC_UNAUTHENTICATED, "E_AUTH_INVALID", "a node token is required");
        p = NULL;
    }
    return p;
}

void hub_fail(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    hub_call_ctx_t *ctx = hub_call_ctx(call);
    if (ctx != NULL)
        snprintf(ctx->error_code, sizeof(ctx->error_code), "%s", ferry_err_name(err->code));
    ferry_rpc_call_fail_err(call, err);
}

void hub_fail_named(ferry_rpc_call_t *call, const ferry_err_t *err)
{
    hub_fail(call, err);
}

void hub_fail_tx(ferry_hub_t *hub, ferry_rpc_call_t *call, const ferry_err_t *err, bool locked)
{
    if (locked) {
        hub_tx_rollback(hub);
        hub_db_unlock(hub);
    }
    hub_fail(call, err);
}

/* ---- paging ------------------------------------------------------------------------------ */

int hub_page_limit(int32_t requested)
{
    if (requested <= 0)
        return HUB_PAGE_DEFAULT;
    return requested > HUB_PAGE_MAX ? HUB_PAGE_MAX : requested;
}

int64_t hub_page_token_parse(const char *token)
{
    char *end = NULL;
    long long v;

    if (token == NULL || token[0] == '\0')
        return 0;
    if (token[0] < '0' || token[0] > '9')
        return -1;
    v = strtoll(token, &end, 10);
    if (end == NULL || *end != '\0' || v < 0)
        return -1;
    return (int64_t)v;
}

ferry_err_code_t hub_page_token_read(const char *token, int64_t *out, ferry_err_t *err)
{
    *out = hub_page_token_parse(token);
    if (*out < 0) {
        *out = 0;
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "page_token '%.32s' is not one this server issued",
                             token);
    }
    return FERRY_OK;
}

ferry_err_code_t hub_page_rows(sqlite3_stmt *st, const char *what, hub_arena_t *a, int limit, int64_t offset,
                               int key_col, hub_row_fn row, void *ctx, hub_rows_t *out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *next = "";
    char last[80] = "";
    int step;

    *out = (hub_rows_t){0};
    if ((out->items = hub_arena_alloc(a, sizeof(void *) * (size_t)(limit > 0 ? limit : 1))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        void *item;
        if (out->n == (size_t)limit) {
            next = key_col == HUB_PAGE_BY_OFFSET ? hub_arena_printf(a, "%lld", (long long)(offset + limit))
                                                 : last;
            break;
        }
        if (key_col != HUB_PAGE_BY_OFFSET)
            snprintf(last, sizeof(last), "%s", hub_col_text(st, key_col));
        if ((item = row(a, st, ctx, err)) == NULL) {
            rc = err->code != FERRY_OK ? err->code
                                       : ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
            goto out;
        }
        out->items[out->n++] = item;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = hub_sql_err(sqlite3_db_handle(st), what, err);
        goto out;
    }
    out->next_page_token = hub_arena_strdup(a, next);
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
out:
    return rc;
}

/* ---- list queries ------------------------------------------------------------------------ */

static void query_add(hub_query_t *q, const char *frag, const struct hub_query_bind *b)
{
    size_t len = strlen(q->sql), n = frag != NULL ? strlen(frag) : 0;

    if (len + n >= sizeof(q->sql) || (b != NULL && q->n == (int)(sizeof(q->binds) / sizeof(q->binds[0])))) {
        q->overflow = true;
        return;
    }
    memcpy(q->sql + len, frag != NULL ? frag : "", n + 1);
    if (b != NULL)
        q->binds[q->n++] = *b;
}

void hub_query_sql(hub_query_t *q, const char *frag)
{
    query_add(q, frag, NULL);
}

void hub_query_text(hub_query_t *q, const char *frag, const char *s)
{
    query_add(q, frag, &(struct hub_query_bind){false, 0, s != NULL ? s : ""});
}

void hub_query_int(hub_query_t *q, const char *frag, int64_t v)
{
    query_add(q, frag, &(struct hub_query_bind){true, v, NULL});
}

ferry_err_code_t hub_list(ferry_hub_t *hub, const hub_list_t *l, const hub_query_t *q, hub_arena_t *a,
                          hub_rows_t *out, ferry_err_t *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int i;

    *out = (hub_rows_t){0};
    if (q->overflow) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: too many filters", l->what);
        goto out;
    }
    if (l->db == HUB_DB_RO) {
        if ((db = hub_ro_acquire(hub, err)) == NULL) {
            rc = err->code;
            goto out;
        }
    } else {
        hub_db_lock(hub);
        db = hub->db;
    }
    if ((rc = hub_prepare(db, q->sql, &st, l->what, err)) != FERRY_OK)
        goto out;
    for (i = 0; i < q->n; i++) {
        if (q->binds[i].is_int)
            sqlite3_bind_int64(st, i + 1, q->binds[i].i);
        else
            sqlite3_bind_text(st, i + 1, q->binds[i].s, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, i + 1, l->limit + 1);
    if (l->key_col == HUB_PAGE_BY_OFFSET)
        sqlite3_bind_int64(st, i + 2, l->offset);
    rc = hub_page_rows(st, l->what, a, l->limit, l->offset, l->key_col, l->row, l->ctx, out, err);
out:
    sqlite3_finalize(st);
    if (db != NULL) {
        if (l->db == HUB_DB_RO)
            hub_ro_release(hub);
        else
            hub_db_unlock(hub);
    }
    return rc;
}

/* ---- SQLite ---------------------------------------------------------------------------------- */

ferry_err_code_t hub_sql_err(sqlite3 *db, const char *what, ferry_err_t *err)
{
    return ferry_err_set(err, FERRY_E_IO, "%s: %s", what, sqlite3_errmsg(db));
}

ferry_err_code_t hub_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what,
                             ferry_err_t *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return hub_sql_err(db, what, err);
    }
    return FERRY_OK;
}

ferry_err_code_t hub_prepare_cached(ferry_hub_t *hub, const char *sql, sqlite3_stmt **st, const char *what,
                                    ferry_err_t *err)
{
    const size_t n = sizeof(hub->stmts) / sizeof(hub->stmts[0]);
    for (size_t i = 0; i < n; i++) {
        struct hub_stmt_slot *s = &hub->stmts[i];
        if (s->sql == sql) {
            if (s->busy)
                break;
            s->busy = 1;
            *st = s->st;
            return FERRY_OK;
        }
        if (s->sql == NULL) {
            if (sqlite3_prepare_v3(hub->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK) {
                sqlite3_finalize(s->st);
                s->st = *st = NULL;
                return hub_sql_err(hub->db, what, err);
            }
            s->sql = sql;
            s->busy = 1;
            *st = s->st;
            return FERRY_OK;
        }
    }
    return hub_prepare(hub->db, sql, st, what, err);
}

void hub_stmt_release(ferry_hub_t *hub, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < sizeof(hub->stmts) / sizeof(hub->stmts[0]); i++) {
        if (hub->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            hub->stmts[i].busy = 0;
            return;
        }
    }
    sqlite3_finalize(st);
}

void hub_stmt_cache_free(ferry_hub_t *hub)
{
    for (size_t i = 0; i < sizeof(hub->stmts) / sizeof(hub->stmts[0]); i++) {
        sqlite3_finalize(hub->stmts[i].st);
        hub->stmts[i].st = NULL;
        hub->stmts[i].sql = NULL;
        hub->stmts[i].busy = 0;
    }
}

int hub_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return sqlite3_bind_text(st, i, s != NULL ? s : "", -1, SQLITE_TRANSIENT);
}

const char *hub_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

ferry_err_code_t hub_tx_begin(ferry_hub_t *hub, ferry_err_t *err)
{
    return ferry_db_exec(hub->db, "BEGIN IMMEDIATE", "begin", err);
}

ferry_err_code_t hub_tx_commit(ferry_hub_t *hub, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_db_exec(hub->db, "COMMIT", "commit", err);
    if (rc != FERRY_OK)
        hub_tx_rollback(hub);
    return rc;
}

void hub_tx_rollback(ferry_hub_t *hub)
{
    if (!sqlite3_get_autocommit(hub->db))
        sqlite3_exec(hub->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- values and arguments ----------------------------------------------------------------------- */

int64_t hub_ts_ms(const Google__Protobuf__Timestamp *ts)
{
    return ts != NULL ? ts->seconds * 1000 + ts->nanos / 1000000 : 0;
}

char *hub_strdup(const char *s)
{
    return strdup(s != NULL ? s : "");
}

ferry_err_code_t hub_check_code(const char *field, const char *code, ferry_err_t *err)
{
    size_t n = code != NULL ? strlen(code) : 0;
    if (n == 0 || n > 64)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be 1..64 characters (got %zu)", field, n);
    for (size_t i = 0; i < n; i++) {
        char c = code[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "%s '%.64s': only letters, digits, '-' and '_' are allowed", field, code);
    }
    return FERRY_OK;
}

ferry_err_code_t hub_parse_id(const char *s, const char *what, int64_t *out, ferry_err_t *err)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        goto bad;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        goto bad;
    *out = v;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%.40s' is not an id", what, s != NULL ? s : "");
}
