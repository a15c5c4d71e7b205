/*
 * ferry-agent bind | run | status (daemon side). The offline commands are in cli_run.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentd.h"
#include "cli.h"
#include "ferry/model/states.h"
#include "ferry/fs.h"
#include "ferry/json.h"
#include "ferry/log.h"
#include "ferry/v1/local.ferry-client.h"

#define DEFAULT_STATE_DIR "/var/lib/ferry-agent"

static const char USAGE_BIND[] =
    "usage: ferry-agent bind --server URL --node CODE --env DEV|TEST|UAT|PROD --token-file FILE|-\n"
    "                        [--state-dir DIR] [--ca FILE] [--pin SHA256]\n"
    "  Binds this machine to its node on ferryd (AgentService.Bind) and stores the binding and\n"
    "  the server's signing keys (pinned from now on) in the state dir (default " DEFAULT_STATE_DIR "),\n"
    "  and the token in {state-dir}/token (0600). The token is read from FILE or stdin ('-'),\n"
    "  never from the command line. A wrong token prints E_AUTH_INVALID and stores nothing.\n"
    "  If the daemon is running, restart it (or bind through the tray) to use the new binding.\n";
static const char USAGE_RUN[] =
    "usage: ferry-agent run [--state-dir DIR] [--config node-config.json] [--local-port N] [-v]\n"
    "  Runs the agent in the foreground: watches ferryd for work (stream, CheckIn polling when it\n"
    "  is down), downloads and verifies packages, applies them, reports every step. Logs one line\n"
    "  per event to stderr. SIGTERM/SIGINT stop it between two steps; an interrupted update resumes\n"
    "  at the next start. --config defaults to {state-dir}/node-config.json.\n";
static const char USAGE_STATUS[] =
    "usage: ferry-agent status [--state-dir DIR] [--json]\n"
    "  Asks the running daemon (LocalService.GetStatus): binding, link to the server, installed\n"
    "  version, current task and progress, buffered reports.\n"
    "  (ferry-agent status --config CFG shows the engine's journal without a daemon.)\n";

static int read_token(const char *src, char *out, size_t size)
{
    FILE *f = strcmp(src, "-") == 0 ? stdin : fopen(src, "r");
    size_t n = 0;
    if (f == NULL) {
        fprintf(stderr, "ferry-agent bind: cannot read token file '%s'\n", src);
        return -1;
    }
    n = fread(out, 1, size - 1, f);
    if (f != stdin)
        fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = '\0';
    if (n == 0) {
        fprintf(stderr, "ferry-agent bind: the token in '%s' is empty\n", src);
        return -1;
    }
    return 0;
}

int cli_bind(int argc, char **argv)
{
    static const struct option longs[] = {
        {"server", required_argument, NULL, 's'},
        {"node", required_argument, NULL, 'n'},
        {"env", required_argument, NULL, 'e'},
        {"token-file", required_argument, NULL, 't'},
        {"state-dir", required_argument, NULL, 'd'},
        {"ca", required_argument, NULL, 'c'},
        {"pin", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *node = NULL, *env = NULL, *tokf = NULL, *dir = DEFAULT_STATE_DIR, *ca = NULL,
               *pin = NULL;
    bool json = false;
    int c;
    char token[AGENTD_TOKEN_MAX + 2];
    ferry_err_t err = {0};
    agentd_binding_t b;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'n':
            node = optarg;
            break;
        case 'e':
            env = optarg;
            break;
        case 't':
            tokf = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'c':
            ca = optarg;
            break;
        case 'p':
            pin = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(USAGE_BIND, stdout);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "ferry-agent bind: unknown or incomplete option '%s'\n%s", argv[optind - 1],
                    USAGE_BIND);
            return CLI_EXIT_USAGE;
        }
    }
    if (server == NULL || node == NULL || env == NULL || tokf == NULL) {
        fprintf(stderr, "ferry-agent bind: --server, --node, --env and --token-file are required\n%s",
                USAGE_BIND);
        return CLI_EXIT_USAGE;
    }
    int e = agentd_env_parse(env);
    if (e == 0) {
        fprintf(stderr, "ferry-agent bind: --env '%s' is not one of DEV, TEST, UAT, PROD\n", env);
        return CLI_EXIT_USAGE;
    }
    if (read_token(tokf, token, sizeof(token)) != 0)
        return CLI_EXIT_USAGE;
    ferry_err_code_t rc = agentd_bind(dir, server, node, e, token, ca, pin, &b, &err);
    explicit_bzero(token, sizeof(token));
    if (rc != FERRY_OK) {
        char msg[FERRY_ERR_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", err.msg);
        ferry_log_mask_secrets(msg);
        fprintf(stderr, "ferry-agent bind: %s: %s\n", ferry_err_name(rc), msg);
        return rc == FERRY_E_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
    }
    if (json)
        printf("{\"nodeCode\":\"%s\",\"customerCode\":\"%s\",\"storeCode\":\"%s\",\"environment\":\"%s\","
               "\"serverUrl\":\"%s\",\"signingKeys\":%zu,\"stateDir\":\"%s\"}\n",
               b.node_code, b.customer_code, b.store_code, agentd_env_name(b.environment), b.server_url,
               b.n_keys, dir);
    else
        printf("bound to %s as node %s (%s / %s, %s); %zu signing key(s) pinned; state in %s\n", b.server_url,
               b.node_code, b.customer_code, b.store_code, agentd_env_name(b.environment), b.n_keys, dir);
    return CLI_EXIT_OK;
}

int cli_run_daemon(int argc, char **argv)
{
    static const struct option longs[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"config", required_argument, NULL, 'c'},
        {"local-port", required_argument, NULL, 'l'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    agentd_opts_t o = {.state_dir = DEFAULT_STATE_DIR};
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "vh", longs, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.state_dir = optarg;
            break;
        case 'c':
            o.config_path = optarg;
            break;
        case 'l':
            o.local_port = atoi(optarg);
            break;
        case 'v':
            ferry_log_set_level(FERRY_LOG_DEBUG);
            break;
        case 'h':
            fputs(USAGE_RUN, stdout);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "ferry-agent run: unknown or incomplete option '%s'\n%s", argv[optind - 1],
                    USAGE_RUN);
            return CLI_EXIT_USAGE;
        }
    }
    return agentd_run(&o);
}

/* Reads local.json's URL and local.secret. */
static int local_endpoint(const char *dir, char *url, size_t url_size, char *secret, size_t secret_size)
{
    char p[1024];
    char *text = NULL;
    size_t len = 0;
    ferry_err_t err = {0};
    snprintf(p, sizeof(p), "%s/local.json", dir);
    if (ferry_fs_read_file(p, 4096, &text, &len, &err) != FERRY_OK) {
        fprintf(stderr, "ferry-agent status: the daemon is not running (no %s)\n", p);
        return -1;
    }
    const char *u = strstr(text, "\"url\"");
    const char *q = u != NULL ? strchr(u + 5, '"') : NULL;
    const char *e = q != NULL ? strchr(q + 1, '"') : NULL;
    if (e == NULL || (size_t)(e - q - 1) >= url_size) {
        fprintf(stderr, "ferry-agent status: %s is unreadable\n", p);
        free(text);
        return -1;
    }
    memcpy(url, q + 1, (size_t)(e - q - 1));
    url[e - q - 1] = '\0';
    free(text);
    text = NULL;
    snprintf(p, sizeof(p), "%s/local.secret", dir);
    if (ferry_fs_read_file(p, 256, &text, &len, &err) != FERRY_OK || len == 0 || len >= secret_size) {
        fprintf(stderr, "ferry-agent status: cannot read %s (run as the agent's user or root)\n", p);
        free(text);
        return -1;
    }
    memcpy(secret, text, len);
    secret[len] = '\0';
    explicit_bzero(text, len);
    free(text);
    return 0;
}

static const char *link_name(int l)
{
    switch (l) {
    case 1:
        return "not bound";
    case 2:
        return "streaming";
    case 3:
        return "polling";
    case 4:
        return "offline";
    case 5:
        return "auth failed (bind again)";
    default:
        return "unknown";
    }
}

static void print_ago(const Google__Protobuf__Timestamp *t)
{
    if (t == NULL) {
        printf("never\n");
        return;
    }
    long long ago = (long long)time(NULL) - (long long)t->seconds;
    printf("%llds ago\n", ago < 0 ? 0 : ago);
}

int cli_daemon_status(int argc, char **argv)
{
    static const struct option longs[] = {
        {"state-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = DEFAULT_STATE_DIR;
    bool json = false;
    int c, ret = CLI_EXIT_ERROR;
    char url[256], secret[128];
    ferry_err_t err = {0};
    ferry_rpc_client_t *cl = NULL;
    Ferry__V1__GetStatusRequest req = FERRY__V1__GET_STATUS_REQUEST__INIT;
    Ferry__V1__GetStatusResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(USAGE_STATUS, stdout);
            return CLI_EXIT_OK;
        default:
            fprintf(stderr, "ferry-agent status: unknown or incomplete option '%s'\n%s", argv[optind - 1],
                    USAGE_STATUS);
            return CLI_EXIT_USAGE;
        }
    }
    if (local_endpoint(dir, url, sizeof(url), secret, sizeof(secret)) != 0)
        return CLI_EXIT_ERROR;
    ferry_rpc_client_config_t cc = {.base_url = url,
                                    .bearer_token = secret,
                                    .default_timeout_ms = 5000,
                                    .http_version = FERRY_RPC_HTTP_1_1};
    if ((cl = ferry_rpc_client_new(&cc, &err)) == NULL) {
        fprintf(stderr, "ferry-agent status: %s\n", err.msg);
        goto out;
    }
    if (ferry_v1_local_service_get_status(cl, &req, &resp, NULL, &st) != FERRY_RPC_OK) {
        fprintf(stderr, "ferry-agent status: %s%s%s (is the daemon running?)\n", st.app_code,
                st.app_code[0] ? ": " : "", st.message);
        goto out;
    }
    const Ferry__V1__AgentStatus *s = resp->status;
    if (s == NULL)
        goto out;
    if (json) {
        char *text = NULL;
        if (ferry_json_encode(&s->base, 0, &text, NULL, &err) != FERRY_OK) {
            fprintf(stderr, "ferry-agent status: %s\n", err.msg);
            goto out;
        }
        printf("%s\n", text);
        free(text);
    } else {
        if (s->bound)
            printf("binding:    node %s (%s / %s, %s) on %s\n", s->node_code, s->customer_code, s->store_code,
                   agentd_env_name((int)s->environment), s->server_url);
        else
            printf("binding:    not bound (ferry-agent bind ...)\n");
        printf("link:       %s%s%s\n", link_name((int)s->link), s->last_error[0] ? " - " : "", s->last_error);
        printf("contact:    ");
        print_ago(s->last_contact_at);
        printf("agent:      %s\n", s->agent_version);
        printf("installed:  %s\n", s->installed_version[0] ? s->installed_version : "(unknown)");
        if (s->current_task != NULL)
            printf("task:       %s %s: state %d %s, %u%%%s%s\n", s->current_task->id,
                   s->current_task->package_version, (int)s->current_task->state,
                   ferry_state_name((int)s->current_task->state), s->current_task->percent,
                   s->current_task->message[0] ? " - " : "", s->current_task->message);
        else
            printf("task:       idle\n");
        printf("pending:    %u update(s)%s\n", s->pending_count,
               s->prompt_waiting ? ", one waits for your answer" : "");
        printf("reports:    %u buffered\n", s->buffered_reports);
        printf("config:     version %lld\n", (long long)s->node_config_version);
    }
    ret = CLI_EXIT_OK;
out:
    explicit_bzero(secret, sizeof(secret));
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(cl);
    return ret;
}
