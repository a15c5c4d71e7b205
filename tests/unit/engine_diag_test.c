/* Diagnostic zip: entries, masking of the connection-string password, crash-safe write. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "ferry/engine/diag.h"
#include "ferry/fs.h"

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/ferry-diag-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    ferry_fs_rm_rf(root, NULL);
}

static char *entry(zip_t *z, const char *name)
{
    zip_stat_t st;
    if (zip_stat(z, name, 0, &st) != 0)
        ck_abort_msg("entry %s missing", name);
    char *buf = calloc(1, st.size + 1);
    zip_file_t *f = zip_fopen(z, name, 0);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(zip_fread(f, buf, st.size), (zip_int64_t)st.size);
    zip_fclose(f);
    return buf;
}

START_TEST(zip_has_every_part_and_no_password)
{
    const char *json =
        "{\"service\": {\"control\": \"command\", \"stopCommand\": \"kill-it\", \"startCommand\": \"s\","
        " \"statusCommand\": \"echo status-output-marker; exit 0\"},"
        " \"backup\": {\"db\": {\"engine\": \"mssql\", \"sqlConnectionString\":"
        " \"Server=db,1433;Database=master;User Id=sa;Password={Hunter;2};TrustServerCertificate=True;\"}}}";
    ferry_node_config_t *cfg = NULL;
    ferry_svcctl_t *svc = NULL;
    ferry_err_t e = {0};
    ck_assert_int_eq(ferry_node_config_parse(json, strlen(json), &cfg, &e), FERRY_OK);
    ck_assert_int_eq(ferry_svcctl_new(cfg, &svc, &e), FERRY_OK);
    char log[300];
    snprintf(log, sizeof(log), "%s/agent.log", root);
    FILE *f = fopen(log, "w");
    for (int i = 0; i < 20000; i++)
        fprintf(f, "line %d connecting with Password=Hunter;2 ...\n", i);
    fprintf(f, "the last line\n");
    fclose(f);
    char out[300], path[1024];
    snprintf(out, sizeof(out), "%s/diag", root);
    ferry_diag_input_t in = {.out_dir = out,
                             .version = "1.25.12.13(12521)",
                             .code = FERRY_E_SERVICE_STOP_TIMEOUT,
                             .message = "stop service 'x': still running after 120 s",
                             .started = 1700000000,
                             .svc = svc,
                             .agent_log = log,
                             .config = cfg};
    ck_assert_int_eq(ferry_diag_write(&in, path, sizeof(path), &e), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(path, "/diag/diag-1.25.12.13(12521)-"));
    ck_assert_ptr_nonnull(strstr(path, ".zip"));
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert(!ferry_fs_exists(tmp));

    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    ck_assert_ptr_nonnull(z);
    char *summary = entry(z, "summary.txt");
    ck_assert_ptr_nonnull(strstr(summary, "error: E_SERVICE_STOP_TIMEOUT"));
    ck_assert_ptr_nonnull(strstr(summary, "still running after 120 s"));
    ck_assert_ptr_nonnull(strstr(summary, "started: 2023-11-14T22:13:20Z"));
    char *status = entry(z, "service-status.txt");
    ck_assert_ptr_nonnull(strstr(status, "status-output-marker"));
    char *ps = entry(z, "processes.txt");
    ck_assert_uint_gt(strlen(ps), 20);
    char *tail = entry(z, "agent-log-tail.txt");
    ck_assert_ptr_nonnull(strstr(tail, "the last line"));
    ck_assert_uint_le(strlen(tail), FERRY_DIAG_LOG_TAIL);
    char *cfgdump = entry(z, "effective-config.json");
    ck_assert_ptr_nonnull(strstr(cfgdump, "Password=***"));
    ck_assert_ptr_nonnull(strstr(cfgdump, "\"stopCommand\": \"kill-it\""));
    const char *all[] = {summary, status, ps, tail, cfgdump};
    for (size_t i = 0; i < 5; i++)
        ck_assert_ptr_null(strstr(all[i], "Hunter"));
    for (size_t i = 0; i < 5; i++)
        free((void *)all[i]);
    zip_close(z);

    /* A second file in the same second gets its own name. */
    char path2[1024];
    in.failed = 0;
    ck_assert_int_eq(ferry_diag_write(&in, path2, sizeof(path2), &e), FERRY_OK);
    ck_assert_str_ne(path, path2);
    ferry_svcctl_free(svc);
    ferry_node_config_free(cfg);
}
END_TEST

START_TEST(missing_inputs_become_notes)
{
    char out[300], path[1024];
    ferry_err_t e = {0};
    snprintf(out, sizeof(out), "%s/d", root);
    ferry_diag_input_t in = {.out_dir = out,
                             .version = "../evil/1.0",
                             .code = FERRY_E_SERVICE_STOP_FAILED,
                             .agent_log = "/nonexistent/agent.log"};
    ck_assert_int_eq(ferry_diag_write(&in, path, sizeof(path), &e), FERRY_OK);
    ck_assert_ptr_nonnull(strstr(path, "/d/diag-.._evil_1.0-"));
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY, &zerr);
    ck_assert_ptr_nonnull(z);
    char *t = entry(z, "agent-log-tail.txt");
    ck_assert_ptr_nonnull(strstr(t, "could not be opened"));
    free(t);
    t = entry(z, "service-status.txt");
    ck_assert_ptr_nonnull(strstr(t, "no service control given"));
    free(t);
    zip_close(z);
    in.out_dir = NULL;
    ck_assert_int_eq(ferry_diag_write(&in, path, sizeof(path), &e), FERRY_E_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("diag");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, zip_has_every_part_and_no_password);
    tcase_add_test(tc, missing_inputs_become_notes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
