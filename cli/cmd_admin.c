/* `ferry token ...`, `ferry storage ...`, `ferry whoami`, `ferry dashboard`,
 * `ferry version`, `ferry config show`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "fleet.h"

static const char *role_name(int r)
{
    return r == 1 ? "sysadmin" : r == 2 ? "implementer" : "-";
}

/* ---- tokens ------------------------------------------------------------- */

static int token_create(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__CreateAdminTokenRequest req = FERRY__V1__CREATE_ADMIN_TOKEN_REQUEST__INIT;
    Google__Protobuf__Duration ttl = GOOGLE__PROTOBUF__DURATION__INIT;
    Ferry__V1__CreateAdminTokenResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_err_t err = {0};
    uint64_t ms;
    int role, rc;
    json_t *obj;

    if ((role = ferry_cli_parse_role(ferry_cli_arg(a, "role"))) < 0)
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--role must be sysadmin or implementer");
    if (ferry_cli_arg(a, "ttl") != NULL) {
        if (ferry_cli_parse_duration_ms(ferry_cli_arg(a, "ttl"), &ms, &err) != FERRY_OK)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--ttl: %s", err.msg);
        ttl.seconds = (int64_t)(ms / 1000);
        req.ttl = &ttl;
    }
    req.name = ferry_cli_s(ferry_cli_arg(a, "name"));
    req.role = (Ferry__V1__Role)role;
    if (ferry_v1_admin_service_create_admin_token(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "create token", &st);
        goto out;
    }
    if (cli->g.json) {
        /* The secret is printed once, by design; "token" carries it like `node create`. */
        obj = json_object();
        json_object_set_new(obj, "id", json_string(resp->token ? resp->token->id : ""));
        json_object_set_new(obj, "token", json_string(resp->secret));
        json_object_set_new(obj, "adminToken",
                            resp->token ? ferry_cli_msg_json(&resp->token->base) : json_null());
        rc = ferry_cli_emit(cli, obj);
        goto out;
    }
    fprintf(cli->out, "Created %s token %s (%s). Secret (shown only once):\n%s\n", role_name(role),
            resp->token ? resp->token->id : "?", req.name, resp->secret);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int token_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListAdminTokensRequest req = FERRY__V1__LIST_ADMIN_TOKENS_REQUEST__INIT;
    Ferry__V1__ListAdminTokensResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"ID", "NAME", "ROLE", "CREATED", "LAST USED", "EXPIRES", "REVOKED"};
    ferry_cli_table_t t;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    req.include_revoked = ferry_cli_arg_set(a, "all");
    if (ferry_v1_admin_service_list_admin_tokens(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list tokens", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 7, head);
    for (size_t i = 0; i < resp->n_tokens; i++) {
        const Ferry__V1__AdminToken *k = resp->tokens[i];
        char c[40], u[40], e[40], r[40];
        const char *cells[7] = {k->id,
                                k->name,
                                role_name((int)k->role),
                                ferry_cli_fmt_time(k->created_at, c, sizeof(c)),
                                ferry_cli_fmt_time(k->last_used_at, u, sizeof(u)),
                                ferry_cli_fmt_time(k->expires_at, e, sizeof(e)),
                                ferry_cli_fmt_time(k->revoked_at, r, sizeof(r))};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int token_revoke(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__RevokeAdminTokenRequest req = FERRY__V1__REVOKE_ADMIN_TOKEN_REQUEST__INIT;
    Ferry__V1__RevokeAdminTokenResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.id = (char *)a->pos[0];
    if (ferry_v1_admin_service_revoke_admin_token(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "revoke token", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->token ? &resp->token->base : NULL, "Revoked.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t TOKEN_CREATE_FLAGS[] = {
    {"name", FERRY_CLI_FLAG_STR, "NAME", "human name, e.g. alice or ci-pipeline", true},
    {"role", FERRY_CLI_FLAG_STR, "ROLE", "sysadmin or implementer", true},
    {"ttl", FERRY_CLI_FLAG_STR, "DURATION", "lifetime, e.g. 720h (default: never expires)", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t TOKEN_LIST_FLAGS[] = {
    {"all", FERRY_CLI_FLAG_BOOL, NULL, "include revoked and expired tokens", false},
    FERRY_CLI_PAGE_FLAGS,
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t NO_FLAGS[] = {{NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_token_cmds[] = {
    {"create", "create an admin token (secret printed once)", NULL, 0, TOKEN_CREATE_FLAGS,
     "JSON: {\"id\", \"token\" (the secret, shown only here), \"adminToken\"}.", token_create, false},
    {"list", "list admin tokens (never their secrets)", NULL, 0, TOKEN_LIST_FLAGS, NULL, token_list, false},
    {"revoke", "revoke an admin token", "ID", 1, NO_FLAGS, NULL, token_revoke, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- storage ------------------------------------------------------------ */

static int storage_set(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__SetStorageConfigRequest req = FERRY__V1__SET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__StorageConfig cfg = FERRY__V1__STORAGE_CONFIG__INIT;
    Ferry__V1__LocalDirStorage local = FERRY__V1__LOCAL_DIR_STORAGE__INIT;
    Ferry__V1__S3Storage s3 = FERRY__V1__S3_STORAGE__INIT;
    Google__Protobuf__Duration ttl = GOOGLE__PROTOBUF__DURATION__INIT;
    Ferry__V1__SetStorageConfigResponse *resp = NULL;
    Ferry__V1__DownloadMirror mirrors[FERRY_CLI_MAX_MULTI], *mptr[FERRY_CLI_MAX_MULTI];
    char *mnames[FERRY_CLI_MAX_MULTI] = {NULL};
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    ferry_err_t err = {0};
    const char *kind = ferry_cli_arg(a, "kind");
    const char *const *mv;
    size_t nm = 0;
    uint64_t ms;
    int rc;

    cfg.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (strcasecmp(kind, "local") == 0 || strcasecmp(kind, "local-dir") == 0) {
        cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
        local.root = ferry_cli_s(ferry_cli_arg(a, "root"));
        local.public_base_url = ferry_cli_s(ferry_cli_arg(a, "public-base-url"));
        cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR;
        cfg.local_dir = &local;
    } else if (strcasecmp(kind, "s3") == 0) {
        const char *secret_env = ferry_cli_arg(a, "secret-access-key-env");
        cfg.kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3;
        s3.endpoint = ferry_cli_s(ferry_cli_arg(a, "endpoint"));
        s3.region = ferry_cli_s(ferry_cli_arg(a, "region"));
        s3.bucket = ferry_cli_s(ferry_cli_arg(a, "bucket"));
        s3.prefix = ferry_cli_s(ferry_cli_arg(a, "prefix"));
        s3.access_key_id = ferry_cli_s(ferry_cli_arg(a, "access-key-id"));
        s3.secret_access_key = ferry_cli_s(secret_env ? getenv(secret_env) : NULL);
        s3.path_style = ferry_cli_arg_set(a, "path-style");
        cfg.settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_S3;
        cfg.s3 = &s3;
    } else {
        return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--kind must be local or s3");
    }
    if (ferry_cli_arg(a, "url-ttl") != NULL) {
        if (ferry_cli_parse_duration_ms(ferry_cli_arg(a, "url-ttl"), &ms, &err) != FERRY_OK)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--url-ttl: %s", err.msg);
        ttl.seconds = (int64_t)(ms / 1000);
        cfg.url_ttl = &ttl;
    }
    /* --mirror NAME=URL, in the order agents try them (the server validates both halves). */
    mv = ferry_cli_arg_multi(a, "mirror", &nm);
    for (size_t i = 0; i < nm; i++) {
        const char *eq = strchr(mv[i], '=');
        if (eq == NULL || eq == mv[i] || eq[1] == '\0') {
            rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "--mirror '%s': expected NAME=URL", mv[i]);
            goto out;
        }
        if ((mnames[i] = strndup(mv[i], (size_t)(eq - mv[i]))) == NULL) {
            rc = ferry_cli_fail(cli, FERRY_CLI_EXIT_OTHER, NULL, "out of memory");
            goto out;
        }
        ferry__v1__download_mirror__init(&mirrors[i]);
        mirrors[i].name = mnames[i];
        mirrors[i].base_url = (char *)(eq + 1);
        mptr[i] = &mirrors[i];
    }
    cfg.n_mirrors = nm;
    cfg.mirrors = nm > 0 ? mptr : NULL;
    req.config = &cfg;
    if (ferry_v1_admin_service_set_storage_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "set storage config", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->config ? &resp->config->base : NULL, "Stored.");
out:
    for (size_t i = 0; i < nm; i++)
        free(mnames[i]);
    FERRY_CLI_FREE(resp);
    return rc;
}

static int storage_get(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetStorageConfigRequest req = FERRY__V1__GET_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__GetStorageConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    req.effective = ferry_cli_arg_set(a, "effective");
    if (ferry_v1_admin_service_get_storage_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "get storage config", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, resp->config ? &resp->config->base : NULL,
                        resp->inherited ? "(inherited from the global configuration)" : NULL);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int storage_list(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__ListStorageConfigsRequest req = FERRY__V1__LIST_STORAGE_CONFIGS_REQUEST__INIT;
    Ferry__V1__ListStorageConfigsResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    static const char *head[] = {"CUSTOMER", "KIND", "LOCATION", "MIRRORS", "UPDATED"};
    ferry_cli_table_t t;
    int rc;

    if ((rc = ferry_cli_paging(cli, a, &req.page_size, &req.page_token)) != 0)
        return rc;
    if (ferry_v1_admin_service_list_storage_configs(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "list storage configs", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    ferry_cli_table_init(&t, 5, head);
    for (size_t i = 0; i < resp->n_configs; i++) {
        const Ferry__V1__StorageConfig *c = resp->configs[i];
        char loc[512], upd[40], mir[2400] = "";
        size_t used = 0;
        for (size_t k = 0; k < c->n_mirrors && used < sizeof(mir); k++) {
            int w = snprintf(mir + used, sizeof(mir) - used, "%s%s=%s", k ? ", " : "", c->mirrors[k]->name,
                             c->mirrors[k]->base_url);
            used += w > 0 ? (size_t)w : 0;
        }
        if (c->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_S3 && c->s3)
            snprintf(loc, sizeof(loc), "%s/%s/%s", c->s3->endpoint, c->s3->bucket, c->s3->prefix);
        else if (c->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR && c->local_dir)
            snprintf(loc, sizeof(loc), "%s", c->local_dir->root[0] ? c->local_dir->root : "(data dir)");
        else
            snprintf(loc, sizeof(loc), "-");
        const char *cells[5] = {c->customer_code[0] ? c->customer_code : "(global)",
                                c->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3 ? "s3" : "local", loc,
                                mir, ferry_cli_fmt_time(c->updated_at, upd, sizeof(upd))};
        ferry_cli_table_row(&t, cells);
    }
    ferry_cli_table_print(&t, cli->out);
    ferry_cli_table_free(&t);
    ferry_cli_next_page(cli, resp->next_page_token);
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int storage_delete(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__DeleteStorageConfigRequest req = FERRY__V1__DELETE_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__DeleteStorageConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_delete_storage_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "delete storage config", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, NULL, resp->deleted ? "Override removed." : "No override existed.");
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int storage_test(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__TestStorageConfigRequest req = FERRY__V1__TEST_STORAGE_CONFIG_REQUEST__INIT;
    Ferry__V1__TestStorageConfigResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_test_storage_config(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "test storage config", &st);
        goto out;
    }
    rc = ferry_cli_show(cli, &resp->base, NULL, resp->ok ? "Storage works." : "Storage test FAILED.");
    if (rc == FERRY_CLI_EXIT_OK && !resp->ok)
        rc = FERRY_CLI_EXIT_RPC;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static const ferry_cli_flag_t STORAGE_SET_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "set this customer's override (default: the global config)",
     false},
    {"kind", FERRY_CLI_FLAG_STR, "KIND", "local or s3", true},
    {"root", FERRY_CLI_FLAG_STR, "DIR", "local: directory on the server (default: blobs/ in the data dir)",
     false},
    {"public-base-url", FERRY_CLI_FLAG_STR, "URL", "local: base URL put in signed links", false},
    {"endpoint", FERRY_CLI_FLAG_STR, "URL", "s3: endpoint", false},
    {"region", FERRY_CLI_FLAG_STR, "REGION", "s3: region", false},
    {"bucket", FERRY_CLI_FLAG_STR, "BUCKET", "s3: bucket", false},
    {"prefix", FERRY_CLI_FLAG_STR, "PREFIX", "s3: key prefix", false},
    {"access-key-id", FERRY_CLI_FLAG_STR, "ID", "s3: access key id", false},
    {"secret-access-key-env", FERRY_CLI_FLAG_STR, "VAR",
     "s3: name of the environment variable holding the secret key (unset: keep the stored one)", false},
    {"path-style", FERRY_CLI_FLAG_BOOL, NULL, "s3: path-style URLs", false},
    {"url-ttl", FERRY_CLI_FLAG_STR, "DURATION", "lifetime of signed URLs, e.g. 1h", false},
    {"mirror", FERRY_CLI_FLAG_MULTI, "NAME=URL",
     "download mirror tried after the primary storage, in the order given (repeatable, at most 8)", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t STORAGE_GET_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "this customer's override (default: the global config)", false},
    {"effective", FERRY_CLI_FLAG_BOOL, NULL, "with --customer: the configuration in effect for it", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t STORAGE_CUSTOMER_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "customer code", false},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t STORAGE_DELETE_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "customer whose override is removed", true},
    {NULL, 0, NULL, NULL, false},
};
static const ferry_cli_flag_t PAGE_FLAGS[] = {FERRY_CLI_PAGE_FLAGS, {NULL, 0, NULL, NULL, false}};

const ferry_cli_cmd_t ferry_cli_storage_cmds[] = {
    {"set", "set the global storage configuration or a customer's override", NULL, 0, STORAGE_SET_FLAGS,
     "Replaces the whole configuration, mirrors included: give every --mirror each time (none = no\n"
     "mirrors). A mirror serves the same blobs under the same paths: agents get\n"
     "URL + /blobs/sha256/<hex> + the primary's signed query, after the primary.",
     storage_set, false},
    {"get", "show a storage configuration (secrets never shown)", NULL, 0, STORAGE_GET_FLAGS, NULL,
     storage_get, false},
    {"list", "list the global configuration and every override", NULL, 0, PAGE_FLAGS, NULL, storage_list,
     false},
    {"delete", "remove a customer's override", NULL, 0, STORAGE_DELETE_FLAGS, NULL, storage_delete, false},
    {"test", "probe a stored configuration (write, read, sign, delete)", NULL, 0, STORAGE_CUSTOMER_FLAGS,
     NULL, storage_test, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

/* ---- misc --------------------------------------------------------------- */

static int whoami(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__WhoAmIRequest req = FERRY__V1__WHO_AM_IREQUEST__INIT;
    Ferry__V1__WhoAmIResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    int rc;

    (void)a;
    if (ferry_v1_admin_service_who_am_i(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "whoami", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    fprintf(cli->out, "token %s (%s), role %s, server %s %s\n", resp->token_id, resp->name,
            role_name((int)resp->role), cli->cfg.server, resp->server_version);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int dashboard(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    Ferry__V1__GetDashboardRequest req = FERRY__V1__GET_DASHBOARD_REQUEST__INIT;
    Ferry__V1__GetDashboardResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_call_opts_t o = ferry_cli_opts(cli, false);
    const char *env = ferry_cli_arg(a, "env");
    int e, rc;

    if (env != NULL) {
        if ((e = ferry_cli_parse_env(env)) < 0)
            return ferry_cli_fail(cli, FERRY_CLI_EXIT_USAGE, NULL, "unknown environment '%s'", env);
        req.environment = (Ferry__V1__Environment)e;
    }
    req.customer_code = ferry_cli_s(ferry_cli_arg(a, "customer"));
    if (ferry_v1_admin_service_get_dashboard(cli->client, &req, &resp, &o, &st) != FERRY_RPC_OK) {
        rc = ferry_cli_fail_rpc(cli, "dashboard", &st);
        goto out;
    }
    if (cli->g.json) {
        rc = ferry_cli_show(cli, &resp->base, NULL, NULL);
        goto out;
    }
    fprintf(cli->out, "nodes: %llu total, %llu online, %llu offline, %llu never seen; %llu open release(s)\n",
            (unsigned long long)resp->nodes_total, (unsigned long long)resp->nodes_online,
            (unsigned long long)resp->nodes_offline, (unsigned long long)resp->nodes_never_seen,
            (unsigned long long)resp->releases_open);
    for (size_t i = 0; i < resp->n_tasks_by_state; i++)
        fprintf(cli->out, "  %3d %-18s %llu\n", (int)resp->tasks_by_state[i]->state,
                ferry_cli_task_state_name((int)resp->tasks_by_state[i]->state),
                (unsigned long long)resp->tasks_by_state[i]->count);
    for (size_t i = 0; i < resp->n_failures_by_error; i++)
        fprintf(cli->out, "  %-22s %llu\n", resp->failures_by_error[i]->error_code,
                (unsigned long long)resp->failures_by_error[i]->count);
    rc = FERRY_CLI_EXIT_OK;
out:
    FERRY_CLI_FREE(resp);
    return rc;
}

static int version(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    (void)a;
    if (cli->g.json)
        return ferry_cli_emit(cli, json_pack("{s:s}", "version", "0.1.0"));
    fprintf(cli->out, "ferry 0.1.0\n");
    return FERRY_CLI_EXIT_OK;
}

static int config_show(ferry_cli_t *cli, const ferry_cli_args_t *a)
{
    const ferry_cli_config_t *c = &cli->cfg;
    (void)a;

    /* Never the token itself: only where it came from. */
    if (cli->g.json)
        return ferry_cli_emit(cli, json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I, s:s}", "server", c->server,
                                             "serverSource", ferry_cli_source_name(c->server_src), "tokenSet",
                                             c->token[0] != '\0', "tokenSource",
                                             ferry_cli_source_name(c->token_src), "caFile", c->ca_file,
                                             "pinSha256", c->pin_sha256, "timeoutMs",
                                             (json_int_t)c->timeout_ms, "configFile", c->config_path));
    fprintf(cli->out,
            "server:  %s (%s)\ntoken:   %s (%s)\nca-file: %s\npin:     %s\ntimeout: %llums\nconfig:  %s\n",
            c->server[0] ? c->server : "-", ferry_cli_source_name(c->server_src),
            c->token[0] ? "set" : "unset", ferry_cli_source_name(c->token_src),
            c->ca_file[0] ? c->ca_file : "-", c->pin_sha256[0] ? c->pin_sha256 : "-",
            (unsigned long long)c->timeout_ms, c->config_path[0] ? c->config_path : "-");
    return FERRY_CLI_EXIT_OK;
}

static const ferry_cli_flag_t DASH_FLAGS[] = {
    {"customer", FERRY_CLI_FLAG_STR, "CODE", "only this customer", false},
    {"env", FERRY_CLI_FLAG_STR, "ENV", "only this environment", false},
    {NULL, 0, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_misc_cmds[] = {
    {"whoami", "show the calling token's identity and role", NULL, 0, NO_FLAGS, NULL, whoami, false},
    {"dashboard", "server-wide counts: nodes online, tasks per state, failures", NULL, 0, DASH_FLAGS, NULL,
     dashboard, false},
    {"version", "print the CLI version", NULL, 0, NO_FLAGS, NULL, version, true},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};

const ferry_cli_cmd_t ferry_cli_config_cmds[] = {
    {"show", "show the resolved server, token source, TLS settings and timeout", NULL, 0, NO_FLAGS,
     "Precedence: flags > environment (FERRY_SERVER, FERRY_TOKEN, FERRY_CA_FILE, FERRY_PIN_SHA256,\n"
     "FERRY_TIMEOUT, FERRY_CONFIG) > config file. The token is never printed.",
     config_show, true},
    /* configuration distribution (fleet_config.c); `ferry config template ...` is a group of its own */
    {"assign", "assign a template version to the nodes of a scope (pushed at once)", NULL, 0,
     ferry_cli_config_assign_flags, NULL, ferry_cli_config_assign, false},
    {"status", "per node: PENDING, APPLIED, FAILED or ROLLED_BACK", NULL, 0, ferry_cli_config_status_flags,
     NULL, ferry_cli_config_status, false},
    {"diff", "a node's latest assignment vs what it last applied", NULL, 0, ferry_cli_config_diff_flags, NULL,
     ferry_cli_config_diff, false},
    {NULL, NULL, NULL, 0, NULL, NULL, NULL, false},
};
