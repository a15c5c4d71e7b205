/* node-config.json: defaults, every validation rule, unknown fields, masking. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/engine/config.h"

static ferry_node_config_t *parse_ok(const char *json)
{
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    ferry_err_code_t rc = ferry_node_config_parse(json, strlen(json), &c, &e);
    if (rc != FERRY_OK)
        ck_abort_msg("unexpected error for %s: %s", json, e.msg);
    return c;
}

/* Parsing must fail with a message containing |want|. */
static void parse_bad(const char *json, const char *want)
{
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_node_config_parse(json, strlen(json), &c, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(c);
    if (strstr(e.msg, want) == NULL)
        ck_abort_msg("for %s\nwanted '%s' in '%s'", json, want, e.msg);
}

START_TEST(defaults_follow_the_seed)
{
    ferry_node_config_t *c = parse_ok("{}");
    ck_assert_str_eq(c->service.name, "RCA7_Service_InstanceA");
    ck_assert_uint_eq(c->service.stop_timeout_s, 120);
    ck_assert_uint_eq(c->service.start_timeout_s, 120);
    ck_assert_int_eq(c->service.control, FERRY_SVC_CONTROL_SYSTEMD);
    ck_assert_int_eq(c->service.health, FERRY_HEALTH_NONE);
    ck_assert_str_eq(c->paths.server_dir, "/srv/rca7/server");
    ck_assert_str_eq(c->paths.client_dir, "/srv/rca7/files/package/client");
    ck_assert_str_eq(c->paths.backup_root, "/srv/rca7/backup");
    ck_assert_str_eq(c->paths.temp_dir, "/srv/rca7/update_tmp");
    ck_assert_uint_eq(c->paths.n_protect_paths, 2);
    ck_assert_str_eq(c->paths.protect_paths[0], "/srv/rca7/server/config");
    ck_assert_str_eq(c->paths.protect_paths[1], "/srv/rca7/server/logs");
    ck_assert_uint_eq(c->backup.retention_n, 5);
    ck_assert_int_eq(c->backup.db.engine, FERRY_DB_ENGINE_SQLITE);
    ck_assert_str_eq(c->backup.db.backup_file_name, "data.bak");
    ck_assert_str_eq(c->backup.client_backup_file_name, "client.zip");
    ck_assert(c->deploy.delete_old_files);
    ck_assert(c->deploy.client_delete_old_files);
    ck_assert_ptr_nonnull(c->state_dir);
    char name[64];
    ck_assert_int_eq(ferry_node_config_db_backup_name(c, 0, name, sizeof(name)), FERRY_OK);
    ck_assert_str_eq(name, "data.bak");
    ck_assert_int_eq(ferry_node_config_db_backup_name(c, 2, name, sizeof(name)), FERRY_OK);
    ck_assert_str_eq(name, "data.2.bak");
    ferry_node_config_free(c);
    ferry_node_config_free(NULL);
}
END_TEST

START_TEST(seed_template_with_mssql)
{
    /* Seed 000 §7.3 with Linux paths and the mssql engine. */
    const char *j =
        "{\"configVersion\": 202512140001,"
        "\"service\": {\"name\": \"RCA7_Service_InstanceA\", \"stopTimeoutSeconds\": 120,"
        " \"startTimeoutSeconds\": 90},"
        "\"paths\": {\"serverDir\": \"/opt/rca7/server/\", \"clientDir\": \"/opt/rca7//client\","
        " \"backupRoot\": \"/opt/rca7/backup\", \"tempDir\": \"/opt/rca7/./tmp\","
        " \"protectPaths\": [\"/opt/rca7/server/config\", \"/opt/rca7/client/user\"]},"
        "\"backup\": {\"retentionN\": 3, \"db\": {\"engine\": \"mssql\","
        " \"sqlConnectionString\": \"Server=127.0.0.1;Database=master;User Id=sa;Password=S3cr;et!;"
        "TrustServerCertificate=True;\","
        " \"databases\": [\"RCA7_Main\", \"RCA7_Log\"], \"backupFileName\": \"db.bak\"},"
        " \"clientBackupFileName\": \"c.zip\"},"
        "\"deploy\": {\"deleteOldFiles\": false, \"clientDeleteOldFiles\": true},"
        "\"stateDir\": \"/var/lib/ferry\"}";
    /* "Password=S3cr;et!" is malformed (et! is a pair without '='): the error must not leak it. */
    parse_bad(j, "backup.db.sqlConnectionString: pair");
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    ck_assert_int_ne(ferry_node_config_parse(j, strlen(j), &c, &e), FERRY_OK);
    ck_assert_ptr_null(strstr(e.msg, "S3cr"));
    ck_assert_ptr_null(strstr(e.msg, "et!"));
    ck_assert_ptr_nonnull(strstr(e.msg, "after 'Password'"));

    char fixed[4096];
    snprintf(fixed, sizeof(fixed), "%s", j);
    char *p = strstr(fixed, "S3cr;et!");
    memcpy(p, "{S3;t!}x", 8); /* quoted password containing ';' */
    memmove(p + 7, p + 8, strlen(p + 8) + 1);
    c = parse_ok(fixed);
    ck_assert_int_eq(c->config_version, 202512140001LL);
    ck_assert_uint_eq(c->service.start_timeout_s, 90);
    ck_assert_str_eq(c->paths.server_dir, "/opt/rca7/server");
    ck_assert_str_eq(c->paths.client_dir, "/opt/rca7/client");
    ck_assert_str_eq(c->paths.temp_dir, "/opt/rca7/tmp");
    ck_assert_uint_eq(c->backup.retention_n, 3);
    ck_assert_int_eq(c->backup.db.engine, FERRY_DB_ENGINE_MSSQL);
    ck_assert_uint_eq(c->backup.db.n_databases, 2);
    ck_assert(!c->deploy.delete_old_files);
    char name[64];
    ferry_node_config_db_backup_name(c, 1, name, sizeof(name));
    ck_assert_str_eq(name, "db.1.bak");

    char *dump = NULL;
    ck_assert_int_eq(ferry_node_config_dump_effective(c, &dump, &e), FERRY_OK);
    ck_assert_ptr_null(strstr(dump, "S3"));
    ck_assert_ptr_null(strstr(dump, "t!"));
    ck_assert_ptr_nonnull(strstr(dump, "Password=***"));
    ck_assert_ptr_nonnull(strstr(dump, "\"serverDir\": \"/opt/rca7/server\""));
    /* The dump is itself a valid configuration apart from the masked secret. */
    free(dump);
    ferry_node_config_free(c);
}
END_TEST

START_TEST(overrides_move_default_protect_paths)
{
    ferry_node_config_t *c = parse_ok("{\"paths\": {\"serverDir\": \"/data/srv\"}}");
    ck_assert_str_eq(c->paths.protect_paths[0], "/data/srv/config");
    ck_assert_str_eq(c->paths.protect_paths[1], "/data/srv/logs");
    ferry_node_config_free(c);
    c = parse_ok("{\"paths\": {\"protectPaths\": []}}");
    ck_assert_uint_eq(c->paths.n_protect_paths, 0);
    ferry_node_config_free(c);
}
END_TEST

START_TEST(command_control)
{
    ferry_node_config_t *c =
        parse_ok("{\"service\": {\"control\": \"command\", \"stopCommand\": \"s1\", \"startCommand\": \"s2\","
                 " \"statusCommand\": \"s3\", \"healthCheck\": {\"kind\": \"http\", \"target\": "
                 "\"http://127.0.0.1:8080/health\"}}}");
    ck_assert_int_eq(c->service.control, FERRY_SVC_CONTROL_COMMAND);
    ck_assert_str_eq(c->service.stop_command, "s1");
    ck_assert_int_eq(c->service.health, FERRY_HEALTH_HTTP);
    ferry_node_config_free(c);
    c = parse_ok("{\"service\": {\"healthCheck\": {\"kind\": \"tcp\", \"target\": \"[::1]:8080\"}}}");
    ck_assert_int_eq(c->service.health, FERRY_HEALTH_TCP);
    ferry_node_config_free(c);
}
END_TEST

START_TEST(download_bandwidth_limit)
{
    ferry_node_config_t *c = parse_ok("{}");
    ck_assert_uint_eq(c->download.max_kib_per_sec, 0); /* default: unlimited */
    ferry_node_config_free(c);
    c = parse_ok("{\"download\": {\"maxKiBPerSecond\": 2048}}");
    ck_assert_uint_eq(c->download.max_kib_per_sec, 2048);
    char *dump = NULL;
    ck_assert_int_eq(ferry_node_config_dump_effective(c, &dump, NULL), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(dump, "\"maxKiBPerSecond\": 2048"));
    free(dump);
    ferry_node_config_free(c);
    parse_bad("{\"download\": {\"maxKiBPerSecond\": -1}}", "download.maxKiBPerSecond");
    parse_bad("{\"download\": {\"maxKiBPerSecond\": \"fast\"}}", "download.maxKiBPerSecond");
    parse_bad("{\"download\": {\"maxKiBPerSecond\": 5000000}}", "download.maxKiBPerSecond");
    parse_bad("{\"download\": {\"limit\": 1}}", "download");
}
END_TEST

START_TEST(every_rule_has_a_precise_message)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"[]", "must be a JSON object"},
        {"{", "invalid JSON at line"},
        {"{\"a\":1,\"a\":2}", "invalid JSON"},
        {"{\"colour\": 1}", "colour: unknown field"},
        {"{\"service\": {\"nmae\": \"x\"}}", "service.nmae: unknown field"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"none\", \"path\": \"/\"}}}",
         "service.healthCheck.path: unknown field"},
        {"{\"backup\": {\"db\": {\"password\": \"x\"}}}", "backup.db.password: unknown field"},
        {"{\"deploy\": {\"deleteOld\": true}}", "deploy.deleteOld: unknown field"},
        {"{\"configVersion\": \"1\"}", "configVersion: must be a non-negative integer"},
        {"{\"service\": 3}", "service: must be an object"},
        {"{\"service\": {\"name\": \"\"}}", "service.name: must not be empty"},
        {"{\"service\": {\"name\": 5}}", "service.name: must be a string"},
        {"{\"service\": {\"name\": \"a b\"}}", "service.name: ' ' is not allowed in a systemd unit name"},
        {"{\"service\": {\"stopTimeoutSeconds\": 0}}",
         "service.stopTimeoutSeconds: must be between 1 and 86400"},
        {"{\"service\": {\"startTimeoutSeconds\": 1.5}}", "service.startTimeoutSeconds: must be an integer"},
        {"{\"service\": {\"control\": \"sysv\"}}", "service.control: must be \"systemd\" or \"command\""},
        {"{\"service\": {\"control\": \"command\", \"startCommand\": \"a\", \"statusCommand\": \"b\"}}",
         "service.stopCommand: required when service.control is \"command\""},
        {"{\"service\": {\"control\": \"command\", \"stopCommand\": \"a\", \"statusCommand\": \"b\"}}",
         "service.startCommand: required when service.control is \"command\""},
        {"{\"service\": {\"control\": \"command\", \"stopCommand\": \"a\", \"startCommand\": \"b\"}}",
         "service.statusCommand: required when service.control is \"command\""},
        {"{\"service\": {\"stopCommand\": \"a\"}}",
         "service.stopCommand: only allowed when service.control is \"command\""},
        {"{\"service\": {\"healthCheck\": {}}}", "service.healthCheck.kind: required"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"icmp\"}}}", "service.healthCheck.kind: must be"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"tcp\"}}}",
         "service.healthCheck.target: required when kind is \"tcp\""},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"tcp\", \"target\": \"localhost\"}}}",
         "expected host:port"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"tcp\", \"target\": \"h:70000\"}}}",
         "port must be 1..65535"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"http\", \"target\": \"https://h/\"}}}",
         "https is not supported"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"http\", \"target\": \"h:80\"}}}",
         "must start with http://"},
        {"{\"service\": {\"healthCheck\": {\"kind\": \"none\", \"target\": \"h:80\"}}}",
         "service.healthCheck.target: only allowed"},
        {"{\"paths\": {\"serverDir\": \"D:/rca7/server\"}}", "paths.serverDir: must be an absolute path"},
        {"{\"paths\": {\"clientDir\": \"/a/../b\"}}", "paths.clientDir: must not contain '..'"},
        {"{\"paths\": {\"tempDir\": \"/\"}}", "paths.tempDir: must not be the root directory"},
        {"{\"paths\": {\"backupRoot\": \"/srv/rca7/server/backup\"}}",
         "paths.backupRoot: must not be inside paths.serverDir"},
        {"{\"paths\": {\"clientDir\": \"/srv/rca7/server\"}}",
         "paths.serverDir: must not be the same as paths.clientDir"},
        {"{\"stateDir\": \"/srv/rca7/update_tmp/state\"}", "stateDir: must not be inside paths.tempDir"},
        {"{\"stateDir\": \"rel\"}", "stateDir: must be an absolute path"},
        {"{\"paths\": {\"protectPaths\": \"/x\"}}", "paths.protectPaths: must be an array"},
        {"{\"paths\": {\"protectPaths\": [\"/etc\"]}}",
         "paths.protectPaths[0]: must be inside paths.serverDir or paths.clientDir"},
        {"{\"paths\": {\"protectPaths\": [\"/srv/rca7/server/a\", 3]}}",
         "paths.protectPaths[1]: must be a string"},
        {"{\"paths\": {\"protectPaths\": [\"/srv/rca7/server/a\", \"/srv/rca7/server/a/\"]}}",
         "paths.protectPaths[1]: duplicate"},
        {"{\"backup\": {\"retentionN\": 0}}", "backup.retentionN: must be between 1 and 1000"},
        {"{\"backup\": {\"clientBackupFileName\": \"a/b.zip\"}}",
         "backup.clientBackupFileName: must be a plain file name"},
        {"{\"backup\": {\"db\": {\"backupFileName\": \"..\"}}}",
         "backup.db.backupFileName: must be a plain file name"},
        {"{\"backup\": {\"db\": {\"backupFileName\": \"client.zip\"}}}",
         "must differ from backup.db.backupFileName"},
        {"{\"backup\": {\"db\": {\"engine\": \"oracle\"}}}",
         "backup.db.engine: must be \"sqlite\" or \"mssql\""},
        {"{\"backup\": {\"db\": {\"databases\": []}}}",
         "backup.db.databases: must list at least one database"},
        {"{\"backup\": {\"db\": {\"databases\": [\"main.db\"]}}}",
         "backup.db.databases[0]: must be an absolute path"},
        {"{\"backup\": {\"db\": {\"sqlConnectionString\": \"Server=x;User Id=u\"}}}",
         "backup.db.sqlConnectionString: only allowed when backup.db.engine is \"mssql\""},
        {"{\"backup\": {\"db\": {\"engine\": \"mssql\"}}}", "backup.db.sqlConnectionString: required when"},
        {"{\"backup\": {\"db\": {\"engine\": \"mssql\", \"sqlConnectionString\": \"Server=x;User "
         "Id=u;Colour=red\"}}}",
         "backup.db.sqlConnectionString: key 'Colour' is not supported"},
        {"{\"backup\": {\"db\": {\"engine\": \"mssql\", \"sqlConnectionString\": \"Server=x;User Id=u\","
         " \"databases\": [\"\"]}}}",
         "backup.db.databases[0]: must not be empty"},
        {"{\"deploy\": {\"deleteOldFiles\": \"yes\"}}", "deploy.deleteOldFiles: must be true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        parse_bad(cases[i].json, cases[i].want);
}
END_TEST

START_TEST(load_from_file_prefixes_path)
{
    char path[] = "/tmp/ferry-cfg-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *j = "{\"service\": {\"stopTimeoutSeconds\": -1}}";
    ck_assert_int_eq(write(fd, j, strlen(j)), (ssize_t)strlen(j));
    close(fd);
    ferry_node_config_t *c = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_node_config_load(path, &c, &e), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(e.msg, path));
    ck_assert_ptr_nonnull(strstr(e.msg, "service.stopTimeoutSeconds"));
    unlink(path);
    ck_assert_int_eq(ferry_node_config_load("/nonexistent/node-config.json", &c, &e), FERRY_E_NOT_FOUND);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults_follow_the_seed);
    tcase_add_test(tc, seed_template_with_mssql);
    tcase_add_test(tc, overrides_move_default_protect_paths);
    tcase_add_test(tc, command_control);
    tcase_add_test(tc, download_bandwidth_limit);
    tcase_add_test(tc, every_rule_has_a_precise_message);
    tcase_add_test(tc, load_from_file_prefixes_path);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
