/* `ferry customer|store|node ...`: the customer -> store -> node tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleet.h"

/*
 * get / disable / enable of one tree entity (customer, store, node): each RPC takes the
 * code (first positional) and returns the entity in member |ent|.
 */
#define TREE_GET(ent, Ent, ENT)                                                                              \
    static int ent##_get(ferry_cli_t *cli, const ferry_cli_args_t *a)                                        \
    {                                                                                                        \
        Ferry__V1__Get##Ent##Request req = FERRY__V1__GET_##ENT##_REQUEST__INIT;                             \
        Ferry__V1__Get##Ent##Response *resp = NULL;                                                          \
        ferry_rpc_status_t st = {0};                                                                         \
        ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);                                                \
        int rc;                                                                                              \
        req.code = (char *)a->pos[0];                                                                        \
        if (ferry_v1_admin_service_get_##ent(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK)             \
            rc = ferry_cli_fail_rpc(cli, "get " #ent, &st);                                                  \
        else                                                                                                 \
            rc = ferry_cli_show(cli, &resp->base, resp->ent ? &resp->ent->base : NULL, NULL);                \
        FERRY_CLI_FREE(resp);                                                                                \
        return rc;                                                                                           \
    }

#define TREE_DISABLE(ent, Ent, ENT)                                                                          \
    static int ent##_set_disabled(ferry_cli_t *cli, const ferry_cli_args_t *a, bool disabled)                \
    {                                                                                                        \
        Ferry__V1__Disable##Ent##Request req = FERRY__V1__DISABLE_##ENT##_REQUEST__INIT;                     \
        Ferry__V1__Disable##Ent##Response *resp = NULL;                                                      \
        ferry_rpc_status_t st = {0};                                                                         \
        ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);                                                \
        int rc;                                                                                              \
        req.code = (char *)a->pos[0];                                                                        \
        req.disabled = disabled;                                                                             \
        if (ferry_v1_admin_service_disable_##ent(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK)         \
            rc = ferry_cli_fail_rpc(cli, disabled ? "disable " #ent : "enable " #ent, &st);                  \
        else                                                                                                 \
            rc = ferry_cli_show(cli, &resp->base, resp->ent ? &resp->ent->base : NULL,                       \
                                disabled ? "Disabled." : "Enabled.");                                        \
        FERRY_CLI_FREE(resp);                                                                                \
        return rc;                                                                                           \
    }                                                                                                        \
    static int ent##_disable(ferry_cli_t *cli, const ferry_cli_args_t *a)                                    \
    {                                                                                                        \
        return ent##_set_disabled(cli, a, true);                                                             \
    }                                                                                                        \
    static int ent##_enable(ferry_cli_t *cli, const ferry_cli_args_t *a)                                     \
    {                                                                                                        \
        return ent##_set_disabled(cli, a, false);                                                            \
    }

/* The optional --name of an update request (NULL = unchanged). */
static Google__Protobuf__StringValue *name_arg(const ferry_cli_args_t *a, Google__Protobuf__StringValue *v)
{
    if (ferry_cli_arg(a, "name") == NULL)
        return NULL;
    v->value = (char *)ferry_cli_arg(a, "name");
    return v;
}

/* ---- customers ---------------------------------------------------------- */

static int customer_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateCustomerRequest req = FERRY__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Ferry__V1__CreateCustomerResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    char line[256];
    int rc;

    req.code = ferry_cli_s(ferry_cli_arg(a, "code"));
    req.name = ferry_cli_s(ferry_cli_arg(a, "name"));
    if (ferry_v1_admin_service_create_customer(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create customer", &st);
        goto out;
    }
    snprintf(line, sizeof(line), "Created customer %s.", req.code);
    rc = ferry_cli_show(cli, &resp->base, resp->customer ? &resp->customer->base : NULL, line);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static void customer_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__Customer *c = item;
    char created[40];
    const char *cells[5] = {c->code, c->name, c->disabled ? "yes" : "no",
                            c->has_storage_override ? "yes" : "no",
                            ferry_cli_fmt_time(c->created_at, created, sizeof(created))};
    ferry_cli_table_row(t, cells);
}

static int customer_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListCustomersRequest req = FERRY__V1__LIST_CUSTOMERS_REQUEST__INIT;
    Ferry__V1__ListCustomersResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"CODE", "NAME", "DISABLED", "OWN STORAGE", "CREATED"};
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.include_disabled = ferry_cli_arg_set(a, "all");
    req.query = ferry_cli_s(ferry_cli_arg(a, "query"));
    if (ferry_v1_admin_service_list_customers(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list customers", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 5, head, (void *const *)resp->customers, resp->n_customers,
                              customer_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int customer_update(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__UpdateCustomerRequest req = FERRY__V1__UPDATE_CUSTOMER_REQUEST__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Ferry__V1__UpdateCustomerResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.code = (char *)a->pos[0];
    req.name = name_arg(a, &name);
    if (ferry_v1_admin_service_update_customer(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "update customer", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->customer ? &resp->customer->base : NULL, "Updated.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

TREE_GET(customer, Customer, CUSTOMER)
TREE_DISABLE(customer, Customer, CUSTOMER)

static const ferry_cli_flag_t CUSTOMER_CREATE_FLAGS[] = {
    {"code", FERRY_CLI_FLAG_STR, "CODE", "unique customer code (letters, digits, '-', '_')", true},
    {"name", FERRY_CLI_FLAG_STR, "NAME", "display name", true},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t LIST_TREE_FLAGS[] = {
    {"all", FERRY_CLI_FLAG_BOOL, NULL, "include disabled entries", false},
    {"query", FERRY_CLI_FLAG_STR, "TEXT", "only entries whose code or name contains TEXT", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NAME_FLAGS[] = {
    {"name", FERRY_CLI_FLAG_STR, "NAME", "new display name", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_customer_cmds[] = {
    {"create", "create a customer", NULL, 0, CUSTOMER_CREATE_FLAGS, NULL, customer_create, false},
    {"list", "list customers", NULL, 0, LIST_TREE_FLAGS, NULL, customer_list, false},
    {"get", "show one customer", "CODE", 1, NO_FLAGS, NULL, customer_get, false},
    {"update", "change a customer's name", "CODE", 1, NAME_FLAGS, NULL, customer_update, false},
    {"disable", "disable a customer (no new tasks, nodes cannot bind)", "CODE", 1, NO_FLAGS, NULL,
     customer_disable, false},
    {"enable", "re-enable a disabled customer", "CODE", 1, NO_FLAGS, NULL, customer_enable, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- stores ------------------------------------------------------------- */

static int store_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateStoreRequest req = FERRY__V1__CREATE_STORE_REQUEST__INIT;
    Ferry__V1__CreateStoreResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    char line[256];
    int rc;

    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.code = ferry_cli_s(ferry_cli_arg(a, "code"));
    req.name = ferry_cli_s(ferry_cli_arg(a, "name"));
    if (ferry_v1_admin_service_create_store(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create store", &st);
        goto out;
    }
    snprintf(line, sizeof(line), "Created store %s under customer %s.", req.code, req.customer_code);
    rc = ferry_cli_show(cli, &resp->base, resp->store ? &resp->store->base : NULL, line);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static void store_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__Store *s = item;
    char created[40];
    const char *cells[5] = {s->code, s->customer_code, s->name, s->disabled ? "yes" : "no",
                            ferry_cli_fmt_time(s->created_at, created, sizeof(created))};
    ferry_cli_table_row(t, cells);
}

static int store_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListStoresRequest req = FERRY__V1__LIST_STORES_REQUEST__INIT;
    Ferry__V1__ListStoresResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"CODE", "CUSTOMER", "NAME", "DISABLED", "CREATED"};
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.include_disabled = ferry_cli_arg_set(a, "all");
    req.query = ferry_cli_s(ferry_cli_arg(a, "query"));
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_list_stores(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list stores", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 5, head, (void *const *)resp->stores, resp->n_stores,
                              store_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int store_update(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__UpdateStoreRequest req = FERRY__V1__UPDATE_STORE_REQUEST__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Ferry__V1__UpdateStoreResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.code = (char *)a->pos[0];
    req.name = name_arg(a, &name);
    if (ferry_v1_admin_service_update_store(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "update store", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->store ? &resp->store->base : NULL, "Updated.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

TREE_GET(store, Store, STORE)
TREE_DISABLE(store, Store, STORE)

static const ferry_cli_flag_t STORE_CREATE_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "owning customer's code", true},
    {"code", FERRY_CLI_FLAG_STR, "CODE", "unique store code", true},
    {"name", FERRY_CLI_FLAG_STR, "NAME", "display name", true},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t STORE_LIST_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only stores of this customer", false},
    {"all", FERRY_CLI_FLAG_BOOL, NULL, "include disabled stores", false},
    {"query", FERRY_CLI_FLAG_STR, "TEXT", "only stores whose code or name contains TEXT", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_store_cmds[] = {
    {"create", "create a store under a customer", NULL, 0, STORE_CREATE_FLAGS, NULL, store_create, false},
    {"list", "list stores", NULL, 0, STORE_LIST_FLAGS, NULL, store_list, false},
    {"get", "show one store", "CODE", 1, NO_FLAGS, NULL, store_get, false},
    {"update", "change a store's name", "CODE", 1, NAME_FLAGS, NULL, store_update, false},
    {"disable", "disable a store (no new tasks)", "CODE", 1, NO_FLAGS, NULL, store_disable, false},
    {"enable", "re-enable a disabled store", "CODE", 1, NO_FLAGS, NULL, store_enable, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- nodes -------------------------------------------------------------- */

static int parse_env_flag(ferry_cli_t *cli, const char *s, int *out)
{
    *out = ferry_cli_parse_env(s);
    if (*out < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL,
                              "unknown environment '%s' (DEV, TEST, UAT, PROD)", s);
    return FERRY_CLI_EXIT_OK;
}

/* Prints a node together with its new token (create, rotate-token). */
static int show_node_token(ferry_cli_t *cli, const ProtobufCMessage *resp, const Ferry__V1__Node *node,
                           const char *token, const char *verb)
{
    json_t *o;

    if (cli->g.json)
        return ferry_cli_show(cli, resp, NULL, NULL);
    fprintf(cli->out, "%s node %s (store %s, customer %s, %s).\n", verb, node ? node->code : "?",
            node ? node->store_code : "?", node ? node->customer_code : "?",
            node ? ferry_cli_env_name((int)node->environment) : "?");
    fprintf(cli->out, "Node token (shown only once; enter it in the tray's bind wizard):\n%s\n", token);
    if (node != NULL && (o = ferry_cli_msg_json(&node->base)) != NULL) {
        ferry_cli_print_kv(cli->out, o, "node");
        json_decref(o);
    }
    return FERRY_CLI_EXIT_OK;
}

static int node_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateNodeRequest req = FERRY__V1__CREATE_NODE_REQUEST__INIT;
    Ferry__V1__CreateNodeResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int env, rc;

    if ((rc = parse_env_flag(cli, ferry_cli_arg(a, "env"), &env)) != 0)
        return rc;
    req.store_code = ferry_cli_s(ferry_cli_arg(a, "store"));
    req.code = ferry_cli_s(ferry_cli_arg(a, "code"));
    req.name = ferry_cli_s(ferry_cli_arg(a, "name"));
    req.time_zone = ferry_cli_s(ferry_cli_arg(a, "time-zone"));
    req.environment = (Ferry__V1__Environment)env;
    if (ferry_v1_admin_service_create_node(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create node", &st);
        goto out;
    }
    rc = show_node_token(cli, &resp->base, resp->node, resp->token, "Created");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const char *connectivity_name(int c)
{
    switch (c) {
    case 1:
        return "never-seen";
    case 2:
        return "online";
    case 3:
        return "offline";
    default:
        return "-";
    }
}

static void node_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__Node *n = item;
    char seen[40];
    const char *cells[8] = {n->code,
                            n->store_code,
                            n->customer_code,
                            ferry_cli_env_name((int)n->environment),
                            n->name,
                            n->disabled ? "disabled" : connectivity_name((int)n->connectivity),
                            n->installed_version,
                            ferry_cli_fmt_time(n->last_seen_at, seen, sizeof(seen))};
    ferry_cli_table_row(t, cells);
}

static int node_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListNodesRequest req = FERRY__V1__LIST_NODES_REQUEST__INIT;
    Ferry__V1__ListNodesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"CODE", "STORE",  "CUSTOMER", "ENV",
                                 "NAME", "STATUS", "VERSION",  "LAST SEEN"};
    int env, rc;

    if (ferry_cli_arg(a, "status") != NULL) /* seed 001 status: node_status.c */
        return ferry_cli_node_list_status(cli, a);
    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if (ferry_cli_arg(a, "env") != NULL) {
        if ((rc = parse_env_flag(cli, ferry_cli_arg(a, "env"), &env)) != 0)
            return rc;
        req.environment = (Ferry__V1__Environment)env;
    }
    req.include_disabled = ferry_cli_arg_set(a, "all");
    req.query = ferry_cli_s(ferry_cli_arg(a, "query"));
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.store_code = ferry_cli_s(ferry_cli_arg(a, "store"));
    req.installed_version = ferry_cli_s(ferry_cli_arg(a, "installed-version"));
    if (ferry_v1_admin_service_list_nodes(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list nodes", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 8, head, (void *const *)resp->nodes, resp->n_nodes, node_row,
                              resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int node_update(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__UpdateNodeRequest req = FERRY__V1__UPDATE_NODE_REQUEST__INIT;
    Google__Protobuf__StringValue name = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Google__Protobuf__StringValue tz = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    Ferry__V1__UpdateNodeResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int env, rc;

    req.code = (char *)a->pos[0];
    req.name = name_arg(a, &name);
    if (ferry_cli_arg(a, "env") != NULL) {
        if ((rc = parse_env_flag(cli, ferry_cli_arg(a, "env"), &env)) != 0)
            return rc;
        req.environment = (Ferry__V1__Environment)env;
    }
    if (ferry_cli_arg(a, "time-zone") != NULL) {
        tz.value = (char *)ferry_cli_arg(a, "time-zone");
        req.time_zone = &tz;
    }
    if (ferry_v1_admin_service_update_node(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "update node", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->node ? &resp->node->base : NULL, "Updated.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int node_rotate(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__RotateNodeTokenRequest req = FERRY__V1__ROTATE_NODE_TOKEN_REQUEST__INIT;
    Ferry__V1__RotateNodeTokenResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.code = (char *)a->pos[0];
    if (ferry_v1_admin_service_rotate_node_token(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "rotate node token", &st);
        goto out;
    }
    rc = show_node_token(cli, &resp->base, resp->node, resp->token, "New token for");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

TREE_GET(node, Node, NODE)
TREE_DISABLE(node, Node, NODE)

static const ferry_cli_flag_t NODE_CREATE_FLAGS[] = {
    {"store", FERRY_CLI_FLAG_STR, "CODE", "owning store's code", true},
    {"code", FERRY_CLI_FLAG_STR, "CODE", "unique node code (entered in the bind wizard)", true},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "environment: DEV, TEST, UAT or PROD", true},
    {"name", FERRY_CLI_FLAG_STR, "NAME", "display name (default: the code)", false},
    {"time-zone", FERRY_CLI_FLAG_STR, "TZ",
     "zone of release maintenance windows: UTC or an offset such as +08:00 (default: the server's)", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NODE_LIST_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only nodes of this customer", false},
    {"store", FERRY_CLI_FLAG_STR, "CODE", "only nodes of this store", false},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "only nodes of this environment", false},
    {"installed-version", FERRY_CLI_FLAG_STR, "V", "only nodes with this installed version", false},
    {"all", FERRY_CLI_FLAG_BOOL, NULL, "include disabled nodes", false},
    {"query", FERRY_CLI_FLAG_STR, "TEXT", "only nodes whose code or name contains TEXT", false},
    {"status", FERRY_CLI_FLAG_STR, "S", "ONLINE, OFFLINE, MAINTENANCE or EXPIRED (with --customer only)",
     false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NODE_UPDATE_FLAGS[] = {
    {"name", FERRY_CLI_FLAG_STR, "NAME", "new display name", false},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "new environment (existing tasks keep theirs)", false},
    {"time-zone", FERRY_CLI_FLAG_STR, "TZ", "new time zone: UTC, +08:00, ... (\"\" = the server's)", false},
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_node_cmds[] = {
    {"create", "create a node and print its token (once)", NULL, 0, NODE_CREATE_FLAGS,
     "The node token is printed only here (JSON key \"token\"); the server keeps only its hash.", node_create,
     false},
    {"list", "list nodes", NULL, 0, NODE_LIST_FLAGS, NULL, node_list, false},
    {"get", "show one node", "CODE", 1, NO_FLAGS, NULL, node_get, false},
    {"update", "change a node's name or environment", "CODE", 1, NODE_UPDATE_FLAGS, NULL, node_update, false},
    {"disable", "disable a node (its token is refused)", "CODE", 1, NO_FLAGS, NULL, node_disable, false},
    {"enable", "re-enable a disabled node", "CODE", 1, NO_FLAGS, NULL, node_enable, false},
    {"rotate-token", "issue a new node token (the old one stops working)", "CODE", 1, NO_FLAGS,
     "The new token is printed only here (JSON key \"token\").", node_rotate, false},
    {"history", "status transitions of a node, newest first", "CODE", 1, ferry_cli_node_history_flags, NULL,
     ferry_cli_node_history, false},
    {"maintenance", "set or clear maintenance (no task starts on the node meanwhile)", "CODE on|off", 2,
     ferry_cli_node_maintenance_flags, NULL, ferry_cli_node_maintenance, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
