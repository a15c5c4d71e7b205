/* `ferry server health|backup|backups` (seed 004; issue 12): the health summary and
 * server backups through the API (GetServerHealth, CreateServerBackup, ListServerBackups).
 * `ferryd backup` / `ferryd restore` are the same backups on the server's own machine. */
#include <inttypes.h>
#include <stdio.h>

#include "fleet.h"

static int server_health(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetServerHealthRequest req = FERRY__V1__GET_SERVER_HEALTH_REQUEST__INIT;
    Ferry__V1__GetServerHealthResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    (void)a;
    if (ferry_v1_admin_service_get_server_health(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "server health", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    fprintf(cli->out, "server: %s\n", resp->ok ? "OK" : "ATTENTION");
    for (size_t i = 0; i < resp->n_checks; i++)
        fprintf(cli->out, "  %-12s %-4s %s\n", resp->checks[i]->name, resp->checks[i]->ok ? "ok" : "FAIL",
                resp->checks[i]->detail);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int server_backup(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateServerBackupRequest req = FERRY__V1__CREATE_SERVER_BACKUP_REQUEST__INIT;
    Ferry__V1__CreateServerBackupResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.include_blobs = !ferry_cli_arg_set(a, "no-blobs");
    if (ferry_v1_admin_service_create_server_backup(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "server backup", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->backup != NULL ? &resp->backup->base : NULL,
                        "Backup written.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static void backup_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__ServerBackup *b = item;
    char at[40], size[32];
    const char *cells[] = {b->id, ferry_cli_fmt_time(b->created_at, at, sizeof(at)),
                           ferry_cli_fmt_bytes(b->size, size, sizeof(size)), b->includes_blobs ? "yes" : "no",
                           b->path};
    ferry_cli_table_row(t, cells);
}

static int server_backups(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListServerBackupsRequest req = FERRY__V1__LIST_SERVER_BACKUPS_REQUEST__INIT;
    Ferry__V1__ListServerBackupsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID", "CREATED", "SIZE", "BLOBS", "PATH"};
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if (ferry_v1_admin_service_list_server_backups(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list server backups", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 5, head, (void *const *)resp->backups, resp->n_backups,
                              backup_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};
static const ferry_cli_flag_t BACKUP_FLAGS[] = {
    {"no-blobs", FERRY_CLI_FLAG_BOOL, NULL, "database and keys only (not the blob store)", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t LIST_FLAGS[] = {
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_server_cmds[] = {
    {"health", "health summary: database, disk, signing key, licences, nodes, backups", NULL, 0, NO_FLAGS,
     "Exit 0 whatever the verdict; --json's `ok` (and each check's) tells. GET /healthz stays the cheap "
     "probe.",
     server_health, false},
    {"backup", "write a consistent online backup into the server's <data dir>/backups", NULL, 0, BACKUP_FLAGS,
     "Restore one with `ferryd restore --data-dir DIR --from FILE` on the server (docs/operations.md).",
     server_backup, false},
    {"backups", "list the server's backups, newest first", NULL, 0, LIST_FLAGS, NULL, server_backups, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
