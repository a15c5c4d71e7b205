import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ReleaseView, EVENT_LOG_MAX } from "@/release";
import { WatchReleaseResponseSchema, ReleaseSchema, ReleaseState, TaskEventSchema } from "@/gen/ferry/v1/admin_pb";
import { UpdateTaskSchema, TaskState, TaskKind } from "@/gen/ferry/v1/common_pb";

function taskMsg(id: string, node: string, state: TaskState, seq: number, extra: Partial<{ errorCode: string; snapshotDone: boolean }> = {}) {
  return create(WatchReleaseResponseSchema, {
    event: {
      case: "task",
      value: create(UpdateTaskSchema, {
        id,
        nodeCode: node,
        kind: TaskKind.UPDATE,
        state,
        lastSequence: BigInt(seq),
        errorCode: extra.errorCode ?? "",
      }),
    },
    taskEvent: create(TaskEventSchema, { taskId: id, state, sequence: BigInt(seq) }),
    snapshotDone: extra.snapshotDone ?? false,
  });
}

describe("ReleaseView", () => {
  it("folds a snapshot and live updates into one row per task", () => {
    const v = new ReleaseView();
    expect(v.apply(taskMsg("t2", "n2", TaskState.PENDING, 0))).toBe(true);
    expect(v.apply(taskMsg("t1", "n1", TaskState.PENDING, 0, { snapshotDone: true }))).toBe(true);
    expect(v.snapshotDone).toBe(true);
    v.apply(taskMsg("t1", "n1", TaskState.DOWNLOADING, 1));
    v.apply(taskMsg("t1", "n1", TaskState.SUCCEEDED, 9));
    v.apply(taskMsg("t2", "n2", TaskState.FAILED, 4, { errorCode: "E_SQL_FAILED_DATA" }));
    expect(v.list().map((t) => [t.nodeCode, t.state])).toEqual([
      ["n1", TaskState.SUCCEEDED],
      ["n2", TaskState.FAILED],
    ]);
    expect(v.countByState().get(TaskState.SUCCEEDED)).toBe(1);
    expect([...v.failuresByCode()]).toEqual([["E_SQL_FAILED_DATA", 1]]);
  });
  it("never lets an older report overwrite a newer one", () => {
    const v = new ReleaseView();
    v.apply(taskMsg("t1", "n1", TaskState.RUNNING_SQL, 7));
    v.apply(taskMsg("t1", "n1", TaskState.DOWNLOADING, 2));
    expect(v.tasks.get("t1")?.state).toBe(TaskState.RUNNING_SQL);
  });
  it("tracks the release and keep-alives", () => {
    const v = new ReleaseView();
    v.apply(create(WatchReleaseResponseSchema, { event: { case: "release", value: create(ReleaseSchema, { id: "3", state: ReleaseState.PAUSED }) } }));
    expect(v.release?.state).toBe(ReleaseState.PAUSED);
    expect(v.apply(create(WatchReleaseResponseSchema, { event: { case: "keepAlive", value: {} } }), 1234)).toBe(false);
    expect(v.lastKeepAlive).toBe(1234);
  });
  it("caps the event log", () => {
    const v = new ReleaseView();
    for (let i = 0; i < EVENT_LOG_MAX + 50; i++) v.apply(taskMsg("t1", "n1", TaskState.DOWNLOADING, i));
    expect(v.events.length).toBe(EVENT_LOG_MAX);
    expect(v.events[0].sequence).toBe(BigInt(EVENT_LOG_MAX + 49));
  });
});
