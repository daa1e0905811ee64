#!/bin/sh
# --workers 2: two event loops on one QUIC port. Sessions land on both workers (connection-ID
# steering), a publisher on one worker feeds subscribers on the other byte for byte over one upstream
# subscription, announcements cross workers both ways, the session limits hold across workers, and
# the relay shuts down cleanly.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
relay_start --workers 2
wait_log_count 'event=workers count=2 steering=' 1 5 || fail "no workers line"
grep -q 'event=worker_listening worker=1 ' "$RELAY_LOG" || fail "worker 1 did not listen"
grep -q 'event=workers count=2 steering=cbpf' "$RELAY_LOG" ||
  printf 'note: %s\n' "$(grep 'event=workers' "$RELAY_LOG")" # forwarding in user space only
ok "two workers on one port: $(grep -o 'steering=[a-z]*' "$RELAY_LOG" | head -n 1)"

# the worker a session runs on, from the log line of its admission (conn=ID of its connection)
worker_of() { grep "event=session_accepted conn=$1 " "$RELAY_LOG" | sed -n 's/.* worker=\([0-9]*\).*/\1/p' | head -n 1; }

# --- fan-out across workers: 12 subscribers (the chance that all land beside the publisher is 1/4096)
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
pub_conn=$(grep 'event=announced .* path=fan' "$RELAY_LOG" | sed -n 's/.* session=\([0-9a-f]*\) .*/\1/p' | head -n 1)
pub_worker=$(worker_of "$pub_conn")
[ -n "$pub_worker" ] || fail "no worker for the publisher's session $pub_conn"
n=0
while [ $n -lt 12 ]; do
  cli subscribe "$(relay_url)" fan video --count 60 >"$TEST_TMP/sub.$n" 2>"$TEST_TMP/sub.$n.err" &
  eval "sub_$n=\$!"
  n=$((n + 1))
done
wait_log_count 'event=subscribe session=.* path=fan' 12 10 || fail "not every subscriber subscribed"
[ "$(log_count 'event=subscribe_upstream .* path=fan')" -eq 1 ] || fail "expected one upstream subscription"
other=0
for c in $(grep 'event=subscribe session=.* path=fan' "$RELAY_LOG" | sed -n 's/.* session=\([0-9a-f]*\) .*/\1/p'); do
  [ "$(worker_of "$c")" != "$pub_worker" ] && other=$((other + 1))
done
[ "$other" -ge 1 ] || fail "every subscriber landed on the publisher's worker $pub_worker"
feed "$TEST_TMP/frames"
n=0
while [ $n -lt 12 ]; do
  eval "pid=\$sub_$n"
  wait "$pid" || fail "subscriber $n failed: $(cat "$TEST_TMP/sub.$n.err")"
  sort "$TEST_TMP/sub.$n" | cmp -s "$TEST_TMP/frames.sorted" - || fail "subscriber $n received different frames"
  n=$((n + 1))
done
ok "publisher on worker $pub_worker: 12 subscribers ($other on the other worker) received 60 frames byte for byte"
for w in 0 1; do
  grep -q "event=session_accepted .* worker=$w\$" "$RELAY_LOG" || fail "worker $w owns no session"
done
ok "both workers own sessions"
close_publisher || fail "publisher exit status $? ($(cat "$TEST_TMP/pub1.err"))"
wait_log_count 'event=broadcast_end path=fan' 2 5 || fail "the broadcast did not end on both workers"
ok "the broadcast ended on both workers with its publisher"

# --- announcements cross workers: watchers on both workers see a broadcast come and go
n=0
while [ $n -lt 6 ]; do
  cli announced "$(relay_url)" "" --count 2 >"$TEST_TMP/ann.$n" 2>"$TEST_TMP/ann.$n.err" &
  eval "ann_$n=\$!"
  n=$((n + 1))
done
wait_log_count 'event=announce_request' 6 5 || fail "not every announce request arrived"
start_publisher annp moq-lite-04 room/alice t
wait_log_count 'event=announced .* path=room/alice' 1 5 || fail "room/alice not announced"
sleep 0.3
close_publisher || fail "announce publisher status"
n=0
while [ $n -lt 6 ]; do
  eval "pid=\$ann_$n"
  wait "$pid" || fail "watcher $n failed: $(cat "$TEST_TMP/ann.$n.err")"
  [ "$(cat "$TEST_TMP/ann.$n")" = "$(printf '+room/alice\n-room/alice')" ] || fail "watcher $n printed: $(cat "$TEST_TMP/ann.$n")"
  n=$((n + 1))
done
ok "6 watchers on both workers saw +room/alice and -room/alice"

kill -0 "$RELAY_PID" || fail "relay died"
relay_stop || fail "relay exit status $?"
grep -q 'event=exit clean=1' "$RELAY_LOG" || fail "the workers did not shut down cleanly"
ok "clean shutdown of both workers"

# --- the session limits count the sessions of every worker: 4 held, the fifth refused
relay_start --workers 2 --limit-sessions 4
# The kernel spreads sessions over the workers by source port: all 4 land on one worker 1 time in 8.
# Then they are closed and 4 new ones opened, until both workers hold some (so the sum below adds
# two workers' counts).
stop_held() {
  n=0
  while [ $n -lt 4 ]; do
    eval "kill \$held_$n; wait \$held_$n 2>/dev/null"
    n=$((n + 1))
  done
}
round=0
while :; do
  round=$((round + 1))
  n=0
  while [ $n -lt 4 ]; do
    (exec "$CLI_BIN" --tls-root "$RELAY_CA" announced "$(relay_url)" --count 100 >/dev/null 2>&1) &
    eval "held_$n=\$!"
    n=$((n + 1))
  done
  wait_log_count 'event=session_accepted' $((4 * round)) 10 || fail "the held sessions were not admitted"
  grep 'event=session_accepted' "$RELAY_LOG" | tail -n 4 >"$TEST_TMP/held.round"
  grep -q ' worker=0$' "$TEST_TMP/held.round" && grep -q ' worker=1$' "$TEST_TMP/held.round" && break
  [ $round -lt 8 ] || fail "8 rounds of 4 sessions each landed on a single worker"
  stop_held
  wait_log_count 'event=session_closed' $((4 * round)) 10 || fail "the held sessions of round $round did not close"
done
# GET /stats (answered by worker 0) counts every worker's sessions; the others publish every 250 ms,
# so the sum is right within a few of those periods (polled: a sanitizer build on a busy machine is slow)
_i=0
while :; do
  stats=$(http_get "$RELAY_HTTP_PORT" /stats)
  case "$stats" in *'"sessions":4,"admitted":4,'*'"workers":2,'*) break ;; esac
  _i=$((_i + 1))
  [ $_i -lt 50 ] || fail "/stats with 4 sessions over 2 workers, after 5 s: $stats"
  sleep 0.1
done
ok "/stats sums the sessions of both workers: $(printf '%s' "$stats" | cut -c1-40)..."
n=0
refused=0
while [ $n -lt 4 ]; do # a new session lands on either worker: each is refused
  if cli announced "$(relay_url)" --count 1 >/dev/null 2>&1; then fail "session $((5 + n)) was admitted over the limit of 4"; fi
  n=$((n + 1))
done
wait_log_count 'reason="limit sessions reached"' 4 5 || fail "the refusals were not logged"
ok "limit sessions = 4 across workers: 4 held on both workers (round $round), every fifth refused"
stop_held
sleep 0.5
before=$(log_count 'event=session_accepted')
cli subscribe "$(relay_url)" nothing a --count 1 >/dev/null 2>&1 # admitted again (then not found)
[ "$(log_count 'event=session_accepted')" -gt "$before" ] || fail "a session was not admitted once others left"
ok "room comes back when sessions leave"
relay_stop || fail "relay exit status $?"

# --- the default: one worker per CPU the relay may run on (its affinity mask, as nproc counts)
wait_listening() { # PID: waits up to 60 s (a sanitizer build on a loaded machine) for d.log's event=listening
  RELAY_PID=$1 # default_workers runs in $(...): this stays in its subshell
  wait_for_line "$TEST_TMP/d.log" 'event=listening' 60 && return 0
  if ! kill -0 "$1" 2>/dev/null; then
    wait "$1"
    echo "(the relay exited with status $?)" >>"$TEST_TMP/d.log"
    return 1
  fi
  { # say where it is stuck, then stop it
    echo "(no event=listening line within 60 s; the relay, pid $1:"
    grep -E '^(State|Threads|Cpus_allowed_list|voluntary_ctxt|nonvoluntary_ctxt)' "/proc/$1/status" 2>/dev/null
    printf 'wchan: %s\n' "$(cat "/proc/$1/wchan" 2>/dev/null)"
    command -v gdb >/dev/null && timeout 30 gdb -p "$1" -batch -ex 'thread apply all bt' 2>&1 | grep -E '^(#|Thread)'
    echo ")"
  } >>"$TEST_TMP/d.log"
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 1
}
default_workers() { # [PREFIX...]: starts the relay on its default --workers, prints the workers= it logged
  # Emptied here, not by the child's 2>: else wait_listening can read the last run's line before the
  # child has opened the file (what failed in CI: the relay was stopped before it had started).
  : >"$TEST_TMP/d.log"
  "$@" "$RELAY_BIN" --server-bind 127.0.0.1:0 --tls-generate localhost --auth-public "" >/dev/null 2>>"$TEST_TMP/d.log" &
  _p=$!
  wait_listening "$_p" || return 0
  sed -n 's/.*event=listening .* workers=\([0-9]*\).*/\1/p' "$TEST_TMP/d.log"
  kill "$_p"
  wait "$_p" || echo "(SIGTERM ended it with status $?)" >>"$TEST_TMP/d.log"
  grep -q 'event=exit clean=1' "$TEST_TMP/d.log" || echo "unclean" # SIGTERM right after listening stops it cleanly
}
cpus=$(nproc)
[ "$cpus" -gt 64 ] && cpus=64
[ "$(default_workers)" = "$cpus" ] || fail "default workers: $(cat "$TEST_TMP/d.log")"
if command -v taskset >/dev/null; then
  [ "$(default_workers taskset -c 0)" = 1 ] || fail "default workers on one CPU: $(cat "$TEST_TMP/d.log")"
  ok "by default one worker per CPU: $cpus here, 1 under taskset -c 0"
else
  ok "by default one worker per CPU: $cpus here (no taskset to try one CPU)"
fi

# --- configuration: bad values are refused with a clear message
"$RELAY_BIN" --tls-generate localhost --workers 65 2>"$TEST_TMP/w.err" && fail "--workers 65 was accepted"
grep -q -- '--workers: expected an integer from 0 (one per CPU) to 64, got "65"' "$TEST_TMP/w.err" || fail "message: $(cat "$TEST_TMP/w.err")"
printf '[server]\nworkers = "two"\n' >"$TEST_TMP/w.toml"
"$RELAY_BIN" --tls-generate localhost "$TEST_TMP/w.toml" 2>"$TEST_TMP/w.err" && fail "workers = \"two\" was accepted"
grep -q 'w.toml:2.*server.workers.*expected an integer' "$TEST_TMP/w.err" || fail "message: $(cat "$TEST_TMP/w.err")"
ok "bad worker settings are refused with the file, line and what was expected"
