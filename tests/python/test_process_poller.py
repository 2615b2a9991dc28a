"""memtrace.process: log_process and add_message_to_queue, alone (a "poll"
recording of its own) and inside memtrace.start() (samples into that
trace), JSON log lines, and children=True."""

import json
import os
import re
import subprocess

from conftest import DECODE, check, decode, header, run_py

MIB = 1 << 20
ANALYZE = os.path.join(os.path.dirname(DECODE), "memtrace-analyze")

# Allocate 50 MiB between two labels; the poller must see RSS rise.
BLOCK = """
    import logging, time, sys, memtrace
    import memtrace.process as process
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(levelname)s %(message)s")
    def body():
        process.add_message_to_queue("before")
        time.sleep(0.15)
        process.add_message_to_queue("allocating 50 MB")
        block = b"x" * (50 << 20)
        time.sleep(0.15)
        process.add_message_to_queue("after")
        time.sleep(0.1)
        del block
"""


def self_samples(recs):
    """(t, counters) of the poller's COUNTERS records: those with uss or
    swap or threads > 0 come from it; the sampler's carry threads of the
    recording. Both have rss_bytes; every COUNTERS of tid 0 is kept."""
    return [(r["t"], r["counters"]) for r in recs if r["type"] == "counters" and r["tid"] == 0]


def check_labels_and_rss(recs):
    """Labels in order, each followed by a sample in the same stream; RSS
    after the 50 MiB label is >= 45 MiB above RSS before it."""
    tid0 = [r for r in recs if r.get("tid") == 0 and r["type"] in ("marker", "counters")]
    texts = [r["text"] for r in tid0 if r["type"] == "marker"]
    assert texts == ["before", "allocating 50 MB", "after"], texts
    for i, r in enumerate(tid0):
        if r["type"] == "marker":
            assert any(x["type"] == "counters" for x in tid0[i + 1:]), "no sample after " + r["text"]
    t_alloc = next(r["t"] for r in tid0 if r["type"] == "marker" and r["text"] == "allocating 50 MB")
    t_after = next(r["t"] for r in tid0 if r["type"] == "marker" and r["text"] == "after")
    before = [c["rss_bytes"] for t, c in self_samples(recs) if t <= t_alloc and "rss_bytes" in c]
    during = [c["rss_bytes"] for t, c in self_samples(recs)
              if t_alloc < t <= t_after + 1 and "rss_bytes" in c]
    assert before and during
    assert max(during) - before[-1] >= 45 * MIB, (before[-1], max(during))
    # The poller's own counters: faults, CPU time, OS threads (>= 2: main + poller).
    full = [c for t, c in self_samples(recs) if "user_ns" in c and c.get("threads", 0) >= 2]
    assert full, "no COUNTERS from the poller"
    assert all(c["minor_faults"] > 0 and c["vms_bytes"] >= c["rss_bytes"] for c in full)


def test_log_process_alone_records_a_poll_trace(tmp):
    p = run_py(BLOCK + """
    with process.log_process(interval=0.05, path="alone.trace", log_level=logging.INFO) as pl:
        assert memtrace.is_recording()
        body()
    assert not memtrace.is_recording()
    print("PATH", pl.path, pl.own_recording)
    """, tmp)
    assert "PATH alone.trace True" in p.stdout
    assert check(tmp / "alone.trace")[0] == 0
    h = header(tmp / "alone.trace")
    assert h["mode"] == "poll"
    recs = decode(tmp / "alone.trace")
    assert not any(r["type"] in ("call", "ccall", "line") for r in recs)
    check_labels_and_rss(recs)
    # uss/pss were read (first round) and a summary ends the file
    assert any("uss_bytes" in c for t, c in self_samples(recs))
    assert recs[-1]["type"] == "summary"

    # JSON lines through logging: START first, STOP last, labels in order.
    lines = [ln for ln in p.stdout.splitlines() if "ProcessLoggingThread-JSON" in ln]
    assert lines[0].startswith("INFO ProcessLoggingThread-JSON-START {")
    assert lines[-1].startswith("INFO ProcessLoggingThread-JSON-STOP {")
    objs = [json.loads(re.match(r"^.*?ProcessLoggingThread-JSON(?:-START|-STOP)? (.*)$", ln).group(1))
            for ln in lines]
    assert [o["label"] for o in objs if "label" in o] == ["before", "allocating 50 MB", "after"]
    for o in objs:
        assert o["pid"] > 0 and o["memory_info"]["rss"] > 0
        assert o["memory_info"]["vms"] >= o["memory_info"]["rss"]
        assert o["cpu_times"]["user"] >= 0 and o["elapsed_time"] > 0 and o["t"] >= 0
        assert set(o) >= {"timestamp", "memory_info", "cpu_times", "num_threads",
                          "elapsed_time", "t", "pid"}
    rss = [o["memory_info"]["rss"] for o in objs]
    assert max(rss) - rss[0] >= 45 * MIB


def test_log_process_inside_a_recording_uses_that_trace(tmp):
    p = run_py(BLOCK + """
    def work():
        return sum(range(1000))
    memtrace.start("rec.trace", mode="profile")
    work()
    with process.log_process(interval=0.05) as pl:
        assert not pl.own_recording
        work()
        body()
    assert memtrace.is_recording()   # log_process does not stop it
    work()
    memtrace.stop()
    print("PATH", pl.path)
    """, tmp)
    assert "PATH rec.trace" in p.stdout
    assert not [f for f in os.listdir(str(tmp)) if f.endswith("_poll.trace")]
    recs = decode(tmp / "rec.trace")
    assert header(tmp / "rec.trace")["mode"] == "profile"
    assert sum(1 for r in recs if r["type"] == "call" and r["name"] == "work") == 3
    check_labels_and_rss(recs)
    # one time axis: the labels lie between the calls of work() around them
    calls = [r["t"] for r in recs if r["type"] == "call" and r["name"] == "work"]
    marks = [r["t"] for r in recs if r["type"] == "marker"]
    assert calls[1] < min(marks) and max(marks) < calls[2]


def test_log_process_children(tmp):
    p = run_py("""
    import subprocess, sys, time, memtrace
    import memtrace.process as process
    holder = ("import time, sys; sys.argv.append('holder'); b = b'z' * (60 << 20); "
              "time.sleep(0.6)")
    with process.log_process(interval=0.05, path="kids.trace", children=True):
        process.add_message_to_queue("spawn")
        c = subprocess.Popen([sys.executable, "-c", holder, "holder"])
        c.wait()
        time.sleep(0.1)
        process.add_message_to_queue("done")
    print("CHILD", c.pid)
    """, tmp)
    child = int(p.stdout.split("CHILD")[1].split()[0])
    recs = decode(tmp / "kids.trace")
    samples = [r for r in recs if r["type"] == "proc_sample" and r["pid"] == child]
    assert samples, "the child was never sampled"
    assert all(s["ppid"] == os.getpid() or s["ppid"] > 0 for s in samples)
    assert max(s["counters"].get("rss_bytes", 0) for s in samples) >= 55 * MIB
    assert "holder" in samples[-1]["cmdline"]
    exits = [r for r in recs if r["type"] == "proc_exit" and r["pid"] == child]
    assert len(exits) == 1
    # every record of a round has the round's time: each child sample
    # shares its t with a COUNTERS record of this process
    counter_times = {r["t"] for r in recs if r["type"] == "counters"}
    assert all(s["t"] in counter_times for s in samples)
    # memtrace-analyze: this process and its child, as a tree
    if os.path.exists(ANALYZE):
        out = subprocess.run([ANALYZE, "--json", str(tmp / "kids.trace")],
                             stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert out.returncode == 0
        rep = json.loads(out.stdout)
        procs = rep["processes"]
        assert procs[0]["from_counters"] and procs[0]["target"]
        kid = [q for q in procs if q["pid"] == child]
        assert kid and kid[0]["parent"] == 0 and kid[0]["peak_rss_bytes"] >= 55 * MIB
        assert rep["process_total"]["peak_bytes"] >= 55 * MIB + procs[0]["peak_rss_bytes"] // 2
        assert [m["text"] for m in rep["markers"]] == ["spawn", "done"]


def test_log_process_errors_and_labels_outside(tmp):
    run_py("""
    import memtrace, memtrace.process as process, warnings
    process.add_message_to_queue("nobody listens")      # no recording: nothing
    with process.log_process(interval=0.05, path="a.trace"):
        try:
            with process.log_process(interval=0.05):
                pass
        except RuntimeError as e:
            assert "already running" in str(e)
        else:
            raise AssertionError("nested log_process accepted")
        try:
            memtrace.start("b.trace")
        except RuntimeError:
            pass
        else:
            raise AssertionError("start inside log_process's own recording accepted")
    for bad in (dict(interval=0), dict(interval="1"), dict(log_level="INFO")):
        try:
            process.log_process(**bad)
        except (TypeError, ValueError):
            pass
        else:
            raise AssertionError("accepted %r" % (bad,))
    memtrace.start("c.trace", mode="fast")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with process.log_process(interval=0.05, path="elsewhere.trace") as pl:
            process.add_message_to_queue(42)           # str() of it
        assert pl.path == "c.trace" and any("already recording" in str(x.message) for x in w)
    memtrace.stop()
    """, tmp)
    assert not os.path.exists(str(tmp / "elsewhere.trace"))
    recs = decode(tmp / "c.trace")
    assert [r["text"] for r in recs if r["type"] == "marker"] == ["42"]
    # fast mode records frames: the poller thread (which runs no Python
    # here) never appears as a recorded thread
    assert check(tmp / "c.trace")[0] == 0
