// End-to-end: the real Ebb window (WebKitGTK) driven through tauri-driver + WebKitWebDriver.
// Needs EBB_APP (the built app), TAURI_DRIVER, a DISPLAY (xvfb-run) and optional E2E_ARTIFACTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { remote } from "webdriverio";

const app = process.env.EBB_APP;
const driverBin = process.env.TAURI_DRIVER ?? "tauri-driver";
const artifacts = process.env.E2E_ARTIFACTS ?? join(tmpdir(), "ebb-e2e");
assert.ok(app, "set EBB_APP to the built desktop binary");
mkdirSync(artifacts, { recursive: true });

const home = mkdtempSync(join(tmpdir(), "ebb-e2e-home-"));
let driver;
let port;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForDriver(deadlineMs) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/status`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`tauri-driver did not answer on ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const openApp = () =>
  remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "warn",
    capabilities: { "tauri:options": { application: app } },
  });

// The app reads $EBB_HOME/settings.json; a clean environment keeps the user's AWS setup out.
function appEnv() {
  const env = { ...process.env, EBB_HOME: home };
  for (const k of Object.keys(env)) if (k.startsWith("AWS_")) delete env[k];
  env.AWS_CONFIG_FILE = join(home, "aws-config");
  env.AWS_SHARED_CREDENTIALS_FILE = join(home, "aws-credentials");
  return env;
}

before(async () => {
  port = await freePort();
  const nativePort = await freePort();
  driver = spawn(driverBin, ["--port", String(port), "--native-port", String(nativePort)], {
    env: appEnv(),
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForDriver(30_000);
});

after(() => {
  driver?.kill("SIGTERM");
});

async function waitText(browser, selector, pattern, timeout = 15_000) {
  const el = await browser.$(selector);
  await el.waitUntil(async () => pattern.test(await el.getText()), {
    timeout,
    timeoutMsg: `${selector} never matched ${pattern}`,
  });
  return el.getText();
}

test("settings survive a restart and bad values are explained", async () => {
  let browser = await openApp();
  try {
    assert.equal(await browser.getTitle(), "Ebb");
    const nav = await browser.$("nav").getText();
    for (const label of ["Settings", "Endpoints", "Jobs", "Scaling & metrics"]) {
      assert.ok(nav.includes(label), `navigation lacks ${label}: ${nav}`);
    }
    await waitText(browser, '[data-testid="status-mode"]', /^Local$/);
    // The background connection check finishes and says local mode has no cloud yet.
    await waitText(browser, '[data-testid="status-connection"]', /not connected — Local mode/);

    await (await browser.$("#setting-region")).selectByAttribute("value", "eu-west-1");
    await (await browser.$("#setting-bucket")).setValue("ebb-e2e-bucket-1");
    const save = await browser.$("#settings-save");
    await save.waitForEnabled({ timeout: 15_000, timeoutMsg: "Save never became enabled" });
    await browser.saveScreenshot(join(artifacts, "main-window.png"));
    await save.click();
    await waitText(browser, "#settings-status", /^Saved to /);

    const file = join(home, "settings.json");
    const onDisk = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(onDisk.region, "eu-west-1");
    assert.equal(onDisk.bucket, "ebb-e2e-bucket-1");
    assert.equal(statSync(file).mode & 0o777, 0o600, "settings.json must be private (0600)");
  } finally {
    await browser.deleteSession();
  }

  browser = await openApp();
  try {
    const region = await browser.$("#setting-region");
    await region.waitUntil(async () => (await region.getValue()) === "eu-west-1", {
      timeout: 15_000,
      timeoutMsg: "region was not kept across a restart",
    });
    const bucket = await browser.$("#setting-bucket");
    assert.equal(await bucket.getValue(), "ebb-e2e-bucket-1");

    await bucket.setValue("Bad_Bucket");
    const message = await waitText(browser, "#error-bucket", /lowercase/);
    assert.match(message, /only lowercase letters, digits, dots \(\.\) and hyphens/);
    assert.equal(await (await browser.$("#settings-save")).isEnabled(), false);
    await browser.saveScreenshot(join(artifacts, "settings-invalid.png"));
    // Nothing invalid reached the disk.
    assert.equal(JSON.parse(readFileSync(join(home, "settings.json"), "utf8")).bucket, "ebb-e2e-bucket-1");
  } finally {
    await browser.deleteSession();
  }
});
