"""Forks from threads, back to back, in children and grandchildren too, and
a fork Pool whose workers fork (CPython's test_multiprocessing_fork): the
output and exit status are the bare run's, nothing is said on stderr, no
child crashes, every forked process starts with only its own session's
recorder threads, and every trace is whole and closed.

On 3.12+ the recorder's writer and sampler are stopped before each fork and
started again lazily after it, by a pending call (which only the main
thread runs) or by the first thread that needs a buffer. A thread that
forks again while the main thread waits in join() forks while they are
still stopped from the fork before. Before 995f4f5 ("recorder: nothing
restarts the recorder's threads during a fork, nor in a child before it
forgets the parent's session") such a fork left in_fork clear: a child
could start the parent's session's writer and sampler again before its
after-fork hook forgot that session, and they ran on beside the child's own
(two more threads in 35-45% of the children here). On 3.13.0 that
showed as traces with checksum mismatches or never closed, writers saying
"out of memory", children dying of SIGSEGV or SIGABRT (free(): invalid next
size), and runs taking 10-20 s instead of half a second.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import DECODE

PROG = r'''
import multiprocessing, os, sys, threading, warnings

# 3.12+ warns when a process with threads forks, as often as its threads
# happen to be alive at that moment: bare and recorded alike, but not as
# many times from one run to the next.
warnings.simplefilter("ignore", DeprecationWarning)

# "PID THREADS" for each process (one write each, O_APPEND: whole lines).
PROCS = os.open("procs", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def say_threads(who):
    os.write(PROCS, b"%s %d\n" % (who, len(os.listdir("/proc/self/task"))))


def leaf(n):
    return len(str([i * 3 for i in range(n)]))


def forker(nforks, child, statuses):
    # Forks back to back while the main thread waits in join(): nothing
    # runs its pending calls, so each fork after the first comes while the
    # recorder's threads are still stopped from the one before.
    pids = []
    for _ in range(nforks):
        pid = os.fork()
        if pid == 0:
            say_threads(b"%d" % os.getpid())
            os._exit(child())
        pids.append(pid)
    statuses.extend(os.waitpid(pid, 0)[1] for pid in pids)


def forkers(nthreads, nforks, child):
    statuses = []
    ths = [threading.Thread(target=forker, args=(nforks, child, statuses))
           for _ in range(nthreads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return statuses


def grandchild():
    return 0 if leaf(200) == leaf(200) else 5


def child():
    # Forked from a thread, a child does the same with threads of its own.
    n = leaf(300)
    statuses = forkers(2, 2, grandchild)
    return 0 if statuses == [0] * 4 and n == leaf(300) else 4


def task(x):
    # A pool worker (forked by the pool's handler thread) forks from a thread.
    return x, leaf(100 + x), forkers(1, 2, grandchild)


if __name__ == "__main__":
    say_threads(b"main")
    for r in range(int(sys.argv[1])):
        print("round", r, forkers(3, 3, child))
    pool = multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1)
    print(pool.map(task, range(6), chunksize=1))
    pool.close()  # not terminate(): the workers leave by os._exit
    pool.join()
    print("done")
'''

ROUNDS = 4
FORKED = ROUNDS * 3 * 3 * (1 + 2 * 2) + 6 * 2  # children, grandchildren


def run(cwd, args):
    cwd.mkdir()
    (cwd / "prog.py").write_text(PROG)
    return subprocess.run([sys.executable] + args + ["prog.py", str(ROUNDS)], cwd=str(cwd),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=90)


def procs(d):
    """[(pid or 'main', threads at its start)]"""
    return [(w, int(n)) for w, n in (l.split() for l in (d / "procs").read_text().splitlines())]


@pytest.mark.parametrize("mode", ["alloc", "trace"])
def test_forks_from_threads_in_children_and_grandchildren(tmp, mode):
    bare = run(tmp / "bare", [])
    assert bare.returncode == 0, bare.stderr
    assert bare.stdout.count(" [0, 0, 0, 0, 0, 0, 0, 0, 0]\n") == ROUNDS, bare.stdout
    assert bare.stdout.endswith("done\n") and bare.stderr == "", bare.stderr
    assert set(n for _, n in procs(tmp / "bare")) == {1}

    opts = ["--mode", mode] + (["--alloc=exact"] if mode == "alloc" else [])
    d = tmp / "rec"
    rec = run(d, ["-m", "memtrace", "run", "-q", "-o", "t.trace"] + opts)
    problems = []
    # A child that crashed (a signal) or failed (a status) shows in its
    # parent's list; a writer's notice ("out of memory") on stderr.
    if (rec.returncode, rec.stdout, rec.stderr) != (0, bare.stdout, bare.stderr):
        problems.append("exit %s\nstdout:\n%s\nstderr:\n%s"
                        % (rec.returncode, rec.stdout, rec.stderr[-3000:]))

    # A forked process has the threads its own session starts, as many as
    # the main process has at its start (its writer and sampler): none of
    # its parent's session.
    threads = procs(d)
    ours = dict(threads).get("main")
    threads = [(p, n) for p, n in threads if p != "main"]
    if len(threads) != FORKED:
        problems.append("%d forked processes started, not %d" % (len(threads), FORKED))
    more = sorted("%s: %d" % (p, n) for p, n in threads if n != ours)
    if more:
        problems.append("%d of %d forked processes start with other than %d threads: %s"
                        % (len(more), len(threads), ours, ", ".join(more[:10])))

    # Each recorded into a file of its own (t.PID.trace, t.PID.PID.trace for
    # a grandchild), whole and closed (os._exit finishes it).
    traces = sorted(f for f in os.listdir(str(d)) if f.endswith(".trace"))
    missing = [p for p, _ in threads if not any(f.endswith(".%s.trace" % p) for f in traces)]
    if missing:
        problems.append("no trace for %d processes: %s" % (len(missing), missing[:10]))
    c = subprocess.run([DECODE, "--check"] + traces, cwd=str(d), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    verdicts = dict(line.split(": ", 1) for line in c.stdout.splitlines() if ": " in line)
    bad = sorted("%s: %s" % (f, verdicts.get(f, "no verdict")) for f in traces
                 if not re.match(r"ok, .*\bclosed$", verdicts.get(f, ""))
                 or verdicts[f].endswith("not closed"))
    if c.returncode != 0 or bad:
        problems.append("memtrace-decode --check (exit %d): %d of %d traces not whole:\n%s"
                        % (c.returncode, len(bad), len(traces), "\n".join(bad[:10])))
    assert not problems, "\n\n".join(problems)
