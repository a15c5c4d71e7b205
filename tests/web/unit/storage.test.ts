import { describe, expect, it } from "vitest";
import { parseMirrors } from "@/storage";

describe("parseMirrors", () => {
  it("reads NAME=URL lines, skipping blank ones", () => {
    const m = parseMirrors("mirror-1=http://10.0.0.5:8080/ferry\n\n  lan = http://lan/x?a=b \n");
    expect(m.map((x) => [x.name, x.baseUrl])).toEqual([
      ["mirror-1", "http://10.0.0.5:8080/ferry"],
      ["lan", "http://lan/x?a=b"],
    ]);
    expect(parseMirrors("")).toEqual([]);
  });
  it("names the bad line", () => {
    expect(() => parseMirrors("ok=http://a\nbroken")).toThrow("E_INVALID_ARG: mirrors line 2 'broken': expected NAME=URL");
    expect(() => parseMirrors("=http://a")).toThrow(/line 1/);
    expect(() => parseMirrors("name=")).toThrow(/line 1/);
  });
});
