import { describe, expect, it } from "vitest";
import { detailOf, errorText } from "./errors";

describe("error details", () => {
  it("keeps what AWS said behind the sentence shown", () => {
    const shown = errorText({
      message: "AWS refused CreateEndpoint: quota exceeded",
      detail: "ResourceLimitExceeded: account-level service limit (request id 42)",
    });
    expect(shown).toBe("AWS refused CreateEndpoint: quota exceeded");
    expect(detailOf(shown)).toMatch(/request id 42/);
  });

  it("has nothing more for an error without detail, and forgets the oldest", () => {
    expect(detailOf(errorText({ message: "the folder is empty", detail: null }))).toBeNull();
    for (let i = 0; i < 60; i++) errorText({ message: `m${i}`, detail: `d${i}` });
    expect(detailOf("m0")).toBeNull();
    expect(detailOf("m59")).toBe("d59");
  });
});
