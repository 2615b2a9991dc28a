"""Sub-interpreters while recording (issue 11, item 2): the allocator hooks
are process-wide, so they run in sub-interpreters too (with a GIL of their
own from 3.12). Running code in one, then stopping or forking, must not
crash; the sub-interpreter's allocations are recorded without its frames
(alloc mode: under one frame "<subinterpreter>"), and none of its code
objects reaches the function table (they belong to another interpreter).

Kinds: "isolated" is _xxsubinterpreters (3.12) / _interpreters (3.13), own
GIL and allocator state; "legacy" is Py_NewInterpreter through
_testcapi.run_in_subinterp (3.9+), sharing the main GIL."""

import os
import sys

import pytest

from conftest import check, decode, replay_stacks, run_py

ALLOC = 2345  # bytearray(ALLOC) allocates ALLOC + 1 bytes

PROG = r"""
import os, sys, warnings, memtrace
warnings.simplefilter("ignore")  # fork with threads (3.12+)
kind, mode, allocs, after = sys.argv[1:5]
kw = dict(mode=mode)
if allocs != "none":
    kw["allocations"] = allocs
if allocs == "sampled":
    kw["alloc_sample_bytes"] = 1024
memtrace.start("s.trace", **kw)

CODE = '''
import threading
def subfn(n):
    return [bytearray(%(size)d) for _ in range(n)]
keep = subfn(300)
th = threading.Thread(target=subfn, args=(200,))
th.start()
th.join()
'''

def run_sub():
    if kind == "legacy":
        import _testcapi
        assert _testcapi.run_in_subinterp(CODE) == 0
        return
    try:
        import _interpreters as I
        i = I.create()
        err = I.exec(i, CODE)
        assert err is None, err
    except ImportError:
        import _xxsubinterpreters as I
        i = I.create(isolated=True)
        I.run_string(i, CODE)
    I.destroy(i)

def main_side():
    return [bytearray(%(size)d + 1) for _ in range(7)]

run_sub()
keep = main_side()
if after == "fork":
    pid = os.fork()
    if pid == 0:
        keep = main_side()
        if memtrace.is_recording():
            memtrace.stop()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, "child status %%d" %% status
memtrace.stop()
print("ok")
""" % {"size": ALLOC}


def kind_available(kind):
    if kind == "legacy":
        try:
            import _testcapi
        except ImportError:
            return "no _testcapi in this build"
        if not hasattr(_testcapi, "run_in_subinterp"):
            return "no _testcapi.run_in_subinterp"
        return None
    if sys.version_info < (3, 12):
        return "sub-interpreters with their own GIL need Python 3.12+"
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            __import__(name)
            return None
        except ImportError:
            pass
    return "no _interpreters / _xxsubinterpreters module"


def stacks_at_allocs(records, size):
    """[(thread name, tuple of function names)] of every ALLOC of size,
    with the stack a reader tracks from BLOCK, CALL and RETURN."""
    return [(thread, tuple(f["qualname"] for f in frames))
            for r, frames, thread in replay_stacks(records, ("alloc",)) if r["size"] == size]


CASES = [("alloc", "exact"), ("alloc", "sampled"), ("profile", "exact"), ("fast", "exact"),
         ("trace", "none")]


@pytest.mark.parametrize("after", ["stop", "fork"])
@pytest.mark.parametrize("mode,allocs", CASES)
@pytest.mark.parametrize("kind", ["isolated", "legacy"])
def test_subinterpreter_then_stop_or_fork(tmp, kind, mode, allocs, after):
    why = kind_available(kind)
    if why:
        pytest.skip(why)
    p = run_py(PROG, tmp, args=[kind, mode, allocs, after], timeout=120, check=False)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), \
        "exit %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr[-3000:])
    rc, out = check(tmp / "s.trace")
    assert rc == 0, out
    records = decode(tmp / "s.trace")
    # No code object of the sub-interpreter was given a function id.
    defined = [r for r in records if r["type"] == "function" and r["qualname"] == "subfn"]
    assert defined == []
    if allocs == "none":
        return
    main = stacks_at_allocs(records, ALLOC + 2)
    if allocs == "exact":
        assert len(main) == 7
        assert all("main_side" in s for _, s in main), main
    sub = stacks_at_allocs(records, ALLOC + 1)
    if allocs == "exact":
        # Every allocation of the sub-interpreter, its thread's too.
        assert len(sub) == 500, len(sub)
    else:
        assert len(sub) <= 500
    if mode == "alloc":
        assert all(s == ("<subinterpreter>",) for _, s in sub), sub[:5]
    # The main thread's allocations after the sub-interpreter have their
    # own stack again (the "<subinterpreter>" frame was popped).
    assert all("<subinterpreter>" not in s for _, s in main), main


CONCURRENT = r"""
import sys, threading, memtrace
allocs = sys.argv[1]
kw = dict(allocations=allocs)
if allocs == "sampled":
    kw["alloc_sample_bytes"] = 4096
memtrace.start("c.trace", mode="alloc", **kw)
CODE = '''
def churn(n):
    keep = []
    for i in range(n):
        keep.append(bytearray(100 + i % 50))
        if len(keep) > 64:
            keep.clear()
churn(20000)
'''

def sub():
    try:
        import _interpreters as I
        for _ in range(3):
            i = I.create()
            assert I.exec(i, CODE) is None
            I.destroy(i)
    except ImportError:
        import _xxsubinterpreters as I
        for _ in range(3):
            i = I.create(isolated=True)
            I.run_string(i, CODE)
            I.destroy(i)

def churn(n):
    keep = []
    for i in range(n):
        keep.append([i, str(i)])
        if len(keep) > 64:
            keep.clear()

threads = [threading.Thread(target=sub) for _ in range(2)]
for th in threads:
    th.start()
while any(th.is_alive() for th in threads):
    churn(2000)
for th in threads:
    th.join()
memtrace.stop()
print("ok")
"""


@pytest.mark.parametrize("allocs", ["exact", "sampled"])
def test_own_gil_subinterpreters_alongside(tmp, allocs):
    """Sub-interpreters with their own GIL allocate in other threads while
    the main interpreter allocates: nothing crashes, the trace is whole."""
    why = kind_available("isolated")
    if why:
        pytest.skip(why)
    p = run_py(CONCURRENT, tmp, args=[allocs], timeout=300, check=False)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), \
        "exit %d\nstderr:\n%s" % (p.returncode, p.stderr[-3000:])
    rc, out = check(tmp / "c.trace")
    assert rc == 0, out
