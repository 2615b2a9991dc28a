"""The memtrace command (memtrace/cli.py): one command table, subcommands
that run the C tools, usage errors of one line, run -c; and a fresh venv
where `pip install` gives every subcommand with no other step."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import DECODE

TOOLS_BUILT = os.path.exists(os.path.join(os.path.dirname(DECODE), "memtrace-analyze"))


def mt(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "memtrace"] + args, cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, **kw)


def test_help_lists_the_command_table(tmp_path):
    from memtrace import cli
    p = mt(["--help"], tmp_path)
    assert p.returncode == 0
    for name, what in cli.COMMANDS:
        assert "  %-9s %s" % (name, what) in p.stdout


@pytest.mark.parametrize("args, says", [
    ([], "no command given"),
    (["anlyze", "x.trace"], "did you mean 'analyze'?"),
    (["help", "nope"], "unknown command 'nope'"),
    (["run", "-c"], "-c needs the code to run"),
    (["run", "--alloc", "sampled", "app.py"], "--alloc takes its value after '=': --alloc=sampled"),
])
def test_usage_errors_are_one_line_and_a_pointer(tmp_path, args, says):
    p = mt(args, tmp_path)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 2 and says in lines[0] and "--help" in lines[1], lines


@pytest.mark.skipif(not TOOLS_BUILT, reason="the C tools are not built (make)")
def test_run_c_then_analyze_and_help(tmp_path):
    p = mt(["run", "-o", "x.trace", "-c", "import sys; x = bytearray(10**8); print(sys.argv)",
            "a", "b"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "['-c', 'a', 'b']\n"
    a = mt(["analyze", "--json", "x.trace"], tmp_path)
    assert a.returncode == 0, a.stderr
    heap = json.loads(a.stdout)["heap"]
    top = heap["peak"][0]
    assert top["bytes"] >= 10**8 and (top["file"], top["line"]) == ("<string>", 1), top
    h = mt(["help", "analyze"], tmp_path)
    assert h.returncode == 0 and "memtrace-analyze" in h.stdout


@pytest.mark.skipif(not TOOLS_BUILT, reason="the C tools are not built (make)")
@pytest.mark.skipif(not shutil.which("bash"), reason="bash is not installed")
def test_bash_completion_from_the_command_table(tmp_path):
    """The script completes subcommands from the table and each one's
    options from its --help, for memtrace CMD and the memtrace-CMD names."""
    script = mt(["completion", "bash"], tmp_path)
    assert script.returncode == 0, script.stderr
    (tmp_path / "c.bash").write_text(script.stdout)
    probe = """
source ./c.bash
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _memtrace;
      echo "${COMPREPLY[*]}"; }
t memtrace an
t memtrace analyze --tr
t memtrace help pl
t memtrace-plot --fo
t memtrace run --na
t memtrace poll --tre
"""
    p = subprocess.run(["bash", "-c", probe], cwd=str(tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["analyze", "--tree", "plot", "--format", "--native",
                                     "--tree"], p.stdout
    bad = mt(["completion", "fish"], tmp_path)
    assert bad.returncode == 2 and "give the shell: bash or zsh" in bad.stderr


def test_fresh_venv_pip_install_gives_every_subcommand(tmp_path):
    """pip install of the source tree into a new venv: memtrace run, analyze,
    plot and diff work with no other step. One Python (the slowest part of
    the suite: it compiles everything), and only where pip can build."""
    if sys.version_info[:2] != (3, 11):
        pytest.skip("run on CPython 3.11 only (it builds everything: about a minute)")
    if not shutil.which("cc"):
        pytest.skip("no C compiler")
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    py = str(venv / "bin" / "python")
    src = tmp_path / "src"  # a copy without build/ (as a fresh clone is)
    shutil.copytree(top, str(src), ignore=shutil.ignore_patterns("build", ".git", "*.trace"))
    p = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                        "-q", str(src)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=600)
    if p.returncode != 0 and "No module named" in p.stdout and "setuptools" in p.stdout:
        pytest.skip("setuptools is missing here: %s" % p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, p.stdout
    bin_ = venv / "bin"
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # nothing from the build tree
    env["PATH"] = str(bin_) + os.pathsep + env.get("PATH", "")

    def run(*args):
        r = subprocess.run(list(args), cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        assert r.returncode == 0, (args, r.stderr)
        return r

    memtrace = str(bin_ / "memtrace")
    run(memtrace, "run", "-o", "a.trace", "-c", "x = bytearray(10**8)")
    run(memtrace, "run", "-o", "b.trace", "-c", "x = bytearray(2 * 10**8)")
    out = run(memtrace, "analyze", "a.trace").stdout
    assert "Heap at its peak" in out
    run(memtrace, "plot", "a.trace", "-o", "a.html")
    page = (tmp_path / "a.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '<iframe title="timeline"' in page
    run(memtrace, "plot", "a.trace", "-o", "a.svg")
    assert (tmp_path / "a.svg").stat().st_size > 1000
    d = subprocess.run([memtrace, "diff", "a.trace", "b.trace"], cwd=str(tmp_path), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=120)
    assert d.returncode in (0, 3), d.stderr
    assert d.stdout
    # The aliases are there too.
    run(str(bin_ / "memtrace-decode"), "--check", "a.trace")
