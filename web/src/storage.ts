// Storage form helpers (pure; unit-tested).
import { create } from "@bufbuild/protobuf";
import type { DownloadMirror } from "./gen/ferry/v1/admin_pb";
import { DownloadMirrorSchema } from "./gen/ferry/v1/admin_pb";

/** "name=url" lines (blank lines ignored) into mirrors; a line without '=' is an error naming it. */
export function parseMirrors(text: string): DownloadMirror[] {
  const out: DownloadMirror[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const eq = line.indexOf("=");
    if (eq <= 0 || eq === line.length - 1)
      throw new Error(`E_INVALID_ARG: mirrors line ${i + 1} '${line}': expected NAME=URL`);
    out.push(create(DownloadMirrorSchema, { name: line.slice(0, eq).trim(), baseUrl: line.slice(eq + 1).trim() }));
  });
  return out;
}
