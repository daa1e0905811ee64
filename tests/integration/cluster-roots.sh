#!/bin/sh
# Several roots: two leaves register with two roots; one root is killed; membership and new
# broadcasts still reach every leaf through the other root.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/cluster-lib.sh"
CLUSTER_NODES="r1 r2 a b"
trap 'cluster_stop_all; relay_cleanup' EXIT
T="$top_builddir/moq-token"
"$T" generate --out "$CL/k.jwk" || fail "moq-token generate"
"$T" sign --key "$CL/k.jwk" --cluster --publish "" --subscribe "" >"$CL/cluster.jwt"
R1=$(free_port) R2=$(free_port) PA=$(free_port) PB=$(free_port)
# one worker per relay (cluster.sh runs two)
common="--auth-key $CL/k.jwk --auth-public anon --cluster-token $CL/cluster.jwt --cluster-root localhost:$R1 --cluster-root localhost:$R2 --workers 1"
# shellcheck disable=SC2086
node_start r1 "$R1" $common
# shellcheck disable=SC2086
node_start r2 "$R2" $common
# shellcheck disable=SC2086
node_start a "$PA" $common
# shellcheck disable=SC2086
node_start b "$PB" $common
for n in a b; do
  node_wait "$n" "registered with root localhost:$R1" 1 10 || fail "$n did not register with r1"
  node_wait "$n" "registered with root localhost:$R2" 1 10 || fail "$n did not register with r2"
done
ok "each leaf registered with both roots"
node_stop r1 KILL
RELAY_CA="$CL/ca.pem" RELAY_PORT=$PA
PUB_PATH=anon start_publisher pub moq-lite-05 after t --group-frames 2
node_wait b 'msg="remote broadcast anon/after from localhost:' 1 15 || fail "b did not learn a broadcast made after r1 died"
cli subscribe "moql://localhost:$PB/anon" after t --count 2 >"$TEST_TMP/s.out" 2>"$TEST_TMP/s.err" &
s=$!
sleep 1
printf 'x\ny\n' >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $s || fail "subscriber on b: $(cat "$TEST_TMP/s.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/s.out" || fail "b's subscriber got $(cat "$TEST_TMP/s.out")"
cluster_json b "$PB" >"$TEST_TMP/b.json"
grep -q "\"name\":\"localhost:$R2\",\"state\":\"up\"" "$TEST_TMP/b.json" || fail "b's view: $(cat "$TEST_TMP/b.json")"
ok "with one root dead, the other carries membership and new broadcasts"
close_publisher || :
cluster_stop_all
