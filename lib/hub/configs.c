/*
 * Configuration distribution (seed 001 配置分发): PutConfigTemplate (a new version per
 * put), ListConfigTemplates (latest of each, or one template's history),
 * GetConfigTemplate, AssignConfig (renders the version for every node of a scope and
 * pushes it at once), ListConfigAssignments, DiffNodeConfig, and the agents'
 * ReportConfigResult.
 *
 * Rendering happens at assignment time, per node, so what a node receives (and what
 * DiffNodeConfig compares) is fixed text with a SHA-256, and a bad placeholder is
 * refused before anything is stored. Placeholders live in JSON string values:
 * ${node.code} ${node.name} ${store.code} ${customer.code} ${env} and ${var.NAME}
 * (AssignConfigRequest.values). Formats: json (pretty, 2 spaces), ini (top-level
 * scalars, then one [section] per object member of scalars), plain (the document is
 * one JSON string).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ferry/hash.h"
#include "ferry/store/configs.h"
#include "ferry/store/tree.h"
#include "hub_fleet.h"

#define CFG_NAME_MAX   64
#define CFG_DATA_MAX   (256 * 1024) /* bytes of a template document and of a rendered file */
#define CFG_PATH_MAX   255
#define CFG_DESC_MAX   1024
#define CFG_VALUES_MAX 64
#define CFG_VALUE_MAX  1024
#define CFG_ERROR_MAX  4096
#define CFG_SCOPE_MAX  100000 /* nodes of one assignment */
#define ST_PENDING     FERRY__V1__CONFIG_ASSIGNMENT_STATE__CONFIG_ASSIGNMENT_STATE_PENDING
#define ST_APPLIED     FERRY__V1__CONFIG_ASSIGNMENT_STATE__CONFIG_ASSIGNMENT_STATE_APPLIED
#define ST_FAILED      FERRY__V1__CONFIG_ASSIGNMENT_STATE__CONFIG_ASSIGNMENT_STATE_FAILED
#define ST_ROLLED_BACK FERRY__V1__CONFIG_ASSIGNMENT_STATE__CONFIG_ASSIGNMENT_STATE_ROLLED_BACK

/* ---- rendering ---------------------------------------------------------------------------- */

/** What placeholders resolve to for one node. */
typedef struct render_ctx {
    const char *node_code, *node_name, *store_code, *customer_code, *env;
    Ferry__V1__AssignConfigRequest__ValuesEntry **values; /* NULL at put time: only syntax is checked */
    size_t n_values;
    bool check_only;
} render_ctx_t;

static const char *env_name(int env)
{
    static const char *const names[] = {"", "DEV", "TEST", "STAGING", "PROD"};
    return env > 0 && env < 5 ? names[env] : "";
}

/* The value of placeholder |name| (without ${ }), NULL when unknown. */
static const char *resolve(const render_ctx_t *c, const char *name)
{
    if (strncmp(name, "var.", 4) == 0) {
        if (c->check_only)
            return name[4] != '\0' ? "" : NULL;
        for (size_t i = 0; i < c->n_values; i++)
            if (strcmp(c->values[i]->key, name + 4) == 0)
                return c->values[i]->value;
        return NULL;
    }
    if (c->check_only)
        return strcmp(name, "node.code") == 0 || strcmp(name, "node.name") == 0 ||
                       strcmp(name, "store.code") == 0 || strcmp(name, "customer.code") == 0 ||
                       strcmp(name, "env") == 0
                   ? ""
                   : NULL;
    if (strcmp(name, "node.code") == 0)
        return c->node_code;
    if (strcmp(name, "node.name") == 0)
        return c->node_name;
    if (strcmp(name, "store.code") == 0)
        return c->store_code;
    if (strcmp(name, "customer.code") == 0)
        return c->customer_code;
    if (strcmp(name, "env") == 0)
        return c->env;
    return NULL;
}

/* |in| with every ${...} replaced (malloc'd into *out). */
static ferry_err_code_t subst(const render_ctx_t *c, const char *in, char **out, ferry_err_t *err)
{
    size_t cap = strlen(in) + 64, o = 0;
    char *buf = malloc(cap);
    const char *p = in;

    *out = NULL;
    if (buf == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "render: out of memory");
    while (*p != '\0') {
        const char *val = NULL;
        size_t vlen = 1;
        char name[80];
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            size_t n = end != NULL ? (size_t)(end - (p + 2)) : 0;
            if (end == NULL || n == 0 || n >= sizeof(name)) {
                free(buf);
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "placeholder '%.40s': not closed or too long",
                                     p);
            }
            memcpy(name, p + 2, n);
            name[n] = '\0';
            if ((val = resolve(c, name)) == NULL) {
                free(buf);
                return ferry_err_set(
                    err, FERRY_E_INVALID_ARG,
                    "unknown placeholder '${%s}'%s%s (known: node.code, node.name, store.code, "
                    "customer.code, env, var.NAME)",
                    name, c->node_code != NULL ? " for node " : "", c->node_code != NULL ? c->node_code : "");
            }
            vlen = strlen(val);
            p = end + 1;
        } else {
            val = p++;
        }
        if (o + vlen + 1 > cap) {
            char *nb;
            cap = (o + vlen + 1) * 2;
            if (cap > 4 * CFG_DATA_MAX || (nb = realloc(buf, cap)) == NULL) {
                free(buf);
                return ferry_err_set(err, FERRY_E_TOO_LARGE, "rendered configuration exceeds %d bytes",
                                     CFG_DATA_MAX);
            }
            buf = nb;
        }
        memcpy(buf + o, val, vlen);
        o += vlen;
    }
    buf[o] = '\0';
    *out = buf;
    return FERRY_OK;
}

/* Replaces placeholders in every string of |j| (in place, recursively). */
static ferry_err_code_t subst_json(const render_ctx_t *c, json_t *j, int depth, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    if (depth > 32)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json: nested deeper than 32 levels");
    if (json_is_string(j)) {
        char *s = NULL;
        if ((rc = subst(c, json_string_value(j), &s, err)) == FERRY_OK && json_string_set(j, s) != 0)
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "rendered value is not valid UTF-8");
        free(s);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if ((rc = subst_json(c, v, depth + 1, err)) != FERRY_OK)
                break;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if ((rc = subst_json(c, v, depth + 1, err)) != FERRY_OK)
                break;
        }
    }
    return rc;
}

/* A scalar as INI text (strings raw, others as JSON). */
static char *ini_scalar(json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static ferry_err_code_t render_ini(json_t *doc, char **out, ferry_err_t *err)
{
    size_t cap = 4096, o = 0;
    char *buf = malloc(cap), *pending = NULL;
    ferry_err_code_t rc = FERRY_OK;
    const char *k;
    json_t *v;

#define INI_PUT(...)                                                                                         \
    do {                                                                                                     \
        int n_ = snprintf(buf + o, cap - o, __VA_ARGS__);                                                    \
        while (n_ >= 0 && (size_t)n_ >= cap - o) {                                                           \
            char *nb_ = cap * 2 <= CFG_DATA_MAX * 2 ? realloc(buf, cap * 2) : NULL;                          \
            if (nb_ == NULL) {                                                                               \
                rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "rendered configuration exceeds %d bytes",        \
                                   CFG_DATA_MAX);                                                            \
                goto out;                                                                                    \
            }                                                                                                \
            buf = nb_;                                                                                       \
            cap *= 2;                                                                                        \
            n_ = snprintf(buf + o, cap - o, __VA_ARGS__);                                                    \
        }                                                                                                    \
        o += (size_t)n_;                                                                                     \
    } while (0)

    if (buf == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "render: out of memory");
    buf[0] = '\0';
    if (!json_is_object(doc)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json: an ini template must be a JSON object");
        goto out;
    }
    json_object_foreach(doc, k, v)
    {
        if (json_is_object(v))
            continue;
        if (json_is_array(v)) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json.%s: arrays have no ini form", k);
            goto out;
        }
        pending = ini_scalar(v);
        INI_PUT("%s=%s\n", k, pending != NULL ? pending : "");
        free(pending);
        pending = NULL;
    }
    json_object_foreach(doc, k, v)
    {
        const char *k2;
        json_t *v2;
        if (!json_is_object(v))
            continue;
        INI_PUT("%s[%s]\n", o > 0 ? "\n" : "", k);
        json_object_foreach(v, k2, v2)
        {
            if (json_is_object(v2) || json_is_array(v2)) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                                   "data_json.%s.%s: an ini section holds scalars only", k, k2);
                goto out;
            }
            pending = ini_scalar(v2);
            INI_PUT("%s=%s\n", k2, pending != NULL ? pending : "");
            free(pending);
            pending = NULL;
        }
    }
#undef INI_PUT
out:
    free(pending); /* a scalar whose line did not fit */
    if (rc != FERRY_OK) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    return rc;
}

/* Renders |data_json| in |format| for |c| into *out (malloc'd). */
static ferry_err_code_t render(const render_ctx_t *c, const char *data_json, int format, char **out,
                               ferry_err_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loads(data_json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    ferry_err_code_t rc = FERRY_OK;

    *out = NULL;
    if (doc == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json: not JSON (line %d: %s)", jerr.line,
                             jerr.text);
    if ((rc = subst_json(c, doc, 0, err)) != FERRY_OK)
        goto out;
    switch (format) {
    case FERRY__V1__CONFIG_FORMAT__CONFIG_FORMAT_INI:
        rc = render_ini(doc, out, err);
        break;
    case FERRY__V1__CONFIG_FORMAT__CONFIG_FORMAT_PLAIN:
        if (!json_is_string(doc))
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json: a plain template is one JSON string");
        else if ((*out = strdup(json_string_value(doc))) == NULL)
            rc = ferry_err_set(err, FERRY_E_NOMEM, "render: out of memory");
        break;
    default:
        if (!json_is_object(doc) && !json_is_array(doc)) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "data_json: a json template is an object or array");
        } else {
            char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            size_t n = s != NULL ? strlen(s) : 0;
            if (s == NULL || (*out = malloc(n + 2)) == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "render: out of memory");
            } else {
                memcpy(*out, s, n);
                (*out)[n] = '\n';
                (*out)[n + 1] = '\0';
            }
            free(s);
        }
        break;
    }
    if (rc == FERRY_OK && strlen(*out) > CFG_DATA_MAX) {
        free(*out);
        *out = NULL;
        rc = ferry_err_set(err, FERRY_E_TOO_LARGE, "rendered configuration exceeds %d bytes", CFG_DATA_MAX);
    }
out:
    json_decref(doc);
    return rc;
}

/* A target path: relative, '/'-separated, no '.' or '..' segment, printable. */
static ferry_err_code_t check_target(const char *p, ferry_err_t *err)
{
    size_t n = strlen(p);
    const char *seg = p;
    if (n == 0 || n > CFG_PATH_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "target_path: 1..%d bytes (got %zu)", CFG_PATH_MAX, n);
    if (p[0] == '/' || strchr(p, '\\') != NULL || strchr(p, ':') != NULL)
        return ferry_err_set(
            err, FERRY_E_INVALID_ARG,
            "target_path '%.255s': must be relative to the server directory ('/' separators)", p);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (unsigned char)p[i] < 0x20)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "target_path: control characters are not allowed");
        if (i == n || p[i] == '/') {
            size_t len = (size_t)(p + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                     "target_path '%.255s': empty, '.' or '..' segments are not allowed", p);
            seg = p + i + 1;
        }
    }
    return FERRY_OK;
}

static ferry_err_code_t check_name(const char *field, const char *name, ferry_err_t *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > CFG_NAME_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: 1..%d characters (got %zu)", field, CFG_NAME_MAX,
                             n);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "%s '%.64s': only letters, digits, '-', '_' and '.' are allowed", field,
                                 name);
    }
    return FERRY_OK;
}

/* ---- RPCs ------------------------------------------------------------------------------- */

static void assign_done(hub_frame_t *f, const void *req, void *resp);
static void result_done(hub_frame_t *f, const void *req, void *resp);

HUB_METHOD(admin, put_config_template, Ferry__V1__PutConfigTemplateRequest,
           Ferry__V1__PutConfigTemplateResponse, HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, NULL)
HUB_METHOD(admin, list_config_templates, Ferry__V1__ListConfigTemplatesRequest,
           Ferry__V1__ListConfigTemplatesResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, get_config_template, Ferry__V1__GetConfigTemplateRequest,
           Ferry__V1__GetConfigTemplateResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, assign_config, Ferry__V1__AssignConfigRequest, Ferry__V1__AssignConfigResponse,
           HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE | HUB_FRAME_AUDIT, assign_done)
HUB_METHOD(admin, list_config_assignments, Ferry__V1__ListConfigAssignmentsRequest,
           Ferry__V1__ListConfigAssignmentsResponse, HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(admin, diff_node_config, Ferry__V1__DiffNodeConfigRequest, Ferry__V1__DiffNodeConfigResponse,
           HUB_FRAME_OFFLOAD, NULL)
HUB_METHOD(report, report_config_result, Ferry__V1__ReportConfigResultRequest,
           Ferry__V1__ReportConfigResultResponse, HUB_FRAME_NODE | HUB_FRAME_OFFLOAD | HUB_FRAME_WRITE,
           result_done)

static ferry_err_code_t put_config_template_body(hub_frame_t *f,
                                                 const Ferry__V1__PutConfigTemplateRequest *req,
                                                 Ferry__V1__PutConfigTemplateResponse *resp, ferry_err_t *err)
{
    ferry_store_config_template_new_t t = {0};
    render_ctx_t chk = {0};
    char *probe = NULL;
    uint64_t version = 0;
    int format = req->format != 0 ? (int)req->format : FERRY__V1__CONFIG_FORMAT__CONFIG_FORMAT_JSON;
    ferry_err_code_t rc;

    hub_frame_target(f, "config_template:%.64s", req->name);
    if ((rc = check_name("name", req->name, err)) != FERRY_OK)
        return rc;
    if (req->type < FERRY__V1__CONFIG_TYPE__CONFIG_TYPE_SERVER ||
        req->type > FERRY__V1__CONFIG_TYPE__CONFIG_TYPE_NETWORK)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "type: required, SERVER, DATABASE, CACHE or NETWORK (got %d)", (int)req->type);
    if (format < 1 || format > 3)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "format: json, ini or plain (got %d)", format);
    if (strlen(req->data_json) > CFG_DATA_MAX)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "data_json: at most %d bytes", CFG_DATA_MAX);
    if (strlen(req->description) > CFG_DESC_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "description: at most %d bytes", CFG_DESC_MAX);
    if ((rc = check_target(req->target_path, err)) != FERRY_OK)
        return rc;
    /* Syntax and format now (every placeholder known), values at assignment. */
    chk.check_only = true; /* node_code NULL: messages name no node */
    if (render(&chk, req->data_json, format, &probe, err) != FERRY_OK)
        return ferry_err_prefix(err, "template '%.64s'", req->name);
    free(probe);
    t.name = req->name;
    t.type = (int)req->type;
    t.format = format;
    t.data_json = req->data_json;
    t.target_path = req->target_path;
    t.description = req->description;
    t.restart_service = req->restart_service;
    t.created_at = hub_now_ms();
    t.created_by = f->me != NULL ? f->me->row_id : 0;
    if ((rc = ferry_store_config_template_insert(f->store, &t, &version, err)) != FERRY_OK)
        return rc;
    hub_frame_target(f, "config_template:%.64s@%" PRIu64, req->name, version);
    return ferry_store_config_template_get(f->store, &f->arena, req->name, version, &resp->template_, NULL,
                                           err);
}

static ferry_err_code_t list_config_templates_body(hub_frame_t *f,
                                                   const Ferry__V1__ListConfigTemplatesRequest *req,
                                                   Ferry__V1__ListConfigTemplatesResponse *resp,
                                                   ferry_err_t *err)
{
    ferry_store_page_t page;
    ferry_err_code_t rc = ferry_store_config_templates_list_ro(
        f->store, (int)req->type, req->name, req->page_token, req->page_size, &f->arena, &page, err);
    if (rc != FERRY_OK)
        return rc;
    resp->templates = (Ferry__V1__ConfigTemplate **)page.items;
    resp->n_templates = page.n;
    resp->next_page_token = page.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t get_config_template_body(hub_frame_t *f,
                                                 const Ferry__V1__GetConfigTemplateRequest *req,
                                                 Ferry__V1__GetConfigTemplateResponse *resp, ferry_err_t *err)
{
    ferry_err_code_t rc;
    if ((rc = check_name("name", req->name, err)) != FERRY_OK)
        return rc;
    return ferry_store_config_template_get_ro(f->store, &f->arena, req->name, req->version, &resp->template_,
                                              err);
}

/* AssignConfig's per-node step (inside the write transaction). */
typedef struct assign_ctx {
    hub_frame_t *f;
    const Ferry__V1__AssignConfigRequest *req;
    const Ferry__V1__ConfigTemplate *tpl;
    int64_t template_id;
    const char *values_json;
    Ferry__V1__ConfigAssignment **out;
    size_t n, cap;
    ferry_err_t *err;
    ferry_err_code_t rc;
} assign_ctx_t;

static int assign_node(void *vctx, const ferry_store_config_scope_node_t *n)
{
    assign_ctx_t *c = vctx;
    render_ctx_t r = {
        n->code,        n->name,          n->store_code, n->customer_code, env_name(n->environment),
        c->req->values, c->req->n_values, false};
    ferry_store_config_assignment_new_t row = {0};
    char *text = NULL, sha[FERRY_SHA256_HEX_LEN + 1];
    int64_t id = 0;
    Ferry__V1__ConfigAssignment *x;

    if (c->n == CFG_SCOPE_MAX) {
        c->rc = ferry_err_set(c->err, FERRY_E_TOO_LARGE, "scope: more than %d nodes; assign per store",
                              CFG_SCOPE_MAX);
        return 1;
    }
    if ((c->rc = render(&r, c->tpl->data_json, (int)c->tpl->format, &text, c->err)) != FERRY_OK) {
        ferry_err_prefix(c->err, "template '%s' version %" PRIu64, c->tpl->name, c->tpl->version);
        return 1;
    }
    ferry_sha256_hex(text, strlen(text), sha);
    row.node_id = n->id;
    row.template_id = c->template_id;
    row.template_name = c->tpl->name;
    row.values_json = c->values_json;
    row.rendered = text;
    row.rendered_sha256 = sha;
    row.assigned_at = hub_now_ms();
    row.assigned_by = c->f->me != NULL ? c->f->me->row_id : 0;
    c->rc = ferry_store_config_assignment_insert(c->f->store, &row, &id, c->err);
    free(text);
    if (c->rc != FERRY_OK)
        return 1;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        Ferry__V1__ConfigAssignment **nv = hub_arena_alloc(&c->f->arena, ncap * sizeof(*nv));
        if (nv == NULL) {
            c->rc = ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
            return 1;
        }
        if (c->n > 0)
            memcpy(nv, c->out, c->n * sizeof(*nv));
        c->out = nv;
        c->cap = ncap;
    }
    if ((x = hub_arena_alloc(&c->f->arena, sizeof(*x))) == NULL) {
        c->rc = ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
        return 1;
    }
    ferry__v1__config_assignment__init(x);
    x->id = hub_arena_printf(&c->f->arena, "%" PRId64, id);
    x->node_code = hub_arena_strdup(&c->f->arena, n->code);
    x->template_name = c->tpl->name;
    x->template_version = c->tpl->version;
    x->state = ST_PENDING;
    x->assigned_at = hub_arena_ts(&c->f->arena, row.assigned_at);
    x->rendered_sha256 = hub_arena_strdup(&c->f->arena, sha);
    c->out[c->n++] = x;
    return 0;
}

static ferry_err_code_t assign_config_body(hub_frame_t *f, const Ferry__V1__AssignConfigRequest *req,
                                           Ferry__V1__AssignConfigResponse *resp, ferry_err_t *err)
{
    const Ferry__V1__ReleaseScope *sc = req->scope;
    Ferry__V1__ConfigTemplate *tpl = NULL;
    assign_ctx_t c = {0};
    json_t *vals = NULL;
    char *values_json = NULL;
    ferry_err_code_t rc;

    hub_frame_target(f, "config_template:%.64s", req->template_name);
    if ((rc = check_name("template_name", req->template_name, err)) != FERRY_OK)
        return rc;
    if (sc == NULL || sc->customer_code[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "scope.customer_code: required");
    if ((rc = hub_check_code("scope.customer_code", sc->customer_code, err)) != FERRY_OK)
        return rc;
    for (size_t i = 0; i < sc->n_store_codes; i++)
        if ((rc = hub_check_code("scope.store_codes", sc->store_codes[i], err)) != FERRY_OK)
            return rc;
    for (size_t i = 0; i < sc->n_node_codes; i++)
        if ((rc = hub_check_code("scope.node_codes", sc->node_codes[i], err)) != FERRY_OK)
            return rc;
    if ((int)sc->environment < 0 || (int)sc->environment > 4)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "scope.environment: unknown value %d",
                             (int)sc->environment);
    if (req->n_values > CFG_VALUES_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "values: at most %d", CFG_VALUES_MAX);
    if ((vals = json_object()) == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
    for (size_t i = 0; i < req->n_values; i++) {
        const char *k = req->values[i]->key, *v = req->values[i]->value;
        if ((rc = check_name("values key", k, err)) != FERRY_OK)
            goto out;
        if (strlen(v) > CFG_VALUE_MAX) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "values.%s: at most %d bytes", k, CFG_VALUE_MAX);
            goto out;
        }
        json_object_set_new(vals, k, json_string(v));
    }
    if ((values_json = json_dumps(vals, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = ferry_store_config_template_get(f->store, &f->arena, req->template_name, req->template_version,
                                              &tpl, &c.template_id, err)) != FERRY_OK)
        goto out;
    hub_frame_target(f, "config_template:%.64s@%" PRIu64 ",customer:%.64s", tpl->name, tpl->version,
                     sc->customer_code);
    c.f = f;
    c.req = req;
    c.tpl = tpl;
    c.values_json = values_json;
    c.err = err;
    if ((rc = ferry_store_config_scope(f->store, sc->customer_code, sc->store_codes, sc->n_store_codes,
                                       sc->node_codes, sc->n_node_codes, (int)sc->environment, assign_node,
                                       &c, err)) != FERRY_OK ||
        (rc = c.rc) != FERRY_OK)
        goto out;
    if (c.n == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "scope: no enabled node of customer '%s' matches",
                           sc->customer_code);
        goto out;
    }
    resp->assignments = c.out;
    resp->n_assignments = c.n;
out:
    json_decref(vals);
    free(values_json);
    return rc;
}

/* After the commit: every node of the assignment has work; streams get it now. */
static void assign_done(hub_frame_t *f, const void *req, void *vresp)
{
    const Ferry__V1__AssignConfigResponse *resp = vresp;
    (void)req;
    for (size_t i = 0; i < resp->n_assignments; i++) {
        int64_t id = 0;
        bool disabled;
        if (ferry_store_tree_id_ro(f->store, FERRY_STORE_NODE, resp->assignments[i]->node_code, &id,
                                   &disabled, NULL) == FERRY_OK)
            hub_fleet_config_pending(f->hub, id, true);
    }
}

static ferry_err_code_t list_config_assignments_body(hub_frame_t *f,
                                                     const Ferry__V1__ListConfigAssignmentsRequest *req,
                                                     Ferry__V1__ListConfigAssignmentsResponse *resp,
                                                     ferry_err_t *err)
{
    ferry_store_config_assignment_filter_t flt = {req->template_name, req->node_code,
                                                  (int)req->state,    req->page_token,
                                                  req->page_size,     req->include_superseded};
    ferry_store_page_t page;
    ferry_err_code_t rc;
    if ((int)req->state < 0 || (int)req->state > ST_ROLLED_BACK)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "state: unknown value %d", (int)req->state);
    if ((rc = ferry_store_config_assignments_list_ro(f->store, &flt, &f->arena, &page, err)) != FERRY_OK)
        return rc;
    resp->assignments = (Ferry__V1__ConfigAssignment **)page.items;
    resp->n_assignments = page.n;
    resp->next_page_token = page.next_page_token;
    return FERRY_OK;
}

static ferry_err_code_t diff_node_config_body(hub_frame_t *f, const Ferry__V1__DiffNodeConfigRequest *req,
                                              Ferry__V1__DiffNodeConfigResponse *resp, ferry_err_t *err)
{
    ferry_err_code_t rc;
    if ((rc = hub_check_code("node_code", req->node_code, err)) != FERRY_OK ||
        (req->template_name[0] != '\0' &&
         (rc = check_name("template_name", req->template_name, err)) != FERRY_OK))
        return rc;
    return ferry_store_config_diff_ro(f->store, &f->arena, req->node_code, req->template_name, &resp->diffs,
                                      &resp->n_diffs, err);
}

static ferry_err_code_t report_config_result_body(hub_frame_t *f,
                                                  const Ferry__V1__ReportConfigResultRequest *req,
                                                  Ferry__V1__ReportConfigResultResponse *resp,
                                                  ferry_err_t *err)
{
    Ferry__V1__ConfigAssignment *x = NULL;
    int64_t id = 0, node_id = 0, at;
    int st = (int)req->state;
    ferry_err_code_t rc;

    if ((rc = hub_parse_id(req->assignment_id, "assignment_id", &id, err)) != FERRY_OK)
        return rc;
    if (st != ST_APPLIED && st != ST_FAILED && st != ST_ROLLED_BACK)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "state: APPLIED, FAILED or ROLLED_BACK (got %d)", st);
    if (strlen(req->error_message) > CFG_ERROR_MAX)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "error_message: at most %d bytes", CFG_ERROR_MAX);
    if (st != ST_APPLIED && req->error_message[0] == '\0')
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "error_message: required when the state is not APPLIED");
    if ((rc = ferry_store_config_assignment_get(f->store, &f->arena, id, false, &x, &node_id, err)) !=
        FERRY_OK)
        return rc;
    if (node_id != f->me->node_id)
        return ferry_err_set(err, FERRY_E_PERMISSION, "config assignment %s belongs to another node",
                             req->assignment_id);
    if ((int)x->state != ST_PENDING) {
        /* A repeated report (lost reply) is acknowledged; another outcome is refused. */
        if ((int)x->state == st) {
            resp->assignment = x;
            return FERRY_OK;
        }
        return ferry_err_set(err, FERRY_E_PRECONDITION, "config assignment %s was already reported %s",
                             req->assignment_id,
                             protobuf_c_enum_descriptor_get_value(
                                 &ferry__v1__config_assignment_state__descriptor, (int)x->state)
                                 ->name);
    }
    at = req->applied_at != NULL ? hub_ts_ms(req->applied_at) : hub_now_ms();
    if ((rc = ferry_store_config_assignment_result(f->store, id, st, req->error_message, at, err)) !=
        FERRY_OK)
        return rc;
    return ferry_store_config_assignment_get(f->store, &f->arena, id, false, &resp->assignment, NULL, err);
}

/* After the commit: the node's CheckIns go back to memory once nothing is open. */
static void result_done(hub_frame_t *f, const void *req, void *resp)
{
    Ferry__V1__ConfigAssignment **open = NULL;
    size_t n = 0;
    hub_arena_t a = {0};
    (void)req;
    (void)resp;
    if (f->me != NULL &&
        ferry_store_config_open_ro(f->store, &a, f->me->node_id, &open, &n, NULL) == FERRY_OK && n == 0)
        hub_fleet_config_pending(f->hub, f->me->node_id, false);
    hub_arena_free(&a);
}

/* ---- hooks (hub_fleet.h) ----------------------------------------------------------------- */

ferry_err_code_t hub_configs_open(ferry_hub_t *hub, hub_arena_t *a, int64_t node_id,
                                  Ferry__V1__ConfigAssignment ***out, size_t *n, ferry_err_t *err)
{
    return ferry_store_config_open_ro(hub->store, a, node_id, out, n, err);
}

void hub_configs_bind(ferry_hub_t *hub)
{
    hub->admin.put_config_template = put_config_template;
    hub->admin.list_config_templates = list_config_templates;
    hub->admin.get_config_template = get_config_template;
    hub->admin.assign_config = assign_config;
    hub->admin.list_config_assignments = list_config_assignments;
    hub->admin.diff_node_config = diff_node_config;
    hub->report.report_config_result = report_config_result;
}
