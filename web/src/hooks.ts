// What the task page offers about a task's upgrade hooks, kept out of the view so it is
// testable without a browser.
import type { UpdateTask } from "./gen/ferry/v1/common_pb";
import { HookResult, HookStage, TaskState } from "./gen/ferry/v1/common_pb";

/**
 * The hooks `RetryTask(skip_failed_hook)` would skip, as far as the page can tell: those
 * the agent reported FAIL, post_upgrade left out (it runs after 100 and never fails a
 * task). The server decides (it also leaves out `on_failure: continue` hooks, which only
 * the package says, and checks the role); this only decides whether to offer the button.
 */
export function failedHookIds(task: UpdateTask | undefined): string[] {
  if (!task || task.state !== TaskState.FAILED) return [];
  return task.hooks
    .filter((h) => h.result === HookResult.FAIL && h.stage !== HookStage.POST_UPGRADE)
    .map((h) => h.hookId);
}
