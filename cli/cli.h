/**
 * @file cli.h
 * Internals of the `ferry` admin CLI: argument parsing, configuration, output
 * helpers and the command tables of each area (cmd_*.c). main.c only dispatches.
 *
 * Exit codes (documented in docs/cli.md):
 *   0 success, 1 other/local failure, 2 usage error, 3 server/RPC error,
 *   4 authentication or permission error.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "ferry/err.h"
#include "ferry/rpc.h"
#include "ferry/rpc_client.h"
#include "ferry/v1/admin.ferry-client.h"

#define FERRY_CLI_EXIT_OK    0
#define FERRY_CLI_EXIT_OTHER 1
#define FERRY_CLI_EXIT_USAGE 2
#define FERRY_CLI_EXIT_RPC   3
#define FERRY_CLI_EXIT_AUTH  4

struct ferry_cli;

/* Hard caps. */
#define FERRY_CLI_MAX_FLAGS     24 /**< flags of one command (globals excluded) */
#define FERRY_CLI_MAX_MULTI     64 /**< values of one repeatable flag */
#define FERRY_CLI_MAX_POS       8  /**< positional arguments */
#define FERRY_CLI_MAX_STR       4096
#define FERRY_CLI_DEFAULT_TO_MS 30000u

/* ------------------------------------------------------------------------- */
/* Argument parsing                                                          */
/* ------------------------------------------------------------------------- */

typedef enum ferry_cli_flag_kind {
    FERRY_CLI_FLAG_STR = 0, /**< --name VALUE (or --name=VALUE), last one wins */
    FERRY_CLI_FLAG_MULTI,   /**< repeatable --name VALUE */
    FERRY_CLI_FLAG_BOOL     /**< --name */
} ferry_cli_flag_kind_t;

/** One flag of a command; a table ends with a {NULL} entry. */
typedef struct ferry_cli_flag {
    const char *name; /**< without the leading "--" */
    ferry_cli_flag_kind_t kind;
    const char *metavar; /**< "CODE"; NULL for booleans */
    const char *help;
    bool required;
} ferry_cli_flag_t;

/** Global options, accepted anywhere on the command line. */
typedef struct ferry_cli_globals {
    const char *server;
    const char *token;
    const char *config;
    const char *ca_file;
    const char *pin_sha256;
    const char *timeout;
    bool json;
    bool help;
    bool insecure;
} ferry_cli_globals_t;

/** Parsed arguments of one command. */
typedef struct ferry_cli_args {
    const ferry_cli_flag_t *flags;
    size_t n_flags;
    const char *str[FERRY_CLI_MAX_FLAGS];
    bool set[FERRY_CLI_MAX_FLAGS];
    const char *multi[FERRY_CLI_MAX_FLAGS][FERRY_CLI_MAX_MULTI];
    size_t n_multi[FERRY_CLI_MAX_FLAGS];
    const char *pos[FERRY_CLI_MAX_POS];
    size_t n_pos;
} ferry_cli_args_t;

/**
 * Parses |argv| (the tokens after the command words) against |flags| and the global
 * flags. Sets *err (code FERRY_E_INVALID_ARG) on an unknown flag, a missing value,
 * too many values, or a missing required flag (unless --help was given).
 */
ferry_err_code_t ferry_cli_parse(int argc, char **argv, const ferry_cli_flag_t *flags, size_t max_pos,
                                 ferry_cli_args_t *out, ferry_cli_globals_t *g, ferry_err_t *err);

/** Parses only the global flags among the first tokens; returns the index of the first
 *  token that is not a global flag (or its value). */
int ferry_cli_parse_leading_globals(int argc, char **argv, ferry_cli_globals_t *g, ferry_err_t *err);

/** Paging flags shared by list commands. */
#define FERRY_CLI_PAGE_FLAGS                                                                                 \
    {"page-size", FERRY_CLI_FLAG_STR, "N", "items per page (default: the server's)", false},                 \
    {                                                                                                        \
        "page-token", FERRY_CLI_FLAG_STR, "TOKEN", "continue from a previous page", false                    \
    }

/** Reads --page-size / --page-token into a request. Returns an exit code (0 = ok). */
int ferry_cli_paging(struct ferry_cli *cli, const struct ferry_cli_args *a, int32_t *page_size,
                     char **page_token);

/** Value of flag |name| (NULL when unset). */
const char *ferry_cli_arg(const ferry_cli_args_t *a, const char *name);
/** Whether boolean/any flag |name| was given. */
bool ferry_cli_arg_set(const ferry_cli_args_t *a, const char *name);
/** Values of repeatable flag |name|; *n receives the count. */
const char *const *ferry_cli_arg_multi(const ferry_cli_args_t *a, const char *name, size_t *n);

/** Parses a duration: "30", "30s", "500ms", "2m", "1h" into milliseconds (> 0). */
ferry_err_code_t ferry_cli_parse_duration_ms(const char *s, uint64_t *out_ms, ferry_err_t *err);
/** Parses a non-negative decimal integer with an optional K/M/G (binary) suffix. */
ferry_err_code_t ferry_cli_parse_size(const char *s, uint64_t *out, ferry_err_t *err);
/** Parses RFC 3339 ("2025-12-14T12:00:00Z", "+08:00" offsets, fractions) into seconds+nanos. */
ferry_err_code_t ferry_cli_parse_rfc3339(const char *s, int64_t *secs, int32_t *nanos, ferry_err_t *err);
/** "PROD"/"prod"/"ENVIRONMENT_PROD" -> 4; -1 when unknown. Similar helpers below. */
int ferry_cli_parse_env(const char *s);
int ferry_cli_parse_policy(const char *s);
int ferry_cli_parse_task_state(const char *s);
int ferry_cli_parse_package_type(const char *s);
int ferry_cli_parse_role(const char *s);
/** Short names for human output ("PROD", "PENDING"...). */
const char *ferry_cli_env_name(int v);
const char *ferry_cli_task_state_name(int v);
/** Whether task state |v| is final: ferry_state_is_terminal() of ferry/model/states.h. */
bool ferry_cli_task_state_final(int v);

/* ------------------------------------------------------------------------- */
/* Configuration                                                             */
/* ------------------------------------------------------------------------- */

typedef enum ferry_cli_source {
    FERRY_CLI_SRC_NONE = 0,
    FERRY_CLI_SRC_FLAG,
    FERRY_CLI_SRC_ENV,
    FERRY_CLI_SRC_FILE
} ferry_cli_source_t;

/** Resolved connection settings. Strings are owned copies. */
typedef struct ferry_cli_config {
    char server[1024];
    char token[1024];
    char ca_file[1024];
    char pin_sha256[128];
    char config_path[1024];
    uint64_t timeout_ms;
    ferry_cli_source_t server_src, token_src;
    char warning[512]; /**< non-fatal remark (e.g. group-readable config file) */
} ferry_cli_config_t;

/** Reads an environment variable; tests substitute their own. */
typedef char *(*ferry_cli_getenv_fn)(const char *name);

/**
 * Resolves settings: flags > environment (FERRY_SERVER, FERRY_TOKEN, FERRY_CA_FILE,
 * FERRY_PIN_SHA256, FERRY_TIMEOUT, FERRY_CONFIG) > config file (--config, else
 * $XDG_CONFIG_HOME/ferry/config.json, else ~/.config/ferry/config.json). A config file
 * holding a token that is readable by others is refused (FERRY_E_PERMISSION).
 */
ferry_err_code_t ferry_cli_config_resolve(const ferry_cli_globals_t *g, ferry_cli_getenv_fn getenv_fn,
                                          ferry_cli_config_t *out, ferry_err_t *err);

/** Name of a source for `ferry config show`. */
const char *ferry_cli_source_name(ferry_cli_source_t s);

/* ------------------------------------------------------------------------- */
/* Session and output                                                        */
/* ------------------------------------------------------------------------- */

typedef struct ferry_cli {
    ferry_cli_globals_t g;
    ferry_cli_config_t cfg;
    ferry_rpc_client_t *client;
    FILE *out;           /**< stdout */
    FILE *errf;          /**< stderr */
    bool tty;            /**< stderr is a terminal (progress bars) */
    bool out_tty;        /**< stdout is a terminal */
    volatile int cancel; /**< set by SIGINT */
} ferry_cli_t;

/** A command: `ferry GROUP VERB ...`. Tables end with a {NULL} entry. */
typedef struct ferry_cli_cmd {
    const char *verb;
    const char *summary;
    const char *positional; /**< usage of positional args, e.g. "FILE.zip", or NULL */
    size_t n_pos;           /**< positional arguments required */
    const ferry_cli_flag_t *flags;
    const char *details; /**< extra help text, or NULL */
    int (*run)(ferry_cli_t *cli, const ferry_cli_args_t *a);
    bool offline; /**< needs no server connection */
} ferry_cli_cmd_t;

typedef struct ferry_cli_group {
    const char *name;
    const char *summary;
    const ferry_cli_cmd_t *cmds;
} ferry_cli_group_t;

extern const ferry_cli_cmd_t ferry_cli_customer_cmds[];
extern const ferry_cli_cmd_t ferry_cli_store_cmds[];
extern const ferry_cli_cmd_t ferry_cli_node_cmds[];
extern const ferry_cli_cmd_t ferry_cli_package_cmds[];
extern const ferry_cli_cmd_t ferry_cli_release_cmds[];
extern const ferry_cli_cmd_t ferry_cli_task_cmds[];
extern const ferry_cli_cmd_t ferry_cli_report_file_cmds[];
extern const ferry_cli_cmd_t ferry_cli_node_config_cmds[];
extern const ferry_cli_cmd_t ferry_cli_audit_cmds[];
extern const ferry_cli_cmd_t ferry_cli_token_cmds[];
extern const ferry_cli_cmd_t ferry_cli_storage_cmds[];
extern const ferry_cli_cmd_t ferry_cli_misc_cmds[];
extern const ferry_cli_cmd_t ferry_cli_config_cmds[];

/** Connects (creates the RPC client) on first use. Returns an exit code (0 = ok). */
int ferry_cli_connect(ferry_cli_t *cli);

/** Call options with the configured timeout (0 = none, for streams). */
ferry_rpc_call_opts_t ferry_cli_opts(ferry_cli_t *cli, bool stream);

/** Maps an RPC code to the CLI exit code (3, or 4 for auth errors). */
int ferry_cli_exit_for_rpc(ferry_rpc_code_t code);

/**
 * Reports a failed RPC: `{"error":{...}}` on stdout in --json mode, else
 * "error: CODE [E_...]: message" on stderr. Returns the exit code.
 */
int ferry_cli_fail_rpc(ferry_cli_t *cli, const char *what, const ferry_rpc_status_t *st);

/** Reports a local failure with exit code |exit_code| (1 or 2). */
int ferry_cli_fail(ferry_cli_t *cli, int exit_code, const char *app_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Builds the error object printed for a failure (exposed for unit tests). */
json_t *ferry_cli_error_json(const char *code, const char *app_code, const char *message);

/** Canonical proto3 JSON of |msg| as a jansson object (NULL on failure). */
json_t *ferry_cli_msg_json(const ProtobufCMessage *msg);

/** Canonical JSON of a task plus the CLI's keys: `node`, numeric `state`,
 *  `stateName`, always-present `errorCode`. */
json_t *ferry_cli_task_json(const Ferry__V1__UpdateTask *task);

/** Prints |obj| (stolen) as one JSON document on stdout. Returns 0. */
int ferry_cli_emit(ferry_cli_t *cli, json_t *obj);

/**
 * Prints a response: in --json mode the canonical JSON of |resp|; otherwise
 * |headline| (if any) and "key: value" lines of |obj| (or |resp| when NULL).
 */
int ferry_cli_show(ferry_cli_t *cli, const ProtobufCMessage *resp, const ProtobufCMessage *obj,
                   const char *headline);
/** Human hint for the next page of a list. */
void ferry_cli_next_page(ferry_cli_t *cli, const char *token);

/** Frees an unpacked response (NULL is fine). */
#define FERRY_CLI_FREE(r)                                                                                    \
    do {                                                                                                     \
        if ((r) != NULL)                                                                                     \
            protobuf_c_message_free_unpacked(&(r)->base, NULL);                                              \
    } while (0)
/** |s| or "" (request strings must not be NULL). */
char *ferry_cli_s(const char *s);

/** Human output of a message: "key: value" lines, nested keys dotted. */
void ferry_cli_print_kv(FILE *f, const json_t *obj, const char *prefix);

/* A simple text table. */
#define FERRY_CLI_TABLE_COLS 10
#define FERRY_CLI_TABLE_ROWS 10000
typedef struct ferry_cli_table {
    size_t n_cols;
    const char *head[FERRY_CLI_TABLE_COLS];
    char **cells; /**< n_rows * n_cols owned strings */
    size_t n_rows, cap_rows;
    bool truncated;
} ferry_cli_table_t;

void ferry_cli_table_init(ferry_cli_table_t *t, size_t n_cols, const char *const *head);
/** Adds a row of n_cols printf-free strings (NULL = "-"). */
void ferry_cli_table_row(ferry_cli_table_t *t, const char *const *cells);
void ferry_cli_table_print(const ferry_cli_table_t *t, FILE *f);
void ferry_cli_table_free(ferry_cli_table_t *t);

/** Adds the table row of one list item. */
typedef void (*ferry_cli_row_fn)(ferry_cli_table_t *t, const void *item);

/**
 * Prints a list response: in --json mode the canonical JSON of |resp|; otherwise a
 * table of |n_cols| columns headed |head| with one row(item) per item, then the
 * next-page hint for |next_page_token|. Returns the exit code.
 */
int ferry_cli_print_list(ferry_cli_t *cli, const ProtobufCMessage *resp, size_t n_cols,
                         const char *const *head, void *const *items, size_t n, ferry_cli_row_fn row,
                         const char *next_page_token);

/** Formats a Timestamp (NULL = "-") as "2025-12-14 12:00:00Z" into buf. */
const char *ferry_cli_fmt_time(const Google__Protobuf__Timestamp *ts, char *buf, size_t size);
/** Formats bytes as "12.3 MiB". */
const char *ferry_cli_fmt_bytes(uint64_t n, char *buf, size_t size);

/** Draws a progress bar line on stderr (TTY only): "label [####....] 45% extra". */
void ferry_cli_progress(ferry_cli_t *cli, const char *label, double frac, const char *extra);
/** Renders a bar of |width| cells for |frac| into buf (exposed for unit tests). */
const char *ferry_cli_bar(double frac, int width, char *buf, size_t size);

/* ------------------------------------------------------------------------- */
/* Package upload engine (upload.c)                                          */
/* ------------------------------------------------------------------------- */

/** Where resumable upload state lives: $FERRY_CACHE_DIR, $XDG_CACHE_HOME/ferry, ~/.cache/ferry. */
ferry_err_code_t ferry_cli_cache_dir(ferry_cli_getenv_fn getenv_fn, char *buf, size_t size, ferry_err_t *err);

/* ------------------------------------------------------------------------- */
/* Package export (export.c)                                                 */
/* ------------------------------------------------------------------------- */

#define FERRY_CLI_EXPORT_DEFAULT_DAYS 30  /**< --valid-days when not given */
#define FERRY_CLI_EXPORT_MAX_DAYS     366 /**< longest validity the server signs */

/** Files of one export in --out DIR. */
typedef struct ferry_cli_export_paths {
    char dir[2048];      /**< DIR without trailing '/' */
    char zip[2304];      /**< DIR/<version>.zip */
    char manifest[2304]; /**< DIR/<version>.manifest.json */
    char part[2304];     /**< DIR/.<version>.zip.part: the download in progress */
} ferry_cli_export_paths_t;

/**
 * --valid-days: NULL -> FERRY_CLI_EXPORT_DEFAULT_DAYS; else a decimal number of days in
 * 1..FERRY_CLI_EXPORT_MAX_DAYS, FERRY_E_INVALID_ARG naming --valid-days otherwise.
 */
ferry_err_code_t ferry_cli_parse_valid_days(const char *s, uint32_t *days, ferry_err_t *err);

/**
 * The export's file names for |dir| and |version|. FERRY_E_INVALID_ARG when |version|
 * cannot be a file name (ferry_version_is_path_safe()) or |dir| is empty,
 * FERRY_E_TOO_LARGE when a path does not fit.
 */
ferry_err_code_t ferry_cli_export_paths(const char *dir, const char *version, ferry_cli_export_paths_t *p,
                                        ferry_err_t *err);

/**
 * The manifest file's text: |sm| as proto3 JSON (two-space indent, newline-terminated),
 * what LocalService.ApplyOfflinePackage reads. *out: free().
 */
ferry_err_code_t ferry_cli_export_manifest_json(const Ferry__V1__SignedManifest *sm, char **out, size_t *len,
                                                ferry_err_t *err);

/** `ferry package export VERSION --out DIR [--valid-days N] [--customer CODE]`. Returns the exit code. */
int ferry_cli_package_export(ferry_cli_t *cli, const ferry_cli_args_t *a);

#endif
