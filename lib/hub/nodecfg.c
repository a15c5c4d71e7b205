/*
 * The node configuration index: masking an uploaded node-config.json and mapping it
 * onto ferry.v1.NodeConfig for the read-only preview (see hub_nodecfg.h).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ferry/connstr.h"
#include "ferry/log.h"
#include "hub_nodecfg.h"

/* ---- connection strings ------------------------------------------------------------ */

/* Appends [p, p + n) to the growing buffer; false when out of memory. */
static bool put(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 64) + n;
        char *b = realloc(*buf, nc);
        if (b == NULL)
            return false;
        *buf = b;
        *cap = nc;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

char *hub_connstr_mask(const char *in)
{
    return ferry_connstr_mask(in, FERRY_CONNSTR_DEFAULT);
}

/* ---- masking the document ------------------------------------------------------------ */

/* |key| lower-cased without '_' and '-' into |low|. */
static void norm_key(const char *key, char *low, size_t size)
{
    size_t n = 0;
    for (const char *p = key; *p && n + 1 < size; p++)
        if (*p != '_' && *p != '-')
            low[n++] = (char)tolower((unsigned char)*p);
    low[n] = '\0';
}

/* Member names whose values are secrets as a whole. */
static bool secret_key(const char *low)
{
    static const char *const words[] = {"password", "pwd", "secret", "token", "apikey", "privatekey"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(low, words[i]) != NULL)
            return true;
    return false;
}

/* Length of the secret-naming word at |p| ("password", "--api-key"...), 0 if none. */
static size_t secret_word(const char *p)
{
    static const char *const words[] = {"password", "passwd", "pwd",     "secret",
                                        "token",    "apikey", "api-key", "api_key"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t n = strlen(words[i]);
        if (strncasecmp(p, words[i], n) == 0)
            return n;
    }
    return 0;
}

/*
 * A copy of text |s| with the values that follow a secret-naming word masked: command
 * lines ("--password=x", "--password x", "-pwd:'a b'"), URLs ("?token=x"); then the
 * log masker's own patterns (Password= in connection strings, Bearer tokens). NULL when
 * out of memory.
 */
static char *mask_text(const char *s)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    const char *p = s;
    if (!put(&out, &len, &cap, "", 0))
        return NULL;
    while (*p != '\0') {
        size_t w = (p == s || !isalnum((unsigned char)p[-1])) ? secret_word(p) : 0;
        const char *v = p + w;
        if (w == 0 || !(*v == '=' || *v == ':' || *v == ' ' || *v == '\t')) {
            if (!put(&out, &len, &cap, p, 1))
                goto oom;
            p++;
            continue;
        }
        if (*v == '=' || *v == ':')
            v++;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!put(&out, &len, &cap, p, (size_t)(v - p)))
            goto oom;
        const char *e = v;
        if (*v == '"' || *v == '\'') {
            e = strchr(v + 1, *v);
            e = e != NULL ? e + 1 : v + strlen(v);
        } else {
            while (*e != '\0' && !isspace((unsigned char)*e) && *e != ';' && *e != '&')
                e++;
        }
        if (e > v && !put(&out, &len, &cap, "***", 3))
            goto oom;
        p = e;
    }
    ferry_log_mask_secrets(out);
    return out;
oom:
    free(out);
    return NULL;
}

static json_t *masked_text(const char *s)
{
    char *m = mask_text(s);
    json_t *r = m != NULL ? json_string(m) : NULL;
    free(m);
    return r;
}

/* Masks |v| in place (recursively). false when out of memory. */
static bool mask(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, x)
        {
            char low[128];
            json_t *nv = NULL;
            norm_key(k, low, sizeof(low));
            if (strstr(low, "connectionstring") != NULL && json_is_string(x)) {
                char *m = hub_connstr_mask(json_string_value(x));
                nv = m != NULL ? json_string(m) : NULL;
                free(m);
            } else if (secret_key(low) && !json_is_object(x) && !json_is_array(x)) {
                nv = json_string("***");
            } else if (json_is_string(x)) {
                nv = masked_text(json_string_value(x));
            } else {
                if (!mask(x))
                    return false;
                continue;
            }
            if (nv == NULL || json_object_set_new(v, k, nv) != 0)
                return false;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x)) {
                json_t *nv = masked_text(json_string_value(x));
                if (nv == NULL || json_array_set_new(v, i, nv) != 0)
                    return false;
            } else if (!mask(x)) {
                return false;
            }
        }
    }
    return true;
}

char *hub_node_config_mask(const char *json, size_t len, int64_t *config_version)
{
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    char *out = NULL;

    *config_version = 0;
    if (doc == NULL || !json_is_object(doc))
        goto out;
    json_t *cv = json_object_get(doc, "configVersion");
    if (json_is_integer(cv))
        *config_version = json_integer_value(cv);
    else if (json_is_string(cv))
        *config_version = strtoll(json_string_value(cv), NULL, 10); /* proto3 JSON int64 is a string */
    if (mask(doc))
        out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(doc);
    return out;
}

/* ---- mapping onto ferry.v1.NodeConfig ------------------------------------------------------ */

/* Copies member |key| of |from| to |to| when it is a string. */
static void copy_str(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (json_is_string(v))
        json_object_set(to, key, v);
}

/* Copies member |key| when it is an integer (or an integral decimal string) in [0, max]. */
static void copy_uint(json_t *to, json_t *from, const char *key, long long max)
{
    json_t *v = json_object_get(from, key);
    long long n;
    char *end;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v) && json_string_value(v)[0] != '\0') {
        n = strtoll(json_string_value(v), &end, 10);
        if (*end != '\0')
            return;
    } else {
        return;
    }
    if (n >= 0 && n <= max)
        json_object_set_new(to, key, json_integer(n));
}

static void copy_bool(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (json_is_boolean(v))
        json_object_set(to, key, v);
}

/* Copies an array member keeping only its string elements. */
static void copy_str_list(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key), *arr, *x;
    size_t i;
    if (!json_is_array(v) || (arr = json_array()) == NULL)
        return;
    json_array_foreach(v, i, x)
    {
        if (json_is_string(x))
            json_array_append(arr, x);
    }
    json_object_set_new(to, key, arr);
}

/* Sets |parent|.|key| = |obj| unless |obj| is empty (then frees it). */
static void set_nonempty(json_t *parent, const char *key, json_t *obj)
{
    if (obj != NULL && json_object_size(obj) > 0)
        json_object_set_new(parent, key, obj);
    else
        json_decref(obj);
}

/* The engine's "sqlite"/"mssql", or the enum's name or number, as the DbEngine name. */
static const char *db_engine(json_t *v)
{
    static const char *const names[] = {"DB_ENGINE_UNSPECIFIED", "DB_ENGINE_SQLSERVER", "DB_ENGINE_SQLITE"};
    if (json_is_integer(v))
        return json_integer_value(v) >= 0 && json_integer_value(v) <= 2 ? names[json_integer_value(v)] : NULL;
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    if (strcasecmp(s, "sqlite") == 0)
        return names[2];
    if (strcasecmp(s, "mssql") == 0 || strcasecmp(s, "sqlserver") == 0)
        return names[1];
    for (size_t i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0)
            return names[i];
    return NULL;
}

#define U32_MAX 4294967295ll

/* An enum member given as the engine's word, the enum value's name or its number, as
 * the enum value's name; |words[i]| and |names[i]| belong together; NULL if unknown. */
static const char *enum_name(json_t *v, const char *const *words, const char *const *names, size_t n)
{
    const char *s, *r = NULL;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        r = i >= 0 && (size_t)i < n ? names[i] : NULL;
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        for (size_t i = 0; i < n && r == NULL; i++)
            if ((words[i] != NULL && strcasecmp(s, words[i]) == 0) || strcmp(s, names[i]) == 0)
                r = names[i];
    }
    return r;
}

/* service.control: "systemd" / "command" (engine) or the ServiceControl name. */
static const char *service_control(json_t *v)
{
    static const char *const words[] = {NULL, "systemd", "command"};
    static const char *const names[] = {"SERVICE_CONTROL_UNSPECIFIED", "SERVICE_CONTROL_SYSTEMD",
                                        "SERVICE_CONTROL_COMMAND"};
    return enum_name(v, words, names, 3);
}

/* healthCheck.kind: "none" / "tcp" / "http" (engine) or the HealthCheckKind name. */
static const char *health_kind(json_t *v)
{
    static const char *const words[] = {NULL, "none", "tcp", "http"};
    static const char *const names[] = {"HEALTH_CHECK_KIND_UNSPECIFIED", "HEALTH_CHECK_KIND_NONE",
                                        "HEALTH_CHECK_KIND_TCP", "HEALTH_CHECK_KIND_HTTP"};
    return enum_name(v, words, names, 4);
}

/* Copies string member |key| masked again (mask_text()): command lines and targets were
 * masked when indexed; a row indexed by an older server is masked here all the same. */
static void copy_masked(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key), *m;
    if (json_is_string(v) && (m = masked_text(json_string_value(v))) != NULL)
        json_object_set_new(to, key, m);
}

/* The service section: settings, control, command lines (masked) and health check. */
static void map_service(json_t *out, json_t *src)
{
    json_t *o = json_object(), *h, *hc;
    const char *name;

    if (!json_is_object(src) || o == NULL) {
        json_decref(o);
        return;
    }
    copy_str(o, src, "name");
    copy_uint(o, src, "stopTimeoutSeconds", U32_MAX);
    copy_uint(o, src, "startTimeoutSeconds", U32_MAX);
    if ((name = service_control(json_object_get(src, "control"))) != NULL)
        json_object_set_new(o, "control", json_string(name));
    copy_masked(o, src, "startCommand");
    copy_masked(o, src, "stopCommand");
    copy_masked(o, src, "statusCommand");
    h = json_object_get(src, "healthCheck");
    if (json_is_object(h) && (hc = json_object()) != NULL) {
        if ((name = health_kind(json_object_get(h, "kind"))) != NULL)
            json_object_set_new(hc, "kind", json_string(name));
        copy_masked(hc, h, "target");
        set_nonempty(o, "healthCheck", hc);
    }
    set_nonempty(out, "service", o);
}

char *hub_node_config_proto_json(const char *stored)
{
    json_t *doc = stored != NULL ? json_loads(stored, 0, NULL) : NULL;
    json_t *out = NULL, *o, *src, *db;
    char *text = NULL;
    const char *eng;

    if (!json_is_object(doc) || (out = json_object()) == NULL)
        goto done;
    json_t *cv = json_object_get(doc, "configVersion");
    if (json_is_integer(cv))
        json_object_set(out, "configVersion", cv);
    else if (json_is_string(cv) && json_string_value(cv)[0] != '\0')
        json_object_set_new(out, "configVersion",
                            json_integer((json_int_t)strtoll(json_string_value(cv), NULL, 10)));

    map_service(out, json_object_get(doc, "service"));
    src = json_object_get(doc, "paths");
    if (json_is_object(src) && (o = json_object()) != NULL) {
        copy_str(o, src, "serverDir");
        copy_str(o, src, "clientDir");
        copy_str(o, src, "backupRoot");
        copy_str(o, src, "tempDir");
        copy_str_list(o, src, "protectPaths");
        set_nonempty(out, "paths", o);
    }
    src = json_object_get(doc, "backup");
    if (json_is_object(src) && (o = json_object()) != NULL) {
        copy_uint(o, src, "retentionN", U32_MAX);
        copy_str(o, src, "clientBackupFileName");
        json_t *sdb = json_object_get(src, "db");
        if (json_is_object(sdb) && (db = json_object()) != NULL) {
            copy_str(db, sdb, "sqlConnectionString");
            copy_str_list(db, sdb, "databases");
            copy_str(db, sdb, "backupFileName");
            if ((eng = db_engine(json_object_get(sdb, "engine"))) != NULL)
                json_object_set_new(db, "engine", json_string(eng));
            set_nonempty(o, "db", db);
        }
        set_nonempty(out, "backup", o);
    }
    src = json_object_get(doc, "deploy");
    if (json_is_object(src) && (o = json_object()) != NULL) {
        copy_bool(o, src, "deleteOldFiles");
        copy_bool(o, src, "clientDeleteOldFiles");
        set_nonempty(out, "deploy", o);
    }
    src = json_object_get(doc, "download");
    if (json_is_object(src) && (o = json_object()) != NULL) {
        json_t *v = json_object_get(src, "maxKiBPerSecond");
        if (v == NULL)
            v = json_object_get(src, "maxKibPerSecond"); /* canonical NodeConfig JSON */
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set_new(o, "maxKibPerSecond", json_integer(json_integer_value(v)));
        set_nonempty(out, "download", o);
    }
    copy_str(out, doc, "stateDir");
    text = json_dumps(out, JSON_COMPACT);
done:
    json_decref(out);
    json_decref(doc);
    return text;
}
