#!/usr/bin/env python3
"""regrtest.py - CPython's own regression tests under memtrace, against bare.

For each CPython 3.9+ under /root/.pyenv/versions (or --versions), runs
`python -m test -jJ --timeout T --junit-xml X TESTS` bare and with memtrace
recording every process of the run from interpreter start-up, in each mode:

    bare           no recording (the reference)
    profile        MEMTRACE=...,mode=profile
    trace          mode=trace
    fast           mode=fast
    alloc          mode=alloc,allocations=exact
    alloc-sampled  mode=alloc,allocations=sampled
    profile-alloc  mode=profile,allocations=1

How the recorder is injected, as a user would: memtrace is built for the
version (recorder/build_ext.sh) and installed, as `pip install .` lays it
out (the package plus memtrace-autostart.pth), into the site-packages of a
venv of that version (build/regrtest/venv/VER, made with --without-pip).
The .pth starts recording at start-up when MEMTRACE is set: in the regrtest
process, its workers and every Python child a test starts that sees the
environment (including -E and -I children: MEMTRACE is not a PYTHON*
variable and site-packages is still read). A .pth on PYTHONPATH is never
run, so a build directory on PYTHONPATH would record nothing at start-up.
Bare runs use the same venv without MEMTRACE. Each run writes its traces as
DIR/mt.trace (the first process; the others get mt.PID.trace) in a scratch
directory of its own, deleted after the check unless --keep.

Each run is checked: every test module's outcome (passed, failed, skipped,
env changed, ...) and failing test names (from the JUnit XML) against the
bare run of the same version; the exit status; crash signs in the output
("Fatal Python error", "Segmentation fault", a worker that crashed) that
the bare run does not have; memtrace warnings on the output; and every
trace file with `memtrace-decode --check` (a trace that does not decode is
a difference; one not closed, e.g. a child that left by os._exit, is
counted but is not).

Prints a table mode x version ("same", or what differs) and the wall time
of each cell, writes both with the details to build/regrtest/RESULTS.md
(--out), and exits 1 if any cell differs from bare, 2 on a usage error.

    python3 bench/regrtest.py --quick --versions 3.11,3.12
    python3 bench/regrtest.py --modes bare,fast --tests test_re,test_json
    make regrtest REGRTEST_ARGS="--quick"
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODES = [
    ("bare", None),
    ("profile", "mode=profile"),
    ("trace", "mode=trace"),
    ("fast", "mode=fast"),
    ("alloc", "mode=alloc,allocations=exact"),
    ("alloc-sampled", "mode=alloc,allocations=sampled"),
    ("profile-alloc", "mode=profile,allocations=1"),
]
MODE_SPEC = dict(MODES)

TESTS = ("test_json test_re test_textwrap test_collections test_dataclasses "
         "test_threading test_itertools test_pickle test_csv test_doctest test_pdb "
         "test_sys_settrace test_subprocess test_multiprocessing_fork").split()
QUICK = ("test_json test_re test_textwrap test_collections test_dataclasses "
         "test_csv test_sys_settrace test_threading").split()

CRASH_SIGNS = ("Fatal Python error", "Segmentation fault", "crashed (Exit code",
               "worker non-zero exit code", "Aborted (core dumped)", "timed out",
               "Timeout (", "Error processing line")  # the last: a .pth failed


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def fmt_s(sec):
    if sec is None:
        return "-"
    sec = int(round(sec))
    return "%d:%02d" % (sec // 60, sec % 60) if sec >= 60 else "%ds" % sec


# ---- interpreters and the installed memtrace ---------------------------------

def find_versions(wanted):
    """[(version, python)] for CPython 3.9+ under ~/.pyenv/versions; wanted:
    prefixes such as 3.11 or 3.11.7, or paths of interpreters."""
    found = []
    for d in sorted(glob.glob("/root/.pyenv/versions/3.*")):
        ver = os.path.basename(d)
        m = re.match(r"3\.(\d+)\.\d+$", ver)
        if m and int(m.group(1)) >= 9 and os.access(os.path.join(d, "bin", "python"), os.X_OK):
            found.append((ver, os.path.join(d, "bin", "python")))
    found.sort(key=lambda v: tuple(int(x) for x in v[0].split(".")))
    if not wanted:
        return found
    out = []
    for w in wanted:
        if os.sep in w:
            ver = subprocess.run([w, "-c", "import platform; print(platform.python_version())"],
                                 stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
            out.append((ver or w, w))
            continue
        hits = [v for v in found if v[0] == w or v[0].startswith(w + ".")]
        if not hits:
            log("regrtest: no CPython %s under /root/.pyenv/versions" % w)
        out.extend(h for h in hits if h not in out)
    return out


def prepare(ver, py, build_dir, decode):
    """Build memtrace for py, install it into a venv; return (venv python,
    None) or (None, reason to skip the version)."""
    p = subprocess.run([py, "-m", "test", "--help"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        return None, "no test package (python -m test --help: %s)" % (
            p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    ext = os.path.join(build_dir, "ext", ver)
    p = subprocess.run(["nice", "sh", os.path.join(TOP, "recorder", "build_ext.sh"), py, ext],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if p.returncode != 0:
        return None, "memtrace does not build: %s" % p.stdout.strip().splitlines()[-1:]
    venv = os.path.join(build_dir, "venv", ver)
    vpy = os.path.join(venv, "bin", "python")
    if not os.access(vpy, os.X_OK):
        p = subprocess.run([py, "-m", "venv", "--without-pip", venv],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if p.returncode != 0:
            return None, "cannot make a venv: %s" % p.stdout.strip()
    site = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    shutil.rmtree(os.path.join(site, "memtrace"), ignore_errors=True)
    shutil.copytree(os.path.join(ext, "memtrace"), os.path.join(site, "memtrace"))
    shutil.copy(os.path.join(ext, "memtrace-autostart.pth"), site)
    # The injection works: MEMTRACE alone, no import in the program.
    with tempfile.TemporaryDirectory(prefix="mt-regrtest-probe-") as d:
        env = dict(os.environ, MEMTRACE=os.path.join(d, "probe.trace") + ",mode=fast")
        env.pop("PYTHONPATH", None)
        p = subprocess.run([vpy, "-I", "-c", "import sys; print('memtrace' in sys.modules)"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, cwd=d)
        ok = p.stdout.strip() == "True" and os.path.exists(os.path.join(d, "probe.trace"))
        if ok:
            ok = subprocess.run([decode, "--check", os.path.join(d, "probe.trace")],
                                stdout=subprocess.DEVNULL).returncode == 0
        if not ok:
            return None, "MEMTRACE does not start recording in the venv: %s" % p.stdout.strip()
    return vpy, None


def present_tests(vpy, tests):
    """The tests of the list this build has (some pyenv builds lack a few:
    3.11.7 and 3.12.1 do not install the test_multiprocessing_fork package)."""
    code = ("import importlib.util, sys\n"
            "for t in sys.argv[1:]:\n"
            "    print(t, importlib.util.find_spec('test.' + t) is not None)\n")
    p = subprocess.run([vpy, "-c", code] + tests, stdout=subprocess.PIPE,
                       universal_newlines=True)
    have = dict(line.split() for line in p.stdout.splitlines())
    return [t for t in tests if have.get(t) == "True"]


# ---- one run -----------------------------------------------------------------

SUMMARY_RE = re.compile(r"^(?:All )?(\d+) tests? (.*?)[:.]$")


def parse_summary(out, tests):
    """{module: outcome} from regrtest's final summary; None if there is no
    summary (the run did not finish)."""
    lines = out.splitlines()
    start = None
    for i, line in enumerate(lines):
        if line.startswith("== Tests result:"):
            start = i
    if start is None:
        return None
    res = {}
    cat = None
    for line in lines[start + 1:]:
        m = SUMMARY_RE.match(line)
        if m:
            what = m.group(2)
            if what.startswith("OK"):
                cat = None
            elif "failed again" in what or what.startswith("re-run"):
                cat = None  # a rerun list; the first list says what failed
            elif "failed" in what:
                cat = "failed"
            elif "altered the execution environment" in what:
                cat = "env changed"
            elif "resource denied" in what:
                cat = "skipped (resource denied)"
            elif "skipped" in what:
                cat = "skipped"
            elif "run no tests" in what:
                cat = "no tests run"
            elif "omitted" in what or "did not run" in what:
                cat = "not run"
            else:
                cat = what
            continue
        if cat and line.startswith("    "):
            for name in line.split():
                res[name] = cat
        elif not line.startswith("    "):
            cat = None
    return {t: res.get(t, "passed") for t in tests}


PROGRESS_RE = re.compile(r"\] (test_\w+) (.*)$")


def progress_notes(out):
    """{module: text} for modules whose progress line says crashed or timed out."""
    notes = {}
    for line in out.splitlines():
        m = PROGRESS_RE.search(line)
        if m and any(w in m.group(2) for w in ("crashed", "timed out", "non-zero exit")):
            notes[m.group(1)] = m.group(2)
    return notes


def one_line(text, limit=160):
    lines = [s.strip() for s in (text or "").strip().splitlines() if s.strip()]
    # the exception line: the last that looks like "NameError: message" (a
    # child's stderr quoted in the message comes after the AssertionError)
    for i in range(len(lines) - 1, -1, -1):
        s = lines[i]
        if re.match(r"^(Fatal Python error|[\w.]*(Error|Exception|Failure|Exit|Interrupt|Warning)\b)", s):
            if s.endswith(":") and i + 1 < len(lines):
                s += " " + lines[i + 1]  # "Items in the first set but not the second:"
            return s[:limit]
    return (lines[-1] if lines else "")[:limit]


def parse_junit(path):
    """{module: {test id: one-line error}} of failed and errored tests."""
    out = {}
    if not os.path.exists(path):
        return out
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return out
    for case in root.iter("testcase"):
        for tag in ("failure", "error"):
            el = case.find(tag)
            if el is None:
                continue
            # regrtest puts the whole id in name (test.test_re.ReTests.test_x)
            # on some versions, class and method apart on others
            cls = case.get("classname") or ""
            name = case.get("name") or ""
            full = name if not cls or name.startswith(cls + ".") else cls + "." + name
            full = full.split(" ")[0]
            parts = full.split(".")
            if len(parts) > 2 and parts[0] == "test":
                module, tid = parts[1], ".".join(parts[2:])
            else:
                module, tid = "?", full
            msg = one_line(el.text) or (el.get("message") or "").strip().splitlines()[0:1]
            if isinstance(msg, list):
                msg = msg[0] if msg else ""
            out.setdefault(module, {})[tid] = "%s: %s" % (tag, msg)
    return out


def check_traces(decode, tdir):
    """(files, damaged [(file, line)], not closed, bytes)."""
    files = sorted(glob.glob(os.path.join(tdir, "*.trace")))
    nbytes = sum(os.path.getsize(f) for f in files)
    damaged, unclosed = [], 0
    for i in range(0, len(files), 200):
        p = subprocess.run(["nice", "-n", "19", decode, "--check"] + files[i:i + 200],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        why = {}  # file -> first diagnostic on stderr
        for line in p.stderr.splitlines():
            for f in files[i:i + 200]:
                if f in line:
                    why.setdefault(f, line.split(f, 1)[1].lstrip(": "))
        for line in p.stdout.splitlines():
            name, _, verdict = line.partition(": ")
            if verdict.startswith("ok"):
                if "not closed" in verdict:
                    unclosed += 1
            elif verdict:
                text = "%s: %s" % (os.path.basename(name), verdict)
                if name in why:
                    text += " (%s)" % why[name]
                damaged.append((os.path.basename(name), text))
    return len(files), damaged, unclosed, nbytes


def run_cell(vpy, ver, mode, tests, args, decode, log_dir):
    """Run the tests once; return a dict describing the run."""
    work = tempfile.mkdtemp(prefix="mt-regrtest-%s-%s-" % (ver, mode),
                            dir=args.scratch)
    tdir = os.path.join(work, "traces")
    os.mkdir(tdir)
    junit = os.path.join(work, "junit.xml")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("MEMTRACE", None)
    if MODE_SPEC[mode]:
        env["MEMTRACE"] = os.path.join(tdir, "mt.trace") + "," + MODE_SPEC[mode]
    cmd = ["nice", "-n", "19", vpy, "-m", "test", "-j%d" % args.jobs,
           "--timeout=%d" % args.timeout, "--junit-xml", junit] + tests
    limit = args.timeout * len(tests) + 300
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True,
                           errors="replace", timeout=limit)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"")
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        rc = "timeout after %ds" % limit
    wall = time.monotonic() - t0
    with open(os.path.join(log_dir, "%s-%s.log" % (ver, mode)), "w") as f:
        f.write("$ %s %s\n" % ("MEMTRACE=" + env["MEMTRACE"] if "MEMTRACE" in env else "",
                               " ".join(cmd)))
        f.write(out)
    r = {"rc": rc, "wall": wall, "outcomes": parse_summary(out, tests),
         "notes": progress_notes(out), "failures": parse_junit(junit),
         "signs": {s: out.count(s) for s in CRASH_SIGNS if s in out},
         "warnings": sorted(set(re.sub(r"\b(child|pid|process) \d+", r"\1 N",
                                       re.sub(r"MEMTRACE=\S*", "MEMTRACE=...", line.strip()))
                                for line in out.splitlines()
                                if line.startswith("memtrace:")))[:5]}
    if MODE_SPEC[mode]:
        r["traces"] = check_traces(decode, tdir)
    if args.keep:
        r["kept"] = work
    else:
        shutil.rmtree(work, ignore_errors=True)
    return r


# ---- comparison and report -----------------------------------------------------

def compare(bare, r):
    """[(short, long)] differences of run r from the bare run of its
    version: short for the table cell, long for the details."""
    diffs = []
    if r["outcomes"] is None:
        diffs.append(("no result", "no result: regrtest did not finish (exit %s)" % r["rc"]))
    elif bare["outcomes"] is not None:
        for t, o in r["outcomes"].items():
            b = bare["outcomes"].get(t)
            note = r["notes"].get(t)
            if o != b:
                diffs.append(("%s %s" % (t, o), "%s: %s (bare: %s)%s"
                              % (t, o, b, " - " + note if note else "")))
    for module, fails in sorted(r["failures"].items()):
        base = bare["failures"].get(module, {})
        new = [tid for tid in sorted(fails) if tid not in base]
        for tid in new:
            diffs.append(("%s: %d failing" % (module, len(new)),
                          "%s: %s: %s" % (module, tid, fails[tid])))
    for module, base in sorted(bare["failures"].items()):
        if r["outcomes"] is None:
            break
        for tid in sorted(set(base) - set(r["failures"].get(module, {}))):
            diffs.append(("%s: passes" % module, "%s: %s passes here, fails bare" % (module, tid)))
    if r["rc"] != bare["rc"] and not diffs:
        diffs.append(("exit %s" % r["rc"], "exit status %s (bare: %s)" % (r["rc"], bare["rc"])))
    for sign, n in sorted(r["signs"].items()):
        if sign not in bare["signs"]:
            short = {"crashed (Exit code": "a worker crashed or hung",
                     "worker non-zero exit code": "a worker crashed or hung",
                     "Timeout (": "a test hung (regrtest timeout)",
                     "Error processing line": "a .pth error on stderr"}.get(sign, sign)
            diffs.append((short, "output has %r (%d times)" % (sign, n)))
    # memtrace's own notices on stderr (a program's tracer displaced
    # recording, ...) are listed apart: they are what issue 11 asks the
    # recorder to say, not a different result (a test comparing a child's
    # stderr would show up as a failure above).
    if "traces" in r:
        files, damaged, _, _ = r["traces"]
        if files == 0:
            diffs.append(("no trace", "no trace written: the recorder did not start"))
        for name, line in damaged[:5]:
            diffs.append(("%d traces damaged" % len(damaged), "trace does not decode: %s" % line))
        if len(damaged) > 5:
            diffs.append(("%d traces damaged" % len(damaged),
                          "... %d more traces do not decode" % (len(damaged) - 5)))
    return diffs


def cell_text(diffs):
    if not diffs:
        return "same"
    shorts = []
    for short, _ in diffs:
        if short not in shorts:
            shorts.append(short)
    # "test_x failed" makes "test_x: N failing" redundant
    mods = set(s.split(" ")[0] for s in shorts if not s.split(" ")[0].endswith(":"))
    shorts = [s for s in shorts if not (s.split(" ")[0].endswith(":")
                                        and s.split(":")[0] in mods and "failing" in s)]
    return "; ".join(shorts)


def report(results, versions, modes, tests_by_ver, skipped, args, started, load0):
    vers = [v for v, _ in versions if v in results]
    out = ["# CPython's regression tests under memtrace", ""]
    out.append("`make regrtest` (bench/regrtest.py): `python -m test -j%d --timeout=%d` "
               "bare and with memtrace recording every process from start-up "
               "(MEMTRACE + the installed memtrace-autostart.pth), per version; "
               "each cell compares every test module's outcome and failing "
               "tests with the bare run of the same version." % (args.jobs, args.timeout))
    out.append("")
    out.append("Started %s UTC, finished %s UTC; load average %s at start, %s at end; "
               "machine: %d cores." % (started, time.strftime("%H:%M:%S", time.gmtime()),
                                       load0, "%.2f" % os.getloadavg()[0], os.cpu_count()))
    out.append("")
    for ver in vers:
        missing = [t for t in args.tests if t not in tests_by_ver[ver]]
        out.append("- %s: %d test modules%s" % (
            ver, len(tests_by_ver[ver]),
            "; not in this build: " + ", ".join(missing) if missing else ""))
    for ver, why in skipped:
        out.append("- %s: skipped: %s" % (ver, why))
    out.append("")
    out.append("## Outcome against bare")
    out.append("")
    out.append("| mode | " + " | ".join(vers) + " |")
    out.append("|---|" + "---|" * len(vers))
    details = []
    for mode in modes:
        row = []
        for ver in vers:
            r = results[ver].get(mode)
            bare = results[ver].get("bare")
            if r is None:
                row.append("not run")
            elif mode == "bare":
                o = r["outcomes"]
                if o is None:
                    row.append("no result (exit %s)" % r["rc"])
                else:
                    bad = sorted(t for t, v in o.items() if v != "passed")
                    row.append("reference" + (" (" + ", ".join(
                        "%s %s" % (t, o[t]) for t in bad) + ")" if bad else ""))
                    for t in bad:
                        for tid, msg in sorted(r["failures"].get(t, {}).items()):
                            details.append(("bare", ver, "%s: %s: %s" % (t, tid, msg)))
            elif bare is None:
                row.append("no bare run")
            else:
                diffs = compare(bare, r)
                text = cell_text(diffs)
                if r["warnings"]:
                    text += " (%d memtrace notice%s)" % (len(r["warnings"]),
                                                        "s" if len(r["warnings"]) > 1 else "")
                row.append(text)
                details.extend((mode, ver, d) for _, d in diffs)
                details.extend((mode, ver, "notice (not a difference): %s" % w)
                               for w in r["warnings"])
        out.append("| %s | %s |" % (mode, " | ".join(row)))
    out.append("")
    out.append("## Wall time per cell (whole `python -m test` run)")
    out.append("")
    out.append("| mode | " + " | ".join(vers) + " |")
    out.append("|---|" + "---:|" * len(vers))
    for mode in modes:
        row = []
        for ver in vers:
            r = results[ver].get(mode)
            b = results[ver].get("bare")
            if r is None:
                row.append("-")
            elif mode == "bare" or not b:
                row.append(fmt_s(r["wall"]))
            else:
                row.append("%s (%.1fx)" % (fmt_s(r["wall"]), r["wall"] / max(b["wall"], 0.001)))
        out.append("| %s | %s |" % (mode, " | ".join(row)))
    out.append("")
    out.append("## Traces (files, not closed, size; every one checked by memtrace-decode --check)")
    out.append("")
    out.append("| mode | " + " | ".join(vers) + " |")
    out.append("|---|" + "---:|" * len(vers))
    for mode in modes:
        if mode == "bare":
            continue
        row = []
        for ver in vers:
            r = results[ver].get(mode)
            if r is None or "traces" not in r:
                row.append("-")
            else:
                files, damaged, unclosed, nbytes = r["traces"]
                row.append("%d, %d, %.0f MB%s" % (files, unclosed, nbytes / 1e6,
                                                  ", %d damaged" % len(damaged) if damaged else ""))
        out.append("| %s | %s |" % (mode, " | ".join(row)))
    out.append("")
    out.append("## Differences (and the bare run's own failures)")
    out.append("")
    if not details:
        out.append("None.")
    order = {v: i for i, v in enumerate(vers)}
    details.sort(key=lambda x: (order[x[1]], (["bare"] + modes).index(x[0])))
    for mode, ver, d in details:
        out.append("- %s %s: %s" % (ver, mode, d))
    out.append("")
    out.append("Logs: %s/logs/VERSION-MODE.log." % args.build_dir)
    out.append("")
    return "\n".join(out), any(
        results[v].get(m) is not None and results[v].get("bare") is not None and m != "bare"
        and compare(results[v]["bare"], results[v][m]) for v in vers for m in modes)


def merge_reports(paths):
    """One report from several of this script's reports (runs of other
    versions, e.g. run side by side): tables joined by version column,
    notes and details concatenated. Returns (text, any cell differs)."""
    intro, runs, notes, tables, details = None, [], [], {}, []
    order, vers = [], []
    for path in paths:
        with open(path) as f:
            lines = f.read().splitlines()
        section, header = None, None
        cmd = re.search(r"`(python -m test[^`]*)`", "\n".join(lines))
        for line in lines:
            if line.startswith("## "):
                section, header = line[3:], None
                if section not in order:
                    order.append(section)
                continue
            if section is None:
                if line.startswith("`make regrtest`") and intro is None:
                    intro = line
                elif line.startswith("Started "):
                    runs.append("- %s (`%s`): %s" % (os.path.basename(path),
                                                    cmd.group(1) if cmd else "?", line))
                elif line.startswith("- "):
                    notes.append(line)
            elif line.startswith("| mode |"):
                header = [c.strip() for c in line.strip("|").split("|")][1:]
                vers.extend(v for v in header if v not in vers)
            elif line.startswith("|") and header and not line.startswith("|---"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                row = tables.setdefault(section, {}).setdefault(cells[0], {})
                row.update(zip(header, cells[1:]))
            elif line.startswith("- ") and section.startswith("Differences"):
                details.append(line)
    vers.sort(key=lambda v: tuple(int(x) if x.isdigit() else 0 for x in v.split(".")))
    notes = [n for i, n in enumerate(notes) if n not in notes[:i]]
    out = ["# CPython's regression tests under memtrace", "", intro or "", "",
           "Merged from (a later report's cell replaces an earlier one's):", ""] + runs + [""] + notes + [""]
    differs = False
    for section in order:
        out += ["## " + section, ""]
        if section.startswith("Differences"):
            out += sorted(details, key=lambda d: vers.index(d[2:].split(" ")[0])
                          if d[2:].split(" ")[0] in vers else 0) or ["None."]
            out.append("")
            continue
        rows = tables.get(section, {})
        align = "---|" if section.startswith("Outcome") else "---:|"
        out += ["| mode | " + " | ".join(vers) + " |", "|---|" + align * len(vers)]
        for mode, row in rows.items():
            cells = [row.get(v, "-") for v in vers]
            if section.startswith("Outcome") and mode != "bare":
                differs = differs or any(c not in ("same", "-", "not run") for c in cells)
            out.append("| %s | %s |" % (mode, " | ".join(cells)))
        out.append("")
    return "\n".join(out), differs


def main():
    ap = argparse.ArgumentParser(
        description="CPython's regression tests bare and under each memtrace mode.",
        epilog="Modes: " + ", ".join(m for m, _ in MODES) + ".")
    ap.add_argument("--versions", help="comma-separated: 3.11, 3.12.1 or interpreter paths "
                    "(default: every CPython 3.9+ under /root/.pyenv/versions)")
    ap.add_argument("--modes", default=",".join(m for m, _ in MODES),
                    help="comma-separated (bare is always run first)")
    ap.add_argument("--tests", help="comma-separated test modules (default: %s)" % " ".join(TESTS))
    ap.add_argument("--quick", action="store_true", help="a shorter list: " + " ".join(QUICK))
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds per test module (regrtest --timeout; default 900)")
    ap.add_argument("-j", "--jobs", type=int, default=1,
                    help="regrtest worker processes (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep each run's scratch directory")
    ap.add_argument("--build-dir", default=os.path.join(TOP, "build", "regrtest"))
    ap.add_argument("--scratch", default=None,
                    help="where runs write traces (default: $TMPDIR)")
    ap.add_argument("--out", help="the report (default: BUILD_DIR/RESULTS.md)")
    ap.add_argument("--decode", default=os.path.join(TOP, "build", "bin", "memtrace-decode"))
    ap.add_argument("--merge", nargs="+", metavar="REPORT",
                    help="run nothing: join reports of this script (e.g. of versions run "
                    "side by side) into --out")
    args = ap.parse_args()
    # Started in the background by a shell without job control, this
    # process ignores SIGINT, and so would every test run (an ignored
    # signal stays ignored across exec): CPython's tests of
    # KeyboardInterrupt would fail bare and recorded alike, and
    # test_threading's test_print_exception_gh_102056, which waits for
    # _thread.interrupt_main(), would spin for ever. A handler here is reset
    # to the default in each child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.merge:
        text, differs = merge_reports(args.merge)
        out = args.out or os.path.join(args.build_dir, "RESULTS.md")
        with open(out, "w") as f:
            f.write(text)
        print(text)
        log("regrtest: wrote %s" % out)
        return 1 if differs else 0
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODE_SPEC]
    if bad:
        ap.error("unknown mode %s (one of %s)" % (", ".join(bad), ", ".join(MODE_SPEC)))
    modes = ["bare"] + [m for m in modes if m != "bare"]
    args.tests = args.tests.split(",") if args.tests else (QUICK if args.quick else TESTS)
    if args.jobs < 1:
        ap.error("-j must be at least 1 (regrtest workers isolate a crash)")
    if not os.access(args.decode, os.X_OK):
        sys.stderr.write("regrtest: %s is missing (make memtrace-decode)\n" % args.decode)
        return 1
    args.out = args.out or os.path.join(args.build_dir, "RESULTS.md")
    log_dir = os.path.join(args.build_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    versions = find_versions(args.versions.split(",") if args.versions else None)
    if not versions:
        sys.stderr.write("regrtest: no CPython 3.9+ found\n")
        return 1
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    load0 = "%.2f" % os.getloadavg()[0]
    results, tests_by_ver, skipped = {}, {}, []
    for ver, py in versions:
        vpy, why = prepare(ver, py, args.build_dir, args.decode)
        if why:
            log("== %s: skipped: %s" % (ver, why))
            skipped.append((ver, why))
            continue
        tests = present_tests(vpy, args.tests)
        tests_by_ver[ver] = tests
        missing = [t for t in args.tests if t not in tests]
        if missing:
            log("== %s: not in this build, not run: %s" % (ver, " ".join(missing)))
        results[ver] = {}
        for mode in modes:
            log("== %s %s: %d modules ..." % (ver, mode, len(tests)))
            r = run_cell(vpy, ver, mode, tests, args, args.decode, log_dir)
            results[ver][mode] = r
            if mode == "bare":
                verdict = "reference"
            else:
                diffs = compare(results[ver]["bare"], r)
                verdict = cell_text(diffs)
                for _, d in diffs:
                    log("   %s" % d)
            log("   %s %s: %s, %s, exit %s" % (ver, mode, verdict, fmt_s(r["wall"]), r["rc"]))
            text, _ = report(results, versions, modes, tests_by_ver, skipped, args,
                             started, load0)
            with open(args.out, "w") as f:
                f.write(text)
    text, differs = report(results, versions, modes, tests_by_ver, skipped, args,
                           started, load0)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    log("regrtest: wrote %s" % args.out)
    return 1 if differs or not results else 0


if __name__ == "__main__":
    sys.exit(main())
