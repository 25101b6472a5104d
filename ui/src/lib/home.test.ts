import { describe, expect, it } from "vitest";
import type { JobSummary, Overview } from "../bindings";
import { clock, costNote, stepMark, withJob } from "./home";
import { demoJob } from "./fixtures";

function job(id: string, state: JobSummary["state"], succeeded: number): JobSummary {
  return demoJob(id, "seed", state, succeeded);
}

const overview = (unfinished: JobSummary[], guideJob: JobSummary | null): Overview =>
  ({
    endpoints: 1,
    running: [],
    usd_per_hour: 0,
    jobs: unfinished.length,
    unfinished,
    guide: guideJob ? ({ job: guideJob } as Overview["guide"]) : null,
  }) as Overview;

describe("home helpers", () => {
  it("marks a step by where it stands", () => {
    expect([stepMark("todo", 2), stepMark("working", 2), stepMark("done", 2)]).toEqual([
      "2",
      "…",
      "✓",
    ]);
  });

  it("says what the running endpoints' cost means: nothing billed in local mode", () => {
    expect(costNote(7.094, "local")).toMatch(
      /^~\$7\.09\/h in all.*would cost on AWS\. The local cloud bills nothing\.$/,
    );
    expect(costNote(14.18, "aws")).toMatch(/^~\$14\.18\/h in all.*; not your bill\.$/);
  });

  it("shows a time of day as a clock does", () => {
    expect(clock(new Date(2025, 0, 1, 9, 5, 7).getTime())).toBe("09:05:07");
  });

  it("takes a job's progress into the list and the guide, and drops it once finished", () => {
    const o = overview([job("a", "collecting", 3)], job("a", "collecting", 3));
    const later = withJob(o, job("a", "collecting", 12));
    expect(later.unfinished[0]?.succeeded).toBe(12);
    expect(later.guide?.job?.succeeded).toBe(12);
    const other = withJob(o, job("b", "submitting", 0));
    expect(other.unfinished.map((j) => j.id)).toEqual(["b", "a"]);
    expect(other.guide?.job?.id).toBe("a");
    const done = withJob(o, job("a", "done", 19));
    expect(done.unfinished).toEqual([]);
    expect(done.guide?.job?.state).toBe("done");
  });
});
