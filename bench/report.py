#!/usr/bin/env python3
"""bench/report.py RESULTS.jsonl OUTDIR: the table and the plot of `make bench`.

Reads the JSON lines bench/run.sh wrote (one machine line, a raw ngtcp2 line at the start, middle and
end, one per fan-out point, one connect-rate line), prints the table (also written to OUTDIR/summary.txt) and draws
OUTDIR/bench.svg with gnuplot: relay CPU per byte / raw ngtcp2 CPU per byte, and latency p50/p99,
against subscribers. gnuplot is installed from Debian when missing and we are root; otherwise the plot
is skipped, loudly."""
import json
import os
import shutil
import statistics
import subprocess
import sys

TARGET_RATIO = 1.25
TARGET_P99_MS = 5.0
TARGET_P50_MS = 1.0
TARGET_RSS_KIB = 64
TARGET_RATE = 1500


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def fanout_figures(r, raw_ns):
    """The derived figures of one fan-out point (None where unknown)."""
    w = r.get("watch") or {}
    dur = r.get("duration_s") or 0
    rx = r.get("bytes_received") or 0
    cpu = w.get("cpu_s") if w.get("ok") else None
    subs = r.get("subscribers") or 0
    f = {
        "series": r.get("series", "?"),
        "subs": subs,
        "egress_mbs": rx / dur / 1e6 if dur else None,
        "relay_cpu_pct": 100 * cpu / dur if cpu is not None and dur else None,
        "ns_per_byte": cpu * 1e9 / rx if cpu is not None and rx else None,
        "sys_pct": 100 * w["sys_s"] / cpu if cpu and "sys_s" in w else None,
        "rss_per_sub_kib": (w.get("rss_kib", 0) - r.get("relay_rss_base_kib", 0)) / subs if w.get("ok") and subs else None,
        "p50_ms": r["latency_us"]["p50"] / 1000 if "latency_us" in r else None,
        "p99_ms": r["latency_us"]["p99"] / 1000 if "latency_us" in r else None,
        "arr50_ms": r["arrival_us"]["p50"] / 1000 if r.get("arrival_us", {}).get("samples") else None,
        "arr99_ms": r["arrival_us"]["p99"] / 1000 if r.get("arrival_us", {}).get("samples") else None,
        "egr50_ms": r["relay_egress_delay_us"]["p50"] / 1000 if r.get("relay_egress_delay_us", {}).get("count") else None,
        "egr99_ms": r["relay_egress_delay_us"]["p99"] / 1000 if r.get("relay_egress_delay_us", {}).get("count") else None,
        "lost": r.get("groups_lost"),
        "received_pct": 100 * r["frames_received"] / r["frames_expected"] if r.get("frames_expected") else None,
        "bench_cpu_pct": 100 * r.get("bench_cpu_s", 0) / dur if dur else None,
        "lag_ms": r["send_lag_us"]["p99"] / 1000 if "send_lag_us" in r else None,
        "runq_pct": 100 * (r.get("bench_runq_s", 0) + w.get("runq_s", 0)) / dur if dur else None,
        "failures": (r.get("connect_failures", 0) + r.get("sessions_closed", 0) + r.get("tracks_ended", 0)
                     + r.get("frames_corrupt", 0) + r.get("setup_timeouts", 0)),
        "ok": bool(r.get("frames_expected")),
        "streams": r.get("groups_published", 0),
    }
    f["ratio"] = f["ns_per_byte"] / raw_ns if f["ns_per_byte"] and raw_ns else None
    f["rss_kib"] = w.get("rss_kib") if w.get("ok") else None
    f["marginal_kib"] = None
    return f


def bucket_lower_ms(upper_ms):
    """The lower edge of the egress-delay bucket whose upper edge is upper_ms (core/base/delay_hist:
    below 4 us one bucket per microsecond, then four per octave)."""
    u = round(upper_ms * 1000)
    if u <= 4:
        return max(u - 1, 0) / 1000
    v = u - 1  # the largest value of the bucket
    e = v.bit_length() - 1
    return ((v >> (e - 2)) << (e - 2)) / 1000


def add_marginal(points):
    """RSS per added subscriber, against the 1-subscriber point of the same series."""
    for f in points:
        one = next((o for o in points if o["series"] == f["series"] and o["subs"] == 1 and o["ok"]), None)
        if one and f["subs"] > 1 and f["rss_kib"] is not None and one["rss_kib"] is not None:
            f["marginal_kib"] = (f["rss_kib"] - one["rss_kib"]) / (f["subs"] - 1)


def fmt(v, spec, none="n/a"):
    if v is None:
        width = spec.split(".")[0].rstrip("dfs")
        return none.rjust(int(width)) if width.isdigit() else none
    return format(v, spec)


def main():
    results, outdir = sys.argv[1], sys.argv[2]
    rows = load(results)
    machine = next((r for r in rows if r.get("kind") == "machine"), {})
    raws = [r for r in rows if r.get("kind") == "raw" and r.get("ns_per_byte")]
    rate = next((r for r in rows if r.get("kind") == "rate"), None)
    # the raw transfer runs several times in one bench (start, middle, end): the median divides
    raw_ns = statistics.median(r["ns_per_byte"] for r in raws) if raws else None
    points = [fanout_figures(r, raw_ns) for r in rows if r.get("kind") == "fanout"]
    add_marginal(points)

    out = []
    p = out.append
    p(f"moq-relay benchmark ({machine.get('version', '?')}, {machine.get('date', '?')})")
    p(f"machine: {machine.get('machine', '?')}; load before: {machine.get('load', '?')}; "
      f"{'server side pinned to CPU 0, client side to CPU 1' if machine.get('pinned') else 'not pinned'}"
      f"{', nice ' + str(machine['nice']) if machine.get('nice') else ''}")
    p(f"each point: {machine.get('warmup_s', '?')} s warm-up, {machine.get('duration_s', '?')} s measured, fresh relay")
    if raws:
        for raw in raws:
            p(f"raw ngtcp2 ({raw.get('when', '?')}) {raw['bytes'] / 1048576:.0f} MiB HTTP/3 download (example "
              f"wsslserver -> wsslclient): {raw['mb_per_s']:.0f} MB/s, server {raw['server_cpu_s']:.2f} s CPU = "
              f"{raw['ns_per_byte']:.3f} ns per byte")
        lo, hi = min(r["ns_per_byte"] for r in raws), max(r["ns_per_byte"] for r in raws)
        p(f"raw ngtcp2 reference: median {raw_ns:.3f} ns per byte ({1e3 / raw_ns:.0f} MB per CPU-second) of "
          f"{len(raws)} transfer(s), range {lo:.3f} to {hi:.3f}: 'x raw' divides by the median")
    else:
        p("raw ngtcp2: not measured (no ratios)")
    p("")
    head = (f"{'series':<10} {'subs':>5} {'egress':>9} {'relay':>6} {'ns/B':>7} {'sys':>4} {'x raw':>6} {'RSS/sub':>8} "
            f"{'+1 sub':>7} {'p50':>7} {'p99':>7} {'arr50':>6} {'arr99':>6} {'egr50':>6} {'egr99':>6} {'lost':>6} {'recv':>7} {'bench':>6} {'lag':>6} {'runq':>5}")
    p(head)
    p(f"{'':<10} {'':>5} {'MB/s':>9} {'CPU%':>6} {'':>7} {'%':>4} {'':>6} {'KiB':>8} {'KiB':>7} {'ms':>7} {'ms':>7} {'ms':>6} {'ms':>6} {'ms':>6} {'ms':>6} "
      f"{'groups':>6} {'%':>7} {'CPU%':>6} {'p99ms':>6} {'%':>5}")
    p("-" * len(head))
    bench_bound = False
    for f in points:
        flag = ""
        if f["bench_cpu_pct"] is not None and f["bench_cpu_pct"] >= 90:
            flag = " *"
            bench_bound = True
        if not f["ok"]:
            p(f"{f['series']:<10} {f['subs']:>5}  (no measurement: see the warnings above)")
            continue
        p(f"{f['series']:<10} {f['subs']:>5} {fmt(f['egress_mbs'], '9.2f')} {fmt(f['relay_cpu_pct'], '6.1f')} "
          f"{fmt(f['ns_per_byte'], '7.2f')} {fmt(f['sys_pct'], '4.0f')} {fmt(f['ratio'], '6.2f')} {fmt(f['rss_per_sub_kib'], '8.1f')} "
          f"{fmt(f['marginal_kib'], '7.1f', '-')} "
          f"{fmt(f['p50_ms'], '7.2f')} {fmt(f['p99_ms'], '7.2f')} {fmt(f['arr50_ms'], '6.2f')} {fmt(f['arr99_ms'], '6.2f')} "
          f"{fmt(f['egr50_ms'], '6.2f')} {fmt(f['egr99_ms'], '6.2f')} {fmt(f['lost'], '6d')} "
          f"{fmt(f['received_pct'], '7.2f')} {fmt(f['bench_cpu_pct'], '6.0f')} {fmt(f['lag_ms'], '6.1f')} "
          f"{fmt(f['runq_pct'], '5.0f')}{flag}"
          + (f"  ({f['failures']} failures)" if f["failures"] else ""))
    p("")
    p("egress: frame payload delivered to subscribers; ns/B: relay CPU (user+system) per egress byte; sys: the kernel's")
    p("share of that CPU (system time; on loopback it includes the delivery into the subscribers' sockets);")
    p("x raw: that / the raw ngtcp2 server's CPU per byte; RSS/sub: (VmRSS - VmRSS with no session) / subscribers,")
    p("the group cache included (30 s of the track, at most 32 MiB); +1 sub: (VmRSS - VmRSS at 1 subscriber) / (subscribers - 1);")
    p("latency (p50, p99): publisher send to the subscriber's frame callback, both in moq-bench (one clock); arr50/arr99:")
    p("send to the kernel's arrival of the frame's last datagram at the subscriber (SO_TIMESTAMPNS): the relay's share")
    p("without moq-bench's own queueing of hundreds of connections on one core; egr50/egr99: the relay's own egress delay")
    p("(GET /stats, egress_delay_us, over the window): from the kernel's receipt of the frame's last datagram at the relay")
    p("to the relay's sendmmsg of each subscriber's packet, at most 25 % high (bucket edges); recv: frames of the window received;")
    p("lag: how late moq-bench's publisher timer fired (its own delays, p99); runq: time the relay and moq-bench were")
    p("runnable but waiting for a CPU (other work on the machine), as a share of the window (/proc/PID/schedstat).")
    if bench_bound:
        p("* moq-bench itself used 90 % or more of its core: latency and loss at that point include its own queueing.")
    if rate and "connect_ms" not in rate:
        p("connect-rate: not measured (see the warnings above)")
        rate = None
    if rate:
        w = rate.get("watch") or {}
        per_cpu = rate.get("sessions", 0) / w["cpu_s"] if w.get("ok") and w.get("cpu_s") else None
        p(f"connect-rate ({rate.get('concurrency', '?')} at a time): {fmt(rate.get('sessions_per_s'), '.0f')} sessions/s, "
          f"relay {fmt(100 * w['cpu_s'] / rate['duration_s'] if w.get('ok') and rate.get('duration_s') else None, '.0f')} % CPU "
          f"= {fmt(per_cpu, '.0f')} sessions per relay CPU-second; connect p50 {rate['connect_ms']['p50']:.2f} ms, "
          f"p99 {rate['connect_ms']['p99']:.2f} ms; {rate.get('connect_failures', 0)} failed; moq-bench "
          f"{fmt(100 * rate.get('bench_cpu_s', 0) / rate['duration_s'] if rate.get('duration_s') else None, '.0f')} % CPU")
    else:
        per_cpu = None
    # scaling: the same point with one and with two workers
    for subs in sorted({f["subs"] for f in points if f["series"].startswith("workers")}):
        one = next((f for f in points if f["series"] == "workers-1" and f["subs"] == subs and f["ok"]), None)
        two = next((f for f in points if f["series"] == "workers-2" and f["subs"] == subs and f["ok"]), None)
        if one and two and one["egress_mbs"] and one["ns_per_byte"] and two["ns_per_byte"]:
            p(f"workers, {subs} subscribers: 2 workers deliver {two['egress_mbs'] / one['egress_mbs']:.2f}x the egress "
              f"of 1 ({fmt(one['received_pct'], '.0f')} % -> {fmt(two['received_pct'], '.0f')} % of the frames) at "
              f"{two['ns_per_byte'] / one['ns_per_byte']:.2f}x the CPU per byte")
    # targets (issue 7) at 200-400 subscribers of 60 fps x 4 KB
    p("")
    p("targets (issue 7), video-4k at 200 and 400 subscribers:")
    for f in points:
        if f["series"] != "video-4k" or f["subs"] not in (200, 400) or not f["ok"]:
            continue
        checks = [
            ("CPU/byte", f["ratio"], TARGET_RATIO, "x raw", lambda v, t: v <= t),
            ("p99", f["p99_ms"], TARGET_P99_MS, "ms", lambda v, t: v < t),
            ("p50", f["p50_ms"], TARGET_P50_MS, "ms", lambda v, t: v < t),
            ("arrival p99", f["arr99_ms"], TARGET_P99_MS, "ms", lambda v, t: v < t),
            ("arrival p50", f["arr50_ms"], TARGET_P50_MS, "ms", lambda v, t: v < t),
            ("relay-added p99", f["egr99_ms"], TARGET_P99_MS, "ms", lambda v, t: v <= t),
            ("relay-added p50", f["egr50_ms"], TARGET_P50_MS, "ms", lambda v, t: v <= t),
            ("RSS/sub", f["rss_per_sub_kib"], TARGET_RSS_KIB, "KiB", lambda v, t: v < t),
            ("+1 sub", f["marginal_kib"], TARGET_RSS_KIB, "KiB", lambda v, t: v < t),
        ]
        parts = []
        for name, v, t, unit, good in checks:
            if v is None:
                parts.append(f"{name} n/a")
            elif name.startswith("relay-added") and not good(v, t) and bucket_lower_ms(v) < t:
                # the upper edge of a histogram bucket: the true value is somewhere in [lower, v)
                parts.append(f"{name} {bucket_lower_ms(v):.2f} to {v:.2f} {unit}: the target {t:g} is inside that bucket")
            elif good(v, t):
                parts.append(f"{name} {v:.2f} {unit} ok")
            else:
                parts.append(f"{name} {v:.2f} {unit} MISS ({v / t:.1f}x the target {t:g})")
        if len(raws) > 1 and f["ns_per_byte"]:
            lo, hi = min(r["ns_per_byte"] for r in raws), max(r["ns_per_byte"] for r in raws)
            parts[0] += f" ({f['ns_per_byte'] / hi:.2f} to {f['ns_per_byte'] / lo:.2f} over the raw range)"
        parts.append(f"groups lost {f['lost']}" + (" ok" if f["lost"] == 0 else " MISS"))
        p(f"  {f['subs']} subs: " + "; ".join(parts))
    if per_cpu is not None:
        p(f"  sessions per relay CPU-second: {per_cpu:.0f} " +
          ("ok" if per_cpu >= TARGET_RATE else f"MISS ({per_cpu / TARGET_RATE:.2f}x the target {TARGET_RATE})"))
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(outdir, "summary.txt"), "w") as f:
        f.write(text)
    plot(points, outdir)


def have_gnuplot():
    if shutil.which("gnuplot"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing gnuplot-nox for the plot", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        rc = subprocess.call(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "gnuplot-nox"],
                             env=env, stdout=subprocess.DEVNULL)
        if rc == 0 and shutil.which("gnuplot"):
            return True
    return False


def plot(points, outdir):
    series = []
    for f in points:
        if f["ok"] and f["series"] not in series and not f["series"].startswith("workers"):
            series.append(f["series"])
    if not series:
        return
    for s in series:
        with open(os.path.join(outdir, f"{s}.dat"), "w") as d:
            d.write("# subs ratio ns_per_byte p50_ms p99_ms rss_per_sub_kib marginal_kib\n")
            # a point where most frames never arrived has no meaningful cost or latency: left out
            good = (f for f in points if f["series"] == s and f["ok"] and (f["received_pct"] or 0) >= 50)
            for f in sorted(good, key=lambda f: f["subs"]):
                vals = [f["subs"], f["ratio"], f["ns_per_byte"], f["p50_ms"], f["p99_ms"], f["rss_per_sub_kib"],
                        f["marginal_kib"]]
                d.write(" ".join("NaN" if v is None else str(v) for v in vals) + "\n")
    if not have_gnuplot():
        print("bench: WARNING: gnuplot is not installed and cannot be (apt-get install gnuplot-nox as root): "
              "NO PLOT; the data are in " + outdir + "/*.dat", file=sys.stderr)
        return
    svg = os.path.join(outdir, "bench.svg")
    cost = ", ".join(f"'{outdir}/{s}.dat' using 1:2 with linespoints title '{s}'" for s in series)
    lat = ", ".join(f"'{outdir}/{s}.dat' using 1:4 with linespoints title '{s} p50', "
                    f"'{outdir}/{s}.dat' using 1:5 with linespoints dashtype 2 title '{s} p99'" for s in series)
    script = f"""
set terminal svg size 1100,460 dynamic font 'sans,11'
set output '{svg}'
set multiplot layout 1,2 title 'moq-relay, 1 publisher -> N subscribers (points where under half the frames arrived are left out)'
set logscale x
set xrange [0.8:600]
set xlabel 'subscribers'
set grid
set key top left opaque box
set ylabel 'relay CPU per egress byte / raw ngtcp2 CPU per byte'
set logscale y
plot {cost}, {TARGET_RATIO} with lines dashtype 3 lc rgb 'red' title 'target {TARGET_RATIO}x'
set ylabel 'latency, ms'
plot {lat}, {TARGET_P99_MS} with lines dashtype 3 lc rgb 'red' title 'p99 target', {TARGET_P50_MS} with lines dashtype 3 lc rgb 'orange' title 'p50 target'
unset multiplot
"""
    rc = subprocess.run(["gnuplot"], input=script, text=True).returncode
    if rc == 0:
        print(f"bench: plot: {svg}", file=sys.stderr)
    else:
        print("bench: WARNING: gnuplot failed: NO PLOT", file=sys.stderr)


if __name__ == "__main__":
    main()
