"""The pytest plugin (pytest --memtrace): the limit markers pass and fail on
tests with known allocations, the message names the allocating line, the
summary lists the tests, pytest-xdist workers report, and each test's run
lands in the archive. pytest runs in a subprocess on sample test files,
with the plugin loaded by -p (the entry point needs an installed package:
scripts/wheel.sh checks that one)."""

import json
import os
import subprocess
import sys

import pytest

SAMPLE = '''
import pytest
keep = []

def test_small():
    x = [1, 2, 3]

@pytest.mark.limit_memory("24 MB")
def test_big_fails():
    a = bytearray(30 * 1000 * 1000)  # line 10

@pytest.mark.limit_memory("24 MB")
def test_big_ok():
    a = bytearray(10 * 1000 * 1000)

@pytest.mark.limit_leaks("1 MB")
def test_leak_fails():
    keep.append(bytearray(3 * 1000 * 1000))  # line 18

@pytest.mark.limit_leaks("1 MB")
def test_leak_ok():
    tmp = bytearray(3 * 1000 * 1000)
    del tmp

@pytest.mark.limit_memory(2048)
def test_fails_itself():
    assert False, "its own failure"

@pytest.mark.no_memtrace
def test_records_itself(tmp_path):
    import memtrace
    memtrace.start(str(tmp_path / "own.trace"))
    memtrace.stop()

@pytest.mark.limit_memory("1 MB")
def test_stops_memtrace():
    import memtrace
    memtrace.stop()
    x = bytearray(5 * 1000 * 1000)
'''


def pytest_run(tmp_path, *args):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "memtrace.pytest_plugin",
                           "-p", "no:cacheprovider", "-q", "-rA", "test_sample.py"] + list(args),
                          cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=300)


def outcomes(out):
    res = {}
    for line in out.splitlines():
        for word in ("PASSED", "FAILED"):
            if line.startswith(word + " test_sample.py::"):
                res[line.split("::")[1].split()[0]] = word
    return res


EXPECT = {"test_small": "PASSED", "test_big_fails": "FAILED", "test_big_ok": "PASSED",
          "test_leak_fails": "FAILED", "test_leak_ok": "PASSED", "test_fails_itself": "FAILED",
          "test_records_itself": "PASSED", "test_stops_memtrace": "FAILED"}


def test_markers_and_summary(tmp_path):
    p = pytest_run(tmp_path, "--memtrace", "--memtrace-dir", "traces")
    assert outcomes(p.stdout) == EXPECT, p.stdout
    out = p.stdout
    assert "the test allocated 28.6 MiB at its peak, over the limit of 24 MB (24.0 MiB)" in out
    assert "test_sample.py:10 in test_big_fails" in out
    assert "left 2.9 MiB allocated when it returned, over the limit of 1 MB" in out
    assert "test_sample.py:18 in test_leak_fails" in out
    assert "its own failure" in out
    assert "could not check this test's memory limits: the test stopped or replaced " \
        "memtrace's recording (mark it no_memtrace)" in out
    # the summary, biggest first
    i = out.index("memtrace: the 6 tests that allocated most")
    rows = [l.split()[-1] for l in out[i:].splitlines()[2:5]]
    assert rows[0] == "test_sample.py::test_big_fails" and \
        rows[1] == "test_sample.py::test_big_ok", out[i:]
    # the traces are kept, and name the test
    traces = os.listdir(str(tmp_path / "traces"))
    assert len(traces) == 7 and any("test_big_fails" in t for t in traces)
    assert "traces in " in out


def test_without_memtrace_nothing(tmp_path):
    p = pytest_run(tmp_path)
    got = outcomes(p.stdout)
    assert got == dict(EXPECT, test_big_fails="PASSED", test_leak_fails="PASSED",
                       test_stops_memtrace="PASSED"), p.stdout
    assert "memtrace:" not in p.stdout


def test_bad_limit_is_a_usage_error(tmp_path):
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n@pytest.mark.limit_memory('lots')\ndef test_x():\n    pass\n")
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "memtrace.pytest_plugin",
                        "-p", "no:cacheprovider", "-q", "--memtrace", "test_bad.py"],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=120)
    assert p.returncode == 4, p.stdout  # usage error: no test ran
    assert "test_bad.py::test_x" in p.stdout and "bad memory limit 'lots'" in p.stdout


def test_archive_and_exact_mode(tmp_path):
    p = pytest_run(tmp_path, "--memtrace", "--memtrace-mode", "exact", "--memtrace-archive",
                   "runs", "--memtrace-tag", "commit=abc")
    assert outcomes(p.stdout) == EXPECT, p.stdout
    q = subprocess.run([sys.executable, "-m", "memtrace", "archive", "-d", "runs", "ls", "--json"],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, universal_newlines=True)
    runs = json.loads(q.stdout)["runs"]
    assert len(runs) == 6  # not the test that records itself, nor the one that stops it
    by = {r["tags"]["test"]: r for r in runs}
    assert all(r["tags"]["commit"] == "abc" for r in runs)
    big = by["test_sample.py::test_big_ok"]
    assert 10e6 <= big["peak_heap"] <= 10.2e6 and not big["heap_estimated"]
    assert by["test_sample.py::test_leak_fails"]["leaked"] >= 3e6
    # no trace left behind outside the archive
    assert not os.path.exists(str(tmp_path / "traces"))
    # trend of one test across runs: run the suite again
    pytest_run(tmp_path, "--memtrace", "--memtrace-archive", "runs")
    q = subprocess.run([sys.executable, "-m", "memtrace", "archive", "-d", "runs", "trend",
                        "peak_heap", "--tag", "test=test_sample.py::test_big_ok", "--json"],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, universal_newlines=True)
    assert len(json.loads(q.stdout)["rows"]) == 2


def test_xdist_workers_report(tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (tests/python/run.sh "
                                        "installs it when it can)")
    p = pytest_run(tmp_path, "--memtrace", "-n", "2")
    assert outcomes(p.stdout) == EXPECT, p.stdout
    assert "[gw" in p.stdout
    i = p.stdout.index("memtrace: the 6 tests that allocated most")
    assert "test_sample.py::test_big_fails" in p.stdout[i:].splitlines()[2]
