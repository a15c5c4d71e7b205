/*
 * The store (see ferry/store.h, ferry/store_sqlite.h): connections, the writer lock,
 * transactions, the prepared-once statement caches, pages and list queries.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/db.h"
#include "ferry/store_sqlite.h"

/* Hot-path statements kept prepared. A full cache is not an error: the caller gets a
 * one-off statement (slower, same result). */
#define STMT_SLOTS    64
#define RO_STMT_SLOTS 16

struct stmt_slot {
    const char *sql; /* the caller's string constant: its address is the key */
    sqlite3_stmt *st;
    int busy;
};

struct ferry_store {
    char path[PATH_MAX];
    sqlite3 *db;
    pthread_mutex_t mu;
    struct stmt_slot stmts[STMT_SLOTS]; /* on db, guarded by mu */
    sqlite3 *ro;
    pthread_mutex_t ro_mu;
    struct stmt_slot ro_stmts[RO_STMT_SLOTS]; /* on ro, guarded by ro_mu */
};

int64_t ferry_store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ferry_err_code_t ferry_store_open(const char *path, ferry_store_t **out, ferry_err_t *err)
{
    ferry_store_t *s = NULL;
    ferry_err_code_t rc;

    *out = NULL;
    if (path == NULL || strlen(path) >= sizeof(s->path)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "store: database path missing or too long");
        goto out;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "store: out of memory");
        goto out;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ro_mu, NULL);
    if ((rc = ferry_db_open(path, &s->db, err)) != FERRY_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    ferry_store_free(s);
    return rc;
}

static void slots_free(struct stmt_slot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sqlite3_finalize(slots[i].st);
        slots[i] = (struct stmt_slot){0};
    }
}

void ferry_store_free(ferry_store_t *s)
{
    if (s == NULL)
        return;
    slots_free(s->stmts, STMT_SLOTS);
    slots_free(s->ro_stmts, RO_STMT_SLOTS);
    ferry_db_close(s->db);
    if (s->ro != NULL)
        sqlite3_close(s->ro);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ro_mu);
    free(s);
}

void ferry_store_lock(ferry_store_t *s)
{
    pthread_mutex_lock(&s->mu);
}

void ferry_store_unlock(ferry_store_t *s)
{
    pthread_mutex_unlock(&s->mu);
}

sqlite3 *ferry_store_sqlite(ferry_store_t *s)
{
    return s->db;
}

ferry_err_code_t ferry_store_tx_begin(ferry_store_t *s, ferry_err_t *err)
{
    return ferry_db_exec(s->db, "BEGIN IMMEDIATE", "begin", err);
}

ferry_err_code_t ferry_store_tx_commit(ferry_store_t *s, ferry_err_t *err)
{
    ferry_err_code_t rc = ferry_db_exec(s->db, "COMMIT", "commit", err);
    if (rc != FERRY_OK)
        ferry_store_tx_rollback(s);
    return rc;
}

void ferry_store_tx_rollback(ferry_store_t *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

bool ferry_store_in_tx(ferry_store_t *s)
{
    return !sqlite3_get_autocommit(s->db);
}

sqlite3 *ferry_store_ro_acquire(ferry_store_t *s, ferry_err_t *err)
{
    pthread_mutex_lock(&s->ro_mu);
    if (s->ro == NULL) {
        if (sqlite3_open_v2(s->path, &s->ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            ferry_err_set(err, FERRY_E_IO, "open %s read-only: %s", s->path,
                          s->ro != NULL ? sqlite3_errmsg(s->ro) : "out of memory");
            sqlite3_close(s->ro);
            s->ro = NULL;
            pthread_mutex_unlock(&s->ro_mu);
            return NULL;
        }
        sqlite3_busy_timeout(s->ro, 5000);
    }
    return s->ro;
}

void ferry_store_ro_release(ferry_store_t *s)
{
    pthread_mutex_unlock(&s->ro_mu);
}

/* ---- statements ------------------------------------------------------------------------------- */

ferry_err_code_t ferry_store_sql_err(sqlite3 *db, const char *what, ferry_err_t *err)
{
    return ferry_err_set(err, FERRY_E_IO, "%s: %s", what, sqlite3_errmsg(db));
}

ferry_err_code_t ferry_store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, const char *what,
                                     ferry_err_t *err)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return ferry_store_sql_err(db, what, err);
    }
    return FERRY_OK;
}

static ferry_err_code_t prepare_cached(sqlite3 *db, struct stmt_slot *slots, size_t n, const char *sql,
                                       sqlite3_stmt **st, const char *what, ferry_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        struct stmt_slot *s = &slots[i];
        if (s->sql == sql) {
            if (s->busy)
                break;
            s->busy = 1;
            *st = s->st;
            return FERRY_OK;
        }
        if (s->sql == NULL) {
            if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK) {
                sqlite3_finalize(s->st);
                s->st = *st = NULL;
                return ferry_store_sql_err(db, what, err);
            }
            s->sql = sql;
            s->busy = 1;
            *st = s->st;
            return FERRY_OK;
        }
    }
    return ferry_store_prepare(db, sql, st, what, err);
}

ferry_err_code_t ferry_store_prepare_cached(ferry_store_t *s, const char *sql, sqlite3_stmt **st,
                                            const char *what, ferry_err_t *err)
{
    return prepare_cached(s->db, s->stmts, STMT_SLOTS, sql, st, what, err);
}

ferry_err_code_t ferry_store_ro_prepare_cached(ferry_store_t *s, const char *sql, sqlite3_stmt **st,
                                               const char *what, ferry_err_t *err)
{
    return prepare_cached(s->ro, s->ro_stmts, RO_STMT_SLOTS, sql, st, what, err);
}

static bool slot_release(struct stmt_slot *slots, size_t n, sqlite3_stmt *st)
{
    for (size_t i = 0; i < n; i++) {
        if (slots[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            slots[i].busy = 0;
            return true;
        }
    }
    return false;
}

void ferry_store_stmt_release(ferry_store_t *s, sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    if (slot_release(s->stmts, STMT_SLOTS, st) || slot_release(s->ro_stmts, RO_STMT_SLOTS, st))
        return;
    sqlite3_finalize(st);
}

int ferry_store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_TRANSIENT);
}

const char *ferry_store_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t != NULL ? (const char *)t : "";
}

char *ferry_store_col_dup(ferry_arena_t *a, sqlite3_stmt *st, int i)
{
    return ferry_arena_strdup(a, ferry_store_col_text(st, i));
}

/* ---- pages -------------------------------------------------------------------------------------- */

int ferry_store_page_limit(int32_t requested)
{
    if (requested <= 0)
        return FERRY_STORE_PAGE_DEFAULT;
    return requested > FERRY_STORE_PAGE_MAX ? FERRY_STORE_PAGE_MAX : requested;
}

ferry_err_code_t ferry_store_page_rows(sqlite3_stmt *st, const char *what, ferry_arena_t *a, int limit,
                                       int64_t offset, int key_col, ferry_store_row_fn row, void *ctx,
                                       ferry_store_page_t *out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *next = "";
    char last[80] = "";
    int step;

    *out = (ferry_store_page_t){0};
    if ((out->items = ferry_arena_alloc(a, sizeof(void *) * (size_t)(limit > 0 ? limit : 1))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        void *item;
        if (out->n == (size_t)limit) {
            next = key_col == FERRY_STORE_PAGE_BY_OFFSET
                       ? ferry_arena_printf(a, "%lld", (long long)offset + limit)
                       : last;
            break;
        }
        if (key_col != FERRY_STORE_PAGE_BY_OFFSET)
            snprintf(last, sizeof(last), "%s", ferry_store_col_text(st, key_col));
        if ((item = row(a, st, ctx, err)) == NULL) {
            rc = err != NULL && err->code != FERRY_OK
                     ? err->code
                     : ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
            goto out;
        }
        out->items[out->n++] = item;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = ferry_store_sql_err(sqlite3_db_handle(st), what, err);
        goto out;
    }
    out->next_page_token = ferry_arena_strdup(a, next);
    if (a->failed)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", what);
out:
    return rc;
}

static void query_add(ferry_store_query_t *q, const char *frag, const struct ferry_store_query_bind *b)
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

void ferry_store_query_sql(ferry_store_query_t *q, const char *frag)
{
    query_add(q, frag, NULL);
}

void ferry_store_query_text(ferry_store_query_t *q, const char *frag, const char *v)
{
    query_add(q, frag, &(struct ferry_store_query_bind){false, 0, v != NULL ? v : ""});
}

void ferry_store_query_int(ferry_store_query_t *q, const char *frag, int64_t v)
{
    query_add(q, frag, &(struct ferry_store_query_bind){true, v, NULL});
}

ferry_err_code_t ferry_store_list(ferry_store_t *s, const ferry_store_list_t *l, const ferry_store_query_t *q,
                                  ferry_arena_t *a, ferry_store_page_t *out, ferry_err_t *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc;
    int i;

    *out = (ferry_store_page_t){0};
    if (q->overflow) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: too many filters", l->what);
        goto out;
    }
    if (l->conn == FERRY_STORE_CONN_RO) {
        if ((db = ferry_store_ro_acquire(s, err)) == NULL) {
            rc = err != NULL ? err->code : FERRY_E_IO;
            goto out;
        }
    } else {
        ferry_store_lock(s);
        db = s->db;
    }
    if ((rc = ferry_store_prepare(db, q->sql, &st, l->what, err)) != FERRY_OK)
        goto out;
    for (i = 0; i < q->n; i++) {
        if (q->binds[i].is_int)
            sqlite3_bind_int64(st, i + 1, q->binds[i].i);
        else
            sqlite3_bind_text(st, i + 1, q->binds[i].s, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, i + 1, l->limit + 1);
    if (l->key_col == FERRY_STORE_PAGE_BY_OFFSET)
        sqlite3_bind_int64(st, i + 2, l->offset);
    rc = ferry_store_page_rows(st, l->what, a, l->limit, l->offset, l->key_col, l->row, l->ctx, out, err);
out:
    sqlite3_finalize(st);
    if (db != NULL) {
        if (l->conn == FERRY_STORE_CONN_RO)
            ferry_store_ro_release(s);
        else
            ferry_store_unlock(s);
    }
    return rc;
}

ferry_err_code_t ferry_store_page_token_read(const char *token, int64_t *out, ferry_err_t *err)
{
    char *end = NULL;
    long long v;

    *out = 0;
    if (token == NULL || token[0] == '\0')
        return FERRY_OK;
    if (token[0] < '0' || token[0] > '9')
        goto bad;
    v = strtoll(token, &end, 10);
    if (end == NULL || *end != '\0' || v < 0)
        goto bad;
    *out = (int64_t)v;
    return FERRY_OK;
bad:
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "page_token '%.32s' is not one this server issued", token);
}
