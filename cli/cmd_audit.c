/* `ferry audit list`: the audit log of admin actions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static int audit_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListAuditLogsRequest req = FERRY__V1__LIST_AUDIT_LOGS_REQUEST__INIT;
    Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Timestamp until = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Ferry__V1__ListAuditLogsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID", "TIME", "ACTOR", "METHOD", "TARGETS", "OUTCOME", "ERROR"};
    static const char *outcomes[] = {"success", "failure", "denied"};
    ferry_err_t err = {0};
    ferry_cli_table_t t;
    const char *s;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if ((s = ferry_cli_arg(a, "since")) != NULL) {
        if (ferry_cli_parse_rfc3339(s, &since.seconds, &since.nanos, &err) != FERRY_OK)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--since: %s", err.msg);
        req.since = &since;
    }
    if ((s = ferry_cli_arg(a, "until")) != NULL) {
        if (ferry_cli_parse_rfc3339(s, &until.seconds, &until.nanos, &err) != FERRY_OK)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--until: %s", err.msg);
        req.until = &until;
    }
    if ((s = ferry_cli_arg(a, "outcome")) != NULL) {
        for (int i = 0; i < 3; i++)
            if (strcasecmp(s, outcomes[i]) == 0)
                req.outcome = (Ferry__V1__AuditOutcome)(i + 1);
        if (req.outcome == 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                                  "--outcome must be success, failure or denied");
    }
    req.actor_token_id = ferry_cli_s(ferry_cli_arg(a, "actor"));
    req.method = ferry_cli_s(ferry_cli_arg(a, "method"));
    if (req.method[0] != '\0' && strchr(req.method, '/') == NULL) {
        /* Accept the short method name ("CreateRelease"). */
        static char full[256];
        snprintf(full, sizeof(full), "ferry.v1.AdminService/%s", req.method);
        req.method = full;
    }
    req.target_kind = ferry_cli_s(ferry_cli_arg(a, "target-kind"));
    req.target_id = ferry_cli_s(ferry_cli_arg(a, "target-id"));
    if (ferry_v1_admin_service_list_audit_logs(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list audit log", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 7, head);
    for (size_t i = 0; i < resp->n_entries; i++) {
        const Ferry__V1__AuditEntry *e = resp->entries[i];
        char when[40], targets[256], actor[160];
        size_t n = 0;
        const char *method = strrchr(e->method, '/');

        targets[0] = '\0';
        for (size_t k = 0; k < e->n_targets && n < sizeof(targets); k++)
            n += (size_t)snprintf(targets + n, sizeof(targets) - n, "%s%s:%s", k ? "," : "",
                                  e->targets[k]->kind, e->targets[k]->id);
        snprintf(actor, sizeof(actor), "%s%s%s%s", e->actor_name, e->actor_name[0] ? " (" : "",
                 e->actor_token_id, e->actor_name[0] ? ")" : "");
        const char *cells[7] = {
            e->id,        ferry_cli_fmt_time(e->time, when, sizeof(when)),
            actor,        method ? method + 1 : e->method,
            targets,      e->outcome >= 1 && e->outcome <= 3 ? outcomes[e->outcome - 1] : "-",
            e->error_code};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"actor", FERRY_CLI_FLAG_STR, "TOKEN_ID", "only entries of this admin token", false},
    {"method", FERRY_CLI_FLAG_STR, "METHOD", "only this method, e.g. CreateRelease", false},
    {"target-kind", FERRY_CLI_FLAG_STR, "KIND", "customer, store, node, package, release, task...", false},
    {"target-id", FERRY_CLI_FLAG_STR, "ID", "only entries touching this code/version/id", false},
    {"since", FERRY_CLI_FLAG_STR, "RFC3339", "only entries at or after this instant", false},
    {"until", FERRY_CLI_FLAG_STR, "RFC3339", "only entries before this instant", false},
    {"outcome", FERRY_CLI_FLAG_STR, "OUTCOME", "success, failure or denied", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_audit_cmds[] = {
    {"list", "list audit entries, newest first", NULL, 0, LIST_FLAGS, NULL, audit_list, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
