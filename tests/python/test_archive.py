"""memtrace archive: runs kept in a catalogue, found, compared and gated on,
with known figures; concurrent adds; a catalogue lost or damaged made
again from the traces; unreadable traces reported and skipped."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import run_py

LEAK = """
import sys
keep = []
def leak(n):
    for _ in range(n):
        keep.append(bytearray(1000))
leak(int(sys.argv[1]))
"""


def mt(cwd, *args, check=None):
    p = subprocess.run([sys.executable, "-m", "memtrace"] + list(args), cwd=str(cwd),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
    if check is not None:
        assert p.returncode == check, "exit %d, expected %d:\n%s\n%s" % (
            p.returncode, check, p.stdout, p.stderr)
    return p


def record(tmp_path, n, name, *extra):
    """A run of LEAK keeping n KB (exact allocations), as tmp_path/name."""
    (tmp_path / "leak.py").write_text(LEAK)
    mt(tmp_path, "run", "-q", "--alloc=exact", "-o", name, *extra, "leak.py", str(n), check=0)
    return str(tmp_path / name)


def ls(tmp_path, d="runs", *args):
    return json.loads(mt(tmp_path, "archive", "-d", d, "ls", "--json", *args, check=0).stdout)


def test_run_archive_ls_trend_check_compare(tmp_path):
    # three releases, leaking 1000, 2000 and 6000 KB: known leaked bytes
    for rel, n in (("1.0", 1000), ("1.1", 2000), ("1.2", 6000)):
        (tmp_path / "leak.py").write_text(LEAK)
        p = mt(tmp_path, "run", "--alloc=exact", "--archive", "runs", "--tag", "release=" + rel,
               "leak.py", str(n), check=0)
        assert "added to" in p.stderr and "as run" in p.stderr
    # moved into the archive: no trace left in the working directory
    assert not [f for f in os.listdir(str(tmp_path)) if f.endswith(".trace")]
    runs = ls(tmp_path)["runs"]
    assert [r["tags"]["release"] for r in runs] == ["1.0", "1.1", "1.2"]
    for r, n in zip(runs, (1000, 2000, 6000)):
        assert n * 1000 <= r["leaked"] <= n * 1100, r["leaked"]
        assert r["peak_heap"] >= r["leaked"] and r["peak_rss"] > 0 and r["lost"] == 0
        assert r["command"][-1] == str(n) and r["python"].startswith("CPython")
        assert os.path.exists(str(tmp_path / "runs" / r["file"]))
    # filters
    assert [r["tags"]["release"] for r in ls(tmp_path, "runs", "--tag", "release=1.1")["runs"]] \
        == ["1.1"]
    assert len(ls(tmp_path, "runs", "--last", "2")["runs"]) == 2
    # trend: one value per run, in order, and by tag
    t = json.loads(mt(tmp_path, "archive", "-d", "runs", "trend", "leaked", "--json",
                      check=0).stdout)
    vals = [row["value"] for row in t["rows"]]
    assert vals == sorted(vals) and len(vals) == 3
    t = json.loads(mt(tmp_path, "archive", "-d", "runs", "trend", "leaked", "--by", "release",
                      "--json", check=0).stdout)
    assert [row["label"] for row in t["rows"]] == ["release=1.0", "release=1.1", "release=1.2"]
    text = mt(tmp_path, "archive", "-d", "runs", "trend", "peak_heap", check=0).stdout
    assert text.count("\n") == 4 and "MiB" in text
    mt(tmp_path, "archive", "-d", "runs", "trend", "leaked", "--by", "release", "-o", "t.html",
       check=0)
    html = (tmp_path / "t.html").read_text()
    assert "<svg" in html and "release=1.2" in html and html.count("<circle") == 3
    # the gate: 1.2 leaks 3x what 1.1 does
    p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "release=1.1",
           "--fail-if", "leaked>+50%", check=3)
    assert "FAIL leaked>+50%" in p.stdout and "check: failed" in p.stdout
    mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "release=1.1",
       "--fail-if", "leaked>+500%", "--fail-if", "B:lost>0", check=0)
    # against 1.0, the run before the latest: 2000 vs 1000 KB
    p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "release=1.0",
           "--run", "latest~1", "--fail-if", "heap_peak>+3MiB", "--json", check=0)
    d = json.loads(p.stdout)
    assert d["run"]["tags"]["release"] == "1.1" and d["failed"] is False
    # a per-function condition goes through memtrace diff
    p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "release=1.1",
           "--fail-if", "leak:leak>+2MiB", check=3)
    assert "(memtrace diff)" in p.stdout
    # compare is memtrace diff of two runs
    p = mt(tmp_path, "archive", "-d", "runs", "compare", "release=1.0", "latest", check=0)
    assert "leak" in p.stdout and "A = run 1" in p.stderr
    p = mt(tmp_path, "archive", "-d", "runs", "compare", "1", "3", "--fail-if", "leaked>+1MiB",
           check=3)
    # show
    p = mt(tmp_path, "archive", "-d", "runs", "show", "latest", check=0)
    assert "release=1.2" in p.stdout and "leak.py:6" in p.stdout
    # errors: what and where
    p = mt(tmp_path, "archive", "-d", "runs", "show", "release=9.9", check=1)
    assert "no run 'release=9.9'" in p.stderr
    p = mt(tmp_path, "archive", "-d", "nowhere", "ls", check=1)
    assert "no archive here" in p.stderr
    # conditions: memtrace diff's grammar, refused as it refuses them (usage: 2)
    for bad, says in (("bogus>1", "unknown quantity 'bogus'"),
                      ("peak>+1mb", "'mb' is not a unit of bytes"),
                      ("peak >1", "unknown quantity 'peak '"),
                      ("B:peak>+5%", "takes an absolute threshold")):
        p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "1", "--fail-if", bad,
               check=2)
        assert says in p.stderr, p.stderr
    # run names: id~N, uid prefixes, tag~N
    ids = {sel: json.loads(mt(tmp_path, "archive", "-d", "runs", "show", sel, "--json",
                              check=0).stdout)["id"]
           for sel in ("3~1", "latest~2", "release~1", runs[2]["uid"] + "~2",
                       runs[1]["uid"][:-3])}
    assert ids == {"3~1": 2, "latest~2": 1, "release~1": 2, runs[2]["uid"] + "~2": 1,
                   runs[1]["uid"][:-3]: 2}, ids
    # trend --by with a filter on the same tag
    t = json.loads(mt(tmp_path, "archive", "-d", "runs", "trend", "leaked", "--by", "release",
                      "--tag", "release=1.1", "--json", check=0).stdout)
    assert [row["label"] for row in t["rows"]] == ["release=1.1"]


def test_add_copy_tags_git_level(tmp_path):
    tr = record(tmp_path, 500, "a.trace")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.email=t@e", "-c", "user.name=t",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    p = mt(tmp_path, "archive", "-d", "runs", "add", tr, "--tag", "ci", "--tag", "pr=12",
           "--level", "19", check=0)
    assert p.stdout.startswith("added run 1 ")
    assert os.path.exists(tr)  # copied, not moved
    r = ls(tmp_path)["runs"][0]
    assert r["git_commit"] == head and r["tags"] == {"ci": "", "pr": "12"}
    # recompressed at level 19: still the same figures
    kept = str(tmp_path / "runs" / r["file"])
    a = json.loads(mt(tmp_path, "analyze", "--json", tr, check=0).stdout)
    b = json.loads(mt(tmp_path, "analyze", "--json", kept, check=0).stdout)
    assert a["heap"]["end_bytes"] == b["heap"]["end_bytes"] == r["leaked"]
    # the tag with no value selects
    assert mt(tmp_path, "archive", "-d", "runs", "show", "ci", check=0).stdout.startswith("run 1")
    # a file that is not a trace: an error naming it, nothing added
    (tmp_path / "junk.trace").write_bytes(b"not a trace at all" * 10)
    p = mt(tmp_path, "archive", "-d", "runs", "add", "junk.trace", check=1)
    assert "junk.trace" in p.stderr and "not a readable trace" in p.stderr
    assert len(ls(tmp_path)["runs"]) == 1
    assert len([f for f in os.listdir(str(tmp_path / "runs" / "traces"))
                if f.endswith(".trace")]) == 1


def test_concurrent_adds_lose_nothing(tmp_path):
    tr = record(tmp_path, 200, "a.trace")
    procs = [subprocess.Popen([sys.executable, "-m", "memtrace", "archive", "-d", "runs", "add",
                               "-q", "--tag", "worker=%d" % i, tr, tr, tr], cwd=str(tmp_path),
                              stderr=subprocess.PIPE, universal_newlines=True)
             for i in range(6)]
    # and rebuilds meanwhile: none may lose an add
    procs += [subprocess.Popen([sys.executable, "-c", "import subprocess, sys\nfor _ in range(3): "
                                "subprocess.run([sys.executable, '-m', 'memtrace', 'archive', "
                                "'-d', 'runs', 'rebuild'], check=True, stdout=subprocess.DEVNULL)"],
                               cwd=str(tmp_path), stderr=subprocess.PIPE,
                               universal_newlines=True)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    runs = ls(tmp_path)["runs"]
    assert len(runs) == 18 and len({r["uid"] for r in runs}) == 18
    assert sorted(r["tags"]["worker"] for r in runs) == sorted(str(i) for i in range(6)) * 3 \
        or sorted(r["tags"]["worker"] for r in runs) == sorted([str(i) for i in range(6)] * 3)
    files = os.listdir(str(tmp_path / "runs" / "traces"))
    assert len([f for f in files if f.endswith(".trace")]) == 18
    assert len([f for f in files if f.endswith(".json")]) == 18
    assert not [f for f in files if f.endswith(".tmp")]
    db = sqlite3.connect(str(tmp_path / "runs" / "catalogue.sqlite"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_catalogue_lost_damaged_rebuilt(tmp_path):
    for rel, n in (("1", 300), ("2", 600)):
        tr = record(tmp_path, n, "r%s.trace" % rel)
        mt(tmp_path, "archive", "-d", "runs", "add", tr, "--tag", "release=" + rel, check=0)
    before = ls(tmp_path)["runs"]
    cat = tmp_path / "runs" / "catalogue.sqlite"
    # deleted: made again on the next command, tags and figures kept
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(cat) + suffix):
            os.unlink(str(cat) + suffix)
    p = mt(tmp_path, "archive", "-d", "runs", "ls", "--json", check=0)
    assert "was missing: made again from 2 traces" in p.stderr
    after = json.loads(p.stdout)["runs"]
    key = lambda r: (r["uid"], r["tags"].get("release", ""), r["leaked"], r["peak_heap"])
    assert sorted(map(key, after)) == sorted(map(key, before))
    # damaged: an error that names the way out, then rebuild
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(cat) + suffix):
            os.unlink(str(cat) + suffix)
    cat.write_bytes(b"\0garbage" * 512)
    p = mt(tmp_path, "archive", "-d", "runs", "ls", check=1)
    assert "damaged" in p.stderr and "rebuild" in p.stderr
    # a trace without its .json, and a truncated one without: the first is
    # summarized anew (its tags lost, said so), the second skipped
    traces = tmp_path / "runs" / "traces"
    js = {json.loads((traces / f).read_text())["tags"]["release"]: f
          for f in os.listdir(str(traces)) if f.endswith(".json")}
    os.unlink(str(traces / js["2"]))
    bad = traces / "20200101T000000-deadbeef00.trace"
    with open(str(traces / js["1"].replace(".json", ".trace")), "rb") as f:
        bad.write_bytes(f.read()[:40])
    p = mt(tmp_path, "archive", "-d", "runs", "rebuild", check=0)
    assert "rebuilt" in p.stdout and "2 runs" in p.stdout and "1 traces skipped" in p.stdout
    assert "deadbeef00.trace" in p.stderr and "its tags are lost" in p.stderr
    runs = ls(tmp_path)["runs"]
    one = [key(r) for r in before if r["tags"]["release"] == "1"]
    assert [key(r) for r in runs if r["tags"].get("release") == "1"] == one
    assert sorted(r["tags"].get("release", "") for r in runs) == ["", "1"]
    # the one summarized anew has the same figures
    two = [r for r in before if r["tags"]["release"] == "2"][0]
    again = [r for r in runs if not r["tags"]][0]
    assert (again["uid"], again["leaked"], again["peak_heap"]) == (
        two["uid"], two["leaked"], two["peak_heap"])


def test_gc_and_rm(tmp_path):
    tr = record(tmp_path, 100, "a.trace")
    for i in range(5):
        mt(tmp_path, "archive", "-d", "runs", "add", "-q", tr, *(["--tag", "release=1"]
                                                               if i == 0 else []), check=0)
    p = mt(tmp_path, "archive", "-d", "runs", "gc", "--keep", "2", "--protect", "release",
           "--dry-run", check=0)
    assert p.stdout.count("would remove") == 2
    mt(tmp_path, "archive", "-d", "runs", "gc", "--keep", "2", "--protect", "release", check=0)
    runs = ls(tmp_path)["runs"]
    assert [r["id"] for r in runs] == [1, 4, 5]
    mt(tmp_path, "archive", "-d", "runs", "rm", "4", check=0)
    assert [r["id"] for r in ls(tmp_path)["runs"]] == [1, 5]
    traces = [f for f in os.listdir(str(tmp_path / "runs" / "traces"))]
    assert len(traces) == 4  # 2 traces and their .json
    p = mt(tmp_path, "archive", "-d", "runs", "gc", check=2)
    assert "give --keep" in p.stderr
    # a trace deleted by hand: listed as missing; compare says which
    r5 = [r for r in ls(tmp_path)["runs"] if r["id"] == 5][0]
    os.unlink(str(tmp_path / "runs" / r5["file"]))
    assert "[trace missing]" in mt(tmp_path, "archive", "-d", "runs", "ls", check=0).stdout
    p = mt(tmp_path, "archive", "-d", "runs", "compare", "1", "5", check=1)
    assert "run 5: its trace" in p.stderr and "is missing" in p.stderr


def test_review_cases(tmp_path):
    tr = record(tmp_path, 100, "a.trace")
    # a tag that is not UTF-8: refused before anything is written
    p = subprocess.run([os.fsencode(sys.executable), b"-m", b"memtrace", b"archive", b"-d",
                        b"runs", b"add", b"a.trace", b"--tag", b"k=x\xff"], cwd=str(tmp_path),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert p.returncode == 1 and "not valid UTF-8" in p.stderr and "Traceback" not in p.stderr
    traces = tmp_path / "runs" / "traces"
    assert not traces.exists() or not [f for f in os.listdir(str(traces))
                                       if not f.startswith(".")]
    # gc: --protect KEY=VALUE, --max-size from the oldest
    for rel in ("1", "2", "3", "4"):
        mt(tmp_path, "archive", "-d", "runs", "add", "-q", tr, "--tag", "release=" + rel,
           check=0)
    size = ls(tmp_path)["runs"][0]["size"]
    p = mt(tmp_path, "archive", "-d", "runs", "gc", "--max-size", str(size * 2),
           "--protect", "release=1", "--dry-run", check=0)
    assert [l.split()[3] for l in p.stdout.splitlines()] == ["2", "3"], p.stdout
    mt(tmp_path, "archive", "-d", "runs", "gc", "--keep", "0", check=2)
    # a rebuild keeps the runs' ids
    before = {r["id"]: r["tags"]["release"] for r in ls(tmp_path)["runs"]}
    mt(tmp_path, "archive", "-d", "runs", "rm", "release=2", check=0)
    mt(tmp_path, "archive", "-d", "runs", "rebuild", check=0)
    after = {r["id"]: r["tags"]["release"] for r in ls(tmp_path)["runs"]}
    del before[2]
    assert after == before
    # a trace still being written (never closed) is flagged; check refuses it
    cut = tmp_path / "cut.trace"
    with open(tr, "rb") as f:
        data = f.read()
    cut.write_bytes(data[:len(data) - 200])
    p = mt(tmp_path, "archive", "-d", "runs", "add", str(cut), check=0)
    assert "[damaged" in p.stdout or "not closed" in mt(tmp_path, "archive", "-d", "runs",
                                                        "ls", check=0).stdout
    p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "release=1",
           "--fail-if", "peak>+10%", check=1)
    assert "--allow-damaged" in p.stderr
    # errors, not tracebacks; nothing made where there is no archive
    (tmp_path / "plain").mkdir()
    p = mt(tmp_path, "archive", "-d", "plain", "ls", check=1)
    assert "no archive here" in p.stderr and os.listdir(str(tmp_path / "plain")) == []
    p = mt(tmp_path, "archive", "-d", "a.trace", "add", tr, check=1)
    assert "not a directory" in p.stderr
    p = mt(tmp_path, "archive", "-d", "runs", "trend", "leaked", "-o", "/nonexistent/t.svg",
           check=1)
    assert "cannot write /nonexistent/t.svg" in p.stderr


def test_second_review_cases(tmp_path):
    tr = record(tmp_path, 100, "a.trace")
    for rel in ("1", "2"):
        mt(tmp_path, "archive", "-d", "runs", "add", "-q", tr, "--tag", "release=" + rel,
           check=0)
    # conditions: what memtrace diff takes, this takes; what it refuses, this refuses
    for ok in ("peak>1k", "peak>+1kB", "duration>1min", "peak>5.", "B:end>=-5MiB"):
        p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "1", "--run", "2",
               "--fail-if", ok)
        assert p.returncode in (0, 3), (ok, p.stderr)
    for bad in ("func:foo>1XB", "calls:foo>1K", "alloc:f.count>1MiB"):
        p = mt(tmp_path, "archive", "-d", "runs", "check", "--baseline", "1", "--run", "2",
               "--fail-if", bad, check=2)
        assert "--fail-if" in p.stderr
    # an add killed after its files were in place, before its row: the orphan
    # comes back at a rebuild without taking another run's id
    sys_path = os.environ.get("PYTHONPATH", "")
    code = ("import os, sys\nfrom memtrace import archive\n"
            "a = archive.Archive('runs')\nreal = a._insert\n"
            "def die(side, keep_id=False):\n    os._exit(9)\n"
            "a._insert = die\na.add(sys.argv[1], tags={'release': 'orphan'})\n")
    p = subprocess.run([sys.executable, "-c", code, tr], cwd=str(tmp_path))
    assert p.returncode == 9
    mt(tmp_path, "archive", "-d", "runs", "add", "-q", tr, "--tag", "release=3", check=0)
    before = {r["id"]: r["tags"]["release"] for r in ls(tmp_path)["runs"]}
    assert before == {1: "1", 2: "2", 3: "3"}
    p = mt(tmp_path, "archive", "-d", "runs", "rebuild", check=0)
    after = {r["id"]: r["tags"].get("release") for r in ls(tmp_path)["runs"]}
    assert {k: v for k, v in after.items() if v != "orphan"} == before, after
    # from nothing, the ids come from the JSON files
    os.unlink(str(tmp_path / "runs" / "catalogue.sqlite"))
    again = {r["id"]: r["tags"].get("release") for r in ls(tmp_path)["runs"]}
    assert again == after
    # a catalogue of another schema: refused with the way out, then rebuilt
    db = sqlite3.connect(str(tmp_path / "runs" / "catalogue.sqlite"))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()
    p = mt(tmp_path, "archive", "-d", "runs", "ls", check=1)
    assert "schema" in p.stderr and "rebuild" in p.stderr
    mt(tmp_path, "archive", "-d", "runs", "rebuild", check=0)
    assert {r["id"]: r["tags"].get("release") for r in ls(tmp_path)["runs"]} == after
    # a writer that waits too long says so
    holder = subprocess.Popen([sys.executable, "-c",
                               "import fcntl, os, sys, time\n"
                               "fd = os.open('runs/catalogue.lock', os.O_RDWR)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\n"
                               "time.sleep(30)\n"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                              universal_newlines=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        p = subprocess.run([sys.executable, "-m", "memtrace", "archive", "-d", "runs", "add",
                            tr], cwd=str(tmp_path), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                           env=dict(os.environ, MEMTRACE_ARCHIVE_LOCK_TIMEOUT="1"))
        assert p.returncode == 1 and "busy" in p.stderr, p.stderr
        # readers are not held up
        assert len(ls(tmp_path)["runs"]) == len(after)
    finally:
        holder.kill()
        holder.wait()
