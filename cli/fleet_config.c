/* Configuration distribution (seed 001 配置分发; issue 12): `ferry config template
 * put|list|show|history`, `ferry config assign|status|diff`. `ferry config` alone and
 * `ferry config show` stay the CLI's own connection settings (cmd_admin.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/fs.h"
#include "fleet.h"

#define TEMPLATE_FILE_MAX (256 * 1024)
#define DIFF_LINES_MAX    4000 /* lines per side the diff compares (LCS table: n*m cells) */

static const char *const TYPES[] = {"-", "SERVER", "DATABASE", "CACHE", "NETWORK"};
static const char *const FORMATS[] = {"json", "json", "ini", "plain"};
static const char *const STATES[] = {"-", "PENDING", "APPLIED", "FAILED", "ROLLED_BACK"};

static int pick(const char *s, const char *prefix, const char *const *names, int n)
{
    size_t pl = strlen(prefix);
    if (s == NULL)
        return -1;
    if (strncasecmp(s, prefix, pl) == 0)
        s += pl;
    for (int i = 1; i < n; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* ---- template ----------------------------------------------------------------------------- */

static int tpl_put(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__PutConfigTemplateRequest req = FERRY__V1__PUT_CONFIG_TEMPLATE_REQUEST__INIT;
    Ferry__V1__PutConfigTemplateResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_err_t err = {0};
    const char *file = ferry_cli_arg(a, "file"), *fmt = ferry_cli_arg(a, "format");
    char *data = NULL;
    size_t len = 0;
    int type, format = 1, rc;

    if ((type = pick(ferry_cli_arg(a, "type"), "CONFIG_TYPE_", TYPES, 5)) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                              "--type '%s': expected SERVER, DATABASE, CACHE or NETWORK",
                              ferry_cli_arg(a, "type"));
    if (fmt != NULL && (format = pick(fmt, "CONFIG_FORMAT_", FORMATS, 4)) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                              "--format '%s': expected json, ini or plain", fmt);
    if (ferry_fs_read_file(file, TEMPLATE_FILE_MAX, &data, &len, &err) != FERRY_OK)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, ferry_err_name(err.code), "--file: %s", err.msg);
    if (strlen(data) != len) {
        free(data);
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG", "--file '%s': contains NUL bytes",
                              file);
    }
    req.name = (char *)ferry_cli_arg(a, "name");
    req.type = (Ferry__V1__ConfigType)type;
    req.format = (Ferry__V1__ConfigFormat)format;
    req.data_json = data;
    req.target_path = (char *)ferry_cli_arg(a, "target");
    req.description = ferry_cli_s(ferry_cli_arg(a, "description"));
    req.restart_service = ferry_cli_arg_set(a, "restart");
    if (ferry_v1_admin_service_put_config_template(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "put config template", &st);
        goto out;
    }
    if (!cli->g.json)
        fprintf(cli->out, "Template %s version %" PRIu64 " stored.\n", resp->template_->name,
                resp->template_->version);
    rc = cli->g.json ? ferry_cli_show(cli, &resp->base, NULL, NULL) : FERRY_CLI_EXIT_OK;
out:
    free(data);
    FERRY_CLI_FREE(resp);
    return rc;
}

static void tpl_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__ConfigTemplate *x = item;
    char v[24], at[40];
    snprintf(v, sizeof(v), "%" PRIu64, x->version);
    const char *cells[] = {x->name,
                           v,
                           (int)x->type > 0 && (int)x->type < 5 ? TYPES[x->type] : "?",
                           (int)x->format >= 0 && (int)x->format < 4 ? FORMATS[x->format] : "?",
                           x->target_path,
                           x->restart_service ? "yes" : "no",
                           ferry_cli_fmt_time(x->created_at, at, sizeof(at))};
    ferry_cli_table_row(t, cells);
}

static int tpl_list_common(ferry_cli_t *cli, const ferry_cli_args_t *a, const char *name)
{
    Ferry__V1__ListConfigTemplatesRequest req = FERRY__V1__LIST_CONFIG_TEMPLATES_REQUEST__INIT;
    Ferry__V1__ListConfigTemplatesResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"NAME", "VERSION", "TYPE", "FORMAT", "TARGET", "RESTART", "CREATED"};
    const char *type = name == NULL ? ferry_cli_arg(a, "type") : NULL;
    int t, rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if (type != NULL) {
        if ((t = pick(type, "CONFIG_TYPE_", TYPES, 5)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--type '%s': expected SERVER, DATABASE, CACHE or NETWORK", type);
        req.type = (Ferry__V1__ConfigType)t;
    }
    req.name = ferry_cli_s(name);
    if (ferry_v1_admin_service_list_config_templates(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list config templates", &st);
        goto out;
    }
    if (name != NULL && resp->n_templates == 0 && req.page_token[0] == '\0') {
        rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_RPC, "E_NOT_FOUND", "config template '%s' not found", name);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 7, head, (void *const *)resp->templates, resp->n_templates,
                              tpl_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int tpl_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return tpl_list_common(cli, a, NULL);
}

static int tpl_history(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    return tpl_list_common(cli, a, a->pos[0]);
}

/* NAME or NAME@VERSION. */
static int name_version(ferry_cli_t *cli, const char *flag, const char *s, char *name, size_t size,
                        uint64_t *v)
{
    const char *at = strchr(s, '@');
    char *end = NULL;
    size_t n = at != NULL ? (size_t)(at - s) : strlen(s);
    *v = 0;
    if (n == 0 || n >= size)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                              "%s '%s': expected NAME or NAME@VERSION", flag, s);
    memcpy(name, s, n);
    name[n] = '\0';
    if (at != NULL) {
        errno = 0;
        unsigned long long x = strtoull(at + 1, &end, 10);
        if (at[1] < '1' || at[1] > '9' || end == NULL || *end != '\0' || errno != 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "%s '%s': the version after '@' is a number from 1", flag, s);
        *v = x;
    }
    return 0;
}

static int tpl_show(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetConfigTemplateRequest req = FERRY__V1__GET_CONFIG_TEMPLATE_REQUEST__INIT;
    Ferry__V1__GetConfigTemplateResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    char name[80];
    int rc;

    if ((rc = name_version(cli, "NAME", a->pos[0], name, sizeof(name), &req.version)) != 0)
        return rc;
    req.name = name;
    if (ferry_v1_admin_service_get_config_template(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get config template", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    {
        const Ferry__V1__ConfigTemplate *t = resp->template_;
        char at[40];
        fprintf(cli->out,
                "name:        %s\nversion:     %" PRIu64
                "\ntype:        %s\nformat:      %s\ntarget:      %s\n"
                "restart:     %s\ncreated:     %s by %s\ndescription: %s\ndata:\n%s\n",
                t->name, t->version, (int)t->type > 0 && (int)t->type < 5 ? TYPES[t->type] : "?",
                (int)t->format >= 0 && (int)t->format < 4 ? FORMATS[t->format] : "?", t->target_path,
                t->restart_service ? "yes" : "no", ferry_cli_fmt_time(t->created_at, at, sizeof(at)),
                t->created_by[0] ? t->created_by : "-", t->description, t->data_json);
    }
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* ---- assign / status / diff ------------------------------------------------------------------ */

int ferry_cli_config_assign(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__AssignConfigRequest req = FERRY__V1__ASSIGN_CONFIG_REQUEST__INIT;
    Ferry__V1__ReleaseScope scope = FERRY__V1__RELEASE_SCOPE__INIT;
    Ferry__V1__AssignConfigRequest__ValuesEntry ents[FERRY_CLI_MAX_MULTI], *pents[FERRY_CLI_MAX_MULTI];
    char keys[FERRY_CLI_MAX_MULTI][80];
    Ferry__V1__AssignConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    char name[80];
    size_t ns = 0, nn = 0, nv = 0;
    const char *const *stores = ferry_cli_arg_multi(a, "store", &ns);
    const char *const *nodes = ferry_cli_arg_multi(a, "node", &nn);
    const char *const *vals = ferry_cli_arg_multi(a, "set", &nv);
    const char *env = ferry_cli_arg(a, "env");
    int e, rc;

    if ((rc = name_version(cli, "--template", ferry_cli_arg(a, "template"), name, sizeof(name),
                           &req.template_version)) != 0)
        return rc;
    req.template_name = name;
    scope.customer_code = (char *)ferry_cli_arg(a, "customer");
    scope.store_codes = (char **)stores;
    scope.n_store_codes = ns;
    scope.node_codes = (char **)nodes;
    scope.n_node_codes = nn;
    if (env != NULL) {
        if ((e = ferry_cli_parse_env(env)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--env '%s': unknown environment", env);
        scope.environment = (Ferry__V1__Environment)e;
    }
    for (size_t i = 0; i < nv; i++) {
        const char *eq = strchr(vals[i], '=');
        size_t kl = eq != NULL ? (size_t)(eq - vals[i]) : 0;
        if (eq == NULL || kl == 0 || kl >= sizeof(keys[i]))
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--set '%s': expected NAME=VALUE", vals[i]);
        memcpy(keys[i], vals[i], kl);
        keys[i][kl] = '\0';
        ferry__v1__assign_config_request__values_entry__init(&ents[i]);
        ents[i].key = keys[i];
        ents[i].value = (char *)eq + 1;
        pents[i] = &ents[i];
    }
    req.values = pents;
    req.n_values = nv;
    req.scope = &scope;
    if (ferry_v1_admin_service_assign_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "assign config", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    fprintf(cli->out, "Assigned %s version %" PRIu64 " to %zu node(s):\n", name,
            resp->n_assignments > 0 ? resp->assignments[0]->template_version : 0, resp->n_assignments);
    for (size_t i = 0; i < resp->n_assignments; i++)
        fprintf(cli->out, "  %-24s assignment %s  sha256 %.12s\n", resp->assignments[i]->node_code,
                resp->assignments[i]->id, resp->assignments[i]->rendered_sha256);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static void asg_row(ferry_cli_table_t *t, const void *item)
{
    const Ferry__V1__ConfigAssignment *x = item;
    char v[24], at[40], ap[40];
    snprintf(v, sizeof(v), "%" PRIu64, x->template_version);
    const char *cells[] = {x->id,
                           x->node_code,
                           x->template_name,
                           v,
                           x->superseded                             ? "SUPERSEDED"
                           : (int)x->state >= 0 && (int)x->state < 5 ? STATES[x->state]
                                                                     : "?",
                           ferry_cli_fmt_time(x->assigned_at, at, sizeof(at)),
                           ferry_cli_fmt_time(x->applied_at, ap, sizeof(ap)),
                           x->error_message[0] ? x->error_message : "-"};
    ferry_cli_table_row(t, cells);
}

int ferry_cli_config_status(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListConfigAssignmentsRequest req = FERRY__V1__LIST_CONFIG_ASSIGNMENTS_REQUEST__INIT;
    Ferry__V1__ListConfigAssignmentsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID",    "NODE",     "TEMPLATE", "VERSION",
                                 "STATE", "ASSIGNED", "APPLIED",  "ERROR"};
    const char *s = ferry_cli_arg(a, "state");
    int v, rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.node_code = ferry_cli_s(ferry_cli_arg(a, "node"));
    req.template_name = ferry_cli_s(ferry_cli_arg(a, "template"));
    req.include_superseded = ferry_cli_arg_set(a, "history");
    if (s != NULL) {
        if ((v = pick(s, "CONFIG_ASSIGNMENT_STATE_", STATES, 5)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, "E_INVALID_ARG",
                                  "--state '%s': expected PENDING, APPLIED, FAILED or ROLLED_BACK", s);
        req.state = (Ferry__V1__ConfigAssignmentState)v;
    }
    if (ferry_v1_admin_service_list_config_assignments(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list config assignments", &st);
        goto out;
    }
    rc = ferry_cli_print_list(cli, &resp->base, 8, head, (void *const *)resp->assignments,
                              resp->n_assignments, asg_row, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* Splits |text| into lines (pointers into a copy); NULL on too many lines. */
static char **split_lines(const char *text, size_t *n, char **copy)
{
    size_t cap = 64;
    char **v = malloc(cap * sizeof(*v)), *p;
    *n = 0;
    *copy = strdup(text != NULL ? text : "");
    if (v == NULL || *copy == NULL) {
        free(v);
        free(*copy);
        *copy = NULL;
        return NULL;
    }
    for (p = *copy; *p != '\0';) {
        char *nl = strchr(p, '\n');
        if (*n == DIFF_LINES_MAX) {
            free(v);
            free(*copy);
            *copy = NULL;
            return NULL;
        }
        if (*n == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (nv == NULL) {
                free(v);
                free(*copy);
                *copy = NULL;
                return NULL;
            }
            v = nv;
        }
        v[(*n)++] = p;
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    return v;
}

/* A line diff (LCS) of |old| -> |new| as "-"/"+"/" " lines. Returns 0, or -1 when too large. */
static int print_diff(FILE *f, const char *old, const char *new_)
{
    size_t n = 0, m = 0;
    char *ca = NULL, *cb = NULL;
    char **a = split_lines(old, &n, &ca), **b = split_lines(new_, &m, &cb);
    uint16_t *L = NULL;
    int rc = -1;

    if (a == NULL || b == NULL || (L = calloc((n + 1) * (m + 1), sizeof(*L))) == NULL)
        goto out;
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            L[i * (m + 1) + j] = strcmp(a[i], b[j]) == 0 ? (uint16_t)(L[(i + 1) * (m + 1) + j + 1] + 1)
                                 : L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]
                                     ? L[(i + 1) * (m + 1) + j]
                                     : L[i * (m + 1) + j + 1];
    {
        size_t i = 0, j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && strcmp(a[i], b[j]) == 0) {
                fprintf(f, " %s\n", a[i]);
                i++;
                j++;
            } else if (j < m && (i == n || L[i * (m + 1) + j + 1] >= L[(i + 1) * (m + 1) + j])) {
                fprintf(f, "+%s\n", b[j++]);
            } else {
                fprintf(f, "-%s\n", a[i++]);
            }
        }
    }
    rc = 0;
out:
    free(L);
    free(a);
    free(b);
    free(ca);
    free(cb);
    return rc;
}

int ferry_cli_config_diff(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__DiffNodeConfigRequest req = FERRY__V1__DIFF_NODE_CONFIG_REQUEST__INIT;
    Ferry__V1__DiffNodeConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.node_code = (char *)ferry_cli_arg(a, "node");
    req.template_name = ferry_cli_s(ferry_cli_arg(a, "template"));
    if (ferry_v1_admin_service_diff_node_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "diff node config", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    if (resp->n_diffs == 0)
        fprintf(cli->out, "No configuration assigned to %s.\n", req.node_code);
    for (size_t i = 0; i < resp->n_diffs; i++) {
        const Ferry__V1__NodeConfigDiff *d = resp->diffs[i];
        const Ferry__V1__ConfigAssignment *l = d->latest, *ap = d->applied;
        fprintf(cli->out, "--- %s %s (applied: %s)\n+++ %s %s (latest: v%" PRIu64 ", %s)\n", d->template_name,
                d->target_path, ap != NULL ? "yes" : "none", d->template_name, d->target_path,
                l != NULL ? l->template_version : 0,
                l != NULL && (int)l->state >= 0 && (int)l->state < 5 ? STATES[l->state] : "-");
        if (!d->differs) {
            fprintf(cli->out, "(identical)\n");
            continue;
        }
        if (print_diff(cli->out, ap != NULL ? ap->rendered : "", l != NULL ? l->rendered : "") != 0)
            fprintf(cli->out, "(too large to compare line by line; sha256 %s vs %s)\n",
                    ap != NULL ? ap->rendered_sha256 : "-", l != NULL ? l->rendered_sha256 : "-");
    }
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

/* ---- tables ------------------------------------------------------------------------------- */

static const ferry_cli_flag_t PUT_FLAGS[] = {
    {"name", FERRY_CLI_FLAG_STR, "N", "template name (new name: version 1, else the next version)", true},
    {"type", FERRY_CLI_FLAG_STR, "T", "SERVER, DATABASE, CACHE or NETWORK", true},
    {"target", FERRY_CLI_FLAG_STR, "PATH", "file the agent writes, relative to the server directory", true},
    {"file", FERRY_CLI_FLAG_STR, "F", "the template: a JSON document with ${...} placeholders", true},
    {"format", FERRY_CLI_FLAG_STR, "FMT", "json (default), ini or plain", false},
    {"restart", FERRY_CLI_FLAG_BOOL, NULL, "restart the managed service after writing the file", false},
    {"description", FERRY_CLI_FLAG_STR, "TEXT", "free text", false},
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t LIST_FLAGS[] = {
    {"type", FERRY_CLI_FLAG_STR, "T", "only templates of this type", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t HISTORY_FLAGS[] = {
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_config_template_cmds[] = {
    {"put", "store a template (every put is a new version)", NULL, 0, PUT_FLAGS,
     "Placeholders in string values: ${node.code} ${node.name} ${store.code} ${customer.code} ${env}\n"
     "${var.NAME} (values given with `ferry config assign --set NAME=VALUE`). Formats: json (the document,\n"
     "pretty-printed), ini (top-level scalars, then one [section] per object), plain (one JSON string).",
     tpl_put, false},
    {"list", "list templates (latest version of each)", NULL, 0, LIST_FLAGS, NULL, tpl_list, false},
    {"show", "show a template version", "NAME[@VERSION]", 1, NO_FLAGS, NULL, tpl_show, false},
    {"history", "list every version of a template, newest first", "NAME", 1, HISTORY_FLAGS, NULL, tpl_history,
     false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

const ferry_cli_flag_t ferry_cli_config_assign_flags[] = {
    {"template", FERRY_CLI_FLAG_STR, "NAME[@VER]", "template and version (default: latest)", true},
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "the customer", true},
    {"store", FERRY_CLI_FLAG_MULTI, "CODE", "only nodes of this store", false},
    {"node", FERRY_CLI_FLAG_MULTI, "CODE", "this node (with --store: in addition)", false},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "only nodes of this environment", false},
    {"set", FERRY_CLI_FLAG_MULTI, "NAME=VALUE", "value of ${var.NAME}", false},
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_flag_t ferry_cli_config_status_flags[] = {
    {"node", FERRY_CLI_FLAG_STR, "CODE", "only this node", false},
    {"template", FERRY_CLI_FLAG_STR, "NAME", "only this template", false},
    {"state", FERRY_CLI_FLAG_STR, "S", "PENDING, APPLIED, FAILED or ROLLED_BACK", false},
    {"history", FERRY_CLI_FLAG_BOOL, NULL,
     "also assignments a newer one replaced (marked SUPERSEDED; default: each node's current one)", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_flag_t ferry_cli_config_diff_flags[] = {
    {"node", FERRY_CLI_FLAG_STR, "CODE", "the node", true},
    {"template", FERRY_CLI_FLAG_STR, "NAME", "only this template", false},
    {NULL, 0, NULL, NULL, false},
};
