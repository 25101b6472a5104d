// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RequestRow, RequestState } from "../bindings";

const TOTAL = 100_000;
// A job of 100,000 results, served a page at a time as the engine does.
const jobResults = vi.fn(
  (...args: [string, RequestState | null, string | null, number, number]) => {
    const [, , , offset, limit] = args;
    const rows: RequestRow[] = [];
    for (let i = offset; i < Math.min(TOTAL, offset + limit); i++)
      rows.push({
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
      });
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
});
