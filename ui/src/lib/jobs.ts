// Pure helpers for the Jobs screen (unit-tested without a webview).
import type {
  Estimate,
  FileFormat,
  InputFormat,
  JobSettings,
  JobSummary,
  RequestState,
  ScanSummary,
  Throughput,
  WorkProgress,
} from "../bindings";

/** A new job's settings until the user changes them (the engine's defaults). */
export const DEFAULT_JOB_SETTINGS: JobSettings = {
  upload_all: false,
  per_file: false,
  concurrency: 64,
  invocation_timeout_s: 900,
  request_ttl_s: null,
};

export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} bytes`;
}

/** Share of requests that have ended (succeeded, failed, expired or cancelled), 0..1. */
export function doneFraction(
  j: Pick<JobSummary, "total" | "succeeded" | "failed" | "expired" | "cancelled">,
): number {
  return j.total === 0 ? 0 : (j.succeeded + j.failed + j.expired + j.cancelled) / j.total;
}

/** One line about a scan, and whether (and how) it can be submitted. */
export function scanVerdict(
  s: ScanSummary,
  validOnly: boolean,
): { text: string; canSubmit: boolean; why: string } {
  const text =
    `${s.files} file${s.files === 1 ? "" : "s"}, ${s.requests} request${s.requests === 1 ? "" : "s"} ` +
    `(${bytes(s.request_bytes)}), ${s.errors} error${s.errors === 1 ? "" : "s"}, ` +
    `${s.warnings} warning${s.warnings === 1 ? "" : "s"}`;
  if (s.requests === 0) return { text, canSubmit: false, why: "No valid request to send." };
  if (s.errors > 0 && !validOnly)
    return {
      text,
      canSubmit: false,
      why: `Fix the ${s.errors} problem${s.errors === 1 ? "" : "s"} below, or tick “valid lines only” to send the ${s.requests} valid requests.`,
    };
  return { text, canSubmit: true, why: "" };
}

/** Rows to draw for a virtualized list: the visible ones plus `overscan` on each side. */
export function visibleRange(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  total: number,
  overscan = 10,
): { first: number; last: number } {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first, last: Math.max(first, last) };
}

/** The pages of `size` rows holding rows `first` (inclusive) to `last` (exclusive). */
export function pagesCovering(first: number, last: number, size: number): number[] {
  const end = Math.max(first, last - 1);
  const out = [];
  for (let p = Math.floor(first / size); p <= Math.floor(end / size); p++) out.push(p);
  return out;
}

/**
 * The pages of rows a virtualized table has fetched, at most `limit` of them: when a new page
 * comes in, the least recently used go (but never one of `keep`, the pages in view), so a
 * million-row job scrolled end to end holds a few pages, not the million rows.
 */
export class PageCache<T> {
  // A Map iterates in insertion order: re-inserting a used page makes the first the oldest.
  private readonly pages = new Map<number, T[]>();

  constructor(readonly limit: number) {}

  /** Pages held. */
  get size(): number {
    return this.pages.size;
  }

  /** A page's rows, without marking it used (for drawing); undefined when not held. */
  peek(page: number): T[] | undefined {
    return this.pages.get(page);
  }

  /** Marks a page as just used; false when it is not held (it must be fetched). */
  touch(page: number): boolean {
    const rows = this.pages.get(page);
    if (rows === undefined) return false;
    this.pages.delete(page);
    this.pages.set(page, rows);
    return true;
  }

  /** Holds a fetched page, then drops the least recently used pages beyond the limit. */
  put(page: number, rows: T[], keep: Iterable<number> = []): void {
    this.pages.delete(page);
    this.pages.set(page, rows);
    const kept = new Set(keep);
    kept.add(page);
    for (const old of [...this.pages.keys()]) {
      if (this.pages.size <= this.limit) break;
      if (!kept.has(old)) this.pages.delete(old);
    }
  }

  /** Forgets every page (a new job, filter or search). */
  clear(): void {
    this.pages.clear();
  }
}

/** Seconds as "42 s", "3 min", "1.5 h". */
export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return "—";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * A running estimate of what the endpoint cost while a job ran: its hourly cost now (every
 * instance) times the hours from the job's start to its end (or `nowS`). Null when the price
 * is unknown.
 */
export function jobCost(job: JobSummary, usdPerHour: number | null, nowS: number): number | null {
  if (usdPerHour === null) return null;
  const end = job.finished_at ?? nowS;
  return (Math.max(0, end - job.created_at) / 3600) * usdPerHour;
}

/** What each input format is called on screen. */
export const FORMAT_NAMES: Record<InputFormat, string> = {
  tgi: "TGI requests",
  openai: "OpenAI batch lines",
  bedrock: "Bedrock batch records",
  chat: "chat messages",
};

/** One file's line in the scan summary: "a.jsonl: OpenAI batch lines, 3 requests". */
export function formatLine(f: FileFormat): string {
  return `${f.file}: ${FORMAT_NAMES[f.format]}, ${f.requests} request${f.requests === 1 ? "" : "s"}`;
}

/** The states a request can be in, as the results filter offers them. */
export const STATE_NAMES: [RequestState, string][] = [
  ["succeeded", "succeeded"],
  ["failed", "failed"],
  ["expired", "expired (no result in time)"],
  ["cancelled", "cancelled"],
  ["invoked", "waiting for a result"],
  ["pending", "not sent"],
];

/** Where an estimate's throughput comes from, in words; ASSUMED in capitals, as the CLI says. */
export function throughputSource(t: Throughput): string {
  if (t.kind === "measured") return `measured by job ${t.job}`;
  if (t.kind === "given") return "as given";
  return "ASSUMED: no job of this endpoint has ended yet";
}

/** The run's expected time range in hours, when the throughput was measured. */
export function estimateBounds(e: Estimate): [number, number] | null {
  return e.bound_factor === null ? null : [e.hours / e.bound_factor, e.hours * e.bound_factor];
}

/** Seconds since the epoch as a local date and time; "—" when unknown. */
export function when(s: number | null): string {
  return s === null ? "—" : new Date(s * 1000).toLocaleString();
}

/**
 * A number input's value, or null when it is empty: Svelte binds a number input as a number
 * (null or undefined when empty), and a test or an old webview may hand over a string.
 */
export function numberOrNull(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "") {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/**
 * One line about a scan, export or result-file writing in progress: done of total (bytes for a
 * scan, rows otherwise), the rate so far, and the time left at that rate.
 */
export function workText(p: WorkProgress): string {
  const count = (n: number) => Math.round(n).toLocaleString("en-US");
  const [done, rate] =
    p.kind === "scan"
      ? [`${bytes(p.done)} of ${bytes(p.total)}`, `${bytes(p.rate_per_s)}/s`]
      : [`${count(p.done)} of ${count(p.total)} rows`, `${count(p.rate_per_s)} rows/s`];
  const files =
    p.kind === "scan" && p.files_total > 1
      ? ` · file ${Math.min(p.files_done + 1, p.files_total)} of ${p.files_total}`
      : "";
  const left = p.eta_s === null ? "" : ` · about ${duration(p.eta_s)} left`;
  return `${done}${files} · ${rate}${left}`;
}
