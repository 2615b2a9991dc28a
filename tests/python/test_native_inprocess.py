"""native=True inside a running program, without LD_PRELOAD (GOT patching,
recorder/mt_got.c): C allocations of libraries loaded before the start and
of one dlopen'ed after it, through a PLT with lazy binding and through
-fno-plt entries under full RELRO, anonymous mmap/munmap; named at the
calling Python line; nothing recorded after stop and every patched entry put
back; Python's allocator domains not counted twice."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import decode, replay_lines, run_py

LIB = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
void *t_alloc(size_t n) { void *p = malloc(n); if (p) memset(p, 1, n); return p; }
void t_free(void *p) { free(p); }
void *t_calloc(size_t n) { return calloc(n, 1); }
void *t_realloc(void *p, size_t n) { return realloc(p, n); }
void *t_mmap(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
int t_munmap(void *p, size_t n) { return munmap(p, n); }
"""

PROG = """\
import ctypes, sys
import memtrace
from memtrace import _memtrace
def load(path):
    lib = ctypes.CDLL(path)
    for f in ("t_alloc", "t_calloc", "t_realloc", "t_mmap"):
        getattr(lib, f).restype = ctypes.c_void_p
    lib.t_alloc.argtypes = lib.t_calloc.argtypes = lib.t_mmap.argtypes = [ctypes.c_size_t]
    lib.t_realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.t_free.argtypes = [ctypes.c_void_p]
    lib.t_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib
A = load(sys.argv[2])                     # before the start: patched at start
memtrace.start(sys.argv[1], mode="alloc", allocations=True, native=True)
B = load(sys.argv[3])                     # after: patched by the dlopen wrapper
def leak_a():
    return A.t_alloc(111111)              # line 17
def leak_b():
    return B.t_alloc(222222)              # line 19
def temp_a():
    A.t_free(A.t_realloc(A.t_calloc(333333), 333444))   # line 21
def maps():
    p = B.t_mmap(4 << 20)                 # line 23
    B.t_munmap(p, 4 << 20)                # line 24
keep = [leak_a(), leak_b()]
temp_a()
maps()
junk = [str(i) * 20 for i in range(20000)]  # pymalloc arenas (mmap inside)
patched = _memtrace._stats()["got_patched"]
memtrace.stop()
A.t_free(A.t_alloc(444444))               # after stop: not recorded
print(patched)
"""


def build_lib(tmp, name, flags):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the test library")
    src = tmp / (name + ".c")
    src.write_text(LIB)
    out = tmp / ("lib%s.so" % name)
    subprocess.run([cc, "-O1", "-fPIC", "-shared", str(src), "-o", str(out)] + flags,
                   check=True)
    return out


def replay(records):
    """(record, innermost Python function, its line) for every alloc, free
    and realloc (format 1.3 positions give the line)."""
    return [(r, st[-1][0] if st else "?", st[-1][1] if st else 0) for r, st in replay_lines(records)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GOT patching is Linux-only")
def test_native_in_process(tmp_path):
    import memtrace
    if not memtrace.native_available():
        pytest.skip("native tracking not available on this platform")
    liba = build_lib(tmp_path, "mta", [])  # PLT, lazy binding
    libb = build_lib(tmp_path, "mtb", ["-fno-plt", "-Wl,-z,now,-z,relro"])  # GOT under RELRO
    trace = tmp_path / "n.trace"
    env = {"LD_PRELOAD": ""}
    p = run_py(PROG, tmp_path, args=[str(trace), str(liba), str(libb)], env=env)
    assert int(p.stdout.split()[-1]) >= 8  # both libraries' entries, and others
    recs = decode(trace)
    ev = replay(recs)

    def find(kind, size=None, addr=None):
        return [(r, f, ln) for r, f, ln in ev if r["type"] == kind
                and (size is None or r.get("size") == size)
                and (addr is None or r.get("addr") == addr)]

    (r, f, ln), = find("alloc", 111111)
    assert (r["domain"], f, ln) == ("malloc", "leak_a", 17)
    (r, f, ln), = find("alloc", 222222)
    assert (r["domain"], f, ln) == ("malloc", "leak_b", 19)
    (r, f, ln), = find("alloc", 333333)  # calloc
    assert (r["domain"], f, ln) == ("malloc", "temp_a", 21)
    (rr, f, ln), = find("realloc", 333444)
    assert rr["old_addr"] == r["addr"] and (f, ln) == ("temp_a", 21)
    assert len(find("free", addr=rr["addr"])) == 1
    (m, f, ln), = [x for x in find("alloc", 4 << 20) if x[0]["domain"] == "mmap"]
    assert (f, ln) == ("maps", 23)
    assert [x for x in find("free", addr=m["addr"]) if x[0]["domain"] == "mmap"]
    assert not find("alloc", 444444)
    # pymalloc's arenas are mmap'ed inside PyObject_Malloc: recorded once,
    # in the obj domain, not again as mmap.
    assert any(r["type"] == "alloc" and r["domain"] == "obj" for r in recs)
    mm = [r for r, f, ln in ev if r["type"] == "alloc" and r["domain"] == "mmap"]
    assert [r["size"] for r in mm] == [4 << 20], [r["size"] for r in mm]


ARENAS = """
import sys, memtrace
memtrace.start(sys.argv[1])     # the default: sampled Python and native allocations
keep = []
for k in range(400):
    src = "def f%d(n):\\n    return [(i, str(i), {'k': i}) for i in range(n)]\\n" % k
    ns = {}
    exec(compile(src, "<gen%d>" % k, "exec"), ns)
    keep.append(ns["f%d" % k](3000))
    if k % 50 == 49:
        keep.clear()
memtrace.stop()
print("ok")
"""


def test_pymalloc_arenas_under_native_and_sampled(tmp_path):
    """pymalloc maps new arenas with mmap from inside a small request: the
    native hook must not record (naming new functions, allocating) while
    pymalloc's lists are half updated. Without the guard there, this
    crashed on every run (a corrupted free list)."""
    import memtrace
    if not memtrace.native_available():
        pytest.skip("native tracking is not available here")
    p = run_py(ARENAS, tmp_path, args=[str(tmp_path / "a.trace")], timeout=120, check=False)
    assert p.returncode == 0 and p.stdout == "ok\n", (p.returncode, p.stderr[-2000:])
