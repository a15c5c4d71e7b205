/**
 * @file cli.h
 * ferry-tray's terminal mode (headless servers): the same presenter as the windows.
 *
 *   ferry-tray status [--json]
 *   ferry-tray bind --server URL --node CODE --env ENV --token-file F|- [--ca FILE] [--pin SHA256]
 *   ferry-tray config show [--json]
 *   ferry-tray config set KEY=VALUE... [--no-upload]
 *   ferry-tray updates [--json]
 *   ferry-tray update now [TASK]
 *   ferry-tray update defer TASK --until RFC3339
 *   ferry-tray apply-offline PACKAGE.zip --manifest FILE
 *
 * Every command takes --state-dir DIR (default /var/lib/ferry-agent) and --help.
 *
 * Exit codes: 0 done; 1 the update ran and ended otherwise (110 Failed, 130 Rollbacked);
 * 2 bad input (usage, invalid value: nothing was changed); 3 the agent is unreachable or
 * refused (the E_* code is printed).
 */
#ifndef FERRY_TRAY_CLI_H
#define FERRY_TRAY_CLI_H

#include <stdbool.h>

enum { TRAY_EXIT_OK = 0, TRAY_EXIT_TASK = 1, TRAY_EXIT_USAGE = 2, TRAY_EXIT_ERROR = 3 };

/** Whether |word| is one of the terminal mode's commands (else the GUI may start). */
bool ferry_tray_cli_is_command(const char *word);

/** Runs the terminal command in argv[0..] (argv[0] is the command). Returns the exit code. */
int ferry_tray_cli_main(int argc, char **argv);

/** The top-level usage text. */
extern const char FERRY_TRAY_USAGE[];

#endif
