// This session's errors, for Home: each sentence a screen, a command or a background task
// reported, with where and when. The same sentence from the same place again (a refresh that
// keeps failing) counts up instead of filling the list. Kept in memory only: a new session
// starts clean.

export type LoggedError = { where: string; message: string; at: number; count: number };

/** How many different errors Home keeps. */
export const KEEP = 5;

/** The log, and the place errors are reported from by default (the open screen). */
export const errorLog = $state<{ place: string; entries: LoggedError[] }>({
  place: "Home",
  entries: [],
});

/** `entries` with one more error, newest first, at most `keep` of them. */
export function withError(
  entries: LoggedError[],
  error: { where: string; message: string; at: number },
  keep = KEEP,
): LoggedError[] {
  const same = entries.find((e) => e.where === error.where && e.message === error.message);
  const others = entries.filter((e) => e !== same);
  return [{ ...error, count: (same?.count ?? 0) + 1 }, ...others].slice(0, keep);
}

/** Records an error; `where` defaults to the screen open now. */
export function logError(message: string, where: string = errorLog.place): void {
  errorLog.entries = withError(errorLog.entries, { where, message, at: Date.now() });
}
