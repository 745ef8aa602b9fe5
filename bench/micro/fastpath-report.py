#!/usr/bin/env python3
"""fastpath-report.py - turn the callgrind dumps of bench/micro/fastpath into
instructions per malloc+free pair. Called by scripts/perf-profile --callgrind.

    fastpath-report.py N HEADER_FILE NAME=DIR [NAME=DIR ...]

N is the number of measured pairs per size; HEADER_FILE holds the text to
print first (the '#' lines of bench/fastpath.txt); each DIR holds two runs
of one allocator: DIR/plain (fastpath -k 0) and DIR/live (fastpath -k 1),
each a set of dumps (cg.out.1, cg.out.2, ...) written with
--dump-instr=yes --dump-line=no --compress-strings=no --compress-pos=no.

Per size and allocator:
  pair   = (Ir of the "pairs SIZE" dump - Ir of the "empty SIZE" dump) / N
  malloc = inclusive Ir of the first call site in fastpath_pairs() / N
  free   = inclusive Ir of the second call site / N
pair - malloc - free is the caller's share (argument moves and the two call
instructions: 4 with the gcc -O2 -fno-plt build of fastpath.c).
"""
import glob
import os
import re
import sys

MEASURED_FN = "fastpath_pairs"


def parse_dump(path):
    """(label, totals, {call-site address: inclusive Ir}) of one dump."""
    label, totals, sites = None, None, {}
    fn = None
    call_pending = False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if call_pending:
                call_pending = False
                if fn == MEASURED_FN:
                    addr, cost = line.split()[:2]
                    sites[int(addr, 16)] = sites.get(int(addr, 16), 0) + int(cost)
                continue
            if line.startswith("desc: Trigger: Client Request: "):
                label = line[len("desc: Trigger: Client Request: "):]
            elif line.startswith("totals:"):
                totals = int(line.split()[1])
            elif line.startswith("summary:") and totals is None:
                totals = int(line.split()[1])
            elif line.startswith("fn="):
                fn = line[3:]
            elif line.startswith("calls="):
                call_pending = True
    return label, totals, sites


def parse_run(directory, n):
    """{size: (pair, malloc, free)} from one allocator's dumps."""
    empty, pairs = {}, {}
    for path in glob.glob(os.path.join(directory, "cg.out.*")):
        if not re.search(r"\.\d+$", path):
            continue
        label, totals, sites = parse_dump(path)
        if not label:
            continue
        kind, size = label.split()
        if kind == "empty":
            empty[int(size)] = totals
        elif kind == "pairs":
            pairs[int(size)] = (totals, sites)
    out = {}
    for size, (totals, sites) in pairs.items():
        if size not in empty:
            continue
        addrs = sorted(sites)
        if len(addrs) != 2:
            sys.exit("%s: size %d: expected 2 call sites in %s, found %d"
                     % (directory, size, MEASURED_FN, len(addrs)))
        out[size] = ((totals - empty[size]) / n, sites[addrs[0]] / n, sites[addrs[1]] / n)
    return out


def fmt(x):
    # counts are exact integers on a pure fast path; amortised slow paths
    # leave fractions
    return "%.0f" % x if abs(x - round(x)) < 0.005 else "%.2f" % x


# sizes above this are buddyslab's page blocks (SLAB_MAX_SIZE, src/internal.h):
# the tables set them apart with a rule
SLAB_MAX_SIZE = 8192


def table(headers, rows):
    w = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    rule = "  ".join("-" * w[i] for i in range(len(headers)))
    lines = ["  ".join(h.rjust(w[i]) for i, h in enumerate(headers)), rule]
    for k, r in enumerate(rows):
        if k > 0 and int(rows[k - 1][0]) <= SLAB_MAX_SIZE < int(r[0]):
            lines.append(rule)
        lines.append("  ".join(c.rjust(w[i]) for i, c in enumerate(r)))
    return "\n".join(lines)


def main():
    n = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        header = f.read()
    names, runs, live = [], {}, {}
    for arg in sys.argv[3:]:
        name, directory = arg.split("=", 1)
        names.append(name)
        runs[name] = parse_run(os.path.join(directory, "plain"), n)
        live[name] = parse_run(os.path.join(directory, "live"), n)
    sizes = sorted(set().union(*[set(r) for r in runs.values()]))

    def get(data, name, size, i):
        v = data[name].get(size)
        return fmt(v[i]) if v else "-"

    def split(data):
        rows = []
        for s in sizes:
            row = [str(s)]
            for a in names:
                v = data[a].get(s)
                row.append("%s + %s" % (fmt(v[1]), fmt(v[2])) if v else "-")
            rows.append(row)
        return table(["size"] + names, rows)

    print(header.rstrip("\n"))
    print()
    print("1. Instructions per malloc+free pair, nothing else live in the size class")
    print("   (the caller's 4 call and argument instructions included)")
    print()
    print(table(["size"] + names, [[str(s)] + [get(runs, a, s, 0) for a in names] for s in sizes]))
    print()
    print("2. The same, split: malloc + free, the inclusive instructions of each call")
    print("   (the callee's own and everything it calls, first instruction to ret)")
    print()
    print(split(runs))
    print()
    print("3. malloc + free with one other block of the size live (fastpath -k 1): the")
    print("   slab or run the pairs use never becomes empty")
    print()
    print(split(live))


if __name__ == "__main__":
    main()
