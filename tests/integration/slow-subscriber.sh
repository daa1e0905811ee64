#!/bin/sh
# A subscriber that stops reading must not stall the publisher or another subscriber: the relay
# drops its old groups (resets their streams) and the healthy subscriber gets every frame.
. "$top_srcdir/tests/integration/lib.sh"
trap 'kill $stall_pid $hold_pid 2>/dev/null; relay_cleanup' EXIT
relay_start

# 40 frames of 64 KB in groups of 2: 2.5 MB in all.
i=0
: >"$TEST_TMP/big"
while [ $i -lt 40 ]; do
  head -c 48000 /dev/urandom | base64 -w 0 >>"$TEST_TMP/big"
  echo >>"$TEST_TMP/big"
  i=$((i + 1))
done
start_publisher pub moq-lite-05 big video --group-frames 2
wait_log_count 'event=announced .* path=big' 1 5 || fail "not announced"

# The stalled subscriber writes into a FIFO that nobody reads after the first bytes: its process
# blocks on stdout, stops reading QUIC, and its flow-control window fills.
mkfifo "$TEST_TMP/stall"
sleep 1000 <"$TEST_TMP/stall" &
hold_pid=$!
cli subscribe "$(relay_url)" big video >"$TEST_TMP/stall" 2>/dev/null &
stall_pid=$!
cli subscribe "$(relay_url)" big video --count 40 >"$TEST_TMP/healthy" 2>"$TEST_TMP/healthy.err" &
healthy=$!
wait_log_count 'event=subscribe session=.* path=big' 2 5 || fail "subscribers did not subscribe"
start=$(date +%s)
head -n 20 "$TEST_TMP/big" >"$TEST_TMP/big.1"
tail -n 20 "$TEST_TMP/big" >"$TEST_TMP/big.2"
feed "$TEST_TMP/big.1"
sleep 2.5 # older than the relay's 2 s patience for unsent groups when the next ones come
feed "$TEST_TMP/big.2"
wait $healthy || fail "the healthy subscriber failed: $(cat "$TEST_TMP/healthy.err")"
sort "$TEST_TMP/big" >"$TEST_TMP/big.sorted"
sort "$TEST_TMP/healthy" | cmp -s "$TEST_TMP/big.sorted" - || fail "the healthy subscriber got other frames"
elapsed=$(($(date +%s) - start))
ok "the healthy subscriber got all 40 frames (${elapsed}s) while the other stalled"
close_publisher || fail "the publisher was held up: status $?"
ok "the publisher finished"
kill -0 "$RELAY_PID" || fail "relay died"
grep -q 'event=group_dropped' "$RELAY_LOG" || fail "no old group was dropped for the stalled subscriber"
ok "old groups of the stalled subscriber were dropped"
relay_stop || fail "relay exit status $?"
