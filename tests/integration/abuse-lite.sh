#!/bin/sh
# Malformed moq-lite on real QUIC sessions (hand-made bytes from tests/tools/quic-probe) while an
# honest publisher and subscriber keep flowing: a subscribe id reused while its subscription is live
# (the session is closed with 12, Duplicate), ANNOUNCE hop chains over the limit of 32 on lite-03
# (a count) and lite-04 (ids) (closed with 5, Decode, as the reference's decoder refuses them), and
# the honest shapes next to them (two ids, 32 hops) that must pass. Every attack runs 40 times; the
# honest subscriber must get every frame, and the relay's RSS and descriptors must come back near
# their baseline.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --log-level info
probe() { # ALPN ARGS...
  _a=$1
  shift
  "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn "$_a" "$@"
}
hex() { lite_hex "$1"; }
# SUBSCRIBE (lite-03/04) for track t of broadcast $2 with id $1 (< 64), kept open
sub() { printf '%s+' "$(lite04_subscribe "$1" "$2" t)"; }
# ANNOUNCE active SUFFIX with N hops: lite-04 (ids, all 7) or lite-03 (the count only)
ann04() { printf '%02x01%02x%s%02x%s' $((3 + ${#1} + $2)) "${#1}" "$(hex "$1")" "$2" "$(python3 -c "print('07' * $2)")"; }
ann03() { printf '%02x01%02x%s%02x' $((3 + ${#1})) "${#1}" "$(hex "$1")" "$2"; }

honest_start 4

# batch NAME N CMD...: runs CMD N times, 10 at a time, outputs in $TEST_TMP/NAME.I
batch() {
  _name=$1 _n=$2
  shift 2
  _i=0 _pids=""
  while [ "$_i" -lt "$_n" ]; do
    "$@" >"$TEST_TMP/$_name.$_i" 2>&1 &
    _pids="$_pids $!"
    _i=$((_i + 1))
    if [ $((_i % 10)) -eq 0 ]; then
      # shellcheck disable=SC2086
      wait $_pids
      _pids=""
    fi
  done
  # shellcheck disable=SC2086
  [ -z "$_pids" ] || wait $_pids # (a bare wait would wait for the honest pair too)
}
# expect NAME N PATTERN: every output of batch NAME has a line matching PATTERN
expect() {
  _i=0
  while [ "$_i" -lt "$2" ]; do
    grep -q -- "$3" "$TEST_TMP/$1.$_i" || fail "$1 #$_i: expected '$3', got: $(cat "$TEST_TMP/$1.$_i")"
    _i=$((_i + 1))
  done
}
# refute NAME N PATTERN: no output of batch NAME has a line matching PATTERN
refute() {
  _i=0
  while [ "$_i" -lt "$2" ]; do
    grep -q -- "$3" "$TEST_TMP/$1.$_i" && fail "$1 #$_i: unexpected '$3' in: $(cat "$TEST_TMP/$1.$_i")"
    _i=$((_i + 1))
  done
  return 0
}

round() { # N
  batch reuse "$1" probe moq-lite-04 --bidi "$(sub 0 honest)" --bidi "$(sub 0 honest)" --hold-ms 8000 --timeout-ms 8000
  expect reuse "$1" '^closed app 12$'
  batch distinct "$1" probe moq-lite-04 --bidi "$(sub 0 honest)" --bidi "$(sub 1 honest)" --hold-ms 1000
  refute distinct "$1" '^closed'
  expect distinct "$1" '^data 0 '
  expect distinct "$1" '^data 4 '
  batch hops04 "$1" probe moq-lite-04 --reply "$(ann04 bad 33)" --hold-ms 8000 --timeout-ms 8000
  expect hops04 "$1" '^closed app 5$'
  batch hops03 "$1" probe moq-lite-03 --reply "$(ann03 bad 33)" --hold-ms 8000 --timeout-ms 8000
  expect hops03 "$1" '^closed app 5$'
  batch hops32 "$1" probe moq-lite-04 --reply "$(ann04 ok32 32)" --hold-ms 1000
  refute hops32 "$1" '^closed'
}

round 20 # warm-up: the allocator reaches its working set
wait_log_count 'event=broadcast_start path=ok32 hops=32' 1 5 || fail "an announce with 32 hops (the limit) was refused"
wait_log_count 'event=subscribe_id_reused' 20 5 || fail "no log line for reused subscribe ids"
sleep 11 # the relay hands freed memory back every 10 s
base=$(relay_rss) base_fds=$(relay_fds)
ok "baseline RSS ${base} KiB, ${base_fds} descriptors"

round 40
kill -0 "$RELAY_PID" || fail "the relay died"
ok "40 x: a reused subscribe id closes that session with 12 (Duplicate); two ids do not"
ok "40 x: 33 hops on lite-03 and lite-04 close that session with 5 (Decode); 32 hops pass"
printf 'two\nthree\nfour\n' >"$HONEST_FIFO"
honest_finish "four one three two "

sleep 11
memory_back "$base" "$(relay_rss)" "$base_fds" "$(relay_fds)"
relay_stop || fail "relay exit status $?"
