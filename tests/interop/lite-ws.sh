#!/bin/sh
# lite-ws.sh — interop, tier A: the published @moq/lite 0.2.2 and @moq/net 0.3.4 clients in Node 20
# against moq-relay over the WebSocket fallback (Node has no WebTransport, so the clients go straight
# to WebSocket).
#
# tests/interop-ws/lite-ws.mjs runs the @moq/lite checks (connect and version, announce, byte-exact
# pub/sub JS -> JS with frames up to 100 KB, fan-out to 3 subscribers, late join, a stalled subscriber
# losing old groups while a healthy one gets 23 MB, unknown broadcast, JS <-> moq-cli over raw QUIC,
# unannounce when the publisher process dies, ?jwt= refused without a key, malformed frames closing
# only their own session) twice: as the client comes (it offers qmux-00 first: QMux draft-00, legacy
# setup) and forced onto the simple "webtransport" framing. tests/interop-ws/net-ws.mjs runs @moq/net,
# which offers qmux-0N.<alpn> (QMux draft-01 and moq-lite-05 by default, then forced subprotocols),
# mixed with @moq/lite and moq-cli. This script adds the HTTP side (refused handshakes) and a
# shutdown with a WebSocket session open.
#
# Run by `make check`: top_builddir/top_srcdir come from AM_TESTS_ENVIRONMENT. Exit 0 pass, 77 skip,
# 99 hard error, else fail.
#
# npm dependencies come from the committed lockfile tests/interop-ws/package-lock.json, installed with
# `npm ci` by tests/interop/npm-deps.sh into a cache outside the source tree and reused while the
# lockfile is unchanged:
#   ${MOQ_NPM_CACHE:-$HOME/.cache/moq-relay/npm}/interop-<sha256 of package-lock.json>/
#
# Environment:
#   MOQ_NPM_CACHE           cache root (see above)
#   MOQ_INTEROP_REQUIRED=1  turn "node/npm missing" and "npm ci failed" skips into failures
#   MOQ_INTEROP_TIMEOUT_MS  per connect / per wait in the Node checks (default 5000)
#   MOQ_LITE_WS_ONLY        a regular expression: run only the Node checks whose name matches

set -u

here_rel=$(dirname "$0")
here=$(cd "$here_rel" && pwd) || exit 99
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

npmdir="$top_srcdir/tests/interop-ws"

log() { printf '%s\n' "lite-ws: $*"; }

skip() {
    printf '%s\n' \
        "########################################################################" \
        "# SKIP lite-ws: $*" \
        "# The @moq/lite WebSocket interop test did NOT run." \
        "########################################################################" >&2
    if [ "${MOQ_INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "lite-ws: MOQ_INTEROP_REQUIRED=1, treating the skip as a failure" >&2
        exit 1
    fi
    exit 77
}

hard_error() {
    printf '%s\n' "ERROR lite-ws: $*" >&2
    exit 99
}

# ---------------------------------------------------------------- prerequisites and npm deps
srcdir_interop=$npmdir
. "$top_srcdir/tests/interop/npm-deps.sh"
interop_need_node
# Node 20 has a WebSocket client behind a flag (22 has it on by default and rejects nothing).
node --experimental-websocket -e 'if (typeof WebSocket !== "function") process.exit(1)' >/dev/null 2>&1 \
    || skip "node $(node --version) has no WebSocket client (need >= 20.10 with --experimental-websocket)"
command -v curl >/dev/null 2>&1 || skip "curl not found in PATH"
interop_npm_deps
# ESM ignores NODE_PATH: bare imports resolve from the importing file's directory upwards, so the
# scripts run from a per-run copy beside node_modules.
interop_stage harness.mjs lite-ws.mjs net-ws.mjs
script="$rundir/lite-ws.mjs"

# ---------------------------------------------------------------- relay
. "$top_srcdir/tests/integration/lib.sh"
HOLD_PID=
cleanup() {
    [ -n "$HOLD_PID" ] && kill -KILL "$HOLD_PID" 2>/dev/null
    interop_unstage
    relay_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A subscriber that falls behind by 16 MiB loses old groups: the stalled-reader check overflows that,
# the healthy reader (paced at 5 MB/s) never comes near it even on a loaded machine. The patience
# (2 s by default) is 10 s here: in one make -j2 distcheck the healthy Node reader, on a machine busy
# with another test, left 197 KB of a group unread for 2.4 s, and lost that group. The stalled
# reader's groups still go, by the queue limit (it is sent 31 MiB); slow-subscriber.sh checks the
# patience itself.
relay_ws_args="--limit-subscriber-queue 16MiB --limit-subscriber-patience 10s"
# shellcheck disable=SC2086
relay_start $relay_ws_args
[ -n "${RELAY_HTTP_PORT:-}" ] || fail "relay_start did not set RELAY_HTTP_PORT"
log "relay pid $RELAY_PID: quic 127.0.0.1:$RELAY_PORT, http 127.0.0.1:$RELAY_HTTP_PORT"

# --- refused handshakes say why (only subprotocols we do not speak: 400; another WebSocket version: 426)
ws_get() { # ws_get VERSION [PROTOCOL]: status line and body of a WebSocket handshake to /anon
    curl -sS --max-time 5 -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
        -H "Sec-WebSocket-Version: $1" -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
        ${2:+-H "Sec-WebSocket-Protocol: $2"} "http://127.0.0.1:$RELAY_HTTP_PORT/anon"
}
r=$(ws_get 13 'qmux-02, webtransport.moq-lite-04, qmux-00.moq-lite-99') || fail "curl failed"
printf '%s\n' "$r" | head -n 1 | grep -q '^HTTP/1.1 400 ' || fail "unknown subprotocols: expected 400, got: $(printf '%s' "$r" | head -n 1)"
printf '%s\n' "$r" | grep -q 'offer qmux-01.<moq alpn>' || fail "unknown subprotocols: the body does not say what to offer: $r"
r=$(ws_get 8 webtransport) || fail "curl failed"
printf '%s\n' "$r" | head -n 1 | grep -q '^HTTP/1.1 426 ' || fail "version 8: expected 426"
printf '%s\n' "$r" | grep -qi '^Sec-WebSocket-Version: 13' || fail "426 without Sec-WebSocket-Version: 13"
r=$(curl -sS --max-time 5 -i "http://127.0.0.1:$RELAY_HTTP_PORT/health") || fail "curl failed"
printf '%s\n' "$r" | grep -q '^ok' || fail "the HTTP endpoints stopped answering after refused handshakes"
[ "$(log_count 'event=ws_refused')" -ge 2 ] || fail "refused handshakes were not logged"
ok "refused handshakes: 400 for unknown subprotocols, 426 for another version, each logged"

# --- the Node checks
export RELAY_HTTP_PORT RELAY_PORT RELAY_CA RELAY_LOG
MOQ_CLI="$top_builddir/moq-cli"
export MOQ_CLI
# Twice: as the client comes (it offers qmux-00 then webtransport: the relay chooses QMux draft-00),
# and forced onto the simple "webtransport" framing.
# The checks read the relay log, so each run has a relay of its own.
for sub in qmux-00 webtransport; do
    out="$TEST_TMP/lite-ws.$sub.out"
    force=
    if [ "$sub" = webtransport ]; then
        force=webtransport
        relay_stop || fail "relay exit status $?"
        # shellcheck disable=SC2086
        relay_start $relay_ws_args
        export RELAY_HTTP_PORT RELAY_PORT RELAY_CA RELAY_LOG
    fi
    (cd "$rundir" && MOQ_LITE_WS_SUBPROTOCOL=$force MOQ_LITE_WS_EXPECT=$sub exec timeout 240 node --experimental-websocket "$script" checks) \
        >"$out" 2>"$TEST_TMP/lite-ws.$sub.err"
    rc=$?
    sed "s/^/  [$sub] /" "$out"
    if [ "$rc" -ne 0 ]; then
        sed 's/^/  stderr: /' "$TEST_TMP/lite-ws.$sub.err" | tail -n 20
        [ "$rc" -eq 124 ] && fail "the Node checks over $sub hung (killed after 240 s)"
        fail "the Node checks over $sub failed (exit $rc)"
    fi
    kill -0 "$RELAY_PID" 2>/dev/null || fail "the relay is gone after the Node checks over $sub"
    ok "@moq/lite 0.2.2 over WebSocket, subprotocol $sub: every check passed"
done

# @moq/net 0.3.4 offers qmux-0N.<alpn>: QMux draft-01 records and moq-lite-05 by default, then each
# subprotocol forced in turn; mixed with @moq/lite 0.2.2 and moq-cli.
relay_stop || fail "relay exit status $?"
relay_start --limit-subscriber-queue 16MiB
export RELAY_HTTP_PORT RELAY_PORT RELAY_CA RELAY_LOG
(cd "$rundir" && exec timeout 240 node --experimental-websocket "$rundir/net-ws.mjs" checks) \
    >"$TEST_TMP/net-ws.out" 2>"$TEST_TMP/net-ws.err"
rc=$?
sed "s/^/  [@moq\/net] /" "$TEST_TMP/net-ws.out"
if [ "$rc" -ne 0 ]; then
    sed 's/^/  stderr: /' "$TEST_TMP/net-ws.err" | tail -n 20
    [ "$rc" -eq 124 ] && fail "the @moq/net checks hung (killed after 240 s)"
    fail "the @moq/net checks failed (exit $rc)"
fi
kill -0 "$RELAY_PID" 2>/dev/null || fail "the relay is gone after the @moq/net checks"
ok "@moq/net 0.3.4 over WebSocket (qmux-01.moq-lite-05 and forced subprotocols): every check passed"

# --- shutdown with a WebSocket session open: the relay closes it and exits cleanly
(cd "$rundir" && exec node --experimental-websocket "$script" hold /anon held) >"$TEST_TMP/hold.out" 2>&1 &
HOLD_PID=$!
wait_for_line "$TEST_TMP/hold.out" ready 30 ||
    fail "the holding client did not connect in 30 s: $(cat "$TEST_TMP/hold.out")"
wait_log_count 'event=broadcast_start path=anon/held' 1 20 || fail "the holding client did not publish"
relay_stop
src=$?
[ "$src" -eq 0 ] || fail "the relay exited with status $src at shutdown"
grep -q 'event=shutdown .*websocket=1' "$RELAY_LOG" || fail "the shutdown did not count the WebSocket session"
grep -q 'event=exit clean=1' "$RELAY_LOG" || fail "the relay did not exit cleanly with a WebSocket session open"
ok "shutdown closes an open WebSocket session and exits cleanly"

# --- policy over WebSocket: a Lua script and a JWT key decide WebSocket sessions as they do QUIC ones
cat >"$TEST_TMP/ws-policy.lua" <<'LUA'
function on_session(req)
  if req.transport ~= "websocket" then return nil end
  if req.query.key == "letmein" then return { publish = { "" }, subscribe = { "" } } end
  if req.jwt then return nil end -- the token decides
  return false, "websocket sessions need the key"
end
LUA
"$top_builddir/moq-token" generate --algorithm EdDSA --out "$TEST_TMP/k.jwk" --public "$TEST_TMP/k.pub.jwk" ||
    fail "moq-token generate"
tok=$("$top_builddir/moq-token" sign --key "$TEST_TMP/k.jwk" --root demo --publish "" --subscribe "")
relay_start --lua "$TEST_TMP/ws-policy.lua" --auth-key "$TEST_TMP/k.pub.jwk"
export RELAY_HTTP_PORT RELAY_PORT RELAY_CA RELAY_LOG
hold_session() { # NAME PATH BROADCAST
    (cd "$rundir" && exec timeout 60 node --experimental-websocket "$script" hold "$2" "$3") >"$TEST_TMP/$1.out" 2>&1 &
    eval "$1_pid=\$!"
}
hold_session lua_ok "/room?key=letmein" cam
wait_log_count 'event=broadcast_start path=room/cam' 1 20 || fail "a WebSocket session admitted by Lua could not publish"
grep -q 'event=session_accepted .*root=room .*by=lua' "$RELAY_LOG" || fail "the Lua admission was not logged"
ok "a Lua script admits a WebSocket session with its own grants (req.transport, req.query)"
hold_session lua_no "/room?key=wrong" nope
wait_log_count 'event=session_refused .*reason="websocket sessions need the key" plugin=lua' 1 20 ||
    fail "the Lua refusal of a WebSocket session was not applied"
kill "$lua_no_pid" 2>/dev/null
ok "a Lua script refuses a WebSocket session with its reason"
hold_session jwt_ok "/demo?jwt=$tok" cam
wait_log_count 'event=broadcast_start path=demo/cam' 1 20 || fail "a WebSocket session with a valid token could not publish"
grep -q 'event=session_accepted .*root=demo .*by=token' "$RELAY_LOG" || fail "the token admission was not logged"
ok "a token in the WebSocket URL is verified and scoped (EdDSA)"
kill "$lua_ok_pid" "$jwt_ok_pid" 2>/dev/null
relay_stop || fail "relay exit status $?"
exit 0
