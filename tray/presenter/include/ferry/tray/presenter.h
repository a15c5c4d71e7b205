/**
 * @file presenter.h
 * ferry-tray's decisions, in plain C without GTK (seed 000 §5.1, §5.2, §6.3): what the
 * status icon shows for an agent status, which "Later" choices an optional update
 * offers before its deadline, how the countdown reads, which of the seed's states
 * 10..130 a progress window highlights, the node configuration fields of seed 000 §7.3
 * (read and written by their node-config.json names, checked before the agent sees
 * them), and the bind wizard's input checks and error placement.
 *
 * Everything here is a pure function of its arguments (no I/O, no clock: callers pass
 * "now"), so the GTK views and the terminal mode share it and `check` tests it.
 * Talking to the agent is ferry/tray/client.h.
 */
#ifndef FERRY_TRAY_PRESENTER_H
#define FERRY_TRAY_PRESENTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/err.h"
#include "ferry/v1/local.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status icon ------------------------------------------------------------------ */

/** What the status icon shows, most urgent first in ferry_tray_icon_state()'s order. */
typedef enum ferry_tray_icon {
    FERRY_TRAY_ICON_AGENT_DOWN = 0,   /**< the tray cannot reach the agent (not running) */
    FERRY_TRAY_ICON_NOT_BOUND,        /**< no binding, or the server refused the token */
    FERRY_TRAY_ICON_UPDATING,         /**< a task is running (download .. start), percent known */
    FERRY_TRAY_ICON_PROMPT_WAITING,   /**< an optional update waits for "now / later" */
    FERRY_TRAY_ICON_FAILED,           /**< the last update failed (110, or 130 after a failure) */
    FERRY_TRAY_ICON_OFFLINE,          /**< bound, the server is unreachable */
    FERRY_TRAY_ICON_UPDATE_AVAILABLE, /**< updates are pending (deferred, downloading later...) */
    FERRY_TRAY_ICON_IDLE              /**< up to date */
} ferry_tray_icon_t;

/** Icon state for |st| (NULL = the agent is not reachable). */
ferry_tray_icon_t ferry_tray_icon_state(const Ferry__V1__AgentStatus *st);

/** Stable lower-case name of |icon| ("idle", "update-available", ...), used by --json. */
const char *ferry_tray_icon_name(ferry_tray_icon_t icon);

/**
 * One-line tooltip for |st| and |icon| into |buf| ("Ferry: updating to 1.2.3.4(5) - 60
 * BackingUp 45%"). Never contains a secret. Returns |buf|.
 */
const char *ferry_tray_tooltip(const Ferry__V1__AgentStatus *st, ferry_tray_icon_t icon, char *buf,
                               size_t size);

/**
 * Whether going from |before| to |after| makes a prompt start waiting (the moment the
 * tray sends a desktop notification). |before| NULL counts as "no prompt".
 */
bool ferry_tray_prompt_started(const Ferry__V1__AgentStatus *before, const Ferry__V1__AgentStatus *after);

/**
 * The node's licence as one line: "ACTIVE until 2026-12-31 23:59:59 (expiring)" (local
 * time), "none" without one. Returns |buf|.
 */
const char *ferry_tray_license_text(const Ferry__V1__AgentStatus *st, char *buf, size_t size);

/**
 * The last configuration assignment the agent handled: "app v2 -> config/app.json: APPLIED
 * at 2026-12-05 10:00:00", with " - reason" for FAILED / ROLLED_BACK; "none". Returns |buf|.
 */
const char *ferry_tray_last_config_text(const Ferry__V1__AgentStatus *st, char *buf, size_t size);

/** Human name of a server link ("streaming", "offline", ...). */
const char *ferry_tray_link_text(Ferry__V1__ServerLink link);

/** "DEV", "TEST", "UAT", "PROD" or "" for Environment values. */
const char *ferry_tray_env_name(Ferry__V1__Environment env);

/** Parses "DEV".."PROD" (any case); 0 (unspecified) when not one of them. */
Ferry__V1__Environment ferry_tray_env_parse(const char *s);

/* ---- optional-update prompt ------------------------------------------------------- */

/** Most "Later" choices offered. */
#define FERRY_TRAY_MAX_DEFER 3

/** One "Later" choice. */
typedef struct ferry_tray_defer_choice {
    char label[64];  /**< "In 1 hour", "Tomorrow 09:00", "Until the deadline (Fri 14:00)" */
    int64_t until_s; /**< when the prompt comes back (Unix seconds), never past the deadline */
    int64_t defer_s; /**< until_s - now (what RespondToPrompt's defer_for gets) */
    bool capped;     /**< shortened to the deadline */
} ferry_tray_defer_choice_t;

/**
 * The "Later" choices at |now_s| for an update whose deadline is |deadline_s| (0 = no
 * deadline): in 1 hour, in 4 hours, tomorrow 09:00 local time, each cut at the deadline;
 * choices that the cut makes equal collapse into one "Until the deadline" entry, and
 * none is offered when less than a minute is left. Returns how many were written to
 * |out| (at most FERRY_TRAY_MAX_DEFER).
 */
size_t ferry_tray_defer_choices(int64_t now_s, int64_t deadline_s,
                                ferry_tray_defer_choice_t out[FERRY_TRAY_MAX_DEFER]);

/**
 * Checks a deferral to |until_s| asked at |now_s| (terminal `update defer --until`):
 * FERRY_E_INVALID_ARG naming --until when it is not in the future or lies past
 * |deadline_s| (0 = none); otherwise FERRY_OK and *defer_s = until_s - now_s.
 */
ferry_err_code_t ferry_tray_defer_check(int64_t now_s, int64_t deadline_s, int64_t until_s, int64_t *defer_s,
                                        ferry_err_t *err);

/**
 * The deadline line of a prompt into |buf|: "no deadline", "02:13:07 left (deadline
 * Fri 2026-12-04 14:00)", "3 d 4 h left (...)", or, once passed, "The deadline has
 * passed: the update will run now." Returns |buf|.
 */
const char *ferry_tray_deadline_text(int64_t now_s, int64_t deadline_s, char *buf, size_t size);

/** Whether the deadline has passed (the prompt stops offering choices). */
bool ferry_tray_deadline_passed(int64_t now_s, int64_t deadline_s);

/** "12.5 MiB", "900 B"... into |buf|. Returns |buf|. */
const char *ferry_tray_size_text(uint64_t bytes, char *buf, size_t size);

/**
 * Parses an RFC 3339 time ("2026-12-04T14:00:00Z", "...+08:00", fraction allowed) into
 * Unix seconds. FERRY_E_INVALID_ARG naming |what| otherwise.
 */
ferry_err_code_t ferry_tray_parse_rfc3339(const char *s, const char *what, int64_t *out, ferry_err_t *err);

/** Formats Unix seconds as RFC 3339 UTC ("2026-12-04T14:00:00Z"). Returns |buf|. */
const char *ferry_tray_format_rfc3339(int64_t t, char *buf, size_t size);

/* ---- progress ----------------------------------------------------------------------- */

/** How one step of the progress list is drawn. */
typedef enum ferry_tray_step_mark {
    FERRY_TRAY_STEP_TODO = 0, /**< not reached */
    FERRY_TRAY_STEP_DONE,     /**< passed */
    FERRY_TRAY_STEP_CURRENT,  /**< highlighted: the task is here */
    FERRY_TRAY_STEP_FAILED,   /**< the step the task failed in */
    FERRY_TRAY_STEP_SKIPPED   /**< not part of this run (40 of a forced update...) */
} ferry_tray_step_mark_t;

/** The seed's 14 states, 10..130. */
#define FERRY_TRAY_STEPS 14

/** One line of the step list. */
typedef struct ferry_tray_step {
    int state;         /**< 10, 20, ... 130 */
    const char *label; /**< "Backing up (server, client, database)" */
    ferry_tray_step_mark_t mark;
} ferry_tray_step_t;

/**
 * Follows one task across status snapshots (the state alone does not say which step a
 * task failed in: the tracker remembers the last working state it saw).
 */
typedef struct ferry_tray_progress {
    char task_id[128];
    char version[128];
    int kind;         /**< TaskKind */
    int policy;       /**< ReleasePolicy */
    int state;        /**< current state (0 = nothing seen) */
    int last_working; /**< last state below 100 seen */
    unsigned percent; /**< of the current step */
    bool finished;    /**< reached 100, 110 or 130 */
    bool waited;      /**< passed through 40 */
    char error_code[64];
    char message[256];
    char backup_path[1024];
} ferry_tray_progress_t;

/** Starts following |task_id| ("" = whichever task the agent runs next). */
void ferry_tray_progress_init(ferry_tray_progress_t *p, const char *task_id);

/**
 * Feeds one status snapshot: the current task if it is the followed one (or the first
 * task seen when following ""), or the last finished task when that is the followed
 * one. Returns true when something visible changed.
 */
bool ferry_tray_progress_feed(ferry_tray_progress_t *p, const Ferry__V1__AgentStatus *st);

/** The 14 steps with their marks for |p|. */
void ferry_tray_progress_steps(const ferry_tray_progress_t *p, ferry_tray_step_t out[FERRY_TRAY_STEPS]);

/** Overall fraction 0..1 for the progress bar (steps done plus the current step's percent). */
double ferry_tray_progress_fraction(const ferry_tray_progress_t *p);

/**
 * One line for the progress window's headline or the terminal: "60 BackingUp 45%",
 * "100 Succeeded", "110 Failed E_SQL_FAILED_DATA: ...". Returns |buf|.
 */
const char *ferry_tray_progress_line(const ferry_tray_progress_t *p, char *buf, size_t size);

/** Label of a seed state for the step list ("Stopping the service"). */
const char *ferry_tray_state_label(int state);

/* ---- node configuration (seed 000 §7.3) ----------------------------------------------- */

/** Kind of a configuration field: how it is edited and parsed. */
typedef enum ferry_tray_field_kind {
    FERRY_TRAY_FIELD_TEXT = 0, /**< free text (non-empty unless |optional|) */
    FERRY_TRAY_FIELD_PATH,     /**< absolute path */
    FERRY_TRAY_FIELD_UINT,     /**< whole number in [min, max] */
    FERRY_TRAY_FIELD_BOOL,     /**< true / false */
    FERRY_TRAY_FIELD_CHOICE,   /**< one of |choices| */
    FERRY_TRAY_FIELD_LIST,     /**< list of strings (one per line, or comma separated) */
    FERRY_TRAY_FIELD_CONNSTR   /**< connection string, password masked ("***" keeps it) */
} ferry_tray_field_kind_t;

/** One field of the settings page and of `config set KEY=VALUE`. */
typedef struct ferry_tray_field {
    const char *key;     /**< node-config.json path, e.g. "paths.serverDir" (the agent's issue field) */
    const char *label;   /**< "Server directory" */
    const char *section; /**< "Service", "Directories", "Backup", "Database", "Install", "Download" */
    ferry_tray_field_kind_t kind;
    uint32_t min, max;          /**< UINT bounds */
    const char *const *choices; /**< CHOICE: NULL-terminated */
    bool optional;              /**< may be empty */
    const char *help;           /**< one line shown under the field */
} ferry_tray_field_t;

/** The fields, in the order of the settings page. *n gets the count. */
const ferry_tray_field_t *ferry_tray_fields(size_t *n);

/** The field named |key| (exact node-config.json path), or NULL. */
const ferry_tray_field_t *ferry_tray_field_find(const char *key);

/**
 * The value of |key| in |c| as text into |buf|: lists joined by |list_sep| ("\n" for an
 * editor, ", " for a terminal), booleans "true"/"false", choices by name, the
 * connection string as the agent sent it (password already masked). FERRY_E_INVALID_ARG
 * for an unknown key, FERRY_E_TOO_LARGE when |buf| is too small.
 */
ferry_err_code_t ferry_tray_config_get(const Ferry__V1__NodeConfig *c, const char *key, const char *list_sep,
                                       char *buf, size_t size, ferry_err_t *err);

/**
 * Parses |value| for |key| and stores it in |c| (a message from the agent or built by
 * the caller; sub-messages are created as needed and everything is malloc'ed, so
 * protobuf_c_message_free_unpacked() frees it). Checks what the field's kind allows
 * (number and range, absolute path, choice, non-empty) and fails with
 * FERRY_E_INVALID_ARG whose message starts with the key ("backup.retentionN: must be a
 * whole number between 1 and 1000 (got 'abc')"); |c| is unchanged then. Lists take one
 * item per line, comma-separated items, or a JSON array of strings.
 */
ferry_err_code_t ferry_tray_config_set(Ferry__V1__NodeConfig *c, const char *key, const char *value,
                                       ferry_err_t *err);

/**
 * Replaces the password in connection string |connstr| with |password| into a new
 * string (free() it; scrub it first: it holds the password). |password| "" removes the
 * Password pair. NULL when out of memory or when |connstr| does not parse (E_INVALID_ARG
 * in |err| naming backup.db.sqlConnectionString, never quoting the string).
 */
char *ferry_tray_connstr_set_password(const char *connstr, const char *password, ferry_err_t *err);

/** Deep copy of |c| (pack + unpack); NULL when out of memory. */
Ferry__V1__NodeConfig *ferry_tray_config_dup(const Ferry__V1__NodeConfig *c);

/**
 * The settings field an agent's ConfigIssue names (ValidateNodeConfig, SaveNodeConfig):
 * |issue_field| as the agent sends it ("paths.protectPaths[1]", "service.healthCheck",
 * "backup.retentionN"); an index is dropped, a parent object maps to its first field
 * ("service.healthCheck" -> "service.healthCheck.kind"). NULL when no field fits ("" or an
 * unknown key): the view shows the issue on its general line.
 */
const ferry_tray_field_t *ferry_tray_issue_field(const char *issue_field);

/* ---- update prompt: which update -------------------------------------------------------- */

/**
 * The update an update-prompt window shows among |updates| (ListPendingUpdates, oldest
 * first): the one of |task_id| when given and pending; else the oldest optional update
 * whose prompt waits; else the oldest deferred one (the user opened the window to answer
 * early). NULL when none qualifies (forced updates never ask).
 */
const Ferry__V1__PendingUpdate *ferry_tray_prompt_pick(Ferry__V1__PendingUpdate *const *updates, size_t n,
                                                       const char *task_id);

/* ---- bind wizard ------------------------------------------------------------------------ */

/** The bind wizard's input, as typed. */
typedef struct ferry_tray_bind_input {
    const char *server_url;
    const char *node_code;
    const char *environment; /**< "DEV".."PROD" */
    const char *token;
    const char *ca_file; /**< "" or NULL = system store */
} ferry_tray_bind_input_t;

/** Field names of the bind wizard (also the widget names' suffixes). */
#define FERRY_TRAY_BIND_SERVER "server"
#define FERRY_TRAY_BIND_NODE   "node"
#define FERRY_TRAY_BIND_ENV    "env"
#define FERRY_TRAY_BIND_TOKEN  "token"
#define FERRY_TRAY_BIND_CA     "ca"

/**
 * Checks |in| before anything is sent: URL http(s)://host[:port], node code of
 * letters, digits, '-', '_' or '.', environment one of the four, token non-empty
 * without blanks, CA file (if any) readable is NOT checked here (no I/O). On a problem
 * returns FERRY_E_INVALID_ARG, *field gets the wizard field (FERRY_TRAY_BIND_*), |err|
 * a message naming it; the token is never quoted.
 */
ferry_err_code_t ferry_tray_bind_check(const ferry_tray_bind_input_t *in, const char **field,
                                       ferry_err_t *err);

/**
 * Where the wizard shows the agent's refusal of a bind: E_AUTH_INVALID on the token
 * (the server says node code, environment or token is wrong: the token is the usual
 * culprit, the message names all three), an unreachable server (E_UNAVAILABLE,
 * E_TIMEOUT, E_IO) or a TLS/pin problem on the server URL, anything else "" (the
 * wizard's general line).
 */
const char *ferry_tray_bind_error_field(ferry_err_code_t code);

#ifdef __cplusplus
}
#endif
#endif
