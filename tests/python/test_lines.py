"""Alloc mode names the allocating line and each caller's call site (format
1.3: LINES tables and POS records), on every Python, with a known truth:
allocations of unique sizes made from known lines, nested calls, the same
function called from two lines, a deep recursion (where marks end the stack
walk) whose caller 150 levels down moves to another line, a generator
resumed from C, and another thread. The lines are replayed from the
decoder's JSON (independent of the analyzer), then checked in the analyzer's
report too."""

import json
import os
import subprocess

import pytest

from conftest import DECODE, decode, replay_lines, run_py

ANALYZE = os.path.join(os.path.dirname(DECODE), "memtrace-analyze")

PROG = '''\
import sys, threading
import memtrace
keep = []
def leaf(n):
    a = bytearray(n)                    # 5  LEAF_A
    b = [bytearray(n)]                  # 6  LEAF_B
    keep.append((a, b))
def mid():
    leaf(100001)                        # 9  MID_1
    leaf(100002)                        # 10 MID_2
def rec(n):
    if n == 0:
        keep.append(bytearray(100003))  # 13 REC_BOTTOM
        return
    rec(n - 1)                          # 15 REC_CALL
    if 130 <= n < 170:
        keep.append(bytearray(200000 + n))  # 17 REC_BACK
    if n == 150: leaf(100010)           # 18 REC_LEAF
def gen():
    yield bytearray(100005)             # 20 GEN_1
    yield bytearray(100006)             # 21 GEN_2
def in_thread():
    keep.append(bytearray(100007))      # 23 THREAD
kw = {"alloc_sample_bytes": 1000} if sys.argv[2] == "sampled" else {}
memtrace.start(sys.argv[1], mode=sys.argv[3] if len(sys.argv) > 3 else "alloc",
               allocations=True if sys.argv[2] == "exact" else "sampled", **kw)
mid()                                   # 27 TOP_MID
rec(300)                                # 28 TOP_REC
keep.extend(gen())                      # 29 TOP_GEN
t = threading.Thread(target=in_thread)
t.start()
t.join()
memtrace.stop()
'''


def replay(records):
    """(size, [(function, line), ...] outermost first, thread) per alloc."""
    return [(r["size"], st, r["tid"]) for r, st in replay_lines(records, ("alloc",))]


def tail(stack, n):
    return stack[-n:]


@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_allocating_lines(tmp_path, mode):
    trace = tmp_path / "lines.trace"
    run_py(PROG, tmp_path, args=[str(trace), mode], timeout=120)
    allocs = replay(decode(trace))
    by_size = {}
    for size, stack, tid in allocs:
        by_size.setdefault(size, []).append((stack, tid))

    def one(size, k=0):
        got = by_size.get(size, [])
        if mode == "sampled" and len(got) <= k:
            return None  # not sampled (unlikely at 1000-byte mean distance)
        assert len(got) > k, "no allocation of %d bytes: %s" % (size, sorted(by_size))
        return got[k][0]

    # The same function called from two lines; two lines within it.
    s = one(100002, 0)
    if s:
        assert tail(s, 3) == [("<module>", 27), ("mid", 9), ("leaf", 5)], s
    s = one(100002, 1)
    if s:
        assert tail(s, 3) == [("<module>", 27), ("mid", 9), ("leaf", 6)], s
    s = one(100003, 0)
    if s:
        assert tail(s, 3) == [("<module>", 27), ("mid", 10), ("leaf", 5)], s
    # The bottom of a 300-deep recursion: every caller at its call line.
    s = one(100004)
    if s:
        assert s[-1] == ("rec", 13), s[-3:]
        recs = [f for f in s if f[0] == "rec"]
        assert len(recs) == 301 and set(recs[:-1]) == {("rec", 15)}, recs[:3]
        assert s[-302] == ("<module>", 28), s[-303:-300]
    # Levels 130-169 moved on after the deep part returned: the frames below
    # (at their call line 15) have not moved, each of them has. One level in
    # 32 is marked in exact mode (the stack walk ends at a mark that is still
    # there): 40 levels in a row include marked ones, which moved too.
    for n in range(130, 170):
        s = one(200001 + n)
        if s:
            recs = [f for f in s if f[0] == "rec"]
            assert s[-1] == ("rec", 17) and len(recs) == 301 - n, (n, s[-3:])
            assert set(recs[:-1]) == {("rec", 15)}, (n, recs[:3])
            assert s[-len(recs) - 1] == ("<module>", 28)
    s = one(100011)
    if s:
        assert tail(s, 2) == [("rec", 18), ("leaf", 5)], s[-3:]
        assert s[-3] == ("rec", 15)
    # A generator resumed from C (list.extend): its own line each time.
    for size, line in ((100006, 20), (100007, 21)):
        s = one(size)
        if s:
            assert s[-1] == ("gen", line), s[-3:]
            assert ("<module>", 29) in s, s
    # Another thread.
    got = by_size.get(100008, [])
    if got or mode == "exact":
        stack, tid = got[0]
        assert stack[-1] == ("in_thread", 23), stack[-3:]
        assert tid != by_size[100002][0][1]  # not the main thread

    # The analyzer names the same lines.
    if mode == "exact" and os.path.exists(ANALYZE):
        p = subprocess.run([ANALYZE, "--json", "--top", "1000", str(trace)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        assert p.returncode == 0, p.stderr
        heap = json.loads(p.stdout)["heap"]
        leaks = heap["leaks"]
        lines = {(x["function"], x["line"]) for x in leaks}
        for want in (("leaf", 5), ("leaf", 6), ("rec", 13), ("rec", 17), ("gen", 20),
                     ("gen", 21), ("in_thread", 23)):
            assert want in lines, (want, sorted(lines))
        site = next(x for x in leaks if (x["function"], x["line"]) == ("rec", 13))
        assert [f["line"] for f in site["frames"] if f["function"] == "rec"][:-1] == [15] * 300


@pytest.mark.parametrize("mode", ["profile", "fast"])
def test_allocating_line_in_call_modes(tmp_path, mode):
    """Profile and fast modes with allocations: the call hooks keep the
    stack, and each allocation names its allocating line (the innermost
    frame's position); callers' call sites are not known there."""
    trace = tmp_path / "lines.trace"
    run_py(PROG.replace("# 27 TOP_MID", "# 27"), tmp_path, args=[str(trace), "exact", mode],
           timeout=120)
    allocs = replay(decode(trace))
    by_size = {}
    for size, stack, tid in allocs:
        by_size.setdefault(size, []).append(stack)
    py = lambda st: [f for f in st if f[0] not in ("bytearray", "list.append", "?")]
    assert py(by_size[100002][0])[-1] == ("leaf", 5)
    # Callers have no position in these modes: never the line of an
    # earlier allocation of theirs (<module> allocated on lines 24-26).
    for stack in (by_size[100002][0], by_size[100004][0], by_size[200131][0]):
        for fn, line in py(stack)[:-1]:
            assert line == 0, (fn, line, py(stack)[-4:])
    assert py(by_size[100002][1])[-1] == ("leaf", 6)
    assert py(by_size[100004][0])[-1] == ("rec", 13)
    for n in (130, 150, 169):
        assert py(by_size[200001 + n][0])[-1] == ("rec", 17), n
    assert py(by_size[100006][0])[-1] == ("gen", 20)
    assert py(by_size[100007][0])[-1] == ("gen", 21)
    assert py(by_size[100008][0])[-1] == ("in_thread", 23)
