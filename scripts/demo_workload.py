#!/usr/bin/env python3
"""demo_workload.py - an allocation-heavy, deterministic Python workload.

scripts/demo runs it under glibc's malloc and under buddyslab (LD_PRELOAD)
and compares wall time, peak RSS and the checksum it prints last. Pure
standard library. Each phase stresses a different part of an allocator:

  dicts     many small objects born and freed together (slab caches)
  strings   str/bytes of every size, joins and splits (slab and page sizes)
  json      nested containers built, serialised, parsed (short-lived churn)
  sqlite    an in-memory SQLite database (a C library with its own pattern)
  threads   worker threads allocate, the main thread frees (remote frees)
  large     MiB-sized buffers that grow and shrink (mmap/mremap path)

Output is identical on every run: sizes come from a seeded random.Random, and
no phase depends on hash() order (str hashes differ between runs). Timings go
to stderr with --verbose only.

usage: demo_workload.py [--scale N] [--verbose]
"""

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import threading
import time

WORDS = ("page buddy slab order zone pcp batch high watermark kmalloc "
         "vmalloc mremap freelist partial full empty reclaim purge chunk "
         "descriptor cache object constructor remote owner heap thread").split()


def digest(h, *items):
    """Feed a deterministic text form of items into hashlib object h."""
    for item in items:
        h.update(repr(item).encode())
        h.update(b"\x00")


def phase_dicts(rng, scale):
    h = hashlib.sha256()
    keep = []
    for rnd in range(400 * scale):
        table = {}
        for i in range(4000):
            key = "%s-%d-%d" % (rng.choice(WORDS), rnd, rng.randrange(100000))
            table[key] = (i, rng.random(), [i] * (i % 7))
        # delete about half, then refill: holes in every size class
        for key in list(table)[::2]:
            del table[key]
        for i in range(1000):
            table["extra-%d" % i] = {"n": i, "sq": i * i}
        items = sorted((k, v[0]) for k, v in table.items() if isinstance(v, tuple))
        digest(h, len(table), items[:5], items[-5:])
        if rnd % 40 == 0:
            keep.append(table)        # some tables live long
        if len(keep) > 4:
            keep.pop(0)
    digest(h, sum(len(t) for t in keep))
    return h.hexdigest()


def phase_strings(rng, scale):
    h = hashlib.sha256()
    for rnd in range(300 * scale):
        parts = [rng.choice(WORDS) * rng.randrange(1, 40) for _ in range(3000)]
        text = " ".join(parts)
        upper = text.upper().replace("E", "3")
        pieces = upper.split()
        counts = {}
        for p in pieces:
            counts[len(p)] = counts.get(len(p), 0) + 1
        blob = b"".join(p.encode() for p in pieces[:2000])
        fmt = ["{:>12}|{:<8}|{:08x}".format(p[:12], i, len(p))
               for i, p in enumerate(pieces[:1500])]
        digest(h, len(text), sorted(counts.items()),
               hashlib.md5(blob).hexdigest(), fmt[rnd % len(fmt)])
    return h.hexdigest()


def make_doc(rng, depth):
    if depth == 0:
        k = rng.randrange(4)
        if k == 0:
            return rng.randrange(-10**6, 10**6)
        if k == 1:
            return round(rng.random() * 1000, 6)
        if k == 2:
            return rng.choice(WORDS) * rng.randrange(1, 6)
        return None
    if rng.random() < 0.5:
        return [make_doc(rng, depth - 1) for _ in range(rng.randrange(1, 8))]
    return {"%s%d" % (rng.choice(WORDS), i): make_doc(rng, depth - 1)
            for i in range(rng.randrange(1, 8))}


def phase_json(rng, scale):
    h = hashlib.sha256()
    for rnd in range(50 * scale):
        doc = [make_doc(rng, 5) for _ in range(12)]
        text = json.dumps(doc, sort_keys=True)
        back = json.loads(text)
        assert back == doc
        pretty = json.dumps(back, indent=2, sort_keys=True)
        digest(h, len(text), len(pretty), hashlib.sha1(text.encode()).hexdigest())
    return h.hexdigest()


def phase_sqlite(rng, scale):
    h = hashlib.sha256()
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE obj (id INTEGER PRIMARY KEY, cache TEXT, size INT,"
               " owner INT, payload BLOB)")
    n = 120000 * scale
    rows = [(i, rng.choice(WORDS), rng.randrange(8, 8192), rng.randrange(64),
             bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64))))
            for i in range(n)]
    db.executemany("INSERT INTO obj VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("CREATE INDEX obj_cache ON obj (cache, size)")
    digest(h, db.execute("SELECT cache, COUNT(*), SUM(size), MAX(length(payload))"
                         " FROM obj GROUP BY cache ORDER BY cache").fetchall())
    db.execute("UPDATE obj SET size = size * 2 WHERE owner % 3 = 0")
    db.execute("DELETE FROM obj WHERE size > 12000")
    digest(h, db.execute("SELECT owner, COUNT(*), AVG(size) FROM obj"
                         " GROUP BY owner ORDER BY owner").fetchall())
    for _ in range(200 * scale):
        lo = rng.randrange(8, 8000)
        digest(h, db.execute("SELECT COUNT(*), SUM(size) FROM obj WHERE cache = ?"
                             " AND size BETWEEN ? AND ?",
                             (rng.choice(WORDS), lo, lo + 500)).fetchone())
    text = "\n".join(db.iterdump())
    digest(h, len(text), hashlib.sha256(text.encode()).hexdigest())
    db.close()
    return h.hexdigest()


def worker(seed, n, out, index):
    rng = random.Random(seed)
    objs = []
    for i in range(n):
        objs.append({"id": i, "name": rng.choice(WORDS) * rng.randrange(1, 20),
                     "data": [rng.randrange(1000) for _ in range(rng.randrange(1, 30))]})
        if len(objs) > 2000:
            del objs[:1000]
    out[index] = objs                 # freed later by the main thread


def phase_threads(rng, scale):
    h = hashlib.sha256()
    for rnd in range(6 * scale):
        nthreads = 4
        out = [None] * nthreads
        threads = [threading.Thread(target=worker,
                                    args=(rng.randrange(1 << 30), 20000, out, t))
                   for t in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for objs in out:
            digest(h, len(objs), objs[0]["name"], sum(len(o["data"]) for o in objs))
        del out                       # objects of 4 dead threads freed here
    return h.hexdigest()


def phase_large(rng, scale):
    h = hashlib.sha256()
    for rnd in range(30 * scale):
        buf = bytearray()
        for _ in range(40):
            buf += bytes([rng.randrange(256)]) * rng.randrange(64 << 10, 1 << 20)
        big = bytes(buf)
        half = big[: len(big) // 2]
        del buf[len(buf) // 3:]       # shrink in place
        lst = list(range(rng.randrange(200000, 600000)))
        digest(h, len(big), hashlib.sha256(half).hexdigest(), len(buf), sum(lst))
    return h.hexdigest()


PHASES = [("dicts", phase_dicts), ("strings", phase_strings),
          ("json", phase_json), ("sqlite", phase_sqlite),
          ("threads", phase_threads), ("large", phase_large)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1, help="work multiplier (default 1)")
    ap.add_argument("--verbose", action="store_true", help="phase timings on stderr")
    args = ap.parse_args()

    total = hashlib.sha256()
    for name, fn in PHASES:
        t0 = time.perf_counter()
        d = fn(random.Random(name), args.scale)
        if args.verbose:
            print("%-8s %6.2f s" % (name, time.perf_counter() - t0), file=sys.stderr)
        print("%-8s %s" % (name, d[:16]))
        total.update(d.encode())
    print("checksum %s" % total.hexdigest())


if __name__ == "__main__":
    main()
