import { describe, expect, it } from "vitest";
import type { LocalModel, LocalModels } from "../bindings";
import { localModel } from "./fixtures";
import { homeModel, runsForReal, shortName, weightsSentence, weightsText } from "./localModels";

const list = (models: LocalModel[], offline = false): LocalModels => ({
  local: true,
  memory_available: "6.0 GB",
  offline,
  models,
});

describe("local models", () => {
  it("prefers a cached model that fits, else one that can download", () => {
    const big = localModel("google/flan-t5-large", { cached: true, fits: false });
    const cached = localModel("google/flan-t5-small", { cached: true });
    const remote = localModel("HuggingFaceTB/SmolLM2-135M-Instruct");
    expect(homeModel(list([big, remote, cached]), "google/flan-t5-xxl")).toBe(cached);
    expect(homeModel(list([big, remote]), "google/flan-t5-xxl")).toBe(remote);
    expect(homeModel(list([big]), "google/flan-t5-xxl")).toBeNull();
  });

  it("offers nothing offline that would have to download", () => {
    const remote = localModel("HuggingFaceTB/SmolLM2-135M-Instruct");
    expect(runsForReal(remote, true)).toBe(false);
    expect(homeModel(list([remote], true), null)).toBeNull();
    expect(weightsText(remote, true)).toBe("not cached (269 MB)");
  });

  it("offers no stand-in when the seed's own model runs for real", () => {
    const xxl = localModel("google/flan-t5-xxl", { cached: true });
    const small = localModel("google/flan-t5-small", { cached: true });
    expect(homeModel(list([small, xxl]), "google/flan-t5-xxl")).toBeNull();
  });

  it("says where the weights are and names a model by its last part", () => {
    expect(weightsText(localModel("a/b", { cached: true }), false)).toBe("cached (269 MB)");
    expect(weightsText(localModel("a/b"), false)).toBe("269 MB download");
    expect(weightsSentence(localModel("a/b", { cached: true }), false)).toBe(
      "in the Hugging Face cache (269 MB)",
    );
    expect(shortName("HuggingFaceTB/SmolLM2-135M-Instruct")).toBe("SmolLM2-135M-Instruct");
    expect(shortName("gpt2")).toBe("gpt2");
  });
});
