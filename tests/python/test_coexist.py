"""memtrace next to other users of the same interpreter hooks: tracemalloc
(allocator hooks), cProfile on sys.monitoring (3.12+), PEP 523 frame
evaluation functions, sys.settrace/sys.setprofile and threading's hooks.
What was installed before a recording must be there again after it, and
what another tool installed during it must not be torn down by stop().
The program sees the hooks it would see bare, its debugger and tracers get
their events, and their save/clear/restore idiom (doctest, pdb) does not end
the recording."""

import os
import sys

import pytest

from conftest import check, count, decode, replay_stacks, run_py


def test_allocator_replaced_during_recording_is_left_alone(tmp):
    # tracemalloc wraps the allocators first, memtrace wraps tracemalloc's,
    # then tracemalloc.stop() puts back the allocators it found: memtrace's
    # stop() must not re-install tracemalloc's (stopped) hooks.
    p = run_py("""
        import tracemalloc, warnings, memtrace
        tracemalloc.start()
        memtrace.start("t.trace", allocations=True)
        x = [str(i) for i in range(1000)]
        tracemalloc.stop()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            memtrace.stop()
        y = [str(i) * 3 for i in range(100000)]
        print(len(y), [str(m.category.__name__) for m in w])
    """, tmp, check=False)
    assert p.returncode == 0, p.stderr
    n, cats = p.stdout.split(" ", 1)
    assert n == "100000"
    assert "RuntimeWarning" in cats
    assert check(tmp / "t.trace")[0] == 0


def test_allocator_hooks_restored_when_still_ours(tmp):
    # The ordinary case: nothing else touched the allocators.
    p = run_py("""
        import tracemalloc, warnings, memtrace
        warnings.simplefilter("error")
        tracemalloc.start()
        memtrace.start("t.trace", mode="alloc")
        x = [str(i) for i in range(1000)]
        memtrace.stop()
        snap = tracemalloc.take_snapshot()   # tracemalloc's hooks are back
        tracemalloc.stop()
        print("ok")
    """, tmp)
    assert p.stdout.strip() == "ok"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="cProfile uses sys.monitoring from 3.12")
def test_fast_mode_leaves_cprofile_alone(tmp):
    p = run_py("""
        import cProfile, pstats, sys, memtrace
        def work():
            return sum(range(10))
        prof = cProfile.Profile()
        prof.enable()
        memtrace.start("f.trace", mode="fast")
        for _ in range(5):
            work()
        memtrace.stop()
        work()
        prof.disable()
        st = pstats.Stats(prof)
        calls = [v[1] for k, v in st.stats.items() if k[2] == "work"]
        print(calls[0] if calls else 0)
        print([i for i in range(6) if sys.monitoring.get_tool(i) == "memtrace"])
    """, tmp)
    ncalls, tools = p.stdout.split()
    assert int(ncalls) == 6
    assert tools == "[]"  # memtrace gave back what it took, and only that
    assert check(tmp / "f.trace")[0] == 0


@pytest.mark.skipif(sys.version_info < (3, 12), reason="fast mode uses sys.monitoring from 3.12")
def test_fast_mode_monitoring_tool_ids(tmp):
    p = run_py("""
        import sys, memtrace
        mon = sys.monitoring
        def f():
            return 1
        # memtrace takes a free id, and gives back only its own.
        memtrace.start("a.trace", mode="fast")
        mine = [i for i in range(6) if mon.get_tool(i) == "memtrace"]
        f(); f()
        memtrace.stop()
        print(mine, [i for i in range(6) if mon.get_tool(i) == "memtrace"])
        # No free id: start fails, and the others' ids are untouched.
        for i in (2, 3, 4, 5):
            mon.use_tool_id(i, "other%d" % i)
        try:
            memtrace.start("b.trace", mode="fast")
            print("started")
        except RuntimeError as e:
            print("refused")
        print([mon.get_tool(i) for i in (2, 3, 4, 5)], memtrace.is_recording())
    """, tmp)
    lines = p.stdout.splitlines()
    # Not PROFILER_ID (2), which cProfile wants; 3.13+: and a companion id
    # (see mt_hooks.c: pdb's opcode stepping under two tools).
    assert lines[0] == ("[3, 4] []" if sys.version_info >= (3, 13) else "[3] []")
    assert lines[1] == "refused"
    assert lines[2] == "['other2', 'other3', 'other4', 'other5'] False"
    assert count(decode(tmp / "a.trace"), "call", "f") == 2
    assert not (tmp / "b.trace").exists()  # a failed start leaves no file


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fast mode uses sys.monitoring from 3.12")
def test_fast_mode_restores_eval_frame(tmp):
    p = run_py("""
        import memtrace
        from memtrace import _memtrace
        print(_memtrace._test_eval_frame_is_default())
        memtrace.start("f.trace", mode="fast")
        print(_memtrace._test_eval_frame_is_default())
        memtrace.stop()
        print(_memtrace._test_eval_frame_is_default())
    """, tmp)
    assert p.stdout.split() == ["True", "False", "True"]


def test_profile_and_trace_functions_restored(tmp):
    p = run_py("""
        import sys, threading, memtrace
        def prof(frame, event, arg): pass
        def tracer(frame, event, arg): return tracer
        def thread_prof(*a): pass
        def thread_trace(*a): pass
        def f(): return 1
        out = []
        for mode in ("trace", "profile"):
            sys.setprofile(prof)
            sys.settrace(tracer)
            threading.setprofile(thread_prof)
            threading.settrace(thread_trace)
            memtrace.start(mode + ".trace", mode=mode)
            # trace mode without c_calls does not touch the profile function
            during = sys.getprofile() is prof
            f()
            memtrace.stop()
            out.append("%s %s %s %s %s %s" % (
                mode, during, sys.getprofile() is prof, sys.gettrace() is tracer,
                threading._profile_hook is thread_prof, threading._trace_hook is thread_trace))
            sys.settrace(None)
            sys.setprofile(None)
        print("\\n".join(out))
    """, tmp)
    lines = p.stdout.splitlines()
    assert lines[0] == "trace True True True True True"
    # 3.12+ records through sys.monitoring: the program's profile function
    # stays; before, profile mode replaces it while recording.
    during = sys.version_info >= (3, 12)
    assert lines[1] == "profile %s True True True True" % during
    for mode in ("trace", "profile"):
        assert count(decode(tmp / (mode + ".trace")), "call", "f") == 1


EVALCOUNT_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE
typedef struct _PyInterpreterFrame fr;
#else
typedef PyFrameObject fr;
#endif
static long count;
static PyObject *ev(PyThreadState *ts, fr *f, int t) {
    count++;
    return _PyEval_EvalFrameDefault(ts, f, t);
}
static PyObject *install(PyObject *s, PyObject *a) {
    (void)s, (void)a;
    _PyInterpreterState_SetEvalFrameFunc(PyInterpreterState_Get(), ev);
    Py_RETURN_NONE;
}
static PyObject *installed(PyObject *s, PyObject *a) {
    (void)s, (void)a;
    return PyBool_FromLong(_PyInterpreterState_GetEvalFrameFunc(PyInterpreterState_Get()) == ev);
}
static PyObject *get(PyObject *s, PyObject *a) {
    (void)s, (void)a;
    return PyLong_FromLong(count);
}
static PyMethodDef m[] = {{"install", install, METH_NOARGS, NULL},
                          {"installed", installed, METH_NOARGS, NULL},
                          {"count", get, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "evalcount", NULL, -1, m,
                               NULL, NULL, NULL, NULL};
PyMODINIT_FUNC PyInit_evalcount(void) { return PyModule_Create(&d); }
"""


def build_evalcount(tmp):
    """A tiny PEP 523 extension counting the frames it evaluates (as a
    debugger's or a JIT's evaluation function would see them)."""
    import shutil
    import subprocess
    import sysconfig
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        pytest.skip("no C compiler")
    src = tmp / "evalcount.c"
    src.write_text(EVALCOUNT_C)
    out = tmp / ("evalcount" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-I", sysconfig.get_paths()["include"],
                    str(src), "-o", str(out)], check=True)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="fast mode uses sys.monitoring from 3.12")
def test_fast_mode_chains_to_an_installed_eval_frame(tmp):
    build_evalcount(tmp)
    p = run_py("""
        import sys, evalcount, memtrace
        def f():
            return 1
        evalcount.install()
        memtrace.start("a.trace", mode="fast")
        c0 = evalcount.count()
        for _ in range(100):
            f()
        during = evalcount.count() - c0
        memtrace.stop()
        print(during >= 100, evalcount.installed())
        # One installed during the recording stays installed after it; fast
        # mode then refuses to start again (the two could call each other).
        memtrace.start("b.trace", mode="fast")
        evalcount.install()
        memtrace.stop()
        print(evalcount.installed())
        try:
            memtrace.start("c.trace", mode="fast")
            print("started")
        except RuntimeError:
            print("refused")
        c0 = evalcount.count()
        f()
        print(evalcount.count() - c0 >= 1)
    """, tmp, env={"PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])})
    assert p.stdout.split() == ["True", "True", "True", "refused", "True"]
    assert count(decode(tmp / "a.trace"), "call", "f") == 100


# "trace+c" is trace mode with c_calls=True.
ALL_MODES = ["profile", "trace", "trace+c", "fast", "alloc"]
HOOK_MODES = ["profile", "trace", "trace+c"]

START = """
import sys, memtrace
mode, _, c = sys.argv[1].partition("+")
memtrace.start("t.trace", mode=mode, c_calls=True if c else None)
"""


def calls(recs, name):
    return count(recs, "call", name)


def markers(recs):
    return [r.get("text", "") for r in recs if r["type"] == "marker"]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_program_sees_bare_hooks(tmp, mode):
    # What sys and threading report, in the thread that started recording
    # and in threads started after: what they report bare (all None).
    p = run_py(START + """
import threading
def report(where):
    print(where, sys.gettrace(), sys.getprofile(), threading._trace_hook,
          threading._profile_hook,
          getattr(threading, "gettrace", lambda: None)(),
          getattr(threading, "getprofile", lambda: None)())
report("main")
t = threading.Thread(target=report, args=("thread",))
t.start(); t.join()
memtrace.stop()
report("after")
""", tmp, args=[mode])
    lines = p.stdout.splitlines()
    assert lines == ["%s None None None None None None" % w for w in ("main", "thread", "after")]
    assert check(tmp / "t.trace")[0] == 0


IDIOM = START + """
def f():
    return 1
old = sys.gettrace()            # doctest's and pdb's save/clear/restore
sys.settrace(None)
sys.settrace(old)
oldp = sys.getprofile()
sys.setprofile(None)
sys.setprofile(oldp)
for _ in range(7):
    f()
memtrace.stop()
"""


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_save_clear_restore_idiom_keeps_recording(tmp, mode):
    p = run_py(IDIOM, tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    assert calls(recs, "f") == 7
    assert count(recs, "return", "f") == 7
    if mode != "profile":
        assert any(r["type"] == "line" for r in recs)
    assert check(tmp / "t.trace")[0] == 0
    assert "memtrace" not in p.stderr  # nothing was displaced


def replay(records):
    """Yield (record, stack) for each alloc record: the names of the
    thread's frames, outermost first, as a reader tracks them."""
    for r, frames, _ in replay_stacks(records, ("alloc",)):
        yield r, [f["qualname"] for f in frames]


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_allocations_after_the_idiom_are_charged_to_the_program(tmp, mode):
    run_py(START.replace('c_calls=True if c else None', 'c_calls=True if c else None, '
                         'allocations=True') + """
def make():
    return bytearray(54321)
old = sys.gettrace(); sys.settrace(None); sys.settrace(old)
oldp = sys.getprofile(); sys.setprofile(None); sys.setprofile(oldp)
keep = [make() for _ in range(3)]
memtrace.stop()
""", tmp, args=[mode])
    stacks = [s for r, s in replay(decode(tmp / "t.trace")) if r["size"] == 54322]
    assert len(stacks) == 3
    for s in stacks:
        assert "make" in s and "setprofile" not in s and "settrace" not in s, s


def test_program_tracer_gets_its_events_and_recording_resumes(tmp):
    # The program's own trace and profile functions, set during a recording,
    # get every event they would get bare; recording goes on (3.12+) or
    # pauses and resumes (3.9-3.11: the thread has one slot per kind),
    # loudly, and the trace stays consistent.
    code = START + """
def g():
    return 2
def f():
    return 1
seen = []
def tracer(frame, event, arg):
    if frame.f_code.co_name == "g":
        seen.append("t-" + event)
    return tracer
def prof(frame, event, arg):
    if frame.f_code.co_name == "g":
        seen.append("p-" + event)
sys.settrace(tracer)
g()
sys.settrace(None)
sys.setprofile(prof)
g()
sys.setprofile(None)
for _ in range(5):
    f()
memtrace.stop()
print(" ".join(seen))
"""
    for mode in HOOK_MODES:
        d = tmp / mode.replace("+", "_")
        d.mkdir()
        p = run_py(code, d, args=[mode])
        assert p.stdout.split() == ["t-call", "t-line", "t-return", "p-call", "p-return"], mode
        recs = decode(d / "t.trace")
        assert calls(recs, "f") == 5, mode
        assert check(d / "t.trace")[0] == 0, mode
        notes = [m for m in markers(recs) if m.startswith("memtrace: recording of")]
        if sys.version_info >= (3, 12):
            assert calls(recs, "g") == 2, mode  # both tools see everything
            assert notes == [] and "memtrace" not in p.stderr
        else:
            # Paused once per displaced slot, resumed as often, from where.
            n = {"profile": 1, "trace": 1, "trace+c": 2}[mode]
            assert len([m for m in notes if "paused" in m]) == n, notes
            assert len([m for m in notes if "resumed" in m]) == n, notes
            assert all("prog.py:" in m for m in notes), notes
            # Resumed before stop: nothing on the program's stderr (pdb's
            # tests read it); the markers say it.
            assert "memtrace" not in p.stderr, p.stderr


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+: sys.monitoring, no pause")
def test_a_pause_lasting_until_stop_is_said_on_stderr(tmp):
    p = run_py(START + """
def tracer(frame, event, arg):
    return tracer
def f():
    return 1
f()
sys.settrace(tracer)
f()
memtrace.stop()
sys.settrace(None)
""", tmp, args=["trace"])
    assert p.stderr.count("memtrace: recording of thread") == 1, p.stderr
    assert "still paused when the recording stopped" in p.stderr, p.stderr
    assert "prog.py:" in p.stderr


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_line_events_after_the_program_clears_the_trace_function(tmp, mode):
    # The program clears the trace function (memtrace's, on 3.9-3.11), then
    # installs a tracer that jumps (frame.f_lineno from a line event, as a
    # debugger's "jump" does, test_sys_settrace's JumpTestCase), and clears
    # it again. Its tracer gets the line events and jumps as bare, and the
    # recording gets the line events after it. 3.9 counts the threads with
    # a trace function and looks for line events only while the count is
    # not 0: memtrace's function put back uncounted made it 0, and no line
    # event came any more.
    code = """
import sys
if sys.argv[1] != "bare":
    import memtrace
    mode, _, c = sys.argv[1].partition("+")
    memtrace.start("t.trace", mode=mode, c_calls=True if c else None)
def func(out):
    out.append(1)
    out.append(2)
    out.append(3)
first = func.__code__.co_firstlineno
seen = []
def tracer(frame, event, arg):
    if frame.f_code is func.__code__:
        seen.append((event, frame.f_lineno - first))
        if event == "line" and frame.f_lineno == first + 1:
            frame.f_lineno = first + 3
    return tracer
def after():
    x = 1
    y = 2
    return x + y
sys.settrace(None)
sys.settrace(tracer)
out = []
func(out)
sys.settrace(None)
print(out, seen)
after()
"""
    bare = run_py(code, tmp, args=["bare"])
    assert bare.stdout.startswith("[3] ")
    p = run_py(code, tmp, args=[mode])
    assert p.stdout == bare.stdout
    assert "memtrace" not in p.stderr, p.stderr
    if mode != "profile":
        recs = decode(tmp / "t.trace")
        assert calls(recs, "after") == 1
        i = next(i for i, r in enumerate(recs) if r["type"] == "call" and r.get("name") == "after")
        j = next(j for j in range(i, len(recs)) if recs[j]["type"] == "return")
        assert count(recs[i:j], "line") == 3, recs[i:j]
    assert check(tmp / "t.trace")[0] == 0


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_pdb_works_and_recording_goes_on(tmp, mode):
    p = run_py(START + """
import io, pdb
def f():
    return 1
def g():
    return 2
out = io.StringIO()
dbg = pdb.Pdb(stdin=io.StringIO("step\\nstep\\ncontinue\\n"), stdout=out)
dbg.set_trace()
g()
for _ in range(5):
    f()
memtrace.stop()
print(out.getvalue().count("(Pdb)"), "--Call--" in out.getvalue())
""", tmp, args=[mode])
    assert p.stdout.split() == ["3", "True"]  # pdb stepped into g
    recs = decode(tmp / "t.trace")
    assert calls(recs, "f") == 5
    assert check(tmp / "t.trace")[0] == 0
    # pdb's own frames (which report no events while it runs as the tracer)
    # are not left on the stack when recording resumes from inside it.
    assert stacks_at_calls(recs, "f") == [["<module>", "f"]] * 5


def stacks_at_calls(records, name):
    """The stack (names, outermost first) at each call of name."""
    names, stacks, out = {}, {}, []
    for r in records:
        t = r["type"]
        if t == "function":
            names[r["fid"]] = r["qualname"]
        elif t == "block":
            stacks[r["tid"]] = list(r["stack"])
        elif t in ("call", "ccall"):
            s = stacks.setdefault(r["tid"], [])
            s.append(r["fid"])
            if r.get("name") == name:
                out.append([names.get(f, "?") for f in s])
        elif t in ("return", "creturn", "craise", "unwind"):
            s = stacks.setdefault(r["tid"], [])
            if s:
                s.pop()
    return out


DOCMOD = '''
"""
>>> double(21)
42
"""
def double(x):
    """
    >>> double(2)
    4
    >>> [double(i) for i in range(3)]
    [0, 2, 4]
    """
    return 2 * x
'''


@pytest.mark.parametrize("mode", ALL_MODES)
def test_doctest_under_every_mode(tmp, mode):
    (tmp / "docmod.py").write_text(DOCMOD)
    p = run_py(START + """
import doctest, docmod
def after():
    return 1
r = doctest.testmod(docmod)
for _ in range(4):
    after()
memtrace.stop()
print(r.failed, r.attempted)
""", tmp, args=[mode], env={"PYTHONPATH": os.pathsep.join(
        [str(tmp), os.environ.get("PYTHONPATH", "")])})
    assert p.stdout.split() == ["0", "3"]
    recs = decode(tmp / "t.trace")
    if mode != "alloc":  # alloc mode writes stacks at allocations only
        assert calls(recs, "after") == 4
        assert calls(recs, "double") == 5
    assert check(tmp / "t.trace")[0] == 0


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_resumed_recording_has_the_right_stack(tmp, mode):
    # Paused by the program's tracer at one depth, resumed at another: the
    # frames that returned meanwhile get their return, the frames that
    # began meanwhile their call, and the trace stays consistent.
    run_py(START + """
def tracer(frame, event, arg):
    return tracer
def f():
    return 1
def pauser():
    sys.settrace(tracer)      # paused inside pauser, which returns meanwhile
def inner():
    sys.settrace(None)        # resumed two frames deeper than the pause
    for _ in range(3):
        f()
def outer():
    inner()
pauser()
outer()
sys.settrace(tracer)
sys.settrace(None)            # paused and resumed at the same place
f()
memtrace.stop()
""", tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    assert check(tmp / "t.trace")[0] == 0
    assert calls(recs, "f") == 4
    for name in ("pauser", "outer", "inner"):
        assert calls(recs, name) == 1, name
        assert count(recs, "return", name) == 1, name
    # No return without its call, as a reader tracks the stack.
    stacks = {}
    for r in recs:
        if r["type"] == "block":
            stacks[r["tid"]] = len(r["stack"])
        elif r["type"] in ("call", "ccall"):
            stacks[r["tid"]] = stacks.get(r["tid"], 0) + 1
        elif r["type"] in ("return", "creturn", "craise", "unwind"):
            stacks[r["tid"]] = stacks.get(r["tid"], 0) - 1
            assert stacks[r["tid"]] >= 0, r


@pytest.mark.skipif(sys.version_info[:2] == (3, 11),
                    reason="3.11 puts memtrace's function back at the next sys.settrace call only")
@pytest.mark.parametrize("mode", ["profile", "trace"])
def test_clearing_through_sys_own_function_does_not_end_recording(tmp, mode):
    # A reference to sys's own settrace/setprofile, taken before recording
    # began, bypasses memtrace's: on 3.9/3.10 the hook comes back at the
    # thread's next Python call; 3.12+ records through sys.monitoring.
    run_py("""
import sys
from sys import settrace, setprofile
import memtrace
def f():
    return 1
memtrace.start("t.trace", mode=sys.argv[1])
settrace(None)
setprofile(None)
for _ in range(5):
    f()
memtrace.stop()
""", tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    assert calls(recs, "f") == 5
    assert check(tmp / "t.trace")[0] == 0


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_sys_settrace_looks_like_its_own_while_recording(tmp, mode):
    # 3.9-3.11 put look-alikes of sys.settrace/sys.setprofile in place while
    # recording (see README): the same name, module, self and documentation,
    # and sys's own again after stop().
    p = run_py("""
import sys, memtrace
mode, _, c = sys.argv[1].partition("+")
def describe(fn):
    return (repr(fn), fn.__name__, fn.__qualname__, fn.__module__, fn.__self__ is sys,
            fn.__doc__, fn.__text_signature__)
own = [sys.settrace, sys.setprofile]
before = [describe(fn) for fn in own]
memtrace.start("u.trace", mode=mode, c_calls=True if c else None)
during = [describe(fn) for fn in (sys.settrace, sys.setprofile)]
memtrace.stop()
print(before == during, [sys.settrace, sys.setprofile] == own)
""", tmp, args=[mode])
    assert p.stdout.split() == ["True", "True"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring from 3.12")
@pytest.mark.parametrize("mode", ["profile", "trace"])
def test_monitoring_tool_id_of_profile_and_trace_modes(tmp, mode):
    # A free id of 3-5 (never cProfile's 2), given back at stop; none free:
    # start() refuses and leaves the others' ids alone.
    p = run_py("""
        import cProfile, pstats, sys, memtrace
        mon = sys.monitoring
        def f():
            return 1
        prof = cProfile.Profile()
        prof.enable()                    # PROFILER_ID, while memtrace records
        memtrace.start("a.trace", mode=sys.argv[1])
        mine = [i for i in range(6) if mon.get_tool(i) == "memtrace"]
        for _ in range(6):
            f()
        memtrace.stop()
        prof.disable()
        st = pstats.Stats(prof)
        print(mine, [i for i in range(6) if mon.get_tool(i) == "memtrace"],
              [v[1] for k, v in st.stats.items() if k[2] == "f"])
        for i in (3, 4, 5):
            mon.use_tool_id(i, "other%d" % i)
        try:
            memtrace.start("b.trace", mode=sys.argv[1])
            print("started")
        except RuntimeError:
            print("refused")
        print([mon.get_tool(i) for i in (3, 4, 5)], memtrace.is_recording())
    """, tmp, args=[mode])
    lines = p.stdout.splitlines()
    assert lines[0] == ("[3, 4] [] [6]" if sys.version_info >= (3, 13) else "[3] [] [6]")
    assert lines[1] == "refused"
    assert lines[2] == "['other3', 'other4', 'other5'] False"
    assert count(decode(tmp / "a.trace"), "call", "f") == 6
    assert not (tmp / "b.trace").exists()


@pytest.mark.parametrize("mode", ALL_MODES)
def test_python_m_doctest_under_the_launcher(tmp, mode):
    # As a user would: the same output and status as bare, and the calls
    # made after doctest cleared and restored the trace function recorded.
    import subprocess
    (tmp / "docmod.py").write_text(DOCMOD + "\nif __name__ == '__main__':\n"
                                   "    import doctest\n"
                                   "    print(doctest.testmod())\n"
                                   "    for i in range(3):\n"
                                   "        double(i)\n")
    m, _, c = mode.partition("+")
    opts = ["--mode", m] + (["--c-calls"] if c else [])

    def run(args):
        return subprocess.run([sys.executable] + args, cwd=str(tmp), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    bare = run(["docmod.py"])
    rec = run(["-m", "memtrace", "run", "-q", "-o", "t.trace"] + opts + ["docmod.py"])
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    assert "failed=0, attempted=3" in bare.stdout
    recs = decode(tmp / "t.trace")
    if mode != "alloc":
        assert calls(recs, "double") == 5 + 3
    assert check(tmp / "t.trace")[0] == 0


def test_cprofile_during_a_profile_recording(tmp):
    # cProfile sets its profile function from C. It gets its events as it
    # would bare; memtrace records throughout (3.12+: sys.monitoring),
    # resumes after cProfile lets go (3.9/3.10), or says at stop that the
    # thread's events were lost (3.11).
    p = run_py("""
import cProfile, pstats, memtrace
def f():
    return 1
memtrace.start("t.trace", mode="profile")
prof = cProfile.Profile()
prof.enable()
f()
prof.disable()
for _ in range(3):
    f()
memtrace.stop()
print([v[1] for k, v in pstats.Stats(prof).stats.items() if k[2] == "f"])
""", tmp)
    assert p.stdout.split() == ["[1]"]
    recs = decode(tmp / "t.trace")
    assert check(tmp / "t.trace")[0] == 0
    if sys.version_info >= (3, 12):
        assert calls(recs, "f") == 4
    elif sys.version_info < (3, 11):
        assert calls(recs, "f") == 3
        assert any("resumed" in m for m in markers(recs))
    else:
        assert "replaced during the recording without sys.setprofile" in p.stderr


@pytest.mark.parametrize("mode", HOOK_MODES + ["fast"])
def test_pdb_transcript_is_the_bare_one(tmp, mode):
    # pdb.set_trace() inside a function, stepping: the transcript is the
    # bare run's. 3.13 under any sys.monitoring tool stopped a line late
    # (CPython lost the INSTRUCTION events that bdb enables for the frame
    # when the code went from one tool to two: see mt_hooks.c).
    code = """
import io, pdb, sys
if sys.argv[1] != "bare":
    import memtrace
    mode, _, c = sys.argv[1].partition("+")
    memtrace.start("t.trace", mode=mode, c_calls=True if c else None)
def g():
    return 2
def f():
    x = 1
    pdb.Pdb(stdin=io.StringIO("p x\\nnext\\nstep\\nstep\\ncontinue\\n"), stdout=out,
            nosigint=True, readrc=False).set_trace()
    y = g()
    return x + y
out = io.StringIO()
print(f())
print(out.getvalue())
"""
    bare = run_py(code, tmp, args=["bare"])
    p = run_py(code, tmp, args=[mode])
    assert p.stdout == bare.stdout
    assert "memtrace" not in p.stderr, p.stderr


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+: sys.monitoring, no pause")
def test_a_paused_thread_that_ended_is_not_said_at_stop(tmp):
    # A worker installs its own trace function (recording of it pauses) and
    # ends: nothing is still paused at stop, so nothing on stderr.
    p = run_py(START + """
import threading
def tracer(frame, event, arg):
    return tracer
def work():
    sys.settrace(tracer)
    sum(range(10))
t = threading.Thread(target=work)
t.start(); t.join()
memtrace.stop()
print("done")
""", tmp, args=["trace"])
    assert p.stdout.split() == ["done"]
    assert "memtrace" not in p.stderr, p.stderr


@pytest.mark.parametrize("mode", HOOK_MODES)
def test_new_threads_with_allocations_say_nothing(tmp, mode):
    # A thread whose first records are allocations (allocations=True) before
    # the call hooks catch it had no hook to lose: no "resumed ... cleared"
    # marker (there used to be one per thread on 3.9-3.11), its calls all
    # recorded.
    run_py("""
import sys, threading, memtrace
mode, _, c = sys.argv[1].partition("+")
memtrace.start("t.trace", mode=mode, c_calls=True if c else None, allocations=True)
def work():
    return [bytearray(1000) for _ in range(50)]
def helper():
    for _ in range(3):
        work()
ts = [threading.Thread(target=helper) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
memtrace.stop()
""", tmp, args=[mode])
    recs = decode(tmp / "t.trace")
    assert [m for m in markers(recs) if "memtrace:" in m] == []
    assert calls(recs, "work") == 12
