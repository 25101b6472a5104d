// End-to-end: the real Ebb window (WebKitGTK) driven through tauri-driver + WebKitWebDriver.
// Needs EBB_APP (the built app), TAURI_DRIVER, MOTO_SERVER, a DISPLAY (xvfb-run) and optional
// E2E_ARTIFACTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  freePort,
  openApp as openWindow,
  startDriver,
  waitForHttp,
  waitText,
  isolatedEnv,
} from "./driver.mjs";

const app = process.env.EBB_APP;
const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
const artifacts = process.env.E2E_ARTIFACTS ?? join(tmpdir(), "ebb-e2e");
const motoBin = process.env.MOTO_SERVER;
assert.ok(app, "set EBB_APP to the built desktop binary");
assert.ok(
  motoBin,
  "set MOTO_SERVER to moto_server (scripts/test.sh installs it into .venv)",
);
mkdirSync(artifacts, { recursive: true });

const home = mkdtempSync(join(tmpdir(), "ebb-e2e-home-"));
let driver;
let moto;
let port;
let motoUrl;

const openApp = () => openWindow(port, app);

// The app reads $EBB_HOME/settings.json; fake keys for moto_server, which the standard
// credential chain reads from the environment.
function appEnv() {
  return {
    ...isolatedEnv(home),
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
  };
}

before(async () => {
  const motoPort = await freePort();
  motoUrl = `http://127.0.0.1:${motoPort}`;
  moto = spawn(motoBin, ["-H", "127.0.0.1", "-p", String(motoPort)], {
    stdio: "ignore",
  });
  await waitForHttp(motoUrl, 30_000);
  driver = await startDriver(driverBin, appEnv());
  port = driver.port;
});

after(() => {
  driver?.stop();
  moto?.kill("SIGTERM");
});

/** Waits until no process serves this home's local cloud (an app closing stops its own). */
async function appGone(deadlineMs = 30_000) {
  const file = join(home, "local", "running.json");
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    let pid;
    try {
      pid = JSON.parse(readFileSync(file, "utf8")).pid;
    } catch {
      return; // nothing announced
    }
    try {
      process.kill(pid, 0);
    } catch {
      return; // announced by a process that is gone
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `the local cloud of ${home} is still running after ${deadlineMs} ms`,
  );
}

test("settings survive a restart and bad values are explained", async () => {
  let browser = await openApp();
  try {
    assert.equal(await browser.getTitle(), "Ebb");
    const nav = await browser.$("nav").getText();
    for (const label of [
      "Home",
      "Settings",
      "Endpoints",
      "Jobs",
      "Scaling & metrics",
    ]) {
      assert.ok(nav.includes(label), `navigation lacks ${label}: ${nav}`);
    }
    // The window opens on Home; Ctrl+2 opens Settings.
    await (
      await browser.$('[data-testid="home-screen"]')
    ).waitForDisplayed({ timeout: 15_000 });
    await browser.keys(["Control", "2"]);
    await waitText(browser, '[data-testid="status-mode"]', /^Local$/);
    // The app started its local cloud: the connection check passes with no set-up at all.
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    const localUrl = await waitText(
      browser,
      '[data-testid="local-url"]',
      /^http:\/\/127\.0\.0\.1:\d+$/,
    );
    const report = await waitText(
      browser,
      "#doctor-report",
      /sagemaker-us-east-1-000000000000/,
    );
    assert.match(report, /EbbLocalExecutionRole/);
    // It is announced for `ebb --local` and `ebb local env` on the same home.
    const running = JSON.parse(
      readFileSync(join(home, "local", "running.json"), "utf8"),
    );
    assert.equal(running.connection.endpoint_url, localUrl);
    await browser.saveScreenshot(join(artifacts, "local-mode.png"));
    // The page may call Ebb's commands and listen to events, and nothing else of Tauri's.
    // The window-state plugin works from the Rust side alone: none of its commands either.
    for (const command of [
      "plugin:app|version",
      "plugin:window-state|filename",
    ]) {
      const refused = await browser.execute(async (name) => {
        try {
          await window.__TAURI_INTERNALS__.invoke(name);
          return "allowed";
        } catch (e) {
          return String(e);
        }
      }, command);
      assert.match(refused, /not allowed/, command);
    }
    // The app logs to a file a day in its home (`app.2026-11-29.log`), private to the user.
    const daily = /^app\.\d{4}-\d\d-\d\d\.log$/;
    const logs = readdirSync(join(home, "logs")).filter((f) => daily.test(f));
    assert.equal(logs.length, 1, `one log file for today: ${logs}`);
    const log = join(home, "logs", logs[0]);
    assert.match(readFileSync(log, "utf8"), /Ebb started/);
    assert.equal(
      statSync(log).mode & 0o777,
      0o600,
      "the app's log must be private (0600)",
    );

    // Keyboard: Ctrl+4 opens Jobs, Ctrl+1 Home, Ctrl+2 back to Settings; F1 opens About,
    // Escape closes it.
    await browser.keys(["Control", "4"]);
    await (
      await browser.$('[data-testid="jobs-screen"]')
    ).waitForDisplayed({ timeout: 10_000 });
    await browser.keys(["Control", "1"]);
    await (
      await browser.$('[data-testid="home-screen"]')
    ).waitForDisplayed({ timeout: 10_000 });
    await browser.keys(["Control", "2"]);
    await (
      await browser.$("#setting-region")
    ).waitForDisplayed({ timeout: 10_000 });
    await browser.keys("F1");
    await waitText(
      browser,
      '[data-testid="about-version"]',
      /^Version \d+\.\d+\.\d+ · build /,
    );
    assert.equal(
      await (await browser.$('[data-testid="about-logs"]')).getText(),
      join(home, "logs"),
    );
    const notices = await waitText(
      browser,
      '[data-testid="notices-count"]',
      /bundles \d+/,
    );
    assert.ok(Number(notices.match(/bundles (\d+)/)[1]) > 100, notices);
    await browser.saveScreenshot(join(artifacts, "about.png"));
    await browser.keys("Escape");
    await (
      await browser.$('[data-testid="about"]')
    ).waitForExist({ reverse: true, timeout: 5_000 });
    // A size the user chose is kept for the next start.
    await browser.setWindowSize(1000, 700);

    await (
      await browser.$("#setting-region")
    ).selectByAttribute("value", "eu-west-1");
    await (await browser.$("#setting-bucket")).setValue("ebb-e2e-bucket-1");
    const save = await browser.$("#settings-save");
    await save.waitForEnabled({
      timeout: 15_000,
      timeoutMsg: "Save never became enabled",
    });
    await browser.saveScreenshot(join(artifacts, "main-window.png"));
    await save.click();
    await waitText(browser, "#settings-status", /^Saved to /);

    const file = join(home, "settings.json");
    const onDisk = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(onDisk.region, "eu-west-1");
    assert.equal(onDisk.bucket, "ebb-e2e-bucket-1");
    assert.equal(
      statSync(file).mode & 0o777,
      0o600,
      "settings.json must be private (0600)",
    );
  } finally {
    await browser.deleteSession();
  }
  // The new size was written when the window was resized (closing the session kills the app
  // before it exits), into this test's Ebb home.
  await appGone();
  const layout = JSON.parse(readFileSync(join(home, "window.json"), "utf8"));
  assert.ok(
    layout.main,
    `no layout for the main window: ${JSON.stringify(layout)}`,
  );

  browser = await openApp();
  try {
    const size = await browser.getWindowSize();
    assert.deepEqual(
      [size.width, size.height],
      [1000, 700],
      "the window size was not kept",
    );
    await (await browser.$('[data-testid="nav-settings"]')).click();
    const region = await browser.$("#setting-region");
    await region.waitUntil(
      async () => (await region.getValue()) === "eu-west-1",
      {
        timeout: 15_000,
        timeoutMsg: "region was not kept across a restart",
      },
    );
    const bucket = await browser.$("#setting-bucket");
    assert.equal(await bucket.getValue(), "ebb-e2e-bucket-1");

    await bucket.setValue("Bad_Bucket");
    const message = await waitText(browser, "#error-bucket", /lowercase/);
    assert.match(
      message,
      /only lowercase letters, digits, dots \(\.\) and hyphens/,
    );
    assert.equal(await (await browser.$("#settings-save")).isEnabled(), false);
    await browser.saveScreenshot(join(artifacts, "settings-invalid.png"));
    // Nothing invalid reached the disk.
    assert.equal(
      JSON.parse(readFileSync(join(home, "settings.json"), "utf8")).bucket,
      "ebb-e2e-bucket-1",
    );
  } finally {
    await browser.deleteSession();
  }
});

test("in AWS mode the connection check reaches the server and names the account", async () => {
  const browser = await openApp();
  try {
    await (await browser.$('[data-testid="nav-settings"]')).click();
    await (await browser.$('input[name="mode"][value="aws"]')).click();
    await (
      await browser.$("#setting-region")
    ).selectByAttribute("value", "us-east-1");
    await (await browser.$("#setting-endpoint_url")).setValue(motoUrl);
    // The bucket saved by the first test, created in moto_server with a plain path-style PUT.
    const put = await fetch(`${motoUrl}/ebb-e2e-bucket-1`, { method: "PUT" });
    assert.ok(
      put.ok,
      `could not create the bucket in moto_server: HTTP ${put.status}`,
    );
    const save = await browser.$("#settings-save");
    await save.waitForEnabled({
      timeout: 15_000,
      timeoutMsg: "Save never became enabled",
    });
    await save.click();
    await waitText(browser, "#settings-status", /^Saved to /);
    // Saving re-runs the check against moto_server: identity and SageMaker answer.
    await waitText(browser, '[data-testid="status-mode"]', /^AWS$/);
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 123456789012/,
    );
    const report = await waitText(
      browser,
      "#doctor-report",
      /SageMaker answers/,
    );
    assert.match(report, /account 123456789012/);
    assert.match(
      report,
      /s3:\/\/ebb-e2e-bucket-1 in us-east-1 exists and is reachable/,
    );
    // No execution role yet: a warning that says what it is needed for.
    assert.match(report, /No SageMaker execution role is set/);
    await (await browser.$("#doctor-report")).scrollIntoView();
  } finally {
    // Also on failure: the picture shows what the user would have seen.
    await browser.saveScreenshot(join(artifacts, "connection-aws.png"));
    await browser.deleteSession();
  }
});

test("local mode: deploy the seed preset, see it InService, test it, tear it down", async () => {
  // Back to a fresh user's settings: local mode, default bucket (the earlier tests changed them).
  writeFileSync(
    join(home, "settings.json"),
    JSON.stringify({ mode: "local" }),
    { mode: 0o600 },
  );
  const browser = await openApp();
  try {
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    await (await browser.$('[data-testid="nav-endpoints"]')).click();
    await waitText(browser, '[data-testid="endpoints-empty"]', /No endpoints/);
    await (await browser.$('[data-testid="deploy-open"]')).click();
    // The form opens with the seed preset filled in.
    const model = await browser.$("#deploy-model_id");
    await model.waitUntil(
      async () => (await model.getValue()) === "google/flan-t5-xxl",
      {
        timeout: 15_000,
        timeoutMsg: "the seed preset never filled the form",
      },
    );
    assert.equal(
      await (await browser.$("#deploy-instance_type")).getValue(),
      "ml.g5.12xlarge",
    );
    assert.equal(
      await (await browser.$("#deploy-health_check_timeout_s")).getValue(),
      "300",
    );
    assert.equal(
      await (await browser.$("#deploy-max_concurrency")).getValue(),
      "10",
    );
    assert.equal(
      await (await browser.$("#deploy-output_path")).getValue(),
      "s3://sagemaker-us-east-1-000000000000/async-llm-output/output",
    );
    const name = await (await browser.$("#deploy-endpoint_name")).getValue();
    const submit = await browser.$('[data-testid="deploy-submit"]');
    await submit.waitForEnabled({
      timeout: 15_000,
      timeoutMsg: "Deploy never became enabled",
    });
    await browser.saveScreenshot(join(artifacts, "deploy-form.png"));
    await submit.click();
    await waitText(
      browser,
      '[data-testid="deploy-steps"]',
      /creating endpoint/,
    );
    await waitText(
      browser,
      '[data-testid="endpoints-notice"]',
      /InService/,
      60_000,
    );
    const row = await waitText(
      browser,
      `[data-testid="endpoint-${name}"]`,
      /InService/,
      30_000,
    );
    assert.match(row, /ml\.g5\.12xlarge/);
    assert.match(row, /Ebb/);

    // The container's start-up lines show beside its status.
    await waitText(
      browser,
      '[data-testid="endpoint-logs"]',
      /model_id: "google\/flan-t5-xxl"/,
      20_000,
    );
    await waitText(browser, '[data-testid="log-state"]', /InService for/);
    // The test pane sends the seed request and shows the generated text.
    await (await browser.$('[data-testid="test-send"]')).click();
    await waitText(browser, '[data-testid="test-result"]', /Output/, 60_000);
    await browser.saveScreenshot(join(artifacts, "endpoints.png"));

    await (await browser.$('[data-testid="teardown"]')).click();
    const list = await waitText(
      browser,
      '[data-testid="teardown-list"]',
      /model/,
    );
    assert.match(list, new RegExp(`endpoint ${name}`));
    await (await browser.$('[data-testid="teardown-confirm"]')).click();
    const note = await waitText(
      browser,
      '[data-testid="endpoints-notice"]',
      /deleted/,
    );
    assert.match(note, new RegExp(`endpoint ${name}: deleted`));
    await waitText(
      browser,
      '[data-testid="endpoints-empty"]',
      /No endpoints/,
      20_000,
    );
  } finally {
    await browser.saveScreenshot(join(artifacts, "endpoints-after.png"));
    await browser.deleteSession();
  }
});

test("local mode: submit the demo folder and watch the results table fill", async () => {
  const browser = await openApp();
  try {
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    // The CLI shares the app's local cloud: deploy the seed preset there.
    const ebb = join(dirname(app), "ebb");
    const deployed = execFileSync(ebb, ["deploy", "--name", "e2e-jobs"], {
      env: appEnv(),
    }).toString();
    assert.match(deployed, /InService/);
    await (await browser.$('[data-testid="nav-jobs"]')).click();
    const demo = join(
      dirname(fileURLToPath(import.meta.url)),
      "..",
      "..",
      "demo",
    );
    // No job yet: the screen offers the demo folder, which fills in the same path a drop would
    // give and scans it.
    await waitText(browser, '[data-testid="jobs-empty"]', /No jobs yet/);
    await (await browser.$('[data-testid="use-demo"]')).click();
    const paths = await browser.$('[data-testid="job-paths"]');
    await paths.waitUntil(async () => (await paths.getValue()) === demo, {
      timeout: 10_000,
      timeoutMsg: "the demo folder was not filled in",
    });
    const summary = await waitText(
      browser,
      '[data-testid="scan-summary"]',
      /19 files, 19 requests/,
    );
    assert.match(summary, /0 errors, 0 warnings/);
    const endpoint = await browser.$('[data-testid="job-endpoint"]');
    await endpoint.waitUntil(
      async () => (await endpoint.getValue()) === "e2e-jobs",
      {
        timeout: 15_000,
        timeoutMsg: "the async endpoint was not offered",
      },
    );
    await (await browser.$('[data-testid="job-submit"]')).click();
    await waitText(
      browser,
      '[data-testid="job-counts"]',
      /done · 19 requests: 19 succeeded, 0 failed/,
      60_000,
    );
    const table = await browser.$('[data-testid="results-table"]');
    await table.waitUntil(
      async () => (await table.getAttribute("data-total")) === "19",
      {
        timeout: 15_000,
        timeoutMsg: "the results table never held 19 rows",
      },
    );
    await table.scrollIntoView();
    const rows = await browser.$$('[data-testid="result-row"]');
    assert.equal(rows.length, 19);
    // Input order: file by file, line by line.
    // (textContent: WebDriver's visible text leaves out the ellipsized cells.)
    const firstRow = await browser.execute((el) => el.textContent, rows[0]);
    assert.match(firstRow, /input_1\.jsonl\s*1\s*succeeded/);
    await rows[0].click();
    await waitText(
      browser,
      '[data-testid="side-by-side"]',
      /What is the capital of the United States\?/,
    );
    await browser.saveScreenshot(join(artifacts, "jobs.png"));
    await (await browser.$('[data-testid="export-jsonl"]')).click();
    const note = await waitText(
      browser,
      '[data-testid="job-note"]',
      /Results written to/,
    );
    const file = note.replace("Results written to ", "").trim();
    assert.equal(readFileSync(file, "utf8").trim().split("\n").length, 19);
  } finally {
    await browser.saveScreenshot(join(artifacts, "jobs-after.png"));
    await browser.deleteSession();
  }
});

test("local mode, sped up: autoscale an endpoint, load it, and watch the charts", async () => {
  // A local cloud running 60x faster (a simulated minute per second) for this home; the app
  // uses it instead of starting its own.
  const ebb = join(dirname(app), "ebb");
  // The previous test's window may still be closing, with the local cloud it started.
  await appGone();
  const serve = spawn(
    ebb,
    ["local", "serve", "--speed", "60", "--startup", "30"],
    {
      env: appEnv(),
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise((resolve, reject) => {
    serve.stdout.once("data", resolve);
    serve.once("exit", () => reject(new Error("ebb local serve exited")));
  });
  const browser = await openApp();
  try {
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    const deployed = execFileSync(
      ebb,
      [
        "deploy",
        "--name",
        "e2e-scale",
        "--env",
        "EBB_LOCAL_TOKEN_LATENCY_MS=1000",
      ],
      { env: appEnv() },
    ).toString();
    assert.match(deployed, /InService/);
    await (await browser.$('[data-testid="nav-scaling"]')).click();
    const picker = await browser.$('[data-testid="scaling-endpoint"]');
    await picker.waitForExist({ timeout: 15_000 });
    await picker.selectByAttribute("value", "e2e-scale");
    // No autoscaling yet: the form opens with the seed preset; apply it.
    await waitText(browser, '[data-testid="scaling-none"]', /No autoscaling/);
    const max = await browser.$("#scaling-max");
    await max.waitUntil(async () => (await max.getValue()) === "5", {
      timeout: 15_000,
      timeoutMsg: "the seed preset never filled the scaling form",
    });
    const apply = await browser.$('[data-testid="scaling-apply"]');
    await apply.waitForEnabled({ timeout: 15_000 });
    await apply.click();
    await waitText(
      browser,
      '[data-testid="scaling-notice"]',
      /HasBacklogWithoutCapacity/,
    );
    const inPlace = await waitText(
      browser,
      '[data-testid="scaling-in-place"]',
      /scaling between 0 and 5/,
    );
    assert.match(inPlace, /Invocations-ScalingPolicy/);
    // The bounded load test: 150 requests at 15 a second.
    await (await browser.$("#load-rate")).setValue("15");
    await (await browser.$("#load-duration")).setValue("10");
    await (await browser.$('[data-testid="load-start"]')).click();
    await waitText(
      browser,
      '[data-testid="load-progress"]',
      /Done: 150 of 150 sent/,
      40_000,
    );
    // Target tracking scales out on the backlog; the history and the charts show it.
    const activity = await browser.$('[data-testid="scaling-in-place"]');
    await activity.waitUntil(
      async () => {
        await (await browser.$("button=Refresh")).click();
        return /Setting desired instance count to [2-5]/.test(
          await activity.getText(),
        );
      },
      {
        timeout: 60_000,
        interval: 2_000,
        timeoutMsg: "no scale-out in the activity history",
      },
    );
    const chart = await browser.$('[data-testid="chart-backlog"]');
    await chart.waitUntil(
      async () => Number(await chart.getAttribute("data-points")) > 3,
      {
        timeout: 30_000,
        timeoutMsg: "the queue chart never got data",
      },
    );
    await browser.saveScreenshot(join(artifacts, "scaling.png"));
  } finally {
    await browser.saveScreenshot(join(artifacts, "scaling-after.png"));
    await browser.deleteSession();
    serve.kill("SIGTERM");
  }
});
