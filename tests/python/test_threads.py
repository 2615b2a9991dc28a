"""Every thread is recorded, told apart, with its name: threads started
before and after recording began."""

import pytest

from conftest import count, decode, run_py, thread_names


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
