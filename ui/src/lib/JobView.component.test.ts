// @vitest-environment jsdom
import { cleanup, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobProgress } from "../bindings";
import { demoJob } from "./fixtures";

vi.mock("../bindings", () => ({
  commands: {
    jobResults: () => Promise.resolve({ status: "ok", data: { total: 0, rows: [] } }),
  },
}));

const { default: JobView } = await import("./JobView.svelte");

afterEach(cleanup);

function progress(runElsewhere: string | null): JobProgress {
  return {
    job: demoJob("job-1", "seed", "submitting", 5),
    invoke_rate: 12,
    result_rate: 3,
    uploaded: 0,
    result_s3_calls: 0,
    retried_calls: 0,
    eta_s: 40,
    run_elsewhere: runElsewhere,
  };
}

function show(live: JobProgress) {
  render(JobView, {
    props: { job: live.job, live, tick: 0, usdPerHour: null, onChanged: () => undefined },
  });
}

describe("job view", () => {
  it("says which process runs a job it only follows, and shows no rates of its own", () => {
    show(progress("process 42 on box (running for 3 min, last heard from 2 s ago)"));
    expect(screen.getByTestId("job-elsewhere").textContent).toContain(
      "Run by process 42 on box (running for 3 min",
    );
    expect(screen.getByTestId("job-counts").textContent).not.toContain("sent/s");
  });

  it("shows the rates of a job it runs itself", () => {
    show(progress(null));
    expect(screen.queryByTestId("job-elsewhere")).toBeNull();
    expect(screen.getByTestId("job-counts").textContent).toContain("12 sent/s");
  });
});
