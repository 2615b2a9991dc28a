"""Recording never changes the program and never loses data silently:
descriptors the program closes, a long C call holding the GIL, bursts,
deep stacks, os._exit and exec, bad option values (issue 11)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import check, count, decode, ntype, run_py


def summary(recs):
    s = [r for r in recs if r["type"] == "summary"]
    assert s, "no summary record"
    return s[-1]


def lost_events(recs):
    return sum(r["events"] for r in recs if r["type"] == "lost")


# ---- 1. The program's files are the program's -----------------------------

def test_closerange_never_writes_into_the_programs_file(tmp):
    # A daemon closes every descriptor, then opens its own files: they get
    # the numbers the recorder had. The recorder must notice, never write
    # through them, and keep recording into its own file.
    p = run_py("""
        import os, time, memtrace
        def work(n):
            return sum(i for i in range(n))
        memtrace.start("d.trace", mode="profile", flush_interval=0.05, rss_interval=0.005)
        fds = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                fds[int(fd)] = os.readlink("/proc/self/fd/" + fd)
            except OSError:
                pass  # listdir's own descriptor
        # Open only while the writer writes, and then high.
        print("trace fd", min([fd for fd, target in fds.items() if target.endswith("d.trace")]
                              or [9999]))
        work(1000)
        os.closerange(3, 4096)
        files = [open("data%d.bin" % i, "wb") for i in range(8)]
        for f in files:
            f.write(b"program data")
            f.flush()
        for i in range(20):
            work(2000)
            time.sleep(0.01)
        memtrace.marker("after closerange")
        for f in files:
            f.close()
        memtrace.stop()
        print("done")
    """, tmp)
    assert p.stdout.splitlines()[-1] == "done"
    assert "memtrace" not in p.stderr, p.stderr
    trace_fd = int(p.stdout.split()[2])
    assert trace_fd >= 256, "the trace's descriptor is low: %d" % trace_fd
    for i in range(8):
        assert (tmp / ("data%d.bin" % i)).read_bytes() == b"program data"
    rc, out = check(tmp / "d.trace")
    assert rc == 0, out
    recs = decode(tmp / "d.trace")
    assert any(r["type"] == "marker" and r["text"] == "after closerange" for r in recs)
    assert count(recs, "call", "work") == 21
    # RSS samples kept coming after the sampler's /proc descriptor was closed.
    t_mark = [r["t"] for r in recs if r["type"] == "marker"][-1]
    rss = [r for r in recs if r["type"] == "rss" and r["tid"] == 0]
    assert sum(1 for r in rss if r["t"] > t_mark - 100) >= 1 or len(rss) > 10


def test_trace_file_gone_stops_with_one_warning(tmp):
    p = run_py("""
        import os, memtrace
        def work(n):
            return sum(i for i in range(n))
        memtrace.start("gone.trace", mode="profile", flush_interval=0.05)
        os.closerange(3, 4096)
        os.unlink("gone.trace")
        with open("mine.bin", "wb") as f:
            for i in range(30):
                work(2000)
                f.write(b"x")
                f.flush()
                import time; time.sleep(0.01)
        print(memtrace.is_recording())
        memtrace.stop()
        print("done")
    """, tmp)
    assert p.stdout.split() == ["False", "done"]
    warnings = [l for l in p.stderr.splitlines() if l.startswith("memtrace:")]
    assert len(warnings) == 1 and "descriptor" in warnings[0], p.stderr
    assert (tmp / "mine.bin").read_bytes() == b"x" * 30


# ---- 6. The loss bound holds while a C call holds the GIL ------------------

def test_gil_held_c_call_then_sigkill_loses_only_the_flush_interval(tmp):
    prog = tmp / "hold.py"
    prog.write_text("""
import ctypes, sys, memtrace
def f():
    return 1
memtrace.start("hold.trace", mode="profile", flush_interval=0.2, rss_interval=0.01)
for i in range(5000):
    f()
memtrace.marker("before the C call")
print("ready", flush=True)
# libc sleep through PyDLL: the GIL stays held for the whole call.
ctypes.PyDLL(None).sleep(60)
""")
    proc = subprocess.Popen([sys.executable, str(prog)], cwd=str(tmp), stdout=subprocess.PIPE,
                            universal_newlines=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    recs = decode(tmp / "hold.trace")
    assert count(recs, "call", "f") == 5000
    marks = [r for r in recs if r["type"] == "marker" and r["text"] == "before the C call"]
    assert marks, "the events before the C call were lost"
    # The RSS sampler went on during the call and its samples reached the
    # disk: at least a second's worth after the marker.
    t0 = marks[0]["time_s"]
    late = [r for r in recs if r["type"] == "rss" and r["time_s"] > t0 + 1.0]
    assert late, "no RSS sample more than 1 s after the C call began"


# ---- 7. No silent drops -----------------------------------------------------

@pytest.mark.parametrize("mode", ["alloc", "profile"])
def test_burst_with_a_tiny_pool_loses_nothing(tmp, mode):
    # 2 buffers of 4 KiB against a burst of ~10^6 records: the recording
    # thread waits for the writer instead of dropping.
    p = run_py("""
        import memtrace, sys
        from memtrace import _memtrace
        def f():
            return [None] * 3
        memtrace.start("b.trace", mode=sys.argv[1], allocations=True,
                       buffer_bytes=4096, max_buffers=2, rss_interval=0)
        keep = [f() for i in range(200000)]
        memtrace.stop()
        print(_memtrace._stats()["waits"])
    """, tmp, args=[mode], timeout=300)
    assert "lost" not in p.stderr, p.stderr
    recs = decode(tmp / "b.trace", ["lost", "summary"])
    assert lost_events(recs) == 0
    assert summary(recs)["counters"]["lost_events"] == 0
    assert ntype(tmp / "b.trace", "alloc") >= 200000
    assert int(p.stdout.split()[-1]) > 0  # it did have to wait


def test_any_loss_is_said_at_stop(tmp):
    p = run_py("""
        import memtrace
        from memtrace import _memtrace
        _memtrace._test_set_wait_max(0)  # drop at once, as before backpressure
        def f():
            pass
        memtrace.start("l.trace", mode="fast", buffer_bytes=4096, max_buffers=2,
                       rss_interval=0)
        for i in range(300000):
            f()
        memtrace.stop()
        print(_memtrace._stats()["events_lost"])
    """, tmp, timeout=300)
    lost = int(p.stdout.split()[-1])
    if lost == 0:
        pytest.skip("the writer kept up: nothing was dropped")
    warnings = [l for l in p.stderr.splitlines() if l.startswith("memtrace:")]
    assert len(warnings) == 1, p.stderr
    assert "%d events were lost" % lost in warnings[0]
    assert lost_events(decode(tmp / "l.trace")) == lost


@pytest.mark.parametrize("mode", ["profile", "alloc"])
def test_deep_recursion_loses_nothing(tmp, mode):
    # 30,000 frames: the BLOCK that opens each buffer carries the whole
    # stack (~90 KB), more than a 64 KiB buffer.
    p = run_py("""
        import sys, threading, memtrace
        sys.setrecursionlimit(100000)
        threading.stack_size(512 << 20)
        def down(n):
            x = [n]
            return down(n - 1) + 1 if n else len(x)
        def run():
            memtrace.start("deep.trace", mode=sys.argv[1], allocations=True, rss_interval=0)
            down(30000)
            down(30000)
            memtrace.stop()
        t = threading.Thread(target=run)
        t.start()
        t.join()
        print("done")
    """, tmp, args=[mode], timeout=600)
    assert p.stdout.strip() == "done"
    recs = decode(tmp / "deep.trace")
    assert lost_events(recs) == 0
    assert summary(recs)["counters"]["lost_events"] == 0
    if mode == "profile":
        assert count(recs, "call", "down") == 2 * 30001


# ---- 5. Children and exec -----------------------------------------------------

def test_os_exit_finishes_the_trace(tmp):
    run_py("""
        import os, memtrace
        def work():
            return [i for i in range(100)]
        memtrace.start("x.trace", mode="profile")
        for i in range(10):
            work()
        memtrace.marker("last words")
        os._exit(0)
    """, tmp)
    rc, out = check(tmp / "x.trace")
    assert rc == 0 and "not closed" not in out, out
    recs = decode(tmp / "x.trace")
    assert count(recs, "call", "work") == 10
    assert any(r["type"] == "marker" and r["text"] == "last words" for r in recs)


def test_process_pool_workers_traces_hold_their_work(tmp):
    p = run_py("""
        import concurrent.futures, multiprocessing, os, memtrace
        def square(x):
            return x * x
        if __name__ == "__main__":
            memtrace.start("pool.trace", mode="profile")
            ctx = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as ex:
                print(sum(ex.map(square, range(200))))
            memtrace.stop()
    """, tmp, timeout=120)
    assert p.stdout.strip() == str(sum(x * x for x in range(200)))
    children = [f for f in os.listdir(tmp) if f.startswith("pool.") and f != "pool.trace"]
    assert children, os.listdir(tmp)
    squares = 0
    for name in children:
        rc, out = check(tmp / name)
        assert rc == 0 and "not closed" not in out, (name, out)
        squares += count(decode(tmp / name), "call", "square")
    assert squares == 200


def test_exec_finishes_the_trace_first(tmp):
    run_py("""
        import os, sys, memtrace
        def work():
            return 1
        memtrace.start("e.trace", mode="profile", flush_interval=60)
        for i in range(100):
            work()
        memtrace.marker("before exec")
        os.execv(sys.executable, [sys.executable, "-c", "print('exec ok')"])
    """, tmp)
    rc, out = check(tmp / "e.trace")
    assert rc == 0 and "not closed" not in out, out
    recs = decode(tmp / "e.trace")
    assert count(recs, "call", "work") == 100
    assert any(r["type"] == "marker" and r["text"] == "before exec" for r in recs)


def test_failed_exec_goes_on_recording(tmp):
    p = run_py("""
        import os, memtrace
        def work():
            return 1
        memtrace.start("f.trace", mode="profile")
        work()
        try:
            os.execv("/nonexistent/program", ["x"])
        except OSError as exc:
            print(type(exc).__name__, memtrace.is_recording())
        work()
        print(memtrace.stop())
        print(os._exit.__module__ if hasattr(os._exit, "__module__") else "-", os._exit is __import__("posix")._exit)
    """, tmp)
    lines = p.stdout.splitlines()
    assert lines[0] == "FileNotFoundError True"
    assert lines[1].endswith("f.1.trace")
    assert lines[2].endswith("True")  # os._exit is os's own again after stop
    assert count(decode(tmp / "f.trace"), "call", "work") == 1
    assert count(decode(tmp / "f.1.trace"), "call", "work") == 1


def test_child_traces_go_beside_the_parents_after_chdir(tmp):
    # A relative path is resolved when recording starts. A child forked
    # after the program changed directory, or the file after a failed
    # exec, went into the new directory: a temporary one the program later
    # deletes took the child's trace with it ("could not be opened again").
    os.mkdir(str(tmp / "elsewhere"))
    p = run_py("""
        import os, memtrace
        def work():
            return 1
        memtrace.start("c.trace", mode="profile")
        os.chdir("elsewhere")
        pid = os.fork()
        if pid == 0:
            work()
            os._exit(0)
        os.waitpid(pid, 0)
        try:
            os.execv("/nonexistent/program", ["x"])
        except OSError:
            pass
        work()
        print(memtrace.stop())
        print(pid)
    """, tmp)
    after_exec, pid = p.stdout.split()
    assert sorted(os.listdir(str(tmp / "elsewhere"))) == [], os.listdir(str(tmp / "elsewhere"))
    assert after_exec == str(tmp / "c.1.trace")
    assert count(decode(tmp / ("c.%s.trace" % pid)), "call", "work") == 1
    assert count(decode(tmp / "c.1.trace"), "call", "work") == 1


# ---- 11. API values are checked ---------------------------------------------

@pytest.mark.parametrize("kw,exc,word", [
    (dict(alloc_sample_bytes=2**64 + 5, allocations="sampled"), ValueError, "alloc_sample_bytes"),
    (dict(rss_trigger=2**64 + 1), ValueError, "rss_trigger"),
    (dict(flush_interval=float("inf")), ValueError, "flush_interval"),
    (dict(flush_interval=1e300), ValueError, "flush_interval"),
    (dict(flush_interval=float("nan")), ValueError, "flush_interval"),
    (dict(rss_interval=float("nan")), ValueError, "rss_interval"),
    (dict(rss_interval=float("inf")), ValueError, "rss_interval"),
    (dict(path="a\0b"), ValueError, "path"),
    (dict(path=3), TypeError, "path"),
])
def test_bad_values_name_the_option(tmp, kw, exc, word):
    p = run_py("""
        import memtrace, sys
        kw = eval(sys.argv[1], {"inf": float("inf"), "nan": float("nan")})
        try:
            memtrace.start(**kw)
        except Exception as e:
            print(type(e).__name__, e)
        print(memtrace.is_recording())
    """, tmp, args=[repr(kw)])
    first = p.stdout.splitlines()[0]
    assert first.startswith(exc.__name__ + " ") and word in first, first
    assert p.stdout.splitlines()[-1] == "False"


def test_paths_as_open_takes_them(tmp):
    p = run_py("""
        import os, pathlib, memtrace
        name = b"caf\\xe9-\\xff.trace"          # not UTF-8
        memtrace.start(name, mode="fast")
        memtrace.marker("a\\udc80b")           # a lone surrogate
        print(repr(memtrace.stop()))
        memtrace.start(pathlib.Path("p.trace"), mode="fast")
        memtrace.stop()
        print(sorted(os.listdir(b".")))
    """, tmp)
    assert b"caf\xe9-\xff.trace" in os.listdir(bytes(tmp))
    recs = decode(os.path.join(bytes(tmp), b"caf\xe9-\xff.trace").decode("utf-8", "surrogateescape"))
    assert [r["text"] for r in recs if r["type"] == "marker"] == ["a\\udc80b"]
    assert (tmp / "p.trace").exists()


def test_full_disk_at_start_leaves_no_empty_file(tmp):
    p = run_py("""
        import os, resource, signal, memtrace
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        try:
            memtrace.start("z.trace", mode="fast")
        except OSError as exc:
            print("OSError", exc.errno == __import__("errno").EFBIG)
        print(memtrace.is_recording(), os.path.exists("z.trace"))
    """, tmp)
    assert p.stdout.split() == ["OSError", "True", "False", "False"]


def test_a_child_killed_as_it_starts_leaves_no_empty_file(tmp):
    # A fork child records into a file of its own from its first moment,
    # and a parent may kill it at once (multiprocessing's terminate(), the
    # regression tests' fork children). Killed as soon as its file appears
    # (inotify), it must have left a file that decodes, never an empty one:
    # the file got its name before the header was in it.
    p = run_py("""
        import ctypes, os, select, signal, time, memtrace
        libc = ctypes.CDLL(None, use_errno=True)
        os.mkdir("kids")
        memtrace.start("kids/p.trace", mode="profile")
        watch = libc.inotify_init1(os.O_NONBLOCK)
        assert watch >= 0 and libc.inotify_add_watch(watch, b"kids", 0x100) >= 0  # IN_CREATE
        for i in range(20):
            pid = os.fork()
            if pid == 0:
                time.sleep(10)
                os._exit(0)
            select.select([watch], [], [], 10)   # its file appeared (or 10 s passed)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            try:
                os.read(watch, 65536)
            except BlockingIOError:
                pass
        memtrace.stop()
        print(" ".join(n for n in os.listdir("kids") if n != "p.trace"))
    """, tmp)
    names = p.stdout.split()
    assert len(names) >= 15, names
    for name in names:
        assert os.path.getsize(str(tmp / "kids" / name)) > 0, name
        rc, out = check(tmp / "kids" / name)
        assert rc == 0, (name, out)


def test_start_replaces_a_file_and_writes_through_a_symlink(tmp):
    # As open(O_CREAT | O_TRUNC) would: a file of that name is truncated in
    # place (same inode, mode and links), a symlink's target written, a file
    # the program may not write refused; a new file gets the umask.
    (tmp / "old.trace").write_text("not a trace")
    os.chmod(str(tmp / "old.trace"), 0o640)
    os.link(str(tmp / "old.trace"), str(tmp / "hard.trace"))
    ino = os.stat(str(tmp / "old.trace")).st_ino
    (tmp / "target.trace").write_text("")
    os.symlink("target.trace", str(tmp / "link.trace"))
    (tmp / "ro.trace").write_text("keep")
    os.chmod(str(tmp / "ro.trace"), 0o444)
    p = run_py("""
        import os, memtrace
        os.umask(0o077)
        for name in ("old.trace", "link.trace", "new.trace"):
            memtrace.start(name, mode="profile")
            memtrace.stop()
        try:
            memtrace.start("ro.trace", mode="profile")
            print("started")
        except OSError as e:
            print("refused", e.errno)
    """, tmp)
    st = os.stat(str(tmp / "old.trace"))
    assert (st.st_ino, st.st_mode & 0o777, st.st_nlink) == (ino, 0o640, 2)
    assert check(tmp / "hard.trace")[0] == 0
    assert os.path.islink(str(tmp / "link.trace"))
    assert check(tmp / "target.trace")[0] == 0
    assert os.stat(str(tmp / "new.trace")).st_mode & 0o777 == 0o600
    if os.geteuid() != 0:  # root may write anything
        assert p.stdout.split()[0] == "refused", p.stdout
        assert (tmp / "ro.trace").read_text() == "keep"


def test_full_disk_during_recording_is_not_recording(tmp):
    p = run_py("""
        import resource, signal, time, memtrace
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        def f(i):
            return i
        memtrace.start("full.trace", mode="profile", flush_interval=0.05)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        for i in range(200000):
            f(i)
        time.sleep(0.3)
        for i in range(1000):
            f(i)   # the pending stop runs: hooks come off
        print(memtrace.is_recording(), memtrace.stop())
        memtrace.start("again.trace", mode="fast")
        print(memtrace.is_recording())
    """, tmp, timeout=120)
    assert p.stdout.split() == ["False", "None", "True"], (p.stdout, p.stderr)


def test_daemon_chdir_then_closerange_keeps_recording(tmp):
    # A relative trace path, then chdir("/") and every descriptor closed:
    # the file is found again by its absolute name.
    (tmp / "sub").mkdir()
    p = run_py("""
        import os, memtrace
        def work():
            return 1
        memtrace.start("rel.trace", mode="profile", flush_interval=0.05)
        os.chdir("/")
        os.closerange(3, 4096)
        for i in range(50):
            work()
        print(memtrace.is_recording())
        memtrace.stop()
    """, tmp / "sub")
    assert p.stdout.split() == ["True"], p.stderr
    assert "memtrace" not in p.stderr
    rc, out = check(tmp / "sub" / "rel.trace")
    assert rc == 0 and "not closed" not in out, out
    assert count(decode(tmp / "sub" / "rel.trace"), "call", "work") == 50


def test_execvp_searching_path_is_one_stop(tmp):
    run_py("""
        import os, memtrace
        memtrace.start("run.trace", mode="profile")
        os.environ["PATH"] = "/nonexistent1:/nonexistent2:" + os.environ.get("PATH", "/usr/bin:/bin")
        os.execvp("true", ["true"])
    """, tmp)
    assert sorted(f for f in os.listdir(tmp) if f.endswith(".trace")) == ["run.trace"]
    rc, out = check(tmp / "run.trace")
    assert rc == 0 and "not closed" not in out, out


def test_a_stuck_writer_costs_one_wait_not_one_per_event(tmp):
    # The writer makes no progress for 3 s (blocked on a lock the test
    # holds, as on a hung disk); a thread waits once, then drops and counts
    # until the writer frees a buffer again.
    p = run_py("""
        import memtrace
        from memtrace import _memtrace as M
        def f():
            pass
        M._test_set_wait_max(0.2)
        memtrace.start("stuck.trace", mode="profile", buffer_bytes=4096, max_buffers=4)
        for i in range(1000):
            f()
        stats, out = M._stats, print
        stats()  # every function used below is defined before the writer
        out(end="")  # stops: defining one needs the lock held below
        M._test_hold_lock("defs", 3.0)
        for i in range(100000):
            f()
        s = stats()
        out(s["waits"], s["stalled"])
        memtrace.stop()
        print(M._stats()["events_lost"])
    """, tmp, timeout=120)
    waits, stalled, lost = p.stdout.split()
    assert int(waits) <= 3 and stalled == "True", p.stdout
    assert int(lost) > 0
    assert "%s events were lost" % lost in p.stderr


def test_the_program_sees_no_descriptor_of_ours(tmp):
    # CPython's test_subprocess lists a child's descriptors: recording must
    # not add one (the trace is open only while the writer writes).
    p = run_py("""
        import os, time, memtrace
        before = set(os.listdir("/proc/self/fd"))
        memtrace.start("n.trace", mode="profile", flush_interval=0.5)
        time.sleep(0.1)
        after = set(os.listdir("/proc/self/fd"))
        memtrace.stop()
        print(sorted(after - before))
    """, tmp)
    assert p.stdout.strip() == "[]"


def test_autostart_imports_nothing_the_program_would_not(tmp):
    # With MEMTRACE set, memtrace starts before the program: sys.modules
    # must look as bare apart from memtrace itself and built-in modules
    # (CPython's test_threading checks that threading is not imported).
    code = "import sys; print(sorted(sys.modules))"
    bare = run_py(code, tmp).stdout
    p = run_py("""
        import sys
        import memtrace._autostart
        print(sorted(sys.modules))
    """, tmp, env={"MEMTRACE": str(tmp / "a.trace")})
    extra = set(eval(p.stdout)) - set(eval(bare))
    assert extra <= {"memtrace", "memtrace._autostart", "memtrace._memtrace", "atexit",
                     "math"}, sorted(extra)
    assert (tmp / "a.trace").exists()


def test_fork_from_a_thread_whose_function_returns(tmp):
    # In the child the forking thread is the only one; when its function
    # returns the process ends, as it would bare (the recorder's threads must
    # not keep it alive).
    p = run_py("""
        import os, sys, threading, memtrace
        memtrace.start("ft.trace", mode="alloc", allocations=True)
        def func():
            pid = os.fork()
            if pid == 0:
                print("child", threading.main_thread().name)
                sys.stdout.flush()
            else:
                _, status = os.waitpid(pid, 0)
                print("status", status)
        th = threading.Thread(target=func)
        th.start()
        th.join()
        memtrace.stop()
    """, tmp, timeout=60)
    lines = p.stdout.splitlines()
    assert "status 0" in lines and any(l.startswith("child Thread-1") for l in lines), p.stdout
    children = [f for f in os.listdir(tmp) if f.startswith("ft.") and f != "ft.trace"]
    assert len(children) == 1
    rc, out = check(tmp / children[0])
    assert rc == 0 and "not closed" not in out, out


def test_a_subinterpreter_importing_memtrace_leaves_the_recording_alone(tmp):
    # The autostart .pth runs in every interpreter: a sub-interpreter that
    # imports memtrace (and exits, running its atexit) must neither stop nor
    # restart the main interpreter's recording.
    pytest.importorskip("_testcapi")
    p = run_py("""
        import _testcapi, memtrace
        def work():
            return 1
        memtrace.start("si.trace", mode="fast")
        _testcapi.run_in_subinterp(
            "import memtrace; print('sub', memtrace.is_recording()); memtrace.stop()")
        work()
        print("main", memtrace.is_recording())
        memtrace.stop()
    """, tmp)
    assert p.stdout.split() == ["sub", "False", "main", "True"], p.stdout
    assert count(decode(tmp / "si.trace"), "call", "work") == 1


@pytest.mark.parametrize("mode", ["profile", "trace", "fast", "alloc"])
def test_a_recursion_that_runs_bare_runs_recorded(tmp, mode):
    # 3,000 frames with a raised recursion limit, in the main thread: fine
    # bare on every version. Under a PEP 523 function CPython 3.12 runs each
    # call on the C stack and raised RecursionError some 800 frames deep.
    p = run_py("""
        import sys, memtrace
        sys.setrecursionlimit(10000)
        def down(n):
            return down(n - 1) + 1 if n else 0
        memtrace.start("r.trace", mode=sys.argv[1])
        print(down(3000))
        memtrace.stop()
    """, tmp, args=[mode])
    assert p.stdout.strip() == "3000"
    if mode != "alloc":
        assert count(decode(tmp / "r.trace"), "call", "down") == 3001


@pytest.mark.parametrize("mode", ["profile", "alloc"])
def test_fork_warns_as_bare(tmp, mode):
    # 3.12+ warns in the parent of a fork when other threads run: the
    # recorder's own threads must not make it warn (-W error: an exception).
    p = run_py("""
        import os, sys, warnings, memtrace
        warnings.simplefilter("always")
        memtrace.start("w.trace", mode=sys.argv[1], allocations=True)
        def work():
            return [0] * 10
        for i in range(3):
            work()
            pid = os.fork()
            if pid == 0:
                work()
                os._exit(0)
            os.waitpid(pid, 0)
        work()
        memtrace.stop()
        print("ok")
    """, tmp, args=[mode])
    assert p.stdout.strip() == "ok" and "multi-threaded" not in p.stderr, p.stderr
    rc, out = check(tmp / "w.trace")
    assert rc == 0 and "not closed" not in out, out
    assert count(decode(tmp / "w.trace"), "call", "work") == (4 if mode == "profile" else 0) or \
        mode == "alloc"
    kids = [f for f in os.listdir(tmp) if f.startswith("w.") and f != "w.trace"]
    assert len(kids) == 3
    for k in kids:
        assert check(tmp / k)[0] == 0


@pytest.mark.parametrize("mode,alloc", [("profile", False), ("fast", False),
                                        ("alloc", "sampled"), ("alloc", "exact")])
def test_fork_from_a_thread_as_the_main_thread_ends(tmp, mode, alloc):
    # CPython's test_threading test_3_join_in_forked_from_thread: the main
    # thread ends right after starting a thread that forks; the child starts
    # a thread and the forking thread's function returns. Bare, the fork
    # happens before the main thread starts finalizing (the forking thread
    # keeps the GIL), and the child ends when its last thread does. Recorded:
    # (a) 3.12+ pausing the recorder's threads released the GIL, the main
    # thread began finalizing and the child could not start a thread;
    # (b) sampled mode: the child's thread never recorded anything, so its
    # exit was not seen and the recorder's threads kept the child alive.
    p = run_py("""
        import os, sys, time, threading, memtrace
        memtrace.start("j.trace", mode=sys.argv[1],
                       allocations=(sys.argv[2] if sys.argv[2] != "False" else False))
        def joiningfunc(mainthread):
            mainthread.join()
            print("end of thread")
            sys.stdout.flush()
        main_thread = threading.current_thread()
        def worker():
            childpid = os.fork()
            if childpid != 0:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    pid, status = os.waitpid(childpid, os.WNOHANG)
                    if pid:
                        print("child status", status)
                        break
                    time.sleep(0.01)
                else:
                    os.kill(childpid, 9)
                    os.waitpid(childpid, 0)
                    print("child hung")
                sys.stdout.flush()
                return
            t = threading.Thread(target=joiningfunc, args=(main_thread,))
            print("end of main")
            t.start()
            t.join()
        w = threading.Thread(target=worker)
        w.start()
    """, tmp, args=[mode, str(alloc)], timeout=90)
    lines = p.stdout.splitlines()
    assert sorted(lines) == ["child status 0", "end of main", "end of thread"], (p.stdout, p.stderr)
    assert check(tmp / "j.trace")[0] == 0


@pytest.mark.parametrize("mode", ["profile", "alloc"])
def test_no_descriptor_of_ours_even_for_a_moment(tmp, mode):
    # The sampler opens /proc/self/statm for each sample and the writer the
    # trace file for each cycle: in threads with a descriptor table of their
    # own (none of the program's descriptors in it), so that a program
    # scanning its descriptors (CPython's fd_status.py, test_subprocess
    # test_pass_fds) never sees one of ours, even for a moment.
    p = run_py("""
        import os, sys, time, memtrace
        memtrace.start("s.trace", mode=sys.argv[1], rss_interval=0.001, flush_interval=0.01)
        [0] * 1000
        time.sleep(0.1)
        me = str(os.getpid())
        own = 0
        for tid in os.listdir("/proc/self/task"):
            if tid == me:
                continue
            fds = os.listdir("/proc/self/task/%s/fd" % tid)
            own += "0" not in fds  # the program's stdin is not in its table
        memtrace.stop()
        print(own)
    """, tmp, args=[mode])
    assert p.stdout.split() == ["2"], p.stdout  # the writer and the sampler
    assert "memtrace" not in p.stderr, p.stderr
    assert check(tmp / "s.trace")[0] == 0


@pytest.mark.parametrize("mode,alloc", [("alloc", "exact"), ("alloc", "sampled"),
                                        ("profile", False), ("fast", False)])
def test_naming_a_thread_runs_no_importlib_code(tmp, mode, alloc):
    # A thread's name is read from threading._active. Looked up with
    # PyImport_GetModule, a threading still being imported is "ensured
    # initialized" by importlib._bootstrap._lock_unlock_module: Python code
    # run from inside a hook (an allocation, a call), between any two
    # bytecodes of the program. In 3.10's _ModuleLock.acquire that nested
    # acquire deleted the outer one's _blocking_on entry: a KeyError in an
    # import that runs bare (a multiprocessing resource tracker starting
    # under MEMTRACE, CPython's test_multiprocessing_fork). Here threading
    # looks half-imported, and a thread threading does not know (so its
    # name is looked up again and again) allocates and calls.
    p = run_py("""
        import sys, types, _thread, time, memtrace
        import _frozen_importlib as bootstrap
        memtrace.start("n.trace", mode=%r, allocations=%r)
        real = bootstrap._lock_unlock_module
        calls = []
        def spy(name):
            calls.append(name)
        saved = sys.modules.pop("threading", None)
        half = types.ModuleType("threading")
        half.__spec__ = types.SimpleNamespace(_initializing=True)
        sys.modules["threading"] = half
        bootstrap._lock_unlock_module = spy
        done = []
        def work():
            def f(i):
                return str(i) * 3
            done.append([f(i) for i in range(50000)])
        _thread.start_new_thread(work, ())
        while not done:
            time.sleep(0.01)
        bootstrap._lock_unlock_module = real
        if saved is not None:
            sys.modules["threading"] = saved
        else:
            del sys.modules["threading"]
        memtrace.stop()
        print("importlib calls", len(calls))
    """ % (mode, alloc), tmp)
    assert "importlib calls 0" in p.stdout, p.stdout + p.stderr
    code, out = check(str(tmp / "n.trace"))
    assert code == 0, out


def test_the_writers_warning_reaches_a_socket_stderr(tmp):
    # The writer has a descriptor table of its own and reaches stderr
    # through /proc/self/fd/2, which cannot open a socket (journald gives
    # services one): its warning is then written by the stopping thread.
    import socket
    (tmp / "gone").mkdir()
    code = (tmp / "prog.py")
    code.write_text(
        "import memtrace, shutil, time\n"
        "memtrace.start('gone/x.trace', mode='profile', flush_interval=0.01)\n"
        "shutil.rmtree('gone')\n"
        "def f(): return 1\n"
        "for i in range(20000): f()\n"
        "time.sleep(0.2)\n"
        "for i in range(20000): f()\n"
        "memtrace.stop()\n")
    a, b = socket.socketpair()
    p = subprocess.Popen([sys.executable, str(code)], cwd=str(tmp), stderr=b.fileno())
    b.close()
    assert p.wait(timeout=60) == 0
    a.settimeout(5)
    data = b""
    while True:
        d = a.recv(65536)
        if not d:
            break
        data += d
    text = data.decode()
    assert text.count("memtrace: recording stopped") == 1, text
    assert "could not be opened again" in text, text
