/*
 * Fuzz target for ferry_json_decode(): arbitrary bytes are decoded into several test
 * message types. Every success must encode, the encoding must decode again, and
 * encoding that gives the same text (canonical JSON is a fixed point). Failures must
 * leave no message behind. Leaks and memory errors are the sanitizers' job.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/json.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "json_test_tables.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "json_decode_fuzz: %s: %s\n", what, detail);
    abort();
}

static void check_one(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ferry_err_t err = {0};
    ProtobufCMessage *m = NULL;
    ProtobufCMessage *m2 = NULL;
    char *out = NULL;
    char *out2 = NULL;
    size_t len = 0;

    if (ferry_json_decode(desc, (const char *)data, size, &m, &err) != FERRY_OK) {
        if (m != NULL)
            fail("decode failed but returned a message", err.msg);
        if (err.msg[0] == '\0')
            fail("decode failed without a message", desc->name);
        goto out;
    }
    if (ferry_json_encode(m, size & 1, &out, &len, &err) != FERRY_OK)
        fail("a decoded message does not encode", err.msg);
    if (ferry_json_decode(desc, out, len, &m2, &err) != FERRY_OK)
        fail("canonical JSON does not decode", err.msg);
    if (ferry_json_encode(m2, size & 1, &out2, NULL, &err) != FERRY_OK)
        fail("re-decoded message does not encode", err.msg);
    if (strcmp(out, out2) != 0)
        fail("canonical JSON is not a fixed point", out);
out:
    free(out2);
    free(out);
    if (m2 != NULL)
        protobuf_c_message_free_unpacked(m2, NULL);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) {
        jsontest_register();
        registered = 1;
    }
    check_one(&jsontest__v1__everything__descriptor, data, size);
    check_one(&jsontest__v1__recursive__descriptor, data, size);
    check_one(&jsontest__v1__unregistered__descriptor, data, size);
    check_one(&google__protobuf__timestamp__descriptor, data, size);
    check_one(&google__protobuf__duration__descriptor, data, size);
    check_one(&google__protobuf__field_mask__descriptor, data, size);
    return 0;
}
