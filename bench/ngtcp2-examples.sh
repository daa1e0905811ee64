#!/usr/bin/env bash
# bench/ngtcp2-examples.sh: builds ngtcp2's own example HTTP/3 server and client, wolfSSL variants
# (wsslserver, wsslclient), from the sources ./bootstrap kept in the deps prefix, against the same
# wolfSSL and nghttp3, into a cache directory beside that prefix. Prints the directory holding the
# two programs. A rerun that finds them built does nothing.
#
# Needs g++ (C++20) and libev-dev; as root it installs libev-dev if missing.
# Environment: MOQ_DEPS_CACHE (as ./bootstrap), MOQ_BENCH_JOBS (default: nproc).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/deps.conf"
cache=${MOQ_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moq-relay}
prefix="$cache/deps-$MOQ_DEPS_TAG"
out="$cache/bench-ngtcp2-$MOQ_DEPS_TAG"
jobs=${MOQ_BENCH_JOBS:-$(nproc 2>/dev/null || echo 2)}
say() { printf 'ngtcp2-examples: %s\n' "$*" >&2; }
die() { printf 'ngtcp2-examples: error: %s\n' "$*" >&2; exit 1; }

if [ -x "$out/bin/wsslserver" ] && [ -x "$out/bin/wsslclient" ]; then
  echo "$out/bin"
  exit 0
fi
[ -d "$prefix/src/ngtcp2" ] || die "no ngtcp2 sources in $prefix/src: run ./bootstrap first"
command -v g++ >/dev/null || die "g++ is missing (apt-get install g++)"
if [ ! -f /usr/include/ev.h ]; then
  [ "$(id -u)" -eq 0 ] || die "libev-dev is missing: apt-get install libev-dev (as root)"
  say "installing libev-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libev-dev >/dev/null \
    || die "apt-get install libev-dev failed"
fi

t0=$(date +%s)
rm -rf "$out/build"
mkdir -p "$out/build" "$out/bin"
# Build in a copy: the prefix's sources stay pristine.
cp -a "$prefix/src/ngtcp2" "$out/build/ngtcp2"
log="$out/build.log"
: >"$log"
say "building ngtcp2 $MOQ_DEPS_NGTCP2 examples (wsslserver, wsslclient) in $out (log: $log)"
(
  cd "$out/build/ngtcp2"
  { [ -x configure ] || autoreconf -fi; } >>"$log" 2>&1
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" ./configure --disable-shared --enable-static \
    --with-wolfssl --without-openssl --without-gnutls --without-boringssl --without-picotls \
    --without-jemalloc --with-libev --with-libnghttp3 LIBS="-lm -lpthread" >>"$log" 2>&1
  grep -q 'wolfSSL:.*yes' config.log 2>/dev/null || grep -q 'ENABLE_EXAMPLE_WOLFSSL_TRUE=.$' config.log \
    || die "configure did not enable the wolfSSL examples (see $log)"
  make -j"$jobs" -C lib >>"$log" 2>&1
  make -j"$jobs" -C crypto >>"$log" 2>&1
  make -j"$jobs" -C third-party >>"$log" 2>&1
  make -j"$jobs" -C examples wsslserver wsslclient >>"$log" 2>&1
) || { tail -n 30 "$log" >&2; die "build failed (full log: $log)"; }
cp "$out/build/ngtcp2/examples/wsslserver" "$out/build/ngtcp2/examples/wsslclient" "$out/bin/"
rm -rf "$out/build"
say "built in $(( $(date +%s) - t0 )) s"
echo "$out/bin"
