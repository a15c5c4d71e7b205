/*
 * "A change in the IDL changes the stubs": runs protoc with protoc-gen-ferry on a
 * small proto, then on a version with an added method and field, and checks that
 * the outputs change exactly as expected. Also checks that IDL comments reach the
 * headers and that name collisions are refused with a clear message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *rel, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Reads <dir>/<out>/<rel> into a NUL-terminated buffer (free()). */
static char *read_out(const char *out, const char *rel)
{
    char path[512];
    FILE *f;
    char *buf = calloc(1, 1 << 20);
    size_t n;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, out, rel);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "missing output %s", path);
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs protoc + the plugin on <dir>/src/demo/v1/demo.proto into <dir>/<out>; returns the exit status. */
static int generate(const char *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s/%s' && '%s' -I'%s/src' -I'%s' --plugin=protoc-gen-ferry='%s' --ferry_out='%s/%s' "
             "'%s/src/demo/v1/demo.proto' 2>'%s/%s.err'",
             dir, out, FERRY_PROTOC, dir, FERRY_PROTOBUF_INCLUDE, FERRY_PROTOC_GEN_FERRY, dir, out, dir, dir,
             out);
    return system(cmd);
}

static const char *v1 = "syntax = \"proto3\";\n"
                        "package demo.v1;\n"
                        "// A greeting request.\n"
                        "message HelloRequest { string user_name = 1; }\n"
                        "message HelloResponse { string text = 1; }\n"
                        "// Greets people.\n"
                        "service Greeter {\n"
                        "  // Says hello.\n"
                        "  rpc SayHello(HelloRequest) returns (HelloResponse);\n"
                        "}\n";

/* v1 plus a field and a method whose name is a C keyword once lower-cased. */
static const char *v2 = "syntax = \"proto3\";\n"
                        "package demo.v1;\n"
                        "message HelloRequest { string user_name = 1; string display_name = 2; }\n"
                        "message HelloResponse { string text = 1; }\n"
                        "service Greeter {\n"
                        "  // Says hello.\n"
                        "  rpc SayHello(HelloRequest) returns (HelloResponse);\n"
                        "  // Registers a name.\n"
                        "  rpc Register(HelloRequest) returns (stream HelloResponse);\n"
                        "}\n";

/* Two methods mangling to the same C name. */
static const char *clash = "syntax = \"proto3\";\n"
                           "package demo.v1;\n"
                           "message M { string a = 1; }\n"
                           "service Greeter {\n"
                           "  rpc GetURL(M) returns (M);\n"
                           "  rpc GetUrl(M) returns (M);\n"
                           "}\n";

static void setup(void)
{
    char path[512];
    snprintf(dir, sizeof(dir), "/tmp/ferry-gen-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/src/demo/v1", dir);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
        ck_assert_int_eq(system(cmd), 0);
    }
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(added_method_and_field_change_outputs)
{
    char *h1, *h2, *c1, *c2, *cli1, *cli2, *srv2;

    write_file("src/demo/v1/demo.proto", v1);
    ck_assert_int_eq(generate("out1"), 0);
    write_file("src/demo/v1/demo.proto", v2);
    ck_assert_int_eq(generate("out2"), 0);

    h1 = read_out("out1", "demo/v1/demo.ferry.h");
    h2 = read_out("out2", "demo/v1/demo.ferry.h");
    c1 = read_out("out1", "demo/v1/demo.ferry.c");
    c2 = read_out("out2", "demo/v1/demo.ferry.c");
    cli1 = read_out("out1", "demo/v1/demo.ferry-client.h");
    cli2 = read_out("out2", "demo/v1/demo.ferry-client.h");
    srv2 = read_out("out2", "demo/v1/demo.ferry-server.h");

    /* v1: one method, its comment carried into the headers. */
    ck_assert_ptr_nonnull(strstr(h1, "DEMO_V1_GREETER_SAY_HELLO = 0,"));
    ck_assert_ptr_nonnull(strstr(h1, "DEMO_V1_GREETER_METHOD_COUNT = 1"));
    ck_assert_ptr_null(strstr(h1, "DEMO_V1_GREETER_REGISTER"));
    ck_assert_ptr_nonnull(strstr(h1, " * Greets people."));
    ck_assert_ptr_nonnull(strstr(cli1, " * Says hello."));
    ck_assert_ptr_nonnull(strstr(cli1, "ferry_rpc_code_t demo_v1_greeter_say_hello(ferry_rpc_client_t *c"));
    ck_assert_ptr_null(strstr(cli1, "demo_v1_greeter_register("));
    ck_assert_ptr_nonnull(strstr(c1, "{1, \"userName\"}"));
    ck_assert_ptr_null(strstr(c1, "displayName"));

    /* v2: the new method has an index, a stub, a handler slot and a send helper... */
    ck_assert_ptr_nonnull(strstr(h2, "DEMO_V1_GREETER_REGISTER = 1,"));
    ck_assert_ptr_nonnull(strstr(h2, "DEMO_V1_GREETER_METHOD_COUNT = 2"));
    ck_assert_ptr_nonnull(strstr(c2, "\"/demo.v1.Greeter/Register\", \"demo.v1.Greeter\", \"Register\", "
                                     "FERRY_RPC_SERVER_STREAMING"));
    ck_assert_ptr_nonnull(
        strstr(cli2, "typedef int (*demo_v1_greeter_register_cb)(Demo__V1__HelloResponse *msg"));
    ck_assert_ptr_nonnull(strstr(cli2, "ferry_rpc_code_t demo_v1_greeter_register(ferry_rpc_client_t *c"));
    ck_assert_ptr_nonnull(strstr(cli2, " * Registers a name."));
    /* ...whose struct member avoids the C keyword. */
    ck_assert_ptr_nonnull(
        strstr(srv2, "void (*register_)(ferry_rpc_call_t *call, const Demo__V1__HelloRequest *req"));
    ck_assert_ptr_nonnull(strstr(srv2, "demo_v1_greeter_register_send(ferry_rpc_call_t *call"));
    /* ...and the new field has its JSON name. */
    ck_assert_ptr_nonnull(strstr(c2, "{2, \"displayName\"}"));

    free(h1);
    free(h2);
    free(c1);
    free(c2);
    free(cli1);
    free(cli2);
    free(srv2);
}
END_TEST

START_TEST(name_collision_is_refused)
{
    char *err;
    write_file("src/demo/v1/demo.proto", clash);
    ck_assert_int_ne(generate("out3"), 0);
    err = read_out(".", "out3.err");
    ck_assert_msg(strstr(err, "same C name") != NULL, "unexpected protoc output: %s", err);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_idl_change");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, added_method_and_field_change_outputs);
    tcase_add_test(tc, name_collision_is_refused);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
