/**
 * @file sqlexec.h
 * SQL executors behind one interface (sqlite: the embedded default; mssql: SQL Server
 * through FreeTDS db-lib), the package SQL step (`结构.sql` then `data.sql`, GO
 * batches, sql.log) and the database part of the backup trio (data.bak).
 *
 * Transactions: scripts run batch by batch exactly as written, never wrapped in one
 * transaction. SQL Server scripts are not transactional as a whole (BACKUP, ALTER
 * DATABASE and many DDL statements refuse a surrounding transaction) and a script
 * may hold its own BEGIN/COMMIT; wrapping would change its meaning. A failed script
 * is undone by restoring data.bak (rollback, seed 000 §5.5), for both engines. When a
 * batch fails while the script left a transaction open, the executor rolls that
 * transaction back so the connection is clean for the restore.
 */
#ifndef FERRY_ENGINE_SQLEXEC_H
#define FERRY_ENGINE_SQLEXEC_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "ferry/hooks.h"
#include "ferry/engine/config.h"
#include "ferry/err.h"

/** File names of the package's SQL parts (appendix A), UTF-8. */
#define FERRY_SQL_SCHEMA_FILE "结构.sql"
#define FERRY_SQL_DATA_FILE   "data.sql"

/**
 * Receives each server message (PRINT output, warnings, errors, SQLite error text)
 * while a call runs, already formatted ("Msg 208, Level 16, State 1, Line 3: ...").
 */
typedef void (*ferry_sqlexec_msg_fn)(void *user, const char *msg);

typedef struct ferry_sqlexec ferry_sqlexec_t;

/**
 * The operations an engine implements. Every function fills |err| naming the database
 * on failure. Messages go to the sink set with ferry_sqlexec_set_message_sink().
 */
typedef struct ferry_sqlexec_ops {
    const char *kind; /**< "sqlite" or "mssql" */
    /** Runs one batch once; *rows gets the rows affected or -1 when unknown. */
    ferry_err_code_t (*exec)(ferry_sqlexec_t *x, const char *sql, size_t len, int64_t *rows,
                             ferry_err_t *err);
    /** Durably writes a full backup of |database| to |file| (replacing it). */
    ferry_err_code_t (*backup)(ferry_sqlexec_t *x, const char *database, const char *file, ferry_err_t *err);
    /** Replaces |database| with the backup in |file|; checks |file| first. */
    ferry_err_code_t (*restore)(ferry_sqlexec_t *x, const char *database, const char *file, ferry_err_t *err);
    /** Closes the connection and frees |x|. */
    void (*close)(ferry_sqlexec_t *x);
    /**
     * Runs a query that returns one row with one integer column (a check hook's
     * `SELECT COUNT(*) ...`) and stores it in *count. May be NULL (E_UNSUPPORTED).
     */
    ferry_err_code_t (*count)(ferry_sqlexec_t *x, const char *sql, int64_t *count, ferry_err_t *err);
    /**
     * Makes statements that run past |deadline_ms| (CLOCK_MONOTONIC, 0 = none) stop with
     * an error. May be NULL: the engine has no way to interrupt a statement.
     */
    void (*set_deadline)(ferry_sqlexec_t *x, int64_t deadline_ms);
} ferry_sqlexec_ops_t;

/** Common head of every executor; engines embed it first. */
struct ferry_sqlexec {
    const ferry_sqlexec_ops_t *ops;
    ferry_sqlexec_msg_fn msg_fn;
    void *msg_user;
};

/**
 * Opens an SQLite executor on the existing database file |db_path| (never created).
 * Scripts run against it; backup/restore take any database file path.
 */
ferry_err_code_t ferry_sqlexec_open_sqlite(const char *db_path, ferry_sqlexec_t **out, ferry_err_t *err);

/**
 * Opens a SQL Server connection with |connstr| (see mssql.h for the format) and makes
 * |database| current (NULL: the connection string's Database). Never logs the password.
 */
ferry_err_code_t ferry_sqlexec_open_mssql(const char *connstr, const char *database, ferry_sqlexec_t **out,
                                          ferry_err_t *err);

/** Opens the engine named by |cfg| on its first database (where the scripts run). */
ferry_err_code_t ferry_sqlexec_open_config(const ferry_node_config_t *cfg, ferry_sqlexec_t **out,
                                           ferry_err_t *err);

/** Sets where server messages go (NULL: dropped). */
void ferry_sqlexec_set_message_sink(ferry_sqlexec_t *x, ferry_sqlexec_msg_fn fn, void *user);

/** Dispatchers over x->ops. */
ferry_err_code_t ferry_sqlexec_exec(ferry_sqlexec_t *x, const char *sql, size_t len, int64_t *rows,
                                    ferry_err_t *err);
ferry_err_code_t ferry_sqlexec_backup(ferry_sqlexec_t *x, const char *database, const char *file,
                                      ferry_err_t *err);
ferry_err_code_t ferry_sqlexec_restore(ferry_sqlexec_t *x, const char *database, const char *file,
                                       ferry_err_t *err);

/**
 * Runs |sql| (one statement returning a single integer: a check hook's count) and
 * stores the value in *count. A query returning no row, more than one column or a
 * value that is not an integer is FERRY_E_INVALID_ARG naming what came back; a SQL
 * error is FERRY_E_IO with the engine's message.
 */
ferry_err_code_t ferry_sqlexec_count(ferry_sqlexec_t *x, const char *sql, int64_t *count, ferry_err_t *err);

/**
 * Hooks' timeout_seconds for check and sql hooks: statements still running |seconds|
 * from now are interrupted (SQLite; 0 clears it). Returns false when the executor cannot
 * interrupt a statement (SQL Server: the server's own limits apply).
 */
bool ferry_sqlexec_set_timeout(ferry_sqlexec_t *x, unsigned seconds);

/** Closes |x|. NULL is a no-op. */
void ferry_sqlexec_free(ferry_sqlexec_t *x);

/** Options of ferry_sql_run_dir(). */
typedef struct ferry_sql_run_opts {
    const char *script_dir;    /**< holds 结构.sql and/or data.sql (either may be absent) */
    const char *sql_log;       /**< sql.log path, appended (created 0600) */
    ferry_sqlexec_t *exec;     /**< where batches run (borrowed) */
    size_t max_batch;          /**< 0 = FERRY_SQLSPLIT_DEFAULT_MAX_BATCH */
    ferry_progress_t progress; /**< done/total in batches, what = "结构.sql#3" */
    /**
     * Optional: run only this script file (a `sql` hook of hooks.json) instead of the
     * two package scripts in script_dir; sql.log names it by |file_label| (e.g.
     * "hook migrate hooks/migrate.sql") and a failing batch is |file_fail| (default
     * FERRY_E_HOOK_FAILED).
     */
    const char *file;
    const char *file_label;
    ferry_err_code_t file_fail;
} ferry_sql_run_opts_t;

/**
 * Checks the SQL parts in |script_dir| without running anything: valid UTF-8, every
 * literal and comment terminated, GO counts valid, batches under the cap. Counts
 * batch executions into *batches (may be NULL). FERRY_E_PACKAGE_INVALID naming file
 * and line on failure. The pipeline may call it at verification, before the service
 * is stopped.
 */
ferry_err_code_t ferry_sql_validate_dir(const char *script_dir, size_t max_batch, uint64_t *batches,
                                        ferry_err_t *err);

/**
 * The SQL step: validates both files first (so a malformed script changes nothing),
 * then runs 结构.sql and then data.sql, each only if present, batch by batch
 * (`GO n` runs the batch n times), appending to sql.log for every batch its file,
 * index, start line, repeat count, outcome, time in ms, rows affected and server
 * messages; sql.log is fdatasync'ed at the end of each file. No file present is OK.
 * Errors: FERRY_E_SQL_FAILED_SCHEMA / FERRY_E_SQL_FAILED_DATA naming the file, batch
 * and line; FERRY_E_PACKAGE_INVALID for a malformed script; FERRY_E_IO for sql.log.
 * Crash point "sql.batch" fires before each batch.
 */
ferry_err_code_t ferry_sql_run_dir(const ferry_sql_run_opts_t *opts, ferry_err_t *err);

/**
 * Backs up every database of |cfg| into |backup_dir| (file names from
 * ferry_node_config_db_backup_name()), durably. Any failure is FERRY_E_BACKUP_FAILED_DB.
 */
ferry_err_code_t ferry_db_backup_all(const ferry_node_config_t *cfg, const char *backup_dir,
                                     ferry_err_t *err);

/**
 * Restores every database of |cfg| from |backup_dir|. All backup files are checked
 * to exist before any database is touched: a missing one is FERRY_E_BACKUP_MISSING.
 * Other failures keep their generic code (the caller recodes to E_ROLLBACK_FAILED).
 */
ferry_err_code_t ferry_db_restore_all(const ferry_node_config_t *cfg, const char *backup_dir,
                                      ferry_err_t *err);

#endif
