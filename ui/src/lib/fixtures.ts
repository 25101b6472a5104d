import type { JobSummary } from "../bindings";

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
