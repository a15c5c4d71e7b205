/* Node status (seed 001; issue 12): `ferry node list --status S`, `ferry node history
 * CODE`, `ferry node maintenance CODE on|off`. */
#include <stdio.h>
#include <string.h>

#include "fleet.h"

static void status_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__NodeStatusInfo *s = item;
    char since[40], seen[40], lic[48], ends[40];
    if ((int)s->license_status != 0)
        snprintf(lic, sizeof(lic), "%s %s", ferry_cli_license_status_name((int)s->license_status),
                 ferry_cli_fmt_time(s->license_ends_at, ends, sizeof(ends)));
    else
        snprintf(lic, sizeof(lic), "-");
    const char *cells[] = {s->node_code,
                           s->store_code,
                           s->customer_code,
                           ferry_cli_node_status_name((int)s->status),
                           ferry_cli_fmt_time(s->since, since, sizeof(since)),
                           ferry_cli_fmt_time(s->last_seen_at, seen, sizeof(seen)),
                           lic};
    ferry_cli_table_row(t, cells);
}

int ferry_cli_node_list_status(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListNodeStatusesRequest req = FERRY__V1__LIST_NODE_STATUSES_REQUEST__INIT;
    Ferry__V1__ListNodeStatusesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"CODE", "STORE", "CUSTOMER", "STATUS", "SINCE", "LAST SEEN", "LICENCE"};
    const char *s = ferry_cli_arg(a, "status");
    int v, rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if (s != NULL && strcasecmp(s, "ALL") != 0) {
        if ((v = ferry_cli_parse_node_status(s)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--status '%s': expected ONLINE, OFFLINE, MAINTENANCE, EXPIRED or ALL", s);
        req.status = (Ferry__V1__NodeStatus)v;
    }
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_list_node_statuses(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list node statuses", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 7, head, (void *const *)resp->nodes, resp->n_nodes,
                              status_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static void event_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__NodeEvent *e = item;
    char at[40];
    const char *cells[] = {
        ferry_cli_fmt_time(e->at, at, sizeof(at)), ferry_cli_node_status_name((int)e->from_status),
        ferry_cli_node_status_name((int)e->to_status), e->reason, e->actor[0] ? e->actor : "-"};
    ferry_cli_table_row(t, cells);
}

int ferry_cli_node_history(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListNodeEventsRequest req = FERRY__V1__LIST_NODE_EVENTS_REQUEST__INIT;
    Ferry__V1__ListNodeEventsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"AT", "FROM", "TO", "REASON", "BY"};
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.node_code = (char *)a->pos[0];
    if (ferry_v1_admin_service_list_node_events(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "node history", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 5, head, (void *const *)resp->events, resp->n_events,
                              event_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

int ferry_cli_node_maintenance(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__SetNodeMaintenanceRequest req = FERRY__V1__SET_NODE_MAINTENANCE_REQUEST__INIT;
    Ferry__V1__SetNodeMaintenanceResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    const char *onoff = a->pos[1];
    int rc;

    if (strcmp(onoff, "on") != 0 && strcmp(onoff, "off") != 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG", "'%s': expected on or off", onoff);
    req.node_code = (char *)a->pos[0];
    req.maintenance = strcmp(onoff, "on") == 0;
    req.reason = ferry_cli_s(ferry_cli_arg(a, "reason"));
    if (ferry_v1_admin_service_set_node_maintenance(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "node maintenance", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    fprintf(cli->out, "Node %s: %s%s\n", resp->status->node_code,
            ferry_cli_node_status_name((int)resp->status->status),
            req.maintenance ? " (no task starts until `ferry node maintenance CODE off`)" : "");
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

const ferry_cli_flag_t ferry_cli_node_history_flags[] = {
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_flag_t ferry_cli_node_maintenance_flags[] = {
    {"reason", FERRY_CLI_FLAG_STR, "TEXT", "why (kept in the node's history)", false},
    {NULL, 0, NULL, NULL, false},
};
