// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";
import ErrorNote from "./ErrorNote.svelte";
import { errorText } from "./errors";

afterEach(cleanup);

describe("an error where the action was taken", () => {
  it("shows the sentence, with AWS's full answer one click away", async () => {
    const message = errorText({
      message: "AWS refused CreateEndpoint: the account's ml.g5.12xlarge quota is 0 — ask for more",
      detail:
        "ResourceLimitExceeded: The account-level service limit is 0 Instances (request 7f3a)",
    });
    render(ErrorNote, { message });
    const note = screen.getByRole("alert");
    expect(note.textContent).toContain("quota is 0");
    const details = note.querySelector("details");
    expect(details?.open).toBe(false);
    await fireEvent.click(screen.getByText("Details"));
    expect(details?.open).toBe(true);
    expect(details?.textContent).toContain("request 7f3a");
  });

  it("has no Details when there is nothing more to say", () => {
    render(ErrorNote, { message: errorText({ message: "The folder holds no .jsonl file." }) });
    expect(screen.getByRole("alert").textContent).toContain("no .jsonl file");
    expect(screen.queryByText("Details")).toBeNull();
  });
});
