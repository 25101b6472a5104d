// UI benchmark (run by `ebb bench`, not by the tests): the results table of a small job and of a
// large one in the real window, measured in the page, each in a new start of the app (timed to
// its first screen drawn), with the webview's memory after scrolling through the job. Needs
// EBB_APP, TAURI_DRIVER, EBB_HOME (a home holding both jobs), BENCH_JOBS="small-id:rows,
// large-id:rows", BENCH_SEARCH (text matching some rows of each) and a DISPLAY. Prints one JSON
// line.
import { readdirSync, readFileSync } from "node:fs";
import { startDriver, openApp, waitText } from "./driver.mjs";

const app = process.env.EBB_APP;
const jobs = (process.env.BENCH_JOBS ?? "").split(",").map((j) => {
  const [id, rows] = j.split(":");
  return { id, rows: Number(rows) };
});
if (!app || jobs.length === 0 || jobs.some((j) => !j.id || !(j.rows > 0))) {
  console.error("set EBB_APP and BENCH_JOBS=id:rows,id:rows");
  process.exit(2);
}

// Runs in the page, one phase per call (each call is one WebDriver request, which has a time
// limit): "open" the job, "scroll" it as a reader would, "jump" around, "long": scroll it end to
// end in `steps` stops (each until its rows are shown), of which this call makes stops
// `from`..`to`, "search".
async function measure(phase, jobId, rows, search, from, to, steps) {
  const raf = () =>
    new Promise((r) => requestAnimationFrame(() => r(performance.now())));
  const table = () => document.querySelector('[data-testid="results-table"]');
  const shown = () => [
    ...document.querySelectorAll('[data-testid="result-row"]'),
  ];
  // The rows at the scroll position are in the page, each with its data (not the "…" of a
  // page still loading).
  const inView = () => {
    const view = table();
    const top = view.scrollTop;
    return shown().filter((r) => {
      const y = parseFloat(r.style.top);
      return y + 28 > top && y < top + view.clientHeight;
    });
  };
  const rowsReady = () => {
    const rows = inView();
    const wanted = Math.min(
      Math.ceil(table().clientHeight / 28),
      Number(table().getAttribute("data-total")),
    );
    return rows.length >= wanted && rows.every((r) => !r.disabled);
  };
  const filled = (total) =>
    table()?.getAttribute("data-total") === String(total) &&
    total > 0 &&
    rowsReady();
  async function until(ok, what, limitMs = 30_000) {
    const t0 = performance.now();
    while (!ok()) {
      if (performance.now() - t0 > limitMs)
        throw new Error(`timed out waiting for the table (${what})`);
      await raf();
    }
    return performance.now() - t0;
  }
  const pct = (xs, p) =>
    [...xs].sort((a, b) => a - b)[
      Math.min(xs.length - 1, Math.floor(xs.length * p))
    ];

  const view = table();
  if (phase === "open") {
    const link = [
      ...document.querySelectorAll('[data-testid="jobs-table"] button'),
    ].find((b) => b.textContent.trim() === jobId);
    if (!link) throw new Error(`job ${jobId} is not in the jobs table`);
    const t0 = performance.now();
    link.click();
    await until(() => filled(rows), "open");
    return { rows, open_ms: performance.now() - t0 };
  }

  if (phase === "scroll") {
    // A fast reading scroll: 10 rows (280 px) a frame for 240 frames from the middle.
    view.scrollTop = Math.floor(rows / 2) * 28;
    await until(() => filled(rows), "the middle");
    const frames = [];
    let blank = 0;
    let prev = await raf();
    // A small table is scrolled round from the top again, so that both draw new rows each
    // frame.
    const end = view.scrollHeight - view.clientHeight;
    let pos = view.scrollTop;
    for (let k = 0; k < 240; k++) {
      pos = (pos + 280) % end;
      view.scrollTop = pos;
      const now = await raf();
      frames.push(now - prev);
      prev = now;
      if (!rowsReady()) blank += 1;
    }
    return {
      frame_p50_ms: pct(frames, 0.5),
      frame_p95_ms: pct(frames, 0.95),
      frame_max_ms: Math.max(...frames),
      blank_frames: blank,
      frames: frames.length,
    };
  }

  if (phase === "jump") {
    // Jumps to far places (the scrollbar dragged): time until the rows there are shown.
    const jumps = [];
    let seed = 7;
    for (let k = 0; k < 20; k++) {
      seed = (seed * 48271) % 2147483647;
      view.scrollTop = (seed % rows) * 28;
      jumps.push(await until(() => filled(rows), "a jump"));
    }
    return { jump_p50_ms: pct(jumps, 0.5), jump_max_ms: Math.max(...jumps) };
  }

  if (phase === "long") {
    // Through the whole table, top to bottom, as someone looking for something would.
    const bottom = view.scrollHeight - view.clientHeight;
    for (let k = from; k < to; k++) {
      view.scrollTop = Math.round((bottom * k) / (steps - 1));
      await until(() => filled(rows), "the long scroll");
    }
    return { long_scroll_steps: steps };
  }

  // Search by file name: the table narrows to that file's rows.
  const box = document.querySelector('[data-testid="results-search"]');
  const setValue = Object.getOwnPropertyDescriptor(
    HTMLInputElement.prototype,
    "value",
  ).set;
  const s0 = performance.now();
  setValue.call(box, search);
  box.dispatchEvent(new Event("input", { bubbles: true }));
  const narrowed = () => {
    const total = Number(table()?.getAttribute("data-total"));
    return total > 0 && total < rows && filled(total);
  };
  await until(narrowed, "search");
  const searchMs = performance.now() - s0;
  const searchRows = Number(table().getAttribute("data-total"));
  setValue.call(box, "");
  box.dispatchEvent(new Event("input", { bubbles: true }));
  await until(() => filled(rows), "search cleared");
  return {
    search_ms: searchMs,
    search_rows: searchRows,
    dom_rows: shown().length,
  };
}

// Resident memory (MB) of the webview: the WebKitWebProcess processes started under this script
// (node → tauri-driver → WebKitWebDriver → the app → its web process); null when none is found.
function webviewRssMb() {
  const parent = new Map();
  const webviews = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces, so split after its closing parenthesis.
    const close = stat.lastIndexOf(")");
    parent.set(pid, stat.slice(close + 2).split(" ")[1]);
    // comm is cut to 15 characters: WebKitWebProcess reads "WebKitWebProces".
    if (stat.slice(stat.indexOf("(") + 1, close).startsWith("WebKitWebProces"))
      webviews.push(pid);
  }
  const mine = (pid) => {
    for (let p = pid, hops = 0; p && p !== "0" && hops < 64; hops++) {
      if (p === String(process.pid)) return true;
      p = parent.get(p);
    }
    return false;
  };
  let kb = 0;
  let found = false;
  for (const pid of webviews.filter(mine)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      kb += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      found = true;
    } catch {
      // ended meanwhile
    }
  }
  return found ? kb / 1024 : null;
}

// Starts the app (a new WebDriver session) and waits for its first screen: milliseconds from the
// session asked for to the first frame after the first screen was mounted (the page's
// "ebb-first-screen" mark, set in ui/src/main.ts).
async function startApp(port) {
  const asked = Date.now();
  const browser = await openApp(port, app);
  // A phase may wait up to 30 s for rows at each stop: more than WebDriver's 30 s per script.
  await browser.setTimeout({ script: 110_000 });
  let drawnAt = null;
  await browser.waitUntil(
    async () => {
      drawnAt = await browser.execute(() => {
        const mark = performance.getEntriesByName("ebb-first-screen")[0];
        return mark ? performance.timeOrigin + mark.startTime : null;
      });
      return drawnAt !== null;
    },
    { timeout: 60_000, timeoutMsg: "the app never drew its first screen" },
  );
  return { browser, startMs: drawnAt - asked };
}

const LONG_SCROLL_STEPS = 500;
// Stops per WebDriver request (a request gets 120 s).
const LONG_SCROLL_CHUNK = 50;
const driver = await startDriver(
  process.env.TAURI_DRIVER ?? "tauri-driver",
  process.env,
);
try {
  const out = [];
  // Each job in a new start of the app: the first start is the run's cold one, the next a warm
  // one, and each webview's memory is that job's alone.
  for (const j of jobs) {
    const { browser, startMs } = await startApp(driver.port);
    try {
      await (await browser.$('[data-testid="nav-jobs"]')).click();
      await waitText(
        browser,
        '[data-testid="jobs-table"]',
        new RegExp(j.id),
        30_000,
      );
      const search = process.env.BENCH_SEARCH ?? "part_042";
      // Each phase's time on stderr: where a slow run spends it.
      const phase = async (name, from = 0, to = 0) => {
        const t0 = Date.now();
        const got = await browser.execute(
          measure,
          name,
          j.id,
          j.rows,
          search,
          from,
          to,
          LONG_SCROLL_STEPS,
        );
        console.error(`${j.rows} rows, ${name}: ${Date.now() - t0} ms`);
        return got;
      };
      const run = { start_ms: startMs };
      for (const name of ["open", "scroll", "jump"])
        Object.assign(run, await phase(name));
      for (let k = 0; k < LONG_SCROLL_STEPS; k += LONG_SCROLL_CHUNK)
        Object.assign(run, await phase("long", k, k + LONG_SCROLL_CHUNK));
      Object.assign(run, await phase("search"));
      run.webview_rss_mb = webviewRssMb();
      out.push(run);
    } finally {
      await browser.deleteSession();
    }
  }
  console.log(JSON.stringify(out));
} finally {
  driver.stop();
}
