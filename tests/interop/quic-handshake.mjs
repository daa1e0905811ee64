#!/usr/bin/env node
// quic-handshake.mjs — third-party QUIC handshake probe for moq-relay.
//
// Uses @matrixai/quic (a prebuilt quiche + BoringSSL stack shipped inside the
// npm package) to open one QUIC client connection, waits for the handshake,
// prints the negotiated ALPN and closes with APPLICATION close code 0.
//
// Usage:
//   node quic-handshake.mjs --host 127.0.0.1 --port P --alpn moql[,moq-lite-04,...]
//        [--ca FILE.pem | --insecure] [--server-name NAME] [--expect-alpn NAME]
//        [--timeout-ms 5000] [--verbose]
//
// Output: exactly one line `alpn=<negotiated>` on stdout on success.
// Exit status:
//   0  handshake completed (and ALPN matched --expect-alpn, if given)
//   1  handshake failed (TLS/QUIC error, peer closed, no ALPN overlap, ...)
//   2  usage error
//   3  handshake completed but negotiated ALPN != --expect-alpn
//   4  timeout (the whole process is bounded; it never hangs)
// On failure one line `quic-handshake: <reason>` goes to stderr.
//
// Timing: when the peer (or our TLS verification) aborts the handshake, the
// library only reports it after the QUIC closing/draining period (3 PTO; about
// 3 s before an RTT estimate exists), so allow --timeout-ms >= 5000 when a
// handshake failure (exit 1) rather than a timeout (exit 4) is expected.
//
// Certificate verification: by default the server certificate is verified by
// BoringSSL (inside quiche) against the CA file given with --ca (or the system
// store without --ca), including the host name: the name checked (and sent as
// SNI) is --server-name, defaulting to --host. A certificate with only an IP
// SAN is not matched by an IP --host; pass --server-name localhost for the
// usual self-signed test certificates. --insecure disables verification.

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { webcrypto } from 'node:crypto';

const EXIT_FAIL = 1;
const EXIT_USAGE = 2;
const EXIT_ALPN = 3;
const EXIT_TIMEOUT = 4;

let finished = false;
// The last error the library logged (see makeLogger), for timeout messages.
let lastLibraryError = '';
function die(code, reason) {
  if (finished) return;
  finished = true;
  process.stderr.write(`quic-handshake: ${String(reason).replace(/\s+/g, ' ').trim()}\n`);
  process.exit(code);
}

const USAGE =
  'usage: quic-handshake.mjs --host H --port P --alpn A[,B...] [--ca FILE.pem | --insecure] ' +
  '[--server-name NAME] [--expect-alpn NAME] [--timeout-ms MS] [--verbose]';

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      alpn: { type: 'string' },
      ca: { type: 'string' },
      insecure: { type: 'boolean', default: false },
      'server-name': { type: 'string' },
      'expect-alpn': { type: 'string' },
      'timeout-ms': { type: 'string', default: '5000' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  die(EXIT_USAGE, `${e.message}; ${USAGE}`);
}
if (opts.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}

const port = Number(opts.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) die(EXIT_USAGE, `bad or missing --port; ${USAGE}`);
const alpns = (opts.alpn ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
if (alpns.length === 0) die(EXIT_USAGE, `missing --alpn; ${USAGE}`);
for (const a of alpns) {
  if (Buffer.byteLength(a) > 255) die(EXIT_USAGE, `ALPN too long: ${a}`);
}
const timeoutMs = Number(opts['timeout-ms']);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) die(EXIT_USAGE, 'bad --timeout-ms');
if (opts.insecure && opts.ca != null) die(EXIT_USAGE, '--ca and --insecure are mutually exclusive');

let caPem;
if (opts.ca != null) {
  try {
    caPem = readFileSync(opts.ca, 'utf8');
  } catch (e) {
    die(EXIT_USAGE, `cannot read --ca ${opts.ca}: ${e.message}`);
  }
  if (!caPem.includes('-----BEGIN CERTIFICATE-----')) die(EXIT_USAGE, `--ca ${opts.ca} holds no PEM certificate`);
}

// Hard deadline: whatever the library does (handshake retries, draining on
// close), the process ends. The library gets `timeoutMs` for the handshake;
// the closing phase gets a little grace on top.
const HARD_GRACE_MS = 1500;
const hardTimer = setTimeout(() => {
  die(EXIT_TIMEOUT, `timeout: no completed handshake+close within ${timeoutMs} ms (+${HARD_GRACE_MS} ms grace) ` +
    `to ${opts.host}:${port}${lastLibraryError ? ` (last library error: ${lastLibraryError})` : ''}`);
}, timeoutMs + HARD_GRACE_MS);

process.on('uncaughtException', (e) => die(EXIT_FAIL, `uncaught: ${e?.name ?? ''} ${e?.message ?? e}`));
process.on('unhandledRejection', (e) => die(EXIT_FAIL, `unhandled rejection: ${e?.name ?? ''} ${e?.message ?? e}`));

// The library logs every state change at INFO through @matrixai/logger's
// default console handler; give it a duck-typed logger instead (it only uses
// getChild/debug/info/warn/error), verbose → stderr.
function makeLogger(prefix) {
  const out = (lvl) => (msg) => {
    const text = String(msg);
    if (text.startsWith('Error')) lastLibraryError = text;
    if (opts.verbose) process.stderr.write(`[${lvl}] ${prefix}: ${text}\n`);
  };
  return {
    getChild: (key) => makeLogger(`${prefix}.${key}`),
    debug: out('debug'),
    info: out('info'),
    warn: out('warn'),
    error: out('error'),
  };
}

// TLS alert names for CRYPTO_ERROR codes 0x100 + alert (RFC 9001 §4.8).
const TLS_ALERTS = {
  10: 'unexpected_message', 20: 'bad_record_mac', 40: 'handshake_failure', 42: 'bad_certificate',
  43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired',
  46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied',
  50: 'decode_error', 51: 'decrypt_error', 70: 'protocol_version', 71: 'insufficient_security',
  80: 'internal_error', 90: 'user_canceled', 109: 'missing_extension', 110: 'unsupported_extension',
  112: 'unrecognized_name', 116: 'certificate_required', 120: 'no_application_protocol',
};

function describeConnError(data) {
  if (data == null || typeof data !== 'object' || !('errorCode' in data)) return '';
  const code = Number(data.errorCode);
  let s = `${data.isApp ? 'application' : 'transport'} code 0x${code.toString(16)}`;
  if (!data.isApp && code >= 0x100 && code <= 0x1ff) {
    const alert = code - 0x100;
    s += ` (TLS alert ${alert}${TLS_ALERTS[alert] ? ' ' + TLS_ALERTS[alert] : ''})`;
  }
  if (data.reason != null && data.reason.length > 0) {
    s += ` reason "${Buffer.from(data.reason).toString('utf8')}"`;
  }
  return s;
}

function describeError(e) {
  const parts = [];
  for (let cur = e, depth = 0; cur != null && depth < 4; cur = cur.cause, depth++) {
    let p = `${cur.name ?? 'Error'}: ${cur.message ?? String(cur)}`;
    const d = describeConnError(cur.data);
    if (d) p += ` [${d}]`;
    parts.push(p);
  }
  return parts.join(' <- ');
}

// Client crypto callbacks: the client only needs random bytes (for its SCID).
const crypto = {
  ops: {
    async randomBytes(data) {
      // getRandomValues is limited to 65536 bytes per call.
      const view = new Uint8Array(data);
      for (let off = 0; off < view.length; off += 65536) {
        webcrypto.getRandomValues(view.subarray(off, Math.min(off + 65536, view.length)));
      }
    },
  },
};

const { QUICClient } = await import('@matrixai/quic');

const family = isIP(opts.host);
const serverName = opts['server-name'] ?? opts.host;

let client;
try {
  client = await QUICClient.createQUICClient(
    {
      host: opts.host,
      port,
      serverName,
      // Bind the same family as the target (the default `::` dual-stack socket
      // would map IPv4 targets to ::ffff:a.b.c.d).
      localHost: family === 4 ? '0.0.0.0' : '::',
      localPort: 0,
      crypto,
      config: {
        applicationProtos: alpns,
        verifyPeer: !opts.insecure,
        ...(caPem != null ? { ca: caPem } : {}),
        // quiche idle timeout: also bounds how long Initials are retransmitted
        // to a silent peer.
        maxIdleTimeout: timeoutMs,
        // no 0-RTT: this is a plain full handshake probe
        enableEarlyData: false,
      },
      logger: makeLogger('quic'),
    },
    { timer: timeoutMs },
  );
} catch (e) {
  const name = e?.name ?? '';
  if (/Timeout/.test(name) || /Timeout/.test(e?.cause?.name ?? '')) {
    die(EXIT_TIMEOUT, `timeout: handshake with ${opts.host}:${port} not completed within ${timeoutMs} ms ` +
      `(${describeError(e)}${lastLibraryError ? `; last library error: ${lastLibraryError}` : ''})`);
  }
  die(EXIT_FAIL, `handshake failed with ${opts.host}:${port} offering [${alpns.join(',')}]: ${describeError(e)}`);
}

// The negotiated ALPN is not part of QUICConnection's public TypeScript API;
// the underlying quiche connection (`conn`, a protected field) exposes
// applicationProto() -> Uint8Array (empty when none was negotiated).
let negotiated = '';
try {
  const proto = client.connection.conn.applicationProto();
  negotiated = Buffer.from(proto).toString('utf8');
} catch (e) {
  await client.destroy({ isApp: true, errorCode: 0, force: true }).catch(() => {});
  die(EXIT_FAIL, `cannot read negotiated ALPN: ${e.message}`);
}

// Close cleanly: CONNECTION_CLOSE (application) with code 0, then wait for the
// closing period to end (bounded by the hard timer).
try {
  await client.destroy({ isApp: true, errorCode: 0, reason: new Uint8Array(), force: true });
} catch (e) {
  die(EXIT_FAIL, `close failed: ${describeError(e)}`);
}

if (negotiated === '') die(EXIT_FAIL, 'handshake completed but no ALPN was negotiated');
if (!alpns.includes(negotiated)) die(EXIT_FAIL, `server selected ALPN "${negotiated}" which was not offered`);

process.stdout.write(`alpn=${negotiated}\n`);
if (opts['expect-alpn'] != null && negotiated !== opts['expect-alpn']) {
  die(EXIT_ALPN, `negotiated ALPN "${negotiated}" != expected "${opts['expect-alpn']}"`);
}
clearTimeout(hardTimer);
finished = true;
process.exit(0);
