"""The Python API in-process: options, errors, state, nesting."""

import os
import re

import pytest

import memtrace
from conftest import count, decode, header, run_py


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_start_stop_returns_path(tmp):
    path = str(tmp / "a.trace")
    assert memtrace.start(path, mode="profile") == path
    assert memtrace.is_recording()
    fib(5)
    assert memtrace.stop() == path
    assert not memtrace.is_recording()
    assert count(decode(path), "call", "fib") == 15


def test_default_is_sampled_python_and_native_allocations(tmp):
    path = str(tmp / "d.trace")
    memtrace.start(path)
    try:
        big = bytearray(40 << 20)  # sampled: 40 MiB is certain to be drawn
        stats = memtrace._memtrace._stats()
    finally:
        memtrace.stop()
    h = header(path)
    assert h["mode"] == "alloc"
    assert h["alloc_sample_bytes"] == memtrace.DEFAULT_ALLOC_SAMPLE_BYTES
    if memtrace._memtrace.native_available() == 2:  # in-process: GOT entries patched
        assert stats["got_patched"] > 0
    recs = decode(path)
    assert any(r["type"] == "alloc" and r["size"] >= len(big) for r in recs)
    assert any(r["type"] == "rss" and r["rss_bytes"] for r in recs)  # the sampler
    # Options only a call hook honours keep the profile mode of old.
    memtrace.start(str(tmp / "p.trace"), include=["nothing"])
    memtrace.stop()
    assert header(str(tmp / "p.trace"))["mode"] == "profile"


def test_stop_when_not_recording_returns_none():
    assert memtrace.stop() is None


def test_default_path(tmp, monkeypatch):
    monkeypatch.chdir(tmp)
    path = memtrace.start(mode="fast")
    memtrace.stop()
    assert re.match(r"memtrace_\d{8}T\d{6}_%d_fast\.trace$" % os.getpid(), path), path
    assert os.path.exists(tmp / path)


def test_start_twice_raises(tmp):
    memtrace.start(str(tmp / "a.trace"))
    try:
        with pytest.raises(RuntimeError, match="already recording"):
            memtrace.start(str(tmp / "b.trace"))
    finally:
        memtrace.stop()
    assert not os.path.exists(tmp / "b.trace")


def test_nested_context_managers_raise(tmp):
    with memtrace.Profile(str(tmp / "outer.trace")):
        with pytest.raises(RuntimeError, match="already recording"):
            with memtrace.Trace(str(tmp / "inner.trace")):
                pass
        assert memtrace.is_recording()  # the outer one goes on
    assert not memtrace.is_recording()


def test_decorator(tmp):
    path = str(tmp / "d.trace")

    @memtrace.Trace(path)
    def work(n):
        return fib(n)

    assert work(6) == 8
    assert not memtrace.is_recording()
    recs = decode(path)
    assert count(recs, "call", "fib") == 25
    assert count(recs, "line") > 0
    # A decorator can be called again: each call records anew.
    assert work(3) == 2
    assert count(decode(path), "call", "fib") == 5


@pytest.mark.parametrize("kw, exc, word", [
    (dict(mode="nope"), ValueError, "mode"),
    (dict(rss_interval="x"), TypeError, "rss_interval"),
    (dict(rss_interval=-1), ValueError, "rss_interval"),
    (dict(flush_interval=0), ValueError, "flush_interval"),
    (dict(rss="always"), ValueError, "rss"),
    (dict(rss_trigger=1.5), TypeError, "rss_trigger"),
    (dict(max_depth=-2), ValueError, "max_depth"),
    (dict(include=[3]), TypeError, "include"),
    (dict(exclude=5), TypeError, "exclude"),
    (dict(buffer_bytes=10), ValueError, "buffer_bytes"),
    (dict(max_buffers=1), ValueError, "max_buffers"),
    (dict(clock="sundial"), ValueError, "clock"),
    (dict(c_calls="yes"), TypeError, "c_calls"),
    (dict(mode="fast", c_calls=True), ValueError, "c_calls"),
    (dict(mode="profile", c_calls=False), ValueError, "c_calls"),
    (dict(fork="maybe"), ValueError, "fork"),
    (dict(path=3), TypeError, "path"),
])
def test_bad_options(tmp, kw, exc, word):
    kw.setdefault("path", str(tmp / "x.trace"))
    with pytest.raises(exc, match=word):
        memtrace.start(**kw)
    assert not memtrace.is_recording()
    with pytest.raises(exc, match=word):
        memtrace.Profile(**kw) if "mode" not in kw else memtrace.start(**kw)


def test_unwritable_path_raises_at_start(tmp):
    with pytest.raises(OSError):
        memtrace.start(str(tmp / "no" / "such" / "dir.trace"))
    assert not memtrace.is_recording()


def test_marker_without_recording_is_a_no_op():
    memtrace.marker("nobody listens")
    with pytest.raises(TypeError):
        memtrace.marker(42)


def test_rss_and_peak(tmp):
    # In a fresh interpreter: in this one, earlier tests leave freed but
    # resident heap that a new 50 MB block may reuse without RSS growing.
    p = run_py("""
        import memtrace
        r = memtrace.rss()
        assert r > 1 << 20, r
        assert memtrace.rss_peak() >= r // 2
        big = bytearray(50 << 20)          # zero-filled by memset: resident
        assert memtrace.rss() >= r + (40 << 20), (r, memtrace.rss())
        assert memtrace.rss_peak() >= r + (40 << 20)
        print("ok")
    """, tmp)
    assert p.stdout.strip() == "ok"


def test_header_fields(tmp):
    import subprocess, json, sys
    from conftest import DECODE
    path = str(tmp / "h.trace")
    memtrace.start(path, mode="trace")
    memtrace.stop()
    p = subprocess.run([DECODE, "--header", "--json", path], stdout=subprocess.PIPE,
                       universal_newlines=True, check=True)
    h = json.loads(p.stdout)
    text = json.dumps(h)
    assert "trace" in text and "memtrace-recorder" in text
    assert sys.version.split()[0] in text
