import { describe, expect, it } from "vitest";
import type { EndpointMetrics, EndpointSummary, ScalingStatus, Series } from "../bindings";
import { aligned, findingsByField, hasErrors, idleWarning } from "./scaling";

const series = (name: string, times: number[], values: number[]): Series => ({
  name,
  statistic: "Average",
  meaning: "",
  times_ms: times,
  values,
});

const endpoint: EndpointSummary = {
  name: "flan",
  status: "InService",
  failure_reason: null,
  config_name: "flan",
  instance_type: "ml.g5.12xlarge",
  current_instances: 2,
  desired_instances: 2,
  is_async: true,
  output_path: null,
  failure_path: null,
  age_s: 0,
  usd_per_hour: 14.18,
  price_source: "price_list",
  created_by_ebb: true,
};

function metrics(backlog: number[]): EndpointMetrics {
  // One point a minute, the newest at the end of the range.
  const end = 3_600_000;
  const times = backlog.map((_, i) => end - (backlog.length - 1 - i) * 60_000);
  return {
    endpoint: "flan",
    start_ms: 0,
    end_ms: end,
    period_s: 60,
    series: [series("ApproximateBacklogSize", times, backlog)],
    instances: series("InstanceCount", [], []),
    jobs_completed: series("JobRequestsCompleted", [], []),
  };
}

function status(bounds: [number, number] | null): ScalingStatus {
  return {
    endpoint,
    bounds,
    policies: [],
    activities: [],
    findings: [],
    spec: null,
    warnings: [],
  };
}

describe("scaling helpers", () => {
  it("keeps the first finding per field and tells errors apart", () => {
    const found = findingsByField([
      { field: "max", severity: "error", message: "below min" },
      { field: "max", severity: "warning", message: "below current" },
    ]);
    expect(found.max?.message).toBe("below min");
    expect(hasErrors([{ field: "max", severity: "warning", message: "" }])).toBe(false);
  });

  it("aligns series on one axis and carries step values forward", () => {
    const data = aligned(
      [series("backlog", [0, 60_000], [5, 7])],
      [series("instances", [0, 30_000], [1, 2])],
    );
    expect(data[0]).toEqual([0, 30, 60]);
    expect(data[1]).toEqual([5, null, 7]);
    expect(data[2]).toEqual([1, 2, 2]);
  });

  it("warns about instances paid for with nothing to do, and only then", () => {
    const idle = metrics(Array<number>(12).fill(0));
    expect(idleWarning(status(null), idle, 14.18)).toContain("no autoscaling");
    expect(idleWarning(status([1, 5]), idle, 14.18)).toContain("minimum is 1");
    // Scaling to zero already in place: the policy will act.
    expect(idleWarning(status([0, 5]), idle, 14.18)).toBeNull();
    // Requests in the last ten minutes: not idle.
    expect(idleWarning(status(null), metrics([...Array<number>(11).fill(0), 3]), 1)).toBeNull();
    // Too little history to say.
    expect(idleWarning(status(null), metrics([0, 0]), 1)).toBeNull();
  });
});
