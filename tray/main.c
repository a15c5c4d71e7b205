/*
 * ferry-tray: the local tool on a customer server. A command word selects the terminal
 * mode (cli.c); without one, and with a display, the tray icon and windows start
 * (gtk/). Both share the presenter (tray/presenter).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gtk/views.h"

int main(int argc, char **argv)
{
    const char *state_dir = NULL;
    int i = 1;
    /* A leading --state-dir DIR applies to the command after it too. */
    if (argc > 2 && strcmp(argv[1], "--state-dir") == 0) {
        state_dir = argv[2];
        i = 3;
    }
    if (i < argc &&
        (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0)) {
        fputs(FERRY_TRAY_USAGE, stdout);
        return TRAY_EXIT_OK;
    }
    if (i < argc && ferry_tray_cli_is_command(argv[i])) {
        if (state_dir == NULL)
            return ferry_tray_cli_main(argc - i, argv + i);
        /* Re-append --state-dir so the command's own parser sees it. */
        char **v = calloc((size_t)(argc - i) + 3, sizeof(char *));
        if (v == NULL)
            return TRAY_EXIT_ERROR;
        int n = 0;
        for (int k = i; k < argc; k++)
            v[n++] = argv[k];
        v[n++] = "--state-dir";
        v[n++] = (char *)state_dir;
        int x = ferry_tray_cli_main(n, v);
        free(v);
        return x;
    }
    if (i < argc) {
        fprintf(stderr, "ferry-tray: E_INVALID_ARG: unknown command '%s'\n%s", argv[i], FERRY_TRAY_USAGE);
        return TRAY_EXIT_USAGE;
    }
    if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL) {
        fprintf(stderr,
                "ferry-tray: no display (DISPLAY/WAYLAND_DISPLAY unset): use the terminal commands\n%s",
                FERRY_TRAY_USAGE);
        return TRAY_EXIT_USAGE;
    }
    return ferry_tray_gtk_main(state_dir);
}
