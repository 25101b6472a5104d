// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Finding, ScalingSpec } from "../bindings";

const seed: ScalingSpec = {
  endpoint: "flan",
  variant: "AllTraffic",
  min: 0,
  max: 5,
  target: 5,
  scale_in_cooldown: 600,
  scale_out_cooldown: 100,
  scale_from_zero: true,
};

// The engine's checks, as far as this test needs them (the endpoint runs 3 instances).
function check(spec: ScalingSpec): Finding[] {
  const out: Finding[] = [];
  if (spec.min > spec.max)
    out.push({ field: "max", severity: "error", message: "Maximum cannot be below minimum." });
  if (spec.max < 3)
    out.push({ field: "max", severity: "warning", message: "It has 3 instances now." });
  if (spec.min === 0 && !spec.scale_from_zero)
    out.push({ field: "scale_from_zero", severity: "warning", message: "It stays at zero." });
  return out;
}

const autoscale = vi.fn();

vi.mock("../bindings", () => ({
  commands: {
    scalingPreset: () => Promise.resolve(structuredClone(seed)),
    checkScaling: (spec: ScalingSpec) => Promise.resolve({ status: "ok", data: check(spec) }),
    autoscale: (spec: ScalingSpec) => autoscale(spec) as unknown,
  },
}));

const { default: ScalingForm } = await import("./ScalingForm.svelte");

function input(id: string): HTMLInputElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLInputElement)) throw new Error(`no input #${id}`);
  return el;
}

describe("ScalingForm", () => {
  beforeEach(() => autoscale.mockReset());
  afterEach(() => cleanup());

  it("opens with the seed's part 3 and applies exactly it", async () => {
    autoscale.mockResolvedValue({ status: "ok", data: { lines: ["scalable target …"] } });
    const onApplied = vi.fn();
    render(ScalingForm, { endpoint: "flan", initial: null, onApplied });
    await waitFor(() => expect(input("scaling-max").value).toBe("5"));
    expect(input("scaling-min").value).toBe("0");
    expect(input("scaling-target").value).toBe("5");
    expect(input("scaling-scale_in_cooldown").value).toBe("600");
    expect(input("scaling-scale_out_cooldown").value).toBe("100");
    expect(input("scaling-scale_from_zero").checked).toBe(true);
    const apply = screen.getByTestId<HTMLButtonElement>("scaling-apply");
    await fireEvent.click(apply);
    await waitFor(() => expect(onApplied).toHaveBeenCalled());
    expect(autoscale).toHaveBeenCalledWith(seed);
  });

  it("refuses a maximum below the minimum and warns about one below what runs now", async () => {
    render(ScalingForm, { endpoint: "flan", initial: null, onApplied: () => undefined });
    await waitFor(() => expect(input("scaling-max").value).toBe("5"));
    await fireEvent.input(input("scaling-max"), { target: { value: "2" } });
    await waitFor(() => expect(screen.getByText("It has 3 instances now.")).toBeTruthy());
    // A warning does not block.
    expect(screen.getByTestId<HTMLButtonElement>("scaling-apply").disabled).toBe(false);
    await fireEvent.input(input("scaling-min"), { target: { value: "4" } });
    await waitFor(() =>
      expect(document.getElementById("scaling-error-max")?.textContent).toMatch(/below minimum/),
    );
    expect(screen.getByTestId<HTMLButtonElement>("scaling-apply").disabled).toBe(true);
  });

  it("explains what turning off scale from zero does", async () => {
    render(ScalingForm, { endpoint: "flan", initial: null, onApplied: () => undefined });
    await waitFor(() => expect(input("scaling-scale_from_zero").checked).toBe(true));
    await fireEvent.click(input("scaling-scale_from_zero"));
    await waitFor(() => expect(screen.getByText("It stays at zero.")).toBeTruthy());
  });
});
