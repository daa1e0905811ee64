#!/bin/sh
# The soak run of `make soak` (tests/soak/soak.sh), short: 10 s of warm-up churn and 25 s of churn
# over a root and two leaves, honest flows across relays, then every relay back to its baseline of
# sessions, streams, subscriptions, broadcasts and descriptors (and memory, outside ASan builds),
# and a clean exit on SIGTERM, where an ASan build's LeakSanitizer fails the test on a leak.
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
TEST_TMP=${TEST_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/moq-test.XXXXXX")}
export TEST_TMP
SOAK_SECONDS=25 SOAK_WARMUP=10 SOAK_CSV="$TEST_TMP/soak.csv" exec sh "$top_srcdir/tests/soak/soak.sh"
