#!/usr/bin/python3
"""Rankings of one machine's runs side by side: a run --measure callgrind and a run --measure time of
the same matrix. For each single-threaded workload, the allocators ok in both, ranked by instructions
per operation and by median ns/op, Spearman's rho between the two, and for each allocator what
instructions in user space do not count: system time and page faults per operation (from the time run).

usage: scripts/callgrind_rankings.py CALLGRIND_RUN TIME_RUN      (run folders or results.json files)
"""
import json
import os
import statistics
import sys


def load(given):
    path = os.path.join(given, "results.json") if os.path.isdir(given) else given
    with open(path) as f:
        return json.load(f)


def ranks(values):
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.mean(ra), statistics.mean(rb)
    num = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return num / den if den else float("nan")


def per_allocator(doc, workload, value):
    """allocator -> median of value(cell) over its ok single-threaded cells of `workload`."""
    got = {}
    for c in doc["cells"]:
        if c["workload"] == workload and c["threads"] == 1 and c["status"] == "ok":
            v = value(c)
            if v is not None:
                got.setdefault(c["allocator"], []).append(v)
    return {a: statistics.median(v) for a, v in got.items()}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cg, tm = load(sys.argv[1]), load(sys.argv[2])
    workloads = []
    for c in cg["cells"]:
        if c["threads"] == 1 and c["workload"] not in workloads:
            workloads.append(c["workload"])
    for w in workloads:
        instr = per_allocator(cg, w, lambda c: c["metrics"]["callgrind"]["instructions_per_op"])
        ns = per_allocator(tm, w, lambda c: c["metrics"]["ns_per_op"])
        sys_ns = per_allocator(tm, w, lambda c: c["metrics"]["sys_s"] * 1e9 / c["metrics"]["ops"])
        faults = per_allocator(tm, w, lambda c: c["metrics"]["minor_faults"] * 1000 / c["metrics"]["ops"])
        both = [a for a in instr if a in ns]
        if len(both) < 3:
            continue
        rho = spearman([instr[a] for a in both], [ns[a] for a in both])
        r_instr = dict(zip(both, ranks([instr[a] for a in both])))
        r_ns = dict(zip(both, ranks([ns[a] for a in both])))
        print(f"\n{w}, 1 thread: {len(both)} allocators, Spearman's rho {rho:.2f} between instructions and time")
        print(f"  {'allocator':<18} {'instr/op':>9} {'rank':>5} {'ns/op':>8} {'rank':>5} {'sys ns/op':>10} {'faults/kop':>11}")
        for a in sorted(both, key=lambda a: r_ns[a]):
            moved = abs(r_instr[a] - r_ns[a])
            print(f"  {a:<18} {instr[a]:>9.1f} {r_instr[a]:>5g} {ns[a]:>8.2f} {r_ns[a]:>5g} {sys_ns[a]:>10.2f} "
                  f"{faults[a]:>11.3f}{'   <- ranks differ by %g' % moved if moved >= 3 else ''}")


if __name__ == "__main__":
    main()
