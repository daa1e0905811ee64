#!/bin/sh
# quic-thirdparty.sh — interop: a third-party QUIC stack handshakes with moq-relay.
#
# The client is tests/interop/quic-handshake.mjs on @matrixai/quic 2.0.9 (prebuilt
# quiche + BoringSSL from npm). It checks that the relay completes a QUIC/TLS 1.3
# handshake with a foreign implementation, negotiates the MoQ ALPNs moql,
# moq-lite-03 and moq-lite-04, and rejects an offer with no ALPN overlap with a
# handshake error (RFC 9001 §8.1: CONNECTION_CLOSE 0x178 no_application_protocol).
#
# Run by `make check` (automake parallel harness): top_builddir/top_srcdir come
# from AM_TESTS_ENVIRONMENT. Exit 0 pass, 77 skip, 99 hard error, else fail.
#
# npm dependencies come from the committed lockfile through the shared helper
# tests/interop/npm-deps.sh (cached `npm ci`; read its lockfile note before
# regenerating package-lock.json).
#
# Environment:
#   MOQ_NPM_CACHE           cache root (see above)
#   MOQ_INTEROP_REQUIRED=1  turn "node/npm missing" and "npm ci failed" skips into failures
#   MOQ_INTEROP_TIMEOUT_MS  per-handshake timeout for the quic-handshake.mjs probes (default 5000)

set -u

here_rel=$(dirname "$0")
here=$(cd "$here_rel" && pwd) || exit 99
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir

srcdir_interop="$top_srcdir/tests/interop"
timeout_ms=${MOQ_INTEROP_TIMEOUT_MS:-5000}
# A rejected handshake is only reported after the QUIC draining period (~3 s
# with no RTT estimate yet), so negative probes get a longer budget.
neg_timeout_ms=$((timeout_ms + 5000))

log() { printf '%s\n' "quic-thirdparty: $*"; }

skip() {
    printf '%s\n' \
        "########################################################################" \
        "# SKIP quic-thirdparty: $*" \
        "# The third-party QUIC interop test did NOT run." \
        "########################################################################" >&2
    if [ "${MOQ_INTEROP_REQUIRED:-0}" = 1 ]; then
        echo "quic-thirdparty: MOQ_INTEROP_REQUIRED=1, treating the skip as a failure" >&2
        exit 1
    fi
    exit 77
}

fail() {
    printf '%s\n' "FAIL quic-thirdparty: $*" >&2
    exit 1
}

hard_error() {
    printf '%s\n' "ERROR quic-thirdparty: $*" >&2
    exit 99
}

# ---------------------------------------------------------------- npm deps (cached)
[ -f "$srcdir_interop/npm-deps.sh" ] || hard_error "missing $srcdir_interop/npm-deps.sh"
# shellcheck source=npm-deps.sh
. "$srcdir_interop/npm-deps.sh"
interop_need_node
interop_npm_deps
# Does the prebuilt native quiche load on this machine?
interop_need_quiche
interop_stage quic-handshake.mjs
probe="$rundir/quic-handshake.mjs"

# ---------------------------------------------------------------- relay
lib="$top_srcdir/tests/integration/lib.sh"
[ -f "$lib" ] || { interop_unstage; hard_error "missing $lib"; }
# shellcheck source=../integration/lib.sh
. "$lib"

# shellcheck disable=SC2317 # called from traps
cleanup() {
    interop_unstage
    relay_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# relay_start (tests/integration/lib.sh) starts $top_builddir/moq-relay on a free
# UDP port with a generated self-signed certificate and sets RELAY_PORT,
# RELAY_CA (PEM of that certificate) and RELAY_PID.
relay_start || fail "relay_start failed"
[ -n "${RELAY_PORT:-}" ] || fail "relay_start did not set RELAY_PORT"
if [ -z "${RELAY_CA:-}" ] || [ ! -f "$RELAY_CA" ]; then
    fail "relay_start did not set RELAY_CA to a PEM file"
fi
log "relay pid ${RELAY_PID:-?} on 127.0.0.1:$RELAY_PORT, CA $RELAY_CA"

# Certificate verification: full verification, not --insecure. @matrixai/quic
# (BoringSSL inside quiche) accepts the relay's self-signed certificate as its
# own trust anchor via --ca and checks the host name against --server-name
# (localhost, which the test certificate's SAN must contain), while the UDP
# packets go to 127.0.0.1.
server_name=localhost

out_file=$(mktemp) || hard_error "mktemp failed"
err_file=$(mktemp) || hard_error "mktemp failed"
trap 'rm -f "$out_file" "$err_file"; cleanup' EXIT

failures=0
# probe_quic TIMEOUT_MS ARGS... ; sets probe_rc, probe_out, probe_err
probe_quic() {
    _t=$1
    shift
    (cd "$depdir" && exec node "$probe" --host 127.0.0.1 --port "$RELAY_PORT" \
        --ca "$RELAY_CA" --server-name "$server_name" --timeout-ms "$_t" "$@") \
        >"$out_file" 2>"$err_file"
    probe_rc=$?
    probe_out=$(cat "$out_file")
    probe_err=$(cat "$err_file")
}

# expect_alpn OFFER EXPECTED
expect_alpn() {
    probe_quic "$timeout_ms" --alpn "$1" --expect-alpn "$2"
    if [ "$probe_rc" -eq 0 ] && [ "$probe_out" = "alpn=$2" ]; then
        log "ok: offer [$1] -> $probe_out"
    else
        log "NOT OK: offer [$1], expected alpn=$2: rc=$probe_rc stdout='$probe_out' stderr='$probe_err'"
        failures=$((failures + 1))
    fi
}

relay_alive() {
    [ -z "${RELAY_PID:-}" ] || kill -0 "$RELAY_PID" 2>/dev/null
}

expect_alpn moql moql
expect_alpn moq-lite-03 moq-lite-03
expect_alpn moq-lite-04 moq-lite-04

# The @moq/lite client's QUIC-level offer order: must succeed with one of them.
probe_quic "$timeout_ms" --alpn moq-lite-04,moq-lite-03,moql
case "$probe_rc:$probe_out" in
    0:alpn=moq-lite-04 | 0:alpn=moq-lite-03 | 0:alpn=moql)
        log "ok: offer [moq-lite-04,moq-lite-03,moql] -> $probe_out" ;;
    *)
        log "NOT OK: offer [moq-lite-04,moq-lite-03,moql]: rc=$probe_rc stdout='$probe_out' stderr='$probe_err'"
        failures=$((failures + 1)) ;;
esac

# No ALPN overlap: the handshake must fail with an error from the relay (exit 1),
# not hang until the timeout (exit 4) and not succeed.
probe_quic "$neg_timeout_ms" --alpn h3x-nonsense
if [ "$probe_rc" -eq 1 ]; then
    case "$probe_err" in
        *0x178*no_application_protocol*)
            log "ok: offer [h3x-nonsense] rejected: $probe_err" ;;
        *)
            log "NOT OK: offer [h3x-nonsense] failed, but not with CONNECTION_CLOSE 0x178 no_application_protocol (RFC 9001 8.1): $probe_err"
            failures=$((failures + 1)) ;;
    esac
else
    log "NOT OK: offer [h3x-nonsense] must fail the handshake: rc=$probe_rc stdout='$probe_out' stderr='$probe_err'"
    failures=$((failures + 1))
fi

# The relay survives the rejected handshake and still serves new ones.
if relay_alive; then
    expect_alpn moql moql
else
    log "NOT OK: relay (pid $RELAY_PID) is gone after the rejected handshake"
    failures=$((failures + 1))
fi

relay_alive || { log "NOT OK: relay (pid $RELAY_PID) is not running at the end"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
    fail "$failures check(s) failed"
fi
log "PASS"
exit 0
