/*
 * The node configuration fields of seed 000 §7.3 as the tray edits them (presenter.h):
 * one table drives the settings page, `config show` and `config set KEY=VALUE`. Keys are
 * the node-config.json paths the agent's ValidateNodeConfig names in its issues, so an
 * issue lands on its field.
 *
 * Strings set into a NodeConfig are malloc'ed one by one, as protobuf-c's unpacker does,
 * so the message stays freeable with protobuf_c_message_free_unpacked(); a replaced
 * string is freed unless it is protobuf-c's shared empty string.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/connstr.h"
#include "ferry/tray/presenter.h"

/* Caps: a list longer than the agent accepts is refused here already. */
#define MAX_LIST_ITEMS 256
#define MAX_VALUE      8192

static const char *const CONTROL_CHOICES[] = {"systemd", "command", NULL};
static const char *const HEALTH_CHOICES[] = {"none", "tcp", "http", NULL};
static const char *const ENGINE_CHOICES[] = {"sqlite", "mssql", NULL};

static const ferry_tray_field_t FIELDS[] = {
    {"service.name", "Service name", "Service", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, false,
     "systemd unit of the managed application (names differ per node)"},
    {"service.control", "Service control", "Service", FERRY_TRAY_FIELD_CHOICE, 0, 0, CONTROL_CHOICES, false,
     "systemd: systemctl stop/start; command: the three command lines below"},
    {"service.stopTimeoutSeconds", "Stop timeout (s)", "Service", FERRY_TRAY_FIELD_UINT, 1, 86400, NULL,
     false, "longer: the update fails with E_SERVICE_STOP_TIMEOUT and a diagnostic file"},
    {"service.startTimeoutSeconds", "Start timeout (s)", "Service", FERRY_TRAY_FIELD_UINT, 1, 86400, NULL,
     false, "longer: E_SERVICE_START_FAILED, then the backup is restored"},
    {"service.stopCommand", "Stop command", "Service", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, true,
     "control = command only"},
    {"service.startCommand", "Start command", "Service", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, true,
     "control = command only"},
    {"service.statusCommand", "Status command", "Service", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, true,
     "control = command only; exit status 0 = running"},
    {"service.healthCheck.kind", "Health check", "Service", FERRY_TRAY_FIELD_CHOICE, 0, 0, HEALTH_CHOICES,
     false, "after the start: none, a TCP connect or an HTTP GET answering 2xx"},
    {"service.healthCheck.target", "Health target", "Service", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, true,
     "host:port (tcp) or http://host:port/path (http)"},
    {"paths.serverDir", "Server directory", "Directories", FERRY_TRAY_FIELD_PATH, 0, 0, NULL, false,
     "server.zip is installed here (seed default D:/rca7/server)"},
    {"paths.clientDir", "Client directory", "Directories", FERRY_TRAY_FIELD_PATH, 0, 0, NULL, false,
     "client.zip is installed here (seed default D:/rca7/files/package/client)"},
    {"paths.backupRoot", "Backup root", "Directories", FERRY_TRAY_FIELD_PATH, 0, 0, NULL, false,
     "{backupRoot}/{version}/ holds server/, client.zip and data.bak"},
    {"paths.tempDir", "Temp directory", "Directories", FERRY_TRAY_FIELD_PATH, 0, 0, NULL, false,
     "downloads and extraction"},
    {"paths.protectPaths", "Protected paths", "Directories", FERRY_TRAY_FIELD_LIST, 0, 0, NULL, true,
     "one per line: never deleted or overwritten by an install"},
    {"backup.retentionN", "Backups kept (N)", "Backup", FERRY_TRAY_FIELD_UINT, 1, 1000, NULL, false,
     "the newest N backup directories are kept"},
    {"backup.clientBackupFileName", "Client backup file", "Backup", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, false,
     "archive of the client directory inside the version's backup"},
    {"backup.db.engine", "Database engine", "Database", FERRY_TRAY_FIELD_CHOICE, 0, 0, ENGINE_CHOICES, false,
     "mssql: SQL Server through the connection string; sqlite: database files"},
    {"backup.db.sqlConnectionString", "Connection string", "Database", FERRY_TRAY_FIELD_CONNSTR, 0, 0, NULL,
     true, "the password shows as ***; leave *** to keep it"},
    {"backup.db.databases", "Databases", "Database", FERRY_TRAY_FIELD_LIST, 0, 0, NULL, false,
     "one per line: names (mssql) or file paths (sqlite)"},
    {"backup.db.backupFileName", "Database backup file", "Database", FERRY_TRAY_FIELD_TEXT, 0, 0, NULL, false,
     "inside the version's backup directory (default data.bak)"},
    {"deploy.deleteOldFiles", "Delete old server files", "Install", FERRY_TRAY_FIELD_BOOL, 0, 0, NULL, false,
     "files not in server.zip are deleted (never under protected paths)"},
    {"deploy.clientDeleteOldFiles", "Delete old client files", "Install", FERRY_TRAY_FIELD_BOOL, 0, 0, NULL,
     false, "files not in client.zip are deleted"},
    {"download.maxKiBPerSecond", "Download limit (KiB/s)", "Download", FERRY_TRAY_FIELD_UINT, 0, 4194304,
     NULL, false, "0 = unlimited"},
    {"stateDir", "Engine journal directory", "Download", FERRY_TRAY_FIELD_PATH, 0, 0, NULL, false,
     "where the update journal survives crashes and reboots"},
};

const ferry_tray_field_t *ferry_tray_fields(size_t *n)
{
    *n = sizeof(FIELDS) / sizeof(FIELDS[0]);
    return FIELDS;
}

const ferry_tray_field_t *ferry_tray_field_find(const char *key)
{
    for (size_t i = 0; key != NULL && i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++)
        if (strcmp(FIELDS[i].key, key) == 0)
            return &FIELDS[i];
    return NULL;
}

/* ---- typed access to the message --------------------------------------------------------- */

/* Where a field lives in the message; sub-messages are created when |create|. */
typedef struct slot {
    char **str;
    uint32_t *u32;
    protobuf_c_boolean *b;
    int *choice; /* enum stored as int-sized */
    char ***list;
    size_t *n_list;
} slot_t;

static void *sub(void **p, size_t size, void (*init)(void *), bool create)
{
    if (*p == NULL && create && (*p = malloc(size)) != NULL)
        init(*p);
    return *p;
}

static void init_service(void *p)
{
    ferry__v1__service_settings__init(p);
}
static void init_health(void *p)
{
    ferry__v1__health_check__init(p);
}
static void init_paths(void *p)
{
    ferry__v1__path_settings__init(p);
}
static void init_backup(void *p)
{
    ferry__v1__backup_settings__init(p);
}
static void init_db(void *p)
{
    ferry__v1__db_settings__init(p);
}
static void init_deploy(void *p)
{
    ferry__v1__deploy_settings__init(p);
}
static void init_download(void *p)
{
    ferry__v1__download_settings__init(p);
}

#define SUB(parent, member, init, create)                                                                    \
    ((parent) != NULL ? sub((void **)&(parent)->member, sizeof(*(parent)->member), init, create) : NULL)

/* Fills |s| for |key|; false for an unknown key or (when !create) an absent section. */
static bool locate(Ferry__V1__NodeConfig *c, const char *key, bool create, slot_t *s)
{
    memset(s, 0, sizeof(*s));
    Ferry__V1__ServiceSettings *svc =
        SUB(c, service, init_service, create && strncmp(key, "service.", 8) == 0);
    Ferry__V1__HealthCheck *hc =
        SUB(svc, health_check, init_health, create && strncmp(key, "service.healthCheck", 19) == 0);
    Ferry__V1__PathSettings *paths = SUB(c, paths, init_paths, create && strncmp(key, "paths.", 6) == 0);
    Ferry__V1__BackupSettings *bk = SUB(c, backup, init_backup, create && strncmp(key, "backup.", 7) == 0);
    Ferry__V1__DbSettings *db = SUB(bk, db, init_db, create && strncmp(key, "backup.db.", 10) == 0);
    Ferry__V1__DeploySettings *dep = SUB(c, deploy, init_deploy, create && strncmp(key, "deploy.", 7) == 0);
    Ferry__V1__DownloadSettings *dl =
        SUB(c, download, init_download, create && strncmp(key, "download.", 9) == 0);
    /* Each "absent section" branch returns false like the unknown-key tail: kept in the
     * chain, before the keys that dereference the section, so no pointer is used unchecked. */
    /* NOLINTBEGIN(bugprone-branch-clone) */
    if (strcmp(key, "stateDir") == 0)
        s->str = &c->state_dir;
    else if (strncmp(key, "service.", 8) == 0 && svc == NULL)
        return false;
    else if (strcmp(key, "service.name") == 0)
        s->str = &svc->name;
    else if (strcmp(key, "service.control") == 0)
        s->choice = (int *)&svc->control;
    else if (strcmp(key, "service.stopTimeoutSeconds") == 0)
        s->u32 = &svc->stop_timeout_seconds;
    else if (strcmp(key, "service.startTimeoutSeconds") == 0)
        s->u32 = &svc->start_timeout_seconds;
    else if (strcmp(key, "service.stopCommand") == 0)
        s->str = &svc->stop_command;
    else if (strcmp(key, "service.startCommand") == 0)
        s->str = &svc->start_command;
    else if (strcmp(key, "service.statusCommand") == 0)
        s->str = &svc->status_command;
    else if (strncmp(key, "service.healthCheck.", 20) == 0 && hc == NULL)
        return false;
    else if (strcmp(key, "service.healthCheck.kind") == 0)
        s->choice = (int *)&hc->kind;
    else if (strcmp(key, "service.healthCheck.target") == 0)
        s->str = &hc->target;
    else if (strncmp(key, "paths.", 6) == 0 && paths == NULL)
        return false;
    else if (strcmp(key, "paths.serverDir") == 0)
        s->str = &paths->server_dir;
    else if (strcmp(key, "paths.clientDir") == 0)
        s->str = &paths->client_dir;
    else if (strcmp(key, "paths.backupRoot") == 0)
        s->str = &paths->backup_root;
    else if (strcmp(key, "paths.tempDir") == 0)
        s->str = &paths->temp_dir;
    else if (strcmp(key, "paths.protectPaths") == 0) {
        s->list = &paths->protect_paths;
        s->n_list = &paths->n_protect_paths;
    } else if (strncmp(key, "backup.db.", 10) == 0 && db == NULL)
        return false;
    else if (strncmp(key, "backup.", 7) == 0 && bk == NULL)
        return false;
    else if (strcmp(key, "backup.retentionN") == 0)
        s->u32 = &bk->retention_n;
    else if (strcmp(key, "backup.clientBackupFileName") == 0)
        s->str = &bk->client_backup_file_name;
    else if (strcmp(key, "backup.db.engine") == 0)
        s->choice = (int *)&db->engine;
    else if (strcmp(key, "backup.db.sqlConnectionString") == 0)
        s->str = &db->sql_connection_string;
    else if (strcmp(key, "backup.db.databases") == 0) {
        s->list = &db->databases;
        s->n_list = &db->n_databases;
    } else if (strcmp(key, "backup.db.backupFileName") == 0)
        s->str = &db->backup_file_name;
    else if (strncmp(key, "deploy.", 7) == 0 && dep == NULL)
        return false;
    else if (strcmp(key, "deploy.deleteOldFiles") == 0)
        s->b = &dep->delete_old_files;
    else if (strcmp(key, "deploy.clientDeleteOldFiles") == 0)
        s->b = &dep->client_delete_old_files;
    else if (strncmp(key, "download.", 9) == 0 && dl == NULL)
        return false;
    else if (strcmp(key, "download.maxKiBPerSecond") == 0)
        s->u32 = &dl->max_kib_per_second;
    else
        return false;
    /* NOLINTEND(bugprone-branch-clone) */
    return true;
}

/* Enum number <-> choice name, per field. */
static int choice_to_enum(const char *key, size_t idx)
{
    if (strcmp(key, "service.control") == 0)
        return idx == 0 ? FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_SYSTEMD
                        : FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND;
    if (strcmp(key, "service.healthCheck.kind") == 0)
        return idx == 0   ? FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_NONE
               : idx == 1 ? FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_TCP
                          : FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP;
    return idx == 0 ? FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE : FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER;
}

static const char *enum_to_choice(const char *key, int v)
{
    if (strcmp(key, "service.control") == 0)
        return v == FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND ? "command" : "systemd";
    if (strcmp(key, "service.healthCheck.kind") == 0)
        return v == FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_TCP    ? "tcp"
               : v == FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP ? "http"
                                                                           : "none";
    /* common.proto: DB_ENGINE_UNSPECIFIED means SQL Server. */
    return v == FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE ? "sqlite" : "mssql";
}

ferry_err_code_t ferry_tray_config_get(const Ferry__V1__NodeConfig *c, const char *key, const char *list_sep,
                                       char *buf, size_t size, ferry_err_t *err)
{
    slot_t s;
    const ferry_tray_field_t *f = ferry_tray_field_find(key);
    if (size > 0)
        buf[0] = '\0';
    if (f == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "%.64s: not a node configuration field",
                             key != NULL ? key : "");
    /* Reading never creates sections: an absent one reads as empty. */
    if (c == NULL || !locate((Ferry__V1__NodeConfig *)c, key, false, &s))
        return FERRY_OK;
    size_t n = 0;
    if (s.str != NULL)
        n = (size_t)snprintf(buf, size, "%s", *s.str != NULL ? *s.str : "");
    else if (s.u32 != NULL)
        n = (size_t)snprintf(buf, size, "%" PRIu32, *s.u32);
    else if (s.b != NULL)
        n = (size_t)snprintf(buf, size, "%s", *s.b ? "true" : "false");
    else if (s.choice != NULL)
        n = (size_t)snprintf(buf, size, "%s", enum_to_choice(key, *s.choice));
    else if (s.list != NULL) {
        for (size_t i = 0; i < *s.n_list && n < size; i++)
            n += (size_t)snprintf(buf + n, size - n, "%s%s", i > 0 ? list_sep : "", (*s.list)[i]);
    }
    if (n >= size)
        return ferry_err_set(err, FERRY_E_TOO_LARGE, "%s: value longer than %zu bytes", key, size);
    return FERRY_OK;
}

static void free_str(char *p)
{
    if (p != NULL && p != protobuf_c_empty_string)
        free(p);
}

static char *trim_dup(const char *s, size_t n)
{
    while (n > 0 && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    char *r = calloc(n + 1, 1); /* zeroed: the analyzer cannot follow memcpy of n = 0 */
    if (r != NULL) {
        memcpy(r, s, n);
        r[n] = '\0';
    }
    return r;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/*
 * Splits a list value: a JSON array of plain strings (no escapes but \" and \\), or items
 * separated by newlines, or (when there is no newline) by commas. Blank items are dropped.
 */
static ferry_err_code_t split_list(const char *key, const char *v, char ***out, size_t *n_out,
                                   ferry_err_t *err)
{
    char **items = calloc(MAX_LIST_ITEMS, sizeof(char *));
    size_t n = 0;
    ferry_err_code_t rc = FERRY_OK;
    if (items == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", key);
    const char *p = v;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[') {
        p++;
        for (;;) {
            while (isspace((unsigned char)*p) || *p == ',')
                p++;
            if (*p == ']')
                break;
            if (*p != '"') {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: a JSON list must hold strings (\"...\")",
                                   key);
                goto out;
            }
            p++;
            char tmp[MAX_VALUE];
            size_t k = 0;
            while (*p != '"' && *p != '\0' && k + 1 < sizeof(tmp)) {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                tmp[k++] = *p++;
            }
            if (*p != '"') {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: unterminated string in the JSON list", key);
                goto out;
            }
            p++;
            tmp[k] = '\0';
            if (n >= MAX_LIST_ITEMS) {
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: at most %d items", key, MAX_LIST_ITEMS);
                goto out;
            }
            if (k > 0 && (items[n] = trim_dup(tmp, k)) == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", key);
                goto out;
            }
            if (k > 0)
                n++;
        }
        p++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '\0') {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: text after the JSON list", key);
            goto out;
        }
    } else {
        char sep = strchr(v, '\n') != NULL ? '\n' : ',';
        const char *q = v;
        while (*q != '\0') {
            const char *e = strchr(q, sep);
            size_t len = e != NULL ? (size_t)(e - q) : strlen(q);
            char *item = trim_dup(q, len);
            if (item == NULL) {
                rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", key);
                goto out;
            }
            if (item[0] == '\0') {
                free(item);
            } else if (n >= MAX_LIST_ITEMS) {
                free(item);
                rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: at most %d items", key, MAX_LIST_ITEMS);
                goto out;
            } else {
                items[n++] = item;
            }
            q += len;
            if (*q == sep)
                q++;
        }
    }
out:
    if (rc != FERRY_OK) {
        free_list(items, n);
        return rc;
    }
    *out = items;
    *n_out = n;
    return FERRY_OK;
}

static bool is_abs_path(const char *s)
{
    return s[0] == '/';
}

ferry_err_code_t ferry_tray_config_set(Ferry__V1__NodeConfig *c, const char *key, const char *value,
                                       ferry_err_t *err)
{
    const ferry_tray_field_t *f = ferry_tray_field_find(key);
    slot_t s;
    char *v = NULL;
    char **list = NULL;
    size_t n_list = 0;
    ferry_err_code_t rc = FERRY_OK;
    if (f == NULL) {
        rc =
            ferry_err_set(err, FERRY_E_INVALID_ARG,
                          "%.64s: not a node configuration field (see `ferry-tray config show` for the keys)",
                          key != NULL ? key : "");
        goto out;
    }
    if (value == NULL)
        value = "";
    if (strlen(value) > MAX_VALUE) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: longer than %d bytes", key, MAX_VALUE);
        goto out;
    }
    if ((v = trim_dup(value, strlen(value))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", key);
        goto out;
    }
    /* Check first: |c| is only touched once the value is known to be good. */
    uint32_t u = 0;
    int choice = 0;
    bool b = false;
    switch (f->kind) {
    case FERRY_TRAY_FIELD_UINT: {
        char *end = NULL;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (v[0] == '\0' || !isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 || x < f->min ||
            x > f->max) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: must be a whole number between %u and %u (got '%.32s')", key, f->min,
                               f->max, v);
            goto out;
        }
        u = (uint32_t)x;
        break;
    }
    case FERRY_TRAY_FIELD_BOOL:
        if (strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 ||
            strcasecmp(v, "on") == 0)
            b = true;
        else if (strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 ||
                 strcasecmp(v, "off") == 0)
            b = false;
        else {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be true or false (got '%.32s')", key, v);
            goto out;
        }
        break;
    case FERRY_TRAY_FIELD_CHOICE: {
        size_t i = 0;
        if (strcmp(key, "backup.db.engine") == 0 && strcasecmp(v, "sqlserver") == 0)
            snprintf(v, strlen(v) + 1, "mssql");
        while (f->choices[i] != NULL && strcasecmp(f->choices[i], v) != 0)
            i++;
        if (f->choices[i] == NULL) {
            char all[128] = "";
            for (size_t k = 0; f->choices[k] != NULL; k++)
                snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", k ? ", " : "", f->choices[k]);
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be one of %s (got '%.32s')", key, all, v);
            goto out;
        }
        choice = choice_to_enum(key, i);
        break;
    }
    case FERRY_TRAY_FIELD_PATH:
        if (!is_abs_path(v) || strstr(v, "/../") != NULL ||
            (strlen(v) >= 3 && strcmp(v + strlen(v) - 3, "/..") == 0)) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: must be an absolute path without '..' (got '%.200s')", key, v);
            goto out;
        }
        break;
    case FERRY_TRAY_FIELD_LIST:
        if ((rc = split_list(key, v, &list, &n_list, err)) != FERRY_OK)
            goto out;
        if (n_list == 0 && !f->optional) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must list at least one entry", key);
            goto out;
        }
        if (strcmp(key, "paths.protectPaths") == 0)
            for (size_t i = 0; i < n_list; i++)
                if (!is_abs_path(list[i])) {
                    rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                                       "%s[%zu]: must be an absolute path (got '%.200s')", key, i, list[i]);
                    goto out;
                }
        break;
    case FERRY_TRAY_FIELD_TEXT:
        if (v[0] == '\0' && !f->optional) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must not be empty", key);
            goto out;
        }
        if ((strcmp(key, "backup.clientBackupFileName") == 0 ||
             strcmp(key, "backup.db.backupFileName") == 0) &&
            (strchr(v, '/') != NULL || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: must be a plain file name (got '%.200s')", key,
                               v);
            goto out;
        }
        break;
    case FERRY_TRAY_FIELD_CONNSTR:
        /* Checked for syntax without ever quoting it: it may hold a password. */
        if (v[0] != '\0') {
            char *m = ferry_connstr_mask(v, FERRY_CONNSTR_SAY_WITHHELD);
            bool bad = m != NULL && strcmp(m, FERRY_CONNSTR_WITHHELD) == 0;
            free(m);
            if (bad) {
                rc = ferry_err_set(
                    err, FERRY_E_INVALID_ARG,
                    "%s: does not parse as key=value pairs separated by ';' with known SQL Server "
                    "keywords (quote a password holding ';' as {...})",
                    key);
                goto out;
            }
        }
        break;
    }
    if (!locate(c, key, true, &s)) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", key);
        goto out;
    }
    if (s.str != NULL) {
        free_str(*s.str);
        *s.str = v;
        v = NULL;
    } else if (s.u32 != NULL) {
        *s.u32 = u;
    } else if (s.b != NULL) {
        *s.b = b;
    } else if (s.choice != NULL) {
        *s.choice = choice;
    } else if (s.list != NULL) {
        free_list(*s.list, *s.n_list);
        *s.list = list;
        *s.n_list = n_list;
        list = NULL;
    }
out:
    if (list != NULL)
        free_list(list, n_list);
    if (v != NULL) {
        explicit_bzero(v, strlen(v));
        free(v);
    }
    return rc;
}

char *ferry_tray_connstr_set_password(const char *connstr, const char *password, ferry_err_t *err)
{
    const char *cs = connstr != NULL ? connstr : "";
    /* Worst case: every segment is a password pair taking the doubled-brace password. */
    size_t pairs = 1;
    for (const char *e = cs; *e; e++)
        pairs += *e == '=';
    size_t cap = strlen(cs) + pairs * ((password != NULL ? strlen(password) * 2 : 0) + 16) + 32;
    char *out = calloc(1, cap);
    size_t n = 0;
    bool replaced = false;
    if (out == NULL) {
        ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        return NULL;
    }
    char *m = ferry_connstr_mask(cs, FERRY_CONNSTR_SAY_WITHHELD);
    bool bad = m == NULL || strcmp(m, FERRY_CONNSTR_WITHHELD) == 0;
    free(m);
    if (bad && cs[0] != '\0') {
        free(out);
        ferry_err_set(err, FERRY_E_INVALID_ARG,
                      "backup.db.sqlConnectionString: does not parse; fix it before setting the password");
        return NULL;
    }
    /* Walk key=value segments (values may be quoted with {...}, "..." or '...'). */
    const char *p = cs;
    while (*p != '\0') {
        const char *seg = p, *eq = strchr(p, '=');
        const char *q = eq != NULL ? eq + 1 : p + strlen(p);
        while (*q == ' ')
            q++;
        if (eq != NULL && (*q == '{' || *q == '"' || *q == '\'')) {
            char close = (char)(*q == '{' ? '}' : *q);
            q++;
            for (; *q != '\0'; q++)
                if (*q == close) {
                    if (q[1] == close)
                        q++;
                    else
                        break;
                }
            if (*q != '\0')
                q++;
        }
        while (*q != '\0' && *q != ';')
            q++;
        bool is_pw = eq != NULL && eq < q && ferry_connstr_is_password_key(seg, (size_t)(eq - seg));
        if (is_pw) {
            replaced = true;
            if (password != NULL && password[0] != '\0') {
                n += (size_t)snprintf(out + n, cap - n, "%.*s{", (int)(eq - seg + 1), seg);
                for (const char *c = password; *c; c++) {
                    out[n++] = *c;
                    if (*c == '}')
                        out[n++] = '}';
                }
                out[n++] = '}';
                if (*q == ';')
                    out[n++] = ';';
            }
        } else {
            size_t len = (size_t)(q - seg) + (*q == ';' ? 1 : 0);
            memcpy(out + n, seg, len);
            n += len;
        }
        p = *q == ';' ? q + 1 : q;
    }
    if (!replaced && password != NULL && password[0] != '\0') {
        if (n > 0 && out[n - 1] != ';')
            out[n++] = ';';
        n += (size_t)snprintf(out + n, cap - n, "Password={");
        for (const char *c = password; *c; c++) {
            out[n++] = *c;
            if (*c == '}')
                out[n++] = '}';
        }
        out[n++] = '}';
        out[n++] = ';';
    }
    out[n] = '\0';
    return out;
}

Ferry__V1__NodeConfig *ferry_tray_config_dup(const Ferry__V1__NodeConfig *c)
{
    if (c == NULL)
        return NULL;
    size_t len = ferry__v1__node_config__get_packed_size(c);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    Ferry__V1__NodeConfig *r = NULL;
    if (buf == NULL)
        return NULL;
    ferry__v1__node_config__pack(c, buf);
    r = ferry__v1__node_config__unpack(NULL, len, buf);
    explicit_bzero(buf, len);
    free(buf);
    return r;
}

const ferry_tray_field_t *ferry_tray_issue_field(const char *issue_field)
{
    char key[128];
    size_t n = sizeof(FIELDS) / sizeof(FIELDS[0]);
    const ferry_tray_field_t *f = NULL;
    if (issue_field == NULL || issue_field[0] == '\0')
        goto out;
    /* "paths.protectPaths[1]" names an item: the list field holds it. */
    size_t kl = strcspn(issue_field, "[");
    if (kl >= sizeof(key))
        goto out;
    memcpy(key, issue_field, kl);
    key[kl] = '\0';
    if ((f = ferry_tray_field_find(key)) != NULL)
        goto out;
    /* A parent object ("service.healthCheck"): its first field in page order. */
    for (size_t i = 0; i < n && f == NULL; i++)
        if (strncmp(FIELDS[i].key, key, kl) == 0 && FIELDS[i].key[kl] == '.')
            f = &FIELDS[i];
out:
    return f;
}
