"""One table, every subcommand: the rules every memtrace command follows.

For each command of the table below, through `memtrace CMD` (the dispatcher)
and through its memtrace-CMD name:
  - --help prints the usage on stdout, exit 0, and `memtrace help CMD` the same;
  - a usage error is two lines on stderr, its reason and a pointer to --help,
    nothing on stdout, exit 2 (an unknown option, a missing value, an
    abbreviation, a malformed time);
  - options may follow the operands (except run and poll, whose operands are
    a command with its own options);
  - --from takes one time syntax everywhere: "5ms", "0.005", "@UNIX" and
    ISO-8601 name the same instant and give the same output.

usage: python3 cli_table.py BIN_DIR PYTHONPATH TRACE TRACE2 WORKDIR
(TRACE, TRACE2: traces with calls, RSS and threads, e.g. analyze_mktrace basic)
"""

import datetime
import json
import os
import subprocess
import sys

BIN, PYPATH, T1, T2, WORK = [os.path.abspath(a) for a in sys.argv[1:6]]

ENV = dict(os.environ, PYTHONPATH=PYPATH)
PY = os.environ.get("PYTHON", sys.executable)

# name: (operands, options that may follow them (OUT: a fresh output path),
#        takes --from/--to)
TABLE = {
    "analyze": ([T1], ["--json"], True),
    "decode": ([T1], ["--json"], True),
    "diff": ([T1, T2], ["--json"], True),
    "filter": ([T1], ["-o", "OUT.trace"], True),
    "plot": ([T1], ["-o", "OUT.svg"], True),
    "poll": (None, None, False),
    "bpf": (None, None, False),
    "run": (None, None, False),
    "archive": (None, None, False),
}
PYTHON_ONLY = ("run", "archive")  # no memtrace-CMD executable: "memtrace CMD" speaks

passed = failed = 0
seq = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s%s" % (what, "\n  " + detail.replace("\n", "\n  ") if detail else ""))


def run(argv):
    return subprocess.run(argv, cwd=WORK, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


def fresh(args):
    """OUT in args becomes a new file name; returns (args, that name)."""
    global seq
    seq += 1
    out = None
    res = []
    for a in args:
        if "OUT" in a:
            out = a.replace("OUT", "out%d" % seq)
            a = out
        res.append(a)
    return res, out


def invocations(name):
    """How a user runs the command: memtrace CMD, and memtrace-CMD."""
    inv = [("memtrace %s" % name, [PY, "-m", "memtrace", name])]
    if name not in PYTHON_ONLY:
        inv.append(("memtrace-%s" % name, [os.path.join(BIN, "memtrace-" + name)]))
    return inv


def prog_of(label, name):
    # The C tools speak as memtrace-CMD under either name; run as "memtrace run".
    return "memtrace " + name if name in PYTHON_ONLY else "memtrace-" + name


def usage_error(label, name, argv, says):
    p = run(argv)
    err = p.stderr.decode(errors="replace").splitlines()
    prog = prog_of(label, name)
    ok = (p.returncode == 2 and not p.stdout and len(err) == 2 and says in err[0] and
          err[0].startswith(prog + ": ") and err[1] == "%s: see %s --help" % (prog, prog))
    check(ok, "%s: usage error for %s" % (label, " ".join(argv[-3:])),
          "exit %d, stderr %r, stdout %r" % (p.returncode, err, p.stdout[:80]))


def output_of(p, out):
    if out:
        try:
            with open(os.path.join(WORK, out), "rb") as f:
                return f.read()
        except OSError:
            return None
    return p.stdout


def header(path):
    p = run([os.path.join(BIN, "memtrace-decode"), "--header", "--json", path])
    return json.loads(p.stdout)


wall = header(T1)["wall_ns"] + 5000000
sec, ns = divmod(wall, 10**9)
iso = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime(
    "%Y-%m-%dT%H:%M:%S") + ".%09dZ" % ns
SAME_INSTANT = ["5ms", "0.005", "@%d.%09d" % (sec, ns), iso]

for name, (operands, after, times) in TABLE.items():
    for label, base in invocations(name):
        # --help, and memtrace help CMD
        p = run(base + ["--help"])
        out = p.stdout.decode(errors="replace")
        check(p.returncode == 0 and out.startswith("usage:") and not p.stderr,
              "%s --help" % label, "exit %d, %r" % (p.returncode, out[:80]))
        h = run([PY, "-m", "memtrace", "help", name])
        check(h.stdout == p.stdout, "memtrace help %s is %s --help" % (name, label))
        # usage errors
        usage_error(label, name, base + ["--bogus-option"], "unknown option '--bogus-option'")
        if name != "run":
            usage_error(label, name, base + ["--hel"], "(did you mean '--help'? options are "
                        "not abbreviated)")
        if times:
            usage_error(label, name, base + operands + ["--from", "yesterday"],
                        "invalid time 'yesterday' for --from (want e.g. 1.5, 200ms")
            usage_error(label, name, base + operands + ["--from"],
                        "option '--from' needs a value")
        if operands is None:
            continue
        # options after the operands
        args, out = fresh(after)
        p = run(base + operands + args)
        check(p.returncode == 0 and output_of(p, out),
              "%s: options after the operands (%s)" % (label, " ".join(args)),
              p.stderr.decode(errors="replace"))
        # one time syntax: four spellings of one instant, one output
        if times:
            outs = []
            for t in SAME_INSTANT:
                args, out = fresh(after)
                p = run(base + ["--from", t] + operands + args)
                check(p.returncode == 0, "%s --from %s" % (label, t),
                      p.stderr.decode(errors="replace"))
                o = output_of(p, out)
                if out and o is not None:
                    # a path in the output names the file: make them alike
                    o = o.replace(out.encode(), b"OUT")
                outs.append(o)
            check(all(o == outs[0] for o in outs) and outs[0],
                  "%s: --from %s give one output" % (label, ", ".join(SAME_INSTANT)))

print("cli_table: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
