/* The in-process hub for integration tests: see hub_harness.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hub_harness.h"

#include <ctype.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path) == 0 ? 0 : -1;
    return unlink(path) == 0 ? 0 : -1;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Serves the already-initialised h->dir: open the hub, bind, attach, start. */
static int serve(hh_t *h)
{
    ferry_err_t err = {0};
    ferry_hub_config_t cfg = {0};
    ferry_rpc_server_config_t scfg = {0};

    cfg.data_dir = h->dir;
    cfg.poll_interval_s = h->opts.poll_interval_s;
    cfg.offline_after_s = h->opts.offline_after_s;
    cfg.url_ttl_s = h->opts.url_ttl_s;
    cfg.keepalive_s = h->opts.keepalive_s;
    cfg.upload_ttl_s = h->opts.upload_ttl_s;
    cfg.upload_sweep_s = h->opts.upload_sweep_s;
    if ((h->hub = ferry_hub_open(&cfg, &err)) == NULL) {
        fprintf(stderr, "hh: ferry_hub_open: %s\n", err.msg);
        return -1;
    }
    scfg.host = "127.0.0.1";
    scfg.port = 0;
    scfg.threads = h->opts.threads;
    scfg.workers = h->opts.workers;
    scfg.shutdown_grace_ms = 2000;
    if ((h->srv = ferry_rpc_server_new(&scfg, &err)) == NULL) {
        fprintf(stderr, "hh: ferry_rpc_server_new: %s\n", err.msg);
        return -1;
    }
    if (ferry_hub_attach(h->hub, h->srv, &err) != FERRY_OK) {
        fprintf(stderr, "hh: ferry_hub_attach: %s\n", err.msg);
        return -1;
    }
    if (ferry_rpc_server_start(h->srv, &err) != FERRY_OK) {
        fprintf(stderr, "hh: ferry_rpc_server_start: %s\n", err.msg);
        return -1;
    }
    h->port = ferry_rpc_server_port(h->srv);
    ferry_hub_set_port(h->hub, h->port);
    snprintf(h->base_url, sizeof(h->base_url), "http://127.0.0.1:%u", (unsigned)h->port);
    if ((h->admin = hh_client(h, h->admin_token)) == NULL)
        return -1;
    return 0;
}

/* Stops the server and frees the hub; keeps the data dir. */
static void unserve(hh_t *h)
{
    if (h->admin != NULL) {
        ferry_rpc_client_free(h->admin);
        h->admin = NULL;
    }
    if (h->srv != NULL) {
        ferry_rpc_server_shutdown(h->srv);
        ferry_rpc_server_wait(h->srv);
        ferry_rpc_server_free(h->srv);
        h->srv = NULL;
    }
    ferry_hub_free(h->hub);
    h->hub = NULL;
}

int hh_start(hh_t *h, const hh_options_t *opts)
{
    ferry_err_t err = {0};
    const char *tmp = getenv("TMPDIR");
    char base[PATH_MAX - 32];

    memset(h, 0, sizeof(*h));
    if (opts != NULL)
        h->opts = *opts;
    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(base, sizeof(base), "%s/ferry-%s-XXXXXX", tmp, h->opts.tag != NULL ? h->opts.tag : "hub");
    if (mkdtemp(base) == NULL) {
        perror("hh: mkdtemp");
        return -1;
    }
    /* ferry_hub_init creates the data dir itself (and refuses an initialised one):
     * hand it a fresh subdirectory of the temp dir. */
    snprintf(h->dir, sizeof(h->dir), "%s/data", base);
    snprintf(h->db_path, sizeof(h->db_path), "%s/data/ferry.db", base);
    if (ferry_hub_init(h->dir, h->admin_token, sizeof(h->admin_token), &err) != FERRY_OK) {
        fprintf(stderr, "hh: ferry_hub_init: %s\n", err.msg);
        goto fail;
    }
    if (serve(h) != 0)
        goto fail;
    return 0;
fail:
    hh_stop(h);
    return -1;
}

int hh_restart(hh_t *h)
{
    unserve(h);
    return serve(h);
}

void hh_stop(hh_t *h)
{
    char base[PATH_MAX];
    char *slash;

    unserve(h);
    if (h->dir[0] != '\0' && getenv("FERRY_KEEP_TMP") == NULL) {
        snprintf(base, sizeof(base), "%s", h->dir);
        if ((slash = strrchr(base, '/')) != NULL)
            *slash = '\0';
        rm_rf(base);
    } else if (h->dir[0] != '\0') {
        fprintf(stderr, "hh: kept %s\n", h->dir);
    }
    h->dir[0] = '\0';
}

ferry_rpc_client_t *hh_client(const hh_t *h, const char *token)
{
    ferry_err_t err = {0};
    ferry_rpc_client_config_t cfg = {0};
    ferry_rpc_client_t *c;

    cfg.base_url = h->base_url;
    cfg.bearer_token = token;
    cfg.default_timeout_ms = 30000;
    if ((c = ferry_rpc_client_new(&cfg, &err)) == NULL)
        fprintf(stderr, "hh: ferry_rpc_client_new: %s\n", err.msg);
    return c;
}

static int rpc_failed(const char *what, ferry_rpc_code_t code, const ferry_rpc_status_t *st)
{
    fprintf(stderr, "hh: %s: %s [%s] %s\n", what, ferry_rpc_code_name(code), st->app_code, st->message);
    return -1;
}

int hh_create_customer(hh_t *h, const char *code, const char *name)
{
    Ferry__V1__CreateCustomerRequest req = FERRY__V1__CREATE_CUSTOMER_REQUEST__INIT;
    Ferry__V1__CreateCustomerResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_code_t rc;

    req.code = (char *)code;
    req.name = (char *)(name != NULL ? name : code);
    rc = ferry_v1_admin_service_create_customer(h->admin, &req, &resp, NULL, &st);
    if (rc != FERRY_RPC_OK)
        return rpc_failed("CreateCustomer", rc, &st);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

int hh_create_store(hh_t *h, const char *customer_code, const char *code, const char *name)
{
    Ferry__V1__CreateStoreRequest req = FERRY__V1__CREATE_STORE_REQUEST__INIT;
    Ferry__V1__CreateStoreResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_code_t rc;

    req.customer_code = (char *)customer_code;
    req.code = (char *)code;
    req.name = (char *)(name != NULL ? name : code);
    rc = ferry_v1_admin_service_create_store(h->admin, &req, &resp, NULL, &st);
    if (rc != FERRY_RPC_OK)
        return rpc_failed("CreateStore", rc, &st);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

int hh_create_node(hh_t *h, const char *store_code, const char *code, int env, char *token, size_t size)
{
    Ferry__V1__CreateNodeRequest req = FERRY__V1__CREATE_NODE_REQUEST__INIT;
    Ferry__V1__CreateNodeResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_code_t rc;

    req.store_code = (char *)store_code;
    req.code = (char *)code;
    req.environment = (Ferry__V1__Environment)env;
    rc = ferry_v1_admin_service_create_node(h->admin, &req, &resp, NULL, &st);
    if (rc != FERRY_RPC_OK)
        return rpc_failed("CreateNode", rc, &st);
    if (token != NULL) {
        if (resp->token == NULL || strlen(resp->token) >= size) {
            fprintf(stderr, "hh: CreateNode: token missing or longer than %zu\n", size);
            protobuf_c_message_free_unpacked(&resp->base, NULL);
            return -1;
        }
        strcpy(token, resp->token);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return 0;
}

static int exists(const hh_t *h, const char *table, const char *code)
{
    char sql[256];
    const char *p;

    /* Codes the tests pass are plain identifiers; refuse anything else rather than
     * quote it. */
    for (p = code; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return -1;
    snprintf(sql, sizeof(sql), "code = '%s'", code);
    return (int)hh_count(h, table, sql);
}

int hh_create_tree(hh_t *h, const char *customer_code, const char *store_code, const char *node_code, int env,
                   char *token, size_t size)
{
    if (exists(h, "customer", customer_code) == 0 && hh_create_customer(h, customer_code, NULL) != 0)
        return -1;
    if (exists(h, "store", store_code) == 0 && hh_create_store(h, customer_code, store_code, NULL) != 0)
        return -1;
    return hh_create_node(h, store_code, node_code, env, token, size);
}

int hh_create_admin_token(hh_t *h, int role, const char *name, char *token, size_t size)
{
    Ferry__V1__CreateAdminTokenRequest req = FERRY__V1__CREATE_ADMIN_TOKEN_REQUEST__INIT;
    Ferry__V1__CreateAdminTokenResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    ferry_rpc_code_t rc;
    int ret = -1;

    req.name = (char *)(name != NULL ? name : "");
    req.role = (Ferry__V1__Role)role;
    rc = ferry_v1_admin_service_create_admin_token(h->admin, &req, &resp, NULL, &st);
    if (rc != FERRY_RPC_OK)
        return rpc_failed("CreateAdminToken", rc, &st);
    if (resp->secret == NULL || strlen(resp->secret) >= size)
        fprintf(stderr, "hh: CreateAdminToken: secret missing or longer than %zu\n", size);
    else {
        strcpy(token, resp->secret);
        ret = 0;
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    return ret;
}

static sqlite3 *open_ro(const hh_t *h)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(h->db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "hh: open %s: %s\n", h->db_path, db != NULL ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Runs |sql| and hands the first row's first column to the caller via |stmt_out|. */
static int query_first(const hh_t *h, const char *sql, sqlite3 **db_out, sqlite3_stmt **stmt_out)
{
    sqlite3 *db = open_ro(h);
    sqlite3_stmt *st = NULL;

    if (db == NULL)
        return -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "hh: %s: %s\n", sql, sqlite3_errmsg(db));
        sqlite3_close(db);
        return -1;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        return -1;
    }
    *db_out = db;
    *stmt_out = st;
    return 0;
}

long long hh_query_int(const hh_t *h, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long v;

    if (query_first(h, sql, &db, &st) != 0)
        return -1;
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

int hh_query_text(const hh_t *h, const char *sql, char *out, size_t size)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    const unsigned char *t;

    if (size > 0)
        out[0] = '\0';
    if (query_first(h, sql, &db, &st) != 0)
        return -1;
    t = sqlite3_column_text(st, 0);
    snprintf(out, size, "%s", t != NULL ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

long hh_count(const hh_t *h, const char *table, const char *where)
{
    char sql[1024];
    const char *p;

    for (p = table; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') {
            fprintf(stderr, "hh: count: '%s' is not a table name\n", table);
            return -1;
        }
    if (where != NULL)
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s", table, where);
    else
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return (long)hh_query_int(h, sql);
}
