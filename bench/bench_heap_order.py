#!/usr/bin/env python3
"""bench_heap_order.py - what summing the heap in time order across threads
costs memtrace-analyze (analyze/mt_horder.h).

    python3 bench/bench_heap_order.py [--quick] [--runs N] [--out FILE]
                                      [--analyze PATH]

The same allocation churn (lists and dicts made and dropped, one in seven
kept for a while) is recorded in exact allocation mode, run by the main
thread alone and split over 1, 4 and 16 worker threads that the main thread
starts and joins. With the main thread alone every heap change is summed
at once; with workers the main thread's single buffer reaches the file at
the end, so changes wait for it (up to 2^20 of them) and the oldest are
summed when too many wait: the table shows the analysis time, its peak
RSS, and how many changes were summed out of time order (and their size).

Each trace is analyzed --runs times (default 5, --quick 3) with
memtrace-analyze --json; the table gives the median wall time, records per
second, the largest peak RSS (ru_maxrss of the child), the heap's peak and
`unordered`. --analyze runs another memtrace-analyze on the same traces
(e.g. an older build, to compare). Writes build/bench/heap-order.md (or
--out). Needs the built
package (build/python) and memtrace-analyze (build/bin). Exit 1 if a child
fails, 2 on a usage error; nothing fails on a timing.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
ANALYZE = os.path.join(TOP, "build", "bin", "memtrace-analyze")
DECODE = os.path.join(TOP, "build", "bin", "memtrace-decode")
PKG = os.path.join(TOP, "build", "python")

WORKLOAD = r"""
import sys, threading, memtrace
n, nthreads, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def work(n):
    keep = []
    for i in range(n):
        x = [i] * 3
        d = {"a": x}
        if i % 7 == 0:
            keep.append(d)
        if len(keep) > 5000:
            keep = keep[2500:]
memtrace.start(path, mode="alloc", allocations=True)
if nthreads == 0:
    work(n)
else:
    ts = [threading.Thread(target=work, args=(n // nthreads,)) for _ in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
memtrace.stop()
"""


def run_analyze(trace):
    """(wall seconds, JSON report) of one memtrace-analyze --json."""
    t0 = time.perf_counter()
    p = subprocess.run([ANALYZE, "--json", trace], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("bench_heap_order: memtrace-analyze failed: %s"
                 % p.stderr.decode(errors="replace"))
    return wall, p.stdout


def maxrss_kib(trace):
    """Peak RSS of one memtrace-analyze run (KiB), from its rusage."""
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            os.execv(ANALYZE, [ANALYZE, "--json", trace])
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    if status != 0:
        sys.exit("bench_heap_order: memtrace-analyze failed (status %d)" % status)
    return ru.ru_maxrss


def records(trace):
    p = subprocess.run([DECODE, "--check", trace], stdout=subprocess.PIPE,
                       universal_newlines=True, check=True)
    # "PATH: ok, N chunks, M records, closed"
    words = p.stdout.replace(",", " ").split()
    return int(words[words.index("records") - 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller workload, 3 runs")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(TOP, "build", "bench", "heap-order.md"))
    ap.add_argument("--analyze", help="memtrace-analyze to time (default: build/bin's)")
    args = ap.parse_args()
    global ANALYZE
    if args.analyze:
        ANALYZE = os.path.abspath(args.analyze)
    runs = args.runs or (3 if args.quick else 5)
    n = 200000 if args.quick else 1200000
    for need in (ANALYZE, DECODE, PKG):
        if not os.path.exists(need):
            sys.exit("bench_heap_order: %s is missing (make all)" % need)
    env = dict(os.environ, PYTHONPATH=PKG)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mt-horder-") as tmp:
        prog = os.path.join(tmp, "w.py")
        with open(prog, "w") as f:
            f.write(WORKLOAD)
        for nthreads in (0, 1, 4, 16):
            trace = os.path.join(tmp, "t%d.trace" % nthreads)
            subprocess.run([sys.executable, prog, str(n), str(nthreads), trace], env=env,
                           check=True)
            nrec = records(trace)
            walls, rep = [], None
            for _ in range(runs):
                w, out = run_analyze(trace)
                walls.append(w)
                rep = json.loads(out)
            rss = max(maxrss_kib(trace) for _ in range(2))
            heap = rep["heap"]
            heap["repairs"].setdefault("unordered", 0)  # (an analyze from before it)
            heap["repairs"].setdefault("unordered_bytes", 0)
            med = statistics.median(walls)
            rows.append((nthreads, nrec, os.path.getsize(trace), med, nrec / med, rss / 1024,
                         heap["peak_bytes"], heap["repairs"]["unordered"],
                         heap["repairs"]["unordered_bytes"]))
            print("threads %-2d records %9d  analyze %.2f s  %.1f M records/s  %.0f MiB  "
                  "unordered %d (%d B)" % (nthreads, nrec, med, nrec / med / 1e6, rss / 1024,
                                           heap["repairs"]["unordered"],
                                           heap["repairs"]["unordered_bytes"]), flush=True)
    lines = ["# memtrace-analyze: the heap summed in time order across threads", "",
             "Python %s; %d iterations of the churn; exact allocation mode; "
             "median of %d analyses." % (sys.version.split()[0], n, runs), "",
             "| workers | records | trace MB | analyze s | M records/s | peak RSS MiB | "
             "heap peak MiB | unordered (bytes) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (t, nrec, size, med, rate, rss, peak, un, unb) in rows:
        lines.append("| %s | %d | %.1f | %.2f | %.1f | %.0f | %.2f | %d (%d) |"
                     % (t or "main only", nrec, size / 1e6, med, rate / 1e6, rss,
                        peak / 2**20, un, unb))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
