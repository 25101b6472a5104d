// @vitest-environment jsdom
import { cleanup, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DeployOutcome } from "../bindings";
import DeployProgressView from "./DeployProgressView.svelte";

const gated: DeployOutcome = {
  endpoint_name: "llama",
  status: "Failed",
  verdict: "failed",
  failure_reason:
    "The primary container for production variant AllTraffic did not pass the ping health check.",
  diagnosis: {
    kind: "gated_model",
    sentence:
      "meta-llama/Llama-3.1-8B is gated or private, and the container has no Hugging Face token that may read it (the Hub answered 401).",
    fix: "Accept the model's terms on its Hub page with your account, then deploy with your token: --env HF_TOKEN=hf_…",
    evidence: "huggingface_hub.errors.GatedRepoError: 401 Client Error.",
  },
  smoke_test: null,
  resources: ["model llama", "endpoint config llama-cfg", "endpoint llama"],
};

describe("DeployProgressView", () => {
  afterEach(cleanup);

  it("shows the status with its time, the container log, and the diagnosis with its fix", async () => {
    const onRemove = vi.fn();
    render(DeployProgressView, {
      steps: [
        {
          step: "wait_in_service",
          message: "Creating",
          elapsed_s: 95,
          in_state_s: 95,
          log_lines: ["Starting download process.", "Error: DownloadError"],
          log_problem: null,
        },
      ],
      outcome: gated,
      onRemove,
    });
    expect(screen.getByTestId("deploy-steps").textContent).toMatch(/Creating\s+for 1 min 35 s/);
    expect(screen.getByTestId("deploy-log").textContent).toContain("Error: DownloadError");
    expect(screen.getByTestId("deploy-outcome").textContent).toMatch(
      /^llama failed: The primary container/,
    );
    const diagnosis = screen.getByTestId("deploy-diagnosis").textContent ?? "";
    expect(diagnosis).toContain("is gated or private");
    expect(diagnosis).toContain("HF_TOKEN");
    screen.getByTestId("deploy-remove").click();
    expect(onRemove).toHaveBeenCalled();
  });

  it("calls an answered endpoint ready and offers nothing to remove", () => {
    render(DeployProgressView, {
      steps: [],
      outcome: {
        ...gated,
        status: "InService",
        verdict: "ready",
        failure_reason: null,
        diagnosis: null,
      },
      onRemove: () => undefined,
    });
    expect(screen.getByTestId("deploy-outcome").className).toBe("ok");
    expect(screen.queryByTestId("deploy-remove")).toBeNull();
    expect(screen.queryByTestId("deploy-diagnosis")).toBeNull();
  });
});
