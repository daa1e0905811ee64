# lib.sh: helpers for the integration tests (POSIX sh). Source it; it needs top_builddir.
#   relay_start [ARGS...]  start moq-relay on 127.0.0.1 with free ports and a certificate made here
#                          (openssl, ECDSA P-256, SAN localhost + 127.0.0.1); sets RELAY_PID,
#                          RELAY_PORT (UDP), RELAY_HTTP_PORT (TCP), RELAY_CA (its PEM),
#                          RELAY_FINGERPRINT, RELAY_LOG. ARGS replace the certificate options when
#                          they contain --tls-generate/--tls-cert, and are appended otherwise;
#                          everything is public (--auth-public "") unless ARGS name access (an
#                          --auth-* option, --lua, --plugin) or a config file.
#                          MOQ_TEST_RELAY_ARGS (environment) go before ARGS: e.g. "--workers 2"
#                          runs a test against a relay of two workers. MOQ_TEST_RELAY_BIN
#                          (environment) runs another build of moq-relay (tsan.sh: the TSan one).
#   relay_stop             SIGTERM the relay and wait (SIGKILL after 5 s); returns its exit status
#   test_tmpdir            a private temporary directory, removed by relay_cleanup
#   fail MSG / ok MSG      report

: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
RELAY_BIN="${MOQ_TEST_RELAY_BIN:-$top_builddir/moq-relay}"
PROBE_BIN="$top_builddir/tests/tools/quic-probe"

TEST_TMP=${TEST_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/moq-test.XXXXXX")}
export TEST_TMP

ok() { printf 'ok: %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  if [ -n "${RELAY_LOG:-}" ] && [ -f "$RELAY_LOG" ]; then
    printf -- '--- relay log (last 30 lines) ---\n' >&2
    tail -n 30 "$RELAY_LOG" >&2
  fi
  exit 1
}

# make_cert DIR NAME: a self-signed ECDSA P-256 certificate for NAME, localhost and 127.0.0.1.
make_cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 10 -nodes \
    -subj "/CN=$2" -addext "subjectAltName=DNS:$2,DNS:localhost,IP:127.0.0.1" \
    -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# wait_for_line FILE PATTERN SECONDS
wait_for_line() {
  _n=0
  while [ "$_n" -lt $(($3 * 10)) ]; do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    if [ -n "${RELAY_PID:-}" ] && ! kill -0 "$RELAY_PID" 2>/dev/null; then return 1; fi
    sleep 0.1
    _n=$((_n + 1))
  done
  return 1
}

relay_start() {
  RELAY_DIR=$(mktemp -d "$TEST_TMP/relay.XXXXXX")
  RELAY_LOG="$RELAY_DIR/relay.log"
  _cert_args=""
  case " $* " in
  *" --tls-generate"* | *" --tls-cert"*) ;;
  *)
    make_cert "$RELAY_DIR" localhost || fail "openssl could not make a certificate"
    RELAY_CA="$RELAY_DIR/cert.pem"
    _cert_args="--tls-cert $RELAY_DIR/cert.pem --tls-key $RELAY_DIR/key.pem"
    ;;
  esac
  _auth_args="--auth-public="
  case " $* " in *" --auth-public"* | *".toml "* | *" --auth-key"* | *" --lua "* | *" --plugin "*) _auth_args="" ;; esac
  # shellcheck disable=SC2086
  "$RELAY_BIN" --server-bind 127.0.0.1:0 --web-http-listen 127.0.0.1:0 --log-level debug \
    $_cert_args $_auth_args ${MOQ_TEST_RELAY_ARGS:-} "$@" >"$RELAY_DIR/stdout" 2>"$RELAY_LOG" &
  RELAY_PID=$!
  if ! wait_for_line "$RELAY_LOG" "event=listening" 10; then
    fail "relay did not start"
  fi
  _line=$(grep 'event=listening' "$RELAY_LOG" | head -n 1)
  RELAY_PORT=$(printf '%s\n' "$_line" | sed -n 's/.* quic=[^ ]*:\([0-9]*\) .*/\1/p')
  RELAY_HTTP_PORT=$(printf '%s\n' "$_line" | sed -n 's/.* http=[^ ]*:\([0-9]*\) .*/\1/p')
  RELAY_FINGERPRINT=$(printf '%s\n' "$_line" | sed -n 's/.* fingerprint=\([0-9a-f]*\).*/\1/p')
  [ -n "$RELAY_PORT" ] || fail "no QUIC port in: $_line"
  export RELAY_PID RELAY_PORT RELAY_HTTP_PORT RELAY_FINGERPRINT RELAY_LOG
  [ -n "${RELAY_CA:-}" ] && export RELAY_CA
  return 0
}

relay_stop() {
  [ -n "${RELAY_PID:-}" ] || return 0
  kill -TERM "$RELAY_PID" 2>/dev/null || { RELAY_PID=; return 0; }
  _n=0
  while kill -0 "$RELAY_PID" 2>/dev/null && [ "$_n" -lt 50 ]; do
    sleep 0.1
    _n=$((_n + 1))
  done
  if kill -0 "$RELAY_PID" 2>/dev/null; then
    kill -KILL "$RELAY_PID" 2>/dev/null
    wait "$RELAY_PID" 2>/dev/null
    RELAY_PID=
    return 124
  fi
  wait "$RELAY_PID"
  _rc=$?
  RELAY_PID=
  return $_rc
}

relay_cleanup() {
  # the FIFO holders of start_publisher: left running they keep the publishers' input open
  [ -z "${HELD_FIFOS:-}" ] || kill $HELD_FIFOS 2>/dev/null || :
  relay_stop >/dev/null 2>&1 || :
  rm -rf "$TEST_TMP"
}
# A test stopped by a signal (make check's timeout, ^C) still runs its EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT

# http_get PORT PATH: prints the body; headers go to $TEST_TMP/headers.
http_get() {
  curl -sS --max-time 5 -D "$TEST_TMP/headers" "http://127.0.0.1:$1$2"
}

CLI_BIN="$top_builddir/moq-cli"
# cli ARGS...: moq-cli trusting the test relay's certificate.
cli() { "$CLI_BIN" --tls-root "$RELAY_CA" "$@"; }
# relay_url [PATH]: the raw QUIC URL of the test relay.
relay_url() { printf 'moql://localhost:%s/%s' "$RELAY_PORT" "${1:-}"; }
# log_count PATTERN: how many relay log lines match.
log_count() { grep -c -- "$1" "$RELAY_LOG" 2>/dev/null || true; }
# wait_log_count PATTERN N SECONDS: until at least N relay log lines match.
wait_log_count() {
  _n=0
  while [ "$_n" -lt $(($3 * 10)) ]; do
    [ "$(log_count "$1")" -ge "$2" ] && return 0
    sleep 0.1
    _n=$((_n + 1))
  done
  return 1
}
# start_publisher NAME ALPN BROADCAST TRACK [MOQ-CLI OPTIONS]: a publisher reading the FIFO
# $TEST_TMP/NAME.in, held open by a sleeping writer until close_publisher; sets PUB_PID.
# PUB_PATH (optional) is the URL path it connects to.
start_publisher() {
  _name=$1 _alpn=$2 _bc=$3 _tr=$4
  shift 4
  PUB_FIFO="$TEST_TMP/$_name.in"
  rm -f "$PUB_FIFO"
  mkfifo "$PUB_FIFO"
  cli --alpn "$_alpn" publish "$(relay_url "${PUB_PATH:-}")" "$_bc" "$_tr" "$@" <"$PUB_FIFO" \
    2>"$TEST_TMP/$_name.err" &
  PUB_PID=$!
  sleep 100000 >"$PUB_FIFO" &
  PUB_HOLD=$!
  HELD_FIFOS="${HELD_FIFOS:-} $PUB_HOLD"
}
# feed FILE: writes FILE to the publisher started last.
# (a publisher that has died leaves the FIFO without a reader: give up rather than block for ever)
feed() { timeout 30 sh -c 'cat "$1" >"$2"' feed "$1" "$PUB_FIFO" || fail "the publisher did not read its input (did it exit?)"; }
# close_publisher: end of input; waits for the publisher to exit and returns its status.
close_publisher() {
  kill "$PUB_HOLD" 2>/dev/null
  wait "$PUB_HOLD" 2>/dev/null
  wait "$PUB_PID"
}

# ---- hand-made moq-lite bytes for quic-probe ----
# lite_hex TEXT: TEXT as hex digits.
lite_hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# lite04_subscribe ID BROADCAST TRACK: a lite-03/04 SUBSCRIBE (id < 64, names < 64 bytes) as hex,
# priority 1, no group range; append '+' to keep the stream open.
lite04_subscribe() {
  printf '02%02x%02x%02x%s%02x%s0100000000' $((8 + ${#2} + ${#3})) "$1" "${#2}" "$(lite_hex "$2")" "${#3}" \
    "$(lite_hex "$3")"
}

# ---- the abuse tests' honest pair and memory verdict ----
# relay_rss / relay_fds: the test relay's resident memory (KiB) and open descriptors.
relay_rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$RELAY_PID/status"; }
relay_fds() { ls "/proc/$RELAY_PID/fd" | wc -l; }
# honest_start N: an honest publisher (moq-lite-04, broadcast "honest", track t) and a subscriber
# waiting for N frames; sends the first frame, "one". HONEST_FIFO takes the next frames.
honest_start() {
  start_publisher honest moq-lite-04 honest t
  HONEST_FIFO=$PUB_FIFO HONEST_PID=$PUB_PID HONEST_HOLD=$PUB_HOLD
  wait_log_count 'event=broadcast_start path=honest' 1 5 || fail "no honest broadcast"
  cli subscribe "$(relay_url)" honest t --count "$1" >"$TEST_TMP/honest.out" 2>"$TEST_TMP/honest.err" &
  HONEST_SUB=$!
  wait_log_count 'event=subscribe session=.* path=honest' 1 5 || fail "the honest subscriber did not subscribe"
  printf 'one\n' >"$HONEST_FIFO"
}
# honest_finish "WORD ... ": the subscriber must end with exactly these frames (sorted, each
# followed by a space); then the publisher is closed.
honest_finish() {
  wait "$HONEST_SUB" || fail "the honest subscriber failed: $(cat "$TEST_TMP/honest.err")"
  [ "$(sort "$TEST_TMP/honest.out" | tr '\n' ' ')" = "$1" ] || fail "the honest subscriber got: $(cat "$TEST_TMP/honest.out")"
  ok "the honest subscriber got every frame"
  PUB_FIFO=$HONEST_FIFO PUB_PID=$HONEST_PID PUB_HOLD=$HONEST_HOLD
  close_publisher || :
}
# memory_back BASE_KIB AFTER_KIB [BASE_FDS AFTER_FDS]: fails when the descriptors grew, or RSS
# beyond 10% + 2 MiB of the baseline (10% of a 7 MB process is below what glibc's arenas keep
# between measurements: seen up to 2 MB either way on a loaded machine). No RSS verdict on an ASan
# build, whose quarantine keeps freed memory on purpose (LeakSanitizer checks leaks at exit).
memory_back() {
  ok "after: RSS $2 KiB${4:+, $4 descriptors} (baseline $1 KiB${3:+, $3})"
  if [ -n "${3:-}" ] && [ "$4" -gt "$3" ]; then fail "the relay kept descriptors: $4, baseline $3"; fi
  if ldd "$RELAY_BIN" 2>/dev/null | grep -q libasan; then
    ok "(AddressSanitizer build: RSS says nothing here; LeakSanitizer checks at exit)"
  else
    [ "$2" -le $(($1 + $1 / 10 + 2048)) ] || fail "the relay kept memory: $2 KiB after, $1 KiB before"
  fi
}
