// An engine error is shown as its one sentence where the action was taken; what AWS said in
// full (codes, request id) stays one click away. The sentence is what components keep, so the
// detail is remembered here by sentence. Every sentence also goes to the session's error log
// (Home's "Recent errors").
import { logError } from "./errorLog.svelte";

const details = new Map<string, string>();
const KEEP = 50;

/** The sentence to show for a command's error; its detail is kept for `ErrorNote`. */
export function errorText(e: { message: string; detail?: string | null }): string {
  logError(e.message);
  if (e.detail) {
    details.delete(e.message);
    details.set(e.message, e.detail);
    if (details.size > KEEP) {
      const oldest = details.keys().next().value;
      if (oldest !== undefined) details.delete(oldest);
    }
  }
  return e.message;
}

/** The detail behind a sentence `errorText` returned, if there was one. */
export function detailOf(message: string): string | null {
  return details.get(message) ?? null;
}
