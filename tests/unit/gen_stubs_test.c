/*
 * protoc-gen-ferry's output for tests/proto/ferrytest/v1/test.proto: the method
 * tables and JSON side tables describe the IDL exactly, the server trampolines reach
 * the right typed handler, and the client stubs pass the right method and messages
 * (against recording fakes of the runtimes, gen_fake_runtime.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferrytest/v1/test.ferry-client.h"
#include "ferrytest/v1/test.ferry-server.h"
#include "gen_fake_runtime.h"

#define TS(x) ferrytest_v1_test_service_##x

static const ferry_json_msg_info_t *find_msg(const ferry_json_file_info_t *f,
                                             const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < f->n_messages; i++) {
        if (f->messages[i].desc == d) {
            return &f->messages[i];
        }
    }
    return NULL;
}

static const char *json_name(const ferry_json_msg_info_t *m, uint32_t number)
{
    for (size_t i = 0; i < m->n_fields; i++) {
        if (m->fields[i].number == number) {
            return m->fields[i].json_name;
        }
    }
    return NULL;
}

START_TEST(method_table_matches_idl)
{
    static const struct {
        int idx;
        const char *path, *name;
        ferry_rpc_kind_t kind;
        ferry_rpc_idempotency_t idem;
        const ProtobufCMessageDescriptor *in, *out;
    } want[] = {
        {FERRYTEST_V1_TEST_SERVICE_ECHO, "/ferrytest.v1.TestService/Echo", "Echo", FERRY_RPC_UNARY,
         FERRY_RPC_NO_SIDE_EFFECTS, &ferrytest__v1__echo_request__descriptor,
         &ferrytest__v1__echo_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_FAIL, "/ferrytest.v1.TestService/Fail", "Fail", FERRY_RPC_UNARY,
         FERRY_RPC_IDEMPOTENCY_UNKNOWN, &ferrytest__v1__fail_request__descriptor,
         &ferrytest__v1__fail_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_PING, "/ferrytest.v1.TestService/Ping", "Ping", FERRY_RPC_UNARY,
         FERRY_RPC_NO_SIDE_EFFECTS, &ferrytest__v1__ping_request__descriptor,
         &ferrytest__v1__ping_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_SLOW, "/ferrytest.v1.TestService/Slow", "Slow", FERRY_RPC_UNARY,
         FERRY_RPC_IDEMPOTENCY_UNKNOWN, &ferrytest__v1__slow_request__descriptor,
         &ferrytest__v1__slow_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_COUNT, "/ferrytest.v1.TestService/Count", "Count",
         FERRY_RPC_SERVER_STREAMING, FERRY_RPC_IDEMPOTENCY_UNKNOWN, &ferrytest__v1__count_request__descriptor,
         &ferrytest__v1__count_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_SUM, "/ferrytest.v1.TestService/Sum", "Sum", FERRY_RPC_CLIENT_STREAMING,
         FERRY_RPC_IDEMPOTENCY_UNKNOWN, &ferrytest__v1__sum_request__descriptor,
         &ferrytest__v1__sum_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_BLOB, "/ferrytest.v1.TestService/Blob", "Blob", FERRY_RPC_UNARY,
         FERRY_RPC_IDEMPOTENT, &ferrytest__v1__blob_request__descriptor,
         &ferrytest__v1__blob_response__descriptor},
        {FERRYTEST_V1_TEST_SERVICE_FLAKY, "/ferrytest.v1.TestService/Flaky", "Flaky", FERRY_RPC_UNARY,
         FERRY_RPC_IDEMPOTENT, &ferrytest__v1__flaky_request__descriptor,
         &ferrytest__v1__flaky_response__descriptor},
    };
    const ferry_rpc_service_desc_t *d = &TS(desc);

    ck_assert_str_eq(d->name, "ferrytest.v1.TestService");
    ck_assert_uint_eq(d->n_methods, FERRYTEST_V1_TEST_SERVICE_METHOD_COUNT);
    ck_assert_uint_eq(d->n_methods, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < d->n_methods; i++) {
        const ferry_rpc_method_t *m = &d->methods[want[i].idx];
        ck_assert_str_eq(m->path, want[i].path);
        ck_assert_str_eq(m->service, "ferrytest.v1.TestService");
        ck_assert_str_eq(m->name, want[i].name);
        ck_assert_int_eq(m->kind, want[i].kind);
        ck_assert_int_eq(m->idempotency, want[i].idem);
        ck_assert_ptr_eq(m->input, want[i].in);
        ck_assert_ptr_eq(m->output, want[i].out);
    }

    /* Bidi methods are described, with their kind. */
    ck_assert_uint_eq(ferrytest_v1_test_bidi_service_desc.n_methods, 1);
    ck_assert_int_eq(ferrytest_v1_test_bidi_service_desc.methods[FERRYTEST_V1_TEST_BIDI_SERVICE_CHAT].kind,
                     FERRY_RPC_BIDI_STREAMING);
    ck_assert_str_eq(ferrytest_v1_test_bidi_service_desc.methods[0].path,
                     "/ferrytest.v1.TestBidiService/Chat");
}
END_TEST

START_TEST(json_side_tables)
{
    const ferry_json_file_info_t *f = &ferrytest_v1_test_proto_json;
    const ferry_json_msg_info_t *payload, *inner, *entry, *empty;

    ck_assert_str_eq(f->proto_file, "ferrytest/v1/test.proto");
    payload = find_msg(f, &ferrytest__v1__payload__descriptor);
    ck_assert_ptr_nonnull(payload);
    ck_assert_int_eq(payload->is_map_entry, 0);
    ck_assert_uint_eq(payload->n_fields, ferrytest__v1__payload__descriptor.n_fields);
    ck_assert_str_eq(json_name(payload, 2), "int64Value");
    ck_assert_str_eq(json_name(payload, 8), "choiceText");
    ck_assert_str_eq(json_name(payload, 15), "innerById");
    ck_assert_str_eq(json_name(payload, 1), "text");
    ck_assert_str_eq(json_name(payload, 16), "customNAME"); /* [json_name = "customNAME"] */

    /* Nested messages and map entries are listed with their own flags. */
    inner = find_msg(f, &ferrytest__v1__payload__inner__descriptor);
    ck_assert_ptr_nonnull(inner);
    ck_assert_int_eq(inner->is_map_entry, 0);
    entry = find_msg(f, &ferrytest__v1__payload__counters_entry__descriptor);
    ck_assert_ptr_nonnull(entry);
    ck_assert_int_eq(entry->is_map_entry, 1);
    ck_assert_str_eq(json_name(entry, 1), "key");
    ck_assert_int_eq(find_msg(f, &ferrytest__v1__echo_response__headers_entry__descriptor)->is_map_entry, 1);

    /* A message without fields still has a row. */
    empty = find_msg(f, &ferrytest__v1__fail_response__descriptor);
    ck_assert_ptr_nonnull(empty);
    ck_assert_uint_eq(empty->n_fields, 0);

    /* Every message of the file is there: 22 top-level and nested ones, 3 map entries. */
    ck_assert_uint_eq(f->n_messages, 22);

    /* The service lists its own file's table and its imports' (Timestamp), NULL-terminated. */
    ck_assert_ptr_eq(TS(desc).json_files[0], f);
    ck_assert_str_eq(TS(desc).json_files[1]->proto_file, "google/protobuf/timestamp.proto");
    ck_assert_ptr_null(TS(desc).json_files[2]);
    ck_assert_str_eq(google_protobuf_timestamp_proto_json.messages[0].fields[0].json_name, "seconds");
}
END_TEST

/* ---- server trampolines -------------------------------------------------- */

static int hits_echo, hits_count, hits_sum;
static int64_t sum_seen;
static void *user_seen;

static void on_echo(ferry_rpc_call_t *call, const Ferrytest__V1__EchoRequest *req, void *user)
{
    Ferrytest__V1__EchoResponse resp = FERRYTEST__V1__ECHO_RESPONSE__INIT;
    hits_echo++;
    user_seen = user;
    resp.payload = req->payload;
    TS(echo_reply)(call, &resp);
}

static void on_count(ferry_rpc_call_t *call, const Ferrytest__V1__CountRequest *req, void *user)
{
    Ferrytest__V1__CountResponse msg = FERRYTEST__V1__COUNT_RESPONSE__INIT;
    (void)user;
    hits_count++;
    for (uint32_t i = 0; i < req->n; i++) {
        msg.index = i;
        TS(count_send)(call, &msg);
    }
}

static void on_sum(ferry_rpc_call_t *call, const Ferrytest__V1__SumRequest *const *reqs, size_t n, void *user)
{
    Ferrytest__V1__SumResponse resp = FERRYTEST__V1__SUM_RESPONSE__INIT;
    (void)user;
    hits_sum++;
    for (size_t i = 0; i < n; i++) {
        resp.total += reqs[i]->value;
    }
    resp.count = (uint32_t)n;
    sum_seen = resp.total;
    TS(sum_reply)(call, &resp);
}

START_TEST(trampolines_reach_typed_handlers)
{
    static int marker;
    ferrytest_v1_test_service_server_t impl = {
        .echo = on_echo, .count = on_count, .sum = on_sum, .user = &marker};
    ferry_err_t err = {0};
    Ferrytest__V1__EchoRequest echo = FERRYTEST__V1__ECHO_REQUEST__INIT;
    Ferrytest__V1__CountRequest count = FERRYTEST__V1__COUNT_REQUEST__INIT;
    Ferrytest__V1__SumRequest s1 = FERRYTEST__V1__SUM_REQUEST__INIT, s2 = FERRYTEST__V1__SUM_REQUEST__INIT;
    const ProtobufCMessage *one[1];
    const ProtobufCMessage *two[2] = {&s1.base, &s2.base};
    struct ferry_rpc_call call = {0};

    ck_assert_int_eq(TS(server_register)(NULL, &impl, &err), FERRY_OK);
    ck_assert_ptr_eq(fake_srv_desc, &TS(desc));
    ck_assert_ptr_eq(fake_srv_user, &impl);

    one[0] = &echo.base;
    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_ECHO](&call, one, 1, fake_srv_user);
    ck_assert_int_eq(hits_echo, 1);
    ck_assert_ptr_eq(user_seen, &marker);
    ck_assert_int_eq(call.failed, FERRY_RPC_OK);
    ck_assert_ptr_eq(call.replied, &ferrytest__v1__echo_response__descriptor);

    memset(&call, 0, sizeof(call));
    count.n = 3;
    one[0] = &count.base;
    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_COUNT](&call, one, 1, fake_srv_user);
    ck_assert_int_eq(hits_count, 1);
    ck_assert_int_eq(call.n_sent, 3);
    ck_assert_ptr_eq(call.replied, &ferrytest__v1__count_response__descriptor);

    /* Client streaming: every message reaches the handler as a typed array. */
    memset(&call, 0, sizeof(call));
    s1.value = 40;
    s2.value = 2;
    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_SUM](&call, two, 2, fake_srv_user);
    ck_assert_int_eq(hits_sum, 1);
    ck_assert_int_eq(sum_seen, 42);
    ck_assert_ptr_eq(call.replied, &ferrytest__v1__sum_response__descriptor);
    fake_call_end(&call);

    /* Zero messages is a valid client stream. */
    memset(&call, 0, sizeof(call));
    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_SUM](&call, NULL, 0, fake_srv_user);
    ck_assert_int_eq(hits_sum, 2);
    ck_assert_int_eq(sum_seen, 0);
    fake_call_end(&call);
}
END_TEST

START_TEST(missing_handler_and_wrong_type_fail_cleanly)
{
    ferrytest_v1_test_service_server_t impl = {.echo = on_echo};
    ferry_err_t err = {0};
    Ferrytest__V1__SlowRequest slow = FERRYTEST__V1__SLOW_REQUEST__INIT;
    const ProtobufCMessage *one[1] = {&slow.base};
    struct ferry_rpc_call call = {0};

    ck_assert_int_eq(TS(server_register)(NULL, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_int_eq(TS(server_register)(NULL, &impl, &err), FERRY_OK);

    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_SLOW](&call, one, 1, fake_srv_user);
    ck_assert_int_eq(call.failed, FERRY_RPC_UNIMPLEMENTED);
    ck_assert_ptr_nonnull(strstr(call.fail_msg, "/ferrytest.v1.TestService/Slow"));

    /* A SlowRequest handed to Echo's trampoline is refused, never reinterpreted. */
    memset(&call, 0, sizeof(call));
    fake_srv_handlers[FERRYTEST_V1_TEST_SERVICE_ECHO](&call, one, 1, fake_srv_user);
    ck_assert_int_eq(call.failed, FERRY_RPC_INTERNAL);

    /* Bidi methods have no trampoline: the runtime answers unimplemented. */
    ck_assert_int_eq(ferrytest_v1_test_bidi_service_server_register(
                         NULL, &(ferrytest_v1_test_bidi_service_server_t){0}, &err),
                     FERRY_OK);
    ck_assert_ptr_null(fake_srv_handlers[FERRYTEST_V1_TEST_BIDI_SERVICE_CHAT]);
}
END_TEST

/* ---- client stubs -------------------------------------------------------- */

static int on_count_msg(Ferrytest__V1__CountResponse *msg, void *user)
{
    int *n = user;
    ck_assert_ptr_eq(msg->base.descriptor, &ferrytest__v1__count_response__descriptor);
    ck_assert_uint_eq(msg->index, 7);
    (*n)++;
    protobuf_c_message_free_unpacked(&msg->base, NULL);
    return 0;
}

START_TEST(client_stubs_pass_method_and_messages)
{
    Ferrytest__V1__EchoRequest req = FERRYTEST__V1__ECHO_REQUEST__INIT;
    Ferrytest__V1__EchoResponse canned = FERRYTEST__V1__ECHO_RESPONSE__INIT;
    Ferrytest__V1__EchoResponse *resp = NULL;
    Ferrytest__V1__CountRequest creq = FERRYTEST__V1__COUNT_REQUEST__INIT;
    Ferrytest__V1__CountResponse cmsg = FERRYTEST__V1__COUNT_RESPONSE__INIT;
    Ferrytest__V1__SumRequest s1 = FERRYTEST__V1__SUM_REQUEST__INIT, s2 = FERRYTEST__V1__SUM_REQUEST__INIT;
    const Ferrytest__V1__SumRequest *sums[2] = {&s1, &s2};
    Ferrytest__V1__SumResponse scanned = FERRYTEST__V1__SUM_RESPONSE__INIT;
    Ferrytest__V1__SumResponse *sresp = NULL;
    ferry_rpc_status_t st = {0};
    int got = 0;

    fake_cli_code = FERRY_RPC_OK;
    fake_cli_resp = &canned.base;
    ck_assert_int_eq(fake_cli_registered, 0);
    ck_assert_int_eq(TS(echo)(NULL, &req, &resp, NULL, &st), FERRY_RPC_OK);
    /* The first call registered the JSON side tables of the file's two services
     * (TestService, then TestBidiService) with the runtime. */
    ck_assert_int_eq(fake_cli_registered, 2);
    ck_assert_ptr_eq(fake_cli_registered_desc, &ferrytest_v1_test_bidi_service_desc);
    ck_assert_ptr_eq(fake_cli_method, &TS(desc).methods[FERRYTEST_V1_TEST_SERVICE_ECHO]);
    ck_assert_ptr_eq(fake_cli_req, &req.base);
    ck_assert_ptr_nonnull(resp);
    ck_assert_ptr_eq(resp->base.descriptor, &ferrytest__v1__echo_response__descriptor);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    fake_cli_code = FERRY_RPC_NOT_FOUND;
    ck_assert_int_eq(TS(echo)(NULL, &req, &resp, NULL, &st), FERRY_RPC_NOT_FOUND);
    ck_assert_ptr_null(resp);

    fake_cli_code = FERRY_RPC_OK;
    cmsg.index = 7;
    fake_cli_resp = &cmsg.base;
    fake_cli_stream_n = 3;
    ck_assert_int_eq(TS(count)(NULL, &creq, on_count_msg, &got, NULL, &st), FERRY_RPC_OK);
    ck_assert_ptr_eq(fake_cli_method, &TS(desc).methods[FERRYTEST_V1_TEST_SERVICE_COUNT]);
    ck_assert_int_eq(got, 3);

    scanned.total = 5;
    fake_cli_resp = &scanned.base;
    ck_assert_int_eq(TS(sum)(NULL, sums, 2, &sresp, NULL, &st), FERRY_RPC_OK);
    ck_assert_ptr_eq(fake_cli_method, &TS(desc).methods[FERRYTEST_V1_TEST_SERVICE_SUM]);
    ck_assert_uint_eq(fake_cli_n_reqs, 2);
    ck_assert_ptr_eq(fake_cli_reqs[0], &s1.base);
    ck_assert_ptr_eq(fake_cli_reqs[1], &s2.base);
    ck_assert_int_eq(sresp->total, 5);
    protobuf_c_message_free_unpacked(&sresp->base, NULL);
    /* ... once: later calls of any kind do not register again. */
    ck_assert_int_eq(fake_cli_registered, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gen_stubs");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, method_table_matches_idl);
    tcase_add_test(tc, json_side_tables);
    tcase_add_test(tc, trampolines_reach_typed_handlers);
    tcase_add_test(tc, missing_handler_and_wrong_type_fail_cleanly);
    tcase_add_test(tc, client_stubs_pass_method_and_messages);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
