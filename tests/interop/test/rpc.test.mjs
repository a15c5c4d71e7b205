// Third-party clients (connect-es over Node's http/http2) against Ferry's C runtime:
// every transport of lib.mjs runs unary, server-streaming, client-streaming, error,
// deadline and cancellation cases on ferrytest.v1.TestService and grpc.health.v1.Health.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { create, equals, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";

import { errorInfoPb, healthPb, nowMs, testPb, transports } from "./lib.mjs";

const { TestService, PayloadSchema, Color } = testPb;
const { Health, HealthCheckResponse_ServingStatus: ServingStatus } = healthPb;
const { ErrorInfoSchema } = errorInfoPb;

/** A Payload with every field shape set, including awkward values. */
function fullPayload() {
  return create(PayloadSchema, {
    text: "héllo, 世界 \"quoted\" \\ / \u007f \u{1F600}",
    int64Value: -9007199254740993n, // beyond a double's exact range
    data: new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]),
    tags: ["a", "", "c"],
    counters: { x: 1n, y: -2n, "": 9223372036854775807n },
    color: Color.GREEN,
    inner: { name: "inner", id: 18446744073709551615n },
    choice: { case: "choiceNumber", value: -42 },
    when: timestampFromMs(Date.UTC(2025, 11, 14, 12, 0, 0, 123)),
    items: [{ name: "one", id: 1n }, { name: "two", id: 2n }],
    ratio: 0.1,
    flag: true,
    small: 4294967295,
    innerById: { 7: { name: "seven", id: 7n }, [-1]: { name: "minus", id: 0n } },
  });
}

/** Runs |fn| and returns the ConnectError it throws (fails the test if it does not). */
async function expectError(fn) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ConnectError, `expected a ConnectError, got ${e}`);
    return e;
  }
  assert.fail("the call succeeded; an error was expected");
}

/** Collects a server stream, recording when each message arrived. */
async function collect(stream) {
  const got = [];
  for await (const m of stream) {
    got.push({ m, at: nowMs() });
  }
  return got;
}

for (const tr of transports) {
  describe(tr.name, () => {
    const transport = tr.make();
    const client = createClient(TestService, transport);
    const health = createClient(Health, transport);

    test("unary Echo round-trips every field shape", async () => {
      const payload = fullPayload();
      const res = await client.echo({ payload });
      assert.ok(equals(PayloadSchema, res.payload, payload), `payload differs: ${JSON.stringify(res.payload, (k, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    });

    // protobuf-c keeps strings NUL-terminated, so U+0000 (valid in proto3 strings)
    // cannot survive in C: the server must refuse it, never truncate silently.
    test("a string holding U+0000 round-trips or is refused, never truncated", async () => {
      const text = "before\u0000after";
      try {
        const res = await client.echo({ payload: { text } });
        assert.equal(res.payload.text, text, "the server silently changed the string");
      } catch (e) {
        assert.ok(e instanceof ConnectError, String(e));
        assert.equal(e.code, Code.InvalidArgument, e.message);
      }
    });

    test("unary Echo of an empty message", async () => {
      const res = await client.echo({});
      assert.equal(res.payload, undefined);
      assert.deepEqual(res.headers, {});
    });

    test("unary Echo sees request metadata and returns response headers", async () => {
      let responseHeaders;
      const res = await client.echo(
        { payload: { text: "meta" }, echoHeaders: ["authorization", "x-ferry-test"] },
        {
          headers: { authorization: "Bearer interop-token", "x-ferry-test": "v1" },
          onHeader: (h) => {
            responseHeaders = h;
          },
        },
      );
      assert.equal(res.headers["authorization"], "Bearer interop-token");
      assert.equal(res.headers["x-ferry-test"], "v1");
      assert.ok(responseHeaders, "no response headers seen");
      assert.equal(responseHeaders.get("x-echo"), "1");
      // Successful unary responses do not repeat the request id (see docs/rpc.md).
      assert.equal(responseHeaders.get("ferry-request-id"), null);
    });

    test("errors carry the request id: the server's, or the client's own", async () => {
      let err = await expectError(() => client.fail({ code: "aborted", message: "x" }));
      assert.match(err.metadata.get("ferry-request-id") ?? "", /^[0-9a-f]{16}$/);
      err = await expectError(() =>
        client.fail({ code: "aborted", message: "x" }, { headers: { "ferry-request-id": "node-7.call-1" } }),
      );
      assert.equal(err.metadata.get("ferry-request-id"), "node-7.call-1");
    });

    test("a large unary message (1 MiB each way)", async () => {
      const data = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
      const res = await client.blob({ data, replyBytes: BigInt(1 << 20) });
      assert.equal(res.receivedBytes, BigInt(1 << 20));
      assert.equal(res.data.length, 1 << 20);
    });

    test("error: code, message and Ferry error code (ErrorInfo + header)", async () => {
      const err = await expectError(() =>
        client.fail({ code: "already_exists", message: "version 1.2.3.4(5) exists ✓", appCode: "E_VERSION_DUPLICATE" }),
      );
      assert.equal(err.code, Code.AlreadyExists);
      assert.equal(err.rawMessage, "version 1.2.3.4(5) exists ✓");
      const infos = err.findDetails(ErrorInfoSchema);
      assert.equal(infos.length, 1, "one google.rpc.ErrorInfo detail expected");
      assert.equal(infos[0].reason, "E_VERSION_DUPLICATE");
      assert.equal(err.metadata.get("ferry-error-code"), "E_VERSION_DUPLICATE");
    });

    for (const [name, code] of [
      ["invalid_argument", Code.InvalidArgument],
      ["not_found", Code.NotFound],
      ["permission_denied", Code.PermissionDenied],
      ["unauthenticated", Code.Unauthenticated],
      ["failed_precondition", Code.FailedPrecondition],
      ["resource_exhausted", Code.ResourceExhausted],
      ["unavailable", Code.Unavailable],
      ["internal", Code.Internal],
      ["data_loss", Code.DataLoss],
    ]) {
      test(`error code ${name} survives the trip`, async () => {
        const err = await expectError(() => client.fail({ code: name, message: `m-${name}` }));
        assert.equal(err.code, code);
        assert.equal(err.rawMessage, `m-${name}`);
        assert.equal(err.findDetails(ErrorInfoSchema).length, 0);
      });
    }

    test("deadline: a slow call with a short timeout fails with deadline_exceeded", async () => {
      const t0 = nowMs();
      const err = await expectError(() => client.slow({ delayMs: 5000 }, { timeoutMs: 300 }));
      assert.equal(err.code, Code.DeadlineExceeded);
      assert.ok(nowMs() - t0 < 3000, "the deadline did not cut the call short");
    });

    test("a slow call within its deadline succeeds", async () => {
      const res = await client.slow({ delayMs: 100 }, { timeoutMs: 5000 });
      assert.ok(res.sleptMs >= 100, `slept ${res.sleptMs} ms`);
    });

    test("server stream: messages arrive one by one, in order", async () => {
      const t0 = nowMs();
      const got = await collect(client.count({ n: 5, intervalMs: 150 }));
      assert.deepEqual(
        got.map((g) => g.m.index),
        [0, 1, 2, 3, 4],
      );
      // Sent 150 ms apart: the first must arrive well before the last (no buffering).
      const spread = got[4].at - got[0].at;
      assert.ok(spread >= 400, `messages were not streamed (spread ${spread} ms)`);
      assert.ok(got[0].at - t0 < 400, `first message late (${got[0].at - t0} ms)`);
      for (const g of got) {
        assert.ok(g.m.sentAt, "sentAt missing");
      }
    });

    test("server stream: zero messages", async () => {
      const got = await collect(client.count({ n: 0 }));
      assert.equal(got.length, 0);
    });

    test("server stream: error after some messages keeps code and message", async () => {
      const got = [];
      const err = await expectError(async () => {
        for await (const m of client.count({ n: 10, fail: true, failAfter: 3, failCode: "aborted", failMessage: "stopped at 3" })) {
          got.push(m.index);
        }
      });
      assert.deepEqual(got, [0, 1, 2]);
      assert.equal(err.code, Code.Aborted);
      assert.equal(err.rawMessage, "stopped at 3");
    });

    test("server stream: the client can cancel", async () => {
      const ac = new AbortController();
      const got = [];
      const err = await expectError(async () => {
        for await (const m of client.count({ n: 1000, intervalMs: 20 }, { signal: ac.signal })) {
          got.push(m.index);
          if (got.length === 3) ac.abort();
        }
      });
      assert.equal(err.code, Code.Canceled);
      assert.deepEqual(got, [0, 1, 2]);
    });

    // Over HTTP/1.1 connect-node sends the stream as a chunked body; a Connect GET
    // transport sends client streams with POST like any other streaming call.
    test("client stream: Sum adds every message", async () => {
      async function* values() {
        for (let i = 1; i <= 10; i++) {
          yield { value: BigInt(i) };
        }
        yield { value: -5n };
      }
      const res = await client.sum(values());
      assert.equal(res.total, 50n);
      assert.equal(res.count, 11);
    });

    test("client stream: zero messages", async () => {
      async function* none() {}
      const res = await client.sum(none());
      assert.equal(res.total, 0n);
      assert.equal(res.count, 0);
    });

    test("health: Check of the server is SERVING", async () => {
      const res = await health.check({ service: "" });
      assert.equal(res.status, ServingStatus.SERVING);
    });

    test("health: Check of an unknown service is not_found", async () => {
      const err = await expectError(() => health.check({ service: "no.such.Service" }));
      assert.equal(err.code, Code.NotFound);
    });

    test("health: Watch streams the current status first", async () => {
      const ac = new AbortController();
      let first;
      try {
        for await (const m of health.watch({ service: "" }, { signal: ac.signal })) {
          first = m;
          ac.abort();
        }
      } catch (e) {
        if (!(e instanceof ConnectError) || e.code !== Code.Canceled) throw e;
      }
      assert.ok(first, "no message from Watch");
      assert.equal(first.status, ServingStatus.SERVING);
    });
  });
}

describe("wire checks", () => {
  test("binary encoding of the full payload is what the server echoes back", async () => {
    // A proto client and a JSON client must see the same message: compare bytes.
    const [a, b] = [transports[0], transports[1]].map((t) => createClient(TestService, t.make()));
    const payload = fullPayload();
    const [ra, rb] = await Promise.all([a.echo({ payload }), b.echo({ payload })]);
    assert.deepEqual(toBinary(PayloadSchema, ra.payload), toBinary(PayloadSchema, rb.payload));
  });

  test("many concurrent calls on one HTTP/2 connection", async () => {
    const client = createClient(TestService, transports[0].make());
    const res = await Promise.all(
      Array.from({ length: 200 }, (_, i) => client.echo({ payload: { text: `c${i}`, int64Value: BigInt(i) } })),
    );
    res.forEach((r, i) => {
      assert.equal(r.payload.text, `c${i}`);
      assert.equal(r.payload.int64Value, BigInt(i));
    });
  });
});
