/*
 * A real hub (tests/support/hub_harness.h) for the `ferry` CLI integration test:
 * starts it on loopback, writes "<base_url> <admin_token>\n" to the file named by
 * argv[1] (mode 0600), then serves until SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hub_harness.h"

int main(int argc, char **argv)
{
    hh_t h;
    hh_options_t o;
    sigset_t set;
    FILE *f = NULL;
    int sig = 0, rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s INFO_FILE\n", argv[0]);
        return 2;
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
    memset(&h, 0, sizeof(h));
    memset(&o, 0, sizeof(o));
    o.tag = "cli";
    o.keepalive_s = 2;
    if (hh_start(&h, &o) != 0) {
        fprintf(stderr, "cli_test_server: hub did not start\n");
        goto out;
    }
    umask(077);
    if ((f = fopen(argv[1], "w")) == NULL || fprintf(f, "%s %s\n", h.base_url, h.admin_token) < 0 ||
        fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "cli_test_server: cannot write %s\n", argv[1]);
        goto out;
    }
    f = NULL;
    sigwait(&set, &sig);
    rc = 0;
out:
    hh_stop(&h);
    return rc;
}
