/*
 * node-config.json parsing and validation (see config.h). The parser walks the JSON
 * with an explicit list of allowed keys per object, so a typo ("stopTimeoutSecond")
 * is an error naming the field instead of a silently ignored setting.
 */
#include "ferry/engine/config.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/connstr.h"
#include "ferry/engine/mssql.h"
#include "ferry/engine/svcctl.h"
#include "ferry/fs.h"
#include "ferry/log.h"

#define DEF_SERVICE_NAME "RCA7_Service_InstanceA"
#define DEF_SERVER_DIR   "/srv/rca7/server"
#define DEF_CLIENT_DIR   "/srv/rca7/files/package/client"
#define DEF_BACKUP_ROOT  "/srv/rca7/backup"
#define DEF_TEMP_DIR     "/srv/rca7/update_tmp"
#define DEF_STATE_DIR    "/var/lib/ferry-agent"
#define DEF_SQLITE_DB    "/srv/rca7/data/RCA7_Main.db"
#define DEF_MSSQL_DB     "RCA7_Main"
#define MAX_TIMEOUT_S    86400
#define MAX_RETENTION    1000
#define MAX_NAME         255

static char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void ferry_node_config_free(ferry_node_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->service.name);
    free(cfg->service.stop_command);
    free(cfg->service.start_command);
    free(cfg->service.status_command);
    free(cfg->service.health_target);
    free(cfg->paths.server_dir);
    free(cfg->paths.client_dir);
    free(cfg->paths.backup_root);
    free(cfg->paths.temp_dir);
    free_list(cfg->paths.protect_paths, cfg->paths.n_protect_paths);
    free(cfg->backup.db.sql_connection_string);
    free_list(cfg->backup.db.databases, cfg->backup.db.n_databases);
    free(cfg->backup.db.backup_file_name);
    free(cfg->backup.client_backup_file_name);
    free(cfg->license.file);
    free(cfg->state_dir);
    free(cfg);
}

/* ---------------------------------------------------------------- helpers */

/* Refuses keys of |obj| not in |allowed| (NULL-terminated), naming the first one. */
static ferry_err_code_t check_keys(json_t *obj, const char *prefix, const char *const *allowed,
                                   ferry_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = true;
        if (!ok) {
            char list[512] = "";
            size_t used = 0;
            for (size_t i = 0; allowed[i] != NULL && used < sizeof(list); i++) {
                int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", allowed[i]);
                if (n > 0)
                    used += (size_t)n;
            }
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s%s%.100s: unknown field (allowed: %s)", prefix,
                                 *prefix ? "." : "", key, list);
        }
    }
    return FERRY_OK;
}

/* An object member that must itself be an object; NULL (no error) when absent. */
static ferry_err_code_t get_object(json_t *obj, const char *key, const char *path, json_t **out,
                                   ferry_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return FERRY_OK;
    if (!json_is_object(v))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be an object", path);
    *out = v;
    return FERRY_OK;
}

/* Replaces *dst with the string member when present. Empty strings and NULs are refused. */
static ferry_err_code_t get_string(json_t *obj, const char *key, const char *path, size_t max, char **dst,
                                   ferry_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FERRY_OK;
    if (!json_is_string(v))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be a string", path);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must not contain a NUL character", path);
    if (n == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must not be empty", path);
    if (n > max)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: longer than %zu bytes", path, max);
    char *c = strdup(s);
    if (c == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", path);
    free(*dst);
    *dst = c;
    return FERRY_OK;
}

static ferry_err_code_t get_uint(json_t *obj, const char *key, const char *path, unsigned min, unsigned max,
                                 unsigned *dst, ferry_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FERRY_OK;
    if (!json_is_integer(v))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be an integer", path);
    json_int_t i = json_integer_value(v);
    if (i < (json_int_t)min || i > (json_int_t)max)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be between %u and %u (got %lld)", path, min,
                             max, (long long)i);
    *dst = (unsigned)i;
    return FERRY_OK;
}

static ferry_err_code_t get_bool(json_t *obj, const char *key, const char *path, bool *dst, ferry_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return FERRY_OK;
    if (!json_is_boolean(v))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be true or false", path);
    *dst = json_is_true(v);
    return FERRY_OK;
}

/*
 * Normalises an absolute path: collapses '/' runs, drops "." components and a
 * trailing '/'. ".." is refused rather than resolved: without touching the disk we
 * cannot know what it means across symlinks, and protect-path checks need certainty.
 */
static ferry_err_code_t norm_path(const char *in, const char *path, char **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    size_t n = strlen(in);
    char *o = NULL;
    if (in[0] != '/') {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be an absolute path (got '%.200s')", path, in);
        goto out;
    }
    if (n >= PATH_MAX) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: longer than %d bytes", path, PATH_MAX - 1);
        goto out;
    }
    o = malloc(n + 2);
    if (o == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    size_t w = 0;
    const char *p = in;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != '/')
            e++;
        size_t cl = (size_t)(e - p);
        if (cl == 0)
            break;
        if (cl == 1 && p[0] == '.') {
            p = e;
            continue;
        }
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: must not contain '..' components (got '%.200s')", path, in);
            goto out;
        }
        o[w++] = '/';
        memcpy(o + w, p, cl);
        w += cl;
        p = e;
    }
    if (w == 0)
        o[w++] = '/';
    o[w] = '\0';
    *out = o;
    o = NULL;
out:
    free(o);
    return rc;
}

/* True if |p| equals |dir| or lies below it (both normalised). */
static bool path_within(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static ferry_err_code_t get_path(json_t *obj, const char *key, const char *path, char **dst, ferry_err_t *err)
{
    char *raw = NULL, *norm = NULL;
    ferry_err_code_t rc = get_string(obj, key, path, PATH_MAX, &raw, err);
    if (rc != FERRY_OK || raw == NULL)
        goto out;
    rc = norm_path(raw, path, &norm, err);
    if (rc != FERRY_OK)
        goto out;
    free(*dst);
    *dst = norm;
    norm = NULL;
out:
    free(raw);
    free(norm);
    return rc;
}

/* A non-empty array of strings (at most FERRY_NODE_CONFIG_MAX_LIST). Sets *present. */
static ferry_err_code_t get_string_list(json_t *obj, const char *key, const char *path, bool as_paths,
                                        char ***dst, size_t *dst_n, bool *present, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *v = json_object_get(obj, key);
    char **list = NULL;
    size_t n = 0;
    *present = v != NULL;
    if (v == NULL)
        goto out;
    if (!json_is_array(v)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be an array of strings", path);
        goto out;
    }
    if (json_array_size(v) > FERRY_NODE_CONFIG_MAX_LIST) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: more than %d entries", path,
                           FERRY_NODE_CONFIG_MAX_LIST);
        goto out;
    }
    list = calloc(json_array_size(v) + 1, sizeof(*list));
    if (list == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        char ipath[128];
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
        json_t *tmp = json_object();
        if (tmp == NULL) {
            rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", ipath);
            goto out;
        }
        json_object_set(tmp, "v", json_array_get(v, i));
        if (as_paths)
            rc = get_path(tmp, "v", ipath, &list[n], err);
        else
            rc = get_string(tmp, "v", ipath, PATH_MAX, &list[n], err);
        json_decref(tmp);
        if (rc != FERRY_OK)
            goto out;
        n++;
        for (size_t j = 0; j + 1 < n; j++) {
            if (strcmp(list[j], list[n - 1]) == 0) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: duplicate of %s[%zu]", ipath, path, j);
                goto out;
            }
        }
    }
    free_list(*dst, *dst_n);
    *dst = list;
    *dst_n = n;
    list = NULL;
out:
    if (list != NULL)
        free_list(list, n);
    return rc;
}

static bool plain_file_name(const char *s)
{
    return strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strlen(s) <= MAX_NAME;
}

/* ---------------------------------------------------------------- defaults */

ferry_err_code_t ferry_node_config_new_default(ferry_node_config_t **out, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    ferry_node_config_t *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        goto nomem;
    c->service.name = xstrdup(DEF_SERVICE_NAME);
    c->service.stop_timeout_s = 120;
    c->service.start_timeout_s = 120;
    c->paths.server_dir = xstrdup(DEF_SERVER_DIR);
    c->paths.client_dir = xstrdup(DEF_CLIENT_DIR);
    c->paths.backup_root = xstrdup(DEF_BACKUP_ROOT);
    c->paths.temp_dir = xstrdup(DEF_TEMP_DIR);
    c->paths.protect_paths = calloc(2, sizeof(char *));
    if (c->paths.protect_paths != NULL) {
        c->paths.protect_paths[0] = xstrdup(DEF_SERVER_DIR "/config");
        c->paths.protect_paths[1] = xstrdup(DEF_SERVER_DIR "/logs");
        c->paths.n_protect_paths = 2;
    }
    c->backup.retention_n = 5;
    c->backup.db.engine = FERRY_DB_ENGINE_SQLITE;
    c->backup.db.databases = calloc(1, sizeof(char *));
    if (c->backup.db.databases != NULL) {
        c->backup.db.databases[0] = xstrdup(DEF_SQLITE_DB);
        c->backup.db.n_databases = 1;
    }
    c->backup.db.backup_file_name = xstrdup("data.bak");
    c->backup.client_backup_file_name = xstrdup("client.zip");
    c->deploy.delete_old_files = true;
    c->deploy.client_delete_old_files = true;
    c->state_dir = xstrdup(DEF_STATE_DIR);
    if (c->service.name == NULL || c->paths.server_dir == NULL || c->paths.client_dir == NULL ||
        c->paths.backup_root == NULL || c->paths.temp_dir == NULL || c->paths.n_protect_paths != 2 ||
        c->paths.protect_paths[0] == NULL || c->paths.protect_paths[1] == NULL ||
        c->backup.db.n_databases != 1 || c->backup.db.databases[0] == NULL ||
        c->backup.db.backup_file_name == NULL || c->backup.client_backup_file_name == NULL ||
        c->state_dir == NULL)
        goto nomem;
    *out = c;
    return FERRY_OK;
nomem:
    ferry_node_config_free(c);
    ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
    rc = FERRY_E_NOMEM; /* spelled out: the analyzer cannot see that ferry_err_set returns its code */
    return rc;
}

/* ---------------------------------------------------------------- sections */

static ferry_err_code_t parse_service(json_t *svc, ferry_node_config_t *c, ferry_err_t *err)
{
    static const char *const keys[] = {"name",          "stopTimeoutSeconds", "startTimeoutSeconds",
                                       "control",       "stopCommand",        "startCommand",
                                       "statusCommand", "healthCheck",        NULL};
    static const char *const hkeys[] = {"kind", "target", NULL};
    ferry_err_code_t rc;
    char *control = NULL, *kind = NULL;
    json_t *hc = NULL;
    if ((rc = check_keys(svc, "service", keys, err)) != FERRY_OK ||
        (rc = get_string(svc, "name", "service.name", MAX_NAME, &c->service.name, err)) != FERRY_OK ||
        (rc = get_uint(svc, "stopTimeoutSeconds", "service.stopTimeoutSeconds", 1, MAX_TIMEOUT_S,
                       &c->service.stop_timeout_s, err)) != FERRY_OK ||
        (rc = get_uint(svc, "startTimeoutSeconds", "service.startTimeoutSeconds", 1, MAX_TIMEOUT_S,
                       &c->service.start_timeout_s, err)) != FERRY_OK ||
        (rc = get_string(svc, "control", "service.control", 64, &control, err)) != FERRY_OK ||
        (rc = get_string(svc, "stopCommand", "service.stopCommand", FERRY_NODE_CONFIG_MAX_COMMAND,
                         &c->service.stop_command, err)) != FERRY_OK ||
        (rc = get_string(svc, "startCommand", "service.startCommand", FERRY_NODE_CONFIG_MAX_COMMAND,
                         &c->service.start_command, err)) != FERRY_OK ||
        (rc = get_string(svc, "statusCommand", "service.statusCommand", FERRY_NODE_CONFIG_MAX_COMMAND,
                         &c->service.status_command, err)) != FERRY_OK ||
        (rc = get_object(svc, "healthCheck", "service.healthCheck", &hc, err)) != FERRY_OK)
        goto out;
    if (control != NULL) {
        if (strcmp(control, "systemd") == 0) {
            c->service.control = FERRY_SVC_CONTROL_SYSTEMD;
        } else if (strcmp(control, "command") == 0) {
            c->service.control = FERRY_SVC_CONTROL_COMMAND;
        } else {
            rc =
                ferry_err_set(err, FERRY_E_INVALID_ARG,
                              "service.control: must be \"systemd\" or \"command\" (got \"%.64s\")", control);
            goto out;
        }
    }
    if (hc != NULL) {
        if ((rc = check_keys(hc, "service.healthCheck", hkeys, err)) != FERRY_OK ||
            (rc = get_string(hc, "kind", "service.healthCheck.kind", 64, &kind, err)) != FERRY_OK ||
            (rc = get_string(hc, "target", "service.healthCheck.target", 2048, &c->service.health_target,
                             err)) != FERRY_OK)
            goto out;
        if (kind == NULL) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "service.healthCheck.kind: required (\"none\", \"tcp\" or \"http\")");
            goto out;
        } else if (strcmp(kind, "none") == 0) {
            c->service.health = FERRY_HEALTH_NONE;
        } else if (strcmp(kind, "tcp") == 0) {
            c->service.health = FERRY_HEALTH_TCP;
        } else if (strcmp(kind, "http") == 0) {
            c->service.health = FERRY_HEALTH_HTTP;
        } else {
            rc = ferry_err_set(
                err, FERRY_E_INVALID_ARG,
                "service.healthCheck.kind: must be \"none\", \"tcp\" or \"http\" (got \"%.64s\")", kind);
            goto out;
        }
    }
out:
    free(control);
    free(kind);
    return rc;
}

static ferry_err_code_t parse_paths(json_t *p, ferry_node_config_t *c, bool *protect_given, ferry_err_t *err)
{
    static const char *const keys[] = {"serverDir", "clientDir",    "backupRoot",
                                       "tempDir",   "protectPaths", NULL};
    ferry_err_code_t rc;
    if ((rc = check_keys(p, "paths", keys, err)) != FERRY_OK ||
        (rc = get_path(p, "serverDir", "paths.serverDir", &c->paths.server_dir, err)) != FERRY_OK ||
        (rc = get_path(p, "clientDir", "paths.clientDir", &c->paths.client_dir, err)) != FERRY_OK ||
        (rc = get_path(p, "backupRoot", "paths.backupRoot", &c->paths.backup_root, err)) != FERRY_OK ||
        (rc = get_path(p, "tempDir", "paths.tempDir", &c->paths.temp_dir, err)) != FERRY_OK)
        return rc;
    /* protectPaths: [] is allowed (protect nothing), unlike databases. */
    return get_string_list(p, "protectPaths", "paths.protectPaths", true, &c->paths.protect_paths,
                           &c->paths.n_protect_paths, protect_given, err);
}

static ferry_err_code_t parse_backup(json_t *b, ferry_node_config_t *c, bool *dbs_given, ferry_err_t *err)
{
    static const char *const keys[] = {"retentionN", "db", "clientBackupFileName", NULL};
    static const char *const dkeys[] = {"engine", "sqlConnectionString", "databases", "backupFileName", NULL};
    ferry_err_code_t rc;
    json_t *db = NULL;
    char *engine = NULL;
    *dbs_given = false;
    if ((rc = check_keys(b, "backup", keys, err)) != FERRY_OK ||
        (rc = get_uint(b, "retentionN", "backup.retentionN", 1, MAX_RETENTION, &c->backup.retention_n,
                       err)) != FERRY_OK ||
        (rc = get_string(b, "clientBackupFileName", "backup.clientBackupFileName", MAX_NAME,
                         &c->backup.client_backup_file_name, err)) != FERRY_OK ||
        (rc = get_object(b, "db", "backup.db", &db, err)) != FERRY_OK)
        goto out;
    if (db == NULL)
        goto out;
    if ((rc = check_keys(db, "backup.db", dkeys, err)) != FERRY_OK ||
        (rc = get_string(db, "engine", "backup.db.engine", 64, &engine, err)) != FERRY_OK ||
        (rc = get_string(db, "sqlConnectionString", "backup.db.sqlConnectionString", FERRY_MSSQL_MAX_CONNSTR,
                         &c->backup.db.sql_connection_string, err)) != FERRY_OK ||
        (rc = get_string(db, "backupFileName", "backup.db.backupFileName", MAX_NAME,
                         &c->backup.db.backup_file_name, err)) != FERRY_OK)
        goto out;
    if (engine != NULL) {
        if (strcmp(engine, "sqlite") == 0) {
            c->backup.db.engine = FERRY_DB_ENGINE_SQLITE;
        } else if (strcmp(engine, "mssql") == 0) {
            c->backup.db.engine = FERRY_DB_ENGINE_MSSQL;
        } else {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "backup.db.engine: must be \"sqlite\" or \"mssql\" (got \"%.64s\")", engine);
            goto out;
        }
    }
    /* Paths or names depend on the engine: parse as plain strings, check below. */
    rc = get_string_list(db, "databases", "backup.db.databases", false, &c->backup.db.databases,
                         &c->backup.db.n_databases, dbs_given, err);
out:
    free(engine);
    return rc;
}

/* Cross-field rules, run after defaults are in place. */
static ferry_err_code_t validate(ferry_node_config_t *c, bool protect_given, bool dbs_given, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    /* service */
    if (c->service.control == FERRY_SVC_CONTROL_COMMAND) {
        const char *miss = c->service.stop_command == NULL     ? "stopCommand"
                           : c->service.start_command == NULL  ? "startCommand"
                           : c->service.status_command == NULL ? "statusCommand"
                                                               : NULL;
        if (miss != NULL)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "service.%s: required when service.control is \"command\"", miss);
    } else {
        const char *extra = c->service.stop_command != NULL     ? "stopCommand"
                            : c->service.start_command != NULL  ? "startCommand"
                            : c->service.status_command != NULL ? "statusCommand"
                                                                : NULL;
        if (extra != NULL)
            return ferry_err_set(
                err, FERRY_E_INVALID_ARG,
                "service.%s: only allowed when service.control is \"command\" (it is \"systemd\")", extra);
        for (const char *p = c->service.name; *p != '\0'; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  strchr(":_.@-\\", *p) != NULL))
                return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                     "service.name: '%c' is not allowed in a systemd unit name", *p);
        }
    }
    if (c->service.health != FERRY_HEALTH_NONE) {
        if (c->service.health_target == NULL)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "service.healthCheck.target: required when kind is \"%s\"",
                                 c->service.health == FERRY_HEALTH_TCP ? "tcp" : "http");
        ferry_err_t e = {0};
        if (ferry_health_target_check(c->service.health, c->service.health_target, &e) != FERRY_OK)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "service.healthCheck.target: %s", e.msg);
    } else if (c->service.health_target != NULL) {
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "service.healthCheck.target: only allowed when kind is \"tcp\" or \"http\"");
    }

    /* paths: the sync of one tree must never reach another. */
    struct {
        const char *name, *val;
    } dirs[] = {{"paths.serverDir", c->paths.server_dir},
                {"paths.clientDir", c->paths.client_dir},
                {"paths.backupRoot", c->paths.backup_root},
                {"paths.tempDir", c->paths.temp_dir},
                {"stateDir", c->state_dir}};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (strcmp(dirs[i].val, "/") == 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must not be the root directory",
                                 dirs[i].name);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        for (size_t j = 0; j < sizeof(dirs) / sizeof(dirs[0]); j++) {
            if (i == j)
                continue;
            if (path_within(dirs[i].val, dirs[j].val))
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must not be %s %s ('%.200s')",
                                     dirs[i].name,
                                     strcmp(dirs[i].val, dirs[j].val) == 0 ? "the same as" : "inside",
                                     dirs[j].name, dirs[i].val);
        }
    }
    if (!protect_given) {
        /* Default protect paths follow the (possibly overridden) serverDir. */
        char a[PATH_MAX], b[PATH_MAX];
        if (ferry_fs_join(a, sizeof(a), c->paths.server_dir, "config") != FERRY_OK ||
            ferry_fs_join(b, sizeof(b), c->paths.server_dir, "logs") != FERRY_OK)
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "paths.serverDir: too long");
        char *na = strdup(a), *nb = strdup(b);
        if (na == NULL || nb == NULL) {
            free(na);
            free(nb);
            return ferry_err_set(err, FERRY_E_NOMEM, "paths.protectPaths: out of memory");
        }
        free(c->paths.protect_paths[0]);
        free(c->paths.protect_paths[1]);
        c->paths.protect_paths[0] = na;
        c->paths.protect_paths[1] = nb;
    }
    for (size_t i = 0; i < c->paths.n_protect_paths; i++) {
        const char *p = c->paths.protect_paths[i];
        if ((!path_within(p, c->paths.server_dir) && !path_within(p, c->paths.client_dir)) ||
            strcmp(p, c->paths.server_dir) == 0 || strcmp(p, c->paths.client_dir) == 0)
            return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                 "paths.protectPaths[%zu]: must be inside paths.serverDir or paths.clientDir "
                                 "('%.200s')",
                                 i, p);
    }

    /* backup */
    if (!plain_file_name(c->backup.db.backup_file_name))
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "backup.db.backupFileName: must be a plain file name");
    if (!plain_file_name(c->backup.client_backup_file_name))
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "backup.clientBackupFileName: must be a plain file name");
    if (strcmp(c->backup.db.backup_file_name, c->backup.client_backup_file_name) == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "backup.clientBackupFileName: must differ from backup.db.backupFileName");
    if (strcmp(c->backup.db.backup_file_name, "server") == 0 ||
        strcmp(c->backup.client_backup_file_name, "server") == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "backup.db.backupFileName: \"server\" is the server mirror's name");
    if (c->backup.db.n_databases == 0)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "backup.db.databases: must list at least one database");

    if (c->backup.db.engine == FERRY_DB_ENGINE_SQLITE) {
        if (c->backup.db.sql_connection_string != NULL)
            return ferry_err_set(
                err, FERRY_E_INVALID_ARG,
                "backup.db.sqlConnectionString: only allowed when backup.db.engine is \"mssql\"");
        for (size_t i = 0; i < c->backup.db.n_databases; i++) {
            char field[64], *norm = NULL;
            snprintf(field, sizeof(field), "backup.db.databases[%zu]", i);
            if ((rc = norm_path(c->backup.db.databases[i], field, &norm, err)) != FERRY_OK)
                return rc;
            free(c->backup.db.databases[i]);
            c->backup.db.databases[i] = norm;
        }
    } else {
        if (c->backup.db.sql_connection_string == NULL)
            return ferry_err_set(
                err, FERRY_E_INVALID_ARG,
                "backup.db.sqlConnectionString: required when backup.db.engine is \"mssql\"");
        ferry_mssql_connstr_t *cs = calloc(1, sizeof(*cs));
        if (cs == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        rc = ferry_mssql_connstr_parse(c->backup.db.sql_connection_string, cs, err);
        explicit_bzero(cs, sizeof(*cs));
        free(cs);
        if (rc != FERRY_OK)
            return ferry_err_prefix(err, "backup.db.sqlConnectionString");
        if (!dbs_given) {
            char *d = strdup(DEF_MSSQL_DB);
            if (d == NULL)
                return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
            free(c->backup.db.databases[0]);
            c->backup.db.databases[0] = d;
        }
        for (size_t i = 0; i < c->backup.db.n_databases; i++) {
            char q[600];
            ferry_err_t e = {0};
            if (ferry_mssql_quote_ident(c->backup.db.databases[i], q, sizeof(q), &e) != FERRY_OK)
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "backup.db.databases[%zu]: %s", i, e.msg);
        }
    }
    return rc;
}

ferry_err_code_t ferry_node_config_parse(const char *json, size_t len, ferry_node_config_t **out,
                                         ferry_err_t *err)
{
    static const char *const keys[] = {"configVersion", "service",  "paths",   "backup", "deploy",
                                       "stateDir",      "download", "license", NULL};
    static const char *const download_keys[] = {"maxKiBPerSecond", NULL};
    static const char *const license_keys[] = {"file", NULL};
    static const char *const deploy_keys[] = {"deleteOldFiles", "clientDeleteOldFiles", NULL};
    ferry_err_code_t rc;
    ferry_node_config_t *c = NULL;
    json_t *root = NULL, *svc = NULL, *paths = NULL, *backup = NULL, *deploy = NULL, *download = NULL,
           *license = NULL;
    json_error_t je;
    bool protect_given = false, dbs_given = false;
    *out = NULL;
    if ((rc = ferry_node_config_new_default(&c, err)) != FERRY_OK)
        goto out;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "invalid JSON at line %d column %d: %s", je.line,
                           je.column, je.text);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "the configuration must be a JSON object");
        goto out;
    }
    if ((rc = check_keys(root, "", keys, err)) != FERRY_OK)
        goto out;
    json_t *cv = json_object_get(root, "configVersion");
    if (cv != NULL) {
        if (!json_is_integer(cv) || json_integer_value(cv) < 0) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "configVersion: must be a non-negative integer");
            goto out;
        }
        c->config_version = (int64_t)json_integer_value(cv);
    }
    if ((rc = get_path(root, "stateDir", "stateDir", &c->state_dir, err)) != FERRY_OK ||
        (rc = get_object(root, "service", "service", &svc, err)) != FERRY_OK ||
        (rc = get_object(root, "paths", "paths", &paths, err)) != FERRY_OK ||
        (rc = get_object(root, "backup", "backup", &backup, err)) != FERRY_OK ||
        (rc = get_object(root, "deploy", "deploy", &deploy, err)) != FERRY_OK ||
        (rc = get_object(root, "download", "download", &download, err)) != FERRY_OK ||
        (rc = get_object(root, "license", "license", &license, err)) != FERRY_OK)
        goto out;
    /* Where the agent writes the signed licence for the managed application to enforce. */
    if (license != NULL &&
        ((rc = check_keys(license, "license", license_keys, err)) != FERRY_OK ||
         (rc = get_path(license, "file", "license.file", &c->license.file, err)) != FERRY_OK))
        goto out;
    /* The agent's package downloads: 0 = unlimited, else at most 4 GiB/s. */
    if (download != NULL && ((rc = check_keys(download, "download", download_keys, err)) != FERRY_OK ||
                             (rc = get_uint(download, "maxKiBPerSecond", "download.maxKiBPerSecond", 0,
                                            4u << 20, &c->download.max_kib_per_sec, err)) != FERRY_OK))
        goto out;
    if (svc != NULL && (rc = parse_service(svc, c, err)) != FERRY_OK)
        goto out;
    if (paths != NULL && (rc = parse_paths(paths, c, &protect_given, err)) != FERRY_OK)
        goto out;
    if (backup != NULL && (rc = parse_backup(backup, c, &dbs_given, err)) != FERRY_OK)
        goto out;
    if (deploy != NULL && ((rc = check_keys(deploy, "deploy", deploy_keys, err)) != FERRY_OK ||
                           (rc = get_bool(deploy, "deleteOldFiles", "deploy.deleteOldFiles",
                                          &c->deploy.delete_old_files, err)) != FERRY_OK ||
                           (rc = get_bool(deploy, "clientDeleteOldFiles", "deploy.clientDeleteOldFiles",
                                          &c->deploy.client_delete_old_files, err)) != FERRY_OK))
        goto out;
    if ((rc = validate(c, protect_given, dbs_given, err)) != FERRY_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    json_decref(root);
    ferry_node_config_free(c);
    return rc;
}

ferry_err_code_t ferry_node_config_load(const char *path, ferry_node_config_t **out, ferry_err_t *err)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    ferry_err_code_t rc = ferry_fs_read_file(path, FERRY_NODE_CONFIG_MAX_BYTES, &buf, &len, err);
    if (rc == FERRY_OK) {
        rc = ferry_node_config_parse(buf, len, out, err);
        if (rc != FERRY_OK)
            ferry_err_prefix(err, "%s", path);
    }
    if (buf != NULL)
        explicit_bzero(buf, len);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------- dump */

static json_t *str_array(char **list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

char *ferry_node_config_mask_connstr(const char *connstr)
{
    /* Only a string the engine itself accepts is shown (ferry_connstr_mask() withholds
     * what it cannot read with certainty; the engine's parser is stricter still). */
    ferry_mssql_connstr_t *cs = calloc(1, sizeof(*cs));
    bool usable = cs != NULL && connstr != NULL && ferry_mssql_connstr_parse(connstr, cs, NULL) == FERRY_OK;
    char *masked = NULL;

    if (cs == NULL)
        goto out;
    masked = ferry_connstr_mask(usable ? connstr : NULL, FERRY_CONNSTR_SAY_WITHHELD);
out:
    if (cs != NULL)
        explicit_bzero(cs, sizeof(*cs));
    free(cs);
    return masked;
}

ferry_err_code_t ferry_node_config_dump_effective(const ferry_node_config_t *c, char **out, ferry_err_t *err)
{
    static const char *const hk[] = {"none", "tcp", "http"};
    ferry_err_code_t rc = FERRY_OK;
    *out = NULL;
    json_t *svc = json_pack("{s:s, s:i, s:i, s:s}", "name", c->service.name, "stopTimeoutSeconds",
                            (json_int_t)c->service.stop_timeout_s, "startTimeoutSeconds",
                            (json_int_t)c->service.start_timeout_s, "control",
                            c->service.control == FERRY_SVC_CONTROL_COMMAND ? "command" : "systemd");
    if (svc != NULL && c->service.control == FERRY_SVC_CONTROL_COMMAND) {
        json_object_set_new(svc, "stopCommand", json_string(c->service.stop_command));
        json_object_set_new(svc, "startCommand", json_string(c->service.start_command));
        json_object_set_new(svc, "statusCommand", json_string(c->service.status_command));
    }
    if (svc != NULL) {
        json_t *h = json_pack("{s:s}", "kind", hk[c->service.health]);
        if (h != NULL && c->service.health_target != NULL)
            json_object_set_new(h, "target", json_string(c->service.health_target));
        json_object_set_new(svc, "healthCheck", h);
    }
    json_t *paths =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "serverDir", c->paths.server_dir, "clientDir",
                  c->paths.client_dir, "backupRoot", c->paths.backup_root, "tempDir", c->paths.temp_dir,
                  "protectPaths", str_array(c->paths.protect_paths, c->paths.n_protect_paths));
    json_t *db = json_pack("{s:s, s:o, s:s}", "engine",
                           c->backup.db.engine == FERRY_DB_ENGINE_MSSQL ? "mssql" : "sqlite", "databases",
                           str_array(c->backup.db.databases, c->backup.db.n_databases), "backupFileName",
                           c->backup.db.backup_file_name);
    if (db != NULL && c->backup.db.sql_connection_string != NULL) {
        char *masked = ferry_node_config_mask_connstr(c->backup.db.sql_connection_string);
        json_object_set_new(db, "sqlConnectionString", masked != NULL ? json_string(masked) : NULL);
        free(masked);
    }
    json_t *backup = json_pack("{s:i, s:o, s:s}", "retentionN", (json_int_t)c->backup.retention_n, "db", db,
                               "clientBackupFileName", c->backup.client_backup_file_name);
    json_t *deploy = json_pack("{s:b, s:b}", "deleteOldFiles", c->deploy.delete_old_files,
                               "clientDeleteOldFiles", c->deploy.client_delete_old_files);
    json_t *download = json_pack("{s:I}", "maxKiBPerSecond", (json_int_t)c->download.max_kib_per_sec);
    json_t *root = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:s}", "configVersion",
                             (json_int_t)c->config_version, "service", svc, "paths", paths, "backup", backup,
                             "deploy", deploy, "download", download, "stateDir", c->state_dir);
    if (root != NULL && c->license.file != NULL)
        json_object_set_new(root, "license", json_pack("{s:s}", "file", c->license.file));
    char *text = root != NULL ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (text == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "effective config: out of memory");
        goto out;
    }
    /* Belt and braces: command lines may carry secrets too. */
    ferry_log_mask_secrets(text);
    *out = text;
out:
    return rc;
}

ferry_err_code_t ferry_node_config_db_backup_name(const ferry_node_config_t *cfg, size_t index, char *buf,
                                                  size_t size)
{
    const char *name = cfg->backup.db.backup_file_name;
    int n;
    if (index == 0) {
        n = snprintf(buf, size, "%s", name);
    } else {
        const char *dot = strrchr(name, '.');
        if (dot == NULL || dot == name)
            n = snprintf(buf, size, "%s.%zu", name, index);
        else
            n = snprintf(buf, size, "%.*s.%zu%s", (int)(dot - name), name, index, dot);
    }
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return FERRY_E_TOO_LARGE;
    }
    return FERRY_OK;
}
