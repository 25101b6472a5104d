// The connection state shown in the status bar and the Settings screen.
import type { Check, DoctorReport, Source } from "../bindings";

export type Connection =
  | { state: "unchecked" }
  | { state: "checking"; partial: Check[] }
  | { state: "done"; report: DoctorReport }
  | { state: "error"; message: string };

export type Tone = "idle" | "busy" | "ok" | "fail";

export function connectionText(c: Connection): { tone: Tone; text: string } {
  switch (c.state) {
    case "unchecked":
      return { tone: "idle", text: "not checked" };
    case "checking":
      return { tone: "busy", text: "checking…" };
    case "error":
      return { tone: "fail", text: `not connected — ${c.message}` };
    case "done": {
      const failed = c.report.checks.find((x) => x.status === "fail");
      if (failed) return { tone: "fail", text: `not connected — ${failed.summary}` };
      const account = c.report.identity?.account;
      return { tone: "ok", text: account ? `connected — account ${account}` : "connected" };
    }
  }
}

export function sourceNote(source: Source, envVar: string): string {
  switch (source) {
    case "flag":
      return "from the command line";
    case "env":
      return `from ${envVar} env`;
    case "settings":
      return "from Ebb settings";
    case "profile":
      return "from the AWS profile";
    case "local_cloud":
      return "from Ebb's local cloud";
    case "default":
      return "default";
    case "unset":
      return "not set";
  }
}

export const statusIcon: Record<Check["status"], string> = {
  ok: "✓",
  warn: "!",
  fail: "✕",
  skipped: "–",
};

/** Whether the connection check passed (commands that reach the cloud can run). */
export function isConnected(c: Connection): boolean {
  return c.state === "done" && c.report.ok;
}
