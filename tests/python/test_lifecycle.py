"""The recorder's life in a real process: fork while its threads hold locks,
start and stop racing in threads, signals meant for the program, programs
that make code objects without end, and start failures. Each case runs in
its own interpreter (the hooks are process-wide)."""

import os
import sys

import pytest

from conftest import check, count, decode, run_py

# Locks the test hook _memtrace._test_hold_lock can hold (mt_session.c).
LOCKS = ("pool", "reg", "defs", "sampler", "nogil", "addrset", "procwatch")


@pytest.mark.parametrize("lock", LOCKS)
def test_fork_while_a_recorder_lock_is_held(tmp, lock):
    # A recorder thread holds one of the recorder's locks at the moment of
    # fork (what the writer, sampler or poller do all the time). The child
    # runs Python code of its own (new functions, allocations) and must
    # exit at once: it neither records into the parent's session nor waits
    # for a lock whose holder does not exist in it.
    p = run_py("""
        import os, sys, time, memtrace
        from memtrace import _memtrace
        def wait(pid, secs):
            end = time.time() + secs
            while time.time() < end:
                r, st = os.waitpid(pid, os.WNOHANG)
                if r:
                    return "exit%d" % os.waitstatus_to_exitcode(st)
                time.sleep(0.005)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return "HUNG"
        out = []
        for mode, kw in (("profile", {}), ("fast", {}),
                         ("alloc", dict(allocations="sampled", alloc_sample_bytes=2))):
            for fork in ("stop", "child"):
                memtrace.start("p.trace", mode=mode, fork=fork, rss_interval=0, **kw)
                # A first fork defines the functions the parent runs around a
                # fork (os.register_at_fork's), so that the second one does not
                # wait for the held lock in the parent before forking.
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
                _memtrace._test_hold_lock(sys.argv[1], 0.2)  # by another thread from now
                pid = os.fork()
                if pid == 0:
                    exec("def brand_new(): return [bytes(64) for _ in range(100)]")
                    eval("brand_new()")
                    memtrace.stop()
                    os._exit(0)
                out.append(wait(pid, 10))
                memtrace.stop()
        print(" ".join(out))
    """, tmp, args=[lock], timeout=120)
    assert p.stdout.split() == ["exit0"] * 6
    assert check(tmp / "p.trace")[0] == 0
    for f in os.listdir(str(tmp)):  # the children's own recordings (fork="child")
        if f.endswith(".trace"):
            assert check(tmp / f)[0] == 0, f


def test_fork_often_while_the_writer_is_busy(tmp):
    p = run_py("""
        import os, sys, threading, time, memtrace
        memtrace.start("p.trace", mode="profile", buffer_bytes=4096, max_buffers=4,
                       flush_interval=0.001, rss_interval=0.0001, fork="stop")
        stop = False
        def spin():
            def g(i): return i + 1
            while not stop:
                for i in range(200): g(i)
        ts = [threading.Thread(target=spin, daemon=True) for _ in range(3)]
        for t in ts: t.start()
        hung = 0
        for k in range(60):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            end = time.time() + 5
            while not os.waitpid(pid, os.WNOHANG)[0]:
                if time.time() > end:
                    hung += 1
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.001)
        stop = True
        for t in ts: t.join()
        memtrace.stop()
        print("hung", hung)
    """, tmp, timeout=120)
    assert p.stdout.strip() == "hung 0"
    assert check(tmp / "p.trace")[0] == 0


def test_start_stop_racing_in_threads(tmp):
    # Per-request profiling in a threaded server: threads enter Profile
    # blocks at will; a start while another thread records or is stopping
    # raises RuntimeError; every recording that started is a complete file.
    p = run_py("""
        import os, sys, threading, time, memtrace
        def work():
            return sum(i * i for i in range(2000))
        started = []
        errors = {}
        end = time.time() + 2.0
        def loop(k):
            i = 0
            while time.time() < end:
                i += 1
                path = "r_%d_%d.trace" % (k, i)
                try:
                    with memtrace.Profile(path, rss_interval=0.001, flush_interval=0.001):
                        started.append(path)
                        work()
                except RuntimeError as e:
                    msg = str(e).split(" to ")[0]
                    errors[msg] = errors.get(msg, 0) + 1
        ts = [threading.Thread(target=loop, args=(k,)) for k in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        assert not memtrace.is_recording()
        memtrace.start("last.trace"); work(); memtrace.stop()
        print(len(started))
        print("\\n".join(started))
        print(sorted(errors), file=sys.stderr)
    """, tmp, timeout=120)
    lines = p.stdout.split()
    n = int(lines[0])
    assert n > 10 and len(lines) == n + 1
    for path in lines[1:] + ["last.trace"]:
        rc, out = check(tmp / path)
        assert rc == 0, (path, out)
    # Files of starts that failed are not left behind.
    assert len([f for f in os.listdir(str(tmp)) if f.endswith(".trace")]) == n + 1
    for msg in eval(p.stderr.strip().splitlines()[-1]):
        assert msg in ("memtrace is already recording", "memtrace is stopping"), msg


@pytest.mark.parametrize("mode", ["profile", "poll"])
def test_signals_reach_the_program(tmp, mode):
    # A daemon pattern: SIGTERM blocked in the main thread and taken with
    # sigwait. The recorder's threads must not be where the kernel delivers
    # it (default action: the process dies).
    p = run_py("""
        import os, signal, sys, time, memtrace
        # Recording starts first (as with python -m memtrace run): the
        # recorder's threads do not inherit the program's mask.
        if sys.argv[1] == "poll":
            import memtrace.process
            pl = memtrace.process.log_process(0.001, "s.trace").start()
        else:
            memtrace.start("s.trace", mode="profile", rss_interval=0.001, flush_interval=0.001)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})
        time.sleep(0.05)
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            os.kill(os.getpid(), sig)
            got = signal.sigwait({sig})
            print(signal.Signals(got).name)
        if sys.argv[1] == "poll":
            pl.stop()
        else:
            memtrace.stop()
    """, tmp, args=[mode], timeout=30, check=False)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert p.stdout.split() == ["SIGUSR1", "SIGTERM"]
    assert check(tmp / "s.trace")[0] == 0


MAKE_CODE = """
    import resource, sys
    rec = sys.argv[1] == "rec"
    import memtrace
    if rec:
        memtrace.start("c.trace", mode=sys.argv[2], rss_interval=0)
    src = "def f(x):\\n" + "".join("    x = x + %d\\n" % i for i in range(50)) + "    return x\\n"
    for i in range(15000):
        ns = {}
        exec(compile(src, "<gen%d>" % i, "exec"), ns)
        ns["f"](1)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    if rec:
        memtrace.stop()
"""


@pytest.mark.parametrize("mode", ["fast", "profile"])
def test_code_objects_are_not_kept_alive(tmp, mode):
    bare = int(run_py(MAKE_CODE, tmp, args=["bare", mode], timeout=300).stdout)
    rec = int(run_py(MAKE_CODE, tmp, args=["rec", mode], timeout=300).stdout)
    assert rec - bare < 20, (bare, rec)  # MiB; 5 measured, 28 when every code object is kept
    recs = decode(tmp / "c.trace", ["call"])
    assert count(recs, "call", "f") == 15000
    # Each code object is its own function, even at a reused address.
    fids = {r["fid"] for r in recs if r["type"] == "call" and r["name"] == "f"}
    assert len(fids) == 15000


def test_reused_code_address_gets_a_new_fid(tmp):
    p = run_py("""
        import gc, memtrace
        memtrace.start("a.trace", mode="alloc")
        seen = {}
        for i in range(200):
            ns = {}
            exec(compile("def f%d():\\n    return [bytes(100) for _ in range(3)]\\n" % (i % 2),
                         "<g%d>" % i, "exec"), ns)
            fn = next(v for k, v in ns.items() if k.startswith("f"))
            seen.setdefault(id(fn.__code__), []).append(i)
            fn()
            del fn, ns
            gc.collect()
        memtrace.stop()
        print(max(len(v) for v in seen.values()))
    """, tmp)
    reused = int(p.stdout)
    recs = decode(tmp / "a.trace")
    files = {r["fid"]: r["file"] for r in recs if r["type"] == "function"}
    calls = [files[r["fid"]] for r in recs if r["type"] == "call" and r["name"] in ("f0", "f1")]
    # One CALL per exec'd function, each under its own file name.
    assert sorted(calls) == sorted("<g%d>" % i for i in range(200)), (reused, calls[:5])


def test_failed_start_leaves_no_file(tmp):
    # A start refused late (in the allocator hooks' install, after the file
    # was made): another hook (tracemalloc) replaced memtrace's during an
    # earlier recording, so allocation tracking cannot start again.
    p = run_py("""
        import tracemalloc, warnings
        import memtrace
        from memtrace import _memtrace
        memtrace.start("first.trace", mode="alloc", allocations=True)
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            memtrace.stop()
        try:
            _memtrace.start("n.trace", "alloc", allocations=True)
        except RuntimeError as e:
            print("refused")
        try:
            _memtrace.start("m.trace", mode="bogus")
        except ValueError as e:
            print("bogus" in str(e))
        print(memtrace.is_recording())
    """, tmp)
    assert p.stdout.split() == ["refused", "True", "False"]
    assert not (tmp / "n.trace").exists()


def test_poller_callback_kept_when_second_start_fails(tmp):
    p = run_py("""
        import time, memtrace
        from memtrace import _memtrace
        rounds = []
        memtrace.start("p.trace", mode="poll")
        _memtrace._procwatch_start(0.005, callback=lambda *a: rounds.append(a[0]))
        try:
            _memtrace._procwatch_start(0.005, callback=None)
        except RuntimeError as e:
            print("refused")
        n = len(rounds)
        time.sleep(0.1)
        _memtrace._procwatch_stop()
        memtrace.stop()
        print(len(rounds) > n + 3)
    """, tmp)
    assert p.stdout.split() == ["refused", "True"]
