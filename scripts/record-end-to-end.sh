#!/bin/sh
# `allocmeter record` end to end against the plain run (issue 13): builds allocmeter and the
# recorder in $BUILD, then runs bench/python_json_workload.py (PYTHONMALLOC=malloc) plain and
# under `allocmeter record`, interleaved, $RUNS times, and prints the medians: wall times and
# their ratio, record's split (the program under the shim, with the share of the events converted
# meanwhile, then the rest of the conversion and the check), events, ns per event left, the
# conversion's peak RSS and bytes/event, and record's peak RSS.
#   scripts/record-end-to-end.sh              or: make record-end-to-end
#   RUNS=3 ROUNDS=20 scripts/record-end-to-end.sh
# ALLOCMETER=path/to/allocmeter measures another build (its recorder beside it).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-120}
PYTHON=${PYTHON:-/usr/bin/python3}
DIR=${DIR:-$BUILD/record-end-to-end}
ALLOCMETER=${ALLOCMETER:-$BUILD/allocmeter}

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target allocmeter allocmeter_recorder >/dev/null
mkdir -p "$DIR"
rm -f "$DIR"/plain.txt "$DIR"/record.txt
workload="env PYTHONMALLOC=malloc $PYTHON bench/python_json_workload.py $ROUNDS"
echo "workload: $workload; $RUNS runs each, interleaved; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# One run under /usr/bin/time: appends "wall cpu peak_kib" to $DIR/$1.txt (CPU: user + system;
# on a shared host wall time also counts waiting for a core).
timed() {
  name=$1
  shift
  if ! /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.out" "$@" >/dev/null 2>"$DIR/stderr.out"; then
    echo "$name failed:" >&2
    cat "$DIR/stderr.out" "$DIR/time.out" >&2
    exit 1
  fi
  read -r wall user sys kib < "$DIR/time.out"
  echo "$wall $(awk "BEGIN { print $user + $sys }") $kib" >> "$DIR/$name.txt"
}

# record's own lines: events, the post-exit conversion's seconds, its ns per event left, its peak
# RSS in MiB and bytes/event, its CPU seconds, then the events converted while the program ran
# and the CPU seconds that took.
record_figures() {
  sed -n 's/.*: \([0-9]*\) events in .*/\1/p' "$DIR/stderr.out" | tr '\n' ' '
  sed -n 's/.*converted the rest and checked in \([0-9.]*\) s (\([0-9.]*\) ns\/event left, \([0-9.]*\) s CPU), peak RSS \([0-9.]*\) MiB (\([0-9.]*\) bytes\/event).*/\1 \2 \4 \5 \3/p' \
    "$DIR/stderr.out" | tr '\n' ' '
  sed -n 's/.*converted \([0-9]*\) events ([0-9]*%) while the program ran, with \([0-9.]*\) s CPU.*/\1 \2/p' "$DIR/stderr.out"
}

i=0
while [ "$i" -lt "$RUNS" ]; do
  timed plain $workload
  timed record "$ALLOCMETER" record -o "$DIR/python-json.trace" -- $workload
  figures=$(record_figures)
  [ -n "$figures" ] || { echo "record said no conversion figures:" >&2; cat "$DIR/stderr.out" >&2; exit 1; }
  sed -i "\$s/\$/ $figures/" "$DIR/record.txt"
  i=$((i + 1))
done

# The median over the runs in file $1 of the awk expression $2 ($1 the first column, ...).
median() { awk "{ print $2 }" "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

plain=$(median "$DIR/plain.txt" '$1')
plain_cpu=$(median "$DIR/plain.txt" '$2')
# Each run's own split: the program (with the conversion that kept up with it) is its wall time
# less the conversion after it exited.
awk -v plain="$plain" -v plain_cpu="$plain_cpu" -v plain_kib="$(median "$DIR/plain.txt" '$3')" \
    -v record="$(median "$DIR/record.txt" '$1')" -v record_cpu="$(median "$DIR/record.txt" '$2')" \
    -v record_kib="$(median "$DIR/record.txt" '$3')" -v events="$(median "$DIR/record.txt" '$4')" \
    -v program="$(median "$DIR/record.txt" '$1 - $5')" \
    -v conversion="$(median "$DIR/record.txt" '$5')" -v conversion_cpu="$(median "$DIR/record.txt" '$9')" \
    -v ns="$(median "$DIR/record.txt" '$6')" -v conv_mib="$(median "$DIR/record.txt" '$7')" \
    -v conv_bpe="$(median "$DIR/record.txt" '$8')" -v early="$(median "$DIR/record.txt" '100 * $10 / $4')" \
    -v early_cpu="$(median "$DIR/record.txt" '$11')" 'BEGIN {
  printf "plain run           wall %7.2f s   CPU %7.2f s   peak RSS %7.1f MiB\n", plain, plain_cpu, plain_kib / 1024
  printf "allocmeter record   wall %7.2f s   CPU %7.2f s   peak RSS %7.1f MiB (program or conversion, the larger)\n", record, record_cpu, record_kib / 1024
  printf "record / plain      %.2fx wall, %.2fx CPU\n", record / plain, record_cpu / plain_cpu
  printf "  program under the shim     wall %7.2f s (%.2fx plain), %.0f%% of the %d events converted meanwhile (%.2f s CPU)\n", program, program / plain, early, events, early_cpu
  printf "  the rest and the check     wall %7.2f s   CPU %7.2f s   %.1f ns/event left (wall), peak RSS %.1f MiB (%.1f bytes/event)\n", conversion, conversion_cpu, ns, conv_mib, conv_bpe
}'
rm -f "$DIR/time.out" "$DIR/stderr.out" "$DIR/python-json.trace"
