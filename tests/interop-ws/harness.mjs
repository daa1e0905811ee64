// harness.mjs: what the Node interop checks over WebSocket share (lite-ws.mjs, net-ws.mjs): the
// Node 20 polyfills the moq-dev libraries need (they must run before those load: import this
// module first), the relay's ports and log from the environment, timeouts, the relay log, moq-cli,
// and the check runner.
//
// Environment: RELAY_HTTP_PORT, RELAY_PORT (QUIC), RELAY_CA, RELAY_LOG, MOQ_CLI,
// MOQ_INTEROP_TIMEOUT_MS (per connect and per wait, default 5000), MOQ_LITE_WS_ONLY (a regular
// expression: run only the checks whose name matches), MOQ_LITE_WS_DEBUG=1 (moq-cli logs at debug
// level to stderr).

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

if (!Promise.withResolvers) {
  Promise.withResolvers = () => {
    let resolve, reject;
    const promise = new Promise((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}
if (!Set.prototype.difference) {
  Set.prototype.difference = function (other) {
    const out = new Set();
    for (const v of this) if (!other.has(v)) out.add(v);
    return out;
  };
}

export const HTTP_PORT = process.env.RELAY_HTTP_PORT;
export const QUIC_PORT = process.env.RELAY_PORT;
export const CA = process.env.RELAY_CA;
export const RELAY_LOG = process.env.RELAY_LOG;
export const CLI = process.env.MOQ_CLI;
export const T = Number(process.env.MOQ_INTEROP_TIMEOUT_MS || 5000);

export const out = (s) => process.stdout.write(`${s}\n`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const sha = (u8) => createHash("sha256").update(u8).digest("hex").slice(0, 16);
export const url = (path) => new URL(`http://127.0.0.1:${HTTP_PORT}${path}`);

// The libraries log every step; keep the test output readable.
export function quietConsole() {
  const quiet = () => {};
  console.debug = quiet;
  console.log = quiet;
  console.warn = quiet;
  console.error = quiet;
}

export function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function relayLog() {
  try {
    return readFileSync(RELAY_LOG, "utf8");
  } catch {
    return "";
  }
}

export async function waitLog(re, what, ms = T) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (re.test(relayLog())) return;
    await sleep(50);
  }
  throw new Error(`the relay log never showed ${what} (${re})`);
}

export const countLog = (re) => relayLog().split("\n").filter((l) => re.test(l)).length;

// Runs moq-cli (raw QUIC to the relay) with args; done resolves with its stdout when it exits 0.
export function cli(args, input, what) {
  const debug = process.env.MOQ_LITE_WS_DEBUG;
  const child = spawn(CLI, ["--tls-root", CA, ...(debug ? ["--log-level", "debug"] : []), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  if (debug) child.stderr.on("data", (d) => process.stderr.write(d));
  const chunks = [];
  let err = "";
  child.stdout.on("data", (d) => chunks.push(d));
  child.stderr.on("data", (d) => {
    err += d;
  });
  const done = new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code, sig) => {
      if (code === 0) resolve(Buffer.concat(chunks));
      else reject(new Error(`${what}: moq-cli exited ${code ?? sig}: ${err.trim().split("\n").slice(-3).join(" | ")}`));
    });
  });
  if (input) child.stdin.write(input);
  return { child, done };
}

// Runs checks ({name, fn}) in order, each under its own timeout, printing "ok: ..." / "NOT OK: ...";
// closes the connections each left in conns; then exits 1 if any failed. after() may print a note.
export async function runChecks(name, checks, conns, after = () => {}) {
  for (const k of ["RELAY_HTTP_PORT", "RELAY_PORT", "RELAY_CA", "RELAY_LOG", "MOQ_CLI"])
    if (!process.env[k]) {
      out(`${name}: ${k} is not set`);
      process.exit(99);
    }
  let failed = 0;
  let ran = 0;
  const only = process.env.MOQ_LITE_WS_ONLY ? new RegExp(process.env.MOQ_LITE_WS_ONLY) : null;
  for (const { name: what, fn } of checks) {
    if (only && !only.test(what)) continue;
    ran++;
    const t0 = Date.now();
    try {
      const detail = await timeout(fn(), T * 6, what);
      out(`ok: ${what}${detail ? ` (${detail})` : ""} [${Date.now() - t0} ms]`);
    } catch (e) {
      failed++;
      out(`NOT OK: ${what}: ${e?.message ?? e}`);
    }
    for (const c of conns.splice(0).reverse()) {
      try {
        c.close();
      } catch {}
    }
  }
  after();
  out(failed ? `${failed} of ${ran} checks failed` : `all ${ran} checks passed`);
  await sleep(200);
  process.exit(failed ? 1 : 0);
}
