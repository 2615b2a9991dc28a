"""memtrace.trace_malloc and memtrace.debug_malloc_stats: what a block did
to memory, with known answers."""

import json
import sys

import pytest

import memtrace
from conftest import decode, run_py


def test_trace_malloc_names_the_line(tmp):
    out = run_py("""
        import json, tracemalloc, memtrace
        with memtrace.trace_malloc("load") as tm:
            x = [bytearray(100000) for _ in range(10)]   # line 4
        top = tm.stats[0]
        print(json.dumps({
            "where": "%s:%d" % (top.traceback[0].filename, top.traceback[0].lineno),
            "size": top.size_diff, "count": top.count_diff, "total": tm.total_bytes,
            "own": tm.tracemalloc_bytes, "files": sorted({s.traceback[0].filename for s in tm.stats}),
            "tracing": tracemalloc.is_tracing(), "report": tm.report()}))
        """, tmp)
    d = json.loads(out.stdout)
    assert d["where"].endswith("prog.py:4"), d
    assert 1000000 <= d["size"] < 1002000 and d["count"] >= 10, d
    # next to nothing else (3.10: a few hundred bytes of the interpreter's),
    # and not tracemalloc's own, nor memtrace's
    assert 0 <= d["total"] - d["size"] < 4096, d
    assert d["own"] > 0 and not any("tracemalloc" in f or "snapshots" in f for f in d["files"])
    assert d["tracing"] is False  # started for the block, stopped after
    assert d["report"].startswith("trace_malloc load: +") and "tracemalloc's own memory +" in \
        d["report"] and "prog.py:4" in d["report"]
    assert out.stderr == ""


def test_trace_malloc_keeps_a_running_tracemalloc_and_decorates(tmp):
    out = run_py("""
        import json, sys, tracemalloc, memtrace
        tracemalloc.start(3)
        @memtrace.trace_malloc(key_type="traceback", file=sys.stdout)
        def make():
            return [bytes(5000) for _ in range(100)]      # line 6
        make(); make()
        print(json.dumps(tracemalloc.is_tracing()))
        """, tmp)
    lines = out.stdout.splitlines()
    assert json.loads(lines[-1]) is True  # it was running: it still is
    heads = [l for l in lines if l.startswith("trace_malloc: +")]
    assert len(heads) == 2  # a fresh measure per call
    assert any("prog.py:6 <- " in l for l in lines), lines
    with pytest.raises(ValueError, match="key_type"):
        memtrace.trace_malloc(key_type="bytes")


def test_trace_malloc_and_debug_malloc_stats_mark_the_recording(tmp):
    run_py("""
        import memtrace
        memtrace.start("t.trace", mode="profile")
        with memtrace.trace_malloc("phase"):
            x = [bytearray(300000) for _ in range(3)]
        with memtrace.debug_malloc_stats("objs"):
            y = [object() for _ in range(100000)]
        memtrace.stop()
        """, tmp)
    texts = [r["text"] for r in decode(tmp / "t.trace") if r["type"] == "marker"]
    tm = [t for t in texts if t.startswith("trace_malloc phase: +")]
    assert len(tm) == 1 and "prog.py:5 +" in tm[0], texts
    assert any(t.startswith("debug_malloc_stats objs: arenas ") for t in texts), texts


@pytest.mark.skipif(not memtrace.malloc_stats(), reason="this Python has no pymalloc")
def test_debug_malloc_stats_sees_pools_fill_and_empty(tmp):
    out = run_py("""
        import json, memtrace
        with memtrace.debug_malloc_stats("fill") as a:
            keep = [object() for _ in range(200000)]
        with memtrace.debug_malloc_stats("free") as b:
            del keep
        size = object.__basicsize__
        ca = [c for c in a.classes if c["size"] == size]
        cb = [c for c in b.classes if c["size"] == size]
        print(json.dumps([size, ca, cb, a.diff["used_bytes"], b.diff["used_bytes"],
                          a.after["utilisation"], a.report()]))
        """, tmp)
    size, ca, cb, used_a, used_b, util, report = json.loads(out.stdout)
    assert ca and ca[0]["blocks_used"] >= 200000 and ca[0]["pools"] > 0, ca
    assert cb and cb[0]["blocks_used"] <= -200000 and cb[0]["pools"] < 0, cb
    assert used_a >= 190000 * size and used_b <= -190000 * size  # (and a few others)
    assert 0 < util <= 1
    assert report.startswith("debug_malloc_stats fill: arenas +") and "%6d" % size in report
    assert out.stderr == ""  # read in memory: nothing on the program's stderr


def test_malloc_stats_numbers_add_up():
    s = memtrace.malloc_stats()
    if not s:
        pytest.skip("this Python has no pymalloc")
    assert s["arena_bytes"] == s["arenas_allocated_current"] * s["arena_size"] == s["total"]
    assert sum(c["blocks_used"] * c["size"] for c in s["classes"]) == \
        s["bytes_in_allocated_blocks"]
    assert s["used_bytes"] + s["free_bytes"] <= s["arena_bytes"]


def test_no_pymalloc_gives_empty(tmp):
    out = run_py("""
        import json, memtrace
        with memtrace.debug_malloc_stats() as ms:
            x = [object() for _ in range(1000)]
        print(json.dumps([memtrace.malloc_stats(), ms.report()]))
        """, tmp, env={"PYTHONMALLOC": "malloc"})
    stats, report = json.loads(out.stdout)
    assert stats == {} and report.startswith("debug_malloc_stats: pymalloc's state cannot be read")


def analyze_json(path):
    from memtrace.cli import tool_path
    import subprocess
    p = subprocess.run([tool_path("analyze"), "--json", str(path)], stdout=subprocess.PIPE,
                       check=True)
    return json.loads(p.stdout)


@pytest.mark.skipif(not memtrace.malloc_stats(), reason="this Python has no pymalloc")
@pytest.mark.parametrize("mode", ["alloc", "profile"])
def test_recording_samples_pymalloc(tmp, mode):
    # 400,000 small objects, then 3 of 4 freed: the arenas stay (a live
    # object in each pool), the bytes in use fall: pymalloc's counters in
    # the trace (at the markers, at start and stop) and analyze say so.
    run_py("""
        import sys, memtrace
        memtrace.start("t.trace", mode=sys.argv[1])
        keep = [object() for _ in range(400000)]
        memtrace.marker("filled")
        del keep[1::4], keep[1::3], keep[1::2]    # 3 of 4 freed, spread everywhere
        memtrace.marker("mostly freed")
        memtrace.stop()
        """, tmp, args=[mode])
    recs = decode(tmp / "t.trace", ["counters", "marker"])
    pym = [(r["t"], r["counters"]) for r in recs if r["type"] == "counters" and r["tid"] == 0
           and "pymalloc_arena_bytes" in r["counters"]]
    marks = {r["text"]: r["t"] for r in recs if r["type"] == "marker"}
    assert len(pym) >= 3, pym  # start, the markers (10 ms apart at least), stop
    at = lambda name: [c for t, c in pym if t >= marks[name]][0]
    filled, freed = at("filled"), at("mostly freed")
    size = object.__basicsize__
    assert filled["pymalloc_used_bytes"] >= 400000 * size
    assert freed["pymalloc_used_bytes"] <= filled["pymalloc_used_bytes"] - 290000 * size
    assert freed["pymalloc_arena_bytes"] >= filled["pymalloc_arena_bytes"] * 0.9  # held
    for c in (filled, freed):
        assert c["pymalloc_used_bytes"] + c["pymalloc_free_bytes"] <= c["pymalloc_arena_bytes"]
    a = analyze_json(tmp / "t.trace")["pymalloc"]
    assert a["samples"] == len(pym)
    assert a["most"]["used_bytes"] >= 400000 * size
    assert a["end"]["used_bytes"] <= a["most"]["used_bytes"] - 290000 * size
    assert a["end"]["arena_bytes"] >= a["most"]["arena_bytes"] * 0.9
    assert a["arena_bytes_max"] >= a["most"]["arena_bytes"]


def test_no_pymalloc_no_counters(tmp):
    run_py("""
        import memtrace
        memtrace.start("t.trace", mode="alloc")
        keep = [object() for _ in range(1000)]
        memtrace.marker("m")
        memtrace.stop()
        """, tmp, env={"PYTHONMALLOC": "malloc"})
    recs = decode(tmp / "t.trace")
    assert not any("pymalloc_arena_bytes" in r.get("counters", {}) for r in recs)
    assert analyze_json(tmp / "t.trace")["pymalloc"] is None


@pytest.mark.skipif(not memtrace.malloc_stats(), reason="this Python has no pymalloc")
def test_pymalloc_read_about_once_a_flush_interval(tmp):
    # No marker, one busy thread: pymalloc's state is read about once a
    # flush interval (a pending call the writer queues) on 3.13+; before
    # 3.13 a call queued by another thread waits for something else to wake
    # the main thread, so only start and stop are certain there.
    # (mode "poll": no hook writes records, so the trace stays small)
    run_py("""
        import time, memtrace
        memtrace.start("t.trace", mode="poll", flush_interval=0.3)
        t0 = time.time()
        keep = []
        while time.time() - t0 < 2.0:
            keep.append(object())
            if len(keep) > 100000:
                keep = []
        memtrace.stop()
        """, tmp)
    from memtrace.cli import tool_path
    import subprocess
    out = subprocess.run([tool_path("decode"), "--json", "--type", "counters",
                          str(tmp / "t.trace")], stdout=subprocess.PIPE, check=True).stdout
    recs = [json.loads(l) for l in out.splitlines()]
    pym = [r for r in recs if r["tid"] == 0 and "pymalloc_arena_bytes" in r["counters"]]
    if sys.version_info >= (3, 13):
        assert len(pym) >= 5, len(pym)  # start, stop, and some of the ~6 flushes
    else:
        assert len(pym) >= 2, len(pym)
