#!/bin/sh
# lite-quic.sh — interop "Tier C": the published @moq/lite 0.2.2 client over RAW QUIC.
#
# @moq/lite is a browser library (WebTransport/WebSocket). Here it runs in Node
# on @matrixai/quic 2.0.9 (prebuilt quiche + BoringSSL from npm) through
# tests/interop/lite-quic-adapter.mjs, which hands it a WebTransport-shaped
# session via `Moq.Connection.connect(url, { transport })`; the library picks
# its version from the negotiated ALPN (session.protocol).
# tests/interop/lite-client.mjs is the CLI (publish / subscribe / announced).
#
# For each ALPN moql (setup exchange -> moq-lite-02), moq-lite-03 and
# moq-lite-04, against one relay:
#   js->cli   @moq/lite publisher -> moq-cli subscriber, one group, byte for byte
#   cli->js   moq-cli publisher -> @moq/lite subscriber, groups of 4 (the relay
#             may deliver the newest group first: frames compared sorted)
#   js->js    @moq/lite publisher -> @moq/lite subscriber, one group per frame, sorted
#   announce  @moq/lite `announced` sees a @moq/lite broadcast appear, and
#             disappear when its publisher exits
#   unknown   an @moq/lite subscription to a broadcast nobody publishes is
#             refused at once (stream reset), not left hanging
# and the relay stays up throughout and exits 0 on SIGTERM at the end.
# The frames cover a NUL byte, CR, bytes >= 0x80, an empty frame, UTF-8 and
# a 20000-byte frame (several QUIC packets, several 4 KiB reads).
#
# Run by `make check` (automake parallel harness): top_builddir/top_srcdir come
# from AM_TESTS_ENVIRONMENT. Exit 0 pass, 77 skip, 99 hard error, else fail.
# npm dependencies: tests/interop/npm-deps.sh (cached `npm ci` from the
# committed lockfile; read its lockfile note before regenerating it).
#
# Environment:
#   MOQ_NPM_CACHE           cache root (see npm-deps.sh)
#   MOQ_INTEROP_REQUIRED=1  turn "node/npm missing" and "npm ci failed" skips into failures
#   MOQ_INTEROP_ALPNS       the ALPNs to run (default "moql moq-lite-03 moq-lite-04")
#   MOQ_INTEROP_VERBOSE=1   library and QUIC logs of the Node clients into their .err files

set -u

here_rel=$(dirname "$0")
here=$(cd "$here_rel" && pwd) || exit 99
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
srcdir_interop="$top_srcdir/tests/interop"

log() { printf '%s\n' "lite-quic: $*"; }

skip() {
    printf '%s\n' \
        "########################################################################" \
        "# SKIP lite-quic: $*" \
        "# The @moq/lite raw-QUIC interop test did NOT run." \
        "########################################################################" >&2
    if [ "${MOQ_INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "lite-quic: MOQ_INTEROP_REQUIRED=1, treating the skip as a failure" >&2
        exit 1
    fi
    exit 77
}

hard_error() {
    printf '%s\n' "ERROR lite-quic: $*" >&2
    exit 99
}

# ---------------------------------------------------------------- npm deps (cached)
[ -f "$srcdir_interop/npm-deps.sh" ] || hard_error "missing $srcdir_interop/npm-deps.sh"
# shellcheck source=npm-deps.sh
. "$srcdir_interop/npm-deps.sh"
interop_need_node
interop_npm_deps
interop_need_quiche
command -v timeout >/dev/null 2>&1 || skip "timeout(1) not found in PATH"
[ -x "$top_builddir/moq-relay" ] || hard_error "missing $top_builddir/moq-relay (build first)"
[ -x "$top_builddir/moq-cli" ] || hard_error "missing $top_builddir/moq-cli (build first)"

# ---------------------------------------------------------------- relay
lib="$top_srcdir/tests/integration/lib.sh"
[ -f "$lib" ] || hard_error "missing $lib"
# shellcheck source=../integration/lib.sh
. "$lib"

# lib.sh's fail, plus what the clients said.
fail() {
    printf '%s\n' "FAIL lite-quic: $*" >&2
    for _e in "$TEST_TMP"/*.err; do
        [ -s "$_e" ] || continue
        printf -- '--- %s ---\n' "$(basename "$_e")" >&2
        tail -n 15 "$_e" >&2
    done
    if [ -n "${RELAY_LOG:-}" ] && [ -f "$RELAY_LOG" ]; then
        printf -- '--- relay log (last 40 lines) ---\n' >&2
        tail -n 40 "$RELAY_LOG" >&2
    fi
    exit 1
}

bg_pids=""
# shellcheck disable=SC2317 # called from traps
cleanup() {
    for _p in $bg_pids; do kill "$_p" 2>/dev/null; done
    interop_unstage
    relay_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

interop_stage lite-client.mjs lite-quic-adapter.mjs
relay_start
log "relay pid $RELAY_PID on 127.0.0.1:$RELAY_PORT"

relay_alive() { kill -0 "$RELAY_PID" 2>/dev/null; }

verbose_arg=
[ "${MOQ_INTEROP_VERBOSE:-0}" = 1 ] && verbose_arg=--verbose

# lite ARGS...: the @moq/lite client (exec: $! is node's pid). Full certificate
# verification against the relay's test CA, host name localhost.
lite() {
    (cd "$rundir" && exec node lite-client.mjs --port "$RELAY_PORT" --ca "$RELAY_CA" \
        --server-name localhost --timeout-ms 15000 $verbose_arg "$@")
}

# wait_file FILE SECONDS
wait_file() {
    _n=0
    while [ ! -e "$1" ]; do
        [ "$_n" -ge $(($2 * 10)) ] && return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

# wait_grep PATTERN FILE SECONDS
wait_grep() {
    _n=0
    until grep -q -- "$1" "$2" 2>/dev/null; do
        [ "$_n" -ge $(($3 * 10)) ] && return 1
        sleep 0.1
        _n=$((_n + 1))
    done
}

# hold NAME: a FIFO $TEST_TMP/NAME.in kept open by a sleeping writer (HOLD_PID)
# until unhold; its reader sees end of input then.
hold() {
    HOLD_FIFO="$TEST_TMP/$1.in"
    rm -f "$HOLD_FIFO"
    mkfifo "$HOLD_FIFO" || hard_error "mkfifo failed"
}
hold_open() {
    sleep 100000 >"$HOLD_FIFO" &
    HOLD_PID=$!
    bg_pids="$bg_pids $HOLD_PID"
}
# feed_hold FILE: writes FILE into the held FIFO, giving up (instead of blocking for ever) when its
# reader has gone.
feed_hold() {
    timeout 30 sh -c 'cat "$1" >"$2"' feed "$1" "$HOLD_FIFO" || fail "nobody read the frames (the client exited early?)"
}
unhold() {
    kill "$HOLD_PID" 2>/dev/null
    wait "$HOLD_PID" 2>/dev/null
}

# The frames: one per line.
frames="$TEST_TMP/frames"
{
    printf 'frame 0 plain ascii\n'
    printf 'nul\000byte and cr\r\n'
    printf '\n' # an empty frame
    printf 'high bytes \200\201\376\377\n'
    printf 'utf-8 h\303\251llo w\303\266rld \342\234\223\n'
    head -c 15000 /dev/urandom | od -An -v -tx1 | tr -d ' \n' | head -c 20000
    printf '\n'
    i=6
    while [ $i -lt 13 ]; do
        printf 'frame %d %s\n' "$i" "$(date +%N)"
        i=$((i + 1))
    done
} >"$frames"
nframes=$(wc -l <"$frames" | tr -d ' ')
[ "$nframes" -eq 13 ] || hard_error "made $nframes frames, expected 13"
[ "$(awk 'length($0) == 20000' "$frames" | wc -l)" -eq 1 ] || hard_error "no 20000-byte frame"
LC_ALL=C sort "$frames" >"$frames.sorted"

sorted_same() { LC_ALL=C sort "$1" | cmp -s "$frames.sorted" -; }

# ---------------------------------------------------------------- checks
# js_to_cli ALPN: @moq/lite publishes one group, moq-cli subscribes.
js_to_cli() {
    _a=$1 _bc="lq/$1/js2cli" _t="$TEST_TMP/js2cli-$1"
    hold "js2cli-$_a"
    lite --alpn "$_a" --ready-file "$_t.ready" publish "$_bc" video --group-frames 1000 \
        <"$HOLD_FIFO" >"$_t.pub.out" 2>"$_t.pub.err" &
    _pub=$!
    bg_pids="$bg_pids $_pub"
    hold_open
    wait_file "$_t.ready" 10 || fail "$_a js->cli: the @moq/lite publisher did not announce $_bc"
    wait_log_count "event=announced .* path=$_bc\$" 1 5 || fail "$_a js->cli: the relay did not log the announcement"
    timeout 15 "$CLI_BIN" --tls-root "$RELAY_CA" --alpn "$_a" subscribe "$(relay_url)" "$_bc" video \
        --count "$nframes" >"$_t.sub.out" 2>"$_t.sub.err" &
    _sub=$!
    feed_hold "$frames"
    wait "$_sub" || fail "$_a js->cli: moq-cli subscriber failed (status $?)"
    cmp -s "$frames" "$_t.sub.out" || fail "$_a js->cli: moq-cli received different bytes ($(wc -c <"$_t.sub.out") of $(wc -c <"$frames"))"
    unhold
    wait "$_pub" || fail "$_a js->cli: @moq/lite publisher exit status $?"
    log "ok: $_a: @moq/lite publisher -> moq-cli subscriber, $nframes frames in one group, byte for byte"
}

# cli_to_js ALPN: moq-cli publishes groups of 4, @moq/lite subscribes.
cli_to_js() {
    _a=$1 _bc="lq/$1/cli2js" _t="$TEST_TMP/cli2js-$1"
    hold "cli2js-$_a"
    "$CLI_BIN" --tls-root "$RELAY_CA" --alpn "$_a" publish "$(relay_url)" "$_bc" audio --group-frames 4 \
        <"$HOLD_FIFO" >"$_t.pub.out" 2>"$_t.pub.err" &
    _pub=$!
    bg_pids="$bg_pids $_pub"
    hold_open
    wait_log_count "event=announced .* path=$_bc\$" 1 5 || fail "$_a cli->js: moq-cli did not announce $_bc"
    # The subscriber waits for the announcement itself; its ready file appears at
    # SUBSCRIBE_OK, which the relay sends after it has subscribed upstream, so
    # every group fed from now on reaches it.
    lite --alpn "$_a" --ready-file "$_t.ready" subscribe "$_bc" audio --count "$nframes" \
        </dev/null >"$_t.sub.out" 2>"$_t.sub.err" &
    _sub=$!
    bg_pids="$bg_pids $_sub"
    wait_file "$_t.ready" 10 || fail "$_a cli->js: the @moq/lite subscriber got no SUBSCRIBE_OK"
    feed_hold "$frames"
    wait "$_sub" || fail "$_a cli->js: @moq/lite subscriber failed (status $?)"
    sorted_same "$_t.sub.out" || fail "$_a cli->js: @moq/lite received different frames"
    unhold
    wait "$_pub" || fail "$_a cli->js: moq-cli publisher exit status $?"
    log "ok: $_a: moq-cli publisher -> @moq/lite subscriber, $nframes frames in groups of 4, byte for byte (sorted)"
}

# js_to_js ALPN: @moq/lite on both ends, one group per frame.
js_to_js() {
    _a=$1 _bc="lq/$1/js2js" _t="$TEST_TMP/js2js-$1"
    hold "js2js-$_a"
    lite --alpn "$_a" --ready-file "$_t.ready" publish "$_bc" data --group-frames 1 \
        <"$HOLD_FIFO" >"$_t.pub.out" 2>"$_t.pub.err" &
    _pub=$!
    bg_pids="$bg_pids $_pub"
    hold_open
    wait_file "$_t.ready" 10 || fail "$_a js->js: the @moq/lite publisher did not announce $_bc"
    lite --alpn "$_a" --ready-file "$_t.sready" subscribe "$_bc" data --count "$nframes" \
        </dev/null >"$_t.sub.out" 2>"$_t.sub.err" &
    _sub=$!
    bg_pids="$bg_pids $_sub"
    wait_file "$_t.sready" 10 || fail "$_a js->js: the @moq/lite subscriber got no SUBSCRIBE_OK"
    feed_hold "$frames"
    wait "$_sub" || fail "$_a js->js: @moq/lite subscriber failed (status $?)"
    sorted_same "$_t.sub.out" || fail "$_a js->js: the subscriber received different frames"
    unhold
    wait "$_pub" || fail "$_a js->js: @moq/lite publisher exit status $?"
    log "ok: $_a: @moq/lite publisher -> @moq/lite subscriber, $nframes frames one group each, byte for byte (sorted)"
}

# announce ALPN: @moq/lite `announced` sees a broadcast come and go.
announce() {
    _a=$1 _pre="lq/$1/ann" _t="$TEST_TMP/ann-$1"
    lite --alpn "$_a" announced "$_pre" --count 2 </dev/null >"$_t.out" 2>"$_t.err" &
    _ann=$!
    bg_pids="$bg_pids $_ann"
    wait_log_count "event=announce_request .* prefix=/\\?$_pre " 1 5 || fail "$_a announce: no ANNOUNCE_PLEASE for $_pre"
    hold "ann-$_a"
    lite --alpn "$_a" --ready-file "$_t.ready" publish "$_pre/cam" v \
        <"$HOLD_FIFO" >"$_t.pub.out" 2>"$_t.pub.err" &
    _pub=$!
    bg_pids="$bg_pids $_pub"
    hold_open
    wait_grep "^+$_pre/cam\$" "$_t.out" 10 || fail "$_a announce: @moq/lite did not see $_pre/cam appear"
    unhold
    wait "$_pub" || fail "$_a announce: @moq/lite publisher exit status $?"
    wait "$_ann" || fail "$_a announce: @moq/lite announced failed (status $?)"
    printf '+%s/cam\n-%s/cam\n' "$_pre" "$_pre" | cmp -s - "$_t.out" ||
        fail "$_a announce: expected +/- $_pre/cam, got: $(tr '\n' ' ' <"$_t.out")"
    log "ok: $_a: @moq/lite announced saw $_pre/cam appear and disappear when its publisher exited"
}

# unknown ALPN: subscribing to a broadcast nobody publishes fails at once.
unknown() {
    _a=$1 _bc="lq/$1/nobody" _t="$TEST_TMP/unknown-$1"
    lite --alpn "$_a" subscribe "$_bc" t --count 1 --no-wait-announce --timeout-ms 5000 \
        </dev/null >"$_t.out" 2>"$_t.err"
    _rc=$?
    [ "$_rc" -eq 1 ] || fail "$_a unknown: expected exit 1 (refused), got $_rc"
    grep -q 'peer reset the stream' "$_t.err" || fail "$_a unknown: not refused with a stream reset"
    wait_log_count "event=subscribe_not_found .* path=$_bc " 1 5 || fail "$_a unknown: the relay did not log subscribe_not_found"
    log "ok: $_a: @moq/lite subscribing to an unknown broadcast is refused at once ($(sed -n 's/.*\(peer reset the stream with code [0-9]*\).*/\1/p' "$_t.err"))"
}

for alpn in ${MOQ_INTEROP_ALPNS:-moql moq-lite-03 moq-lite-04}; do
    js_to_cli "$alpn"
    cli_to_js "$alpn"
    js_to_js "$alpn"
    announce "$alpn"
    unknown "$alpn"
    relay_alive || fail "$alpn: the relay (pid $RELAY_PID) is gone"
    # the clients said which version they ended up on
    case $alpn in
        moql) want=moq-lite-02 ;;
        *) want=$alpn ;;
    esac
    grep -q "version=$want\$" "$TEST_TMP/js2js-$alpn.sub.err" ||
        fail "$alpn: @moq/lite did not end on $want: $(head -n 1 "$TEST_TMP/js2js-$alpn.sub.err")"
done

relay_alive || fail "the relay (pid $RELAY_PID) is not running at the end"
relay_stop
rc=$?
[ "$rc" -eq 0 ] || fail "the relay exited with status $rc on SIGTERM"
# Every client closed its session with CONNECTION_CLOSE code 0 and spoke the
# protocol correctly: nothing for the relay to warn about.
if grep -Eq 'level=(warn|error)' "$RELAY_LOG"; then
    fail "the relay logged warnings or errors: $(grep -E 'level=(warn|error)' "$RELAY_LOG" | head -n 5)"
fi
log "PASS"
exit 0
