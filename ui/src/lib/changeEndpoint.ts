// Pure helpers for the endpoint details' "Change endpoint" form.
import type { EndpointSettings, UpdateRequest } from "../bindings";

/** The form's values, as typed. */
export type ChangeForm = {
  instanceType: string;
  instanceCount: string;
  maxConcurrency: string;
  tgiVersion: string;
  /** KEY=VALUE, one a line. */
  environment: string;
};

/** The form prefilled with what the endpoint runs now. */
export function formOf(s: EndpointSettings): ChangeForm {
  return {
    instanceType: s.instance_type,
    instanceCount: String(s.instance_count),
    maxConcurrency: s.max_concurrency === null ? "" : String(s.max_concurrency),
    tgiVersion: s.tgi_version ?? "",
    environment: Object.entries(s.environment)
      .map(([k, v]) => `${k}=${v ?? ""}`)
      .join("\n"),
  };
}

/** `KEY=VALUE` lines to a map; the first line that is not one is the problem. */
export function parseEnvironment(text: string): { env: Record<string, string>; problem?: string } {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const at = line.indexOf("=");
    if (at <= 0) return { env, problem: `\`${line}\` should be KEY=VALUE` };
    env[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return { env };
}

function whole(text: string, field: string): { n?: number; problem?: string } {
  const n = Number(text.trim());
  return Number.isInteger(n) && n >= 0 && text.trim() !== ""
    ? { n }
    : { problem: `${field} must be a whole number, not \`${text}\`` };
}

/** Only what differs from `now`; `changed` is false when nothing does. */
export function changeRequest(
  now: EndpointSettings,
  form: ChangeForm,
): { request: UpdateRequest; changed: boolean; problem?: string } {
  const request: UpdateRequest = {
    instance_type: null,
    instance_count: null,
    max_concurrency: null,
    tgi_version: null,
    set_env: {},
    unset_env: [],
  };
  const type = form.instanceType.trim();
  if (type !== now.instance_type) request.instance_type = type;
  const count = whole(form.instanceCount, "Instance count");
  if (count.problem) return { request, changed: false, problem: count.problem };
  if (count.n !== now.instance_count) request.instance_count = count.n ?? null;
  if (now.max_concurrency !== null) {
    const c = whole(form.maxConcurrency, "Concurrency per instance");
    if (c.problem) return { request, changed: false, problem: c.problem };
    if (c.n !== now.max_concurrency) request.max_concurrency = c.n ?? null;
  }
  const tgi = form.tgiVersion.trim();
  if (tgi !== "" && tgi !== (now.tgi_version ?? "")) request.tgi_version = tgi;
  const parsed = parseEnvironment(form.environment);
  if (parsed.problem) return { request, changed: false, problem: parsed.problem };
  const setEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed.env)) if (now.environment[k] !== v) setEnv[k] = v;
  request.set_env = setEnv;
  const unset = Object.keys(now.environment).filter((k) => !(k in parsed.env));
  request.unset_env = unset;
  const changed =
    request.instance_type !== null ||
    request.instance_count !== null ||
    request.max_concurrency !== null ||
    request.tgi_version !== null ||
    Object.keys(setEnv).length > 0 ||
    unset.length > 0;
  return { request, changed };
}
