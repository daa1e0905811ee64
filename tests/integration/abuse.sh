#!/bin/sh
# Abuse of a running relay while an honest publisher and subscriber keep flowing: a flood of
# garbage and truncated UDP datagrams, hundreds of connect/disconnect cycles, sessions that
# subscribe and never read, a publisher sending the largest frame allowed. The relay must stay up,
# the honest pair must get every frame, and the relay's memory must come back within 10% of its
# baseline (measured after two warm-up rounds, once the allocator has its working set).
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --limit-frame-size 4MiB --log-level info
probe() { "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn moq-lite-04 "$@"; }

garbage() { # 20000 datagrams of random bytes and sizes, some shaped like QUIC long headers
  python3 - "$RELAY_PORT" <<'PY'
import os, random, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
random.seed(1)
for i in range(20000):
    n = random.choice([0, 1, 5, 20, 100, 1200, 1350, 1500])
    b = bytearray(os.urandom(n))
    if n and i % 3 == 0: b[0] = 0xc0 | (b[0] & 0x3f)
    try: s.sendto(bytes(b), ("127.0.0.1", int(sys.argv[1])))
    except OSError: pass
PY
}

cycles() { # N connect/disconnect cycles, 20 at a time
  _i=0 _pids=""
  while [ "$_i" -lt "$1" ]; do
    probe --timeout-ms 3000 >/dev/null 2>&1 &
    _pids="$_pids $!"
    _i=$((_i + 1))
    if [ $((_i % 20)) -eq 0 ]; then
      # shellcheck disable=SC2086
      wait $_pids
      _pids=""
    fi
  done
}

stalled() { # NAME: five subscribers that never read a broadcast of 12 x 1 MB groups and one 4 MB frame
  start_publisher "$1" moq-lite-04 "$1" t
  wait_log_count "event=broadcast_start path=$1" 1 5 || fail "no broadcast $1"
  _sub=$(printf '02%02x00%02x%s01740100000000' $((9 + ${#1})) "${#1}" "$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')")
  _pids=""
  for _n in 1 2 3 4 5; do
    probe --hold-ms 5000 --bidi "$_sub+" >/dev/null 2>&1 &
    _pids="$_pids $!"
  done
  sleep 1
  _line=$(head -c 1000000 /dev/zero | tr '\0' z)
  _i=0
  while [ "$_i" -lt 12 ]; do printf '%s\n' "$_line"; _i=$((_i + 1)); done >"$TEST_TMP/big.data"
  feed "$TEST_TMP/big.data"
  head -c 4000000 /dev/zero | tr '\0' y >"$TEST_TMP/max.data"
  echo >>"$TEST_TMP/max.data"
  feed "$TEST_TMP/max.data"
  # shellcheck disable=SC2086
  wait $_pids
  close_publisher || :
}

honest_start 4

# two warm-up rounds (the allocator reaches its working set), then the baseline
garbage
cycles 300
stalled wrm
garbage
cycles 300
stalled wrm
sleep 11 # the relay hands freed memory back every 10 s
base=$(relay_rss)
ok "baseline RSS ${base} KiB (after two warm-up rounds)"

garbage
kill -0 "$RELAY_PID" || fail "the relay died of garbage datagrams"
ok "20000 garbage and truncated datagrams"
cycles 300
kill -0 "$RELAY_PID" || fail "the relay died during connect/disconnect cycles"
ok "300 connect/disconnect cycles"
printf 'two\n' >"$HONEST_FIFO"
stalled big
kill -0 "$RELAY_PID" || fail "the relay died with subscribers that never read"
ok "subscribers that never read 16 MB, and a 4 MB frame"

printf 'three\nfour\n' >"$HONEST_FIFO"
honest_finish "four one three two "

sleep 11
memory_back "$base" "$(relay_rss)"
relay_stop || fail "relay exit status $?"
