# bench/lib.sh: what bench/run.sh (make bench) and bench/profile.sh (make profile) share. Sourced
# with bench_name set (the prefix of their messages) and top_builddir from make. Sets srcdir,
# builddir, RELAY and BENCH, checks that both are built, and gives say, die, free_port and the pids
# list that stop_pids kills and reaps.
srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${top_builddir:=$srcdir}"
builddir=$(cd "$top_builddir" && pwd)
RELAY="$builddir/moq-relay"
BENCH="$builddir/moq-bench"

say() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { printf '%s: error: %s\n' "$bench_name" "$*" >&2; exit 1; }
[ -x "$RELAY" ] && [ -x "$BENCH" ] || die "build first: make (needs $RELAY and $BENCH)"
command -v python3 >/dev/null || die "python3 is needed to read the results"

free_port() { # a free UDP port on 127.0.0.1
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=() # processes to stop at exit
stop_pids() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || :; done
  for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || :; done
}
