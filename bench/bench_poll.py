"""CPU cost of memtrace-poll: its own CPU time per second of watching.

    python3 bench/bench_poll.py [--poll build/bin/memtrace-poll]
                                [--seconds 10] [--quick] [--out FILE.md]

For each interval (10 ms, 100 ms) and each target (one process; a tree of
50 processes; one process holding 500 MiB, where smaps_rollup costs most),
memtrace-poll watches the target with -p (and --tree for the tree) for
--seconds, writing a trace; then SIGTERM ends it and wait4() gives its exact
user and system time (the kernel's ns accounting, not clock ticks). The
cost is (user + system) / wall, in % of one core. Targets sleep, so the
machine is otherwise idle. Prints a Markdown table and writes it to --out
(default build/bench/poll.md). Standard library only; Linux only.

Not a test: nothing here fails on a number.
"""
import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

MIB = 1 << 20

TREE_CODE = r"""
import os, signal, sys
# A tree of n sleeping processes: the root forks `fanout` children, which
# fork the rest between them (n = 50, fanout = 7: 1 + 7 + 42).
n, fanout = int(sys.argv[1]), int(sys.argv[2])
rest = n - 1 - fanout
for i in range(fanout):
    if os.fork() == 0:
        for _ in range(rest // fanout + (1 if i < rest % fanout else 0)):
            if os.fork() == 0:
                signal.pause()
                os._exit(0)
        signal.pause()
        os._exit(0)
print("ready", flush=True)
signal.pause()
"""

HOLD_CODE = r"""
import signal, sys
block = b"x" * (int(sys.argv[1]) << 20)
print("ready", flush=True)
signal.pause()
"""


def count_tree(root):
    """Processes in root's tree, via /proc/*/stat ppids."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
                parent[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    seen, todo = {root}, [root]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in seen:
                seen.add(c)
                todo.append(c)
    return len(seen)


def start_target(kind):
    if kind == "one":
        p = subprocess.Popen(["sleep", "100000"])
        return p, 1
    if kind == "big":
        p = subprocess.Popen([sys.executable, "-c", HOLD_CODE, "500"],
                             stdout=subprocess.PIPE)
        p.stdout.readline()
        return p, 1
    p = subprocess.Popen([sys.executable, "-c", TREE_CODE, "50", "7"],
                         stdout=subprocess.PIPE, start_new_session=True)
    p.stdout.readline()
    for _ in range(100):  # the grandchildren fork after "ready"
        n = count_tree(p.pid)
        if n >= 50:
            break
        time.sleep(0.05)
    return p, count_tree(p.pid)


def stop_target(p, kind):
    if kind == "tree":
        os.killpg(p.pid, signal.SIGKILL)
    else:
        p.kill()
    p.wait()


def measure(poll, interval, kind, seconds, tmp):
    target, nproc = start_target(kind)
    try:
        out = os.path.join(tmp, "bench-%s-%s.trace" % (kind, interval))
        args = [poll, "-i", interval, "-o", out, "-p", str(target.pid)]
        if kind == "tree":
            args.insert(1, "--tree")
        t0 = time.monotonic()
        poller = subprocess.Popen(args)
        # Steady state: the poller's on-CPU ns (schedstat) from 1 s in to
        # the end, without its start-up (exec, first reads of each file).
        time.sleep(1.0)
        s0, w0 = schedstat_ns(poller.pid), time.monotonic()
        time.sleep(max(seconds - 1.0, 1.0))
        s1, w1 = schedstat_ns(poller.pid), time.monotonic()
        poller.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(poller.pid, 0)
        wall = time.monotonic() - t0
        poller.returncode = status
        size = os.path.getsize(out)
    finally:
        stop_target(target, kind)
    cpu = ru.ru_utime + ru.ru_stime
    return {
        "interval": interval, "kind": kind, "nproc": nproc, "wall": wall,
        "user": ru.ru_utime, "sys": ru.ru_stime,
        "pct": 100.0 * cpu / wall,
        "steady_pct": 100.0 * (s1 - s0) / 1e9 / (w1 - w0),
        "us_per_round": (s1 - s0) / 1e3 / ((w1 - w0) / parse_seconds(interval)),
        "bytes_per_s": size / wall,
        "status": status,
    }


def schedstat_ns(pid):
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def parse_seconds(s):
    return float(s[:-2]) / 1000 if s.endswith("ms") else float(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poll", default="build/bin/memtrace-poll")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="3 s per case")
    ap.add_argument("--out", default="build/bench/poll.md")
    a = ap.parse_args()
    seconds = 3.0 if a.quick else a.seconds
    cases = [(i, k) for k in ("one", "tree", "big") for i in ("10ms", "100ms")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for interval, kind in cases:
            r = measure(a.poll, interval, kind, seconds, tmp)
            rows.append(r)
            sys.stderr.write("  %-5s %-4s %3d procs: %.3f%% of a core "
                             "(steady %.3f%%)\n" % (interval, kind, r["nproc"],
                                                    r["pct"], r["steady_pct"]))
    names = {"one": "1 process (sleep)", "tree": "tree of %d processes",
             "big": "1 process, 500 MiB RSS"}
    lines = [
        "# memtrace-poll CPU cost",
        "",
        "%s, %s, %d CPUs; %.0f s per case; poller CPU time from wait4()."
        % (platform.node(), platform.release(), os.cpu_count(), seconds),
        "",
        "CPU: (user + system) / wall over the whole run, start-up included;",
        "steady: on-CPU time (schedstat) from 1 s in to the end; us per",
        "round: the steady CPU time per sampling round.",
        "",
        "| interval | target | CPU % of one core | steady % | user s | sys s "
        "| us per round | trace bytes/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        name = names[r["kind"]]
        if "%d" in name:
            name = name % r["nproc"]
        lines.append("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.1f | %.0f |" % (
            r["interval"], name, r["pct"], r["steady_pct"], r["user"], r["sys"],
            r["us_per_round"], r["bytes_per_s"]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
