import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { failedHookIds } from "@/hooks";
import { HookReportSchema, HookResult, HookStage, TaskState, UpdateTaskSchema } from "@/gen/ferry/v1/common_pb";

function task(state: TaskState, hooks: Array<[string, HookStage, HookResult]>) {
  return create(UpdateTaskSchema, {
    id: "7",
    state,
    hooks: hooks.map(([hookId, stage, result]) => create(HookReportSchema, { hookId, stage, result })),
  });
}

describe("failedHookIds", () => {
  it("lists the failed hooks of a failed task, post_upgrade left out", () => {
    const t = task(TaskState.FAILED, [
      ["tea_gone", HookStage.PRE_CHECK, HookResult.FAIL],
      ["soft", HookStage.PRE_CHECK, HookResult.WARN],
      ["export_b", HookStage.PRE_UPGRADE, HookResult.FAIL],
      ["late", HookStage.POST_UPGRADE, HookResult.FAIL],
      ["skipped", HookStage.PRE_START, HookResult.SKIPPED],
    ]);
    expect(failedHookIds(t)).toEqual(["tea_gone", "export_b"]);
  });
  it("offers nothing for a task that is not failed, has no failed hook, or is unknown", () => {
    expect(failedHookIds(task(TaskState.SUCCEEDED, [["x", HookStage.PRE_CHECK, HookResult.FAIL]]))).toEqual([]);
    expect(failedHookIds(task(TaskState.FAILED, [["x", HookStage.PRE_CHECK, HookResult.PASS]]))).toEqual([]);
    expect(failedHookIds(task(TaskState.FAILED, []))).toEqual([]);
    expect(failedHookIds(undefined)).toEqual([]);
  });
});
