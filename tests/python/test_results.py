"""memtrace.open(): a trace's results from Python, the numbers of the
command line (memtrace analyze --json) attribute by attribute."""

import json
import os
import subprocess

import pytest

import memtrace
from memtrace.cli import tool_path
from conftest import run_py

PROGRAM = """
import threading
import memtrace
memtrace.start(%r, mode="trace", allocations=True)
keep = []
def leak(n):
    for _ in range(n):
        keep.append(bytearray(100000))      # the leaking line
def helper():
    keep.append(bytearray(300000))
memtrace.marker("phase 1")
leak(7)
t = threading.Thread(target=helper, name="helper")
t.start(); t.join()
memtrace.marker("phase 2")
tmp = [bytearray(200000) for _ in range(5)]
del tmp
memtrace.stop()
"""


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    path = str(d / "r.trace")
    run_py(PROGRAM % path, d)
    return path


def analyze_json(path, *args):
    p = subprocess.run([tool_path("analyze"), "--json", "--top", "0"] + list(args) + [path],
                       stdout=subprocess.PIPE, check=True)
    return json.loads(p.stdout)


def test_every_number_of_analyze_json(trace):
    t = memtrace.open(trace)
    assert t.analysis == analyze_json(trace)
    # attribute access all the way down, as the JSON's keys
    a = analyze_json(trace)
    assert t.rss.peak_bytes == a["rss"]["peak_bytes"]
    assert t.heap.peak_bytes == a["heap"]["peak_bytes"]
    assert t.heap.leaks[0].bytes == a["heap"]["leaks"][0]["bytes"]
    assert [f.function for f in t.functions] == [f["function"] for f in a["functions"]]
    assert [m.text for m in t.markers] == ["phase 1", "phase 2"]
    with pytest.raises(AttributeError, match="no 'nope' here"):
        t.rss.nope
    with pytest.raises(AttributeError, match="analyze --json has"):
        t.nope


def test_summary_names_the_leak(trace):
    s = memtrace.open(trace).summary()
    assert s.rss_peak_bytes > 0 and s.duration_s > 0 and s.lost_events == 0
    assert not s.damaged
    # 7 x 100000 + 300000 bytes kept (and the list holding them)
    assert 1000000 <= s.leaked_bytes < 1100000, s.leaked_bytes
    assert s.heap_peak_bytes >= 2000000 and not s.heap_estimated


def test_selection_is_the_cli_s(trace):
    t = memtrace.open(trace, thread="helper")
    assert t.analysis == analyze_json(trace, "--thread", "helper")
    assert 300000 <= sum(x.bytes for x in t.heap.leaks) < 320000  # (and the thread's own)
    t = memtrace.open(trace, function="leak", sort="self")
    assert t.analysis == analyze_json(trace, "--function", "leak", "--sort", "self")
    assert {f.function for f in t.functions} == {"leak"}


def test_records_and_series(trace):
    t = memtrace.open(trace)
    allocs = list(t.records(types="alloc"))
    assert allocs and all(r.type == "alloc" for r in allocs)
    assert sum(1 for r in allocs if 100000 <= r.size < 100100) >= 7  # bytearray(100000)
    markers = list(t.records(types=["marker"]))
    assert [m.text for m in markers] == ["phase 1", "phase 2"]
    s = t.series(width=400)
    assert "RSS" in s and "heap in use" in s
    assert max(v for _, v in s["heap in use"]) == t.heap.peak_bytes


def test_header(trace):
    h = memtrace.open(trace).header
    assert h.mode == "trace" and h.pid > 0


def test_errors(tmp_path):
    with pytest.raises(memtrace.TraceError, match="no such file"):
        memtrace.open(str(tmp_path / "missing.trace"))
    bad = tmp_path / "bad.trace"
    bad.write_bytes(b"not a trace at all\n" * 10)
    t = memtrace.open(str(bad))
    with pytest.raises(memtrace.TraceError, match="not a memtrace trace|bad magic|not a trace"):
        t.analysis


def test_damaged_trace_keeps_the_intact_chunks(tmp_path):
    path = str(tmp_path / "long.trace")
    run_py("""
        import time, memtrace
        def f(i):
            return i
        memtrace.start(%r, mode="profile", flush_interval=0.02)
        for k in range(10):          # a chunk or more per round
            for i in range(10000):
                f(i)
            time.sleep(0.05)
        memtrace.stop()
        """ % path, tmp_path)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.trace"
    cut.write_bytes(data[: len(data) * 2 // 3])  # the index and the last chunks are gone
    t = memtrace.open(str(cut))
    assert t.damage.damaged
    calls = [x.calls for x in t.functions if x.function == "f"][0]
    assert 0 < calls < 100000, calls
    assert t.summary().damaged
    assert t.series()["RSS"]  # memtrace-plot exits 1 there, having drawn the intact chunks
    assert sum(1 for r in t.records(types="call") if r.name == "f") == calls
    first = next(iter(t.records()))  # stopping early: no error, no wait for the rest
    assert first.type


def test_to_pandas(trace):
    pandas = pytest.importorskip("pandas")
    df = memtrace.open(trace).to_pandas("leaks")
    assert isinstance(df, pandas.DataFrame) and "bytes" in df.columns and len(df) >= 1
    with pytest.raises(ValueError, match="no table"):
        memtrace.open(trace).to_pandas("nope")


def test_stop_results_and_on_stop(tmp_path):
    out = run_py("""
        import json, sys
        import memtrace
        got = []
        with memtrace.Trace(%r, on_stop=got.append) as rec:
            x = [bytearray(50000) for _ in range(10)]
        (t,) = got
        assert t is rec.results and t.path == %r
        lines = [l for l in t.lines if l.file.endswith("prog.py")]
        memtrace.start(%r, mode="profile")
        y = [bytes(1000) for _ in range(100)]
        r = memtrace.stop(results=True)
        print(json.dumps([t.summary().rss_peak_bytes > 0, len(lines) > 0,
                          isinstance(r, memtrace.TraceFile), r.run.mode]))
        """ % (str(tmp_path / "a.trace"), str(tmp_path / "a.trace"), str(tmp_path / "b.trace")),
                 tmp_path)
    assert json.loads(out.stdout) == [True, True, True, "profile"]
    with pytest.raises(TypeError, match="on_stop must be callable"):
        memtrace.Trace(str(tmp_path / "c.trace"), on_stop=3)


def test_importing_memtrace_imports_nothing_more(tmp_path):
    # memtrace.open's module (json, subprocess) loads on first use only
    out = run_py("""
        import sys
        import memtrace
        print("memtrace.results" in sys.modules, "subprocess" in sys.modules)
        memtrace.open
        print("memtrace.results" in sys.modules)
        """, tmp_path)
    assert out.stdout.split() == ["False", "False", "True"]
