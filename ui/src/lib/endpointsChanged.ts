/** The window event that says endpoints were deployed or removed. */
export const ENDPOINTS_CHANGED = "ebb:endpoints-changed";

/** Asks the status bar (and anything else listening) to read the endpoints again now,
 * rather than at its next minute. */
export function endpointsChanged(): void {
  window.dispatchEvent(new Event(ENDPOINTS_CHANGED));
}
