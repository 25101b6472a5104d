export type ScreenId = "settings" | "endpoints" | "jobs" | "scaling";

export const SCREENS: { id: ScreenId; label: string }[] = [
  { id: "settings", label: "Settings" },
  { id: "endpoints", label: "Endpoints" },
  { id: "jobs", label: "Jobs" },
  { id: "scaling", label: "Scaling & metrics" },
];
