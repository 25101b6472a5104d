// Pure helpers for the Home screen (unit-tested without a webview).
import type { JobSummary, Mode, Overview, StepState } from "../bindings";

/** The mark beside a step: ✓ when done, … while under way, else its number. */
export function stepMark(state: StepState, n: number): string {
  if (state === "done") return "✓";
  if (state === "working") return "…";
  return String(n);
}

/** A time of this session as a clock shows it: "14:03:12" (local time). */
export function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** The overview with a job's newer counts (from its progress events) in place. */
export function withJob(o: Overview, job: JobSummary): Overview {
  const unfinished = o.unfinished.some((j) => j.id === job.id)
    ? o.unfinished.map((j) => (j.id === job.id ? job : j))
    : [job, ...o.unfinished];
  const guide = o.guide && o.guide.job?.id === job.id ? { ...o.guide, job } : o.guide;
  const finished = job.state === "done" || job.state === "cancelled";
  return {
    ...o,
    unfinished: finished ? unfinished.filter((j) => j.id !== job.id) : unfinished,
    guide,
  };
}

/** What the running endpoints cost together, and what that figure means in this mode. */
export function costNote(usdPerHour: number, mode: Mode | null): string {
  const total = `~$${usdPerHour.toFixed(2)}/h in all, from on-demand list prices (~ marks Ebb's estimate)`;
  return mode === "local"
    ? `${total}: what these instances would cost on AWS. The local cloud bills nothing.`
    : `${total}; not your bill.`;
}
