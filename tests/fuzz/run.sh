#!/bin/sh
# run.sh SECONDS [NAME...]: fuzzes each harness built by `make fuzz` (or only the NAMEs, e.g. fuzz_lite)
# for SECONDS, one after the other (make fuzz-run FUZZ_SECONDS=... FUZZ_ONLY=...). The corpus each run
# grows is kept in tests/fuzz/work/NAME of the build tree and used again next time, together with the
# seeds (tests/fuzz/corpus/NAME) and the regression inputs (tests/fuzz/regress/NAME), which are only
# read. Crashes land in tests/fuzz/work/crashes/; the exit status says whether there were any.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-.}
seconds=${1:-60}
[ $# -gt 0 ] && shift
work="$top_builddir/tests/fuzz/work"
mkdir -p "$work/crashes" || exit 1

if [ $# -eq 0 ]; then
  for src in "$top_srcdir"/tests/fuzz/fuzz_*.c; do set -- "$@" "$(basename "$src" .c)"; done
fi
status=0
for name in "$@"; do
  bin="$top_builddir/tests/fuzz/$name"
  if [ ! -x "$bin" ]; then
    echo "$name: not built (make fuzz)" >&2
    status=1
    continue
  fi
  mkdir -p "$work/$name"
  dirs="$work/$name"
  for d in corpus regress; do
    [ -d "$top_srcdir/tests/fuzz/$d/$name" ] && dirs="$dirs $top_srcdir/tests/fuzz/$d/$name"
  done
  dict=
  [ -f "$top_srcdir/tests/fuzz/dict/$name.dict" ] && dict="-dict=$top_srcdir/tests/fuzz/dict/$name.dict"
  echo "== $name: $seconds s (corpus: $work/$name)"
  # shellcheck disable=SC2086 # dirs and dict are lists of words
  if ! "$bin" -max_total_time="$seconds" -max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/crashes/$name-" $dict $dirs > "$work/$name.log" 2>&1; then
    echo "$name: FAILED; see $work/$name.log and $work/crashes/"
    grep -a 'ERROR\|SUMMARY\|invariant' "$work/$name.log" | head -5
    status=1
  fi
  grep -a '^stat::number_of_executed_units\|^stat::new_units_added' "$work/$name.log" | tr '\n' ' '
  echo
done
exit $status
