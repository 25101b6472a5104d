import type { DeployOutcome, DeployProgress } from "../bindings";

/** One line per status change (a wait reports its status every few seconds). */
export function statusLines(steps: DeployProgress[]): DeployProgress[] {
  const lines: DeployProgress[] = [];
  for (const s of steps) {
    const last = lines[lines.length - 1];
    const same = last && last.step === s.step && baseMessage(last) === baseMessage(s);
    if (same) lines[lines.length - 1] = s;
    else lines.push(s);
  }
  return lines;
}

function baseMessage(p: DeployProgress): string {
  return p.message.split(" (")[0] ?? p.message;
}

/** The container's newest log lines reported so far, oldest first. */
export function logTail(steps: DeployProgress[], keep: number): string[] {
  const all = steps.flatMap((s) => s.log_lines);
  return all.slice(Math.max(0, all.length - keep));
}

/** "2 min 5 s" / "40 s". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** Where the deploy ended, in words, and whether that is good news. */
export function verdictText(o: DeployOutcome): { text: string; ok: boolean } {
  const reason = o.failure_reason ?? "no reason given";
  switch (o.verdict) {
    case "ready": {
      const answered = o.smoke_test
        ? `, and a test request was answered in ${o.smoke_test.waited_s} s`
        : "";
      return { text: `${o.endpoint_name} is ready: InService${answered}`, ok: true };
    }
    case "in_service_untested":
      return { text: `${o.endpoint_name} is InService (not tested)`, ok: true };
    case "in_service_failing":
      return { text: `${o.endpoint_name} is in service but failing: ${reason}`, ok: false };
    case "failed":
      return { text: `${o.endpoint_name} failed: ${reason}`, ok: false };
    case "cancelled":
      return o.status === "InService"
        ? {
            text: `Stopped waiting for the test request's answer; ${o.endpoint_name} is InService (and bills by the hour).`,
            ok: false,
          }
        : { text: `Stopped waiting; ${o.endpoint_name} keeps starting in the cloud.`, ok: false };
    case "still_starting":
      return {
        text: `${o.endpoint_name} was still ${o.status} when the wait ended; it keeps starting in the cloud.`,
        ok: false,
      };
  }
}

/** Whether the outcome leaves resources worth offering to remove. */
export function offerRemoval(o: DeployOutcome): boolean {
  return o.verdict === "failed" || o.verdict === "in_service_failing";
}
