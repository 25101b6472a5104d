// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WorkKind, WorkProgress } from "../bindings";

type Listener = (e: { payload: { progress: WorkProgress } }) => void;
let listener: Listener | null = null;
const cancelWork = vi.fn((kind: WorkKind) => Promise.resolve(kind));

vi.mock("../bindings", () => ({
  commands: { cancelWork: (kind: WorkKind) => cancelWork(kind) },
  events: {
    workProgressEvent: {
      listen: (l: Listener) => {
        listener = l;
        return Promise.resolve(() => (listener = null));
      },
    },
  },
}));

const { default: WorkProgressBar } = await import("./WorkProgressBar.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
  listener = null;
});

function report(p: Partial<WorkProgress>): void {
  const progress: WorkProgress = {
    kind: "scan",
    done: 0,
    total: 0,
    files_done: 0,
    files_total: 1,
    elapsed_s: 1,
    rate_per_s: 0,
    eta_s: null,
    ...p,
  };
  listener?.({ payload: { progress } });
}

describe("work progress bar", () => {
  it("shows a scan's bytes, rate and time left, ignoring other work's reports", async () => {
    render(WorkProgressBar, { kind: "scan" });
    await waitFor(() => expect(listener).not.toBeNull());
    // Nothing before the first report (a submit that reuses the last scan reads nothing).
    expect(screen.queryByTestId("work-scan")).toBeNull();
    report({ done: 50e6, total: 200e6, rate_per_s: 25e6, eta_s: 6, files_done: 1, files_total: 4 });
    report({ kind: "export", done: 7, total: 9, rate_per_s: 1, eta_s: 2 });
    const text = await screen.findByText(/50\.0 MB of 200\.0 MB/);
    expect(text.textContent).toBe("50.0 MB of 200.0 MB · file 2 of 4 · 25.0 MB/s · about 6 s left");
    const bar = screen.getByTestId("work-scan").querySelector("progress");
    expect(bar?.value).toBe(50e6);
    expect(bar?.max).toBe(200e6);
  });

  it("counts rows for an export, and Cancel stops that work", async () => {
    render(WorkProgressBar, { kind: "export" });
    await waitFor(() => expect(listener).not.toBeNull());
    report({ kind: "export", done: 250000, total: 1000000, rate_per_s: 50000, eta_s: 15 });
    await screen.findByText("250,000 of 1,000,000 rows · 50,000 rows/s · about 15 s left");
    const button = screen.getByTestId("work-cancel");
    await fireEvent.click(button);
    expect(cancelWork).toHaveBeenCalledWith("export");
    expect(button.textContent).toBe("Stopping…");
    expect((button as HTMLButtonElement).disabled).toBe(true);
  });
});
