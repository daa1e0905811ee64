#!/bin/sh
# A peer's bad bytes close that stream or that session, never the relay: unknown stream types,
# lengths over the limit, invalid UTF-8, a bad bool, groups for subscriptions that do not exist;
# an honest publisher and subscriber keep working throughout.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start
send() { # send ALPN KIND HEX...: open streams with these bytes, print what the relay does
  _alpn=$1
  shift
  "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn "$_alpn" \
    --timeout-ms 5000 --hold-ms 700 "$@"
}
expect() { # expect OUTPUT PATTERN WHAT
  printf '%s\n' "$1" | grep -q -- "$2" || fail "$3: expected '$2' in: $(printf '%s' "$1" | tr '\n' ';')"
  ok "$3"
}

# an honest pair running all along
start_publisher honest moq-lite-05 honest t
wait_log_count 'event=announced .* path=honest' 1 5 || fail "honest publisher not announced"
cli subscribe "$(relay_url)" honest t --count 2 >"$TEST_TMP/honest.out" 2>"$TEST_TMP/honest.err" &
honest=$!
wait_log_count 'event=subscribe session=.* path=honest' 1 5 || fail "honest subscriber"

out=$(send moq-lite-04 --bidi 3f)
expect "$out" '^reset 0 10$' "an unknown bidi stream type resets that stream (code 10)"
printf '%s\n' "$out" | grep -q '^closed' && fail "the session was closed for an unknown stream type"

out=$(send moq-lite-04 --uni 0a00+)
printf '%s\n' "$out" | grep -q '^closed' && fail "the session was closed for an unknown uni stream type"
grep -q 'event=stream_unknown .* type=10' "$RELAY_LOG" || fail "the unknown uni stream was not refused"
ok "an unknown uni stream type is refused, the session goes on"

out=$(send moq-lite-04 --bidi 01c000000000100000)
expect "$out" '^closed app 5$' "an announce request longer than the message limit closes the session (code 5)"

out=$(send moq-lite-04 --bidi 020b0002fffe01610100000000)
expect "$out" '^closed app 5$' "a subscribe path of invalid UTF-8 closes the session (code 5)"

out=$(send moq-lite-04 --bidi 020d00036262620161010200000000)
expect "$out" '^closed app 5$' "ordered = 2 closes the session (code 5)"

out=$(send moq-lite-04 --uni 0002070003616263+)
printf '%s\n' "$out" | grep -q '^closed' && fail "the session was closed for a group of an unknown subscription"
grep -q 'event=group_unknown_subscription .* sub=7' "$RELAY_LOG" || fail "the unknown group was not refused"
ok "a group for a subscription that does not exist is refused, the session goes on"

out=$(send moq-lite-04 --bidi 0206 --bidi 020500016101 --uni 00)
printf '%s\n' "$out" | grep -q '^closed app 0$' && fail "truncated messages closed the session cleanly?"
ok "truncated messages and streams do not take the relay down ($(printf '%s' "$out" | tr '\n' ';'))"

kill -0 "$RELAY_PID" || fail "the relay died"
printf 'still\nflowing\n' >"$TEST_TMP/h.data"
feed "$TEST_TMP/h.data"
wait $honest || fail "the honest subscriber failed: $(cat "$TEST_TMP/honest.err")"
[ "$(sort "$TEST_TMP/honest.out" | tr "\n" " ")" = "flowing still " ] || fail "honest subscriber got: $(cat "$TEST_TMP/honest.out")"
ok "the honest publisher and subscriber kept working"
close_publisher || fail "honest publisher status"
relay_stop || fail "relay exit status $?"
