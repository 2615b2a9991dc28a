"""One function's code object made five times (as exec, a reloaded module or
a class body run twice do), each making 100 bytearrays of 4321 bytes (4322-byte blocks) that stay:
the analyzer's sites name it once, with 500 blocks (t1250)."""
import sys

import memtrace

SRC = "def remade(n):\n    return [bytearray(4321) for _ in range(n)]\n"

memtrace.start(sys.argv[1], mode="alloc", allocations=True)
keep = []
for i in range(5):
    ns = {}
    exec(compile(SRC, "remade_src.py", "exec"), ns)
    keep.append(ns["remade"](100))
memtrace.stop()
