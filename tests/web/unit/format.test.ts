import { describe, expect, it } from "vitest";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  finishedPercent,
  formatBytes,
  formatDuration,
  endOfLocalDay,
  parsePairs,
  splitList,
  formatTime,
  isFinalState,
  isVersion,
  stateClass,
  versionFromFileName,
} from "@/format";
import { TaskState } from "@/gen/ferry/v1/common_pb";

describe("formatTime", () => {
  const ts = timestampFromDate(new Date("2026-12-05T01:02:03Z"));
  it("shows the instant in the given zone", () => {
    expect(formatTime(ts, "en-GB", "Asia/Shanghai")).toContain("09:02:03");
    expect(formatTime(ts, "en-GB", "UTC")).toContain("01:02:03");
    expect(formatTime(ts, "en-GB", "America/New_York")).toContain("20:02:03");
  });
  it("marks an unset time", () => {
    expect(formatTime(undefined, "zh-CN")).toBe("—");
    expect(formatTime(timestampFromDate(new Date(0)), "zh-CN")).toBe("—");
  });
});

describe("states", () => {
  it("knows the final states of seed 000 §8.2", () => {
    const finals = Object.values(TaskState)
      .filter((v): v is TaskState => typeof v === "number")
      .filter(isFinalState)
      .map(Number);
    expect(finals.sort((a, b) => a - b)).toEqual([100, 110, 130]);
  });
  it("classes states for colour", () => {
    expect(stateClass(TaskState.SUCCEEDED)).toBe("ok");
    expect(stateClass(TaskState.FAILED)).toBe("fail");
    expect(stateClass(TaskState.ROLLBACKED)).toBe("rb");
    expect(stateClass(TaskState.WAITING_USER)).toBe("wait");
    expect(stateClass(TaskState.RUNNING_SQL)).toBe("run");
  });
  it("counts finished tasks", () => {
    expect(finishedPercent([])).toBe(0);
    expect(
      finishedPercent([
        { state: TaskState.SUCCEEDED },
        { state: TaskState.FAILED },
        { state: TaskState.DOWNLOADING },
        { state: TaskState.PENDING },
      ]),
    ).toBe(50);
  });
});

describe("versions", () => {
  it("finds the version in a package file name", () => {
    expect(versionFromFileName("1.25.12.13(12521).zip")).toBe("1.25.12.13(12521)");
    expect(versionFromFileName("pkg-1.2.3.4(5)-final.zip")).toBe("1.2.3.4(5)");
    expect(versionFromFileName("release.zip")).toBe("");
  });
  it("checks the a.b.c.d(build) syntax", () => {
    expect(isVersion("1.25.12.13(12521)")).toBe(true);
    expect(isVersion("1.25.12(12521)")).toBe(false);
    expect(isVersion("1.25.12.13")).toBe(false);
    expect(isVersion(" 1.2.3.4(5)")).toBe(false);
  });
});

describe("formatBytes", () => {
  it("uses binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5n * 1024n * 1024n * 1024n)).toBe("5.0 GiB");
  });
});

describe("formatDuration", () => {
  it("picks a readable unit", () => {
    expect(formatDuration(undefined)).toBe("—");
    expect(formatDuration({ seconds: 0n, nanos: 850_000_000 } as never)).toBe("850 ms");
    expect(formatDuration({ seconds: 1n, nanos: 250_000_000 } as never)).toBe("1.25 s");
    expect(formatDuration({ seconds: 125n, nanos: 0 } as never)).toBe("2 min 5 s");
  });
});

describe("form helpers", () => {
  it("splits lists on commas (also the Chinese one) and newlines", () => {
    expect(splitList("pos, report，inventory\n\n ,x")).toEqual(["pos", "report", "inventory", "x"]);
    expect(splitList("")).toEqual([]);
  });
  it("reads KEY=VALUE lines and names a bad one", () => {
    expect(parsePairs("port=8080\n\n host = db1 \nurl=a=b")).toEqual({ port: "8080", host: "db1", url: "a=b" });
    expect(() => parsePairs("ok=1\nnope")).toThrow("E_INVALID_ARG: values line 2 'nope': expected KEY=VALUE");
  });
  it("ends a licence day at its last local second", () => {
    const d = endOfLocalDay("2027-03-04");
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()]).toEqual([
      2027, 2, 4, 23, 59, 59,
    ]);
  });
});
