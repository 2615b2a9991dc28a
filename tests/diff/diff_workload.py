"""diff_workload.py - the workload of t1330-diff-recorded.sh, parameterised
by size: load() allocates SIZE MiB (every page written) and keeps it in
`held` when it returns, so its inclusive RSS growth (what outlived the
call) is SIZE MiB; main() frees it before returning, so its growth is about
0; other() does the same small work in every run.

    python diff_workload.py SIZE_MIB            under `python -m memtrace run`
    python diff_workload.py SIZE_MIB OUT MODE   record itself into OUT, mode
                                                MODE, rss="exact"
"""
import sys
import time

import memtrace

MiB = 1024 * 1024
held = []


def load(size_mib):
    b = bytearray(size_mib * MiB)  # zero-filled: every page is written now
    for i in range(0, len(b), 4096):
        b[i] = 1
    time.sleep(0.05)  # several RSS samples on the plateau, even on a busy machine
    held.append(b)
    return len(b)


def other():
    return sum(range(10000))


def main(size_mib):
    time.sleep(0.02)
    other()
    load(size_mib)
    other()
    time.sleep(0.02)
    held.clear()


if __name__ == "__main__":
    size = int(sys.argv[1])
    if len(sys.argv) > 3:
        memtrace.start(sys.argv[2], mode=sys.argv[3], rss="exact")
        main(size)
        memtrace.stop()
    else:
        main(size)
