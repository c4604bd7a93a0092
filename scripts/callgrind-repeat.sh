#!/bin/sh
# One cell of run --measure callgrind, repeated: runs it REPS times (each repetition its own
# valgrind process) and prints how far its counts lie apart (region and allocator
# instructions), optionally with LOAD busy loops running beside it, as a loaded CI runner
# would have. A check of the mode's determinism on the cell that is hardest for it.
#   scripts/callgrind-repeat.sh                 (tcmalloc, churn, 2 threads, 10 reps, 2 busy loops)
#   ALLOCATOR=jemalloc WORKLOAD=churn THREADS=2 REPS=6 LOAD=0 scripts/callgrind-repeat.sh
# ALLOCMETER=path measures another build (nothing is built then).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ALLOCATOR=${ALLOCATOR:-tcmalloc}
WORKLOAD=${WORKLOAD:-churn}
THREADS=${THREADS:-2}
REPS=${REPS:-10}
LOAD=${LOAD:-2}
PYTHON=${PYTHON:-/usr/bin/python3}

if [ -z "${ALLOCMETER:-}" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j 2 --target allocmeter >/dev/null
fi
am=${ALLOCMETER:-$BUILD/allocmeter}
work=$(mktemp -d)
loops=""
stop_loops() { [ -n "$loops" ] && kill $loops 2>/dev/null; return 0; }
trap stop_loops EXIT INT TERM
i=0
while [ "$i" -lt "$LOAD" ]; do
  sh -c 'while :; do :; done' &
  loops="$loops $!"
  i=$((i + 1))
done
echo "$ALLOCATOR on $WORKLOAD at $THREADS threads, $REPS repetitions under callgrind, $LOAD busy loops beside ($(nproc) CPUs)"
"$am" run --measure callgrind --scale quick --allocators "$ALLOCATOR" --workloads "$WORKLOAD" --threads "$THREADS" \
  --reps "$REPS" --out "$work" >"$work/run.log" 2>&1 || {
  echo "allocmeter run failed; its output: $work/run.log" >&2
  tail -5 "$work/run.log" >&2
  exit 1
}
stop_loops
loops=""
"$PYTHON" - "$work/latest/results.json" <<'PY'
import json
import sys

cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["status"] == "ok"]
for part in ("allocator", "region"):
    counts = [c["metrics"]["callgrind"][part]["instructions"] for c in cells]
    spread = (max(counts) - min(counts)) / min(counts) * 100
    print(f"  {part:9} instructions: {len(counts)} runs, {len(set(counts))} distinct, "
          f"largest difference {spread:.4f}% ({min(counts)} to {max(counts)})")
PY
