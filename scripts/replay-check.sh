#!/bin/sh
# The replay's thread handling and timed mode, measured (a benchmark: it prints figures and
# asserts nothing about time). Records two of the fidelity test programs and replays them:
#   - a synthetic trace of 8 busy threads that free each other's objects (more threads alive
#     than this VM's 2 cores): --replay threads against --replay serial;
#   - short_threads (20 worker threads, two alive at a time: more recorded threads than cores):
#     --replay threads against --replay serial, ns per call and context switches per call;
#   - work_between (an allocation-light program), recorded with timestamps: --replay timed
#     against the recorded program's duration.
#   scripts/replay-check.sh            or: make replay-check
# REPS (default 5) repetitions per cell; medians are printed.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
REPS=${REPS:-5}
PY=${PYTHON:-python3}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter_recorder allocmeter-trace-memory fidelity_short_threads fidelity_work_between >/dev/null
am="$BUILD/allocmeter"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$am" record -o "$work/short.trace" -- "$BUILD/fidelity/short_threads"
"$am" record --timestamps -o "$work/light.trace" -- "$BUILD/fidelity/work_between"
"$BUILD/allocmeter-trace-memory" make "$work/busy8.trace" --events 2000000 --threads 8 >/dev/null
for mode in threads serial; do
  for t in short busy8; do
    "$am" run --workloads "trace:$work/$t.trace" --allocators system --replay $mode --reps "$REPS" \
      --out "$work/$t-$mode" >/dev/null 2>&1
  done
done
"$am" run --workloads "trace:$work/light.trace" --allocators system,jemalloc --replay timed --reps "$REPS" \
  --out "$work/light-timed" >/dev/null 2>&1
recorded=$("$am" trace info "$work/light.trace" | sed -n 's/^duration: *\([0-9.]*\) s.*/\1/p')

"$PY" - "$work" "$recorded" <<'PY'
import json, statistics, sys
work, recorded = sys.argv[1], float(sys.argv[2])

def cells(path):
    return [c for c in json.load(open(path))["cells"] if c.get("status") == "ok"]

for t, what in (("short", "short_threads (20 worker threads, two alive at a time)"),
                ("busy8", "synthetic: 8 threads alive, freeing each other's objects")):
    print("%s, system, medians" % what)
    print("  replay    ns/call   involuntary cs/call   voluntary cs/call")
    ns = {}
    for mode in ("threads", "serial"):
        cs = cells(f"{work}/{t}-{mode}/latest/results.json")
        med = lambda f: statistics.median(f(c["metrics"]) for c in cs)
        ns[mode] = med(lambda m: m["ns_per_op"])
        print("  %-8s %8.1f   %19.4f   %17.4f" % (mode, ns[mode],
              med(lambda m: m["context_switches"]["involuntary"] / m["ops"]),
              med(lambda m: m["context_switches"]["voluntary"] / m["ops"])))
    print("  threads / serial: %.2fx" % (ns["threads"] / ns["serial"]))
    print()
print("work_between, recorded with timestamps: the program took %.3f s when recorded" % recorded)
print("  allocator  timed replay (median)  vs recorded")
by = {}
for c in cells(f"{work}/light-timed/latest/results.json"):
    by.setdefault(c["allocator"], []).append(c["metrics"]["ns_per_op"] * c["metrics"]["ops"] * 1e-9)
for a, v in by.items():
    w = statistics.median(v)
    print("  %-9s  %19.3f s  %+9.1f%%" % (a, w, 100 * (w / recorded - 1)))
PY
