/*
 * Storage configuration: one global configuration plus optional per-customer
 * overrides (seed 000 decision 10), and hub_storage_signed_url(), which picks the
 * one that applies and signs a URL with it.
 *
 * Kinds:
 *   LOCAL_DIR (the embedded default, always available): ferryd's own blob store
 *     serves the signed URLs. `public_base_url` lets an override hand out a
 *     different host (e.g. a customer-side name for the same server); `root` must be
 *     "" in this version (only the data dir's blob store is served).
 *   S3: stored and validated (secret write-only, never returned: has_secret says
 *     whether one is set), but blobs still live in the local store, so signed URLs
 *     for an S3 configuration are, for now, those of the local store (the contract of
 *     hub_storage_signed_url); TestStorageConfig answers `unimplemented` for it.
 * No stored global row = the embedded default (LOCAL_DIR, the hub's base URL, the
 * hub's URL TTL). Settings are kept as JSON text in storage_config.settings_json.
 *
 * Mirrors (seed 003): up to HUB_MIRRORS_MAX extra base URLs serving the same blobs
 * under the same relative paths, kept in storage_config.mirrors_json. They belong to
 * the configuration that applies (a customer's override brings its own list; the
 * global one's mirrors are not inherited by an override). hub_storage_download_sources()
 * lists the primary signed URL first, then each mirror with the same path and signed
 * query: agents verify the signed manifest and the SHA-256, so a mirror is trusted for
 * availability only, never for content.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth_internal.h"
#include "ferry/fs.h"
#include "ferry/store/storage.h"
#include "ferry/store/tree.h"
#include "hub_frame.h"
#include "hub_pkg.h"

#define URL_MAX         200
#define TTL_MIN_S       60
#define TTL_MAX_S       (7 * 86400)
#define TEXT_MAX        256
#define MIRROR_NAME_MAX 32

/* Source names the server hands out itself; a mirror may not take one. */
#define SOURCE_PRIMARY  "primary"
#define SOURCE_CUSTOMER "customer-storage"

typedef struct mirror {
    char name[MIRROR_NAME_MAX + 1];
    char base_url[URL_MAX + 1]; /* no trailing '/' */
} mirror_t;

/* A configuration as stored (or the default). Strings are owned (malloc). */
typedef struct stcfg {
    int kind; /* Ferry__V1__StorageKind */
    char *root, *public_base_url;
    char *endpoint, *region, *bucket, *prefix, *access_key_id, *secret;
    bool path_style;
    int64_t url_ttl_s; /* 0 = the hub's default */
    char *customer_code;
    int64_t updated_at;
    char *updated_by;
    bool stored;
    size_t n_mirrors;
    mirror_t mirrors[HUB_MIRRORS_MAX];
} stcfg_t;

static void stcfg_free(stcfg_t *c)
{
    free(c->root);
    free(c->public_base_url);
    free(c->endpoint);
    free(c->region);
    free(c->bucket);
    free(c->prefix);
    free(c->access_key_id);
    if (c->secret != NULL)
        memset(c->secret, 0, strlen(c->secret));
    free(c->secret);
    free(c->customer_code);
    free(c->updated_by);
    memset(c, 0, sizeof(*c));
}

static char *jstr(json_t *o, const char *k)
{
    return hub_strdup(json_string_value(json_object_get(o, k)));
}

static void stcfg_default(stcfg_t *c)
{
    memset(c, 0, sizeof(*c));
    c->kind = FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
    c->root = hub_strdup("");
    c->public_base_url = hub_strdup("");
    c->customer_code = hub_strdup("");
    c->updated_by = hub_strdup("");
}

/* Fills |c| from a stored row. */
static void stcfg_from_row(stcfg_t *c, const ferry_store_storage_row_t *r)
{
    json_t *j = json_loads(r->settings_json, 0, NULL);

    memset(c, 0, sizeof(*c));
    c->kind = strcmp(r->kind, "s3") == 0 ? FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3
                                         : FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR;
    c->root = jstr(j, "root");
    c->public_base_url = jstr(j, "public_base_url");
    c->endpoint = jstr(j, "endpoint");
    c->region = jstr(j, "region");
    c->bucket = jstr(j, "bucket");
    c->prefix = jstr(j, "prefix");
    c->access_key_id = jstr(j, "access_key_id");
    c->secret = jstr(j, "secret_access_key");
    c->path_style = json_is_true(json_object_get(j, "path_style"));
    c->url_ttl_s = json_integer_value(json_object_get(j, "url_ttl_s"));
    c->updated_at = r->updated_at;
    c->updated_by = hub_strdup(r->updated_by);
    c->customer_code = hub_strdup(r->customer_code);
    c->stored = true;
    json_decref(j);
    /* Written only by set_storage_config (validated); anything else is skipped. */
    json_t *m = json_loads(r->mirrors_json, 0, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(m, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *url = json_string_value(json_object_get(e, "baseUrl"));
        if (c->n_mirrors >= HUB_MIRRORS_MAX || name == NULL || url == NULL ||
            strlen(name) > MIRROR_NAME_MAX || strlen(url) > URL_MAX)
            continue;
        snprintf(c->mirrors[c->n_mirrors].name, sizeof(c->mirrors[0].name), "%s", name);
        snprintf(c->mirrors[c->n_mirrors].base_url, sizeof(c->mirrors[0].base_url), "%s", url);
        c->n_mirrors++;
    }
    json_decref(m);
}

/* |c| from row |r| (in scratch memory |a|), or the default when |r| is NULL. */
static void stcfg_set(stcfg_t *c, const ferry_store_storage_row_t *r)
{
    stcfg_free(c);
    if (r != NULL)
        stcfg_from_row(c, r);
    else
        stcfg_default(c);
}

/* Wipes a settings row copy (it may hold the S3 secret) before its arena is freed. */
static void row_wipe(ferry_store_storage_row_t *r)
{
    if (r != NULL && r->settings_json != NULL)
        memset(r->settings_json, 0, strlen(r->settings_json));
}

/* The message form; the secret is never copied (has_secret only). */
static Ferry__V1__StorageConfig *to_msg(hub_arena_t *a, const stcfg_t *c)
{
    Ferry__V1__StorageConfig *m = hub_arena_alloc(a, sizeof(*m));
    if (m == NULL)
        return NULL;
    ferry__v1__storage_config__init(m);
    m->customer_code = hub_arena_strdup(a, c->customer_code);
    m->kind = (Ferry__V1__StorageKind)c->kind;
    if (c->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3) {
        Ferry__V1__S3Storage *s = hub_arena_alloc(a, sizeof(*s));
        if (s != NULL) {
            ferry__v1__s3_storage__init(s);
            s->endpoint = hub_arena_strdup(a, c->endpoint);
            s->region = hub_arena_strdup(a, c->region);
            s->bucket = hub_arena_strdup(a, c->bucket);
            s->prefix = hub_arena_strdup(a, c->prefix);
            s->access_key_id = hub_arena_strdup(a, c->access_key_id);
            s->secret_access_key = hub_arena_strdup(a, "");
            s->path_style = c->path_style;
            m->settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_S3;
            m->s3 = s;
        }
    } else {
        Ferry__V1__LocalDirStorage *l = hub_arena_alloc(a, sizeof(*l));
        if (l != NULL) {
            ferry__v1__local_dir_storage__init(l);
            l->root = hub_arena_strdup(a, c->root);
            l->public_base_url = hub_arena_strdup(a, c->public_base_url);
            m->settings_case = FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR;
            m->local_dir = l;
        }
    }
    if (c->url_ttl_s > 0 && (m->url_ttl = hub_arena_alloc(a, sizeof(*m->url_ttl))) != NULL) {
        google__protobuf__duration__init(m->url_ttl);
        m->url_ttl->seconds = c->url_ttl_s;
    }
    m->updated_at = hub_arena_ts(a, c->updated_at);
    m->updated_by = hub_arena_strdup(a, c->updated_by);
    m->has_secret = c->secret != NULL && c->secret[0] != '\0';
    if (c->n_mirrors > 0 && (m->mirrors = hub_arena_alloc(a, c->n_mirrors * sizeof(*m->mirrors))) != NULL) {
        for (size_t i = 0; i < c->n_mirrors; i++) {
            Ferry__V1__DownloadMirror *dm = hub_arena_alloc(a, sizeof(*dm));
            if (dm == NULL)
                break;
            ferry__v1__download_mirror__init(dm);
            dm->name = hub_arena_strdup(a, c->mirrors[i].name);
            dm->base_url = hub_arena_strdup(a, c->mirrors[i].base_url);
            m->mirrors[m->n_mirrors++] = dm;
        }
    }
    return m;
}

/* ---- validation --------------------------------------------------------------------------- */

static ferry_err_code_t check_url(const char *field, const char *u, bool required, ferry_err_t *err)
{
    size_t n = strlen(u);
    if (n == 0)
        return required ? ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: required", field) : FERRY_OK;
    if (n > URL_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: at most %d characters", field, URL_MAX);
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s': must start with http:// or https://", field,
                             u);
    for (size_t i = 0; i < n; i++)
        if (u[i] == '?' || u[i] == '#' || u[i] <= ' ' || u[i] == 0x7f)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "%s '%s': no query, fragment, spaces or control characters", field, u);
    return FERRY_OK;
}

static ferry_err_code_t check_text(const char *field, const char *s, bool required, ferry_err_t *err)
{
    if (required && s[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: required", field);
    if (strlen(s) > TEXT_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: at most %d characters", field, TEXT_MAX);
    return FERRY_OK;
}

ferry_err_code_t hub_mirror_name_check(const char *field, const char *name, ferry_err_t *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > MIRROR_NAME_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%.40s': 1..%d characters required", field, name,
                             MIRROR_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "%s '%.40s': only letters, digits, '.', '_' and '-'", field, name);
    }
    if (strcasecmp(name, SOURCE_PRIMARY) == 0 || strcasecmp(name, SOURCE_CUSTOMER) == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s': reserved for the primary storage", field,
                             name);
    return FERRY_OK;
}

ferry_err_code_t hub_mirror_url_check(const char *field, const char *url, ferry_err_t *err)
{
    ferry_err_code_t rc;
    if ((rc = check_url(field, url, true, err)) != FERRY_OK)
        return rc;
    const char *host = strstr(url, "://") + 3, *end = host + strcspn(host, "/");
    if (end == host)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s': a host is required", field, url);
    if (memchr(host, '@', (size_t)(end - host)) != NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "%s: no user:password@ part (the URL is handed to every agent)", field);
    return FERRY_OK;
}

/* Validates the mirrors of |m| into |c|: at most HUB_MIRRORS_MAX, names valid and unique
 * (case-insensitive), URLs http(s) with a host and no query or fragment. */
static ferry_err_code_t mirrors_from_msg(const Ferry__V1__StorageConfig *m, stcfg_t *c, ferry_err_t *err)
{
    ferry_err_code_t rc;
    char field[48];
    if (m->n_mirrors > HUB_MIRRORS_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "mirrors: at most %d (got %zu)", HUB_MIRRORS_MAX,
                             m->n_mirrors);
    for (size_t i = 0; i < m->n_mirrors; i++) {
        const Ferry__V1__DownloadMirror *dm = m->mirrors[i];
        const char *name = dm != NULL && dm->name != NULL ? dm->name : "";
        const char *url = dm != NULL && dm->base_url != NULL ? dm->base_url : "";
        snprintf(field, sizeof(field), "mirrors[%zu].name", i);
        if ((rc = hub_mirror_name_check(field, name, err)) != FERRY_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(c->mirrors[j].name, name) == 0)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s '%s': the same name as mirrors[%zu]",
                                     field, name, j);
        snprintf(field, sizeof(field), "mirrors[%zu].base_url", i);
        if ((rc = hub_mirror_url_check(field, url, err)) != FERRY_OK)
            return rc;
        snprintf(c->mirrors[i].name, sizeof(c->mirrors[i].name), "%s", name);
        snprintf(c->mirrors[i].base_url, sizeof(c->mirrors[i].base_url), "%s", url);
        size_t n = strlen(c->mirrors[i].base_url);
        while (n > 0 && c->mirrors[i].base_url[n - 1] == '/')
            c->mirrors[i].base_url[--n] = '\0';
        c->n_mirrors = i + 1;
    }
    return FERRY_OK;
}

/* Validates |m| into |c| (strings copied). |prev_secret|: the stored one, kept when none is given. */
static ferry_err_code_t from_msg(const Ferry__V1__StorageConfig *m, const char *prev_secret, stcfg_t *c,
                                 ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;

    stcfg_default(c);
    if (m == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "config: required");
    c->kind = m->kind;
    if (m->url_ttl != NULL) {
        if (m->url_ttl->seconds < TTL_MIN_S || m->url_ttl->seconds > TTL_MAX_S)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "url_ttl: between %d s and %d s (got %lld s)",
                                 TTL_MIN_S, TTL_MAX_S, (long long)m->url_ttl->seconds);
        c->url_ttl_s = m->url_ttl->seconds;
    }
    if ((rc = mirrors_from_msg(m, c, err)) != FERRY_OK)
        return rc;
    if (m->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR) {
        const Ferry__V1__LocalDirStorage *l =
            m->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_LOCAL_DIR ? m->local_dir : NULL;
        if (m->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_S3)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "config: kind LOCAL_DIR with s3 settings");
        if (l != NULL && l->root[0] != '\0')
            return ferry_err_set(
                err, FERRY_E_INVALID_ARG,
                "local_dir.root '%.100s': only the data dir's blob store ('') is served by this "
                "version",
                l->root);
        if (l != NULL &&
            (rc = check_url("local_dir.public_base_url", l->public_base_url, false, err)) != FERRY_OK)
            return rc;
        free(c->public_base_url);
        c->public_base_url = hub_strdup(l != NULL ? l->public_base_url : "");
        /* stored without a trailing '/': paths start with one */
        size_t n = strlen(c->public_base_url);
        while (n > 0 && c->public_base_url[n - 1] == '/')
            c->public_base_url[--n] = '\0';
        return FERRY_OK;
    }
    if (m->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3) {
        const Ferry__V1__S3Storage *s =
            m->settings_case == FERRY__V1__STORAGE_CONFIG__SETTINGS_S3 ? m->s3 : NULL;
        if (s == NULL)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "config: kind S3 needs s3 settings");
        if ((rc = check_url("s3.endpoint", s->endpoint, true, err)) != FERRY_OK ||
            (rc = check_text("s3.region", s->region, false, err)) != FERRY_OK ||
            (rc = check_text("s3.bucket", s->bucket, true, err)) != FERRY_OK ||
            (rc = check_text("s3.prefix", s->prefix, false, err)) != FERRY_OK ||
            (rc = check_text("s3.access_key_id", s->access_key_id, true, err)) != FERRY_OK ||
            (rc = check_text("s3.secret_access_key", s->secret_access_key, false, err)) != FERRY_OK)
            return rc;
        if (s->secret_access_key[0] == '\0' && (prev_secret == NULL || prev_secret[0] == '\0'))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "s3.secret_access_key: required (none is stored yet)");
        c->endpoint = hub_strdup(s->endpoint);
        c->region = hub_strdup(s->region);
        c->bucket = hub_strdup(s->bucket);
        c->prefix = hub_strdup(s->prefix);
        c->access_key_id = hub_strdup(s->access_key_id);
        c->secret = hub_strdup(s->secret_access_key[0] != '\0' ? s->secret_access_key : prev_secret);
        c->path_style = s->path_style;
        return FERRY_OK;
    }
    return ferry_err_set(err, FERRY_E_INVALID_ARG, "kind: required, LOCAL_DIR or S3 (got %d)", (int)m->kind);
}

static char *settings_json(const stcfg_t *c)
{
    json_t *j = json_object();
    char *out;
    if (c->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3) {
        json_object_set_new(j, "endpoint", json_string(c->endpoint));
        json_object_set_new(j, "region", json_string(c->region));
        json_object_set_new(j, "bucket", json_string(c->bucket));
        json_object_set_new(j, "prefix", json_string(c->prefix));
        json_object_set_new(j, "access_key_id", json_string(c->access_key_id));
        json_object_set_new(j, "secret_access_key", json_string(c->secret));
        json_object_set_new(j, "path_style", json_boolean(c->path_style));
    } else {
        json_object_set_new(j, "root", json_string(c->root));
        json_object_set_new(j, "public_base_url", json_string(c->public_base_url));
    }
    if (c->url_ttl_s > 0)
        json_object_set_new(j, "url_ttl_s", json_integer(c->url_ttl_s));
    out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return out;
}

/* The mirrors as stored: proto3 JSON of ferry.v1.DownloadMirror, in order (malloc'd). */
static char *mirrors_json(const stcfg_t *c)
{
    json_t *arr = json_array();
    char *out;
    for (size_t i = 0; arr != NULL && i < c->n_mirrors; i++)
        json_array_append_new(
            arr, json_pack("{s:s,s:s}", "name", c->mirrors[i].name, "baseUrl", c->mirrors[i].base_url));
    out = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return out;
}

/* customer code -> id (0 for ""): on the writer (store lock held) or read-only connection. */
static ferry_err_code_t customer_id_of(ferry_store_t *st, bool ro, const char *code, int64_t *id,
                                       ferry_err_t *err)
{
    ferry_err_code_t rc;

    *id = 0;
    if (code == NULL || code[0] == '\0')
        return FERRY_OK;
    if ((rc = hub_check_code("customer_code", code, err)) != FERRY_OK)
        return rc;
    return ro ? ferry_store_tree_id_ro(st, FERRY_STORE_CUSTOMER, code, id, NULL, err)
              : ferry_store_tree_id(st, FERRY_STORE_CUSTOMER, code, id, NULL, err);
}

/* ---- handlers ------------------------------------------------------------------------------ */

#define W (HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT)

HUB_METHOD(admin, set_storage_config, Ferry__V1__SetStorageConfigRequest, Ferry__V1__SetStorageConfigResponse,
           W, NULL)
HUB_METHOD(admin, get_storage_config, Ferry__V1__GetStorageConfigRequest, Ferry__V1__GetStorageConfigResponse,
           0, NULL)
HUB_METHOD(admin, list_storage_configs, Ferry__V1__ListStorageConfigsRequest,
           Ferry__V1__ListStorageConfigsResponse, 0, NULL)
HUB_METHOD(admin, delete_storage_config, Ferry__V1__DeleteStorageConfigRequest,
           Ferry__V1__DeleteStorageConfigResponse, W, NULL)
/* A probe of the disk and the URL key: worker pool, no transaction. */
HUB_METHOD(admin, test_storage_config, Ferry__V1__TestStorageConfigRequest,
           Ferry__V1__TestStorageConfigResponse, HUB_FRAME_OFFLOAD, NULL)

static ferry_err_code_t set_storage_config_body(hub_frame_t *f, const Ferry__V1__SetStorageConfigRequest *req,
                                                Ferry__V1__SetStorageConfigResponse *resp, ferry_err_t *err)
{
    const char *code = req->config != NULL ? req->config->customer_code : "";
    ferry_store_storage_put_t put = {0};
    ferry_store_storage_row_t *row = NULL;
    hub_arena_t scratch = {0};
    stcfg_t prev, next;
    char *json = NULL, *mirrors = NULL;
    ferry_err_code_t rc;

    stcfg_default(&prev);
    stcfg_default(&next);
    hub_frame_target(f, "storage:%.64s", code[0] != '\0' ? code : "global");
    if ((rc = customer_id_of(f->store, false, code, &put.customer_id, err)) != FERRY_OK ||
        (rc = ferry_store_storage_get(f->store, &scratch, put.customer_id, &row, err)) != FERRY_OK)
        goto out;
    stcfg_set(&prev, row);
    row_wipe(row);
    stcfg_free(&next);
    if ((rc =
             from_msg(req->config, prev.kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3 ? prev.secret : NULL,
                      &next, err)) != FERRY_OK)
        goto out;
    if ((json = settings_json(&next)) == NULL || (mirrors = mirrors_json(&next)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    put.kind = next.kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3 ? "s3" : "local_dir";
    put.settings_json = json;
    put.mirrors_json = mirrors;
    put.updated_at = hub_now_ms();
    put.updated_by = f->me != NULL ? f->me->row_id : 0;
    if ((rc = ferry_store_storage_put(f->store, &put, err)) != FERRY_OK ||
        (rc = ferry_store_storage_get(f->store, &scratch, put.customer_id, &row, err)) != FERRY_OK)
        goto out;
    stcfg_set(&next, row);
    row_wipe(row);
    if ((resp->config = to_msg(&f->arena, &next)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    if (json != NULL) {
        memset(json, 0, strlen(json));
        free(json);
    }
    free(mirrors);
    stcfg_free(&prev);
    stcfg_free(&next);
    hub_arena_free(&scratch);
    return rc;
}

static ferry_err_code_t get_storage_config_body(hub_frame_t *f, const Ferry__V1__GetStorageConfigRequest *req,
                                                Ferry__V1__GetStorageConfigResponse *resp, ferry_err_t *err)
{
    ferry_store_storage_row_t *row = NULL;
    hub_arena_t scratch = {0};
    int64_t customer_id = 0;
    stcfg_t c;
    ferry_err_code_t rc;

    stcfg_default(&c);
    if ((rc = customer_id_of(f->store, true, req->customer_code, &customer_id, err)) != FERRY_OK ||
        (rc = ferry_store_storage_get_ro(f->store, &scratch, customer_id, &row, err)) != FERRY_OK)
        goto out;
    if (row == NULL && customer_id > 0) {
        if (!req->effective) {
            rc =
                ferry_err_set(err, FERRY_E_NOT_FOUND,
                              "customer '%s' has no storage override (ask with effective=true for the one in "
                              "effect)",
                              req->customer_code);
            goto out;
        }
        if ((rc = ferry_store_storage_get_ro(f->store, &scratch, 0, &row, err)) != FERRY_OK)
            goto out;
        resp->inherited = true;
    }
    stcfg_set(&c, row);
    row_wipe(row);
    if ((resp->config = to_msg(&f->arena, &c)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
out:
    stcfg_free(&c);
    hub_arena_free(&scratch);
    return rc;
}

static ferry_err_code_t list_storage_configs_body(hub_frame_t *f,
                                                  const Ferry__V1__ListStorageConfigsRequest *req,
                                                  Ferry__V1__ListStorageConfigsResponse *resp,
                                                  ferry_err_t *err)
{
    ferry_store_storage_row_t *global = NULL, **rows = NULL;
    hub_arena_t scratch = {0};
    int limit = hub_page_limit(req->page_size);
    int64_t offset;
    size_t n = 0;
    bool more = false;
    stcfg_t c;
    ferry_err_code_t rc;

    stcfg_default(&c);
    if ((rc = hub_page_token_read(req->page_token, &offset, err)) != FERRY_OK)
        goto out;
    if ((resp->configs = hub_arena_alloc(&f->arena, ((size_t)limit + 1) * sizeof(*resp->configs))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    /* Row 0 is the global configuration (stored or default); overrides follow by code. */
    if (offset == 0) {
        if ((rc = ferry_store_storage_get_ro(f->store, &scratch, 0, &global, err)) != FERRY_OK)
            goto out;
        stcfg_set(&c, global);
        row_wipe(global);
        resp->configs[resp->n_configs++] = to_msg(&f->arena, &c);
    }
    if ((rc = ferry_store_storage_overrides_ro(f->store, &scratch, offset > 0 ? offset - 1 : 0,
                                               limit - (int)resp->n_configs + 1, &rows, &n, &more, err)) !=
        FERRY_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((int)resp->n_configs >= limit) {
            more = true;
            break;
        }
        stcfg_set(&c, rows[i]);
        row_wipe(rows[i]);
        resp->configs[resp->n_configs++] = to_msg(&f->arena, &c);
    }
    if (more)
        resp->next_page_token = hub_arena_printf(&f->arena, "%" PRId64, offset + (int64_t)resp->n_configs);
out:
    for (size_t i = 0; i < n; i++)
        row_wipe(rows[i]);
    stcfg_free(&c);
    hub_arena_free(&scratch);
    return rc;
}

static ferry_err_code_t delete_storage_config_body(hub_frame_t *f,
                                                   const Ferry__V1__DeleteStorageConfigRequest *req,
                                                   Ferry__V1__DeleteStorageConfigResponse *resp,
                                                   ferry_err_t *err)
{
    int64_t customer_id = 0;
    bool deleted = false;
    ferry_err_code_t rc;

    hub_frame_target(f, "storage:%.64s", req->customer_code[0] ? req->customer_code : "global");
    if (req->customer_code[0] == '\0')
        return ferry_err_set(
            err, FERRY_E_INVALID_ARG,
            "customer_code: required (the global configuration cannot be deleted; set it instead)");
    if ((rc = customer_id_of(f->store, false, req->customer_code, &customer_id, err)) != FERRY_OK ||
        (rc = ferry_store_storage_delete(f->store, customer_id, &deleted, err)) != FERRY_OK)
        return rc;
    resp->deleted = deleted;
    return FERRY_OK;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Probes the local store: write + read back + remove a file in the blob dir, and a
 * sign/verify round trip with the hub's URL key. */
static ferry_err_code_t test_storage_config_body(hub_frame_t *f,
                                                 const Ferry__V1__TestStorageConfigRequest *req,
                                                 Ferry__V1__TestStorageConfigResponse *resp, ferry_err_t *err)
{
    ferry_hub_t *hub = f->hub;
    hub_arena_t *a = &f->arena;
    Google__Protobuf__Duration *lat = hub_arena_alloc(a, sizeof(*lat));
    ferry_store_storage_row_t *row = NULL;
    hub_arena_t scratch = {0};
    ferry_err_t perr = {0};
    stcfg_t c;
    int64_t customer_id = 0, t0 = mono_us();
    char path[PATH_MAX], name[64], query[FERRY_SIGNURL_QUERY_MAX];
    char **steps = hub_arena_alloc(a, 3 * sizeof(char *)), *back = NULL;
    uint8_t probe[16];
    ferry_err_code_t rc = FERRY_OK;

    stcfg_default(&c);
    if (lat == NULL || steps == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if (req->config != NULL) {
        stcfg_free(&c);
        if ((rc = from_msg(req->config, "unchecked", &c, err)) != FERRY_OK)
            goto out;
    } else {
        if ((rc = customer_id_of(f->store, true, req->customer_code, &customer_id, err)) != FERRY_OK ||
            (rc = ferry_store_storage_get_ro(f->store, &scratch, customer_id, &row, err)) != FERRY_OK)
            goto out;
        if (row == NULL && customer_id > 0) {
            rc = ferry_err_set(err, FERRY_E_NOT_FOUND, "customer '%s' has no storage override",
                               req->customer_code);
            goto out;
        }
        stcfg_set(&c, row);
        row_wipe(row);
    }
    if (c.kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_S3) {
        rc = ferry_err_set(
            err, FERRY_E_UNSUPPORTED,
            "TestStorageConfig: probing S3-compatible storage is not implemented in this version "
            "(the configuration is stored and validated)");
        goto out;
    }
    resp->ok = true;
    if (ferry_random_bytes(probe, sizeof(probe), &perr) != FERRY_OK ||
        snprintf(name, sizeof(name), "%s/.probe-%ld", HUB_BLOB_DIR, (long)getpid()) < 0 ||
        ferry_fs_join(path, sizeof(path), hub->data_dir, name) != FERRY_OK ||
        ferry_fs_write_atomic(path, probe, sizeof(probe), 0600, &perr) != FERRY_OK) {
        resp->ok = false;
        steps[0] = hub_arena_strdup(a, perr.msg[0] ? perr.msg : "write: failed");
    } else {
        size_t len = 0;
        steps[0] = hub_arena_strdup(a, "write ok");
        if (ferry_fs_read_file(path, 64, &back, &len, &perr) != FERRY_OK || len != sizeof(probe) ||
            memcmp(back, probe, len) != 0) {
            resp->ok = false;
            steps[1] = hub_arena_strdup(a, "read: content differs or unreadable");
        } else {
            steps[1] = hub_arena_strdup(a, "read ok, delete ok");
        }
        unlink(path);
    }
    if (ferry_signurl_make(hub->url_key, sizeof(hub->url_key), "GET", "/blobs/probe",
                           (int64_t)time(NULL) + 60, query, sizeof(query), &perr) != FERRY_OK ||
        ferry_signurl_verify(hub->url_key, sizeof(hub->url_key), "GET", "/blobs/probe", query,
                             (int64_t)time(NULL), &perr) != FERRY_OK) {
        resp->ok = false;
        steps[2] = hub_arena_strdup(a, "sign: failed");
    } else {
        steps[2] = hub_arena_strdup(a, "sign ok");
    }
    resp->steps = steps;
    resp->n_steps = steps[1] != NULL ? 3 : 2;
    if (steps[1] == NULL) {
        steps[1] = steps[2];
        steps[2] = NULL;
    }
    google__protobuf__duration__init(lat);
    lat->seconds = (mono_us() - t0) / 1000000;
    lat->nanos = (int32_t)(((mono_us() - t0) % 1000000) * 1000);
    resp->latency = lat;
out:
    free(back);
    stcfg_free(&c);
    hub_arena_free(&scratch);
    return rc;
}

/* ---- signed URLs ---------------------------------------------------------------------------------- */

/* The configuration in effect for |customer_id| (0 = global) into |c|: the customer's
 * own, else the global one, else the default. *override: the customer's own applied. */
static ferry_err_code_t effective_cfg(ferry_hub_t *hub, int64_t customer_id, stcfg_t *c, bool *override,
                                      ferry_err_t *err)
{
    ferry_store_storage_row_t *row = NULL;
    hub_arena_t scratch = {0};
    ferry_err_code_t rc =
        ferry_store_storage_effective_ro(hub->store, &scratch, customer_id, &row, override, err);
    if (rc == FERRY_OK)
        stcfg_set(c, row);
    row_wipe(row);
    hub_arena_free(&scratch);
    return rc;
}

/* Signs |method| on |path| with configuration |c| into |url| (+ expiry in unix ms). */
static ferry_err_code_t sign_with(ferry_hub_t *hub, const stcfg_t *c, const char *method, const char *path,
                                  char *url, size_t size, int64_t *expires_at, ferry_err_t *err)
{
    char query[FERRY_SIGNURL_QUERY_MAX];
    ferry_err_code_t rc;
    /* LOCAL_DIR, and for now S3 too (blobs live in the local store). */
    const char *base = c->kind == FERRY__V1__STORAGE_KIND__STORAGE_KIND_LOCAL_DIR &&
                               c->public_base_url != NULL && c->public_base_url[0] != '\0'
                           ? c->public_base_url
                           : hub->base_url;
    int64_t ttl = c->url_ttl_s > 0 ? c->url_ttl_s : (int64_t)hub->cfg.url_ttl_s;
    int64_t exp = (int64_t)time(NULL) + ttl;

    if ((rc = ferry_signurl_make(hub->url_key, sizeof(hub->url_key), method, path, exp, query, sizeof(query),
                                 err)) != FERRY_OK)
        return rc;
    if ((size_t)snprintf(url, size, "%s%s?%s", base, path, query) >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "signed URL longer than %zu bytes", size);
    if (expires_at != NULL)
        *expires_at = exp * 1000;
    return FERRY_OK;
}

ferry_err_code_t hub_storage_signed_url(ferry_hub_t *hub, int64_t customer_id, const char *method,
                                        const char *path, char *url, size_t size, int64_t *expires_at,
                                        ferry_err_t *err)
{
    stcfg_t c;
    bool override;
    ferry_err_code_t rc;

    stcfg_default(&c);
    if (method == NULL || path == NULL || path[0] != '/' || url == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "signed URL: method and an absolute path are required");
        goto out;
    }
    if ((rc = effective_cfg(hub, customer_id, &c, &override, err)) == FERRY_OK)
        rc = sign_with(hub, &c, method, path, url, size, expires_at, err);
out:
    stcfg_free(&c);
    return rc;
}

ferry_err_code_t hub_storage_download_sources(ferry_hub_t *hub, hub_arena_t *a, int64_t customer_id,
                                              const char *path, Ferry__V1__DownloadSource ***out, size_t *n,
                                              ferry_err_t *err)
{
    char url[2048];
    stcfg_t c;
    bool override;
    int64_t expires = 0;
    ferry_err_code_t rc;
    Ferry__V1__DownloadSource **srcs = NULL;
    Google__Protobuf__Timestamp *exp_ts;
    const char *query;

    *out = NULL;
    *n = 0;
    stcfg_default(&c);
    if (path == NULL || path[0] != '/') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "download sources: an absolute path is required");
        goto out;
    }
    if ((rc = effective_cfg(hub, customer_id, &c, &override, err)) != FERRY_OK ||
        (rc = sign_with(hub, &c, "GET", path, url, sizeof(url), &expires, err)) != FERRY_OK)
        goto out;
    query = strchr(url, '?'); /* sign_with always writes one */
    srcs = hub_arena_alloc(a, (c.n_mirrors + 1) * sizeof(*srcs));
    exp_ts = hub_arena_ts(a, expires);
    for (size_t i = 0; srcs != NULL && i <= c.n_mirrors; i++) {
        Ferry__V1__DownloadSource *src = hub_arena_alloc(a, sizeof(*src));
        if (src == NULL)
            break;
        ferry__v1__download_source__init(src);
        src->expires_at = exp_ts;
        if (i == 0) {
            src->name = (char *)(override ? SOURCE_CUSTOMER : SOURCE_PRIMARY);
            src->url = hub_arena_strdup(a, url);
            src->priority = 0;
        } else {
            /* Same relative path and signed query: a Ferry mirror checks the signature,
             * a plain file server ignores the query. */
            src->name = hub_arena_strdup(a, c.mirrors[i - 1].name);
            src->url =
                hub_arena_printf(a, "%s%s%s", c.mirrors[i - 1].base_url, path, query != NULL ? query : "");
            src->priority = (int32_t)(10 * i);
        }
        srcs[(*n)++] = src;
    }
    if (a->failed || srcs == NULL) {
        *n = 0;
        rc = ferry_err_set(err, FERRY_E_NOMEM, "download sources: out of memory");
        goto out;
    }
    *out = srcs;
out:
    stcfg_free(&c);
    return rc;
}

void hub_storage_bind(ferry_hub_t *hub)
{
    hub->admin.set_storage_config = set_storage_config;
    hub->admin.get_storage_config = get_storage_config;
    hub->admin.list_storage_configs = list_storage_configs;
    hub->admin.delete_storage_config = delete_storage_config;
    hub->admin.test_storage_config = test_storage_config;
}
