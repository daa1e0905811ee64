#!/bin/sh
# A 20-relay cluster on one machine (a root and 19 leaves): a broadcast published on one leaf must
# reach every other relay. Prints the time it took to be announced everywhere and the memory of
# each relay (figures, not assertions: README's cluster section quotes them).
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/cluster-lib.sh"
N=${MOQ_CLUSTER_SCALE:-20}
CLUSTER_NODES="root"
i=1
while [ "$i" -lt "$N" ]; do CLUSTER_NODES="$CLUSTER_NODES leaf$i"; i=$((i + 1)); done
trap 'cluster_stop_all; relay_cleanup' EXIT
T="$top_builddir/moq-token"
"$T" generate --out "$CL/k.jwk" || fail "moq-token generate"
"$T" sign --key "$CL/k.jwk" --cluster --publish "" --subscribe "" >"$CL/cluster.jwt"
P0=$(free_port)
common="--auth-key $CL/k.jwk --auth-public anon --cluster-token $CL/cluster.jwt"
# shellcheck disable=SC2086
node_start root "$P0" $common
i=1
while [ "$i" -lt "$N" ]; do
  p=$(free_port)
  eval "P$i=$p"
  # shellcheck disable=SC2086
  node_start "leaf$i" "$p" $common --cluster-root "localhost:$P0"
  i=$((i + 1))
done
node_wait root 'msg="registered localhost:' $((N - 1)) 30 || fail "not every leaf registered"
ok "$((N - 1)) leaves registered"

ms_of() { # ts=...THH:MM:SS.mmmZ at the start of a line -> milliseconds of the day
  sed -n 's/^ts=[0-9-]*T\([0-9]*\):\([0-9]*\):\([0-9]*\)\.\([0-9]*\)Z.*/\1 \2 \3 \4/p' | head -n 1 |
    awk '{ printf "%d\n", (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'
}
RELAY_CA="$CL/ca.pem" RELAY_PORT=$P1
PUB_PATH=anon start_publisher pub moq-lite-05 scale t
node_wait leaf1 'event=broadcast_start path=anon/scale' 1 10 || fail "leaf1 did not take the broadcast"
t0=$(grep 'event=broadcast_start path=anon/scale' "$(node_log leaf1)" | ms_of)
worst=0
i=2
while [ "$i" -lt "$N" ]; do
  node_wait "leaf$i" 'msg="remote broadcast anon/scale from' 1 30 || fail "leaf$i never learned the broadcast"
  t=$(grep 'msg="remote broadcast anon/scale from' "$(node_log "leaf$i")" | ms_of)
  d=$((t - t0))
  [ "$d" -gt "$worst" ] && worst=$d
  i=$((i + 1))
done
node_wait root 'event=broadcast_start path=anon/scale' 1 10 || fail "the root did not get the broadcast"
ok "announced on all $N relays; the last one learned it ${worst} ms after it was published"

rss_total=0 rss_max=0
for n in $CLUSTER_NODES; do
  eval "pid=\$${n}_pid"
  kb=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")
  rss_total=$((rss_total + kb))
  [ "$kb" -gt "$rss_max" ] && rss_max=$kb
done
ok "memory: $((rss_total / N)) KiB RSS per relay on average, $rss_max KiB at most ($N relays)"
close_publisher || :
cluster_stop_all
