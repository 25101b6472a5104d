// End-to-end: what a new user sees first. A fresh Ebb home in local mode, the real window, and
// the Home screen's three steps clicked in order until each is marked done. Needs EBB_APP (the
// built app, with `ebb` beside it), TAURI_DRIVER, a DISPLAY (xvfb-run) and optional E2E_ARTIFACTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  click,
  isolatedEnv,
  openApp,
  startDriver,
  startLocalServe,
  waitText,
} from "./driver.mjs";

const app = process.env.EBB_APP;
const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
const artifacts = process.env.E2E_ARTIFACTS ?? join(tmpdir(), "ebb-e2e");
assert.ok(app, "set EBB_APP to the built desktop binary");
mkdirSync(artifacts, { recursive: true });

// Nothing in it: no settings, no endpoint, no job.
const home = mkdtempSync(join(tmpdir(), "ebb-e2e-first-"));
let driver;
let serve;

const appEnv = () => isolatedEnv(home);

before(async () => {
  // The local cloud 60 times faster (a simulated minute a second), so that the endpoint's
  // start-up, the job and the scaling alarms take seconds; the app uses it instead of its own.
  serve = await startLocalServe(
    join(dirname(app), "ebb"),
    ["--speed", "60"],
    appEnv(),
  );
  driver = await startDriver(driverBin, appEnv());
});

after(() => {
  driver?.stop();
  serve?.kill("SIGTERM");
});

const step = (key) => `[data-testid="step-${key}"]`;

/** Waits until step `key` is in `state` (the page's own mark), then returns its text. */
async function stepIn(browser, key, state, timeout) {
  const el = await browser.$(step(key));
  await el.waitUntil(
    async () => (await el.getAttribute("data-state")) === state,
    {
      timeout,
      timeoutMsg: `step ${key} never became ${state}: ${await el.getText().catch(() => "?")}`,
    },
  );
  return el.getText();
}

test("Home on a fresh local cloud: the three steps clicked in order, each marked done", async () => {
  const browser = await openApp(driver.port, app);
  try {
    // The window opens on Home, connected to its local cloud, with everything still to do.
    await (
      await browser.$('[data-testid="home-screen"]')
    ).waitForDisplayed({ timeout: 15_000 });
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    await waitText(
      browser,
      '[data-testid="home-connection"]',
      /Local cloud: connected/,
    );
    for (const key of ["deploy", "submit", "autoscale"])
      await stepIn(browser, key, "todo", 15_000);
    await waitText(
      browser,
      '[data-testid="home-no-endpoint"]',
      /No endpoint yet/,
    );
    await waitText(browser, '[data-testid="home-no-job"]', /No job yet/);
    assert.equal(
      await (
        await browser.$(`${step("submit")} button[type="submit"]`)
      ).isExisting(),
      false,
    );
    await browser.saveScreenshot(join(artifacts, "home-empty.png"));

    // 1. The seed preset, deployed from Home.
    await click(browser, "step-deploy-run");
    const deployed = await stepIn(browser, "deploy", "done", 60_000);
    assert.match(deployed, /✓/);
    const endpoint = deployed.match(
      /(flan-t5-xxl-\d{8}-\d{6}) is InService with 1 instance/,
    )?.[1];
    assert.ok(endpoint, `no InService endpoint on step 1: ${deployed}`);
    await waitText(
      browser,
      '[data-testid="home-running"]',
      new RegExp(`${endpoint}`),
    );

    // 2. The demo folder, to that endpoint: the article's 19 requests, every one answered.
    await click(browser, "step-submit-run");
    const submitted = await stepIn(browser, "submit", "done", 90_000);
    assert.match(submitted, /✓/);
    assert.match(submitted, /19 succeeded, 0 failed of 19 requests/);

    // 3. Autoscaling with scale from zero and a short load test; the charts open on it.
    await click(browser, "step-autoscale-run");
    await (
      await browser.$('[data-testid="scaling-screen"]')
    ).waitForDisplayed({ timeout: 20_000 });
    const picker = await browser.$('[data-testid="scaling-endpoint"]');
    await picker.waitUntil(async () => (await picker.getValue()) === endpoint, {
      timeout: 15_000,
      timeoutMsg: "Scaling & metrics did not open on step 1's endpoint",
    });
    await waitText(
      browser,
      '[data-testid="scaling-in-place"]',
      /scaling between 0 and 5/,
      20_000,
    );
    await waitText(
      browser,
      '[data-testid="load-progress"]',
      /of 100 sent/,
      20_000,
    );

    // Back on Home (Ctrl+1): step 3 is done, and the endpoint's scaling shows as it happens.
    await browser.keys(["Control", "1"]);
    const scaled = await stepIn(browser, "autoscale", "done", 20_000);
    assert.match(
      scaled,
      /scales between 0 and 5 instances on its queue and wakes from zero/,
    );
    await waitText(
      browser,
      step("autoscale"),
      /Latest scaling activity: Setting desired instance count to/,
      60_000,
    );
    assert.match(await (await browser.$(step("deploy"))).getText(), /✓/);
    assert.match(
      await (await browser.$(step("submit"))).getText(),
      /19 succeeded, 0 failed/,
    );
    await browser.saveScreenshot(join(artifacts, "home.png"));

    // Each step links to where it happened: the job's view holds the 19 results.
    await click(browser, "step-submit-open");
    await waitText(
      browser,
      '[data-testid="job-counts"]',
      /done · 19 requests: 19 succeeded/,
    );
    const table = await browser.$('[data-testid="results-table"]');
    await table.waitUntil(
      async () => (await table.getAttribute("data-total")) === "19",
      {
        timeout: 15_000,
        timeoutMsg: "the job's results table never held 19 rows",
      },
    );
    await browser.keys(["Control", "1"]);
    await click(browser, "step-deploy-open");
    await waitText(
      browser,
      '[data-testid="log-state"]',
      /InService|Updating/,
      20_000,
    );
  } finally {
    await browser.saveScreenshot(join(artifacts, "home-after.png"));
    await browser.deleteSession();
  }
});
