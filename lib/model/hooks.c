/*
 * hooks.json: parsing and validation (see hooks.h). The walker lists the allowed keys of
 * every object, so a typo ("timeout_second") is an error naming the field rather than a
 * silently ignored setting, and every message starts with the field's path
 * ("hooks.json: pre_upgrade[0].run: ...") so a package author finds it at once.
 */
#include "ferry/model/hooks.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_BYTES  1024u
#define TEXT_MAX_BYTES  4096u
#define SQL_MAX_BYTES   65536u
#define DEFAULT_TIMEOUT 600u

static const char *const PHASE_NAMES[FERRY_HOOK_PHASES] = {"pre_check", "pre_upgrade", "startup_pre_process",
                                                           "startup_post_process", "post_upgrade"};

const char *ferry_hook_phase_name(ferry_hook_phase_t p)
{
    return (unsigned)p < FERRY_HOOK_PHASES ? PHASE_NAMES[p] : "unknown";
}

const char *ferry_hook_kind_name(ferry_hook_kind_t k)
{
    switch (k) {
    case FERRY_HOOK_CHECK:
        return "check";
    case FERRY_HOOK_SQL:
        return "sql";
    case FERRY_HOOK_EXEC:
        return "exec";
    }
    return "unknown";
}

/* Parsing context: where we are (for messages) and what the package holds. */
typedef struct pctx {
    ferry_hooks_has_file_fn has_file;
    void *user;
    ferry_err_t *err;
    char where[128]; /* "pre_upgrade[0]" */
} pctx_t;

static ferry_err_code_t fail(pctx_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ferry_err_code_t fail(pctx_t *c, const char *field, const char *fmt, ...)
{
    char msg[FERRY_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *sep = c->where[0] != '\0' && field != NULL && field[0] != '\0' ? "." : "";
    return ferry_err_set(c->err, FERRY_E_PACKAGE_INVALID, FERRY_PKG_HOOKS_JSON ": %s%s%s: %s", c->where, sep,
                         field != NULL ? field : "", msg);
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void hook_clear(ferry_hook_t *h)
{
    free(h->name);
    free(h->description);
    free(h->sql);
    free(h->suggestion);
    free(h->file);
    free(h->run);
    free(h->rollback);
    free_list(h->args, h->n_args);
    free_list(h->site_ids, h->n_site_ids);
}

void ferry_hooks_free(ferry_hooks_t *hs)
{
    if (hs == NULL)
        return;
    for (int p = 0; p < FERRY_HOOK_PHASES; p++) {
        for (size_t i = 0; i < hs->n[p]; i++)
            hook_clear(&hs->hooks[p][i]);
        free(hs->hooks[p]);
    }
    free(hs->description);
    free(hs);
}

/* Printable without control bytes (NUL cannot occur: jansson refuses \u0000 by default). */
static bool text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r')
            return false;
    return true;
}

static ferry_err_code_t get_text(pctx_t *c, json_t *v, const char *field, size_t max, char **out)
{
    if (!json_is_string(v))
        return fail(c, field, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len > max)
        return fail(c, field, "longer than %zu bytes", max);
    if (strlen(s) != len || !text_ok(s))
        return fail(c, field, "holds a control character");
    free(*out);
    *out = strdup(s);
    if (*out == NULL)
        return ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
    return FERRY_OK;
}

/* A package path: relative, forward slashes, no "."/".." or empty component, a file the
 * package holds (checked by the caller's has_file). */
static ferry_err_code_t get_path(pctx_t *c, json_t *v, const char *field, char **out)
{
    ferry_err_code_t rc = get_text(c, v, field, PATH_MAX_BYTES, out);
    if (rc != FERRY_OK)
        return rc;
    const char *s = *out;
    if (s[0] == '\0')
        return fail(c, field, "is empty");
    if (s[0] == '/')
        return fail(c, field, "'%s' is absolute; paths are relative to the package", s);
    if (strchr(s, '\\') != NULL || strchr(s, ':') != NULL)
        return fail(c, field, "'%s' holds a backslash or ':'", s);
    if (strpbrk(s, "\n\r\t") != NULL)
        return fail(c, field, "holds a control character");
    for (const char *p = s;;) {
        const char *e = strchr(p, '/');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return fail(c, field, "'%s' escapes or is not a plain path inside the package", s);
        if (e == NULL)
            break;
        p = e + 1;
    }
    if (c->has_file != NULL && !c->has_file(c->user, s))
        return fail(c, field, "'%s' is not in the package", s);
    return FERRY_OK;
}

static ferry_err_code_t get_uint(pctx_t *c, json_t *v, const char *field, long long lo, long long hi,
                                 long long *out)
{
    if (!json_is_integer(v))
        return fail(c, field, "must be an integer");
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(c, field, "%lld is outside %lld..%lld", x, lo, hi);
    *out = x;
    return FERRY_OK;
}

static ferry_err_code_t get_bool(pctx_t *c, json_t *v, const char *field, bool *out)
{
    if (!json_is_boolean(v))
        return fail(c, field, "must be true or false");
    *out = json_is_true(v);
    return FERRY_OK;
}

static ferry_err_code_t get_list(pctx_t *c, json_t *v, const char *field, size_t max_items, size_t max_len,
                                 bool nonempty, char ***out, size_t *n_out)
{
    ferry_err_code_t rc = FERRY_OK;
    char item[64];
    if (!json_is_array(v))
        return fail(c, field, "must be an array of strings");
    size_t n = json_array_size(v);
    if (n > max_items)
        return fail(c, field, "more than %zu items", max_items);
    char **l = calloc(n + 1, sizeof(char *));
    if (l == NULL)
        return ferry_err_set(c->err, FERRY_E_NOMEM, "out of memory");
    size_t i;
    for (i = 0; i < n; i++) {
        snprintf(item, sizeof(item), "%s[%zu]", field, i);
        if ((rc = get_text(c, json_array_get(v, i), item, max_len, &l[i])) != FERRY_OK)
            break;
        if (nonempty && (l[i] == NULL || l[i][0] == '\0')) {
            rc = fail(c, item, "is empty");
            i++;
            break;
        }
    }
    if (rc != FERRY_OK) {
        free_list(l, i);
        return rc;
    }
    *out = l;
    *n_out = n;
    return FERRY_OK;
}

static ferry_err_code_t get_versions(pctx_t *c, json_t *v, ferry_hook_t *h)
{
    const char *key;
    json_t *val;
    if (!json_is_object(v))
        return fail(c, "versions", "must be an object with min and/or max");
    json_object_foreach(v, key, val)
    {
        char field[64];
        snprintf(field, sizeof(field), "versions.%.32s", key);
        bool is_min = strcmp(key, "min") == 0;
        if (!is_min && strcmp(key, "max") != 0)
            return fail(c, field, "unknown key (allowed: min, max)");
        if (!json_is_string(val))
            return fail(c, field, "must be a version string like 1.25.12.13(12521)");
        ferry_err_t verr = {0};
        if (ferry_version_parse(json_string_value(val), is_min ? &h->vmin : &h->vmax, &verr) != FERRY_OK)
            return fail(c, field, "%s", verr.msg);
        if (is_min)
            h->has_min = true;
        else
            h->has_max = true;
    }
    if (!h->has_min && !h->has_max)
        return fail(c, "versions", "needs min, max or both");
    if (h->has_min && h->has_max && ferry_version_compare(&h->vmin, &h->vmax) > 0)
        return fail(c, "versions", "min is above max");
    return FERRY_OK;
}

bool ferry_hook_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FERRY_HOOK_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

/* Keys that belong to one kind only; a check with "run" is a mistake worth naming. */
static const struct {
    const char *key;
    int kind; /* ferry_hook_kind_t, or -1: any kind */
} HOOK_KEYS[] = {
    {"id", -1},
    {"name", -1},
    {"description", -1},
    {"kind", -1},
    {"is_common", -1},
    {"site_ids", -1},
    {"versions", -1},
    {"timeout_seconds", -1},
    {"retries", -1},
    {"on_failure", -1},
    {"idempotent", -1},
    {"sql", FERRY_HOOK_CHECK},
    {"threshold", FERRY_HOOK_CHECK},
    {"severity", FERRY_HOOK_CHECK},
    {"suggestion", FERRY_HOOK_CHECK},
    {"file", FERRY_HOOK_SQL},
    {"run", FERRY_HOOK_EXEC},
    {"args", FERRY_HOOK_EXEC},
    {"rollback", FERRY_HOOK_EXEC},
};

static ferry_err_code_t parse_hook(pctx_t *c, json_t *o, ferry_hook_phase_t phase, ferry_hook_t *h)
{
    ferry_err_code_t rc = FERRY_OK;
    const char *key;
    json_t *v;
    long long x;
    h->phase = phase;
    h->is_common = true;
    h->timeout_s = DEFAULT_TIMEOUT;
    if (!json_is_object(o))
        return fail(c, "", "must be an object");
    json_t *kind = json_object_get(o, "kind");
    if (kind == NULL)
        return fail(c, "kind", "is required (check, sql or exec)");
    const char *ks = json_is_string(kind) ? json_string_value(kind) : "";
    if (strcmp(ks, "check") == 0)
        h->kind = FERRY_HOOK_CHECK;
    else if (strcmp(ks, "sql") == 0)
        h->kind = FERRY_HOOK_SQL;
    else if (strcmp(ks, "exec") == 0)
        h->kind = FERRY_HOOK_EXEC;
    else
        return fail(c, "kind", "must be check, sql or exec");
    if (phase == FERRY_HOOK_PRE_CHECK && h->kind != FERRY_HOOK_CHECK)
        return fail(c, "kind", "pre_check holds check hooks only (it must not change anything)");

    json_object_foreach(o, key, v)
    {
        char field[64];
        snprintf(field, sizeof(field), "%.40s", key);
        int known = -2;
        for (size_t i = 0; i < sizeof(HOOK_KEYS) / sizeof(HOOK_KEYS[0]); i++)
            if (strcmp(HOOK_KEYS[i].key, key) == 0)
                known = HOOK_KEYS[i].kind;
        if (known == -2)
            return fail(c, field, "unknown key");
        if (known >= 0 && known != (int)h->kind)
            return fail(c, field, "not allowed for kind %s", ferry_hook_kind_name(h->kind));
        if (strcmp(key, "kind") == 0)
            continue;
        if (strcmp(key, "id") == 0) {
            if (!json_is_string(v) || !ferry_hook_id_valid(json_string_value(v)))
                return fail(c, field, "must be 1..%d of [A-Za-z0-9_.-]", FERRY_HOOK_ID_MAX);
            snprintf(h->id, sizeof(h->id), "%s", json_string_value(v));
        } else if (strcmp(key, "name") == 0) {
            rc = get_text(c, v, field, 256, &h->name);
        } else if (strcmp(key, "description") == 0) {
            rc = get_text(c, v, field, TEXT_MAX_BYTES, &h->description);
        } else if (strcmp(key, "sql") == 0) {
            if ((rc = get_text(c, v, field, SQL_MAX_BYTES, &h->sql)) == FERRY_OK &&
                strspn(h->sql, " \t\r\n") == strlen(h->sql))
                rc = fail(c, field, "is empty");
        } else if (strcmp(key, "threshold") == 0) {
            if ((rc = get_uint(c, v, field, 0, INT64_MAX / 2, &x)) == FERRY_OK)
                h->threshold = x;
        } else if (strcmp(key, "severity") == 0) {
            const char *s = json_is_string(v) ? json_string_value(v) : "";
            if (strcmp(s, "fail") != 0 && strcmp(s, "warn") != 0)
                return fail(c, field, "must be fail or warn");
            h->warn_only = strcmp(s, "warn") == 0;
        } else if (strcmp(key, "suggestion") == 0) {
            rc = get_text(c, v, field, TEXT_MAX_BYTES, &h->suggestion);
        } else if (strcmp(key, "file") == 0) {
            rc = get_path(c, v, field, &h->file);
        } else if (strcmp(key, "run") == 0) {
            rc = get_path(c, v, field, &h->run);
        } else if (strcmp(key, "rollback") == 0) {
            rc = get_path(c, v, field, &h->rollback);
        } else if (strcmp(key, "args") == 0) {
            rc = get_list(c, v, field, FERRY_HOOK_ARGS_MAX, TEXT_MAX_BYTES, false, &h->args, &h->n_args);
        } else if (strcmp(key, "site_ids") == 0) {
            rc = get_list(c, v, field, FERRY_HOOK_SITES_MAX, 64, true, &h->site_ids, &h->n_site_ids);
        } else if (strcmp(key, "timeout_seconds") == 0) {
            if ((rc = get_uint(c, v, field, 1, FERRY_HOOK_TIMEOUT_MAX, &x)) == FERRY_OK)
                h->timeout_s = (unsigned)x;
        } else if (strcmp(key, "retries") == 0) {
            if ((rc = get_uint(c, v, field, 0, FERRY_HOOK_RETRIES_MAX, &x)) == FERRY_OK)
                h->retries = (unsigned)x;
        } else if (strcmp(key, "on_failure") == 0) {
            const char *s = json_is_string(v) ? json_string_value(v) : "";
            if (strcmp(s, "rollback") != 0 && strcmp(s, "continue") != 0)
                return fail(c, field, "must be rollback or continue");
            h->on_failure_continue = strcmp(s, "continue") == 0;
        } else if (strcmp(key, "idempotent") == 0) {
            rc = get_bool(c, v, field, &h->idempotent);
        } else if (strcmp(key, "is_common") == 0) {
            rc = get_bool(c, v, field, &h->is_common);
        } else if (strcmp(key, "versions") == 0) {
            rc = get_versions(c, v, h);
        }
        if (rc != FERRY_OK)
            return rc;
    }
    if (h->id[0] == '\0')
        return fail(c, "id", "is required");
    if (h->kind == FERRY_HOOK_CHECK && h->sql == NULL)
        return fail(c, "sql", "is required for kind check");
    if (h->kind == FERRY_HOOK_SQL && h->file == NULL)
        return fail(c, "file", "is required for kind sql");
    if (h->kind == FERRY_HOOK_EXEC && h->run == NULL)
        return fail(c, "run", "is required for kind exec");
    if (!h->is_common && h->n_site_ids == 0)
        return fail(c, "site_ids", "is required (non-empty) when is_common is false");
    if (h->is_common && h->site_ids != NULL)
        return fail(c, "site_ids", "given but is_common is true; set is_common to false");
    if (phase == FERRY_HOOK_POST_UPGRADE && json_object_get(o, "on_failure") != NULL &&
        !h->on_failure_continue)
        return fail(c, "on_failure", "post_upgrade never rolls back; use continue or leave it out");
    return FERRY_OK;
}

ferry_err_code_t ferry_hooks_parse(const char *json, size_t len, ferry_hooks_has_file_fn has_file, void *user,
                                   ferry_hooks_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_error_t je;
    json_t *root = NULL;
    ferry_hooks_t *hs = NULL;
    pctx_t c = {.has_file = has_file, .user = user, .err = err};
    const char *key;
    json_t *v;

    *out = NULL;
    if (len > FERRY_HOOKS_JSON_MAX) {
        rc = fail(&c, "", "larger than %u bytes", FERRY_HOOKS_JSON_MAX);
        goto out;
    }
    /* Duplicate keys are refused: which of two "run" values wins must not be a guess. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        rc = ferry_err_set(err, FERRY_E_PACKAGE_INVALID, FERRY_PKG_HOOKS_JSON ": line %d column %d: %s",
                           je.line, je.column, je.text);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = fail(&c, "", "must be a JSON object");
        goto out;
    }
    if ((hs = calloc(1, sizeof(*hs))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        int phase = -1;
        for (int p = 0; p < FERRY_HOOK_PHASES; p++)
            if (strcmp(key, PHASE_NAMES[p]) == 0)
                phase = p;
        if (phase < 0) {
            char *ignored = NULL;
            if (strcmp(key, "description") == 0) {
                rc = get_text(&c, v, "description", TEXT_MAX_BYTES, &hs->description);
            } else if (strcmp(key, "version") == 0) {
                /* Informative only (seed 002's example carries one); the package's version rules. */
                rc = get_text(&c, v, "version", 64, &ignored);
                free(ignored);
            } else {
                char field[64];
                snprintf(field, sizeof(field), "%.40s", key);
                rc = fail(&c, field,
                          "unknown key (allowed: description, version, pre_check, pre_upgrade, "
                          "startup_pre_process, startup_post_process, post_upgrade)");
            }
            if (rc != FERRY_OK)
                goto out;
            continue;
        }
        if (!json_is_array(v)) {
            rc = fail(&c, key, "must be an array of hooks");
            goto out;
        }
        size_t n = json_array_size(v);
        if (n > FERRY_HOOKS_MAX) {
            rc = fail(&c, key, "more than %d hooks", FERRY_HOOKS_MAX);
            goto out;
        }
        if (n == 0)
            continue;
        if ((hs->hooks[phase] = calloc(n, sizeof(ferry_hook_t))) == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(c.where, sizeof(c.where), "%s[%zu]", key, i);
            hs->n[phase] = i + 1;
            if ((rc = parse_hook(&c, json_array_get(v, i), (ferry_hook_phase_t)phase,
                                 &hs->hooks[phase][i])) != FERRY_OK)
                goto out;
        }
        c.where[0] = '\0';
    }
    /* Ids name checkpoints and skip lists: they must be unique across all phases. */
    for (int p = 0; p < FERRY_HOOK_PHASES; p++) {
        for (size_t i = 0; i < hs->n[p]; i++) {
            const ferry_hook_t *h = &hs->hooks[p][i];
            for (int q = 0; q <= p; q++) {
                for (size_t k = 0; k < (q == p ? i : hs->n[q]); k++) {
                    if (strcmp(hs->hooks[q][k].id, h->id) == 0) {
                        snprintf(c.where, sizeof(c.where), "%s[%zu]", PHASE_NAMES[p], i);
                        rc = fail(&c, "id", "'%s' is already used by %s[%zu]", h->id, PHASE_NAMES[q], k);
                        goto out;
                    }
                }
            }
        }
    }
    *out = hs;
    hs = NULL;
out:
    ferry_hooks_free(hs);
    json_decref(root);
    return rc;
}

size_t ferry_hooks_count(const ferry_hooks_t *h)
{
    size_t n = 0;
    for (int p = 0; h != NULL && p < FERRY_HOOK_PHASES; p++)
        n += h->n[p];
    return n;
}

const ferry_hook_t *ferry_hooks_find(const ferry_hooks_t *h, const char *id)
{
    for (int p = 0; h != NULL && p < FERRY_HOOK_PHASES; p++)
        for (size_t i = 0; i < h->n[p]; i++)
            if (strcmp(h->hooks[p][i].id, id) == 0)
                return &h->hooks[p][i];
    return NULL;
}

static bool in_range(const ferry_hook_t *h, const ferry_version_t *v)
{
    if (v == NULL)
        return false;
    if (h->has_min && ferry_version_compare(v, &h->vmin) < 0)
        return false;
    if (h->has_max && ferry_version_compare(v, &h->vmax) > 0)
        return false;
    return true;
}

bool ferry_hook_applies(const ferry_hook_t *h, const ferry_hook_target_t *t, char *reason, size_t size)
{
    char a[FERRY_VERSION_STR_MAX], b[FERRY_VERSION_STR_MAX], f[FERRY_VERSION_STR_MAX],
        to[FERRY_VERSION_STR_MAX];
    if (reason != NULL && size > 0)
        reason[0] = '\0';
    if (!h->is_common) {
        bool hit = false;
        for (size_t i = 0; i < h->n_site_ids && !hit; i++)
            for (size_t k = 0; k < t->n_sites && !hit; k++)
                hit = t->sites[k] != NULL && strcmp(h->site_ids[i], t->sites[k]) == 0;
        if (!hit) {
            if (reason != NULL && size > 0) {
                size_t n = (size_t)snprintf(reason, size, "site-specific hook; this node's codes [");
                for (size_t k = 0; k < t->n_sites && n < size; k++)
                    n += (size_t)snprintf(reason + n, size - n, "%s%s", k ? ", " : "", t->sites[k]);
                if (n < size)
                    n += (size_t)snprintf(reason + n, size - n, "] are not in site_ids [");
                for (size_t i = 0; i < h->n_site_ids && n < size; i++)
                    n += (size_t)snprintf(reason + n, size - n, "%s%s", i ? ", " : "", h->site_ids[i]);
                if (n < size)
                    snprintf(reason + n, size - n, "]");
            }
            return false;
        }
    }
    if ((h->has_min || h->has_max) && !in_range(h, t->from) && !in_range(h, t->to)) {
        if (reason != NULL && size > 0) {
            snprintf(a, sizeof(a), "*");
            snprintf(b, sizeof(b), "*");
            snprintf(f, sizeof(f), "unknown");
            snprintf(to, sizeof(to), "unknown");
            if (h->has_min)
                ferry_version_format(&h->vmin, a, sizeof(a));
            if (h->has_max)
                ferry_version_format(&h->vmax, b, sizeof(b));
            if (t->from != NULL)
                ferry_version_format(t->from, f, sizeof(f));
            if (t->to != NULL)
                ferry_version_format(t->to, to, sizeof(to));
            snprintf(reason, size, "versions %s..%s hold neither the installed %s nor the target %s", a, b, f,
                     to);
        }
        return false;
    }
    return true;
}
