#!/bin/sh
# moq-bench against a real relay, briefly: usage errors, one publisher and three subscribers for 2 s
# (every field of the JSON report present, frames received, none corrupt, no group lost), and the
# connect-rate mode. No timing assertions: this checks the instrument, not the relay's speed.
. "$top_srcdir/tests/integration/lib.sh"
trap relay_cleanup EXIT
BENCH_BIN="$top_builddir/moq-bench"

"$BENCH_BIN" --help | grep -q -- '--connect-rate' || fail "--help does not list --connect-rate"
"$BENCH_BIN" --version | grep -q '^moq-bench [0-9]' || fail "--version"
"$BENCH_BIN" --subscribers 3 >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 2 ] && grep -q -- '--url' "$TEST_TMP/err" || fail "no --url: expected status 2 naming --url ($(cat "$TEST_TMP/err"))"
"$BENCH_BIN" --url moql://localhost:1/ --frame-size 10 >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 2 ] && grep -q -- '--frame-size' "$TEST_TMP/err" || fail "frame too small: expected status 2 ($(cat "$TEST_TMP/err"))"
"$BENCH_BIN" --url moql://localhost:1/ --watch-stats 127.0.0.1 >/dev/null 2>"$TEST_TMP/err"
[ $? -eq 2 ] && grep -q -- '--watch-stats: expected HOST:PORT' "$TEST_TMP/err" || fail "--watch-stats without a port: $(cat "$TEST_TMP/err")"
ok "usage errors"

relay_start
"$BENCH_BIN" --url "$(relay_url)" --tls-root "$RELAY_CA" --publishers 1 --subscribers 3 --duration 2 --warmup 0.5 \
  --frame-size 3000 --group-frames 3 --json --watch-pid "$RELAY_PID" --watch-stats "127.0.0.1:$RELAY_HTTP_PORT" \
  >"$TEST_TMP/fanout.json" 2>"$TEST_TMP/fanout.err" \
  || fail "moq-bench failed: $(cat "$TEST_TMP/fanout.err")"
python3 - "$TEST_TMP/fanout.json" <<'PY' || fail "report: $(cat "$TEST_TMP/fanout.json")"
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("subscribers", "frames_sent", "frames_received", "bytes_received", "groups_lost"):
    assert isinstance(r.get(k), int), f"{k} missing"
for k in ("p50", "p90", "p99", "max"):
    assert isinstance(r["latency_us"].get(k), int), f"latency_us.{k} missing"
    assert isinstance(r["arrival_us"].get(k), int), f"arrival_us.{k} missing"
# every frame's kernel arrival comes before its callback: each percentile too (the clocks agree)
assert r["arrival_us"]["samples"] == r["latency_us"]["samples"], "an arrival time for every frame"
for k in ("p50", "p90", "p99", "max"):
    assert r["arrival_us"][k] <= r["latency_us"][k], f"arrival_us.{k} after latency_us.{k}"
assert r["arrival_us"]["max"] > 0, "arrival times all zero"
for k in ("p50", "p99"):
    assert isinstance(r["connect_ms"].get(k), (int, float)), f"connect_ms.{k} missing"
assert r["subscribers"] == 3, r["subscribers"]
assert r["frames_sent"] > 0 and r["frames_received"] > 0, "nothing flowed"
assert r["bytes_received"] == 3000 * r["frames_received"], "bytes do not match frames"
assert r["groups_lost"] == 0, f"{r['groups_lost']} groups lost"
assert r["frames_corrupt"] == 0 and r["frames_out_of_order"] == 0, "corrupt or reordered frames"
assert r["watch"]["ok"] and r["watch"]["rss_kib"] > 0, "the relay's /proc readings"
w = r["watch"]
assert w["user_s"] >= 0 and w["sys_s"] >= 0 and abs(w["user_s"] + w["sys_s"] - w["cpu_s"]) <= 0.011, f"user + system != cpu: {w}"
# the relay's own egress delays of the window (its GET /stats at both ends): about one per frame
# received (the other worker's figures are up to 250 ms old at each reading, so not exactly)
e = r["relay_egress_delay_us"]
assert "error" not in e, e
n = r["frames_received"]
assert 0.5 * n <= e["count"] <= 1.5 * n, f"{e['count']} egress delays for {n} frames"
assert 0 < e["p50"] <= e["p90"] <= e["p99"] <= e["max"], e
PY
ok "1 publisher -> 3 subscribers: $(cut -c1-160 "$TEST_TMP/fanout.json")..."

# ACKs held for the next data: subscribers (ngtcp2 clients) add a PING to every other ACK; at 100
# frames per second the relay's ACK of it waits for the next frame instead of going alone. The
# counters of GET /stats show it, and the stream stays whole; so do the pacing deadlines that found
# nothing to send and were dropped without a flush, and the egress delay of every frame.
http_get "$RELAY_HTTP_PORT" /stats >"$TEST_TMP/stats0" || fail "GET /stats"
"$BENCH_BIN" --url "$(relay_url fast)" --tls-root "$RELAY_CA" --subscribers 3 --fps 100 --frame-size 2000 --duration 2 \
  --warmup 0.5 --json >"$TEST_TMP/fast.json" 2>"$TEST_TMP/fast.err" || fail "moq-bench at 100 fps: $(cat "$TEST_TMP/fast.err")"
sleep 0.6 # the other workers publish their figures every 250 ms
http_get "$RELAY_HTTP_PORT" /stats >"$TEST_TMP/stats1" || fail "GET /stats"
python3 - "$TEST_TMP/stats0" "$TEST_TMP/stats1" "$TEST_TMP/fast.json" <<'PY' || fail "ACK hold: $(cat "$TEST_TMP/stats1")"
import json, sys
a, b, r = (json.load(open(f)) for f in sys.argv[1:4])
d = {k: b[k] - a[k] for k in ("datagrams_sent", "datagrams_received", "acks_held", "pacing_idle", "pacing_now")}
frames = r["frames_received"]
assert r["groups_lost"] == 0 and r["frames_corrupt"] == 0 and r["frames_out_of_order"] == 0, r
assert frames > 0 and d["datagrams_sent"] >= frames and d["datagrams_received"] > 0, (d, frames)
assert d["acks_held"] >= frames / 10, f"only {d['acks_held']} ACKs held for {frames} frames delivered"
# each burst leaves ngtcp2 a pacing deadline; with nothing left to send it is dropped unflushed, at
# a wake-up or, once ngtcp2 compensates a millisecond of lateness, at once
dropped = d["pacing_idle"] + d["pacing_now"]
assert dropped >= frames / 4, f"only {dropped} idle pacing deadlines dropped for {frames} frames"
assert d["pacing_now"] > 0, f"no pacing deadline was due at once: {d}"
# every frame forwarded live over QUIC is timed once, from its arrival to its sendmmsg: at least the
# frames of the window (the warm-up's come on top); the buckets add up to the count
for s in (a, b):
    e = s["egress_delay_us"]
    assert sum(n for _, n in e["buckets"]) == e["count"], e
    assert e["p50"] <= e["p90"] <= e["p99"] <= e["max"], e
ea, eb = (dict((lo, n) for lo, n in s["egress_delay_us"]["buckets"]) for s in (a, b))
timed = sum(eb.values()) - sum(ea.values())
assert timed >= frames, f"{timed} egress delays counted for {frames} frames delivered"
# and once each: a 2000-byte frame takes two datagrams at least
assert 2 * timed <= d["datagrams_sent"], f"{timed} egress delays for {d['datagrams_sent']} datagrams sent"
assert all(eb.get(lo, 0) >= n for lo, n in ea.items()), "a bucket went down"
print(d, frames, "timed", timed)
PY
ok "ACKs held for the next frame at 100 fps: $(tail -n 1 "$TEST_TMP/stats1")"

"$BENCH_BIN" --url "$(relay_url)" --tls-root "$RELAY_CA" --connect-rate --concurrency 2 --duration 1 --warmup 0 \
  --json >"$TEST_TMP/rate.json" 2>"$TEST_TMP/rate.err" || fail "moq-bench --connect-rate failed: $(cat "$TEST_TMP/rate.err")"
python3 - "$TEST_TMP/rate.json" <<'PY' || fail "connect-rate report: $(cat "$TEST_TMP/rate.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["mode"] == "connect-rate" and r["sessions"] > 0 and r["connect_failures"] == 0, r
PY
ok "connect-rate: $(cat "$TEST_TMP/rate.json" | cut -c1-200)"
relay_stop || fail "the relay did not stop cleanly"
ok "the relay stopped cleanly"
