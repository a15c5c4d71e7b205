import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ReleaseView, parseWaves, wavePercent } from "@/release";
import { ReleaseSchema, ReleaseState, ReleaseWaveSchema, WatchReleaseResponseSchema } from "@/gen/ferry/v1/admin_pb";

describe("rollout helpers (issue 13)", () => {
  it("splits the waves field as typed, blank = no waves", () => {
    expect(parseWaves("5,25%,100%")).toEqual(["5", "25%", "100%"]);
    expect(parseWaves(" 5 , 25% ")).toEqual(["5", "25%"]);
    expect(parseWaves("   ")).toEqual([]);
    // An empty item is kept: the server refuses it naming the wave.
    expect(parseWaves("5,,100%")).toEqual(["5", "", "100%"]);
  });

  it("a wave's progress is its nodes at 100, rounded down, never dividing by zero", () => {
    expect(wavePercent(create(ReleaseWaveSchema, { nodeCount: 3n, succeeded: 2n }))).toBe(66);
    expect(wavePercent(create(ReleaseWaveSchema, { nodeCount: 0n, succeeded: 0n }))).toBe(0);
  });

  it("a release event (wave started, paused by itself) replaces the release shown", () => {
    const v = new ReleaseView();
    const msg = create(WatchReleaseResponseSchema, {
      event: {
        case: "release",
        value: create(ReleaseSchema, {
          id: "7",
          state: ReleaseState.PAUSED,
          currentWave: 1,
          pausedReason: "wave 1: 1 of 1 task(s) failed, above the error threshold 0%",
          waves: [create(ReleaseWaveSchema, { number: 1, spec: "canary", nodeCount: 1n, failed: 1n })],
        }),
      },
    });
    expect(v.apply(msg)).toBe(true);
    expect(v.release?.pausedReason).toContain("error threshold");
    expect(v.release?.waves[0].spec).toBe("canary");
  });
});
