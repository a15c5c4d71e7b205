/*
 * ferry-tray's terminal mode (cli.h): the commands of issue 10 over the presenter and
 * the LocalService client. Human output on stdout, progress and errors on stderr;
 * --json prints exactly one JSON object on stdout (also for an error: {"error":{...}}).
 * Secrets: the bind token is read from a file or stdin, sent once and scrubbed; a
 * connection string password given as KEY=- comes from stdin; nothing secret is printed.
 */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/model/states.h"
#include "ferry/tray/client.h"
#include "ferry/tray/presenter.h"

#define TOKEN_MAX     512
#define STDIN_MAX     8192
#define MAX_SETS      64
#define UPLOAD_WAIT_S 20

const char FERRY_TRAY_USAGE[] =
    "usage: ferry-tray [--state-dir DIR]                 (with a display: the tray icon and windows)\n"
    "       ferry-tray COMMAND [--state-dir DIR] [ARGS]  (terminal mode, for headless servers)\n"
    "\n"
    "commands:\n"
    "  status [--json]                          the agent: binding, link, installed version, task, prompt\n"
    "  bind --server URL --node CODE --env ENV --token-file F|- [--ca FILE] [--pin SHA256]\n"
    "                                           bind this node (the agent stores the token, never the tray)\n"
    "  config show [--json]                     the node configuration (seed 000 section 7.3), secrets "
    "masked\n"
    "  config set KEY=VALUE... [--no-upload]    change fields, validate, save and upload to the server\n"
    "  updates [--json]                         check with the server and list pending updates\n"
    "  update now [TASK]                        start an update now (default: the oldest) and follow it\n"
    "  update defer TASK --until RFC3339        answer an optional update's prompt with 'later'\n"
    "  apply-offline PACKAGE.zip --manifest FILE\n"
    "                                           install an exported package without network, and follow it\n"
    "\n"
    "--state-dir DIR: the agent's state dir (default " FERRY_TRAY_DEFAULT_STATE_DIR
    "), where local.json and\n"
    "local.secret tell the tray how to reach it. Every command has --help.\n"
    "Exit: 0 done, 1 the update ended Failed/Rollbacked, 2 bad input (nothing changed), 3 agent error.\n";

static const char USAGE_STATUS[] =
    "usage: ferry-tray status [--state-dir DIR] [--json]\n"
    "  Shows what the tray icon shows: binding, link to the server, installed version, the task\n"
    "  running (state and percent), the last finished task (error code, backup path), pending\n"
    "  updates and whether one waits for your answer. --json: one object {\"trayState\", \"tooltip\",\n"
    "  \"status\"} with the agent's AgentStatus (local.proto).\n";
static const char USAGE_BIND[] =
    "usage: ferry-tray bind --server URL --node CODE --env DEV|TEST|UAT|PROD --token-file FILE|-\n"
    "                       [--ca FILE] [--pin SHA256] [--state-dir DIR] [--json]\n"
    "  Binds this node (seed 000 section 5.1) through the running agent: it calls the server's Bind\n"
    "  and stores the token itself (0600). The token is read from FILE or stdin ('-'), never from the\n"
    "  command line, and is not written anywhere by the tray. --ca: PEM CA of a private server\n"
    "  certificate; --pin: SHA-256 of its public key. A refusal prints the server's code\n"
    "  (E_AUTH_INVALID: node code, environment or token wrong) and binds nothing.\n";
static const char USAGE_CONFIG[] =
    "usage: ferry-tray config show [--state-dir DIR] [--json]\n"
    "       ferry-tray config set KEY=VALUE... [--no-upload] [--state-dir DIR] [--json]\n"
    "  show: every field of node-config.json with its key; the connection string's password is\n"
    "  masked (***).\n"
    "  set: changes the named fields, has the agent validate the result, saves it with the next\n"
    "  configVersion and uploads it to the server (seed 000 section 5.2; the server's read-only\n"
    "  view: ferry node-config get NODE). An invalid value exits 2 naming the field and changes\n"
    "  nothing. VALUE '-' reads the value from stdin (keeps secrets out of the process list);\n"
    "  lists take comma-separated items or a JSON array; KEY backup.db.password sets only the\n"
    "  password inside the connection string. --no-upload: save locally only.\n"
    "  keys:\n";
static const char USAGE_UPDATES[] =
    "usage: ferry-tray updates [--state-dir DIR] [--json]\n"
    "  Asks the agent to check with the server now (when bound), then lists the updates it knows\n"
    "  that are not finished: task, version, policy, state, prompt (waiting / deferred until),\n"
    "  size and deadline.\n";
static const char USAGE_UPDATE[] =
    "usage: ferry-tray update now [TASK] [--state-dir DIR] [--json]\n"
    "       ferry-tray update defer TASK --until RFC3339 [--state-dir DIR] [--json]\n"
    "  now: starts TASK (default: the oldest pending update), also a deferred optional one, and\n"
    "  follows it through the seed's states 10..130 until it ends; exit 0 when it succeeded, 1\n"
    "  when it failed or was rolled back. Ctrl-C stops following; the update goes on.\n"
    "  defer: answers an optional update's prompt with 'later': asked again at --until (e.g.\n"
    "  2026-12-04T14:00:00Z), which must be in the future and not past the release deadline.\n";
static const char USAGE_OFFLINE[] =
    "usage: ferry-tray apply-offline PACKAGE.zip --manifest FILE [--state-dir DIR] [--json]\n"
    "  Installs a package exported with `ferry package export` (the zip and its signed\n"
    "  VERSION.manifest.json) without network: the agent verifies the signature against the keys\n"
    "  pinned at bind and the zip's SHA-256 before anything changes, then runs the full update\n"
    "  (backup, install, SQL, start; rollback on failure), followed here until it ends.\n";

/* Options every command takes. */
typedef struct opts {
    const char *state_dir;
    bool json;
    bool no_upload;
    const char *server, *node, *env, *token_file, *ca, *pin, *until, *manifest;
} opts_t;

static volatile sig_atomic_t g_interrupted;
static ferry_tray_client_t *volatile g_follow;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
    if (g_follow != NULL)
        ferry_tray_client_cancel(g_follow);
}

/* ---- output ------------------------------------------------------------------------------ */

/* An error: "ferry-tray CMD: E_CODE: message" on stderr, and the JSON error object with --json. */
static int report(const char *cmd, const opts_t *o, ferry_err_code_t code, const char *field, const char *msg,
                  int exit_code)
{
    char m[FERRY_ERR_MSG_MAX];
    snprintf(m, sizeof(m), "%s", msg);
    ferry_log_mask_secrets(m);
    fprintf(stderr, "ferry-tray %s: %s: %s\n", cmd, ferry_err_name(code), m);
    if (o != NULL && o->json) {
        json_t *e = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", ferry_err_name(code), "field",
                              field != NULL ? field : "", "message", m);
        char *t = json_dumps(e, JSON_COMPACT);
        if (t != NULL)
            printf("%s\n", t);
        free(t);
        json_decref(e);
    }
    return exit_code;
}

static int report_err(const char *cmd, const opts_t *o, const ferry_err_t *err, const char *field)
{
    int x = err->code == FERRY_E_INVALID_ARG ? TRAY_EXIT_USAGE : TRAY_EXIT_ERROR;
    return report(cmd, o, err->code, field, err->msg, x);
}

/* A proto message as a jansson value (NULL on failure). */
static json_t *proto_json(const ProtobufCMessage *m)
{
    char *text = NULL;
    json_t *j = NULL;
    if (m != NULL && ferry_json_encode(m, 0, &text, NULL, NULL) == FERRY_OK)
        j = json_loads(text, 0, NULL);
    free(text);
    return j;
}

static void print_json(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    if (t != NULL)
        printf("%s\n", t);
    free(t);
    json_decref(j);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static const char *local_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* ---- option parsing ----------------------------------------------------------------------- */

enum {
    O_STATE = 1000,
    O_JSON,
    O_HELP,
    O_NO_UPLOAD,
    O_SERVER,
    O_NODE,
    O_ENV,
    O_TOKEN,
    O_CA,
    O_PIN,
    O_UNTIL,
    O_MANIFEST
};

/*
 * Parses argv (argv[0] = the command word) with the options |allowed| (a string of the
 * O_* letters' indexes, see below); positional words go to pos[]. Returns -1 after
 * printing --help, -2 on a usage error, else the number of positional words.
 */
static int parse(int argc, char **argv, const char *cmd, const char *usage, const int *allowed, opts_t *o,
                 char **pos, int max_pos)
{
    static const struct option longs[] = {
        {"state-dir", required_argument, NULL, O_STATE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, O_HELP},
        {"no-upload", no_argument, NULL, O_NO_UPLOAD},
        {"server", required_argument, NULL, O_SERVER},
        {"node", required_argument, NULL, O_NODE},
        {"env", required_argument, NULL, O_ENV},
        {"token-file", required_argument, NULL, O_TOKEN},
        {"ca", required_argument, NULL, O_CA},
        {"pin", required_argument, NULL, O_PIN},
        {"until", required_argument, NULL, O_UNTIL},
        {"manifest", required_argument, NULL, O_MANIFEST},
        {NULL, 0, NULL, 0},
    };
    int c, npos = 0;
    optind = 1;
    opterr = 0;
    /* '-' first: positional words come back in order as 1 (so "KEY=-" and "-" stay words). */
    while ((c = getopt_long(argc, argv, "-h", longs, NULL)) != -1) {
        bool ok = c == 1 || c == 'h' || c == O_HELP || c == O_STATE;
        for (const int *a = allowed; !ok && *a != 0; a++)
            ok = *a == c;
        if (!ok) {
            fprintf(stderr, "ferry-tray %s: E_INVALID_ARG: unknown or incomplete option '%s'\n%s", cmd,
                    argv[optind - 1], usage);
            return -2;
        }
        switch (c) {
        case 1:
            if (npos >= max_pos) {
                fprintf(stderr, "ferry-tray %s: E_INVALID_ARG: unexpected argument '%s'\n%s", cmd, optarg,
                        usage);
                return -2;
            }
            pos[npos++] = optarg;
            break;
        case 'h':
        case O_HELP:
            fputs(usage, stdout);
            return -1;
        case O_STATE:
            o->state_dir = optarg;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_NO_UPLOAD:
            o->no_upload = true;
            break;
        case O_SERVER:
            o->server = optarg;
            break;
        case O_NODE:
            o->node = optarg;
            break;
        case O_ENV:
            o->env = optarg;
            break;
        case O_TOKEN:
            o->token_file = optarg;
            break;
        case O_CA:
            o->ca = optarg;
            break;
        case O_PIN:
            o->pin = optarg;
            break;
        case O_UNTIL:
            o->until = optarg;
            break;
        case O_MANIFEST:
            o->manifest = optarg;
            break;
        default:
            break;
        }
    }
    return npos;
}

static ferry_tray_client_t *connect_agent(const char *cmd, const opts_t *o, int *exit_code)
{
    ferry_err_t err = {0};
    ferry_tray_client_t *c = ferry_tray_client_new(o->state_dir, &err);
    if (c == NULL)
        *exit_code = report(cmd, o, err.code, "--state-dir", err.msg, TRAY_EXIT_ERROR);
    return c;
}

/* ---- status ------------------------------------------------------------------------------- */

static void print_task_line(const char *label, const Ferry__V1__UpdateTask *t)
{
    printf("%-11s %s %s: %d %s", label, t->id, t->package_version, (int)t->state,
           ferry_state_name((int)t->state));
    if (!ferry_state_is_terminal((int)t->state))
        printf(" %u%%", t->percent);
    if (t->error_code[0])
        printf(" %s", t->error_code);
    if (t->message[0])
        printf(" - %s", t->message);
    printf("\n");
    if (t->backup_local_path[0])
        printf("%-11s %s\n", "backup:", t->backup_local_path);
}

static int cmd_status(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, 0};
    opts_t o = {0};
    char *pos[1];
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    Ferry__V1__AgentStatus *st = NULL;
    ferry_tray_client_t *c = NULL;
    char tip[512];
    int n = parse(argc, argv, "status", USAGE_STATUS, allowed, &o, pos, 0);
    if (n < 0)
        return n == -1 ? TRAY_EXIT_OK : TRAY_EXIT_USAGE;
    if ((c = ferry_tray_client_new(o.state_dir, &err)) == NULL ||
        ferry_tray_get_status(c, &st, &err) != FERRY_OK) {
        /* The icon's "agent down" state: still one answer, and a clear exit code. */
        x = report("status", &o, err.code, "--state-dir", err.msg, TRAY_EXIT_ERROR);
        goto out;
    }
    ferry_tray_icon_t icon = ferry_tray_icon_state(st);
    ferry_tray_tooltip(st, icon, tip, sizeof(tip));
    if (o.json) {
        print_json(json_pack("{s:s,s:s,s:o}", "trayState", ferry_tray_icon_name(icon), "tooltip", tip,
                             "status", proto_json(&st->base)));
    } else {
        char when[40];
        printf("%-11s %s\n", "tray:", tip);
        if (st->bound)
            printf("%-11s node %s (%s / %s, %s) on %s\n", "binding:", st->node_code, st->customer_code,
                   st->store_code, ferry_tray_env_name(st->environment), st->server_url);
        else
            printf("%-11s not bound (ferry-tray bind ...)\n", "binding:");
        printf("%-11s %s%s%s\n", "link:", ferry_tray_link_text(st->link), st->last_error[0] ? " - " : "",
               st->last_error);
        printf("%-11s %s\n", "contact:",
               st->last_contact_at != NULL ? local_time(st->last_contact_at->seconds, when, sizeof(when))
                                           : "never");
        printf("%-11s %s (agent %s)\n",
               "installed:", st->installed_version[0] ? st->installed_version : "(unknown)",
               st->agent_version);
        if (st->current_task != NULL)
            print_task_line("task:", st->current_task);
        else
            printf("%-11s idle\n", "task:");
        if (st->last_task != NULL)
            print_task_line("last task:", st->last_task);
        printf("%-11s %u update(s)%s\n", "pending:", st->pending_count,
               st->prompt_waiting ? ", one waits for your answer (ferry-tray updates)" : "");
        printf("%-11s %u buffered\n", "reports:", st->buffered_reports);
        printf("%-11s version %lld\n", "config:", (long long)st->node_config_version);
        char line[1024];
        printf("%-11s %s\n", "licence:", ferry_tray_license_text(st, line, sizeof(line)));
        printf("%-11s %s\n", "last conf:", ferry_tray_last_config_text(st, line, sizeof(line)));
    }
    x = TRAY_EXIT_OK;
out:
    if (st != NULL)
        protobuf_c_message_free_unpacked(&st->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* ---- bind ---------------------------------------------------------------------------------- */

/* Reads a secret from |src| (file or "-" = stdin), trimmed, at most |size| - 1 bytes. */
static ferry_err_code_t read_secret(const char *src, const char *what, char *out, size_t size,
                                    ferry_err_t *err)
{
    FILE *f = strcmp(src, "-") == 0 ? stdin : fopen(src, "r");
    size_t n = 0;
    if (f == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: cannot read '%.200s'", what, src);
    n = fread(out, 1, size - 1, f);
    bool more = fgetc(f) != EOF;
    if (f != stdin)
        fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
    if (more) {
        explicit_bzero(out, size);
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: longer than %zu bytes", what, size - 2);
    }
    return FERRY_OK;
}

static int cmd_bind(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, O_SERVER, O_NODE, O_ENV, O_TOKEN, O_CA, O_PIN, 0};
    opts_t o = {0};
    char *pos[1];
    char token[TOKEN_MAX + 2];
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__LocalBindResponse *r = NULL;
    const char *field = "";
    token[0] = '\0';
    int n = parse(argc, argv, "bind", USAGE_BIND, allowed, &o, pos, 0);
    if (n < 0)
        return n == -1 ? TRAY_EXIT_OK : TRAY_EXIT_USAGE;
    if (o.server == NULL || o.node == NULL || o.env == NULL || o.token_file == NULL) {
        const char *miss = o.server == NULL ? "--server"
                           : o.node == NULL ? "--node"
                           : o.env == NULL  ? "--env"
                                            : "--token-file";
        char m[128];
        snprintf(m, sizeof(m), "%s is required", miss);
        fputs(USAGE_BIND, stderr);
        return report("bind", &o, FERRY_E_INVALID_ARG, miss, m, TRAY_EXIT_USAGE);
    }
    if (read_secret(o.token_file, "--token-file", token, sizeof(token), &err) != FERRY_OK) {
        x = report_err("bind", &o, &err, "--token-file");
        goto out;
    }
    ferry_tray_bind_input_t in = {o.server, o.node, o.env, token, o.ca};
    if (ferry_tray_bind_check(&in, &field, &err) != FERRY_OK) {
        /* The presenter names wizard fields; the terminal names the flags. */
        const char *flag = strcmp(field, FERRY_TRAY_BIND_SERVER) == 0  ? "--server"
                           : strcmp(field, FERRY_TRAY_BIND_NODE) == 0  ? "--node"
                           : strcmp(field, FERRY_TRAY_BIND_ENV) == 0   ? "--env"
                           : strcmp(field, FERRY_TRAY_BIND_TOKEN) == 0 ? "--token-file"
                                                                       : "--ca";
        x = report_err("bind", &o, &err, flag);
        goto out;
    }
    if ((c = connect_agent("bind", &o, &x)) == NULL)
        goto out;
    if (ferry_tray_bind(c, o.server, o.node, ferry_tray_env_parse(o.env), token, o.ca, o.pin, &r, &err) !=
        FERRY_OK) {
        const char *f = ferry_tray_bind_error_field(err.code);
        x = report("bind", &o, err.code,
                   strcmp(f, FERRY_TRAY_BIND_TOKEN) == 0    ? "--token-file"
                   : strcmp(f, FERRY_TRAY_BIND_SERVER) == 0 ? "--server"
                   : strcmp(f, FERRY_TRAY_BIND_NODE) == 0   ? "--node"
                                                            : "",
                   err.msg, err.code == FERRY_E_INVALID_ARG ? TRAY_EXIT_USAGE : TRAY_EXIT_ERROR);
        goto out;
    }
    if (o.json) {
        print_json(json_pack("{s:o,s:o}", "node",
                             r->node != NULL ? proto_json(&r->node->base) : json_object(), "status",
                             r->status != NULL ? proto_json(&r->status->base) : json_object()));
    } else {
        const Ferry__V1__Node *nd = r->node;
        printf("bound to %s as node %s (%s / %s, %s); the agent stored the token\n", o.server, o.node,
               nd != NULL ? nd->customer_code : "?", nd != NULL ? nd->store_code : "?", o.env);
    }
    x = TRAY_EXIT_OK;
out:
    explicit_bzero(token, sizeof(token));
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* ---- config -------------------------------------------------------------------------------- */

static void usage_config(FILE *f)
{
    size_t n;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    fputs(USAGE_CONFIG, f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "    %-30s %s\n", fs[i].key, fs[i].help);
    fprintf(f, "    %-30s %s\n", "backup.db.password",
            "only the password of the connection string (use '-')");
}

static int config_show(opts_t *o)
{
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__GetLocalNodeConfigResponse *r = NULL;
    if ((c = connect_agent("config show", o, &x)) == NULL)
        goto out;
    if (ferry_tray_get_config(c, &r, &err) != FERRY_OK) {
        x = report_err("config show", o, &err, "");
        goto out;
    }
    if (o->json) {
        print_json(proto_json(&r->base));
    } else {
        size_t n;
        const ferry_tray_field_t *fs = ferry_tray_fields(&n);
        const char *section = "";
        char when[40], val[8192];
        printf("file:           %s%s\n", r->path,
               r->exists ? "" : " (not written yet: the defaults below apply)");
        printf("configVersion:  %lld\n", (long long)r->config->config_version);
        if (r->uploaded_at != NULL)
            printf("uploaded:       version %lld at %s\n", (long long)r->uploaded_version,
                   local_time(r->uploaded_at->seconds, when, sizeof(when)));
        else
            printf("uploaded:       never\n");
        for (size_t i = 0; i < n; i++) {
            if (strcmp(section, fs[i].section) != 0) {
                section = fs[i].section;
                printf("\n[%s]\n", section);
            }
            if (ferry_tray_config_get(r->config, fs[i].key, ", ", val, sizeof(val), &err) != FERRY_OK)
                snprintf(val, sizeof(val), "(%s)", err.msg);
            /* The agent masks the password; mask again in case a string did not parse there. */
            ferry_log_mask_secrets(val);
            printf("  %-30s = %s\n", fs[i].key, val);
        }
    }
    x = TRAY_EXIT_OK;
out:
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* Waits until the agent reports |version| uploaded; false after |secs|. */
static bool wait_uploaded(ferry_tray_client_t *c, int64_t version, int secs)
{
    for (int i = 0; i < secs * 5 && !g_interrupted; i++) {
        Ferry__V1__GetLocalNodeConfigResponse *r = NULL;
        bool done = false;
        if (ferry_tray_get_config(c, &r, NULL) == FERRY_OK) {
            done = r->uploaded_version >= version;
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }
        if (done)
            return true;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static int config_set(opts_t *o, char **pos, int npos)
{
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__GetLocalNodeConfigResponse *cur = NULL;
    Ferry__V1__SaveNodeConfigResponse *sr = NULL;
    Ferry__V1__NodeConfig *cfg = NULL;
    char *stdin_val = NULL;
    bool stdin_used = false;
    if (npos == 0) {
        usage_config(stderr);
        return report("config set", o, FERRY_E_INVALID_ARG, "", "give at least one KEY=VALUE",
                      TRAY_EXIT_USAGE);
    }
    /* Syntax first, before talking to anyone. */
    for (int i = 0; i < npos; i++) {
        const char *eq = strchr(pos[i], '=');
        char key[128];
        size_t kl = eq != NULL ? (size_t)(eq - pos[i]) : 0;
        snprintf(key, sizeof(key), "%.*s", (int)(kl < sizeof(key) ? kl : sizeof(key) - 1), pos[i]);
        if (eq == NULL || kl == 0) {
            char m[256];
            snprintf(m, sizeof(m), "'%.64s' is not KEY=VALUE", pos[i]);
            return report("config set", o, FERRY_E_INVALID_ARG, "", m, TRAY_EXIT_USAGE);
        }
        if (ferry_tray_field_find(key) == NULL && strcmp(key, "backup.db.password") != 0) {
            char m[256];
            snprintf(m, sizeof(m),
                     "%s: not a node configuration field (ferry-tray config set --help lists them)", key);
            return report("config set", o, FERRY_E_INVALID_ARG, key, m, TRAY_EXIT_USAGE);
        }
        if (strcmp(eq + 1, "-") == 0) {
            if (stdin_used)
                return report("config set", o, FERRY_E_INVALID_ARG, key,
                              "only one value can come from stdin ('-')", TRAY_EXIT_USAGE);
            stdin_used = true;
        }
    }
    if ((c = connect_agent("config set", o, &x)) == NULL)
        goto out;
    if (ferry_tray_get_config(c, &cur, &err) != FERRY_OK) {
        x = report_err("config set", o, &err, "");
        goto out;
    }
    if ((cfg = ferry_tray_config_dup(cur->config)) == NULL) {
        x = report("config set", o, FERRY_E_NOMEM, "", "out of memory", TRAY_EXIT_ERROR);
        goto out;
    }
    for (int i = 0; i < npos; i++) {
        char *eq = strchr(pos[i], '=');
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)(eq - pos[i]), pos[i]);
        const char *val = eq + 1;
        if (strcmp(val, "-") == 0) {
            if ((stdin_val = calloc(1, STDIN_MAX + 2)) == NULL ||
                read_secret("-", key, stdin_val, STDIN_MAX + 2, &err) != FERRY_OK) {
                x = stdin_val == NULL
                        ? report("config set", o, FERRY_E_NOMEM, key, "out of memory", TRAY_EXIT_ERROR)
                        : report_err("config set", o, &err, key);
                goto out;
            }
            val = stdin_val;
        }
        ferry_err_code_t rc;
        if (strcmp(key, "backup.db.password") == 0) {
            char cs[8192] = "";
            char *next = NULL;
            (void)ferry_tray_config_get(cfg, "backup.db.sqlConnectionString", "", cs, sizeof(cs), NULL);
            if ((next = ferry_tray_connstr_set_password(cs, val, &err)) == NULL) {
                x = report_err("config set", o, &err, "backup.db.sqlConnectionString");
                goto out;
            }
            rc = ferry_tray_config_set(cfg, "backup.db.sqlConnectionString", next, &err);
            explicit_bzero(next, strlen(next));
            free(next);
        } else {
            rc = ferry_tray_config_set(cfg, key, val, &err);
        }
        if (rc != FERRY_OK) {
            x = report_err("config set", o, &err, key);
            goto out;
        }
    }
    if (ferry_tray_save_config(c, cfg, o->no_upload, &sr, &err) != FERRY_OK) {
        x = report_err("config set", o, &err, "");
        goto out;
    }
    /* Issues: blocking ones are errors on their field, the rest warnings. */
    const char *first = NULL;
    for (size_t i = 0; i < sr->n_issues; i++) {
        const Ferry__V1__ConfigIssue *is = sr->issues[i];
        fprintf(stderr, "ferry-tray config set: %s: %s: %s\n", is->blocking ? "E_INVALID_ARG" : "warning",
                is->field[0] ? is->field : "(configuration)", is->message);
        if (is->blocking && first == NULL)
            first = is->field;
    }
    if (!sr->saved) {
        char m[600];
        snprintf(m, sizeof(m), "not saved: %s: %s", first != NULL && first[0] ? first : "(configuration)",
                 sr->n_issues > 0 ? sr->issues[0]->message : "refused");
        for (size_t i = 0; i < sr->n_issues; i++)
            if (sr->issues[i]->blocking) {
                snprintf(m, sizeof(m), "%s: %s (nothing was changed)",
                         sr->issues[i]->field[0] ? sr->issues[i]->field : "(configuration)",
                         sr->issues[i]->message);
                break;
            }
        if (o->json) {
            json_t *j = json_pack("{s:{s:s,s:s,s:s},s:o}", "error", "code", "E_INVALID_ARG", "field",
                                  first != NULL ? first : "", "message", m, "result", proto_json(&sr->base));
            print_json(j);
        }
        fprintf(stderr, "ferry-tray config set: E_INVALID_ARG: %s\n", m);
        x = TRAY_EXIT_USAGE;
        goto out;
    }
    int64_t ver = sr->config != NULL ? sr->config->config_version : 0;
    bool uploaded = false;
    if (!o->no_upload) {
        if (!o->json)
            fprintf(stderr, "saved configVersion %lld; uploading to the server...\n", (long long)ver);
        uploaded = wait_uploaded(c, ver, UPLOAD_WAIT_S);
    }
    if (o->json) {
        print_json(json_pack("{s:I,s:b,s:s,s:o}", "configVersion", (json_int_t)ver, "uploaded", uploaded,
                             "upload",
                             o->no_upload ? "skipped"
                             : uploaded   ? "done"
                                          : "queued",
                             "result", proto_json(&sr->base)));
    } else if (o->no_upload) {
        printf("saved configVersion %lld to %s (not uploaded: --no-upload)\n", (long long)ver, cur->path);
    } else if (uploaded) {
        printf("saved configVersion %lld to %s and uploaded it to the server (ferry node-config get NODE)\n",
               (long long)ver, cur->path);
    } else {
        printf("saved configVersion %lld to %s; the upload is queued: the agent sends it when the server is "
               "reachable\n",
               (long long)ver, cur->path);
    }
    x = TRAY_EXIT_OK;
out:
    if (stdin_val != NULL) {
        explicit_bzero(stdin_val, STDIN_MAX + 2);
        free(stdin_val);
    }
    if (cfg != NULL)
        protobuf_c_message_free_unpacked(&cfg->base, NULL);
    if (sr != NULL)
        protobuf_c_message_free_unpacked(&sr->base, NULL);
    if (cur != NULL)
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

static int cmd_config(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, O_NO_UPLOAD, 0};
    opts_t o = {0};
    char *pos[MAX_SETS + 1];
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_config(stdout); /* with the list of keys */
            return TRAY_EXIT_OK;
        }
    int n = parse(argc, argv, "config", USAGE_CONFIG, allowed, &o, pos, MAX_SETS + 1);
    if (n == -1) {
        return TRAY_EXIT_OK;
    }
    if (n < 0)
        return TRAY_EXIT_USAGE;
    if (n == 0 || (strcmp(pos[0], "show") != 0 && strcmp(pos[0], "set") != 0)) {
        usage_config(stderr);
        return report("config", &o, FERRY_E_INVALID_ARG, "", "expected 'show' or 'set'", TRAY_EXIT_USAGE);
    }
    if (strcmp(pos[0], "show") == 0) {
        if (n > 1 || o.no_upload)
            return report("config show", &o, FERRY_E_INVALID_ARG, "", "takes no arguments", TRAY_EXIT_USAGE);
        return config_show(&o);
    }
    return config_set(&o, pos + 1, n - 1);
}

/* ---- updates -------------------------------------------------------------------------------- */

static const char *prompt_text(const Ferry__V1__PendingUpdate *u, char *buf, size_t size)
{
    char when[40];
    switch (u->prompt) {
    case FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING:
        return "waiting for you";
    case FERRY__V1__PROMPT_STATE__PROMPT_STATE_DEFERRED:
        snprintf(buf, size, "deferred until %s",
                 u->deferred_until != NULL ? local_time(u->deferred_until->seconds, when, sizeof(when))
                                           : "?");
        return buf;
    case FERRY__V1__PROMPT_STATE__PROMPT_STATE_ACCEPTED:
        return "accepted";
    case FERRY__V1__PROMPT_STATE__PROMPT_STATE_FORCED:
        return "deadline passed";
    default:
        return "-";
    }
}

static int cmd_updates(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, 0};
    opts_t o = {0};
    char *pos[1];
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__AgentStatus *st = NULL;
    Ferry__V1__CheckForUpdatesResponse *cr = NULL;
    Ferry__V1__ListPendingUpdatesResponse *lr = NULL;
    int n = parse(argc, argv, "updates", USAGE_UPDATES, allowed, &o, pos, 0);
    if (n < 0)
        return n == -1 ? TRAY_EXIT_OK : TRAY_EXIT_USAGE;
    if ((c = connect_agent("updates", &o, &x)) == NULL)
        goto out;
    if (ferry_tray_get_status(c, &st, &err) != FERRY_OK) {
        x = report_err("updates", &o, &err, "");
        goto out;
    }
    Ferry__V1__PendingUpdate **items;
    size_t n_items;
    const ProtobufCMessage *whole;
    if (st->bound) {
        if (ferry_tray_check_updates(c, &cr, &err) != FERRY_OK) {
            x = report_err("updates", &o, &err, "");
            goto out;
        }
        items = cr->updates;
        n_items = cr->n_updates;
        whole = &cr->base;
    } else {
        if (ferry_tray_list_updates(c, &lr, &err) != FERRY_OK) {
            x = report_err("updates", &o, &err, "");
            goto out;
        }
        items = lr->updates;
        n_items = lr->n_updates;
        whole = &lr->base;
    }
    if (o.json) {
        json_t *j = proto_json(whole);
        if (j != NULL && json_object_get(j, "updates") == NULL)
            json_object_set_new(j, "updates", json_array());
        print_json(j);
    } else if (n_items == 0) {
        printf("no pending updates (installed %s)\n",
               st->installed_version[0] ? st->installed_version : "unknown");
    } else {
        printf("%-38s %-22s %-8s %-18s %-26s %-10s %s\n", "TASK", "VERSION", "POLICY", "STATE", "PROMPT",
               "SIZE", "DEADLINE");
        for (size_t i = 0; i < n_items; i++) {
            const Ferry__V1__PendingUpdate *u = items[i];
            const Ferry__V1__UpdateTask *t = u->task;
            char pb[64], sz[32], dl[40], stt[32];
            if (t == NULL)
                continue;
            snprintf(stt, sizeof(stt), "%d %s", (int)t->state, ferry_state_name((int)t->state));
            printf("%-38s %-22s %-8s %-18s %-26s %-10s %s\n", t->id, t->package_version,
                   t->policy == FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL ? "optional" : "forced",
                   stt, prompt_text(u, pb, sizeof(pb)),
                   u->size > 0 ? ferry_tray_size_text(u->size, sz, sizeof(sz)) : "-",
                   t->deadline != NULL ? local_time(t->deadline->seconds, dl, sizeof(dl)) : "-");
            if (u->description[0])
                printf("    %s\n", u->description);
        }
    }
    x = TRAY_EXIT_OK;
out:
    if (st != NULL)
        protobuf_c_message_free_unpacked(&st->base, NULL);
    if (cr != NULL)
        protobuf_c_message_free_unpacked(&cr->base, NULL);
    if (lr != NULL)
        protobuf_c_message_free_unpacked(&lr->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* ---- following a task ------------------------------------------------------------------------ */

typedef struct follow {
    ferry_tray_progress_t p;
    bool json;
    bool tty;
    int last_state;
    unsigned last_pct;
} follow_t;

static int on_status(const Ferry__V1__AgentStatus *st, void *user)
{
    follow_t *f = user;
    if (!ferry_tray_progress_feed(&f->p, st))
        return f->p.finished ? 1 : 0;
    char line[600], when[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    ferry_tray_progress_line(&f->p, line, sizeof(line));
    if (f->p.state != f->last_state || f->p.finished) {
        fprintf(stderr, "%s[%s] %s\n", f->tty ? "\r\033[K" : "", when, line);
        f->last_state = f->p.state;
        f->last_pct = f->p.percent;
    } else if (f->tty) {
        int pct = (int)(ferry_tray_progress_fraction(&f->p) * 100.0);
        fprintf(stderr, "\r\033[K[%s] %s (overall %d%%)", when, line, pct);
    } else if (f->p.percent >= f->last_pct + 25) {
        /* A log gets a line per quarter, not per percent. */
        fprintf(stderr, "[%s] %s\n", when, line);
        f->last_pct = f->p.percent;
    }
    return f->p.finished ? 1 : 0;
}

/* Follows |task_id| until it ends; returns the exit code and prints the result. */
static int follow_task(const char *cmd, const opts_t *o, const char *task_id)
{
    follow_t f = {.json = o->json, .tty = isatty(STDERR_FILENO) != 0};
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    int x = TRAY_EXIT_ERROR, retries = 0;
    ferry_tray_progress_init(&f.p, task_id);
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fprintf(stderr, "following task %s (Ctrl-C stops following; the update goes on)\n", task_id);
    while (!f.p.finished && !g_interrupted) {
        if (c == NULL && (c = ferry_tray_client_new(o->state_dir, &err)) == NULL) {
            if (++retries > 30)
                break;
            sleep(1);
            continue;
        }
        g_follow = c;
        if (ferry_tray_watch(c, on_status, &f, &err) != FERRY_OK && !g_interrupted) {
            /* The agent restarted (it resumes the task): watch again. */
            g_follow = NULL;
            ferry_tray_client_free(c);
            c = NULL;
            if (++retries > 30)
                break;
            sleep(1);
        }
    }
    g_follow = NULL;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    char line[600];
    ferry_tray_progress_line(&f.p, line, sizeof(line));
    if (!f.p.finished) {
        x = g_interrupted
                ? TRAY_EXIT_ERROR
                : report(cmd, o, err.code ? err.code : FERRY_E_UNAVAILABLE, "", err.msg, TRAY_EXIT_ERROR);
        if (g_interrupted)
            fprintf(stderr, "stopped following; task %s goes on in the agent (ferry-tray status)\n", task_id);
        goto out;
    }
    bool ok = f.p.state == 100 || (f.p.state == 130 && f.p.kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK);
    x = ok ? TRAY_EXIT_OK : TRAY_EXIT_TASK;
    if (o->json) {
        json_t *j =
            json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "taskId", f.p.task_id, "version", f.p.version,
                      "state", f.p.state, "stateName", ferry_state_name(f.p.state), "errorCode",
                      f.p.error_code, "message", f.p.message, "backupPath", f.p.backup_path, "succeeded", ok);
        print_json(j);
    } else {
        printf("task %s (%s): %s\n", f.p.task_id, f.p.version, line);
        if (f.p.backup_path[0])
            printf("backup: %s\n", f.p.backup_path);
    }
out:
    ferry_tray_client_free(c);
    return x;
}

/* ---- update now / defer ----------------------------------------------------------------------- */

static int cmd_update(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, O_UNTIL, 0};
    opts_t o = {0};
    char *pos[3];
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__StartManualUpdateResponse *mr = NULL;
    Ferry__V1__ListPendingUpdatesResponse *lr = NULL;
    Ferry__V1__RespondToPromptResponse *rr = NULL;
    char task[256] = "";
    int n = parse(argc, argv, "update", USAGE_UPDATE, allowed, &o, pos, 3);
    if (n < 0)
        return n == -1 ? TRAY_EXIT_OK : TRAY_EXIT_USAGE;
    if (n == 0 || (strcmp(pos[0], "now") != 0 && strcmp(pos[0], "defer") != 0)) {
        fputs(USAGE_UPDATE, stderr);
        return report("update", &o, FERRY_E_INVALID_ARG, "",
                      "expected 'now [TASK]' or 'defer TASK --until TIME'", TRAY_EXIT_USAGE);
    }
    if (strcmp(pos[0], "now") == 0) {
        if (n > 2 || o.until != NULL)
            return report("update now", &o, FERRY_E_INVALID_ARG, n > 2 ? "TASK" : "--until",
                          n > 2 ? "takes at most one TASK" : "--until belongs to 'update defer'",
                          TRAY_EXIT_USAGE);
        if ((c = connect_agent("update now", &o, &x)) == NULL)
            goto out;
        if (ferry_tray_update_now(c, n == 2 ? pos[1] : "", &mr, &err) != FERRY_OK) {
            x = report_err("update now", &o, &err, err.code == FERRY_E_NOT_FOUND ? "TASK" : "");
            goto out;
        }
        snprintf(task, sizeof(task), "%s", mr->task != NULL ? mr->task->id : "");
        fprintf(stderr, "update %s (%s) starts now\n", task,
                mr->task != NULL ? mr->task->package_version : "");
        ferry_tray_client_free(c);
        c = NULL;
        x = follow_task("update now", &o, task);
        goto out;
    }
    /* defer */
    if (n != 2)
        return report("update defer", &o, FERRY_E_INVALID_ARG, "TASK", "give exactly one TASK",
                      TRAY_EXIT_USAGE);
    if (o.until == NULL)
        return report("update defer", &o, FERRY_E_INVALID_ARG, "--until", "--until RFC3339 is required",
                      TRAY_EXIT_USAGE);
    int64_t until = 0, defer_s = 0, deadline = 0;
    if (ferry_tray_parse_rfc3339(o.until, "--until", &until, &err) != FERRY_OK)
        return report_err("update defer", &o, &err, "--until");
    if ((c = connect_agent("update defer", &o, &x)) == NULL)
        goto out;
    if (ferry_tray_list_updates(c, &lr, &err) != FERRY_OK) {
        x = report_err("update defer", &o, &err, "");
        goto out;
    }
    const Ferry__V1__PendingUpdate *u = NULL;
    for (size_t i = 0; i < lr->n_updates && u == NULL; i++)
        if (lr->updates[i]->task != NULL && strcmp(lr->updates[i]->task->id, pos[1]) == 0)
            u = lr->updates[i];
    if (u == NULL) {
        char m[400];
        snprintf(m, sizeof(m),
                 "TASK: no pending update '%.200s' on this node (ferry-tray updates lists them)", pos[1]);
        x = report("update defer", &o, FERRY_E_NOT_FOUND, "TASK", m, TRAY_EXIT_USAGE);
        goto out;
    }
    if (u->task->policy != FERRY__V1__RELEASE_POLICY__RELEASE_POLICY_OPTIONAL) {
        x = report("update defer", &o, FERRY_E_PRECONDITION, "TASK",
                   "TASK: a forced update cannot be deferred (only optional ones ask)", TRAY_EXIT_USAGE);
        goto out;
    }
    deadline = u->task->deadline != NULL ? u->task->deadline->seconds : 0;
    if (ferry_tray_defer_check(now_s(), deadline, until, &defer_s, &err) != FERRY_OK) {
        x = report_err("update defer", &o, &err, "--until");
        goto out;
    }
    if (ferry_tray_respond(c, pos[1], false, defer_s, &rr, &err) != FERRY_OK) {
        x = report_err("update defer", &o, &err, "TASK");
        goto out;
    }
    if (o.json) {
        print_json(
            json_pack("{s:o}", "update", rr->update != NULL ? proto_json(&rr->update->base) : json_object()));
    } else {
        char a[40], b[40];
        const Ferry__V1__PendingUpdate *r = rr->update;
        printf("deferred %s (%s) until %s", pos[1], u->task->package_version,
               r != NULL && r->deferred_until != NULL ? local_time(r->deferred_until->seconds, a, sizeof(a))
                                                      : local_time(until, a, sizeof(a)));
        if (deadline > 0)
            printf("; the deadline is %s (then it runs by itself)", local_time(deadline, b, sizeof(b)));
        printf("\n");
    }
    x = TRAY_EXIT_OK;
out:
    if (mr != NULL)
        protobuf_c_message_free_unpacked(&mr->base, NULL);
    if (lr != NULL)
        protobuf_c_message_free_unpacked(&lr->base, NULL);
    if (rr != NULL)
        protobuf_c_message_free_unpacked(&rr->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* ---- apply-offline ------------------------------------------------------------------------------ */

static int cmd_offline(int argc, char **argv)
{
    static const int allowed[] = {O_JSON, O_MANIFEST, 0};
    opts_t o = {0};
    char *pos[2];
    int x = TRAY_EXIT_ERROR;
    ferry_err_t err = {0};
    ferry_tray_client_t *c = NULL;
    Ferry__V1__ApplyOfflinePackageResponse *r = NULL;
    char task[256];
    int n = parse(argc, argv, "apply-offline", USAGE_OFFLINE, allowed, &o, pos, 1);
    if (n < 0)
        return n == -1 ? TRAY_EXIT_OK : TRAY_EXIT_USAGE;
    if (n != 1 || o.manifest == NULL) {
        fputs(USAGE_OFFLINE, stderr);
        return report("apply-offline", &o, FERRY_E_INVALID_ARG, n != 1 ? "PACKAGE" : "--manifest",
                      n != 1 ? "give the package zip" : "--manifest FILE is required", TRAY_EXIT_USAGE);
    }
    if ((c = connect_agent("apply-offline", &o, &x)) == NULL)
        goto out;
    if (ferry_tray_apply_offline(c, pos[0], o.manifest, &r, &err) != FERRY_OK) {
        /* Which input is to blame: the manifest for signature/expiry, the package for its digest. */
        const char *field = err.code == FERRY_E_SIGNATURE_INVALID || err.code == FERRY_E_MANIFEST_EXPIRED ||
                                    strstr(err.msg, "--manifest") != NULL
                                ? "--manifest"
                            : err.code == FERRY_E_HASH_MISMATCH || err.code == FERRY_E_PACKAGE_INVALID ||
                                    strstr(err.msg, "package:") != NULL
                                ? "PACKAGE"
                                : "";
        x = report("apply-offline", &o, err.code, field, err.msg,
                   err.code == FERRY_E_NOT_FOUND || err.code == FERRY_E_INVALID_ARG ? TRAY_EXIT_USAGE
                                                                                    : TRAY_EXIT_ERROR);
        goto out;
    }
    snprintf(task, sizeof(task), "%s", r->task != NULL ? r->task->id : "");
    fprintf(stderr, "package %s verified (signature, SHA-256); the agent applies it as task %s\n",
            r->task != NULL ? r->task->package_version : "", task);
    ferry_tray_client_free(c);
    c = NULL;
    x = follow_task("apply-offline", &o, task);
out:
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    ferry_tray_client_free(c);
    return x;
}

/* ---- dispatch ------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*fn)(int, char **);
} CMDS[] = {
    {"status", cmd_status},   {"bind", cmd_bind},     {"config", cmd_config},
    {"updates", cmd_updates}, {"update", cmd_update}, {"apply-offline", cmd_offline},
};

bool ferry_tray_cli_is_command(const char *word)
{
    for (size_t i = 0; word != NULL && i < sizeof(CMDS) / sizeof(CMDS[0]); i++)
        if (strcmp(word, CMDS[i].name) == 0)
            return true;
    return false;
}

int ferry_tray_cli_main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(CMDS) / sizeof(CMDS[0]); i++)
        if (strcmp(argv[0], CMDS[i].name) == 0)
            return CMDS[i].fn(argc, argv);
    fprintf(stderr, "ferry-tray: E_INVALID_ARG: unknown command '%s'\n%s", argv[0], FERRY_TRAY_USAGE);
    return TRAY_EXIT_USAGE;
}
