// Live view of one release: folds WatchRelease messages into the current task set.
// Pure (no I/O) so it is unit-tested; the page feeds it the stream.
import type { UpdateTask } from "./gen/ferry/v1/common_pb";
import { TaskState } from "./gen/ferry/v1/common_pb";
import type { Release, TaskEvent, WatchReleaseResponse } from "./gen/ferry/v1/admin_pb";
import { isFinalState } from "./format";

/** Most recent events kept for the live log. */
export const EVENT_LOG_MAX = 200;

export class ReleaseView {
  release: Release | undefined;
  tasks = new Map<string, UpdateTask>();
  events: TaskEvent[] = [];
  snapshotDone = false;
  lastKeepAlive = 0;

  /** Applies one stream message; returns true when something visible changed. */
  apply(msg: WatchReleaseResponse, now = Date.now()): boolean {
    let changed = false;
    switch (msg.event.case) {
      case "task": {
        const t = msg.event.value;
        const old = this.tasks.get(t.id);
        // Reports can race a snapshot: never let an older report overwrite a newer one.
        if (!old || t.lastSequence >= old.lastSequence || isFinalState(t.state)) {
          this.tasks.set(t.id, t);
          changed = true;
        }
        break;
      }
      case "release":
        this.release = msg.event.value;
        changed = true;
        break;
      case "keepAlive":
        this.lastKeepAlive = now;
        break;
    }
    if (msg.taskEvent) {
      this.events.unshift(msg.taskEvent);
      if (this.events.length > EVENT_LOG_MAX) this.events.length = EVENT_LOG_MAX;
      changed = true;
    }
    if (msg.snapshotDone && !this.snapshotDone) {
      this.snapshotDone = true;
      changed = true;
    }
    return changed;
  }

  /** Tasks ordered by node code, then kind. */
  list(): UpdateTask[] {
    return [...this.tasks.values()].sort(
      (a, b) => a.nodeCode.localeCompare(b.nodeCode) || a.kind - b.kind || a.id.localeCompare(b.id),
    );
  }

  /** Number of tasks per state code. */
  countByState(): Map<TaskState, number> {
    const m = new Map<TaskState, number>();
    for (const t of this.tasks.values()) m.set(t.state, (m.get(t.state) ?? 0) + 1);
    return m;
  }

  /** Number of failed tasks per error code. */
  failuresByCode(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of this.tasks.values())
      if (t.state === TaskState.FAILED) m.set(t.errorCode || "?", (m.get(t.errorCode || "?") ?? 0) + 1);
    return m;
  }
}

/**
 * The waves field of the release form: "5, 25%,100%" -> ["5", "25%", "100%"]. Blank -> no
 * waves. Items are passed as typed (the server checks them and names a bad one).
 */
export function parseWaves(text: string): string[] {
  const t = text.trim();
  return t === "" ? [] : t.split(",").map((x) => x.trim());
}

/** Percent (0..100, rounded down) of a wave's nodes at 100. */
export function wavePercent(w: { nodeCount: bigint; succeeded: bigint }): number {
  if (w.nodeCount === 0n) return 0;
  return Number((w.succeeded * 100n) / w.nodeCount);
}
