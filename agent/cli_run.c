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
enum { OPT_CONFIG = 1, OPT_VERSION = 2, OPT_SHA = 4, OPT_JSON = 8, OPT_PACKAGE = 16, OPT_HOOKS = 32 };

typedef struct args {
    const char *config;
    const char *version;
    const char *sha256;
    const char *package;
    const char *from;
    const char *task_id;      /**< --task-id: the journal id (a Failed one: new attempt) */
    const char *resume_after; /**< --resume-after: the new attempt's checkpoint hook */
    const char *sites[FERRY_HOOK_CTX_MAX];
    size_t n_sites;
    const char *skip[FERRY_HOOK_CTX_MAX];
    size_t n_skip;
    bool json, quiet, verbose, help;
} args_t;

static const char *const USAGE_APPLY =
    "usage: ferry-agent apply PACKAGE.zip --config CFG --version V [--sha256 HEX] [--site CODE]...\n"
    "                         [--from V0] [--skip-hook ID]... [--task-id ID [--resume-after HOOK_ID]]\n"
    "                         [--json] [-q] [-v]\n"
    "  Applies an update package: verify, stop the service, back up server dir, client dir and\n"
    "  database, install server.zip and client.zip, run 结构.sql then data.sql, start the service.\n"
    "  Any failure after the backup rolls everything back. Exits 0 only if the task Succeeded.\n"
    "  V is the package version, a.b.c.d(build), e.g. '1.25.12.13(12521)' (quote the parentheses).\n"
    "  Upgrade hooks (hooks.json, docs/hooks.md): --site CODE (repeatable) names this node's site\n"
    "  codes for site-specific hooks; --from V0 the installed version for version ranges (default:\n"
    "  the last version this agent installed); --skip-hook ID (repeatable) skips a hook. The\n"
    "  upgrade report is written under {stateDir}/reports/ (--json: key upgradeReport).\n"
    "  --task-id ID names the journal task (default: random); the id of a Failed apply of V starts\n"
    "  a new attempt of it, as the daemon does when the server retries a task (docs/agent.md):\n"
    "  hooks run again except pre_upgrade hooks that passed up to --resume-after HOOK_ID, and the\n"
    "  backup of an attempt whose rollback failed is reused.\n";
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
        {"config", required_argument, NULL, 'c'},
        {"version", required_argument, NULL, 'V'},
        {"sha256", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"site", required_argument, NULL, 'S'},
        {"from", required_argument, NULL, 'F'},
        {"skip-hook", required_argument, NULL, 'K'},
        {"task-id", required_argument, NULL, 'T'},
        {"resume-after", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
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
        case 'T':
        case 'R':
            if (!(allowed & OPT_HOOKS))
                goto bad_opt;
            if (c == 'T')
                a->task_id = optarg;
            else
                a->resume_after = optarg;
            break;
        case 'S':
        case 'K':
        case 'F':
            if (!(allowed & OPT_HOOKS))
                goto bad_opt;
            if (c == 'F') {
                a->from = optarg;
            } else if (c == 'S' ? a->n_sites >= FERRY_HOOK_CTX_MAX : a->n_skip >= FERRY_HOOK_CTX_MAX) {
                fprintf(stderr, "ferry-agent %s: at most %d --site and %d --skip-hook\n", argv[0],
                        FERRY_HOOK_CTX_MAX, FERRY_HOOK_CTX_MAX);
                return CLI_EXIT_USAGE;
            } else if (c == 'S') {
                a->sites[a->n_sites++] = optarg;
            } else {
                a->skip[a->n_skip++] = optarg;
            }
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

/*
 * After a Succeeded apply: the offline agent is the agent, so post_upgrade runs here, in
 * the foreground, once 100 is recorded. Its failure leaves the task Succeeded (seed 002:
 * never rolled back) and shows under postUpgrade. Also sets the report path.
 */
static void post_upgrade(const ferry_pipeline_opts_t *po, cli_out_t *o, const ferry_task_t *t,
                         ferry_err_code_t rc)
{
    ferry_err_t perr = {0};
    int ran = 0;
    if (t->task_id[0] == '\0')
        return;
    if (rc == FERRY_OK && t->state == FERRY_STATE_SUCCEEDED) {
        ferry_err_code_t prc = ferry_pipeline_post_upgrade(po, t->task_id, &ran, &perr);
        if (ran) {
            o->post_upgrade = prc == FERRY_OK ? "done" : "failed";
            if (prc != FERRY_OK) {
                snprintf(o->post_error, sizeof(o->post_error), "%s: %.500s", ferry_err_name(prc), perr.msg);
                fprintf(stderr, "ferry-agent: post_upgrade: %s\n", o->post_error);
            }
        } else if (prc != FERRY_OK) {
            fprintf(stderr, "ferry-agent: post_upgrade: %s\n", perr.msg);
        }
    }
    if (ferry_pipeline_report_path(po->cfg, t->task_id, o->report_path, sizeof(o->report_path), NULL) !=
            FERRY_OK ||
        !ferry_fs_exists(o->report_path))
        o->report_path[0] = '\0';
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
    int ex = parse(argc, argv, OPT_CONFIG | OPT_VERSION | OPT_SHA | OPT_JSON | OPT_PACKAGE | OPT_HOOKS,
                   USAGE_APPLY, &a);
    if (ex != 0)
        goto out;
    if ((ex = setup(&a, &o, &cfg, log_path, sizeof(log_path))) != 0)
        goto out;
    ferry_pipeline_opts_t po = {.cfg = cfg,
                                .on_event = cli_on_event,
                                .user = &o,
                                .agent_log = log_path,
                                .sites = a.sites,
                                .n_sites = a.n_sites,
                                .skip_hooks = a.skip,
                                .n_skip_hooks = a.n_skip,
                                .from_version = a.from,
                                .config_path = a.config,
                                .task_id = a.task_id,
                                .resume_checkpoint = a.resume_after};
    ferry_err_code_t rc = ferry_pipeline_apply(&po, a.package, a.version, a.sha256, &t, &err);
    post_upgrade(&po, &o, &t, rc);
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
    ferry_pipeline_opts_t po = {
        .cfg = cfg, .on_event = cli_on_event, .user = &o, .agent_log = log_path, .config_path = a.config};
    ferry_err_code_t rc = ferry_pipeline_resume(&po, &t, &found, &err);
    /* A post_upgrade phase left pending or interrupted is part of what resume finishes. */
    if (rc == FERRY_OK && t.task_id[0] != '\0') {
        char pending[FERRY_TASK_ID_LEN + 1];
        int have = 0;
        ferry_err_t perr = {0};
        if (ferry_pipeline_post_upgrade_pending(cfg, pending, sizeof(pending), &have, &perr) == FERRY_OK &&
            have && strcmp(pending, t.task_id) == 0)
            found = found ? found : 2;
        post_upgrade(&po, &o, &t, rc);
    }
    if (rc == FERRY_OK && !found) {
        if (!o.json)
            printf("nothing to resume\n");
        cli_print_result(&o, t.task_id[0] != '\0' ? &t : NULL, FERRY_OK, NULL);
        ex = CLI_EXIT_OK;
        goto out;
    }
    ex = finish(&o, &t, found != 0, rc, &err, FERRY_STATE_SUCCEEDED);
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
    if (found &&
        (ferry_pipeline_report_path(cfg, t.task_id, o.report_path, sizeof(o.report_path), NULL) != FERRY_OK ||
         !ferry_fs_exists(o.report_path)))
        o.report_path[0] = '\0';
    cli_print_status(&o, found ? &t : NULL, j);
    ex = CLI_EXIT_OK;
out:
    ferry_journal_close(j);
    ferry_node_config_free(cfg);
    return ex < 0 ? CLI_EXIT_OK : ex;
}
