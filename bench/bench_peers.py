#!/usr/bin/env python3
"""bench_peers.py - memtrace side by side with pymemtrace, mempulse, memray,
tracemalloc, memory_profiler, mprof, Scalene and Fil on the same workloads:
cost (wall, CPU, peak RSS, output size) and, on a workload with a known
peak, what each tool reports.

    python3 bench/bench_peers.py [--quick] [--runs N] [--venv DIR]
                                 [--workloads fib,bigalloc] [--configs ...]
                                 [--budget S] [--no-install] [--out FILE]

The peers live in their own virtual environment (--venv, default
build/bench/venv, made with this interpreter): each is pip installed from
PyPI on its own, and one that does not install is reported as such, never
an error. memtrace comes from build/python (make builds it). The tools'
versions and install outcomes are kept in <venv>/peers.json.

Every measurement runs in a fresh process of the venv's interpreter, as the
other benchmarks here do (bench_recorder.py): the child builds the
workload's input, installs the tool (API tools) or runs under it (memray
run, scalene run, fil-profile run, mprof run), times the workload alone
with perf_counter (wall) and process_time (CPU of the process, tool threads
included), and writes one JSON result. The parent reaps it with os.wait4,
which gives the whole process's CPU time and peak RSS, children included
(mprof's sampler and the program it runs). Runs are interleaved
round-robin in an order shuffled per round; tables show medians with min
and max.

Bounded time: each run has a timeout (a timeout or a crash is a cell
"timeout" / "failed (reason)", and that pair is not run again); a pair
whose first run takes longer than --slow seconds is run once only (marked
"1 run"); and when --budget seconds have passed no new round starts. A
peer never makes this script fail: exit 1 only when memtrace itself or the
bare run fails, 2 on a usage error.

Writes the markdown report to bench/RESULTS.md (--quick:
build/bench/peers-quick.md; or --out) and prints it.
"""

import argparse
import glob
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BUILD = os.path.join(TOP, "build")
BIN = os.path.join(BUILD, "bin")
DECODE = os.path.join(BIN, "memtrace-decode")
ANALYZE = os.path.join(BIN, "memtrace-analyze")
MT_PYTHON = os.path.join(BUILD, "python")

# PyPI names in install order, with the import or command that proves the
# install works.
PEERS = ("pymemtrace", "mempulse", "memray", "memory_profiler", "scalene", "filprofiler")
PEER_IMPORT = {"pymemtrace": "pymemtrace.cPyMemTrace", "mempulse": "mempulse.ctracer",
               "memray": "memray", "memory_profiler": "memory_profiler",
               "scalene": "scalene", "filprofiler": "filprofiler"}

# pymemtrace 0.6.3 builds its extension with -Werror, and gcc 12 stops on an
# unused PyDateTimeAPI (datetime.h) and a use-after-free warning in
# wrapper_ll_clear(). These flags let the warnings stay warnings; the build
# is otherwise the package's own. Tried only after a plain install failed.
PYMEMTRACE_CFLAGS = "-Wno-error=unused-variable -Wno-unused-variable -Wno-error=use-after-free"

# (name, peer it needs or None, how it runs, what it is)
CONFIGS = (
    ("bare", None, "api", "the workload alone"),
    ("mt-profile", "memtrace", "api", "memtrace mode=profile (Python+C calls, RSS sampler 10 ms)"),
    ("mt-trace", "memtrace", "api", "memtrace mode=trace (Python calls and lines)"),
    ("mt-fast", "memtrace", "api", "memtrace mode=fast (Python frames, PEP 523 on 3.11)"),
    ("mt-alloc", "memtrace", "api", "memtrace mode=alloc, allocations=exact"),
    ("mt-alloc-sampled", "memtrace", "api", "memtrace mode=alloc, allocations=sampled (512 KiB)"),
    ("mt-default", "memtrace", "api",
     "memtrace.start() with no option, as python -m memtrace run with none: mode=alloc, "
     "allocations=sampled, native in-process (C allocator by GOT patching), RSS sampler 10 ms"),
    ("pmt-profile", "pymemtrace", "api", "cPyMemTrace.Profile() (d_rss_trigger=-1: a page of RSS)"),
    ("pmt-profile-all", "pymemtrace", "api", "cPyMemTrace.Profile(0): every event"),
    ("pmt-trace", "pymemtrace", "api", "cPyMemTrace.Trace() (d_rss_trigger=-1)"),
    ("pmt-trace-all", "pymemtrace", "api", "cPyMemTrace.Trace(0): every event"),
    ("mempulse", "mempulse", "api",
     "mempulse.cMemoryUsageTracer: depth 1 below the harness (the workload function's lines)"),
    ("memray", "memray", "memray", "memray run"),
    ("memray-py", "memray", "memray", "memray run --trace-python-allocators"),
    ("tracemalloc", None, "api", "tracemalloc.start(1)"),
    ("memory_profiler", "memory_profiler", "api",
     "memory_profiler line mode (LineProfiler on the workload function, as @profile)"),
    ("mprof", "memory_profiler", "mprof", "mprof run (RSS every 0.1 s from outside)"),
    ("scalene", "scalene", "scalene", "scalene run --memory"),
    ("fil", "filprofiler", "fil", "fil-profile run"),
)
CONFIG_NAMES = tuple(c[0] for c in CONFIGS)
CONFIG = {c[0]: c for c in CONFIGS}
MT_MODES = {"mt-profile": dict(mode="profile"), "mt-trace": dict(mode="trace"),
            "mt-fast": dict(mode="fast"), "mt-alloc": dict(mode="alloc", allocations=True),
            "mt-alloc-sampled": dict(mode="alloc", allocations="sampled"),
            "mt-default": dict()}

# Workload sizes for this comparison: bare ~0.04 s (full) and ~0.01 s
# (quick) on the reference machine, much smaller than bench_recorder's so
# that the slowest peers (300-1000x) finish within the per-run timeout. bigalloc is the same in both:
# its sizes are the truth the accuracy table checks.
SIZES = {"fib": (28, 24), "methods": (200000, 40000), "churn": (30000, 6000),
         "stdlib": (4, 1), "threads": (20000, 4000), "bigalloc": (1, 1)}
ENTRY = {"fib": "fib", "methods": "methods", "churn": "churn", "stdlib": "stdlib",
         "threads": "thread_work", "bigalloc": "bigalloc"}


def workload_table():
    import workloads
    table = dict(workloads.WORKLOADS)
    table.update(workloads.MORE_WORKLOADS)
    return table


# ---- child ------------------------------------------------------------------

def child(spec):
    """Run one measurement; write one JSON object to spec["result"]."""
    sys.path.insert(0, HERE)
    import workloads
    config, name, out = spec["config"], spec["workload"], spec["out"]
    run = workload_table()[name].make(spec["size"])
    entry = getattr(workloads, ENTRY[name])
    extra = {}
    on = off = None
    if config in MT_MODES:
        import memtrace

        def on():
            memtrace.start(out, **MT_MODES[config])

        def off():
            memtrace.stop()
    elif config.startswith("pmt-"):
        from pymemtrace import cPyMemTrace
        cls = cPyMemTrace.Profile if config.startswith("pmt-profile") else cPyMemTrace.Trace
        ctx = cls(0 if config.endswith("-all") else -1, filepath=out)
        on, off = ctx.__enter__, lambda: ctx.__exit__(None, None, None)
    elif config == "mempulse":
        import mempulse
        results = []
        # Depth is counted from the frame that enters the tracer (this
        # one, 0); the workload function is at 2, below make()'s lambda
        # (1). Depth 2 here is mempulse's depth 1 on the workload function:
        # its own lines, as in mempulse's README.
        ctx = mempulse.cMemoryUsageTracer(results.append, 2)

        def off():
            ctx.__exit__(None, None, None)
            with open(out, "w") as f:
                for r in results:
                    f.write(mempulse.format_trace_result(r))
        on = ctx.__enter__
    elif config == "tracemalloc":
        import tracemalloc

        def on():
            tracemalloc.start(1)

        def off():
            extra["peak_bytes"] = tracemalloc.get_traced_memory()[1]
            snap = tracemalloc.take_snapshot()
            tracemalloc.stop()
            top = snap.statistics("lineno")[:1]
            if top:
                fr = top[0].traceback[0]
                extra["top_end"] = [fr.filename, fr.lineno, top[0].size]
    elif config == "memory_profiler":
        import memory_profiler
        prof = memory_profiler.LineProfiler(backend="psutil")
        prof.add_function(entry)

        def off():
            prof.disable_by_count()
            with open(out, "w") as f:
                memory_profiler.show_results(prof, stream=f, precision=1)
        on = prof.enable_by_count
    # Other configurations (memray, scalene, fil, mprof) run this child
    # under the tool: nothing to install here.
    if on:
        on()
    w0, c0 = time.perf_counter(), time.process_time()
    result = run()
    w1, c1 = time.perf_counter(), time.process_time()
    if off:
        off()
    w2 = time.perf_counter()
    res = {"wall_s": w1 - w0, "cpu_s": c1 - c0, "stop_s": w2 - w1, "result": repr(result)}
    res.update(extra)
    with open(spec["result"], "w") as f:
        json.dump(res, f)
    return 0


def memray_info(path):
    """Run in the venv: memray's own reader on a capture: allocation count,
    peak, and the allocations live at the peak, biggest first."""
    import memray
    r = memray.FileReader(path)
    recs = sorted(r.get_high_watermark_allocation_records(merge_threads=True),
                  key=lambda a: -a.size)[:3]
    print(json.dumps({"allocations": r.metadata.total_allocations,
                      "peak_bytes": r.metadata.peak_memory,
                      "top": [[a.size, a.stack_trace()[:2]] for a in recs]}))
    return 0


# ---- venv and peers -----------------------------------------------------------

def progress(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def fail(msg, code=1):
    sys.stderr.write("bench_peers: %s\n" % msg)
    sys.exit(code)


def last_error(text):
    """The most telling line of a failed pip or tool run, for a table cell."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:  # a compiler's message names the file and line
        if re.search(r"\.[ch]:\d+:\d+: (fatal )?error:", ln):
            return ln[:160]
    for ln in reversed(lines):
        if re.search(r"\berror\b|Error|No matching distribution|Traceback|not supported",
                     ln) and not ln.startswith("note:"):
            return ln[:160]
    return (lines[-1][:160] if lines else "no output")


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def ensure_venv(venv, no_install, pip_timeout):
    """Make the venv and install each peer once; returns {peer: status}."""
    status_file = os.path.join(venv, "peers.json")
    status = {}
    if os.path.exists(status_file):
        with open(status_file) as f:
            status = json.load(f)
    py = venv_python(venv)
    if not os.access(py, os.X_OK):
        if no_install:
            fail("no virtual environment in %s (run without --no-install)" % venv)
        progress("bench_peers: creating %s" % venv)
        r = subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True, text=True)
        if r.returncode != 0:
            fail("cannot create the virtual environment %s: %s" % (venv, last_error(r.stderr)))
        status = {}
    for peer in PEERS:
        st = status.get(peer)
        if st and (st.get("ok") or no_install):
            continue
        if no_install:
            status[peer] = {"ok": False, "reason": "not installed (--no-install)"}
            continue
        progress("bench_peers: pip install %s" % peer)
        t0 = time.time()
        attempts = [([], {}, "")]
        if peer == "pymemtrace":
            # --no-cache-dir: a wheel built earlier with these flags must
            # not hide that the plain build fails.
            attempts = [(["--no-cache-dir"], {}, ""),
                        (["--no-cache-dir"], {"CFLAGS": PYMEMTRACE_CFLAGS},
                         "CFLAGS=\"%s\"" % PYMEMTRACE_CFLAGS)]
        st, first_reason = {"ok": False, "reason": "?"}, None
        for pip_opts, extra_env, note in attempts:
            env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra_env)
            try:
                r = subprocess.run([py, "-m", "pip", "install"] + pip_opts + [peer], env=env,
                                   capture_output=True, text=True, timeout=pip_timeout)
                out, rc = r.stdout + r.stderr, r.returncode
            except subprocess.TimeoutExpired:
                out, rc = "pip install timed out after %d s" % pip_timeout, -1
            if rc == 0:
                st = {"ok": True}
                if note:
                    st["note"] = "built with %s after a plain install failed (%s)" % (
                        note, first_reason)
                break
            st = {"ok": False, "reason": last_error(out)}
            if first_reason is None:
                first_reason = st["reason"]
            elif note:
                st["reason"] = "%s; with %s: %s" % (first_reason, note, st["reason"])
        if st["ok"]:
            code = ("import importlib.metadata as m, importlib; importlib.import_module(%r); "
                    "print(m.version(%r))" % (PEER_IMPORT[peer], peer))
            r = subprocess.run([py, "-c", code], capture_output=True, text=True)
            if r.returncode == 0:
                st["version"] = r.stdout.strip()
            else:
                st = {"ok": False, "reason": "installed but import fails: " + last_error(r.stderr)}
        progress("  %s: %s (%.0f s)" % (peer, ("ok " + st.get("version", "")) if st["ok"]
                                        else "not installable: " + st["reason"], time.time() - t0))
        status[peer] = st
        with open(status_file, "w") as f:
            json.dump(status, f, indent=1)
    return status


# ---- one run ------------------------------------------------------------------

def tool_cmd(config, py, venv, child_args, out):
    kind = CONFIG[config][2]
    vbin = os.path.join(venv, "bin")
    if kind == "api":
        return [py] + child_args
    if kind == "memray":
        cmd = [py, "-m", "memray", "run", "-q", "-f", "-o", out]
        if config == "memray-py":
            cmd.append("--trace-python-allocators")
        return cmd + child_args
    if kind == "scalene":
        return [os.path.join(vbin, "scalene"), "run", "--memory", "-o", out,
                child_args[0], "---"] + child_args[1:]
    if kind == "fil":
        return [os.path.join(vbin, "fil-profile"), "-o", out, "--no-browser", "run"] + child_args
    if kind == "mprof":
        return [os.path.join(vbin, "mprof"), "run", "-o", out, py] + child_args
    raise ValueError(config)


# GNU time between this script and the child: ru_maxrss counts the RSS a
# process had before its exec, so a child forked straight from this (20+
# MiB) Python would start its peak there and hide small overheads. time is
# ~2 MiB when it forks the child, and reports the child's rusage (its own
# and its reaped children's, as wait4 does).
GNU_TIME = "/usr/bin/time"


def run_child(cmd, env, cwd, timeout, logpath):
    """Start cmd in its own session (under GNU time when present), reap it;
    returns (status, wall_s, cpu_s, maxrss_kib, log tail). status: "ok",
    "timeout", or "exit N" / "signal N"."""
    timef = logpath + ".time"
    if os.access(GNU_TIME, os.X_OK):
        cmd = [GNU_TIME, "-o", timef, "-f", "%U %S %M"] + cmd
    t0 = time.perf_counter()
    with open(logpath, "wb") as log:
        try:
            p = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return "failed (%s)" % exc, 0.0, 0.0, 0, ""
        deadline = t0 + timeout
        timed_out = False
        while True:
            pid, wstatus, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                try:
                    os.killpg(p.pid, signal.SIGKILL)  # the session this run started
                except ProcessLookupError:
                    pass
                pid, wstatus, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        p.returncode = 0  # reaped here; keep Popen from waiting again
    wall = time.perf_counter() - t0
    cpu, maxrss = ru.ru_utime + ru.ru_stime, ru.ru_maxrss
    if os.path.exists(timef):
        with open(timef) as f:
            last = (f.read().strip().splitlines() or [""])[-1].split()
        os.unlink(timef)
        if len(last) == 3:
            cpu, maxrss = float(last[0]) + float(last[1]), int(last[2])
    with open(logpath, "rb") as f:
        tail = f.read()[-4000:].decode("utf-8", "replace")
    if timed_out:
        st = "timeout"
    elif os.WIFSIGNALED(wstatus):
        st = "signal %d" % os.WTERMSIG(wstatus)
    elif os.WEXITSTATUS(wstatus) != 0:
        st = "exit %d" % os.WEXITSTATUS(wstatus)
    else:
        st = "ok"
    return st, wall, cpu, maxrss, tail


# ---- outputs ----------------------------------------------------------------

def path_bytes(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(f) for f in glob.glob(os.path.join(path, "**", "*"),
                                                         recursive=True) if os.path.isfile(f))
    return os.path.getsize(path) if os.path.exists(path) else None


def summary_events(path):
    """The events counter of the trace's SUMMARY record (the last records
    of memtrace-decode --json)."""
    p = subprocess.Popen("'%s' --json '%s' | tail -n 4" % (DECODE, path), shell=True,
                         stdout=subprocess.PIPE, text=True)
    out = p.communicate()[0]
    for line in reversed(out.splitlines()):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("type") == "summary":
            return rec["counters"].get("events")
    return None


def count_lines(path, pattern):
    rx = re.compile(pattern)
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if rx.match(line):
                n += 1
    return n


def collect_output(config, out, py, env):
    """Size of what the tool wrote and the events in it: (bytes, events,
    unit, extra). Events: memtrace SUMMARY events; pymemtrace written event
    lines; memray allocations; mprof samples; mempulse/memory_profiler
    table rows."""
    if config == "bare" or config == "tracemalloc":
        return None, None, "", {}
    size = path_bytes(out)
    if size is None:
        return None, None, "no output", {}
    extra = {}
    if config in MT_MODES:
        ev, unit = summary_events(out), "events"
        t0 = time.perf_counter()
        r = subprocess.run([ANALYZE, out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        extra["analyze_s"] = time.perf_counter() - t0
        extra["analyze_rc"] = r.returncode
    elif config.startswith("pmt-"):
        ev, unit = count_lines(out, rb"(FRST|NEXT|LAST):"), "lines"
    elif config.startswith("memray"):
        r = subprocess.run([py, os.path.abspath(__file__), "--memray-info", out], env=env,
                           capture_output=True, text=True, timeout=120)
        info = json.loads(r.stdout) if r.returncode == 0 else {}
        extra["memray"] = info
        ev, unit = info.get("allocations"), "allocations"
    elif config == "mprof":
        ev, unit = count_lines(out, rb"MEM "), "samples"
    elif config in ("mempulse", "memory_profiler"):
        ev, unit = count_lines(out, rb"\s*\S+:\d+\s|\s+\d+\s+[\d.]+ MiB"), "rows"
    else:
        ev, unit = None, ""
    return size, ev, unit, extra


# ---- accuracy on bigalloc -------------------------------------------------------

def truth_lines():
    """Line numbers of the marked lines in workloads.py."""
    lines = {}
    with open(os.path.join(HERE, "workloads.py")) as f:
        for i, text in enumerate(f, 1):
            for tag in ("BIG_BYTES_LINE", "BIG_BYTEARRAY_LINE", "BIGALLOC_PEAK_LINE"):
                if "# " + tag in text:
                    lines[tag] = i
    return lines


def mib(b):
    return "-" if b is None else "%.1f MiB" % (b / 1048576.0)


def judge(func, line, t):
    """Whether a reported site is the truth: big_bytearray's line, or the
    call in bigalloc that reached the peak. A function's def line (the
    first line, all a tool without line events may know) is "function
    only"."""
    ok_site = {("big_bytearray", t["BIG_BYTEARRAY_LINE"]), ("bigalloc", t["BIGALLOC_PEAK_LINE"])}
    if func is None and line is None:
        return "no attribution"
    if (func, line) in ok_site:
        return "yes"
    if func == "big_bytearray" and (line is None or line == t["BIG_BYTEARRAY_LINE"] - 1):
        return "function only"
    if func in ("big_bytearray",) or (func == "bigalloc" and line is not None
                                       and abs(line - t["BIGALLOC_PEAK_LINE"]) <= 1):
        return "near (line %s)" % line
    return "no"


def func_at(lineno, t):
    if lineno is None:
        return None
    if lineno == t["BIG_BYTES_LINE"]:
        return "big_bytes"
    if lineno == t["BIG_BYTEARRAY_LINE"]:
        return "big_bytearray"
    if t["BIG_BYTEARRAY_LINE"] < lineno < t["BIGALLOC_PEAK_LINE"] + 8:
        return "bigalloc"
    return "?"


def accuracy(config, out, res, extra, t):
    """One row: (reported peak, growth, attributed site, verdict, note)."""
    wl = "workloads.py"
    if config in MT_MODES:
        r = subprocess.run([ANALYZE, "--json", out], capture_output=True, text=True)
        try:
            d = json.loads(r.stdout)
        except ValueError:
            return ("-", "-", "-", "failed", "memtrace-analyze --json: " + last_error(r.stderr))
        rss = d.get("rss", {})
        peak, start = rss.get("peak_bytes"), rss.get("start_bytes")
        heap = d.get("heap")
        if heap and heap.get("peak"):
            site = heap["peak"][0]
            func, line = site["function"], site["line"]
            note = "heap peak %s (%s blocks); biggest site at the peak %s; RSS peak %s" % (
                mib(heap.get("peak_bytes")), heap.get("peak_blocks"), mib(site["bytes"]),
                mib(peak))
            return (mib(heap.get("peak_bytes")) + " heap", mib(heap.get("peak_bytes")),
                    "%s:%s" % (func, line), judge(func, line, t), note)
        func = line = None
        for st in d.get("peak_stacks", []):
            if st.get("name") == "MainThread" or len(d.get("peak_stacks")) == 1:
                fr = st["frames"][-1] if st["frames"] else None
                if fr:
                    func, line = fr["function"], fr["line"] or None
        # The stack at the RSS peak is the one of the last sample at or
        # before it (10 ms sampler); also name the function with the most
        # self growth.
        fns = sorted(d.get("functions", []), key=lambda f: -f.get("self_bytes", 0))
        top = fns[0]["function"] if fns else "-"
        note = "stack at the RSS peak; most self RSS growth: %s (%s)" % (
            top, mib(fns[0]["self_bytes"]) if fns else "-")
        return (mib(peak) + " RSS", mib(peak - start if peak and start else None),
                "%s:%s" % (func, line) if line else "%s (no line)" % func,
                judge(func, line, t), note)
    if config.startswith("pmt-"):
        best = first = None
        rx = re.compile(r"(?:FRST|NEXT|PREV|LAST):\s+\d+\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s+(\d+)\s+(\S+)"
                        r"\s+(\d+)\s+(-?\d+)")
        with open(out, errors="replace") as f:
            for ln in f:
                m = rx.match(ln)
                if not m:
                    continue
                rssv = int(m.group(5))
                if first is None:
                    first = rssv
                if best is None or rssv > best[0]:
                    best = (rssv, m.group(4), int(m.group(3)), m.group(1))
        if not best:
            return ("-", "-", "-", "no attribution", "no event lines in the log")
        return (mib(best[0]) + " RSS", mib(best[0] - first), "%s:%s" % (best[1], best[2]),
                judge(best[1], best[2], t), "first log line at the max RSS (%s event)" % best[3])
    if config == "mempulse":
        rows = []
        with open(out) as f:
            for ln in f:
                m = re.match(r"\s*(\S+):(\d+)\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", ln)
                if m:
                    rows.append((m.group(1), int(m.group(2)), m.group(3),
                                 int(m.group(4).replace(",", "")), int(m.group(6).replace(",", ""))))
        if not rows:
            return ("-", "-", "-", "no attribution", "empty table")
        uss = max(r[3] for r in rows)
        peak = max(r[4] for r in rows)
        row = next(r for r in rows if r[3] == uss)
        return (mib(peak) + " peak RSS", mib(uss - rows[0][3]) + " USS",
                "%s:%s" % (row[2], row[1]), judge(row[2], row[1], t),
                "first row with the highest USS (%s); USS is read at the next line event"
                % mib(uss))
    if config.startswith("memray"):
        info = extra.get("memray") or {}
        if not info.get("top"):
            return ("-", "-", "-", "failed", "memray FileReader gave nothing")
        size, stack = info["top"][0]
        func, _file, line = stack[0]
        caller = stack[1] if len(stack) > 1 else None
        return (mib(info["peak_bytes"]) + " heap", mib(info["peak_bytes"]),
                "%s:%s" % (func, line), judge(func, line, t),
                "biggest allocation live at the peak %s, called from %s" % (
                    mib(size), "%s:%s" % (caller[0], caller[2]) if caller else "-"))
    if config == "tracemalloc":
        te = res.get("top_end")
        return (mib(res.get("peak_bytes")) + " traced", mib(res.get("peak_bytes")),
                "-", "no attribution",
                "get_traced_memory() gives the peak but no site; a snapshot taken at the end "
                "shows %s" % ("%s:%s (%s)" % (os.path.basename(te[0]), te[1], mib(te[2]))
                              if te else "nothing"))
    if config == "memory_profiler":
        best, peak, first = None, None, None
        with open(out) as f:
            for ln in f:
                m = re.match(r"\s+(\d+)\s+([\d.]+) MiB\s+(-?[\d.]+) MiB", ln)
                if m:
                    lineno, mem, inc = int(m.group(1)), float(m.group(2)), float(m.group(3))
                    first = mem if first is None else first
                    peak = mem if peak is None else max(peak, mem)
                    if best is None or inc > best[1]:
                        best = (lineno, inc)
        if best is None:
            return ("-", "-", "-", "no attribution", "no table")
        func = func_at(best[0], t)
        return ("%.1f MiB RSS" % peak, "%.1f MiB" % (peak - first), "%s:%s" % (func, best[0]),
                judge(func, best[0], t), "line with the largest increment (%.1f MiB)" % best[1])
    if config == "mprof":
        mem = []
        with open(out) as f:
            for ln in f:
                if ln.startswith("MEM "):
                    mem.append(float(ln.split()[1]))
        if not mem:
            return ("-", "-", "-", "no attribution", "no samples")
        return ("%.1f MiB RSS" % max(mem), "%.1f MiB" % (max(mem) - mem[0]), "-",
                "no attribution", "%d samples; RSS of the whole run, no code location" % len(mem))
    if config == "scalene":
        with open(out) as f:
            d = json.load(f)
        fname, line = d.get("max_footprint_fname"), d.get("max_footprint_lineno")
        func = func_at(line, t) if fname and fname.endswith(wl) else None
        return ("%.1f MiB footprint" % d.get("max_footprint_mb", 0),
                "%.1f MiB" % d.get("max_footprint_mb", 0),
                "%s:%s" % (os.path.basename(fname or "-"), line), judge(func, line, t),
                "max_footprint_fname/lineno (file and line, no function: %s by line)" % func)
    if config == "fil":
        profs = glob.glob(os.path.join(out, "**", "peak-memory.prof"), recursive=True)
        if not profs:
            return ("-", "-", "-", "failed", "no peak-memory.prof")
        total, best = 0, None
        with open(profs[0]) as f:
            for ln in f:
                stack, _, n = ln.rstrip("\n").rpartition(" ")
                n = int(n)
                total += n
                if best is None or n > best[0]:
                    best = (n, stack)
        m = re.search(r":(\d+) \(([^)]*)\)$", best[1])
        func, line = (m.group(2), int(m.group(1))) if m else (None, None)
        return (mib(total) + " heap", mib(total), "%s:%s" % (func, line), judge(func, line, t),
                "biggest stack at the peak %s" % mib(best[0]))
    return ("-", "-", "-", "-", "")


# ---- report -------------------------------------------------------------------

NOTES = (
    "Workload sizes are small (~40 ms bare) so that the slowest peers finish; "
    "`make bench-recorder` and `make bench-alloc` measure memtrace alone on larger ones. "
    "Short workloads make the ratios of fast tools noisier on a shared machine: read the "
    "min-max.",
    "`threads`: pymemtrace (PyEval_SetProfile/SetTrace), mempulse (its README: current "
    "thread only) and memory_profiler (sys.settrace) hook only the thread that starts "
    "them, so their ~1x there means they did not see the four worker threads at all. "
    "memtrace, memray, tracemalloc, Scalene and Fil see every thread.",
    "`timeout`: the run took more than the per-run timeout (hundreds of times bare); the "
    "pair is not run again. pymemtrace in every-event mode writes ~194 bytes of text per "
    "event.",
    "mprof samples RSS from a separate process: its cost is in the whole-process CPU "
    "table, not in the workload's; its peak RSS row is the max over mprof's own Python "
    "and the program.",
    "memray and Fil write and post-process their capture at exit, and Scalene starts and "
    "reports around the program: the whole-process tables include that.",
    "memray's allocation counts on call-heavy code include one 184-byte frame object per Python"
    " call: CPython 3.11 creates frame objects lazily, and memray's own profile hook (which it "
    "installs to know the Python stack) materialises one at every call, so memray records alloc"
    "ations the bare program never makes (fib: one per call). memtrace's alloc mode installs no call hook and sees only the program's own allocations.",
    "Accuracy, memtrace: alloc modes (mt-alloc, mt-alloc-sampled, mt-default) write each "
    "frame's position (format 1.3) and name the allocating line; trace mode names the line "
    "from its line events; profile and fast modes without allocations record calls only "
    "and name the function with its def line (\"function only\"), from RSS. The RSS peak "
    "comes from the 10 ms sampler (record with rss=\"exact\" for per-event RSS), the heap "
    "peak is exact.",
)

SINGULAR = {"events": "event", "lines": "line", "allocations": "alloc", "samples": "sample",
            "rows": "row"}


def fmt(x, digits=2):
    return "-" if x is None else "%.*f" % (digits, x)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return "%.1f GiB" % (int(line.split()[1]) / 1048576.0)
    except OSError:
        pass
    return "?"


def git_commit():
    r = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def cell_status(key, bad):
    return bad.get(key)


def ratio_cell(vals, base_med, note=""):
    """median ratio (min-max) against the bare median."""
    if not vals or not base_med:
        return None
    m = statistics.median(vals) / base_med
    if len(vals) == 1:
        return "%.2f (1 run)%s" % (m, note)
    return "%.2f (%.2f-%.2f)%s" % (m, min(vals) / base_med, max(vals) / base_med, note)


def report(st):
    a = st["args"]
    names, configs, res, bad = st["names"], st["configs"], st["res"], st["bad"]
    lines = []
    add = lines.append
    add("# memtrace and its peers: cost and accuracy")
    add("")
    add("Generated by `%s` (bench/bench_peers.py)%s. Every cell is a fresh process; runs are "
        "interleaved round-robin in a shuffled order; a ratio is the median over the bare "
        "median, with the min-max of the runs in brackets." % (
            "make bench-quick" if a.quick else "make bench", ", quick mode" if a.quick else ""))
    add("")
    add("## Machine and versions")
    add("")
    add("| | |")
    add("|---|---|")
    add("| date | %s |" % st["date"])
    add("| machine | %s, %d cores, %s RAM, %s |" % (cpu_model(), os.cpu_count() or 0, mem_total(),
                                                    platform.platform()))
    add("| load (1/5/15 min) | at start %s, at end %s (other jobs share this machine) |"
        % (st["load0"], st["load1"]))
    add("| Python | %s (%s) |" % (st["pyver"], st["venv_py"]))
    add("| memtrace | %s (build/python) |" % st["commit"])
    for peer in PEERS:
        s = st["peers"].get(peer, {})
        if s.get("ok"):
            add("| %s | %s%s |" % (peer, s.get("version"), "; " + s["note"] if s.get("note") else ""))
        else:
            add("| %s | not installable: %s |" % (peer, s.get("reason", "?")))
    add("| tracemalloc | standard library |")
    add("| runs | %d rounds%s; per-run timeout %g s; pairs slower than %g s on their first run "
        "are run once; %.0f s in all |" % (st["rounds_done"], " (stopped by --budget)"
                                            if st["rounds_done"] < st["runs"] else "",
                                            a.timeout, a.slow, st["elapsed"]))
    add("")
    add("## Configurations")
    add("")
    add("| config | what |")
    add("|---|---|")
    for c in configs:
        add("| %s | %s |" % (c, CONFIG[c][3]))
    add("")
    add("Workloads (bench/workloads.py): %s." % "; ".join(
        "**%s**(%s) %s" % (n, st["sizes"][n], st["table"][n].doc) for n in names))
    add("")

    add("## Headline")
    add("")
    add("Median wall time of the workload under each tool, x bare (details and min-max "
        "below), and whether the tool named the site of the known peak on the "
        "large-allocations workload (see Accuracy).")
    add("")
    add("| config | " + " | ".join(names) + " | names the peak |")
    add("|---|" + "---:|" * len(names) + "---|")
    for c in configs:
        if c == "bare":
            continue
        cells = []
        for n in names:
            key, base = (n, c), res.get((n, "bare"))
            if key in bad:
                cells.append("timeout" if bad[key].startswith("timeout") else
                             "not installable" if bad[key] == "not installable" else "failed")
            elif res.get(key) and base:
                m = statistics.median(r["wall_s"] for r in res[key]) / statistics.median(
                    r["wall_s"] for r in base)
                cells.append("%.2f" % m)
            else:
                cells.append("-")
        row = st["accuracy"].get(c)
        add("| %s | %s | %s |" % (c, " | ".join(cells), row[3] if row else "-"))
    add("")

    def cell(name, config, field):
        key = (name, config)
        if key in bad:
            return bad[key]
        base = res.get((name, "bare"))
        vals = [r[field] for r in res.get(key, [])]
        if not vals or not base:
            return "-"
        return ratio_cell(vals, statistics.median(r[field] for r in base)) or "-"

    def table(title, field, text):
        add("## " + title)
        add("")
        add(text)
        add("")
        add("| config | " + " | ".join(names) + " |")
        add("|---|" + "---:|" * len(names))
        bare_row = []
        for name in names:
            base = res.get((name, "bare"))
            bare_row.append("%.3f s" % statistics.median(r[field] for r in base) if base else "-")
        add("| bare (seconds) | " + " | ".join(bare_row) + " |")
        for c in configs:
            if c == "bare":
                continue
            add("| %s | %s |" % (c, " | ".join(cell(n, c, field) for n in names)))
        add("")

    table("Wall time of the workload, x bare", "wall_s",
          "Measured inside the child around the workload alone (the tool is started before "
          "and stopped after, so start-up, import and the tool's report at exit are not in "
          "it; see the whole-process table).")
    table("CPU time of the workload, x bare", "cpu_s",
          "Process CPU time (time.process_time) around the workload: the tool's threads in "
          "the process count; an outside sampler (mprof) does not.")
    table("Whole process: wall time, x bare", "proc_wall_s",
          "From spawn to exit as the parent sees it: interpreter start, tool start-up and "
          "the tool's work at exit (writing reports) included.")
    table("Whole process: CPU time, x bare", "proc_cpu_s",
          "user+sys of the process and its reaped children (GNU time): mprof's sampler and "
          "fil/scalene launchers included.")

    add("## Peak RSS, overhead over bare")
    add("")
    add("Max RSS of the process tree (ru_maxrss of the child and its reaped children, "
        "through GNU time so the spawning script's own RSS is not counted), median over the "
        "runs, minus bare's median, in MiB (bare's own value in the first row).")
    add("")
    add("| config | " + " | ".join(names) + " |")
    add("|---|" + "---:|" * len(names))
    brss = {}
    for name in names:
        base = res.get((name, "bare"))
        brss[name] = statistics.median(r["maxrss_kib"] for r in base) if base else None
    add("| bare (MiB) | " + " | ".join("%.1f" % (brss[n] / 1024.0) if brss[n] else "-"
                                       for n in names) + " |")
    for c in configs:
        if c == "bare":
            continue
        cells = []
        for n in names:
            key = (n, c)
            if key in bad:
                cells.append(bad[key])
            elif res.get(key) and brss[n]:
                cells.append("%+.1f" % ((statistics.median(r["maxrss_kib"] for r in res[key])
                                         - brss[n]) / 1024.0))
            else:
                cells.append("-")
        add("| %s | %s |" % (c, " | ".join(cells)))
    add("")

    add("## Output size and bytes per event")
    add("")
    add("What the tool wrote on the first run (MiB), the events in it and the bytes per "
        "event. Events: memtrace, the SUMMARY record's event counter (calls, returns, lines, "
        "allocations, RSS samples...); pymemtrace, the event lines it wrote (FRST/NEXT/LAST; "
        "by default it writes only when RSS moved by a page); memray, the allocations it "
        "recorded (memray's FileReader); mprof, its samples; mempulse and memory_profiler, "
        "the rows of their tables. tracemalloc keeps its data in memory.")
    add("")
    add("| config | " + " | ".join(names) + " |")
    add("|---|" + "---|" * len(names))
    for c in configs:
        if c in ("bare", "tracemalloc"):
            continue
        cells = []
        for n in names:
            o = st["outputs"].get((n, c))
            if (n, c) in bad and not o:
                cells.append(bad[(n, c)])
            elif not o or o[0] is None:
                cells.append("-" if not o else o[2] or "-")
            else:
                size, ev, unit = o[0], o[1], o[2]
                txt = "%.2f MiB" % (size / 1048576.0)
                if ev:
                    txt += ", %d %s, %.1f B/%s" % (ev, unit, size / ev, SINGULAR.get(unit, unit))
                cells.append(txt)
        add("| %s | %s |" % (c, " | ".join(cells)))
    add("")

    add("## memtrace-analyze on memtrace's traces")
    add("")
    add("Wall time of `memtrace-analyze TRACE` (the default text report) on the first run's "
        "trace.")
    add("")
    add("| config | " + " | ".join(names) + " |")
    add("|---|" + "---:|" * len(names))
    for c in configs:
        if c not in MT_MODES:
            continue
        cells = []
        for n in names:
            o = st["outputs"].get((n, c))
            x = o[3].get("analyze_s") if o else None
            cells.append("-" if x is None else "%.3f s%s" % (
                x, "" if o[3].get("analyze_rc") == 0 else " (exit %s)" % o[3].get("analyze_rc")))
        add("| %s | %s |" % (c, " | ".join(cells)))
    add("")

    add("## Notes")
    add("")
    for note in NOTES:
        add("- " + note)
    add("")

    if st["accuracy"]:
        t = st["truth"]
        add("## Accuracy: the large-allocations workload")
        add("")
        add("Truth: `bigalloc` keeps 10 MiB (bytes), then holds 100 MiB (bytes) and 300 MiB "
            "(bytearray) together: the heap peaks at %d MiB above its start inside "
            "`big_bytearray(300)` (workloads.py:%d, called from bigalloc:%d); then both are "
            "dropped and a 200 MiB bytearray comes and goes. Every page is written, so RSS "
            "follows the heap. A tool is right (\"yes\") if it names big_bytearray:%d or "
            "bigalloc:%d. Bare's peak RSS: %s." % (
                410, t["BIG_BYTEARRAY_LINE"], t["BIGALLOC_PEAK_LINE"],
                t["BIG_BYTEARRAY_LINE"], t["BIGALLOC_PEAK_LINE"],
                "%.1f MiB" % (brss["bigalloc"] / 1024.0) if brss.get("bigalloc") else "-"))
        add("")
        add("| config | reported peak | above start | names | right? | how / note |")
        add("|---|---|---|---|---|---|")
        for c in configs:
            if c == "bare":
                continue
            row = st["accuracy"].get(c)
            if row is None:
                add("| %s | %s | | | | |" % (c, bad.get(("bigalloc", c), "-")))
                continue
            add("| %s | %s |" % (c, " | ".join(str(x) for x in row)))
        add("")
    return "\n".join(lines) + "\n"


def remove(*paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.unlink(p)


# ---- main ---------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench_peers.py",
        description="memtrace against pymemtrace, mempulse, memray, tracemalloc, "
                    "memory_profiler, mprof, Scalene and Fil: cost and accuracy")
    ap.add_argument("-q", "--quick", action="store_true",
                    help="2 rounds, smaller workloads, shorter timeouts (under 3 minutes)")
    ap.add_argument("--runs", type=int, help="rounds (default 5, --quick 2)")
    ap.add_argument("--venv", default=os.path.join(BUILD, "bench", "venv"),
                    help="the peers' virtual environment (default build/bench/venv)")
    ap.add_argument("--no-install", action="store_true", help="use the venv as it is")
    ap.add_argument("--workloads", help="comma-separated subset (default: all: %s)"
                    % ",".join(SIZES))
    ap.add_argument("--configs", help="comma-separated subset (bare is always run)")
    ap.add_argument("--timeout", type=float, help="seconds per run (default 30, --quick 4)")
    ap.add_argument("--slow", type=float,
                    help="a pair whose first run takes longer runs once (default 5, --quick 1.5)")
    ap.add_argument("--budget", type=float,
                    help="start no new round after this many seconds (default 960, --quick 110)")
    ap.add_argument("--out", help="report file (default bench/RESULTS.md, --quick "
                    "build/bench/peers-quick.md)")
    ap.add_argument("--keep", action="store_true", help="keep the outputs (build/bench/peers)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--memray-info", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be >= 1")
    args.runs = args.runs or (2 if args.quick else 5)
    args.timeout = args.timeout or (4.0 if args.quick else 30.0)
    args.slow = args.slow or (1.5 if args.quick else 5.0)
    args.budget = args.budget or (110.0 if args.quick else 960.0)
    return ap, args


def main(argv):
    ap, args = parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    if args.memray_info:
        return memray_info(args.memray_info)
    sys.path.insert(0, HERE)
    table = workload_table()
    names = list(SIZES)
    if args.workloads:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
        for n in names:
            if n not in SIZES:
                ap.error("--workloads: unknown workload %r (known: %s)" % (n, ", ".join(SIZES)))
    configs = list(CONFIG_NAMES)
    if args.configs:
        want = [c.strip() for c in args.configs.split(",") if c.strip()]
        for c in want:
            if c not in CONFIG:
                ap.error("--configs: unknown configuration %r (known: %s)"
                         % (c, ", ".join(CONFIG_NAMES)))
        configs = ["bare"] + [c for c in CONFIG_NAMES if c in want and c != "bare"]
    for tool in (DECODE, ANALYZE):
        if not os.access(tool, os.X_OK):
            fail("%s is missing (make)" % tool)
    if not glob.glob(os.path.join(MT_PYTHON, "memtrace", "_memtrace*.so")):
        fail("memtrace is not built in %s (make)" % MT_PYTHON)

    t_begin = time.time()
    load0 = loadavg()
    venv = os.path.abspath(args.venv)
    peers = ensure_venv(venv, args.no_install, 600)
    py = venv_python(venv)
    pyver = subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True).stdout.strip()
    peers["memtrace"] = {"ok": True}
    bad = {}
    for c in list(configs):
        need = CONFIG[c][1]
        if need and not peers.get(need, {}).get("ok"):
            for n in names:
                bad[(n, c)] = "not installable"
    progress("bench_peers: install/check took %.0f s" % (time.time() - t_begin))
    t_runs = time.time()

    sizes = {n: SIZES[n][1 if args.quick else 0] for n in names}
    work = os.path.join(BUILD, "bench", "peers")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ)
    env.pop("MEMTRACE", None)
    env.pop("PYTHONSTARTUP", None)
    env["PYTHONPATH"] = os.pathsep.join([MT_PYTHON, HERE])
    env["PYTHONHASHSEED"] = "0"
    env["MPLBACKEND"] = "Agg"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    truth = truth_lines()

    res, outputs, acc, expect = {}, {}, {}, {}
    once = set()
    rounds_done = 0
    script = os.path.abspath(__file__)
    for rnd in range(args.runs):
        if rnd > 0 and time.time() - t_runs > args.budget:
            progress("bench_peers: budget of %.0f s reached after %d rounds" % (args.budget, rnd))
            break
        for name in names:
            order = list(configs)
            random.Random(rnd * 7919 + len(name)).shuffle(order)
            for config in order:
                key = (name, config)
                if key in bad or (key in once and rnd > 0):
                    continue
                kind = CONFIG[config][2]
                out = os.path.join(work, "%s-%s-%d%s" % (
                    name, config, rnd, {"api": ".out", "memray": ".bin", "scalene": ".json",
                                        "fil": "", "mprof": ".dat"}[kind]))
                if config in MT_MODES:
                    out = out[:-4] + ".trace"
                resf = os.path.join(work, "%s-%s-%d.result.json" % (name, config, rnd))
                spec = {"config": config, "workload": name, "size": sizes[name], "out": out,
                        "result": resf}
                cmd = tool_cmd(config, py, venv, [script, "--child", json.dumps(spec)], out)
                status, pwall, pcpu, maxrss, tail = run_child(
                    cmd, env, work, args.timeout, resf + ".log")
                r = None
                if status == "ok":
                    try:
                        with open(resf) as f:
                            r = json.load(f)
                    except (OSError, ValueError):
                        status = "no result"
                if r is None:
                    why = "timeout (> %g s)" % args.timeout if status == "timeout" else \
                        "failed (%s: %s)" % (status, last_error(tail))
                    bad[key] = why
                    progress("  run %d/%d %-8s %-16s %s" % (rnd + 1, args.runs, name, config, why))
                    if config == "bare" or config in MT_MODES:
                        sys.stderr.write(tail)
                    if not args.keep:
                        remove(out, resf, resf + ".log")
                    continue
                r.update(proc_wall_s=pwall, proc_cpu_s=pcpu, maxrss_kib=maxrss)
                res.setdefault(key, []).append(r)
                if expect.setdefault(name, r["result"]) != r["result"]:
                    progress("warning: %s under %s returned %s, not %s"
                             % (name, config, r["result"], expect[name]))
                if key not in outputs:
                    try:
                        outputs[key] = collect_output(config, out, py, env)
                    except Exception as exc:  # a peer's odd output is a cell, not a crash
                        outputs[key] = (None, None, "unreadable (%s)" % exc, {})
                    if name == "bigalloc" and config != "bare":
                        try:
                            acc[config] = accuracy(config, out, r, outputs[key][3], truth)
                        except Exception as exc:
                            acc[config] = ("-", "-", "-", "failed",
                                           "cannot read the output: %s" % exc)
                if rnd == 0 and pwall > args.slow:
                    once.add(key)
                if not args.keep:
                    remove(out, resf, resf + ".log")
                progress("  run %d/%d %-8s %-16s %.3f s (process %.2f s)"
                         % (rnd + 1, args.runs, name, config, r["wall_s"], pwall))
        rounds_done = rnd + 1

    state = {"args": args, "names": names, "configs": configs, "res": res, "bad": bad,
             "outputs": outputs, "accuracy": acc, "truth": truth, "sizes": sizes,
             "table": table, "peers": peers, "pyver": pyver, "venv_py": py,
             "commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M %Z"),
             "load0": load0, "load1": loadavg(), "runs": args.runs,
             "rounds_done": rounds_done, "elapsed": time.time() - t_begin}
    text = report(state)
    sys.stdout.write(text)
    out = args.out or (os.path.join(BUILD, "bench", "peers-quick.md") if args.quick
                       else os.path.join(HERE, "RESULTS.md"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    progress("bench_peers: %.0f s; report written to %s" % (time.time() - t_begin, out))
    failed = [k for k in bad if k[1] == "bare" or k[1] in MT_MODES]
    if failed:
        progress("bench_peers: memtrace or bare failed on: %s"
                 % ", ".join("%s/%s" % k for k in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
