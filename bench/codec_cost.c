/*
 * Codec cost per message, on one thread, no I/O (not a test): what reading and writing
 * the benchmark's Ping message costs in protobuf-c, in Ferry's JSON codec, and in
 * jansson alone (parse into a tree and write a tree: the floor of any codec built on
 * it). bench/rpc_bench.sh prints these beside the per-request CPU of the server, so
 * the share of the codec in an RPC's cost can be read off the same run.
 *
 * Usage: codec_cost [ITERATIONS]   (default 200000)
 * Output: one line per case, "name ns/op".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ferry/json.h"
#include "ferrytest/v1/test.pb-c.h"

static const char PING_JSON[] = "{\"text\":\"hello bench\",\"seq\":\"42\"}";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void report(const char *name, double t0, long n)
{
    printf("%-34s %8.1f\n", name, (now_ns() - t0) / (double)n);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (n <= 0 || n > 100000000) {
        fprintf(stderr, "usage: codec_cost [ITERATIONS 1..100000000]\n");
        return 2;
    }
    Ferrytest__V1__PingRequest ping = FERRYTEST__V1__PING_REQUEST__INIT;
    ping.text = "hello bench";
    ping.seq = 42;
    uint8_t wire[64];
    size_t wlen = ferrytest__v1__ping_request__pack(&ping, wire);
    ferry_err_t err;
    volatile size_t sink = 0;
    double t0;

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        Ferrytest__V1__PingRequest *m = ferrytest__v1__ping_request__unpack(NULL, wlen, wire);
        if (m == NULL)
            return 1;
        sink += (size_t)m->seq;
        ferrytest__v1__ping_request__free_unpacked(m, NULL);
    }
    report("protobuf-c unpack+free", t0, n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        uint8_t out[64];
        size_t len = ferrytest__v1__ping_request__get_packed_size(&ping);
        sink += ferrytest__v1__ping_request__pack(&ping, out) + len;
    }
    report("protobuf-c size+pack", t0, n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        json_error_t je;
        json_t *j = json_loadb(PING_JSON, sizeof(PING_JSON) - 1, JSON_REJECT_DUPLICATES, &je);
        if (j == NULL)
            return 1;
        sink += json_object_size(j);
        json_decref(j);
    }
    report("jansson parse (tree)+free", t0, n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        char buf[128];
        json_t *j = json_object();
        json_object_set_new_nocheck(j, "text", json_stringn_nocheck("hello bench", 11));
        json_object_set_new_nocheck(j, "seq", json_stringn_nocheck("42", 2));
        sink += json_dumpb(j, buf, sizeof(buf), JSON_COMPACT);
        json_decref(j);
    }
    report("jansson build tree+write", t0, n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        ProtobufCMessage *m = NULL;
        if (ferry_json_decode(&ferrytest__v1__ping_request__descriptor, PING_JSON, sizeof(PING_JSON) - 1, &m,
                              &err) != FERRY_OK)
            return 1;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    report("ferry_json_decode+free", t0, n);

    t0 = now_ns();
    for (long i = 0; i < n; i++) {
        char *out = NULL;
        size_t len = 0;
        if (ferry_json_encode(&ping.base, 0, &out, &len, &err) != FERRY_OK)
            return 1;
        sink += len;
        free(out);
    }
    report("ferry_json_encode+free", t0, n);
    return sink == 0; /* keeps the loops from being optimized away */
}
