/*
 * `ferryd backup` and `ferryd restore` (seed 004 数据备份与恢复): thin command-line
 * wrappers over ferry_store_backup() / ferry_store_restore() (lib/store/backup.c).
 *
 *   ferryd backup --data-dir DIR --out FILE [--no-blobs] [--json]   (online: ferryd may serve)
 *   ferryd restore --data-dir DIR --from FILE [--force] [--json]    (ferryd stopped)
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "ferry/store/backup.h"

static int usage_err(const char *cmd)
{
    fprintf(stderr,
            "usage: ferryd backup --data-dir DIR --out FILE [--no-blobs] [--json]\n"
            "       ferryd restore --data-dir DIR --from FILE [--force] [--json]\n"
            "ferryd %s: see `ferryd --help`\n",
            cmd);
    return 2;
}

/* |s| as a JSON string body (quotes, backslashes, control bytes escaped). */
static void json_esc(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
}

static void print_info(const char *verb, const char *file, const ferry_store_backup_info_t *bi, int json)
{
    if (json) {
        printf("{\"file\":\"");
        json_esc(stdout, file);
        printf("\",\"size\":%" PRIu64 ",\"blobs\":%" PRIu64 ",\"includesBlobs\":%s,\"dbSha256\":\"%s\"}\n",
               bi->size, bi->blobs, bi->includes_blobs ? "true" : "false", bi->db_sha256);
    } else
        printf("%s %s: %" PRIu64 " bytes, database sha256 %s, %" PRIu64 " blob(s)\n", verb, file, bi->size,
               bi->db_sha256, bi->blobs);
}

int ferryd_backup_cmd(int argc, char **argv, int restore)
{
    static const struct option opts[] = {{"data-dir", required_argument, NULL, 'd'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"no-blobs", no_argument, NULL, 'n'},
                                         {"force", no_argument, NULL, 'F'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *file = NULL, *cmd = restore ? "restore" : "backup";
    int blobs = 1, force = 0, json = 0, c;
    ferry_store_backup_info_t bi;
    ferry_err_t err = {0};

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'o':
            if (restore)
                return usage_err(cmd);
            file = optarg;
            break;
        case 'f':
            if (!restore)
                return usage_err(cmd);
            file = optarg;
            break;
        case 'n':
            blobs = 0;
            break;
        case 'F':
            force = 1;
            break;
        case 'j':
            json = 1;
            break;
        default:
            return usage_err(cmd);
        }
    }
    if (dir == NULL || file == NULL || optind != argc)
        return usage_err(cmd);
    if (restore ? ferry_store_restore(dir, file, force != 0, &bi, &err) != FERRY_OK
                : ferry_store_backup(dir, file, blobs != 0, &bi, &err) != FERRY_OK) {
        if (json) {
            printf("{\"error\":{\"errorCode\":\"%s\",\"message\":\"", ferry_err_name(err.code));
            json_esc(stdout, err.msg);
            printf("\"}}\n");
        }
        fprintf(stderr, "ferryd %s: %s: %s\n", cmd, ferry_err_name(err.code), err.msg);
        return 1;
    }
    print_info(restore ? "restored from" : "backed up to", file, &bi, json);
    return 0;
}
