/**
 * @file config.h
 * node-config.json: the node's local configuration (seed 000 §7.3), with the seed's
 * defaults translated for Linux and Ferry's additions (service.control, the command
 * lines, service.healthCheck, backup.db.engine, stateDir).
 *
 * Parsing is strict: unknown fields, wrong types and invalid values are refused with a
 * message naming the field path and the reason ("paths.serverDir: must be an absolute
 * path"). Every field is optional; a missing field takes its default. Paths are
 * normalised (duplicate and trailing '/' and "." components removed); ".." is refused.
 *
 * Full example with every field (defaults shown unless noted):
 * @code
 * {
 *   "configVersion": 202512140001,
 *   "service": {
 *     "name": "RCA7_Service_InstanceA",
 *     "stopTimeoutSeconds": 120, "startTimeoutSeconds": 120,
 *     "control": "systemd",                       // or "command"
 *     "stopCommand": "...", "startCommand": "...", "statusCommand": "...", // command only
 *     "healthCheck": {"kind": "none"}             // or tcp "127.0.0.1:8080" / http URL
 *   },
 *   "paths": {
 *     "serverDir": "/srv/rca7/server", "clientDir": "/srv/rca7/files/package/client",
 *     "backupRoot": "/srv/rca7/backup", "tempDir": "/srv/rca7/update_tmp",
 *     "protectPaths": ["/srv/rca7/server/config", "/srv/rca7/server/logs"]
 *   },
 *   "backup": {
 *     "retentionN": 5,
 *     "db": {
 *       "engine": "sqlite",                        // or "mssql"
 *       "sqlConnectionString": "Server=...;...",  // mssql only, required there
 *       "databases": ["/srv/rca7/data/RCA7_Main.db"], // mssql default: ["RCA7_Main"]
 *       "backupFileName": "data.bak"
 *     },
 *     "clientBackupFileName": "client.zip"
 *   },
 *   "deploy": {"deleteOldFiles": true, "clientDeleteOldFiles": true},
 *   "stateDir": "/var/lib/ferry-agent"
 * }
 * @endcode
 */
#ifndef FERRY_ENGINE_CONFIG_H
#define FERRY_ENGINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/connstr.h"
#include "ferry/err.h"

/** Largest node-config.json accepted by ferry_node_config_load(). */
#define FERRY_NODE_CONFIG_MAX_BYTES (1024 * 1024)
/** At most this many entries in protectPaths and in databases. */
#define FERRY_NODE_CONFIG_MAX_LIST 256
/** Longest shell command line accepted for stop/start/status. */
#define FERRY_NODE_CONFIG_MAX_COMMAND 8192

typedef enum ferry_svc_control {
    FERRY_SVC_CONTROL_SYSTEMD = 0, /**< systemctl stop/start/is-active on service.name */
    FERRY_SVC_CONTROL_COMMAND      /**< the configured shell command lines */
} ferry_svc_control_t;

typedef enum ferry_health_kind {
    FERRY_HEALTH_NONE = 0, /**< running status only */
    FERRY_HEALTH_TCP,      /**< target "host:port" accepts a TCP connection */
    FERRY_HEALTH_HTTP      /**< target "http://host[:port]/path" answers GET with 2xx */
} ferry_health_kind_t;

typedef enum ferry_db_engine {
    FERRY_DB_ENGINE_SQLITE = 0, /**< databases are SQLite file paths */
    FERRY_DB_ENGINE_MSSQL       /**< databases are SQL Server database names */
} ferry_db_engine_t;

/**
 * The parsed, validated, defaulted configuration. All strings are owned by the struct
 * (freed by ferry_node_config_free()); none is NULL unless documented.
 */
typedef struct ferry_node_config {
    int64_t config_version; /**< configVersion, default 0 */
    struct {
        char *name;                  /**< service.name (systemd unit or display name) */
        unsigned stop_timeout_s;     /**< service.stopTimeoutSeconds, 1..86400 */
        unsigned start_timeout_s;    /**< service.startTimeoutSeconds, 1..86400 */
        ferry_svc_control_t control; /**< service.control */
        char *stop_command;          /**< NULL unless control is COMMAND */
        char *start_command;         /**< NULL unless control is COMMAND */
        char *status_command;        /**< NULL unless control is COMMAND; exit 0 = running */
        ferry_health_kind_t health;  /**< service.healthCheck.kind */
        char *health_target;         /**< NULL when health is NONE */
    } service;
    struct {
        char *server_dir;
        char *client_dir;
        char *backup_root;
        char *temp_dir;
        char **protect_paths; /**< absolute, normalised; each inside server_dir or client_dir */
        size_t n_protect_paths;
    } paths;
    struct {
        unsigned retention_n; /**< backup.retentionN, 1..1000 */
        struct {
            ferry_db_engine_t engine;
            char *sql_connection_string; /**< NULL for sqlite; SECRET: never log it unmasked */
            char **databases;            /**< >= 1 entry; sqlite: absolute file paths */
            size_t n_databases;
            char *backup_file_name; /**< plain file name, default "data.bak" */
        } db;
        char *client_backup_file_name; /**< plain file name, default "client.zip" */
    } backup;
    struct {
        bool delete_old_files;        /**< deploy.deleteOldFiles (server) */
        bool client_delete_old_files; /**< deploy.clientDeleteOldFiles */
    } deploy;
    struct {
        unsigned
            max_kib_per_sec; /**< download.maxKiBPerSecond: the agent's package downloads, 0 = unlimited */
    } download;
    struct {
        char *file; /**< license.file: where the agent writes the verified signed licence for the
                         managed application (absolute, normalised); NULL = not written */
    } license;
    char *state_dir; /**< stateDir: the agent's journal lives here */
} ferry_node_config_t;

/** A configuration holding only the defaults. *out is freed with ferry_node_config_free(). */
ferry_err_code_t ferry_node_config_new_default(ferry_node_config_t **out, ferry_err_t *err);

/**
 * Parses and validates |len| bytes of JSON (no I/O). On success *out owns a new config.
 * On failure returns FERRY_E_INVALID_ARG (or NOMEM) with a message naming the field;
 * *out is NULL. Messages never contain the connection string's password.
 */
ferry_err_code_t ferry_node_config_parse(const char *json, size_t len, ferry_node_config_t **out,
                                         ferry_err_t *err);

/** Reads |path| (at most FERRY_NODE_CONFIG_MAX_BYTES) and parses it; errors are prefixed with the path. */
ferry_err_code_t ferry_node_config_load(const char *path, ferry_node_config_t **out, ferry_err_t *err);

/** Frees |cfg| and everything it owns. NULL is a no-op. */
void ferry_node_config_free(ferry_node_config_t *cfg);

/**
 * The effective configuration (defaults applied) as pretty JSON in a new string (*out,
 * free()). Secrets are masked: the connection string's Password/Pwd value becomes
 * "***" whatever its quoting, so the result can go into logs and diagnostic files.
 */
ferry_err_code_t ferry_node_config_dump_effective(const ferry_node_config_t *cfg, char **out,
                                                  ferry_err_t *err);

/** What ferry_node_config_mask_connstr() returns for a string that does not parse. */
#define FERRY_NODE_CONFIG_CONNSTR_WITHHELD FERRY_CONNSTR_WITHHELD

/**
 * The connection string |connstr| with its Password/Pwd value masked as "***" whatever
 * its quoting, safe to log or show: the string as written with only the password
 * replaced (ferry_connstr_mask(), ferry/connstr.h), or FERRY_NODE_CONFIG_CONNSTR_WITHHELD
 * when the engine's parser (ferry_mssql_connstr_parse()) refuses it, or it is NULL.
 * The same text ferry_node_config_dump_effective() shows. New string (free()); NULL
 * only when out of memory.
 */
char *ferry_node_config_mask_connstr(const char *connstr);

/**
 * Name of the backup file of database |index| inside a backup folder: index 0 is
 * backup.db.backupFileName ("data.bak"); index i > 0 inserts ".i" before the extension
 * ("data.1.bak"), so one folder holds every database of the list.
 */
ferry_err_code_t ferry_node_config_db_backup_name(const ferry_node_config_t *cfg, size_t index, char *buf,
                                                  size_t size);

#endif
