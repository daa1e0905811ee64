#!/bin/sh
# lite-wt.sh — interop, tier B: the published @moq/lite 0.2.2 client in headless Chromium against
# moq-relay over WebTransport (HTTP/3 on the relay's QUIC port) and over WebSocket.
#
# tests/interop-wt/lite-wt.mjs serves a page from 127.0.0.1 that loads @moq/lite from node_modules
# through an import map, drives Debian's chromium with playwright-core, and connects with
# serverCertificateHashes pinning the relay's fresh certificate (--tls-generate: ECDSA P-256, 14
# days; the hash comes from http://.../certificate.sha256). Checks: connect and the protocol the
# relay chooses (moq-lite-04; moq-lite-03 and moql then setup when the page offers only those — the
# page's webtransport.protocols is the test-only way to steer the relay's choice; none offered),
# announce, byte-exact pub/sub with frames over 16 KiB for each protocol, mixed transports (browser
# publisher -> moq-cli raw-QUIC subscriber and back, moq-cli over WebTransport -> browser), and the
# ?jwt= query reaching admission. A second page without WebTransport (deleted before the library
# loads, as Safari and Firefox are treated) connects over WebSocket to the HTTP listener (qmux-00):
# byte-exact pub/sub over WebSocket, WebSocket <-> WebTransport browsers both ways, and WebSocket
# browser <-> moq-cli over raw QUIC both ways.
#
# Chromium comes from Debian: when /usr/bin/chromium is missing the script installs it
# (apt-get install -y chromium, as root); where that is impossible the test is skipped with a loud
# message (exit 77; MOQ_INTEROP_REQUIRED=1 makes it a failure). playwright-core never downloads a
# browser here (no `npx playwright install`).
#
# npm dependencies come from the committed lockfile tests/interop-wt/package-lock.json, installed with
# `npm ci` by tests/interop/npm-deps.sh into a cache outside the source tree and reused while the
# lockfile is unchanged:
#   ${MOQ_NPM_CACHE:-$HOME/.cache/moq-relay/npm}/interop-<sha256 of package-lock.json>/
#
# Environment: MOQ_NPM_CACHE, MOQ_INTEROP_REQUIRED=1, MOQ_INTEROP_TIMEOUT_MS (default 5000),
# MOQ_LITE_WT_ONLY (a regular expression: run only the matching checks), CHROMIUM (the browser binary).
# Run by `make check`; exit 0 pass, 77 skip, 99 hard error, else fail.

set -u

here_rel=$(dirname "$0")
here=$(cd "$here_rel" && pwd) || exit 99
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

npmdir="$top_srcdir/tests/interop-wt"

log() { printf '%s\n' "lite-wt: $*"; }

skip() {
    printf '%s\n' \
        "########################################################################" \
        "# SKIP lite-wt: $*" \
        "# The @moq/lite WebTransport interop test (headless Chromium) did NOT run." \
        "########################################################################" >&2
    if [ "${MOQ_INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "lite-wt: MOQ_INTEROP_REQUIRED=1, treating the skip as a failure" >&2
        exit 1
    fi
    exit 77
}

hard_error() {
    printf '%s\n' "ERROR lite-wt: $*" >&2
    exit 99
}

# ---------------------------------------------------------------- prerequisites
srcdir_interop=$npmdir
. "$top_srcdir/tests/interop/npm-deps.sh"
interop_need_node
command -v curl >/dev/null 2>&1 || skip "curl not found in PATH"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's chromium (apt-get install -y chromium)"
        if ! (apt-get install -y -qq chromium >/dev/null 2>&1 ||
              { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }); then
            skip "chromium is not installed and apt-get install chromium failed"
        fi
    fi
    [ -x "$CHROMIUM" ] || skip "$CHROMIUM not found and it cannot be installed here (need root and apt-get)"
fi
export CHROMIUM

for f in package.json package-lock.json lite-wt.mjs page.html page.js; do
    [ -f "$npmdir/$f" ] || hard_error "missing $npmdir/$f"
done

# ---------------------------------------------------------------- npm deps (cached)
interop_npm_deps

# The driver and the page run from a per-run directory beside node_modules (ESM resolves bare
# imports from the importing file's directory upwards; the page server serves node_modules from it).
interop_stage lite-wt.mjs page.html page.js
ln -s ../node_modules "$rundir/node_modules" || hard_error "cannot link node_modules into $rundir"

# ---------------------------------------------------------------- relay
. "$top_srcdir/tests/integration/lib.sh"
cleanup() {
    rm -rf "$rundir"
    relay_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Generous patience: a loaded machine (the sanitizer run) must not make the relay shed the
# 100 KB frames these checks compare byte for byte.
relay_start --tls-generate localhost,127.0.0.1 --limit-subscriber-patience 15s --limit-subscriber-queue 64MiB
fp=$(curl -sS --max-time 5 "http://127.0.0.1:$RELAY_HTTP_PORT/certificate.sha256") || fail "cannot fetch /certificate.sha256"
[ "$fp" = "$RELAY_FINGERPRINT" ] || fail "/certificate.sha256 ($fp) differs from the logged fingerprint ($RELAY_FINGERPRINT)"
log "relay pid $RELAY_PID: quic 127.0.0.1:$RELAY_PORT, certificate sha-256 $fp"

export RELAY_PORT RELAY_HTTP_PORT RELAY_FINGERPRINT RELAY_LOG
MOQ_CLI="$top_builddir/moq-cli"
export MOQ_CLI
out="$TEST_TMP/lite-wt.out"
(cd "$rundir" && exec timeout 150 node lite-wt.mjs checks) >"$out" 2>"$TEST_TMP/lite-wt.err"
rc=$?
sed 's/^/  /' "$out"
if [ "$rc" -ne 0 ]; then
    sed 's/^/  stderr: /' "$TEST_TMP/lite-wt.err" | tail -n 20
    [ "$rc" -eq 124 ] && fail "the browser checks hung (killed after 150 s)"
    fail "the browser checks failed (exit $rc)"
fi
kill -0 "$RELAY_PID" 2>/dev/null || fail "the relay is gone after the browser checks"
ok "@moq/lite 0.2.2 in Chromium over WebTransport and over WebSocket: every check passed"
# a clean exit after the browser sessions (and, in sanitizer builds, no leak or memory error)
relay_stop
src=$?
[ "$src" -eq 0 ] || fail "the relay exited with status $src after the browser sessions"
grep -q 'event=exit clean=1' "$RELAY_LOG" || fail "the relay did not exit cleanly"
ok "the relay exits cleanly after the browser sessions"
exit 0
