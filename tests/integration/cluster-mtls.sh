#!/bin/sh
# Clustering with mTLS instead of a token: each relay presents a certificate from the cluster CA
# (--client-tls-cert) and admits peers whose certificate chains to it (--server-tls-root). Leaves
# register under their certificate's DNS name (localhost:PORT), a broadcast on one leaf is watched on
# another, and a relay whose certificate is from another CA is not admitted as a peer.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/cluster-lib.sh"
CLUSTER_NODES="root leaf1 leaf2 rogue"
trap 'cluster_stop_all; [ -n "${KEEP_TMP:-}" ] || relay_cleanup' EXIT
cluster_pki
P0=$(free_port) P1=$(free_port) P2=$(free_port) P3=$(free_port)
mtls() { node_cert "$1"; printf -- '--server-tls-root %s --client-tls-cert %s --client-tls-key %s' "$CL/ca.pem" "$CL/$1.pem" "$CL/$1.key"; }
# shellcheck disable=SC2046
node_start root "$P0" --auth-public anon $(mtls root)
# shellcheck disable=SC2046
node_start leaf1 "$P1" --auth-public anon $(mtls leaf1) --cluster-root "localhost:$P0"
# shellcheck disable=SC2046
node_start leaf2 "$P2" --auth-public anon $(mtls leaf2) --cluster-root "localhost:$P0"
for i in 1 2; do node_wait "leaf$i" "registered with root localhost:$P0" 1 10 || fail "leaf$i did not register with its certificate"; done
grep -q 'event=session_accepted .*by=certificate cluster=1' "$(node_log root)" || fail "the root did not admit a certificate peer"
ok "leaves register with their certificates"

RELAY_CA="$CL/ca.pem" RELAY_PORT=$P1
PUB_PATH=anon start_publisher pub moq-lite-05 cam t --group-frames 2
node_wait leaf2 'msg="remote broadcast anon/cam from localhost:' 1 10 || fail "leaf2 did not learn anon/cam"
cli subscribe "moql://localhost:$P2/anon" cam t --count 2 >"$TEST_TMP/s.out" 2>"$TEST_TMP/s.err" &
s=$!
sleep 1
printf 'one\ntwo\n' >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $s || fail "subscriber on leaf2: $(cat "$TEST_TMP/s.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/s.out" || fail "leaf2's subscriber got $(cat "$TEST_TMP/s.out")"
ok "a broadcast on leaf1 is watched on leaf2 over an mTLS link"
close_publisher || :

# a relay with a certificate from another CA cannot register
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 10 -nodes -subj /CN=other \
  -addext "subjectAltName=DNS:localhost" -keyout "$CL/other.key" -out "$CL/other.pem" >/dev/null 2>&1
node_start rogue "$P3" --auth-public anon --client-tls-cert "$CL/other.pem" --client-tls-key "$CL/other.key" \
  --cluster-root "localhost:$P0"
node_wait rogue "root localhost:$P0 lost" 1 10 || fail "the rogue relay was not turned away"
grep -q "registered with root" "$(node_log rogue)" && fail "a relay with a foreign certificate registered"
ok "a certificate from another CA cannot register"
cluster_stop_all
