#!/usr/bin/python3
"""What scripts/callgrind-check.sh prints from its three runs in WORK (callgrind1, callgrind2, time):
how far the two callgrind runs' instruction counts lie apart per cell, single-threaded cells and
multithreaded ones (threads serialised) apart, and what the mode costs against --measure time.

usage: scripts/callgrind_check_report.py WORK
"""
import json
import sys


def load(work, name):
    with open(f"{work}/{name}/latest/results.json") as f:
        return json.load(f)


def wall(work, name):
    with open(f"{work}/{name}.wall") as f:
        return float(f.read())


def key(c):
    return (c["workload"], c["threads"], c["allocator"], c["rep"])


def differences(a, b):
    """(relative difference, part, cell) for the region's and the allocator's instructions of each
    cell ok in both runs."""
    cells_b = {key(c): c for c in b["cells"]}
    out = []
    for c in a["cells"]:
        d = cells_b.get(key(c))
        if c["status"] != "ok" or d is None or d["status"] != "ok":
            if c["status"] == "ok":
                print(f"  {c['workload']} t={c['threads']} {c['allocator']}: ok in the first run only")
            continue
        for part in ("region", "allocator"):
            x = c["metrics"]["callgrind"][part]["instructions"]
            y = d["metrics"]["callgrind"][part]["instructions"]
            out.append((abs(x - y) / max(x, 1), part, c, x, y))
    return out


def report(title, diffs):
    cells = len(diffs) // 2
    print(f"  {title}: {cells} cells")
    if not diffs:
        return
    diffs = sorted(diffs, key=lambda d: -d[0])
    worst, part, c, x, y = diffs[0]
    print(f"    largest difference: {100 * worst:.4f}% ({part} instructions, {c['workload']} t={c['threads']} "
          f"{c['allocator']}: {x} and {y})")
    above = [d for d in diffs if d[0] > 0.005]
    print(f"    counts more than 0.5% apart: {len(above)}")
    for rel, part, c, _, _ in above[:10]:
        print(f"      {100 * rel:.3f}% {part}: {c['workload']} t={c['threads']} {c['allocator']}")
    print(f"    identical counts: {sum(1 for d in diffs if d[0] == 0)} of {len(diffs)} (region and allocator of each cell)")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    work = sys.argv[1]
    a, b = load(work, "callgrind1"), load(work, "callgrind2")
    ok = sum(1 for c in a["cells"] if c["status"] == "ok")
    failed = [c for c in a["cells"] + b["cells"] if c["status"] in ("failed", "timeout")]
    print(f"callgrind, two runs of the default matrix at quick scale: {ok} ok cells, {len(failed)} failed or timed out")
    diffs = differences(a, b)
    report("one thread", [d for d in diffs if not d[2]["metrics"]["callgrind"]["threads_serialised"]])
    report("more threads (serialised)", [d for d in diffs if d[2]["metrics"]["callgrind"]["threads_serialised"]])

    t = load(work, "time")

    def cell_seconds(doc):
        s = [c["cell_wall_s"] for c in doc["cells"] if c["status"] == "ok" and c.get("cell_wall_s")]
        return sum(s), len(s)

    cg_s, cg_n = cell_seconds(a)
    t_s, t_n = cell_seconds(t)
    print("cost, whole runs (each with its default reps: callgrind 1, time 5):")
    print(f"  --measure callgrind {wall(work, 'callgrind1'):.0f} s and {wall(work, 'callgrind2'):.0f} s; "
          f"--measure time {wall(work, 'time'):.0f} s")
    print(f"  per ok cell: callgrind {cg_s / cg_n:.2f} s, time {t_s / t_n:.3f} s: {cg_s / cg_n / (t_s / t_n):.0f}x")


if __name__ == "__main__":
    main()
