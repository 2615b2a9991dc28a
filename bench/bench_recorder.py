#!/usr/bin/env python3
"""bench_recorder.py - the memtrace recorder's overhead against bare Python and
against do-nothing interpreter hooks (the floor each mode cannot go below).

    python3 bench/bench_recorder.py [--quick] [--runs N] [--python PATH]
                                    [--workloads fib,methods] [--configs ...]
                                    [--out FILE]

Every measurement runs in a fresh subprocess (no JIT-like warm state, no
leftover hooks, no allocator state carried from one configuration to the
next): the child builds the workload's input, installs the configuration's
hook, times only the workload with time.perf_counter (wall) and
time.process_time (CPU of the whole process, so the recorder's writer and
sampler threads are counted), removes the hook and prints one JSON line.
Runs are interleaved round-robin over the configurations, so a slow phase of
the machine hits all of them alike; the table shows the median, min and max.

Configurations:
  bare             the workload alone
  floor-profile    a C profile function that returns 0 (PyEval_SetProfile)
  floor-trace      a C trace function that returns 0 (PyEval_SetTrace)
  floor-both       both: what memtrace's trace mode installs with c_calls=True
  floor-eval       a PEP 523 eval function calling _PyEval_EvalFrameDefault
  floor-monitoring (3.12+) do-nothing C callbacks for the sys.monitoring
                   events memtrace's fast mode uses on 3.12+
  profile, trace, fast
                   memtrace.start(path, mode=...) / memtrace.stop()

Extensions: memtrace from build/python when it was built for this
interpreter (make), else built with recorder/build_ext.sh into
build/py/<version>; _mt_floor from build/bench, else built with
bench/floor/build_floor.sh into build/bench/py/<version>.

Prints a markdown report on stdout (progress on stderr) and writes it to
build/bench/recorder.md (with --python: recorder-<version>.md; or --out).
Exit 1 if a child fails, 2 on a usage error. Nothing fails on a timing.
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
BUILD = os.path.join(TOP, "build")
DECODE = os.path.join(BUILD, "bin", "memtrace-decode")

FLOORS = ("floor-profile", "floor-trace", "floor-both", "floor-eval", "floor-monitoring")
MODES = ("profile", "trace", "fast")
CONFIGS = ("bare",) + FLOORS + MODES

# Targets from issue 3, section 8 (CPython 3.11).
TARGET_PROFILE = 1.15   # profile / floor-profile
TARGET_TRACE = 1.20     # trace / floor-trace
TARGET_FAST = 1.70      # fast / bare, call-heavy (fib)
TARGET_BPE = 1.5        # bytes per call/return event (fib)


# ---- child ------------------------------------------------------------------

def _monitoring(on):
    """Register (or remove) _mt_floor.noop for the events memtrace's fast mode
    watches on 3.12+ (recorder/mt_hooks.c, monitoring_install)."""
    import _mt_floor
    mon = sys.monitoring
    tool = 3  # not PROFILER_ID (2), which memtrace uses
    names = ("PY_START", "PY_RESUME", "PY_THROW", "PY_RETURN", "PY_YIELD", "PY_UNWIND")
    if on:
        mon.use_tool_id(tool, "mt_floor")
    mask = 0
    for name in names:
        ev = getattr(mon.events, name)
        mask |= ev
        mon.register_callback(tool, ev, _mt_floor.noop if on else None)
    mon.set_events(tool, mask if on else 0)
    if not on:
        mon.free_tool_id(tool)


def child(spec):
    """Run one measurement described by the JSON spec; print one JSON line."""
    sys.path.insert(0, HERE)
    import workloads
    import _mt_floor
    import memtrace

    config, name, size, path = spec["config"], spec["workload"], spec["size"], spec["trace"]
    run = workloads.WORKLOADS[name].make(size)
    on = off = None
    if config == "floor-profile":
        on, off = _mt_floor.profile_on, _mt_floor.profile_off
    elif config == "floor-trace":
        on, off = _mt_floor.trace_on, _mt_floor.trace_off
    elif config == "floor-both":
        def on():
            _mt_floor.profile_on()
            _mt_floor.trace_on()

        def off():
            _mt_floor.trace_off()
            _mt_floor.profile_off()
    elif config == "floor-eval":
        on, off = _mt_floor.eval_on, _mt_floor.eval_off
    elif config == "floor-monitoring":
        def on():
            _monitoring(True)

        def off():
            _monitoring(False)
    elif config in MODES:
        def on():
            memtrace.start(path, mode=config)

        off = memtrace.stop
    elif config != "bare":
        raise SystemExit("unknown configuration %r" % config)

    t_start = time.perf_counter()
    if on:
        on()
    w0, c0 = time.perf_counter(), time.process_time()
    result = run()
    w1, c1 = time.perf_counter(), time.process_time()
    if off:
        off()
    w2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({
        "wall_s": w1 - w0, "cpu_s": c1 - c0, "start_s": w0 - t_start,
        "stop_s": w2 - w1, "stop_cpu_s": c2 - c1, "result": repr(result),
    }))
    return 0


# ---- parent -----------------------------------------------------------------

def fail(msg, code=1):
    sys.stderr.write("bench_recorder: %s\n" % msg)
    sys.exit(code)


def progress(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def interp_info(python):
    code = ("import sys, sysconfig, platform; print(platform.python_version()); "
            "print(sysconfig.get_config_var('EXT_SUFFIX')); print(sys.version_info[1])")
    try:
        out = subprocess.run([python, "-c", code], check=True, capture_output=True,
                             text=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError) as exc:
        fail("cannot run '%s': %s" % (python, exc), 2)
    return out[0], out[1], int(out[2])


def build_ext(script, python, outdir):
    progress("building %s for %s into %s" % (os.path.basename(script), python, outdir))
    r = subprocess.run(["sh", script, python, outdir], cwd=TOP)
    if r.returncode != 0:
        fail("%s %s %s failed" % (script, python, outdir))


def find_memtrace(python, ver, suffix, no_build):
    """build/python if make built it for this interpreter, else build/py/VER."""
    main = os.path.join(BUILD, "python")
    if os.path.exists(os.path.join(main, "memtrace", "_memtrace" + suffix)):
        return main
    out = os.path.join(BUILD, "py", ver)
    if not no_build or not os.path.exists(os.path.join(out, "memtrace", "_memtrace" + suffix)):
        build_ext(os.path.join(TOP, "recorder", "build_ext.sh"), python, out)
    return out


def find_floor(python, ver, suffix):
    """build/bench if make built it for this interpreter, else
    build/bench/py/VER (rebuilt when older than its source)."""
    src = os.path.join(HERE, "floor", "mt_floor.c")
    for out in (os.path.join(BUILD, "bench"), os.path.join(BUILD, "bench", "py", ver)):
        so = os.path.join(out, "_mt_floor" + suffix)
        if os.path.exists(so) and os.path.getmtime(so) >= os.path.getmtime(src):
            return out
    build_ext(os.path.join(HERE, "floor", "build_floor.sh"), python, out)
    return out


def summary_events(path):
    """The events counter of the trace's SUMMARY record (the last records of
    memtrace-decode --json), or None."""
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


def measure(python, env, spec):
    r = subprocess.run([python, os.path.abspath(__file__), "--child", json.dumps(spec)],
                       env=env, capture_output=True, text=True, cwd=TOP)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        fail("child failed: %s on %s (exit %d)" % (spec["config"], spec["workload"], r.returncode))
    if r.stderr.strip():
        sys.stderr.write(r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt(x, digits=3):
    return "-" if x is None else "%.*f" % (digits, x)


def ratio(a, b):
    return a / b if a is not None and b else None


def mark(x, limit):
    if x is None:
        return "-"
    return "%.2fx %s" % (x, "ok" if x <= limit else "**miss**")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def fast_floor(minor):
    """The floor of memtrace's fast mode: its mechanism per version
    (recorder/mt_hooks.c: sys.monitoring on 3.12+, PEP 523 before)."""
    return "floor-monitoring" if minor >= 12 else "floor-eval"


def report(res, configs, names, sizes, ver, minor, runs, args, events, tsizes):
    from workloads import fib_calls
    med = {}
    for key, rows in res.items():
        med[key] = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "result"}
    matching = {"profile": "floor-profile", "trace": "floor-trace", "fast": fast_floor(minor)}
    lines = []
    add = lines.append
    add("# memtrace recorder overhead")
    add("")
    add("CPython %s (%s), %s, %d core(s); %s; %d interleaved runs per cell, each in a fresh "
        "process%s." % (ver, args.python or sys.executable, cpu_model(), os.cpu_count() or 0,
                        time.strftime("%Y-%m-%d %H:%M"), runs,
                        ", --quick sizes" if args.quick else ""))
    add("")
    add("Times are the workload only (start/stop excluded; `stop s` is the median time of "
        "memtrace.stop()). `cpu s` is process CPU time during the workload, recorder threads "
        "included. `x floor` is against the matching do-nothing hook: profile/floor-profile, "
        "trace/floor-trace, fast/%s. `B/ev` is the whole trace file over the SUMMARY record's "
        "event count (first run)." % matching["fast"])
    add("")
    add("| workload | config | median s | min s | max s | x bare | x floor | cpu s | cpu x bare "
        "| stop s | events | trace MiB | B/ev |")
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        bare = med.get((name, "bare"))
        for config in configs:
            key = (name, config)
            if key not in med:
                continue
            m = med[key]
            walls = [r["wall_s"] for r in res[key]]
            fl = med.get((name, matching.get(config)))
            ev = events.get(key)
            tb = tsizes.get(key)
            add("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, config, fmt(m["wall_s"]), fmt(min(walls)), fmt(max(walls)),
                fmt(ratio(m["wall_s"], bare and bare["wall_s"]), 2),
                fmt(ratio(m["wall_s"], fl and fl["wall_s"]), 2),
                fmt(m["cpu_s"]), fmt(ratio(m["cpu_s"], bare and bare["cpu_s"]), 2),
                fmt(m["stop_s"]) if config in MODES else "",
                "" if ev is None else str(ev),
                "" if tb is None else "%.2f" % (tb / 1048576.0),
                fmt(ratio(tb, ev), 2) if tb is not None else ""))
    add("")
    add("Targets (issue 3, section 8; stated for 3.11). profile <= %.2fx floor-profile, "
        "trace <= %.2fx floor-trace, fast <= %.2fx bare on call-heavy code (fib), "
        "<= %.1f bytes per call/return event (fib: trace bytes over 2 x fib calls)."
        % (TARGET_PROFILE, TARGET_TRACE, TARGET_FAST, TARGET_BPE))
    add("")
    add("| workload | profile / floor-profile | trace / floor-trace | trace / floor-both "
        "| fast / %s | fast / bare | floor-profile / bare | floor-trace / bare "
        "| B per call/return (profile, fast) |" % matching["fast"])
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def r(name, a, b):
        x, y = med.get((name, a)), med.get((name, b))
        return ratio(x and x["wall_s"], y and y["wall_s"])

    for name in names:
        bpe = "-"
        if name == "fib":
            ncr = 2 * fib_calls(sizes[name])
            parts = []
            for mode in ("profile", "fast"):
                tb = tsizes.get((name, mode))
                if tb is not None:
                    bpe_mode = tb / ncr
                    parts.append("%.2f %s" % (bpe_mode, "ok" if bpe_mode <= TARGET_BPE
                                              else "**miss**"))
            bpe = ", ".join(parts) or "-"
        fb = r(name, "fast", "bare")
        add("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, mark(r(name, "profile", "floor-profile"), TARGET_PROFILE),
            mark(r(name, "trace", "floor-trace"), TARGET_TRACE),
            fmt(r(name, "trace", "floor-both"), 2),
            fmt(r(name, "fast", matching["fast"]), 2),
            mark(fb, TARGET_FAST) if name == "fib" else fmt(fb, 2),
            fmt(r(name, "floor-profile", "bare"), 2), fmt(r(name, "floor-trace", "bare"), 2),
            bpe))
    add("")
    add("Workload sizes: %s." % ", ".join("%s(%s)" % (n, sizes[n]) for n in names))
    return "\n".join(lines) + "\n"


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench_recorder.py",
        description="memtrace recorder overhead vs bare and vs do-nothing hooks")
    ap.add_argument("-q", "--quick", action="store_true", help="3 runs, smaller workloads")
    ap.add_argument("--runs", type=int, help="runs per cell (default 5, --quick 3)")
    ap.add_argument("--python", help="interpreter to measure (default: this one)")
    ap.add_argument("--workloads", help="comma-separated subset of the workloads")
    ap.add_argument("--configs", help="comma-separated subset of the configurations "
                    "(bare is always run)")
    ap.add_argument("--out", help="markdown report file (default build/bench/recorder.md, "
                    "with --python build/bench/recorder-<version>.md)")
    ap.add_argument("--no-build", action="store_true",
                    help="reuse build/py/VER as it is instead of rebuilding memtrace there")
    ap.add_argument("--keep", action="store_true", help="keep the traces (build/bench/traces)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be >= 1")
    return ap, args


def main(argv):
    ap, args = parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    sys.path.insert(0, HERE)
    import workloads

    python = args.python or sys.executable
    if args.python and not shutil.which(python):
        ap.error("--python: no such interpreter: %s" % python)
    ver, suffix, minor = interp_info(python)
    names = list(workloads.WORKLOADS)
    if args.workloads:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
        for n in names:
            if n not in workloads.WORKLOADS:
                ap.error("--workloads: unknown workload %r (known: %s)"
                         % (n, ", ".join(workloads.WORKLOADS)))
    configs = list(CONFIGS)
    if args.configs:
        want = [c.strip() for c in args.configs.split(",") if c.strip()]
        for c in want:
            if c not in CONFIGS:
                ap.error("--configs: unknown configuration %r (known: %s)"
                         % (c, ", ".join(CONFIGS)))
        configs = ["bare"] + [c for c in CONFIGS if c in want and c != "bare"]
    if minor < 12 and "floor-monitoring" in configs:
        configs.remove("floor-monitoring")
    if not os.access(DECODE, os.X_OK):
        fail("%s is missing (make memtrace-decode)" % DECODE)
    runs = args.runs or (3 if args.quick else 5)
    sizes = {n: (workloads.WORKLOADS[n].quick_size if args.quick else workloads.WORKLOADS[n].size)
             for n in names}

    mt_dir = find_memtrace(python, ver, suffix, args.no_build)
    floor_dir = find_floor(python, ver, suffix)
    env = dict(os.environ)
    env.pop("MEMTRACE", None)  # no autostart in the children
    env["PYTHONPATH"] = os.pathsep.join([mt_dir, floor_dir])
    env["PYTHONHASHSEED"] = "0"
    tdir = os.path.join(BUILD, "bench", "traces")
    os.makedirs(tdir, exist_ok=True)

    progress("bench_recorder: CPython %s, memtrace from %s, floor from %s; %d runs x %d "
             "workloads x %d configurations"
             % (ver, mt_dir, floor_dir, runs, len(names), len(configs)))
    res, events, tsizes, expect = {}, {}, {}, {}
    t_begin = time.time()
    for rnd in range(runs):
        for name in names:
            # Round-robin, in an order that changes from round to round so no
            # configuration always follows the same one.
            order = list(configs)
            random.Random(rnd * 7919 + len(name)).shuffle(order)
            for config in order:
                path = os.path.join(tdir, "%s-%s-%d.trace" % (name, config, rnd))
                spec = {"config": config, "workload": name, "size": sizes[name], "trace": path}
                m = measure(python, env, spec)
                key = (name, config)
                res.setdefault(key, []).append(m)
                if expect.setdefault(name, m["result"]) != m["result"]:
                    progress("warning: %s under %s returned %s, not %s"
                             % (name, config, m["result"], expect[name]))
                if config in MODES:
                    if not os.path.exists(path):
                        fail("%s under %s wrote no trace %s" % (name, config, path))
                    if key not in events:
                        events[key] = summary_events(path)
                        tsizes[key] = os.path.getsize(path)
                    if not args.keep:
                        os.unlink(path)
                progress("  run %d/%d %-8s %-16s %.3f s"
                         % (rnd + 1, runs, name, config, m["wall_s"]))
    text = report(res, configs, names, sizes, ver, minor, runs, args, events, tsizes)
    sys.stdout.write(text)
    out = args.out or os.path.join(BUILD, "bench", "recorder%s.md" % (
        "-" + ver if args.python else ""))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    progress("bench_recorder: %.0f s; report written to %s" % (time.time() - t_begin, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
