/* proto3 JSON codec: the well-known types as top-level messages (Timestamp, Duration,
 * Empty, wrappers, FieldMask), with their range edges. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/json.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

typedef struct sn_case {
    const char *in;
    long long seconds;
    int nanos;
    const char *canonical; /* NULL: same as in */
} sn_case_t;

static const sn_case_t ts_cases[] = {
    {"\"1970-01-01T00:00:00Z\"", 0, 0, NULL},
    {"\"1970-01-01T00:00:00.000Z\"", 0, 0, "\"1970-01-01T00:00:00Z\""},
    {"\"0001-01-01T00:00:00Z\"", -62135596800LL, 0, NULL},
    {"\"9999-12-31T23:59:59.999999999Z\"", 253402300799LL, 999999999, NULL},
    {"\"1969-12-31T23:59:59.999Z\"", -1, 999000000, NULL},
    {"\"2000-02-29T12:00:00.000001Z\"", 951825600, 1000, NULL},
    {"\"2000-02-29T12:00:00.1Z\"", 951825600, 100000000, "\"2000-02-29T12:00:00.100Z\""},
    {"\"2000-02-29T12:00:00.12345678Z\"", 951825600, 123456780, "\"2000-02-29T12:00:00.123456780Z\""},
    {"\"2000-03-01T00:30:00+01:00\"", 951867000, 0, "\"2000-02-29T23:30:00Z\""},
    {"\"0001-01-01T01:00:00+01:00\"", -62135596800LL, 0, "\"0001-01-01T00:00:00Z\""},
    {"\"9999-12-31T22:59:59-01:00\"", 253402300799LL, 0, "\"9999-12-31T23:59:59Z\""},
    {"\"2038-01-19T03:14:08Z\"", 2147483648LL, 0, NULL},
};

static const sn_case_t dur_cases[] = {
    {"\"0s\"", 0, 0, NULL},
    {"\"1.5s\"", 1, 500000000, "\"1.500s\""},
    {"\"-1.5s\"", -1, -500000000, "\"-1.500s\""},
    {"\"-0.5s\"", 0, -500000000, "\"-0.500s\""},
    {"\"0.000000001s\"", 0, 1, NULL},
    {"\"-0.000001s\"", 0, -1000, NULL},
    {"\"315576000000s\"", 315576000000LL, 0, NULL},
    {"\"-315576000000.999999999s\"", -315576000000LL, -999999999, NULL},
    {"\"-0s\"", 0, 0, "\"0s\""},
    {"\"0010s\"", 10, 0, "\"10s\""},
};

static void decode_sn(const ProtobufCMessageDescriptor *d, const sn_case_t *tc)
{
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ck_assert_msg(ferry_json_decode(d, tc->in, strlen(tc->in), &m, &err) == FERRY_OK, "%s: %s", tc->in,
                  err.msg);
    long long s;
    int n;
    if (d == &google__protobuf__timestamp__descriptor) {
        s = ((Google__Protobuf__Timestamp *)m)->seconds;
        n = ((Google__Protobuf__Timestamp *)m)->nanos;
    } else {
        s = ((Google__Protobuf__Duration *)m)->seconds;
        n = ((Google__Protobuf__Duration *)m)->nanos;
    }
    ck_assert_msg(s == tc->seconds && n == tc->nanos, "%s: got %lld/%d", tc->in, s, n);
    char *out = NULL;
    ck_assert_int_eq(ferry_json_encode(m, 0, &out, NULL, &err), FERRY_OK);
    ck_assert_str_eq(out, tc->canonical ? tc->canonical : tc->in);
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
}

START_TEST(timestamps)
{
    decode_sn(&google__protobuf__timestamp__descriptor, &ts_cases[_i]);
}
END_TEST

START_TEST(durations)
{
    decode_sn(&google__protobuf__duration__descriptor, &dur_cases[_i]);
}
END_TEST

/* Every day of 1600..2400 formats and parses back (civil calendar arithmetic). */
START_TEST(timestamp_calendar_sweep)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ferry_err_t err = {0};
    for (long long day = -135140; day < 157000; day += 7) {
        ts.seconds = day * 86400 + 3661;
        char *out = NULL;
        ck_assert_int_eq(ferry_json_encode(&ts.base, 0, &out, NULL, &err), FERRY_OK);
        ProtobufCMessage *m = NULL;
        ck_assert_msg(ferry_json_decode(&google__protobuf__timestamp__descriptor, out, strlen(out), &m,
                                        &err) == FERRY_OK,
                      "%s: %s", out, err.msg);
        ck_assert(((Google__Protobuf__Timestamp *)m)->seconds == ts.seconds);
        protobuf_c_message_free_unpacked(m, NULL);
        free(out);
    }
}
END_TEST

typedef struct top_case {
    const ProtobufCMessageDescriptor *desc;
    const char *in;
    const char *canonical; /* NULL: an error is expected */
} top_case_t;

static const top_case_t top_cases[] = {
    {&google__protobuf__empty__descriptor, "{}", "{}"},
    {&google__protobuf__empty__descriptor, "{\"x\":1}", NULL},
    {&google__protobuf__empty__descriptor, "null", NULL},
    {&google__protobuf__int64_value__descriptor, "5", "\"5\""},
    {&google__protobuf__int64_value__descriptor, "\"-9223372036854775808\"", "\"-9223372036854775808\""},
    {&google__protobuf__int64_value__descriptor, "0", "\"0\""},
    {&google__protobuf__int64_value__descriptor, "null", NULL},
    {&google__protobuf__int64_value__descriptor, "{\"value\":5}", NULL},
    {&google__protobuf__uint64_value__descriptor, "18446744073709551615", "\"18446744073709551615\""},
    {&google__protobuf__int32_value__descriptor, "\"-7\"", "-7"},
    {&google__protobuf__uint32_value__descriptor, "4294967295", "4294967295"},
    {&google__protobuf__uint32_value__descriptor, "4294967296", NULL},
    {&google__protobuf__bool_value__descriptor, "false", "false"},
    {&google__protobuf__bool_value__descriptor, "0", NULL},
    {&google__protobuf__string_value__descriptor, "\"\"", "\"\""},
    {&google__protobuf__string_value__descriptor, "\"x\\\"y\"", "\"x\\\"y\""},
    {&google__protobuf__bytes_value__descriptor, "\"_w\"", "\"/w==\""},
    {&google__protobuf__double_value__descriptor, "\"-Infinity\"", "\"-Infinity\""},
    {&google__protobuf__double_value__descriptor, "2.5", "2.5"},
    {&google__protobuf__float_value__descriptor, "0.1", "0.1"},
    {&google__protobuf__field_mask__descriptor, "\"a,b.cD,eFG\"", "\"a,b.cD,eFG\""},
    {&google__protobuf__field_mask__descriptor, "\"\"", "\"\""},
    {&google__protobuf__timestamp__descriptor, "\"1970-01-01T00:00:00Z\"", "\"1970-01-01T00:00:00Z\""},
    {&google__protobuf__timestamp__descriptor, "0", NULL},
    {&google__protobuf__duration__descriptor, "\"1s\"", "\"1s\""},
    {&google__protobuf__duration__descriptor, "\"1\"", NULL},
};

START_TEST(top_level_wkt)
{
    const top_case_t *tc = &top_cases[_i];
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ferry_err_code_t rc = ferry_json_decode(tc->desc, tc->in, strlen(tc->in), &m, &err);
    if (tc->canonical == NULL) {
        ck_assert_msg(rc == FERRY_E_INVALID_ARG, "%s %s: want an error, got %d", tc->desc->name, tc->in, rc);
        ck_assert_ptr_null(m);
        return;
    }
    ck_assert_msg(rc == FERRY_OK, "%s %s: %s", tc->desc->name, tc->in, err.msg);
    char *out = NULL;
    ck_assert_int_eq(ferry_json_encode(m, 0, &out, NULL, &err), FERRY_OK);
    ck_assert_str_eq(out, tc->canonical);
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

/* A present wrapper carries its value even when it is the default. */
START_TEST(wrapper_default_value_is_written)
{
    Google__Protobuf__BoolValue b = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    Google__Protobuf__StringValue s = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    ferry_err_t err = {0};
    char *out = NULL;
    ck_assert_int_eq(ferry_json_encode(&b.base, 0, &out, NULL, &err), FERRY_OK);
    ck_assert_str_eq(out, "false");
    free(out);
    ck_assert_int_eq(ferry_json_encode(&s.base, 0, &out, NULL, &err), FERRY_OK);
    ck_assert_str_eq(out, "\"\"");
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("json_wkt");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, timestamps, 0, (int)(sizeof(ts_cases) / sizeof(ts_cases[0])));
    tcase_add_loop_test(tc, durations, 0, (int)(sizeof(dur_cases) / sizeof(dur_cases[0])));
    tcase_add_test(tc, timestamp_calendar_sweep);
    tcase_add_loop_test(tc, top_level_wkt, 0, (int)(sizeof(top_cases) / sizeof(top_cases[0])));
    tcase_add_test(tc, wrapper_default_value_is_written);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
