#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

void ferry_pausepoint(const char *name)
{
    const char *want = getenv("FERRY_PAUSE_AT");
    if (want == NULL || strcmp(want, name) != 0)
        return;
    const char *ms_s = getenv("FERRY_PAUSE_MS");
    unsigned long ms = ms_s != NULL ? strtoul(ms_s, NULL, 10) : 1000;
    if (ms > 60000)
        ms = 60000;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* Tests wait for this line to know the step is under way. */
    fprintf(stderr, "ferry: pause at %s for %lu ms\n", name, ms);
    while (nanosleep(&ts, &ts) != 0)
        ;
}
