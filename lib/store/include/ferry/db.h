/**
 * @file db.h
 * The server's SQLite database: opened in WAL mode with synchronous=FULL (a row the
 * server acknowledged survives a crash or power cut), foreign keys on, and the schema
 * brought to the newest version by numbered migrations embedded in the binary.
 */
#ifndef FERRY_DB_H
#define FERRY_DB_H

#include <sqlite3.h>

#include "ferry/err.h"

/** One schema migration: applied in |version| order, each in its own transaction. */
typedef struct ferry_db_migration {
    int version;
    const char *name;
    const char *sql;
} ferry_db_migration_t;

/**
 * Opens (creating if needed) the database at |path| and applies pending migrations
 * from the built-in list. A database whose schema is newer than this binary knows is
 * refused with FERRY_E_PRECONDITION (never downgrade silently). *out owns the handle:
 * close with ferry_db_close().
 */
ferry_err_code_t ferry_db_open(const char *path, sqlite3 **out, ferry_err_t *err);

/** Like ferry_db_open() with an explicit migration list (tests). */
ferry_err_code_t ferry_db_open_with(const char *path, const ferry_db_migration_t *migrations, size_t n,
                                    sqlite3 **out, ferry_err_t *err);

/** Closes |db| (NULL is a no-op). */
void ferry_db_close(sqlite3 *db);

/** The schema version recorded in |db|, or -1 on error. */
int ferry_db_schema_version(sqlite3 *db);

/** The built-in migrations (for tools and tests). */
const ferry_db_migration_t *ferry_db_migrations(size_t *n);

/** Runs |sql| (no results); FERRY_E_IO with SQLite's message prefixed by |what| on failure. */
ferry_err_code_t ferry_db_exec(sqlite3 *db, const char *sql, const char *what, ferry_err_t *err);

#endif
