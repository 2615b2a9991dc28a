"""grow_workload.py - the known-answer workload of t1230-analyze-recorded.sh.

grow() allocates a 50 MiB bytearray (every page written), holds it for
80 ms, and returns; main() calls it once between two 30 ms sleeps. Markers
bracket the plateau of the peak: "allocated" once the memory is resident,
"release" just before grow returns.

    python grow_workload.py            record with `python -m memtrace run`
    python grow_workload.py OUT MODE   record itself into OUT with
                                       rss="exact" in MODE (trace, profile)
"""
import sys
import time

import memtrace

MiB = 1024 * 1024


def grow():
    b = bytearray(50 * MiB)  # zero-filled: every page is written now
    memtrace.marker("allocated")
    for i in range(0, len(b), 4096):
        b[i] = 1  # and again, should the allocator ever give lazy pages
    time.sleep(0.08)
    memtrace.marker("release")
    return len(b)


def main():
    time.sleep(0.03)
    grow()
    time.sleep(0.03)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        memtrace.start(sys.argv[1], mode=sys.argv[2], rss="exact")
        main()
        memtrace.stop()
    else:
        main()
