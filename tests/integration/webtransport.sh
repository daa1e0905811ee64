#!/bin/sh
# moq-cli over WebTransport (HTTP/3, ALPN h3 on the relay's QUIC port): byte-exact publish/subscribe
# for each protocol the relay can choose (moq-lite-04, moq-lite-03, moql then setup, none offered),
# mixed transports (a WebTransport publisher to a raw QUIC subscriber and back), http:// URLs that pin
# the certificate from /certificate.sha256, ?jwt= through admission, and the relay's log lines.
. "$top_srcdir/tests/integration/lib.sh"
PUB_HOLD=
trap '[ -n "$PUB_HOLD" ] && kill "$PUB_HOLD" 2>/dev/null; relay_cleanup' EXIT

# One port number for UDP (QUIC) and TCP (HTTP), as http:// URLs need.
port=$(python3 -c '
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()
') || fail "no free port"
relay_start --server-bind "127.0.0.1:$port" --web-http-listen "127.0.0.1:$port"
[ "$RELAY_PORT" = "$port" ] && [ "$RELAY_HTTP_PORT" = "$port" ] || fail "the relay did not take port $port for both"

wt_url() { printf 'https://localhost:%s/%s' "$RELAY_PORT" "${1:-}"; }

# pub_start NAME URL BROADCAST TRACK [OPTIONS]: a publisher reading the FIFO $TEST_TMP/NAME.in.
pub_start() {
  _name=$1 _url=$2 _bc=$3 _tr=$4
  shift 4
  PUB_FIFO="$TEST_TMP/$_name.in"
  rm -f "$PUB_FIFO"
  mkfifo "$PUB_FIFO"
  cli "$@" publish "$_url" "$_bc" "$_tr" <"$PUB_FIFO" 2>"$TEST_TMP/$_name.err" &
  PUB_PID=$!
  sleep 100000 >"$PUB_FIFO" &
  PUB_HOLD=$!
}

# roundtrip TAG PUB_URL PUB_ALPN SUB_URL SUB_ALPN: 6 frames (one of 60 KB) across, byte for byte
roundtrip() {
  _bc="rt-$1"
  {
    printf 'one\ntwo\n\n'
    head -c 45000 /dev/urandom | base64 -w 0
    printf '\nfive\nsix\n'
  } >"$TEST_TMP/$_bc.data"
  pub_start "p-$_bc" "$2" "$_bc" t --alpn "$3" --group-frames 2
  wait_log_count "event=announced .* path=$_bc" 1 5 || fail "$1: not announced"
  cli --alpn "$5" subscribe "$4" "$_bc" t --count 6 >"$TEST_TMP/$_bc.out" 2>"$TEST_TMP/$_bc.err" &
  _spid=$!
  wait_log_count "event=subscribe session=.* path=\([^ ]*/\)\{0,1\}$_bc " 1 5 || fail "$1: did not subscribe ($(cat "$TEST_TMP/$_bc.err"))"
  feed "$TEST_TMP/$_bc.data"
  wait $_spid || fail "$1: subscriber failed: $(cat "$TEST_TMP/$_bc.err")"
  sort "$TEST_TMP/$_bc.data" >"$TEST_TMP/$_bc.want"
  sort "$TEST_TMP/$_bc.out" | cmp -s "$TEST_TMP/$_bc.want" - || fail "$1: different bytes"
  close_publisher || fail "$1: publisher exit status ($(cat "$TEST_TMP/p-$_bc.err"))"
}

# --- each protocol the relay can choose, publisher and subscriber both on WebTransport
for proto in moq-lite-04 moq-lite-03 moql none; do
  before=$(log_count "transport=webtransport protocol=$proto ")
  roundtrip "wt-$proto" "$(wt_url)" "$proto" "$(wt_url)" "$proto"
  [ "$(log_count "transport=webtransport protocol=$proto ")" -ge $((before + 2)) ] ||
    fail "$proto: the relay did not log session_open transport=webtransport protocol=$proto"
  ok "WebTransport $proto: publisher -> subscriber byte for byte"
done
grep -q 'event=session_ready session=.* version=moq-lite-02' "$RELAY_LOG" || fail "moql/none did not end on lite-02"
# without --alpn moq-cli offers moq-lite-04, moq-lite-03 and moql: the relay prefers lite-04
roundtrip wt-default "$(wt_url anon)" moq-lite-04 "$(wt_url anon)" moq-lite-03
cli subscribe "$(wt_url)" nobody t --count 1 >/dev/null 2>"$TEST_TMP/nf.err" && fail "an unknown broadcast did not fail"
grep -q 'not found' "$TEST_TMP/nf.err" || fail "unknown broadcast: $(cat "$TEST_TMP/nf.err")"
ok "WebTransport: default offer, versions mixed, unknown broadcast fails fast"

# --- mixed transports
roundtrip wt2quic "$(wt_url)" moq-lite-04 "$(relay_url)" moq-lite-05
ok "WebTransport publisher -> raw QUIC subscriber (moq-lite-05)"
roundtrip quic2wt "$(relay_url)" moql "$(wt_url)" moq-lite-03
ok "raw QUIC publisher (moql) -> WebTransport subscriber (moq-lite-03)"

# --- the URL path is the session root; the query goes through admission
roundtrip rooted "$(wt_url room)" moq-lite-04 "$(relay_url room)" moq-lite-05
grep -q 'event=broadcast_start path=room/rt-rooted' "$RELAY_LOG" || fail "the WebTransport path is not the session root"
grep -q 'event=session_open .*transport=webtransport protocol=moq-lite-04 path="\{0,1\}/room' "$RELAY_LOG" ||
  fail "session_open does not name the path"
out=$(cli subscribe "$(wt_url 'anon?jwt=eyJhbGciOiJIUzI1NiJ9.e30.c2ln')" x t --count 1 2>&1) && fail "a token without a key was accepted"
printf '%s\n' "$out" | grep -q 'unauthorized (code 6)' || fail "the refusal does not say why: $out"
wait_log_count 'event=session_refused .*reason="a token was given but no auth key is configured"' 1 5 ||
  fail "the refusal was not logged"
if grep 'event=session_open .*transport=webtransport' "$RELAY_LOG" | grep -q 'jwt'; then fail "a token reached the log"; fi
ok "WebTransport: URL path is the root; ?jwt= is refused by admission with code 6, never logged"

# --- http:// pins the certificate the relay serves at /certificate.sha256 (no --tls-root)
printf 'pinned\n' >"$TEST_TMP/pin.data"
pub_start pin "http://localhost:$RELAY_PORT/" pin t
wait_log_count 'event=announced .* path=pin' 1 5 || fail "http://: the publisher did not connect ($(cat "$TEST_TMP/pin.err"))"
"$CLI_BIN" subscribe "http://127.0.0.1:$RELAY_PORT/" pin t --count 1 >"$TEST_TMP/pin.out" 2>"$TEST_TMP/pin.err2" &
spid=$!
wait_log_count 'event=subscribe session=.* path=pin' 1 5 || fail "http://: the subscriber did not subscribe"
feed "$TEST_TMP/pin.data"
wait $spid || fail "http:// subscriber failed: $(cat "$TEST_TMP/pin.err2")"
cmp -s "$TEST_TMP/pin.data" "$TEST_TMP/pin.out" || fail "http://: different bytes"
close_publisher || fail "http:// publisher exit status"
# a wrong fingerprint is refused
"$CLI_BIN" --tls-fingerprint "$(printf '%064d' 0)" subscribe "$(wt_url)" pin t --count 1 >/dev/null 2>&1 &&
  fail "a wrong fingerprint was accepted"
ok "http:// URLs fetch /certificate.sha256 and pin it; another fingerprint is refused"

# --- plain HTTP/3 requests get HTTP/3 answers; GREASE streams are ignored; a broken control stream
# closes only its connection. (quic-probe: SETTINGS on a control stream, a GREASE uni stream, then
# QPACK-encoded GET / and POST / with static-table fields and :authority localhost.)
probe_h3() { "$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --ca "$RELAY_CA" --server-name localhost --alpn h3 "$@"; }
out=$(probe_h3 --uni 000400+ --uni 2105abcdef0102+ --bidi 01100000d1d7c150096c6f63616c686f7374 \
  --bidi 01100000d4d7c150096c6f63616c686f7374 --hold-ms 500) || fail "quic-probe over h3: $out"
printf '%s\n' "$out" | grep -q '^data 3 0004' || fail "the relay sent no SETTINGS on its control stream: $out"
printf '%s\n' "$out" | grep -q '^data 0 01[0-9a-f]*0000db' || fail "GET / did not get :status 404: $out"
printf '%s\n' "$out" | grep -q '^data 0 .*6e6f7420666f756e64' || fail "the 404 has no body: $out"
printf '%s\n' "$out" | grep -q '^fin 0' || fail "the 404 response was not finished"
printf '%s\n' "$out" | grep -q '^data 4 .*5f0903343035' || fail "POST / did not get :status 405: $out"
if printf '%s\n' "$out" | grep -q '^closed'; then fail "the relay closed the connection: $out"; fi
out=$(probe_h3 --uni 00070100+ --hold-ms 1000) || fail "quic-probe: $out"
printf '%s\n' "$out" | grep -q '^closed app 266' || fail "a control stream without SETTINGS did not close with H3_MISSING_SETTINGS: $out"
ok "h3: GET gets 404 and POST 405 with bodies, GREASE streams are ignored, a control stream without SETTINGS is refused"

# --- the relay is still well
r=$(http_get "$RELAY_HTTP_PORT" /health) || fail "health"
[ "$r" = ok ] || fail "health: $r"
relay_stop || fail "relay exit status $?"
grep -q 'event=exit clean=1' "$RELAY_LOG" || fail "the relay did not exit cleanly"
ok "the relay exits cleanly"
