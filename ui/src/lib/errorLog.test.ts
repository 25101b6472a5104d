import { describe, expect, it } from "vitest";
import { errorLog, logError, withError, type LoggedError } from "./errorLog.svelte";
import { errorText } from "./errors";

describe("the session's error log", () => {
  it("keeps the newest first, counts a repeat from the same place, and keeps a few", () => {
    let log: LoggedError[] = [];
    log = withError(log, { where: "Jobs", message: "a", at: 1 });
    log = withError(log, { where: "Endpoints", message: "b", at: 2 });
    log = withError(log, { where: "Jobs", message: "a", at: 3 });
    expect(log).toEqual([
      { where: "Jobs", message: "a", at: 3, count: 2 },
      { where: "Endpoints", message: "b", at: 2, count: 1 },
    ]);
    // The same sentence from elsewhere is another entry.
    log = withError(log, { where: "Home", message: "a", at: 4 });
    expect(log).toHaveLength(3);
    for (let i = 0; i < 10; i++) log = withError(log, { where: "x", message: `m${i}`, at: i }, 5);
    expect(log.map((e) => e.message)).toEqual(["m9", "m8", "m7", "m6", "m5"]);
  });

  it("records every command error shown, from the open screen unless told otherwise", () => {
    errorLog.entries = [];
    errorLog.place = "Endpoints";
    errorText({ message: "AWS refused CreateEndpoint: quota exceeded" });
    logError("job-1: the endpoint is gone", "Jobs");
    expect(errorLog.entries.map((e) => [e.where, e.message])).toEqual([
      ["Jobs", "job-1: the endpoint is gone"],
      ["Endpoints", "AWS refused CreateEndpoint: quota exceeded"],
    ]);
  });
});
