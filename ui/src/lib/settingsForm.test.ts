import { describe, expect, it } from "vitest";
import type { Settings, Target } from "../bindings";
import { changedKeys, errorsByKey, fromForm, overrideNotes, toForm } from "./settingsForm";

const saved: Settings = {
  mode: "aws",
  profile: "dev",
  region: "eu-west-1",
  endpoint_url: null,
  role_arn: null,
  bucket: "my-bucket",
  prefix: "async-llm-output",
};

const target = (over: Partial<Target>): Target => ({
  mode: "aws",
  profile: "dev",
  profile_source: "settings",
  region: "eu-west-1",
  region_source: "settings",
  endpoint_url: null,
  endpoint_source: "unset",
  role_arn: null,
  role_source: "unset",
  ...over,
});

describe("settings form", () => {
  it("round-trips settings and turns blank text into unset values", () => {
    expect(fromForm(toForm(saved))).toEqual(saved);
    const form = { ...toForm(saved), bucket: "   ", profile: "", role_arn: " arn:x " };
    const s = fromForm(form);
    expect(s.bucket).toBeNull();
    expect(s.profile).toBeNull();
    expect(s.role_arn).toBe("arn:x");
    expect(s.prefix).toBe("async-llm-output");
  });

  it("lists exactly the keys that changed", () => {
    expect(changedKeys(saved, saved)).toEqual([]);
    expect(changedKeys(saved, { ...saved, region: "us-east-1", bucket: null })).toEqual([
      "region",
      "bucket",
    ]);
  });

  it("keeps the first error per key", () => {
    const e = errorsByKey([
      { key: "bucket", message: "first" },
      { key: "bucket", message: "second" },
      { key: "region", message: "bad region" },
    ]);
    expect(e).toEqual({ bucket: "first", region: "bad region" });
  });

  it("explains values overridden by the environment or flags, and only those", () => {
    expect(overrideNotes(saved, target({}))).toEqual({});
    const notes = overrideNotes(
      saved,
      target({ region: "us-west-2", region_source: "env", profile: "ci", profile_source: "flag" }),
    );
    expect(notes.region).toBe(
      "AWS_REGION is set in the environment and overrides this (effective: us-west-2).",
    );
    expect(notes.profile).toContain("command-line flag");
    const local = { ...saved, mode: "local" as const };
    const viaEnv = target({ endpoint_url: "http://127.0.0.1:5000", endpoint_source: "env" });
    expect(overrideNotes(local, viaEnv).mode).toContain("http://127.0.0.1:5000");
  });
});
