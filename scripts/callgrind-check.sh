#!/bin/sh
# run --measure callgrind, checked and costed (a benchmark: it prints figures): runs the default
# matrix at quick scale under callgrind twice and prints, per cell, how far the two runs'
# instruction counts lie apart (the largest difference, and the cells above 0.5%), then what
# the mode costs: the two runs' wall time against a --measure time run of the same matrix
# (its default 5 reps, and per cell).
#   scripts/callgrind-check.sh            or: make callgrind-check
# RUN_ARGS: more run options for all three runs (e.g. "--allocators system,jemalloc,bump").
# ALLOCMETER=path measures another build (nothing is built then: a build the check runs must not
# change under it). WORK=dir keeps the runs there; a run whose figures are there is not run again.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
RUN_ARGS=${RUN_ARGS:-}
PYTHON=${PYTHON:-/usr/bin/python3}

if [ -z "${ALLOCMETER:-}" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j "$JOBS" --target allocmeter >/dev/null
fi
am=${ALLOCMETER:-$BUILD/allocmeter}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); results in $work"

timed_run() {  # name, run options...: the run's wall seconds to $work/$name.wall
  name=$1
  shift
  [ -f "$work/$name.wall" ] && return 0
  rm -rf "${work:?}/$name"
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

"$PYTHON" scripts/callgrind_check_report.py "$work"
"$PYTHON" scripts/callgrind_rankings.py "$work/callgrind1/latest" "$work/time/latest"
