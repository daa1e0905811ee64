// page.js: runs in headless Chromium, loaded by page.html. @moq/lite 0.2.2 from node_modules through
// the import map; lite-wt.mjs drives it with page.evaluate(() => window.t.<helper>(...)). Frames
// cross the page boundary as base64 strings.
import * as Moq from "@moq/lite";

const quiet = () => {};
console.debug = quiet;
console.log = quiet;
console.warn = quiet;

const b64 = {
  enc(u8) {
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
    return btoa(s);
  },
  dec(s) {
    const bin = atob(s);
    const u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    return u8;
  },
};

function timeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const hexBytes = (hex) => new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));

// Ids are unique across the two pages (the WebSocket page's start at 1000001), so the driver can
// route a call by the id it names.
const WS_PAGE = new URLSearchParams(location.search).has("ws");
let next = WS_PAGE ? 1000001 : 1;
const conns = new Map();
const pubs = new Map();
const subs = new Map();

// A published broadcast: serves every track the relay asks for.
class Publisher {
  constructor(conn, path) {
    this.bc = new Moq.Broadcast();
    conn.publish(Moq.Path.from(path), this.bc);
    this.tracks = [];
    this.waiting = [];
    this.#serve();
  }
  async #serve() {
    for (;;) {
      let req;
      try {
        req = await this.bc.requested();
      } catch {
        return;
      }
      if (!req) return;
      this.tracks.push(req.track);
      for (const w of this.waiting.splice(0)) w();
    }
  }
  async requested(name, ms) {
    const until = Date.now() + ms;
    for (;;) {
      const t = this.tracks.find((x) => x.name === name);
      if (t) return t;
      if (Date.now() > until) throw new Error(`the relay never subscribed to track ${name}`);
      await timeout(new Promise((r) => this.waiting.push(r)), until - Date.now(), `subscription to ${name}`).catch(() => {});
    }
  }
}

window.t = {
  // Connects over WebTransport only; returns {id, version}. protocols: undefined = the library's list.
  async connect(u, hashHex, protocols, ms) {
    const webtransport = { serverCertificateHashes: [{ algorithm: "sha-256", value: hexBytes(hashHex) }] };
    if (protocols) webtransport.protocols = protocols;
    const conn = await timeout(Moq.Connection.connect(new URL(u), { webtransport, websocket: { enabled: false } }), ms, `connect ${u}`);
    const id = next++;
    conns.set(id, conn);
    return { id, version: conn.version };
  },
  // On the WebSocket page (/?ws, no WebTransport): connects over WebSocket to the relay's HTTP
  // listener (u = http://host:port/path); returns {id, version}.
  async connectWs(u, ms) {
    if (!WS_PAGE || globalThis.WebTransport) throw new Error("WebTransport is defined on this page");
    const conn = await timeout(Moq.Connection.connect(new URL(u), { websocket: { enabled: true, delay: 0 } }), ms, `connect ${u}`);
    const id = next++;
    conns.set(id, conn);
    return { id, version: conn.version };
  },
  close(id) {
    conns.get(id)?.close();
    conns.delete(id);
  },
  publish(connId, path) {
    const id = next++;
    pubs.set(id, new Publisher(conns.get(connId), path));
    return id;
  },
  unpublish(pubId) {
    pubs.get(pubId)?.bc.close();
    pubs.delete(pubId);
  },
  // Waits for the relay's subscription to track, then writes one group; returns its sequence.
  async group(pubId, track, frames, ms) {
    const t = await pubs.get(pubId).requested(track, ms);
    const g = t.appendGroup();
    for (const f of frames) g.writeFrame(b64.dec(f));
    g.close();
    return g.sequence;
  },
  async requested(pubId, track, ms) {
    await pubs.get(pubId).requested(track, ms);
  },
  // Subscribes and reads `want` groups in the background; collect(id) waits for them.
  subscribe(connId, path, track, want) {
    const id = next++;
    const tr = conns.get(connId).consume(Moq.Path.from(path)).subscribe(track, 0);
    const got = [];
    const work = (async () => {
      while (got.length < want) {
        const g = await tr.recvGroup();
        if (!g) throw new Error(`the track ended after ${got.length} groups`);
        const frames = [];
        for (;;) {
          const f = await g.readFrame();
          if (f === undefined) break;
          frames.push(b64.enc(new Uint8Array(f)));
        }
        got.push({ seq: g.sequence, frames });
      }
      return got;
    })();
    work.catch(() => {});
    subs.set(id, work);
    return id;
  },
  async collect(subId, ms) {
    return timeout(subs.get(subId), ms, "groups");
  },
  async announced(connId, prefix, ms) {
    const ann = conns.get(connId).announced(Moq.Path.from(prefix));
    const a = await timeout(ann.next(), ms, "announcement");
    return a ? { path: String(a.path), active: a.active } : null;
  },
};
window.ready = true;
