#!/bin/sh
# JWT auth with moq-token keys: the jwt plugin verifies ?jwt= (lite-05 SETUP path over raw QUIC),
# the relay scopes the claims to the URL path as the reference relay does, refuses bad, expired and
# out-of-root tokens, enforces publish/subscribe grants, and closes a session when its token expires.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
TOKEN="$top_builddir/moq-token"
K="$TEST_TMP/keys"
mkdir -p "$K"

"$TOKEN" generate --algorithm ES256 --out "$K/root.jwk" --public "$K/root.pub.jwk" || fail "moq-token generate"
[ "$(stat -c %a "$K/root.jwk")" = 600 ] || fail "the private key is not mode 0600"
now=$(date +%s)
full=$("$TOKEN" sign --key "$K/root.jwk" --root demo --publish "" --subscribe "") || fail "moq-token sign"
watch=$("$TOKEN" sign --key "$K/root.jwk" --root demo --subscribe "") || fail "sign subscribe-only"
expired=$("$TOKEN" sign --key "$K/root.jwk" --root demo --subscribe "" --expires $((now - 10))) || fail "sign expired"
printf '%s' "$full" | "$TOKEN" verify --key "$K/root.pub.jwk" >"$TEST_TMP/claims" || fail "moq-token verify"
grep -q '"root":"demo"' "$TEST_TMP/claims" || fail "verify printed $(cat "$TEST_TMP/claims")"
ok "moq-token generate/sign/verify"

relay_start --auth-key "$K/root.pub.jwk"
grep -q 'event=plugin_loaded plugin=jwt' "$RELAY_LOG" || fail "the jwt plugin did not load"
lite5() { cli --alpn moq-lite-05 "$@"; }

PUB_PATH="demo?jwt=$full" start_publisher p moq-lite-05 cam t --group-frames 2
wait_log_count 'event=broadcast_start path=demo/cam' 1 5 || fail "a full token could not publish"
ok "a token with put \"\" publishes under its root"
lite5 subscribe "$(relay_url "demo?jwt=$watch")" cam t --count 2 >"$TEST_TMP/w.out" 2>"$TEST_TMP/w.err" &
w=$!
lite5 subscribe "$(relay_url "?jwt=$watch")" demo/cam t --count 2 >"$TEST_TMP/r.out" 2>"$TEST_TMP/r.err" &
r=$!
wait_log_count 'event=subscribe session=.* path=demo/cam' 2 5 || fail "subscribers with tokens did not subscribe"
printf 'one\ntwo\n' >"$TEST_TMP/in"
feed "$TEST_TMP/in"
wait $w || fail "subscriber at /demo: $(cat "$TEST_TMP/w.err")"
wait $r || fail "subscriber at /: $(cat "$TEST_TMP/r.err")"
cmp -s "$TEST_TMP/in" "$TEST_TMP/w.out" && cmp -s "$TEST_TMP/in" "$TEST_TMP/r.out" || fail "subscribers got other bytes"
ok "a subscribe-only token watches at /demo and at / (its grants scoped to the path)"
close_publisher || fail "publisher status"

# subscribe-only: its announcements are not taken
PUB_PATH="demo?jwt=$watch" start_publisher q moq-lite-05 sneaky t
sleep 0.5
[ "$(log_count 'event=broadcast_start path=demo/sneaky')" -eq 0 ] || fail "a subscribe-only token published"
close_publisher || :
ok "a subscribe-only token cannot publish"

expect_refused() { # NAME URL-PATH LOG-PATTERN
  if lite5 subscribe "$(relay_url "$2")" x t --count 1 >/dev/null 2>"$TEST_TMP/$1.err"; then fail "$1 was accepted"; fi
  grep -q 'unauthorized' "$TEST_TMP/$1.err" || fail "$1: $(cat "$TEST_TMP/$1.err")"
  wait_log_count "event=session_refused .*$3" 1 3 || fail "$1: no log line matching $3"
  ok "$1 refused ($3)"
}
expect_refused expired "demo?jwt=$expired" 'expired'
expect_refused outside-root "other?jwt=$full" "outside the token's root"
expect_refused bad-signature "demo?jwt=$(printf '%s' "$full" | sed 's/.\{4\}$/AAAA/')" 'bad signature'
expect_refused no-token "demo" 'a token is required'
"$TOKEN" generate --algorithm HS256 --out "$K/other.jwk"
foreign=$("$TOKEN" sign --key "$K/other.jwk" --root demo --subscribe "")
expect_refused wrong-algorithm "demo?jwt=$foreign" 'algorithm HS256 is not the key'

# exp bounds the whole session (signed now: the suite may run slowly under sanitizers)
short=$("$TOKEN" sign --key "$K/root.jwk" --root demo --subscribe "" --expires $(($(date +%s) + 6))) || fail "sign short"
lite5 announced "$(relay_url "demo?jwt=$short")" --count 100 >/dev/null 2>"$TEST_TMP/s.err" &
s=$!
wait_log_count 'event=session_expired' 1 15 || fail "the session outlived its token"
wait $s && fail "the subscriber of an expired session exited 0"
ok "a session is closed when its token expires"
relay_stop || fail "relay exit status $?"

# --auth-key-dir: the token's kid names the key file
mkdir -p "$K/dir"
"$TOKEN" generate --algorithm EdDSA --id alpha --out "$K/alpha.jwk" --public "$K/dir/alpha.jwk" || fail "generate EdDSA"
tok=$("$TOKEN" sign --key "$K/alpha.jwk" --root "" --publish "" --subscribe "")
relay_start --auth-key-dir "$K/dir"
PUB_PATH="?jwt=$tok" start_publisher d moq-lite-05 room/x t
wait_log_count 'event=broadcast_start path=room/x' 1 5 || fail "a kid-named EdDSA key was not used"
close_publisher || fail "publisher status"
ok "--auth-key-dir finds the key by kid (EdDSA)"
expect_refused unknown-kid "?jwt=$foreign" 'names no key'
relay_stop || fail "relay exit status $?"
