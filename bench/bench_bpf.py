"""bench_bpf.py - what each kernel tracer of dtrace/ costs the traced
process while it is attached: the bpftrace scripts (malloc.bt,
rss-faults.bt, python-gc.bt, memtrace-top.bt) and memtrace bpf, each
against the same process with nothing attached.

    sudo python bench/bench_bpf.py [--rounds N] [--out FILE] [--workloads a,b]

(make bench-bpf; bench/BPF.md keeps a run's table.) Each run is a fresh
interpreter that builds its workload, starts memtrace where the case needs
a recording, says it is ready, waits until the tracer has attached (and
half a second more: bpftrace's uprobes catch events a moment after its
BEGIN), then times the workload alone; the tracer is stopped after. The
cases with and without the tracer are interleaved, N rounds (default 5);
the table gives medians and their ratio. Needs root and bpftrace; says why
and exits 0 otherwise. Not a test.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
DT = os.path.join(TOP, "dtrace")

PROGRAM = """
import os, sys, time
sys.path.insert(0, {here!r})
from workloads import WORKLOADS
run = WORKLOADS[{wl!r}].make({size})
{start}
open({ready!r}, "w").close()
while not os.path.exists({go!r}):
    time.sleep(0.005)
t0 = time.perf_counter()
run()
dt = time.perf_counter() - t0
{stop}
print(dt)
"""


def libpython():
    """The library (or executable) holding gc_collect_main."""
    d = sysconfig.get_config_var("LIBDIR") or ""
    lib = sysconfig.get_config_var("LDLIBRARY") or ""
    p = os.path.join(d, lib)
    shared = lib.endswith(".so") or ".so." in lib
    return p if shared and os.path.exists(p) else sys.executable


def tracers(bpf_tool):
    """(name, memtrace.start's options or None (no recording), argv(pid),
    what the tracer says once attached)."""
    lib = libpython()
    return [
        ("malloc.bt", None, lambda pid: ["bpftrace", os.path.join(DT, "malloc.bt"), str(pid)],
         "Attaching"),
        ("rss-faults.bt", None, lambda pid: ["bpftrace", os.path.join(DT, "rss-faults.bt"), str(pid)],
         "Attaching"),
        ("python-gc.bt", None, lambda pid: ["bpftrace", os.path.join(DT, "python-gc.bt"), lib, str(pid)],
         "Attaching"),
        ("memtrace bpf", None, lambda pid: [bpf_tool, "-p", str(pid), "-f", "-o", "%TMP%/bpf.trace"],
         "tracing process"),
        ("memtrace-top.bt, recording (default)", "",
         lambda pid: ["bpftrace", "-p", str(pid), os.path.join(DT, "memtrace-top.bt")], "Attaching"),
        ("memtrace bpf, recording (default)", "",
         lambda pid: [bpf_tool, "-p", str(pid), "-f", "-o", "%TMP%/bpf.trace"], "tracing process"),
        ("memtrace bpf, recording (profile)", ", mode='profile'",
         lambda pid: [bpf_tool, "-p", str(pid), "-f", "-o", "%TMP%/bpf.trace"], "tracing process"),
    ]


def one(tmp, wl, size, record, argv, ready_text):
    """One run: the workload's time, with argv(pid) attached (None: bare)."""
    ready, go = os.path.join(tmp, "ready"), os.path.join(tmp, "go")
    for p in (ready, go):
        if os.path.exists(p):
            os.unlink(p)
    start = stop = ""
    if record is not None:
        start = "import memtrace; memtrace.start(%r%s)" % (os.path.join(tmp, "own.trace"), record)
        stop = "memtrace.stop()"
    prog = PROGRAM.format(here=HERE, wl=wl, size=size, start=start, stop=stop, ready=ready, go=go)
    py = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, universal_newlines=True,
                          env=dict(os.environ, PYTHONPATH=os.path.join(TOP, "build", "python")))
    while not os.path.exists(ready):
        if py.poll() is not None:
            sys.exit("bench_bpf: the workload process ended early")
        time.sleep(0.01)
    tr = None
    if argv:
        log = open(os.path.join(tmp, "tracer.log"), "w+")
        args = [a.replace("%TMP%", tmp) for a in argv(py.pid)]
        tr = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        t_end = time.time() + 30
        while time.time() < t_end:
            log.seek(0)
            if ready_text in log.read():
                break
            if tr.poll() is not None:
                log.seek(0)
                sys.exit("bench_bpf: %s ended: %s" % (args[0], log.read()[-2000:]))
            time.sleep(0.05)
        else:
            sys.exit("bench_bpf: %s never attached" % " ".join(args))
        time.sleep(0.5)
    open(go, "w").close()
    out, _ = py.communicate()
    if py.returncode:
        sys.exit("bench_bpf: the workload failed")
    if tr:
        if tr.poll() is None:
            tr.send_signal(signal.SIGINT)
        try:
            tr.wait(30)
        except subprocess.TimeoutExpired:
            tr.kill()
            tr.wait()
    return float(out.split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workloads", default="churn,stdlib,fib")
    ap.add_argument("--out", default=os.path.join(TOP, "build", "bench", "bpf.md"))
    a = ap.parse_args()
    why = None
    if os.geteuid() != 0:
        why = "not root (bpftrace loads BPF programs)"
    elif not shutil.which("bpftrace"):
        why = "bpftrace is not installed (scripts/deps.sh installs it)"
    elif not os.path.exists("/sys/kernel/tracing/uprobe_events"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                       stderr=subprocess.DEVNULL)
        if not os.path.exists("/sys/kernel/tracing/uprobe_events"):
            why = "tracefs is not mounted and cannot be"
    bpf_tool = os.path.join(TOP, "build", "bin", "memtrace-bpf")
    if not why and not os.path.exists(bpf_tool):
        why = "build/bin/memtrace-bpf is not built (make memtrace-bpf)"
    if why:
        print("bench_bpf: skipped: %s" % why)
        return
    from workloads import WORKLOADS
    tmp = tempfile.mkdtemp(prefix="bench-bpf.")
    rows = []
    for wl in a.workloads.split(","):
        size = WORKLOADS[wl].size
        for name, record, argv, ready_text in tracers(bpf_tool):
            bare, att = [], []
            for _ in range(a.rounds):
                bare.append(one(tmp, wl, size, record, None, None))
                att.append(one(tmp, wl, size, record, argv, ready_text))
            mb, ma = statistics.median(bare), statistics.median(att)
            rows.append((wl, name, mb, ma, ma / mb))
            print("%s, %s: %.3f s alone, %.3f s attached: %.2fx" % rows[-1], file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    v = "%d.%d.%d" % sys.version_info[:3]
    bt = subprocess.run(["bpftrace", "--version"], stdout=subprocess.PIPE,
                        universal_newlines=True).stdout.strip()
    out = ["# What the kernel tracers of dtrace/ cost while attached", "",
           "Generated by bench/bench_bpf.py (`make bench-bpf`), CPython %s, %s, Linux %s: each "
           "workload's time with the tracer attached against the same process with nothing "
           "attached (a recording where the case says so), median of %d runs each in a fresh "
           "interpreter, interleaved." % (v, bt, os.uname().release, a.rounds), "",
           "| workload | tracer | alone | attached | ratio |", "|---|---|---:|---:|---:|"]
    out += ["| %s | %s | %.3f s | %.3f s | %.2fx |" % r for r in rows]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
