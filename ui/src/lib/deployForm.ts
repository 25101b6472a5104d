// Pure helpers for the deploy form, the endpoints table and the test pane.
import type { DeployProblem, DeploySpec, EndpointSummary, InstanceOption } from "../bindings";

export type EnvRow = { key: string; value: string };

export function envRows(env: Partial<Record<string, string>>): EnvRow[] {
  return Object.entries(env).map(([key, value]) => ({ key, value: value ?? "" }));
}

/** Rows back to the environment map; empty keys are dropped, later rows win. */
export function rowsToEnv(rows: EnvRow[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const r of rows) if (r.key.trim() !== "") env[r.key.trim()] = r.value;
  return env;
}

/** First problem per field, for showing under each input. */
export function problemsByField(problems: DeployProblem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of problems) out[p.field] ??= p.message;
  return out;
}

/** Secrets in the model environment are visible to anyone who can describe the model. */
export function envWarning(rows: EnvRow[]): string | undefined {
  return rows.some((r) => r.key.trim() === "HF_TOKEN" && r.value !== "")
    ? "HF_TOKEN is stored in the model's environment: anyone who can describe the model can read it. Use a token with read access only."
    : undefined;
}

/** Where a price comes from, as the form says it. */
export function priceSourceLabel(i: Pick<InstanceOption, "price_source">): string {
  return i.price_source === "price_list" ? "Price List" : "estimate";
}

/** One picker entry: `ml.g5.12xlarge — 4 × A10G, 24 GB each, $7.09/h (estimate)`. */
export function instanceLabel(i: InstanceOption): string {
  const label = `${i.name} — ${i.gpus} × ${i.gpu}, ${i.gpu_memory_gb} GB each, $${i.usd_per_hour.toFixed(2)}/h (${priceSourceLabel(i)})`;
  return i.unsupported ? `${label} — unsupported: ${i.unsupported}` : label;
}

/** The picker's groups: instance types by family, in the catalog's order. */
export function byFamily(
  instances: InstanceOption[],
): { family: string; types: InstanceOption[] }[] {
  const groups: { family: string; types: InstanceOption[] }[] = [];
  for (const i of instances) {
    const group = groups.at(-1);
    if (group?.family === i.family) group.types.push(i);
    else groups.push({ family: i.family, types: [i] });
  }
  return groups;
}

/** The hourly cost of the form's instances, when the type is known, with its price's source. */
export function costEstimate(spec: DeploySpec, instances: InstanceOption[]): string {
  const info = instances.find((i) => i.name === spec.instance_type);
  if (!info) return "no price estimate for this instance type";
  const total = info.usd_per_hour * spec.instance_count;
  const running =
    spec.instance_count === 1 ? "1 instance runs" : `${spec.instance_count} instances run`;
  return `~$${total.toFixed(2)}/h while ${running} (${priceSourceLabel(info)})`;
}

/** The variables the fit check reads (dtype, quantisation, GPUs, the Hub token). */
const FIT_VARS = ["DTYPE", "HF_MODEL_QUANTIZE", "QUANTIZE", "SM_NUM_GPUS", "HF_TOKEN"];

/** What the fit check depends on, as one string: it is asked again only when this changes. */
export function fitKey(spec: DeploySpec, rows: EnvRow[], params: string): string {
  const env = rowsToEnv(rows);
  const vars = FIT_VARS.map((k) => env[k] ?? "");
  return JSON.stringify([spec.model_id.trim(), spec.instance_type, params.trim(), ...vars]);
}

/** The SM_NUM_GPUS the engine will use when the form leaves it empty. */
export function gpuDefault(spec: DeploySpec, instances: InstanceOption[]): string | undefined {
  return instances.find((i) => i.name === spec.instance_type)?.gpus.toString();
}

export function age(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export function usd(perHour: number | null): string {
  return perHour === null ? "—" : `$${perHour.toFixed(2)}/h`;
}

export type Tone = "ok" | "warn" | "fail" | "idle";

export function statusTone(e: Pick<EndpointSummary, "status">): Tone {
  switch (e.status) {
    case "InService":
      return "ok";
    case "Failed":
      return "fail";
    case "Creating":
    case "Updating":
    case "SystemUpdating":
    case "Deleting":
      return "warn";
    default:
      return "idle";
  }
}

export const SEED_PROMPT = "What is the capital of the United States?";

/** The seed request's parameters, as the test pane's editable JSON. */
export const SEED_PARAMETERS = JSON.stringify(
  {
    early_stopping: true,
    length_penalty: 2.0,
    max_new_tokens: 50,
    temperature: 1,
    min_length: 10,
    no_repeat_ngram_size: 3,
  },
  null,
  2,
);

/** Checks the parameters text before sending: undefined when it is a JSON object. */
export function parametersProblem(text: string): string | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v)
      ? undefined
      : "The parameters must be a JSON object.";
  } catch (e) {
    return `Not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** Pretty-prints TGI's answer: the generated text when it has that shape, else the raw body. */
export function generatedText(body: string): string {
  try {
    const v: unknown = JSON.parse(body);
    if (Array.isArray(v) && v.length > 0) {
      const first: unknown = v[0];
      if (first && typeof first === "object" && "generated_text" in first) {
        const t = (first as { generated_text: unknown }).generated_text;
        if (typeof t === "string") return t;
      }
    }
  } catch {
    // not JSON: show as is
  }
  return body;
}

/** The status bar's summary: running endpoints and their estimated hourly cost. */
export function runningSummary(endpoints: EndpointSummary[]): string | undefined {
  const running = endpoints.filter((e) => e.current_instances > 0);
  if (running.length === 0) return undefined;
  const cost = running.reduce((sum, e) => sum + (e.usd_per_hour ?? 0), 0);
  const noun = running.length === 1 ? "endpoint" : "endpoints";
  return `${running.length} ${noun} running · ~$${cost.toFixed(2)}/h`;
}
