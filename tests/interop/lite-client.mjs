#!/usr/bin/env node
// lite-client.mjs — the published @moq/lite 0.2.2 client over raw QUIC
// (@matrixai/quic, through lite-quic-adapter.mjs), as a small CLI for the
// interop test tests/interop/lite-quic.sh.
//
// Usage:
//   node lite-client.mjs [options] publish BROADCAST TRACK [--frames N] [--group-frames G]
//   node lite-client.mjs [options] subscribe BROADCAST TRACK [--count N] [--no-wait-announce]
//   node lite-client.mjs [options] announced [PREFIX] [--count N]
// Options (anywhere on the line):
//   --port P (required)  --host H (127.0.0.1)  --server-name NAME (localhost)  --ca FILE.pem
//   --alpn A[,B...] (moq-lite-04,moq-lite-03,moql: the library's order)
//   --timeout-ms MS (20000)   hard limit for the whole run: exit 4 after it
//   --connect-timeout-ms MS (5000)   QUIC handshake + @moq/lite connect()
//   --ready-file FILE   created once the client is "in place" (see below)
//   --linger-ms MS (300)   publish: time between ending the broadcast and closing
//   --verbose   library and QUIC logs to stderr
//
// publish: announces BROADCAST. Frames are the lines of standard input (bytes
//   without the newline), or with --frames N the N frames "frame-<i>" (i from
//   0). Every G (default 1) frames make one group. Each subscription to TRACK
//   gets every frame so far (groups 0, 1, ... of its own track) and then the
//   new ones as they come; other track names are refused. The run ends at
//   end of standard input (also with --frames): the tracks and the broadcast
//   end (an unannounce to the relay), and after --linger-ms the session
//   closes. The ready file appears when the library has announced BROADCAST
//   to the relay (it answered the relay's ANNOUNCE_PLEASE).
// subscribe: waits until BROADCAST is announced (unless --no-wait-announce),
//   subscribes to TRACK and writes each frame followed by "\n" to standard
//   output. Groups are read concurrently, in arrival order (a relay may send
//   the newest group first): frames of one group stay in order. With --count
//   it exits 0 after N frames, 1 if the track ends first. The ready file
//   appears at SUBSCRIBE_OK.
// announced: prints "+PATH" / "-PATH" (full broadcast path) per announcement
//   under PREFIX (default: everything); exits 0 after --count lines.
//
// Exit status: 0 ok, 1 failure (message on stderr), 2 usage, 4 timeout.
// @moq/lite 0.2.2 can wait forever (a connect that never settles, a
// subscription that never answers): the hard timer always ends the process.

import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import {
  connectQuic,
  loadMoq,
  silenceLibraryLogs,
} from './lite-quic-adapter.mjs';

const EXIT_FAIL = 1;
const EXIT_USAGE = 2;
const EXIT_TIMEOUT = 4;

const USAGE =
  'usage: lite-client.mjs --port P [--ca FILE] [--alpn A[,B]] [--timeout-ms MS] ' +
  '(publish BROADCAST TRACK [--frames N] [--group-frames G] | ' +
  'subscribe BROADCAST TRACK [--count N] [--no-wait-announce] | announced [PREFIX] [--count N])';

let finished = false;
let session; // the adapter's WebTransport-shaped session
let stage = 'start';
let lastLibraryError = '';

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').trim();
}

function describe(e) {
  const parts = [];
  for (let cur = e, depth = 0; cur != null && depth < 4; cur = cur.cause, depth++) {
    let p = `${cur.name ?? 'Error'}: ${cur.message ?? String(cur)}`;
    const d = cur.data;
    if (d && typeof d === 'object' && 'errorCode' in d) {
      p += ` [${d.isApp ? 'application' : 'transport'} code 0x${Number(d.errorCode).toString(16)}`;
      if (d.reason?.length) p += ` reason "${Buffer.from(d.reason).toString('utf8')}"`;
      p += ']';
    }
    parts.push(p);
  }
  return parts.join(' <- ');
}

function die(code, reason) {
  if (finished) return;
  finished = true;
  // stderr is synchronous for files and pipes: the line is out before exit.
  process.stderr.write(`lite-client: ${oneLine(reason)}\n`);
  process.exit(code);
}

async function finish() {
  if (finished) return;
  finished = true;
  await new Promise((resolve) => process.stdout.write('', resolve));
  try {
    await Promise.race([session?.close(), new Promise((r) => setTimeout(r, 500))]);
  } catch {
    // ignore
  }
  process.exit(0);
}

let opts;
let positionals;
try {
  ({ values: opts, positionals } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'server-name': { type: 'string', default: 'localhost' },
      ca: { type: 'string' },
      alpn: { type: 'string', default: 'moq-lite-04,moq-lite-03,moql' },
      'timeout-ms': { type: 'string', default: '20000' },
      'connect-timeout-ms': { type: 'string', default: '5000' },
      'ready-file': { type: 'string' },
      'linger-ms': { type: 'string', default: '300' },
      frames: { type: 'string' },
      'group-frames': { type: 'string', default: '1' },
      count: { type: 'string' },
      'no-wait-announce': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  }));
} catch (e) {
  die(EXIT_USAGE, `${e.message}; ${USAGE}`);
}
if (opts.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

function intOpt(name, min) {
  if (opts[name] == null) return undefined;
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) die(EXIT_USAGE, `bad --${name} ${opts[name]}; ${USAGE}`);
  return v;
}

const port = intOpt('port', 1);
if (port == null || port > 65535) die(EXIT_USAGE, `bad or missing --port; ${USAGE}`);
const timeoutMs = intOpt('timeout-ms', 1);
const connectTimeoutMs = intOpt('connect-timeout-ms', 1);
const lingerMs = intOpt('linger-ms', 0);
const nFrames = intOpt('frames', 0);
const groupFrames = intOpt('group-frames', 1);
const count = intOpt('count', 0);
const alpns = opts.alpn.split(',').map((s) => s.trim()).filter(Boolean);
if (alpns.length === 0) die(EXIT_USAGE, 'empty --alpn');

const [command, ...args] = positionals;
const argc = { publish: [2, 2], subscribe: [2, 2], announced: [0, 1] }[command];
if (!argc) die(EXIT_USAGE, `unknown or missing command "${command ?? ''}"; ${USAGE}`);
else if (args.length < argc[0] || args.length > argc[1]) die(EXIT_USAGE, `wrong arguments for ${command}; ${USAGE}`);

const hardTimer = setTimeout(() => {
  die(EXIT_TIMEOUT, `timeout after ${timeoutMs} ms (stage: ${stage})` +
    (lastLibraryError ? `; last library error: ${lastLibraryError}` : ''));
}, timeoutMs);

process.on('uncaughtException', (e) => die(EXIT_FAIL, `uncaught exception (stage: ${stage}): ${describe(e)}`));
process.on('unhandledRejection', (e) => die(EXIT_FAIL, `unhandled rejection (stage: ${stage}): ${describe(e)}`));

// Library log lines double as progress markers (the pinned 0.2.2 has no
// public hook for "the relay acknowledged this"): watch console.debug.
const markers = [];
silenceLibraryLogs(opts.verbose);
{
  const inner = console.debug;
  console.debug = (...a) => {
    const text = a.map(String).join(' ');
    for (const m of markers) if (text.startsWith(m.prefix)) m.fn(text);
    inner(...a);
  };
  const innerErr = console.error;
  console.error = (...a) => {
    lastLibraryError = oneLine(a.map((x) => (x instanceof Error ? describe(x) : String(x))).join(' '));
    if (opts.verbose) innerErr(...a);
  };
}
function onDebug(prefix, fn) {
  markers.push({ prefix, fn });
}
function signalReady() {
  if (opts['ready-file'] == null) return;
  try {
    writeFileSync(opts['ready-file'], `${command}\n`);
  } catch (e) {
    die(EXIT_FAIL, `cannot write --ready-file: ${e.message}`);
  }
}

const Moq = await loadMoq();

// ------------------------------------------------------------------ connect
stage = 'quic handshake';
const connectTimer = setTimeout(() => {
  die(EXIT_TIMEOUT, `connect timeout after ${connectTimeoutMs} ms (stage: ${stage})` +
    (lastLibraryError ? `; last library error: ${lastLibraryError}` : ''));
}, connectTimeoutMs);
try {
  session = await connectQuic({
    host: opts.host,
    port,
    ca: opts.ca,
    serverName: opts['server-name'],
    alpns,
    timeoutMs: connectTimeoutMs,
    logSink: (lvl, text) => {
      if (text.includes('Error')) lastLibraryError = oneLine(text);
      if (opts.verbose) process.stderr.write(`[quic ${lvl}] ${text}\n`);
    },
  });
} catch (e) {
  die(EXIT_FAIL, `QUIC connect to ${opts.host}:${port} offering [${alpns.join(',')}] failed: ${describe(e)}`);
}

stage = `moq connect (alpn ${session.alpn})`;
const url = new URL(`https://${opts['server-name']}:${port}/`);
let conn;
try {
  conn = await Moq.Connection.connect(url, { transport: session });
} catch (e) {
  die(EXIT_FAIL, `@moq/lite connect over ${session.alpn} failed: ${describe(e)}`);
}
clearTimeout(connectTimer);
process.stderr.write(`lite-client: connected alpn=${session.alpn} version=${conn.version}\n`);

session.closed.then((info) => {
  if (!finished) {
    die(EXIT_FAIL, `session closed (stage: ${stage}): code ${info?.closeCode ?? '?'}` +
      (info?.reason ? ` reason "${info.reason}"` : '') +
      (lastLibraryError ? `; last library error: ${lastLibraryError}` : ''));
  }
});

// ------------------------------------------------------------------ commands
function outFrame(frame) {
  const buf = Buffer.allocUnsafe(frame.byteLength + 1);
  buf.set(frame, 0);
  buf[frame.byteLength] = 0x0a;
  process.stdout.write(buf);
}

async function runPublish(broadcastName, trackName) {
  stage = 'publish';
  const path = Moq.Path.from(broadcastName);
  const broadcast = new Moq.Broadcast();
  onDebug(`announce: broadcast=${path} active=true`, () => signalReady());
  conn.publish(path, broadcast);

  const frames = [];
  const served = new Set();
  const push = (t, i) => {
    if (i % groupFrames === 0 || t.group == null) {
      t.group?.close();
      t.group = t.track.appendGroup();
    }
    t.group.writeFrame(frames[i]);
  };
  const addFrame = (f) => {
    frames.push(f);
    for (const t of served) push(t, frames.length - 1);
  };

  (async () => {
    for (;;) {
      const req = await broadcast.requested();
      if (!req) break;
      if (req.track.name !== trackName) {
        req.track.close(new Error(`unknown track ${req.track.name}`));
        continue;
      }
      const t = { track: req.track, group: undefined };
      for (let i = 0; i < frames.length; i++) push(t, i);
      served.add(t);
      req.track.closed.then(() => served.delete(t));
    }
  })().catch((e) => die(EXIT_FAIL, `publish: ${describe(e)}`));

  if (nFrames != null) {
    for (let i = 0; i < nFrames; i++) addFrame(new TextEncoder().encode(`frame-${i}`));
  }
  // Standard input: lines are frames (unless --frames), EOF ends the run.
  await new Promise((resolve, reject) => {
    let pending = Buffer.alloc(0);
    process.stdin.on('data', (chunk) => {
      if (nFrames != null) return;
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let nl;
      while ((nl = pending.indexOf(0x0a)) >= 0) {
        addFrame(new Uint8Array(pending.subarray(0, nl)));
        pending = pending.subarray(nl + 1);
      }
    });
    process.stdin.on('end', () => {
      if (nFrames == null && pending.length > 0) addFrame(new Uint8Array(pending));
      resolve();
    });
    process.stdin.on('error', reject);
  });

  stage = 'publish: ending';
  for (const t of served) {
    t.group?.close();
    t.track.close();
  }
  broadcast.close();
  await new Promise((r) => setTimeout(r, lingerMs));
  await finish();
}

async function waitAnnounced(path) {
  stage = `waiting for the announcement of ${path}`;
  const ann = conn.announced(Moq.Path.empty());
  for (;;) {
    const a = await ann.next();
    if (!a) throw new Error(`announcements ended before ${path} appeared`);
    if (a.path === path && a.active) {
      ann.close();
      return;
    }
  }
}

async function runSubscribe(broadcastName, trackName) {
  const path = Moq.Path.from(broadcastName);
  if (!opts['no-wait-announce']) await waitAnnounced(path);
  stage = `subscribe ${path} ${trackName}`;
  onDebug('subscribe ok:', () => signalReady());
  const track = conn.consume(path).subscribe(trackName, 0);
  let got = 0;
  const readers = new Set();
  const done = () => count != null && got >= count;
  const readGroup = async (group) => {
    for (;;) {
      const frame = await group.readFrame();
      if (frame === undefined || finished) return;
      if (done()) return;
      outFrame(frame);
      got++;
      if (done()) {
        await finish();
        return;
      }
    }
  };
  for (;;) {
    const group = await track.recvGroup();
    if (!group) break;
    const r = readGroup(group).catch((e) => die(EXIT_FAIL, `group ${group.sequence}: ${describe(e)}`));
    readers.add(r);
    r.finally(() => readers.delete(r));
  }
  await Promise.all([...readers]);
  if (count != null && !done()) throw new Error(`track ended after ${got} of ${count} frames`);
  await finish();
}

async function runAnnounced(prefix) {
  stage = 'announced';
  const ann = conn.announced(Moq.Path.from(prefix ?? ''));
  let lines = 0;
  for (;;) {
    const a = await ann.next();
    if (!a) break;
    process.stdout.write(`${a.active ? '+' : '-'}${a.path}\n`);
    lines++;
    if (count != null && lines >= count) return finish();
  }
  if (count != null) throw new Error(`announcements ended after ${lines} of ${count} lines`);
  await finish();
}

try {
  if (command === 'publish') await runPublish(args[0], args[1]);
  else if (command === 'subscribe') await runSubscribe(args[0], args[1]);
  else await runAnnounced(args[0]);
} catch (e) {
  die(EXIT_FAIL, `${command} (stage: ${stage}): ${describe(e)}` +
    (lastLibraryError ? `; last library error: ${lastLibraryError}` : ''));
}
clearTimeout(hardTimer);
