#!/bin/sh
# smoke.sh: the fuzz harnesses in the test suite. Each harness built by `make fuzz` runs its seed corpus
# (tests/fuzz/corpus/NAME), every crash input kept as a regression (tests/fuzz/regress/NAME), then a
# short fixed-seed fuzzing run (-seed=1 -runs=FUZZ_SMOKE_RUNS, default 5000) that is the same on every
# machine. A crash, a leak, a sanitizer report or a broken invariant fails the test; the input that did
# it is copied to tests/fuzz/smoke-crashes/ in the build tree. Without a compiler that builds libFuzzer
# harnesses (configure's FUZZ_CC check), the test is skipped (exit 77) with a message saying so.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
runs=${FUZZ_SMOKE_RUNS:-5000}

if [ "${FUZZ_ENABLED:-no}" != yes ]; then
  echo "SKIP: fuzz smoke test: '${FUZZ_CC:-clang}' cannot build libFuzzer harnesses (-fsanitize=fuzzer)." >&2
  echo "SKIP: install clang, or rerun ./configure FUZZ_CC=/path/to/clang, then make check." >&2
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/moq-fuzz-smoke.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
# LeakSanitizer and UBSan reports are failures; keep libFuzzer's own output in the log.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

fail=0
total=0
start=$(date +%s)
for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  bin="$top_builddir/tests/fuzz/$name"
  total=$((total + 1))
  if [ ! -x "$bin" ]; then
    echo "FAIL: $name: $bin was not built (make fuzz)"
    fail=1
    continue
  fi
  mkdir -p "$tmp/$name"
  set -- "$tmp/$name" # the first directory receives new inputs: never the source tree
  for d in corpus regress; do
    [ -d "$top_srcdir/tests/fuzz/$d/$name" ] && set -- "$@" "$top_srcdir/tests/fuzz/$d/$name"
  done
  dict="$top_srcdir/tests/fuzz/dict/$name.dict"
  [ -f "$dict" ] && set -- "-dict=$dict" "$@"
  t0=$(date +%s)
  if "$bin" -seed=1 -runs="$runs" -max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$tmp/$name-" "$@" > "$tmp/$name.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name.log")
    echo "ok: $name: ${execs:-?} inputs in $(( $(date +%s) - t0 )) s"
  else
    echo "FAIL: $name: the fuzzer stopped on a failure; its log:"
    grep -a -v '^#[0-9]' "$tmp/$name.log" | tail -60
    mkdir -p "$top_builddir/tests/fuzz/smoke-crashes"
    for a in "$tmp/$name"-*; do
      [ -f "$a" ] && cp "$a" "$top_builddir/tests/fuzz/smoke-crashes/" && echo "kept: tests/fuzz/smoke-crashes/$(basename "$a")"
    done
    fail=1
  fi
done
echo "fuzz smoke: $total harnesses, $runs fixed-seed runs each, $(( $(date +%s) - start )) s"
exit $fail
