#!/bin/sh
# `allocmeter fidelity` on the four test programs of workloads/fidelity (producer/consumer,
# short-lived threads, work between calls, allocation-dominated), with the five external
# allocators, 7 rounds, replayed with --replay threads and timed. About 10-15 minutes.
#   scripts/fidelity-check.sh          or: make fidelity-check
# OUT (default fidelity-check/) keeps each program's trace, runs, fidelity.json and page.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
OUT=${OUT:-fidelity-check}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter_recorder fidelity_producer_consumer \
  fidelity_short_threads fidelity_work_between fidelity_alloc_dominated >/dev/null
for p in producer_consumer short_threads work_between alloc_dominated; do
  rm -rf "$OUT/$p"
  "$BUILD/allocmeter" fidelity --replay threads,timed -o "$OUT/$p" -- "$BUILD/fidelity/$p"
done
