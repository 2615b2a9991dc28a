"""bench_objects.py - what object tracking costs: memtrace.start(objects=True)
beside memray's Tracker(track_object_lifetimes=True) and pymemtrace's
cPyMemTrace.ReferenceTracing on the same workloads (CPython 3.13+: all
three use the interpreter's reference tracer).

    python bench/bench_objects.py [--python PY313] [--venv DIR] [--rounds N]
                                  [--out FILE] [--no-install]

(make bench-objects; bench/OBJECTS.md keeps a run's table.)

A venv of the given CPython 3.13+ (default build/bench/venv313) gets memray
and pymemtrace from pip (pymemtrace with the warning flags bench_peers.py
documents, if its plain build fails); memtrace is the extension built for
that Python (build/py/<version>, made here with recorder/build_ext.sh when
missing). Each (config, workload) runs in a fresh interpreter, --rounds
times, interleaved; the time is the workload's wall time with the tool
started before it and stopped after it (the tool's file finished), and the
table gives medians, their ratio to the bare median, and the file each tool
wrote. Not a test: nothing here fails on a timing.
"""
import argparse
import os
import statistics
import subprocess
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PYMEMTRACE_CFLAGS = "-Wno-error=unused-variable -Wno-unused-variable -Wno-error=use-after-free"

WORKLOADS = {
    # bench/workloads.py's allocation churn: lists, dicts, tuples, strings,
    # instances of two classes (Node, SlotPoint), little kept
    "churn": ("from workloads import WORKLOADS\nrun = WORKLOADS['churn'].make(200000)",
              "Node"),
    # re + dataclasses + json + Counter
    "stdlib": ("from workloads import WORKLOADS\nrun = WORKLOADS['stdlib'].make(4)", "dict"),
    # instances of one class, half kept: what a leak hunt looks at
    "instances": (textwrap.dedent("""
        class Item:
            def __init__(self, i):
                self.i = i
                self.name = str(i)
        keep = []
        def run():
            for i in range(200000):
                it = Item(i)
                if i % 2:
                    keep.append(it)
        """), "Item"),
}

# name -> (setup, start, stop, what); {path} and {typ} are filled in.
CONFIGS = {
    "bare": ("", "", "", "the workload alone"),
    "memtrace-objects": (
        "import memtrace", "memtrace.start({path!r}, objects=True)", "memtrace.stop()",
        "memtrace.start(objects=True): every object, in the default mode (sampled "
        "allocations, native, RSS sampler; on CPython 3.13.0-3.13.2 every Python allocation "
        "too, see the note)"),
    "memtrace-objects-typed": (
        "import memtrace", "memtrace.start({path!r}, objects=True, include_types=[{typ!r}])",
        "memtrace.stop()", "the same, include_types=[one type of the workload]"),
    "memtrace-objects-sampled": (
        "import memtrace, warnings\nwarnings.simplefilter('ignore')",
        "memtrace.start({path!r}, objects=True, allocations='sampled')", "memtrace.stop()",
        "memtrace.start(objects=True, allocations='sampled'): as on CPython 3.13.3+, where "
        "the default mode needs no exact allocations (see the note)"),
    "memray-objects": (
        "import memray", "tr = memray.Tracker({path!r}, track_object_lifetimes=True)\n"
        "tr.__enter__()", "tr.__exit__(None, None, None)",
        "memray.Tracker(track_object_lifetimes=True): keeps the objects alive in memory and "
        "writes those still alive at the end"),
    "memray": (
        "import memray", "tr = memray.Tracker({path!r})\ntr.__enter__()",
        "tr.__exit__(None, None, None)", "memray.Tracker() (no object tracking), for scale"),
    "pmt-reftrace": (
        "from pymemtrace import cPyMemTrace",
        "rt = cPyMemTrace.ReferenceTracing(filepath={path!r}, include_builtins=True)\n"
        "rt.__enter__()", "rt.__exit__(None, None, None)",
        "pymemtrace cPyMemTrace.ReferenceTracing(include_builtins=True): every object"),
    "pmt-reftrace-typed": (
        "from pymemtrace import cPyMemTrace",
        "rt = cPyMemTrace.ReferenceTracing(filepath={path!r}, include_builtins=True, "
        "include_tp_names=[{typ!r}])\nrt.__enter__()", "rt.__exit__(None, None, None)",
        "the same, include_tp_names=[that type]"),
}

PROGRAM = """
import sys, time
sys.path.insert(0, {bench!r})
{workload}
{setup}
t0 = time.perf_counter()
{start}
run()
{stop}
print(time.perf_counter() - t0)
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def setup_venv(base, venv, no_install):
    vpy = os.path.join(venv, "bin", "python")
    notes = {}
    if not os.path.exists(vpy):
        if no_install:
            return None, {"venv": "no venv at %s (run without --no-install)" % venv}
        r = sh([base, "-m", "venv", venv])
        if r.returncode:
            return None, {"venv": r.stderr.strip().splitlines()[-1]}
    for peer, mod in (("memray", "memray"), ("pymemtrace", "pymemtrace.cPyMemTrace")):
        if sh([vpy, "-c", "import " + mod]).returncode == 0:
            continue
        if no_install:
            notes[peer] = "not installed (--no-install)"
            continue
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        r = sh([vpy, "-m", "pip", "install", "-q", "--no-cache-dir", peer], env=env)
        if r.returncode and peer == "pymemtrace":
            env["CFLAGS"] = PYMEMTRACE_CFLAGS
            r = sh([vpy, "-m", "pip", "install", "-q", "--no-cache-dir", peer], env=env)
            if r.returncode == 0:
                notes[peer] = "built with CFLAGS=\"%s\" after a plain install failed" % (
                    PYMEMTRACE_CFLAGS)
        if r.returncode:
            notes[peer] = "pip install failed: %s" % (
                (r.stderr.strip().splitlines() or ["?"])[-1])
    return vpy, notes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default="/root/.pyenv/versions/3.13.0/bin/python")
    ap.add_argument("--venv", default=os.path.join(TOP, "build", "bench", "venv313"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(TOP, "build", "bench", "objects.md"))
    ap.add_argument("--no-install", action="store_true")
    a = ap.parse_args()
    ver = sh([a.python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]).stdout
    ver = ver.strip()
    if not ver or tuple(int(x) for x in ver.split(".")[:2]) < (3, 13):
        sys.exit("bench_objects: %s is not CPython 3.13+ (%s): object tracking needs it"
                 % (a.python, ver or "does not run"))
    ext = os.path.join(TOP, "build", "py", ver)
    if not os.path.isdir(os.path.join(ext, "memtrace")):
        r = sh(["sh", os.path.join(TOP, "recorder", "build_ext.sh"), a.python, ext], cwd=TOP)
        if r.returncode:
            sys.exit("bench_objects: building memtrace for %s failed:\n%s" % (ver, r.stderr))
    vpy, notes = setup_venv(a.python, a.venv, a.no_install)
    if not vpy:
        sys.exit("bench_objects: %s" % notes.get("venv"))
    env = dict(os.environ, PYTHONPATH=ext)
    tmp = os.path.join(TOP, "build", "bench", "objects")
    os.makedirs(tmp, exist_ok=True)
    usable = {c for c in CONFIGS
              if not (c.startswith("memray") and "memray" in notes)
              and not (c.startswith("pmt") and "pymemtrace" in notes)}
    results = {}
    for wl, (code, typ) in WORKLOADS.items():
        times, sizes, errs = {}, {}, {}
        for r in range(a.rounds):
            for c in CONFIGS:
                if c not in usable or c in errs:
                    continue
                setup, start, stop, _ = CONFIGS[c]
                path = os.path.join(tmp, "%s-%s.out" % (wl, c))
                if os.path.exists(path):
                    os.unlink(path)
                prog = PROGRAM.format(bench=HERE, workload=code, setup=setup,
                                      start=start.format(path=path, typ=typ),
                                      stop=stop.format(path=path, typ=typ))
                p = sh([vpy, "-c", prog], env=env, cwd=tmp, timeout=900)
                if p.returncode:
                    errs[c] = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
                    continue
                times.setdefault(c, []).append(float(p.stdout.split()[-1]))
                if os.path.exists(path):
                    sizes[c] = os.path.getsize(path)
        results[wl] = (times, sizes, errs)
        print("bench_objects: %s done" % wl, file=sys.stderr)

    out = ["# Object tracking: memtrace, memray, pymemtrace", "",
           "Generated by bench/bench_objects.py (`make bench-objects`) on CPython %s: median of "
           "%d runs, each in a fresh interpreter, runs interleaved; time of the workload with "
           "the tool started before it and its file finished after it; ratio to the bare "
           "median." % (ver, a.rounds), ""]
    out += ["| config | " + " | ".join(WORKLOADS) + " |",
            "|---|" + "---:|" * len(WORKLOADS)]
    for c in CONFIGS:
        cells = []
        for wl in WORKLOADS:
            times, sizes, errs = results[wl]
            if c in errs:
                msg = errs[c].split(": ", 1)[-1] if errs[c].startswith(
                    ("RuntimeError", "ValueError")) else errs[c]
                cells.append("failed: " + msg[:100])
            elif c not in times:
                cells.append("-")
            else:
                m = statistics.median(times[c])
                bare = statistics.median(results[wl][0]["bare"])
                cells.append("%.3f s" % m if c == "bare" else "%.2fx" % (m / bare))
        out.append("| %s | %s |" % (c, " | ".join(cells)))
    out += ["", "File written (bytes):", "",
            "| config | " + " | ".join(WORKLOADS) + " |", "|---|" + "---:|" * len(WORKLOADS)]
    for c in CONFIGS:
        if c == "bare":
            continue
        out.append("| %s | %s |" % (c, " | ".join(
            "{:,}".format(results[wl][1][c]) if c in results[wl][1] else "-"
            for wl in WORKLOADS)))
    out += ["", "Configs:", ""] + ["- `%s`: %s" % (c, CONFIGS[c][3]) for c in CONFIGS]
    out += ["", "Workloads: `churn` and `stdlib` from bench/workloads.py (the typed configs "
            "follow `Node` and `dict`); `instances`: 200,000 instances of a class `Item`, half "
            "kept (typed: `Item`)."]
    if tuple(int(x) for x in ver.split(".")) < (3, 13, 3):
        out += ["", "Note (CPython %s): 3.13.0-3.13.2 do not call the reference tracer for the "
                "objects the interpreter loop frees (gh-130382, fixed in 3.13.3). memtrace "
                "then records every Python allocation as well (`memtrace-objects`), to learn "
                "those deaths from the frees of the objects' blocks: a cost 3.13.3+ does not "
                "have, where `memtrace-objects-sampled` is what the default costs (here it "
                "misses those deaths, so its figures are a lower bound). memray refuses "
                "object tracking before 3.13.3 (the row says so); shown a version of 3.13.3 "
                "while its Tracker was made, it crashed on 3.13.0 (exit -11, 'corrupted "
                "double-linked list'), so its cost could not be measured on this machine, "
                "whose only 3.13 is 3.13.0." % ver]
    for peer, why in sorted(notes.items()):
        out.append("")
        out.append("Note (%s): %s." % (peer, why))
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
