/*
 * ferryd: the Ferry server. For now it serves the RPC runtime with the standard
 * health service and `GET /healthz`; the product services register here as they
 * land. Logic lives in lib/ and server/health.c; this file only parses the command
 * line and runs the lifecycle.
 *
 *   ferryd init --data-dir DIR [--json]
 *   ferryd serve --data-dir DIR --listen HOST:PORT [--tls-cert F --tls-key F] [--threads N]
 *   ferryd --version | --help
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/fleet.h"
#include "ferry/fs.h"
#include "ferry/hub.h"
#include "ferry/log.h"
#include "ferry/rpc_server.h"
#include "backup.h"
#include "console.h"
#include "health.h"

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ferryd init --data-dir DIR [--json]\n"
            "       ferryd serve --data-dir DIR --listen HOST:PORT [--tls-cert FILE --tls-key FILE]\n"
            "                    [--threads N] [--public-url URL] [--poll-interval S] [--offline-after S]\n"
            "                    [--manifest-ttl S] [--upload-ttl S] [--console-dir DIR]\n"
            "                    [--upload-max-open N] [--upload-max-bytes SIZE] [--node-upload-max-open N]\n"
            "                    [--node-upload-max-bytes SIZE] [--upload-reserve SIZE]\n"
            "                    [--license-grace-days N] [--license-warn-days N]\n"
            "                    [--backup-every S] [--backup-keep N] [--backup-no-blobs]\n"
            "       ferryd backup --data-dir DIR --out FILE [--no-blobs] [--json]\n"
            "       ferryd restore --data-dir DIR --from FILE [--force] [--json]\n"
            "       ferryd --version\n"
            "\n"
            "init     creates the data dir: database, URL-signing secret, Ed25519 package-signing\n"
            "         key and the first system-administrator token, printed once (JSON key\n"
            "         `adminToken` with --json). Refuses an already initialised dir.\n"
            "backup   writes a consistent backup of DIR (database snapshot, keys, blobs) to FILE while\n"
            "         the server keeps serving (docs/operations.md)\n"
            "restore  restores FILE into DIR (refuses a non-empty DIR unless --force; stop ferryd first)\n"
            "serve    runs the server until SIGTERM or SIGINT (graceful: in-flight calls finish,\n"
            "         streams end with `unavailable`, then the process exits)\n"
            "  --data-dir DIR       data directory made by `ferryd init`\n"
            "  --listen HOST:PORT   address to listen on, e.g. 127.0.0.1:8443 or [::1]:8443;\n"
            "                       port 0 picks a free port (logged)\n"
            "  --tls-cert FILE      PEM certificate chain; with --tls-key serves HTTPS (h2 via ALPN)\n"
            "  --tls-key FILE       PEM private key\n"
            "  --threads N          event-loop threads (default 2)\n"
            "  --public-url URL     base of the signed download/upload URLs handed to agents and the\n"
            "                       CLI (default http://127.0.0.1:<port>)\n"
            "  --poll-interval S    agents' check-in interval in seconds (default 60)\n"
            "  --offline-after S    a node is offline after S seconds without a check-in\n"
            "                       (default 3 x poll interval)\n"
            "  --manifest-ttl S     lifetime in seconds of the manifest signed for each task by\n"
            "                       GetDownload (default 86400, at most 2592000)\n"
            "  --upload-ttl S       an upload not committed within S seconds is deleted with its\n"
            "                       bytes (swept at start and every 10 minutes; default 86400)\n"
            "  --upload-max-open N  open package uploads per admin token (default 16)\n"
            "  --upload-max-bytes SIZE  bytes announced by one admin token's open package uploads\n"
            "                       (default 256G; SIZE: bytes or with a K/M/G/T suffix, 1024-based)\n"
            "  --node-upload-max-open N  open file uploads per node (default 8)\n"
            "  --node-upload-max-bytes SIZE  bytes announced by one node's open file uploads (default 4G)\n"
            "  --upload-reserve SIZE  free space on the data dir that node uploads never take, kept\n"
            "                       for administrators' packages (default 1G)\n"
            "  --license-grace-days N  a licence keeps working N days past its end (default 7)\n"
            "  --license-warn-days N   a licence shows as expiring N days before its end (default 30)\n"
            "  --backup-every S     write a backup into <data dir>/backups every S seconds (default: never)\n"
            "  --backup-keep N      backups kept there, oldest removed first (default 7)\n"
            "  --backup-no-blobs    scheduled backups without the blob store\n"
            "  --console-dir DIR    the built web console served at /console/ (default: web/dist of\n"
            "                       the build tree or share/ferry/console next to the binary)\n"
            "Without TLS files the server speaks cleartext HTTP/2 (h2c) and HTTP/1.1; a warning is\n"
            "logged unless the address is loopback.\n");
}

/* Prints |s| as a JSON string (quotes, backslashes and control bytes escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int init_cmd(int argc, char **argv)
{
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *data_dir = NULL;
    int json = 0, c;
    char token[FERRY_HUB_TOKEN_MAX];
    ferry_err_t err = {0};

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            data_dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (data_dir == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (ferry_hub_init(data_dir, token, sizeof(token), &err) != FERRY_OK) {
        if (json) {
            printf("{\"error\":{\"errorCode\":\"%s\",\"message\":", ferry_err_name(err.code));
            json_str(stdout, err.msg);
            printf("}}\n");
        }
        fprintf(stderr, "ferryd init: %s (%s)\n", err.msg, ferry_err_name(err.code));
        return 1;
    }
    if (json) {
        printf("{\"adminToken\":");
        json_str(stdout, token);
        printf(",\"dataDir\":");
        json_str(stdout, data_dir);
        printf("}\n");
    } else {
        printf("Initialised %s.\n"
               "System administrator token (shown once; store it safely):\n\n  %s\n\n"
               "Start the server with: ferryd serve --data-dir %s --listen 127.0.0.1:8443\n",
               data_dir, token, data_dir);
    }
    memset(token, 0, sizeof(token));
    return 0;
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

/* "4096", "512K", "4G" (1024-based, at most 1 PiB) into *out; -1 for anything else. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    v = strtoull(s, &end, 10);
    switch (*end) {
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    case '\0':
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (v > (1ull << 50) >> shift)
        return -1;
    *out = (uint64_t)v << shift;
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
                                         {"public-url", required_argument, NULL, 'u'},
                                         {"poll-interval", required_argument, NULL, 'p'},
                                         {"offline-after", required_argument, NULL, 'o'},
                                         {"manifest-ttl", required_argument, NULL, 'm'},
                                         {"upload-ttl", required_argument, NULL, 'U'},
                                         {"console-dir", required_argument, NULL, 'C'},
                                         {"upload-max-open", required_argument, NULL, 1000},
                                         {"upload-max-bytes", required_argument, NULL, 1001},
                                         {"node-upload-max-open", required_argument, NULL, 1002},
                                         {"node-upload-max-bytes", required_argument, NULL, 1003},
                                         {"upload-reserve", required_argument, NULL, 1004},
                                         {"license-grace-days", required_argument, NULL, 1010},
                                         {"license-warn-days", required_argument, NULL, 1011},
                                         {"backup-every", required_argument, NULL, 1012},
                                         {"backup-keep", required_argument, NULL, 1013},
                                         {"backup-no-blobs", no_argument, NULL, 1014},
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
    ferry_hub_t *hub = NULL;
    ferry_hub_config_t hcfg = {0};
    ferry_fleet_config_t fcfg = {0};
    const char *console_dir = NULL;
    ferry_console_t *console = NULL;
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
        case 'u':
            hcfg.public_base_url = optarg;
            break;
        case 'p':
        case 'o': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 86400) {
                fprintf(stderr, "ferryd: --%s must be 1..86400 seconds\n",
                        c == 'p' ? "poll-interval" : "offline-after");
                return 2;
            }
            if (c == 'p')
                hcfg.poll_interval_s = (uint32_t)v;
            else
                hcfg.offline_after_s = (uint32_t)v;
            break;
        }
        case 'm': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || optarg[0] == '-' || v == 0 || v > FERRY_HUB_MANIFEST_TTL_MAX) {
                fprintf(stderr, "ferryd: --manifest-ttl must be 1..%u seconds\n", FERRY_HUB_MANIFEST_TTL_MAX);
                return 2;
            }
            hcfg.manifest_ttl_s = (uint32_t)v;
            break;
        }
        case 'U': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || optarg[0] == '-' || v == 0 || v > FERRY_HUB_UPLOAD_TTL_MAX) {
                fprintf(stderr, "ferryd: --upload-ttl must be 1..%u seconds\n", FERRY_HUB_UPLOAD_TTL_MAX);
                return 2;
            }
            hcfg.upload_ttl_s = (uint32_t)v;
            break;
        }
        case 'C':
            console_dir = optarg;
            break;
        case 1000:
        case 1002: {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || optarg[0] == '-' || v == 0 || v > 100000) {
                fprintf(stderr, "ferryd: --%s must be 1..100000\n",
                        c == 1000 ? "upload-max-open" : "node-upload-max-open");
                return 2;
            }
            if (c == 1000)
                hcfg.upload_max_open = (uint32_t)v;
            else
                hcfg.node_upload_max_open = (uint32_t)v;
            break;
        }
        case 1001:
        case 1003:
        case 1004: {
            uint64_t v = 0;
            const char *name = c == 1001   ? "upload-max-bytes"
                               : c == 1003 ? "node-upload-max-bytes"
                                           : "upload-reserve";
            if (parse_size(optarg, &v) != 0 || v == 0) {
                fprintf(stderr, "ferryd: --%s: expected a size like 512M or 4G (bytes, K/M/G/T), got '%s'\n",
                        name, optarg);
                return 2;
            }
            if (c == 1001)
                hcfg.upload_max_bytes = v;
            else if (c == 1003)
                hcfg.node_upload_max_bytes = v;
            else
                hcfg.upload_disk_reserve = v;
            break;
        }
        case 1010:
        case 1011:
        case 1012:
        case 1013: {
            /* fleet (issue 12): licence grace and reminder window in days, backup period in
             * seconds, backups kept */
            static const char *const names[] = {"license-grace-days", "license-warn-days", "backup-every",
                                                "backup-keep"};
            static const unsigned long lo[] = {0, 1, 60, 1}, hi[] = {365, 3650, 31 * 86400, 1000};
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            int k = c - 1010;
            if (*end != '\0' || optarg[0] == '-' || optarg[0] == '\0' || v < lo[k] || v > hi[k]) {
                fprintf(stderr, "ferryd: --%s must be %lu..%lu\n", names[k], lo[k], hi[k]);
                return 2;
            }
            if (c == 1010)
                fcfg.license_grace_s = v == 0 ? 1 : (uint32_t)(v * 86400); /* 0 days: 1 s, not "default" */
            else if (c == 1011)
                fcfg.license_warn_s = (uint32_t)(v * 86400);
            else if (c == 1012)
                fcfg.backup_every_s = (uint32_t)v;
            else
                fcfg.backup_keep = (uint32_t)v;
            break;
        }
        case 1014:
            fcfg.backup_no_blobs = true;
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
    hcfg.data_dir = data_dir;
    if ((hub = ferry_hub_open(&hcfg, &err)) == NULL) {
        FERRY_ERROR("ferryd: %s", err.msg);
        goto out;
    }
    ferry_hub_set_fleet_config(hub, &fcfg);
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

    if (console_dir != NULL) { /* asked for explicitly: a missing build is an error */
        if ((console = ferry_console_new(console_dir, &err)) == NULL) {
            FERRY_ERROR("ferryd: --console-dir: %s", err.msg);
            goto out;
        }
    } else {
        char found[FERRY_CONSOLE_DIR_MAX];
        if (ferry_console_find_default(found, sizeof(found)) == 0)
            console = ferry_console_new(found, &err);
        if (console == NULL)
            FERRY_INFO("web console not served: no built console found (looked in %s); build it with "
                       "`cmake --build BUILD --target ferry_console` or pass --console-dir DIR",
                       found);
    }
    if ((srv = ferry_rpc_server_new(&cfg, &err)) == NULL || (health = ferry_health_new()) == NULL ||
        ferry_health_register(health, srv, &err) != FERRY_OK ||
        (console != NULL && ferry_console_register(console, srv, &err) != FERRY_OK) ||
        ferry_hub_attach(hub, srv, &err) != FERRY_OK || ferry_rpc_server_start(srv, &err) != FERRY_OK) {
        FERRY_ERROR("ferryd: %s", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    ferry_hub_set_port(hub, ferry_rpc_server_port(srv));
    FERRY_INFO("ferryd %s serving on %s:%u (data dir %s)", FERRY_VERSION, host, ferry_rpc_server_port(srv),
               data_dir);
    if (console != NULL)
        FERRY_INFO("web console at /console/ (files from %s)", ferry_console_dir(console));
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
    ferry_console_free(console);
    ferry_hub_free(hub);
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
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return init_cmd(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "restore") == 0))
        return ferryd_backup_cmd(argc - 1, argv + 1, strcmp(argv[1], "restore") == 0);
    usage(stderr);
    return 2;
}
