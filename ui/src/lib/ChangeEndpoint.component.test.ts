// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type {
  EndpointSettings,
  UpdateOutcome,
  UpdateProgressEvent,
  UpdateRequest,
} from "../bindings";

const settings: EndpointSettings = {
  endpoint: "seed",
  status: "InService",
  endpoint_config: "seed-cfg",
  model: "seed",
  variant: "AllTraffic",
  instance_type: "ml.g5.12xlarge",
  instance_count: 0,
  max_concurrency: 10,
  tgi_version: "1.1.0",
  image: "x:2.0.1-tgi1.1.0-gpu",
  environment: { HF_MODEL_ID: "google/flan-t5-xxl", SM_NUM_GPUS: "4" },
  autoscaled: true,
};

const outcome: UpdateOutcome = {
  endpoint: "seed",
  status: "InService",
  failure_reason: null,
  changes: ["instance type ml.g5.12xlarge -> ml.g5.24xlarge"],
  old_endpoint_config: "seed-cfg",
  old_model: "seed",
  new_endpoint_config: "seed-20261130-020000-cfg",
  new_model: "seed-20261130-020000",
  instance_count: 0,
  scaling_paused: true,
  scaling_restored: true,
  scaling: ["scalable target endpoint/seed/variant/AllTraffic: 0 to 5 instances"],
  removed: [
    { resource: "endpoint config seed-cfg", outcome: "deleted" },
    { resource: "model seed", outcome: "deleted" },
  ],
  kept: [],
};

let listener: ((e: { payload: UpdateProgressEvent }) => void) | undefined;
const updateEndpoint = vi.fn((...args: [string, UpdateRequest]) => {
  expect(args[0]).toBe("seed");
  listener?.({
    payload: {
      endpoint: "seed",
      progress: { step: "wait_in_service", message: "Updating", elapsed_s: 4 },
    },
  });
  return Promise.resolve({ status: "ok", data: outcome });
});

vi.mock("../bindings", () => ({
  commands: {
    endpointSettings: () => Promise.resolve({ status: "ok", data: settings }),
    updateEndpoint: (e: string, r: UpdateRequest) => updateEndpoint(e, r),
    cancelUpdate: () => Promise.resolve(),
  },
  events: {
    updateProgressEvent: {
      listen: (f: (e: { payload: UpdateProgressEvent }) => void) => {
        listener = f;
        return Promise.resolve(() => undefined);
      },
    },
  },
}));

const { default: ChangeEndpoint } = await import("./ChangeEndpoint.svelte");

afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe("change endpoint", () => {
  it("is prefilled with the current settings and saves nothing unchanged", async () => {
    render(ChangeEndpoint, { endpoint: "seed" });
    const type = await screen.findByTestId<HTMLInputElement>("change-instance-type");
    expect(type.value).toBe("ml.g5.12xlarge");
    expect(screen.getByTestId<HTMLInputElement>("change-instance-count").value).toBe("0");
    expect(screen.getByTestId<HTMLInputElement>("change-concurrency").value).toBe("10");
    expect(screen.getByTestId<HTMLInputElement>("change-tgi").value).toBe("1.1.0");
    expect(screen.getByTestId<HTMLTextAreaElement>("change-env").value).toBe(
      "HF_MODEL_ID=google/flan-t5-xxl\nSM_NUM_GPUS=4",
    );
    expect(screen.getByTestId<HTMLButtonElement>("change-save").disabled).toBe(true);
    expect(screen.getByText(/blue\/green/)).toBeTruthy();
  });

  it("sends only the instance type, shows progress and the outcome", async () => {
    render(ChangeEndpoint, { endpoint: "seed" });
    const type = await screen.findByTestId<HTMLInputElement>("change-instance-type");
    await fireEvent.input(type, { target: { value: "ml.g5.24xlarge" } });
    await fireEvent.click(screen.getByTestId("change-save"));
    await screen.findByTestId("change-outcome");
    expect(updateEndpoint).toHaveBeenCalledWith("seed", {
      instance_type: "ml.g5.24xlarge",
      instance_count: null,
      max_concurrency: null,
      tgi_version: null,
      set_env: {},
      unset_env: [],
    });
    await waitFor(() =>
      expect(screen.getByTestId("change-steps").textContent).toContain("Updating"),
    );
    const shown = screen.getByTestId("change-outcome").textContent ?? "";
    expect(shown).toContain("instance type ml.g5.12xlarge -> ml.g5.24xlarge");
    expect(shown).toContain("Instances: 0");
    expect(shown).toContain("Autoscaling put back as it was");
    expect(shown).toContain("model seed: deleted");
  });
});
