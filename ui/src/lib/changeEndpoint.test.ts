import { describe, expect, it } from "vitest";
import type { EndpointSettings } from "../bindings";
import { changeRequest, formOf, parseEnvironment } from "./changeEndpoint";

const now: EndpointSettings = {
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

describe("change endpoint form", () => {
  it("asks for nothing when the prefilled form is saved unchanged", () => {
    const r = changeRequest(now, formOf(now));
    expect(r.changed).toBe(false);
    expect(r.request.instance_count).toBeNull();
  });

  it("sends only what differs, and keeps the scaled count unless it is changed", () => {
    const form = { ...formOf(now), instanceType: "ml.g5.24xlarge" };
    form.environment = "HF_MODEL_ID=google/flan-t5-xxl\nSM_NUM_GPUS=4\nMAX_TOTAL_TOKENS=2048";
    const r = changeRequest(now, form);
    expect(r.changed).toBe(true);
    expect(r.request.instance_type).toBe("ml.g5.24xlarge");
    expect(r.request.instance_count).toBeNull();
    // SM_NUM_GPUS untouched: the engine lets it follow the new instance.
    expect(r.request.set_env).toEqual({ MAX_TOTAL_TOKENS: "2048" });
    expect(r.request.unset_env).toEqual([]);
  });

  it("removes variables deleted from the text and refuses lines that are not KEY=VALUE", () => {
    const r = changeRequest(now, { ...formOf(now), environment: "HF_MODEL_ID=google/flan-t5-xxl" });
    expect(r.request.unset_env).toEqual(["SM_NUM_GPUS"]);
    expect(parseEnvironment("A=1\nnot a pair").problem).toContain("KEY=VALUE");
    expect(changeRequest(now, { ...formOf(now), instanceCount: "two" }).problem).toContain(
      "whole number",
    );
  });
});
