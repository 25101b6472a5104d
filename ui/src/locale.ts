// Some systems report the POSIX locale "C", which is not a BCP 47 tag: `Intl` throws on it, and
// uPlot formats numbers with `navigator.language` as soon as it loads. Imported first, so
// every later module sees a usable language.
function usable(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (!usable(navigator.language)) {
  Object.defineProperty(navigator, "language", { value: "en-US", configurable: true });
}
