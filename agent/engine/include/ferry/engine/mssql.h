/**
 * @file mssql.h
 * Pure helpers of the SQL Server executor, exposed for tests and diagnostics:
 * ADO.NET-style connection strings, T-SQL quoting, statement building, message
 * formatting. No I/O, no FreeTDS calls.
 *
 * Connection string: `key=value` pairs separated by ';' (seed 000 §7.3:
 * `Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;`).
 * Keys are case-insensitive, spaces around keys and values are trimmed, empty pairs
 * are ignored. A value may be quoted with {...} (`}}` is a literal `}`), "..." or
 * '...' (doubled quote = literal quote) so it can hold ';'. Accepted keys:
 * - Server | Data Source | Address | Addr | Network Address: `host`, `host,port`,
 *   `host\instance`, optional `tcp:` prefix; `.`, `(local)` and `localhost` mean 127.0.0.1
 * - Database | Initial Catalog
 * - User Id | UID | User | User Name;  Password | PWD
 * - Encrypt (true/false/yes/no/mandatory/optional/strict; default true as in
 *   Microsoft.Data.SqlClient), TrustServerCertificate (bool)
 * - Connect Timeout | Connection Timeout | Timeout (seconds, default 15)
 * - Application Name | App; Workstation ID | WSID; Packet Size (512..32767)
 * - accepted and ignored (client-side pooling/ADO.NET behaviour with no db-lib
 *   meaning): Pooling, Min Pool Size, Max Pool Size, MultipleActiveResultSets,
 *   Persist Security Info, MultiSubnetFailover, Connection Lifetime, Load Balance Timeout
 * Anything else is refused, naming the key. Integrated Security / Trusted_Connection
 * is refused (db-lib here logs in with SQL authentication). A key given twice is refused.
 * Error messages name keys and positions, never the password's value.
 */
#ifndef FERRY_ENGINE_MSSQL_H
#define FERRY_ENGINE_MSSQL_H

#include <stdbool.h>
#include <stddef.h>

#include "ferry/err.h"

/** Caps of the parsed fields (SQL Server identifiers are at most 128 characters). */
#define FERRY_MSSQL_MAX_VALUE    512
#define FERRY_MSSQL_MAX_CONNSTR  4096
#define FERRY_MSSQL_DEFAULT_PORT 1433

/** A parsed connection string; plain arrays, no ownership. */
typedef struct ferry_mssql_connstr {
    char host[FERRY_MSSQL_MAX_VALUE];     /**< host name or address */
    char instance[FERRY_MSSQL_MAX_VALUE]; /**< named instance, "" if none */
    unsigned port;                        /**< 0 = not given (1433, or the instance's) */
    char database[FERRY_MSSQL_MAX_VALUE]; /**< "" = login default */
    char user[FERRY_MSSQL_MAX_VALUE];
    char password[FERRY_MSSQL_MAX_VALUE]; /**< SECRET */
    char app_name[FERRY_MSSQL_MAX_VALUE]; /**< default "ferry-agent" */
    char workstation[FERRY_MSSQL_MAX_VALUE];
    bool encrypt;                  /**< default true */
    bool trust_server_certificate; /**< default false */
    unsigned connect_timeout_s;    /**< default 15 */
    unsigned packet_size;          /**< 0 = driver default */
} ferry_mssql_connstr_t;

/**
 * Parses |s|. Server and User Id are required (SQL authentication). Returns
 * FERRY_E_INVALID_ARG with a message such as "key 'Colour' is not supported" or
 * "Server: port '99999' is not in 1..65535".
 */
ferry_err_code_t ferry_mssql_connstr_parse(const char *s, ferry_mssql_connstr_t *out, ferry_err_t *err);

/** Writes a normalised connection string with Password=*** into |buf| (safe to log). */
ferry_err_code_t ferry_mssql_connstr_format_masked(const ferry_mssql_connstr_t *cs, char *buf, size_t size);

/**
 * The server name handed to dbopen(): "host:port", "host\instance" or "host".
 * FreeTDS resolves both forms without a freetds.conf entry.
 */
ferry_err_code_t ferry_mssql_server_name(const ferry_mssql_connstr_t *cs, char *buf, size_t size);

/**
 * Quotes |name| as a bracketed identifier ("a]b" -> "[a]]b]"). Refuses empty names,
 * names over 128 characters and control characters (FERRY_E_INVALID_ARG).
 */
ferry_err_code_t ferry_mssql_quote_ident(const char *name, char *buf, size_t size, ferry_err_t *err);

/** Quotes |s| as a Unicode literal ("it's" -> "N'it''s'"). Refuses control characters. */
ferry_err_code_t ferry_mssql_quote_nstring(const char *s, char *buf, size_t size, ferry_err_t *err);

/** `BACKUP DATABASE [db] TO DISK = N'file' WITH INIT` */
ferry_err_code_t ferry_mssql_build_backup(const char *database, const char *file, char *buf, size_t size,
                                          ferry_err_t *err);

/** `RESTORE VERIFYONLY FROM DISK = N'file'`: run before touching the database. */
ferry_err_code_t ferry_mssql_build_verify(const char *file, char *buf, size_t size, ferry_err_t *err);

/**
 * The restore sequence, three statements run in order from master:
 * step 0 `ALTER DATABASE [db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE`,
 * step 1 `RESTORE DATABASE [db] FROM DISK = N'file' WITH REPLACE`,
 * step 2 `ALTER DATABASE [db] SET MULTI_USER` (run even when step 1 failed, so the
 * database is never left single-user).
 */
ferry_err_code_t ferry_mssql_build_restore(int step, const char *database, const char *file, char *buf,
                                           size_t size, ferry_err_t *err);

/**
 * Formats a server message as sqlcmd prints it:
 * "Msg 208, Level 16, State 1, Server S, Procedure P, Line 3: Invalid object name 'x'."
 * (Server/Procedure omitted when empty; Level 0 messages (PRINT) are the bare text).
 * The text is passed through ferry_log_mask_secrets().
 */
void ferry_mssql_format_message(char *buf, size_t size, long msgno, int severity, int state, int line,
                                const char *server, const char *proc, const char *text);

/** Formats a db-lib (client-side) error: "db-lib error 20009 (severity 9): text (OS: ostext)". */
void ferry_mssql_format_dberror(char *buf, size_t size, int dberr, int severity, const char *text,
                                const char *ostext);

#endif
