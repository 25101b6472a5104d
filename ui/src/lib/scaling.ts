// Pure helpers for the Scaling & metrics screen: the form's findings by field and chart data.
import type { EndpointMetrics, Finding, Series } from "../bindings";

/** Time ranges the charts offer, in seconds. */
export const SPANS: { label: string; seconds: number }[] = [
  { label: "15 min", seconds: 900 },
  { label: "1 hour", seconds: 3600 },
  { label: "3 hours", seconds: 10_800 },
  { label: "1 day", seconds: 86_400 },
];

/** The first finding per field, errors before warnings (the engine sends them so). */
export function findingsByField(findings: Finding[]): Record<string, Finding> {
  const out: Record<string, Finding> = {};
  for (const f of findings) out[f.field] ??= f;
  return out;
}

export function hasErrors(findings: Finding[]): boolean {
  return findings.some((f) => f.severity === "error");
}

/** CSS class for an alarm state. */
export function alarmTone(state: string): "ok" | "alarm" | "none" {
  if (state === "OK") return "ok";
  if (state === "ALARM") return "alarm";
  return "none";
}

/**
 * Series aligned on one time axis (seconds, as uPlot wants): every timestamp of any series,
 * with `null` where a series has no point. Step series (the instance count) carry their last
 * value forward, since a count holds until it changes.
 */
export function aligned(series: Series[], steps: Series[] = []): (number | null)[][] {
  const times = [...new Set([...series, ...steps].flatMap((s) => s.times_ms))].sort(
    (a, b) => a - b,
  );
  const column = (s: Series, carry: boolean): (number | null)[] => {
    const at = new Map<number, number>();
    s.times_ms.forEach((t, i) => {
      const v = s.values[i];
      if (v !== undefined) at.set(t, v);
    });
    let last: number | null = null;
    return times.map((t) => {
      const v = at.get(t);
      if (v !== undefined) last = v;
      return v ?? (carry ? last : null);
    });
  };
  return [
    times.map((t) => t / 1000),
    ...series.map((s) => column(s, false)),
    ...steps.map((s) => column(s, true)),
  ];
}

export function seriesNamed(m: EndpointMetrics, name: string): Series | undefined {
  return m.series.find((s) => s.name === name);
}

/** `12:03:04` local time of epoch milliseconds. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
