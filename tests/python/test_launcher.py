"""python -m memtrace run, and MEMTRACE=... at interpreter start-up."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import DECODE, count, decode

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
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "--mode", mode, "prog.py", "3"], tmp)
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    assert bare.returncode == 3
    recs = decode(tmp / "out.trace")
    assert count(recs, "call", "work") == 5


def test_run_uncaught_exception_like_python(tmp):
    (tmp / "prog.py").write_text(PROG)
    bare = run(["prog.py", "boom"], tmp)
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "prog.py", "boom"], tmp)
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
    rec = run(["-m", "memtrace", "run", "-q", "-o", "m.trace", "--mode", "profile", "-m", "mypkg", "0"],
              tmp)
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
def test_bad_arguments_exit_2_with_one_line(tmp, args):
    (tmp / "x.py").write_text("print('ran')\n")
    p = run(["-m", "memtrace"] + args, tmp)
    assert p.returncode == 2, p.stderr
    # The reason, then where the help is: not the whole help.
    lines = p.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("memtrace") and "--help" in lines[1], lines
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


@pytest.mark.parametrize("mode", ["profile", "trace", "fast", "alloc"])
def test_launcher_frames_stay_out_of_the_trace(tmp, mode):
    """No frame of the launcher or of runpy is ever above a frame of the
    program: replaying each thread's stack from the records, every call of
    a function of prog.py has only program frames (and exec) beneath it."""
    (tmp / "prog.py").write_text(PROG)
    args = ["-m", "memtrace", "run", "-q", "-o", "out.trace", "prog.py"]
    args[3:3] = ["--alloc"] if mode == "alloc" else ["--mode", mode]
    rec = run(args, tmp)
    assert rec.returncode == 0, rec.stderr
    recs = decode(tmp / "out.trace")
    fn = {r["fid"]: r for r in recs if r["type"] == "function"}

    def launcher(fid):
        f = fn.get(fid, {}).get("file", "")
        return "memtrace" in f or "runpy" in f

    stacks, seen = {}, 0
    for r in recs:
        st = stacks.setdefault(r.get("tid"), [])
        if r["type"] == "block":
            st[:] = r["stack"]
        elif r["type"] in ("call", "ccall"):
            if fn.get(r["fid"], {}).get("file", "").endswith("prog.py"):
                seen += 1
                assert not any(launcher(f) for f in st), [fn.get(f, {}).get("qualname") for f in st]
            st.append(r["fid"])
        elif r["type"] in ("return", "creturn", "craise", "unwind") and st:
            st.pop()
    # <module> and five calls of work(); alloc mode writes the stack only at
    # allocations, and work() allocates nothing.
    assert seen >= (1 if mode == "alloc" else 6)


def test_syntax_error_reported_as_python_does(tmp):
    (tmp / "bad.py").write_text("def f(:\n    pass\n")
    bare = run(["bad.py"], tmp)
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "bad.py"], tmp)
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    assert bare.returncode == 1 and "SyntaxError" in bare.stderr


def test_main_module_is_real(tmp):
    """Classes of the program pickle as __main__.X, as under plain python."""
    (tmp / "p.py").write_text(textwrap.dedent("""
        import pickle, sys
        class Point:
            def __init__(self, x):
                self.x = x
        p = pickle.loads(pickle.dumps(Point(7)))
        print(type(p).__module__, p.x, sys.modules["__main__"].__file__.endswith("p.py"))
    """))
    bare = run(["p.py"], tmp)
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "p.py"], tmp)
    assert bare.stdout == "__main__ 7 True\n"
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)


def test_keyboard_interrupt_exits_as_python_does(tmp):
    """Python kills itself with SIGINT after a KeyboardInterrupt (the shell
    sees 130); so does the launcher, after finishing the trace."""
    (tmp / "k.py").write_text("def f():\n    raise KeyboardInterrupt\nf()\n")
    bare = run(["k.py"], tmp)
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "k.py"], tmp)
    assert bare.returncode == -2  # killed by SIGINT
    assert (rec.returncode, rec.stdout, rec.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    p = subprocess.run([DECODE, "--check", str(tmp / "out.trace")], stdout=subprocess.PIPE,
                       universal_newlines=True)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("closed"), p.stdout


def test_symlinked_script_path_as_python(tmp):
    (tmp / "real").mkdir()
    (tmp / "real" / "s.py").write_text("import sys\nprint(sys.path[0])\n")
    os.symlink(str(tmp / "real" / "s.py"), str(tmp / "link.py"))
    bare = run(["link.py"], tmp)
    rec = run(["-m", "memtrace", "run", "-q", "-o", "out.trace", "link.py"], tmp)
    assert bare.stdout.strip().endswith("real")
    assert rec.stdout == bare.stdout


def test_launcher_says_where_and_what_next_and_keeps_files(tmp):
    (tmp / "app.py").write_text("x = bytearray(10**6)\nprint('ran')\n")
    p = run(["-m", "memtrace", "run", "app.py"], tmp)
    assert p.returncode == 0 and p.stdout == "ran\n", p.stderr
    made = [n for n in os.listdir(tmp) if n.startswith("memtrace-app.") and n.endswith(".trace")]
    assert len(made) == 1, made
    path = made[0]
    lines = p.stderr.splitlines()
    assert lines[0] == "memtrace run: recording into %s" % path, lines
    assert lines[-1].startswith("memtrace run: wrote %s (" % path), lines
    assert "memtrace analyze %s" % path in lines[-1]
    stem = path[:-len(".trace")]
    assert lines[-1].endswith("memtrace plot %s -o %s.html" % (path, stem)), lines
    assert len(lines) == 2, lines
    # An existing trace is kept unless -f; nothing runs.
    before = (tmp / path).read_bytes()
    p = run(["-m", "memtrace", "run", "-o", path, "app.py"], tmp)
    assert p.returncode == 1 and "ran" not in p.stdout
    assert p.stderr.splitlines() == ["memtrace run: %s exists: give -f to overwrite it, or -o "
                                     "another file" % path]
    assert (tmp / path).read_bytes() == before
    p = run(["-m", "memtrace", "run", "-q", "-f", "-o", path, "app.py"], tmp)
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "ran\n"
    assert (tmp / path).read_bytes() != before


@pytest.mark.parametrize("verbose", [[], ["-q"]])
def test_the_launchers_own_frames_are_not_recorded(tmp, verbose):
    """Not the frames that start the recording (start, _start, _start_core),
    not the exec of the program, not the end of the recording at exit
    (memtrace's atexit handler, stop, the launcher's report): only the
    program's calls, including its own atexit handler's."""
    import memtrace
    (tmp / "app.py").write_text(textwrap.dedent("""
        import atexit
        def bye():
            return 1
        atexit.register(bye)
        def grow():
            return [bytearray(10**5) for _ in range(10)]
        x = grow()
    """))
    p = run(["-m", "memtrace", "run", "-o", "t.trace", "--mode", "profile"] + verbose +
            ["app.py"], tmp)
    assert p.returncode == 0, p.stderr
    recs = decode(tmp / "t.trace")
    fns = {r["fid"]: r for r in recs if r["type"] == "function"}
    called = [fns[r["fid"]] for r in recs if r["type"] in ("call", "ccall")]
    pkg = os.path.dirname(os.path.abspath(memtrace.__file__))
    own = [(f["qualname"], f["file"]) for f in called
           if f["file"].startswith(pkg + os.sep) or f["qualname"] in ("exec", "stop", "start")]
    assert not own, own
    names = [f["qualname"] for f in called]
    assert "grow" in names and "bye" in names and "<module>" in names, names
    # no return is left without its call: the frames memtrace hid at the start
    # were not pushed, and their returns were ignored
    assert sum(r["type"] == "block" and r["depth"] > 0 for r in recs if r.get("tid") == 1) == 0
