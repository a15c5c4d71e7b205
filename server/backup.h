/* `ferryd backup` / `ferryd restore` (backup.c). */
#ifndef FERRYD_BACKUP_H
#define FERRYD_BACKUP_H

/** Runs `ferryd backup ARGS` (|restore| 0) or `ferryd restore ARGS` (1); argv[0] is the subcommand. Exit
 * code. */
int ferryd_backup_cmd(int argc, char **argv, int restore);

#endif
