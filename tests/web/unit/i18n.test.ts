import { describe, expect, it } from "vitest";
import { messages, translate } from "@/i18n";
import { TaskState } from "@/gen/ferry/v1/common_pb";

describe("i18n", () => {
  it("has the same keys in Chinese and English, none empty", () => {
    const zh = Object.keys(messages["zh-CN"]).sort();
    const en = Object.keys(messages.en).sort();
    expect(en).toEqual(zh);
    for (const l of ["zh-CN", "en"] as const)
      for (const [k, v] of Object.entries(messages[l])) expect(v.trim(), `${l} ${k}`).not.toBe("");
  });
  it("names every task state in both languages", () => {
    for (const v of Object.values(TaskState)) {
      if (typeof v !== "number") continue;
      expect(translate("zh-CN", `state.${v}`)).not.toBe(`state.${v}`);
      expect(translate("en", `state.${v}`)).not.toBe(`state.${v}`);
    }
  });
  it("names every value of the enums the pages show, unset (0) included", async () => {
    const common = await import("@/gen/ferry/v1/common_pb");
    const adm = await import("@/gen/ferry/v1/admin_pb");
    const tables: [string, Record<string, unknown>][] = [
      ["env", common.Environment],
      ["conn", common.Connectivity],
      ["task.kind", common.TaskKind],
      ["file.kind", common.FileKind],
      ["rel.policy", common.ReleasePolicy],
      ["lic.status", common.LicenseStatus],
      ["lic.type", common.LicenseType],
      ["cfgt.state", common.ConfigAssignmentState],
      ["rel.state", adm.ReleaseState],
      ["audit.outcome", adm.AuditOutcome],
      ["storage.kind", adm.StorageKind],
    ];
    for (const [prefix, e] of tables)
      for (const v of Object.values(e))
        if (typeof v === "number")
          for (const l of ["zh-CN", "en"] as const) expect(translate(l, `${prefix}.${v}`), `${l} ${prefix}.${v}`).not.toBe(`${prefix}.${v}`);
  });
  it("defaults to Chinese text and fills placeholders", () => {
    expect(translate("zh-CN", "state.110")).toBe("失败");
    expect(translate("en", "state.110")).toBe("Failed");
    expect(translate("en", "rel.rollbackCreated", { n: 2, skipped: "n1" })).toBe(
      "Rollback tasks created: 2; skipped (no backup): n1",
    );
    expect(translate("en", "no.such.key")).toBe("no.such.key");
  });
});
