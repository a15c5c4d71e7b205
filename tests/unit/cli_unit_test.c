/* Unit tests of the `ferry` CLI internals (cli/cli.h). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/json.h"
#include "upload.h"

/* ---- a fake environment for config resolution ---- */
static const char *fake_env[16][2];

static char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < 16 && fake_env[i][0]; i++)
        if (strcmp(fake_env[i][0], name) == 0)
            return (char *)fake_env[i][1];
    return NULL;
}

static void env_set(size_t i, const char *k, const char *v)
{
    fake_env[i][0] = k;
    fake_env[i][1] = v;
}

static char tmpdir[256];

static void setup(void)
{
    memset(fake_env, 0, sizeof(fake_env));
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-cli-unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static const ferry_cli_flag_t FLAGS[] = {
    {"code", FERRY_CLI_FLAG_STR, "CODE", "code", true},
    {"store", FERRY_CLI_FLAG_MULTI, "S", "stores", false},
    {"all", FERRY_CLI_FLAG_BOOL, NULL, "all", false},
    {NULL, 0, NULL, NULL, false},
};

START_TEST(test_parse_flags)
{
    char *argv[] = {"--code", "A",     "--store=S1", "--json",   "--store",
                    "S2",     "--all", "pos1",       "--server", "http://x"};
    ferry_cli_args_t a;
    ferry_cli_globals_t g = {0};
    ferry_err_t err = {0};
    size_t n;
    const char *const *m;

    ck_assert_int_eq(ferry_cli_parse(10, argv, FLAGS, 1, &a, &g, &err), FERRY_OK);
    ck_assert_str_eq(ferry_cli_arg(&a, "code"), "A");
    m = ferry_cli_arg_multi(&a, "store", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(m[0], "S1");
    ck_assert_str_eq(m[1], "S2");
    ck_assert(ferry_cli_arg_set(&a, "all"));
    ck_assert(g.json);
    ck_assert_str_eq(g.server, "http://x");
    ck_assert_uint_eq(a.n_pos, 1);
    ck_assert_str_eq(a.pos[0], "pos1");
    ck_assert_ptr_null(ferry_cli_arg(&a, "nope"));
}
END_TEST

START_TEST(test_parse_errors)
{
    ferry_cli_args_t a;
    ferry_cli_globals_t g = {0};
    ferry_err_t err = {0};
    char *missing[] = {"--all"};
    char *unknown[] = {"--code", "A", "--bogus"};
    char *novalue[] = {"--code"};
    char *boolval[] = {"--code", "A", "--all=yes"};
    char *extra[] = {"--code", "A", "x", "y"};
    char *help[] = {"--help"};
    char *dashdash[] = {"--code", "A", "--", "--weird"};

    ck_assert_int_eq(ferry_cli_parse(1, missing, FLAGS, 0, &a, &g, &err), FERRY_E_INVALID_ARG);
    ck_assert(strstr(err.msg, "--code") != NULL);
    ck_assert_int_eq(ferry_cli_parse(3, unknown, FLAGS, 0, &a, &g, &err), FERRY_E_INVALID_ARG);
    ck_assert(strstr(err.msg, "bogus") != NULL);
    ck_assert_int_eq(ferry_cli_parse(1, novalue, FLAGS, 0, &a, &g, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse(3, boolval, FLAGS, 0, &a, &g, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse(4, extra, FLAGS, 1, &a, &g, &err), FERRY_E_INVALID_ARG);
    /* --help skips the required-flag check. */
    ck_assert_int_eq(ferry_cli_parse(1, help, FLAGS, 0, &a, &g, &err), FERRY_OK);
    ck_assert(g.help);
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(ferry_cli_parse(4, dashdash, FLAGS, 1, &a, &g, &err), FERRY_OK);
    ck_assert_str_eq(a.pos[0], "--weird");
}
END_TEST

START_TEST(test_leading_globals)
{
    char *argv[] = {"--json", "--server", "u", "--timeout=5s", "release", "create"};
    ferry_cli_globals_t g = {0};
    ferry_err_t err = {0};
    char *bad[] = {"--token"};

    ck_assert_int_eq(ferry_cli_parse_leading_globals(6, argv, &g, &err), 4);
    ck_assert(g.json);
    ck_assert_str_eq(g.server, "u");
    ck_assert_str_eq(g.timeout, "5s");
    ck_assert_int_eq(ferry_cli_parse_leading_globals(1, bad, &g, &err), -1);
}
END_TEST

START_TEST(test_values)
{
    uint64_t v = 0;
    int64_t s = 0;
    int32_t ns = 0;
    ferry_err_t err = {0};

    ck_assert_int_eq(ferry_cli_parse_duration_ms("30", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 30000);
    ck_assert_int_eq(ferry_cli_parse_duration_ms("500ms", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 500);
    ck_assert_int_eq(ferry_cli_parse_duration_ms("2m", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 120000);
    ck_assert_int_eq(ferry_cli_parse_duration_ms("0s", &v, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse_duration_ms("5x", &v, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse_duration_ms("-1", &v, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse_size("64K", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(ferry_cli_parse_size("8MiB", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 8u << 20);
    ck_assert_int_eq(ferry_cli_parse_size("12", &v, &err), FERRY_OK);
    ck_assert_uint_eq(v, 12);
    ck_assert_int_eq(ferry_cli_parse_size("1Q", &v, &err), FERRY_E_INVALID_ARG);

    ck_assert_int_eq(ferry_cli_parse_rfc3339("1970-01-01T00:00:00Z", &s, &ns, &err), FERRY_OK);
    ck_assert_int_eq(s, 0);
    ck_assert_int_eq(ferry_cli_parse_rfc3339("2025-12-31T18:00:00.5+08:00", &s, &ns, &err), FERRY_OK);
    ck_assert_int_eq(s, 1767175200);
    ck_assert_int_eq(ns, 500000000);
    ck_assert_int_eq(ferry_cli_parse_rfc3339("2024-02-29T00:00:00Z", &s, &ns, &err), FERRY_OK);
    ck_assert_int_eq(ferry_cli_parse_rfc3339("2025-02-29T00:00:00Z", &s, &ns, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse_rfc3339("2025-12-31 18:00", &s, &ns, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_parse_rfc3339("tomorrow", &s, &ns, &err), FERRY_E_INVALID_ARG);

    ck_assert_int_eq(ferry_cli_parse_env("PROD"), 4);
    ck_assert_int_eq(ferry_cli_parse_env("dev"), 1);
    ck_assert_int_eq(ferry_cli_parse_env("ENVIRONMENT_UAT"), 3);
    ck_assert_int_eq(ferry_cli_parse_env("MARS"), -1);
    ck_assert_int_eq(ferry_cli_parse_policy("forced"), 1);
    ck_assert_int_eq(ferry_cli_parse_policy("OPTIONAL"), 2);
    ck_assert_int_eq(ferry_cli_parse_policy("maybe"), -1);
    ck_assert_int_eq(ferry_cli_parse_task_state("10"), 10);
    ck_assert_int_eq(ferry_cli_parse_task_state("75"), 75);
    ck_assert_int_eq(ferry_cli_parse_task_state("15"), -1);
    ck_assert_int_eq(ferry_cli_parse_task_state("failed"), 110);
    ck_assert_int_eq(ferry_cli_parse_task_state("TASK_STATE_ROLLBACKED"), 130);
    ck_assert_int_eq(ferry_cli_parse_package_type("full"), 1);
    ck_assert_int_eq(ferry_cli_parse_role("implementer"), 2);
    ck_assert_str_eq(ferry_cli_task_state_name(10), "PENDING");
    ck_assert(ferry_cli_task_state_final(100) && ferry_cli_task_state_final(110) &&
              ferry_cli_task_state_final(130));
    ck_assert(!ferry_cli_task_state_final(120));
}
END_TEST

START_TEST(test_output)
{
    char buf[64];
    json_t *e;
    char *s;
    ferry_cli_table_t t;
    static const char *head[] = {"A", "BB"};
    const char *row1[] = {"x", NULL};
    const char *row2[] = {"结构", "y"};
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_str_eq(ferry_cli_bar(0.5, 10, buf, sizeof(buf)), "[#####.....]");
    ck_assert_str_eq(ferry_cli_bar(2.0, 4, buf, sizeof(buf)), "[####]");
    ck_assert_str_eq(ferry_cli_bar(-1, 4, buf, sizeof(buf)), "[....]");
    ck_assert_str_eq(ferry_cli_fmt_bytes(512, buf, sizeof(buf)), "512 B");
    ck_assert_str_eq(ferry_cli_fmt_bytes(3u << 20, buf, sizeof(buf)), "3.0 MiB");
    ck_assert_str_eq(ferry_cli_fmt_time(NULL, buf, sizeof(buf)), "-");

    e = ferry_cli_error_json("already_exists", "E_VERSION_DUPLICATE", "dup");
    s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(s, "{\"error\":{\"code\":\"already_exists\",\"errorCode\":\"E_VERSION_DUPLICATE\","
                        "\"message\":\"dup\"}}");
    free(s);
    json_decref(e);

    ck_assert_int_eq(ferry_cli_exit_for_rpc(FERRY_RPC_OK), 0);
    ck_assert_int_eq(ferry_cli_exit_for_rpc(FERRY_RPC_UNAUTHENTICATED), 4);
    ck_assert_int_eq(ferry_cli_exit_for_rpc(FERRY_RPC_PERMISSION_DENIED), 4);
    ck_assert_int_eq(ferry_cli_exit_for_rpc(FERRY_RPC_ALREADY_EXISTS), 3);
    ck_assert_int_eq(ferry_cli_exit_for_rpc(FERRY_RPC_UNAVAILABLE), 3);

    ferry_cli_table_init(&t, 2, head);
    ferry_cli_table_row(&t, row1);
    ferry_cli_table_row(&t, row2);
    f = open_memstream(&text, &len);
    ferry_cli_table_print(&t, f);
    fclose(f);
    ferry_cli_table_free(&t);
    /* CJK counts two columns: "结构" is as wide as "xxxx". */
    ck_assert_str_eq(text, "A     BB\nx     -\n结构  y\n");
    free(text);
}
END_TEST

START_TEST(test_task_json)
{
    Ferry__V1__UpdateTask t = FERRY__V1__UPDATE_TASK__INIT;
    json_t *o;

    ferry_rpc_client_register_service(&ferry_v1_admin_service_desc);
    t.id = "7";
    t.node_code = "N1";
    t.state = FERRY__V1__TASK_STATE__TASK_STATE_PENDING;
    o = ferry_cli_task_json(&t);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(json_string_value(json_object_get(o, "node")), "N1");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "state")), 10);
    ck_assert_str_eq(json_string_value(json_object_get(o, "stateName")), "PENDING");
    ck_assert_str_eq(json_string_value(json_object_get(o, "errorCode")), "");
    ck_assert_str_eq(json_string_value(json_object_get(o, "nodeCode")), "N1");
    json_decref(o);
}
END_TEST

START_TEST(test_config_precedence)
{
    ferry_cli_globals_t g = {0};
    ferry_cli_config_t c;
    ferry_err_t err = {0};
    char path[512];

    snprintf(path, sizeof(path), "%s/config.json", tmpdir);
    write_file(path, "{\"server\":\"http://file\",\"token\":\"tfile\",\"caFile\":\"/ca\",\"timeout\":7}",
               0600);
    env_set(0, "FERRY_CONFIG", path);
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert_str_eq(c.server, "http://file");
    ck_assert_int_eq(c.server_src, FERRY_CLI_SRC_FILE);
    ck_assert_str_eq(c.token, "tfile");
    ck_assert_str_eq(c.ca_file, "/ca");
    ck_assert_uint_eq(c.timeout_ms, 7000);

    env_set(1, "FERRY_SERVER", "http://env");
    env_set(2, "FERRY_TOKEN", "tenv");
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert_str_eq(c.server, "http://env");
    ck_assert_int_eq(c.server_src, FERRY_CLI_SRC_ENV);
    ck_assert_str_eq(c.token, "tenv");

    g.server = "http://flag";
    g.token = "tflag";
    g.timeout = "2s";
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert_str_eq(c.server, "http://flag");
    ck_assert_int_eq(c.server_src, FERRY_CLI_SRC_FLAG);
    ck_assert_str_eq(c.token, "tflag");
    ck_assert_int_eq(c.token_src, FERRY_CLI_SRC_FLAG);
    ck_assert_uint_eq(c.timeout_ms, 2000);
}
END_TEST

START_TEST(test_config_permissions)
{
    ferry_cli_globals_t g = {0};
    ferry_cli_config_t c;
    ferry_err_t err = {0};
    char path[512];

    snprintf(path, sizeof(path), "%s/config.json", tmpdir);
    write_file(path, "{\"server\":\"http://file\",\"token\":\"secret-token\"}", 0644);
    g.config = path;
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_E_PERMISSION);
    ck_assert(strstr(err.msg, "chmod 600") != NULL);
    ck_assert(strstr(err.msg, "secret-token") == NULL);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert(c.warning[0] != '\0');
    /* Without a token, a readable file is fine. */
    write_file(path, "{\"server\":\"http://file\"}", 0644);
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert_str_eq(c.warning, "");
    /* An explicit file must exist; the default one need not. */
    g.config = "/nonexistent/ferry.json";
    ck_assert_int_ne(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    g.config = NULL;
    env_set(0, "HOME", tmpdir);
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_OK);
    ck_assert_str_eq(c.server, "");
    /* Garbage is an error naming the file. */
    write_file(path, "{not json", 0600);
    g.config = path;
    ck_assert_int_eq(ferry_cli_config_resolve(&g, fake_getenv, &c, &err), FERRY_E_INVALID_ARG);
    ck_assert(strstr(err.msg, path) != NULL);
}
END_TEST

START_TEST(test_upload_state)
{
    ferry_cli_upload_state_t st, back;
    ferry_err_t err = {0};
    char path[1200];
    struct stat sb;
    const char *sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    env_set(0, "FERRY_CACHE_DIR", tmpdir);
    ck_assert_int_eq(ferry_cli_upload_state_path(fake_getenv, sha, path, sizeof(path), &err), FERRY_OK);
    ck_assert(strstr(path, "/uploads/0123456789abcdef") != NULL);
    ck_assert_int_eq(ferry_cli_upload_state_load(path, &back, &err), FERRY_E_NOT_FOUND);
    memset(&st, 0, sizeof(st));
    snprintf(st.server, sizeof(st.server), "http://127.0.0.1:1");
    snprintf(st.upload_id, sizeof(st.upload_id), "up-1");
    snprintf(st.sha256, sizeof(st.sha256), "%s", sha);
    st.size = 123456789012ull;
    ck_assert_int_eq(ferry_cli_upload_state_save(path, &st, "/x/1.zip", &err), FERRY_OK);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(ferry_cli_upload_state_load(path, &back, &err), FERRY_OK);
    ck_assert_str_eq(back.server, st.server);
    ck_assert_str_eq(back.upload_id, "up-1");
    ck_assert_str_eq(back.sha256, sha);
    ck_assert(back.size == st.size);
    write_file(path, "{\"server\":1}", 0600);
    ck_assert_int_eq(ferry_cli_upload_state_load(path, &back, &err), FERRY_E_CORRUPT);
}
END_TEST

START_TEST(test_export_helpers)
{
    ferry_err_t err = {0};
    ferry_cli_export_paths_t p;
    uint32_t days = 0;

    ck_assert_int_eq(ferry_cli_parse_valid_days(NULL, &days, &err), FERRY_OK);
    ck_assert_uint_eq(days, 30);
    ck_assert_int_eq(ferry_cli_parse_valid_days("1", &days, &err), FERRY_OK);
    ck_assert_uint_eq(days, 1);
    ck_assert_int_eq(ferry_cli_parse_valid_days("366", &days, &err), FERRY_OK);
    ck_assert_uint_eq(days, 366);
    static const char *const bad_days[] = {"0", "367", "", "-1", "7d", "99999999999999999999", " 5"};
    for (size_t i = 0; i < sizeof(bad_days) / sizeof(bad_days[0]); i++) {
        ck_assert_int_eq(ferry_cli_parse_valid_days(bad_days[i], &days, &err), FERRY_E_INVALID_ARG);
        ck_assert_ptr_nonnull(strstr(err.msg, "--valid-days"));
    }

    ck_assert_int_eq(ferry_cli_export_paths("/tmp/out/", "1.25.12.13(12521)", &p, &err), FERRY_OK);
    ck_assert_str_eq(p.dir, "/tmp/out");
    ck_assert_str_eq(p.zip, "/tmp/out/1.25.12.13(12521).zip");
    ck_assert_str_eq(p.manifest, "/tmp/out/1.25.12.13(12521).manifest.json");
    ck_assert_str_eq(p.part, "/tmp/out/.1.25.12.13(12521).zip.part");
    ck_assert_int_eq(ferry_cli_export_paths("/", "1.0.0.0(1)", &p, &err), FERRY_OK);
    ck_assert_str_eq(p.zip, "/1.0.0.0(1).zip");
    ck_assert_int_eq(ferry_cli_export_paths("out", "../x", &p, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "VERSION"));
    ck_assert_int_eq(ferry_cli_export_paths("out", "..", &p, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(ferry_cli_export_paths("", "1.0.0.0(1)", &p, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "--out"));
    char longdir[3000];
    memset(longdir, 'd', sizeof(longdir) - 1);
    longdir[sizeof(longdir) - 1] = '\0';
    ck_assert_int_eq(ferry_cli_export_paths(longdir, "1.0.0.0(1)", &p, &err), FERRY_E_TOO_LARGE);

    /* The manifest file is proto3 JSON that decodes back to the same bytes (as the agent reads it). */
    Ferry__V1__SignedManifest sm = FERRY__V1__SIGNED_MANIFEST__INIT;
    uint8_t man[] = {0x0a, 0x03, '1', '.', '0', 0xff, 0x00}, sig[64];
    memset(sig, 0xab, sizeof(sig));
    sm.manifest.data = man;
    sm.manifest.len = sizeof(man);
    sm.signature.data = sig;
    sm.signature.len = sizeof(sig);
    sm.key_id = (char *)"0123456789abcdef";
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(ferry_cli_export_manifest_json(&sm, &text, &len, &err), FERRY_OK);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_ptr_nonnull(strstr(text, "\"keyId\": \"0123456789abcdef\""));
    ProtobufCMessage *back = NULL;
    ck_assert_int_eq(ferry_json_decode(&ferry__v1__signed_manifest__descriptor, text, len, &back, &err),
                     FERRY_OK);
    Ferry__V1__SignedManifest *b = (Ferry__V1__SignedManifest *)back;
    ck_assert_uint_eq(b->manifest.len, sizeof(man));
    ck_assert(memcmp(b->manifest.data, man, sizeof(man)) == 0);
    ck_assert_uint_eq(b->signature.len, sizeof(sig));
    ck_assert(memcmp(b->signature.data, sig, sizeof(sig)) == 0);
    ck_assert_str_eq(b->key_id, "0123456789abcdef");
    protobuf_c_message_free_unpacked(back, NULL);
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_flags);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_leading_globals);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_output);
    tcase_add_test(tc, test_task_json);
    tcase_add_test(tc, test_config_precedence);
    tcase_add_test(tc, test_config_permissions);
    tcase_add_test(tc, test_upload_state);
    tcase_add_test(tc, test_export_helpers);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
