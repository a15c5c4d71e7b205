/*
 * Unit tests: connection-string masking, node-config masking and its mapping onto
 * ferry.v1.NodeConfig, mirror name/URL rules, and the migrations of a database made by
 * the first schema (storage rows keep working, new columns get their defaults).
 */
#include <check.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/db.h"
#include "hub_nodecfg.h"
#include "hub_pkg.h"

static void mask_is(const char *in, const char *want)
{
    char *got = hub_connstr_mask(in);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0, "mask(%s) = %s, want %s", in, got, want);
    free(got);
}

START_TEST(connection_string_password_masked)
{
    mask_is("Server=127.0.0.1;Database=master;User Id=sa;Password=hunter2;TrustServerCertificate=True;",
            "Server=127.0.0.1;Database=master;User Id=sa;Password=***;TrustServerCertificate=True;");
    mask_is("server=x;PWD=hunter2", "server=x;PWD=***");
    mask_is(" Password = hunter2 ;Server=x", " Password =***;Server=x");
    mask_is("Server=x;Password={a;b}}c};Database=d", "Server=x;Password=***;Database=d");
    mask_is("Server=x;Password=\"a;b\"\"c\";Database=d", "Server=x;Password=***;Database=d");
    mask_is("Server=x;Password='a;b'", "Server=x;Password=***");
    mask_is("Server=x;Password=;Database=d", "Server=x;Password=;Database=d");
    mask_is("Server=x;;Database=d;", "Server=x;;Database=d;");
    mask_is("Server=x;Database={a;b}", "Server=x;Database={a;b}");
    mask_is("", "");
    /* Anything that does not parse is withheld whole. */
    mask_is("Server=x;Password={unterminated;Database=d", "***");
    mask_is("Server=x;Password=\"a\"b;Database=d", "***");
    mask_is("hunter2", "***");
}
END_TEST

START_TEST(node_config_masked_and_mapped)
{
    static const char doc[] =
        "{\"configVersion\":\"202512140001\",\"service\":{\"name\":\"svc\",\"stopTimeoutSeconds\":30,"
        "\"control\":\"command\",\"stopCommand\":\"ctl stop --password=topsecret -x\","
        "\"startCommand\":\"ctl start --api-key 'k e y' --pwd:abc\",\"statusCommand\":\"ctl status\","
        "\"healthCheck\":{\"kind\":\"http\",\"target\":\"http://h/health?token=tok123&x=1\"}},"
        "\"paths\":{\"serverDir\":\"/s\",\"protectPaths\":[\"/s/config\",7]},"
        "\"backup\":{\"retentionN\":3,\"db\":{\"engine\":\"mssql\",\"sqlConnectionString\":"
        "\"Server=x;Pwd=hunter2\",\"databases\":[\"A\"]}},"
        "\"deploy\":{\"deleteOldFiles\":false,\"clientDeleteOldFiles\":\"yes\"},"
        "\"stateDir\":\"/var/lib/ferry-agent\",\"extra\":{\"apiToken\":\"t0k\",\"list\":[\"Bearer "
        "abcdefghijklmnop\"]}}";
    int64_t v = -1;
    char *m = hub_node_config_mask(doc, strlen(doc), &v);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(v, 202512140001LL);
    ck_assert_msg(strstr(m, "topsecret") == NULL && strstr(m, "k e y") == NULL && strstr(m, "abc") == NULL &&
                      strstr(m, "tok123") == NULL && strstr(m, "hunter2") == NULL &&
                      strstr(m, "t0k") == NULL && strstr(m, "abcdefghijklmnop") == NULL,
                  "secret left in %s", m);
    ck_assert_ptr_nonnull(strstr(m, "ctl stop --password=*** -x"));
    ck_assert_ptr_nonnull(strstr(m, "ctl status"));
    ck_assert_ptr_nonnull(strstr(m, "\"Server=x;Pwd=***\""));
    ck_assert_ptr_nonnull(strstr(m, "\"stateDir\":\"/var/lib/ferry-agent\""));

    char *p = hub_node_config_proto_json(m);
    ck_assert_ptr_nonnull(p);
    json_t *j = json_loads(p, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "configVersion")), 202512140001LL);
    json_t *svc = json_object_get(j, "service");
    ck_assert_str_eq(json_string_value(json_object_get(svc, "name")), "svc");
    ck_assert_int_eq(json_integer_value(json_object_get(svc, "stopTimeoutSeconds")), 30);
    /* Control, command lines (masked) and health check (target masked), stateDir. */
    ck_assert_str_eq(json_string_value(json_object_get(svc, "control")), "SERVICE_CONTROL_COMMAND");
    ck_assert_str_eq(json_string_value(json_object_get(svc, "stopCommand")), "ctl stop --password=*** -x");
    ck_assert_str_eq(json_string_value(json_object_get(svc, "startCommand")),
                     "ctl start --api-key *** --pwd:***");
    ck_assert_str_eq(json_string_value(json_object_get(svc, "statusCommand")), "ctl status");
    json_t *hc = json_object_get(svc, "healthCheck");
    ck_assert_str_eq(json_string_value(json_object_get(hc, "kind")), "HEALTH_CHECK_KIND_HTTP");
    ck_assert_str_eq(json_string_value(json_object_get(hc, "target")), "http://h/health?token=***&x=1");
    ck_assert_str_eq(json_string_value(json_object_get(j, "stateDir")), "/var/lib/ferry-agent");
    ck_assert_ptr_null(json_object_get(j, "extra"));
    json_t *pp = json_object_get(json_object_get(j, "paths"), "protectPaths");
    ck_assert_uint_eq(json_array_size(pp), 1); /* the number is skipped, not fatal */
    json_t *db = json_object_get(json_object_get(j, "backup"), "db");
    ck_assert_str_eq(json_string_value(json_object_get(db, "engine")), "DB_ENGINE_SQLSERVER");
    ck_assert_str_eq(json_string_value(json_object_get(db, "sqlConnectionString")), "Server=x;Pwd=***");
    json_t *dep = json_object_get(j, "deploy");
    ck_assert(json_is_false(json_object_get(dep, "deleteOldFiles")));
    ck_assert_ptr_null(json_object_get(dep, "clientDeleteOldFiles")); /* a string, skipped */
    json_decref(j);
    free(p);
    free(m);

    /* The canonical NodeConfig JSON maps onto itself. */
    static const char canon[] = "{\"backup\":{\"db\":{\"engine\":\"DB_ENGINE_SQLITE\"},\"retentionN\":5},"
                                "\"configVersion\":\"9\",\"service\":{\"name\":\"n\"}}";
    m = hub_node_config_mask(canon, strlen(canon), &v);
    ck_assert_int_eq(v, 9);
    p = hub_node_config_proto_json(m);
    ck_assert_str_eq(p, "{\"configVersion\":9,\"service\":{\"name\":\"n\"},\"backup\":{\"retentionN\":5,"
                        "\"db\":{\"engine\":\"DB_ENGINE_SQLITE\"}}}");
    free(p);
    free(m);

    /* The canonical names and numbers of the new enums map too; unknown ones are skipped;
     * a document stored unmasked (an older server) is masked when shown. */
    static const char canon2[] =
        "{\"service\":{\"control\":\"SERVICE_CONTROL_SYSTEMD\",\"healthCheck\":{\"kind\":2,"
        "\"target\":\"127.0.0.1:80\"}},\"stateDir\":\"/s\"}";
    p = hub_node_config_proto_json(canon2);
    ck_assert_str_eq(p, "{\"service\":{\"control\":\"SERVICE_CONTROL_SYSTEMD\",\"healthCheck\":{\"kind\":"
                        "\"HEALTH_CHECK_KIND_TCP\",\"target\":\"127.0.0.1:80\"}},\"stateDir\":\"/s\"}");
    free(p);
    static const char odd[] = "{\"service\":{\"control\":\"launchd\",\"stopCommand\":\"x --token s3cr3t\","
                              "\"healthCheck\":{\"kind\":7}}}";
    p = hub_node_config_proto_json(odd);
    ck_assert_str_eq(p, "{\"service\":{\"stopCommand\":\"x --token ***\"}}");
    free(p);

    /* Not a JSON object: nothing to show. */
    ck_assert_ptr_null(hub_node_config_mask("[1]", 3, &v));
    ck_assert_int_eq(v, 0);
    ck_assert_ptr_null(hub_node_config_mask("{", 1, &v));
    ck_assert_ptr_null(hub_node_config_proto_json(""));
    ck_assert_ptr_null(hub_node_config_proto_json("\"x\""));
    p = hub_node_config_proto_json("{}");
    ck_assert_str_eq(p, "{}");
    free(p);
}
END_TEST

START_TEST(mirror_rules)
{
    ferry_err_t err = {0};
    ck_assert_int_eq(hub_mirror_name_check("f", "mirror-1", &err), FERRY_OK);
    ck_assert_int_eq(hub_mirror_name_check("f", "A.b_c-9", &err), FERRY_OK);
    ck_assert_int_eq(hub_mirror_name_check("f", "abcdefghijklmnopqrstuvwxyz012345", &err), FERRY_OK); /* 32 */
    ck_assert_int_eq(hub_mirror_name_check("f", "abcdefghijklmnopqrstuvwxyz0123456", &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_mirror_name_check("f", "", &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_mirror_name_check("f", "a/b", &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_mirror_name_check("f", "m\xc3\xa9", &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(hub_mirror_name_check("mirrors[3].name", "PRIMARY", &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "mirrors[3].name"));
    ck_assert_int_eq(hub_mirror_name_check("f", "customer-storage", &err), FERRY_E_INVALID_ARG);

    ck_assert_int_eq(hub_mirror_url_check("u", "http://10.0.0.5:8080/ferry-mirror", &err), FERRY_OK);
    ck_assert_int_eq(hub_mirror_url_check("u", "https://m.example", &err), FERRY_OK);
    ck_assert_int_eq(hub_mirror_url_check("u", "https://m.example/", &err), FERRY_OK);
    static const char *const bad[] = {"",
                                      "m.example",
                                      "ftp://m/x",
                                      "http://",
                                      "http:///x",
                                      "http://u:p@m/",
                                      "http://m/x?y",
                                      "http://m/#x",
                                      "http://m/a b",
                                      "http://m/\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(hub_mirror_url_check("mirrors[0].base_url", bad[i], &err) == FERRY_E_INVALID_ARG, "%s",
                      bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "mirrors[0].base_url"));
    }
    char longu[260];
    memset(longu, 'a', sizeof(longu) - 1);
    longu[sizeof(longu) - 1] = '\0';
    memcpy(longu, "http://", 7);
    ck_assert_int_eq(hub_mirror_url_check("u", longu, &err), FERRY_E_INVALID_ARG);
}
END_TEST

static long long scalar(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

START_TEST(first_schema_migrates)
{
    char dir[] = "/tmp/ferry-hubdist-XXXXXX", path[64];
    size_t n;
    sqlite3 *db = NULL;
    ferry_err_t err = {0};
    const ferry_db_migration_t *all = ferry_db_migrations(&n);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ferry.db", dir);
    ck_assert_uint_ge(n, 3);
    /* A database of the first release, with a storage configuration and a task. */
    ck_assert_int_eq(ferry_db_open_with(path, all, 1, &db, &err), FERRY_OK);
    ck_assert_int_eq(
        ferry_db_exec(db,
                      "INSERT INTO storage_config (kind, settings_json, updated_at) VALUES"
                      " ('local_dir', '{\"root\":\"\",\"public_base_url\":\"\"}', 1);"
                      "INSERT INTO customer (code, name, created_at, updated_at) VALUES ('C', 'C', 1, 1);"
                      "INSERT INTO store (customer_id, code, name, created_at, updated_at)"
                      " VALUES (1, 'S', 'S', 1, 1);"
                      "INSERT INTO node (store_id, code, environment, token_id, token_hash,"
                      " token_issued_at, created_at, updated_at) VALUES (1, 'N', 4, 't', x'00', 1, 1, 1);"
                      "INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build,"
                      " size, sha256, has_server, has_client, has_schema_sql, has_data_sql, manifest,"
                      " signature, key_id, created_at) VALUES ('1.0.0.0(1)', 1, 0, 0, 0, 1, 1, 'x', 1,"
                      " 0, 0, 0, x'', x'', 'k', 1);"
                      "INSERT INTO release (package_id, customer_id, environment, policy, created_at,"
                      " updated_at) VALUES (1, 1, 4, 1, 1, 1);"
                      "INSERT INTO update_task (release_id, node_id, created_at, updated_at)"
                      " VALUES (1, 1, 1, 1);",
                      "seed", &err),
        FERRY_OK);
    ferry_db_close(db);
    ck_assert_int_eq(ferry_db_open(path, &db, &err), FERRY_OK);
    ck_assert_int_eq(ferry_db_schema_version(db), all[n - 1].version);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM storage_config WHERE mirrors_json = '[]'"), 1);
    ck_assert_int_eq(scalar(db, "SELECT count(*) FROM update_task WHERE download_json = ''"), 1);
    ferry_db_close(db);
    unlink(path);
    char side[80];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hub_dist_unit");
    TCase *tc = tcase_create("dist");
    tcase_add_test(tc, connection_string_password_masked);
    tcase_add_test(tc, node_config_masked_and_mapped);
    tcase_add_test(tc, mirror_rules);
    tcase_add_test(tc, first_schema_migrates);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
