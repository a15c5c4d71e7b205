/* Placeholder replaced by the views (step 3). */
#include <stdio.h>

#include "gtk/views.h"

int ferry_tray_gtk_main(const char *state_dir)
{
    (void)state_dir;
    fprintf(stderr, "ferry-tray: windows not built yet\n");
    return 3;
}
