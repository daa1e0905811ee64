#!/bin/sh
# The example cluster of conf/cluster (a root and three regional leaves) runs from its sample
# configs: make-pki.sh makes the CA, certificates and tokens; a broadcast published on the eu leaf
# is watched on the ap leaf and on the root. (Ports are moved to free ones for the test.)
. "$top_srcdir/tests/integration/lib.sh"
trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; [ -n "${KEEP_TMP:-}" ] || relay_cleanup' EXIT
D="$TEST_TMP/conf"
cp -r "$top_srcdir/conf/cluster" "$D" && chmod -R u+w "$D" || fail "copy conf/cluster"
MOQ_TOKEN="$top_builddir/moq-token" sh "$D/make-pki.sh" >/dev/null || fail "make-pki.sh failed"
pick() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sedargs=""
for old in 4440 4441 4442 4443; do
  new=$(pick)
  eval "P$old=$new"
  sedargs="$sedargs -e s/:$old\"/:$new\"/g"
done
# shellcheck disable=SC2086
for f in "$D"/*.toml; do sed -i $sedargs "$f"; done
pids=""
for n in root leaf-eu leaf-us leaf-ap; do
  (cd "$D" && exec "$RELAY_BIN" "$n.toml") 2>"$D/$n.log" &
  pids="$pids $!"
done
for n in leaf-eu leaf-us leaf-ap; do
  _i=0
  until grep -q 'registered with root' "$D/$n.log" 2>/dev/null; do
    _i=$((_i + 1))
    [ "$_i" -lt 100 ] || fail "$n did not register: $(tail -n 5 "$D/$n.log")"
    sleep 0.1
  done
done
ok "the root and three leaves start from conf/cluster and register"
RELAY_CA="$D/ca.pem" RELAY_PORT=$P4441
PUB_PATH=anon start_publisher pub moq-lite-05 clock seconds --group-frames 2
_i=0
until grep -q 'remote broadcast anon/clock' "$D/leaf-ap.log" 2>/dev/null; do
  _i=$((_i + 1))
  [ "$_i" -lt 100 ] || fail "ap did not learn the broadcast"
  sleep 0.1
done
cli subscribe "moql://localhost:$P4443/anon" clock seconds --count 2 >"$TEST_TMP/ap.out" 2>"$TEST_TMP/ap.err" &
ap=$!
cli subscribe "moql://localhost:$P4440/anon" clock seconds --count 2 >"$TEST_TMP/root.out" 2>"$TEST_TMP/root.err" &
rt=$!
sleep 1
printf '12:00:01\n12:00:02\n' >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $ap || fail "subscriber on ap: $(cat "$TEST_TMP/ap.err")"
wait $rt || fail "subscriber on the root: $(cat "$TEST_TMP/root.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/ap.out" && cmp -s "$TEST_TMP/in" "$TEST_TMP/root.out" || fail "wrong bytes"
curl -sS "http://127.0.0.1:$P4443/cluster" | grep -q '"remote_broadcasts":\[{"path":"anon/clock"' || fail "ap's /cluster"
ok "published on eu, watched on ap and on the root"
close_publisher || :
