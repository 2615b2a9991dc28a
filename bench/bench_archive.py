"""bench_archive.py - memtrace archive at scale: an archive of N runs (default
10,000) answers ls, trend and check, each timed as a user runs it (a fresh
`python -m memtrace archive ...`, interpreter start included); and adding
a run against reading its summary once (memtrace analyze --json).

    python bench/bench_archive.py [--runs N] [--rounds R] [--out FILE]

(make bench-archive; bench/ARCHIVE.md keeps a run's table.) The N runs are
written into the catalogue directly, with figures that drift over 100
release tags; the add is timed with a real trace. The issue's bound: ls,
trend and check under a second at 10,000 runs. Not a test.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYPATH = os.path.join(TOP, "build", "python")


def fill(path, n):
    sys.path.insert(0, PYPATH)
    from memtrace import archive
    a = archive.Archive(path, create=True)
    rnd = random.Random(1)
    t0 = 1.7e9
    with a._write():
        for i in range(n):
            rel = "1.%d" % (i * 100 // n)
            heap = int(50e6 * (1 + i / n) + rnd.random() * 5e6)
            run = {"uid": "20260101T000000-%010x" % i, "file": "traces/none-%d.trace" % i,
                   "added": t0 + i * 600, "start": t0 + i * 600,
                   "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + i * 600)),
                   "command": json.dumps(["app.py", str(i)]), "host": "ci-%d" % (i % 7),
                   "python": "CPython 3.11.7", "producer": "memtrace-recorder 0.1.0",
                   "mode": "alloc", "git_commit": "%040x" % i, "git_branch": "main",
                   "damaged": 0, "heap_estimated": 1, "peak_rss": heap + 30000000,
                   "start_rss": 15000000, "end_rss": heap, "peak_heap": heap,
                   "leaked": heap // 10, "duration": 2 + rnd.random(), "events": 100000 + i,
                   "lost": 0, "calls": 5000, "size": 200000}
            sites = [{"kind": "peak", "rank": k + 1, "function": "f%d" % k, "file": "app.py",
                      "line": 10 + k, "bytes": heap // (k + 2), "count": 100} for k in range(20)]
            a._insert({"run": run, "tags": {"release": rel, "job": "ci"}, "sites": sites,
                       "functions": []})
    a.close()


def timed(args, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "memtrace"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=PYPATH))
        times.append(time.perf_counter() - t)
        if p.returncode not in (0, 3):
            sys.exit("bench_archive: %s failed: %s" % (" ".join(args), p.stderr.decode()))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(TOP, "build", "bench", "archive.md"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-archive.")
    d = os.path.join(tmp, "runs")
    t = time.perf_counter()
    fill(d, a.runs)
    fill_s = time.perf_counter() - t
    cases = [
        ("ls (all %d runs)" % a.runs, ["ls"]),
        ("ls --last 20", ["ls", "--last", "20"]),
        ("ls --tag release=1.50", ["ls", "--tag", "release=1.50"]),
        ("trend peak_heap (every run)", ["trend", "peak_heap"]),
        ("trend peak_heap --by release", ["trend", "peak_heap", "--by", "release"]),
        ("trend peak_heap --by release -o trend.html", ["trend", "peak_heap", "--by", "release",
                                                        "-o", os.path.join(tmp, "t.html")]),
        ("check --baseline release=1.0 --fail-if peak_heap>+10%",
         ["check", "--baseline", "release=1.0", "--fail-if", "peak_heap>+10%"]),
        ("show latest", ["show", "latest"]),
    ]
    rows = [(name, timed(["archive", "-d", d] + args, a.rounds)) for name, args in cases]
    base = timed(["--version"], a.rounds)
    # add against one analysis, on a real trace
    prog = os.path.join(tmp, "app.py")
    with open(prog, "w") as f:
        f.write("keep = [bytearray(1000) for _ in range(20000)]\n"
                "tmp = [str(i) * 10 for i in range(300000)]\n")
    tr = os.path.join(tmp, "app.trace")
    subprocess.run([sys.executable, "-m", "memtrace", "run", "-q", "-o", tr, prog], check=True,
                   env=dict(os.environ, PYTHONPATH=PYPATH))
    analyze = timed(["analyze", "--json", "--top", "20", tr], a.rounds)
    add = timed(["archive", "-d", os.path.join(tmp, "small"), "add", "-q", "--no-git", tr],
                a.rounds)
    add_big = timed(["archive", "-d", d, "add", "-q", "--no-git", tr], a.rounds)
    shutil.rmtree(tmp, ignore_errors=True)
    v = "%d.%d.%d" % sys.version_info[:3]
    out = ["# memtrace archive at scale", "",
           "Generated by bench/bench_archive.py (`make bench-archive`), CPython %s: an archive "
           "of %d runs (written in %.1f s), each command timed as a user runs it "
           "(`python -m memtrace archive ...`, a fresh interpreter), median of %d; the "
           "interpreter's start alone (`memtrace --version`) is %.3f s."
           % (v, a.runs, fill_s, a.rounds, base), "",
           "| command | time |", "|---|---:|"]
    out += ["| `%s` | %.3f s |" % r for r in rows]
    out += ["", "Adding a run reads its summary once:", "",
            "| | time |", "|---|---:|",
            "| `memtrace analyze --json` of the trace | %.3f s |" % analyze,
            "| `memtrace archive add` into a new archive | %.3f s |" % add,
            "| `memtrace archive add` into the %d-run archive | %.3f s |" % (a.runs, add_big)]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
