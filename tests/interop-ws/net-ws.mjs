// net-ws.mjs: @moq/net 0.3.4 (the newer client, @moq/qmux 0.3.3) in Node 20 against moq-relay over
// the WebSocket fallback. It offers "qmux-0N.<alpn>" subprotocols (and the bare ones), so the relay
// fixes the moq version as by ALPN: by default qmux-01.moq-lite-05, QMux draft-01 records.
// Run by tests/interop/lite-ws.sh with `node --experimental-websocket`, from a copy beside
// node_modules.
//
//   node net-ws.mjs checks    prints "ok: ..." / "NOT OK: ..." lines, exit 1 if any failed
//
// Environment: as lite-ws.mjs (RELAY_HTTP_PORT, RELAY_PORT, RELAY_CA, RELAY_LOG, MOQ_CLI,
// MOQ_INTEROP_TIMEOUT_MS, MOQ_LITE_WS_ONLY).

import { HTTP_PORT, QUIC_PORT, T, cli, countLog, quietConsole, relayLog, runChecks, sha, sleep, timeout, url, waitLog } from "./harness.mjs";

if (typeof globalThis.WebSocket !== "function") {
  process.stderr.write("net-ws: no WebSocket global (run node with --experimental-websocket)\n");
  process.exit(99);
}
// Which subprotocols the clients may offer: each connect sets `forced` (null = what the client offers).
const RawWebSocket = globalThis.WebSocket;
let forced = null;
const offers = [];
globalThis.WebSocket = class extends RawWebSocket {
  constructor(u, protocols) {
    const offered = [].concat(protocols ?? []);
    offers.push(offered);
    if (forced && !offered.includes(forced)) throw new Error(`the client did not offer ${forced}: ${offered.join(", ")}`);
    super(u, forced ? [forced] : offered);
  }
};
quietConsole();

const Net = await import("@moq/net");
const Lite = await import("@moq/lite");

const enc = new TextEncoder();

const conns = [];
async function netConnect(path = "/anon", sub = null) {
  forced = sub;
  try {
    const c = await timeout(Net.Connection.connect(url(path), { websocket: { delay: 0 } }), T, `@moq/net connect ${path}`);
    conns.push(c);
    return c;
  } finally {
    forced = null;
  }
}
async function liteConnect(path = "/anon") {
  const c = await timeout(Lite.Connection.connect(url(path)), T, `@moq/lite connect ${path}`);
  conns.push(c);
  return c;
}

// A @moq/net broadcast serving track `name` to whoever asks: group(frames) writes one group.
class NetPublisher {
  constructor(conn, path) {
    this.path = path;
    this.bc = new Net.Broadcast.Producer();
    conn.publish(Net.Path.from(path), this.bc);
    this.tracks = new Map();
    this.wait = [];
    (async () => {
      for (;;) {
        const req = await this.bc.requested().catch(() => undefined);
        if (!req) return;
        this.tracks.set(req.name, req.accept());
        for (const w of this.wait.splice(0)) w();
      }
    })();
  }
  // Waits until the relay has the broadcast: a subscription sent before would find nothing.
  started() {
    const p = this.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return waitLog(new RegExp(`event=broadcast_start path=(anon/)?${p} `), `broadcast ${this.path} to start`);
  }
  async track(name) {
    const until = Date.now() + T;
    while (!this.tracks.has(name)) {
      if (Date.now() > until) throw new Error(`the relay never subscribed to track ${name}`);
      await timeout(new Promise((r) => this.wait.push(r)), until - Date.now(), `subscription to ${name}`).catch(() => {});
    }
    return this.tracks.get(name);
  }
  async group(name, frames) {
    const t = await this.track(name);
    const g = t.appendGroup();
    for (const f of frames) g.writeFrame({ payload: f, timestamp: Net.Time.Timestamp.now() });
    g.close();
    return g.sequence;
  }
  close() {
    this.bc.close();
  }
}

// @moq/lite 0.2.2's publisher, as in lite-ws.mjs.
class LitePublisher {
  constructor(conn, path) {
    this.path = path;
    this.bc = new Lite.Broadcast();
    conn.publish(Lite.Path.from(path), this.bc);
    this.tracks = new Map();
    this.wait = [];
    (async () => {
      for (;;) {
        const req = await this.bc.requested().catch(() => undefined);
        if (!req) return;
        this.tracks.set(req.track.name, req.track);
        for (const w of this.wait.splice(0)) w();
      }
    })();
  }
  track = NetPublisher.prototype.track;
  started = NetPublisher.prototype.started;
  async group(name, frames) {
    const t = await this.track(name);
    const g = t.appendGroup();
    for (const f of frames) g.writeFrame(f);
    g.close();
    return g.sequence;
  }
  close() {
    this.bc.close();
  }
}

// Reads `want` groups: Map sequence -> frames (@moq/net frames are {payload}, @moq/lite ones bytes).
// `got` fills as groups complete, for a writer that paces itself on it.
function readGroups(track, want, what, got = new Map()) {
  const work = (async () => {
    while (got.size < want) {
      const g = await track.recvGroup();
      if (!g) throw new Error(`the track ended after ${got.size} groups`);
      const frames = [];
      for (;;) {
        const f = await g.readFrame();
        if (f === undefined) break;
        frames.push(new Uint8Array(f.payload ?? f));
      }
      got.set(g.sequence, frames);
    }
    return got;
  })();
  return timeout(work, T + 1000 * want, what);
}

function sameGroups(got, sent, what) {
  for (const [seq, frames] of sent) {
    const g = got.get(seq);
    if (!g) throw new Error(`${what}: group ${seq} is missing (got ${[...got.keys()].join(",")})`);
    if (g.length !== frames.length) throw new Error(`${what}: group ${seq}: ${g.length} frames, sent ${frames.length}`);
    for (let i = 0; i < frames.length; i++)
      if (Buffer.compare(Buffer.from(g[i]), Buffer.from(frames[i])) !== 0)
        throw new Error(`${what}: group ${seq} frame ${i}: ${g[i].length} bytes ${sha(g[i])}, sent ${frames[i].length} bytes ${sha(frames[i])}`);
  }
}

const bytes = (n, seed) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
};
const netSub = (conn, path, track) => conn.consume(Net.Path.from(path)).subscribe(track, { priority: 0 });
const liteSub = (conn, path, track) => conn.consume(Lite.Path.from(path)).subscribe(track, 0);

// Publishes `groups` (arrays of frames) from pub to a subscriber made by subscribe(); checks them.
// Each group is written once the one before has arrived: @moq/net sends the newest group first, and
// a relay may skip a group that arrives after a newer one (moq-lite's latest-group semantics).
async function pubsub(pub, subscribe, groups, what) {
  await pub.started();
  const track = subscribe();
  const got = new Map();
  const reading = readGroups(track, groups.length, what, got);
  reading.catch(() => {});
  const sent = new Map();
  for (const frames of groups) {
    const seq = await pub.group("data", frames);
    sent.set(seq, frames);
    const until = Date.now() + T;
    while (!got.has(seq) && Date.now() < until) await sleep(10);
  }
  sameGroups(await reading, sent, what);
  return sent.size;
}

// ---- the checks

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check("connect: @moq/net offers qmux-0N.<alpn>; the relay chooses qmux-01.moq-lite-05", async () => {
  const before = offers.length;
  const c = await netConnect("/anon");
  if (c.version !== "moq-lite-05") throw new Error(`version ${c.version}`);
  const offered = offers[before] ?? [];
  if (!offered.includes("qmux-01.moq-lite-05") || !offered.includes("qmux-00.moq-lite-04"))
    throw new Error(`offered ${offered.join(", ")}`);
  await waitLog(/event=session_open conn=ws-\S+ id=\d+ remote=\S+ transport=websocket protocol=qmux-01\.moq-lite-05 alpn=moq-lite-05 path=\/anon/, "session_open");
  await waitLog(/event=session_ready session=ws-\S+ version=moq-lite-05 root=anon/, "session_ready");
  return `${offered.length} subprotocols offered`;
});

check("pub/sub @moq/net -> @moq/net over qmux-01: frames byte for byte (0 B .. 300 KB, past the client's stream window)", async () => {
  const pc = await netConnect("/anon");
  const pub = new NetPublisher(pc, "n2n");
  const sc = await netConnect("/anon");
  const groups = [[enc.encode("hello")], [new Uint8Array(0), bytes(16360, 1), bytes(16361, 2)], [bytes(100000, 3)], [bytes(300000, 4), bytes(5, 5)]];
  const n = await pubsub(pub, () => netSub(sc, "n2n", "data"), groups, "@moq/net subscriber");
  pub.close();
  return `${n} groups`;
});

check("fan-out: 3 @moq/net subscribers over one upstream subscription", async () => {
  const pc = await netConnect("/anon");
  const pub = new NetPublisher(pc, "nfan");
  await pub.started();
  const subscribed = /event=subscribe session=\S+ id=\d+ path=anon\/nfan track=data/;
  const before = countLog(subscribed);
  const subs = [];
  for (let i = 0; i < 3; i++) subs.push(netSub(await netConnect("/anon"), "nfan", "data"));
  const reading = subs.map((t, i) => readGroups(t, 4, `subscriber ${i}`));
  // A subscriber starts at the latest group: the first group goes out only once all three
  // subscriptions reached the relay (a slow one would start at the second group).
  for (const until = Date.now() + T; countLog(subscribed) < before + 3; await sleep(20))
    if (Date.now() > until) throw new Error(`${countLog(subscribed) - before} of 3 subscriptions reached the relay`);
  const sent = new Map();
  for (let i = 0; i < 4; i++) {
    const frames = [bytes(20000 + i, i)];
    sent.set(await pub.group("data", frames), frames);
    await sleep(100); /* one group at a time (see pubsub) */
  }
  (await Promise.all(reading)).forEach((g, i) => sameGroups(g, sent, `subscriber ${i}`));
  pub.close();
  return "3 x 4 groups";
});

check("mixed clients: @moq/net (qmux-01.moq-lite-05) <-> @moq/lite 0.2.2 (qmux-00, lite-02), both ways", async () => {
  const np = await netConnect("/anon");
  const lc = await liteConnect("/anon");
  const pub1 = new NetPublisher(np, "n2l");
  const a = await pubsub(pub1, () => liteSub(lc, "n2l", "data"), [[bytes(40000, 7)], [enc.encode("x")]], "@moq/lite subscriber");
  const lp = await liteConnect("/anon");
  const nc = await netConnect("/anon");
  const pub2 = new LitePublisher(lp, "l2n");
  const b = await pubsub(pub2, () => netSub(nc, "l2n", "data"), [[bytes(50000, 8)], [enc.encode("y")]], "@moq/net subscriber");
  pub1.close();
  pub2.close();
  return `${a} + ${b} groups`;
});

check("@moq/net publisher -> moq-cli subscriber (raw QUIC, moq-lite-04), 100 KB line intact", async () => {
  const pc = await netConnect("/");
  const pub = new NetPublisher(pc, "net2cli");
  await pub.started();
  const lines = ["one", "two", "x".repeat(100000), "four"];
  const sub = cli(["--alpn", "moq-lite-04", "subscribe", `moql://localhost:${QUIC_PORT}/`, "net2cli", "t", "--count", String(lines.length)], "", "subscriber");
  sub.child.stdin.end();
  for (const l of lines) {
    await pub.group("t", [enc.encode(l)]);
    await sleep(30);
  }
  const got = (await timeout(sub.done, T * 2, "moq-cli subscriber")).toString();
  const want = lines.map((l) => `${l}\n`);
  const have = got.split(/(?<=\n)/);
  if (have.length !== want.length || [...have].sort().join("") !== [...want].sort().join(""))
    throw new Error(`moq-cli printed ${got.length} bytes in ${have.length} lines`);
  pub.close();
  return `${lines.length} frames`;
});

for (const sub of ["qmux-00.moq-lite-04", "qmux-01.moq-lite-03", "qmux-00.moql", "qmux-01"]) {
  check(`forced subprotocol ${sub}: connect and pub/sub through a default @moq/net session`, async () => {
    const c = await netConnect("/anon", sub);
    const want = { "qmux-00.moq-lite-04": /moq-lite-04/, "qmux-01.moq-lite-03": /moq-lite-03/ }[sub] ?? /moq-lite-0[12]|moqt/;
    if (!want.test(c.version)) throw new Error(`version ${c.version}`);
    const alpn = sub.includes(".") ? sub.slice(8) : "moql";
    await waitLog(new RegExp(`transport=websocket protocol=${sub.replace(/\./g, "\\.")} alpn=${alpn} `), `session_open over ${sub}`);
    const other = await netConnect("/anon");
    const name = `forced-${sub.replace(/\./g, "-")}`;
    const pub = new NetPublisher(c, name);
    const n = await pubsub(pub, () => netSub(other, name, "data"), [[bytes(70000, 9)], [enc.encode("end")]], `from ${sub}`);
    const pub2 = new NetPublisher(other, `${name}-back`);
    const m = await pubsub(pub2, () => netSub(c, `${name}-back`, "data"), [[bytes(70000, 10)]], `to ${sub}`);
    pub.close();
    pub2.close();
    return `version ${c.version}, ${n}+${m} groups`;
  });
}

check("unknown broadcast: a @moq/net subscription to nobody fails fast", async () => {
  const c = await netConnect("/anon");
  const t = netSub(c, "nobody/here", "t");
  const t0 = Date.now();
  const r = await timeout(t.recvGroup().then((g) => (g ? "group" : "ended"), (e) => `error ${e.message}`), T, "the subscription to end");
  if (r === "group") throw new Error("got a group from nobody");
  return `${r} after ${Date.now() - t0} ms`;
});

// Raw QMux sessions (a WebSocket of our own, subprotocol sub): bad bytes close only that session.
const hex = (h) => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ""), "hex"));
// @moq/qmux 0.0.6's QX_TRANSPORT_PARAMETERS (1 MiB, 256 KiB per stream, 100 streams of each kind).
const PARAMS = hex("ff5153300d0a0d0a20 0404801000000504800400000604800400000704800400000802406409024064");
async function rawQmux(sub, what) {
  const ws = new RawWebSocket(`ws://127.0.0.1:${HTTP_PORT}/anon`, [sub]);
  ws.binaryType = "arraybuffer";
  const msgs = [];
  let wake = null;
  ws.addEventListener("message", (ev) => {
    msgs.push(new Uint8Array(ev.data));
    wake?.();
  });
  const closed = new Promise((resolve) => ws.addEventListener("close", (ev) => resolve(ev)));
  await timeout(new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", () => reject(new Error("websocket error before open")));
  }), T, `open (${what})`);
  if (ws.protocol !== sub) throw new Error(`subprotocol ${ws.protocol}`);
  const next = async () => {
    while (!msgs.length) await timeout(new Promise((r) => (wake = r)), T, `a message (${what})`);
    return msgs.shift();
  };
  return { ws, next, closed };
}

check("raw qmux-01: transport parameters first, QX_PING answered", async () => {
  const { ws, next } = await rawQmux("qmux-01", "ping");
  const first = await next();
  if (Buffer.from(first.subarray(0, 8)).toString("hex") !== "ff5153300d0a0d0a")
    throw new Error(`the relay's first frame is ${Buffer.from(first.subarray(0, 12)).toString("hex")}`);
  ws.send(PARAMS);
  ws.send(hex("f48c67529ef8c7bd 07"));
  for (;;) {
    const m = Buffer.from(await next()).toString("hex");
    if (m === "f48c67529ef8c7be07") break;
  }
  ws.close();
  return "QX_PING 7 -> QX_PING response 7";
});

check("raw qmux sessions: malformed frames, flow control and stream limit violations close only their own session", async () => {
  const cases = [
    ["qmux-00", "the first frame is not QX_TRANSPORT_PARAMETERS", [hex("0a 02 01 00")]],
    ["qmux-01", "unknown frame type", [PARAMS, hex("1e")]],
    ["qmux-00", "truncated frame", [PARAMS, hex("0a 02 05 61")]],
    ["qmux-01", "data beyond MAX_STREAM_DATA", [PARAMS, hex("0e 02 80 0f ff fa 0a 00010203040506070809")]],
    ["qmux-00", "a stream beyond the MAX_STREAMS we gave", [PARAMS, hex("0a 80 06 1a 82 01 00")]],
    ["qmux-01", "a second QX_TRANSPORT_PARAMETERS", [PARAMS, PARAMS]],
    ["qmux-01", "a DATAGRAM, which we did not allow", [PARAMS, hex("31 01 00")]],
    ["qmux-00", "malformed QX_TRANSPORT_PARAMETERS", [hex("ff5153300d0a0d0a 02 00 00")]],
    ["qmux-01", "max_record_size below 16382", [hex("ff5153300d0a0d0a 0d c571c59429cd0845 04 800003e8")]],
    ["qmux-01.moq-lite-04", "STREAM data out of order", [PARAMS, hex("0e 02 05 01 00")]],
  ];
  const codes = [];
  for (const [sub, why, msgs] of cases) {
    const re = new RegExp(`event=ws_protocol_error .*reason="${why}`);
    const count = () => relayLog().split("\n").filter((l) => re.test(l)).length;
    const before = count();
    const { ws, closed } = await rawQmux(sub, why);
    for (const m of msgs) ws.send(m);
    const ev = await timeout(closed, T, `the close after ${why}`);
    const until = Date.now() + T;
    while (count() <= before && Date.now() < until) await sleep(50);
    if (count() <= before) throw new Error(`no ws_protocol_error line says "${why}"`);
    codes.push(`${sub} ${why}: ${ev.code}`);
  }
  const c = await netConnect("/anon");
  if (c.version !== "moq-lite-05") throw new Error("no session after the bad ones");
  return codes.join(", ");
});

process.on("uncaughtException", (err) => {
  process.stderr.write(`net-ws: uncaught exception: ${err?.stack ?? err}\n`);
});
process.on("unhandledRejection", () => {});

if (process.argv[2] === "checks") await runChecks("net-ws", checks, conns);
else {
  process.stderr.write("usage: net-ws.mjs checks\n");
  process.exit(2);
}
