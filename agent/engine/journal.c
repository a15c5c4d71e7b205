#include "ferry/engine/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ferry/fs.h"
#include "ferry/hash.h"

/* Finished tasks kept (with their history); older ones are pruned when a task is created. */
#define TASKS_KEPT 200

struct ferry_journal {
    sqlite3 *db;
};

/* Fact bits stored in task.flags. */
enum { F_DOWNLOAD = 1, F_USER = 2, F_MANUAL = 4, F_SQL_DATA = 8 };

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS task("
    " task_id TEXT PRIMARY KEY, kind TEXT NOT NULL, version TEXT NOT NULL,"
    " package_path TEXT NOT NULL, package_sha256 TEXT NOT NULL, backup_path TEXT NOT NULL, diag_path TEXT "
    "NOT NULL,"
    " state INTEGER NOT NULL, failed_state INTEGER NOT NULL, attempt INTEGER NOT NULL,"
    " resumes INTEGER NOT NULL, parts INTEGER NOT NULL, flags INTEGER NOT NULL, substep TEXT NOT NULL,"
    " error_code TEXT NOT NULL, error_msg TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL, finished_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS event("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    " from_state INTEGER NOT NULL, to_state INTEGER NOT NULL, attempt INTEGER NOT NULL,"
    " error_code TEXT NOT NULL, message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS event_task ON event(task_id, id);"
    "CREATE INDEX IF NOT EXISTS task_state ON task(state);"
    /* Upgrade hooks (hooks.json): one row per hook and task, written before the hook runs
     * (done = 0) and after it (done = 1), so a resume knows what finished. */
    "CREATE TABLE IF NOT EXISTS hook("
    " task_id TEXT NOT NULL, hook_id TEXT NOT NULL, phase TEXT NOT NULL, done INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL, exit_code INTEGER NOT NULL,"
    " tries INTEGER NOT NULL, runs INTEGER NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL,"
    " output TEXT NOT NULL, log_path TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(task_id, hook_id));"
    /* What the hooks of a task are matched against, kept for a resume by another process. */
    "CREATE TABLE IF NOT EXISTS hook_ctx("
    " task_id TEXT PRIMARY KEY, sites TEXT NOT NULL, from_version TEXT NOT NULL, skip TEXT NOT NULL,"
    " post_state TEXT NOT NULL);";

static const char TASK_COLS[] =
    "task_id, kind, version, package_path, package_sha256, backup_path, state, failed_state, attempt,"
    " resumes, parts, flags, substep, error_code, error_msg, created_ms, updated_ms, finished_ms, diag_path";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src != NULL ? (const char *)src : "");
}

static ferry_err_code_t db_fail(ferry_journal_t *j, ferry_err_t *err, const char *what)
{
    int code = sqlite3_errcode(j->db);
    ferry_err_code_t c = FERRY_E_IO;
    if (code == SQLITE_FULL)
        c = FERRY_E_NOSPACE;
    else if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
        c = FERRY_E_UNAVAILABLE;
    else if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
        c = FERRY_E_CORRUPT;
    return ferry_err_set(err, c, "journal: %s: %s", what, sqlite3_errmsg(j->db));
}

static ferry_err_code_t exec(ferry_journal_t *j, const char *sql, ferry_err_t *err)
{
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(j, err, sql);
    return FERRY_OK;
}

ferry_err_code_t ferry_journal_lock(const char *state_dir, int *fd_out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[PATH_MAX];
    int fd = -1;
    *fd_out = -1;
    if ((rc = ferry_fs_mkdir_p(state_dir, 0700, err)) != FERRY_OK) {
        ferry_err_prefix(err, "state dir");
        goto out;
    }
    if (ferry_fs_join(path, sizeof(path), state_dir, "agent.lock") != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "state dir path too long: '%s'", state_dir);
        goto out;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ferry_err_set_errno(err, ferry_err_from_errno(errno), errno, "open lock '%s'", path);
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                               "another ferry-agent is running a task (lock '%s' is held)", path);
        else
            rc = ferry_err_set_errno(err, FERRY_E_IO, errno, "flock '%s'", path);
        goto out;
    }
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

ferry_err_code_t ferry_journal_open(const char *state_dir, ferry_journal_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char path[PATH_MAX];
    ferry_journal_t *j = NULL;
    *out = NULL;
    if ((rc = ferry_fs_mkdir_p(state_dir, 0700, err)) != FERRY_OK) {
        ferry_err_prefix(err, "state dir");
        goto out;
    }
    if (ferry_fs_join(path, sizeof(path), state_dir, "journal.db") != FERRY_OK) {
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "state dir path too long: '%s'", state_dir);
        goto out;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "journal: out of memory");
        goto out;
    }
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "journal: open '%s': %s", path,
                           j->db != NULL ? sqlite3_errmsg(j->db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(j->db, 5000);
    /* WAL + FULL: a committed transition is on disk when COMMIT returns. */
    if ((rc = exec(j, "PRAGMA journal_mode=WAL", err)) != FERRY_OK ||
        (rc = exec(j, "PRAGMA synchronous=FULL", err)) != FERRY_OK || (rc = exec(j, SCHEMA, err)) != FERRY_OK)
        goto out;
    *out = j;
    j = NULL;
out:
    ferry_journal_close(j);
    return rc;
}

void ferry_journal_close(ferry_journal_t *j)
{
    if (j == NULL)
        return;
    sqlite3_close(j->db);
    free(j);
}

static unsigned facts_flags(const ferry_sm_facts_t *f)
{
    return (f->needs_download ? F_DOWNLOAD : 0) | (f->needs_user ? F_USER : 0) |
           (f->manual_rollback ? F_MANUAL : 0) | (f->sql_data_started ? F_SQL_DATA : 0);
}

static void read_task(sqlite3_stmt *st, ferry_task_t *t)
{
    memset(t, 0, sizeof(*t));
    copy_str(t->task_id, sizeof(t->task_id), sqlite3_column_text(st, 0));
    copy_str(t->kind, sizeof(t->kind), sqlite3_column_text(st, 1));
    copy_str(t->version, sizeof(t->version), sqlite3_column_text(st, 2));
    copy_str(t->package_path, sizeof(t->package_path), sqlite3_column_text(st, 3));
    copy_str(t->package_sha256, sizeof(t->package_sha256), sqlite3_column_text(st, 4));
    copy_str(t->backup_path, sizeof(t->backup_path), sqlite3_column_text(st, 5));
    t->state = (ferry_state_t)sqlite3_column_int(st, 6);
    t->failed_state = (ferry_state_t)sqlite3_column_int(st, 7);
    t->attempt = (unsigned)sqlite3_column_int(st, 8);
    t->resumes = (unsigned)sqlite3_column_int(st, 9);
    t->facts.parts = (unsigned)sqlite3_column_int(st, 10);
    unsigned fl = (unsigned)sqlite3_column_int(st, 11);
    t->facts.needs_download = (fl & F_DOWNLOAD) != 0;
    t->facts.needs_user = (fl & F_USER) != 0;
    t->facts.manual_rollback = (fl & F_MANUAL) != 0;
    t->facts.sql_data_started = (fl & F_SQL_DATA) != 0;
    copy_str(t->substep, sizeof(t->substep), sqlite3_column_text(st, 12));
    t->error_code = ferry_err_from_name((const char *)sqlite3_column_text(st, 13));
    copy_str(t->error_msg, sizeof(t->error_msg), sqlite3_column_text(st, 14));
    t->created_ms = sqlite3_column_int64(st, 15);
    t->updated_ms = sqlite3_column_int64(st, 16);
    t->finished_ms = sqlite3_column_int64(st, 17);
    copy_str(t->diag_path, sizeof(t->diag_path), sqlite3_column_text(st, 18));
}

/* Runs |sql| (one SELECT of TASK_COLS with an optional text parameter) into |out|. */
static ferry_err_code_t load_one(ferry_journal_t *j, const char *sql, const char *param, ferry_task_t *out,
                                 int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    *found = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare load");
        goto out;
    }
    if (param != NULL)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        read_task(st, out);
        *found = 1;
    } else if (s != SQLITE_DONE) {
        rc = db_fail(j, err, "load task");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_active(ferry_journal_t *j, ferry_task_t *out, int *found, ferry_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM task WHERE state NOT IN (%d,%d,%d) ORDER BY rowid DESC LIMIT 1", TASK_COLS,
             FERRY_STATE_SUCCEEDED, FERRY_STATE_FAILED, FERRY_STATE_ROLLBACKED);
    return load_one(j, sql, NULL, out, found, err);
}

ferry_err_code_t ferry_journal_latest(ferry_journal_t *j, ferry_task_t *out, int *found, ferry_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM task ORDER BY rowid DESC LIMIT 1", TASK_COLS);
    return load_one(j, sql, NULL, out, found, err);
}

ferry_err_code_t ferry_journal_find_backup(ferry_journal_t *j, const char *version, ferry_task_t *out,
                                           int *found, ferry_err_t *err)
{
    char sql[768];
    /* Tasks whose backup completed: they went past BackingUp (70..100, 120, 130), or failed
     * after it (failed_state recorded from an install state). */
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM task WHERE version = ?1 AND kind = 'apply' AND backup_path <> ''"
             " AND (state IN (%d,%d,%d,%d,%d,%d,%d) OR failed_state IN (%d,%d,%d,%d))"
             " ORDER BY rowid DESC LIMIT 1",
             TASK_COLS, FERRY_STATE_INSTALLING_SERVER, FERRY_STATE_INSTALLING_CLIENT, FERRY_STATE_RUNNING_SQL,
             FERRY_STATE_STARTING_SERVICE, FERRY_STATE_SUCCEEDED, FERRY_STATE_ROLLBACKING,
             FERRY_STATE_ROLLBACKED, FERRY_STATE_INSTALLING_SERVER, FERRY_STATE_INSTALLING_CLIENT,
             FERRY_STATE_RUNNING_SQL, FERRY_STATE_STARTING_SERVICE);
    return load_one(j, sql, version, out, found, err);
}

static ferry_err_code_t insert_event(ferry_journal_t *j, const ferry_task_t *t, ferry_state_t from,
                                     ferry_state_t to, ferry_err_code_t code, const char *message,
                                     ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    const char *sql = "INSERT INTO event(task_id, at_ms, from_state, to_state, attempt, error_code, message)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare event");
        goto out;
    }
    sqlite3_bind_text(st, 1, t->task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now_ms());
    sqlite3_bind_int(st, 3, (int)from);
    sqlite3_bind_int(st, 4, (int)to);
    sqlite3_bind_int(st, 5, (int)t->attempt);
    sqlite3_bind_text(st, 6, ferry_err_name(code), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, message != NULL ? message : "", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(j, err, "insert event");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Hard cap on one task's history (a crash loop is bounded anyway, notes are not). */
    const char *prune = "DELETE FROM event WHERE task_id = ?1 AND id <= (SELECT id FROM event"
                        " WHERE task_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";
    if (sqlite3_prepare_v2(j->db, prune, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare prune");
        goto out;
    }
    sqlite3_bind_text(st, 1, t->task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, FERRY_JOURNAL_EVENTS);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(j, err, "prune events");
out:
    sqlite3_finalize(st);
    return rc;
}

/* Writes every column of |t| (INSERT OR REPLACE keeps the row's rowid only on INSERT, so updates use UPDATE).
 */
static ferry_err_code_t write_task(ferry_journal_t *j, const ferry_task_t *t, int insert, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    const char *sql =
        insert ? "INSERT INTO task(task_id, kind, version, package_path, package_sha256, backup_path, state,"
                 " failed_state, attempt, resumes, parts, flags, substep, error_code, error_msg, created_ms,"
                 " updated_ms, finished_ms, diag_path)"
                 " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
               : "UPDATE task SET kind=?2, version=?3, package_path=?4, package_sha256=?5, backup_path=?6,"
                 " state=?7, failed_state=?8, attempt=?9, resumes=?10, parts=?11, flags=?12, substep=?13,"
                 " error_code=?14, error_msg=?15, created_ms=?16, updated_ms=?17, finished_ms=?18,"
                 " diag_path=?19"
                 " WHERE task_id=?1";
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare task write");
        goto out;
    }
    sqlite3_bind_text(st, 1, t->task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, t->kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, t->version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, t->package_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, t->package_sha256, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, t->backup_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 7, (int)t->state);
    sqlite3_bind_int(st, 8, (int)t->failed_state);
    sqlite3_bind_int(st, 9, (int)t->attempt);
    sqlite3_bind_int(st, 10, (int)t->resumes);
    sqlite3_bind_int(st, 11, (int)t->facts.parts);
    sqlite3_bind_int(st, 12, (int)facts_flags(&t->facts));
    sqlite3_bind_text(st, 13, t->substep, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, ferry_err_name(t->error_code), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, t->error_msg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 16, t->created_ms);
    sqlite3_bind_int64(st, 17, t->updated_ms);
    sqlite3_bind_int64(st, 18, t->finished_ms);
    sqlite3_bind_text(st, 19, t->diag_path, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(j, err, insert ? "insert task" : "update task");
out:
    sqlite3_finalize(st);
    return rc;
}

/* Runs write_task + insert_event in one transaction so the row and its history agree. */
static ferry_err_code_t commit_task(ferry_journal_t *j, const ferry_task_t *t, int insert, ferry_state_t from,
                                    ferry_err_code_t code, const char *message, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    int in_tx = 0;
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)) != FERRY_OK)
        goto out;
    in_tx = 1;
    if ((rc = write_task(j, t, insert, err)) != FERRY_OK)
        goto out;
    if (message != NULL && (rc = insert_event(j, t, from, t->state, code, message, err)) != FERRY_OK)
        goto out;
    if ((rc = exec(j, "COMMIT", err)) != FERRY_OK)
        goto out;
    in_tx = 0;
out:
    if (in_tx)
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static ferry_err_code_t prune_tasks(ferry_journal_t *j, ferry_err_t *err)
{
    char sql[512];
    snprintf(
        sql, sizeof(sql),
        "DELETE FROM event WHERE task_id IN (SELECT task_id FROM task ORDER BY rowid DESC LIMIT -1 OFFSET "
        "%d);"
        "DELETE FROM task WHERE rowid IN (SELECT rowid FROM task ORDER BY rowid DESC LIMIT -1 OFFSET %d);"
        "DELETE FROM hook WHERE task_id NOT IN (SELECT task_id FROM task);"
        "DELETE FROM hook_ctx WHERE task_id NOT IN (SELECT task_id FROM task);",
        TASKS_KEPT, TASKS_KEPT);
    return exec(j, sql, err);
}

ferry_err_code_t ferry_journal_create(ferry_journal_t *j, ferry_task_t *t, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t active;
    int found = 0;
    unsigned char rnd[FERRY_TASK_ID_LEN / 2];
    if ((rc = ferry_journal_active(j, &active, &found, err)) != FERRY_OK)
        goto out;
    if (found) {
        rc = ferry_err_set(
            err, FERRY_E_PRECONDITION,
            "task %s (version %s) is still active in state %d %s: run 'ferry-agent resume' first",
            active.task_id, active.version, (int)active.state, ferry_state_name((int)active.state));
        goto out;
    }
    if (t->task_id[0] != '\0') {
        /* The caller's id (the daemon passes the server's task id): keep it if plain. */
        size_t n = strlen(t->task_id);
        if (strspn(t->task_id, "0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ-_") != n) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "task id '%.40s' has characters outside [A-Za-z0-9_-]", t->task_id);
            goto out;
        }
        /* Named here rather than left to the primary key's "UNIQUE constraint failed". */
        if ((rc = ferry_journal_get(j, t->task_id, &active, &found, err)) != FERRY_OK)
            goto out;
        if (found) {
            rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                               "task %.40s is already in the journal (%d %s): only a new attempt of a Failed "
                               "apply may reuse its id",
                               t->task_id, (int)active.state, ferry_state_name((int)active.state));
            goto out;
        }
    } else {
        if ((rc = ferry_random_bytes(rnd, sizeof(rnd), err)) != FERRY_OK)
            goto out;
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(t->task_id + 2 * i, 3, "%02x", rnd[i]);
    }
    t->state = FERRY_STATE_PENDING;
    t->attempt = 1;
    t->resumes = 0;
    t->error_code = FERRY_OK;
    t->error_msg[0] = '\0';
    t->created_ms = t->updated_ms = now_ms();
    t->finished_ms = 0;
    if ((rc = prune_tasks(j, err)) != FERRY_OK)
        goto out;
    rc = commit_task(j, t, 1, FERRY_STATE_PENDING, FERRY_OK, "task created", err);
out:
    return rc;
}

/* Drops the earlier attempt's hook checkpoints of |task_id| except the PASS results of
 * pre_upgrade hooks first met up to |checkpoint| (see ferry_journal_new_attempt); *kept
 * gets how many stay. Inside the caller's transaction. */
static ferry_err_code_t drop_hooks(ferry_journal_t *j, const char *task_id, const char *checkpoint,
                                   unsigned *kept, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    /* A checkpoint that names no finished pre_upgrade PASS hook keeps nothing: COALESCE
     * turns the missing seq into 0 (seqs start at 1; a bare NULL would make the NOT(...)
     * NULL and keep every row). */
    const char *sql = "DELETE FROM hook WHERE task_id = ?1 AND NOT (phase = 'pre_upgrade' AND done = 1"
                      " AND outcome = 'PASS' AND seq <= COALESCE((SELECT seq FROM hook WHERE task_id = ?1"
                      " AND hook_id = ?2 AND phase = 'pre_upgrade' AND done = 1 AND outcome = 'PASS'), 0))";
    *kept = 0;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook reset");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, checkpoint != NULL ? checkpoint : "", -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(j, err, "reset hook checkpoints");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT count(*) FROM hook WHERE task_id = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook count");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_fail(j, err, "count hook checkpoints");
        goto out;
    }
    *kept = (unsigned)sqlite3_column_int(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_new_attempt(ferry_journal_t *j, ferry_task_t *t, const char *checkpoint,
                                           unsigned *kept, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t prev, active, n;
    int found = 0, in_tx = 0;
    char msg[FERRY_JOURNAL_PATH + 512];
    sqlite3_stmt *st = NULL;

    *kept = 0;
    if (t == NULL || t->task_id[0] == '\0') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "new attempt: no task id");
        goto out;
    }
    if ((rc = ferry_journal_active(j, &active, &found, err)) != FERRY_OK)
        goto out;
    if (found) {
        rc = ferry_err_set(
            err, FERRY_E_PRECONDITION,
            "task %s (version %s) is still active in state %d %s: run 'ferry-agent resume' first",
            active.task_id, active.version, (int)active.state, ferry_state_name((int)active.state));
        goto out;
    }
    if ((rc = ferry_journal_get(j, t->task_id, &prev, &found, err)) != FERRY_OK)
        goto out;
    if (!found) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION, "task %.40s: no earlier attempt in the journal",
                           t->task_id);
        goto out;
    }
    if (prev.state != FERRY_STATE_FAILED || strcmp(prev.kind, FERRY_TASK_KIND_APPLY) != 0 ||
        strcmp(t->kind, FERRY_TASK_KIND_APPLY) != 0 || strcmp(prev.version, t->version) != 0) {
        rc = ferry_err_set(
            err, FERRY_E_PRECONDITION,
            "task %.40s: a new attempt continues only a Failed apply of version %s (the journal "
            "has %s %s in %d %s)",
            t->task_id, t->version, prev.kind, prev.version, (int)prev.state,
            ferry_state_name((int)prev.state));
        goto out;
    }
    n = *t;
    n.state = FERRY_STATE_PENDING;
    n.failed_state = 0;
    n.attempt = 1;
    n.resumes = 0;
    n.substep[0] = '\0';
    n.diag_path[0] = '\0';
    n.error_code = FERRY_OK;
    n.error_msg[0] = '\0';
    n.created_ms = prev.created_ms;
    n.updated_ms = now_ms();
    n.finished_ms = 0;
    if ((rc = exec(j, "BEGIN IMMEDIATE", err)) != FERRY_OK)
        goto out;
    in_tx = 1;
    /* Delete + insert, not update: the attempt gets the newest rowid, so it is the journal's
     * latest task (resume, installed version and pruning go by rowid). Events, hooks and
     * hook_ctx are keyed by task id and stay. */
    if (sqlite3_prepare_v2(j->db, "DELETE FROM task WHERE task_id = ?1", -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare new attempt");
        goto out;
    }
    sqlite3_bind_text(st, 1, n.task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(j, err, "new attempt");
        goto out;
    }
    if ((rc = write_task(j, &n, 1, err)) != FERRY_OK ||
        (rc = drop_hooks(j, n.task_id, checkpoint, kept, err)) != FERRY_OK)
        goto out;
    snprintf(msg, sizeof(msg), "new attempt after %d %s (%s: %.200s)%s%.72s; %u hook checkpoint(s) kept%s%s",
             (int)prev.state, ferry_state_name((int)prev.state), ferry_err_name(prev.error_code),
             prev.error_msg, checkpoint != NULL && checkpoint[0] != '\0' ? "; resume after " : "",
             checkpoint != NULL ? checkpoint : "", *kept, n.backup_path[0] != '\0' ? "; reusing backup " : "",
             n.backup_path);
    if ((rc = insert_event(j, &n, prev.state, n.state, FERRY_OK, msg, err)) != FERRY_OK ||
        (rc = exec(j, "COMMIT", err)) != FERRY_OK)
        goto out;
    in_tx = 0;
    *t = n;
out:
    sqlite3_finalize(st);
    if (in_tx) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        *kept = 0;
    }
    return rc;
}

ferry_err_code_t ferry_journal_transition(ferry_journal_t *j, ferry_task_t *t, ferry_state_t to,
                                          ferry_err_code_t code, const char *message, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t n = *t;
    if (!ferry_state_transition_allowed(t->state, to)) {
        rc = ferry_err_set(err, FERRY_E_TRANSITION_INVALID,
                           "journal: transition %d %s -> %d %s is not allowed", (int)t->state,
                           ferry_state_name((int)t->state), (int)to, ferry_state_name((int)to));
        goto out;
    }
    n.attempt = to == t->state ? t->attempt + 1 : 1;
    n.state = to;
    n.updated_ms = now_ms();
    if (to != t->state)
        n.substep[0] = '\0';
    if (code != FERRY_OK) {
        n.error_code = code;
        snprintf(n.error_msg, sizeof(n.error_msg), "%s", message != NULL ? message : "");
    }
    if (ferry_state_is_terminal(to))
        n.finished_ms = n.updated_ms;
    if ((rc = commit_task(j, &n, 0, t->state, code, message != NULL ? message : "", err)) != FERRY_OK)
        goto out;
    *t = n;
out:
    return rc;
}

ferry_err_code_t ferry_journal_save(ferry_journal_t *j, const ferry_task_t *t, ferry_err_t *err)
{
    ferry_task_t n = *t;
    n.updated_ms = now_ms();
    return commit_task(j, &n, 0, t->state, FERRY_OK, NULL, err);
}

ferry_err_code_t ferry_journal_note_resume(ferry_journal_t *j, ferry_task_t *t, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_task_t n = *t;
    char msg[128];
    n.resumes++;
    n.updated_ms = now_ms();
    snprintf(msg, sizeof(msg), "resumed after interruption in %d %s (attempt %u)", (int)t->state,
             ferry_state_name((int)t->state), t->attempt);
    if ((rc = commit_task(j, &n, 0, t->state, FERRY_OK, msg, err)) == FERRY_OK)
        *t = n;
    return rc;
}

ferry_err_code_t ferry_journal_note(ferry_journal_t *j, const ferry_task_t *t, const char *message,
                                    ferry_err_t *err)
{
    return commit_task(j, t, 0, t->state, FERRY_OK, message != NULL ? message : "", err);
}

ferry_err_code_t ferry_journal_events(ferry_journal_t *j, const char *task_id,
                                      void (*fn)(void *user, const ferry_journal_event_t *ev), void *user,
                                      ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    const char *sql = "SELECT at_ms, from_state, to_state, attempt, error_code, message FROM event"
                      " WHERE task_id = ?1 ORDER BY id LIMIT ?2";
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare events");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, FERRY_JOURNAL_EVENTS);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        ferry_journal_event_t ev = {
            .at_ms = sqlite3_column_int64(st, 0),
            .from = (ferry_state_t)sqlite3_column_int(st, 1),
            .to = (ferry_state_t)sqlite3_column_int(st, 2),
            .attempt = (unsigned)sqlite3_column_int(st, 3),
            .error_code = ferry_err_from_name((const char *)sqlite3_column_text(st, 4)),
            .message = (const char *)sqlite3_column_text(st, 5),
        };
        if (ev.message == NULL)
            ev.message = "";
        fn(user, &ev);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(j, err, "read events");
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---------------------------------------------------------------- hooks */

static void read_hook(sqlite3_stmt *st, ferry_hook_rec_t *r)
{
    memset(r, 0, sizeof(*r));
    copy_str(r->hook_id, sizeof(r->hook_id), sqlite3_column_text(st, 0));
    copy_str(r->phase, sizeof(r->phase), sqlite3_column_text(st, 1));
    r->done = sqlite3_column_int(st, 2) != 0;
    copy_str(r->outcome, sizeof(r->outcome), sqlite3_column_text(st, 3));
    copy_str(r->reason, sizeof(r->reason), sqlite3_column_text(st, 4));
    r->count = sqlite3_column_int64(st, 5);
    r->exit_code = sqlite3_column_int(st, 6);
    r->tries = (unsigned)sqlite3_column_int(st, 7);
    r->runs = (unsigned)sqlite3_column_int(st, 8);
    r->started_ms = sqlite3_column_int64(st, 9);
    r->ended_ms = sqlite3_column_int64(st, 10);
    copy_str(r->output, sizeof(r->output), sqlite3_column_text(st, 11));
    copy_str(r->log_path, sizeof(r->log_path), sqlite3_column_text(st, 12));
}

#define HOOK_COLS                                                                                            \
    "hook_id, phase, done, outcome, reason, count, exit_code, tries, runs, started_ms, ended_ms, output, "   \
    "log_path"

ferry_err_code_t ferry_journal_hook_get(ferry_journal_t *j, const char *task_id, const char *hook_id,
                                        ferry_hook_rec_t *out, int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    *found = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT " HOOK_COLS " FROM hook WHERE task_id = ?1 AND hook_id = ?2", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hook_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        read_hook(st, out);
        *found = 1;
    } else if (s != SQLITE_DONE) {
        rc = db_fail(j, err, "load hook");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_hook_put(ferry_journal_t *j, const char *task_id, const ferry_hook_rec_t *r,
                                        ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    /* seq keeps the order hooks were first met in, for the report and the server. */
    const char *sql =
        "INSERT INTO hook(task_id, hook_id, phase, done, outcome, reason, count, exit_code, tries, runs,"
        " started_ms, ended_ms, output, log_path, seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
        " ?12, ?13, ?14, (SELECT COALESCE(MAX(seq), 0) + 1 FROM hook WHERE task_id = ?1))"
        " ON CONFLICT(task_id, hook_id) DO UPDATE SET phase = ?3, done = ?4, outcome = ?5, reason = ?6,"
        " count = ?7, exit_code = ?8, tries = ?9, runs = ?10, started_ms = ?11, ended_ms = ?12, output = ?13,"
        " log_path = ?14";
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook put");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->hook_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->phase, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 4, r->done ? 1 : 0);
    sqlite3_bind_text(st, 5, r->outcome, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, r->count);
    sqlite3_bind_int(st, 8, r->exit_code);
    sqlite3_bind_int(st, 9, (int)r->tries);
    sqlite3_bind_int(st, 10, (int)r->runs);
    sqlite3_bind_int64(st, 11, r->started_ms);
    sqlite3_bind_int64(st, 12, r->ended_ms);
    sqlite3_bind_text(st, 13, r->output, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 14, r->log_path, -1, SQLITE_TRANSIENT);
    /* Autocommit with synchronous=FULL: the row is on disk when this returns. */
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(j, err, "write hook");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_hooks(ferry_journal_t *j, const char *task_id,
                                     void (*fn)(void *user, const ferry_hook_rec_t *rec), void *user,
                                     ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    ferry_hook_rec_t *r = malloc(sizeof(*r));
    if (r == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "journal: out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(j->db, "SELECT " HOOK_COLS " FROM hook WHERE task_id = ?1 ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hooks");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        read_hook(st, r);
        fn(user, r);
    }
    if (s != SQLITE_DONE)
        rc = db_fail(j, err, "list hooks");
out:
    sqlite3_finalize(st);
    free(r);
    return rc;
}

/* Joins |n| strings with '\n' (none of them holds one: codes and ids are checked). */
static void join_lines(char *buf, size_t size, const char (*items)[FERRY_HOOK_CTX_ITEM], size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "\n" : "", items[i]);
}

static size_t split_lines(const unsigned char *text, char (*items)[FERRY_HOOK_CTX_ITEM], size_t max)
{
    size_t n = 0;
    const char *p = text != NULL ? (const char *)text : "";
    while (*p != '\0' && n < max) {
        const char *e = strchr(p, '\n');
        size_t l = e != NULL ? (size_t)(e - p) : strlen(p);
        snprintf(items[n++], FERRY_HOOK_CTX_ITEM, "%.*s", (int)l, p);
        if (e == NULL)
            break;
        p = e + 1;
    }
    return n;
}

ferry_err_code_t ferry_journal_hook_ctx_save(ferry_journal_t *j, const char *task_id,
                                             const ferry_hook_ctx_t *c, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    char sites[FERRY_HOOK_CTX_MAX * FERRY_HOOK_CTX_ITEM], skip[FERRY_HOOK_CTX_MAX * FERRY_HOOK_CTX_ITEM];
    join_lines(sites, sizeof(sites), c->sites, c->n_sites);
    join_lines(skip, sizeof(skip), c->skip, c->n_skip);
    if (sqlite3_prepare_v2(j->db,
                           "INSERT OR REPLACE INTO hook_ctx(task_id, sites, from_version, skip, post_state)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook ctx");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sites, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, c->from_version, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, skip, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, c->post_state, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(j, err, "write hook ctx");
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_hook_ctx_load(ferry_journal_t *j, const char *task_id, ferry_hook_ctx_t *c,
                                             int *found, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    sqlite3_stmt *st = NULL;
    memset(c, 0, sizeof(*c));
    *found = 0;
    if (sqlite3_prepare_v2(j->db,
                           "SELECT sites, from_version, skip, post_state FROM hook_ctx WHERE task_id = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(j, err, "prepare hook ctx load");
        goto out;
    }
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        c->n_sites = split_lines(sqlite3_column_text(st, 0), c->sites, FERRY_HOOK_CTX_MAX);
        copy_str(c->from_version, sizeof(c->from_version), sqlite3_column_text(st, 1));
        c->n_skip = split_lines(sqlite3_column_text(st, 2), c->skip, FERRY_HOOK_CTX_MAX);
        copy_str(c->post_state, sizeof(c->post_state), sqlite3_column_text(st, 3));
        *found = 1;
    } else if (s != SQLITE_DONE) {
        rc = db_fail(j, err, "load hook ctx");
    }
out:
    sqlite3_finalize(st);
    return rc;
}

ferry_err_code_t ferry_journal_installed_version(ferry_journal_t *j, char *out, size_t size, ferry_err_t *err)
{
    ferry_task_t t;
    int found = 0;
    char sql[512];
    out[0] = '\0';
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM task WHERE kind = 'apply' AND state = %d ORDER BY rowid DESC LIMIT 1", TASK_COLS,
             FERRY_STATE_SUCCEEDED);
    ferry_err_code_t rc = load_one(j, sql, NULL, &t, &found, err);
    if (rc == FERRY_OK && found)
        snprintf(out, size, "%s", t.version);
    return rc;
}

ferry_err_code_t ferry_journal_get(ferry_journal_t *j, const char *task_id, ferry_task_t *out, int *found,
                                   ferry_err_t *err)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM task WHERE task_id = ?1", TASK_COLS);
    return load_one(j, sql, task_id, out, found, err);
}
