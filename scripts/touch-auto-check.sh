#!/bin/sh
# run --touch auto, measured (a benchmark: it prints figures and asserts nothing): records
# sparse_touch_target (200 blocks of 1 MiB, one byte written in every 4 KiB of the first
# PERCENT % of each, held 200 ms) for PERCENT 10, 50 and 100, replays each trace with --touch
# page, full and auto, and prints run's own comparison: how far each allocator's replayed peak
# RSS rose above the cell's baseline, against how far the program's rose above its first sample.
#   scripts/touch-auto-check.sh            or: make touch-auto-check
# ALLOCATORS (default system,jemalloc,tcmalloc,mimalloc,segregated), REPS (default 3).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
REPS=${REPS:-3}
ALLOCATORS=${ALLOCATORS:-system,jemalloc,tcmalloc,mimalloc,segregated}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter_recorder sparse_touch_target >/dev/null
am="$BUILD/allocmeter"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "transparent huge pages: $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)"
for percent in 10 50 100; do
  trace="$work/sparse$percent.trace"
  "$am" record -o "$trace" -- "$BUILD/sparse_touch_target" 200 "$percent" 2>&1 | grep "the program's peak RSS" |
    sed "s|^allocmeter record:|sparse_touch_target 200 $percent:|"
  for touch in page full auto; do
    "$am" run --workloads "trace:$trace" --allocators "$ALLOCATORS" --reps "$REPS" --touch "$touch" \
      --out "$work/out" 2>/dev/null | grep "^  trace:" | sed "s|trace:$work/||"
  done
  echo
done
