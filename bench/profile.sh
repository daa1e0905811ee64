#!/usr/bin/env bash
# bench/profile.sh: what `make profile` runs. The relay's instructions and simulated cache misses per
# subscriber-frame, under valgrind's callgrind: counts that repeat from run to run on a noisy VM,
# where the wall clock does not (bench/PROFILE.md uses them to keep or drop a change).
#
# One relay (one worker) runs under callgrind with instrumentation off; moq-bench (not under
# valgrind) connects 1 publisher and PROFILE_SUBS subscribers of a PROFILE_FPS x PROFILE_FRAME
# track. After the sessions have settled, instrumentation is on for PROFILE_WINDOW seconds, and that
# window is dumped and summarized:
#   - Ir: instructions; D1 and LL misses with --cache-sim=yes (LL is set to PROFILE_LL, default a
#     1 MiB, 16-way, 64-byte-line cache, about one core's L2: a miss there is a trip to L3 or DRAM);
#   - per subscriber-frame: divided by the frames the relay fanned out in the window (the calls to
#     the session layer's sink_group: moq-bench sends one frame per group, so one call per
#     subscriber and frame);
#   - the same for the three phases (inclusive): on_recv (every datagram read, the publisher's frames
#     and their fan-out included), of it group_in_data (the fan-out), and flush_all (writing and
#     sending packets), plus the functions with the most LL misses.
# Valgrind runs the relay 50 to 100 times slower, so keep PROFILE_SUBS x PROFILE_FPS near 400 per
# second (20 x 20, or 200 x 2): the relay must keep up, or groups are lost (the summary says so).
#
# Environment: PROFILE_SUBS (20), PROFILE_FPS (20), PROFILE_FRAME (4096), PROFILE_WINDOW (6),
# PROFILE_LL ("1048576,16,64"), PROFILE_OUT (default: profile-results/ in the build directory).
set -euo pipefail

bench_name=profile
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
subs=${PROFILE_SUBS:-20}
fps=${PROFILE_FPS:-20}
frame=${PROFILE_FRAME:-4096}
window=${PROFILE_WINDOW:-6}
ll=${PROFILE_LL:-1048576,16,64}
out=${PROFILE_OUT:-$builddir/profile-results}

command -v valgrind >/dev/null && command -v callgrind_control >/dev/null && command -v callgrind_annotate >/dev/null \
  || die "valgrind (with callgrind_control and callgrind_annotate) is not installed: apt-get install valgrind"
for v in subs fps frame window; do
  case ${!v} in '' | *[!0-9]*) die "PROFILE_${v^^} must be a whole number, not '${!v}'" ;; esac
  [ "${!v}" -gt 0 ] || die "PROFILE_${v^^} must be at least 1"
done
case $ll in *[!0-9,]* | *,*,*,* | [!0-9]* | *,) die "PROFILE_LL must be SIZE,ASSOC,LINE (bytes, ways, bytes), not '$ll'" ;; esac
mkdir -p "$out"
rm -f "$out"/callgrind.out*

trap stop_pids EXIT

port=$(free_port)
valgrind --tool=callgrind --instr-atstart=no --cache-sim=yes --LL="$ll" --callgrind-out-file="$out/callgrind.out" \
  "$RELAY" --server-bind "127.0.0.1:$port" --tls-generate localhost --auth-public "" --workers 1 \
  --limit-sessions-per-address 100000 --log-level warn >"$out/relay.out" 2>"$out/relay.log" &
vpid=$!
pids+=("$vpid")
bound=0
for _ in $(seq 150); do # valgrind takes a few seconds to start the relay
  kill -0 "$vpid" 2>/dev/null || die "the relay did not start under valgrind: $(tail -n 5 "$out/relay.log")"
  if python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))' \
    "$port" 2>/dev/null; then sleep 0.2; else bound=1; break; fi
done
[ "$bound" = 1 ] || die "the relay did not bind 127.0.0.1:$port within 30 s under valgrind (see $out/relay.log)"

settle=5 # connections and the first groups, with instrumentation off
say "relay under callgrind (pid $vpid); moq-bench: 1 -> $subs subscribers, $fps fps x $frame B; window ${window}s after ${settle}s"
"$BENCH" --url "moql://localhost:$port/" --tls-disable-verify --json --subscribers "$subs" --fps "$fps" \
  --frame-size "$frame" --warmup 1 --duration $((settle + window + 2)) >"$out/bench.json" 2>"$out/bench.err" &
bpid=$!
pids+=("$bpid")
sleep "$settle"
callgrind_control -i on "$vpid" >/dev/null || die "callgrind_control could not reach pid $vpid"
sleep "$window"
callgrind_control -d "$vpid" >/dev/null
callgrind_control -i off "$vpid" >/dev/null
wait "$bpid" || say "WARNING: moq-bench exited $?: $(tail -n 3 "$out/bench.err")"
kill "$vpid" 2>/dev/null || :
wait "$vpid" 2>/dev/null || :
dump=$(ls "$out"/callgrind.out.* 2>/dev/null | head -n 1)
[ -n "$dump" ] || die "callgrind wrote no dump of the window (see $out/relay.log)"

python3 - "$dump" "$out/bench.json" "$subs" "$fps" "$frame" "$window" "$ll" <<'EOF' | tee "$out/summary.txt"
import json, re, subprocess, sys
dump, bench_json, subs, fps, frame, window, ll = sys.argv[1:]
events = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw"]

# Calls per function name, from the dump's call records (cfn= then calls=).
names, calls, cfn = {}, {}, None
for line in open(dump, errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        if line.startswith("cfn="):
            cfn = names.get(m.group(1))
        continue
    if line.startswith("calls=") and cfn:
        calls[cfn] = calls.get(cfn, 0) + int(line.split("=")[1].split()[0])
        cfn = None
sub_frames = calls.get("sink_group", 0)  # one per subscriber and group: and a group is one frame

def annotate(*args):
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--show=" + ",".join(events), *args, dump],
                       capture_output=True, text=True, check=True)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*((?:[\d,.]+ (?:\([ \d.]+%\) )?\s*)+)\s+(\S.*)$", line)
        if not m:
            continue
        nums = [int(x.replace(",", "")) if x != "." else 0 for x in re.findall(r"([\d,]+|\.)(?: \([ \d.]+%\))?", m.group(1))]
        if len(nums) != len(events):
            continue
        rows.append((nums, m.group(2)))
    return rows

totals = next((n for n, what in annotate() if what.startswith("PROGRAM TOTALS")), None)
if totals is None or not totals[0]:
    sys.exit("profile: error: the dump holds no instructions: instrumentation never came on")
try:
    b = json.load(open(bench_json))
except (OSError, ValueError):
    b = {}
print(f"relay under callgrind, 1 -> {subs} subscribers of {fps} fps x {frame} B, {window} s window, LL {ll}")
# Switching instrumentation on and off retranslates the relay's code: a stall of a second or two in
# which the relay sheds old groups. The window itself is what counts: did it fan out every frame?
print(f"moq-bench: frames_received {b.get('frames_received', '?')} of {b.get('frames_expected', '?')} "
      f"(groups_lost {b.get('groups_lost', '?')}: mostly around the instrumentation switches)")
if not sub_frames:
    sys.exit("profile: error: no subscriber-frame was fanned out in the window (no call to sink_group)")
expected = int(subs) * int(fps) * int(window)
print(f"subscriber-frames fanned out in the window: {sub_frames} (at full rate, about {expected})"
      + ("" if sub_frames >= 0.9 * expected else "  WARNING: the relay fell behind under valgrind: lower PROFILE_SUBS or PROFILE_FPS"))
print()
print(f"{'per subscriber-frame':36s}" + "".join(f"{e:>10s}" for e in events))
def row(label, nums):
    print(f"{label:36s}" + "".join(f"{n / sub_frames:10.1f}" for n in nums))
row("total", totals)
incl = {}
for nums, what in annotate("--inclusive=yes"):
    m = re.search(r":([A-Za-z_][A-Za-z0-9_]*)(?: |$)", what)
    if m:
        incl.setdefault(m.group(1), nums)
for label, fn in [("  on_recv (datagrams read)", "on_recv"), ("    group_in_data (fan-out)", "group_in_data"),
                  ("  flush_all (packets written, sent)", "flush_all"), ("  on_wheel_timer (deadlines)", "on_wheel_timer")]:
    if fn in incl:
        row(label, incl[fn])
print()
print("most LL misses (self), per subscriber-frame:")
rows = annotate("--sort=DLmr")
rows = [(n, w) for n, w in rows if not w.startswith("PROGRAM TOTALS")]
rows.sort(key=lambda r: -(r[0][3] + r[0][4]))
for nums, what in rows[:12]:
    what = re.sub(r"/\S*/src/(ngtcp2|wolfssl)/", r"\1/", what)
    what = re.sub(r" \[.*\]$", "", what)
    print(f"  {(nums[3] + nums[4]) / sub_frames:7.1f}  {what[:90]}")
EOF
say "callgrind dump: $dump (callgrind_annotate $dump)"
