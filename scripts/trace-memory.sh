#!/bin/sh
# The trace tools' peak memory and time on a large trace: builds allocmeter and
# allocmeter-trace-memory in $BUILD, writes a synthetic trace of $EVENTS events (8 threads,
# about 4000 live objects), then runs `trace info`, `trace validate` and the planning that
# `run` does for trace:FILE, each under /usr/bin/time, and prints peak RSS and wall time.
#   scripts/trace-memory.sh              or: make trace-memory
#   EVENTS=10000000 scripts/trace-memory.sh
# ALLOCMETER=path/to/allocmeter and PLANNER=path/to/allocmeter-trace-memory measure another
# build (an older commit's, for a before/after comparison) on the same trace.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
EVENTS=${EVENTS:-100000000}
DIR=${DIR:-$BUILD/trace-memory}
ALLOCMETER=${ALLOCMETER:-$BUILD/allocmeter}
PLANNER=${PLANNER:-$BUILD/allocmeter-trace-memory}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter-trace-memory >/dev/null
mkdir -p "$DIR"
trace="$DIR/synthetic-$EVENTS.trace"
if [ ! -f "$trace" ]; then
  "$BUILD/allocmeter-trace-memory" make "$trace.tmp" --events "$EVENTS" >/dev/null
  mv "$trace.tmp" "$trace"
fi
echo "trace: $trace, $EVENTS events, $(wc -c < "$trace") bytes; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# One line per step: its peak RSS (the maximum resident set, kernel-reported), wall time and
# CPU time (user + system: on a shared host, wall time also counts waiting for a core).
measure() {
  name=$1
  shift
  if /usr/bin/time -f '%M %e %U %S' -o "$DIR/time.out" "$@" >/dev/null 2>"$DIR/stderr.out"; then
    read -r kib secs user sys < "$DIR/time.out"
    printf '%-20s peak RSS %7d MiB   wall %7.1f s   CPU %7.1f s\n' "$name" $((kib / 1024)) "$secs" \
      "$(awk "BEGIN { print $user + $sys }")"
  else
    printf '%-20s failed:\n' "$name"
    cat "$DIR/stderr.out" "$DIR/time.out"
  fi
}
measure "one decoding pass" "$PLANNER" read "$trace"
measure "trace info" "$ALLOCMETER" trace info "$trace"
measure "trace validate" "$ALLOCMETER" trace validate "$trace"
measure "planning (threads)" "$PLANNER" plan "$trace" "$DIR/plan.bin"
measure "planning (serial)" "$PLANNER" plan "$trace" "$DIR/plan.bin" --serial
rm -f "$DIR/plan.bin" "$DIR/time.out" "$DIR/stderr.out"
