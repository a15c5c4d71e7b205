// A reference implementation of ferrytest.v1.TestService and grpc.health.v1.Health
// with connect-es's own server (h2c only). It checks the interop suite itself: run
// the suite against it to tell a wrong expectation from a bug in Ferry's runtime.
//
//   FERRY_INTEROP_GEN=<gen dir> node reference-server.mjs --host H --port N --port-file F
//
// (the command line of tests/integration/rpc_test_server, so run.sh can start either:
// FERRY_RPC_TEST_SERVER=<script running this file> bash run.sh)
//
// Not used by ctest. Ferry extensions (ferry-request-id header, ferry-error-code
// header, ErrorInfo detail) are imitated so the same assertions hold.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import http2 from "node:http2";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";

import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

const genDir = process.env.FERRY_INTEROP_GEN;
const load = (rel) => import(pathToFileURL(path.join(genDir, rel)).href);
const { TestService } = await load("ferrytest/v1/test_pb.js");
const { Health, HealthCheckResponse_ServingStatus: Serving } = await load("grpc/health/v1/health_pb.js");
const { ErrorInfoSchema } = await load("ferryinterop/error_info_pb.js");

function codeFromName(name) {
  const key = Object.keys(Code).find((k) => isNaN(Number(k)) && k.toLowerCase() === String(name).replaceAll("_", ""));
  return key ? Code[key] : Code.Unknown;
}

function fail(code, message, appCode) {
  const meta = new Headers();
  const details = [];
  if (appCode) {
    meta.set("ferry-error-code", appCode);
    details.push({ desc: ErrorInfoSchema, value: { reason: appCode, domain: "ferry" } });
  }
  return new ConnectError(message, codeFromName(code), meta, details);
}

const flaky = new Map();

const testImpl = {
  echo(req, ctx) {
    const headers = {};
    for (const h of req.echoHeaders) {
      const v = ctx.requestHeader.get(h);
      if (v !== null) headers[h] = v;
    }
    return { payload: req.payload, headers };
  },
  fail(req) {
    throw fail(req.code, req.message, req.appCode);
  },
  async slow(req, ctx) {
    const t0 = Date.now();
    try {
      await sleep(req.delayMs, undefined, { signal: ctx.signal });
    } catch {
      // Canceled: by the deadline (connect-timeout-ms) or the client going away.
      throw new ConnectError("slow call canceled", Code.DeadlineExceeded);
    }
    return { sleptMs: Date.now() - t0 };
  },
  async *count(req, ctx) {
    for (let i = 0; i < req.n; i++) {
      if (req.fail && i === req.failAfter) throw fail(req.failCode || "aborted", req.failMessage);
      if (i > 0 && req.intervalMs) await sleep(req.intervalMs, undefined, { signal: ctx.signal });
      yield { index: i, sentAt: timestampNow() };
    }
    if (req.fail && req.failAfter >= req.n) throw fail(req.failCode || "aborted", req.failMessage);
  },
  async sum(reqs) {
    let total = 0n;
    let count = 0;
    for await (const r of reqs) {
      total += r.value;
      count++;
    }
    return { total, count };
  },
  blob(req) {
    return { receivedBytes: BigInt(req.data.length), data: new Uint8Array(Number(req.replyBytes)) };
  },
  flaky(req) {
    const n = (flaky.get(req.key) ?? 0) + 1;
    flaky.set(req.key, n);
    if (n <= req.failures) throw new ConnectError("flaky", Code.Unavailable);
    return { attempts: n };
  },
};

const healthImpl = {
  check(req) {
    if (req.service === "" || req.service === TestService.typeName) return { status: Serving.SERVING };
    throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
  },
  async *watch(req, ctx) {
    yield { status: req.service === "" || req.service === TestService.typeName ? Serving.SERVING : Serving.SERVICE_UNKNOWN };
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  },
};

const requestId = (next) => async (req) => {
  const id = randomBytes(8).toString("hex");
  const res = await next(req);
  res.header.set("ferry-request-id", id);
  return res;
};

const handler = connectNodeAdapter({
  routes(router) {
    router.service(TestService, testImpl);
    router.service(Health, healthImpl);
  },
  interceptors: [requestId],
  // Unknown paths: 404, as the Connect protocol asks.
  fallback: (req, res) => {
    res.writeHead(404);
    res.end();
  },
  // Ferry rejects unknown JSON fields; so does the reference.
  jsonOptions: { ignoreUnknownFields: false },
});

const server = http2.createServer(handler);
const opt = { host: "127.0.0.1", port: "0", portFile: "" };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, "").replace(/-(\w)/g, (_, c) => c.toUpperCase());
  opt[key] = process.argv[i + 1];
}
server.listen(Number(opt.port), opt.host, () => {
  const port = String(server.address().port);
  if (opt.portFile) writeFileSync(opt.portFile, `${port}\n`);
  console.log(`listening on port ${port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
