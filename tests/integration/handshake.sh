#!/bin/sh
# A QUIC handshake from moq-relay's own client core: each MoQ ALPN is negotiated, the server's
# preference order wins, an offer with no overlap fails, and every way of checking the server's
# certificate (CA file, pinned fingerprint, none) works while a wrong pin or CA is refused; TLS
# data after the handshake closes only that connection.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT

relay_start
probe() { "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --server-name localhost --timeout-ms 5000 "$@"; }

for alpn in moql moq-lite-03 moq-lite-04 moq-lite-05; do
  out=$(probe --ca "$RELAY_CA" --alpn "$alpn" --expect-alpn "$alpn") || fail "handshake with ALPN $alpn"
  [ "$out" = "alpn=$alpn" ] || fail "ALPN $alpn: got '$out'"
  ok "ALPN $alpn"
done

out=$(probe --ca "$RELAY_CA" --alpn moql,moq-lite-03,moq-lite-05) || fail "handshake with several ALPNs"
[ "$out" = "alpn=moq-lite-05" ] || fail "server preference: expected moq-lite-05, got '$out'"
ok "server preference order"

if probe --ca "$RELAY_CA" --alpn h3x-nonsense >/dev/null 2>"$TEST_TMP/err"; then
  fail "a handshake without a common ALPN succeeded"
fi
ok "no common ALPN refused: $(cat "$TEST_TMP/err")"

out=$(probe --fingerprint "$RELAY_FINGERPRINT" --alpn moql) || fail "handshake with a pinned fingerprint"
ok "pinned fingerprint"
bad=$(printf '%064d' 0)
if probe --fingerprint "$bad" --alpn moql >/dev/null 2>&1; then fail "a wrong fingerprint was accepted"; fi
ok "wrong fingerprint refused"

make_cert "$TEST_TMP" other || fail "openssl"
if probe --ca "$TEST_TMP/cert.pem" --alpn moql >/dev/null 2>&1; then fail "a certificate from another CA was accepted"; fi
ok "unknown CA refused"
if "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --server-name wrong.example --ca "$RELAY_CA" --alpn moql \
  --timeout-ms 5000 >/dev/null 2>&1; then
  fail "a certificate for another host name was accepted"
fi
ok "host name checked"
probe --insecure --alpn moql >/dev/null || fail "handshake without verification"
ok "verification disabled on request"

# The relay lets a session's TLS object go once the handshake is done: a TLS message the client
# sends after its Finished (a KeyUpdate here, which QUIC forbids; RFC 9001 6) closes that connection
# with CRYPTO_ERROR unexpected_message (0x100 + 10), and the relay serves the next one.
out=$(probe --ca "$RELAY_CA" --alpn moql --crypto 1800000101 --hold-ms 3000) || fail "probe with CRYPTO data: $out"
echo "$out" | grep -qx "closed transport 266" || fail "CRYPTO data after the handshake: expected 'closed transport 266', got '$out'"
ok "CRYPTO data after the handshake closes that connection (unexpected_message)"
out=$(probe --ca "$RELAY_CA" --alpn moql --expect-alpn moql) || fail "handshake after the CRYPTO probe"
ok "next handshake served"

# A key update (RFC 9001 6) on a session whose TLS object is gone: the client starts it half a second
# into a subscription; the frames published after it still arrive, under the new keys.
start_publisher ku moq-lite-04 ku t
wait_log_count 'event=broadcast_start path=ku' 1 5 || fail "no broadcast to subscribe to"
probe --ca "$RELAY_CA" --alpn moq-lite-04 --bidi "$(lite04_subscribe 0 ku t)+" --key-update-ms 500 \
  --hold-ms 3000 >"$TEST_TMP/ku.out" 2>&1 &
ku_probe=$!
wait_log_count 'event=subscribe session=.* path=ku' 1 5 || fail "the probe did not subscribe"
n=0
until grep -q '^key_update' "$TEST_TMP/ku.out" || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
printf 'after-update\n' >"$PUB_FIFO"
wait "$ku_probe" || fail "probe with a key update: $(cat "$TEST_TMP/ku.out")"
grep -qx 'key_update' "$TEST_TMP/ku.out" || fail "the key update did not start: $(cat "$TEST_TMP/ku.out")"
sed -n '/^key_update$/,$p' "$TEST_TMP/ku.out" | grep -q "^data .*$(lite_hex after-update)" \
  || fail "no frame after the key update: $(cat "$TEST_TMP/ku.out")"
grep -q '^closed' "$TEST_TMP/ku.out" && fail "the session was closed around the key update: $(cat "$TEST_TMP/ku.out")"
ok "a key update after the handshake: frames keep flowing"
close_publisher || :

kill -0 "$RELAY_PID" || fail "relay died"
grep -q 'event=session_open .* alpn=moql' "$RELAY_LOG" || fail "no session_open log line"
relay_stop || fail "relay exited with status $?"
ok "clean exit"

# The relay's keep-alive PINGs go out on a session that has nothing else to send (the pacing
# wake-ups the relay drops unflushed must not swallow them): a 2 s idle timeout, keep-alive every
# 500 ms, and a client whose own keep-alive (5 s) is too slow to save the session; it lives past
# 3 s and takes a key update there.
relay_start --server-quic-idle-timeout 2s --server-quic-keep-alive 500ms
out=$(probe --ca "$RELAY_CA" --alpn moql --key-update-ms 3000 --hold-ms 3500) || fail "idle probe: $out"
echo "$out" | grep -q '^closed' && fail "an idle session with keep-alive was closed: $out"
echo "$out" | grep -qx 'key_update' || fail "the idle session was gone at 3 s: $out"
ok "keep-alive keeps an idle session past the idle timeout"
relay_stop || fail "relay exited with status $?"
