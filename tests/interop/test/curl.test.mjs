// Plain curl with JSON: what an integrator without any RPC library does (docs/idl.md).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, test } from "node:test";
import { promisify } from "node:util";

import { baseUrl } from "./lib.mjs";

const run = promisify(execFile);

/**
 * Runs curl and returns { status, headers (lower-case names), body }. |args| are
 * extra curl arguments; the URL comes last.
 */
async function curl(args, url) {
  const marker = "\n--ferry-status:";
  const { stdout } = await run("curl", ["-sS", "-D", "-", "-w", `${marker}%{http_code}`, ...args, url], {
    maxBuffer: 16 << 20,
  });
  const cut = stdout.lastIndexOf(marker);
  const status = Number(stdout.slice(cut + marker.length));
  const raw = stdout.slice(0, cut);
  // Skip interim responses (e.g. "HTTP/1.1 101 Switching Protocols" on Upgrade: h2c).
  const blocks = raw.split(/\r\n\r\n/);
  let i = 0;
  while (i < blocks.length - 1 && /^HTTP\/\S+ 1\d\d/.test(blocks[i])) i++;
  const head = blocks[i];
  const body = blocks.slice(i + 1).join("\r\n\r\n");
  const headers = {};
  for (const line of head.split("\r\n").slice(1)) {
    const c = line.indexOf(":");
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status, headers, body };
}

const json = ["-H", "content-type: application/json"];

for (const [name, flags] of [
  ["HTTP/1.1", ["--http1.1"]],
  ["h2c prior knowledge", ["--http2-prior-knowledge"]],
  ["h2c upgrade", ["--http2"]],
]) {
  describe(`curl ${name}`, () => {
    test("unary POST with JSON", async () => {
      const req = {
        payload: { text: "curl", int64Value: "-5", data: "AAEC/w==", color: "COLOR_RED", tags: ["x"], when: "2025-12-14T12:00:00.500Z" },
      };
      const r = await curl([...flags, ...json, "-d", JSON.stringify(req)], `${baseUrl}/ferrytest.v1.TestService/Echo`);
      assert.equal(r.status, 200, r.body);
      assert.match(r.headers["content-type"], /^application\/json/);
      const body = JSON.parse(r.body);
      assert.equal(body.payload.text, "curl");
      assert.equal(body.payload.int64Value, "-5"); // 64-bit integers are JSON strings
      assert.equal(body.payload.data, "AAEC/w==");
      assert.equal(body.payload.color, "COLOR_RED");
      assert.deepEqual(body.payload.tags, ["x"]);
      assert.equal(body.payload.when, "2025-12-14T12:00:00.500Z");
    });

    test("proto field names and enum numbers are accepted on input", async () => {
      const req = { payload: { int64_value: 7, color: 2, choice_text: "t" } };
      const r = await curl([...flags, ...json, "-d", JSON.stringify(req)], `${baseUrl}/ferrytest.v1.TestService/Echo`);
      assert.equal(r.status, 200, r.body);
      const body = JSON.parse(r.body);
      assert.equal(body.payload.int64Value, "7");
      assert.equal(body.payload.color, "COLOR_GREEN");
      assert.equal(body.payload.choiceText, "t");
    });

    test("Connect GET of a NO_SIDE_EFFECTS method", async () => {
      const message = JSON.stringify({ payload: { text: "via GET ✓", int64Value: "12" } });
      const r = await curl(
        [...flags, "-G", "--data-urlencode", "connect=v1", "--data-urlencode", "encoding=json", "--data-urlencode", `message=${message}`],
        `${baseUrl}/ferrytest.v1.TestService/Echo`,
      );
      assert.equal(r.status, 200, r.body);
      const body = JSON.parse(r.body);
      assert.equal(body.payload.text, "via GET ✓");
      assert.equal(body.payload.int64Value, "12");
    });

    test("Connect GET of the health check", async () => {
      const r = await curl(
        [...flags, "-G", "--data-urlencode", "connect=v1", "--data-urlencode", "encoding=json", "--data-urlencode", "message={}"],
        `${baseUrl}/grpc.health.v1.Health/Check`,
      );
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { status: "SERVING" });
    });

    test("an error: HTTP status, Connect error JSON and ferry-error-code header", async () => {
      const req = { code: "not_found", message: "no node 'n1'", appCode: "E_AUTH_INVALID" };
      const r = await curl([...flags, ...json, "-d", JSON.stringify(req)], `${baseUrl}/ferrytest.v1.TestService/Fail`);
      assert.equal(r.status, 404);
      assert.match(r.headers["content-type"], /^application\/json/);
      const body = JSON.parse(r.body);
      assert.equal(body.code, "not_found");
      assert.equal(body.message, "no node 'n1'");
      assert.equal(r.headers["ferry-error-code"], "E_AUTH_INVALID");
      assert.ok(Array.isArray(body.details) && body.details.some((d) => d.type === "google.rpc.ErrorInfo"), r.body);
    });

    test("unknown method is 404 unimplemented", async () => {
      const r = await curl([...flags, ...json, "-d", "{}"], `${baseUrl}/ferrytest.v1.TestService/NoSuchMethod`);
      assert.equal(r.status, 404);
    });

    test("GET of a method with side effects is refused", async () => {
      const r = await curl(
        [...flags, "-G", "--data-urlencode", "connect=v1", "--data-urlencode", "encoding=json", "--data-urlencode", "message={}"],
        `${baseUrl}/ferrytest.v1.TestService/Fail`,
      );
      assert.equal(r.status, 405);
    });

    test("unsupported content type is 415", async () => {
      const r = await curl([...flags, "-H", "content-type: text/plain", "-d", "{}"], `${baseUrl}/ferrytest.v1.TestService/Echo`);
      assert.equal(r.status, 415);
    });

    test("malformed JSON is invalid_argument", async () => {
      const r = await curl([...flags, ...json, "-d", "{not json"], `${baseUrl}/ferrytest.v1.TestService/Echo`);
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.body).code, "invalid_argument");
    });

    test("unknown JSON field is invalid_argument", async () => {
      const r = await curl([...flags, ...json, "-d", '{"noSuchField":1}'], `${baseUrl}/ferrytest.v1.TestService/Echo`);
      assert.equal(r.status, 400);
      assert.equal(JSON.parse(r.body).code, "invalid_argument");
    });

    test("connect-timeout-ms is honoured", async () => {
      const r = await curl(
        [...flags, ...json, "-H", "connect-timeout-ms: 200", "-d", '{"delayMs":5000}'],
        `${baseUrl}/ferrytest.v1.TestService/Slow`,
      );
      assert.equal(r.status, 504);
      assert.equal(JSON.parse(r.body).code, "deadline_exceeded");
    });
  });
}
