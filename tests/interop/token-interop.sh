#!/bin/sh
# token-interop.sh — interop: keys and tokens of the published @moq/token (npm, the moq-dev
# project's JavaScript moq-token) work with our relay and moq-token, and ours with it.
#
# For HS256, ES256, ES384, EdDSA, RS256 and PS256: a key made by @moq/token verifies, in our
# moq-token and in a running relay (--auth-key), a token @moq/token signed; a key and token made
# by our moq-token verify in @moq/token's verifier. A base64url key file (@moq/token --base64)
# loads too. Then a relay keyed by @moq/token admits a moq-cli session carrying its token and
# refuses a tampered one.
# Exit 0 pass, 77 skip (no node/npm or registry), 99 hard error, else fail.
set -u
here=$(cd "$(dirname "$0")" && pwd) || exit 99
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
srcdir_interop="$top_srcdir/tests/interop"

log() { printf '%s\n' "token-interop: $*"; }
skip() {
    printf '%s\n' "########################################################################" \
        "# SKIP token-interop: $*" "# The @moq/token interop test did NOT run." \
        "########################################################################" >&2
    [ "${MOQ_INTEROP_REQUIRED:-0}" = 1 ] && exit 1
    exit 77
}
hard_error() { printf '%s\n' "ERROR token-interop: $*" >&2; exit 99; }

. "$srcdir_interop/npm-deps.sh"
interop_need_node
interop_npm_deps
JS="$depdir/node_modules/.bin/moq-token"
[ -x "$JS" ] || hard_error "no moq-token in $depdir/node_modules/.bin"
C="$top_builddir/moq-token"
[ -x "$C" ] || hard_error "missing $C (build first)"

. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
W="$TEST_TMP/keys"
mkdir -p "$W"
now=$(date +%s)

for alg in HS256 ES256 ES384 EdDSA RS256 PS256; do
  "$JS" generate --algorithm "$alg" --key "$W/js-$alg.jwk" --public "$W/js-$alg.pub.jwk" >/dev/null 2>&1 ||
    fail "@moq/token generate $alg"
  jpub="$W/js-$alg.pub.jwk"
  [ -s "$jpub" ] || jpub="$W/js-$alg.jwk" # HMAC: the secret is the only key
  tok=$("$JS" sign --key "$W/js-$alg.jwk" --root demo --publish cam --subscribe "" --expires $((now + 600))) ||
    fail "@moq/token sign $alg"
  printf '%s' "$tok" | "$C" verify --key "$jpub" >"$TEST_TMP/c.out" 2>&1 || fail "$alg: our verify refused @moq/token's token: $(cat "$TEST_TMP/c.out")"
  grep -q '"root":"demo"' "$TEST_TMP/c.out" || fail "$alg: claims $(cat "$TEST_TMP/c.out")"
  "$C" generate --algorithm "$alg" --out "$W/c-$alg.jwk" --public "$W/c-$alg.pub.jwk" 2>/dev/null ||
    "$C" generate --algorithm "$alg" --out "$W/c-$alg.jwk" || fail "our generate $alg"
  cpub="$W/c-$alg.pub.jwk"
  [ -s "$cpub" ] || cpub="$W/c-$alg.jwk"
  tok2=$("$C" sign --key "$W/c-$alg.jwk" --root demo --publish cam --subscribe "") || fail "our sign $alg"
  printf '%s' "$tok2" | "$JS" verify --key "$cpub" --root demo >"$TEST_TMP/j.out" 2>&1 ||
    fail "$alg: @moq/token refused our token: $(cat "$TEST_TMP/j.out")"
  grep -q '"root": *"demo"' "$TEST_TMP/j.out" || fail "$alg: @moq/token read $(cat "$TEST_TMP/j.out")"
  ok "$alg: keys and tokens verify both ways"
done
"$JS" generate --algorithm HS256 --key "$W/b64.jwk" --base64 >/dev/null 2>&1 || fail "@moq/token generate --base64"
tok=$("$JS" sign --key "$W/b64.jwk" --publish a)
printf '%s' "$tok" | "$C" verify --key "$W/b64.jwk" >/dev/null 2>&1 || fail "a base64url key file did not load"
ok "a base64url-encoded key file (@moq/token --base64) loads"

# a relay keyed by @moq/token admits its tokens
relay_start --auth-key "$W/js-ES256.pub.jwk"
tok=$("$JS" sign --key "$W/js-ES256.jwk" --root demo --publish "" --subscribe "")
PUB_PATH="demo?jwt=$tok" start_publisher p moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=demo/cam' 1 5 || fail "the relay refused @moq/token's token"
close_publisher || fail "publisher status"
bad=$(printf '%s' "$tok" | sed 's/.\{6\}$/AAAAAA/')
if cli --alpn moq-lite-05 announced "$(relay_url "demo?jwt=$bad")" --count 1 >/dev/null 2>&1; then
  fail "a tampered token was accepted"
fi
wait_log_count 'event=session_refused .*bad signature' 1 3 || fail "no refusal logged for the tampered token"
ok "a relay with an @moq/token key admits its tokens and refuses a tampered one"
relay_stop || fail "relay exit status $?"
