import { describe, expect, it } from "vitest";
import { screenLabel, shortcut } from "./screens";

const press = (
  key: string,
  mods: Partial<Record<"ctrl" | "meta" | "alt" | "shift", boolean>> = {},
) => ({
  key,
  ctrlKey: mods.ctrl ?? false,
  metaKey: mods.meta ?? false,
  altKey: mods.alt ?? false,
  shiftKey: mods.shift ?? false,
});

describe("keyboard shortcuts", () => {
  it("opens the screens with Ctrl or ⌘ and their number", () => {
    expect(shortcut(press("1", { ctrl: true }))).toBe("home");
    expect(shortcut(press("2", { ctrl: true }))).toBe("settings");
    expect(shortcut(press("3", { ctrl: true }))).toBe("endpoints");
    expect(shortcut(press("4", { meta: true }))).toBe("jobs");
    expect(shortcut(press("5", { ctrl: true }))).toBe("scaling");
  });

  it("leaves plain typing, other combinations and other numbers alone", () => {
    expect(shortcut(press("1"))).toBeNull();
    expect(shortcut(press("6", { ctrl: true }))).toBeNull();
    expect(shortcut(press("1", { ctrl: true, shift: true }))).toBeNull();
    expect(shortcut(press("2", { ctrl: true, alt: true }))).toBeNull();
    expect(shortcut(press("a", { ctrl: true }))).toBeNull();
  });

  it("names each screen as the navigation does", () => {
    expect(screenLabel("home")).toBe("Home");
    expect(screenLabel("scaling")).toBe("Scaling & metrics");
  });

  it("opens About with F1", () => {
    expect(shortcut(press("F1"))).toBe("about");
    expect(shortcut(press("F1", { ctrl: true }))).toBeNull();
  });
});
