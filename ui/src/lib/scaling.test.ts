import { describe, expect, it } from "vitest";
import type { Series } from "../bindings";
import { aligned, findingsByField, hasErrors } from "./scaling";

const series = (name: string, times: number[], values: number[]): Series => ({
  name,
  statistic: "Average",
  meaning: "",
  times_ms: times,
  values,
});

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
});
