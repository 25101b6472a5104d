// End-to-end: a folder of chat-format lines ({"messages": [...]}) driven through the Jobs
// screen of the real window: the scan names the format and says the model needs TGI's
// Messages API, the job is priced, sent to an endpoint deployed from the Deploy form with that
// API switched on, completes, shows each line's file:line id, and writes its result files,
// errors.jsonl and manifest.json beside the input. Needs EBB_APP (the built app, with `ebb`
// beside it), TAURI_DRIVER, a DISPLAY (xvfb-run) and optional E2E_ARTIFACTS.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

const home = mkdtempSync(join(tmpdir(), "ebb-e2e-chat-"));
const ebb = join(dirname(app), "ebb");
let driver;
let serve;

const appEnv = () => isolatedEnv(home);

const QUESTIONS = [
  "What is the capital of France?",
  "Name a prime number above 10.",
  "How many legs does a spider have?",
];

/** A folder with one file of chat lines, as an OpenAI client would send them. */
function chatFolder() {
  const dir = mkdtempSync(join(tmpdir(), "ebb-e2e-chat-requests-"));
  const lines = QUESTIONS.map((q) =>
    JSON.stringify({ messages: [{ role: "user", content: q }], max_tokens: 8 }),
  );
  writeFileSync(join(dir, "chat.jsonl"), `${lines.join("\n")}\n`);
  return dir;
}

before(async () => {
  // The local cloud the app and the CLI share (the app uses it instead of its own).
  serve = await startLocalServe(ebb, [], appEnv());
  driver = await startDriver(driverBin, appEnv());
});

after(() => {
  driver?.stop();
  serve?.kill("SIGTERM");
});

test("a chat-format folder through the Jobs screen, on an endpoint with the Messages API", async () => {
  const folder = chatFolder();
  const browser = await openApp(driver.port, app);
  try {
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected — account 000000000000/,
    );
    // Deployed from the Deploy form with its Messages API switch on, on TGI 2.3.1 (the seed's
    // TGI 1.1.0 has no Messages API): the model gets MESSAGES_API_ENABLED=true.
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
    await (await browser.$("#deploy-endpoint_name")).setValue("e2e-chat");
    await (
      await browser.$("#deploy-image")
    ).selectByAttribute("value", "2.3.1");
    const on = await browser.$("#deploy-messages_api");
    assert.equal(
      await on.isSelected(),
      false,
      "the Messages API is off by default",
    );
    await on.click();
    await click(browser, "deploy-submit");
    await waitText(
      browser,
      '[data-testid="endpoints-notice"]',
      /InService/,
      60_000,
    );
    await waitText(
      browser,
      '[data-testid="endpoint-e2e-chat"]',
      /InService/,
      30_000,
    );
    await browser.saveScreenshot(join(artifacts, "jobs-chat-deploy.png"));
    await browser.keys(["Control", "4"]);
    await (
      await browser.$('[data-testid="jobs-screen"]')
    ).waitForDisplayed({ timeout: 10_000 });

    // The scan tells the format and what the endpoint's model needs.
    await (await browser.$('[data-testid="job-paths"]')).setValue(folder);
    await click(browser, "job-scan");
    const summary = await waitText(
      browser,
      '[data-testid="scan-summary"]',
      /1 file, 3 requests/,
    );
    assert.match(summary, /0 errors, 0 warnings/);
    await waitText(
      browser,
      '[data-testid="scan-formats"]',
      /chat\.jsonl: chat messages, 3 requests/,
    );
    await waitText(
      browser,
      '[data-testid="messages-api-note"]',
      /needs TGI's Messages API/,
    );

    // A price first: no job of this endpoint has ended, so the throughput is an assumption.
    const endpoint = await browser.$('[data-testid="job-endpoint"]');
    await endpoint.waitUntil(
      async () => (await endpoint.getValue()) === "e2e-chat",
      {
        timeout: 15_000,
        timeoutMsg: "the endpoint with the Messages API was not offered",
      },
    );
    await click(browser, "price-it");
    await waitText(browser, '[data-testid="estimate-throughput"]', /ASSUMED/);
    await waitText(browser, '[data-testid="estimate"]', /instance-hours/);
    await browser.saveScreenshot(join(artifacts, "jobs-chat-scan.png"));

    // Sent, answered, completed.
    await click(browser, "job-submit");
    await waitText(
      browser,
      '[data-testid="job-headline"]',
      /^completed$/,
      90_000,
    );
    await waitText(
      browser,
      '[data-testid="job-counts"]',
      /3 requests: 3 succeeded, 0 failed/,
    );
    const table = await browser.$('[data-testid="results-table"]');
    await table.waitUntil(
      async () => (await table.getAttribute("data-total")) === "3",
      {
        timeout: 15_000,
        timeoutMsg: "the results table never held 3 rows",
      },
    );
    // The Id column: each line's file:line, in input order.
    // (textContent: WebDriver's visible text leaves out ellipsized cells.)
    const ids = [];
    for (const cell of await browser.$$('[data-testid="result-id"]'))
      ids.push(await browser.execute((el) => el.textContent, cell));
    assert.deepEqual(ids, ["chat.jsonl:1", "chat.jsonl:2", "chat.jsonl:3"]);

    // The three kinds of files, beside the input.
    await click(browser, "write-files");
    const written = await waitText(
      browser,
      '[data-testid="written-files"]',
      /manifest\.json/,
    );
    const results = join(folder, "chat.out.jsonl");
    const errors = join(folder, "errors.jsonl");
    const manifest = join(folder, "manifest.json");
    assert.ok(written.includes(results), written);
    assert.ok(written.includes(`${errors} (0 failed lines)`), written);
    assert.ok(written.includes(manifest), written);
    const out = readFileSync(results, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      out.map((l) => l.id),
      ["chat.jsonl:1", "chat.jsonl:2", "chat.jsonl:3"],
    );
    // Answered through the Messages API: OpenAI's chat.completion objects.
    for (const line of out)
      assert.equal(line.output?.object, "chat.completion", results);
    assert.equal(readFileSync(errors, "utf8").trim(), "");
    const facts = JSON.parse(readFileSync(manifest, "utf8"));
    assert.equal(facts.headline, "completed");
    assert.deepEqual([facts.counts.total, facts.counts.succeeded], [3, 3]);
    assert.equal(facts.files[0].format, "chat");
    // The chat answers' usage counts reach the manifest.
    assert.equal(facts.tokens.answers_with_output_counts, 3);
    assert.equal(facts.tokens.answers, 3);
    await browser.saveScreenshot(join(artifacts, "jobs-chat-done.png"));

    // Any request can be found by its id.
    await (
      await browser.$('[data-testid="find-request"]')
    ).setValue("chat.jsonl:2");
    await click(browser, "find-request-go");
    const match = await waitText(
      browser,
      '[data-testid="request-match"]',
      /succeeded/,
    );
    assert.match(match, /chat\.jsonl:2 in job \S+ → e2e-chat/);
    assert.match(match, /Output\s+s3:\/\/\S+/);
    assert.doesNotMatch(
      match,
      /Failure/,
      "a request that succeeded shows no failure location",
    );
  } finally {
    await browser.saveScreenshot(join(artifacts, "jobs-chat-after.png"));
    await browser.deleteSession();
  }
});
