// Pure helpers for the models the local cloud runs for real (unit-tested without a webview).
import type { LocalModel, LocalModels } from "../bindings";

/** Whether deploying `m` gets real answers now: it fits, and its weights are there or can come. */
export function runsForReal(m: LocalModel, offline: boolean): boolean {
  return m.fits && (m.cached || !offline);
}

/**
 * The model Home's step 1 offers instead of the seed's: one in the Hugging Face cache that fits,
 * else the first that fits and can download. None when the seed's own model runs for real here
 * (it then needs no stand-in) or nothing does.
 */
export function homeModel(list: LocalModels, seedModelId: string | null): LocalModel | null {
  const real = list.models.filter((m) => runsForReal(m, list.offline));
  if (real.some((m) => m.model_id === seedModelId)) return null;
  return real.find((m) => m.cached) ?? real[0] ?? null;
}

/** Where a model's weights come from: "cached (269 MB)", a download, or neither (offline). */
export function weightsText(m: LocalModel, offline: boolean): string {
  if (m.cached) return `cached (${m.disk_text})`;
  if (offline) return `not cached (${m.disk_text})`;
  return `${m.disk_text} download`;
}

/** The same in a sentence (Home): "in the Hugging Face cache (269 MB)", or a download. */
export function weightsSentence(m: LocalModel, offline: boolean): string {
  if (m.cached) return `in the Hugging Face cache (${m.disk_text})`;
  if (offline) return `not in the Hugging Face cache, and HF_HUB_OFFLINE is set`;
  return `downloads ${m.disk_text} when deployed`;
}

/** The last part of a model id: `SmolLM2-135M-Instruct` for `HuggingFaceTB/SmolLM2-135M-Instruct`. */
export function shortName(modelId: string): string {
  return modelId.split("/").at(-1) ?? modelId;
}
