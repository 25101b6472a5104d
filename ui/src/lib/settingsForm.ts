// Pure helpers between the Settings form (strings) and the engine's Settings (nulls for unset).
import type { FieldError, Mode, SettingKey, Settings, Source, Target } from "../bindings";

export type FormValues = {
  mode: Mode;
  profile: string;
  region: string;
  endpoint_url: string;
  role_arn: string;
  bucket: string;
  prefix: string;
};

export function toForm(s: Settings): FormValues {
  return {
    mode: s.mode,
    profile: s.profile ?? "",
    region: s.region ?? "",
    endpoint_url: s.endpoint_url ?? "",
    role_arn: s.role_arn ?? "",
    bucket: s.bucket ?? "",
    prefix: s.prefix,
  };
}

const opt = (v: string): string | null => (v.trim() === "" ? null : v.trim());

/** Empty text means "unset"; the prefix is kept as typed (the engine says if it is empty). */
export function fromForm(f: FormValues): Settings {
  return {
    mode: f.mode,
    profile: opt(f.profile),
    region: opt(f.region),
    endpoint_url: opt(f.endpoint_url),
    role_arn: opt(f.role_arn),
    bucket: opt(f.bucket),
    prefix: f.prefix.trim(),
  };
}

const KEYS: SettingKey[] = [
  "mode",
  "profile",
  "region",
  "endpoint_url",
  "role_arn",
  "bucket",
  "prefix",
];

export function changedKeys(a: Settings, b: Settings): SettingKey[] {
  return KEYS.filter((k) => a[k] !== b[k]);
}

export function errorsByKey(errors: FieldError[]): Partial<Record<SettingKey, string>> {
  const out: Partial<Record<SettingKey, string>> = {};
  for (const e of errors) out[e.key] ??= e.message;
  return out;
}

const origin = (source: Source, envVar: string): string =>
  source === "flag" ? "A command-line flag" : `${envVar} is set in the environment and`;

/** Where the effective target ignores what the form says, a sentence that tells why. */
export function overrideNotes(form: Settings, target: Target): Partial<Record<SettingKey, string>> {
  const notes: Partial<Record<SettingKey, string>> = {};
  const overridden = (s: Source) => s === "env" || s === "flag";
  if (overridden(target.profile_source) && target.profile !== form.profile) {
    notes.profile = `${origin(target.profile_source, "AWS_PROFILE")} overrides this (effective: ${target.profile ?? "default"}).`;
  }
  if (overridden(target.region_source) && target.region !== form.region) {
    notes.region = `${origin(target.region_source, "AWS_REGION")} overrides this (effective: ${target.region ?? "none"}).`;
  }
  if (overridden(target.endpoint_source) && target.endpoint_url !== form.endpoint_url) {
    notes.endpoint_url = `${origin(target.endpoint_source, "AWS_ENDPOINT_URL")} overrides this (effective: ${target.endpoint_url ?? "none"}).`;
  }
  if (target.mode !== form.mode) {
    notes.mode =
      target.mode === "aws"
        ? `A custom endpoint (${target.endpoint_url ?? "?"}) is set outside Ebb, so Ebb talks to it in AWS mode.`
        : "The command line asked for local mode.";
  }
  return notes;
}
