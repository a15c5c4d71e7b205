/*
 * JSON side tables are registered by the runtimes themselves: a field whose json_name
 * differs from the default lowerCamelCase derivation (Payload.custom_named, json_name
 * "customNAME") round-trips between the generated C client stubs, in a process that
 * never registers anything by hand, and the real server runtime in another process
 * (rpc_test_server), over JSON with Connect and gRPC-Web.
 *
 * Before the first stub call this process has no tables, so the codec falls back to
 * "customNamed"; the server, whose tables ferry_rpc_server_register() installed, would
 * refuse that name as unknown. The round trip therefore proves both registrations.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/json.h"
#include "ferry/rpc_client.h"
#include "ferrytest/v1/test.ferry-client.h"

static pid_t g_server;
static char g_url[64];
static char g_dir[] = "/tmp/ferry-jsonname-XXXXXX";

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void server_up(void)
{
    char port_file[128];
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(port_file, sizeof(port_file), "%s/port", g_dir);
    g_server = fork();
    ck_assert_int_ge(g_server, 0);
    if (g_server == 0) {
        execl(FERRY_RPC_TEST_SERVER, FERRY_RPC_TEST_SERVER, "--host", "127.0.0.1", "--port", "0",
              "--port-file", port_file, "--threads", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port = 0;
        if (f != NULL) {
            int n = fscanf(f, "%u", &port);
            fclose(f);
            if (n == 1 && port > 0) {
                snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%u", port);
                return;
            }
        }
        sleep_ms(25);
    }
    ck_abort_msg("rpc_test_server did not start");
}

static void server_down(void)
{
    char path[128];
    int status;
    if (g_server > 0) {
        kill(g_server, SIGTERM);
        waitpid(g_server, &status, 0);
    }
    snprintf(path, sizeof(path), "%s/port", g_dir);
    unlink(path);
    rmdir(g_dir);
}

/* Encodes a Payload carrying custom_named and reports whether |name| is the key used. */
static int encodes_with(const char *name)
{
    Ferrytest__V1__Payload p = FERRYTEST__V1__PAYLOAD__INIT;
    char *json = NULL;
    ferry_err_t err = {0};
    char key[64];
    p.custom_named = "v";
    ck_assert_int_eq(ferry_json_encode(&p.base, 0, &json, NULL, &err), FERRY_OK);
    snprintf(key, sizeof(key), "\"%s\":", name);
    int found = strstr(json, key) != NULL;
    free(json);
    return found;
}

static void round_trip(ferry_rpc_protocol_t protocol)
{
    ferry_rpc_client_config_t cfg = {0};
    ferry_err_t err = {0};
    cfg.base_url = g_url;
    cfg.codec = FERRY_RPC_CODEC_JSON;
    cfg.protocol = protocol;
    cfg.default_timeout_ms = 10000;
    ferry_rpc_client_t *c = ferry_rpc_client_new(&cfg, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);

    Ferrytest__V1__Payload p = FERRYTEST__V1__PAYLOAD__INIT;
    Ferrytest__V1__EchoRequest req = FERRYTEST__V1__ECHO_REQUEST__INIT;
    Ferrytest__V1__EchoResponse *resp = NULL;
    ferry_rpc_status_t st = {0};
    p.text = "t";
    p.custom_named = "custom \xe2\x9c\x93";
    req.payload = &p;
    ferry_rpc_code_t code = ferrytest_v1_test_service_echo(c, &req, &resp, NULL, &st);
    ck_assert_msg(code == FERRY_RPC_OK, "echo: %s: %s", ferry_rpc_code_name(code), st.message);
    ck_assert_ptr_nonnull(resp->payload);
    ck_assert_str_eq(resp->payload->text, "t");
    ck_assert_str_eq(resp->payload->custom_named, "custom \xe2\x9c\x93");
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ferry_rpc_client_free(c);
}

START_TEST(custom_json_name_round_trips)
{
    /* Nothing registered yet in this process: the derived name. */
    ck_assert(encodes_with("customNamed"));
    round_trip(FERRY_RPC_PROTOCOL_CONNECT);
    /* The stub registered the generated tables. */
    ck_assert(encodes_with("customNAME"));
    ck_assert(!encodes_with("customNamed"));
    round_trip(FERRY_RPC_PROTOCOL_GRPC_WEB);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc_jsonname");
    TCase *tc = tcase_create("jsonname");
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, custom_json_name_round_trips);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
