import { describe, expect, it } from "vitest";
import { planChunks, sameOriginUrl, DEFAULT_CHUNK } from "@/upload";

describe("planChunks", () => {
  it("covers the file exactly, from what the server holds", () => {
    expect(planChunks(10, 0, 4)).toEqual([
      { start: 0, end: 3 },
      { start: 4, end: 7 },
      { start: 8, end: 9 },
    ]);
    expect(planChunks(10, 6, 4)).toEqual([
      { start: 6, end: 9 },
    ]);
    expect(planChunks(10, 10, 4)).toEqual([]);
  });
  it("uses the default chunk when the server states none", () => {
    const c = planChunks(DEFAULT_CHUNK * 2 + 1, 0, 0);
    expect(c.length).toBe(3);
    expect(c[2]).toEqual({ start: DEFAULT_CHUNK * 2, end: DEFAULT_CHUNK * 2 });
  });
  it("handles an empty file", () => {
    expect(planChunks(0, 0, 4)).toEqual([]);
  });
});

describe("sameOriginUrl", () => {
  it("keeps a same-origin URL", () => {
    expect(sameOriginUrl("http://127.0.0.1:8443/uploads/ab?sig=1", "http://127.0.0.1:8443")).toBe(
      "http://127.0.0.1:8443/uploads/ab?sig=1",
    );
  });
  it("takes ferryd's /uploads/ path on this origin (the signature covers path and query)", () => {
    expect(sameOriginUrl("http://10.0.0.5:8443/uploads/ab?sig=1&exp=2", "https://ferry.example.com")).toBe(
      "/uploads/ab?sig=1&exp=2",
    );
  });
  it("leaves other storages alone", () => {
    expect(sameOriginUrl("https://cos.example.com/bucket/x?sig", "https://ferry.example.com")).toBe(
      "https://cos.example.com/bucket/x?sig",
    );
  });
});
