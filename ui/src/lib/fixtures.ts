import type { JobSummary, LocalModel } from "../bindings";

/** A job of the demo folder's 19 requests, for tests: `succeeded` of them done, the rest out. */
export function demoJob(
  id: string,
  endpoint: string,
  state: JobSummary["state"],
  succeeded: number,
): JobSummary {
  return {
    id,
    endpoint,
    created_at: 0,
    finished_at: null,
    state,
    note: null,
    total: 19,
    pending: 0,
    invoked: 19 - succeeded,
    succeeded,
    failed: 0,
    retried: 0,
    expired: 0,
    cancelled: 0,
    parent: null,
    cancel: null,
    top_error: null,
    first_result_at: null,
    last_result_at: null,
    headline: state === "done" ? "completed" : "in progress",
  };
}

/** A model the local cloud runs for real, for tests: SmolLM2-135M's sizes unless given. */
export function localModel(model_id: string, parts: Partial<LocalModel> = {}): LocalModel {
  return {
    model_id,
    family: "Llama",
    parameters: 135e6,
    parameters_text: "135M",
    memory_bytes: 1.02e9,
    memory_text: "1.0 GB",
    disk_bytes: 2.69e8,
    disk_text: "269 MB",
    cached: false,
    fits: true,
    chat: true,
    ...parts,
  };
}
