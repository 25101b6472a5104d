import { describe, expect, it } from "vitest";
import type { DeployOutcome, DeployProgress } from "../bindings";
import { duration, logTail, offerRemoval, statusLines, verdictText } from "./deployProgress";

function progress(p: Partial<DeployProgress>): DeployProgress {
  return {
    step: "wait_in_service",
    message: "Creating",
    elapsed_s: 0,
    in_state_s: 0,
    log_lines: [],
    log_problem: null,
    ...p,
  };
}

const failed: DeployOutcome = {
  endpoint_name: "e",
  status: "Failed",
  verdict: "failed",
  failure_reason:
    "The primary container for production variant AllTraffic did not pass the ping health check.",
  diagnosis: null,
  smoke_test: null,
  resources: ["model e"],
};

describe("deploy progress", () => {
  it("keeps one line per status, with the newest time in it", () => {
    const lines = statusLines([
      progress({ step: "create_endpoint", message: "creating endpoint e" }),
      progress({ elapsed_s: 2, in_state_s: 0 }),
      progress({ elapsed_s: 64, in_state_s: 62 }),
      progress({ message: "InService", elapsed_s: 70 }),
      progress({
        step: "smoke_test",
        message: "waiting for the test request's answer (0 s of 600 s)",
      }),
      progress({
        step: "smoke_test",
        message: "waiting for the test request's answer (4 s of 600 s)",
      }),
    ]);
    expect(lines.map((l) => l.message)).toEqual([
      "creating endpoint e",
      "Creating",
      "InService",
      "waiting for the test request's answer (4 s of 600 s)",
    ]);
    expect(lines[1]?.in_state_s).toBe(62);
  });

  it("shows the newest log lines in order", () => {
    const tail = logTail(
      [
        progress({ log_lines: ["a", "b"] }),
        progress({ log_lines: [] }),
        progress({ log_lines: ["c"] }),
      ],
      2,
    );
    expect(tail).toEqual(["b", "c"]);
    expect(duration(45)).toBe("45 s");
    expect(duration(125)).toBe("2 min 5 s");
  });

  it("says ready only when a test request was answered", () => {
    const ready = verdictText({
      ...failed,
      status: "InService",
      verdict: "ready",
      failure_reason: null,
      smoke_test: {
        passed: true,
        input_location: "s3://b/in.json",
        output_location: "s3://b/out",
        failure_location: "s3://b/fail",
        output: "[]",
        failure: null,
        waited_s: 3,
        deadline_s: 600,
        cancelled: false,
        error: null,
      },
    });
    expect(ready).toEqual({
      text: "e is ready: InService, and a test request was answered in 3 s",
      ok: true,
    });
    const failing = verdictText({
      ...failed,
      status: "InService",
      verdict: "in_service_failing",
      failure_reason: "the test request failed: CUDA out of memory",
    });
    expect(failing.ok).toBe(false);
    expect(failing.text).toBe(
      "e is in service but failing: the test request failed: CUDA out of memory",
    );
    expect(verdictText(failed).text).toMatch(/^e failed: The primary container/);
    expect(offerRemoval(failed)).toBe(true);
    expect(offerRemoval({ ...failed, verdict: "cancelled" })).toBe(false);
  });
});
