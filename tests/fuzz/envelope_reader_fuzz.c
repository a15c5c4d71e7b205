/*
 * Fuzzes the request envelope reader of the RPC server (Connect streaming and
 * gRPC-Web bodies) and the header parsers that see the same untrusted bytes.
 * Byte 0 picks the options (compressed_ok, a small or large size cap); the rest is
 * the request body. Invariants: slices stay inside the body, cover it exactly on
 * success, and a failure reports zero messages. Each uncompressed message then goes
 * through ferry_pb_check() (the string check run before protobuf-c unpacks) with a
 * rich test message type: what it calls malformed, protobuf-c must refuse too (else
 * the check would turn away valid input), and whatever it accepts must unpack
 * safely.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsontest/v1/json_test.pb-c.h"
#include "wire_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t opt = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    bool compressed_ok = opt & 1;
    uint32_t max_len = (opt & 2) ? 64 : (1u << 20);
    size_t max_msgs = (opt & 4) ? 2 : 64;
    ferry_wire_msg_t msgs[64];
    size_t n = 99;
    const char *why = NULL;
    ferry_rpc_code_t rc =
        ferry_wire_read_envelopes(body, len, max_len, compressed_ok, msgs, max_msgs, &n, &why);
    if (why == NULL)
        abort();
    if (rc != FERRY_RPC_OK) {
        if (n != 0)
            abort();
    } else {
        size_t covered = 0;
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].data < body || msgs[i].data + msgs[i].len > body + len || msgs[i].len > max_len)
                abort();
            if (msgs[i].compressed && !compressed_ok)
                abort();
            covered += FERRY_ENVELOPE_HEADER_LEN + msgs[i].len;
            if (msgs[i].compressed)
                continue;
            ferry_err_t err = {0};
            const ProtobufCMessageDescriptor *desc = &jsontest__v1__everything__descriptor;
            ferry_err_code_t ck = ferry_pb_check(desc, msgs[i].data, msgs[i].len, &err);
            if (ck != FERRY_OK && ck != FERRY_E_INVALID_ARG)
                abort();
            ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, msgs[i].len, msgs[i].data);
            if (ck != FERRY_OK && strstr(err.msg, "malformed protobuf") != NULL && m != NULL)
                abort(); /* the check refused bytes protobuf-c accepts */
            if (m != NULL)
                protobuf_c_message_free_unpacked(m, NULL);
        }
        if (covered != len || n > max_msgs)
            abort();
    }

    /* The same bytes as header values and a GET query. */
    const char *s = (const char *)body;
    uint64_t ns;
    ferry_wire_codec_t codec;
    (void)ferry_wire_connect_timeout(s, len, &ns);
    (void)ferry_wire_grpc_timeout(s, len, &ns);
    (void)ferry_wire_content_type(s, len, &codec);
    (void)ferry_wire_accepts_gzip(s, len);
    ferry_wire_get_query_t q;
    if (ferry_wire_get_query(s, len, &q, &why) == 0) {
        if (q.message < s || q.message + q.message_len > s + len) {
            if (q.message_len != 0)
                abort();
        }
        uint8_t *out = malloc(q.message_len + 1);
        if (out != NULL) {
            long d = ferry_wire_percent_decode(q.message, q.message_len, out, q.message_len + 1);
            if (d > (long)q.message_len)
                abort();
            free(out);
        }
    }
    return 0;
}
