#!/bin/sh
# mTLS: with --server-tls-root, a client certificate that chains to that CA admits the session with
# full access under its path, as a cluster peer named by the certificate's first DNS name; a session
# without a certificate falls back to the other rules; a certificate from another CA fails the
# handshake. moq-cli presents one with --client-tls-cert/--client-tls-key.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
D="$TEST_TMP/pki"
mkdir -p "$D"
mkca() { # NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 10 -nodes -subj "/CN=$1" \
    -keyout "$D/$1.key" -out "$D/$1.pem" >/dev/null 2>&1 || fail "openssl: CA $1"
}
mkleaf() { # NAME CA DNS...
  _n=$1 _ca=$2
  shift 2
  _san=""
  for _d in "$@"; do _san="${_san:+$_san,}DNS:$_d"; done
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$_n" \
    -keyout "$D/$_n.key" -out "$D/$_n.csr" >/dev/null 2>&1 || fail "openssl: csr $_n"
  printf 'subjectAltName=%s\n' "$_san" >"$D/$_n.ext"
  openssl x509 -req -in "$D/$_n.csr" -CA "$D/$_ca.pem" -CAkey "$D/$_ca.key" -CAcreateserial -days 5 \
    -extfile "$D/$_n.ext" -out "$D/$_n.pem" >/dev/null 2>&1 || fail "openssl: sign $_n"
}
mkca clusterca
mkca otherca
mkleaf leaf1 clusterca leaf1.example.net alt.example.net
mkleaf rogue otherca leaf1.example.net

relay_start --auth-public anon --server-tls-root "$D/clusterca.pem"
mcli() { _who=$1; shift; cli --client-tls-cert "$D/$_who.pem" --client-tls-key "$D/$_who.key" "$@"; }

# a peer certificate: full access under / (lite-04: no path), outside the public prefix too
start_publisher_with() { # WHO NAME BROADCAST
  PUB_FIFO="$TEST_TMP/$2.in"
  mkfifo "$PUB_FIFO"
  mcli "$1" --alpn moq-lite-04 publish "$(relay_url)" "$3" t <"$PUB_FIFO" 2>"$TEST_TMP/$2.err" &
  PUB_PID=$!
  sleep 100000 >"$PUB_FIFO" &
  PUB_HOLD=$!
}
start_publisher_with leaf1 p private/cam
wait_log_count 'event=broadcast_start path=private/cam' 1 5 || fail "the peer certificate did not grant publishing"
grep -q 'event=session_accepted .*by=certificate cluster=1' "$RELAY_LOG" || fail "not admitted as a cluster peer"
close_publisher || fail "publisher status"
# it subscribes to what local clients publish (one hop: not to what another cluster peer publishes)
start_publisher p1 moq-lite-04 anon/local t
wait_log_count 'event=broadcast_start path=anon/local' 1 5 || fail "an anonymous publisher was refused"
mcli leaf1 --alpn moq-lite-04 subscribe "$(relay_url)" anon/local t --count 1 >"$TEST_TMP/s.out" 2>"$TEST_TMP/s.err" &
s=$!
wait_log_count 'event=subscribe session=.* path=anon/local' 1 5 || fail "the peer could not subscribe"
echo hello >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $s || fail "peer subscriber: $(cat "$TEST_TMP/s.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/s.out" || fail "peer subscriber got other bytes"
close_publisher || fail "publisher status"
start_publisher_with leaf1 p3 private/cam2
wait_log_count 'event=broadcast_start path=private/cam2' 1 5 || fail "the peer could not publish again"
if mcli leaf1 --alpn moq-lite-04 subscribe "$(relay_url)" private/cam2 t --count 1 >/dev/null 2>&1; then
  fail "a cluster peer was served another cluster peer's broadcast (more than one hop)"
fi
close_publisher || fail "publisher status"
ok "a client certificate from the CA admits a cluster peer with full access"

# no certificate: the public rules apply (private/ is not public)
start_publisher p2 moq-lite-04 private/other t
sleep 0.5
[ "$(log_count 'event=broadcast_start path=private/other')" -eq 0 ] || fail "a session without a certificate published outside anon/"
close_publisher || :
ok "without a certificate only the public prefix is open"

# a certificate from another CA: the handshake fails
before=$(log_count 'event=session_accepted .*by=certificate')
if mcli rogue --alpn moq-lite-04 announced "$(relay_url)" --count 1 >/dev/null 2>"$TEST_TMP/r.err"; then
  fail "a certificate from another CA was accepted"
fi
[ "$(log_count 'event=session_accepted .*by=certificate')" -eq "$before" ] || fail "the rogue certificate was admitted"
wait_log_count 'event=quic_closed .*transport_code=304' 1 3 || fail "no handshake failure logged"
kill -0 "$RELAY_PID" || fail "the relay died"
ok "a certificate from another CA is refused: $(head -n 1 "$TEST_TMP/r.err")"
relay_stop || fail "relay exit status $?"
