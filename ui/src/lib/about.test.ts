import { describe, expect, it } from "vitest";
import type { LicenceNotice } from "../bindings";
import { matchNotices } from "./about";

const pkg = (name: string, licence: string): LicenceNotice => ({
  name,
  version: "1.0.0",
  licence,
  url: "",
  kind: "crate",
  texts: [],
});

describe("licence notices", () => {
  const all = [
    pkg("serde", "MIT OR Apache-2.0"),
    pkg("ring", "ISC AND OpenSSL"),
    pkg("uplot", "MIT"),
  ];

  it("finds packages by name or licence, in any case, keeping their index", () => {
    expect(matchNotices(all, "RING").map((p) => p.index)).toEqual([1]);
    expect(matchNotices(all, "mit").map((p) => p.name)).toEqual(["serde", "uplot"]);
    expect(matchNotices(all, "isc")[0]).toMatchObject({ name: "ring", index: 1 });
  });

  it("shows everything for an empty query and nothing for a miss", () => {
    expect(matchNotices(all, "  ")).toHaveLength(3);
    expect(matchNotices(all, "gpl")).toHaveLength(0);
  });
});
