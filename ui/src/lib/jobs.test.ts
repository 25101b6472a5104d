import { describe, expect, it } from "vitest";
import type { JobSummary, ScanSummary } from "../bindings";
import {
  doneFraction,
  duration,
  estimateBounds,
  formatLine,
  jobCost,
  numberOrNull,
  PageCache,
  pagesCovering,
  scanVerdict,
  throughputSource,
  visibleRange,
} from "./jobs";

const scan = (errors: number, requests: number): ScanSummary => ({
  files: 2,
  requests,
  request_bytes: 4200,
  errors,
  warnings: 1,
  problems: [],
  formats: [],
  needs_messages_api: false,
});

describe("scan verdict", () => {
  it("refuses input with errors unless the valid lines only are wanted", () => {
    const v = scanVerdict(scan(2, 17), false);
    expect(v.canSubmit).toBe(false);
    expect(v.why).toContain("send the 17 valid requests");
    expect(v.text).toBe("2 files, 17 requests (4.2 kB), 2 errors, 1 warning");
    expect(scanVerdict(scan(2, 17), true).canSubmit).toBe(true);
  });
  it("has nothing to send when no line is valid", () => {
    expect(scanVerdict(scan(3, 0), true)).toMatchObject({
      canSubmit: false,
      why: "No valid request to send.",
    });
  });
});

describe("virtualized rows", () => {
  it("draws only what is visible, with overscan, within the table", () => {
    expect(visibleRange(0, 280, 28, 100_000)).toEqual({ first: 0, last: 20 });
    expect(visibleRange(28 * 50_000, 280, 28, 100_000, 5)).toEqual({ first: 49_995, last: 50_015 });
    expect(visibleRange(28 * 99_999, 280, 28, 100_000)).toEqual({ first: 99_989, last: 100_000 });
    expect(visibleRange(0, 280, 28, 0)).toEqual({ first: 0, last: 0 });
  });

  it("fetches the pages a range of rows falls in, and no more", () => {
    expect(pagesCovering(0, 20, 200)).toEqual([0]);
    expect(pagesCovering(190, 230, 200)).toEqual([0, 1]);
    expect(pagesCovering(200, 400, 200)).toEqual([1]);
    expect(pagesCovering(99_900, 100_000, 200)).toEqual([499]);
    expect(pagesCovering(0, 0, 200)).toEqual([0]);
  });
});

describe("formatting", () => {
  it("counts finished results and speaks durations plainly", () => {
    expect(doneFraction({ total: 4, succeeded: 2, failed: 1, expired: 0, cancelled: 0 })).toBe(
      0.75,
    );
    expect(doneFraction({ total: 8, succeeded: 2, failed: 1, expired: 2, cancelled: 1 })).toBe(
      0.75,
    );
    expect(doneFraction({ total: 0, succeeded: 0, failed: 0, expired: 0, cancelled: 0 })).toBe(0);
    expect(duration(42)).toBe("42 s");
    expect(duration(600)).toBe("10 min");
    expect(duration(null)).toBe("—");
  });
});

describe("jobCost", () => {
  const job = { created_at: 1000, finished_at: null } as unknown as JobSummary;
  it("charges the endpoint's hourly cost for the time the job has run", () => {
    expect(jobCost(job, 7.09, 1000 + 1800)).toBeCloseTo(3.545);
    expect(jobCost({ ...job, finished_at: 1000 + 3600 }, 7.09, 99_999)).toBeCloseTo(7.09);
    expect(jobCost(job, null, 5000)).toBeNull();
  });
});

describe("batch wording", () => {
  it("names formats and throughput sources as the CLI does", () => {
    expect(formatLine({ file: "x.jsonl", format: "openai", requests: 1 })).toBe(
      "x.jsonl: OpenAI batch lines, 1 request",
    );
    expect(throughputSource({ kind: "assumed" })).toMatch(/^ASSUMED/);
    expect(throughputSource({ kind: "measured", job: "j1" })).toBe("measured by job j1");
  });
  it("bounds a measured estimate and not an assumed one", () => {
    const e = { hours: 2, bound_factor: 2 } as Parameters<typeof estimateBounds>[0];
    expect(estimateBounds(e)).toEqual([1, 4]);
    expect(estimateBounds({ ...e, bound_factor: null })).toBeNull();
  });
  it("reads empty number inputs as null", () => {
    expect(numberOrNull(null)).toBeNull();
    expect(numberOrNull(undefined)).toBeNull();
    expect(numberOrNull("")).toBeNull();
    expect(numberOrNull("2.5")).toBe(2.5);
    expect(numberOrNull(600)).toBe(600);
  });
});

describe("page cache", () => {
  it("never holds more than its limit, however many pages are visited", () => {
    const cache = new PageCache<number>(12);
    for (let p = 0; p < 5000; p++) {
      cache.put(p, [p], [p - 1, p]);
      expect(cache.size).toBeLessThanOrEqual(12);
    }
    // The last pages are held; the first ones were let go and must be fetched again.
    expect(cache.peek(4999)).toEqual([4999]);
    expect(cache.peek(4988)).toEqual([4988]);
    expect(cache.peek(4987)).toBeUndefined();
    expect(cache.touch(0)).toBe(false);
  });

  it("lets the least recently used page go first, never a page in view", () => {
    const cache = new PageCache<string>(3);
    cache.put(1, ["a"]);
    cache.put(2, ["b"]);
    cache.put(3, ["c"]);
    // Page 1 used again: page 2 is now the oldest.
    expect(cache.touch(1)).toBe(true);
    cache.put(4, ["d"], [2, 4]);
    expect(cache.peek(2)).toEqual(["b"]);
    expect(cache.peek(3)).toBeUndefined();
    expect(cache.size).toBe(3);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.peek(1)).toBeUndefined();
  });
});
