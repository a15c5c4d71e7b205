// Pure display helpers (unit-tested in tests/web/unit).
import { timestampDate, type Timestamp, type Duration } from "@bufbuild/protobuf/wkt";
import { TaskState, Environment } from "./gen/ferry/v1/common_pb";

/** Formats |ts| in the browser's time zone (or |timeZone| for tests); "—" when unset. */
export function formatTime(ts: Timestamp | undefined, locale: string, timeZone?: string): string {
  if (!ts || (ts.seconds === 0n && ts.nanos === 0)) return "—";
  const d = timestampDate(ts);
  return new Intl.DateTimeFormat(locale, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
    timeZone,
  }).format(d);
}

/** The browser's IANA zone ("Asia/Shanghai"). */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function formatBytes(n: bigint | number): string {
  let v = typeof n === "bigint" ? Number(n) : n;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** Final task states of seed 000 §8.2: 100, 110, 130. */
export function isFinalState(s: TaskState): boolean {
  return s === TaskState.SUCCEEDED || s === TaskState.FAILED || s === TaskState.ROLLBACKED;
}

/** The seed's numeric code of a state (the enum values are the codes). */
export function stateCode(s: TaskState): number {
  return s as number;
}

/** CSS class of a state: ok, fail, run, wait, rb (restored: final, but not the update asked for). */
export function stateClass(s: TaskState): string {
  if (s === TaskState.SUCCEEDED) return "ok";
  if (s === TaskState.ROLLBACKED) return "rb";
  if (s === TaskState.FAILED) return "fail";
  if (s === TaskState.PENDING || s === TaskState.WAITING_USER) return "wait";
  return "run";
}

export const environments: Environment[] = [
  Environment.DEV,
  Environment.TEST,
  Environment.UAT,
  Environment.PROD,
];

/** Version string `a.b.c.d(build)` found in a package file name, or "". */
export function versionFromFileName(name: string): string {
  const m = /(\d+\.\d+\.\d+\.\d+\(\d+\))/.exec(name);
  return m ? m[1] : "";
}

/** Checks the seed's version syntax `a.b.c.d(build)`. */
export function isVersion(v: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+\(\d+\)$/.test(v);
}

/** Share of tasks in a final state, in percent (0 for no task). */
export function finishedPercent(tasks: { state: TaskState }[]): number {
  if (tasks.length === 0) return 0;
  return Math.round((100 * tasks.filter((t) => isFinalState(t.state)).length) / tasks.length);
}

/** "1.25 s", "850 ms", "2 min 5 s"; "—" when unset. */
export function formatDuration(d: Duration | undefined): string {
  if (!d) return "—";
  const ms = Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The last instant of a local calendar day "YYYY-MM-DD" (a licence ends at the end of its day). */
export function endOfLocalDay(day: string): Date {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d, 23, 59, 59);
}

/** "a, b,,c" -> ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text.split(/[,，\n]/).map((x) => x.trim()).filter(Boolean);
}

/** "k=v" lines -> a map; a line without '=' is an error naming it. */
export function parsePairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`E_INVALID_ARG: values line ${i + 1} '${line}': expected KEY=VALUE`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  return out;
}
