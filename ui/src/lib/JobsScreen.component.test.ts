// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobSettings, ScanOptions, ScanSummary } from "../bindings";

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
};

const scanJobs = vi.fn((...args: [string[], ScanOptions]) =>
  Promise.resolve({ status: "ok", data: { ...summary, files: args[0].length + 1 } }),
);
const submitJob = vi.fn((...args: [string[], ScanOptions, string, JobSettings, boolean]) =>
  Promise.resolve({ status: "ok", data: `job-for-${args[2]}` }),
);

vi.mock("../bindings", () => ({
  commands: {
    scanJobs: (p: string[], o: ScanOptions) => scanJobs(p, o),
    submitJob: (p: string[], o: ScanOptions, e: string, s: JobSettings, v: boolean) =>
      submitJob(p, o, e, s, v),
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
});
