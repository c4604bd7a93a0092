#!/bin/sh
# run --measure callgrind, checked and costed (a benchmark: it prints figures): runs the default
# matrix at quick scale under callgrind twice and prints, per cell, how far the two runs'
# instruction counts lie apart (the largest difference, and the cells above 0.5%), then what
# the mode costs: the two runs' wall time against a --measure time run of the same matrix
# (its default 5 reps, and per cell).
#   scripts/callgrind-check.sh            or: make callgrind-check
# RUN_ARGS: more run options for all three runs (e.g. "--allocators system,jemalloc,bump").
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
RUN_ARGS=${RUN_ARGS:-}
PYTHON=${PYTHON:-/usr/bin/python3}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter >/dev/null
am="$BUILD/allocmeter"
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); results in $work"

timed_run() {  # name, run options...: the run's wall seconds to $work/$name.wall
  name=$1
  shift
  start=$(date +%s.%N)
  "$am" run --scale quick --out "$work/$name" "$@" $RUN_ARGS >"$work/$name.log" 2>&1 || {
    echo "allocmeter run $* failed; its output: $work/$name.log" >&2
    tail -5 "$work/$name.log" >&2
    exit 1
  }
  awk "BEGIN { print $(date +%s.%N) - $start }" > "$work/$name.wall"
}

timed_run callgrind1 --measure callgrind
timed_run callgrind2 --measure callgrind
timed_run time --measure time

"$PYTHON" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def load(name):
    with open(f"{work}/{name}/latest/results.json") as f:
        return json.load(f)
def wall(name):
    with open(f"{work}/{name}.wall") as f:
        return float(f.read())
def key(c):
    return (c["workload"], c["threads"], c["allocator"], c["rep"])
a, b = load("callgrind1"), load("callgrind2")
cells_b = {key(c): c for c in b["cells"]}
diffs = []
for c in a["cells"]:
    if c["status"] != "ok":
        continue
    d = cells_b.get(key(c))
    if d is None or d["status"] != "ok":
        print(f"  {c['workload']} t={c['threads']} {c['allocator']}: ok in the first run only")
        continue
    for part in ("region", "allocator"):
        x = c["metrics"]["callgrind"][part]["instructions"]
        y = d["metrics"]["callgrind"][part]["instructions"]
        diffs.append((abs(x - y) / max(x, 1), part, c["workload"], c["threads"], c["allocator"], x, y))
diffs.sort(reverse=True)
ok = sum(1 for c in a["cells"] if c["status"] == "ok")
print(f"callgrind, two runs of the same {ok} ok cells: instruction counts per cell")
if diffs:
    worst = diffs[0]
    print(f"  largest difference: {100 * worst[0]:.4f}% ({worst[1]}, {worst[2]} t={worst[3]} {worst[4]}: {worst[5]} vs {worst[6]})")
    above = [d for d in diffs if d[0] > 0.005]
    print(f"  cells above 0.5%: {len(above)}")
    for d in above[:10]:
        print(f"    {100 * d[0]:.3f}% {d[1]}: {d[2]} t={d[3]} {d[4]}")
    exact = sum(1 for d in diffs if d[0] == 0)
    print(f"  identical counts: {exact} of {len(diffs)} (region and allocator counts of each cell)")
t = load("time")
def cell_seconds(doc):
    s = [c["cell_wall_s"] for c in doc["cells"] if c["status"] == "ok" and c.get("cell_wall_s")]
    return sum(s), len(s)
cg_s, cg_n = cell_seconds(a)
t_s, t_n = cell_seconds(t)
print("cost, whole runs (each with its default reps: callgrind 1, time 5):")
print(f"  --measure callgrind {wall('callgrind1'):.0f} s and {wall('callgrind2'):.0f} s; --measure time {wall('time'):.0f} s")
print(f"  per ok cell: callgrind {cg_s / cg_n:.2f} s, time {t_s / t_n:.3f} s: {cg_s / cg_n / (t_s / t_n):.0f}x")
PY
