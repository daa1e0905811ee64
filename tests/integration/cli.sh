#!/bin/sh
# Command line and config file: --help/--version, clear errors for bad flags and bad configs
# (file, line and key named, status 2), flags overriding the file, and a config that starts.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT

"$RELAY_BIN" --help | grep -q -- '--server-bind' || fail "--help does not list --server-bind"
"$RELAY_BIN" --version | grep -q '^moq-relay [0-9]' || fail "--version"
ok "--help and --version"

expect_error() { # expect_error PATTERN ARGS...: exit status 2 and PATTERN on stderr
  pat=$1
  shift
  "$RELAY_BIN" "$@" >/dev/null 2>"$TEST_TMP/err"
  rc=$?
  [ $rc -eq 2 ] || fail "moq-relay $*: status $rc, expected 2 ($(cat "$TEST_TMP/err"))"
  grep -q -- "$pat" "$TEST_TMP/err" || fail "moq-relay $*: expected '$pat' in: $(cat "$TEST_TMP/err")"
  ok "error for $*: $(head -n 1 "$TEST_TMP/err")"
}

expect_error '--no-such-flag' --no-such-flag
expect_error 'no access is configured' --tls-generate localhost --server-bind 127.0.0.1:0
expect_error 'log-level' --tls-generate localhost --log-level loud
expect_error 'certificate' --server-bind 127.0.0.1:0 --auth-public anon
expect_error 'server-bind' --tls-generate localhost --server-bind nonsense --auth-public anon

cat >"$TEST_TMP/bad.toml" <<'TOML'
[server]
bind = "127.0.0.1:0"

[server.tls]
generate = ["localhost"]
colour = "blue"
TOML
expect_error 'bad.toml:6' "$TEST_TMP/bad.toml"

printf '[server]\nbind = 4443\n' >"$TEST_TMP/type.toml"
expect_error 'type.toml:2' "$TEST_TMP/type.toml"
printf '[server\nbind = "x"\n' >"$TEST_TMP/syntax.toml"
expect_error 'syntax.toml:1' "$TEST_TMP/syntax.toml"

cat >"$TEST_TMP/good.toml" <<'TOML'
# a working config; the flags below override the bind address
[server]
bind = "127.0.0.1:1"
[server.tls]
generate = ["localhost", "127.0.0.1"]
[web.http]
listen = "127.0.0.1:0"
[log]
level = "debug"
[auth]
public = "anon"
TOML
relay_start "$TEST_TMP/good.toml" --tls-generate localhost
grep -q 'quic=127.0.0.1:1 ' "$RELAY_LOG" && fail "the flag did not override the file"
"$PROBE_BIN" --host 127.0.0.1 --port "$RELAY_PORT" --fingerprint "$RELAY_FINGERPRINT" --alpn moql \
  --timeout-ms 5000 >/dev/null || fail "handshake with a config file"
relay_stop || fail "exit status"
ok "config file with overriding flags"

# A missing certificate file is a runtime error that names the file.
"$RELAY_BIN" --server-bind 127.0.0.1:0 --tls-cert "$TEST_TMP/none.pem" --tls-key "$TEST_TMP/none.key" \
  --auth-public anon 2>"$TEST_TMP/err" && fail "started without a certificate file"
grep -q 'none.pem' "$TEST_TMP/err" || fail "the error does not name the file: $(cat "$TEST_TMP/err")"
ok "missing certificate file named"
