"""%load_ext memtrace and the %%memtrace cell magic, under IPython's test
shell (IPython.testing.globalipapp) in a fresh interpreter: the cell runs in
the user's namespace, its 20 MB allocation is named at its line in the text
summary, the report comes as HTML (an iframe holding memtrace plot's page),
-o keeps the trace, --text shows no page, a bad option says so."""

import json
import os
import subprocess
import sys

import pytest

PROG = r'''
import json, os, sys
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output
ip = start_ipython()
ip.run_line_magic("load_ext", "memtrace")
res = {}
with capture_output() as c:
    ip.run_cell_magic("memtrace", "--exact -o cell.trace", "x = 1\nbig = bytearray(20_000_000)\ny = x + 1\n")
res["stdout"] = c.stdout
res["outputs"] = [dict(o.data) for o in c.outputs]
res["ns"] = [ip.user_ns.get("y"), len(ip.user_ns.get("big", b""))]
res["summary"] = dict(ip.user_ns["_memtrace"].summary())
with capture_output() as c:
    ip.run_cell_magic("memtrace", "--text", "z = [bytearray(1000) for _ in range(3000)]\n")
res["text_only"] = [c.stdout, len(c.outputs)]
with capture_output() as c:
    ip.run_cell_magic("memtrace", "--bogus", "w = 1\n")
res["bogus"] = [c.stdout, "w" in ip.user_ns]
# the last expression is the cell's value; an exception fails the cell
with capture_output() as c:
    res["value"] = ip.run_cell_magic("memtrace", "--text", "v = 20\nv * 2\n")
try:
    with capture_output() as c:
        ip.run_cell_magic("memtrace", "--text", "q = bytearray(100)\nraise KeyError('boom')\n")
    res["raised"] = None
except KeyError as e:
    res["raised"] = [str(e), "heap peak" in c.stdout or "RSS peak" in c.stdout]
# as a cell runs: the session's __future__ imports, top-level await, magics
ip.run_cell("from __future__ import annotations")
with capture_output() as c:
    res["cells"] = [
        ip.run_cell_magic("memtrace", "--text", "def f(x: Undefined) -> int: return 1\nf(2)\n"),
        ip.run_cell_magic("memtrace", "--text", "import asyncio\nawait asyncio.sleep(0)\n7\n"),
        ip.run_cell_magic("memtrace", "--text", "8;\n"),
        ip.run_cell_magic("memtrace", "--text", "%time zz = 1\n# a comment\n"),
        ip.user_ns.get("zz")]
print("RESULT" + json.dumps(res, default=str))
'''


def test_cell_magic(tmp_path):
    pytest.importorskip("IPython", reason="IPython is not installed (tests/python/run.sh "
                                          "installs it when it can)")
    (tmp_path / "prog.py").write_text(PROG)
    p = subprocess.run([sys.executable, "prog.py"], cwd=str(tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    line = [l for l in p.stdout.splitlines() if l.startswith("RESULT")]
    assert line, p.stdout
    r = json.loads(line[0][len("RESULT"):])
    assert r["ns"] == [2, 20000000]  # the cell ran in the user's namespace
    out = r["stdout"]
    assert "heap peak 19." in out and "left allocated 19." in out, out
    top = [l for l in out.splitlines() if "MiB" in l and "in <module>" in l]
    assert top and top[0].split()[2].endswith(":2"), out  # the allocating line of the cell
    assert "trace: " in out and os.path.exists(str(tmp_path / "cell.trace"))
    assert r["summary"]["heap_peak_bytes"] >= 20000000
    html = [o for o in r["outputs"] if "text/html" in o]
    assert len(html) == 1, r["outputs"]
    h = html[0]["text/html"]
    assert h.startswith("<iframe srcdoc=") and "&lt;svg" in h and "cell.html" in \
        html[0]["text/plain"]
    assert "http://" not in h.replace("http://www.w3.org", "")  # nothing fetched from outside
    text, n = r["text_only"]
    assert n == 0 and "heap peak" in text
    msg, ran = r["bogus"]
    assert "%%memtrace: unknown option '--bogus'" in msg and not ran
    assert r["value"] == 40
    assert r["raised"] == ["'boom'", True]
    assert r["cells"] == [1, 7, None, None, 1]
