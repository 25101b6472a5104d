import type { LicenceNotice } from "../bindings";

/** Packages whose name or licence contains `query` (any case), each with its index. */
export function matchNotices(
  packages: LicenceNotice[],
  query: string,
): (LicenceNotice & { index: number })[] {
  const q = query.trim().toLowerCase();
  return packages
    .map((p, index) => ({ ...p, index }))
    .filter((p) => !q || p.name.toLowerCase().includes(q) || p.licence.toLowerCase().includes(q));
}
