"""Real workloads in each mode, checked through memtrace-decode --json."""

import sys

import pytest

from conftest import count, decode, run_py, thread_names

# "trace+c" is trace mode with c_calls=True (profile hook beside the trace hook).
MODES = ["profile", "trace", "trace+c", "fast"]

WORKLOAD = """
import sys, time, memtrace

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

class Point:
    def __init__(self, x):
        self.x = x
    def norm(self):
        return abs(self.x)

def gen(n):
    for i in range(n):
        yield i

def fails():
    raise KeyError("x")

def hold_memory():
    buf = bytearray(100 * 2**20)   # touched: bytearray zero-fills
    time.sleep(0.15)               # well past the 10 ms sampling interval
    del buf

mode, _, c = sys.argv[1].partition("+")
memtrace.start("out.trace", mode=mode, c_calls=True if c else None)
fib(15)                                   # 1973 calls
pts = [Point(i) for i in range(50)]       # 50 __init__
total = sum(p.norm() for p in pts)        # 50 norm
items = list(gen(7))                      # gen resumed 8 times
for _ in range(3):
    try:
        fails()
    except KeyError:
        pass
memtrace.marker("before hold")
time.sleep(0.03)
hold_memory()
time.sleep(0.03)
memtrace.marker("after hold")
n = 0
for s in ["a", "bb", "ccc"] * 10:
    n += len(s)                            # 30 C calls to len
memtrace.stop()
"""


@pytest.fixture(scope="module", params=MODES)
def recorded(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    run_py(WORKLOAD, d, args=[request.param])
    return request.param, decode(d / "out.trace")


def test_exact_call_counts(recorded):
    mode, recs = recorded
    assert count(recs, "call", "fib") == 1973
    assert count(recs, "return", "fib") == 1973
    assert count(recs, "call", "Point.norm" if _has_qualname(recs) else "norm") == 50
    assert count(recs, "call", "Point.__init__" if _has_qualname(recs) else "__init__") == 50
    # A generator frame is entered at each resumption (7 values + the end);
    # in fast mode on 3.11+ also once at creation, where the frame really runs
    # (its RETURN_GENERATOR instruction) through the PEP 523 hook (3.12+
    # uses sys.monitoring, which reports resumptions only).
    extra = 1 if mode == "fast" and (3, 11) <= sys.version_info < (3, 12) else 0
    assert count(recs, "call", "gen") == 8 + extra
    assert count(recs, "call", "fails") == 3
    exits = count(recs, "unwind", "fails") + count(recs, "return", "fails")
    assert exits == 3


def _has_qualname(recs):
    return any(r["type"] == "function" and r["qualname"] == "Point.norm" for r in recs)


def test_c_calls_by_mode(recorded):
    mode, recs = recorded
    if mode in ("fast", "trace"):  # trace: a trace hook sees no C calls
        assert count(recs, "ccall") == 0
    else:
        assert count(recs, "ccall", "len") == 30
        assert count(recs, "creturn", "len") == 30


def test_lines_only_in_trace_mode(recorded):
    mode, recs = recorded
    lines = count(recs, "line")
    if mode.startswith("trace"):
        assert lines > 1973  # every fib call runs at least one line
        assert count(recs, "raise") >= 3
    else:
        assert lines == 0


def test_rss_rise_inside_the_allocating_function(recorded):
    mode, recs = recorded
    call = next(r for r in recs if r["type"] == "call" and r["name"] == "hold_memory")
    ret = next(r for r in recs if r["type"] in ("return", "unwind") and r["name"] == "hold_memory"
               and r["t"] >= call["t"])
    rss = [r for r in recs if r["type"] == "rss" and r["tid"] == 0]
    before = [r["rss_bytes"] for r in rss if r["t"] < call["t"]]
    inside = [r["rss_bytes"] for r in rss if call["t"] <= r["t"] <= ret["t"]]
    assert before and inside, "no RSS samples around hold_memory"
    assert max(inside) - before[-1] >= 90 * 2**20


def test_markers_in_order_at_the_right_moment(recorded):
    mode, recs = recorded
    marks = [r for r in recs if r["type"] == "marker"]
    assert [m["text"] for m in marks] == ["before hold", "after hold"]
    call = next(r for r in recs if r["type"] == "call" and r["name"] == "hold_memory")
    assert marks[0]["t"] < call["t"] < marks[1]["t"]
    assert marks[1]["t"] - marks[0]["t"] >= 0.2 * 1e9 * _tick_scale(recs)


def _tick_scale(recs):
    r = next(r for r in recs if "time_s" in r and r["time_s"] > 0)
    return r["t"] / r["time_s"] / 1e9


def test_stream_is_well_formed(recorded):
    mode, recs = recorded
    names = thread_names(recs)
    assert names.get(1) == "MainThread"
    assert recs[-1]["type"] == "summary"
    starts = [r for r in recs if r["type"] == "thread_start"]
    assert [r["tid"] for r in starts] == [1]
    # Definitions come before use: every fid is defined earlier in the file.
    defined = set()
    for r in recs:
        if r["type"] == "function":
            defined.add(r["fid"])
        elif r["type"] in ("call", "ccall"):
            assert r["fid"] in defined
