// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EndpointSummary, TeardownPlan } from "../bindings";

const endpoint: EndpointSummary = {
  name: "seed",
  status: "InService",
  failure_reason: null,
  config_name: "seed-cfg",
  instance_type: "ml.g5.12xlarge",
  current_instances: 1,
  desired_instances: 1,
  is_async: true,
  output_path: "s3://b/async-llm-output/output",
  failure_path: "s3://b/async-llm-output/failure",
  age_s: 60,
  usd_per_hour: 7.09,
  price_source: "estimate",
  created_by_ebb: true,
};

// What the engine would plan; its lines are the confirmation's text.
function plan(deleteData: boolean): TeardownPlan {
  const lines = [
    "scaling policy Invocations-ScalingPolicy on endpoint/seed/variant/AllTraffic (and its 2 alarms)",
    "scalable target endpoint/seed/variant/AllTraffic",
    "endpoint seed",
  ];
  if (deleteData) lines.push("data s3://b/async-llm-output/output/ (19 objects, 4.2 kB)");
  return {
    id: `seed#${deleteData ? 2 : 1}`,
    endpoint: "seed",
    endpoint_config: "seed-cfg",
    models: ["seed"],
    scaling: {
      targets: ["endpoint/seed/variant/AllTraffic"],
      policies: [],
      alarms: [],
      policy_alarms: [],
      warnings: ["Could not list CloudWatch alarms (access denied): alarms are left in place."],
    },
    data: [],
    lines,
  };
}

const teardownPlan = vi.fn((...args: [string, boolean]) =>
  Promise.resolve({ status: "ok", data: plan(args[1]) }),
);
const teardown = vi.fn((id: string) =>
  Promise.resolve({
    status: "ok",
    data: [{ resource: `endpoint ${id.split("#")[0]}`, outcome: "deleted" }],
  }),
);

vi.mock("../bindings", () => ({
  commands: {
    endpointLogs: () =>
      Promise.resolve({
        status: "ok",
        data: { status: "InService", in_state_s: 5, lines: [], next_since_ms: "0" },
      }),
    teardownPlan: (e: string, d: boolean) => teardownPlan(e, d),
    teardown: (id: string) => teardown(id),
    endpointSettings: () => new Promise(() => undefined),
  },
  events: { updateProgressEvent: { listen: () => Promise.resolve(() => undefined) } },
}));

const { default: EndpointDetails } = await import("./EndpointDetails.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("teardown confirmation", () => {
  it("lists every resource in removal order and the warnings, and removes nothing until confirmed", async () => {
    const onChanged = vi.fn();
    render(EndpointDetails, { endpoint, onChanged });
    await fireEvent.click(screen.getByTestId("teardown"));
    const list = await screen.findByTestId("teardown-list");
    const items = [...list.querySelectorAll("li")].map((li) => li.textContent);
    expect(items).toEqual(plan(false).lines);
    expect(teardownPlan).toHaveBeenCalledWith("seed", false);
    expect(screen.getByText(/Could not list CloudWatch alarms/)).toBeTruthy();
    expect(teardown).not.toHaveBeenCalled();
    await fireEvent.click(screen.getByTestId("teardown-confirm"));
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
    // The page confirms the engine's plan by its id; it never sends a plan back.
    expect(teardown).toHaveBeenCalledWith("seed#1");
  });

  it("asks the engine for the job data too when that box is ticked", async () => {
    render(EndpointDetails, { endpoint, onChanged: vi.fn() });
    await fireEvent.click(screen.getByTestId("teardown-delete-data"));
    await fireEvent.click(screen.getByTestId("teardown"));
    await screen.findByText(/19 objects/);
    expect(teardownPlan).toHaveBeenCalledWith("seed", true);
  });
});
