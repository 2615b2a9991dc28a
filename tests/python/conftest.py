"""Shared helpers for the recorder tests: run a Python snippet in a fresh
interpreter (the hooks are process-wide, so each recording gets its own
process) and read traces back through memtrace-decode --json."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

DECODE = os.environ.get("MEMTRACE_DECODE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin", "memtrace-decode")


# Children run in other directories: make the package path absolute.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p)


def run_py(code, cwd, args=(), env=None, timeout=60, check=True, **kw):
    """Run code (dedented) with this interpreter in cwd; return the
    CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    script = os.path.join(str(cwd), "prog.py")
    with open(script, "w") as f:
        f.write(textwrap.dedent(code))
    p = subprocess.run([sys.executable, script] + list(args), cwd=str(cwd), env=full_env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("program failed (%d):\nstdout:\n%s\nstderr:\n%s"
                             % (p.returncode, p.stdout, p.stderr))
    return p


def _decode_out(path, types):
    cmd = [DECODE, "--json"] + (["--type", ",".join(types)] if types else []) + [str(path)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, "memtrace-decode failed: %s" % p.stderr.decode(errors="replace")
    return p.stdout


def decode(path, types=None):
    """The records of a trace as dicts (memtrace-decode --json), or only
    those of the given types (--type: far quicker on big traces). One
    json.loads over the whole output: half the time of one per line."""
    out = _decode_out(path, types).rstrip(b"\n")
    return json.loads(b"[" + out.replace(b"\n", b",") + b"]") if out else []


def ntype(path, *types):
    """How many records of these types the trace holds (not parsed)."""
    return _decode_out(path, types).count(b"\n")


def header(path):
    """The trace's header as a dict (memtrace-decode --header --json)."""
    p = subprocess.run([DECODE, "--header", "--json", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert p.returncode == 0, "memtrace-decode failed: %s" % p.stderr
    return json.loads(p.stdout)


def check(path):
    """memtrace-decode --check: (exit code, output)."""
    p = subprocess.run([DECODE, "--check", str(path)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    return p.returncode, p.stdout


def count(records, type_, name=None, tid=None):
    return sum(1 for r in records if r["type"] == type_
               and (name is None or r.get("name") == name)
               and (tid is None or r.get("tid") == tid))


def replay_stacks(records, types=("alloc", "free", "realloc")):
    """Yield (record, frames, thread name) for each record whose type is in
    types: frames are the FUNCTION records of the thread's stack, outermost
    first, as a reader tracks it from BLOCK, call and return records."""
    funcs, threads, stacks = {}, {}, {}
    for r in records:
        t = r["type"]
        if t == "function":
            funcs[r["fid"]] = r
        elif t == "thread":
            threads[r["tid"]] = r["name"]
        elif t == "block":
            stacks[r["tid"]] = list(r["stack"])
        elif t in ("call", "ccall"):
            stacks.setdefault(r["tid"], []).append(r["fid"])
        elif t in ("return", "creturn", "craise", "unwind"):
            s = stacks.setdefault(r["tid"], [])
            if s:
                s.pop()
        if t in types:
            yield (r, [funcs.get(f, {"qualname": "?", "kind": "?"}) for f in stacks.get(r["tid"], [])],
                   threads.get(r["tid"]))


def replay_lines(records, types=("alloc", "free", "realloc")):
    """Yield (record, [(qualname, line), ...] outermost first) for each record
    whose type is in types: the thread's stack with each frame's line as a
    reader tracks it from BLOCK (and its 1.3 positions), calls, returns and
    POS records (memtrace-decode resolves offsets to lines; 0: unknown)."""
    funcs, stacks = {}, {}
    for r in records:
        t = r["type"]
        if t == "function":
            funcs[r["fid"]] = r["qualname"]
        elif t == "block":
            stacks[r["tid"]] = [[f, ln] for f, ln in zip(r["stack"], r.get("lines") or [0] * r["depth"])]
        elif t in ("call", "ccall"):
            stacks.setdefault(r["tid"], []).append([r["fid"], 0])
        elif t in ("return", "creturn", "craise", "unwind"):
            if stacks.get(r["tid"]):
                stacks[r["tid"]].pop()
        elif t == "pos":
            st = stacks.get(r["tid"], [])
            for f in r["frames"]:
                if f["level"] < len(st):
                    st[len(st) - 1 - f["level"]][1] = f["line"]
        if t in types:
            yield r, [(funcs.get(fid, "?"), ln) for fid, ln in stacks.get(r["tid"], [])]


def thread_names(records):
    names = {}
    for r in records:
        if r["type"] == "thread":
            names[r["tid"]] = r["name"]
    return names


@pytest.fixture
def tmp(tmp_path):
    return tmp_path
