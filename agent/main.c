/*
 * ferry-agent: the node agent. For now the offline front end of the update engine:
 * apply a local package, resume an interrupted task, roll back from a backup, show
 * the journal. The daemon mode (watch ferryd, report) joins later.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char USAGE[] =
    "usage: ferry-agent COMMAND [OPTIONS]\n"
    "commands:\n"
    "  apply PACKAGE.zip --config CFG --version V [--sha256 HEX] [--json]\n"
    "                         apply an update package (backup, install, SQL, start; rollback on failure)\n"
    "  resume --config CFG [--json]\n"
    "                         finish or roll back a task interrupted by a crash or reboot\n"
    "  rollback --version V --config CFG [--json]\n"
    "                         restore the backup taken before version V was installed\n"
    "  status --config CFG [--json]\n"
    "                         show the active or latest task and its history\n"
    "common options: -q/--quiet (no progress), -v/--verbose (debug log), -h/--help\n"
    "exit codes: 0 done as asked, 1 task failed or rolled back, 2 usage, 3 could not run\n";

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"apply", cli_apply},
        {"resume", cli_resume},
        {"rollback", cli_rollback},
        {"status", cli_status},
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
