/* proto3 JSON codec: every rejected input gives the right code and names the field. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/json.h"
#include "json_test_tables.h"

#define EVERYTHING (&jsontest__v1__everything__descriptor)

static void setup(void)
{
    jsontest_register();
}

typedef struct err_case {
    const char *in;
    ferry_err_code_t code;
    const char *expect; /* substring of the message: "field 'path'" or the parse error */
} err_case_t;

#define BAD(in, path)                                                                                        \
    {                                                                                                        \
        in, FERRY_E_INVALID_ARG, "field '" path "': "                                                        \
    }

static const err_case_t cases[] = {
    /* integers: fractions, range, wrong JSON types, malformed strings */
    BAD("{\"scalars\":{\"i32\":1.5}}", "scalars.i32"),
    BAD("{\"scalars\":{\"i32\":2147483648}}", "scalars.i32"),
    BAD("{\"scalars\":{\"i32\":-2147483649}}", "scalars.i32"),
    BAD("{\"scalars\":{\"u32\":-1}}", "scalars.u32"),
    BAD("{\"scalars\":{\"u32\":4294967296}}", "scalars.u32"),
    BAD("{\"scalars\":{\"i64\":\"9223372036854775808\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":9223372036854775808}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":-9223372036854775809}}", "scalars.i64"),
    BAD("{\"scalars\":{\"u64\":18446744073709551616}}", "scalars.u64"),
    BAD("{\"scalars\":{\"u64\":\"18446744073709551616\"}}", "scalars.u64"),
    BAD("{\"scalars\":{\"u64\":\"-1\"}}", "scalars.u64"),
    BAD("{\"scalars\":{\"u64\":1e20}}", "scalars.u64"),
    BAD("{\"scalars\":{\"i64\":\"12a\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\" 12\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"+1\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"0x10\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"01\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"1e400\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"1.5\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"i64\":\"1e-1\"}}", "scalars.i64"),
    BAD("{\"scalars\":{\"sf64\":1e300}}", "scalars.sf64"),
    BAD("{\"scalars\":{\"i32\":true}}", "scalars.i32"),
    BAD("{\"scalars\":{\"i32\":[1]}}", "scalars.i32"),
    BAD("{\"scalars\":{\"s32\":{}}}", "scalars.s32"),
    /* bools, strings, floats */
    BAD("{\"scalars\":{\"flag\":\"true\"}}", "scalars.flag"),
    BAD("{\"scalars\":{\"flag\":1}}", "scalars.flag"),
    BAD("{\"scalars\":{\"text\":5}}", "scalars.text"),
    BAD("{\"scalars\":{\"text\":18446744073709551616}}", "scalars.text"),
    BAD("{\"scalars\":{\"text\":[\"a\"]}}", "scalars.text"),
    BAD("{\"scalars\":{\"flt\":3.5e38}}", "scalars.flt"),
    BAD("{\"scalars\":{\"flt\":\"-1e39\"}}", "scalars.flt"),
    BAD("{\"scalars\":{\"dbl\":1e400}}", "scalars.dbl"),
    BAD("{\"scalars\":{\"dbl\":\"1e400\"}}", "scalars.dbl"),
    BAD("{\"scalars\":{\"dbl\":\"nan\"}}", "scalars.dbl"),
    BAD("{\"scalars\":{\"dbl\":\"inf\"}}", "scalars.dbl"),
    BAD("{\"scalars\":{\"dbl\":\"1.0 \"}}", "scalars.dbl"),
    BAD("{\"scalars\":{\"dbl\":true}}", "scalars.dbl"),
    /* enums */
    BAD("{\"scalars\":{\"color\":\"COLOR_BLUE\"}}", "scalars.color"),
    BAD("{\"scalars\":{\"color\":\"color_red\"}}", "scalars.color"),
    BAD("{\"scalars\":{\"color\":1.5}}", "scalars.color"),
    BAD("{\"scalars\":{\"color\":2147483648}}", "scalars.color"),
    BAD("{\"scalars\":{\"color\":true}}", "scalars.color"),
    /* bytes */
    BAD("{\"scalars\":{\"data\":\"!!!!\"}}", "scalars.data"),
    BAD("{\"scalars\":{\"data\":\"Zg=\"}}", "scalars.data"),
    BAD("{\"scalars\":{\"data\":\"Z\"}}", "scalars.data"),
    BAD("{\"scalars\":{\"data\":\"Zm9v YmFy\"}}", "scalars.data"),
    BAD("{\"scalars\":{\"data\":1}}", "scalars.data"),
    /* repeated */
    BAD("{\"packedI32\":{\"a\":1}}", "packedI32"),
    BAD("{\"packedI32\":1}", "packedI32"),
    BAD("{\"packedI32\":[1,null]}", "packedI32[1]"),
    BAD("{\"packedI32\":[1,\"x\"]}", "packedI32[1]"),
    BAD("{\"items\":[{},{\"count\":\"x\"}]}", "items[1].count"),
    BAD("{\"items\":[{},{},{\"child\":{\"bogus\":1}}]}", "items[2].child.bogus"),
    BAD("{\"names\":[\"a\",1]}", "names[1]"),
    BAD("{\"blobs\":[\"***\"]}", "blobs[0]"),
    BAD("{\"stamps\":[\"2024-01-01T00:00:00Z\",\"x\"]}", "stamps[1]"),
    /* maps */
    BAD("{\"counts\":[1]}", "counts"),
    BAD("{\"counts\":{\"a\":\"x\"}}", "counts[\"a\"]"),
    BAD("{\"counts\":{\"a\":null}}", "counts[\"a\"]"),
    BAD("{\"byId\":{\"abc\":\"x\"}}", "byId[\"abc\"]"),
    BAD("{\"byId\":{\"1\":2}}", "byId[\"1\"]"),
    BAD("{\"byFlag\":{\"yes\":{}}}", "byFlag[\"yes\"]"),
    BAD("{\"byFlag\":{\"True\":{}}}", "byFlag[\"True\"]"),
    BAD("{\"colorMap\":{\"-1\":\"COLOR_RED\"}}", "colorMap[\"-1\"]"),
    BAD("{\"colorMap\":{\"4294967296\":\"COLOR_RED\"}}", "colorMap[\"4294967296\"]"),
    BAD("{\"innerMap\":{\"k\":{\"count\":true}}}", "innerMap[\"k\"].count"),
    /* unknown fields, fields given twice, oneof conflicts */
    BAD("{\"bogus\":1}", "bogus"),
    BAD("{\"inner\":{\"bogus\":null}}", "inner.bogus"),
    BAD("{\"Scalars\":{}}", "Scalars"),
    BAD("{\"packedI32\":[1],\"packed_i32\":[2]}", "packed_i32"),
    BAD("{\"choiceText\":\"a\",\"choiceNum\":1}", "choiceNum"),
    BAD("{\"choiceInner\":{},\"choice_wrapped\":1}", "choice_wrapped"),
    BAD("{\"inner\":5}", "inner"),
    BAD("{\"inner\":[]}", "inner"),
    /* well-known types */
    BAD("{\"createdAt\":\"1972-01-01T10:00:20Z \"}", "createdAt"),
    BAD("{\"createdAt\":\"0000-12-31T00:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"10000-01-01T00:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"9999-12-31T23:59:59-00:01\"}", "createdAt"),
    BAD("{\"createdAt\":\"0001-01-01T00:00:00+00:01\"}", "createdAt"),
    BAD("{\"createdAt\":\"2023-02-29T00:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-04-31T00:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T24:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:60Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:00\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01 00:00:00Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:00.Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:00.1234567890Z\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:00+2:00\"}", "createdAt"),
    BAD("{\"createdAt\":\"2024-01-01T00:00:00+24:00\"}", "createdAt"),
    BAD("{\"createdAt\":123}", "createdAt"),
    BAD("{\"createdAt\":{\"seconds\":1}}", "createdAt"),
    BAD("{\"timeout\":\"1.5\"}", "timeout"),
    BAD("{\"timeout\":\"315576000001s\"}", "timeout"),
    BAD("{\"timeout\":\"-315576000001s\"}", "timeout"),
    BAD("{\"timeout\":\"1.5 s\"}", "timeout"),
    BAD("{\"timeout\":\"-s\"}", "timeout"),
    BAD("{\"timeout\":\".5s\"}", "timeout"),
    BAD("{\"timeout\":\"1.s\"}", "timeout"),
    BAD("{\"timeout\":\"1.0000000001s\"}", "timeout"),
    BAD("{\"timeout\":\"+1s\"}", "timeout"),
    BAD("{\"timeout\":1.5}", "timeout"),
    BAD("{\"wI64\":{}}", "wI64"),
    BAD("{\"wI64\":{\"value\":\"1\"}}", "wI64"),
    BAD("{\"wBool\":\"true\"}", "wBool"),
    BAD("{\"wU32\":-1}", "wU32"),
    BAD("{\"wString\":1}", "wString"),
    BAD("{\"wBytes\":\"@\"}", "wBytes"),
    BAD("{\"choiceWrapped\":\"x\"}", "choiceWrapped"),
    BAD("{\"nothing\":{\"x\":1}}", "nothing.x"),
    BAD("{\"nothing\":[]}", "nothing"),
    BAD("{\"mask\":\"foo_bar\"}", "mask"),
    BAD("{\"mask\":[\"a\"]}", "mask"),
    {"{\"any\":{\"@type\":\"type.googleapis.com/x\"}}", FERRY_E_UNSUPPORTED, "field 'any': "},
    /* JSON syntax and encoding problems (no field to name: the parser's position) */
    {"{\"a\":1,\"a\":2}", FERRY_E_INVALID_ARG, "duplicate object key"},
    {"{\"counts\":{\"k\":1,\"k\":2}}", FERRY_E_INVALID_ARG, "duplicate object key"},
    {"", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{} x", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{\"scalars\":{\"text\":\"\xff\"}}", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{\"scalars\":{\"text\":\"\xc0\x80\"}}", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{\"scalars\":{\"text\":\"\\ud800\"}}", FERRY_E_INVALID_ARG, "invalid JSON"},
    {"{\"scalars\":{\"text\":\"a\\u0000b\"}}", FERRY_E_INVALID_ARG, "invalid JSON"},
    /* a NUL escape anywhere disables the big-number rewrite: the overflow is reported */
    {"{\"scalars\":{\"u64\":18446744073709551615,\"text\":\"\\u0000\"}}", FERRY_E_INVALID_ARG,
     "invalid JSON"},
    {"{\"names\":[NaN]}", FERRY_E_INVALID_ARG, "invalid JSON"},
    /* the top level must be an object for an ordinary message */
    {"[]", FERRY_E_INVALID_ARG, "expected an object"},
    {"null", FERRY_E_INVALID_ARG, "expected an object"},
    {"\"x\"", FERRY_E_INVALID_ARG, "expected an object"},
};

START_TEST(error_table)
{
    const err_case_t *tc = &cases[_i];
    ferry_err_t err = {0};
    ProtobufCMessage *m = (ProtobufCMessage *)0x1;
    ferry_err_code_t rc = ferry_json_decode(EVERYTHING, tc->in, strlen(tc->in), &m, &err);
    ck_assert_msg(rc == tc->code, "%s: got code %d (%s), want %d", tc->in, rc, err.msg, tc->code);
    ck_assert_int_eq(err.code, tc->code);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, tc->expect) != NULL, "%s: message \"%s\" lacks \"%s\"", tc->in, err.msg,
                  tc->expect);
}
END_TEST

/* Nesting one level past the cap is refused and the message names the path. */
START_TEST(depth_over_cap)
{
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < FERRY_JSON_MAX_DEPTH; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"next\":");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{}");
    for (int i = 0; i < FERRY_JSON_MAX_DEPTH; i++)
        buf[n++] = '}';
    buf[n] = '\0';
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(ferry_json_decode(&jsontest__v1__recursive__descriptor, buf, n, &m, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'next.next.next"));
    ck_assert_ptr_nonnull(strstr(err.msg, "...': nesting deeper than 64"));

    /* far deeper than the cap (jansson's own limit is 2048) */
    char *deep = malloc(20000);
    n = 0;
    for (int i = 0; i < 1500; i++)
        n += (size_t)sprintf(deep + n, "{\"next\":");
    deep[n++] = '1';
    for (int i = 0; i < 1500; i++)
        deep[n++] = '}';
    ck_assert_int_eq(ferry_json_decode(&jsontest__v1__recursive__descriptor, deep, n, &m, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    free(deep);
}
END_TEST

/* At most 16 integers beyond int64 per document (each costs a re-parse). */
START_TEST(big_number_cap)
{
    char buf[2048];
    size_t n = (size_t)sprintf(buf, "{\"packedU64\":[");
    for (int i = 0; i < 16; i++)
        n += (size_t)sprintf(buf + n, "%s18446744073709551615", i ? "," : "");
    n += (size_t)sprintf(buf + n, "]}");
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(ferry_json_decode(&jsontest__v1__everything__descriptor, buf, n, &m, &err), FERRY_OK);
    ck_assert_uint_eq(((Jsontest__V1__Everything *)m)->n_packed_u64, 16);
    protobuf_c_message_free_unpacked(m, NULL);
    n = (size_t)sprintf(buf, "{\"packedU64\":[");
    for (int i = 0; i < 17; i++)
        n += (size_t)sprintf(buf + n, "%s18446744073709551615", i ? "," : "");
    n += (size_t)sprintf(buf + n, "]}");
    ck_assert_int_eq(ferry_json_decode(&jsontest__v1__everything__descriptor, buf, n, &m, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "too big integer"));
}
END_TEST

/* Failures half-way through nested, repeated and map fields free everything (ASan). */
START_TEST(partial_failures_do_not_leak)
{
    static const char *const in[] = {
        "{\"items\":[{\"label\":\"a\",\"child\":{\"label\":\"b\"}},{\"label\":\"c\",\"count\":\"x\"}]}",
        "{\"names\":[\"a\",\"b\",3]}",
        "{\"blobs\":[\"AAAA\",\"!\"]}",
        "{\"innerMap\":{\"a\":{\"label\":\"x\"},\"b\":{\"label\":\"y\",\"bogus\":1}}}",
        "{\"byId\":{\"1\":\"x\",\"y\":\"z\"}}",
        "{\"choiceInner\":{\"label\":\"x\",\"child\":{\"count\":[]}}}",
        "{\"choiceText\":\"x\",\"choiceInner\":{}}",
        "{\"scalars\":{\"text\":\"x\",\"data\":\"AAAA\"},\"mask\":\"a,b_c\"}",
        "{\"stamps\":[\"2024-01-01T00:00:00Z\",null]}",
        "{\"wString\":\"x\",\"wBytes\":\"AAAA\",\"wI64\":true}",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        ferry_err_t err = {0};
        ProtobufCMessage *m = NULL;
        ck_assert_int_eq(ferry_json_decode(EVERYTHING, in[i], strlen(in[i]), &m, &err), FERRY_E_INVALID_ARG);
        ck_assert_ptr_null(m);
    }
}
END_TEST

/* Encoding refuses what JSON cannot carry, naming the field. */
START_TEST(encode_errors)
{
    Jsontest__V1__Everything m = JSONTEST__V1__EVERYTHING__INIT;
    Jsontest__V1__Scalars s = JSONTEST__V1__SCALARS__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Duration du = GOOGLE__PROTOBUF__DURATION__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    ferry_err_t err = {0};
    char *out = (char *)0x1;

    s.text = "\xff\xfe";
    m.scalars = &s;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'scalars.text': "));
    s.text = "\xed\xa0\x80"; /* an encoded surrogate */
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    m.scalars = NULL;

    ts.seconds = 253402300800LL; /* year 10000 */
    m.created_at = &ts;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'createdAt': "));
    ts.seconds = 0;
    ts.nanos = -1;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    m.created_at = NULL;

    du.seconds = 1;
    du.nanos = -1; /* signs disagree */
    m.timeout = &du;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'timeout': "));
    du.seconds = 315576000001LL;
    du.nanos = 0;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    m.timeout = NULL;

    m.any = &any;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'any': google.protobuf.Any is not supported"));
    m.any = NULL;

    char *names[] = {"ok", "bad\xc3"};
    m.n_names = 2;
    m.names = names;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'names[1]': "));
    m.n_names = 0;

    Google__Protobuf__FieldMask fm = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    char *paths[] = {"fooBar"};
    fm.n_paths = 1;
    fm.paths = paths;
    m.mask = &fm;
    ck_assert_int_eq(ferry_json_encode(&m.base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'mask': "));
    m.mask = NULL;

    ck_assert_int_eq(ferry_json_encode(NULL, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
}
END_TEST

/* Encoding a chain deeper than the cap fails instead of recursing without bound. */
START_TEST(encode_depth_over_cap)
{
    Jsontest__V1__Recursive nodes[FERRY_JSON_MAX_DEPTH + 1];
    for (int i = 0; i <= FERRY_JSON_MAX_DEPTH; i++) {
        Jsontest__V1__Recursive init = JSONTEST__V1__RECURSIVE__INIT;
        nodes[i] = init;
        if (i > 0)
            nodes[i - 1].next = &nodes[i];
    }
    ferry_err_t err = {0};
    char *out = NULL;
    ck_assert_int_eq(ferry_json_encode(&nodes[0].base, 0, &out, NULL, &err), FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "nesting deeper than"));
    nodes[FERRY_JSON_MAX_DEPTH - 1].next = NULL;
    ck_assert_int_eq(ferry_json_encode(&nodes[0].base, 0, &out, NULL, &err), FERRY_OK);
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("json_errors");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, error_table, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, depth_over_cap);
    tcase_add_test(tc, big_number_cap);
    tcase_add_test(tc, partial_failures_do_not_leak);
    tcase_add_test(tc, encode_errors);
    tcase_add_test(tc, encode_depth_over_cap);
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
