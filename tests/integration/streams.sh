#!/bin/sh
# The QUIC stream limit bounds streams open at once, not over a connection's life: with
# --server-quic-max-streams 16, a publisher sending 60 groups (a stream each) over one connection
# gets all 60 through, and so does its subscriber (the relay's own limit toward it is the peer's).
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --server-quic-max-streams 16
start_publisher p moq-lite-04 many t
wait_log_count 'event=broadcast_start path=many' 1 5 || fail "no broadcast"
cli subscribe "$(relay_url)" many t --count 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
sub=$!
wait_log_count 'event=subscribe session=.* path=many' 1 5 || fail "no subscription"
# One group every 20 ms: a publisher without stream credit keeps only its newest group waiting
# (the live edge), so 60 groups written at once would leave 43 of them behind by design.
i=0
while [ "$i" -lt 60 ]; do echo "g$i"; i=$((i + 1)); sleep 0.02; done | timeout 30 sh -c 'cat >"$1"' feed "$PUB_FIFO" \
  || fail "the publisher did not read its input (did it exit?)"
(sleep 60; kill $sub 2>/dev/null) &
watchdog=$!
wait $sub || fail "the subscriber got $(wc -l <"$TEST_TMP/out") of 60 groups: $(cat "$TEST_TMP/err")"
[ "$(sort "$TEST_TMP/out" | uniq | wc -l)" -eq 60 ] || fail "got $(wc -l <"$TEST_TMP/out") lines"
kill $watchdog 2>/dev/null
ok "60 groups over a 16-stream limit"
close_publisher || fail "publisher status"
relay_stop || fail "relay exit status $?"
