/* agent/daemon/nodecfg.c: node-config.json <-> ferry.v1.NodeConfig, masking, validation. */
#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/engine/config.h"
#include "ferry/engine/mssql.h"
#include "ferry/fs.h"
#include "ferry_test_util.h"
#include "nodecfg.h"

/* ---------------------------------------------------------------- helpers */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

static ferry_node_config_t *parse_ok(const char *json)
{
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    if (ferry_node_config_parse(json, strlen(json), &c, &e) != FERRY_OK)
        ck_abort_msg("does not parse: %s\n%s", e.msg, json);
    return c;
}

static char *dump(const ferry_node_config_t *c)
{
    char *d = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_node_config_dump_effective(c, &d, &e), FERRY_OK);
    return d;
}

static Ferry__V1__NodeConfig *to_proto(const ferry_node_config_t *c)
{
    Ferry__V1__NodeConfig *m = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(agentd_nodecfg_to_proto(c, &m, &e), FERRY_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void proto_free(Ferry__V1__NodeConfig *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* to_json must succeed; returns the parsed result. */
static ferry_node_config_t *through_json(const Ferry__V1__NodeConfig *m, const ferry_node_config_t *cur)
{
    char *json = NULL;
    ferry_err_t e = {0};
    if (agentd_nodecfg_to_json(m, cur, &json, &e) != FERRY_OK)
        ck_abort_msg("to_json: %s", e.msg);
    ferry_node_config_t *c = parse_ok(json);
    free(json);
    return c;
}

/* Replaces a string field (the INIT default protobuf_c_empty_string is not malloc'd). */
static void replace_str(char **dst, const char *v)
{
    if (*dst != protobuf_c_empty_string)
        free(*dst);
    *dst = strdup(v);
    ck_assert_ptr_nonnull(*dst);
}

/* The demo's site (scripts/demo.sh) under a temp dir, with the directories present. */
typedef struct site {
    char root[512];
    char *json;
} site_t;

static void site_init(site_t *s, bool create)
{
    ck_assert_int_eq(ftu_mkdtemp(s->root, sizeof(s->root), "nodecfg"), 0);
    const char *R = s->root;
    s->json = xasprintf(
        "{\n"
        "  \"configVersion\": 1,\n"
        "  \"service\": {\n"
        "    \"name\": \"rca7-demo\",\n"
        "    \"stopTimeoutSeconds\": 20,\n"
        "    \"startTimeoutSeconds\": 20,\n"
        "    \"control\": \"command\",\n"
        "    \"startCommand\": \"/bin/sh -c 'true' --daemon --pidfile %s/run/app.pid --port 8080\",\n"
        "    \"stopCommand\": \"/bin/sh -c 'true' --stop --pidfile %s/run/app.pid\",\n"
        "    \"statusCommand\": \"true --status --pidfile %s/run/app.pid\",\n"
        "    \"healthCheck\": {\"kind\": \"http\", \"target\": \"http://127.0.0.1:8080/health\"}\n"
        "  },\n"
        "  \"paths\": {\n"
        "    \"serverDir\": \"%s/server\",\n"
        "    \"clientDir\": \"%s/client\",\n"
        "    \"backupRoot\": \"%s/backup\",\n"
        "    \"tempDir\": \"%s/tmp\",\n"
        "    \"protectPaths\": [\"%s/server/config\", \"%s/server/logs\"]\n"
        "  },\n"
        "  \"backup\": {\n"
        "    \"retentionN\": 5,\n"
        "    \"db\": {\"engine\": \"sqlite\", \"databases\": [\"%s/db/main.db\"], \"backupFileName\": "
        "\"data.bak\"},\n"
        "    \"clientBackupFileName\": \"client.zip\"\n"
        "  },\n"
        "  \"deploy\": {\"deleteOldFiles\": true, \"clientDeleteOldFiles\": true},\n"
        "  \"stateDir\": \"%s/state\"\n"
        "}\n",
        R, R, R, R, R, R, R, R, R, R, R);
    if (!create)
        return;
    static const char *const dirs[] = {"server/bin", "server/config", "server/logs", "client", "backup",
                                       "tmp",        "state",         "db",          "run"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", R, dirs[i]);
        ck_assert_int_eq(ferry_fs_mkdir_p(p, 0755, NULL), FERRY_OK);
    }
    /* An empty file is a valid (empty) SQLite database. */
    snprintf(p, sizeof(p), "%s/db/main.db", R);
    ck_assert_int_eq(ftu_write_file(p, "", 0, 0644), 0);
}

static void site_free(site_t *s)
{
    ferry_fs_rm_rf(s->root, NULL);
    free(s->json);
}

static size_t blocking(const agentd_cfg_issue_t *v, size_t n)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++)
        b += v[i].blocking;
    return b;
}

/* The issue about |field|, or NULL. */
static const agentd_cfg_issue_t *issue_for(const agentd_cfg_issue_t *v, size_t n, const char *field)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].field, field) == 0)
            return &v[i];
    return NULL;
}

static void print_issues(const agentd_cfg_issue_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  issue %s%s: %s\n", v[i].blocking ? "[blocking] " : "", v[i].field, v[i].message);
}

/* ---------------------------------------------------------------- round trips */

START_TEST(round_trip_of_the_demo_config)
{
    site_t s;
    site_init(&s, false);
    ferry_node_config_t *cfg = parse_ok(s.json);
    Ferry__V1__NodeConfig *m = to_proto(cfg);

    ck_assert_int_eq(m->config_version, 1);
    ck_assert_str_eq(m->service->name, "rca7-demo");
    ck_assert_uint_eq(m->service->stop_timeout_seconds, 20);
    ck_assert_uint_eq(m->service->start_timeout_seconds, 20);
    ck_assert_str_eq(m->paths->server_dir, cfg->paths.server_dir);
    ck_assert_uint_eq(m->paths->n_protect_paths, 2);
    ck_assert_str_eq(m->paths->protect_paths[1], cfg->paths.protect_paths[1]);
    ck_assert_uint_eq(m->backup->retention_n, 5);
    ck_assert_int_eq(m->backup->db->engine, FERRY__V1__DB_ENGINE__DB_ENGINE_SQLITE);
    ck_assert_str_eq(m->backup->db->sql_connection_string, "");
    ck_assert_uint_eq(m->backup->db->n_databases, 1);
    ck_assert_str_eq(m->backup->db->backup_file_name, "data.bak");
    ck_assert_str_eq(m->backup->client_backup_file_name, "client.zip");
    ck_assert(m->deploy->delete_old_files);
    ck_assert(m->deploy->client_delete_old_files);
    /* Service control, command lines, health check and stateDir travel too. */
    ck_assert_int_eq(m->service->control, FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_COMMAND);
    ck_assert_str_eq(m->service->start_command, cfg->service.start_command);
    ck_assert_str_eq(m->service->stop_command, cfg->service.stop_command);
    ck_assert_str_eq(m->service->status_command, cfg->service.status_command);
    ck_assert_ptr_nonnull(m->service->health_check);
    ck_assert_int_eq(m->service->health_check->kind, FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_HTTP);
    ck_assert_str_eq(m->service->health_check->target, "http://127.0.0.1:8080/health");
    ck_assert_str_eq(m->state_dir, cfg->state_dir);

    /* Lossless through the proto alone (no |current| to fill anything in), ... */
    char *d1 = dump(cfg);
    ferry_node_config_t *back = through_json(m, NULL);
    char *d2 = dump(back);
    ck_assert_str_eq(d1, d2);
    ferry_node_config_free(back);
    free(d2);
    /* ... with |current| (the proto wins where it has the field) ... */
    back = through_json(m, cfg);
    d2 = dump(back);
    ck_assert_str_eq(d1, d2);

    /* ... and through the wire format. */
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    protobuf_c_message_pack(&m->base, buf);
    Ferry__V1__NodeConfig *w = ferry__v1__node_config__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(w);
    ferry_node_config_t *back2 = through_json(w, NULL);
    char *d3 = dump(back2);
    ck_assert_str_eq(d1, d3);

    ferry__v1__node_config__free_unpacked(w, NULL);
    free(buf);
    free(d1);
    free(d2);
    free(d3);
    ferry_node_config_free(back);
    ferry_node_config_free(back2);
    proto_free(m);
    ferry_node_config_free(cfg);
    site_free(&s);
}
END_TEST

/* Drops the fields a client older than IDL 0dea984 does not know (as it would send). */
static void forget_new_fields(Ferry__V1__NodeConfig *m)
{
    m->service->control = FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_UNSPECIFIED;
    replace_str(&m->service->start_command, "");
    replace_str(&m->service->stop_command, "");
    replace_str(&m->service->status_command, "");
    ferry__v1__health_check__free_unpacked(m->service->health_check, NULL);
    m->service->health_check = NULL;
    replace_str(&m->state_dir, "");
}

START_TEST(service_control_and_state_dir_from_the_proto)
{
    site_t s;
    site_init(&s, false);
    ferry_node_config_t *cur = parse_ok(s.json);
    char *want = dump(cur);

    /* A client that does not know the fields keeps the current ones. */
    Ferry__V1__NodeConfig *m = to_proto(cur);
    forget_new_fields(m);
    ferry_node_config_t *back = through_json(m, cur);
    char *got = dump(back);
    ck_assert_str_eq(got, want);
    free(got);
    ferry_node_config_free(back);
    /* Without a current one: the engine's defaults. */
    back = through_json(m, NULL);
    ck_assert_int_eq(back->service.control, FERRY_SVC_CONTROL_SYSTEMD);
    ck_assert_int_eq(back->service.health, FERRY_HEALTH_NONE);
    ck_assert_str_eq(back->state_dir, "/var/lib/ferry-agent");
    ferry_node_config_free(back);
    /* Only a health check given: it is taken, control and commands stay the current ones. */
    m->service->health_check = malloc(sizeof(*m->service->health_check));
    ck_assert_ptr_nonnull(m->service->health_check);
    ferry__v1__health_check__init(m->service->health_check);
    m->service->health_check->kind = FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_TCP;
    replace_str(&m->service->health_check->target, "127.0.0.1:9000");
    back = through_json(m, cur);
    ck_assert_int_eq(back->service.control, FERRY_SVC_CONTROL_COMMAND);
    ck_assert_str_eq(back->service.stop_command, cur->service.stop_command);
    ck_assert_int_eq(back->service.health, FERRY_HEALTH_TCP);
    ck_assert_str_eq(back->service.health_target, "127.0.0.1:9000");
    ferry_node_config_free(back);
    proto_free(m);

    /* Edits through the proto win over the current file. */
    m = to_proto(cur);
    replace_str(&m->service->stop_command, "/bin/true --stop-now");
    replace_str(&m->state_dir, "/var/lib/other-agent");
    m->service->health_check->kind = FERRY__V1__HEALTH_CHECK_KIND__HEALTH_CHECK_KIND_NONE;
    replace_str(&m->service->health_check->target, "");
    back = through_json(m, cur);
    ck_assert_str_eq(back->service.stop_command, "/bin/true --stop-now");
    ck_assert_str_eq(back->service.start_command, cur->service.start_command);
    ck_assert_str_eq(back->state_dir, "/var/lib/other-agent");
    ck_assert_int_eq(back->service.health, FERRY_HEALTH_NONE);
    ck_assert_ptr_null(back->service.health_target);
    ferry_node_config_free(back);
    /* Switching to systemd: the command lines must go (the engine's rule names them). */
    m->service->control = FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_SYSTEMD;
    char *json = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(agentd_nodecfg_to_json(m, cur, &json, &e), FERRY_E_INVALID_ARG);
    ck_assert_msg(strncmp(e.msg, "service.stopCommand: only allowed", 33) == 0, "%s", e.msg);
    replace_str(&m->service->start_command, "");
    replace_str(&m->service->stop_command, "");
    replace_str(&m->service->status_command, "");
    back = through_json(m, cur);
    ck_assert_int_eq(back->service.control, FERRY_SVC_CONTROL_SYSTEMD);
    ck_assert_ptr_null(back->service.stop_command);
    ferry_node_config_free(back);
    /* Given with control unset (= systemd): refused the same way, not taken from current. */
    m->service->control = FERRY__V1__SERVICE_CONTROL__SERVICE_CONTROL_UNSPECIFIED;
    replace_str(&m->service->start_command, "/bin/true");
    ck_assert_int_eq(agentd_nodecfg_to_json(m, cur, &json, &e), FERRY_E_INVALID_ARG);
    ck_assert_msg(strncmp(e.msg, "service.startCommand: only allowed", 34) == 0, "%s", e.msg);
    ck_assert_ptr_null(json);
    proto_free(m);

    free(want);
    ferry_node_config_free(cur);
    site_free(&s);
}
END_TEST

START_TEST(round_trip_of_the_defaults_without_current)
{
    ferry_node_config_t *def = NULL;
    ck_assert_int_eq(ferry_node_config_new_default(&def, NULL), FERRY_OK);
    Ferry__V1__NodeConfig *m = to_proto(def);
    ferry_node_config_t *back = through_json(m, NULL);
    char *d1 = dump(def), *d2 = dump(back);
    ck_assert_str_eq(d1, d2);
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];
    ck_assert_uint_eq(agentd_nodecfg_validate(m, NULL, false, is), 0);
    free(d1);
    free(d2);
    ferry_node_config_free(back);
    proto_free(m);
    ferry_node_config_free(def);
}
END_TEST

START_TEST(db_engine_unspecified)
{
    ferry_node_config_t *def = NULL;
    ck_assert_int_eq(ferry_node_config_new_default(&def, NULL), FERRY_OK);
    Ferry__V1__NodeConfig *m = to_proto(def);
    m->backup->db->engine = FERRY__V1__DB_ENGINE__DB_ENGINE_UNSPECIFIED;
    ferry_node_config_t *c = through_json(m, NULL);
    ck_assert_int_eq(c->backup.db.engine, FERRY_DB_ENGINE_SQLITE);
    ferry_node_config_free(c);

    /* With a connection string: SQL Server, as common.proto says. */
    replace_str(&m->backup->db->sql_connection_string, "Server=127.0.0.1;User Id=sa;Password=x;");
    replace_str(&m->backup->db->databases[0], "RCA7_Main");
    c = through_json(m, NULL);
    ck_assert_int_eq(c->backup.db.engine, FERRY_DB_ENGINE_MSSQL);
    ck_assert_str_eq(c->backup.db.databases[0], "RCA7_Main");
    ferry_node_config_free(c);

    /* A section left out: its defaults, with a warning. */
    Ferry__V1__DeploySettings *dep = m->deploy;
    m->deploy = NULL;
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];
    size_t n = agentd_nodecfg_validate(m, NULL, false, is);
    ck_assert_uint_eq(blocking(is, n), 0);
    const agentd_cfg_issue_t *w = issue_for(is, n, "deploy");
    ck_assert_ptr_nonnull(w);
    ck_assert(!w->blocking);
    m->deploy = dep;

    /* Protecting nothing while deleting old files is allowed, with a warning. */
    for (size_t i = 0; i < m->paths->n_protect_paths; i++)
        free(m->paths->protect_paths[i]);
    m->paths->n_protect_paths = 0;
    n = agentd_nodecfg_validate(m, NULL, false, is);
    ck_assert_uint_eq(blocking(is, n), 0);
    ck_assert_ptr_nonnull(issue_for(is, n, "paths.protectPaths"));

    proto_free(m);
    ferry_node_config_free(def);
}
END_TEST

/* ---------------------------------------------------------------- password */

#define SECRET "p@ss;w}rd"
static const char MSSQL_JSON[] =
    "{\"backup\": {\"db\": {\"engine\": \"mssql\", \"databases\": [\"RCA7_Main\"],"
    " \"sqlConnectionString\": \"Server=db.example,1433;Database=master;User Id=sa;"
    "Password={p@ss;w}}rd};TrustServerCertificate=True;\"}}}";

static void assert_password(const char *connstr, const char *host, const char *pw)
{
    ferry_mssql_connstr_t cs;
    ck_assert_int_eq(ferry_mssql_connstr_parse(connstr, &cs, NULL), FERRY_OK);
    ck_assert_str_eq(cs.host, host);
    ck_assert_str_eq(cs.password, pw);
}

START_TEST(password_masked_and_kept)
{
    ferry_node_config_t *cur = parse_ok(MSSQL_JSON);
    Ferry__V1__NodeConfig *m = to_proto(cur);
    const char *shown = m->backup->db->sql_connection_string;
    ck_assert_int_eq(m->backup->db->engine, FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER);
    ck_assert_ptr_nonnull(strstr(shown, "Password=***"));
    ck_assert_ptr_null(strstr(shown, "p@ss"));
    ck_assert_ptr_nonnull(strstr(shown, "Server=db.example,1433"));

    /* The masked string as shown: the current connection string, verbatim. */
    ferry_node_config_t *back = through_json(m, cur);
    ck_assert_str_eq(back->backup.db.sql_connection_string, cur->backup.db.sql_connection_string);
    char *d1 = dump(cur), *d2 = dump(back);
    ck_assert_str_eq(d1, d2);
    ck_assert_ptr_null(strstr(d1, "p@ss"));
    free(d1);
    free(d2);
    ferry_node_config_free(back);

    /* Just "***". */
    replace_str(&m->backup->db->sql_connection_string, "***");
    back = through_json(m, cur);
    ck_assert_str_eq(back->backup.db.sql_connection_string, cur->backup.db.sql_connection_string);
    ferry_node_config_free(back);

    /* Edited (another server), password still masked: the current password is kept. */
    replace_str(&m->backup->db->sql_connection_string,
                "Server=db2.example;Database=master;User Id=sa;Password = *** ;Encrypt=False;");
    back = through_json(m, cur);
    assert_password(back->backup.db.sql_connection_string, "db2.example", SECRET);
    ferry_node_config_free(back);

    /* A new password replaces the old one. */
    replace_str(&m->backup->db->sql_connection_string, "Server=db.example;User Id=sa;Pwd='n3w';");
    back = through_json(m, cur);
    assert_password(back->backup.db.sql_connection_string, "db.example", "n3w");
    ferry_node_config_free(back);

    /* Masked with nothing to keep: refused, naming the field. */
    replace_str(&m->backup->db->sql_connection_string, "***");
    char *json = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(agentd_nodecfg_to_json(m, NULL, &json, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(json);
    ck_assert_ptr_nonnull(strstr(e.msg, "backup.db.sqlConnectionString"));
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];
    size_t n = agentd_nodecfg_validate(m, NULL, false, is);
    const agentd_cfg_issue_t *i = issue_for(is, n, "backup.db.sqlConnectionString");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);

    /* An invalid connection string: reported, the password never echoed. */
    replace_str(&m->backup->db->sql_connection_string, "Server=x;User Id=sa;Password=" SECRET "x;");
    n = agentd_nodecfg_validate(m, cur, false, is);
    ck_assert_uint_ge(n, 1);
    ck_assert_str_eq(is[0].field, "backup.db.sqlConnectionString");
    ck_assert(is[0].blocking);
    for (size_t k = 0; k < n; k++)
        ck_assert_ptr_null(strstr(is[k].message, "w}rd"));

    proto_free(m);
    ferry_node_config_free(cur);
}
END_TEST

/* ---------------------------------------------------------------- invalid fields */

typedef void (*mutate_fn)(Ferry__V1__NodeConfig *m, const char *root);

static void m_retention0(Ferry__V1__NodeConfig *m, const char *root)
{
    m->backup->retention_n = 0;
}
static void m_relative_server(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->paths->server_dir, "srv/server");
}
static void m_protect_outside(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->paths->protect_paths[1], "/elsewhere/logs");
}
static void m_stop_timeout0(Ferry__V1__NodeConfig *m, const char *root)
{
    m->service->stop_timeout_seconds = 0;
}
static void m_empty_name(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->service->name, "");
}
static void m_no_databases(Ferry__V1__NodeConfig *m, const char *root)
{
    free(m->backup->db->databases[0]);
    m->backup->db->n_databases = 0;
}
static void m_backup_name_path(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->backup->db->backup_file_name, "a/data.bak");
}
static void m_mssql_no_connstr(Ferry__V1__NodeConfig *m, const char *root)
{
    m->backup->db->engine = FERRY__V1__DB_ENGINE__DB_ENGINE_SQLSERVER;
}
static void m_no_stop_command(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->service->stop_command, "");
}
static void m_unknown_control(Ferry__V1__NodeConfig *m, const char *root)
{
    m->service->control = (Ferry__V1__ServiceControl)7;
}
static void m_unknown_health_kind(Ferry__V1__NodeConfig *m, const char *root)
{
    m->service->health_check->kind = (Ferry__V1__HealthCheckKind)9;
}
static void m_http_without_target(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->service->health_check->target, "");
}
static void m_relative_state_dir(Ferry__V1__NodeConfig *m, const char *root)
{
    replace_str(&m->state_dir, "state");
}
static void m_client_in_server(Ferry__V1__NodeConfig *m, const char *root)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/server/client", root);
    replace_str(&m->paths->client_dir, p);
}

START_TEST(invalid_fields_are_named_and_blocking)
{
    static const struct {
        mutate_fn fn;
        const char *field;
    } cases[] = {
        {m_retention0, "backup.retentionN"},
        {m_relative_server, "paths.serverDir"},
        {m_protect_outside, "paths.protectPaths[1]"},
        {m_stop_timeout0, "service.stopTimeoutSeconds"},
        {m_empty_name, "service.name"},
        {m_no_databases, "backup.db.databases"},
        {m_backup_name_path, "backup.db.backupFileName"},
        {m_mssql_no_connstr, "backup.db.sqlConnectionString"},
        {m_client_in_server, "paths.clientDir"},
        {m_no_stop_command, "service.stopCommand"},
        {m_unknown_control, "service.control"},
        {m_unknown_health_kind, "service.healthCheck.kind"},
        {m_http_without_target, "service.healthCheck.target"},
        {m_relative_state_dir, "stateDir"},
    };
    site_t s;
    site_init(&s, false);
    ferry_node_config_t *cur = parse_ok(s.json);
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];

    Ferry__V1__NodeConfig *ok = to_proto(cur);
    size_t n = agentd_nodecfg_validate(ok, cur, false, is);
    print_issues(is, n);
    ck_assert_uint_eq(n, 0);
    proto_free(ok);

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        Ferry__V1__NodeConfig *m = to_proto(cur);
        cases[c].fn(m, s.root);
        n = agentd_nodecfg_validate(m, cur, false, is);
        if (n == 0 || strcmp(is[0].field, cases[c].field) != 0 || !is[0].blocking) {
            print_issues(is, n);
            ck_abort_msg("case %zu: wanted a blocking issue on %s", c, cases[c].field);
        }
        ck_assert_ptr_null(strstr(is[0].message, cases[c].field)); /* the field is not repeated */
        ck_assert_str_ne(is[0].message, "");
        char *json = NULL;
        ferry_err_t e = {0};
        ck_assert_int_eq(agentd_nodecfg_to_json(m, cur, &json, &e), FERRY_E_INVALID_ARG);
        ck_assert_ptr_null(json);
        ck_assert_int_eq(strncmp(e.msg, cases[c].field, strlen(cases[c].field)), 0);
        proto_free(m);
    }

    /* A string that cannot become JSON. */
    Ferry__V1__NodeConfig *bad = to_proto(cur);
    replace_str(&bad->paths->temp_dir, "/tmp/\xff\xfe");
    n = agentd_nodecfg_validate(bad, cur, false, is);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(is[0].field, "paths.tempDir");
    ck_assert(is[0].blocking);
    proto_free(bad);

    /* Command control without a stop command, from a client that does not send the
     * control fields: the current file's own problem is reported. */
    Ferry__V1__NodeConfig *m = to_proto(cur);
    forget_new_fields(m);
    free(cur->service.stop_command);
    cur->service.stop_command = NULL;
    n = agentd_nodecfg_validate(m, cur, false, is);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(is[0].field, "service.stopCommand");
    ck_assert(is[0].blocking);
    ck_assert_ptr_nonnull(strstr(is[0].message, "required"));
    proto_free(m);

    ck_assert_uint_eq(agentd_nodecfg_validate(NULL, cur, false, is), 1);
    ck_assert(is[0].blocking);
    ferry_node_config_free(cur);
    site_free(&s);
}
END_TEST

/* ---------------------------------------------------------------- deep checks */

START_TEST(deep_checks_find_missing_things)
{
    site_t s;
    site_init(&s, true);
    ferry_node_config_t *cur = parse_ok(s.json);
    Ferry__V1__NodeConfig *m = to_proto(cur);
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];
    char p[PATH_MAX];

    size_t n = agentd_nodecfg_validate(m, cur, true, is);
    print_issues(is, n);
    ck_assert_uint_eq(n, 0);

    /* A missing directory that can be created: a warning. */
    snprintf(p, sizeof(p), "%s/tmp", s.root);
    ck_assert_int_eq(rmdir(p), 0);
    n = agentd_nodecfg_validate(m, cur, true, is);
    const agentd_cfg_issue_t *i = issue_for(is, n, "paths.tempDir");
    ck_assert_ptr_nonnull(i);
    ck_assert(!i->blocking);
    ck_assert_ptr_nonnull(strstr(i->message, "does not exist"));
    ck_assert_uint_eq(blocking(is, n), 0);
    /* Not even the shallow check looks at the disk. */
    ck_assert_uint_eq(agentd_nodecfg_validate(m, cur, false, is), 0);

    /* One that cannot be created (its parent is a file): blocking. */
    snprintf(p, sizeof(p), "%s/afile", s.root);
    ck_assert_int_eq(ftu_write_file(p, "x", 1, 0644), 0);
    snprintf(p, sizeof(p), "%s/afile/tmp", s.root);
    replace_str(&m->paths->temp_dir, p);
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "paths.tempDir");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_ptr_nonnull(strstr(i->message, "cannot be created"));
    /* A file where a directory belongs. */
    snprintf(p, sizeof(p), "%s/afile", s.root);
    replace_str(&m->paths->temp_dir, p);
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "paths.tempDir");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_ptr_nonnull(strstr(i->message, "not a directory"));
    snprintf(p, sizeof(p), "%s/tmp", s.root);
    replace_str(&m->paths->temp_dir, p);

    /* A missing protect path: a warning. */
    snprintf(p, sizeof(p), "%s/server/logs", s.root);
    ck_assert_int_eq(rmdir(p), 0);
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "paths.protectPaths[1]");
    ck_assert_ptr_nonnull(i);
    ck_assert(!i->blocking);

    /* The SQLite file: missing, then not a database. */
    snprintf(p, sizeof(p), "%s/db/main.db", s.root);
    ck_assert_int_eq(unlink(p), 0);
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "backup.db.databases[0]");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_ptr_nonnull(strstr(i->message, "not found"));
    ck_assert_int_eq(access(p, F_OK), -1); /* the check created nothing */
    static const char junk[] = "this is not an SQLite database, not even close to one.........";
    ck_assert_int_eq(ftu_write_file(p, junk, sizeof(junk), 0644), 0);
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "backup.db.databases[0]");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_int_eq(ftu_write_file(p, "", 0, 0644), 0);

    /* Service commands: a program that does not exist, one not in PATH. */
    replace_str(&m->service->start_command, "/nonexistent/ferry-app --start");
    replace_str(&m->service->status_command, "ferry-no-such-program-xyz --status");
    n = agentd_nodecfg_validate(m, cur, true, is);
    i = issue_for(is, n, "service.startCommand");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    i = issue_for(is, n, "service.statusCommand");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_ptr_null(issue_for(is, n, "service.stopCommand"));
    /* Shell syntax is left alone. */
    replace_str(&m->service->start_command, "cd /tmp && ./run");
    replace_str(&m->service->status_command, "\"$APP\" --status");
    n = agentd_nodecfg_validate(m, cur, true, is);
    ck_assert_ptr_null(issue_for(is, n, "service.startCommand"));
    ck_assert_ptr_null(issue_for(is, n, "service.statusCommand"));

    proto_free(m);
    ferry_node_config_free(cur);
    site_free(&s);
}
END_TEST

START_TEST(deep_check_of_a_systemd_unit)
{
    site_t s;
    site_init(&s, true);
    ferry_node_config_t *cur = parse_ok(s.json);
    cur->service.control = FERRY_SVC_CONTROL_SYSTEMD;
    free(cur->service.stop_command);
    free(cur->service.start_command);
    free(cur->service.status_command);
    cur->service.stop_command = cur->service.start_command = cur->service.status_command = NULL;
    Ferry__V1__NodeConfig *m = to_proto(cur);
    agentd_cfg_issue_t is[AGENTD_MAX_CFG_ISSUES];

    /* A fake systemctl first in PATH: only "rca7-demo" is installed. */
    char bin[PATH_MAX], tool[PATH_MAX + 16];
    snprintf(bin, sizeof(bin), "%s/bin", s.root);
    snprintf(tool, sizeof(tool), "%s/systemctl", bin);
    static const char script[] = "#!/bin/sh\n"
                                 "for a; do u=$a; done\n"
                                 "[ \"$u\" = rca7-demo ] && echo loaded || echo not-found\n";
    ck_assert_int_eq(ftu_write_file(tool, script, strlen(script), 0755), 0);
    const char *old = getenv("PATH");
    char *saved = strdup(old != NULL ? old : "/usr/bin:/bin");
    char *path = xasprintf("%s:%s", bin, saved);
    ck_assert_int_eq(setenv("PATH", path, 1), 0);

    size_t n = agentd_nodecfg_validate(m, cur, true, is);
    print_issues(is, n);
    ck_assert_uint_eq(n, 0);
    replace_str(&m->service->name, "missing-unit");
    n = agentd_nodecfg_validate(m, cur, true, is);
    const agentd_cfg_issue_t *i = issue_for(is, n, "service.name");
    ck_assert_ptr_nonnull(i);
    ck_assert(i->blocking);
    ck_assert_ptr_nonnull(strstr(i->message, "not-found"));

    ck_assert_int_eq(setenv("PATH", saved, 1), 0);
    free(saved);
    free(path);
    proto_free(m);
    ferry_node_config_free(cur);
    site_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agentd_nodecfg");
    TCase *tc = tcase_create("nodecfg");
    tcase_add_test(tc, round_trip_of_the_demo_config);
    tcase_add_test(tc, service_control_and_state_dir_from_the_proto);
    tcase_add_test(tc, round_trip_of_the_defaults_without_current);
    tcase_add_test(tc, db_engine_unspecified);
    tcase_add_test(tc, password_masked_and_kept);
    tcase_add_test(tc, invalid_fields_are_named_and_blocking);
    tcase_add_test(tc, deep_checks_find_missing_things);
    tcase_add_test(tc, deep_check_of_a_systemd_unit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
