#!/bin/sh
# The recorder's overhead benchmark: builds the recorder and recorder_overhead in $BUILD, builds
# the old recorder (the one global lock, $OLD_REV) from git beside them, and runs the benchmark
# against both. Extra arguments go to recorder_overhead (--runs N, --ops N, --quick).
#   scripts/recorder-overhead.sh            or: make recorder-overhead
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OLD_REV=${OLD_REV:-11b8448}   # the last commit with the global-lock recorder
JOBS=${JOBS:-2}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter_recorder recorder_overhead allocmeter_trace >/dev/null

# The old shim with the trace library of its own commit, linked as that commit's CMake did.
old="$BUILD/old-recorder"
if [ "$(cat "$old/rev" 2>/dev/null)" != "$OLD_REV" ] || [ ! -f "$old/liballocmeter_recorder.so" ]; then
  mkdir -p "$old/src/workloads/trace"
  for f in workloads/trace/recorder_shim.cpp workloads/trace/trace_format.hpp workloads/trace/trace_format.cpp; do
    git show "$OLD_REV:$f" > "$old/src/$f"
  done
  cxx="${CXX:-c++} -std=c++20 -O3 -DNDEBUG -fPIC -I$old/src"
  $cxx -c "$old/src/workloads/trace/trace_format.cpp" -o "$old/trace_format.o"
  $cxx -fno-builtin -shared "$old/src/workloads/trace/recorder_shim.cpp" "$old/trace_format.o" \
    -o "$old/liballocmeter_recorder.so" -lzstd -ldl -lpthread
  echo "$OLD_REV" > "$old/rev"
fi
exec "$BUILD/recorder_overhead" --old-shim "$old/liballocmeter_recorder.so" "$@"
