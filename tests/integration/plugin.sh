#!/bin/sh
# C plugins (--plugin, [[plugin]]): the example plugin built from the installed header alone
# (tests/plugins/example.so) loads from the command line and from the config file with its
# [plugin.config]; it refuses announcements, limits sessions and answers admissions later through
# core->resume. A file that is not a plugin, or one built for another major API version, is refused
# at start with a message naming it.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
SO="$top_builddir/tests/plugins/example.so"
[ -f "$SO" ] || fail "missing $SO (make check builds it)"

refuses_to_start() { # NAME PATTERN ARGS...
  _name=$1 _pat=$2
  shift 2
  if "$RELAY_BIN" --server-bind 127.0.0.1:0 --tls-generate localhost --auth-public anon "$@" \
    >/dev/null 2>"$TEST_TMP/$_name.err"; then
    fail "$_name: the relay started"
  fi
  grep -q -- "$_pat" "$TEST_TMP/$_name.err" || fail "$_name: $(cat "$TEST_TMP/$_name.err")"
  ok "$_name refused at start: $(head -n 1 "$TEST_TMP/$_name.err")"
}
printf 'not a shared object\n' >"$TEST_TMP/text.so"
refuses_to_start not-elf 'text.so: cannot load' --plugin "$TEST_TMP/text.so"
libm=$(ldconfig -p 2>/dev/null | sed -n 's/.*libm\.so\.6 (libc6,x86-64) => \(.*\)/\1/p' | head -n 1)
[ -n "$libm" ] || libm=/lib/x86_64-linux-gnu/libm.so.6
refuses_to_start not-a-plugin 'not a moq-relay plugin' --plugin "$libm"
cat >"$TEST_TMP/v2.c" <<'C'
#include <string.h>
#include <moq-relay/plugin.h>
int moq_plugin_init(const moq_core *core, moq_plugin_host *h, const moq_plugin_config *cfg, moq_plugin *out,
                    char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->api_version = 2u << 16;
  out->size = sizeof *out;
  out->name = "future";
  return 0;
}
C
${CC:-cc} -shared -fPIC -I"$top_srcdir/core/include" -o "$TEST_TMP/v2.so" "$TEST_TMP/v2.c" || fail "cannot build the v2 plugin"
refuses_to_start wrong-major 'built for hook API 2.0; this relay speaks 1.1' --plugin "$TEST_TMP/v2.so"
refuses_to_start missing-file 'nowhere.so: cannot load' --plugin "$TEST_TMP/nowhere.so"

# [[plugin]] in the config file, with its [plugin.config]
# (one worker: each worker loads its own instance, and max_sessions counts that instance's sessions)
cat >"$TEST_TMP/relay.toml" <<TOML
[server]
workers = 1

[auth]
public = "anon"

[[plugin]]
path = "$SO"
[plugin.config]
deny_publish = ["anon/private", "anon/secret"]
max_sessions = 3
delay_ms = 300
TOML
relay_start "$TEST_TMP/relay.toml"
grep -q 'event=plugin_loaded plugin=example version=1.0' "$RELAY_LOG" || fail "the example plugin did not load"
ok "[[plugin]] loads the example plugin"

start=$(date +%s%N)
PUB_PATH=anon start_publisher p moq-lite-05 private/cam t
wait_log_count 'event=announce_denied .*path=private/cam' 1 5 || fail "deny_publish did not refuse"
[ "$(log_count 'event=broadcast_start path=anon/private/cam')" -eq 0 ] || fail "a denied broadcast was published"
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed" -ge 300 ] || fail "the admission was not delayed ($elapsed ms)"
wait_log_count 'event=session_accepted .*by=public' 1 3 || fail "the delayed PASS did not fall back to the public rule"
ok "announcements under deny_publish are refused; admission answered after ${elapsed} ms"
close_publisher || :

PUB_PATH=anon start_publisher q moq-lite-05 open/cam t
wait_log_count 'event=broadcast_start path=anon/open/cam' 1 5 || fail "an allowed broadcast was not published"
ok "other broadcasts are published"
cli --alpn moq-lite-05 announced "$(relay_url anon)" --count 100 >/dev/null 2>&1 &
a1=$!
cli --alpn moq-lite-05 announced "$(relay_url anon)" --count 100 >/dev/null 2>&1 &
a2=$!
wait_log_count 'event=session_accepted' 4 5 || fail "three sessions were not admitted"
if cli --alpn moq-lite-05 announced "$(relay_url anon)" --count 1 >/dev/null 2>"$TEST_TMP/4.err"; then
  fail "a fourth session was admitted"
fi
wait_log_count 'reason="too many sessions" plugin=example' 1 3 || fail "no refusal by the plugin"
ok "max_sessions = 3 refuses the fourth session"
kill $a1 $a2 2>/dev/null
close_publisher || :
relay_stop || fail "relay exit status $?"

# --plugin on the command line, after the file's plugins
relay_start --auth-public anon --plugin "$SO"
grep -q 'event=plugin_loaded plugin=example' "$RELAY_LOG" || fail "--plugin did not load"
PUB_PATH=anon start_publisher r moq-lite-05 cam t
wait_log_count 'event=broadcast_start path=anon/cam' 1 5 || fail "publishing through a plugin with no config"
close_publisher || fail "publisher status"
ok "--plugin loads a plugin with an empty configuration"
relay_stop || fail "relay exit status $?"
