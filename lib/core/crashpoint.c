#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/hooks.h"

void ferry_crashpoint(const char *name)
{
    static unsigned long hits;
    const char *want = getenv("FERRY_CRASH_AT");
    if (want == NULL || strcmp(want, name) != 0)
        return;
    const char *after = getenv("FERRY_CRASH_AFTER");
    unsigned long n = after != NULL ? strtoul(after, NULL, 10) : 1;
    if (++hits < n)
        return;
    kill(getpid(), SIGKILL);
}
