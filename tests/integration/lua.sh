#!/bin/sh
# Lua policy scripts (--lua): accept, refuse with a reason, no opinion (the relay's default rules),
# a script error and a runaway loop (both refuse that session only), an answer given after
# moq.sleep (the relay keeps serving meanwhile), announce and subscribe vetoes, events, the shipped
# examples loading, and a reload on SIGHUP that keeps existing sessions.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
S="$TEST_TMP/policy.lua"
cat >"$S" <<'LUA'
function on_session(req)
  local q = req.query
  if q.deny then return false, "denied by script" end
  if q.error then error("boom") end
  if q.loop then while true do end end
  if q.slow then
    moq.sleep(tonumber(q.slow))
    moq.log("info", "slept for " .. req.path)
    return { publish = { "" }, subscribe = { "" } }
  end
  if req.path == "open" then return true end
  return nil
end
function on_announce(session, path)
  if moq.path_has_prefix(path, "anon/blocked") then return false, "blocked" end
end
function on_subscribe(session, path, track)
  if track == "secret" then return false, "no" end
end
function on_event(ev)
  if ev.type == "session_open" then moq.log("info", "event session_open " .. ev.session.id) end
end
LUA
# one worker: the counts below (broadcast_start lines, the script's globals) are those of one origin and
# one Lua state; with several workers each logs its stand-in and runs its own state (WORKERS)
relay_start --auth-public anon --lua "$S" --lua-budget 100000 --workers 1
grep -q 'event=plugin_loaded plugin=lua' "$RELAY_LOG" || fail "the lua plugin did not load"

l5() { cli --alpn moq-lite-05 "$@"; }
refused() { # NAME PATH LOG-PATTERN
  if l5 announced "$(relay_url "$2")" --count 1 >/dev/null 2>"$TEST_TMP/$1.err"; then fail "$1 was accepted"; fi
  grep -q unauthorized "$TEST_TMP/$1.err" || fail "$1: $(cat "$TEST_TMP/$1.err")"
  wait_log_count "$3" 1 3 || fail "$1: no log line matching $3"
  ok "$1: refused"
}
refused deny "x?deny=1" 'event=session_refused .*reason="denied by script" plugin=lua'
refused error "x?error=1" 'script error: .*boom'
refused budget "x?loop=1" 'reason="script exceeded its instruction budget"'
refused default "private" 'reason="no access to this path without a token"'
kill -0 "$RELAY_PID" || fail "the relay died"

# true: full access under the path; nil: the default (public anon/)
PUB_PATH=open start_publisher o moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=open/cam' 1 5 || fail "return true did not admit"
close_publisher || fail "publisher status"
ok "true admits with everything under the path"
PUB_PATH=anon start_publisher a moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=anon/cam' 1 5 || fail "nil did not fall back to the public prefix"
ok "nil leaves the decision to the relay's rules"
wait_log_count 'msg="event session_open' 2 3 || fail "on_event did not see the sessions"
ok "on_event sees sessions"
close_publisher || fail "publisher status"

# an answer after moq.sleep, while another session is served at once
l5 announced "$(relay_url "slow?slow=3000")" --count 1 >"$TEST_TMP/slow.out" 2>"$TEST_TMP/slow.err" &
slow=$!
sleep 0.2
before=$(log_count 'event=session_accepted .*root=anon ')
l5 subscribe "$(relay_url anon)" nothing t --count 1 >/dev/null 2>&1 # refused at once: not found
[ "$(log_count 'event=session_accepted .*root=anon ')" -gt "$before" ] || fail "no other session was admitted"
[ "$(log_count 'msg="slept for slow"')" -eq 0 ] || fail "the sleeping script finished before the other session"
ok "a sleeping script does not stall other sessions"
wait_log_count 'msg="slept for slow"' 1 10 || fail "the sleeping script never finished"
wait_log_count 'event=session_accepted .*root=slow .*by=lua' 1 3 || fail "the delayed answer was not applied"
kill "$slow" 2>/dev/null
ok "a script answers after moq.sleep"

# announce and subscribe vetoes
PUB_PATH=anon start_publisher b moq-lite-05 blocked/cam t
wait_log_count 'event=announce_denied .*path=blocked/cam' 1 5 || fail "on_announce did not refuse"
[ "$(log_count 'event=broadcast_start path=anon/blocked/cam')" -eq 0 ] || fail "a refused broadcast was published"
close_publisher || :
ok "on_announce refuses a broadcast"
PUB_PATH=anon start_publisher k moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=anon/cam' 2 5 || fail "second publisher of anon/cam"
if l5 subscribe "$(relay_url anon)" cam secret --count 1 >/dev/null 2>"$TEST_TMP/sec.err"; then fail "a refused subscription got data"; fi
wait_log_count 'event=subscribe_denied .*track=secret' 1 3 || fail "on_subscribe did not refuse"
ok "on_subscribe refuses a track"

# SIGHUP: the new script takes new sessions; the running publisher stays
cat >"$S" <<'LUA'
function on_session(req)
  if req.path == "open" then return false, "closed after reload" end
end
LUA
kill -HUP "$RELAY_PID"
wait_log_count 'event=plugin_reloaded plugin=lua' 1 3 || fail "no reload"
refused reloaded "open" 'reason="closed after reload"'
l5 subscribe "$(relay_url anon)" cam t --count 1 >"$TEST_TMP/after.out" 2>"$TEST_TMP/after.err" &
sub=$!
wait_log_count 'event=subscribe session=.* path=anon/cam track=t' 1 5 || fail "no subscription after the reload"
printf 'still here\n' >"$TEST_TMP/x"
feed "$TEST_TMP/x"
wait $sub || fail "the publisher from before the reload stopped: $(cat "$TEST_TMP/after.err")"
cmp -s "$TEST_TMP/x" "$TEST_TMP/after.out" || fail "wrong bytes after the reload"
ok "SIGHUP reloads the script and keeps existing sessions"
printf 'syntax error here(\n' >"$S"
kill -HUP "$RELAY_PID"
wait_log_count 'event=plugin_reload_failed plugin=lua' 1 3 || fail "a broken script was not reported"
refused still-old "open" 'reason="closed after reload"'
ok "a broken script on reload keeps the previous one"
close_publisher || :
relay_stop || fail "relay exit status $?"

# over WebTransport too: the script sees transport "webtransport" and the CONNECT path's query
cat >"$TEST_TMP/wt.lua" <<'LUA'
function on_session(req)
  if req.transport ~= "webtransport" then return nil end
  if req.query.key == "letmein" then return true end
  return false, "webtransport needs the key"
end
LUA
relay_start --auth-public anon --lua "$TEST_TMP/wt.lua"
cli announced "https://localhost:$RELAY_PORT/room?key=letmein" --count 1 >/dev/null 2>&1 &
wtok=$!
wait_log_count 'event=session_accepted .*root=room .*by=lua' 1 10 || fail "a WebTransport session with the key was not admitted by Lua"
kill $wtok 2>/dev/null
if cli announced "https://localhost:$RELAY_PORT/room?key=nope" --count 1 >/dev/null 2>&1; then fail "a WebTransport session without the key was admitted"; fi
wait_log_count 'reason="webtransport needs the key" plugin=lua' 1 5 || fail "the Lua refusal over WebTransport was not logged"
ok "a Lua script admits and refuses WebTransport sessions"
relay_stop || fail "relay exit status $?"

# scripts that read undefined globals as errors (strict mode) and answer with tables whose metatable
# errors: the relay reads both raw, so each session is decided and the relay stays up (both used to
# abort the process: a Lua error outside a protected call; found by tests/fuzz/fuzz_lua)
cat >"$TEST_TMP/strict.lua" <<'LUA'
function on_session(req)
  if req.query.meta then return setmetatable({}, {__index = function(t, k) error("no field " .. k) end}) end
  return nil
end
-- no on_announce, on_subscribe or on_route: looking them up must not run this
setmetatable(_G, {__index = function(t, k) error("undefined global " .. tostring(k), 2) end})
LUA
relay_start --auth-public anon --lua "$TEST_TMP/strict.lua"
l5 announced "$(relay_url "anon?meta=1")" --count 1 >/dev/null 2>&1 &
meta=$!
wait_log_count 'event=session_refused .*path=/anon reason="the token grants nothing' 1 5 ||
  fail "a grants table with a failing __index was not read as an empty grant"
PUB_PATH=anon start_publisher strict moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=anon/cam' 1 5 || fail "a strict-mode script without on_announce stopped a publisher"
kill -0 "$RELAY_PID" || fail "the relay died on a strict-mode script or a grants table with a metatable"
wait $meta 2>/dev/null
close_publisher || :
ok "strict-mode scripts and metatables on answers do not abort the relay"
relay_stop || fail "relay exit status $?"

# the shipped examples load
for f in "$top_srcdir"/lua/*.lua; do
  relay_start --auth-public anon --lua "$f"
  grep -q 'event=plugin_loaded plugin=lua' "$RELAY_LOG" || fail "$f did not load"
  l5 announced "$(relay_url anon)" --count 0 >/dev/null 2>&1 &
  sleep 0.3
  kill $! 2>/dev/null
  relay_stop || fail "relay with $f: exit status $?"
done
ok "the lua/ examples load and run"
