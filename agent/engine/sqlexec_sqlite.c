/*
 * The SQLite executor: scripts run with sqlite3_exec on a real database file;
 * backup and restore use SQLite's online backup API, which copies a consistent
 * snapshot page by page under the library's own locking and journaling.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "sqlexec_int.h"

#define BUSY_TIMEOUT_MS 10000

typedef struct sqlite_exec {
    ferry_sqlexec_t base;
    sqlite3 *db;
    char *path;
    int64_t deadline_ms; /* CLOCK_MONOTONIC; 0 = none */
} sqlite_exec_t;

static ferry_err_code_t db_error(ferry_sqlexec_t *x, sqlite3 *db, ferry_err_code_t code, const char *what,
                                 const char *name, ferry_err_t *err)
{
    char msg[600];
    snprintf(msg, sizeof(msg), "SQLite error %d: %s", sqlite3_extended_errcode(db), sqlite3_errmsg(db));
    ferry_sqlexec_emit(x, msg);
    return ferry_err_set(err, code, "%s '%s': %s", what, name, msg);
}

/* Opens |path| with |flags|; on failure closes the handle and fills |err|. */
static ferry_err_code_t open_db(const char *path, int flags, sqlite3 **out, ferry_err_t *err)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ferry_err_code_t code =
            rc == SQLITE_CANTOPEN && !ferry_fs_exists(path) ? FERRY_E_NOT_FOUND : FERRY_E_IO;
        ferry_err_set(err, code, "open database '%s': %s", path,
                      db != NULL ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close_v2(db);
        *out = NULL;
        return code;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    *out = db;
    return FERRY_OK;
}

static ferry_err_code_t sq_exec(ferry_sqlexec_t *x, const char *sql, size_t len, int64_t *rows,
                                ferry_err_t *err)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    ferry_err_code_t rc = FERRY_OK;
    char *copy = NULL, *errmsg = NULL;
    *rows = -1;
    if (sql[len] != '\0') {
        copy = strndup(sql, len);
        if (copy == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        sql = copy;
    }
    sqlite3_int64 before = sqlite3_total_changes64(s->db);
    int r = sqlite3_exec(s->db, sql, NULL, NULL, &errmsg);
    if (r != SQLITE_OK) {
        char msg[800];
        snprintf(msg, sizeof(msg), "SQLite error %d: %s", sqlite3_extended_errcode(s->db),
                 errmsg != NULL ? errmsg : sqlite3_errstr(r));
        ferry_sqlexec_emit(x, msg);
        rc = ferry_err_set(err, FERRY_E_IO, "%s", msg);
        /* Leave the connection clean for the restore that follows a failure. */
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    *rows = (int64_t)(sqlite3_total_changes64(s->db) - before);
out:
    sqlite3_free(errmsg);
    free(copy);
    return rc;
}

/* fsync a file by path. */
static ferry_err_code_t fsync_path(const char *path, ferry_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open %s", path);
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0)
        return ferry_err_set_errno(err, ferry_err_from_errno(e), e, "fsync %s", path);
    return FERRY_OK;
}

/* Copies all of |src| into |dst| with the online backup API. */
static int copy_db(sqlite3 *dst, sqlite3 *src)
{
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL)
        return sqlite3_errcode(dst);
    int r;
    do {
        r = sqlite3_backup_step(b, 1024);
        if (r == SQLITE_BUSY || r == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (r == SQLITE_OK || r == SQLITE_BUSY || r == SQLITE_LOCKED);
    int f = sqlite3_backup_finish(b);
    return r == SQLITE_DONE ? f : r;
}

static ferry_err_code_t sq_backup(ferry_sqlexec_t *x, const char *database, const char *file,
                                  ferry_err_t *err)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    ferry_err_code_t rc = FERRY_OK;
    sqlite3 *src = NULL, *dst = NULL;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= (int)sizeof(tmp))
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path too long: %s", file);
    bool own_src = strcmp(database, s->path) != 0;
    if (own_src) {
        if ((rc = open_db(database, SQLITE_OPEN_READONLY, &src, err)) != FERRY_OK)
            goto out;
    } else {
        src = s->db;
    }
    if (unlink(tmp) != 0 && errno != ENOENT) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "remove stale %s", tmp);
        goto out;
    }
    if ((rc = open_db(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err)) != FERRY_OK)
        goto out;
    int r = copy_db(dst, src);
    if (r != SQLITE_OK) {
        rc = ferry_err_set(err, r == SQLITE_FULL ? FERRY_E_NOSPACE : FERRY_E_IO, "back up '%s' to '%s': %s",
                           database, tmp, sqlite3_errstr(r));
        goto out;
    }
    /* A copy of a WAL database is itself WAL; make the backup one self-contained file. */
    sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (sqlite3_close(dst) != SQLITE_OK) {
        rc = db_error(x, dst, FERRY_E_IO, "close backup", tmp, err);
        goto out;
    }
    dst = NULL;
    if ((rc = fsync_path(tmp, err)) != FERRY_OK)
        goto out;
    if (rename(tmp, file) != 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "rename %s", tmp);
        goto out;
    }
    rc = ferry_fs_fsync_parent(file, err);
out:
    if (dst != NULL)
        sqlite3_close_v2(dst);
    if (rc != FERRY_OK)
        unlink(tmp);
    if (own_src)
        sqlite3_close_v2(src);
    return rc;
}

static ferry_err_code_t sq_restore(ferry_sqlexec_t *x, const char *database, const char *file,
                                   ferry_err_t *err)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    ferry_err_code_t rc = FERRY_OK;
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_stmt *st = NULL;
    bool own_dst = strcmp(database, s->path) != 0;
    if ((rc = open_db(file, SQLITE_OPEN_READONLY, &src, err)) != FERRY_OK)
        goto out;
    /* Never replace a live database with a damaged backup. */
    if (sqlite3_prepare_v2(src, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        rc = ferry_err_set(err, FERRY_E_CORRUPT, "backup '%s' fails its integrity check: %s", file,
                           st != NULL && sqlite3_column_text(st, 0) != NULL
                               ? (const char *)sqlite3_column_text(st, 0)
                               : sqlite3_errmsg(src));
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (own_dst) {
        if ((rc = open_db(database, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err)) != FERRY_OK)
            goto out;
    } else {
        dst = s->db;
    }
    int r = copy_db(dst, src);
    if (r != SQLITE_OK) {
        rc = ferry_err_set(err, r == SQLITE_FULL ? FERRY_E_NOSPACE : FERRY_E_IO, "restore '%s' from '%s': %s",
                           database, file, sqlite3_errstr(r));
        goto out;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close_v2(src);
    if (own_dst)
        sqlite3_close_v2(dst);
    return rc;
}

static void sq_close(ferry_sqlexec_t *x)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s);
}

/* A check hook's query: exactly one row, one integer column. Prepared, never exec'd, so a
 * query with a second statement after it is refused rather than half-run. */
static ferry_err_code_t sq_count(ferry_sqlexec_t *x, const char *sql, int64_t *count, ferry_err_t *err)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, &tail) != SQLITE_OK) {
        rc = db_error(x, s->db, FERRY_E_IO, "prepare check on", s->path, err);
        goto out;
    }
    if (st == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "check query is empty");
        goto out;
    }
    while (tail != NULL && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';'))
        tail++;
    if (tail != NULL && *tail != '\0') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "check query holds more than one statement");
        goto out;
    }
    /* A check may only look: pre_check runs before the backup, nothing may change then. */
    if (!sqlite3_stmt_readonly(st)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "check query must be read-only (a SELECT)");
        goto out;
    }
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "check query returned no row");
        goto out;
    }
    if (r != SQLITE_ROW) {
        rc = db_error(x, s->db, FERRY_E_IO, "check on", s->path, err);
        goto out;
    }
    if (sqlite3_column_count(st) != 1 || sqlite3_column_type(st, 0) != SQLITE_INTEGER) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "check query must return one integer column (got %d column(s))",
                           sqlite3_column_count(st));
        goto out;
    }
    *count = (int64_t)sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

/* Called every few thousand VM steps: non-zero interrupts the statement (SQLITE_INTERRUPT). */
static int past_deadline(void *user)
{
    const sqlite_exec_t *s = user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= s->deadline_ms;
}

static void sq_set_deadline(ferry_sqlexec_t *x, int64_t deadline_ms)
{
    sqlite_exec_t *s = (sqlite_exec_t *)x;
    s->deadline_ms = deadline_ms;
    sqlite3_progress_handler(s->db, deadline_ms > 0 ? 10000 : 0, deadline_ms > 0 ? past_deadline : NULL, s);
}

static const ferry_sqlexec_ops_t sqlite_ops = {.kind = "sqlite",
                                               .exec = sq_exec,
                                               .backup = sq_backup,
                                               .restore = sq_restore,
                                               .close = sq_close,
                                               .count = sq_count,
                                               .set_deadline = sq_set_deadline};

ferry_err_code_t ferry_sqlexec_open_sqlite_ex(const char *db_path, bool create, ferry_sqlexec_t **out,
                                              ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite_exec_t *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL || (s->path = strdup(db_path)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    s->base.ops = &sqlite_ops;
    rc = open_db(db_path, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0), &s->db, err);
    if (rc != FERRY_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s != NULL) {
        free(s->path);
        free(s);
    }
    return rc;
}

ferry_err_code_t ferry_sqlexec_open_sqlite(const char *db_path, ferry_sqlexec_t **out, ferry_err_t *err)
{
    return ferry_sqlexec_open_sqlite_ex(db_path, false, out, err);
}
