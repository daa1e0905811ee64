#!/bin/sh
# Routing: a Lua on_route answers, for a broadcast this relay does not have, where it lives; the
# relay fetches it from there (one link, shared, closed when unwatched) and serves the subscriber.
# false refuses (not found), nil leaves it not found, and a script may wait (moq.sleep) first.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/cluster-lib.sh"
CLUSTER_NODES="origin edge"
trap 'cluster_stop_all; relay_cleanup' EXIT
PO=$(free_port) PE=$(free_port)
node_start origin "$PO" --auth-public ""
cat >"$TEST_TMP/route.lua" <<LUA
function on_route(session, path)
  if moq.path_has_prefix(path, "live") then
    moq.sleep(100)                          -- e.g. ask a directory service
    return "moql://localhost:$PO/"
  end
  if path == "secret" then return false, "not for you" end
  return nil
end
LUA
# one worker: each worker routes (and dials) for its own sessions, and this counts dials
node_start edge "$PE" --auth-public "" --lua "$TEST_TMP/route.lua" --cluster-linger 1s --workers 1
RELAY_CA="$CL/ca.pem" RELAY_PORT=$PO
start_publisher pub moq-lite-05 live/cam t --group-frames 2
node_wait origin 'event=broadcast_start path=live/cam' 1 5 || fail "no publisher on the origin relay"
cli subscribe "moql://localhost:$PE/" live/cam t --count 2 >"$TEST_TMP/a.out" 2>"$TEST_TMP/a.err" &
a=$!
cli subscribe "moql://localhost:$PE/" live/cam t --count 2 >"$TEST_TMP/b.out" 2>"$TEST_TMP/b.err" &
b=$!
node_wait edge 'event=routed .*path=live/cam plugin=lua' 1 5 || fail "the edge did not route live/cam"
sleep 1
printf 'one\ntwo\n' >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $a || fail "subscriber a: $(cat "$TEST_TMP/a.err")"
wait $b || fail "subscriber b: $(cat "$TEST_TMP/b.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/a.out" && cmp -s "$TEST_TMP/in" "$TEST_TMP/b.out" || fail "routed subscribers got other bytes"
[ "$(grep -c "event=link_dial url=localhost:$PO" "$(node_log edge)")" -eq 1 ] || fail "the edge dialed the origin more than once"
ok "on_route sends two subscribers to the relay that has the broadcast, over one link"
node_wait edge 'event=route_expired path=live/cam' 1 10 || fail "the routed broadcast stayed after its viewers left"
ok "the routed broadcast goes once nobody watches"
if cli subscribe "moql://localhost:$PE/" secret t --count 1 >/dev/null 2>&1; then fail "a refused route was served"; fi
if cli subscribe "moql://localhost:$PE/" other t --count 1 >/dev/null 2>&1; then fail "an unknown broadcast was served"; fi
node_wait edge 'event=subscribe_not_found .*path=other' 1 3 || fail "no not-found for an unrouted broadcast"
ok "false and nil leave the broadcast not found"
close_publisher || :
cluster_stop_all
