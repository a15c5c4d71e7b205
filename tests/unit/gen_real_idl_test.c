/*
 * The upstream grpc.health.v1 health.proto (an IDL nobody here wrote) goes through
 * protoc-c + protoc-gen-ferry and yields the expected table; its server and client
 * headers compile. (Ferry's own IDL is compiled by the ferry_idl* libraries.)
 */
#include <check.h>
#include <stdlib.h>

#include "grpc/health/v1/health.ferry-client.h"
#include "grpc/health/v1/health.ferry-server.h"

START_TEST(health_table)
{
    const ferry_rpc_service_desc_t *d = &grpc_health_v1_health_desc;
    const ferry_rpc_method_t *check = &d->methods[GRPC_HEALTH_V1_HEALTH_CHECK];
    const ferry_rpc_method_t *watch = &d->methods[GRPC_HEALTH_V1_HEALTH_WATCH];

    ck_assert_str_eq(d->name, "grpc.health.v1.Health");
    ck_assert_str_eq(check->path, "/grpc.health.v1.Health/Check");
    ck_assert_int_eq(check->kind, FERRY_RPC_UNARY);
    ck_assert_ptr_eq(check->input, &grpc__health__v1__health_check_request__descriptor);
    ck_assert_ptr_eq(check->output, &grpc__health__v1__health_check_response__descriptor);
    ck_assert_str_eq(watch->path, "/grpc.health.v1.Health/Watch");
    ck_assert_int_eq(watch->kind, FERRY_RPC_SERVER_STREAMING);
    ck_assert_ptr_eq(d->json_files[0], &grpc_health_v1_health_proto_json);

    /* The typed interface exists with the expected shapes. */
    grpc_health_v1_health_server_t impl = {0};
    ck_assert_ptr_null(impl.check);
    ck_assert_ptr_null(impl.watch);
    grpc_health_v1_health_watch_cb cb = NULL;
    ck_assert_ptr_null(cb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_real_idl");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, health_table);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
