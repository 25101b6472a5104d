// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Estimate, JobSettings, RequestStatus, ScanOptions, ScanSummary } from "../bindings";

const summary: ScanSummary = {
  files: 2,
  requests: 3,
  request_bytes: 120,
  errors: 1,
  warnings: 1,
  problems: [
    {
      file: "a.jsonl",
      line: 4,
      column: 18,
      severity: "error",
      message: "invalid JSON: EOF while parsing an object",
    },
    {
      file: "b.jsonl",
      line: 1,
      column: 1,
      severity: "warning",
      message: 'no string "inputs" field',
    },
  ],
  formats: [
    { file: "a.jsonl", format: "tgi", requests: 2 },
    { file: "b.jsonl", format: "tgi", requests: 1 },
  ],
  needs_messages_api: false,
};

const scanJobs = vi.fn((...args: [string[], ScanOptions]) =>
  Promise.resolve({ status: "ok", data: { ...summary, files: args[0].length + 1 } }),
);
const estimate: Estimate = {
  requests: 3,
  bytes: 120,
  approx_input_tokens: 30,
  instance_type: "ml.g5.2xlarge",
  instances: 1,
  rps_per_instance: 0.5,
  throughput: { kind: "assumed" },
  hours: 0.0017,
  instance_hours: 0.0017,
  usd_per_hour: 1.515,
  price_source: "estimate",
  instance_usd: 0.0025,
  s3_requests: 9,
  s3_usd: 0.00004,
  bound_factor: null,
};
const estimateJob = vi.fn((...args: [string[], ScanOptions, string, boolean, number | null]) =>
  Promise.resolve({
    status: "ok",
    data:
      args[4] === null
        ? estimate
        : {
            ...estimate,
            rps_per_instance: args[4],
            hours: 2,
            instance_hours: 2,
            throughput: { kind: "measured", job: "job-0" },
            bound_factor: 1.5,
          },
  }),
);
const found: RequestStatus = {
  job: "job-7",
  endpoint: "seed",
  id: "req-42",
  inference_id: "req-42",
  file: "a.jsonl",
  line: 42,
  seq: 41,
  state: "failed",
  attempts: 2,
  invoked_at: 1_700_000_000,
  completed_at: 1_700_000_060,
  output_location: "s3://bucket/async-out/req-42.out",
  failure_location: "s3://bucket/async-failures/req-42-error.out",
  result: null,
  error: "CUDA out of memory",
  tries: [],
};
const requestStatus = vi.fn((id: string) =>
  Promise.resolve(
    id === "req-42"
      ? { status: "ok", data: [found] }
      : { status: "error", error: { message: `no request ${id}` } },
  ),
);
const submitJob = vi.fn((...args: [string[], ScanOptions, string, JobSettings, boolean]) =>
  Promise.resolve({ status: "ok", data: `job-for-${args[2]}` }),
);

vi.mock("../bindings", () => ({
  commands: {
    scanJobs: (p: string[], o: ScanOptions) => scanJobs(p, o),
    submitJob: (p: string[], o: ScanOptions, e: string, s: JobSettings, v: boolean) =>
      submitJob(p, o, e, s, v),
    estimateJob: (p: string[], o: ScanOptions, e: string, u: boolean, r: number | null) =>
      estimateJob(p, o, e, u, r),
    requestStatus: (id: string) => requestStatus(id),
    listJobs: () => Promise.resolve({ status: "ok", data: [] }),
    demoFolder: () => Promise.resolve(null),
    listEndpoints: () =>
      Promise.resolve({
        status: "ok",
        data: [
          { name: "realtime", is_async: false, status: "InService" },
          { name: "seed", is_async: true, status: "InService" },
        ],
      }),
  },
  events: {
    jobProgressEvent: { listen: () => Promise.resolve(() => undefined) },
    jobErrorEvent: { listen: () => Promise.resolve(() => undefined) },
    workProgressEvent: { listen: () => Promise.resolve(() => undefined) },
  },
}));
vi.mock("@tauri-apps/api/webview", () => ({
  getCurrentWebview: () => ({ onDragDropEvent: () => Promise.resolve(() => undefined) }),
}));

const { default: JobsScreen } = await import("./JobsScreen.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("jobs screen", () => {
  it("shows every problem by file:line:column and sends nothing until the valid lines only are chosen", async () => {
    render(JobsScreen);
    await fireEvent.input(screen.getByTestId("job-paths"), {
      target: { value: "/data/requests\n" },
    });
    await fireEvent.click(screen.getByTestId("job-scan"));
    await screen.findByTestId("scan-summary");
    expect(scanJobs).toHaveBeenCalledWith(["/data/requests"], {
      recursive: false,
      per_file: false,
      id_field: null,
    });
    expect(screen.getByTestId("scan-problems").textContent).toContain("a.jsonl:4:18");
    expect(screen.getByText(/2 files, 3 requests/)).toBeTruthy();
    const submit = screen.getByTestId("job-submit") as HTMLButtonElement;
    expect(submit.disabled).toBe(true);
    // Only the async endpoint is offered.
    await waitFor(() =>
      expect((screen.getByTestId("job-endpoint") as HTMLSelectElement).value).toBe("seed"),
    );
    await fireEvent.click(screen.getByLabelText(/send the valid lines only/));
    expect(submit.disabled).toBe(false);
    await fireEvent.click(submit);
    await waitFor(() => expect(submitJob).toHaveBeenCalled());
    const call = submitJob.mock.calls[0];
    if (!call) throw new Error("submitJob was not called");
    const [paths, , endpoint, settings, validOnly] = call;
    expect([paths, endpoint, validOnly]).toEqual([["/data/requests"], "seed", true]);
    expect(settings.invocation_timeout_s).toBe(900);
  });

  async function scanned(idField = "") {
    render(JobsScreen);
    await fireEvent.input(screen.getByTestId("job-paths"), { target: { value: "/data/chat" } });
    if (idField)
      await fireEvent.input(screen.getByTestId("job-id-field"), { target: { value: idField } });
    await fireEvent.click(screen.getByTestId("job-scan"));
    await screen.findByTestId("scan-summary");
  }

  it("names each file's format with its count, and says when the model needs the Messages API", async () => {
    scanJobs.mockResolvedValueOnce({
      status: "ok",
      data: {
        ...summary,
        errors: 0,
        problems: [],
        formats: [
          { file: "batch.jsonl", format: "openai", requests: 2 },
          { file: "chat.jsonl", format: "chat", requests: 1 },
          { file: "records.jsonl", format: "bedrock", requests: 4 },
        ],
        needs_messages_api: true,
      },
    });
    await scanned("request_id");
    expect(scanJobs).toHaveBeenCalledWith(["/data/chat"], {
      recursive: false,
      per_file: false,
      id_field: "request_id",
    });
    const formats = screen.getByTestId("scan-formats").textContent ?? "";
    expect(formats).toContain("batch.jsonl: OpenAI batch lines, 2 requests");
    expect(formats).toContain("chat.jsonl: chat messages, 1 request");
    expect(formats).toContain("records.jsonl: Bedrock batch records, 4 requests");
    expect(screen.getByTestId("messages-api-note").textContent).toContain("Messages API");
  });

  it("says nothing of the Messages API for TGI requests", async () => {
    await scanned();
    expect(screen.getByTestId("scan-formats").textContent).toContain("a.jsonl: TGI requests");
    expect(screen.queryByTestId("messages-api-note")).toBeNull();
  });

  it("prices a job, says when its throughput is ASSUMED, and prices it again at a given one", async () => {
    await scanned();
    await waitFor(() =>
      expect((screen.getByTestId("job-endpoint") as HTMLSelectElement).value).toBe("seed"),
    );
    await fireEvent.click(screen.getByTestId("price-it"));
    const shown = await screen.findByTestId("estimate");
    expect(estimateJob).toHaveBeenCalledWith(
      ["/data/chat"],
      { recursive: false, per_file: false, id_field: null },
      "seed",
      false,
      null,
    );
    expect(screen.getByTestId("estimate-throughput").textContent).toContain("ASSUMED");
    expect(shown.textContent).toContain("0.50 requests/s per instance");
    expect(shown.textContent).toContain("1 × ml.g5.2xlarge");
    expect(shown.textContent).toContain("$0.00 at $1.515/h (Ebb's bundled estimate)");
    expect(shown.textContent).toContain("about 9 requests, $0.0000");
    expect(shown.textContent).toContain("only a guess");
    await fireEvent.input(screen.getByTestId("assume-rps"), { target: { value: "2" } });
    await fireEvent.click(screen.getByTestId("price-it"));
    await waitFor(() =>
      expect(screen.getByTestId("estimate-throughput").textContent).toContain(
        "measured by job job-0",
      ),
    );
    expect(estimateJob.mock.calls[1]?.[4]).toBe(2);
    expect(screen.getByTestId("estimate").textContent).toMatch(
      /expected\s+between 80 min and 3\.0 h/,
    );
  });

  it("finds a request of any job by its id and shows where it is", async () => {
    render(JobsScreen);
    await fireEvent.input(screen.getByTestId("find-request"), { target: { value: "req-42" } });
    await fireEvent.click(screen.getByTestId("find-request-go"));
    const match = await screen.findByTestId("request-match");
    expect(requestStatus).toHaveBeenCalledWith("req-42");
    expect(match.textContent).toContain("job-7");
    expect(match.textContent).toContain("a.jsonl:42");
    expect(screen.getByTestId("match-state").textContent).toContain("failed after 2 sends");
    expect(match.textContent).toContain("CUDA out of memory");
    expect(match.textContent).toContain("s3://bucket/async-failures/req-42-error.out");
    // A failed request has no output: where it would have been is left out.
    expect(match.textContent).not.toContain("s3://bucket/async-out/req-42.out");
  });

  it("says so when no request has the id", async () => {
    render(JobsScreen);
    await fireEvent.input(screen.getByTestId("find-request"), { target: { value: "nope" } });
    await fireEvent.click(screen.getByTestId("find-request-go"));
    await screen.findByText(/no request nope/);
    expect(screen.queryByTestId("request-match")).toBeNull();
  });
});
