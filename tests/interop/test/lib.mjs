// Shared setup of the interop suite: where the server is, the generated stubs, and
// the matrix of third-party transports (connect-es) to run every case with.
import path from "node:path";
import { pathToFileURL } from "node:url";

import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

/** Base URL of the Ferry test server, e.g. http://127.0.0.1:40123 */
export const baseUrl = process.env.FERRY_INTEROP_URL;
if (!baseUrl) {
  throw new Error("FERRY_INTEROP_URL is not set (run the suite through tests/interop/run.sh)");
}

/** Directory holding the stubs protoc-gen-es generated for this run. */
const genDir = process.env.FERRY_INTEROP_GEN ?? path.resolve(import.meta.dirname ?? ".", "..", "gen");

async function gen(rel) {
  return import(pathToFileURL(path.join(genDir, rel)).href);
}

export const testPb = await gen("ferrytest/v1/test_pb.js");
export const healthPb = await gen("grpc/health/v1/health_pb.js");
export const errorInfoPb = await gen("ferryinterop/error_info_pb.js");

/**
 * The client configurations every case runs with. `http1` marks HTTP/1.1 (where
 * connect-node cannot stream requests), `get` one that uses Connect GET for
 * side-effect-free methods.
 */
export const transports = [
  {
    name: "connect+proto h2",
    protocol: "connect",
    make: () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  },
  {
    name: "connect+json h2",
    protocol: "connect",
    make: () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
  },
  {
    name: "connect+proto http/1.1",
    protocol: "connect",
    http1: true,
    make: () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  },
  {
    name: "connect+json GET h2",
    protocol: "connect",
    get: true,
    make: () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, useHttpGet: true }),
  },
  {
    name: "connect+proto GET http/1.1",
    protocol: "connect",
    get: true,
    http1: true,
    make: () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, useHttpGet: true }),
  },
  {
    name: "grpc-web+proto h2",
    protocol: "grpc-web",
    make: () => createGrpcWebTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  },
  {
    name: "grpc-web+json h2",
    protocol: "grpc-web",
    make: () => createGrpcWebTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false }),
  },
  {
    name: "grpc-web+proto http/1.1",
    protocol: "grpc-web",
    http1: true,
    make: () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  },
];

/** Milliseconds since an arbitrary origin (monotonic). */
export function nowMs() {
  return Number(process.hrtime.bigint() / 1000000n);
}
