// UI benchmark (run by `ebb bench`, not by the tests): the results table of a small job and of a
// large one in the real window, measured in the page. Needs EBB_APP, TAURI_DRIVER, EBB_HOME (a
// home holding both jobs), BENCH_JOBS="small-id:rows,large-id:rows", BENCH_SEARCH (text matching
// some rows of each) and a DISPLAY. Prints one JSON line.
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

// Runs in the page: open the job, scroll it as a reader would, jump around, search.
async function measure(jobId, rows, search) {
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
  async function until(ok, limitMs = 30_000) {
    const t0 = performance.now();
    while (!ok()) {
      if (performance.now() - t0 > limitMs)
        throw new Error("timed out waiting for the table");
      await raf();
    }
    return performance.now() - t0;
  }
  const pct = (xs, p) =>
    [...xs].sort((a, b) => a - b)[
      Math.min(xs.length - 1, Math.floor(xs.length * p))
    ];

  const link = [
    ...document.querySelectorAll('[data-testid="jobs-table"] button'),
  ].find((b) => b.textContent.trim() === jobId);
  if (!link) throw new Error(`job ${jobId} is not in the jobs table`);
  const t0 = performance.now();
  link.click();
  await until(() => filled(rows));
  const openMs = performance.now() - t0;

  // A fast reading scroll: 10 rows (280 px) a frame for 240 frames from the middle.
  const view = table();
  view.scrollTop = Math.floor(rows / 2) * 28;
  await until(() => filled(rows));
  const frames = [];
  let blank = 0;
  let prev = await raf();
  // A small table is scrolled round from the top again, so that both draw new rows each frame.
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

  // Jumps to far places (the scrollbar dragged): time until the rows there are shown.
  const jumps = [];
  let seed = 7;
  for (let k = 0; k < 20; k++) {
    seed = (seed * 48271) % 2147483647;
    view.scrollTop = (seed % rows) * 28;
    jumps.push(await until(() => filled(rows)));
  }

  // Search by file name: the table narrows to that file's rows.
  const box = document.querySelector('input[type="search"]');
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
  await until(narrowed);
  const searchMs = performance.now() - s0;
  const searchRows = Number(table().getAttribute("data-total"));
  setValue.call(box, "");
  box.dispatchEvent(new Event("input", { bubbles: true }));
  await until(() => filled(rows));

  return {
    rows,
    open_ms: openMs,
    frame_p50_ms: pct(frames, 0.5),
    frame_p95_ms: pct(frames, 0.95),
    frame_max_ms: Math.max(...frames),
    blank_frames: blank,
    frames: frames.length,
    jump_p50_ms: pct(jumps, 0.5),
    jump_max_ms: Math.max(...jumps),
    search_ms: searchMs,
    search_rows: searchRows,
    dom_rows: shown().length,
  };
}

const driver = await startDriver(
  process.env.TAURI_DRIVER ?? "tauri-driver",
  process.env,
);
let browser;
try {
  browser = await openApp(driver.port, app);
  await (await browser.$('[data-testid="nav-jobs"]')).click();
  await waitText(
    browser,
    '[data-testid="jobs-table"]',
    new RegExp(jobs[jobs.length - 1].id),
    30_000,
  );
  const out = [];
  for (const j of jobs) {
    out.push(
      await browser.execute(
        measure,
        j.id,
        j.rows,
        process.env.BENCH_SEARCH ?? "part_042",
      ),
    );
  }
  console.log(JSON.stringify(out));
} finally {
  await browser?.deleteSession();
  driver.stop();
}
