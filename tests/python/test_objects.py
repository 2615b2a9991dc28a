"""Object tracking (memtrace.start(objects=True), CPython 3.13+): every
object's creation with its type and line, its destruction, and the reports
by type, checked against programs whose answer is known."""

import json
import os
import subprocess
import sys

import pytest

import memtrace
from memtrace.cli import tool_path
from conftest import run_py, decode

needs_313 = pytest.mark.skipif(sys.version_info < (3, 13),
                               reason="object tracking needs CPython 3.13+ (PyRefTracer)")


def analyze_json(path, *args):
    p = subprocess.run([tool_path("analyze"), "--json", "--top", "0"] + list(args) + [path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                       universal_newlines=True)
    return json.loads(p.stdout)


def by_type(objects):
    return {t["type"]: t for t in objects["types"]}


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="3.13+ has the reference tracer")
def test_refused_before_313_naming_the_version(tmp_path):
    path = str(tmp_path / "o.trace")
    with pytest.raises(RuntimeError, match=r"3\.13 or later.*this is CPython %d\.%d"
                       % sys.version_info[:2]):
        memtrace.start(path, objects=True)
    assert not memtrace.is_recording()
    assert not os.path.exists(path)
    # the launcher says the same, and exits 2 without running the program
    p = subprocess.run([sys.executable, "-m", "memtrace", "run", "--objects", "-o", path,
                        "-c", "print('ran')"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert p.returncode == 2, p.stderr
    assert "3.13" in p.stderr and "ran" not in p.stdout


def test_filters_need_objects(tmp_path):
    with pytest.raises(ValueError, match="need objects=True"):
        memtrace.start(str(tmp_path / "o.trace"), include_types=["dict"])
    with pytest.raises(TypeError, match="types or non-empty type names"):
        memtrace.start(str(tmp_path / "o.trace"), objects=True, include_types=[3])
    assert not memtrace.is_recording()


KNOWN = """
import memtrace

class Point:
    def __init__(self, x):
        self.x = x

keep = []

def make(n):
    for i in range(n):
        keep.append(Point(i))           # line 12: the kept ones

def churn(n):
    for i in range(n):
        Point(i)                        # line 16: created and dropped

memtrace.start(%(path)r, %(opts)s)
make(1000)
churn(300)
memtrace.stop()
"""


@needs_313
@pytest.mark.parametrize("opts", [
    "objects=True",                                        # the default mode (alloc)
    "objects=True, include_types=[Point]",                 # by type object
    "objects=True, include_types=['Point']",               # by qualified name
    "objects=True, mode='profile'",                        # call hooks keep the stack
    "objects=True, mode='alloc', allocations='exact'",
])
def test_n_instances_alive_at_the_end_by_type_and_line(tmp_path, opts):
    path = str(tmp_path / "o.trace")
    run_py(KNOWN % {"path": path, "opts": opts}, tmp_path)
    o = analyze_json(path)["objects"]
    pt = by_type(o)["__main__.Point"]
    assert (pt["created"], pt["destroyed"], pt["end_count"]) == (1300, 300, 1000)
    assert pt["alive_max"] in (1000, 1001)
    rows = [g for g in o["alive_at_end"] if g["type"] == "__main__.Point"]
    assert len(rows) == 1, rows
    assert (rows[0]["count"], rows[0]["function"], rows[0]["line"]) == (1000, "make", 12)
    assert rows[0]["file"].endswith("prog.py")
    assert [f["function"] for f in rows[0]["frames"]] == ["<module>", "make"]
    if "include_types" in opts:
        assert list(by_type(o)) == ["__main__.Point"]
    # the object's own block (allocations known: exact here, or on 3.13.0-2)
    if "allocations='exact'" in opts:
        assert pt["end_bytes"] >= 1000 * 48, pt


@needs_313
def test_exclude_and_subclasses(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py("""
        import memtrace
        class Base: pass
        class Sub(Base): pass
        class Other: pass
        keep = []
        memtrace.start(%r, objects=True, include_types=[Base, "Other"],
                       exclude_types=["Sub"])
        for i in range(50):
            keep.append(Base()); keep.append(Sub()); keep.append(Other())
            keep.append({"i": i})
        memtrace.stop()
        memtrace.start(%r, objects=True, include_types=[Base])
        for i in range(20):
            keep.append(Sub())
        memtrace.stop()
    """ % (path, path + "2"), tmp_path)
    t = by_type(analyze_json(path)["objects"])
    assert sorted(t) == ["__main__.Base", "__main__.Other"]
    assert t["__main__.Base"]["end_count"] == t["__main__.Other"]["end_count"] == 50
    t2 = by_type(analyze_json(path + "2")["objects"])
    assert t2["__main__.Sub"]["end_count"] == 20  # a subclass of an included type


@needs_313
def test_objects_alive_at_the_heap_peak(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py("""
        import memtrace
        class Item:
            pass
        memtrace.start(%r, objects=True, include_types=[Item], mode="alloc",
                       allocations="exact")
        items = [Item() for _ in range(700)]
        big = bytearray(30 * 1024 * 1024)   # the heap's peak, with 700 Items alive
        del big
        del items                           # none alive at the end
        memtrace.stop()
    """ % path, tmp_path)
    a = analyze_json(path)
    o = a["objects"]
    it = by_type(o)["__main__.Item"]
    assert o["at_heap_peak"] is True
    assert it["peak_count"] == 700 and it["end_count"] == 0 and it["destroyed"] == 700
    assert it["peak_bytes"] >= 700 * 16
    assert o["alive_at_end"] == []


@needs_313
def test_threads_and_the_thread_filter(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py("""
        import threading
        import memtrace
        class Job:
            pass
        keep = []
        def work(n):
            for _ in range(n):
                keep.append(Job())
        memtrace.start(%r, objects=True, include_types=[Job])
        ts = [threading.Thread(target=work, args=(100 * (k + 1),), name="w%%d" %% k)
              for k in range(3)]
        for t in ts: t.start()
        for t in ts: t.join()
        memtrace.stop()
    """ % path, tmp_path)
    assert by_type(analyze_json(path)["objects"])["__main__.Job"]["end_count"] == 600
    assert by_type(analyze_json(path, "--thread", "w1")["objects"])["__main__.Job"][
        "end_count"] == 200


@needs_313
def test_text_report_and_api(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py(KNOWN % {"path": path, "opts": "objects=True"}, tmp_path)
    text = subprocess.run([tool_path("analyze"), path], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout
    assert "Objects (object tracking: " in text
    line = [ln for ln in text.splitlines() if "__main__.Point" in ln and "prog.py:12" in ln]
    assert line and line[0].split()[0] == "1000", text
    t = memtrace.open(path)
    pt = [x for x in t.objects.types if x.type == "__main__.Point"][0]
    assert pt.end_count == 1000


@needs_313
def test_records_and_header(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py(KNOWN % {"path": path, "opts": "objects=True, include_types=['Point']"}, tmp_path)
    recs = decode(path)
    new = [r for r in recs if r["type"] == "obj_new"]
    assert len(new) == 1300 and {r["type_name"] for r in new} == {"__main__.Point"}
    hdr = [r for r in recs if r["type"] == "header"]
    assert not hdr or "objects" in hdr[0].get("content", "objects")


@needs_313
def test_coexists_with_tracemalloc_reference_tracer(tmp_path):
    path = str(tmp_path / "o.trace")
    p = run_py("""
        import tracemalloc, warnings
        import memtrace
        class A: pass
        tracemalloc.start()                 # sets its own reference tracer (3.13)
        memtrace.start(%r, objects=True, include_types=[A])
        keep = [A() for _ in range(40)]
        memtrace.stop()                     # tracemalloc's tracer is back
        more = [A() for _ in range(10)]
        snap = tracemalloc.take_snapshot()
        print("tm", len(snap.traces) > 0)
        tracemalloc.stop()
        # a tracer set during the recording replaces memtrace's: said at stop
        memtrace.start(%r, objects=True, include_types=[A])
        tracemalloc.start()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            memtrace.stop()
        print("warned", any("reference tracer" in str(x.message) for x in w))
        tracemalloc.stop()
    """ % (path, path + "2"), tmp_path)
    assert "tm True" in p.stdout and "warned True" in p.stdout, p.stdout + p.stderr
    assert by_type(analyze_json(path)["objects"])["__main__.A"]["end_count"] == 40


@needs_313
def test_fork_child_records_its_own_objects(tmp_path):
    path = str(tmp_path / "o.trace")
    run_py("""
        import os
        import memtrace
        class C: pass
        memtrace.start(%r, objects=True, include_types=[C])
        keep = [C() for _ in range(10)]
        pid = os.fork()
        if pid == 0:
            more = [C() for _ in range(25)]
            memtrace.stop()
            os._exit(0)
        os.waitpid(pid, 0)
        memtrace.stop()
    """ % path, tmp_path)
    assert by_type(analyze_json(path)["objects"])["__main__.C"]["end_count"] == 10
    child = [f for f in os.listdir(str(tmp_path)) if f.startswith("o.") and f != "o.trace"]
    assert len(child) == 1, child
    c = by_type(analyze_json(str(tmp_path / child[0]))["objects"])["__main__.C"]
    assert c["end_count"] == 25


@needs_313
def test_classes_made_and_dropped_during_the_recording(tmp_path):
    # a type's entry goes with the type: a new class (maybe at the same
    # address) is judged and named again
    path = str(tmp_path / "o.trace")
    run_py("""
        import gc
        import memtrace
        keep = []
        memtrace.start(%r, objects=True, include_types=["Tmp"])
        for k in range(30):
            Tmp = type("Tmp", (), {"k": k})
            keep.append(Tmp())
            keep.pop()
            del Tmp
            gc.collect()
        memtrace.stop()
    """ % path, tmp_path)
    t = by_type(analyze_json(path)["objects"])["__main__.Tmp"]
    assert (t["created"], t["destroyed"], t["end_count"]) == (30, 30, 0)


@needs_313
def test_launcher_and_environment(tmp_path):
    path = str(tmp_path / "l.trace")
    prog = tmp_path / "app.py"
    prog.write_text("class Leak:\n    pass\nkeep = [Leak() for _ in range(77)]\n")
    p = subprocess.run([sys.executable, "-m", "memtrace", "run", "-q", "--objects",
                        "--include-types", "Leak", "-o", path, str(prog)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert p.returncode == 0, p.stderr
    o = analyze_json(path)["objects"]
    assert list(by_type(o)) == ["__main__.Leak"]
    assert by_type(o)["__main__.Leak"]["end_count"] == 77
    assert o["alive_at_end"][0]["line"] == 3
    from memtrace import _autostart
    kw = _autostart.parse("x.trace,objects=1,include_types=Leak:dict,exclude_types=int")
    assert kw["objects"] is True and kw["include_types"] == ("Leak", "dict")
    assert kw["exclude_types"] == ("int",)


@pytest.mark.skipif(not (3, 13) <= sys.version_info[:3] < (3, 13, 3),
                    reason="CPython 3.13.0-3.13.2 only (gh-130382)")
def test_sampled_allocations_on_early_313_warn(tmp_path):
    path = str(tmp_path / "o.trace")
    with pytest.warns(RuntimeWarning, match="gh-130382"):
        memtrace.start(path, objects=True, allocations="sampled")
    memtrace.stop()
    # the default records every allocation there, and says nothing
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        memtrace.start(path, objects=True)
    keep = [object() for _ in range(10)]
    memtrace.stop()
    assert analyze_json(path)["heap"]["sample_bytes"] == 1  # every allocation
    del keep


@needs_313
def test_sub_interpreters_objects_not_recorded(tmp_path):
    # the reference tracer is process-wide; a sub-interpreter (own GIL)
    # creates objects of a same-named class at the same time: none is
    # recorded, nothing crashes, the main interpreter's are all there
    path = str(tmp_path / "o.trace")
    run_py("""
        import threading
        import _interpreters as I
        import memtrace
        class Thing:
            pass
        memtrace.start(%r, objects=True)
        keep = []
        def sub():
            i = I.create()
            I.exec(i, "class Thing:\\n    pass\\nkeep = [Thing() for _ in range(20000)]\\n")
            I.destroy(i)
        t = threading.Thread(target=sub)
        t.start()
        for _ in range(3000):
            keep.append(Thing())
        t.join()
        memtrace.stop()
    """ % path, tmp_path)
    t = by_type(analyze_json(path)["objects"])
    assert t["__main__.Thing"]["end_count"] == 3000
    assert t["__main__.Thing"]["created"] == 3000


@needs_313
def test_trace_malloc_inside_an_object_recording_keeps_tracking(tmp_path):
    path = str(tmp_path / "o.trace")
    p = run_py("""
        import warnings
        import memtrace
        class P: pass
        memtrace.start(%r, objects=True, include_types=[P])
        keep = [P() for _ in range(100)]
        with memtrace.trace_malloc("block") as tm:   # tracemalloc sets its tracer
            keep += [P() for _ in range(50)]
        keep += [P() for _ in range(200)]             # and stops it again
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            memtrace.stop()
        print("warned", len(w))
    """ % path, tmp_path)
    assert "warned 0" in p.stdout, p.stdout + p.stderr
    assert by_type(analyze_json(path)["objects"])["__main__.P"]["end_count"] == 350


@needs_313
def test_resized_objects_end_at_their_old_address(tmp_path):
    # tuple(generator) resizes its tuple (realloc): CPython reports the new
    # object and not the old one's death; memtrace records it
    path = str(tmp_path / "o.trace")
    run_py("""
        import memtrace
        memtrace.start(%r, objects=True, include_types=["tuple"], allocations="sampled")
        keep = [tuple(x for x in range(300)) for _ in range(20)]
        memtrace.stop()
    """ % path, tmp_path)
    t = by_type(analyze_json(path)["objects"])["tuple"]
    assert t["end_count"] == 20 and t["created"] - t["destroyed"] == 20, t


@needs_313
def test_context_managers_take_the_objects_default(tmp_path):
    path = str(tmp_path / "o.trace")
    p = run_py("""
        import warnings
        import memtrace
        class Q: pass
        with warnings.catch_warnings():
            warnings.simplefilter("error")    # no "counts too high" warning
            with memtrace.Profile(%r, objects=True, include_types=[Q]):
                keep = [Q() for _ in range(30)]
                for _ in range(30):
                    Q()
    """ % path, tmp_path)
    t = by_type(analyze_json(path)["objects"])["__main__.Q"]
    assert (t["created"], t["end_count"]) == (60, 30), t
