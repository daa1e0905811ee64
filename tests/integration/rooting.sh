#!/bin/sh
# The URL path is the session root, and --auth-public scopes what a token-less session may do:
# a broadcast published under /room is room/alice from the top; a session outside the public
# prefix is refused with "unauthorized"; lite-03/04 over raw QUIC (no path) are rooted at "/".
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --auth-public anon

# rooted publisher: moql://.../anon/room publishes "alice" = global anon/room/alice
PUB_PATH=anon/room start_publisher p moq-lite-05 alice t --group-frames 2
wait_log_count 'event=broadcast_start path=anon/room/alice' 1 5 || fail "not published as anon/room/alice"
ok "a broadcast published at /anon/room is anon/room/alice"
cli subscribe "$(relay_url anon)" room/alice t --count 2 >"$TEST_TMP/a.out" 2>"$TEST_TMP/a.err" &
s1=$!
cli --alpn moql subscribe "$(relay_url anon/room)" alice t --count 2 >"$TEST_TMP/b.out" 2>"$TEST_TMP/b.err" &
s2=$!
wait_log_count 'event=subscribe session=.* path=anon/room/alice' 2 5 || fail "subscribers did not subscribe"
printf 'x\ny\n' >"$TEST_TMP/xy"
feed "$TEST_TMP/xy"
wait $s1 || fail "subscriber at /anon: $(cat "$TEST_TMP/a.err")"
wait $s2 || fail "subscriber at /anon/room: $(cat "$TEST_TMP/b.err")"
cmp -s "$TEST_TMP/xy" "$TEST_TMP/a.out" && cmp -s "$TEST_TMP/xy" "$TEST_TMP/b.out" || fail "rooted subscribers got other bytes"
ok "subscribers rooted at /anon and /anon/room both see it"
close_publisher || fail "publisher status"

# outside the public prefix: refused
if cli subscribe "$(relay_url other)" x t --count 1 >/dev/null 2>"$TEST_TMP/r.err"; then fail "a session at /other was accepted"; fi
grep -q 'unauthorized' "$TEST_TMP/r.err" || fail "refusal reason: $(cat "$TEST_TMP/r.err")"
grep -q 'event=session_refused .*path=/other' "$RELAY_LOG" || fail "no session_refused log line"
ok "a session outside the public prefix is refused: $(cat "$TEST_TMP/r.err")"

# a token with no auth key configured: refused, as the reference does
if cli subscribe "$(relay_url 'anon?jwt=abc.def.ghi')" x t --count 1 >/dev/null 2>"$TEST_TMP/t.err"; then
  fail "a session with a token was accepted without an auth key"
fi
grep -q 'unauthorized' "$TEST_TMP/t.err" || fail "token refusal: $(cat "$TEST_TMP/t.err")"
grep -q 'event=session_refused .*no auth key' "$RELAY_LOG" || fail "no log line for the refused token"
ok "a token is refused while no auth key is configured"

# lite-04 has no path over raw QUIC: rooted at "/", where only anon/ is open
start_publisher p4 moq-lite-04 anon/cam t
wait_log_count 'event=broadcast_start path=anon/cam' 1 5 || fail "lite-04 publisher not rooted at /"
close_publisher || fail "lite-04 publisher status"
ok "lite-04 sessions are rooted at /"
start_publisher p5 moq-lite-04 private/cam t
sleep 0.5
[ "$(log_count 'event=broadcast_start path=private/cam')" -eq 0 ] || fail "a broadcast outside anon/ was accepted"
close_publisher || :
ok "nothing outside the public prefix is taken from a publisher"
relay_stop || fail "relay exit status $?"
