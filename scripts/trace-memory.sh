#!/bin/sh
# The trace tools' peak memory and time on a large trace: builds allocmeter and
# allocmeter-trace-memory in $BUILD, writes a synthetic trace of $EVENTS events (8 threads,
# about 4000 live objects), then runs `trace info`, `trace validate` and the planning that
# `run` does for trace:FILE, each under /usr/bin/time, and prints peak RSS and wall time.
#   scripts/trace-memory.sh              or: make trace-memory
#   EVENTS=10000000 scripts/trace-memory.sh
# ALLOCMETER=path/to/another/allocmeter compares another build's `trace info/validate`.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
EVENTS=${EVENTS:-100000000}
DIR=${DIR:-$BUILD/trace-memory}
ALLOCMETER=${ALLOCMETER:-$BUILD/allocmeter}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter-trace-memory >/dev/null
mkdir -p "$DIR"
trace="$DIR/synthetic-$EVENTS.trace"
if [ ! -f "$trace" ]; then
  "$BUILD/allocmeter-trace-memory" make "$trace.tmp" --events "$EVENTS" >/dev/null
  mv "$trace.tmp" "$trace"
fi
echo "trace: $trace, $EVENTS events, $(wc -c < "$trace") bytes"

# One line per step: its peak RSS (the maximum resident set, kernel-reported) and wall time.
measure() {
  name=$1
  shift
  if /usr/bin/time -f '%M %e' -o "$DIR/time.out" "$@" >/dev/null 2>"$DIR/stderr.out"; then
    read -r kib secs < "$DIR/time.out"
    printf '%-26s peak RSS %7d MiB   %7.1f s\n' "$name" $((kib / 1024)) "$secs"
  else
    printf '%-26s failed:\n' "$name"
    cat "$DIR/stderr.out" "$DIR/time.out"
  fi
}
measure "trace info" "$ALLOCMETER" trace info "$trace"
measure "trace validate" "$ALLOCMETER" trace validate "$trace"
measure "planning (threads)" "$BUILD/allocmeter-trace-memory" plan "$trace" "$DIR/plan.bin"
measure "planning (serial)" "$BUILD/allocmeter-trace-memory" plan "$trace" "$DIR/plan.bin" --serial
rm -f "$DIR/plan.bin" "$DIR/time.out" "$DIR/stderr.out"
