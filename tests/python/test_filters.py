"""rss_trigger, max_depth, include/exclude and exact RSS."""

import pytest

from conftest import count, decode, run_py

PROG = """
import sys, json, memtrace
def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)
def grow(keep):
    keep.append(bytearray(8 * 2**20))
def small():
    return 1
opts = json.loads(sys.argv[1])
memtrace.start("f.trace", **opts)
deep(10)
keep = []
for _ in range(5):
    grow(keep)
    for _ in range(20):
        small()
json.dumps([1])
memtrace.stop()
"""


def record(tmp, **opts):
    import json
    run_py(PROG, tmp, args=[json.dumps(opts)])
    return decode(tmp / "f.trace")


def max_stack_depth(recs):
    depth, best = {}, 0
    for r in recs:
        tid = r.get("tid")
        if r["type"] == "block":
            depth[tid] = r["depth"]
        elif r["type"] in ("call", "ccall"):
            depth[tid] = depth.get(tid, 0) + 1
            best = max(best, depth[tid])
        elif r["type"] in ("return", "creturn", "craise", "unwind"):
            depth[tid] = max(0, depth.get(tid, 0) - 1)
    return best


@pytest.mark.parametrize("mode", ["profile", "fast"])
def test_max_depth(tmp, mode):
    full = record(tmp, mode=mode)
    assert count(full, "call", "deep") == 11
    recs = record(tmp, mode=mode, max_depth=4)
    assert 0 < count(recs, "call", "deep") < 11
    assert max_stack_depth(recs) <= 4
    assert count(recs, "call", "deep") == count(recs, "return", "deep")


def test_exclude_and_include(tmp):
    recs = record(tmp, mode="profile", exclude=["json"])
    assert count(recs, "call", "small") == 100
    assert not any(r["type"] == "function" and r["module"].startswith("json") and
                   count(recs, "call", r["qualname"]) for r in recs)
    recs = record(tmp, mode="profile", include=["__main__"])
    assert count(recs, "call", "small") == 100
    assert count(recs, "call", "dumps") == 0
    assert count(recs, "ccall") == 0  # C functions are not in __main__


def test_rss_trigger_keeps_only_moving_events(tmp):
    recs = record(tmp, mode="profile", rss="exact", rss_trigger=4 * 2**20)
    # small() never moves RSS: (nearly) all its calls are filtered out; every
    # grow() call moves it by 8 MiB and is written.
    assert count(recs, "call", "small") < 10
    assert count(recs, "call", "grow") >= 4
    # Stream stays balanced.
    for name in ("grow", "small", "deep"):
        assert count(recs, "call", name) == count(recs, "return", name)


def test_exact_rss_in_thread_stream(tmp):
    recs = record(tmp, mode="fast", rss="exact")
    per_thread = [r for r in recs if r["type"] == "rss" and r["tid"] == 1]
    assert len(per_thread) >= 5
    assert max(r["rss_bytes"] for r in per_thread) - min(r["rss_bytes"] for r in per_thread) >= 30 * 2**20
