#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ferry/fs.h"

struct agentd_store {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS task ("
    " id TEXT PRIMARY KEY, release_id TEXT NOT NULL, kind INTEGER NOT NULL, policy INTEGER NOT NULL,"
    " version TEXT NOT NULL, description TEXT NOT NULL, rollback_backup TEXT NOT NULL,"
    " deadline_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, phase INTEGER NOT NULL,"
    " prompt INTEGER NOT NULL, deferred_until_ms INTEGER NOT NULL, halted INTEGER NOT NULL,"
    " forced_now INTEGER NOT NULL, last_state INTEGER NOT NULL, size INTEGER NOT NULL,"
    " percent INTEGER NOT NULL, error_code TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS seq (task_id TEXT PRIMARY KEY, last INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, body BLOB NOT NULL, kind INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS upload (id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
    " task_id TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL, content_type TEXT NOT NULL,"
    " summary TEXT NOT NULL, owned INTEGER NOT NULL, attempts INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS config (id TEXT PRIMARY KEY, template TEXT NOT NULL,"
    " version INTEGER NOT NULL, target TEXT NOT NULL, restart INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    " rendered BLOB NOT NULL, phase INTEGER NOT NULL, state INTEGER NOT NULL, had_prev INTEGER NOT NULL,"
    " error TEXT NOT NULL, received_ms INTEGER NOT NULL, done_ms INTEGER NOT NULL);";

/* Finished configuration rows kept to answer a re-offered assignment with the same result. */
#define CONFIG_DONE_KEPT 200

/* Done tasks kept for ListPendingUpdates history and dedup of re-offered assignments. */
#define DONE_KEPT 200

static ferry_err_code_t db_err(agentd_store_t *s, ferry_err_t *err, const char *what)
{
    return ferry_err_set(err, FERRY_E_IO, "agent.db: %s: %s", what, sqlite3_errmsg(s->db));
}

static ferry_err_code_t exec(agentd_store_t *s, const char *sql, ferry_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ferry_err_code_t rc =
            ferry_err_set(err, FERRY_E_IO, "agent.db: %s", msg != NULL ? msg : "exec failed");
        sqlite3_free(msg);
        return rc;
    }
    return FERRY_OK;
}

/*
 * Brings an agent.db written by an older agent up to SCHEMA (CREATE TABLE IF NOT EXISTS
 * leaves existing tables as they are). Each step is idempotent, so a crash between steps or
 * a second open is harmless.
 * - task.attempt (retry support): rows of such a file all worked on the server's first
 *   run, attempt 0, which is the column's default.
 * - outbox.kind (configuration results): every older row is a ProgressReport, kind 0.
 */
static ferry_err_code_t upgrade_schema(agentd_store_t *s, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    bool have_kind = false;
    ferry_err_code_t rc = FERRY_OK;
    if (sqlite3_prepare_v2(s->db, "SELECT attempt FROM task LIMIT 0", -1, &st, NULL) != SQLITE_OK &&
        (rc = exec(s, "ALTER TABLE task ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0", err)) != FERRY_OK)
        goto out;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA table_info(outbox)", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "outbox columns");
        goto out;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        if (strcmp((const char *)sqlite3_column_text(st, 1), "kind") == 0)
            have_kind = true;
    if (!have_kind)
        rc = exec(s, "ALTER TABLE outbox ADD COLUMN kind INTEGER NOT NULL DEFAULT 0", err);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t agentd_store_open(const char *state_dir, agentd_store_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    agentd_store_t *s = NULL;
    char path[AGENTD_PATH_MAX];
    *out = NULL;
    if ((rc = ferry_fs_mkdir_p(state_dir, 0700, err)) != FERRY_OK)
        goto out;
    if (ferry_fs_join(path, sizeof(path), state_dir, "agent.db") != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "state dir path too long");
        goto out;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_init(&s->mu, NULL);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
        goto out;
    }
    (void)chmod(path, 0600);
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = exec(s, "PRAGMA journal_mode=WAL", err)) != FERRY_OK ||
        (rc = exec(s, "PRAGMA synchronous=FULL", err)) != FERRY_OK ||
        (rc = exec(s, SCHEMA, err)) != FERRY_OK || (rc = upgrade_schema(s, err)) != FERRY_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    agentd_store_close(s);
    return rc;
}

void agentd_store_close(agentd_store_t *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
{
    const unsigned char *v = sqlite3_column_text(st, col);
    snprintf(dst, size, "%s", v != NULL ? (const char *)v : "");
}

#define TASK_COLS                                                                                            \
    "id, release_id, kind, policy, version, description, rollback_backup, deadline_ms, created_ms, phase,"   \
    " prompt, deferred_until_ms, halted, forced_now, last_state, size, percent, error_code, attempt"

static void read_task(sqlite3_stmt *st, agentd_task_t *t)
{
    memset(t, 0, sizeof(*t));
    copy_col(t->id, sizeof(t->id), st, 0);
    copy_col(t->release_id, sizeof(t->release_id), st, 1);
    t->kind = sqlite3_column_int(st, 2);
    t->policy = sqlite3_column_int(st, 3);
    copy_col(t->version, sizeof(t->version), st, 4);
    copy_col(t->description, sizeof(t->description), st, 5);
    copy_col(t->rollback_backup, sizeof(t->rollback_backup), st, 6);
    t->deadline_ms = sqlite3_column_int64(st, 7);
    t->created_ms = sqlite3_column_int64(st, 8);
    t->phase = (agentd_phase_t)sqlite3_column_int(st, 9);
    t->prompt = (agentd_prompt_t)sqlite3_column_int(st, 10);
    t->deferred_until_ms = sqlite3_column_int64(st, 11);
    t->halted = sqlite3_column_int(st, 12) != 0;
    t->forced_now = sqlite3_column_int(st, 13) != 0;
    t->last_state = sqlite3_column_int(st, 14);
    t->size = (uint64_t)sqlite3_column_int64(st, 15);
    t->percent = sqlite3_column_int(st, 16);
    copy_col(t->error_code, sizeof(t->error_code), st, 17);
    t->attempt = (unsigned)sqlite3_column_int64(st, 18);
}

static void bind_task(sqlite3_stmt *st, const agentd_task_t *t, int64_t now)
{
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, t->release_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, t->kind);
    sqlite3_bind_int(st, 4, t->policy);
    sqlite3_bind_text(st, 5, t->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, t->description, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, t->rollback_backup, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, t->deadline_ms);
    sqlite3_bind_int64(st, 9, t->created_ms);
    sqlite3_bind_int(st, 10, (int)t->phase);
    sqlite3_bind_int(st, 11, (int)t->prompt);
    sqlite3_bind_int64(st, 12, t->deferred_until_ms);
    sqlite3_bind_int(st, 13, t->halted ? 1 : 0);
    sqlite3_bind_int(st, 14, t->forced_now ? 1 : 0);
    sqlite3_bind_int(st, 15, t->last_state);
    sqlite3_bind_int64(st, 16, (sqlite3_int64)t->size);
    sqlite3_bind_int(st, 17, t->percent);
    sqlite3_bind_text(st, 18, t->error_code, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 19, (sqlite3_int64)t->attempt);
    sqlite3_bind_int64(st, 20, now);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ferry_err_code_t get_locked(agentd_store_t *s, const char *id, agentd_task_t *out, int *found,
                                   ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *found = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT " TASK_COLS " FROM task WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, err, "select task");
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_task(st, out);
        *found = 1;
    } else if (r != SQLITE_DONE) {
        rc = db_err(s, err, "select task");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

static ferry_err_code_t save_locked(agentd_store_t *s, const agentd_task_t *t, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    const char *sql = "INSERT OR REPLACE INTO task (" TASK_COLS ", updated_ms) VALUES"
                      " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "save task");
        goto out;
    }
    bind_task(st, t, now_ms());
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "save task");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t agentd_store_merge_task(agentd_store_t *s, const agentd_task_t *t, int *is_new, int *revived,
                                         ferry_err_t *err)
{
    ferry_err_code_t rc;
    agentd_task_t cur, m;
    int found = 0;
    bool back = false;
    pthread_mutex_lock(&s->mu);
    if ((rc = get_locked(s, t->id, &cur, &found, err)) != FERRY_OK)
        goto out;
    /* The rules (server facts win, local progress stays, a new attempt revives) are core's. */
    back = agentd_core_merge(found ? &cur : NULL, t, &m);
    rc = save_locked(s, &m, err);
    if (rc == FERRY_OK && !found) {
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "DELETE FROM task WHERE phase = 3 AND id NOT IN (SELECT id FROM task WHERE phase = 3"
                 " ORDER BY updated_ms DESC LIMIT %d)",
                 DONE_KEPT);
        rc = exec(s, sql, err);
        /* The daemon's per-task facts in kv ("skip:ID", "checkpoint:ID", "start:ID") go with
         * their task, so kv stays as bounded as the task table. */
        if (rc == FERRY_OK)
            rc = exec(
                s,
                "DELETE FROM kv WHERE (key LIKE 'skip:%' OR key LIKE 'checkpoint:%' OR key LIKE 'start:%')"
                " AND substr(key, instr(key, ':') + 1) NOT IN (SELECT id FROM task)",
                err);
    }
out:
    if (is_new != NULL)
        *is_new = rc == FERRY_OK && !found;
    if (revived != NULL)
        *revived = rc == FERRY_OK && back;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_save_task(agentd_store_t *s, const agentd_task_t *t, ferry_err_t *err)
{
    pthread_mutex_lock(&s->mu);
    ferry_err_code_t rc = save_locked(s, t, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_get_task(agentd_store_t *s, const char *id, agentd_task_t *out, int *found,
                                       ferry_err_t *err)
{
    pthread_mutex_lock(&s->mu);
    ferry_err_code_t rc = get_locked(s, id, out, found, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_list_tasks(agentd_store_t *s, agentd_task_t *out, size_t cap, size_t *n,
                                         int include_done, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    const char *sql = include_done ? "SELECT " TASK_COLS " FROM task ORDER BY created_ms, id"
                                   : "SELECT " TASK_COLS
                                     " FROM task WHERE phase != 3 ORDER BY created_ms, id";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "list tasks");
        goto out;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
        read_task(st, &out[(*n)++]);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_err(s, err, "list tasks");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_halt(agentd_store_t *s, const char *id, int halted, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "UPDATE task SET halted = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "halt");
        goto out;
    }
    sqlite3_bind_int(st, 1, halted ? 1 : 0);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "halt");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_outbox_add(agentd_store_t *s, const char *task_id,
                                         int (*fill)(void *user, uint64_t seq, uint8_t **body, size_t *len),
                                         void *user, uint64_t *seq, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    uint8_t *body = NULL;
    size_t len = 0;
    uint64_t next = 1;
    bool in_tx = false;
    pthread_mutex_lock(&s->mu);
    if ((rc = exec(s, "BEGIN IMMEDIATE", err)) != FERRY_OK)
        goto out;
    in_tx = true;
    if (sqlite3_prepare_v2(s->db, "SELECT last FROM seq WHERE task_id = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "seq");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        next = (uint64_t)sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    st = NULL;
    if (fill(user, next, &body, &len) != 0) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "report: cannot encode");
        goto out;
    }
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO seq (task_id, last) VALUES (?, ?)", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_err(s, err, "seq");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)next);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, err, "seq");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db, "INSERT INTO outbox (task_id, seq, body) VALUES (?, ?, ?)", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)next);
    sqlite3_bind_blob(st, 3, body, (int)len, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    if ((rc = exec(s, "COMMIT", err)) != FERRY_OK)
        goto out;
    in_tx = false;
    if (seq != NULL)
        *seq = next;
out:
    sqlite3_finalize(st);
    if (in_tx)
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    free(body);
    return rc;
}

ferry_err_code_t agentd_store_outbox_peek(agentd_store_t *s, int64_t *row, int *kind, uint8_t **body,
                                          size_t *len, int *found, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *found = 0;
    *body = NULL;
    *len = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT id, body, kind FROM outbox ORDER BY id LIMIT 1", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 1);
        const void *b = sqlite3_column_blob(st, 1);
        *row = sqlite3_column_int64(st, 0);
        *kind = sqlite3_column_int(st, 2);
        if ((*body = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        if (n > 0)
            memcpy(*body, b, (size_t)n);
        *len = (size_t)n;
        *found = 1;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static ferry_err_code_t exec_row(agentd_store_t *s, const char *sql, int64_t row, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, sql);
        goto out;
    }
    sqlite3_bind_int64(st, 1, row);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, sql);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_outbox_ack(agentd_store_t *s, int64_t row, ferry_err_t *err)
{
    return exec_row(s, "DELETE FROM outbox WHERE id = ?", row, err);
}

unsigned agentd_store_outbox_count(agentd_store_t *s)
{
    sqlite3_stmt *st = NULL;
    unsigned n = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM outbox", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (unsigned)sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return n;
}

ferry_err_code_t agentd_store_upload_add(agentd_store_t *s, const agentd_upload_t *u, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT INTO upload (kind, task_id, path, name, content_type, summary, owned, attempts)"
            " VALUES (?,?,?,?,?,?,?,0)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "upload");
        goto out;
    }
    sqlite3_bind_int(st, 1, u->kind);
    sqlite3_bind_text(st, 2, u->task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, u->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, u->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, u->content_type, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, u->summary, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, u->owned);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "upload");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_upload_peek(agentd_store_t *s, agentd_upload_t *out, int *found,
                                          ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *found = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, kind, task_id, path, name, content_type, summary, owned, attempts"
                           " FROM upload ORDER BY attempts, id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "upload");
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->row = sqlite3_column_int64(st, 0);
        out->kind = sqlite3_column_int(st, 1);
        copy_col(out->task_id, sizeof(out->task_id), st, 2);
        copy_col(out->path, sizeof(out->path), st, 3);
        copy_col(out->name, sizeof(out->name), st, 4);
        copy_col(out->content_type, sizeof(out->content_type), st, 5);
        copy_col(out->summary, sizeof(out->summary), st, 6);
        out->owned = sqlite3_column_int(st, 7);
        out->attempts = sqlite3_column_int(st, 8);
        *found = 1;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_upload_done(agentd_store_t *s, int64_t row, ferry_err_t *err)
{
    return exec_row(s, "DELETE FROM upload WHERE id = ?", row, err);
}

ferry_err_code_t agentd_store_upload_failed(agentd_store_t *s, int64_t row, ferry_err_t *err)
{
    return exec_row(s, "UPDATE upload SET attempts = attempts + 1 WHERE id = ?", row, err);
}

ferry_err_code_t agentd_store_kv_get(agentd_store_t *s, const char *key, char *out, size_t size,
                                     ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    out[0] = '\0';
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM kv WHERE key = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "kv");
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        copy_col(out, size, st, 0);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_kv_set(agentd_store_t *s, const char *key, const char *value, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, err, "kv");
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "kv");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- configuration assignments ------------------------------------------------------------ */

#define CFG_COLS                                                                                             \
    "id, template, version, target, restart, sha256, phase, state, had_prev, error, received_ms, done_ms,"   \
    " EXISTS (SELECT 1 FROM outbox WHERE task_id = 'cfg:' || config.id)"

static void read_cfg(sqlite3_stmt *st, agentd_cfg_job_t *j)
{
    memset(j, 0, sizeof(*j));
    copy_col(j->id, sizeof(j->id), st, 0);
    copy_col(j->template_name, sizeof(j->template_name), st, 1);
    j->template_version = (uint64_t)sqlite3_column_int64(st, 2);
    copy_col(j->target, sizeof(j->target), st, 3);
    j->restart = sqlite3_column_int(st, 4) != 0;
    copy_col(j->sha256, sizeof(j->sha256), st, 5);
    j->phase = (agentd_cfg_phase_t)sqlite3_column_int(st, 6);
    j->state = sqlite3_column_int(st, 7);
    j->had_prev = sqlite3_column_int(st, 8) != 0;
    copy_col(j->error, sizeof(j->error), st, 9);
    j->received_ms = sqlite3_column_int64(st, 10);
    j->done_ms = sqlite3_column_int64(st, 11);
    j->report_queued = sqlite3_column_int(st, 12) != 0;
}

ferry_err_code_t agentd_store_cfg_add(agentd_store_t *s, const agentd_cfg_job_t *j, const char *rendered,
                                      size_t len, int *added, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *added = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(
            s->db,
            "INSERT OR IGNORE INTO config (id, template, version, target, restart, sha256, rendered,"
            " phase, state, had_prev, error, received_ms, done_ms) VALUES (?,?,?,?,?,?,?,0,0,0,'',?,0)",
            -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config add");
        goto out;
    }
    sqlite3_bind_text(st, 1, j->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, j->template_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)j->template_version);
    sqlite3_bind_text(st, 4, j->target, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, j->restart ? 1 : 0);
    sqlite3_bind_text(st, 6, j->sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 7, len > 0 ? rendered : "", (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, j->received_ms);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, err, "config add");
        goto out;
    }
    *added = sqlite3_changes(s->db) > 0;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_get(agentd_store_t *s, const char *id, const char *template_name,
                                      agentd_cfg_job_t *out, int *found, char *newest, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *found = 0;
    if (newest != NULL)
        newest[0] = '\0';
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT " CFG_COLS " FROM config WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, err, "config get");
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_cfg(st, out);
        *found = 1;
    } else if (r != SQLITE_DONE) {
        rc = db_err(s, err, "config get");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (newest == NULL)
        goto out;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM config WHERE template = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config newest");
        goto out;
    }
    sqlite3_bind_text(st, 1, template_name, -1, SQLITE_TRANSIENT);
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        char cur[AGENTD_ID_MAX];
        copy_col(cur, sizeof(cur), st, 0);
        /* Ids are decimal text: compared in C (cfgplan.c), not by SQLite's text order. */
        if (newest[0] == '\0' || agentd_cfg_id_cmp(cur, newest) > 0)
            snprintf(newest, AGENTD_ID_MAX, "%s", cur);
    }
    if (r != SQLITE_DONE)
        rc = db_err(s, err, "config newest");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_open(agentd_store_t *s, agentd_cfg_job_t *out, size_t cap, size_t *n,
                                       ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    int r = SQLITE_DONE;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(
            s->db, "SELECT " CFG_COLS " FROM config WHERE phase != 3 ORDER BY phase DESC, received_ms", -1,
            &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config open");
        goto out;
    }
    while (*n < cap && (r = sqlite3_step(st)) == SQLITE_ROW)
        read_cfg(st, &out[(*n)++]);
    /* A failed read must not look like "nothing open": the caller would skip a resume. */
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = db_err(s, err, "config open");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_rendered(agentd_store_t *s, const char *id, char **out, size_t *len,
                                           ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *out = NULL;
    *len = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT rendered FROM config WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config content");
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "agent.db: no configuration assignment '%s'", id);
        goto out;
    }
    int n = sqlite3_column_bytes(st, 0);
    const void *b = sqlite3_column_blob(st, 0);
    if ((*out = malloc((size_t)n + 1)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if (n > 0)
        memcpy(*out, b, (size_t)n);
    (*out)[n] = '\0';
    *len = (size_t)n;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_phase(agentd_store_t *s, const char *id, agentd_cfg_phase_t phase,
                                        bool had_prev, const char *error, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "UPDATE config SET phase = ?, had_prev = ?, error = ? WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config phase");
        goto out;
    }
    sqlite3_bind_int(st, 1, (int)phase);
    sqlite3_bind_int(st, 2, had_prev ? 1 : 0);
    sqlite3_bind_text(st, 3, error != NULL ? error : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "config phase");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Appends a config result to the outbox (caller holds the store mutex). */
static ferry_err_code_t cfg_outbox_locked(agentd_store_t *s, const char *id, const uint8_t *body, size_t len,
                                          ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    char key[AGENTD_ID_MAX + 8];
    snprintf(key, sizeof(key), "cfg:%s", id);
    if (sqlite3_prepare_v2(s->db, "INSERT INTO outbox (task_id, seq, body, kind) VALUES (?, 0, ?, 1)", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, body, (int)len, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_err(s, err, "outbox");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t agentd_store_cfg_finish(agentd_store_t *s, const char *id, int state, const char *error,
                                         int64_t done_ms, const uint8_t *body, size_t len, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    bool in_tx = false;
    char sql[256];
    pthread_mutex_lock(&s->mu);
    if ((rc = exec(s, "BEGIN IMMEDIATE", err)) != FERRY_OK)
        goto out;
    in_tx = true;
    if (sqlite3_prepare_v2(
            s->db,
            "UPDATE config SET phase = 3, state = ?, error = ?, done_ms = ?, rendered = x'' WHERE id = ?", -1,
            &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config finish");
        goto out;
    }
    sqlite3_bind_int(st, 1, state);
    sqlite3_bind_text(st, 2, error != NULL ? error : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, done_ms);
    sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, err, "config finish");
        goto out;
    }
    if (body != NULL && (rc = cfg_outbox_locked(s, id, body, len, err)) != FERRY_OK)
        goto out;
    snprintf(sql, sizeof(sql),
             "DELETE FROM config WHERE phase = 3 AND id NOT IN (SELECT id FROM config WHERE phase = 3"
             " ORDER BY done_ms DESC LIMIT %d)",
             CONFIG_DONE_KEPT);
    if ((rc = exec(s, sql, err)) != FERRY_OK || (rc = exec(s, "COMMIT", err)) != FERRY_OK)
        goto out;
    in_tx = false;
out:
    sqlite3_finalize(st);
    if (in_tx)
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_requeue(agentd_store_t *s, const char *id, const uint8_t *body, size_t len,
                                          int *queued, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    char key[AGENTD_ID_MAX + 8];
    *queued = 0;
    snprintf(key, sizeof(key), "cfg:%s", id);
    /* Check and insert under the one mutex: the stream and CheckIn may offer it at once. */
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM outbox WHERE task_id = ?", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        goto out;
    if (r != SQLITE_DONE) {
        rc = db_err(s, err, "outbox");
        goto out;
    }
    if ((rc = cfg_outbox_locked(s, id, body, len, err)) == FERRY_OK)
        *queued = 1;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

ferry_err_code_t agentd_store_cfg_last(agentd_store_t *s, agentd_cfg_job_t *out, int *found, ferry_err_t *err)
{
    sqlite3_stmt *st = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *found = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " CFG_COLS
                           " FROM config WHERE phase = 3 AND state != 0 ORDER BY done_ms DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, err, "config last");
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        read_cfg(st, out);
        *found = 1;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
