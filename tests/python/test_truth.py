"""Known truths (issue 12): workloads whose memory and allocating lines are
known, recorded in the default setting (memtrace.start() and python -m
memtrace run with no option: alloc mode, sampled, native in-process) and in
exact mode, checked
in memtrace-analyze's JSON: the peak, its size, the allocating line and the
caller's line; a leak of K objects at a known line; a function that frees
all it allocated before returning leaves nothing."""

import json
import os
import subprocess
import sys

import pytest

from conftest import DECODE, run_py

ANALYZE = os.path.join(os.path.dirname(DECODE), "memtrace-analyze")


def analyze(trace):
    p = subprocess.run([ANALYZE, "--json", "--top", "1000", str(trace)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


NUMPY = """\
import sys
import numpy as np
import memtrace
def make():
    a = np.ones(75_000_000)          # line 5: 600 MB, numpy's own malloc
    b = a[::2].copy()                # line 6: 300 MB more
    return float(a.sum() + b.sum())
if sys.argv[1] != "-": memtrace.start(sys.argv[1])   # the default
make()
if sys.argv[1] != "-": memtrace.stop()
"""


@pytest.mark.parametrize("how", ["api", "launcher"])
def test_numpy_peak_and_line(tmp_path, how):
    if not os.path.exists(ANALYZE):
        pytest.skip("memtrace-analyze is not built")
    try:
        import numpy  # noqa: F401
    except ImportError:
        pytest.skip("numpy is not installed in this venv (tests/python/run.sh tries to)")
    if how == "api":
        run_py(NUMPY, tmp_path, args=[str(tmp_path / "np.trace")], timeout=120)
    else:
        (tmp_path / "np_prog.py").write_text(NUMPY)
        p = subprocess.run([sys.executable, "-m", "memtrace", "run", "-o", "np.trace",
                            "np_prog.py", "-"], cwd=str(tmp_path), stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        assert p.returncode == 0, p.stderr
    heap = analyze(tmp_path / "np.trace")["heap"]
    # 900 MB at the peak, all of it C-extension memory (domain malloc).
    assert 880e6 <= heap["peak_bytes"] <= 920e6, heap["peak_bytes"]
    peak = heap["peak"]
    biggest = max(peak, key=lambda s: s["bytes"])
    assert 590e6 <= biggest["bytes"] <= 610e6
    callers = [(f["function"], f["line"]) for f in biggest["frames"]]
    assert ("make", 5) in callers, callers
    copy = [s for s in peak if 290e6 <= s["bytes"] <= 310e6]
    assert copy and ("make", 6) == (copy[0]["function"], copy[0]["line"]), \
        [(s["function"], s["line"], s["bytes"]) for s in peak]


LEAKS = """\
import sys
import memtrace
keep = []
def leak(k):
    for _ in range(k):
        keep.append(bytearray(5000))     # line 6
def temporary():
    t = [bytearray(7000) for _ in range(100)]    # line 8
    del t
memtrace.start(sys.argv[1], mode="alloc", allocations=True)
leak(37)
temporary()
memtrace.stop()
"""


def test_leak_and_temporary(tmp_path):
    if not os.path.exists(ANALYZE):
        pytest.skip("memtrace-analyze is not built")
    run_py(LEAKS, tmp_path, args=[str(tmp_path / "l.trace")])
    heap = analyze(tmp_path / "l.trace")["heap"]
    leaks = [s for s in heap["leaks"] if s["function"] == "leak"]
    assert len(leaks) == 1 and leaks[0]["line"] == 6, leaks
    # 37 buffers of 5001 bytes (beside the 37 objects and the list's growth)
    sizes = {x["size_bytes"]: x["count"] for x in leaks[0]["sizes"]}
    assert sizes.get(5001) == 37, sizes
    # Everything temporary() made is gone: no leak at line 8.
    assert not [s for s in heap["leaks"] if s["function"] in ("temporary", "<listcomp>")
                and s["line"] == 8 and s["bytes"] >= 7000]
