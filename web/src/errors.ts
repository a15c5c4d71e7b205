// Turns any failure into what the console shows: the server's application error code
// (seed 000 §8.3 E_* name, from the `ferry-error-code` header), the Connect code and
// the server's message.
import { ConnectError, Code } from "@connectrpc/connect";

export interface ShownError {
  /** E_* code when the server sent one, else "". */
  appCode: string;
  /** Connect code name ("not_found", "permission_denied"...), or "" for non-RPC failures. */
  rpcCode: string;
  /** The server's (or the browser's) message. */
  message: string;
}

const codeNames: Record<number, string> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};

export function rpcCodeName(code: Code): string {
  return codeNames[code] ?? `code_${code}`;
}

/** An error from a plain HTTP transfer (signed URLs): status + body "E_CODE: message". */
export class TransferError extends Error {
  constructor(
    public status: number,
    public appCode: string,
    message: string,
  ) {
    super(message);
    this.name = "TransferError";
  }
}

/** Parses a transfer route's text body "E_CODE: message" (server/console.c, ferry_route_fail). */
export function parseTransferBody(status: number, header: string | null, body: string): TransferError {
  const m = /^(E_[A-Z0-9_]+):\s*(.*)$/s.exec(body.trim());
  const appCode = header || (m ? m[1] : "");
  const message = (m ? m[2] : body.trim()) || `HTTP ${status}`;
  return new TransferError(status, appCode, message);
}

export function describeError(e: unknown): ShownError {
  if (e instanceof ConnectError) {
    let appCode = e.metadata.get("ferry-error-code") ?? "";
    if (!appCode) {
      const m = /\b(E_[A-Z0-9_]+)\b/.exec(e.rawMessage);
      if (m) appCode = m[1];
    }
    return { appCode, rpcCode: rpcCodeName(e.code), message: e.rawMessage };
  }
  if (e instanceof TransferError) {
    return { appCode: e.appCode, rpcCode: `http_${e.status}`, message: e.message };
  }
  if (e instanceof Error) {
    // The console's own checks speak like the server: "E_CODE: message".
    const m = /^(E_[A-Z0-9_]+):\s*(.*)$/s.exec(e.message);
    return m ? { appCode: m[1], rpcCode: "", message: m[2] } : { appCode: "", rpcCode: "", message: e.message };
  }
  return { appCode: "", rpcCode: "", message: String(e) };
}

/** One line: "E_NOT_FOUND (not_found): customer 'X' does not exist". */
export function errorLine(e: unknown): string {
  const d = describeError(e);
  const head = [d.appCode, d.rpcCode ? `(${d.rpcCode})` : ""].filter(Boolean).join(" ");
  return head ? `${head}: ${d.message}` : d.message;
}
