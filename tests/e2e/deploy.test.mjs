// End-to-end: deploys as a user meets them in the real window. The instance picker lists the
// GPU families with GPU memory and price; a deploy whose container cannot fetch a gated model
// (the local cloud plays it through EBB_LOCAL_FAILURE) ends with the container's log, one
// sentence saying why and the fix; the same model with a token becomes ready once its smoke
// test is answered. Needs EBB_APP (the built app, with `ebb` beside it), TAURI_DRIVER, a
// DISPLAY (xvfb-run) and optional E2E_ARTIFACTS.
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

const home = mkdtempSync(join(tmpdir(), "ebb-e2e-deploy-"));
const ebb = join(dirname(app), "ebb");
let driver;
let serve;

const appEnv = () => isolatedEnv(home);

before(async () => {
  serve = await startLocalServe(ebb, [], appEnv());
  driver = await startDriver(driverBin, appEnv());
});

after(() => {
  driver?.stop();
  serve?.kill("SIGTERM");
});

/** textContent (WebDriver's visible text leaves out closed <details>). */
async function textOf(browser, selector) {
  const el = await browser.$(selector);
  await el.waitForExist({ timeout: 15_000 });
  return browser.execute((e) => e.textContent ?? "", el);
}

/** Opens the Deploy form with the seed preset in it, named `name`, with `env` added. */
async function deployForm(browser, name, env) {
  await browser.keys(["Control", "3"]);
  await click(browser, "deploy-open");
  const model = await browser.$("#deploy-model_id");
  await model.waitUntil(
    async () => (await model.getValue()) === "google/flan-t5-xxl",
    {
      timeout: 15_000,
      timeoutMsg: "the seed preset never filled the form",
    },
  );
  await (await browser.$("#deploy-endpoint_name")).setValue(name);
  for (const [key, value] of env) {
    const add = await browser.$("button=Add variable");
    await add.click();
    const names = await browser.$$('[aria-label="variable name"]');
    const values = await browser.$$('[aria-label="variable value"]');
    await names[names.length - 1].setValue(key);
    await values[values.length - 1].setValue(value);
  }
}

test("the picker, a gated model's failure told with its fix, then ready with a token", async () => {
  const browser = await openApp(driver.port, app);
  try {
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    await deployForm(browser, "e2e-gated", [
      ["EBB_LOCAL_FAILURE", "gated-model"],
    ]);

    // The picker: families, GPUs with their memory, and the hourly price.
    const picker = await textOf(browser, '[data-testid="instance-picker"]');
    for (const family of ["g5", "g6e", "p5"])
      assert.match(picker, new RegExp(`\\b${family}\\b`));
    assert.match(picker, /ml\.g5\.12xlarge/);
    assert.match(picker, /24 GB/);
    assert.match(picker, /\$\d+\.\d+/);

    await click(browser, "deploy-submit");
    await waitText(
      browser,
      '[data-testid="deploy-outcome"]',
      /^e2e-gated failed: /,
      60_000,
    );
    const diagnosis = await textOf(browser, '[data-testid="deploy-diagnosis"]');
    assert.match(diagnosis, /google\/flan-t5-xxl is gated or private/);
    assert.match(diagnosis, /HF_TOKEN/);
    const log = await textOf(browser, '[data-testid="deploy-log"]');
    assert.match(log, /GatedRepoError/);
    await browser.saveScreenshot(join(artifacts, "deploy-gated.png"));
    await click(browser, "deploy-remove");

    // The fix, as the sentence says: the same model with a token.
    await deployForm(browser, "e2e-token", [
      ["EBB_LOCAL_FAILURE", "gated-model"],
      ["HF_TOKEN", "hf_e2e"],
    ]);
    await click(browser, "deploy-submit");
    await waitText(
      browser,
      '[data-testid="endpoints-notice"]',
      /e2e-token is ready: InService, and it answered a test request/,
      60_000,
    );
    await browser.saveScreenshot(join(artifacts, "deploy-ready.png"));
  } finally {
    await browser.deleteSession();
  }
});
