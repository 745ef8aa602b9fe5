"""python - the CPython interpreter doing what Python programs do all day:
dicts of records, lists and tuples, string building and splitting, a JSON
round trip, sorting, objects with attributes, and letting most of it go.
CPython takes blocks of up to 512 bytes from its own pools (pymalloc, in
256 KiB arenas from malloc) and everything bigger from malloc itself: dict
and list storage, big strings, the JSON text.

Run by scripts/bench --programs under each allocator (the interpreter is
/usr/bin/python3, loaded with the allocator through LD_PRELOAD); the size
scales with BENCH_SCALE. Prints one line: python, the records made and a
checksum of what was computed, which must be the same under every
allocator.
"""
import hashlib
import json
import os
import random


class Node:
    __slots__ = ("key", "value", "children")

    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.children = []


def main():
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    n = max(1000, int(40000 * scale))
    rng = random.Random(42)
    digest = hashlib.sha256()

    for rnd in range(3):
        # records keyed by strings, with lists and nested dicts
        records = {}
        for i in range(n):
            key = "user-%d-%x" % (i, rng.getrandbits(32))
            records[key] = {
                "id": i,
                "name": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12))),
                "tags": [rng.randint(0, 999) for _ in range(rng.randint(0, 8))],
                "score": rng.random(),
            }
        # a JSON round trip of a fifth of them
        subset = {k: v for k, v in records.items() if v["id"] % 5 == rnd}
        text = json.dumps(subset, sort_keys=True)
        back = json.loads(text)
        digest.update(str(len(text)).encode())
        digest.update(str(len(back)).encode())
        # sorting and grouping
        ordered = sorted(records.values(), key=lambda r: (r["name"], r["id"]))
        groups = {}
        for r in ordered:
            groups.setdefault(r["name"][:2], []).append(r["id"])
        digest.update(("%d:%d" % (len(groups), sum(len(g) for g in groups.values()))).encode())
        # a tree of objects, walked, then dropped
        root = Node("root", 0)
        nodes = [root]
        for i in range(n):
            parent = nodes[rng.randrange(len(nodes))]
            child = Node(str(i), i * 7 % 1000)
            parent.children.append(child)
            nodes.append(child)
        total, stack = 0, [root]
        while stack:
            node = stack.pop()
            total += node.value
            stack.extend(node.children)
        digest.update(str(total).encode())
        # strings: split, join, replace
        words = " ".join(r["name"] for r in ordered).split()
        line = ",".join(w.upper() for w in words if len(w) > 5).replace("A", "4")
        digest.update(hashlib.sha256(line.encode()).digest())
        # drop most records, keep a few
        for k in list(records):
            if records[k]["id"] % 10:
                del records[k]
        digest.update(str(len(records)).encode())
        del ordered, groups, nodes, root, words, line, subset, back, text, records

    print("python records=%d checksum=%d" % (3 * n, int(digest.hexdigest()[:13], 16)))


main()
