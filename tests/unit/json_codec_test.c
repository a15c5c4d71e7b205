/* proto3 JSON codec: canonical output and round trips for every type. */
#include <check.h>
#include <math.h>
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

static ProtobufCMessage *decode_ok(const ProtobufCMessageDescriptor *d, const char *json)
{
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ferry_err_code_t rc = ferry_json_decode(d, json, strlen(json), &m, &err);
    ck_assert_msg(rc == FERRY_OK, "decode %s: %s", json, err.msg);
    ck_assert_ptr_nonnull(m);
    return m;
}

static char *encode_ok(const ProtobufCMessage *m)
{
    ferry_err_t err = {0};
    char *out = NULL;
    size_t len = 0;
    ferry_err_code_t rc = ferry_json_encode(m, 0, &out, &len, &err);
    ck_assert_msg(rc == FERRY_OK, "encode: %s", err.msg);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

/* Binary serialisation, to compare two messages for equality. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

/*
 * Decodes |in|, checks the canonical encoding equals |want|, then checks the
 * canonical text decodes to the same message (binary-equal) and is a fixed point.
 */
static void check_canonical(const ProtobufCMessageDescriptor *d, const char *in, const char *want)
{
    ProtobufCMessage *m = decode_ok(d, in);
    char *out = encode_ok(m);
    ck_assert_msg(strcmp(out, want) == 0, "in:   %s\nwant: %s\ngot:  %s", in, want, out);
    ProtobufCMessage *m2 = decode_ok(d, out);
    size_t l1, l2;
    uint8_t *b1 = pack(m, &l1);
    uint8_t *b2 = pack(m2, &l2);
    ck_assert_msg(l1 == l2 && memcmp(b1, b2, l1) == 0, "binary differs after round trip of %s", out);
    char *out2 = encode_ok(m2);
    ck_assert_str_eq(out, out2);
    free(out2);
    free(b1);
    free(b2);
    free(out);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
}

typedef struct canon_case {
    const char *in;
    const char *want;
} canon_case_t;

static const canon_case_t canon_cases[] = {
    {"{}", "{}"},
    {" { } ", "{}"},
    /* every scalar at a non-default value, canonical in and out */
    {"{\"scalars\":{\"i32\":-5,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,\"u64\":"
     "\"18446744073709551615\","
     "\"s32\":-2147483648,\"s64\":\"9223372036854775807\",\"f32\":1,\"f64\":\"1\",\"sf32\":-1,\"sf64\":\"-"
     "1\","
     "\"flt\":1.5,\"dbl\":0.1,\"flag\":true,\"text\":\"h\xc3\xa9llo \\\"q\\\"\",\"data\":\"AQID\",\"color\":"
     "\"COLOR_RED\"}}",
     "{\"scalars\":{\"i32\":-5,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,\"u64\":"
     "\"18446744073709551615\","
     "\"s32\":-2147483648,\"s64\":\"9223372036854775807\",\"f32\":1,\"f64\":\"1\",\"sf32\":-1,\"sf64\":\"-"
     "1\","
     "\"flt\":1.5,\"dbl\":0.1,\"flag\":true,\"text\":\"h\xc3\xa9llo \\\"q\\\"\",\"data\":\"AQID\",\"color\":"
     "\"COLOR_RED\"}}"},
    /* defaults are omitted, the present sub-message stays */
    {"{\"scalars\":{\"i32\":0,\"i64\":\"0\",\"flag\":false,\"text\":\"\",\"data\":\"\",\"color\":"
     "\"COLOR_UNSPECIFIED\",\"dbl\":0}}",
     "{\"scalars\":{}}"},
    /* 64-bit integers as numbers; int64 extremes; uint64 max as a number (big-number path) */
    {"{\"scalars\":{\"i64\":-9223372036854775808,\"s64\":9223372036854775807,\"u64\":18446744073709551615,"
     "\"f64\":18446744073709551614}}",
     "{\"scalars\":{\"i64\":\"-9223372036854775808\",\"u64\":\"18446744073709551615\",\"s64\":"
     "\"9223372036854775807\",\"f64\":\"18446744073709551614\"}}"},
    /* exponent and fraction forms that are integral, as numbers and strings */
    {"{\"scalars\":{\"i32\":1e3,\"i64\":\"1e3\",\"u32\":\"2.0\",\"u64\":\"1.5e1\",\"s32\":-1E2,\"sf64\":\"-"
     "0\","
     "\"s64\":\"1.8e18\",\"f64\":1.0e19}}",
     "{\"scalars\":{\"i32\":1000,\"i64\":\"1000\",\"u32\":2,\"u64\":\"15\",\"s32\":-100,\"s64\":"
     "\"1800000000000000000\",\"f64\":\"10000000000000000000\"}}"},
    /* 32-bit integers as strings */
    {"{\"scalars\":{\"i32\":\"-42\",\"u32\":\"42\",\"sf32\":\"7\"}}",
     "{\"scalars\":{\"i32\":-42,\"u32\":42,\"sf32\":7}}"},
    /* negative zero is not the default; NaN and infinities are strings */
    {"{\"scalars\":{\"dbl\":-0.0}}", "{\"scalars\":{\"dbl\":-0.0}}"},
    {"{\"scalars\":{\"dbl\":\"NaN\",\"flt\":\"-Infinity\"}}",
     "{\"scalars\":{\"flt\":\"-Infinity\",\"dbl\":\"NaN\"}}"},
    {"{\"scalars\":{\"dbl\":\"Infinity\",\"flt\":\"1.25\"}}",
     "{\"scalars\":{\"flt\":1.25,\"dbl\":\"Infinity\"}}"},
    /* shortest round-trip digits for floats and doubles */
    {"{\"scalars\":{\"flt\":1.1,\"dbl\":0.1}}", "{\"scalars\":{\"flt\":1.1,\"dbl\":0.1}}"},
    {"{\"scalars\":{\"flt\":3.4028234e38}}", "{\"scalars\":{\"flt\":3.4028235e38}}"},
    {"{\"scalars\":{\"dbl\":1.7976931348623157e308}}", "{\"scalars\":{\"dbl\":1.7976931348623157e308}}"},
    {"{\"scalars\":{\"dbl\":5e-324}}", "{\"scalars\":{\"dbl\":5e-324}}"},
    /* one precision per document: the widest value sets it, and every value still round-trips */
    {"{\"scalars\":{\"flt\":0.1,\"dbl\":0.3333333333333333}}",
     "{\"scalars\":{\"flt\":0.1,\"dbl\":0.3333333333333333}}"},
    {"{\"scalars\":{\"dbl\":3}}", "{\"scalars\":{\"dbl\":3.0}}"},
    /* enums by number (known, unknown: proto3 enums are open) and negative values */
    {"{\"scalars\":{\"color\":2}}", "{\"scalars\":{\"color\":\"COLOR_GREEN\"}}"},
    {"{\"scalars\":{\"color\":77}}", "{\"scalars\":{\"color\":77}}"},
    {"{\"scalars\":{\"color\":\"COLOR_NEGATIVE\"}}", "{\"scalars\":{\"color\":\"COLOR_NEGATIVE\"}}"},
    {"{\"scalars\":{\"color\":-1}}", "{\"scalars\":{\"color\":\"COLOR_NEGATIVE\"}}"},
    /* bytes: URL-safe alphabet and missing padding in, standard padded out */
    {"{\"scalars\":{\"data\":\"-_8\"}}", "{\"scalars\":{\"data\":\"+/8=\"}}"},
    {"{\"scalars\":{\"data\":\"+/8=\"}}", "{\"scalars\":{\"data\":\"+/8=\"}}"},
    {"{\"scalars\":{\"data\":\"Zm9vYg\"}}", "{\"scalars\":{\"data\":\"Zm9vYg==\"}}"},
    /* repeated fields of every kind */
    {"{\"packedI32\":[1,-2,3],\"packedI64\":[\"1\",2],\"packedDbl\":[1.5,\"NaN\"],\"packedBool\":[true,false]"
     ","
     "\"colors\":[\"COLOR_RED\",2,0],\"names\":[\"a\",\"\"],\"blobs\":[\"AA==\",\"\"],\"items\":[{\"count\":"
     "1},{}],"
     "\"packedFlt\":[0.5,1e10],\"packedU64\":[18446744073709551615,\"0\"]}",
     "{\"packedI32\":[1,-2,3],\"packedI64\":[\"1\",\"2\"],\"packedDbl\":[1.5,\"NaN\"],\"packedBool\":[true,"
     "false],"
     "\"colors\":[\"COLOR_RED\",\"COLOR_GREEN\",\"COLOR_UNSPECIFIED\"],\"names\":[\"a\",\"\"],\"blobs\":["
     "\"AA==\","
     "\"\"],\"items\":[{\"count\":1},{}],\"packedFlt\":[0.5,1e10],\"packedU64\":[\"18446744073709551615\","
     "\"0\"]}"},
    {"{\"packedI32\":[],\"items\":[],\"counts\":{}}", "{}"},
    /* maps with string, int64, bool and uint32 keys, scalar, enum and message values */
    {"{\"counts\":{\"a\":1,\"b\":0},\"byId\":{\"-5\":\"x\",\"9223372036854775807\":\"y\"},\"byFlag\":{"
     "\"true\":"
     "{\"count\":1},\"false\":{}},\"colorMap\":{\"7\":\"COLOR_RED\",\"8\":1},\"innerMap\":{\"k\":{\"label\":"
     "\"v\"}}}",
     "{\"counts\":{\"a\":1,\"b\":0},\"byId\":{\"-5\":\"x\",\"9223372036854775807\":\"y\"},\"byFlag\":{"
     "\"true\":"
     "{\"count\":1},\"false\":{}},\"colorMap\":{\"7\":\"COLOR_RED\",\"8\":\"COLOR_RED\"},\"innerMap\":{\"k\":"
     "{\"label\":\"v\"}}}"},
    /* nesting */
    {"{\"inner\":{\"child\":{\"child\":{\"count\":3}}}}",
     "{\"inner\":{\"child\":{\"child\":{\"count\":3}}}}"},
    {"{\"inner\":{}}", "{\"inner\":{}}"},
    /* oneof members are present when selected, even with a default value */
    {"{\"choiceText\":\"\"}", "{\"choiceText\":\"\"}"},
    {"{\"choiceNum\":0}", "{\"choiceNum\":\"0\"}"},
    {"{\"choiceInner\":{}}", "{\"choiceInner\":{}}"},
    {"{\"choiceWrapped\":0}", "{\"choiceWrapped\":0}"},
    /* a null oneof member does not select it, so another member may follow */
    {"{\"choiceText\":null,\"choiceNum\":\"9\"}", "{\"choiceNum\":\"9\"}"},
    /* proto field names are accepted; json_name from the side table is used out */
    {"{\"packed_i32\":[1],\"snake_case_3d\":4,\"renamed\":\"r\",\"choice_text\":\"t\"}",
     "{\"packedI32\":[1],\"choiceText\":\"t\",\"customName\":\"r\",\"snakeCase3d\":4}"},
    {"{\"customName\":\"r\"}", "{\"customName\":\"r\"}"},
    /* null means default for every kind of field */
    {"{\"scalars\":null,\"packedI32\":null,\"counts\":null,\"wI64\":null,\"choiceText\":null,\"createdAt\":"
     "null,"
     "\"inner\":{\"count\":null,\"label\":null}}",
     "{\"inner\":{}}"},
    /* well-known types inside a message */
    {"{\"createdAt\":\"1972-01-01T10:00:20.021Z\",\"timeout\":\"1.5s\",\"nothing\":{},\"wI64\":\"5\","
     "\"wU64\":"
     "18446744073709551615,\"wI32\":0,\"wU32\":7,\"wBool\":false,\"wString\":\"\",\"wBytes\":\"AQ==\","
     "\"wDouble\":"
     "1.5,\"wFloat\":\"NaN\",\"mask\":\"a.fooBar,baz\",\"stamps\":[\"2024-02-29T23:59:59.123456Z\"]}",
     "{\"createdAt\":\"1972-01-01T10:00:20.021Z\",\"timeout\":\"1.500s\",\"nothing\":{},\"wI64\":\"5\","
     "\"wU64\":"
     "\"18446744073709551615\",\"wI32\":0,\"wU32\":7,\"wBool\":false,\"wString\":\"\",\"wBytes\":\"AQ==\","
     "\"wDouble\":1.5,\"wFloat\":\"NaN\",\"mask\":\"a.fooBar,baz\",\"stamps\":[\"2024-02-29T23:59:59."
     "123456Z\"]}"},
    {"{\"createdAt\":\"1972-01-01T10:00:20.021+02:00\"}", "{\"createdAt\":\"1972-01-01T08:00:20.021Z\"}"},
    {"{\"createdAt\":\"1972-01-01t10:00:20.5-01:30\"}", "{\"createdAt\":\"1972-01-01T11:30:20.500Z\"}"},
    {"{\"mask\":\"\"}", "{\"mask\":\"\"}"},
    /* big numbers after multi-byte UTF-8 text (the rewrite works on byte offsets) */
    {"{\"scalars\":{\"text\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"u64\":18446744073709551615}}",
     "{\"scalars\":{\"u64\":\"18446744073709551615\",\"text\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}}"},
    /* escapes come back as UTF-8 */
    {"{\"names\":[\"\\u00e9\\ud83d\\ude00\\n\\t\"]}", "{\"names\":[\"\xc3\xa9\xf0\x9f\x98\x80\\n\\t\"]}"},
};

START_TEST(canonical_table)
{
    check_canonical(EVERYTHING, canon_cases[_i].in, canon_cases[_i].want);
}
END_TEST

START_TEST(decoded_values)
{
    Jsontest__V1__Everything *m = (Jsontest__V1__Everything *)decode_ok(
        EVERYTHING,
        "{\"scalars\":{\"i64\":-9223372036854775808,\"u64\":\"18446744073709551615\",\"flt\":1.1,"
        "\"dbl\":-0.0,\"data\":\"_-8\"},\"byFlag\":{\"true\":{\"count\":2}},\"choiceInner\":{\"count\":5},"
        "\"createdAt\":\"1969-12-31T23:59:59.999Z\",\"timeout\":\"-0.5s\",\"mask\":\"fooBar.bazQux,x\"}");
    ck_assert(m->scalars->i64 == INT64_MIN);
    ck_assert(m->scalars->u64 == UINT64_MAX);
    ck_assert(m->scalars->flt == 1.1f);
    ck_assert(m->scalars->dbl == 0.0 && signbit(m->scalars->dbl));
    ck_assert_uint_eq(m->scalars->data.len, 2);
    ck_assert_uint_eq(m->scalars->data.data[0], 0xff);
    ck_assert_uint_eq(m->scalars->data.data[1], 0xef);
    ck_assert_uint_eq(m->n_by_flag, 1);
    ck_assert(m->by_flag[0]->key == 1);
    ck_assert_int_eq(m->by_flag[0]->value->count, 2);
    ck_assert_int_eq(m->choice_case, JSONTEST__V1__EVERYTHING__CHOICE_CHOICE_INNER);
    ck_assert_int_eq(m->choice_inner->count, 5);
    ck_assert(m->created_at->seconds == -1);
    ck_assert_int_eq(m->created_at->nanos, 999000000);
    ck_assert(m->timeout->seconds == 0);
    ck_assert_int_eq(m->timeout->nanos, -500000000);
    ck_assert_uint_eq(m->mask->n_paths, 2);
    ck_assert_str_eq(m->mask->paths[0], "foo_bar.baz_qux");
    ck_assert_str_eq(m->mask->paths[1], "x");
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
END_TEST

/* Messages built in C (not from JSON) encode canonically. */
START_TEST(encode_built_messages)
{
    Jsontest__V1__Everything m = JSONTEST__V1__EVERYTHING__INIT;
    Jsontest__V1__Scalars s = JSONTEST__V1__SCALARS__INIT;
    char *out = encode_ok(&m.base);
    ck_assert_str_eq(out, "{}");
    free(out);

    s.flt = NAN;
    s.dbl = 1.0 / 3.0;
    s.i64 = INT64_MIN;
    s.text = "x";
    m.scalars = &s;
    /* a selected oneof message member with no message is an empty object */
    m.choice_case = JSONTEST__V1__EVERYTHING__CHOICE_CHOICE_INNER;
    m.choice_inner = NULL;
    out = encode_ok(&m.base);
    ck_assert_str_eq(
        out, "{\"scalars\":{\"i64\":\"-9223372036854775808\",\"flt\":\"NaN\",\"dbl\":0.3333333333333333,"
             "\"text\":\"x\"},\"choiceInner\":{}}");
    free(out);

    /* a selected oneof string with a NULL pointer is "" */
    m.scalars = NULL;
    m.choice_case = JSONTEST__V1__EVERYTHING__CHOICE_CHOICE_TEXT;
    m.choice_text = NULL;
    out = encode_ok(&m.base);
    ck_assert_str_eq(out, "{\"choiceText\":\"\"}");
    free(out);

    /* pretty output is indented and decodes again */
    m.choice_case = JSONTEST__V1__EVERYTHING__CHOICE_CHOICE_NUM;
    m.choice_num = -3;
    ferry_err_t err = {0};
    ck_assert_int_eq(ferry_json_encode(&m.base, 1, &out, NULL, &err), FERRY_OK);
    ck_assert_str_eq(out, "{\n  \"choiceNum\": \"-3\"\n}");
    free(out);
}
END_TEST

/* Map entries with the same key in the binary form: the last one wins. */
START_TEST(encode_map_duplicate_keys)
{
    Jsontest__V1__Everything m = JSONTEST__V1__EVERYTHING__INIT;
    Jsontest__V1__Everything__CountsEntry e1 = JSONTEST__V1__EVERYTHING__COUNTS_ENTRY__INIT;
    Jsontest__V1__Everything__CountsEntry e2 = JSONTEST__V1__EVERYTHING__COUNTS_ENTRY__INIT;
    Jsontest__V1__Everything__CountsEntry *entries[] = {&e1, &e2};
    e1.key = "k";
    e1.value = 1;
    e2.key = "k";
    e2.value = 2;
    m.n_counts = 2;
    m.counts = entries;
    char *out = encode_ok(&m.base);
    ck_assert_str_eq(out, "{\"counts\":{\"k\":2}}");
    free(out);
}
END_TEST

/* Without a registered side table: derived lowerCamelCase names, no map detection. */
START_TEST(fallback_without_side_table)
{
    check_canonical(&jsontest__v1__unregistered__descriptor,
                    "{\"some_field\":3,\"renamed\":\"x\",\"things\":[{\"key\":\"a\",\"value\":1}]}",
                    "{\"someField\":3,\"things\":[{\"key\":\"a\",\"value\":1}],\"renamed\":\"x\"}");
    /* the json_name option is unknown without the table */
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    const char *in = "{\"other\":\"x\"}";
    ck_assert_int_eq(ferry_json_decode(&jsontest__v1__unregistered__descriptor, in, strlen(in), &m, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'other'"));
}
END_TEST

/* Registration is idempotent and tolerates NULL. */
START_TEST(register_twice)
{
    jsontest_register();
    jsontest_register();
    ferry_json_register_file(NULL);
    check_canonical(EVERYTHING, "{\"counts\":{\"a\":1}}", "{\"counts\":{\"a\":1}}");
}
END_TEST

/* The depth cap: FERRY_JSON_MAX_DEPTH nested messages decode and encode. */
START_TEST(depth_at_cap)
{
    char buf[4096];
    size_t n = 0;
    for (int i = 1; i < FERRY_JSON_MAX_DEPTH; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"next\":");
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"value\":1}");
    for (int i = 1; i < FERRY_JSON_MAX_DEPTH; i++)
        buf[n++] = '}';
    buf[n] = '\0';
    check_canonical(&jsontest__v1__recursive__descriptor, buf, buf);
}
END_TEST

/* A rich message survives binary -> JSON -> binary unchanged. */
START_TEST(binary_round_trip)
{
    const char *in =
        "{\"scalars\":{\"i32\":-1,\"i64\":\"-2\",\"u32\":3,\"u64\":\"4\",\"s32\":-5,\"s64\":\"-6\",\"f32\":7,"
        "\"f64\":\"8\",\"sf32\":-9,\"sf64\":\"-10\",\"flt\":0.25,\"dbl\":1e-300,\"flag\":true,\"text\":\"t\","
        "\"data\":\"AAEC\",\"color\":\"COLOR_GREEN\"},\"packedI32\":[1,2],\"colors\":[1],\"names\":[\"n\"],"
        "\"items\":[{\"count\":1,\"child\":{\"label\":\"c\"}}],\"counts\":{\"x\":1},\"byId\":{\"1\":\"a\"},"
        "\"byFlag\":{\"false\":{\"count\":1}},\"colorMap\":{\"4294967295\":\"COLOR_RED\"},\"innerMap\":{\"\":"
        "{}},"
        "\"choiceWrapped\":5,\"createdAt\":\"9999-12-31T23:59:59.999999999Z\",\"timeout\":\"-315576000000s\","
        "\"wString\":\"s\",\"stamps\":[\"0001-01-01T00:00:00Z\"],\"customName\":\"c\",\"snakeCase3d\":1}";
    ProtobufCMessage *m = decode_ok(EVERYTHING, in);
    size_t len;
    uint8_t *bin = pack(m, &len);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(EVERYTHING, NULL, len, bin);
    ck_assert_ptr_nonnull(m2);
    char *a = encode_ok(m);
    char *b = encode_ok(m2);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    free(bin);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("json_codec");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, canonical_table, 0, (int)(sizeof(canon_cases) / sizeof(canon_cases[0])));
    tcase_add_test(tc, decoded_values);
    tcase_add_test(tc, encode_built_messages);
    tcase_add_test(tc, encode_map_duplicate_keys);
    tcase_add_test(tc, fallback_without_side_table);
    tcase_add_test(tc, register_twice);
    tcase_add_test(tc, depth_at_cap);
    tcase_add_test(tc, binary_round_trip);
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
