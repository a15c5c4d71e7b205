/*
 * ferryd: the Ferry server. For now it serves the RPC runtime with the standard
 * health service and `GET /healthz`; the product services register here as they
 * land. Logic lives in lib/ and server/health.c; this file only parses the command
 * line and runs the lifecycle.
 *
 *   ferryd serve --data-dir DIR --listen HOST:PORT [--tls-cert F --tls-key F] [--threads N]
 *   ferryd --version | --help
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fs.h"
#include "ferry/log.h"
#include "ferry/rpc_server.h"
#include "health.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: ferryd serve --data-dir DIR --listen HOST:PORT [--tls-cert FILE --tls-key FILE]\n"
               "                    [--threads N]\n"
               "       ferryd --version\n"
               "\n"
               "serve    runs the server until SIGTERM or SIGINT (graceful: in-flight calls finish,\n"
               "         streams end with `unavailable`, then the process exits)\n"
               "  --data-dir DIR       state directory (created if missing)\n"
               "  --listen HOST:PORT   address to listen on, e.g. 127.0.0.1:8443 or [::1]:8443;\n"
               "                       port 0 picks a free port (logged)\n"
               "  --tls-cert FILE      PEM certificate chain; with --tls-key serves HTTPS (h2 via ALPN)\n"
               "  --tls-key FILE       PEM private key\n"
               "  --threads N          event-loop threads (default 2)\n"
               "Without TLS files the server speaks cleartext HTTP/2 (h2c) and HTTP/1.1; a warning is\n"
               "logged unless the address is loopback.\n");
}

/* Splits HOST:PORT / [V6]:PORT. Returns 0 or -1. */
static int parse_listen(const char *s, char *host, size_t hsize, unsigned *port)
{
    const char *colon;
    size_t hlen;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        hlen = (size_t)(end - s - 1);
        s++;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= hsize)
        return -1;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

static int is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

static int serve(int argc, char **argv)
{
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"tls-cert", required_argument, NULL, 'c'},
                                         {"tls-key", required_argument, NULL, 'k'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data_dir = NULL, *listen = NULL;
    ferry_rpc_server_config_t cfg = {0};
    char host[256];
    unsigned port = 0;
    int c, rc = 1;
    ferry_err_t err = {0};
    ferry_rpc_server_t *srv = NULL;
    ferry_health_t *health = NULL;
    sigset_t sigs;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data_dir = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'c':
            cfg.tls_cert_file = optarg;
            break;
        case 'k':
            cfg.tls_key_file = optarg;
            break;
        case 't':
            cfg.threads = (unsigned)strtoul(optarg, NULL, 10);
            if (cfg.threads == 0 || cfg.threads > 256) {
                fprintf(stderr, "ferryd: --threads must be 1..256\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (data_dir == NULL || listen == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (parse_listen(listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "ferryd: --listen: expected HOST:PORT, got '%s'\n", listen);
        return 2;
    }
    if ((cfg.tls_cert_file == NULL) != (cfg.tls_key_file == NULL)) {
        fprintf(stderr, "ferryd: --tls-cert and --tls-key go together\n");
        return 2;
    }
    cfg.host = host;
    cfg.port = (uint16_t)port;
    if (ferry_fs_mkdir_p(data_dir, 0700, &err) != FERRY_OK) {
        FERRY_ERROR("data dir: %s", err.msg);
        goto out;
    }
    if (cfg.tls_cert_file == NULL && !is_loopback(host))
        FERRY_WARN(
            "serving cleartext HTTP on non-loopback address %s: tokens and packages travel unencrypted; "
            "use --tls-cert/--tls-key",
            host);

    /* Signals are taken synchronously by this thread (sigwait); every thread the
     * server starts inherits the blocked mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((srv = ferry_rpc_server_new(&cfg, &err)) == NULL || (health = ferry_health_new()) == NULL ||
        ferry_health_register(health, srv, &err) != FERRY_OK ||
        ferry_rpc_server_start(srv, &err) != FERRY_OK) {
        FERRY_ERROR("ferryd: %s", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    FERRY_INFO("ferryd %s serving on %s:%u (data dir %s)", FERRY_VERSION, host, ferry_rpc_server_port(srv),
               data_dir);
    int sig = 0;
    sigwait(&sigs, &sig);
    FERRY_INFO("ferryd: %s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ferry_health_set(health, "", FERRY_HEALTH_NOT_SERVING);
    ferry_rpc_server_shutdown(srv);
    ferry_rpc_server_wait(srv);
    FERRY_INFO("ferryd: stopped");
    rc = 0;
out:
    ferry_rpc_server_free(srv);
    ferry_health_free(health);
    return rc;
}

int main(int argc, char **argv)
{
    ferry_log_set_ident("ferryd");
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("ferryd %s\n", FERRY_VERSION);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    usage(stderr);
    return 2;
}
