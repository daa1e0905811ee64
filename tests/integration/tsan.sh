#!/bin/sh
# ThreadSanitizer over the code where worker threads meet: workers.sh, pubsub.sh and
# webtransport.sh on --workers 2, and cluster.sh (four relays of two workers), each run against
# tests/tsan/moq-relay (the relay built with -fsanitize=thread, see Makefile.am). Any TSan report
# (a data race, a lock-order inversion, ...) fails this test and is printed. Caught this way once:
# every worker read into the main thread's receive slots (core/quic/udp.c).
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
TSAN_RELAY="$top_builddir/tests/tsan/moq-relay"
if [ "${TSAN_ENABLED:-}" != yes ]; then
  echo "skip: configure found no compiler that links -fsanitize=thread programs (see config.log)"
  exit 77
fi
[ -x "$TSAN_RELAY" ] || { echo "FAIL: $TSAN_RELAY was not built"; exit 1; }
reports=$(mktemp -d "${TMPDIR:-/tmp}/moq-tsan.XXXXXX")
trap 'rm -rf "$reports"' EXIT
# exitcode: a relay with reports exits 66, so the test that stops it fails there too;
# log_path: the reports land in files that outlive each test's temporary directory.
TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 log_path=$reports/report"
MOQ_TEST_RELAY_BIN=$TSAN_RELAY
export TSAN_OPTIONS MOQ_TEST_RELAY_BIN top_builddir top_srcdir
failed=
run() { # TEST [RELAY ARGS]
  _t=$1
  shift
  if MOQ_TEST_RELAY_ARGS="$*" $SHELL "$top_srcdir/tests/integration/$_t.sh" >"$reports/$_t.out" 2>&1; then
    echo "ok: $_t.sh${*:+ ($*)} under ThreadSanitizer: $(grep -c '^ok:' "$reports/$_t.out") checks"
  else
    echo "FAIL: $_t.sh${*:+ ($*)} under ThreadSanitizer:"
    tail -n 40 "$reports/$_t.out"
    failed=1
  fi
}
"$TSAN_RELAY" --version | grep -q '^moq-relay ' || { echo "FAIL: $TSAN_RELAY --version"; exit 1; }
run workers
run pubsub --workers 2
run webtransport --workers 2
run cluster
found=0
for f in "$reports"/report.*; do
  [ -f "$f" ] || continue
  found=$((found + 1))
  echo "--- ThreadSanitizer report $f:"
  cat "$f"
done
if [ "$found" -gt 0 ]; then
  echo "FAIL: $found relay process(es) reported by ThreadSanitizer"
  exit 1
fi
[ -z "$failed" ] || exit 1
echo "ok: no ThreadSanitizer report"
