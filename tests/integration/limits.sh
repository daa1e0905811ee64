#!/bin/sh
# Limits ([limits], --limit-*): sessions in all and per address, subscriptions and announce
# requests per session, and the frame size. Hitting one refuses that request with BoundsExceeded
# (11) or FrameTooLarge and a log line, and an honest publisher and subscriber keep flowing.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --limit-sessions-per-address 4 --limit-subscriptions 2 --limit-announce-interests 2 --limit-frame-size 1KiB
send() { "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn "$1" --hold-ms 600 "$@"; }

# honest pair (2 sessions)
start_publisher honest moq-lite-04 bbb a
wait_log_count 'event=broadcast_start path=bbb' 1 5 || fail "no honest broadcast"
cli subscribe "$(relay_url)" bbb a --count 2 >"$TEST_TMP/honest.out" 2>"$TEST_TMP/honest.err" &
honest=$!
wait_log_count 'event=subscribe session=.* path=bbb' 1 5 || fail "the honest subscriber did not subscribe"

# subscriptions per session: the third of three open ones is refused with 11
sub() { lite04_subscribe "$1" bbb a; } # SUBSCRIBE id path=bbb track=a (lite-04)
out=$("$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn moq-lite-04 \
  --hold-ms 800 --bidi "$(sub 0)+" --bidi "$(sub 1)+" --bidi "$(sub 2)+")
printf '%s\n' "$out" | grep -q '^reset 8 11$' || fail "the third subscription was not refused with 11: $out"
printf '%s\n' "$out" | grep -q '^closed' && fail "the session was closed for too many subscriptions: $out"
wait_log_count 'event=limit_reached .*limit=subscriptions value=2' 1 3 || fail "no limit_reached log line"
ok "a third open subscription is refused with BoundsExceeded; the session goes on"

# announce requests per session
out=$("$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn moq-lite-04 \
  --hold-ms 800 --bidi 01020000+ --bidi 01020000+ --bidi 01020000+)
printf '%s\n' "$out" | grep -q '^reset 8 11$' || fail "the third announce request was not refused with 11: $out"
wait_log_count 'event=limit_reached .*limit=announce_interests value=2' 1 3 || fail "no limit_reached log line"
ok "a third open announce request is refused with BoundsExceeded"

# sessions per address: 2 held + the honest 2 = 4; a fifth is refused, the others go on
held=$(log_count 'event=session_accepted')
(exec "$CLI_BIN" --tls-root "$RELAY_CA" announced "$(relay_url)" --count 100 >/dev/null 2>&1) &
h1=$!
(exec "$CLI_BIN" --tls-root "$RELAY_CA" announced "$(relay_url)" --count 100 >/dev/null 2>&1) &
h2=$!
wait_log_count 'event=session_accepted' $((held + 2)) 5 || fail "the held sessions were not admitted"
sleep 0.5 # the probes of the checks above are gone
if cli announced "$(relay_url)" --count 1 >/dev/null 2>"$TEST_TMP/5.err"; then fail "a fifth session from one address was admitted"; fi
wait_log_count 'event=session_refused remote=127.0.0.1:[0-9]* transport=quic reason="limit sessions_per_address reached"' 1 3 ||
  fail "no refusal logged for the fifth session"
before=$(log_count 'event=session_accepted')
kill $h1 $h2 2>/dev/null
wait $h1 $h2 2>/dev/null
sleep 0.5
cli subscribe "$(relay_url)" nothing a --count 1 >/dev/null 2>&1 # admitted again (then not found)
[ "$(log_count 'event=session_accepted')" -gt "$before" ] || fail "a session was not admitted once others left"
ok "sessions per address: the fifth is refused, room comes back when one leaves"

# a frame over the limit
printf 'ok\n' >"$TEST_TMP/small"
feed "$TEST_TMP/small"
head -c 2000 /dev/zero | tr '\0' x >"$TEST_TMP/big"
echo >>"$TEST_TMP/big"
HONEST_FIFO=$PUB_FIFO
start_publisher big moq-lite-04 big a
wait_log_count 'event=broadcast_start path=big' 1 5 || fail "no broadcast big"
cli subscribe "$(relay_url)" big a --count 1 >/dev/null 2>&1 &
bigsub=$!
wait_log_count 'event=subscribe session=.* path=big' 1 5 || fail "no subscription to big"
feed "$TEST_TMP/big"
wait_log_count 'event=limit_reached .*limit=frame_size value=1024' 1 5 || fail "a 2000-byte frame over a 1 KiB limit was not refused"
kill $bigsub 2>/dev/null
close_publisher 2>/dev/null
ok "a frame over --limit-frame-size is refused"

# the honest pair flowed through all of it
PUB_FIFO=$HONEST_FIFO
printf 'still\n' >"$TEST_TMP/still"
feed "$TEST_TMP/still"
wait $honest || fail "the honest subscriber failed: $(cat "$TEST_TMP/honest.err")"
[ "$(sort "$TEST_TMP/honest.out" | tr '\n' ' ')" = "ok still " ] || fail "the honest subscriber got: $(cat "$TEST_TMP/honest.out")"
ok "the honest publisher and subscriber kept flowing"
relay_stop || fail "relay exit status $?"
