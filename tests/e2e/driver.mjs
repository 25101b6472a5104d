// What the end-to-end tests and the UI benchmark share: free ports, tauri-driver, the app window.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { remote } from "webdriverio";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url, deadlineMs) {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`nothing answered at ${url}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** tauri-driver on free loopback ports, with `env` passed on to the app it starts. */
export async function startDriver(driverBin, env) {
  const port = await freePort();
  const nativePort = await freePort();
  const proc = spawn(
    driverBin,
    ["--port", String(port), "--native-port", String(nativePort)],
    {
      env,
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
  await waitForHttp(`http://127.0.0.1:${port}/status`, 30_000);
  return { port, stop: () => proc.kill("SIGTERM") };
}

/** A WebDriver session on a new window of the app. */
export const openApp = (port, app) =>
  remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "warn",
    capabilities: { "tauri:options": { application: app } },
  });

/** Clicks the element with `data-testid`, once it can be clicked. */
export async function click(browser, testid) {
  const el = await browser.$(`[data-testid="${testid}"]`);
  await el.waitForClickable({
    timeout: 15_000,
    timeoutMsg: `${testid} never became clickable`,
  });
  await el.click();
}

export async function waitText(browser, selector, pattern, timeout = 15_000) {
  const el = await browser.$(selector);
  await el.waitUntil(async () => pattern.test(await el.getText()), {
    timeout,
    timeoutMsg: `${selector} never matched ${pattern}`,
  });
  return el.getText();
}

// The app's environment with only `home`: the user's own AWS set-up stays out, and the
// window-state plugin creates the app's config dir in this home too.
export function isolatedEnv(home) {
  const env = { ...process.env, EBB_HOME: home };
  for (const k of Object.keys(env)) if (k.startsWith("AWS_")) delete env[k];
  env.AWS_CONFIG_FILE = join(home, "aws-config");
  env.AWS_SHARED_CREDENTIALS_FILE = join(home, "aws-credentials");
  env.XDG_CONFIG_HOME = join(home, "config");
  return env;
}

// Starts `ebb local serve ARGS` with `env` and waits for its first line (the cloud is up);
// the caller stops it.
export async function startLocalServe(ebb, args, env) {
  const serve = spawn(ebb, ["local", "serve", ...args], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    serve.stdout.once("data", resolve);
    serve.once("exit", () => reject(new Error("ebb local serve exited")));
  });
  return serve;
}
