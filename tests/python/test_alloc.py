"""Allocation tracking with known answers: leaks of K blocks of a known size
at a known function, a ctypes malloc seen natively, the sampled estimate of
1 GB, a multithreaded stress that loses nothing, and allocators restored."""

import heapq
import math
import os
import subprocess
import sys

import pytest

from conftest import check, decode, header, replay_stacks, run_py

SIZE = 7777  # bytearray(SIZE) allocates SIZE + 1 bytes for its buffer


def replay(records):
    """Yield (record, stack) for alloc/free/realloc records: stack is the
    list of (name, kind) of the thread's frames, outermost first."""
    for r, frames, _ in replay_stacks(records):
        yield r, [(f["qualname"], f["kind"]) for f in frames]


def innermost_python(stack):
    for name, kind in reversed(stack):
        if kind == "python":
            return name
    return None


def live_after(records, pred=lambda r: True):
    """Blocks allocated (matching pred) and not freed at the end:
    {(domain, addr): (record, stack)}."""
    live = {}
    for r, stack in replay(records):
        if r["type"] == "alloc":
            if pred(r):
                live[(r["domain"], r["addr"])] = (r, stack)
        elif r["type"] == "free":
            live.pop((r["domain"], r["addr"]), None)
        else:
            live.pop((r["domain"], r["old_addr"]), None)
            if pred(r):
                live[(r["domain"], r["addr"])] = (r, stack)
    return live


LEAK = """
import sys, memtrace
keep = []

def leaky(k):
    for _ in range(k):
        keep.append(bytearray(%(size)d))

def temporary(k):
    for _ in range(k):
        b = bytearray(%(size)d)
        del b

def outer():
    leaky(37)
    temporary(50)

mode = sys.argv[1]
memtrace.start("a.trace", mode=mode, allocations=True, c_calls=None if mode != "alloc" else False)
outer()
memtrace.stop()
""" % {"size": SIZE}


@pytest.mark.parametrize("mode", ["alloc", "fast", "profile", "trace"])
def test_leak_exactly_k(tmp, mode):
    run_py(LEAK, tmp, args=[mode])
    assert check(tmp / "a.trace")[0] == 0
    recs = decode(tmp / "a.trace")
    assert header(tmp / "a.trace")["alloc_sample_bytes"] == 1  # every allocation
    mine = [(r, s) for r, s in replay(recs) if r["type"] == "alloc" and r["size"] == SIZE + 1]
    assert len(mine) == 87, [(r["domain"], innermost_python(s)) for r, s in mine[:5]]
    by_fn = {}
    for r, s in mine:
        by_fn[innermost_python(s)] = by_fn.get(innermost_python(s), 0) + 1
        # the stack is the program's, outermost frames included
        names = [n for n, k in s if k == "python"]
        assert names[-2:] in (["outer", "leaky"], ["outer", "temporary"]), names
    assert by_fn == {"leaky": 37, "temporary": 50}
    live = live_after(recs, lambda r: r["size"] == SIZE + 1)
    assert len(live) == 37
    assert {innermost_python(s) for r, s in live.values()} == {"leaky"}
    # bytearray's buffer: PyObject_Malloc before 3.13, PyMem_Malloc after
    assert len({r["domain"] for r, s in live.values()}) == 1


NATIVE = """
import ctypes, os

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def native_leak():
    return libc.malloc(123457)

def native_temp():
    libc.free(libc.malloc(654321))

def main():
    p = native_leak()
    native_temp()
    print(os.environ.get("LD_PRELOAD", ""))

main()
"""


def launch(tmp, args, code, timeout=120, env=None):
    script = tmp / "prog.py"
    script.write_text(code)
    return subprocess.run([sys.executable, "-m", "memtrace", "run"] + args + [str(script)],
                          cwd=str(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def test_native_malloc_at_its_caller(tmp):
    p = launch(tmp, ["--native", "-o", "n.trace"], NATIVE)
    assert p.returncode == 0, p.stderr
    assert "libmemtrace-preload" not in p.stdout  # children do not inherit it
    assert check(tmp / "n.trace")[0] == 0
    recs = decode(tmp / "n.trace")
    hits = [(r, s) for r, s in replay(recs) if r["type"] == "alloc" and r["size"] == 123457]
    assert len(hits) == 1
    r, s = hits[0]
    assert r["domain"] == "malloc"
    assert innermost_python(s) == "native_leak"
    assert [n for n, k in s if k == "python"][-2:] == ["main", "native_leak"]
    live = live_after(recs, lambda r: r["size"] in (123457, 654321))
    assert [x[0]["size"] for x in live.values()] == [123457]
    # Python's allocations are still recorded in their own domains, once.
    assert any(r["type"] == "alloc" and r["domain"] == "obj" for r in recs)


SAMPLED = """
import random, sys, memtrace
mode = sys.argv[1]
if mode == "sampled":
    memtrace.start("s.trace", mode="alloc", allocations="sampled")
else:
    memtrace.start("s.trace", mode="alloc", allocations=True)
rng = random.Random(5)
sizes = [rng.choice((100, 1000, 10000, 30000, 65000)) for _ in range(1000)]
total = 0
keep = []
while total < 10**9:
    for s in sizes:
        b = bytearray(s)
        total += s
        if s == 100:
            keep.append(b)
memtrace.stop()
print(total)
"""


def test_sampled_estimates_total(tmp):
    import memtrace
    n = memtrace.DEFAULT_ALLOC_SAMPLE_BYTES
    run_py(SAMPLED, tmp, args=["sampled"], timeout=300)
    recs = decode(tmp / "s.trace")
    assert header(tmp / "s.trace")["alloc_sample_bytes"] == n
    sampled = [r for r in recs if r["type"] in ("alloc", "realloc")]
    est = sum(r["size"] / -math.expm1(-r["size"] / n) for r in sampled)
    nfree = sum(1 for r in recs if r["type"] == "free")
    run_py(SAMPLED, tmp, args=["exact"], timeout=300)
    exact = sum(r["size"] for r in decode(tmp / "s.trace") if r["type"] in ("alloc", "realloc"))
    assert exact >= 10**9
    assert 500 < len(sampled) < 20000
    assert abs(est - exact) / exact < 0.10, (est, exact, len(sampled))
    assert nfree <= len(sampled)  # only frees of sampled blocks


STRESS = """
import lzma, sys, threading, memtrace
N = int(sys.argv[1])
TAG = 20000
data = bytes(range(256)) * 64

def work(k):
    for i in range(N):
        b = bytearray(TAG + k)
        del b
        if i % 500 == 0:
            lzma.compress(data)   # raw-domain allocations, some without the GIL

if sys.argv[2] == "api":
    memtrace.start("st.trace", mode="alloc", allocations=True,
                   buffer_bytes=int(sys.argv[3]), max_buffers=int(sys.argv[4]))
threads = [threading.Thread(target=work, args=(k,), name="w%d" % k) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if sys.argv[2] == "api":
    memtrace.stop()
    print(memtrace._memtrace._stats()["alloc_records"])
"""

STRESS_TYPES = ["alloc", "free", "realloc", "lost", "summary"]


def in_record_order(recs):
    """The timed records of every thread in the order they happened, for
    matching frees to allocations by address across threads: file order is
    not that order (each thread fills its own buffers, written whole).

    Each thread's records keep their order (stable sort by time); threads
    are merged by time, and at equal times a FREE goes before another
    thread's record: the recorder writes a FREE before the block is
    released (recorder/mt_alloc.c, "Ordering"), so an ALLOC of the same
    address by another thread is later. The exception there, a REALLOC that
    moves a block, does not touch the tagged blocks of STRESS (bytearrays of
    a fixed size, allocated and freed by one thread)."""
    per_tid = {}
    for r in recs:
        if "t" in r and "tid" in r:
            per_tid.setdefault(r["tid"], []).append(r)
    streams = [sorted(v, key=lambda r: r["t"]) for v in per_tid.values()]
    return heapq.merge(*streams, key=lambda r: (r["t"], r["type"] != "free"))


def stress_counts(recs, complete=True):
    """{size: ALLOCs} and {size: FREEs matched to them} of the tagged blocks
    of STRESS (20001-20004 bytes). complete (no events lost): raise
    AssertionError if an address is allocated again while a tagged block
    there is live (a lost or misordered FREE)."""
    allocs, frees, tags = {}, {}, {}
    for r in in_record_order(recs):
        if r["type"] == "free" or r["type"] == "realloc":
            sz = tags.pop((r["domain"], r.get("old_addr", r["addr"])), None)
            if sz is not None and r["type"] == "free":
                frees[sz] = frees.get(sz, 0) + 1
        if r["type"] == "alloc" or r["type"] == "realloc":
            key = (r["domain"], r["addr"])
            assert not complete or key not in tags, "%s: allocated again while live: %r" % (key, r)
            tags.pop(key, None)
            if r["type"] == "alloc" and 20001 <= r["size"] <= 20004:
                allocs[r["size"]] = allocs.get(r["size"], 0) + 1
                tags[key] = r["size"]
    return allocs, frees


def summary(recs):
    s = [r for r in recs if r["type"] == "summary"]
    assert len(s) == 1
    return s[0]["counters"]


@pytest.mark.parametrize("how", ["api", "native"])
def test_thread_stress_loses_nothing(tmp, how):
    # One malloc arena for all threads: a block one thread frees is the next
    # another allocates, so frees must be matched in record order, not file
    # order (with an arena per thread that reuse is rare and the test flaky).
    reuse = {"MALLOC_ARENA_MAX": "1"}
    n = 20000
    if how == "api":
        p = run_py(STRESS, tmp, args=[str(n), "api", str(64 * 1024), "256"], timeout=120,
                   env=reuse)
        made = int(p.stdout.split()[-1])
        path = tmp / "st.trace"
    else:
        p = launch(tmp, ["--native", "-o", "st.trace", "prog.py"][:-1],
                   STRESS.replace("int(sys.argv[1])", str(n)).replace("sys.argv[2]", "'x'"),
                   env=reuse)
        assert p.returncode == 0, p.stderr
        made = None
        path = tmp / "st.trace"
    assert check(path)[0] == 0
    recs = decode(path, STRESS_TYPES)
    allocs, frees = stress_counts(recs)
    want = {20001 + k: n for k in range(4)}
    assert allocs == want
    assert frees == want
    assert sum(r["events"] for r in recs if r["type"] == "lost") == 0
    assert summary(recs)["lost_events"] == 0
    if how == "native":
        assert any(r["type"] == "alloc" and r["domain"] == "malloc" for r in recs)
    if made is not None:
        written = sum(1 for r in recs if r["type"] in ("alloc", "free", "realloc"))
        assert written == made


def test_thread_stress_tiny_pool_accounts_for_drops(tmp):
    n = 20000
    p = run_py(STRESS, tmp, args=[str(n), "api", "4096", "2"], timeout=120)
    made = int(p.stdout.split()[-1])
    assert check(tmp / "st.trace")[0] == 0
    recs = decode(tmp / "st.trace", STRESS_TYPES)
    written = sum(1 for r in recs if r["type"] in ("alloc", "free", "realloc"))
    lost = sum(r["events"] for r in recs if r["type"] == "lost")
    assert lost == summary(recs)["lost_events"]
    assert written <= made <= written + lost
    allocs, _ = stress_counts(recs, complete=False)
    assert all(v <= n for v in allocs.values())


def test_allocators_restored(tmp):
    p = run_py("""
        import tracemalloc, memtrace
        for i in range(2):
            memtrace.start("r%d.trace" % i, mode="alloc", allocations="sampled" if i else True)
            x = [bytearray(100) for _ in range(100)]
            memtrace.stop()
        tracemalloc.start(1)
        keep = [bytearray(5000) for _ in range(100)]
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(cur)
        memtrace.start("r2.trace", mode="fast", allocations=True)
        memtrace.stop()
    """, tmp)
    assert int(p.stdout.split()[-1]) >= 100 * 5000
    for i in range(3):
        assert check(tmp / ("r%d.trace" % i))[0] == 0


@pytest.mark.parametrize("alloc", ["exact", "sampled"])
def test_tracemalloc_on_top_during_recording(tmp, alloc):
    # tracemalloc installed over memtrace's hooks calls the raw domain (ours)
    # holding its tables lock, and takes that lock for every new object:
    # memtrace's hook must make no Python object there (it deadlocked naming
    # a thread, defining a function, marking a deep frame).
    p = run_py("""
        import lzma, sys, threading, tracemalloc, warnings
        import memtrace
        memtrace.start("t.trace", mode="alloc",
                       allocations=True if sys.argv[1] == "exact" else "sampled",
                       alloc_sample_bytes=64)
        tracemalloc.start(5)
        def fresh(n):
            if n:
                return fresh(n - 1)
            return [lzma.compress(bytes(range(256)) * 40) for _ in range(3)]
        def work():
            keep = fresh(80)
            exec("def g%d(): return [bytearray(300) for _ in range(5)]" % id(keep), globals())
        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        work()
        cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memtrace.stop()
        print(peak > 0)
    """, tmp, args=[alloc], timeout=60)
    assert p.stdout.split() == ["True"]
    assert check(tmp / "t.trace")[0] == 0


def test_fork_child_records_its_own(tmp):
    run_py("""
        import os, memtrace
        memtrace.start("f.trace", mode="alloc", allocations=True)
        pid = os.fork()
        if pid == 0:
            keep = [bytearray(4321) for _ in range(9)]
            memtrace.stop()
            os._exit(0)
        os.waitpid(pid, 0)
        keep = [bytearray(1234) for _ in range(5)]
        memtrace.stop()
        print(pid)
    """, tmp)
    kids = [f for f in os.listdir(str(tmp)) if f.startswith("f.") and f != "f.trace"]
    assert len(kids) == 1
    parent, child = decode(tmp / "f.trace"), decode(tmp / kids[0])
    assert sum(1 for r in parent if r["type"] == "alloc" and r["size"] == 1235) == 5
    assert sum(1 for r in parent if r["type"] == "alloc" and r["size"] == 4322) == 0
    assert sum(1 for r in child if r["type"] == "alloc" and r["size"] == 4322) == 9


def test_options_checked():
    import memtrace
    with pytest.raises(ValueError):
        memtrace.start("x.trace", allocations="sometimes")
    with pytest.raises(ValueError):
        memtrace.start("x.trace", mode="alloc", max_depth=3)
    if not memtrace.native_available():
        with pytest.raises(RuntimeError):
            memtrace.start("x.trace", native=True)
    assert not memtrace.is_recording()
