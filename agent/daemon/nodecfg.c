/*
 * node-config.json (engine) <-> ferry.v1.NodeConfig (proto) for LocalService (see nodecfg.h).
 *
 * Field mapping (engine JSON path <-> NodeConfig field):
 *   configVersion                      <-> config_version
 *   service.name                       <-> service.name
 *   service.stopTimeoutSeconds         <-> service.stop_timeout_seconds
 *   service.startTimeoutSeconds        <-> service.start_timeout_seconds
 *   paths.serverDir/clientDir/backupRoot/tempDir <-> paths.server_dir/client_dir/backup_root/temp_dir
 *   paths.protectPaths                 <-> paths.protect_paths
 *   backup.retentionN                  <-> backup.retention_n
 *   backup.clientBackupFileName        <-> backup.client_backup_file_name
 *   backup.db.engine "sqlite"/"mssql"  <-> backup.db.engine DB_ENGINE_SQLITE/DB_ENGINE_SQLSERVER
 *   backup.db.sqlConnectionString      <-> backup.db.sql_connection_string (masked, see below)
 *   backup.db.databases                <-> backup.db.databases
 *   backup.db.backupFileName           <-> backup.db.backup_file_name
 *   deploy.deleteOldFiles/clientDeleteOldFiles <-> deploy.delete_old_files/client_delete_old_files
 *   download.maxKiBPerSecond <-> download.max_kib_per_second
 *   service.control "systemd"/"command" <-> service.control SERVICE_CONTROL_SYSTEMD/COMMAND
 *   service.stopCommand/startCommand/statusCommand <-> service.stop_command/start_command/status_command
 *   service.healthCheck.kind "none"/"tcp"/"http" <-> service.health_check.kind
 * HEALTH_CHECK_KIND_NONE/TCP/HTTP service.healthCheck.target         <-> service.health_check.target stateDir
 * <-> state_dir
 *
 * Gaps and rules:
 *   - to_proto always sends control, the health check and stateDir explicitly. A client
 *     that predates them (IDL 0dea984) sends none: to_json/validate then keep those of
 *     |current| (or leave them out, engine defaults: systemd, no health check,
 *     /var/lib/ferry-agent, when |current| is NULL). Control and command lines count as
 *     given when control is not UNSPECIFIED or a command line is set (UNSPECIFIED then
 *     means systemd, as common.proto says); the health check when it is set, and as
 *     "none" when control is given without it; stateDir when it is not "". An empty
 *     command line or health target is not given (the engine's "required when" rules
 *     name it).
 *   - DB_ENGINE_UNSPECIFIED ("unset: SQL Server" in common.proto) has no engine
 *     counterpart and the engine's own default is sqlite: it becomes "mssql" when a
 *     connection string is given, otherwise "engine" is left out (sqlite). to_proto
 *     always sends an explicit engine.
 *   - proto3 cannot tell an unset scalar from its zero value: a present section is
 *     rendered as given, so 0 / "" reach the engine's rules ("backup.retentionN: must be
 *     between 1 and 1000", "paths.serverDir: must not be empty") and an empty
 *     protect_paths means "protect nothing" (validate warns). A section (sub-message)
 *     that is absent takes the engine's defaults as a whole (validate warns).
 *   - The connection string shown is the current one as written with its password
 *     masked (ferry_node_config_mask_connstr(), i.e. ferry_connstr_mask()); sent back
 *     unchanged (or as "***") it keeps the current string; edited with the password
 *     still "***", the current password is put back into the edited text. A real
 *     password that is literally "***" cannot be told from the mask.
 *
 * Validation: the base rules are ferry_node_config_parse()'s own, run on the rendered
 * JSON; it stops at the first problem, so one base issue at most is reported (with the
 * field taken from the message's "path: " prefix). The deep checks run only on a
 * configuration that parses.
 */
#include "nodecfg.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/engine/mssql.h"
#include "ferry/engine/sqlexec.h"
#include "ferry/engine/svcctl.h"

#define MASK "***"
/* Deep checks: bound of one systemctl call. */
#define SYSTEMCTL_TIMEOUT_MS 10000

/* ---------------------------------------------------------------- to_proto */

/* *dst = copy of |src| ("" for NULL). False when out of memory (*dst unchanged). */
static bool set_str(char **dst, const char *src)
{
    char *c = strdup(src != NULL ? src : "");
    if (c == NULL)
        return false;
    *dst = c;
    return true;
}

/* Copies a string list; *n counts the entries copied so far (freed by free_unpacked). */
static bool set_list(char ***dst, size_t *n, char *const *src, size_t sn)
{
    *dst = calloc(sn > 0 ? sn : 1, sizeof(char *));
    *n = 0;
    if (*dst == NULL)
        return false;
    for (size_t i = 0; i < sn; i++) {
        if (((*dst)[i] = strdup(src[i])) == NULL)
            return false;
        (*n)++;
    }
    return true;
}

static Ferry__V1__HealthCheckKind health_kind_to_proto(ferry_health_kind_t k)
{
    switch (k) {
    case FERRY_HEALTH_TCP:
        return FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_TCP;
    case FERRY_HEALTH_HTTP:
        return FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP;
    case FERRY_HEALTH_NONE:
    default:
        return FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_NONE;
    }
}

ferry_err_code_t agentd_nodecfg_to_proto(const ferry_node_config_t *cfg, Ferry__V1__NodeConfig **out,
                                         ferry_err_t *err)
{
    *out = NULL;
    Ferry__V1__NodeConfig *m = malloc(sizeof(*m));
    if (m == NULL)
        return ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
    ferry__v1__node_config__init(m);
    /* Each sub-message hangs off |m| as soon as it exists, so one free releases all. */
    if ((m->service = malloc(sizeof(*m->service))) != NULL) {
        ferry__v1__service_settings__init(m->service);
        if ((m->service->health_check = malloc(sizeof(*m->service->health_check))) != NULL)
            ferry__v1__health_check__init(m->service->health_check);
    }
    if ((m->paths = malloc(sizeof(*m->paths))) != NULL)
        ferry__v1__path_settings__init(m->paths);
    if ((m->backup = malloc(sizeof(*m->backup))) != NULL) {
        ferry__v1__backup_settings__init(m->backup);
        if ((m->backup->db = malloc(sizeof(*m->backup->db))) != NULL)
            ferry__v1__db_settings__init(m->backup->db);
    }
    if ((m->deploy = malloc(sizeof(*m->deploy))) != NULL)
        ferry__v1__deploy_settings__init(m->deploy);
    if (m->service == NULL || m->service->health_check == NULL || m->paths == NULL || m->backup == NULL ||
        m->backup->db == NULL || m->deploy == NULL) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
    }
    m->config_version = cfg->config_version;

    Ferry__V1__ServiceSettings *s = m->service;
    bool ok = set_str(&s->name, cfg->service.name);
    s->stop_timeout_seconds = cfg->service.stop_timeout_s;
    s->start_timeout_seconds = cfg->service.start_timeout_s;
    /* Always explicit, so a client that sends them back is told apart from one that
     * does not know them (render_service()). The command lines go to the local tray as
     * they are: it edits them. */
    s->control = cfg->service.control == FERRY_SVC_CONTROL_COMMAND
                     ? FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND
                     : FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_SYSTEMD;
    ok = ok &&
         (cfg->service.start_command == NULL || set_str(&s->start_command, cfg->service.start_command)) &&
         (cfg->service.stop_command == NULL || set_str(&s->stop_command, cfg->service.stop_command)) &&
         (cfg->service.status_command == NULL || set_str(&s->status_command, cfg->service.status_command));
    s->health_check->kind = health_kind_to_proto(cfg->service.health);
    ok = ok && (cfg->service.health_target == NULL ||
                set_str(&s->health_check->target, cfg->service.health_target));
    ok = ok && set_str(&m->state_dir, cfg->state_dir);

    Ferry__V1__PathSettings *p = m->paths;
    ok = ok && set_str(&p->server_dir, cfg->paths.server_dir) &&
         set_str(&p->client_dir, cfg->paths.client_dir) && set_str(&p->backup_root, cfg->paths.backup_root) &&
         set_str(&p->temp_dir, cfg->paths.temp_dir) &&
         set_list(&p->protect_paths, &p->n_protect_paths, cfg->paths.protect_paths,
                  cfg->paths.n_protect_paths);

    Ferry__V1__BackupSettings *b = m->backup;
    Ferry__V1__DbSettings *db = b->db;
    b->retention_n = cfg->backup.retention_n;
    ok = ok && set_str(&b->client_backup_file_name, cfg->backup.client_backup_file_name);
    db->engine = cfg->backup.db.engine == FERRY_DB_ENGINE_MSSQL ? FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER
                                                                : FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE;
    if (ok && cfg->backup.db.sql_connection_string != NULL) {
        char *masked = ferry_node_config_mask_connstr(cfg->backup.db.sql_connection_string);
        if (masked == NULL)
            ok = false;
        else
            db->sql_connection_string = masked;
    }
    ok = ok && set_str(&db->backup_file_name, cfg->backup.db.backup_file_name) &&
         set_list(&db->databases, &db->n_databases, cfg->backup.db.databases, cfg->backup.db.n_databases);

    m->deploy->delete_old_files = cfg->deploy.delete_old_files;
    m->deploy->client_delete_old_files = cfg->deploy.client_delete_old_files;
    if ((m->download = malloc(sizeof(*m->download))) != NULL) {
        ferry__v1__download_settings__init(m->download);
        m->download->max_kib_per_second = cfg->download.max_kib_per_sec;
    }
    if (!ok) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
    }
    *out = m;
    return FERRY_OK;
}

/* ---------------------------------------------------------------- password */

/* True when |s| equals |t| ignoring ASCII case. */
static bool key_is(const char *s, size_t n, const char *t)
{
    return strlen(t) == n && strncasecmp(s, t, n) == 0;
}

/*
 * Finds the value of the Password/PWD pair in the connection string |s|, quoting
 * included ([*vs, *ve)). Follows mssql.h's syntax: pairs split on ';', a value may be
 * {...} ('}}' literal), "..." or '...' (doubled quote literal). False if absent.
 */
static bool find_password(const char *s, size_t *vs, size_t *ve)
{
    size_t i = 0, n = strlen(s);
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ';'))
            i++;
        size_t ks = i;
        while (i < n && s[i] != '=' && s[i] != ';')
            i++;
        if (i >= n || s[i] != '=')
            continue; /* no '=': the parser refuses it anyway */
        size_t ke = i;
        while (ke > ks && (s[ke - 1] == ' ' || s[ke - 1] == '\t'))
            ke--;
        i++;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t start = i;
        if (i < n && (s[i] == '{' || s[i] == '"' || s[i] == '\'')) {
            char close = (char)(s[i] == '{' ? '}' : s[i]);
            for (i++; i < n; i++) {
                if (s[i] == close) {
                    if (i + 1 < n && s[i + 1] == close) {
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
            }
        }
        while (i < n && s[i] != ';')
            i++;
        size_t end = i;
        while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
        if (key_is(s + ks, ke - ks, "password") || key_is(s + ks, ke - ks, "pwd")) {
            *vs = start;
            *ve = end;
            return true;
        }
    }
    return false;
}

/* The password of |connstr| into |buf| (parsed by the engine's rules). */
static bool connstr_password(const char *connstr, char *buf, size_t size)
{
    ferry_mssql_connstr_t *cs = calloc(1, sizeof(*cs));
    bool ok =
        cs != NULL && ferry_mssql_connstr_parse(connstr, cs, NULL) == FERRY_OK && strlen(cs->password) < size;
    if (ok)
        memcpy(buf, cs->password, strlen(cs->password) + 1);
    if (cs != NULL)
        explicit_bzero(cs, sizeof(*cs));
    free(cs);
    return ok;
}

/* |in| with its password value replaced by {|pw|} (NULL: out of memory or not found). */
static char *with_password(const char *in, const char *pw)
{
    size_t vs, ve;
    if (!find_password(in, &vs, &ve))
        return NULL;
    size_t extra = 0;
    for (const char *p = pw; *p != '\0'; p++)
        extra += *p == '}' ? 2 : 1;
    size_t len = vs + 2 + extra + strlen(in + ve) + 1;
    char *o = malloc(len);
    if (o == NULL)
        return NULL;
    size_t w = 0;
    memcpy(o, in, vs);
    w = vs;
    o[w++] = '{';
    for (const char *p = pw; *p != '\0'; p++) {
        o[w++] = *p;
        if (*p == '}')
            o[w++] = '}';
    }
    o[w++] = '}';
    memcpy(o + w, in + ve, strlen(in + ve) + 1);
    return o;
}

static void free_secret(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
    free(s);
}

/*
 * The connection string to save for the incoming |in| ("" = none: *out NULL): "***"
 * or the masked form of the current one keeps the current string; an edited string
 * whose password is "***" gets the current password. Without a current password to
 * keep, a masked password is refused.
 */
static ferry_err_code_t resolve_connstr(const char *in, const ferry_node_config_t *current, char **out,
                                        ferry_err_t *err)
{
    static const char field[] = "backup.db.sqlConnectionString";
    const char *cur = current != NULL ? current->backup.db.sql_connection_string : NULL;
    ferry_err_code_t rc = FERRY_OK;
    char *masked = NULL, pw[FERRY_MSSQL_MAX_VALUE], cur_pw[FERRY_MSSQL_MAX_VALUE];
    *out = NULL;
    if (in == NULL || in[0] == '\0')
        return FERRY_OK;
    if (cur != NULL) {
        if (strcmp(in, MASK) == 0)
            goto keep;
        if ((masked = ferry_node_config_mask_connstr(cur)) == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
        if (strcmp(in, masked) == 0)
            goto keep;
    } else if (strcmp(in, MASK) == 0) {
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                           "%s: is masked (\"***\") and there is no saved connection string to keep", field);
        goto out;
    }
    if (connstr_password(in, pw, sizeof(pw)) && strcmp(pw, MASK) == 0) {
        if (cur == NULL || !connstr_password(cur, cur_pw, sizeof(cur_pw))) {
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: the password is masked (\"***\") and there is no saved password to keep; "
                               "enter the password",
                               field);
            goto out;
        }
        char *o = with_password(in, cur_pw);
        char check[FERRY_MSSQL_MAX_VALUE];
        if (o == NULL || !connstr_password(o, check, sizeof(check)) || strcmp(check, cur_pw) != 0) {
            free_secret(o);
            rc = ferry_err_set(err, FERRY_E_INVALID_ARG,
                               "%s: the saved password could not be put back; enter the password", field);
        } else {
            *out = o;
        }
        explicit_bzero(check, sizeof(check));
        goto out;
    }
    if ((*out = strdup(in)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
    goto out;
keep:
    if ((*out = strdup(cur)) == NULL)
        rc = ferry_err_set(err, FERRY_E_NOMEM, "%s: out of memory", field);
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(cur_pw, sizeof(cur_pw));
    free(masked);
    return rc;
}

/* ---------------------------------------------------------------- to_json */

static json_t *json_strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(list[i] != NULL ? list[i] : "")) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Sets |key| to |v| (taking it); false when |v| is NULL or out of memory. */
static bool put(json_t *obj, const char *key, json_t *v)
{
    return v != NULL && json_object_set_new(obj, key, v) == 0;
}

static bool nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Control and command lines as |cur| has them: a command line given for systemd reaches
 * the parser's "only allowed when" rule, a missing one its "required when" rule. */
static bool render_current_control(const ferry_node_config_t *cur, json_t *svc)
{
    bool command = cur->service.control == FERRY_SVC_CONTROL_COMMAND;
    const char *const keys[] = {"stopCommand", "startCommand", "statusCommand"};
    const char *const vals[] = {cur->service.stop_command, cur->service.start_command,
                                cur->service.status_command};
    bool ok = put(svc, "control", json_string(command ? "command" : "systemd"));
    for (size_t i = 0; ok && i < 3; i++)
        ok = vals[i] == NULL || put(svc, keys[i], json_string(vals[i]));
    return ok;
}

/* The proto's control and command lines (unspecified control: the engine's default,
 * systemd; an empty command line is not given). */
static ferry_err_code_t render_proto_control(const Ferry__V1__ServiceSettings *s, json_t *svc,
                                             ferry_err_t *err)
{
    const char *const keys[] = {"stopCommand", "startCommand", "statusCommand"};
    const char *const vals[] = {s->stop_command, s->start_command, s->status_command};
    const char *control = NULL;
    ferry_err_code_t rc = FERRY_OK;

    switch (s->control) {
    case FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_UNSPECIFIED:
        break;
    case FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_SYSTEMD:
        control = "systemd";
        break;
    case FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND:
        control = "command";
        break;
    default:
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "service.control: unknown control %d", (int)s->control);
        goto out;
    }
    if (control != NULL && !put(svc, "control", json_string(control)))
        goto nomem;
    for (size_t i = 0; i < 3; i++)
        if (nonempty(vals[i]) && !put(svc, keys[i], json_string(vals[i])))
            goto nomem;
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "service: out of memory");
out:
    return rc;
}

/* healthCheck from the engine's kind and target. */
static bool render_health(ferry_health_kind_t kind, const char *target, json_t *svc)
{
    static const char *const hk[] = {"none", "tcp", "http"};
    json_t *h = json_pack("{s:s}", "kind", (unsigned)kind < 3 ? hk[kind] : "?");
    if (h != NULL && target != NULL && json_object_set_new(h, "target", json_string(target)) != 0) {
        json_decref(h);
        h = NULL;
    }
    return put(svc, "healthCheck", h);
}

/* The proto's health check (unspecified kind: none; an empty target is not given). */
static ferry_err_code_t render_proto_health(const Ferry__V1__HealthCheck *h, json_t *svc, ferry_err_t *err)
{
    ferry_health_kind_t kind = FERRY_HEALTH_NONE;
    ferry_err_code_t rc = FERRY_OK;

    switch (h->kind) {
    case FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_UNSPECIFIED:
    case FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_NONE:
        break;
    case FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_TCP:
        kind = FERRY_HEALTH_TCP;
        break;
    case FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP:
        kind = FERRY_HEALTH_HTTP;
        break;
    default:
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "service.healthCheck.kind: unknown kind %d",
                           (int)h->kind);
        goto out;
    }
    if (!render_health(kind, nonempty(h->target) ? h->target : NULL, svc))
        rc = ferry_err_set(err, FERRY_E_NOMEM, "service: out of memory");
out:
    return rc;
}

/*
 * The service section: the proto's fields, where the proto carries them, else those
 * of |cur| (a client that predates control, commands and health check sends none of
 * them, and must not erase them). Control and command lines come from the proto when
 * it names a control or any command line; the health check when it has one, or (none)
 * when the proto carries control; otherwise both from |cur| (left out without |cur|:
 * the engine's defaults, systemd and no health check).
 */
static ferry_err_code_t render_service(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *cur,
                                       json_t *svc, ferry_err_t *err)
{
    const Ferry__V1__ServiceSettings *s = pc->service;
    bool proto_control =
        s != NULL && (s->control != FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_UNSPECIFIED ||
                      nonempty(s->start_command) || nonempty(s->stop_command) || nonempty(s->status_command));
    ferry_err_code_t rc = FERRY_OK;

    if (s != NULL && (!put(svc, "name", json_string(s->name != NULL ? s->name : "")) ||
                      !put(svc, "stopTimeoutSeconds", json_integer((json_int_t)s->stop_timeout_seconds)) ||
                      !put(svc, "startTimeoutSeconds", json_integer((json_int_t)s->start_timeout_seconds))))
        goto nomem;
    if (proto_control) {
        if ((rc = render_proto_control(s, svc, err)) != FERRY_OK)
            goto out;
    } else if (cur != NULL && !render_current_control(cur, svc)) {
        goto nomem;
    }
    if (s != NULL && s->health_check != NULL) {
        rc = render_proto_health(s->health_check, svc, err);
    } else if (!proto_control && cur != NULL) {
        if (!render_health(cur->service.health, cur->service.health_target, svc))
            goto nomem;
    }
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "service: out of memory");
out:
    return rc;
}

static bool render_paths(const Ferry__V1__PathSettings *p, json_t *o)
{
    return put(o, "serverDir", json_string(p->server_dir)) &&
           put(o, "clientDir", json_string(p->client_dir)) &&
           put(o, "backupRoot", json_string(p->backup_root)) && put(o, "tempDir", json_string(p->temp_dir)) &&
           put(o, "protectPaths", json_strings(p->protect_paths, p->n_protect_paths));
}

/* The backup section (the connection string resolved against |cur|). */
static ferry_err_code_t render_backup(const Ferry__V1__BackupSettings *b, const ferry_node_config_t *cur,
                                      json_t *o, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    char *connstr = NULL;
    if (!put(o, "retentionN", json_integer((json_int_t)b->retention_n)) ||
        !put(o, "clientBackupFileName", json_string(b->client_backup_file_name)))
        goto nomem;
    const Ferry__V1__DbSettings *d = b->db;
    if (d == NULL)
        return FERRY_OK;
    json_t *db = json_object();
    if (!put(o, "db", db))
        goto nomem;
    if ((rc = resolve_connstr(d->sql_connection_string, cur, &connstr, err)) != FERRY_OK)
        goto out;
    const char *engine = NULL;
    switch (d->engine) {
    case FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE:
        engine = "sqlite";
        break;
    case FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER:
        engine = "mssql";
        break;
    case FERRY__V1__DB_ENGINE__DB_ENGINE_UNSPECIFIED:
        engine = connstr != NULL ? "mssql" : NULL;
        break;
    default:
        rc = ferry_err_set(err, FERRY_E_INVALID_ARG, "backup.db.engine: unknown engine %d", (int)d->engine);
        goto out;
    }
    if ((engine != NULL && !put(db, "engine", json_string(engine))) ||
        (connstr != NULL && !put(db, "sqlConnectionString", json_string(connstr))) ||
        !put(db, "databases", json_strings(d->databases, d->n_databases)) ||
        !put(db, "backupFileName", json_string(d->backup_file_name)))
        goto nomem;
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "backup: out of memory");
out:
    free_secret(connstr);
    return rc;
}

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), as jansson wants. */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s != 0) {
        unsigned c = *s++;
        unsigned need, cp, min;
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        for (unsigned i = 0; i < need; i++, s++) {
            if ((*s & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (*s & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

typedef struct field_str {
    const char *field, *val;
} field_str_t;

/* Every string of |pc| must be UTF-8 to become JSON: names the first that is not. */
static ferry_err_code_t check_utf8(const Ferry__V1__NodeConfig *pc, ferry_err_t *err)
{
    field_str_t f[24];
    size_t n = 0;
    f[n++] = (field_str_t){"stateDir", pc->state_dir};
    if (pc->service != NULL) {
        f[n++] = (field_str_t){"service.name", pc->service->name};
        f[n++] = (field_str_t){"service.stopCommand", pc->service->stop_command};
        f[n++] = (field_str_t){"service.startCommand", pc->service->start_command};
        f[n++] = (field_str_t){"service.statusCommand", pc->service->status_command};
        if (pc->service->health_check != NULL)
            f[n++] = (field_str_t){"service.healthCheck.target", pc->service->health_check->target};
    }
    if (pc->paths != NULL) {
        f[n++] = (field_str_t){"paths.serverDir", pc->paths->server_dir};
        f[n++] = (field_str_t){"paths.clientDir", pc->paths->client_dir};
        f[n++] = (field_str_t){"paths.backupRoot", pc->paths->backup_root};
        f[n++] = (field_str_t){"paths.tempDir", pc->paths->temp_dir};
        for (size_t i = 0; i < pc->paths->n_protect_paths; i++)
            if (pc->paths->protect_paths[i] != NULL && !utf8_valid(pc->paths->protect_paths[i]))
                return ferry_err_set(err, FERRY_E_INVALID_ARG, "paths.protectPaths[%zu]: not valid UTF-8", i);
    }
    if (pc->backup != NULL) {
        f[n++] = (field_str_t){"backup.clientBackupFileName", pc->backup->client_backup_file_name};
        const Ferry__V1__DbSettings *d = pc->backup->db;
        if (d != NULL) {
            f[n++] = (field_str_t){"backup.db.sqlConnectionString", d->sql_connection_string};
            f[n++] = (field_str_t){"backup.db.backupFileName", d->backup_file_name};
            for (size_t i = 0; i < d->n_databases; i++)
                if (d->databases[i] != NULL && !utf8_valid(d->databases[i]))
                    return ferry_err_set(err, FERRY_E_INVALID_ARG,
                                         "backup.db.databases[%zu]: not valid UTF-8", i);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (f[i].val != NULL && !utf8_valid(f[i].val))
            return ferry_err_set(err, FERRY_E_INVALID_ARG, "%s: not valid UTF-8", f[i].field);
    return FERRY_OK;
}

/* Renders |pc| (+ |current|'s engine-only fields) as engine JSON text, unchecked. */
static ferry_err_code_t render(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *current,
                               char **json, ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    json_t *root = json_object(), *svc = json_object(), *sec = NULL;
    *json = NULL;
    if ((rc = check_utf8(pc, err)) != FERRY_OK)
        goto out;
    if (root == NULL || svc == NULL)
        goto nomem;
    if (!put(root, "configVersion", json_integer((json_int_t)pc->config_version)))
        goto nomem;
    if ((rc = render_service(pc, current, svc, err)) != FERRY_OK)
        goto out;
    if (json_object_size(svc) > 0) {
        if (json_object_set(root, "service", svc) != 0)
            goto nomem;
    }
    if (pc->paths != NULL) {
        if (!put(root, "paths", sec = json_object()) || !render_paths(pc->paths, sec))
            goto nomem;
    }
    if (pc->backup != NULL) {
        if (!put(root, "backup", sec = json_object()))
            goto nomem;
        if ((rc = render_backup(pc->backup, current, sec, err)) != FERRY_OK)
            goto out;
    }
    if (pc->deploy != NULL &&
        !put(root, "deploy",
             json_pack("{s:b, s:b}", "deleteOldFiles", (int)pc->deploy->delete_old_files,
                       "clientDeleteOldFiles", (int)pc->deploy->client_delete_old_files)))
        goto nomem;
    /* download: the proto's, or (not given) the current limit. */
    {
        unsigned kib = pc->download != NULL ? pc->download->max_kib_per_second
                       : current != NULL    ? current->download.max_kib_per_sec
                                            : 0;
        if (!put(root, "download", json_pack("{s:I}", "maxKiBPerSecond", (json_int_t)kib)))
            goto nomem;
    }
    /* stateDir: the proto's, or (not given) the current one, or the engine's default. */
    const char *state_dir = nonempty(pc->state_dir) ? pc->state_dir
                            : current != NULL       ? current->state_dir
                                                    : NULL;
    if (state_dir != NULL && !put(root, "stateDir", json_string(state_dir)))
        goto nomem;
    if ((*json = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
        goto nomem;
    goto out;
nomem:
    rc = ferry_err_set(err, FERRY_E_NOMEM, "node config: out of memory");
out:
    json_decref(svc);
    json_decref(root);
    return rc;
}

ferry_err_code_t agentd_nodecfg_to_json(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *current,
                                        char **json, ferry_err_t *err)
{
    char *text = NULL;
    ferry_node_config_t *parsed = NULL;
    *json = NULL;
    if (pc == NULL)
        return ferry_err_set(err, FERRY_E_INVALID_ARG, "no configuration given");
    ferry_err_code_t rc = render(pc, current, &text, err);
    if (rc == FERRY_OK)
        rc = ferry_node_config_parse(text, strlen(text), &parsed, err);
    ferry_node_config_free(parsed);
    if (rc != FERRY_OK) {
        free_secret(text);
        return rc;
    }
    *json = text;
    return FERRY_OK;
}

/* ---------------------------------------------------------------- validate */

typedef struct issues {
    agentd_cfg_issue_t *v;
    size_t n;
} issues_t;

static void add_issue(issues_t *is, bool blocking, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_issue(issues_t *is, bool blocking, const char *field, const char *fmt, ...)
{
    if (is->n >= AGENTD_MAX_CFG_ISSUES)
        return;
    agentd_cfg_issue_t *i = &is->v[is->n++];
    memset(i, 0, sizeof(*i));
    size_t fl = strlen(field);
    if (fl >= sizeof(i->field))
        fl = sizeof(i->field) - 1;
    memcpy(i->field, field, fl);
    va_list ap;
    va_start(ap, fmt);
    /* va_start is on the line above: the analyzer loses it across the early return. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(i->message, sizeof(i->message), fmt, ap);
    va_end(ap);
    i->blocking = blocking;
}

/*
 * Splits an engine message "paths.protectPaths[1]: must be inside ..." into the field
 * and the reason. A message without a JSON-path prefix ("out of memory") has field "".
 */
static void add_engine_issue(issues_t *is, const char *msg)
{
    const char *colon = strstr(msg, ": ");
    size_t n = colon != NULL ? (size_t)(colon - msg) : 0;
    bool path = n > 0 && n < sizeof(is->v[0].field);
    for (size_t i = 0; path && i < n; i++) {
        char c = msg[i];
        path = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '[' || c == ']';
    }
    if (!path) {
        add_issue(is, true, "", "%s", msg);
        return;
    }
    char field[sizeof(is->v[0].field)];
    memcpy(field, msg, n);
    field[n] = '\0';
    add_issue(is, true, field, "%s", colon + 2);
}

/* Nearest existing ancestor of |path| (normalised, absolute) into |buf|. */
static void existing_ancestor(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (slash == NULL || slash == buf) {
            snprintf(buf, size, "/");
            return;
        }
        *slash = '\0';
        struct stat st;
        if (stat(buf, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
            return;
    }
}

/* strerror() is not thread-safe; the daemon has threads. */
static const char *errtext(int e, char *buf, size_t size)
{
    return strerror_r(e, buf, size);
}

static void check_dir(issues_t *is, const char *field, const char *path)
{
    char eb[128];
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            add_issue(is, true, field, "'%.200s' exists but is not a directory", path);
        else if (access(path, W_OK | X_OK) != 0)
            add_issue(is, true, field, "'%.200s' is not writable by the agent: %s", path,
                      errtext(errno, eb, sizeof(eb)));
        return;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        add_issue(is, true, field, "'%.200s' cannot be checked: %s", path, errtext(errno, eb, sizeof(eb)));
        return;
    }
    char anc[PATH_MAX];
    existing_ancestor(path, anc, sizeof(anc));
    if (stat(anc, &st) == 0 && S_ISDIR(st.st_mode) && access(anc, W_OK | X_OK) == 0)
        add_issue(is, false, field, "'%.200s' does not exist; it will be created", path);
    else
        add_issue(is, true, field,
                  "'%.200s' does not exist and cannot be created ('%.200s' is not a writable "
                  "directory)",
                  path, anc);
}

/* Whether |name| is an executable file in $PATH. */
static bool in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *e = strchr(path, ':');
        size_t n = e != NULL ? (size_t)(e - path) : strlen(path);
        char full[PATH_MAX];
        struct stat st;
        if (n > 0 && snprintf(full, sizeof(full), "%.*s/%s", (int)n, path, name) < (int)sizeof(full) &&
            stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* The program a shell command line starts: exists and is executable (best effort). */
static void check_command(issues_t *is, const char *field, const char *line)
{
    static const char *const builtins[] = {
        ".",      ":",    "[",     "alias",  "break",  "case",  "cd",   "command", "continue",
        "echo",   "eval", "exec",  "exit",   "export", "false", "for",  "if",      "kill",
        "printf", "read", "set",   "source", "test",   "trap",  "true", "ulimit",  "umask",
        "unset",  "wait", "while", "{",      "(",      "!",     NULL};
    char tok[PATH_MAX];
    size_t n = 0;
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    while (p[n] != '\0' && strchr(" \t\n;&|<>()`$\"'\\", p[n]) == NULL)
        n++;
    /* Quoted, expanded or redirected first words are the shell's business. */
    if (n == 0 || n >= sizeof(tok) || strchr("\"'$`\\", p[n]) != NULL)
        return;
    memcpy(tok, p, n);
    tok[n] = '\0';
    if (strchr(tok, '=') != NULL) /* VAR=value prefix */
        return;
    for (size_t i = 0; builtins[i] != NULL; i++)
        if (strcmp(tok, builtins[i]) == 0)
            return;
    if (strchr(tok, '/') != NULL) {
        struct stat st;
        char eb[128];
        if (stat(tok, &st) != 0)
            add_issue(is, true, field, "program '%.200s' not found: %s", tok, errtext(errno, eb, sizeof(eb)));
        else if (!S_ISREG(st.st_mode) || access(tok, X_OK) != 0)
            add_issue(is, true, field, "program '%.200s' is not an executable file", tok);
    } else if (!in_path(tok)) {
        add_issue(is, true, field, "program '%.200s' not found in PATH", tok);
    }
}

static void check_systemd_unit(issues_t *is, const char *unit)
{
    if (!in_path("systemctl")) {
        add_issue(is, true, "service.name",
                  "systemctl not found: the systemd unit '%.200s' cannot be controlled on this machine",
                  unit);
        return;
    }
    char a0[] = "systemctl", a1[] = "show", a2[] = "-p", a3[] = "LoadState", a4[] = "--value", a5[] = "--";
    char *argv[] = {a0, a1, a2, a3, a4, a5, (char *)unit, NULL};
    ferry_proc_result_t res = {0};
    ferry_err_t e = {0};
    if (ferry_proc_run(argv, ferry_now_ms() + SYSTEMCTL_TIMEOUT_MS, 4096, &res, &e) != FERRY_OK) {
        add_issue(is, false, "service.name", "the systemd unit could not be checked: %s", e.msg);
        return;
    }
    char out[128] = "";
    if (res.output != NULL)
        snprintf(out, sizeof(out), "%.*s", (int)strcspn(res.output, "\r\n"), res.output);
    if (!res.exited || res.exit_code != 0)
        add_issue(is, false, "service.name", "the systemd unit could not be checked (systemctl: %.200s)",
                  out);
    else if (strcmp(out, "loaded") != 0)
        add_issue(is, true, "service.name", "systemd unit '%.100s' is %.100s", unit,
                  strcmp(out, "not-found") == 0 ? "not installed (not-found)" : out);
    ferry_proc_result_clear(&res);
}

static void check_databases(issues_t *is, const ferry_node_config_t *c)
{
    char field[64];
    ferry_err_t e = {0};
    ferry_sqlexec_t *x = NULL;
    int64_t rows;
    if (c->backup.db.engine == FERRY_DB_ENGINE_SQLITE) {
        for (size_t i = 0; i < c->backup.db.n_databases; i++) {
            const char *db = c->backup.db.databases[i];
            struct stat st;
            char eb[128];
            snprintf(field, sizeof(field), "backup.db.databases[%zu]", i);
            if (stat(db, &st) != 0) {
                add_issue(is, true, field, "database file '%.200s' not found: %s", db,
                          errtext(errno, eb, sizeof(eb)));
                continue;
            }
            if (!S_ISREG(st.st_mode)) {
                add_issue(is, true, field, "'%.200s' is not a regular file", db);
                continue;
            }
            static const char q[] = "SELECT count(*) FROM sqlite_master";
            if (ferry_sqlexec_open_sqlite(db, &x, &e) != FERRY_OK ||
                ferry_sqlexec_exec(x, q, sizeof(q) - 1, &rows, &e) != FERRY_OK)
                add_issue(is, true, field, "not a usable SQLite database: %s", e.msg);
            ferry_sqlexec_free(x);
            x = NULL;
        }
        return;
    }
    /* SQL Server: the server first, then each database (messages never hold the password). */
    if (ferry_sqlexec_open_mssql(c->backup.db.sql_connection_string, NULL, &x, &e) != FERRY_OK) {
        add_issue(is, true, "backup.db.sqlConnectionString", "cannot connect: %s", e.msg);
        return;
    }
    ferry_sqlexec_free(x);
    for (size_t i = 0; i < c->backup.db.n_databases; i++) {
        snprintf(field, sizeof(field), "backup.db.databases[%zu]", i);
        x = NULL;
        if (ferry_sqlexec_open_mssql(c->backup.db.sql_connection_string, c->backup.db.databases[i], &x, &e) !=
            FERRY_OK)
            add_issue(is, true, field, "cannot open database: %s", e.msg);
        ferry_sqlexec_free(x);
    }
}

static void deep_checks(issues_t *is, const ferry_node_config_t *c)
{
    struct {
        const char *field, *path;
    } dirs[] = {{"paths.serverDir", c->paths.server_dir},
                {"paths.clientDir", c->paths.client_dir},
                {"paths.backupRoot", c->paths.backup_root},
                {"paths.tempDir", c->paths.temp_dir},
                {"stateDir", c->state_dir}};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        check_dir(is, dirs[i].field, dirs[i].path);
    for (size_t i = 0; i < c->paths.n_protect_paths; i++) {
        struct stat st;
        if (lstat(c->paths.protect_paths[i], &st) != 0) {
            char field[64];
            snprintf(field, sizeof(field), "paths.protectPaths[%zu]", i);
            add_issue(is, false, field, "'%.200s' does not exist (nothing to protect yet)",
                      c->paths.protect_paths[i]);
        }
    }
    if (c->service.control == FERRY_SVC_CONTROL_COMMAND) {
        check_command(is, "service.stopCommand", c->service.stop_command);
        check_command(is, "service.startCommand", c->service.start_command);
        check_command(is, "service.statusCommand", c->service.status_command);
    } else {
        check_systemd_unit(is, c->service.name);
    }
    check_databases(is, c);
}

size_t agentd_nodecfg_validate(const Ferry__V1__NodeConfig *pc, const ferry_node_config_t *current, bool deep,
                               agentd_cfg_issue_t *issues)
{
    issues_t is = {issues, 0};
    char *text = NULL;
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    if (pc == NULL) {
        add_issue(&is, true, "", "no configuration given");
        return is.n;
    }
    if (render(pc, current, &text, &e) != FERRY_OK ||
        ferry_node_config_parse(text, strlen(text), &c, &e) != FERRY_OK) {
        add_engine_issue(&is, e.msg);
        goto out;
    }
    /* Warnings the parser has no reason to give for a hand-written file. */
    static const char *const absent[] = {"service", "paths", "backup", "backup.db", "deploy"};
    const void *given[] = {pc->service, pc->paths, pc->backup, pc->backup != NULL ? pc->backup->db : NULL,
                           pc->deploy};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (given[i] == NULL && (i != 3 || pc->backup != NULL))
            add_issue(&is, false, absent[i], "not given: the defaults apply");
    if (c->paths.n_protect_paths == 0 && (c->deploy.delete_old_files || c->deploy.client_delete_old_files))
        add_issue(&is, false, "paths.protectPaths",
                  "no protected paths: an install deletes every file that is not in the package");
    if (deep)
        deep_checks(&is, c);
out:
    free_secret(text);
    ferry_node_config_free(c);
    explicit_bzero(&e, sizeof(e));
    return is.n;
}
