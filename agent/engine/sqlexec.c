/*
 * Executor dispatch, the package SQL step with sql.log, and the database part of the
 * backup trio (see sqlexec.h).
 */
#include "ferry/engine/sqlexec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/engine/sqlsplit.h"
#include "ferry/fs.h"
#include "ferry/log.h"
#include "sqlexec_int.h"

/* Server messages kept per batch in sql.log; the rest is counted, not kept. */
#define MSG_CAP (64 * 1024)
/* Characters of a failing batch quoted in sql.log. */
#define QUOTE_CAP 300

void ferry_sqlexec_emit(ferry_sqlexec_t *x, const char *msg)
{
    if (x != NULL && x->msg_fn != NULL)
        x->msg_fn(x->msg_user, msg);
}

void ferry_sqlexec_set_message_sink(ferry_sqlexec_t *x, ferry_sqlexec_msg_fn fn, void *user)
{
    x->msg_fn = fn;
    x->msg_user = user;
}

ferry_err_code_t ferry_sqlexec_exec(ferry_sqlexec_t *x, const char *sql, size_t len, int64_t *rows,
                                    ferry_err_t *err)
{
    int64_t dummy;
    return x->ops->exec(x, sql, len, rows != NULL ? rows : &dummy, err);
}

ferry_err_code_t ferry_sqlexec_backup(ferry_sqlexec_t *x, const char *database, const char *file,
                                      ferry_err_t *err)
{
    return x->ops->backup(x, database, file, err);
}

ferry_err_code_t ferry_sqlexec_restore(ferry_sqlexec_t *x, const char *database, const char *file,
                                       ferry_err_t *err)
{
    return x->ops->restore(x, database, file, err);
}

ferry_err_code_t ferry_sqlexec_count(ferry_sqlexec_t *x, const char *sql, int64_t *count, ferry_err_t *err)
{
    if (x->ops->count == NULL)
        return ferry_err_set(err, FERRY_E_UNSUPPORTED, "the %s executor cannot run check queries",
                             x->ops->kind);
    return x->ops->count(x, sql, count, err);
}

bool ferry_sqlexec_set_timeout(ferry_sqlexec_t *x, unsigned seconds)
{
    if (x->ops->set_deadline == NULL)
        return false;
    int64_t deadline = 0;
    if (seconds > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)seconds * 1000;
    }
    x->ops->set_deadline(x, deadline);
    return true;
}

void ferry_sqlexec_free(ferry_sqlexec_t *x)
{
    if (x != NULL)
        x->ops->close(x);
}

ferry_err_code_t ferry_sqlexec_open_config(const ferry_node_config_t *cfg, ferry_sqlexec_t **out,
                                           ferry_err_t *err)
{
    if (cfg->backup.db.engine == FERRY_DB_ENGINE_MSSQL)
        return ferry_sqlexec_open_mssql(cfg->backup.db.sql_connection_string, cfg->backup.db.databases[0],
                                        out, err);
    return ferry_sqlexec_open_sqlite(cfg->backup.db.databases[0], out, err);
}

/* ---------------------------------------------------------------- validation */

static ferry_err_code_t count_batch(void *user, const ferry_sql_batch_t *b, ferry_err_t *err)
{
    *(uint64_t *)user += b->repeat;
    return FERRY_OK;
}

/* 1 if |path| is a regular file, 0 if absent, -1 (err set) otherwise. */
static int script_present(const char *path, ferry_err_t *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "stat %s", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        ferry_err_set(err, FERRY_E_PACKAGE_INVALID, "%s is not a regular file", path);
        return -1;
    }
    return 1;
}

ferry_err_code_t ferry_sql_validate_dir(const char *script_dir, size_t max_batch, uint64_t *batches,
                                        ferry_err_t *err)
{
    static const char *const files[] = {FERRY_SQL_SCHEMA_FILE, FERRY_SQL_DATA_FILE};
    uint64_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        if (ferry_fs_join(path, sizeof(path), script_dir, files[i]) != FERRY_OK)
            return ferry_err_set(err, FERRY_E_TOO_LARGE, "script path too long in %s", script_dir);
        int p = script_present(path, err);
        if (p < 0)
            return err != NULL ? err->code : FERRY_E_IO;
        if (p == 0)
            continue;
        ferry_err_code_t rc = ferry_sqlsplit_file(path, max_batch, count_batch, &total, err);
        if (rc != FERRY_OK)
            return rc;
    }
    if (batches != NULL)
        *batches = total;
    return FERRY_OK;
}

/* ---------------------------------------------------------------- the SQL step */

typedef struct run_ctx {
    const ferry_sql_run_opts_t *o;
    const char *file;           /* current script's name */
    ferry_err_code_t fail_code; /* SQL_FAILED_SCHEMA or _DATA */
    int log_fd;
    uint64_t done, total;
    char *msgs; /* messages of the current batch, '\n'-separated */
    size_t msgs_len;
    uint64_t msgs_dropped;
} run_ctx_t;

static ferry_err_code_t write_all(int fd, const char *p, size_t n, const char *path, ferry_err_t *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "write %s", path);
        p += w;
        n -= (size_t)w;
    }
    return FERRY_OK;
}

/* Appends one timestamped line (masked) to sql.log. Lines longer than 8 KiB are cut. */
static ferry_err_code_t log_line(run_ctx_t *c, ferry_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ferry_err_code_t log_line(run_ctx_t *c, ferry_err_t *err, const char *fmt, ...)
{
    char line[8192];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = ferry_log_mask_secrets(line);
    line[len++] = '\n';
    line[len] = '\0';
    return write_all(c->log_fd, line, len, c->o->sql_log, err);
}

static void collect_msg(void *user, const char *msg)
{
    run_ctx_t *c = user;
    size_t n = strlen(msg);
    if (c->msgs == NULL || c->msgs_len + n + 1 > MSG_CAP) {
        c->msgs_dropped++;
        return;
    }
    memcpy(c->msgs + c->msgs_len, msg, n);
    c->msgs_len += n;
    c->msgs[c->msgs_len++] = '\n';
    c->msgs[c->msgs_len] = '\0';
}

/* Writes the batch's messages, one "  msg: ..." line each. */
static ferry_err_code_t flush_msgs(run_ctx_t *c, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char *p = c->msgs;
    while (rc == FERRY_OK && p != NULL && p < c->msgs + c->msgs_len) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        rc = log_line(c, err, "  msg: %s", p);
        p = nl + 1;
    }
    if (rc == FERRY_OK && c->msgs_dropped > 0)
        rc = log_line(c, err, "  msg: (%llu more messages not kept)", (unsigned long long)c->msgs_dropped);
    c->msgs_len = 0;
    c->msgs_dropped = 0;
    if (c->msgs != NULL)
        c->msgs[0] = '\0';
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ferry_err_code_t run_batch(void *user, const ferry_sql_batch_t *b, ferry_err_t *err)
{
    run_ctx_t *c = user;
    ferry_err_code_t rc = FERRY_OK, lrc;
    ferry_err_t xe = {0};
    int64_t rows_total = -1;
    uint32_t run;
    char what[128];
    int64_t t0 = now_ms();
    for (run = 1; run <= b->repeat; run++) {
        ferry_crashpoint("sql.batch");
        int64_t rows = -1;
        rc = ferry_sqlexec_exec(c->o->exec, b->sql, b->len, &rows, &xe);
        if (rc != FERRY_OK)
            break;
        if (rows >= 0)
            rows_total = (rows_total < 0 ? 0 : rows_total) + rows;
        c->done++;
        snprintf(what, sizeof(what), "%s#%llu", c->file, (unsigned long long)b->index);
        ferry_progress_report(c->o->progress, c->done, c->total, what);
    }
    int64_t ms = now_ms() - t0;
    char rows_s[32];
    if (rows_total >= 0)
        snprintf(rows_s, sizeof(rows_s), "%lld", (long long)rows_total);
    else
        snprintf(rows_s, sizeof(rows_s), "unknown");
    if (rc == FERRY_OK) {
        lrc = log_line(c, err, "batch file=%s index=%llu line=%llu repeat=%u outcome=ok ms=%lld rows=%s",
                       c->file, (unsigned long long)b->index, (unsigned long long)b->start_line, b->repeat,
                       (long long)ms, rows_s);
    } else {
        lrc = log_line(
            c, err, "batch file=%s index=%llu line=%llu repeat=%u outcome=failed run=%u/%u ms=%lld rows=%s",
            c->file, (unsigned long long)b->index, (unsigned long long)b->start_line, b->repeat, run,
            b->repeat, (long long)ms, rows_s);
        if (lrc == FERRY_OK) {
            /* Quote the batch head on one line so the log shows what failed. */
            char q[QUOTE_CAP + 4];
            size_t n = 0;
            for (size_t i = 0; i < b->len && n < QUOTE_CAP; i++)
                q[n++] =
                    (char)((b->sql[i] == '\n' || b->sql[i] == '\r' || b->sql[i] == '\t') ? ' ' : b->sql[i]);
            q[n] = '\0';
            lrc = log_line(c, err, "  sql: %s%s", q, b->len > QUOTE_CAP ? " ..." : "");
        }
    }
    if (lrc == FERRY_OK)
        lrc = flush_msgs(c, err);
    if (lrc != FERRY_OK)
        return lrc;
    if (rc != FERRY_OK)
        return ferry_err_set(err, c->fail_code, "%s: batch %llu (line %llu) failed: %s", c->file,
                             (unsigned long long)b->index, (unsigned long long)b->start_line, xe.msg);
    return FERRY_OK;
}

ferry_err_code_t ferry_sql_run_dir(const ferry_sql_run_opts_t *o, ferry_err_t *err)
{
    static const struct {
        const char *name;
        ferry_err_code_t fail;
    } files[] = {{FERRY_SQL_SCHEMA_FILE, FERRY_E_SQL_FAILED_SCHEMA},
                 {FERRY_SQL_DATA_FILE, FERRY_E_SQL_FAILED_DATA}};
    ferry_err_code_t rc = FERRY_OK;
    run_ctx_t c = {.o = o, .log_fd = -1};
    char path[PATH_MAX];
    ferry_sqlexec_msg_fn old_fn = o->exec->msg_fn;
    void *old_user = o->exec->msg_user;
    size_t n_files = 2;

    /* Everything is checked before the first statement runs. */
    if (o->file != NULL) {
        n_files = 1;
        if ((rc = ferry_sqlsplit_file(o->file, o->max_batch, count_batch, &c.total, err)) != FERRY_OK)
            goto out;
    } else if ((rc = ferry_sql_validate_dir(o->script_dir, o->max_batch, &c.total, err)) != FERRY_OK) {
        goto out;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", o->sql_log);
    char *slash = strrchr(parent, '/');
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        if ((rc = ferry_fs_mkdir_p(parent, 0700, err)) != FERRY_OK)
            goto out;
    }
    c.log_fd = open(o->sql_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (c.log_fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open %s", o->sql_log);
        goto out;
    }
    c.msgs = malloc(MSG_CAP);
    if (c.msgs == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    c.msgs[0] = '\0';
    ferry_sqlexec_set_message_sink(o->exec, collect_msg, &c);
    if ((rc = log_line(&c, err, "sql step: engine=%s dir=%s executions=%llu", o->exec->ops->kind,
                       o->file != NULL ? o->file : o->script_dir, (unsigned long long)c.total)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < n_files; i++) {
        const char *name = files[i].name;
        ferry_err_code_t fail = files[i].fail;
        if (o->file != NULL) {
            name = o->file_label != NULL ? o->file_label : o->file;
            fail = o->file_fail != FERRY_OK ? o->file_fail : FERRY_E_HOOK_FAILED;
            if (snprintf(path, sizeof(path), "%s", o->file) >= (int)sizeof(path)) {
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "script path too long");
                goto out;
            }
        } else if (ferry_fs_join(path, sizeof(path), o->script_dir, files[i].name) != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "script path too long");
            goto out;
        }
        int p = script_present(path, err);
        if (p < 0) {
            rc = err != NULL ? err->code : FERRY_E_IO;
            goto out;
        }
        if (p == 0) {
            if ((rc = log_line(&c, err, "skip file=%s (not in the package)", name)) != FERRY_OK)
                goto out;
            continue;
        }
        c.file = name;
        c.fail_code = fail;
        int64_t t0 = now_ms();
        if ((rc = log_line(&c, err, "begin file=%s", c.file)) != FERRY_OK)
            goto out;
        rc = ferry_sqlsplit_file(path, o->max_batch, run_batch, &c, err);
        ferry_err_t le = {0};
        if (log_line(&c, &le, "end file=%s outcome=%s ms=%lld%s%s", c.file, rc == FERRY_OK ? "ok" : "failed",
                     (long long)(now_ms() - t0),
                     rc == FERRY_OK ? "" : " error=", rc == FERRY_OK ? "" : ferry_err_name(rc)) != FERRY_OK &&
            rc == FERRY_OK) {
            rc = le.code;
            if (err != NULL)
                *err = le;
        }
        /* The log of a finished (or failed) file survives a crash that follows. */
        if (fdatasync(c.log_fd) != 0 && rc == FERRY_OK)
            rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "fdatasync %s", o->sql_log);
        if (rc != FERRY_OK)
            goto out;
    }
out:
    ferry_sqlexec_set_message_sink(o->exec, old_fn, old_user);
    if (c.log_fd >= 0)
        close(c.log_fd);
    free(c.msgs);
    return rc;
}

/* ---------------------------------------------------------------- data.bak */

static ferry_err_code_t open_for_admin(const ferry_node_config_t *cfg, bool create, ferry_sqlexec_t **x,
                                       ferry_err_t *err)
{
    /* BACKUP/RESTORE run from master: a connection must not sit in the database it replaces. */
    if (cfg->backup.db.engine == FERRY_DB_ENGINE_MSSQL)
        return ferry_sqlexec_open_mssql(cfg->backup.db.sql_connection_string, "master", x, err);
    return ferry_sqlexec_open_sqlite_ex(cfg->backup.db.databases[0], create, x, err);
}

ferry_err_code_t ferry_db_backup_all(const ferry_node_config_t *cfg, const char *backup_dir, ferry_err_t *err)
{
    ferry_err_code_t rc;
    ferry_sqlexec_t *x = NULL;
    char name[300], path[PATH_MAX];
    if ((rc = ferry_fs_mkdir_p(backup_dir, 0700, err)) != FERRY_OK)
        goto out;
    if ((rc = open_for_admin(cfg, false, &x, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < cfg->backup.db.n_databases; i++) {
        if (ferry_node_config_db_backup_name(cfg, i, name, sizeof(name)) != FERRY_OK ||
            ferry_fs_join(path, sizeof(path), backup_dir, name) != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path too long in %s", backup_dir);
            goto out;
        }
        if ((rc = ferry_sqlexec_backup(x, cfg->backup.db.databases[i], path, err)) != FERRY_OK)
            goto out;
        ferry_crashpoint("backup.db.file");
    }
out:
    if (rc != FERRY_OK) {
        ferry_err_prefix(err, "database backup");
        ferry_err_recode(err, FERRY_E_BACKUP_FAILED_DB);
        rc = FERRY_E_BACKUP_FAILED_DB;
    }
    ferry_sqlexec_free(x);
    return rc;
}

ferry_err_code_t ferry_db_restore_all(const ferry_node_config_t *cfg, const char *backup_dir,
                                      ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_sqlexec_t *x = NULL;
    char name[300], path[PATH_MAX];
    /* Check first: a half-restored set of databases is worse than none. */
    for (size_t i = 0; i < cfg->backup.db.n_databases; i++) {
        if (ferry_node_config_db_backup_name(cfg, i, name, sizeof(name)) != FERRY_OK ||
            ferry_fs_join(path, sizeof(path), backup_dir, name) != FERRY_OK) {
            rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "backup path too long in %s", backup_dir);
            goto out;
        }
        if (!ferry_fs_exists(path)) {
            rc = ferry_err_set(err, FERRY_E_BACKUP_MISSING, "database backup %s is missing", path);
            goto out;
        }
    }
    if ((rc = open_for_admin(cfg, true, &x, err)) != FERRY_OK)
        goto out;
    for (size_t i = 0; i < cfg->backup.db.n_databases; i++) {
        ferry_node_config_db_backup_name(cfg, i, name, sizeof(name));
        ferry_fs_join(path, sizeof(path), backup_dir, name);
        if ((rc = ferry_sqlexec_restore(x, cfg->backup.db.databases[i], path, err)) != FERRY_OK)
            goto out;
    }
out:
    if (rc != FERRY_OK && rc != FERRY_E_BACKUP_MISSING)
        ferry_err_prefix(err, "database restore");
    ferry_sqlexec_free(x);
    return rc;
}
