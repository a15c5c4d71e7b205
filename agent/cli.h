/**
 * @file cli.h
 * ferry-agent's command line: subcommands (cli_run.c) and their output (cli_out.c).
 *
 * Exit codes (documented in docs/engine.md):
 *   0  the task ended as asked (apply/resume: Succeeded; rollback: Rollbacked), or
 *      status / resume with nothing to do;
 *   1  the task ended otherwise (Failed, Rollbacked after a failed apply);
 *   2  usage error (unknown option, missing argument, invalid version string);
 *   3  no task could run (configuration invalid, another agent holds the lock, journal I/O).
 */
#ifndef FERRY_AGENT_CLI_H
#define FERRY_AGENT_CLI_H

#include <stdbool.h>

#include "ferry/engine/journal.h"
#include "ferry/engine/pipeline.h"
#include "ferry/err.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_TASK = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_ERROR = 3 };

/** Output settings shared by the subcommands. */
typedef struct cli_out {
    bool json;  /**< one JSON object on stdout */
    bool quiet; /**< no progress on stderr */
    bool tty;   /**< stderr is a terminal: draw a progress bar */
    long long last_draw_ms;
    int last_state;
    /** The task's upgrade-report.json when it exists (key upgradeReport), else empty. */
    char report_path[4096];
    /** post_upgrade outcome after a Succeeded apply: "", "done" or "failed" (key postUpgrade). */
    const char *post_upgrade;
    char post_error[600];
} cli_out_t;

int cli_apply(int argc, char **argv);
int cli_resume(int argc, char **argv);
int cli_rollback(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_bind(int argc, char **argv);
int cli_run_daemon(int argc, char **argv);
int cli_daemon_status(int argc, char **argv);

/** Progress callback for the pipeline; |user| is a cli_out_t. */
void cli_on_event(void *user, const ferry_pipeline_event_t *ev);

/**
 * Prints the outcome of a task (|t| may be NULL when none ran) and, if |rc| is not OK,
 * the error that stopped the engine. JSON: one object with state, stateName, errorCode,
 * errorMessage, backupPath, taskId, version, kind, diagnosticPath, attempt, resumes.
 */
void cli_print_result(const cli_out_t *o, const ferry_task_t *t, ferry_err_code_t rc, const ferry_err_t *err);

/** Prints a task and its event history (status). */
void cli_print_status(const cli_out_t *o, const ferry_task_t *t, ferry_journal_t *j);

#endif
