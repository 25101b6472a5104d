// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { DeploySpec, FitCheck, InstanceOption } from "../bindings";

const seed: DeploySpec = {
  model_id: "google/flan-t5-xxl",
  image: { kind: "tgi", version: "1.1.0" },
  environment: { SM_NUM_GPUS: "4" },
  instance_type: "ml.g5.12xlarge",
  instance_count: 1,
  health_check_timeout_s: 300,
  output_path: "s3://b/async-llm-output/output",
  failure_path: "s3://b/async-llm-output/failure",
  max_concurrency: 10,
  success_topic: null,
  error_topic: null,
  kms_key_id: null,
  messages_api: false,
  model_name: "flan-t5-xxl-20261125-101500",
  endpoint_config_name: "flan-t5-xxl-20261125-101500-cfg",
  endpoint_name: "flan-t5-xxl-20261125-101500",
};

function option(name: string, gpus: number, gpu: string, usd: number): InstanceOption {
  return {
    name,
    family: name.split(".")[1] ?? "",
    gpus,
    gpu,
    gpu_memory_gb: gpu === "L40S" ? 48 : 24,
    usd_per_hour: usd,
    price_source: "estimate",
    unsupported: null,
  };
}

const estimates: InstanceOption[] = [
  option("ml.g5.xlarge", 1, "A10G", 1.41),
  option("ml.g5.12xlarge", 4, "A10G", 7.09),
  option("ml.g6e.xlarge", 1, "L40S", 2.3),
  { ...option("ml.inf2.xlarge", 1, "Inferentia2", 0.99), unsupported: "needs the Neuron image" },
];

// The Price List answers for g5.12xlarge only.
const live = estimates.map((i) =>
  i.name === "ml.g5.12xlarge"
    ? { ...i, usd_per_hour: 7.5, price_source: "price_list" as const }
    : i,
);

// Stands in for the engine's fit rule: what the form sends decides the answer.
const fitCheck = vi.fn((spec: DeploySpec, params: string | null) => {
  const answer = (verdict: FitCheck["verdict"], sentence: string): FitCheck => ({
    verdict,
    sentence,
    params: null,
    weights_gb: null,
  });
  if (spec.model_id === "org/unknown" && params === null)
    return Promise.resolve({ status: "ok", data: answer("unknown", "size of unknown unknown") });
  if (params === "eleven")
    return Promise.resolve({ status: "error", error: { message: "not a parameter count" } });
  const verdict = spec.instance_type === "ml.g5.xlarge" ? "does_not_fit" : "fits";
  const size = params ?? "11B";
  return Promise.resolve({
    status: "ok",
    data: answer(verdict, `${size} ${verdict} ${spec.instance_type}`),
  });
});

const changeInstanceType = vi.fn((spec: DeploySpec, instanceType: string) => {
  const environment = { ...spec.environment };
  delete environment.SM_NUM_GPUS;
  return Promise.resolve({ ...spec, environment, instance_type: instanceType });
});

vi.mock("../bindings", () => ({
  commands: {
    deployCatalog: () => Promise.resolve({ tgi_versions: ["1.1.0"], instances: estimates }),
    instancePicker: () => Promise.resolve({ status: "ok", data: live }),
    seedPreset: () => Promise.resolve({ status: "ok", data: structuredClone(seed) }),
    checkDeploy: () => Promise.resolve([]),
    changeInstanceType,
    deployNames: (name: string) =>
      Promise.resolve({ model_name: name, endpoint_config_name: `${name}-cfg` }),
    fitCheck,
    deploy: () =>
      Promise.resolve({ status: "error", error: { message: "x", deploy_problems: [] } }),
    cancelDeploy: () => Promise.resolve(),
    // AWS mode: no local model list.
    localModels: () =>
      Promise.resolve({
        status: "ok",
        data: { local: false, memory_available: "", offline: false, models: [] },
      }),
  },
  events: { deployProgressEvent: { listen: () => Promise.resolve(() => undefined) } },
}));

const { default: DeployForm } = await import("./DeployForm.svelte");

function picker(): HTMLSelectElement {
  return screen.getByTestId<HTMLSelectElement>("instance-picker");
}

function input(id: string): HTMLInputElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLInputElement)) throw new Error(`no input #${id}`);
  return el;
}

describe("the instance picker", () => {
  beforeEach(() => {
    fitCheck.mockClear();
    changeInstanceType.mockClear();
  });
  afterEach(() => cleanup());

  it("groups types by family with GPUs, memory and priced by source; unsupported is disabled", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(picker().value).toBe("ml.g5.12xlarge"));
    const groups = [...picker().querySelectorAll("optgroup")].map((g) => g.label);
    expect(groups).toEqual(["g5", "g6e", "inf2"]);
    const g5 = within(picker()).getByText(/^ml\.g5\.12xlarge/);
    await waitFor(() =>
      expect(g5.textContent).toBe("ml.g5.12xlarge — 4 × A10G, 24 GB each, $7.50/h (Price List)"),
    );
    const g6e = within(picker()).getByText(/^ml\.g6e\.xlarge/);
    expect(g6e.textContent).toContain("1 × L40S, 48 GB each, $2.30/h (estimate)");
    const inf2 = within(picker()).getByText<HTMLOptionElement>(/^ml\.inf2\.xlarge/);
    expect(inf2.disabled).toBe(true);
    expect(inf2.textContent).toContain("unsupported: needs the Neuron image");
    expect(screen.getByText(/~\$7\.50\/h while 1 instance runs \(Price List\)/)).toBeTruthy();
  });

  it("choosing a type goes through the engine's SM_NUM_GPUS rule and re-checks the fit", async () => {
    render(DeployForm, { onDone: () => undefined });
    const fit = await screen.findByTestId("deploy-fit");
    await waitFor(() => expect(fit.textContent).toContain("11B fits ml.g5.12xlarge"));
    expect(screen.getByDisplayValue("SM_NUM_GPUS")).toBeTruthy();
    await fireEvent.change(picker(), { target: { value: "ml.g5.xlarge" } });
    await waitFor(() => expect(input("deploy-instance_type").value).toBe("ml.g5.xlarge"));
    expect(changeInstanceType).toHaveBeenCalledWith(expect.anything(), "ml.g5.xlarge");
    await waitFor(() => expect(screen.queryByDisplayValue("SM_NUM_GPUS")).toBeNull());
    await waitFor(() =>
      expect(screen.getByTestId("deploy-fit").textContent).toMatch(
        /⚠ 11B does_not_fit ml\.g5\.xlarge/,
      ),
    );
  });

  it("asks for the parameter count when the size is unknown, and checks the typed one", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-model_id").value).toBe("google/flan-t5-xxl"));
    await fireEvent.input(input("deploy-model_id"), { target: { value: "org/unknown" } });
    await waitFor(() =>
      expect(screen.getByTestId("deploy-fit").textContent).toContain("size of unknown unknown"),
    );
    await fireEvent.input(input("deploy-params"), { target: { value: "eleven" } });
    await waitFor(() =>
      expect(document.getElementById("deploy-error-params")?.textContent).toMatch(
        /not a parameter count/,
      ),
    );
    await fireEvent.input(input("deploy-params"), { target: { value: "7B" } });
    await waitFor(() =>
      expect(screen.getByTestId("deploy-fit").textContent).toContain("7B fits ml.g5.12xlarge"),
    );
    expect(fitCheck).toHaveBeenLastCalledWith(
      expect.objectContaining({ model_id: "org/unknown" }),
      "7B",
    );
  });
});
