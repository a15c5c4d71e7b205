#include "ferry/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

ferry_err_code_t ferry_db_exec(sqlite3 *db, const char *sql, const char *what, ferry_err_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int ext = sqlite3_extended_errcode(db);
        ferry_err_code_t code = (ext == SQLITE_FULL) ? FERRY_E_NOSPACE : FERRY_E_IO;
        ferry_err_set(err, code, "%s: %s", what, msg != NULL ? msg : sqlite3_errstr(ext));
        sqlite3_free(msg);
        return code;
    }
    return FERRY_OK;
}

int ferry_db_schema_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

void ferry_db_close(sqlite3 *db)
{
    if (db != NULL)
        sqlite3_close_v2(db);
}

/*
 * The database holds token hashes, signing-key ids and audit rows: owner-only, like
 * the data dir. SQLite would create the file 0644 (less the umask), and it creates the
 * -wal and -shm files with the mode of the database file, so creating the (empty,
 * valid) database file 0600 first makes all three owner-only. A file left looser by
 * an older version (and its -wal/-shm) loses its group and other bits.
 */
static ferry_err_code_t owner_only(const char *path, ferry_err_t *err)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[4096];
    struct stat sb;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd >= 0) {
        close(fd);
        return FERRY_OK;
    }
    if (errno != EEXIST)
        return ferry_err_set_errno(err, FERRY_E_IO, errno, "create database '%s'", path);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (snprintf(p, sizeof(p), "%s%s", path, suffixes[i]) >= (int)sizeof(p))
            return ferry_err_set(err, FERRY_E_TOO_LARGE, "database path too long");
        if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 077) == 0)
            continue;
        if (chmod(p, sb.st_mode & 0700) != 0)
            return ferry_err_set_errno(err, FERRY_E_IO, errno, "chmod 0600 '%s'", p);
    }
    return FERRY_OK;
}

ferry_err_code_t ferry_db_open_with(const char *path, const ferry_db_migration_t *migrations, size_t n,
                                    sqlite3 **out, ferry_err_t *err)
{
    sqlite3 *db = NULL;
    ferry_err_code_t rc = FERRY_OK;
    *out = NULL;
    if ((rc = owner_only(path, err)) != FERRY_OK)
        goto out;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = ferry_err_set(err, FERRY_E_IO, "open database '%s': %s", path,
                           db != NULL ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    /* WAL lets readers run beside the writer; synchronous=FULL syncs the WAL on every
     * commit, which is what "acknowledged" has to mean. */
    if ((rc = ferry_db_exec(db,
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                            "PRAGMA trusted_schema=OFF;",
                            "configure database", err)) != FERRY_OK)
        goto out;

    int have = ferry_db_schema_version(db);
    int newest = n > 0 ? migrations[n - 1].version : 0;
    if (have < 0) {
        rc = ferry_err_set(err, FERRY_E_IO, "read schema version of '%s'", path);
        goto out;
    }
    if (have > newest) {
        rc = ferry_err_set(err, FERRY_E_PRECONDITION,
                           "database '%s' has schema version %d, newer than this binary's %d: upgrade ferryd",
                           path, have, newest);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const ferry_db_migration_t *m = &migrations[i];
        if (m->version <= have)
            continue;
        char what[160], bump[64];
        snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
        snprintf(bump, sizeof(bump), "PRAGMA user_version=%d;", m->version);
        if ((rc = ferry_db_exec(db, "BEGIN IMMEDIATE", what, err)) != FERRY_OK)
            goto out;
        if ((rc = ferry_db_exec(db, m->sql, what, err)) != FERRY_OK ||
            (rc = ferry_db_exec(db, bump, what, err)) != FERRY_OK ||
            (rc = ferry_db_exec(db, "COMMIT", what, err)) != FERRY_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    *out = db;
    db = NULL;
out:
    ferry_db_close(db);
    return rc;
}

ferry_err_code_t ferry_db_open(const char *path, sqlite3 **out, ferry_err_t *err)
{
    size_t n = 0;
    const ferry_db_migration_t *m = ferry_db_migrations(&n);
    return ferry_db_open_with(path, m, n, out, err);
}
