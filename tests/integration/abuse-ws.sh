#!/bin/sh
# Half-open WebSocket connections while an honest publisher and subscriber keep flowing: TCP
# connections that never send a request, requests trickled and never finished, upgrades that never
# send a frame, and upgrades whose one frame header promises more bytes than ever come. The relay
# must close every one of them on its own ([limits] handshake_timeout before the upgrade,
# [server.quic] idle_timeout after it), keep answering new upgrades meanwhile, and come back to
# its baseline of descriptors and memory. Three rounds: one warm-up, then two measured.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --log-level info --limit-handshake-timeout 2s --server-quic-idle-timeout 3s --server-quic-keep-alive 1s

halfopen() { # the attack; prints one line per kind with the longest time to be closed
  python3 - "$RELAY_HTTP_PORT" <<'PY'
import socket, sys, time, select
port = int(sys.argv[1])
UPGRADE = (b"GET /anon HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: webtransport\r\n\r\n")
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s
def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d: break
        buf += d
    return buf
socks = []  # (kind, socket, start)
t0 = time.time()
for i in range(100):
    socks.append(("silent", conn(), time.time()))
for i in range(60):
    s = conn(); s.sendall(UPGRADE[:30 + i]); socks.append(("trickled", s, time.time()))
for i in range(30):
    s = conn(); s.sendall(UPGRADE)
    head = read_head(s)
    if not head.startswith(b"HTTP/1.1 101"):
        print("FAIL upgrade refused: %r" % head[:200]); sys.exit(1)
    socks.append(("no-frame", s, time.time()))
for i in range(30):
    s = conn(); s.sendall(UPGRADE)
    head = read_head(s)
    if not head.startswith(b"HTTP/1.1 101"):
        print("FAIL upgrade refused: %r" % head[:200]); sys.exit(1)
    # a masked binary frame that promises 1000 bytes, then 10 of them
    s.sendall(bytes([0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4]) + b"0123456789")
    socks.append(("cut-frame", s, time.time()))
# meanwhile a new upgrade is still answered
s = conn(); s.sendall(UPGRADE)
if not read_head(s).startswith(b"HTTP/1.1 101"):
    print("FAIL a fresh upgrade was not answered during the attack"); sys.exit(1)
s.close()
# every socket must be closed by the relay: EOF or a reset (pings and close frames are read away)
open_ = {id(s): (k, s, t) for k, s, t in socks}
worst = {}
deadline = time.time() + 30
while open_ and time.time() < deadline:
    r, _, _ = select.select([s for _, s, _ in open_.values()], [], [], 0.5)
    for s in r:
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if not d:
            k, _, t = open_.pop(id(s))
            worst[k] = max(worst.get(k, 0), time.time() - t)
            s.close()
for k, s, t in open_.values():
    print("FAIL %s connection still open after 30 s" % k)
for k in ("silent", "trickled", "no-frame", "cut-frame"):
    print("%s closed within %.1f s" % (k, worst.get(k, -1)))
sys.exit(1 if open_ else 0)
PY
}

honest_start 4

halfopen >"$TEST_TMP/warm.out" || fail "warm-up: $(cat "$TEST_TMP/warm.out")"
sleep 11 # the relay hands freed memory back every 10 s
base=$(relay_rss) base_fds=$(relay_fds)
ok "baseline RSS ${base} KiB, ${base_fds} descriptors (after a warm-up round)"

for r in 1 2; do
  halfopen >"$TEST_TMP/round$r.out" || fail "round $r: $(cat "$TEST_TMP/round$r.out")"
  kill -0 "$RELAY_PID" || fail "the relay died"
  # before the upgrade: the handshake limit (2 s); after it: the idle timeout (3 s) and the close
  # handshake's linger; generous margins for a loaded machine
  while read -r kind _ _ secs _; do
    case $kind in
    silent | trickled) lim=8 ;;
    *) lim=15 ;;
    esac
    awk -v s="$secs" -v l="$lim" 'BEGIN { exit !(s >= 0 && s <= l) }' || fail "round $r: $kind connections closed after $secs s"
  done <"$TEST_TMP/round$r.out"
  printf 'round%s\n' "$r" >"$HONEST_FIFO"
done
ok "2 x 220 half-open WebSocket connections, all closed by the relay: $(tr '\n' ';' <"$TEST_TMP/round2.out")"
[ "$(log_count 'event=ws_idle_timeout')" -ge 180 ] || fail "only $(log_count 'event=ws_idle_timeout') ws_idle_timeout lines for 180 idle upgrades"

printf 'four\n' >"$HONEST_FIFO"
honest_finish "four one round1 round2 "

sleep 11
memory_back "$base" "$(relay_rss)" "$base_fds" "$(relay_fds)"
relay_stop || fail "relay exit status $?"
