// lite-quic-adapter.mjs — run @moq/lite 0.2.2 over raw QUIC with @matrixai/quic.
//
// @moq/lite is written against the browser WebTransport API. Its
// `Moq.Connection.connect(url, { transport })` (connection/connect.js,
// connectTransport) takes any WebTransport-shaped session and skips its own
// WebTransport/WebSocket race. From that object the library uses only:
//   protocol                          negotiated ALPN: "moq-lite-04" / "moq-lite-03" select those
//                                     versions with no setup exchange; "moql" (or ""/undefined)
//                                     makes it open a bidi stream and send 0x20 CLIENT_SETUP
//   createBidirectionalStream(opts)   -> Promise<{ readable, writable }>  (opts.sendOrder ignored)
//   createUnidirectionalStream()      -> Promise<WritableStream>
//   incomingBidirectionalStreams      ReadableStream of { readable, writable }
//   incomingUnidirectionalStreams     ReadableStream of ReadableStream
//   closed                            Promise, settles when the session is gone
//   close()
//   getStats()                        optional; left out on purpose: without it the
//                                     library closes incoming PROBE streams gracefully and
//                                     does not poll for a send-rate estimate.
// `ready` is not used on the transport path; it is provided anyway.
//
// A @matrixai/quic QUICStream already is a WHATWG ReadableWritablePair
// (node:stream/web) and never enqueues an empty chunk (@moq/lite's Reader
// throws "unexpected empty chunk" on one), so streams are passed through as is.
// Our stream errors go out with application error code 0 (the library's
// default reasonToCode); the peer's codes show up in the error messages.
//
// Node 20: the library needs Promise.withResolvers and Set.prototype.difference
// (Node 22 features); installPolyfills() adds them. It must run before
// @moq/lite is imported, so the library is loaded with a dynamic import in
// loadMoq().

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { webcrypto } from 'node:crypto';

export function installPolyfills() {
  if (typeof Promise.withResolvers !== 'function') {
    Promise.withResolvers = function withResolvers() {
      let resolve;
      let reject;
      const promise = new this((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    };
  }
  if (typeof Set.prototype.difference !== 'function') {
    // eslint-disable-next-line no-extend-native
    Set.prototype.difference = function difference(other) {
      const out = new Set();
      for (const v of this) if (!other.has(v)) out.add(v);
      return out;
    };
  }
}

// The library logs every stream and announcement through console.debug (and
// console.log on connect); keep stdout for the test's own output.
export function silenceLibraryLogs(verbose = false) {
  const toErr = (tag) => (...args) => {
    if (verbose) process.stderr.write(`[${tag}] ${args.map(String).join(' ')}\n`);
  };
  console.debug = toErr('debug');
  console.log = toErr('log');
  console.info = toErr('info');
  if (!verbose) console.warn = toErr('warn');
}

export async function loadMoq() {
  installPolyfills();
  return import('@moq/lite');
}

// Duck-typed @matrixai/logger (getChild/debug/info/warn/error): the default one
// prints every state change at INFO. `sink(level, text)` sees everything.
export function makeLogger(prefix, sink) {
  const out = (lvl) => (msg) => sink?.(lvl, `${prefix}: ${String(msg)}`);
  return {
    getChild: (key) => makeLogger(`${prefix}.${key}`, sink),
    debug: out('debug'),
    info: out('info'),
    warn: out('warn'),
    error: out('error'),
  };
}

const clientCrypto = {
  ops: {
    async randomBytes(data) {
      const view = new Uint8Array(data);
      for (let off = 0; off < view.length; off += 65536) {
        webcrypto.getRandomValues(view.subarray(off, Math.min(off + 65536, view.length)));
      }
    },
  },
};

// Open a QUIC connection offering `alpns` and wrap it. The certificate is
// verified against `ca` (a PEM file) with host name `serverName`.
// Returns the WebTransport-shaped session (see above) with extra fields
// `quicClient` (the QUICClient) and `alpn`.
export async function connectQuic({
  host = '127.0.0.1',
  port,
  ca,
  serverName = 'localhost',
  alpns,
  timeoutMs = 5000,
  idleTimeoutMs = 30000,
  logSink,
}) {
  const { QUICClient, events } = await import('@matrixai/quic');
  const caPem = ca != null ? readFileSync(ca, 'utf8') : undefined;
  const client = await QUICClient.createQUICClient(
    {
      host,
      port,
      serverName,
      localHost: isIP(host) === 6 ? '::' : '0.0.0.0',
      localPort: 0,
      crypto: clientCrypto,
      config: {
        applicationProtos: alpns,
        verifyPeer: true,
        ...(caPem != null ? { ca: caPem } : {}),
        maxIdleTimeout: idleTimeoutMs,
        keepAliveIntervalTime: Math.max(1000, Math.floor(idleTimeoutMs / 3)),
        enableEarlyData: false,
        // The relay opens one uni stream per group: be generous.
        initialMaxStreamsBidi: 1000,
        initialMaxStreamsUni: 1000,
      },
      logger: makeLogger('quic', logSink),
      // What a stream's reader/writer rejects with when the peer sends
      // RESET_STREAM (read) or STOP_SENDING (write); the default text is "read 13".
      codeToReason: (type, code) =>
        new Error(`peer ${type === 'read' ? 'reset the stream' : 'stopped sending'} with code ${code}`),
    },
    { timer: timeoutMs },
  );
  return adaptConnection(client, events);
}

export function adaptConnection(client, events) {
  const conn = client.connection;
  const alpn = Buffer.from(conn.conn.applicationProto()).toString('utf8');

  let bidiController;
  let uniController;
  const incomingBidirectionalStreams = new ReadableStream({
    start(c) {
      bidiController = c;
    },
  });
  const incomingUnidirectionalStreams = new ReadableStream({
    start(c) {
      uniController = c;
    },
  });

  let isClosed = false;
  let resolveClosed;
  const closed = new Promise((resolve) => {
    resolveClosed = resolve;
  });

  const onStream = (evt) => {
    const s = evt.detail;
    if (isClosed) return;
    try {
      if (s.type === 'bidi') bidiController.enqueue({ readable: s.readable, writable: s.writable });
      else uniController.enqueue(s.readable);
    } catch {
      // controller already closed
    }
  };
  conn.addEventListener(events.EventQUICConnectionStream.name, onStream);

  let closeInfo = { closeCode: 0, reason: '' };
  const finish = (info) => {
    if (isClosed) return;
    isClosed = true;
    if (info) closeInfo = info;
    conn.removeEventListener(events.EventQUICConnectionStream.name, onStream);
    for (const c of [bidiController, uniController]) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    resolveClosed(closeInfo);
  };
  conn.addEventListener(
    events.EventQUICConnectionClose.name,
    (evt) => {
      const d = evt.detail?.data ?? {};
      finish({
        closeCode: Number(d.errorCode ?? 0),
        reason: d.reason ? Buffer.from(d.reason).toString('utf8') : String(evt.detail?.message ?? ''),
        error: evt.detail,
      });
    },
    { once: true },
  );
  conn.closedP.then(() => finish(), () => finish());

  return {
    protocol: alpn,
    alpn,
    quicClient: client,
    ready: Promise.resolve(),
    closed,
    get isClosed() {
      return isClosed;
    },
    incomingBidirectionalStreams,
    incomingUnidirectionalStreams,
    async createBidirectionalStream(_opts) {
      const s = conn.newStream('bidi');
      return { readable: s.readable, writable: s.writable };
    },
    async createUnidirectionalStream(_opts) {
      return conn.newStream('uni').writable;
    },
    // Like WebTransport.close(): one CONNECTION_CLOSE (application code
    // closeCode). QUICClient.destroy({force: true}) alone would first reset
    // every open stream (RESET_STREAM/STOP_SENDING go out before the
    // CONNECTION_CLOSE), which a moq-lite-01/02 peer rightly reads as "the
    // session stream was reset". So close quiche's connection first; in the
    // closing state it sends nothing but CONNECTION_CLOSE, then tear down.
    close(info) {
      if (this._closing) return this._closing;
      const errorCode = info?.closeCode ?? 0;
      const reason = new TextEncoder().encode(info?.reason ?? '');
      this._closing = (async () => {
        try {
          if (!conn.conn.isClosed() && !conn.conn.isDraining()) {
            conn.conn.close(true, errorCode, reason);
            await conn.send();
          }
        } catch {
          // already closing
        }
        await client.destroy({ isApp: true, errorCode, reason, force: true }).catch(() => {});
      })().finally(() => finish({ closeCode: errorCode, reason: info?.reason ?? '' }));
      return this._closing;
    },
  };
}
