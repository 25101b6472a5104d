// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RequestRow, RequestState } from "../bindings";

const TOTAL = 100_000;

function stubRow(i: number): RequestRow {
  return {
    seq: i,
    id: `many.jsonl:${i + 1}`,
    inference_id: `many.jsonl-${i + 1}`,
    file: "many.jsonl",
    line: i + 1,
    state: "succeeded",
    attempts: 1,
    output_location: null,
    failure_location: null,
    result: `answer ${i + 1}`,
    error: null,
    answer: null,
  };
}

// A job of 100,000 results, served a page at a time as the engine does.
const jobResults = vi.fn(
  (...args: [string, RequestState | null, string | null, number, number]) => {
    const [, , , offset, limit] = args;
    const rows: RequestRow[] = [];
    for (let i = offset; i < Math.min(TOTAL, offset + limit); i++) rows.push(stubRow(i));
    return Promise.resolve({ status: "ok", data: { total: TOTAL, rows } });
  },
);

vi.mock("../bindings", () => ({
  commands: {
    jobResults: (
      id: string,
      f: RequestState | null,
      s: string | null,
      offset: number,
      limit: number,
    ) => jobResults(id, f, s, offset, limit),
  },
}));

const { default: ResultsTable } = await import("./ResultsTable.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("results table", () => {
  it("holds 100,000 results while drawing only the visible rows, and fetches pages as it scrolls", async () => {
    render(ResultsTable, { jobId: "job-1", filter: null, search: "", tick: 0, onPick: vi.fn() });
    const table = screen.getByTestId("results-table");
    await waitFor(() => expect(table.getAttribute("data-total")).toBe(String(TOTAL)));
    await screen.findByText("answer 1");
    // The line's id comes first, in its own column.
    expect(screen.getByRole("row").textContent?.startsWith("Id")).toBe(true);
    expect(screen.getAllByTestId("result-id")[0]?.textContent).toBe("many.jsonl:1");
    expect(screen.getAllByTestId("result-row").length).toBeLessThan(40);
    // Jump to the middle: only the pages around it are asked for.
    table.scrollTop = 28 * 50_000;
    await fireEvent.scroll(table);
    await screen.findByText("answer 50001");
    expect(screen.getAllByTestId("result-row").length).toBeLessThan(40);
    const offsets = jobResults.mock.calls.map((c) => c[3]);
    expect(offsets.every((o) => o === 0 || o === 49_800 || o === 50_000)).toBe(true);
  });

  it("keeps a bounded number of pages while scrolling end to end, and fetches a left page again", async () => {
    render(ResultsTable, { jobId: "job-1", filter: null, search: "", tick: 0, onPick: vi.fn() });
    const table = screen.getByTestId("results-table");
    await screen.findByText("answer 1");
    // Down through 60 pages of 200 rows, each shown before going on.
    for (let page = 1; page <= 60; page++) {
      table.scrollTop = 28 * page * 200;
      await fireEvent.scroll(table);
      await screen.findByText(`answer ${page * 200 + 1}`);
    }
    // Back at the top: the first page was let go long ago, so it is asked for again.
    jobResults.mockClear();
    table.scrollTop = 0;
    await fireEvent.scroll(table);
    await screen.findByText("answer 1");
    expect(jobResults.mock.calls.map((c) => c[3])).toContain(0);
  });

  it("never shows the rows of the previous search once the search changed", async () => {
    // The first search's answer is held back until the next search is on screen.
    let release = () => {};
    const held = new Promise<void>((r) => (release = r));
    jobResults.mockImplementationOnce(async () => {
      await held;
      const row = { ...stubRow(0), result: "old search" };
      return { status: "ok", data: { total: 1, rows: [row] } };
    });
    const props = { jobId: "job-1", filter: null, tick: 0, onPick: vi.fn() };
    const view = render(ResultsTable, { ...props, search: "old" });
    await view.rerender({ ...props, search: "new" });
    await screen.findByText("answer 1");
    release();
    await held;
    await new Promise((r) => setTimeout(r, 0));
    expect(screen.queryByText("old search")).toBeNull();
    expect(screen.getByTestId("results-table").getAttribute("data-total")).toBe(String(TOTAL));
  });
});
