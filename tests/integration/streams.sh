#!/bin/sh
# The QUIC stream limit bounds streams open at once, not over a connection's life: with
# --server-quic-max-streams 16, a publisher sending 60 groups (a stream each) over one connection
# gets all 60 through, and so does its subscriber (the relay's own limit toward it is the peer's).
# Without MAX_STREAMS updates the 17th group would never arrive.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --server-quic-max-streams 16
start_publisher p moq-lite-04 many t
wait_log_count 'event=broadcast_start path=many' 1 5 || fail "no broadcast"
cli subscribe "$(relay_url)" many t --count 60 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
sub=$!
wait_log_count 'event=subscribe session=.* path=many' 1 5 || fail "no subscription"
# Groups go in batches of 8 (fewer than the limit at once: a burst beyond the peer's stream credit
# is shed to the newest group by design), each batch once the last one arrived.
n=0
while [ "$n" -lt 60 ]; do
  i=$n
  while [ "$i" -lt $((n + 8)) ] && [ "$i" -lt 60 ]; do echo "g$i"; i=$((i + 1)); done >"$TEST_TMP/in"
  feed "$TEST_TMP/in"
  n=$i
  t=0
  while [ "$(wc -l <"$TEST_TMP/out")" -lt "$n" ]; do
    t=$((t + 1))
    [ "$t" -le 200 ] || fail "the subscriber got $(wc -l <"$TEST_TMP/out") of the first $n groups"
    sleep 0.1
  done
done
wait $sub || fail "the subscriber failed: $(cat "$TEST_TMP/err")"
[ "$(sort "$TEST_TMP/out" | uniq | wc -l)" -eq 60 ] || fail "got $(wc -l <"$TEST_TMP/out") lines"
ok "60 groups over a 16-stream limit"
close_publisher || fail "publisher status"
relay_stop || fail "relay exit status $?"
