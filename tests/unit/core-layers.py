#!/usr/bin/env python3
"""Check that the module core's files form layers, not an import circle.

File A depends on file B when an object of A uses a symbol that B's object
defines (read with nm from the core's static library: what the linker sees,
so a call through a header counts and a function pointer handed over at run
time does not). The core is layered when that graph has no cycle. Prints
the files floor by floor (a file's floor is one above the highest floor it
depends on) and, if there is a cycle, the files of every cycle with one
symbol per edge, and exits 1.

usage: core-layers.py LIBTDXEMU-CORE.a [--dot]
       core-layers.py --tests CORE-DIR TESTS-DIR
The second form checks the map of hw/tdx-emu/core/HACKING.md's "Files"
table instead: every file of sources.list is listed there, and every test
named in its third column exists as TESTS-DIR/<name>.c.
"""
import os
import re
import subprocess
import sys
from collections import defaultdict


def read_objects(lib):
    """{object name: (defined symbols, undefined symbols)} of a static lib."""
    out = subprocess.run(["nm", "-A", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    defs = defaultdict(set)
    for line in out.splitlines():
        # lib.a:obj.o:0000000000000000 T name
        parts = line.split()
        if len(parts) < 3 or parts[-2] not in "TDBRC":
            continue
        obj = parts[0].split(":")[1]
        defs[obj].add(parts[-1])
    out = subprocess.run(["nm", "-A", "--undefined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    uses = defaultdict(set)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        obj = parts[0].split(":")[1]
        uses[obj].add(parts[-1])
    return defs, uses


def short(obj):
    return obj.rsplit("/", 1)[-1].replace(".c.o", ".c").replace(".o", "")


def check_test_map(core_dir, tests_dir):
    sources = [l.strip() for l in open(os.path.join(core_dir, "sources.list"))
               if l.strip()]
    listed, problems = set(), []
    for line in open(os.path.join(core_dir, "HACKING.md")):
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) != 3 or not cols[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cols[0]):
            stem = name.split("/")[0].rsplit(".", 1)[0]
            listed.update({name, stem + ".c", stem + ".h"})
        for test in re.findall(r"`(test-[a-z0-9-]+)`", cols[2]):
            if not os.path.exists(os.path.join(tests_dir, test + ".c")):
                problems.append(f"HACKING.md names {test}, but {tests_dir}/{test}.c "
                                "does not exist")
    for src in sources:
        if src not in listed:
            problems.append(f"{src} (sources.list) is missing from HACKING.md's "
                            "Files table")
    for p in problems:
        print(p)
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in the file -> tests map")
        return 1
    print(f"OK: {len(sources)} core files mapped to their tests")
    return 0


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--tests":
        return check_test_map(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    defs, uses = read_objects(sys.argv[1])
    owner = {}
    for obj, syms in defs.items():
        for s in syms:
            owner[s] = obj
    objs = sorted(set(defs) | set(uses))
    edges = defaultdict(dict)          # a -> {b: example symbol}
    for a in objs:
        for s in sorted(uses.get(a, ())):
            b = owner.get(s)
            if b and b != a and b not in edges[a]:
                edges[a][b] = s

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in objs:
        if v not in index:
            visit(v)
    cycles = [sorted(c) for c in sccs if len(c) > 1]

    if "--dot" in sys.argv:
        print("digraph core {")
        for a in objs:
            for b, s in edges[a].items():
                print(f'  "{short(a)}" -> "{short(b)}" [label="{s}"];')
        print("}")
        return 0

    if cycles:
        for c in cycles:
            print("cycle: " + " <-> ".join(short(o) for o in c))
            for a in c:
                for b, s in edges[a].items():
                    if b in c:
                        print(f"  {short(a)} -> {short(b)} (uses {s})")
        print(f"FAIL: {len(cycles)} import cycle(s) among the core's files")
        return 1

    floor = {}

    def floor_of(v):
        if v not in floor:
            floor[v] = 1 + max((floor_of(w) for w in edges[v]), default=-1)
        return floor[v]

    for v in objs:
        floor_of(v)
    for f in range(max(floor.values()) + 1):
        files = sorted(short(o) for o in objs if floor[o] == f)
        print(f"floor {f}: {' '.join(files)}")
    print(f"OK: {len(objs)} files, no import cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
