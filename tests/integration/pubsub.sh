#!/bin/sh
# Publish and subscribe through a real relay with moq-cli: byte-exact fan-out to many subscribers
# (frames larger than a packet), every version against every other, late join at the live edge,
# unannounce when the publisher leaves, fast failure for an unknown broadcast.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start

# --- fan-out: 20 subscribers, 60 frames in groups of 3, some frames of 40 KB
i=0
: >"$TEST_TMP/frames"
while [ $i -lt 60 ]; do
  if [ $((i % 10)) -eq 7 ]; then
    head -c 30000 /dev/urandom | base64 -w 0 >>"$TEST_TMP/frames"
    echo >>"$TEST_TMP/frames"
  else
    echo "frame $i $(date +%N)" >>"$TEST_TMP/frames"
  fi
  i=$((i + 1))
done
sort "$TEST_TMP/frames" >"$TEST_TMP/frames.sorted"
start_publisher pub1 moq-lite-05 fan video --group-frames 3
wait_log_count 'event=announced .* path=fan' 1 5 || fail "the broadcast was not announced"
n=0
while [ $n -lt 20 ]; do
  cli subscribe "$(relay_url)" fan video --count 60 >"$TEST_TMP/sub.$n" 2>"$TEST_TMP/sub.$n.err" &
  eval "sub_$n=\$!"
  n=$((n + 1))
done
wait_log_count 'event=subscribe session=.* path=fan' 20 10 || fail "not every subscriber subscribed"
[ "$(log_count 'event=subscribe_upstream .* path=fan')" -eq 1 ] || fail "expected one upstream subscription"
feed "$TEST_TMP/frames"
n=0
while [ $n -lt 20 ]; do
  eval "pid=\$sub_$n"
  wait "$pid" || fail "subscriber $n failed: $(cat "$TEST_TMP/sub.$n.err")"
  # groups travel on their own streams, newest first: compare the frames, not their order
  sort "$TEST_TMP/sub.$n" | cmp -s "$TEST_TMP/frames.sorted" - || fail "subscriber $n received different frames"
  n=$((n + 1))
done
ok "20 subscribers received 60 frames byte for byte over one upstream subscription"
close_publisher || fail "publisher exit status $? ($(cat "$TEST_TMP/pub1.err"))"
ok "publisher exited cleanly at end of input"
wait_log_count 'event=broadcast_end path=fan' 1 5 || fail "the broadcast did not end with its publisher"
ok "broadcast ended with its publisher"

# --- the end of a track reaches its subscriber, after the last group (the relay holds the end until
# the group streams closed, then a grace of 250 ms on its session timer)
start_publisher pend moq-lite-05 ends t
wait_log_count 'event=announced .* path=ends' 1 5 || fail "ends: not announced"
timeout 15 "$CLI_BIN" --tls-root "$RELAY_CA" --alpn moq-lite-04 subscribe "$(relay_url)" ends t --count 10 \
  >"$TEST_TMP/ends.out" 2>"$TEST_TMP/ends.err" &
epid=$!
wait_log_count 'event=subscribe_upstream .* path=ends' 1 5 || fail "ends: no upstream subscription"
printf 'one\nthree\ntwo\n' >"$TEST_TMP/ends.in" # sorted: groups may arrive in any order
feed "$TEST_TMP/ends.in"
close_publisher || fail "ends: publisher status"
wait $epid
rc=$?
[ $rc -ne 124 ] || fail "the subscriber was not told that the track ended (still waiting after 15 s)"
[ $rc -ne 0 ] || fail "the subscriber exited 0 with 3 of 10 frames"
grep -q 'the track ended after 3 of 10 frames' "$TEST_TMP/ends.err" || fail "ends: subscriber said: $(cat "$TEST_TMP/ends.err")"
sort "$TEST_TMP/ends.out" | cmp -s - "$TEST_TMP/ends.in" || fail "ends: the subscriber printed $(wc -c <"$TEST_TMP/ends.out") bytes, not the 3 lines"
ok "a track's end reaches its subscriber after its last group (3 lines, then the end)"

# --- every version against every other
for pa in moq-lite-05 moq-lite-04 moq-lite-03 moql; do
  for sa in moq-lite-05 moq-lite-04 moq-lite-03 moql; do
    bc="v-$pa-$sa"
    start_publisher "p-$bc" "$pa" "$bc" t --group-frames 5
    wait_log_count "event=announced .* path=$bc" 1 5 || fail "$pa: not announced"
    cli --alpn "$sa" subscribe "$(relay_url)" "$bc" t --count 5 >"$TEST_TMP/s-$bc" 2>"$TEST_TMP/s-$bc.err" &
    spid=$!
    wait_log_count "event=subscribe session=.* path=$bc" 1 5 || fail "$sa: did not subscribe"
    printf 'one\ntwo\n\nfour\nfive\n' >"$TEST_TMP/in-$bc"
    feed "$TEST_TMP/in-$bc"
    wait $spid || fail "$pa -> $sa: subscriber failed: $(cat "$TEST_TMP/s-$bc.err")"
    cmp -s "$TEST_TMP/in-$bc" "$TEST_TMP/s-$bc" || fail "$pa -> $sa: different bytes"
    close_publisher || fail "$pa: publisher status"
  done
  ok "publisher $pa to subscribers of every version"
done

# --- late join: a new subscriber starts at the latest group, at once
start_publisher late moq-lite-04 late t
wait_log_count 'event=announced .* path=late' 1 5 || fail "late: not announced"
cli subscribe "$(relay_url)" late t --count 1 >/dev/null 2>&1 &
first=$!
wait_log_count 'event=subscribe session=.* path=late' 1 5 || fail "late: first subscriber"
printf 'g0\ng1\ng2\n' >"$TEST_TMP/late.data"
feed "$TEST_TMP/late.data"
wait $first || fail "late: first subscriber failed"
cli subscribe "$(relay_url)" late t --count 2 >"$TEST_TMP/late.out" 2>"$TEST_TMP/late.err" &
second=$!
wait_log_count 'event=subscribe session=.* path=late' 2 5 || fail "late: second subscriber"
sleep 0.3
printf 'g3\n' >"$TEST_TMP/late.more"
feed "$TEST_TMP/late.more"
wait $second || fail "late joiner failed: $(cat "$TEST_TMP/late.err")"
[ "$(cat "$TEST_TMP/late.out")" = "$(printf 'g2\ng3')" ] || fail "late joiner got: $(cat "$TEST_TMP/late.out")"
ok "a late subscriber starts at the latest group"
close_publisher || fail "late: publisher status"

# --- announcements: + when it starts, - when the publisher leaves
cli announced "$(relay_url)" "" --count 2 >"$TEST_TMP/ann.out" 2>"$TEST_TMP/ann.err" &
ann=$!
wait_log_count 'event=announce_request' 1 5 || fail "no announce request"
start_publisher annp moq-lite-05 room/alice t
wait_log_count 'event=announced .* path=room/alice' 1 5 || fail "room/alice not announced"
close_publisher || fail "announce publisher status"
wait $ann || fail "announced failed: $(cat "$TEST_TMP/ann.err")"
[ "$(cat "$TEST_TMP/ann.out")" = "$(printf '+room/alice\n-room/alice')" ] || fail "announced printed: $(cat "$TEST_TMP/ann.out")"
ok "announced shows the broadcast come and go"

# --- an unknown broadcast fails fast
start=$(date +%s)
if cli subscribe "$(relay_url)" no/such t --count 1 >/dev/null 2>"$TEST_TMP/nf.err"; then fail "subscribing to nothing succeeded"; fi
[ $(($(date +%s) - start)) -le 3 ] || fail "the failure took more than 3 s"
grep -q 'not found' "$TEST_TMP/nf.err" || fail "reason: $(cat "$TEST_TMP/nf.err")"
ok "unknown broadcast: $(cat "$TEST_TMP/nf.err")"

kill -0 "$RELAY_PID" || fail "relay died"
relay_stop || fail "relay exit status $?"
