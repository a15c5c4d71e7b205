import { describe, expect, it } from "vitest";
import { ConnectError, Code } from "@connectrpc/connect";
import { describeError, errorLine, parseTransferBody } from "@/errors";

describe("errors", () => {
  it("shows the server's E_* code from ferry-error-code, the RPC code and the message", () => {
    const e = new ConnectError("customer 'X' does not exist", Code.NotFound, { "ferry-error-code": "E_NOT_FOUND" });
    expect(describeError(e)).toEqual({
      appCode: "E_NOT_FOUND",
      rpcCode: "not_found",
      message: "customer 'X' does not exist",
    });
    expect(errorLine(e)).toBe("E_NOT_FOUND (not_found): customer 'X' does not exist");
  });
  it("finds an E_* code in the message when the header is missing", () => {
    const e = new ConnectError("E_VERSION_DUPLICATE: 1.2.3.4(5) exists", Code.AlreadyExists);
    expect(describeError(e).appCode).toBe("E_VERSION_DUPLICATE");
  });
  it("parses a transfer route's text error", () => {
    const e = parseTransferBody(403, null, "E_AUTH_INVALID: signature does not verify\n");
    expect(describeError(e)).toEqual({
      appCode: "E_AUTH_INVALID",
      rpcCode: "http_403",
      message: "signature does not verify",
    });
    expect(parseTransferBody(409, "E_PRECONDITION", "offset 5").appCode).toBe("E_PRECONDITION");
  });
  it("reads the console's own E_* checks", () => {
    expect(describeError(new Error("E_VERSION_INVALID: 'x' is not a.b.c.d(build)"))).toEqual({
      appCode: "E_VERSION_INVALID",
      rpcCode: "",
      message: "'x' is not a.b.c.d(build)",
    });
  });
  it("keeps plain errors readable", () => {
    expect(errorLine(new TypeError("Failed to fetch"))).toBe("Failed to fetch");
  });
});
