#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/engine/config.h"
#include "ferry/engine/journal.h"
#include "ferry/engine/pipeline.h"
#include "ferry/fs.h"
#include "ferry/log.h"

/* Options a subcommand accepts. */
enum { OPT_CONFIG = 1, OPT_VERSION = 2, OPT_SHA = 4, OPT_JSON = 8, OPT_PACKAGE = 16 };

typedef struct args {
    const char *config;
    const char *version;
    const char *sha256;
    const char *package;
    bool json, quiet, verbose, help;
} args_t;

static const char *const USAGE_APPLY =
    "usage: ferry-agent apply PACKAGE.zip --config CFG --version V [--sha256 HEX] [--json] [-q] [-v]\n"
    "  Applies an update package: verify, stop the service, back up server dir, client dir and\n"
    "  database, install server.zip and client.zip, run 结构.sql then data.sql, start the service.\n"
    "  Any failure after the backup rolls everything back. Exits 0 only if the task Succeeded.\n"
    "  V is the package version, a.b.c.d(build), e.g. '1.25.12.13(12521)' (quote the parentheses).\n";
static const char *const USAGE_RESUME =
    "usage: ferry-agent resume --config CFG [--json] [-q] [-v]\n"
    "  Finishes or rolls back a task interrupted by a crash or reboot. Exits 0 when there is\n"
    "  nothing to resume or the resumed task Succeeded.\n";
static const char *const USAGE_ROLLBACK =
    "usage: ferry-agent rollback --version V --config CFG [--json] [-q] [-v]\n"
    "  Restores server dir, client dir and database from the backup taken before version V\n"
    "  was installed. Exits 0 if the task ended Rollbacked.\n";
static const char *const USAGE_STATUS = "usage: ferry-agent status --config CFG [--json]\n"
                                        "  Shows the active task, or the latest one, with its history.\n";

static int parse(int argc, char **argv, unsigned allowed, const char *usage, args_t *a)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'}, {"version", required_argument, NULL, 'V'},
        {"sha256", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof(*a));
    optind = 0; /* 0: glibc fully re-initialises getopt (permutation state included) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:V:s:jqvh", longs, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'V':
            if (!(allowed & OPT_VERSION))
                goto bad_opt;
            a->version = optarg;
            break;
        case 's':
            if (!(allowed & OPT_SHA))
                goto bad_opt;
            a->sha256 = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'h':
            a->help = true;
            break;
        default:
        bad_opt:
            fprintf(stderr, "ferry-agent %s: unknown or incomplete option '%s'\n%s", argv[0],
                    argv[optind - 1], usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (a->help) {
        fputs(usage, stdout);
        return -1;
    }
    if (allowed & OPT_PACKAGE) {
        /* GNU getopt moved the operands to the end, so options may follow the package. */
        if (optind < argc)
            a->package = argv[optind++];
        if (a->package == NULL) {
            fprintf(stderr, "ferry-agent %s: missing PACKAGE.zip\n%s", argv[0], usage);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferry-agent %s: unexpected argument '%s'\n%s", argv[0], argv[optind], usage);
        return CLI_EXIT_USAGE;
    }
    if (a->config == NULL) {
        fprintf(stderr, "ferry-agent %s: --config is required\n%s", argv[0], usage);
        return CLI_EXIT_USAGE;
    }
    if ((allowed & OPT_VERSION) && a->version == NULL) {
        fprintf(stderr, "ferry-agent %s: --version is required\n%s", argv[0], usage);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Loads the config and sets up logging to {stateDir}/agent.log. */
static int setup(const args_t *a, cli_out_t *o, ferry_node_config_t **cfg, char *log_path, size_t log_size)
{
    ferry_err_t err = {0};
    o->json = a->json;
    o->quiet = a->quiet;
    o->tty = isatty(STDERR_FILENO) != 0;
    o->last_state = -1;
    ferry_log_set_ident("ferry-agent");
    if (getenv("FERRY_LOG_LEVEL") == NULL)
        ferry_log_set_level(a->verbose ? FERRY_LOG_DEBUG : FERRY_LOG_WARN);
    if (ferry_node_config_load(a->config, cfg, &err) != FERRY_OK) {
        cli_print_result(o, NULL, err.code, &err);
        return CLI_EXIT_ERROR;
    }
    log_path[0] = '\0';
    if (ferry_fs_mkdir_p((*cfg)->state_dir, 0700, &err) == FERRY_OK &&
        ferry_fs_join(log_path, log_size, (*cfg)->state_dir, "agent.log") == FERRY_OK &&
        ferry_log_set_file(log_path) != 0)
        log_path[0] = '\0';
    return 0;
}

static int finish(const cli_out_t *o, const ferry_task_t *t, bool ran, ferry_err_code_t rc,
                  const ferry_err_t *err, ferry_state_t want)
{
    cli_print_result(o, ran ? t : NULL, rc, err);
    if (rc == FERRY_E_VERSION_INVALID)
        return CLI_EXIT_USAGE;
    if (rc != FERRY_OK)
        return ran && ferry_state_is_terminal(t->state) ? CLI_EXIT_TASK : CLI_EXIT_ERROR;
    return t->state == want ? CLI_EXIT_OK : CLI_EXIT_TASK;
}

int cli_apply(int argc, char **argv)
{
    args_t a;
    cli_out_t o = {0};
    ferry_node_config_t *cfg = NULL;
    ferry_task_t t;
    ferry_err_t err = {0};
    char log_path[PATH_MAX];
    int ex = parse(argc, argv, OPT_CONFIG | OPT_VERSION | OPT_SHA | OPT_JSON | OPT_PACKAGE, USAGE_APPLY, &a);
    if (ex != 0)
        goto out;
    if ((ex = setup(&a, &o, &cfg, log_path, sizeof(log_path))) != 0)
        goto out;
    ferry_pipeline_opts_t po = {.cfg = cfg, .on_event = cli_on_event, .user = &o, .agent_log = log_path};
    ferry_err_code_t rc = ferry_pipeline_apply(&po, a.package, a.version, a.sha256, &t, &err);
    ex = finish(&o, &t, t.task_id[0] != '\0', rc, &err, FERRY_STATE_SUCCEEDED);
out:
    ferry_node_config_free(cfg);
    ferry_log_set_file(NULL);
    return ex < 0 ? CLI_EXIT_OK : ex;
}

int cli_resume(int argc, char **argv)
{
    args_t a;
    cli_out_t o = {0};
    ferry_node_config_t *cfg = NULL;
    ferry_task_t t;
    ferry_err_t err = {0};
    char log_path[PATH_MAX];
    int found = 0;
    int ex = parse(argc, argv, OPT_CONFIG | OPT_JSON, USAGE_RESUME, &a);
    if (ex != 0)
        goto out;
    if ((ex = setup(&a, &o, &cfg, log_path, sizeof(log_path))) != 0)
        goto out;
    ferry_pipeline_opts_t po = {.cfg = cfg, .on_event = cli_on_event, .user = &o, .agent_log = log_path};
    ferry_err_code_t rc = ferry_pipeline_resume(&po, &t, &found, &err);
    if (rc == FERRY_OK && !found) {
        if (!o.json)
            printf("nothing to resume\n");
        cli_print_result(&o, t.task_id[0] != '\0' ? &t : NULL, FERRY_OK, NULL);
        ex = CLI_EXIT_OK;
        goto out;
    }
    ex = finish(&o, &t, found, rc, &err, FERRY_STATE_SUCCEEDED);
out:
    ferry_node_config_free(cfg);
    ferry_log_set_file(NULL);
    return ex < 0 ? CLI_EXIT_OK : ex;
}

int cli_rollback(int argc, char **argv)
{
    args_t a;
    cli_out_t o = {0};
    ferry_node_config_t *cfg = NULL;
    ferry_task_t t;
    ferry_err_t err = {0};
    char log_path[PATH_MAX];
    int ex = parse(argc, argv, OPT_CONFIG | OPT_VERSION | OPT_JSON, USAGE_ROLLBACK, &a);
    if (ex != 0)
        goto out;
    if ((ex = setup(&a, &o, &cfg, log_path, sizeof(log_path))) != 0)
        goto out;
    ferry_pipeline_opts_t po = {.cfg = cfg, .on_event = cli_on_event, .user = &o, .agent_log = log_path};
    ferry_err_code_t rc = ferry_pipeline_rollback(&po, a.version, &t, &err);
    ex = finish(&o, &t, t.task_id[0] != '\0', rc, &err, FERRY_STATE_ROLLBACKED);
out:
    ferry_node_config_free(cfg);
    ferry_log_set_file(NULL);
    return ex < 0 ? CLI_EXIT_OK : ex;
}

int cli_status(int argc, char **argv)
{
    args_t a;
    cli_out_t o = {0};
    ferry_node_config_t *cfg = NULL;
    ferry_journal_t *j = NULL;
    ferry_task_t t;
    ferry_err_t err = {0};
    int found = 0;
    int ex = parse(argc, argv, OPT_CONFIG | OPT_JSON, USAGE_STATUS, &a);
    if (ex != 0)
        goto out;
    o.json = a.json;
    if (ferry_node_config_load(a.config, &cfg, &err) != FERRY_OK ||
        ferry_journal_open(cfg->state_dir, &j, &err) != FERRY_OK ||
        ferry_journal_active(j, &t, &found, &err) != FERRY_OK ||
        (!found && ferry_journal_latest(j, &t, &found, &err) != FERRY_OK)) {
        cli_print_result(&o, NULL, err.code, &err);
        ex = CLI_EXIT_ERROR;
        goto out;
    }
    cli_print_status(&o, found ? &t : NULL, j);
    ex = CLI_EXIT_OK;
out:
    ferry_journal_close(j);
    ferry_node_config_free(cfg);
    return ex < 0 ? CLI_EXIT_OK : ex;
}
