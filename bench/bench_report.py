#!/usr/bin/env python3
"""bench_report.py - how big memtrace-plot's HTML report is and how long a
browser takes to open it, beside memray's flame graph HTML for the same
program.

    python3 bench/bench_report.py [--quick] [--venv DIR] [--runs N] [--out FILE]

For each size, one program (workloads.churn(n), allocation churn) is
recorded by memtrace in exact allocation mode (every PyMem call, as memray
--trace-python-allocators records them) and, when the venv has memray, by
memray with --trace-python-allocators. Then:

  memtrace  memtrace-plot TRACE -o report.html   (the page: timeline,
            interactive flame graph, table by location)
  memray    memray flamegraph CAPTURE -o report.html

and each page is opened in headless Chromium (--dump-dom, which returns
once the page has loaded and its scripts have run); the open time is the
median wall time less that of an empty page. The events are the trace's
records as memtrace-decode --check counts them (memray's capture: its
allocation count from `memray stats --json` when it has one).

Sizes: churn(n) for n in 2e4, 2e5 (and 2e6 without --quick), which give
about 10^6, 10^7 and 10^8 memtrace records. Writes build/bench/report.md
(or --out). Exit 1 if a step fails; nothing fails on a size or a time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BIN = os.path.join(TOP, "build", "bin")

PROG = """\
import sys
sys.path.insert(0, %r)
import workloads
workloads.churn(%d)
"""


def run(argv, env=None, timeout=3600):
    t = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, env=env, timeout=timeout)
    if p.returncode != 0:
        sys.stderr.write("bench_report: %s failed (%d):\n%s\n"
                         % (" ".join(argv[:4]), p.returncode, p.stderr[-2000:]))
        sys.exit(1)
    return time.perf_counter() - t, p.stdout


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_time(browser, page, runs):
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
            "file://" + page]
    return statistics.median(run(argv, timeout=600)[0] for _ in range(runs))


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the two smaller sizes only")
    ap.add_argument("--venv", default=os.path.join(TOP, "build", "bench", "venv"),
                    help="a venv with memray (skipped, said, without it)")
    ap.add_argument("--runs", type=int, default=3, help="browser opens per page (median)")
    ap.add_argument("--out", default=os.path.join(TOP, "build", "bench", "report.md"))
    a = ap.parse_args()
    browser = chromium()
    if not browser:
        sys.stderr.write("bench_report: chromium is not installed\n")
        return 1
    sizes = (20000, 200000) if a.quick else (20000, 200000, 2000000)
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "build", "python"))
    memray = os.path.join(a.venv, "bin", "memray")
    have_memray = os.path.exists(memray)
    work = tempfile.mkdtemp(prefix="bench-report-")
    empty = os.path.join(work, "empty.html")
    with open(empty, "w") as f:
        f.write("<!DOCTYPE html><title>empty</title>")
    base = open_time(browser, empty, a.runs)
    rows = []
    for n in sizes:
        prog = os.path.join(work, "prog%d.py" % n)
        with open(prog, "w") as f:
            f.write(PROG % (HERE, n))
        trace = os.path.join(work, "mt%d.trace" % n)
        run([py, "-m", "memtrace", "run", "-q", "-f", "--alloc=exact", "-o", trace, prog],
            env=env)
        _, check = run([os.path.join(BIN, "memtrace-decode"), "--check", trace])
        events = int(check.split(" records")[0].rsplit(" ", 1)[1])
        page = os.path.join(work, "mt%d.html" % n)
        plot_s, _ = run([os.path.join(BIN, "memtrace-plot"), trace, "-o", page])
        rows.append(("memtrace", n, events, os.path.getsize(trace), plot_s,
                     os.path.getsize(page), open_time(browser, page, a.runs) - base))
        if have_memray:
            cap = os.path.join(work, "mr%d.bin" % n)
            run([os.path.join(a.venv, "bin", "python"), "-m", "memray", "run", "-q",
                 "--trace-python-allocators", "-f", "-o", cap, prog])
            mpage = os.path.join(work, "mr%d.html" % n)
            flame_s, _ = run([memray, "flamegraph", "-f", "-o", mpage, cap])
            mev = ""
            try:
                _, st = run([memray, "stats", "--json", "-o", os.path.join(work, "st.json"),
                             "-f", cap])
                with open(os.path.join(work, "st.json")) as f:
                    mev = json.load(f).get("total_num_allocations", "")
            except SystemExit:
                pass
            rows.append(("memray", n, mev, os.path.getsize(cap), flame_s,
                         os.path.getsize(mpage), open_time(browser, mpage, a.runs) - base))
    lines = ["# HTML reports: size and open time", "",
             "Generated by `make bench-report` (bench/bench_report.py) on %s, Python %s; "
             "headless Chromium, median of %d opens less an empty page's (%.2f s)."
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                sys.version.split()[0], a.runs, base), "",
             "| tool | churn(n) | events | capture | report written in | report | opens in |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for tool, n, ev, cap, wr, size, op in rows:
        lines.append("| %s | %d | %s | %s | %.2f s | %s | %.2f s |"
                     % (tool, n, ev, human(cap), wr, human(size), op))
    if not have_memray:
        lines += ["", "memray is not installed in %s: its column is left out." % a.venv]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
