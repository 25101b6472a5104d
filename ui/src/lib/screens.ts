export type ScreenId = "home" | "settings" | "endpoints" | "jobs" | "scaling";

/** The screens in the order of the navigation; Ctrl (⌘ on a Mac) + `key` opens each. */
export const SCREENS: { id: ScreenId; label: string; key: string }[] = [
  { id: "home", label: "Home", key: "1" },
  { id: "settings", label: "Settings", key: "2" },
  { id: "endpoints", label: "Endpoints", key: "3" },
  { id: "jobs", label: "Jobs", key: "4" },
  { id: "scaling", label: "Scaling & metrics", key: "5" },
];

type Keys = Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "shiftKey">;

/** What a key press asks for: a screen (Ctrl/⌘ + 1–5), "about" (F1), or nothing. */
export function shortcut(e: Keys): ScreenId | "about" | null {
  if (e.key === "F1" && !e.ctrlKey && !e.metaKey && !e.altKey) return "about";
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.shiftKey) return null;
  return SCREENS.find((s) => s.key === e.key)?.id ?? null;
}

/** A screen's name as the navigation shows it. */
export function screenLabel(id: ScreenId): string {
  return SCREENS.find((s) => s.id === id)?.label ?? id;
}
