#!/usr/bin/env bash
# Interrupts allocmeter runs the ways users and clusters do, and checks that nothing is lost and
# nothing is left behind:
#   1. SIGINT, then SIGTERM, to the run during a cell (with a trace workload, so a plan folder
#      exists): exit 130 / 143, results kept and marked incomplete, no process and no temporary
#      file left; --resume then finishes with the same cell set as an uninterrupted run.
#   2. SIGKILL of the run during a cell: the cell dies with it; the plan folder it could not
#      remove is removed by the next run; --resume finishes the run.
#   3. A cell whose allocator never returns: ended at --timeout, and at once by SIGTERM.
#   4. A cell whose allocator library forks a helper that keeps the pipes open: the run does
#      not wait for it, and the helper does not outlive the cell, even when the run is killed.
#   5. SIGTERM during a --reps auto run: --resume finishes it, each group's recorded rounds
#      holding every allocator once, no more and no fewer.
# Prints one line per check and exits non-zero if any fails. `make test` runs it (ctest
# Interruption.Script); run it by hand after a build:
#   scripts/interruption-check.sh build/allocmeter build/harness/tests/hanging_malloc.so \
#                                 build/harness/tests/forking_malloc.so
set -uo pipefail

am=$(readlink -f "${1:-build/allocmeter}")
hang_so=$(readlink -f "${2:-build/harness/tests/hanging_malloc.so}")
fork_so=$(readlink -f "${3:-build/harness/tests/forking_malloc.so}")
here=$(cd "$(dirname "$0")/.." && pwd)
trace="$here/workloads/traces/sqlite-index.trace"
for f in "$am" "$hang_so" "$fork_so" "$trace"; do
  [ -e "$f" ] || { echo "interruption-check: $f is missing; build first (make build)" >&2; exit 2; }
done
python=/usr/bin/python3
[ -x "$python" ] || python=python3

work=$(mktemp -d "${TMPDIR:-/tmp}/allocmeter-interruption-XXXXXX")
# Every process of these runs inherits the tag, so a leftover one can be found by it; and the
# runs' temporary files go to a folder of their own, so a leftover one can be seen.
export ALLOCMETER_CHECK_TAG="interruption-$$-$RANDOM"
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
failures=0
trap 'kill_leftovers; rm -rf "$work"' EXIT

pass() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: pass or fail on the command's status
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# Live (not zombie) allocmeter processes carrying the tag: the runs, their cells, and whatever
# a cell's library forked (a fork of a cell is still the allocmeter executable).
leftovers() {
  local pid
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$am" ] || continue
    grep -qs "ALLOCMETER_CHECK_TAG=$ALLOCMETER_CHECK_TAG" "/proc/$pid/environ" 2>/dev/null || continue
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ] && continue
    echo "$pid"
  done
}
kill_leftovers() { for pid in $(leftovers); do kill -KILL "$pid" 2>/dev/null; done; }
# No tagged process left, allowing the kernel a moment to deliver the last signals.
nothing_running() {
  for _ in $(seq 50); do
    [ -z "$(leftovers)" ] && return 0
    sleep 0.1
  done
  echo "      still running: $(for p in $(leftovers); do tr '\0' ' ' < "/proc/$p/cmdline"; echo; done)"
  return 1
}
no_temp_files() {
  [ -z "$(ls -A "$TMPDIR")" ] && return 0
  echo "      left in TMPDIR: $(ls -A "$TMPDIR")"
  return 1
}

# Starts `allocmeter run ARGS` in the background, its own pid in $run_pid (exec: no shell between).
start_run() {
  local log=$1
  shift
  ( exec "$am" run "$@" > "$log" 2>&1 ) &
  run_pid=$!
}
# Waits (up to 60 s) until the run in folder $1 has recorded at least $2 cells.
wait_for_cells() {
  local results="$1/latest/results.json"
  for _ in $(seq 600); do
    if [ -f "$results" ] && [ "$(grep -c '"allocator":' "$results")" -ge "$2" ]; then return 0; fi
    sleep 0.1
  done
  return 1
}
# Waits for the run to end; its exit status in $run_status.
end_of_run() {
  wait "$run_pid" 2> /dev/null  # no "Killed" line from the shell
  run_status=$?
}
# "allocator workload threads rep" of each cell, sorted; and whether the run is complete.
cell_keys() {
  "$python" -c 'import json,sys
d = json.load(open(sys.argv[1]))
for c in sorted((c["allocator"], c["workload"], c["threads"], c["rep"]) for c in d["cells"]): print(*c)' "$1/results.json"
}
is_complete() { "$python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("complete", True) else 1)' "$1/results.json"; }
is_incomplete() { ! is_complete "$1"; }
same_cells() {
  if diff <(cell_keys "$1") <(cell_keys "$2") > /dev/null; then return 0; fi
  echo "      cells differ: $(diff <(cell_keys "$1") <(cell_keys "$2") | head -5 | tr '\n' ' ')"
  return 1
}
status_is() {
  [ "$run_status" -eq "$1" ] && return 0
  echo "      exit status $run_status, expected $1"
  return 1
}

matrix=(--allocators system,bump,segregated --workloads "trace:$trace,frame,churn" --threads 1 --reps 2 --scale default)

# The reference: the same matrix, uninterrupted.
"$am" run "${matrix[@]}" --out "$work/whole" > "$work/whole.log" 2>&1
whole=$(readlink -f "$work/whole/latest")

# 1. SIGINT and SIGTERM during a cell, then --resume.
for sig in INT TERM; do
  code=$([ $sig = INT ] && echo 130 || echo 143)
  out="$work/stopped-$sig"
  start_run "$work/$sig.log" "${matrix[@]}" --out "$out"
  wait_for_cells "$out" 2
  kill -$sig "$run_pid"
  end_of_run
  dir=$(readlink -f "$out/latest")
  check "SIG$sig: exit $code" status_is $code
  check "SIG$sig: results kept, marked incomplete" is_incomplete "$dir"
  check "SIG$sig: says how to resume" grep -q "resume with: allocmeter run --resume $dir" "$work/$sig.log"
  check "SIG$sig: no process left" nothing_running
  check "SIG$sig: no temporary file left" no_temp_files
  # Resumed by its folder, or (TERM) by the link to it, which must still point at the run after.
  resume_as=$([ $sig = INT ] && echo "$dir" || echo "$out/latest")
  "$am" run --resume "$resume_as" > "$work/$sig-resume.log" 2>&1
  run_status=$?
  check "SIG$sig: --resume finishes" status_is 0
  check "SIG$sig: latest still points at the run" test "$(readlink -f "$out/latest")" = "$dir"
  check "SIG$sig: resumed run is complete" is_complete "$dir"
  check "SIG$sig: resumed run has the uninterrupted run's cells" same_cells "$dir" "$whole"
done

# 2. SIGKILL during a cell: the cell dies with the run; the next run removes the plan folder.
out="$work/killed"
start_run "$work/kill.log" "${matrix[@]}" --out "$out"
wait_for_cells "$out" 2
kill -KILL "$run_pid"
end_of_run
dir=$(readlink -f "$out/latest")
check "SIGKILL: no process left" nothing_running
check "SIGKILL: the killed run's plan folder is there" test -n "$(ls -A "$TMPDIR")"
"$am" run --allocators system --workloads frame --threads 1 --reps 1 --scale quick --out "$work/next" > "$work/next.log" 2>&1
check "SIGKILL: the next run removes the plan folder it left" no_temp_files
check "SIGKILL: and says so" grep -q "left by a run that was killed" "$work/next.log"
"$am" run --resume "$dir" > "$work/kill-resume.log" 2>&1
run_status=$?
check "SIGKILL: --resume finishes" status_is 0
check "SIGKILL: resumed run has the uninterrupted run's cells" same_cells "$dir" "$whole"
check "SIGKILL: nothing left after the resume" no_temp_files

# 3. A cell that never returns: ended at the timeout; ended at once by SIGTERM; killed with a killed run.
hang=(--allocator "hang=$hang_so" --allocators hang --workloads frame --threads 1 --reps 1 --scale quick)
start=$(date +%s)
"$am" run "${hang[@]}" --timeout 2 --out "$work/hang" > "$work/hang.log" 2>&1
run_status=$?
check "hanging cell: timed out, exit 3" status_is 3
check "hanging cell: within the timeout (2 s, plus start-up)" test $(($(date +%s) - start)) -le 10
check "hanging cell: no process left" nothing_running
start_run "$work/hang-term.log" "${hang[@]}" --timeout 60 --out "$work/hang-term"
sleep 1
start=$(date +%s)
kill -TERM "$run_pid"
end_of_run
check "hanging cell, SIGTERM: exit 143" status_is 143
check "hanging cell, SIGTERM: ends at once" test $(($(date +%s) - start)) -le 5
check "hanging cell, SIGTERM: no process left" nothing_running
start_run "$work/hang-kill.log" "${hang[@]}" --timeout 60 --out "$work/hang-kill"
sleep 1
kill -KILL "$run_pid"
end_of_run
check "hanging cell, SIGKILL of the run: no process left" nothing_running

# 4. A library that forks a helper holding the cell's pipes.
export FORKING_MALLOC_PID_FILE="$work/helpers"
forking=(--allocator "fork=$fork_so" --allocators fork --workloads frame --threads 1 --reps 1)
start=$(date +%s)
"$am" run "${forking[@]}" --scale quick --timeout 60 --out "$work/fork" > "$work/fork.log" 2>&1
run_status=$?
check "forking cell: ok, exit 0" status_is 0
check "forking cell: the run does not wait for the helper" test $(($(date +%s) - start)) -le 20
check "forking cell: the helper does not outlive the cell" nothing_running
: > "$FORKING_MALLOC_PID_FILE"
start_run "$work/fork-kill.log" "${forking[@]}" --scale full --timeout 60 --out "$work/fork-kill"
# Two helpers: one from the library check before the run, one from the cell.
for _ in $(seq 100); do [ "$(wc -l < "$FORKING_MALLOC_PID_FILE")" -ge 2 ] && break; sleep 0.1; done
sleep 0.5  # the cell is past its start-up, in the workload
kill -KILL "$run_pid"
end_of_run
check "forking cell, SIGKILL of the run: neither the cell nor its helper is left" nothing_running

# 5. SIGTERM during a --reps auto run (in its second round), then --resume.
rounds_agree() {  # every group's recorded rounds: each allocator's cells are reps 1..rounds, once
  "$python" -c 'import json,sys
d = json.load(open(sys.argv[1]))
ok = d["complete"] and d["cells_planned"] == len(d["cells"])
for g in d["env"]["reps_auto"]["groups"]:
    cells = [c for c in d["cells"] if (c["workload"], c["threads"]) == (g["workload"], g["threads"])]
    for a in {c["allocator"] for c in cells}:
        ok = ok and sorted(c["rep"] for c in cells if c["allocator"] == a) == list(range(1, g["rounds"] + 1))
    ok = ok and g["end"] in ("target", "max-reps") and 6 <= g["rounds"] <= 7
sys.exit(0 if ok else 1)' "$1/results.json"
}
out="$work/auto"
start_run "$work/auto.log" --allocators system,bump --workloads frame --threads 1 --reps auto --max-reps 7 --scale default --out "$out"
wait_for_cells "$out" 3
kill -TERM "$run_pid"
end_of_run
dir=$(readlink -f "$out/latest")
check "--reps auto, SIGTERM: exit 143" status_is 143
check "--reps auto, SIGTERM: results kept, marked incomplete" is_incomplete "$dir"
"$am" run --resume "$dir" > "$work/auto-resume.log" 2>&1
run_status=$?
check "--reps auto: --resume finishes" status_is 0
check "--reps auto: --resume says where it carries on" grep -q "(--reps auto): .* cells done, 1 of 1 groups still running, from round" "$work/auto-resume.log"
check "--reps auto: resumed run's rounds hold every allocator once" rounds_agree "$dir"
check "no temporary file left at the end" no_temp_files

if [ "$failures" -gt 0 ]; then
  echo "interruption-check: $failures check(s) failed; the runs' logs were in $work"
  exit 1
fi
echo "interruption-check: all checks passed"
