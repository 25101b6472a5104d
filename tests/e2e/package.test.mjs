// The Debian package, as a user gets it: unpacked into a throwaway root (dpkg -x), its `ebb`
// and its desktop app run from there. Needs EBB_DEB (the .deb), EBB_DEB_ROOT (where it was
// unpacked), TAURI_DRIVER and a DISPLAY (xvfb-run). Run by scripts/test.sh when EBB_TEST_DEB=1.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openApp, startDriver, waitText } from "./driver.mjs";

const deb = process.env.EBB_DEB;
const root = process.env.EBB_DEB_ROOT;
assert.ok(deb && root, "set EBB_DEB and EBB_DEB_ROOT");
const artifacts = process.env.E2E_ARTIFACTS ?? join(tmpdir(), "ebb-e2e");
mkdirSync(artifacts, { recursive: true });
const version = JSON.parse(
  readFileSync(new URL("../../tauri.conf.json", import.meta.url)),
).version;
const home = mkdtempSync(join(tmpdir(), "ebb-deb-home-"));
let driver;

function env() {
  const e = { ...process.env, EBB_HOME: home };
  for (const k of Object.keys(e)) if (k.startsWith("AWS_")) delete e[k];
  e.AWS_CONFIG_FILE = join(home, "aws-config");
  e.AWS_SHARED_CREDENTIALS_FILE = join(home, "aws-credentials");
  return e;
}

before(async () => {
  driver = await startDriver(process.env.TAURI_DRIVER ?? "tauri-driver", env());
});
after(() => driver?.stop());

test("the package says what it is and what it needs", () => {
  const field = (f) =>
    execFileSync("dpkg-deb", ["-f", deb, f]).toString().trim();
  assert.equal(field("Version"), version);
  assert.match(field("Depends"), /libwebkit2gtk-4\.1-0/);
  assert.match(field("Description"), /SageMaker/);
});

test("it installs the app, the CLI, a desktop entry, icons and the licence notices", () => {
  assert.ok(existsSync(join(root, "usr/bin/ebb-app")), "the desktop app");
  const cli = execFileSync(join(root, "usr/bin/ebb"), ["--version"], {
    env: env(),
  }).toString();
  assert.equal(cli.trim(), `ebb ${version}`);
  const apps = join(root, "usr/share/applications");
  const desktop = readdirSync(apps).find((f) => f.endsWith(".desktop"));
  assert.ok(desktop, "a .desktop entry");
  const entry = readFileSync(join(apps, desktop), "utf8");
  assert.match(entry, /^Exec=ebb-app/m);
  assert.match(entry, /^Name=Ebb$/m);
  assert.match(entry, /^Icon=ebb-app$/m);
  assert.match(entry, /^Categories=.*Development/m);
  for (const size of ["32x32", "128x128", "256x256@2"]) {
    assert.ok(
      existsSync(
        join(root, `usr/share/icons/hicolor/${size}/apps/ebb-app.png`),
      ),
      `a ${size} icon`,
    );
  }
  const notices = readFileSync(
    join(root, "usr/share/doc/ebb/THIRD-PARTY-NOTICES.txt"),
    "utf8",
  );
  assert.match(notices, /^tauri \d/m);
  assert.match(notices, /^aws-sdk-s3 \d/m);
  assert.match(notices, /Permission is hereby granted/);
});

test("the installed app opens its window, in local mode, with About and its notices", async () => {
  const browser = await openApp(driver.port, join(root, "usr/bin/ebb-app"));
  try {
    assert.equal(await browser.getTitle(), "Ebb");
    await waitText(
      browser,
      '[data-testid="status-connection"]',
      /connected/,
      60_000,
    );
    await browser.keys("F1");
    const about = await waitText(
      browser,
      '[data-testid="about-version"]',
      new RegExp(version),
    );
    assert.match(about, /build [0-9a-f]{7}/);
    const count = await waitText(
      browser,
      '[data-testid="notices-count"]',
      /bundles \d+ open-source/,
    );
    assert.ok(Number(count.match(/bundles (\d+)/)[1]) > 100, count);
    await browser.saveScreenshot(join(artifacts, "package-about.png"));
  } finally {
    await browser.deleteSession();
  }
});
