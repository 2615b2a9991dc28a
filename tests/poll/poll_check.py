"""Assertions on memtrace-poll output, for tests/poll/t*.sh (stdlib only).

    python3 poll_check.py tree FILE         the poll_workload.py tree
    python3 poll_check.py exits FILE        every process seen has one exit
    python3 poll_check.py grid FILE SECONDS rounds start on the interval grid
    python3 poll_check.py jsonl FILE        memtrace-poll --json lines
    python3 poll_check.py status FILE PID STATUS
                                            pid's proc_exit has this status

FILE is a trace (read with $DECODE --json) or, for jsonl, JSON lines.
Prints what is wrong and exits 1; exits 0 silently when all holds.
"""
import json
import os
import subprocess
import sys

MIB = 1 << 20
UNKNOWN = 2147483647  # MT_PROC_STATUS_UNKNOWN
DECODE = os.environ.get("DECODE", "memtrace-decode")

SAMPLE_KEYS = ["type", "t", "time_s", "tid", "pid", "ppid", "name", "cmdline",
               "counters"]
EXIT_KEYS = ["type", "t", "time_s", "tid", "pid", "status"]
SUMMARY_KEYS = ["type", "t", "time_s", "tid", "reason", "counters"]
# In every sample, and in the first sample of each process.
COUNTERS = ["rss_bytes", "vms_bytes", "minor_faults", "major_faults",
            "user_ns", "system_ns", "threads"]
FIRST_COUNTERS = COUNTERS + ["shared_bytes", "swap_bytes", "peak_rss_bytes"]
ZOMBIE_COUNTERS = ["minor_faults", "major_faults", "user_ns", "system_ns"]

failures = []


def fail(msg):
    failures.append(msg)


def decode(path):
    out = subprocess.run([DECODE, "--json", path], check=True,
                         stdout=subprocess.PIPE).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def header(path):
    out = subprocess.run([DECODE, "--header", "--json", path], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def processes(recs):
    """[(pid, [samples], exit-or-None)] in order of first sample; a sample
    after its pid's exit starts a new process (pid reuse)."""
    procs, live = [], {}
    for r in recs:
        if r["type"] == "proc_sample":
            p = live.get(r["pid"])
            if p is None:
                p = live[r["pid"]] = (r["pid"], [], [])
                procs.append(p)
            p[1].append(r)
        elif r["type"] == "proc_exit":
            p = live.pop(r["pid"], None)
            if p is None:
                fail("proc_exit of pid %d never sampled (or exited twice)"
                     % r["pid"])
            else:
                p[2].append(r)
    return [(pid, s, e[0] if e else None) for pid, s, e in procs]


def check_tree(path):
    recs = decode(path)
    h = header(path)
    procs = processes(recs)
    by_cmd = {}
    for pid, samples, ex in procs:
        words = samples[-1]["cmdline"].split()
        if len(words) >= 3 and words[1].endswith("poll_workload.py"):
            by_cmd.setdefault(words[2], []).append((pid, samples, ex))
    for role in ("root", "child", "grandchild"):
        if len(by_cmd.get(role, [])) != 1:
            fail("%s: expected one process, found %d (%s)" % (
                role, len(by_cmd.get(role, [])),
                [s[-1]["cmdline"] for _, s, _ in procs]))
    if failures:
        return
    (rpid, rs, rex), (cpid, cs, cex), (gpid, gs, gex) = (
        by_cmd["root"][0], by_cmd["child"][0], by_cmd["grandchild"][0])
    if h["pid"] != rpid:
        fail("header pid %s, the root is %d" % (h["pid"], rpid))
    if cs[0]["ppid"] != rpid:
        fail("child ppid %d, expected the root %d" % (cs[0]["ppid"], rpid))
    if gs[0]["ppid"] != cpid:
        fail("grandchild ppid %d, expected the child %d" % (gs[0]["ppid"], cpid))
    # comm is the name the program was run by (not a symlink's target).
    exe = os.path.basename(sys.executable)[:15]
    for role, s in (("child", cs), ("grandchild", gs)):
        if s[-1]["name"] != exe:
            fail("%s name %r, expected %r" % (role, s[-1]["name"], exe))

    def peak(s):
        return max(x["counters"].get("rss_bytes", 0) for x in s)
    for role, s, want in (("child", cs, 200), ("grandchild", gs, 100)):
        got = peak(s)
        # The block plus an interpreter (~10 MiB): within 10% + 20 MiB.
        if not (want * MIB <= got <= want * MIB * 1.1 + 20 * MIB):
            fail("%s peak RSS %.1f MiB, expected %d MiB + interpreter"
                 % (role, got / MIB, want))
        hwm = max(x["counters"].get("peak_rss_bytes", 0) for x in s)
        if hwm < want * MIB:
            fail("%s peak_rss_bytes %.1f MiB < %d MiB" % (role, hwm / MIB, want))
    # Samples of one round share t: when the grandchild holds its 100 MiB,
    # the child holds its 200 and the round's total is over 300 MiB.
    gmax = max(gs, key=lambda x: x["counters"].get("rss_bytes", 0))
    same_t = [x for x in cs if x["t"] == gmax["t"]]
    if not same_t:
        fail("no child sample in the round of the grandchild's peak")
    elif same_t[0]["counters"]["rss_bytes"] < 200 * MIB:
        fail("child RSS %.1f MiB while the grandchild ran"
             % (same_t[0]["counters"]["rss_bytes"] / MIB))
    total = sum(x["counters"].get("rss_bytes", 0) for x in recs
                if x["type"] == "proc_sample" and x["t"] == gmax["t"])
    if total < 300 * MIB:
        fail("round total %.1f MiB < 300 MiB" % (total / MIB))
    # The child frees its block before it exits; the grandchild is gone by
    # then, and started after the child filled its block.
    if cs[-1]["counters"].get("rss_bytes", 0) > 50 * MIB:
        fail("child RSS at its last sample %.1f MiB: the free was not seen"
             % (cs[-1]["counters"]["rss_bytes"] / MIB))
    first_full = next(x["t"] for x in cs
                      if x["counters"].get("rss_bytes", 0) >= 200 * MIB)
    if gs[0]["t"] < first_full:
        fail("grandchild seen before the child held 200 MiB")
    if not (rs[0]["t"] <= cs[0]["t"] < gs[0]["t"] <= gex["t"] <= cex["t"]
            <= rex["t"]):
        fail("times out of order: root %d, child %d-%d, grandchild %d-%d, "
             "root exit %d" % (rs[0]["t"], cs[0]["t"], cex["t"], gs[0]["t"],
                               gex["t"], rex["t"]))
    if rex["status"] != 3:
        fail("root exit status %d, expected 3" % rex["status"])
    for role, ex in (("child", cex), ("grandchild", gex)):
        if ex["status"] not in (0, UNKNOWN):
            fail("%s exit status %d, expected 0 or unknown" % (role, ex["status"]))
    last = recs[-1]
    if last["type"] != "summary" or last["reason"] != "target_exit":
        fail("last record %r, expected a summary with reason target_exit" % last)


def check_exits(path):
    recs = decode(path)
    for pid, samples, ex in processes(recs):
        if ex is None:
            fail("pid %d (%s) sampled but has no proc_exit"
                 % (pid, samples[-1]["cmdline"]))
        elif ex["t"] < samples[-1]["t"]:
            fail("pid %d: proc_exit before its last sample" % pid)


def check_grid(path, seconds):
    recs = decode(path)
    interval = int(float(seconds) * 1e9)
    # The last round comes at once when the command exits: not on the grid.
    ts = sorted({r["t"] for r in recs if r["type"] == "proc_sample"})[:-1]
    if len(ts) < 5:
        fail("only %d rounds" % len(ts))
        return
    # Each round starts on t0 + k * interval plus a wake-up latency, however
    # many rounds came before: no drift. A loaded (or virtual) machine wakes
    # a round late now and then, so: most rounds within 40% of an interval
    # of the grid, and as many rounds as the span holds.
    off = [(t - ts[0]) % interval for t in ts]
    off = [min(x, interval - x) for x in off]  # the first round may be late
    bad = [x for x in off if x > 0.4 * interval]
    if len(bad) > len(ts) // 5:
        fail("%d of %d rounds off the grid (by %s ns)" % (len(bad), len(ts), bad[:5]))
    expected = (ts[-1] - ts[0]) / interval + 1
    if len(ts) < 0.85 * expected:
        fail("%d rounds in %.3f s, expected about %d"
             % (len(ts), (ts[-1] - ts[0]) / 1e9, expected))


def check_jsonl(path):
    with open(path) as f:
        lines = f.read().splitlines()
    if not lines:
        fail("no JSON lines")
    kinds, seen = set(), set()
    for i, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            fail("line %d: not JSON (%s): %r" % (i, e, line[:80]))
            continue
        kinds.add(obj.get("type"))
        want = {"proc_sample": SAMPLE_KEYS, "proc_exit": EXIT_KEYS,
                "summary": SUMMARY_KEYS}.get(obj.get("type"))
        if want is None:
            fail("line %d: type %r" % (i, obj.get("type")))
        elif list(obj) != want:
            fail("line %d: keys %s, expected %s" % (i, list(obj), want))
        elif obj["type"] == "proc_exit":
            seen.discard(obj["pid"])  # the pid may come back: a new process
        elif obj["type"] == "proc_sample":
            want = FIRST_COUNTERS if obj["pid"] not in seen else COUNTERS
            if "rss_bytes" not in obj["counters"]:  # first seen as a zombie
                want = ZOMBIE_COUNTERS
            seen.add(obj["pid"])
            missing = [c for c in want if c not in obj["counters"]]
            if missing:
                fail("line %d: counters missing %s" % (i, missing))
            if abs(obj["time_s"] - obj["t"] / 1e9) > 1e-9:
                fail("line %d: time_s %s for t %s" % (i, obj["time_s"], obj["t"]))
    if lines and json.loads(lines[-1]).get("type") != "summary":
        fail("the last line is not the summary")
    if "proc_sample" not in kinds:
        fail("no proc_sample line")


def check_status(path, pid, status):
    exits = [r for r in decode(path) if r["type"] == "proc_exit"
             and r["pid"] == int(pid)]
    if [r["status"] for r in exits] != [int(status)]:
        fail("pid %s: exits %s, expected one with status %s"
             % (pid, [r["status"] for r in exits], status))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"tree": check_tree, "exits": check_exits, "grid": check_grid,
     "jsonl": check_jsonl, "status": check_status}[cmd](*args)
    for f in failures:
        print("poll_check %s: %s" % (cmd, f))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
