"""python -m memtrace run, and MEMTRACE=... at interpreter start-up."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import count, decode

PROG = textwrap.dedent("""
    import sys
    def work(n):
        return n * 2
    for i in range(5):
        work(i)
    print("out", sys.argv[1:])
    sys.stderr.write("err\\n")
    if len(sys.argv) > 1 and sys.argv[1] == "boom":
        raise ValueError("boom")
    sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
""")


def run(args, cwd, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable] + args, cwd=str(cwd), env=e, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


@pytest.mark.parametrize("mode", ["profile", "trace", "fast"])
def test_run_script_preserves_status_and_output(tmp, mode):
    (tmp / "prog.py").write_text(PROG)
    bare = run(["prog.py", "3"], tmp)
    rec = run(["-m", "memtrace", "run", "-o", "out.trace", "--mode", mode, "prog.py", "3"], tmp)
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    assert bare.returncode == 3
    recs = decode(tmp / "out.trace")
    assert count(recs, "call", "work") == 5


def test_run_uncaught_exception_like_python(tmp):
    (tmp / "prog.py").write_text(PROG)
    bare = run(["prog.py", "boom"], tmp)
    rec = run(["-m", "memtrace", "run", "-o", "out.trace", "prog.py", "boom"], tmp)
    assert rec.returncode == bare.returncode == 1
    assert rec.stdout == bare.stdout
    # Same traceback: no frames of the launcher or runpy.
    assert "runpy" not in rec.stderr and "memtrace" not in rec.stderr
    assert rec.stderr.splitlines()[-1] == "ValueError: boom"
    assert len(rec.stderr.splitlines()) == len(bare.stderr.splitlines())


def test_run_module(tmp):
    pkg = tmp / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(PROG)
    rec = run(["-m", "memtrace", "run", "-o", "m.trace", "-m", "mypkg", "0"], tmp)
    assert rec.returncode == 0, rec.stderr
    assert rec.stdout == "out ['0']\n"
    assert count(decode(tmp / "m.trace"), "call", "work") == 5


@pytest.mark.parametrize("args", [
    ["run"],
    ["run", "--mode"],
    ["run", "--mode", "warp", "x.py"],
    ["run", "--bogus", "x.py"],
    ["run", "--rss-interval", "soon", "x.py"],
    ["run", "-m"],
    ["fly"],
    [],
])
def test_bad_arguments_exit_2_with_usage(tmp, args):
    (tmp / "x.py").write_text("print('ran')\n")
    p = run(["-m", "memtrace"] + args, tmp)
    assert p.returncode == 2, p.stderr
    assert "usage:" in p.stderr
    assert "ran" not in p.stdout


def test_missing_script(tmp):
    p = run(["-m", "memtrace", "run", "nope.py"], tmp)
    assert p.returncode == 2
    assert "nope.py" in p.stderr and "No such file" in p.stderr
    assert not any(n.endswith(".trace") for n in os.listdir(tmp))


def test_memtrace_environment_variable(tmp):
    # The .pth file does the work at start-up; site.addsitedir() reads the
    # .pth files of the build directory as site-packages would.
    build = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if os.path.exists(os.path.join(p, "memtrace-autostart.pth"))]
    assert build, "memtrace-autostart.pth not found on PYTHONPATH"
    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import site; site.addsitedir(%r)\n" % build[0])
    (tmp / "prog.py").write_text(PROG)
    env = {"PYTHONPATH": os.pathsep.join([str(site), build[0]]),
           "MEMTRACE": "env.trace,mode=fast,flush_interval=0.5"}
    bare = run(["prog.py", "0"], tmp, env={"PYTHONPATH": env["PYTHONPATH"]})
    rec = run(["prog.py", "0"], tmp, env=env)
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    recs = decode(tmp / "env.trace")
    assert count(recs, "call", "work") == 5
    # A second process with the same variable does not overwrite the file.
    run(["prog.py", "0"], tmp, env=env)
    assert len([n for n in os.listdir(tmp) if n.startswith("env.")]) == 2
    # A bad value warns and the program runs unrecorded.
    bad = run(["prog.py", "0"], tmp, env=dict(env, MEMTRACE="x.trace,mode=warp"))
    assert bad.returncode == 0 and bad.stdout == bare.stdout
    assert "MEMTRACE" in bad.stderr and "ignored" in bad.stderr
