import { describe, expect, it } from "vitest";
import type { DeploySpec, InstanceOption } from "../bindings";
import {
  byFamily,
  costEstimate,
  envRows,
  envWarning,
  generatedText,
  gpuDefault,
  instanceLabel,
  parametersProblem,
  problemsByField,
  rowsToEnv,
  runningSummary,
  statusTone,
} from "./deployForm";

function option(name: string, gpus: number, gpu: string, usd: number): InstanceOption {
  return {
    name,
    family: name.split(".")[1] ?? "",
    gpus,
    gpu,
    gpu_memory_gb: 24,
    usd_per_hour: usd,
    price_source: "estimate",
    unsupported: null,
  };
}

const instances: InstanceOption[] = [option("ml.g5.12xlarge", 4, "A10G", 7.09)];

const seed: DeploySpec = {
  model_id: "google/flan-t5-xxl",
  image: { kind: "tgi", version: "1.1.0" },
  environment: { SM_NUM_GPUS: "4" },
  instance_type: "ml.g5.12xlarge",
  instance_count: 2,
  health_check_timeout_s: 300,
  output_path: "s3://b/async-llm-output/output",
  failure_path: "s3://b/async-llm-output/failure",
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

describe("deploy form", () => {
  it("round-trips the environment editor and drops empty keys", () => {
    const rows = envRows({ SM_NUM_GPUS: "4", MAX_TOTAL_TOKENS: "2048" });
    expect(rows).toHaveLength(2);
    expect(rowsToEnv([...rows, { key: " ", value: "x" }])).toEqual({
      SM_NUM_GPUS: "4",
      MAX_TOTAL_TOKENS: "2048",
    });
  });

  it("warns that HF_TOKEN is stored in the model", () => {
    expect(envWarning([{ key: "HF_TOKEN", value: "hf_abc" }])).toMatch(/stored in the model/);
    expect(envWarning([{ key: "HF_TOKEN", value: "" }])).toBeUndefined();
  });

  it("shows the first problem of each field", () => {
    const byField = problemsByField([
      { field: "instance_type", message: "first" },
      { field: "instance_type", message: "second" },
      { field: "role_arn", message: "set a role" },
    ]);
    expect(byField).toEqual({ instance_type: "first", role_arn: "set a role" });
  });

  it("estimates the cost of the chosen instances and their GPU count", () => {
    expect(costEstimate(seed, instances)).toBe("~$14.18/h while 2 instances run (estimate)");
    expect(costEstimate({ ...seed, instance_count: 1 }, instances)).toBe(
      "~$7.09/h while 1 instance runs (estimate)",
    );
    expect(gpuDefault(seed, instances)).toBe("4");
    expect(costEstimate({ ...seed, instance_type: "ml.x.y" }, instances)).toMatch(/no price/);
    const live = [
      { ...option("ml.g5.12xlarge", 4, "A10G", 7.5), price_source: "price_list" as const },
    ];
    expect(costEstimate(seed, live)).toBe("~$15.00/h while 2 instances run (Price List)");
  });

  it("labels picker entries and groups them by family in catalog order", () => {
    const g5 = option("ml.g5.12xlarge", 4, "A10G", 7.09);
    expect(instanceLabel(g5)).toBe("ml.g5.12xlarge — 4 × A10G, 24 GB each, $7.09/h (estimate)");
    const inf2 = {
      ...option("ml.inf2.xlarge", 1, "Inferentia2", 0.99),
      unsupported: "needs Neuron",
    };
    expect(instanceLabel(inf2)).toMatch(/— unsupported: needs Neuron$/);
    const groups = byFamily([option("ml.g5.xlarge", 1, "A10G", 1.41), g5, inf2]);
    expect(groups.map((g) => [g.family, g.types.length])).toEqual([
      ["g5", 2],
      ["inf2", 1],
    ]);
  });
});

describe("endpoints and test pane", () => {
  it("colours statuses", () => {
    expect(statusTone({ status: "InService" })).toBe("ok");
    expect(statusTone({ status: "Creating" })).toBe("warn");
    expect(statusTone({ status: "Failed" })).toBe("fail");
  });

  it("checks parameters before sending", () => {
    expect(parametersProblem('{"max_new_tokens": 5}')).toBeUndefined();
    expect(parametersProblem("[1]")).toMatch(/JSON object/);
    expect(parametersProblem("{oops")).toMatch(/Not valid JSON/);
  });

  it("shows TGI's generated text, or the raw body", () => {
    expect(generatedText('[{"generated_text": "Washington"}]')).toBe("Washington");
    expect(generatedText('{"error": "x"}')).toBe('{"error": "x"}');
  });
});

describe("status bar", () => {
  it("sums the running endpoints' estimated cost", () => {
    const e = (name: string, current: number, usd: number | null) => ({
      name,
      status: "InService",
      failure_reason: null,
      config_name: `${name}-cfg`,
      instance_type: "ml.g5.12xlarge",
      current_instances: current,
      desired_instances: current,
      is_async: true,
      output_path: null,
      failure_path: null,
      age_s: 60,
      usd_per_hour: usd,
      price_source: "estimate" as const,
      created_by_ebb: true,
    });
    expect(runningSummary([e("a", 1, 7.09), e("b", 2, 14.18), e("c", 0, 0)])).toBe(
      "2 endpoints running · ~$21.27/h",
    );
    expect(runningSummary([e("c", 0, 0)])).toBeUndefined();
  });
});
