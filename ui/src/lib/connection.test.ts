import { describe, expect, it } from "vitest";
import type { Check, DoctorReport } from "../bindings";
import { connectionText, sourceNote } from "./connection";

const check = (status: Check["status"], summary: string): Check => ({
  id: "identity",
  title: "Identity",
  status,
  summary,
  advice: null,
  detail: null,
});

const report = (checks: Check[], account: string | null): DoctorReport => ({
  target: {
    mode: "aws",
    profile: null,
    profile_source: "unset",
    region: "us-east-1",
    region_source: "env",
    endpoint_url: null,
    endpoint_source: "unset",
    role_arn: null,
    role_source: "unset",
  },
  identity: account ? { account, arn: "arn:aws:iam::1:user/x", user_id: "u" } : null,
  bucket: null,
  checks,
  ok: checks.every((c) => c.status !== "fail"),
});

describe("connection text", () => {
  it("says connected with the account when nothing failed", () => {
    const r = report([check("ok", "fine"), check("warn", "no role")], "123456789012");
    expect(connectionText({ state: "done", report: r })).toEqual({
      tone: "ok",
      text: "connected — account 123456789012",
    });
  });

  it("names the first failing check", () => {
    const r = report([check("ok", "a"), check("fail", "No AWS credentials were found")], null);
    expect(connectionText({ state: "done", report: r }).text).toBe(
      "not connected — No AWS credentials were found",
    );
  });

  it("covers the other states", () => {
    expect(connectionText({ state: "unchecked" }).text).toBe("not checked");
    expect(connectionText({ state: "checking", partial: [] }).tone).toBe("busy");
    expect(connectionText({ state: "error", message: "boom" }).tone).toBe("fail");
    expect(sourceNote("env", "AWS_REGION")).toBe("from AWS_REGION env");
  });
});
