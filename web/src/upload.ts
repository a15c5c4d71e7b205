// Package upload from the browser over the same resumable signed-URL protocol as the
// CLI (cli/upload.c, admin.proto UploadTarget): PUT chunks with
// `Content-Range: bytes a-b/total`, the server answers `Upload-Offset`; a HEAD on the
// URL tells how much arrived, so an interrupted upload continues where it stopped.
import type { UploadTarget } from "./gen/ferry/v1/common_pb";
import { parseTransferBody } from "./errors";

/** Chunk size used when the server states none (8 MiB). */
export const DEFAULT_CHUNK = 8 * 1024 * 1024;
/** Files up to this size are hashed in the browser (WebCrypto hashes in one piece). */
export const HASH_LIMIT = 512 * 1024 * 1024;

export interface Chunk {
  start: number;
  end: number; // inclusive
}

/** The chunks still to send for |size| bytes of which |received| arrived, at most |max| each. */
export function planChunks(size: number, received: number, max: number): Chunk[] {
  const step = max > 0 ? max : DEFAULT_CHUNK;
  const out: Chunk[] = [];
  for (let s = Math.max(0, received); s < size; s += step) out.push({ start: s, end: Math.min(size, s + step) - 1 });
  return out;
}

/** The URL to use from this page: a ferryd-served /uploads/ URL is taken same-origin (the signature covers path and query, not the host). */
export function sameOriginUrl(url: string, origin: string): string {
  const u = new URL(url, origin);
  if (u.origin !== origin && u.pathname.startsWith("/uploads/")) return u.pathname + u.search;
  return u.toString();
}

export type FetchFn = typeof fetch;

async function failOf(res: Response): Promise<Error> {
  return parseTransferBody(res.status, res.headers.get("ferry-error-code"), await res.text());
}

/** Bytes the server holds for this upload (HEAD, `Upload-Offset`). */
export async function receivedBytes(target: UploadTarget, origin: string, f: FetchFn = fetch): Promise<number> {
  const res = await f(sameOriginUrl(target.url, origin), { method: "HEAD", headers: target.headers });
  if (!res.ok) throw await failOf(res);
  const off = res.headers.get("upload-offset");
  if (off === null) throw new Error("HEAD upload URL: no Upload-Offset header");
  return Number(off);
}

/**
 * Sends |file| from what the server already holds; |onProgress(sent, total)| after
 * each chunk. Resolves with the final offset (= file.size).
 */
export async function sendFile(
  file: Blob,
  target: UploadTarget,
  origin: string,
  onProgress: (sent: number, total: number) => void,
  f: FetchFn = fetch,
  signal?: AbortSignal,
  replans = 0,
): Promise<number> {
  let offset = await receivedBytes(target, origin, f);
  onProgress(offset, file.size);
  const url = sameOriginUrl(target.url, origin);
  for (const c of planChunks(file.size, offset, Number(target.maxChunkSize))) {
    if (c.start !== offset) break; // the server moved: replan below
    const res = await f(url, {
      method: target.method || "PUT",
      headers: { ...target.headers, "content-range": `bytes ${c.start}-${c.end}/${file.size}` },
      body: file.slice(c.start, c.end + 1),
      signal,
    });
    if (res.status === 409) {
      // Someone else (another tab, the CLI) advanced the upload: continue from there.
      const off = res.headers.get("upload-offset");
      // A 409 without a new offset, or again and again, is a conflict we cannot settle.
      if (off === null || replans >= 5) throw await failOf(res);
      return sendFile(file, target, origin, onProgress, f, signal, replans + 1);
    }
    if (!res.ok) throw await failOf(res);
    const off = res.headers.get("upload-offset");
    offset = off !== null ? Number(off) : c.end + 1;
    onProgress(offset, file.size);
  }
  return offset;
}

/** Lower-case hex SHA-256 of |file|, or "" when too large or WebCrypto is unavailable (plain-HTTP origins). */
export async function sha256Hex(file: Blob): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle || file.size > HASH_LIMIT) return "";
  const d = new Uint8Array(await subtle.digest("SHA-256", await file.arrayBuffer()));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}
