/* Unit tests for ferry_pb_check() / ferry_utf8_valid() (lib/rpc/common/pbcheck.c). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/rpc.h"
#include "jsontest/v1/json_test.pb-c.h"

#define MARK '\x7f' /* replaced by a NUL in the packed bytes */

/* Packs |msg|, then turns every MARK byte into U+0000 (protobuf-c cannot pack a NUL). */
static uint8_t *pack_with_nuls(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(protobuf_c_message_pack(msg, buf), *len);
    for (size_t i = 0; i < *len; i++)
        if (buf[i] == (uint8_t)MARK)
            buf[i] = 0;
    return buf;
}

/* Checks |msg| (after NUL substitution); |want| NULL = accepted, else the error contains it. */
static void expect(const ProtobufCMessage *msg, const char *want)
{
    size_t len;
    uint8_t *buf = pack_with_nuls(msg, &len);
    ferry_err_t err = {0};
    ferry_err_code_t rc = ferry_pb_check(msg->descriptor, buf, len, &err);
    if (want == NULL) {
        ck_assert_msg(rc == FERRY_OK, "unexpected error: %s", err.msg);
    } else {
        ck_assert_int_eq(rc, FERRY_E_INVALID_ARG);
        ck_assert_msg(strstr(err.msg, want) != NULL, "'%s' not in '%s'", want, err.msg);
    }
    free(buf);
}

START_TEST(utf8)
{
    static const struct {
        const char *s;
        size_t len;
        bool ok;
    } t[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"\xc3\xa9", 2, true},          /* é */
        {"\xe2\x82\xac", 3, true},      /* € */
        {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
        {"\xef\xbf\xbf", 3, true},      /* U+FFFF */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF */
        {"\xff", 1, false},             /* never valid */
        {"\x80", 1, false},             /* lone continuation */
        {"\xc0\x80", 2, false},         /* overlong NUL */
        {"\xc1\xbf", 2, false},         /* overlong */
        {"\xe0\x80\xaf", 3, false},     /* overlong '/' */
        {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, false},     /* surrogate U+D800 */
        {"\xed\xbf\xbf", 3, false},     /* surrogate U+DFFF */
        {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false}, /* lead beyond U+10FFFF */
        {"\xe2\x82", 2, false},         /* truncated */
        {"a\xc3", 2, false},            /* truncated at the end */
        {"\xe2\x28\xa1", 3, false},     /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(ferry_utf8_valid((const uint8_t *)t[i].s, t[i].len, false) == t[i].ok, "case %zu", i);
    ck_assert(!ferry_utf8_valid((const uint8_t *)"a\0b", 3, false));
    ck_assert(ferry_utf8_valid((const uint8_t *)"a\0b", 3, true));
}
END_TEST

/* protobuf-c 1.4.1 itself neither refuses invalid UTF-8 nor keeps bytes after a NUL:
 * this is why ferry_pb_check() exists. If this test starts failing, protobuf-c has
 * begun validating and the check can be reconsidered. */
START_TEST(protobuf_c_does_not_validate)
{
    Jsontest__V1__Scalars s = JSONTEST__V1__SCALARS__INIT;
    s.text = "\xff\xfe";
    size_t len;
    uint8_t *buf = pack_with_nuls(&s.base, &len);
    Jsontest__V1__Scalars *u = jsontest__v1__scalars__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->text, "\xff\xfe");
    jsontest__v1__scalars__free_unpacked(u, NULL);
    free(buf);

    s.text = "before\x7f"
             "after";
    buf = pack_with_nuls(&s.base, &len);
    u = jsontest__v1__scalars__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(u->text, "before"); /* silently truncated */
    jsontest__v1__scalars__free_unpacked(u, NULL);
    free(buf);
}
END_TEST

START_TEST(fields)
{
    Jsontest__V1__Scalars sc = JSONTEST__V1__SCALARS__INIT;
    Jsontest__V1__Inner in0 = JSONTEST__V1__INNER__INIT, in1 = JSONTEST__V1__INNER__INIT;
    Jsontest__V1__Inner deep = JSONTEST__V1__INNER__INIT, mv = JSONTEST__V1__INNER__INIT;
    Jsontest__V1__Inner *items[2] = {&in0, &in1};
    Jsontest__V1__Everything__CountsEntry ce0 = JSONTEST__V1__EVERYTHING__COUNTS_ENTRY__INIT;
    Jsontest__V1__Everything__CountsEntry ce1 = JSONTEST__V1__EVERYTHING__COUNTS_ENTRY__INIT;
    Jsontest__V1__Everything__CountsEntry *counts[2] = {&ce0, &ce1};
    Jsontest__V1__Everything__InnerMapEntry ie = JSONTEST__V1__EVERYTHING__INNER_MAP_ENTRY__INIT;
    Jsontest__V1__Everything__InnerMapEntry *imap[1] = {&ie};
    char *names[3] = {"a", "b", "c"};
    uint8_t blob[] = {0, 1, 0xff};
    ProtobufCBinaryData blobs[1] = {{sizeof(blob), blob}};
    Jsontest__V1__Everything e = JSONTEST__V1__EVERYTHING__INIT;

    sc.text = "h\xc3\xa9llo \xf0\x9f\x98\x80";
    sc.data.data = blob; /* bytes may hold anything */
    sc.data.len = sizeof(blob);
    in0.label = "zero";
    in1.label = "one";
    in1.child = &deep;
    deep.label = "deep";
    ce0.key = "k0";
    ce0.value = 1;
    ce1.key = "k1";
    ie.key = "m";
    ie.value = &mv;
    mv.label = "mv";
    e.scalars = &sc;
    e.n_names = 3;
    e.names = names;
    e.n_blobs = 1;
    e.blobs = blobs;
    e.n_items = 2;
    e.items = items;
    e.n_counts = 2;
    e.counts = counts;
    e.n_inner_map = 1;
    e.inner_map = imap;
    e.choice_case = JSONTEST__V1__EVERYTHING__CHOICE_CHOICE_TEXT;
    e.choice_text = "oneof";
    expect(&e.base, NULL);

    sc.text = "x\x7fy";
    expect(&e.base, "field 'scalars.text': string contains U+0000");
    sc.text = "x\xc0\x80y";
    expect(&e.base, "field 'scalars.text': string is not valid UTF-8");
    sc.text = "ok";

    names[1] = "b\x7f";
    expect(&e.base, "field 'names[1]': string contains U+0000");
    names[1] = "b";
    names[2] = "\xed\xa0\x80";
    expect(&e.base, "field 'names[2]': string is not valid UTF-8");
    names[2] = "c";

    in1.label = "\x7f";
    expect(&e.base, "field 'items[1].label'");
    in1.label = "one";
    deep.label = "\x7f";
    expect(&e.base, "field 'items[1].child.label'");
    deep.label = "deep";

    ce1.key = "k\x7f";
    expect(&e.base, "field 'counts[1].key'");
    ce1.key = "k1";
    mv.label = "\xff";
    expect(&e.base, "field 'inner_map[0].value.label': string is not valid UTF-8");
    mv.label = "mv";

    e.choice_text = "\x7f";
    expect(&e.base, "field 'choice_text'");
    e.choice_text = "oneof";

    blob[1] = 0xc0; /* bytes are not checked */
    expect(&e.base, NULL);
}
END_TEST

START_TEST(unknown_fields_and_malformed)
{
    ferry_err_t err = {0};
    /* field 99 (unknown to Scalars) as a string with a NUL and bad UTF-8: skipped */
    static const uint8_t unknown[] = {0x9a, 0x06, 3, 'a', 0, 0xff, 0x08, 0x01};
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__scalars__descriptor, unknown, sizeof(unknown), &err),
                     FERRY_OK);
    /* a string field (14) sent as a varint: left to protobuf-c */
    static const uint8_t wrong_type[] = {0x70, 0x05};
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__scalars__descriptor, wrong_type, sizeof(wrong_type), &err),
                     FERRY_OK);
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__scalars__descriptor, NULL, 0, &err), FERRY_OK);

    static const uint8_t truncated_len[] = {0x72, 0x05, 'a', 'b'};
    static const uint8_t truncated_varint[] = {0x08, 0x80};
    static const uint8_t truncated_fixed[] = {0x41, 1, 2, 3}; /* f64 = 8, wire type 1 */
    static const uint8_t bad_tag[] = {0x00, 0x01};
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t long_varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t huge_len[] = {0x72, 0xff, 0xff, 0xff, 0xff, 0x0f};
    const struct {
        const uint8_t *b;
        size_t n;
    } bad[] = {{truncated_len, sizeof(truncated_len)},
               {truncated_varint, sizeof(truncated_varint)},
               {truncated_fixed, sizeof(truncated_fixed)},
               {bad_tag, sizeof(bad_tag)},
               {group, sizeof(group)},
               {long_varint, sizeof(long_varint)},
               {huge_len, sizeof(huge_len)}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(ferry_pb_check(&jsontest__v1__scalars__descriptor, bad[i].b, bad[i].n, &err) ==
                          FERRY_E_INVALID_ARG,
                      "case %zu", i);
        ck_assert_ptr_nonnull(strstr(err.msg, "malformed protobuf"));
        /* protobuf-c refuses every one of them too */
        ProtobufCMessage *m =
            protobuf_c_message_unpack(&jsontest__v1__scalars__descriptor, NULL, bad[i].n, bad[i].b);
        ck_assert_msg(m == NULL, "protobuf-c accepted case %zu", i);
    }
}
END_TEST

/* Inner.child nests Inner: depth is capped (protobuf-c recurses without a limit). */
START_TEST(depth)
{
    enum { LEVELS = FERRY_PB_MAX_DEPTH + 1 };
    /* Built inside out: each level is 0x1a <len> <child>, the innermost holds label "x". */
    uint8_t buf[4096];
    size_t len = 0, start = sizeof(buf);
    buf[--start] = 'x';
    buf[--start] = 1;
    buf[--start] = 0x12; /* label = "x" */
    len = 3;
    for (int i = 1; i < LEVELS; i++) {
        ck_assert_uint_lt(len, 128 * 128);
        if (len < 128) {
            buf[--start] = (uint8_t)len;
            len += 1;
        } else {
            buf[--start] = (uint8_t)(len >> 7);
            buf[--start] = (uint8_t)(0x80 | (len & 0x7f));
            len += 2;
        }
        buf[--start] = 0x1a; /* child */
        len += 1;
    }
    ferry_err_t err = {0};
    /* LEVELS messages deep: one too many */
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__inner__descriptor, buf + start, len, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested too deeply"));
    ck_assert_ptr_nonnull(strstr(err.msg, "child.child.child"));
    /* one level less is fine: skip the outermost tag and length */
    size_t skip = 1 + ((buf[start + 1] & 0x80) ? 2 : 1);
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__inner__descriptor, buf + start + skip, len - skip, &err),
                     FERRY_OK);
}
END_TEST

/* Many repeated elements stay linear: the index is computed only for an error. */
START_TEST(many_elements)
{
    enum { N = 200000 };
    uint8_t *buf = malloc((size_t)N * 4 + 8);
    ck_assert_ptr_nonnull(buf);
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        buf[len++] = 0x4a; /* items = 9, a message */
        buf[len++] = 2;
        buf[len++] = 0x08; /* count = 1 */
        buf[len++] = 1;
    }
    ferry_err_t err = {0};
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__everything__descriptor, buf, len, &err), FERRY_OK);
    /* the last element {count: 1} becomes {label: "\0"} */
    buf[len - 3] = 3;
    buf[len - 2] = 0x12;
    buf[len - 1] = 1;
    buf[len++] = 0;
    ck_assert_int_eq(ferry_pb_check(&jsontest__v1__everything__descriptor, buf, len, &err),
                     FERRY_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 'items[199999].label'"));
    free(buf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc_pbcheck");
    TCase *tc = tcase_create("pbcheck");
    tcase_add_test(tc, utf8);
    tcase_add_test(tc, protobuf_c_does_not_validate);
    tcase_add_test(tc, fields);
    tcase_add_test(tc, unknown_fields_and_malformed);
    tcase_add_test(tc, depth);
    tcase_add_test(tc, many_elements);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
