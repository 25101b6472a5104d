// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { DeployProblem, DeploySpec, LocalModels } from "../bindings";
import { localModel } from "./fixtures";

const seed: DeploySpec = {
  model_id: "google/flan-t5-xxl",
  image: { kind: "tgi", version: "1.1.0" },
  environment: { SM_NUM_GPUS: "4" },
  instance_type: "ml.g5.12xlarge",
  instance_count: 1,
  health_check_timeout_s: 300,
  output_path: "s3://sagemaker-us-east-1-000000000000/async-llm-output/output",
  failure_path: "s3://sagemaker-us-east-1-000000000000/async-llm-output/failure",
  max_concurrency: 10,
  success_topic: null,
  error_topic: null,
  kms_key_id: null,
  messages_api: false,
  smoke_test: true,
  wait_limit_s: 1800,
  model_name: "flan-t5-xxl-20261125-101500",
  endpoint_config_name: "flan-t5-xxl-20261125-101500-cfg",
  endpoint_name: "flan-t5-xxl-20261125-101500",
};

// The engine's checks, as far as this test needs them; the Messages API's only when asked.
let checkMessagesApi = false;
function check(spec: DeploySpec): DeployProblem[] {
  const problems: DeployProblem[] = spec.instance_type.startsWith("ml.")
    ? []
    : [{ field: "instance_type", message: `\`${spec.instance_type}\` is not an instance type` }];
  if (checkMessagesApi && spec.messages_api && spec.image.kind === "tgi") {
    if (spec.image.version === "1.1.0")
      problems.push({ field: "messages_api", message: "TGI 1.1.0 has no Messages API" });
  }
  return problems;
}

const awsMode: LocalModels = { local: false, memory_available: "", offline: false, models: [] };
let models: LocalModels = awsMode;

const deploy = vi.fn();

const g5 = {
  name: "ml.g5.12xlarge",
  family: "g5",
  gpus: 4,
  gpu: "A10G",
  gpu_memory_gb: 24,
  usd_per_hour: 7.09,
  price_source: "estimate",
  unsupported: null,
};

vi.mock("../bindings", () => ({
  commands: {
    deployCatalog: () =>
      Promise.resolve({
        tgi_versions: ["1.1.0", "3.3.6"],
        instances: [g5],
      }),
    instancePicker: () => Promise.resolve({ status: "ok", data: [g5] }),
    fitCheck: () =>
      Promise.resolve({
        status: "ok",
        data: { verdict: "fits", sentence: "fits", params: 1e10, weights_gb: 20 },
      }),
    seedPreset: () => Promise.resolve({ status: "ok", data: structuredClone(seed) }),
    checkDeploy: (spec: DeploySpec) => Promise.resolve(check(spec)),
    // Stand in for the engine's rules; the tests check the form takes their answers as they are.
    changeInstanceType: (spec: DeploySpec, instanceType: string) => {
      const environment = { ...spec.environment };
      delete environment.SM_NUM_GPUS;
      return Promise.resolve({ ...spec, environment, instance_type: instanceType });
    },
    // Stands in for the engine's rule; the test checks the form takes its answer as it is.
    deployNames: (name: string) =>
      Promise.resolve({ model_name: name, endpoint_config_name: `${name.slice(0, 5)}-h4sh-cfg` }),
    // Stands in for the engine's rule: a generated name follows the model.
    changeModel: (spec: DeploySpec, modelId: string) => {
      const name = `${modelId.split("/").at(-1)?.toLowerCase() ?? ""}-20261125-101500`;
      return Promise.resolve({
        ...spec,
        model_id: modelId,
        endpoint_name: name,
        model_name: name,
        endpoint_config_name: `${name}-cfg`,
      });
    },
    localModels: () => Promise.resolve({ status: "ok", data: models }),
    deploy: (spec: DeploySpec) => deploy(spec) as unknown,
    cancelDeploy: () => Promise.resolve(),
  },
  events: { deployProgressEvent: { listen: () => Promise.resolve(() => undefined) } },
}));

const { default: DeployForm } = await import("./DeployForm.svelte");

function last<T>(items: T[]): T {
  const item = items.at(-1);
  if (item === undefined) throw new Error("no items");
  return item;
}

function input(id: string): HTMLInputElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLInputElement)) throw new Error(`no input #${id}`);
  return el;
}

describe("DeployForm", () => {
  beforeEach(() => {
    deploy.mockReset();
    models = awsMode;
    checkMessagesApi = false;
  });
  afterEach(() => cleanup());

  it("opens with the seed preset, the cost estimate and the GPU default", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-model_id").value).toBe("google/flan-t5-xxl"));
    expect(input("deploy-instance_type").value).toBe("ml.g5.12xlarge");
    expect(input("deploy-health_check_timeout_s").value).toBe("300");
    expect(input("deploy-max_concurrency").value).toBe("10");
    expect(input("deploy-output_path").value).toBe(seed.output_path);
    expect(input("deploy-failure_path").value).toBe(seed.failure_path);
    expect(screen.getByText(/~\$7\.09\/h while 1 instance runs/)).toBeTruthy();
    expect(screen.getByText(/SM_NUM_GPUS defaults to 4/)).toBeTruthy();
  });

  it("names the model and config by the engine's rule as the endpoint name changes", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-endpoint_name").value).toBe(seed.endpoint_name));
    await fireEvent.input(input("deploy-endpoint_name"), { target: { value: "my-long-endpoint" } });
    await waitFor(() =>
      expect(screen.getByText(/Model my-long-endpoint, config my-lo-h4sh-cfg/)).toBeTruthy(),
    );
  });

  it("lets the engine decide SM_NUM_GPUS when the instance type changes", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-instance_type").value).toBe("ml.g5.12xlarge"));
    expect(screen.getByDisplayValue("SM_NUM_GPUS")).toBeTruthy();
    await fireEvent.input(input("deploy-instance_type"), { target: { value: "ml.g5.2xlarge" } });
    await waitFor(() => expect(screen.queryByDisplayValue("SM_NUM_GPUS")).toBeNull());
  });

  it("shows the engine's problem under the field and keeps Deploy disabled", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-instance_type").value).toBe("ml.g5.12xlarge"));
    await fireEvent.input(input("deploy-instance_type"), { target: { value: "g5.12xlarge" } });
    await waitFor(() =>
      expect(document.getElementById("deploy-error-instance_type")?.textContent).toMatch(
        /not an instance type/,
      ),
    );
    expect(screen.getByTestId<HTMLButtonElement>("deploy-submit").disabled).toBe(true);
  });

  it("warns when HF_TOKEN is put in the environment", async () => {
    render(DeployForm, { onDone: () => undefined });
    await waitFor(() => expect(input("deploy-model_id").value).toBe("google/flan-t5-xxl"));
    await fireEvent.click(screen.getByText("Add variable"));
    const names = screen.getAllByLabelText("variable name");
    const values = screen.getAllByLabelText("variable value");
    await fireEvent.input(last(names), { target: { value: "HF_TOKEN" } });
    await fireEvent.input(last(values), { target: { value: "hf_secret" } });
    await waitFor(() => expect(screen.getByText(/stored in the model's environment/)).toBeTruthy());
  });

  it("sends exactly the preset when nothing is changed", async () => {
    deploy.mockResolvedValue({
      status: "ok",
      data: {
        endpoint_name: seed.endpoint_name,
        status: "InService",
        verdict: "ready",
        failure_reason: null,
        diagnosis: null,
        smoke_test: null,
        resources: [],
      },
    });
    const onDone = vi.fn();
    render(DeployForm, { onDone });
    const submit = await screen.findByTestId<HTMLButtonElement>("deploy-submit");
    await waitFor(() => expect(submit.disabled).toBe(false));
    await fireEvent.click(submit);
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(deploy).toHaveBeenCalledWith(seed);
  });

  it("sends the Messages API switch when its box is ticked", async () => {
    deploy.mockResolvedValue({ status: "error", error: { message: "x", deploy_problems: [] } });
    render(DeployForm, { onDone: () => undefined });
    const submit = await screen.findByTestId<HTMLButtonElement>("deploy-submit");
    await waitFor(() => expect(submit.disabled).toBe(false));
    expect(input("deploy-messages_api").checked).toBe(false);
    await fireEvent.click(input("deploy-messages_api"));
    await fireEvent.click(submit);
    await waitFor(() => expect(deploy).toHaveBeenCalled());
    expect(deploy).toHaveBeenCalledWith({ ...seed, messages_api: true });
  });

  describe("in local mode", () => {
    const smol = localModel("HuggingFaceTB/SmolLM2-135M-Instruct");
    const small = localModel("google/flan-t5-small", {
      family: "T5",
      parameters_text: "77M",
      memory_text: "564 MB",
      disk_text: "308 MB",
      cached: true,
      chat: false,
    });
    const large = localModel("google/flan-t5-large", {
      family: "T5",
      memory_text: "3.7 GB",
      fits: false,
      chat: false,
    });
    const local: LocalModels = {
      local: true,
      memory_available: "2.0 GB",
      offline: false,
      models: [small, smol, large],
    };

    it("lists the models that run for real with what each needs", async () => {
      models = local;
      render(DeployForm, { onDone: () => undefined });
      const rows = (await screen.findAllByTestId("local-model")).map((r) => r.textContent ?? "");
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatch(/google\/flan-t5-small.*T5.*77M.*564 MB.*cached \(308 MB\).*no/s);
      expect(rows[1]).toMatch(/SmolLM2-135M-Instruct.*Llama.*135M.*1\.0 GB.*269 MB download.*yes/s);
      expect(rows[2]).toMatch(/3\.7 GB.*more than is free/s);
      expect(screen.getByTestId("local-models").textContent).toMatch(/2\.0 GB\s+of memory free/);
      expect(screen.getByTestId("local-models").textContent).toMatch(/or download while/);
      expect(screen.getByTestId("local-models-note").textContent).toMatch(
        /flan-t5-xxl.*simulated answers.*log.*says why/s,
      );
    });

    it("fills the model id with one click and deploys that model", async () => {
      models = local;
      deploy.mockResolvedValue({ status: "error", error: { message: "x", deploy_problems: [] } });
      render(DeployForm, { onDone: () => undefined });
      const [use] = await screen.findAllByTestId("local-model-use");
      if (!use) throw new Error("no model to use");
      await fireEvent.click(use);
      await waitFor(() => expect(input("deploy-model_id").value).toBe("google/flan-t5-small"));
      expect(input("deploy-endpoint_name").value).toBe("flan-t5-small-20261125-101500");
      expect(input("deploy-messages_api").checked).toBe(false);
      const submit = screen.getByTestId<HTMLButtonElement>("deploy-submit");
      await waitFor(() => expect(submit.disabled).toBe(false));
      await fireEvent.click(submit);
      await waitFor(() => expect(deploy).toHaveBeenCalled());
      expect(deploy).toHaveBeenCalledWith({
        ...seed,
        model_id: "google/flan-t5-small",
        endpoint_name: "flan-t5-small-20261125-101500",
        model_name: "flan-t5-small-20261125-101500",
        endpoint_config_name: "flan-t5-small-20261125-101500-cfg",
      });
    });

    it("turns the Messages API on for a chat model, on a TGI release that has it", async () => {
      models = local;
      checkMessagesApi = true;
      render(DeployForm, { onDone: () => undefined });
      const uses = await screen.findAllByTestId("local-model-use");
      const chat = uses.find((b) => b.textContent === smol.model_id);
      if (!chat) throw new Error("no chat model");
      await fireEvent.click(chat);
      await waitFor(() => expect(input("deploy-messages_api").checked).toBe(true));
      await waitFor(() =>
        expect(screen.getByTestId("local-model-note").textContent).toMatch(
          /Messages API is on, with TGI 3\.3\.6 \(1\.1\.0 has none\)/,
        ),
      );
      expect(screen.getByDisplayValue("3.3.6")).toBeTruthy();
      await waitFor(() => expect(document.getElementById("deploy-error-messages_api")).toBeNull());
    });

    it("shows no model list in AWS mode", async () => {
      render(DeployForm, { onDone: () => undefined });
      await waitFor(() => expect(input("deploy-model_id").value).toBe("google/flan-t5-xxl"));
      expect(screen.queryByTestId("local-models")).toBeNull();
    });
  });
});
