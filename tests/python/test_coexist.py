"""memtrace next to other users of the same interpreter hooks: tracemalloc
(allocator hooks), cProfile on sys.monitoring (3.12+), PEP 523 frame
evaluation functions, sys.settrace/sys.setprofile and threading's hooks.
What was installed before a recording must be there again after it, and
what another tool installed during it must not be torn down by stop()."""

import os
import sys

import pytest

from conftest import check, count, decode, run_py


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


@pytest.mark.skipif(sys.version_info < (3, 13), reason="fast mode uses sys.monitoring from 3.13")
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
    assert lines[0] == "[3] []"  # not PROFILER_ID (2), which cProfile wants
    assert lines[1] == "refused"
    assert lines[2] == "['other2', 'other3', 'other4', 'other5'] False"
    assert count(decode(tmp / "a.trace"), "call", "f") == 2
    assert not (tmp / "b.trace").exists()  # a failed start leaves no file


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="fast mode uses sys.monitoring from 3.13")
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
    assert lines[1] == "profile False True True True True"
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


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="fast mode uses sys.monitoring from 3.13")
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
