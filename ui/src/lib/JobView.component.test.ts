// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobProgress, JobSummary, RequestRow, RetryWhich, Try } from "../bindings";
import { demoJob } from "./fixtures";

const row: RequestRow = {
  seq: 4,
  id: "chat.jsonl:5",
  inference_id: "chat.jsonl-5",
  file: "chat.jsonl",
  line: 5,
  state: "succeeded",
  attempts: 1,
  output_location: "s3://bucket/async-out/chat.jsonl-5.out",
  failure_location: null,
  result: "Paris",
  error: null,
  answer: null,
};
const tries: Try[] = [
  { job: "job-1", state: "failed", result: null, error: "CUDA out of memory", replaced_at: 0 },
];

const cancelJob = vi.fn((id: string, discard: boolean) =>
  Promise.resolve({
    status: "ok",
    data: {
      ...demoJob(id, "seed", "collecting", 5),
      headline: discard ? "cancelled" : "cancelling",
    },
  }),
);
const retryJob = vi.fn((...args: [string, RetryWhich, string | null]) =>
  Promise.resolve({ status: "ok", data: `retry-of-${args[0]}` }),
);
const writeJobFiles = vi.fn((id: string) =>
  Promise.resolve({
    status: "ok",
    data: {
      // A retry's files are its first job's.
      job: id.replace("retry-", ""),
      results: [`/data/${id}/chat.out.jsonl`],
      errors: `/data/${id}/errors.jsonl`,
      manifest: `/data/${id}/manifest.json`,
      lines: 19,
      errors_count: 2,
    },
  }),
);
const requestTries = vi.fn(() => Promise.resolve({ status: "ok", data: tries }));

vi.mock("../bindings", () => ({
  commands: {
    jobResults: () => Promise.resolve({ status: "ok", data: { total: 1, rows: [row] } }),
    jobInput: () => Promise.resolve({ status: "ok", data: '{"messages":[]}' }),
    requestTries: () => requestTries(),
    cancelJob: (id: string, discard: boolean) => cancelJob(id, discard),
    retryJob: (id: string, which: RetryWhich, endpoint: string | null) =>
      retryJob(id, which, endpoint),
    writeJobFiles: (id: string) => writeJobFiles(id),
  },
  events: {
    workProgressEvent: { listen: () => Promise.resolve(() => undefined) },
  },
}));

const { default: JobView } = await import("./JobView.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

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

/** A finished job of 19 lines: 12 succeeded, 4 failed, 3 expired. */
function ended(over: Partial<JobSummary> = {}): JobSummary {
  return {
    ...demoJob("job-1", "seed", "done", 12),
    invoked: 0,
    failed: 4,
    expired: 3,
    headline: "partially completed: 7 of 19 failed (CUDA out of memory: 4)",
    ...over,
  };
}

function showJob(job: JobSummary, onOpen = vi.fn()) {
  render(JobView, {
    props: {
      job,
      live: null,
      tick: 0,
      usdPerHour: null,
      endpoints: ["seed", "bigger"],
      onChanged: () => undefined,
      onOpen,
    },
  });
  return onOpen;
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

  it("puts the engine's headline on top, counts every state, and links a retry to its parent", async () => {
    const onOpen = showJob(ended({ parent: "job-0", cancelled: 1, failed: 3 }));
    expect(screen.getByTestId("job-headline").textContent).toBe(
      "partially completed: 7 of 19 failed (CUDA out of memory: 4)",
    );
    const counts = screen.getByTestId("job-counts").textContent ?? "";
    expect(counts).toContain("3 expired");
    expect(counts).toContain("1 cancelled");
    expect(screen.getByTestId("job-parent").textContent).toContain("A retry of job job-0");
    await fireEvent.click(screen.getByRole("button", { name: "job-0" }));
    expect(onOpen).toHaveBeenCalledWith("job-0");
  });

  it("offers every request state in the filter, expired and cancelled included", () => {
    showJob(ended());
    const options = Array.from(
      (screen.getByTestId("results-filter") as HTMLSelectElement).options,
    ).map((o) => o.textContent);
    expect(options).toContain("expired (no result in time)");
    expect(options).toContain("cancelled");
  });

  it("cancels keeping what was sent unless discarding is chosen", async () => {
    showJob(demoJob("job-1", "seed", "collecting", 5));
    await fireEvent.click(screen.getByTestId("job-cancel"));
    expect(screen.getByTestId("cancel-choice").textContent).toMatch(
      /cannot be taken\s+back: it runs anyway and its GPU time is paid for/,
    );
    await fireEvent.click(screen.getByTestId("cancel-confirm"));
    await waitFor(() => expect(cancelJob).toHaveBeenCalledWith("job-1", false));
    await fireEvent.click(screen.getByTestId("job-cancel"));
    await fireEvent.click(screen.getByTestId("cancel-discard"));
    await fireEvent.click(screen.getByTestId("cancel-confirm"));
    await waitFor(() => expect(cancelJob).toHaveBeenLastCalledWith("job-1", true));
    expect((await screen.findByTestId("job-note")).textContent).toBe("cancelled");
  });

  it("retries the lines ticked, on the endpoint chosen, and opens the new job", async () => {
    const onOpen = showJob(ended());
    await fireEvent.click(screen.getByTestId("job-retry"));
    expect((screen.getByTestId("retry-failed") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId("retry-expired") as HTMLInputElement).checked).toBe(true);
    await fireEvent.click(screen.getByTestId("retry-expired"));
    await fireEvent.change(screen.getByTestId("retry-endpoint"), { target: { value: "bigger" } });
    await fireEvent.click(screen.getByTestId("retry-start"));
    await waitFor(() =>
      expect(retryJob).toHaveBeenCalledWith("job-1", { failed: true, expired: false }, "bigger"),
    );
    await waitFor(() => expect(onOpen).toHaveBeenCalledWith("retry-of-job-1"));
  });

  it("offers no retry while a job runs or when nothing failed", () => {
    showJob(demoJob("job-1", "seed", "collecting", 5));
    expect(screen.queryByTestId("job-retry")).toBeNull();
    cleanup();
    showJob(ended({ failed: 0, expired: 0 }));
    expect(screen.queryByTestId("job-retry")).toBeNull();
  });

  it("writes the result files and shows the three kinds it wrote", async () => {
    showJob(ended());
    await fireEvent.click(screen.getByTestId("write-files"));
    const written = (await screen.findByTestId("written-files")).textContent ?? "";
    expect(writeJobFiles).toHaveBeenCalledWith("job-1");
    expect(written).toContain("/data/job-1/chat.out.jsonl");
    expect(screen.queryByTestId("written-for-parent")).toBeNull();
    expect(written).toContain("/data/job-1/errors.jsonl (2 failed lines)");
    expect(written).toContain("/data/job-1/manifest.json");
  });

  it("says so when a retry's files are its first job's", async () => {
    showJob(ended({ id: "retry-job-1", parent: "job-1" }));
    await fireEvent.click(screen.getByTestId("write-files"));
    const note = (await screen.findByTestId("written-for-parent")).textContent ?? "";
    expect(note).toContain("a retry of job-1");
  });

  it("shows a picked request's ids and the tries a retry replaced", async () => {
    showJob(ended());
    await fireEvent.click(await screen.findByText("Paris"));
    const ids = (await screen.findByTestId("request-ids")).textContent ?? "";
    expect(ids).toContain("chat.jsonl:5");
    expect(ids).toContain("chat.jsonl-5");
    const earlier = (await screen.findByTestId("request-tries")).textContent ?? "";
    expect(earlier).toContain("failed in job job-1");
    expect(earlier).toContain("CUDA out of memory");
  });
});
