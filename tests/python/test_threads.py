"""Every thread is recorded, told apart, with its name: threads started
before and after recording began, by threading, by _thread.start_new_thread
(which runs no threading hook) and by C code."""

import json
import os
import subprocess

import pytest

from conftest import DECODE, count, decode, run_py, thread_names

ANALYZE = os.path.join(os.path.dirname(DECODE), "memtrace-analyze")


@pytest.mark.parametrize("mode", ["profile", "trace", "fast"])
def test_threads_told_apart(tmp, mode):
    run_py("""
        import sys, threading, time, memtrace

        def work_a():
            return 1
        def work_b():
            return 2
        def early_work():
            return 3

        go = threading.Event()
        def early():
            go.wait()
            for _ in range(7):
                early_work()

        def worker(fn, n):
            for _ in range(n):
                fn()

        e = threading.Thread(target=early, name="early-bird")
        e.start()                      # running before recording starts
        memtrace.start("t.trace", mode=sys.argv[1])
        go.set()
        ta = threading.Thread(target=worker, args=(work_a, 11), name="worker-a")
        tb = threading.Thread(target=worker, args=(work_b, 13), name="worker-b")
        ta.start(); tb.start(); ta.join(); tb.join(); e.join()
        time.sleep(0.2)  # THREAD_END is written when the OS thread exits,
        memtrace.stop()  # a little after join() returns
    """, tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    names = thread_names(recs)
    by_name = {v: k for k, v in names.items()}
    assert {"MainThread", "worker-a", "worker-b", "early-bird"} <= set(by_name), names
    assert count(recs, "call", "work_a", tid=by_name["worker-a"]) == 11
    assert count(recs, "call", "work_b", tid=by_name["worker-b"]) == 13
    assert count(recs, "call", "early_work", tid=by_name["early-bird"]) == 7
    assert count(recs, "call", "work_a") == 11  # nowhere else
    # New threads start and end in their own streams.
    for n in ("worker-a", "worker-b"):
        tid = by_name[n]
        assert count(recs, "thread_start", tid=tid) == 1
        assert count(recs, "thread_end", tid=tid) == 1


# "trace+c" is trace mode with c_calls=True.
@pytest.mark.parametrize("mode", ["profile", "trace", "trace+c", "fast", "alloc"])
def test_start_new_thread_is_recorded(tmp, mode):
    # A thread of _thread.start_new_thread: threading never sees it (no
    # threading hooks run in it), yet its calls are recorded in every mode.
    run_py("""
        import sys, _thread, threading, time, memtrace
        mode, _, c = sys.argv[1].partition("+")
        def work():
            return bytearray(3000)     # an allocation: alloc mode sees stacks there
        def body(n, done):
            keep = [work() for _ in range(n)]
            done.set()
        memtrace.start("t.trace", mode=mode, c_calls=True if c else None)
        done = threading.Event()
        _thread.start_new_thread(body, (9, done))
        done.wait()
        time.sleep(0.1)
        memtrace.stop()
    """, tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    names = thread_names(recs)
    main = [tid for tid, n in names.items() if n == "MainThread"]
    tids = {r["tid"] for r in recs if r["type"] == "call" and r.get("name") == "work"}
    assert tids and not set(main) & tids, (names, tids)
    if mode == "alloc":
        # Stacks are written at allocations, as differences from the last
        # one: consecutive calls of work in the same frame slot may merge.
        assert count(recs, "call", "work") >= 1
    else:
        assert count(recs, "call", "work") == 9
        assert count(recs, "call", "body") == 1


C_THREAD = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
static void *run(void *fn) {
    PyGILState_STATE s = PyGILState_Ensure();
    PyObject *r = PyObject_CallNoArgs((PyObject *)fn);
    Py_XDECREF(r);
    if (!r) PyErr_Print();
    PyGILState_Release(s);
    return NULL;
}
static PyObject *call_in_thread(PyObject *self, PyObject *fn) {
    (void)self;
    pthread_t th;
    Py_INCREF(fn);
    Py_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, run, fn);
    pthread_join(th, NULL);
    Py_END_ALLOW_THREADS
    Py_DECREF(fn);
    Py_RETURN_NONE;
}
static PyMethodDef m[] = {{"call_in_thread", call_in_thread, METH_O, NULL},
                          {NULL, NULL, 0, NULL}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "cthread", NULL, -1, m,
                               NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit_cthread(void) { return PyModule_Create(&d); }
"""


@pytest.mark.parametrize("mode", ["profile", "trace", "fast"])
def test_thread_made_in_c_is_recorded(tmp, mode):
    # A thread Python did not start (a C library's callback thread):
    # PyGILState_Ensure makes its thread state, then it calls Python code.
    import os
    import shutil
    import subprocess
    import sysconfig
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        pytest.skip("no C compiler")
    (tmp / "cthread.c").write_text(C_THREAD)
    out = tmp / ("cthread" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-pthread", "-I",
                    sysconfig.get_paths()["include"], str(tmp / "cthread.c"), "-o", str(out)],
                   check=True)
    run_py("""
        import sys, cthread, memtrace
        def leaf():
            return 1
        def callback():
            for _ in range(6):
                leaf()
        memtrace.start("t.trace", mode=sys.argv[1])
        cthread.call_in_thread(callback)
        cthread.call_in_thread(callback)
        memtrace.stop()
    """, tmp, args=[mode], env={"PYTHONPATH": os.pathsep.join(
        [str(tmp), os.environ.get("PYTHONPATH", "")])})
    recs = decode(tmp / "t.trace")
    names = thread_names(recs)
    main = [tid for tid, n in names.items() if n == "MainThread"]
    tids = {r["tid"] for r in recs if r["type"] == "call" and r.get("name") == "leaf"}
    assert tids and not set(main) & tids, (names, tids)
    assert count(recs, "call", "leaf") == 12
    assert count(recs, "call", "callback") == 2


# ---- Allocation times across threads ------------------------------------
# Allocation records reuse their thread's last clock reading (ALLOC.md); a
# thread that takes over from another reads the clock afresh, so that times
# follow the order in which threads ran. The heap model relies on it when a
# block freed by one thread is allocated again by another and the records
# reach the file in the other order (mt_analysis.h, "Order").

PINGPONG = """
    import threading, memtrace
    N = %d
    a_turn, b_turn = threading.Semaphore(1), threading.Semaphore(0)
    keep = []
    def a_side():
        for i in range(N):
            a_turn.acquire()
            %s
            b_turn.release()
    def b_side():
        for i in range(N):
            b_turn.acquire()
            %s
            a_turn.release()
    memtrace.start("t.trace", mode="alloc", allocations=True, buffer_bytes=4096)
    tb = threading.Thread(target=b_side)
    tb.start()
    a_side()
    tb.join()
    memtrace.stop()
"""


def test_alloc_times_follow_the_threads_turns(tmp):
    # Two threads take turns (semaphores): turn 2i is the main thread's,
    # 2i+1 the other's; each allocates a bytes object whose size says its
    # turn. Sorted by time, the allocations must come in turn order.
    n = 300
    run_py(PINGPONG % (n, 'keep.append(b"x" * (100000 + 2 * i))',
                       'keep.append(b"x" * (100001 + 2 * i))'), tmp)
    turns = [(r["t"], r["size"]) for r in decode(tmp / "t.trace")
             if r["type"] == "alloc" and 100000 < r["size"] < 100000 + 2 * n + 64]
    # bytes of length L take L + a fixed header: the header is the least size
    head = min(s for _, s in turns) - 100000
    order = [s - 100000 - head for _, s in sorted(turns)]
    assert sorted(order) == list(range(2 * n)), order[:20]
    late = [(i, order[i - 1], order[i]) for i in range(1, len(order)) if order[i] < order[i - 1]]
    assert not late, "allocations out of turn order by time: %s" % late[:5]


def test_block_reused_by_another_thread_stays_live(tmp):
    # The main thread allocates a bytearray and frees it, the other thread
    # then gets the same blocks from pymalloc and keeps them: all of the
    # other thread's blocks are live at the end whatever order the two
    # threads' buffers reached the file in (4 KiB buffers: many flushes).
    if not os.access(ANALYZE, os.X_OK):
        pytest.skip("memtrace-analyze is not built")
    n = 2000
    run_py(PINGPONG % (n, "x = bytearray(300); del x", "keep.append(bytearray(300))"), tmp)
    heap = json.loads(subprocess.run([ANALYZE, "--json", str(tmp / "t.trace")],
                                     stdout=subprocess.PIPE, universal_newlines=True,
                                     check=True).stdout)["heap"]
    leaks = {}
    for s in heap["leaks"]:  # a function can have several sites (stacks)
        leaks[s["function"]] = leaks.get(s["function"], 0) + s["count"]
    # Each bytearray is two blocks (object, buffer); the list adds some.
    assert leaks.get("b_side", 0) >= 2 * n, (leaks, heap["repairs"])
    # The main thread's bytearrays are all freed (3.9/3.10 keep its ended
    # frame and last loop int for the next call: a block or two).
    assert leaks.get("a_side", 0) <= 4, (leaks, heap["repairs"])


@pytest.mark.parametrize("alloc", ["exact", "sampled"])
def test_peak_of_threads_holding_memory_at_once(tmp, alloc):
    # Four threads each hold 20 MiB at the same time (a barrier between
    # their allocations and their frees), a fifth allocates small blocks
    # all along; each thread's buffer reaches the file on its own. The
    # heap's peak is summed in time order: all four blocks, at once, at
    # their line. (Summed in file order it was one block: 20 MiB.)
    if not os.access(ANALYZE, os.X_OK):
        pytest.skip("memtrace-analyze is not built")
    run_py("""
        import sys, threading, time, memtrace
        memtrace.start("p.trace", mode="alloc",
                       allocations=True if sys.argv[1] == "exact" else "sampled")
        bar = threading.Barrier(4)
        stop = threading.Event()
        def hold():
            bar.wait()
            big = bytearray(20 << 20)
            bar.wait()
            time.sleep(0.03)
            del big
        def chatter():
            keep = []
            while not stop.is_set():
                keep.append(bytes(100))
                time.sleep(0.0005)
        c = threading.Thread(target=chatter)
        c.start()
        ts = [threading.Thread(target=hold) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        stop.set()
        c.join()
        memtrace.stop()
    """, tmp, args=[alloc])
    heap = json.loads(subprocess.run([ANALYZE, "--json", str(tmp / "p.trace")],
                                     stdout=subprocess.PIPE, universal_newlines=True,
                                     check=True).stdout)["heap"]
    assert 80 << 20 <= heap["peak_bytes"] < 82 << 20, heap["peak_bytes"]
    big = [s for s in heap["peak"] if s["function"] == "hold"]
    assert sum(s["bytes"] for s in big) >= 80 << 20, heap["peak"][:3]
    assert all(s["line"] == 9 for s in big if s["bytes"] >= 20 << 20), big  # big = ...
    assert heap["repairs"]["unordered"] == 0
