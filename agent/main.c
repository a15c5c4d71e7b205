/*
 * ferry-agent: the node agent. `bind` and `run` make it the long-running daemon that
 * watches ferryd and applies releases by itself (agent/daemon); `apply`, `resume`,
 * `rollback` and `status --config` drive the update engine offline.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: ferry-agent COMMAND [OPTIONS]\n"
    "commands:\n"
    "  bind --server URL --node CODE --env ENV --token-file FILE|- [--state-dir DIR] [--ca F] [--pin SHA]\n"
    "                         bind this machine to its node on ferryd (token stored 0600)\n"
    "  run [--state-dir DIR] [--config CFG]\n"
    "                         run the daemon in the foreground (watch, download, verify, apply, report)\n"
    "  status [--state-dir DIR] [--json]\n"
    "                         ask the running daemon: binding, link, installed version, task, reports\n"
    "  apply PACKAGE.zip --config CFG --version V [--sha256 HEX] [--json]\n"
    "                         apply an update package (backup, install, SQL, start; rollback on failure)\n"
    "  resume --config CFG [--json]\n"
    "                         finish or roll back a task interrupted by a crash or reboot\n"
    "  rollback --version V --config CFG [--json]\n"
    "                         restore the backup taken before version V was installed\n"
    "  status --config CFG [--json]\n"
    "                         show the engine journal's active or latest task (no daemon needed)\n"
    "common options: -q/--quiet (no progress), -v/--verbose (debug log), -h/--help\n"
    "exit codes: 0 done as asked, 1 task failed or rolled back, 2 usage, 3 could not run\n";

/* `status --config CFG` reads the engine journal; `status` alone asks the daemon. */
static int cli_status_any(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0 ||
            strcmp(argv[i], "-c") == 0)
            return cli_status(argc, argv);
    return cli_daemon_status(argc, argv);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"apply", cli_apply},       {"resume", cli_resume}, {"rollback", cli_rollback},
        {"status", cli_status_any}, {"bind", cli_bind},     {"run", cli_run_daemon},
    };
    if (argc < 2) {
        fputs(USAGE, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(USAGE, stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "ferry-agent: unknown command '%s'\n%s", argv[1], USAGE);
    return CLI_EXIT_USAGE;
}
