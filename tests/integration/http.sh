#!/bin/sh
# The HTTP listener: /certificate.sha256 equals the SHA-256 of the certificate's DER (with CORS),
# /health answers ok, unknown paths 404, other methods 405; with --tls-generate too.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT

relay_start
want=$(openssl x509 -in "$RELAY_CA" -outform DER | sha256sum | cut -d' ' -f1)
got=$(http_get "$RELAY_HTTP_PORT" /certificate.sha256) || fail "GET /certificate.sha256"
[ "$got" = "$want" ] || fail "fingerprint: got '$got', want '$want'"
grep -qi '^access-control-allow-origin: \*' "$TEST_TMP/headers" || fail "no Access-Control-Allow-Origin: *"
ok "/certificate.sha256 = sha256(DER)"
[ "$(http_get "$RELAY_HTTP_PORT" /fingerprint)" = "$want" ] || fail "/fingerprint"
ok "/fingerprint (old name)"
[ "$(http_get "$RELAY_HTTP_PORT" /health)" = "ok" ] || fail "/health"
ok "/health"
# the default --workers 0 runs one worker per CPU the relay may use (nproc counts the same mask)
cpus=$(nproc)
[ "$cpus" -gt 64 ] && cpus=64
[ "$(http_get "$RELAY_HTTP_PORT" /stats)" = '{"sessions":0,"admitted":0,"streams":0,"subscriptions":0,"consumes":0,"broadcasts":0,"worker":0,"workers":'"$cpus"',"datagrams_sent":0,"datagrams_received":0,"acks_held":0,"pacing_idle":0,"pacing_now":0,"egress_delay_us":{"count":0,"p50":0,"p90":0,"p99":0,"max":0,"buckets":[]}}' ] ||
  fail "/stats of an idle relay with $cpus CPUs: $(http_get "$RELAY_HTTP_PORT" /stats)"
grep -qi '^Content-Type: application/json' "$TEST_TMP/headers" || fail "/stats is not JSON"
ok "/stats"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RELAY_HTTP_PORT/nope")
[ "$code" = 404 ] || fail "unknown path: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$RELAY_HTTP_PORT/health")
[ "$code" = 405 ] || fail "POST: $code"
ok "404 and 405"
relay_stop || fail "relay exit status $?"

# A generated certificate: the served hash must pin the QUIC certificate.
relay_start --tls-generate localhost,127.0.0.1
fp=$(http_get "$RELAY_HTTP_PORT" /certificate.sha256) || fail "GET /certificate.sha256 (generated)"
[ "$fp" = "$RELAY_FINGERPRINT" ] || fail "served $fp, logged $RELAY_FINGERPRINT"
out=$("$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --fingerprint "$fp" --alpn moql --timeout-ms 5000) ||
  fail "pinning the served hash"
ok "generated certificate pinned by its served hash ($out)"
relay_stop || fail "relay exit status $?"
