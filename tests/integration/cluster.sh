#!/bin/sh
# Clustering with a JWT cluster token: a root and three leaves on 127.0.0.1. A broadcast published
# on one leaf is watched on the other leaves and on the root, byte for byte, one hop from its leaf
# (the leaves dial each other only while someone watches, and close the link after the linger); a
# normal token cannot register; a dead leaf's broadcasts are withdrawn; a restarted root gets the
# leaves back; a dead root does not stop flows between leaves.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/cluster-lib.sh"
CLUSTER_NODES="root leaf1 leaf2 leaf3"
trap 'cluster_stop_all; relay_cleanup' EXIT
T="$top_builddir/moq-token"
"$T" generate --algorithm ES256 --out "$CL/k.jwk" --public "$CL/k.pub.jwk" || fail "moq-token generate"
"$T" sign --key "$CL/k.jwk" --cluster --publish "" --subscribe "" >"$CL/cluster.jwt" || fail "sign the cluster token"
user=$("$T" sign --key "$CL/k.jwk" --publish "" --subscribe "")
P0=$(free_port) P1=$(free_port) P2=$(free_port) P3=$(free_port)
# two workers on every relay, whatever the machine: registrations land on either worker of the root,
# viewers on either worker of a leaf, and only worker 0 dials (cluster-roots.sh runs one worker)
common="--auth-key $CL/k.pub.jwk --auth-public anon --cluster-token $CL/cluster.jwt --cluster-linger 2s --workers 2"
# shellcheck disable=SC2086
node_start root "$P0" $common
for i in 1 2 3; do
  eval "p=\$P$i"
  # shellcheck disable=SC2086
  node_start "leaf$i" "$p" $common --cluster-root "localhost:$P0"
done
for i in 1 2 3; do node_wait "leaf$i" "registered with root localhost:$P0" 1 10 || fail "leaf$i did not register"; done
node_wait root 'msg="registered localhost:' 3 5 || fail "the root did not register three leaves"
ok "three leaves registered with the root"
# /cluster is answered by the root's worker 0: it proves the members are shared between workers only
# if one registered on worker 1. All three land on worker 0 1 time in 8: then leaf3 reconnects.
tries=0
while ! grep -q 'event=session_accepted .* cluster=1 worker=1$' "$(node_log root)"; do
  tries=$((tries + 1))
  [ $tries -le 8 ] || fail "9 registrations in a row landed on the root's worker 0"
  had=$(grep -c 'registered with root' "$(node_log leaf3)")
  node_stop leaf3
  node_wait root 'msg="unregistered localhost:'"$P3" "$tries" 10 || fail "the root kept the stopped leaf3"
  # shellcheck disable=SC2086
  node_start leaf3 "$P3" $common --cluster-root "localhost:$P0"
  node_wait leaf3 'registered with root' $((had + 1)) 10 || fail "leaf3 did not register again"
  node_wait root 'msg="registered localhost:' $((3 + tries)) 5 || fail "the root did not register leaf3 again"
done
members=$(cluster_json root "$P0" | sed -n 's/.*"members":\[\(.*\)\],"nodes".*/\1/p' | grep -o '"node":"localhost:[0-9]*"' | sort -u | wc -l)
[ "$members" -eq 3 ] || fail "the root's /cluster lists $members members: $(cluster_json root "$P0")"
ok "the root's /cluster lists the three members, whichever worker admitted them"

# no leaf-to-leaf link while idle
RELAY_CA="$CL/ca.pem" RELAY_PORT=$P1
PUB_PATH=anon start_publisher pub moq-lite-05 cam video --group-frames 3
for i in 2 3; do node_wait "leaf$i" 'msg="remote broadcast anon/cam from localhost:' 1 10 || fail "leaf$i did not learn anon/cam"; done
sleep 0.5
cluster_json leaf2 "$P2" >"$TEST_TMP/idle.json" || fail "GET /cluster"
grep -q '"on_demand":true' "$TEST_TMP/idle.json" && fail "leaf2 dialed leaf1 with nobody watching: $(cat "$TEST_TMP/idle.json")"
grep -q "\"remote_broadcasts\":\\[{\"path\":\"anon/cam\",\"node\":\"localhost:$P1\"}" "$TEST_TMP/idle.json" ||
  fail "leaf2's /cluster: $(cat "$TEST_TMP/idle.json")"
ok "leaves learn the broadcast without a leaf-to-leaf link"

# watch it on leaf2, leaf3 and the root
for w in "leaf2 $P2" "leaf3 $P3" "root $P0"; do
  set -- $w
  cli subscribe "moql://localhost:$2/anon" cam video --count 3 >"$TEST_TMP/$1.out" 2>"$TEST_TMP/$1.err" &
  eval "sub_$1=\$!"
done
sleep 1
printf 'frame one\nframe two\nframe three\n' >"$TEST_TMP/frames"
feed "$TEST_TMP/frames"
for n in leaf2 leaf3 root; do
  eval "wait \$sub_$n" || fail "subscriber on $n: $(cat "$TEST_TMP/$n.err")"
  cmp -s "$TEST_TMP/frames" "$TEST_TMP/$n.out" || fail "subscriber on $n got: $(cat "$TEST_TMP/$n.out")"
done
grep -q "event=link_dial url=localhost:$P1" "$(node_log leaf2)" || fail "leaf2 did not dial leaf1 directly"
grep -q "event=link_dial url=localhost:$P1" "$(node_log root)" && fail "the root dialed a leaf (it is one hop already)"
ok "watched on leaf2, leaf3 and the root, byte for byte, one hop from leaf1"
node_wait leaf2 "event=link_linger_close url=localhost:$P1" 1 10 || fail "leaf2 kept its idle link to leaf1"
ok "the on-demand link closes after the linger once nobody watches"

# 8 viewers on leaf2's two workers: every one gets the frames over one link to leaf1
dials=$(grep -c "event=link_dial url=localhost:$P1" "$(node_log leaf2)")
n=0
while [ $n -lt 8 ]; do
  cli subscribe "moql://localhost:$P2/anon" cam video --count 6 >"$TEST_TMP/v$n.out" 2>"$TEST_TMP/v$n.err" &
  eval "v_$n=\$!"
  n=$((n + 1))
done
node_wait leaf2 'event=subscribe session=.* path=anon/cam' 9 10 || fail "not every viewer subscribed on leaf2"
sleep 0.5
printf 'frame four\nframe five\nframe six\n' >"$TEST_TMP/frames2"
feed "$TEST_TMP/frames2"
cat "$TEST_TMP/frames" "$TEST_TMP/frames2" >"$TEST_TMP/frames12" # the latest group first (late join), then live
n=0
while [ $n -lt 8 ]; do
  eval "wait \$v_$n" || fail "viewer $n on leaf2: $(cat "$TEST_TMP/v$n.err")"
  cmp -s "$TEST_TMP/frames12" "$TEST_TMP/v$n.out" || fail "viewer $n on leaf2 got: $(cat "$TEST_TMP/v$n.out")"
  n=$((n + 1))
done
[ "$(grep -c "event=link_dial url=localhost:$P1" "$(node_log leaf2)")" -eq $((dials + 1)) ] ||
  fail "leaf2 dialed leaf1 more than once for 8 viewers"
on=""
for w in 0 1; do grep -q "event=session_accepted .* worker=$w\$" "$(node_log leaf2)" && on="$on $w"; done
ok "8 viewers on leaf2 (sessions on workers$on) got the frames over one link to leaf1"

# a normal token cannot register
if cli --alpn moq-lite-05 announced "moql://localhost:$P0/?register=localhost:9&jwt=$user" --count 1 >/dev/null 2>&1; then
  fail "a normal token registered"
fi
node_wait root 'a token without the cluster claim cannot register' 1 5 || fail "no refusal logged"
ok "a token without the cluster claim cannot register"

# a dead leaf's broadcasts are withdrawn everywhere
node_stop leaf1 KILL
kill "$PUB_HOLD" 2>/dev/null
wait "$PUB_PID" 2>/dev/null
for i in 2 3; do
  node_wait "leaf$i" 'msg="remote broadcast anon/cam from localhost:.* is gone' 1 15 || fail "leaf$i kept the dead leaf's broadcast"
done
node_wait root "msg=\"unregistered localhost:$P1\"" 1 5 || fail "the root kept the dead leaf"
ok "a dead leaf's broadcasts are withdrawn from the others"

# a restarted root: the leaves register again
node_stop root TERM
# shellcheck disable=SC2086
node_start root "$P0" $common
for i in 2 3; do node_wait "leaf$i" "registered with root localhost:$P0" 2 20 || fail "leaf$i did not re-register"; done
ok "a restarted root gets its leaves back"

# a dead root does not stop a flow between leaves
RELAY_PORT=$P2
PUB_PATH=anon start_publisher pub2 moq-lite-05 live t
node_wait leaf3 'msg="remote broadcast anon/live from localhost:' 1 10 || fail "leaf3 did not learn anon/live"
cli subscribe "moql://localhost:$P3/anon" live t --count 4 >"$TEST_TMP/flow.out" 2>"$TEST_TMP/flow.err" &
flow=$!
sleep 1
printf 'a\nb\n' >"$TEST_TMP/ab"
feed "$TEST_TMP/ab"
sleep 0.5
node_stop root KILL
sleep 4 # longer than the idle timeout: the leaves know the root is gone
printf 'c\nd\n' >"$TEST_TMP/cd"
feed "$TEST_TMP/cd"
wait $flow || fail "the flow stopped with the root: $(cat "$TEST_TMP/flow.err")"
sort "$TEST_TMP/flow.out" | tr '\n' ' ' | grep -qx 'a b c d ' || fail "the flow after the root died: $(cat "$TEST_TMP/flow.out")"
ok "a dead root does not stop a flow between leaves"
close_publisher || :
cluster_stop_all
