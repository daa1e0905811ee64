// lite-wt.mjs: @moq/lite 0.2.2 in headless Chromium against moq-relay over WebTransport (HTTP/3).
//
// Serves page.html and page.js from 127.0.0.1 (a secure context) with node_modules beside them (the
// page loads @moq/lite through an import map, no bundler), drives Debian's chromium with
// playwright-core, and runs the checks with page.evaluate. The page connects with
// serverCertificateHashes pinning the relay's fresh ECDSA certificate and WebSocket disabled, so
// every session is WebTransport. Run by tests/interop/lite-wt.sh from a copy beside node_modules.
//
//   node lite-wt.mjs checks    prints "ok: ..." / "NOT OK: ..." lines; exit 1 if any failed
//
// Which protocol the relay chooses is steered by what the page offers (the test-only knob):
// webtransport.protocols in Moq.Connection.connect() overrides the library's list
// [moq-lite-04, moq-lite-03, moql, ...]; ["moq-lite-03"] gets lite-03, ["moql"] the setup exchange.
//
// A second page per check, /?ws, has no WebTransport (deleted before the library loads, as for
// Safari and Firefox): the library falls back to WebSocket on the relay's HTTP listener
// (RELAY_HTTP_PORT). It offers qmux-00 first, so those sessions run QMux draft-00 and the setup
// exchange; the "WebSocket page" checks mix it with WebTransport pages and moq-cli.
//
// Environment: RELAY_PORT (QUIC), RELAY_HTTP_PORT, RELAY_FINGERPRINT, RELAY_LOG, MOQ_CLI, CHROMIUM (default
// /usr/bin/chromium), MOQ_INTEROP_TIMEOUT_MS (default 5000), MOQ_LITE_WT_ONLY (a regular expression:
// run only the checks whose name matches).

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const QUIC_PORT = process.env.RELAY_PORT;
const FINGERPRINT = process.env.RELAY_FINGERPRINT;
const RELAY_LOG = process.env.RELAY_LOG;
const CLI = process.env.MOQ_CLI;
const T = Number(process.env.MOQ_INTEROP_TIMEOUT_MS || 5000);
const out = (s) => process.stdout.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha = (u8) => createHash("sha256").update(u8).digest("hex").slice(0, 16);

function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function relayLog() {
  try {
    return readFileSync(RELAY_LOG, "utf8");
  } catch {
    return "";
  }
}

async function waitLog(re, what, ms = T) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (re.test(relayLog())) return;
    await sleep(50);
  }
  throw new Error(`the relay log never showed ${what} (${re})`);
}
const countLog = (re) => relayLog().split("\n").filter((l) => re.test(l)).length;

// ---- the page server and the browser

const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json" };
const server = http.createServer((req, res) => {
  const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
  let file = null;
  if (p === "/") file = path.join(here, "page.html");
  else if (p === "/page.js") file = path.join(here, "page.js");
  else if (p.startsWith("/node_modules/") && !p.includes("..")) file = path.join(here, p);
  try {
    const body = readFileSync(file);
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});

let browser;
let page;
let wsPage;
const wtUrl = (p) => `https://127.0.0.1:${QUIC_PORT}${p}`;
const wsUrl = (p) => `http://127.0.0.1:${process.env.RELAY_HTTP_PORT}${p}`;
// Calls window.t[fn] on the page that owns the id given first (the WebSocket page's are > 1000000).
const call = (fn, ...args) =>
  (fn === "connectWs" || (typeof args[0] === "number" && args[0] > 1000000) ? wsPage : page).evaluate(
    ([f, a]) => window.t[f](...a),
    [fn, args],
  );

async function connect(p = "/anon", protocols = undefined) {
  return call("connect", wtUrl(p), FINGERPRINT, protocols, T);
}

async function connectWs(p = "/anon") {
  return call("connectWs", wsUrl(p), T);
}

async function sendGroups(pub, track, shapes) {
  const sent = new Map();
  for (const frames of shapes) {
    const b64 = frames.map((f) => Buffer.from(f).toString("base64"));
    sent.set(await call("group", pub, track, b64, T), frames);
    await sleep(20);
  }
  return sent;
}

function sameGroups(got, sent, what) {
  const bySeq = new Map(got.map((g) => [g.seq, g.frames.map((f) => Buffer.from(f, "base64"))]));
  for (const [seq, frames] of sent) {
    const g = bySeq.get(seq);
    if (!g) throw new Error(`${what}: group ${seq} is missing`);
    if (g.length !== frames.length) throw new Error(`${what}: group ${seq}: ${g.length} frames, sent ${frames.length}`);
    for (let i = 0; i < frames.length; i++)
      if (Buffer.compare(g[i], Buffer.from(frames[i])) !== 0)
        throw new Error(`${what}: group ${seq} frame ${i}: ${g[i].length} bytes ${sha(g[i])}, sent ${frames[i].length} bytes ${sha(frames[i])}`);
  }
}

// moq-cli with args; resolves with its stdout when it exits 0.
function cli(args, what) {
  const child = spawn(CLI, ["--tls-fingerprint", FINGERPRINT, ...args], { stdio: ["pipe", "pipe", "pipe"] });
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
  return { child, done };
}
const quicUrl = (p = "") => `moql://localhost:${QUIC_PORT}/${p}`;

// ---- the checks

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("connect: the relay chooses moq-lite-04 from the browser's wt-available-protocols", async () => {
  const c = await connect("/anon");
  if (c.version !== "moq-lite-04") throw new Error(`version ${c.version}`);
  await waitLog(/event=session_open conn=\S+ id=\d+ remote=\S+ transport=webtransport protocol=moq-lite-04 path=\/anon/, "session_open");
  await waitLog(/event=session_ready session=\S+ version=moq-lite-04 root=anon/, "session_ready");
  return `version ${c.version}`;
});

check("protocol moq-lite-03: offered alone, chosen, no setup exchange", async () => {
  const c = await connect("/anon", ["moq-lite-03"]);
  if (c.version !== "moq-lite-03") throw new Error(`version ${c.version}`);
  await waitLog(/transport=webtransport protocol=moq-lite-03 path=\/anon/, "session_open with lite-03");
  return `version ${c.version}`;
});

check("protocol moql: chosen, then the setup exchange picks lite-01/02", async () => {
  const c = await connect("/anon", ["moql"]);
  if (c.version !== "moq-lite-02" && c.version !== "moq-lite-01") throw new Error(`version ${c.version}`);
  await waitLog(/transport=webtransport protocol=moql path=\/anon/, "session_open with moql");
  return `version ${c.version}`;
});

check("no protocol offered: no wt-protocol, the setup exchange", async () => {
  const c = await connect("/anon", []);
  if (c.version !== "moq-lite-02" && c.version !== "moq-lite-01") throw new Error(`version ${c.version}`);
  await waitLog(/transport=webtransport protocol=none path=\/anon/, "session_open without a protocol");
  return `version ${c.version}`;
});

check("announce: a browser subscriber sees a browser publisher's broadcast", async () => {
  const pc = await connect("/anon");
  const pub = await call("publish", pc.id, "room/ann");
  const sc = await connect("/anon");
  const a = await call("announced", sc.id, "room", T);
  if (!a || a.active !== true || a.path !== "room/ann") throw new Error(`got ${JSON.stringify(a)}`);
  await call("unpublish", pub);
  return `${a.path} active`;
});

for (const protocols of [undefined, ["moq-lite-03"], ["moql"]]) {
  const name = protocols ? protocols[0] : "moq-lite-04";
  check(`pub/sub browser -> browser (${name}): byte for byte, frames of 16360/16361/100000 bytes`, async () => {
    // pagePubSub subscribes only once the relay has the broadcast: a subscription that overtook
    // the publisher's announcement would be told NotFound.
    const pc = await connect("/anon", protocols);
    const sc = await connect("/anon", protocols);
    const n = await pagePubSub(pc, sc, `bytes-${name}`);
    return `${n} groups, versions ${pc.version}/${sc.version}`;
  });
}

check("mixed: browser publisher (WebTransport) -> moq-cli subscriber (raw QUIC), 100 KB line intact", async () => {
  const pc = await connect("/");
  const pub = await publishStarted(pc.id, "wt2cli");
  const lines = ["one", "two", randomBytes(75000).toString("base64"), "four"];
  const sub = cli(["--alpn", "moq-lite-04", "subscribe", quicUrl(), "wt2cli", "t", "--count", String(lines.length)], "subscriber");
  sub.child.stdin.end();
  for (const l of lines) {
    await call("group", pub, "t", [Buffer.from(l).toString("base64")], T);
    await sleep(30);
  }
  const got = (await timeout(sub.done, T * 2, "moq-cli subscriber")).toString();
  // groups travel on their own streams: compare the frames, not their order
  const have = got.split(/(?<=\n)/).sort().join("");
  const want = lines.map((l) => `${l}\n`).sort().join("");
  if (have !== want) throw new Error(`moq-cli printed ${got.length} bytes, expected ${want.length}, not the same lines`);
  await call("unpublish", pub);
  return `${lines.length} frames`;
});

check("mixed: moq-cli publisher (raw QUIC) -> browser subscriber (WebTransport), 100 KB line intact", async () => {
  const lines = ["alpha", randomBytes(75000).toString("base64"), "gamma"];
  const p = cli(["--alpn", "moq-lite-04", "publish", quicUrl(), "cli2wt", "t"], "publisher");
  const sc = await connect("/");
  const a = await call("announced", sc.id, "cli2wt", T);
  if (!a?.active) throw new Error("no announcement of the moq-cli broadcast");
  const sub = await call("subscribe", sc.id, "cli2wt", "t", lines.length);
  await waitLog(/event=subscribe_upstream .*path=cli2wt/, "the upstream subscription to moq-cli", T);
  for (const l of lines) {
    p.child.stdin.write(`${l}\n`);
    await sleep(50);
  }
  p.child.stdin.end();
  const got = await call("collect", sub, T * 2);
  const empty = got.filter((g) => !g.frames.length).length;
  if (empty) throw new Error(`${empty} of ${got.length} groups arrived without frames (dropped)`);
  const frames = got.sort((x, y) => x.seq - y.seq).map((g) => Buffer.from(g.frames[0], "base64").toString());
  if (frames.join("|") !== lines.join("|")) throw new Error(`got ${frames.map((f) => f.length).join("/")} bytes`);
  await timeout(p.done, T, "moq-cli publisher exit");
  return `${lines.length} frames`;
});

check("mixed: moq-cli publisher (WebTransport, https://) -> browser subscriber", async () => {
  const p = cli(["publish", wtUrl("/"), "cliwt2wt", "t"], "publisher");
  const sc = await connect("/");
  const a = await call("announced", sc.id, "cliwt2wt", T);
  if (!a?.active) throw new Error("no announcement of the moq-cli broadcast");
  const sub = await call("subscribe", sc.id, "cliwt2wt", "t", 2);
  await waitLog(/event=subscribe_upstream .*path=cliwt2wt/, "the upstream subscription to moq-cli", T);
  p.child.stdin.write("first\n");
  await sleep(50);
  p.child.stdin.write("second\n");
  p.child.stdin.end();
  const got = await call("collect", sub, T * 2);
  const frames = got.sort((x, y) => x.seq - y.seq).map((g) => Buffer.from(g.frames[0], "base64").toString());
  if (frames.join("|") !== "first|second") throw new Error(`got ${frames.join("|")}`);
  await timeout(p.done, T, "moq-cli publisher exit");
  return "2 frames";
});

check("?jwt= reaches admission: a token with no key configured is refused", async () => {
  const before = countLog(/event=session_refused .*token/);
  let outcome;
  try {
    const c = await connect("/anon?jwt=eyJhbGciOiJIUzI1NiJ9.e30.c2ln");
    // the session may be set up just before the refusal closes it
    outcome = `connected (${c.version}), then closed`;
  } catch (e) {
    outcome = e.message;
  }
  await waitLog(/event=session_refused conn=\S+ path=\S+ reason="a token was given but no auth key is configured"/, "session_refused");
  if (countLog(/event=session_refused .*token/) <= before) throw new Error("no new refusal");
  return outcome;
});

// ---- the WebSocket page

const bigShapes = () => [
  [Buffer.from("hello"), randomBytes(300), new Uint8Array(0)],
  [randomBytes(16360)],
  [randomBytes(16361), randomBytes(1)],
  [randomBytes(100000)],
  [randomBytes(50000), randomBytes(70000), Buffer.from("end")],
];

// Connection connId publishes broadcast `name` and the relay has it: a subscriber must not ask
// before the publisher's announcement reached the relay (it would be told NotFound), so this waits
// for the relay to start the broadcast (under any root). Returns the publisher's id.
async function publishStarted(connId, name) {
  const started = new RegExp(`event=broadcast_start path=(\\S*/)?${name} `);
  const before = countLog(started);
  const pub = await call("publish", connId, name);
  for (const until = Date.now() + T; countLog(started) <= before; await sleep(20))
    if (Date.now() > until) throw new Error(`the relay never started ${name}`);
  return pub;
}

// pc publishes broadcast `name`, sc subscribes: every group byte for byte.
async function pagePubSub(pc, sc, name) {
  const pub = await publishStarted(pc.id, name);
  const shapes = bigShapes();
  const sub = await call("subscribe", sc.id, name, "data", shapes.length);
  await call("requested", pub, "data", T);
  const sent = await sendGroups(pub, "data", shapes);
  const got = await call("collect", sub, T * 3);
  sameGroups(got, sent, name);
  await call("unpublish", pub);
  return sent.size;
}

check("WebSocket page: no WebTransport, the browser connects over WebSocket (qmux-00, then the setup exchange)", async () => {
  const c = await connectWs("/anon");
  if (c.version !== "moq-lite-02" && c.version !== "moq-lite-01") throw new Error(`version ${c.version}`);
  await waitLog(/event=session_open conn=ws-\S+ id=\d+ remote=\S+ transport=websocket protocol=qmux-00 alpn=moql path=\/anon/, "session_open");
  return `version ${c.version}`;
});

check("WebSocket page: pub/sub browser -> browser over WebSocket, byte for byte, frames of 16360/16361/100000 bytes", async () => {
  const pc = await connectWs("/anon");
  const sc = await connectWs("/anon");
  return `${await pagePubSub(pc, sc, "ws2ws")} groups`;
});

check("WebSocket page: mixed transports, browser over WebSocket <-> browser over WebTransport, both ways", async () => {
  const ws = await connectWs("/anon");
  const wt = await connect("/anon");
  const a = await pagePubSub(ws, wt, "ws2wt");
  const b = await pagePubSub(wt, ws, "wt2ws");
  return `${a} + ${b} groups (WebTransport ${wt.version}, WebSocket ${ws.version})`;
});

check("WebSocket page: browser over WebSocket <-> moq-cli over raw QUIC, 100 KB lines intact both ways", async () => {
  const pc = await connectWs("/");
  const pub = await publishStarted(pc.id, "ws2cli");
  const lines = ["one", randomBytes(75000).toString("base64"), "three"];
  const sub = cli(["--alpn", "moq-lite-04", "subscribe", quicUrl(), "ws2cli", "t", "--count", String(lines.length)], "subscriber");
  sub.child.stdin.end();
  for (const l of lines) {
    await call("group", pub, "t", [Buffer.from(l).toString("base64")], T);
    await sleep(30);
  }
  const got = (await timeout(sub.done, T * 2, "moq-cli subscriber")).toString();
  if (got.split(/(?<=\n)/).sort().join("") !== lines.map((l) => `${l}\n`).sort().join(""))
    throw new Error(`moq-cli printed ${got.length} bytes, not the lines sent`);
  await call("unpublish", pub);
  const p = cli(["--alpn", "moq-lite-04", "publish", quicUrl(), "cli2ws", "t"], "publisher");
  const sc = await connectWs("/");
  const a = await call("announced", sc.id, "cli2ws", T);
  if (!a?.active) throw new Error("no announcement of the moq-cli broadcast");
  const s2 = await call("subscribe", sc.id, "cli2ws", "t", lines.length);
  await waitLog(/event=subscribe_upstream .*path=cli2ws/, "the upstream subscription to moq-cli", T);
  for (const l of lines) {
    p.child.stdin.write(`${l}\n`);
    await sleep(50);
  }
  p.child.stdin.end();
  const got2 = await call("collect", s2, T * 2);
  const frames = got2.sort((x, y) => x.seq - y.seq).map((g) => Buffer.from(g.frames[0] ?? "", "base64").toString());
  if (frames.join("|") !== lines.join("|")) throw new Error(`the browser got ${frames.map((f) => f.length).join("/")} bytes`);
  await timeout(p.done, T, "moq-cli publisher exit");
  return `${lines.length} frames each way`;
});

async function runChecks() {
  for (const k of ["RELAY_PORT", "RELAY_HTTP_PORT", "RELAY_FINGERPRINT", "RELAY_LOG", "MOQ_CLI"])
    if (!process.env[k]) {
      out(`lite-wt: ${k} is not set`);
      process.exit(99);
    }
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const args = process.getuid?.() === 0 ? ["--no-sandbox"] : [];
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args });
  let failed = 0;
  let ran = 0;
  const only = process.env.MOQ_LITE_WT_ONLY ? new RegExp(process.env.MOQ_LITE_WT_ONLY) : null;
  for (const { name, fn } of checks) {
    if (only && !only.test(name)) continue;
    ran++;
    // a fresh page per check: its connections end with it
    page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    wsPage = await browser.newPage();
    wsPage.on("pageerror", (e) => errors.push(e.message));
    await wsPage.goto(`http://127.0.0.1:${server.address().port}/?ws`);
    const t0 = Date.now();
    try {
      await page.waitForFunction(() => window.ready === true, null, { timeout: T });
      await wsPage.waitForFunction(() => window.ready === true, null, { timeout: T });
      const detail = await timeout(fn(), T * 6, name);
      out(`ok: ${name}${detail ? ` (${detail})` : ""} [${Date.now() - t0} ms]`);
    } catch (e) {
      failed++;
      out(`NOT OK: ${name}: ${(e?.message ?? String(e)).split("\n")[0]}${errors.length ? ` (page: ${errors[0]})` : ""}`);
    }
    await page.close().catch(() => {});
    await wsPage.close().catch(() => {});
  }
  await browser.close();
  server.close();
  out(failed ? `${failed} of ${ran} checks failed` : `all ${ran} checks passed`);
  process.exit(failed ? 1 : 0);
}

const [mode] = process.argv.slice(2);
if (mode === "checks") await runChecks();
else {
  process.stderr.write("usage: lite-wt.mjs checks\n");
  process.exit(2);
}
