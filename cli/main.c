/* `ferry`: the admin CLI. This file only dispatches `ferry GROUP VERB ...` to the
 * command tables of cmd_*.c and prints help; see cli.h and docs/cli.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fleet.h"

static const ferry_cli_group_t GROUPS[] = {
    {"customer", "customers (create, list, get, update, disable, enable)", ferry_cli_customer_cmds},
    {"store", "stores of a customer", ferry_cli_store_cmds},
    {"node", "nodes of a store; node tokens", ferry_cli_node_cmds},
    {"storage", "storage configuration, global and per customer", ferry_cli_storage_cmds},
    {"package", "upload, inspect and export packages", ferry_cli_package_cmds},
    {"release", "publish, watch, pause, resume, cancel, roll back releases", ferry_cli_release_cmds},
    {"task", "update tasks and their history", ferry_cli_task_cmds},
    {"report-file", "logs and diagnostic files uploaded by nodes", ferry_cli_report_file_cmds},
    {"node-config", "node configurations uploaded by trays (read-only)", ferry_cli_node_config_cmds},
    {"audit", "the audit log of admin actions", ferry_cli_audit_cmds},
    {"token", "admin tokens", ferry_cli_token_cmds},
    {"config", "the CLI's connection settings (alone or show); assign, status, diff of node configs",
     ferry_cli_config_cmds},
    {"license", "licences of nodes: create, list, renew, suspend, revoke", ferry_cli_license_cmds},
    /* two words: `ferry config template VERB` (see find_group2) */
    {"config template", "configuration templates: put, list, show, history", ferry_cli_config_template_cmds},
    {"server", "server health summary and backups", ferry_cli_server_cmds},
    {NULL, NULL, NULL},
};

/* Top-level commands without a verb (whoami, dashboard): verbs of ferry_cli_misc_cmds. */

static ferry_cli_t *g_cli;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_cli != NULL)
        g_cli->cancel = 1;
}

static void print_flag(FILE *f, const ferry_cli_flag_t *fl)
{
    char left[80];

    if (fl->kind == FERRY_CLI_FLAG_BOOL)
        snprintf(left, sizeof(left), "--%s", fl->name);
    else
        snprintf(left, sizeof(left), "--%s %s%s", fl->name, fl->metavar ? fl->metavar : "VALUE",
                 fl->kind == FERRY_CLI_FLAG_MULTI ? " ..." : "");
    fprintf(f, "  %-30s %s%s%s\n", left, fl->help ? fl->help : "", fl->required ? " (required)" : "",
            fl->kind == FERRY_CLI_FLAG_MULTI ? " (repeatable)" : "");
}

static void print_globals(FILE *f)
{
    fprintf(f,
            "\nGlobal flags (anywhere on the command line):\n"
            "  --server URL                   server base URL (env FERRY_SERVER)\n"
            "  --token TOKEN                  admin token (env FERRY_TOKEN; never printed)\n"
            "  --config FILE                  config file (default ~/.config/ferry/config.json)\n"
            "  --ca-file FILE                 PEM CA bundle for TLS (env FERRY_CA_FILE)\n"
            "  --pin-sha256 HEX               pin the server's public key (env FERRY_PIN_SHA256)\n"
            "  --timeout DURATION             per-call timeout, e.g. 30s (default), 2m (env FERRY_TIMEOUT)\n"
            "  --json                         print exactly one JSON object on stdout\n"
            "  --help                         show help\n");
}

static void print_main_help(FILE *f)
{
    fprintf(f, "ferry: the Ferry admin CLI\n\nUsage: ferry [global flags] COMMAND [SUBCOMMAND] [flags]\n\n"
               "Commands:\n");
    for (size_t i = 0; GROUPS[i].name; i++)
        fprintf(f, "  %-14s %s\n", GROUPS[i].name, GROUPS[i].summary);
    for (size_t i = 0; ferry_cli_misc_cmds[i].verb; i++)
        fprintf(f, "  %-14s %s\n", ferry_cli_misc_cmds[i].verb, ferry_cli_misc_cmds[i].summary);
    fprintf(f, "  %-14s %s\n", "help", "show help: ferry help [COMMAND [SUBCOMMAND]]");
    print_globals(f);
    fprintf(f, "\nExit codes: 0 ok, 1 other failure, 2 usage error, 3 server/RPC error,\n"
               "            4 authentication or permission error.\n"
               "Run 'ferry COMMAND --help' for the subcommands of a command.\n");
}

static void print_group_help(FILE *f, const ferry_cli_group_t *grp)
{
    fprintf(f, "ferry %s: %s\n\nUsage: ferry %s SUBCOMMAND [flags]\n\nSubcommands:\n", grp->name,
            grp->summary, grp->name);
    for (size_t i = 0; grp->cmds[i].verb; i++)
        fprintf(f, "  %-14s %s\n", grp->cmds[i].verb, grp->cmds[i].summary);
    fprintf(f, "\nRun 'ferry %s SUBCOMMAND --help' for details.\n", grp->name);
}

static void print_cmd_help(FILE *f, const char *group, const ferry_cli_cmd_t *cmd)
{
    bool any_req = false;

    fprintf(f, "ferry %s%s%s: %s\n\nUsage: ferry %s%s%s", group ? group : "", group ? " " : "", cmd->verb,
            cmd->summary, group ? group : "", group ? " " : "", cmd->verb);
    if (cmd->positional)
        fprintf(f, " %s", cmd->positional);
    for (size_t i = 0; cmd->flags && cmd->flags[i].name; i++)
        if (cmd->flags[i].required) {
            fprintf(f, " --%s %s", cmd->flags[i].name, cmd->flags[i].metavar ? cmd->flags[i].metavar : "");
            any_req = true;
        }
    fprintf(f, " [flags]\n");
    (void)any_req;
    if (cmd->details)
        fprintf(f, "\n%s\n", cmd->details);
    if (cmd->flags && cmd->flags[0].name) {
        fprintf(f, "\nFlags:\n");
        for (size_t i = 0; cmd->flags[i].name; i++)
            print_flag(f, &cmd->flags[i]);
    }
    print_globals(f);
}

static const ferry_cli_group_t *find_group(const char *name)
{
    for (size_t i = 0; GROUPS[i].name; i++)
        if (strcmp(GROUPS[i].name, name) == 0)
            return &GROUPS[i];
    return NULL;
}

static const ferry_cli_cmd_t *find_cmd(const ferry_cli_cmd_t *cmds, const char *verb)
{
    for (size_t i = 0; cmds[i].verb; i++)
        if (strcmp(cmds[i].verb, verb) == 0)
            return &cmds[i];
    return NULL;
}

/* `ferry help [GROUP [VERB]]`. */
static int run_help(ferry_cli_t *cli, int argc, char **argv)
{
    const ferry_cli_group_t *grp;
    const ferry_cli_cmd_t *cmd;

    if (argc == 0) {
        print_main_help(cli->out);
        return FERRY_CLI_EXIT_OK;
    }
    if ((cmd = find_cmd(ferry_cli_misc_cmds, argv[0])) != NULL) {
        print_cmd_help(cli->out, NULL, cmd);
        return FERRY_CLI_EXIT_OK;
    }
    if ((grp = find_group(argv[0])) == NULL)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown command '%s'", argv[0]);
    if (argc == 1) {
        print_group_help(cli->out, grp);
        return FERRY_CLI_EXIT_OK;
    }
    if ((cmd = find_cmd(grp->cmds, argv[1])) == NULL)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown subcommand '%s %s'", grp->name,
                              argv[1]);
    print_cmd_help(cli->out, grp->name, cmd);
    return FERRY_CLI_EXIT_OK;
}

static int run_cmd(ferry_cli_t *cli, const char *group, const ferry_cli_cmd_t *cmd, int argc, char **argv)
{
    ferry_cli_args_t *args = NULL;
    ferry_err_t err = {0};
    int rc;

    args = calloc(1, sizeof(*args));
    if (args == NULL) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, "E_NOMEM", "out of memory");
        goto out;
    }
    if (ferry_cli_parse(argc, argv, cmd->flags, cmd->n_pos, args, &cli->g, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "%s", err.msg);
        goto out;
    }
    if (cli->g.help) {
        print_cmd_help(cli->out, group, cmd);
        rc = FERRY_CLI_EXIT_OK;
        goto out;
    }
    if (args->n_pos != cmd->n_pos) {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "ferry %s%s%s needs %s", group ? group : "",
                            group ? " " : "", cmd->verb, cmd->positional ? cmd->positional : "no arguments");
        goto out;
    }
    if (ferry_cli_config_resolve(&cli->g, getenv, &cli->cfg, &err) != FERRY_OK) {
        rc = ferry_cli_fail(cli, err.code == FERRY_E_PERMISSION ? FERRY_CLI_EXIT_OTHER : FERRY_CLI_EXIT_USAGE,
                            ferry_err_name(err.code), "%s", err.msg);
        goto out;
    }
    if (cli->cfg.warning[0] != '\0')
        fprintf(cli->errf, "ferry: warning: %s\n", cli->cfg.warning);
    if (!cmd->offline && (rc = ferry_cli_connect(cli)) != FERRY_CLI_EXIT_OK)
        goto out;
    rc = cmd->run(cli, args);
out:
    free(args);
    return rc;
}

int main(int argc, char **argv)
{
    ferry_cli_t cli;
    ferry_err_t err = {0};
    struct sigaction sa;
    const ferry_cli_group_t *grp;
    const ferry_cli_cmd_t *cmd;
    int i, rc;

    memset(&cli, 0, sizeof(cli));
    cli.out = stdout;
    cli.errf = stderr;
    cli.tty = isatty(STDERR_FILENO) == 1;
    cli.out_tty = isatty(STDOUT_FILENO) == 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--json") == 0)
            cli.g.json = true;
    }
    g_cli = &cli;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills */
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    argc--;
    argv++;
    i = ferry_cli_parse_leading_globals(argc, argv, &cli.g, &err);
    if (i < 0) {
        rc = ferry_cli_fail(&cli, FERRY_CLI_EXIT_USAGE, NULL, "%s", err.msg);
        goto out;
    }
    if (i >= argc) {
        if (cli.g.help) {
            print_main_help(cli.out);
            rc = FERRY_CLI_EXIT_OK;
        } else {
            print_main_help(cli.errf);
            rc = FERRY_CLI_EXIT_USAGE;
        }
        goto out;
    }
    if (strcmp(argv[i], "help") == 0) {
        rc = run_help(&cli, argc - i - 1, argv + i + 1);
        goto out;
    }
    if ((cmd = find_cmd(ferry_cli_misc_cmds, argv[i])) != NULL) {
        rc = run_cmd(&cli, NULL, cmd, argc - i - 1, argv + i + 1);
        goto out;
    }
    if ((grp = find_group(argv[i])) == NULL) {
        rc = ferry_cli_fail(&cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown command '%s'", argv[i]);
        goto out;
    }
    i++;
    /* A two-word group ("config template") before the verb. */
    if (i < argc && argv[i][0] != '-') {
        char two[64];
        const ferry_cli_group_t *sub;
        snprintf(two, sizeof(two), "%s %s", grp->name, argv[i]);
        if ((sub = find_group(two)) != NULL) {
            grp = sub;
            i++;
        }
    }
    {
        int j = ferry_cli_parse_leading_globals(argc - i, argv + i, &cli.g, &err);
        if (j < 0) {
            rc = ferry_cli_fail(&cli, FERRY_CLI_EXIT_USAGE, NULL, "%s", err.msg);
            goto out;
        }
        i += j;
    }
    /* `ferry config` alone shows the connection settings, as it always did. */
    if (strcmp(grp->name, "config") == 0 &&
        (i >= argc || (argv[i][0] == '-' && strcmp(argv[i], "--help") != 0)) && !cli.g.help) {
        rc = run_cmd(&cli, grp->name, find_cmd(grp->cmds, "show"), argc - i, argv + i);
        goto out;
    }
    if (i >= argc || argv[i][0] == '-') {
        if (cli.g.help || (i < argc && strcmp(argv[i], "--help") == 0)) {
            print_group_help(cli.out, grp);
            rc = FERRY_CLI_EXIT_OK;
        } else if (cli.g.json) {
            rc = ferry_cli_fail(&cli, FERRY_CLI_EXIT_USAGE, NULL, "ferry %s needs a subcommand", grp->name);
        } else {
            print_group_help(cli.errf, grp);
            rc = FERRY_CLI_EXIT_USAGE;
        }
        goto out;
    }
    if ((cmd = find_cmd(grp->cmds, argv[i])) == NULL) {
        rc = ferry_cli_fail(&cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown subcommand '%s %s'", grp->name,
                            argv[i]);
        goto out;
    }
    rc = run_cmd(&cli, grp->name, cmd, argc - i - 1, argv + i + 1);
out:
    fflush(cli.out);
    if (cli.client != NULL)
        ferry_rpc_client_free(cli.client);
    g_cli = NULL;
    return rc;
}
