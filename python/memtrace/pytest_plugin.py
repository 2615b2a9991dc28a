"""memtrace's pytest plugin: record each test, limit its memory, keep its
figures across commits.

    pytest --memtrace                       # every test recorded; a summary of the
                                            # tests that allocate most at the end
    @pytest.mark.limit_memory("24 MB")      # fails when the test's heap peaks above
    @pytest.mark.limit_leaks("1 MB")        # fails when the test leaves more allocated
    pytest --memtrace --memtrace-archive runs/   # each test's trace and figures kept:
                                            # memtrace archive -d runs trend peak_heap \\
                                            #     --tag test=tests/test_x.py::test_load

Installed with the package (entry point pytest11), it records nothing
without --memtrace, and the markers are then ignored (as pytest-memray's
are without --memray). The call phase of each test is recorded
(fixtures' set-up and tear-down are not), in memtrace's default sampled mode
or --memtrace-mode exact; tests with a limit marker always record every
allocation (mode alloc, exact), so that the limit compares exact bytes.
Each test's trace is read once (memtrace analyze --json); with pytest-xdist
the figures travel with the test reports, so the summary covers every
worker.
"""
import json
import os
import re
import shutil
import tempfile

import pytest

_KEY = "memtrace"  # the name of the figures in a report's user_properties


def pytest_addoption(parser):
    g = parser.getgroup("memtrace", "memory tracing with memtrace")
    g.addoption("--memtrace", action="store_true", default=False,
                help="record each test's memory; enables the limit_memory and limit_leaks "
                     "markers and prints the tests that allocate most")
    g.addoption("--memtrace-mode", choices=("sampled", "exact"), default="sampled",
                help="sampled (memtrace's default: low cost, heap figures estimated) or exact "
                     "(every allocation); tests with a limit marker are always exact")
    g.addoption("--memtrace-dir", metavar="DIR", default=None,
                help="keep each test's trace in DIR (default: a temporary directory, removed "
                     "at the end)")
    g.addoption("--memtrace-archive", metavar="DIR", default=None,
                help="add each test's trace and figures to the archive DIR, tagged test=NODEID "
                     "(memtrace archive -d DIR trend peak_heap --tag test=NODEID)")
    g.addoption("--memtrace-tag", metavar="KEY=VALUE", action="append", default=[],
                help="--memtrace-archive: tag every test's run (repeatable)")
    g.addoption("--memtrace-top", metavar="N", type=int, default=10,
                help="how many tests the end summary lists (default 10; 0: none)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "limit_memory(limit): with --memtrace, fail the test when the heap it "
                   "allocated peaks above limit (\"24 MB\", \"1.5GiB\", bytes as a number)")
    config.addinivalue_line(
        "markers", "limit_leaks(limit): with --memtrace, fail the test when more than limit "
                   "of what it allocated is still allocated when it returns")
    config.addinivalue_line(
        "markers", "no_memtrace: with --memtrace, do not record this test (one that records "
                   "with memtrace itself)")
    if config.getoption("memtrace"):
        plugin = _Plugin(config)
        config.pluginmanager.register(plugin, "memtrace-plugin")


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
          "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}


def parse_limit(value):
    """Bytes of a marker's limit: a number of bytes, or "24 MB" (powers of
    1024, MB as MiB: as pytest-memray reads them, and as memtrace diff and
    memtrace archive do)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError("memtrace: bad memory limit %r (e.g. \"24 MB\", \"1.5 GiB\", 4096)"
                         % (value,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def _fmt(n):
    from .archive import fmt_bytes
    return fmt_bytes(n)


def _limit_text(lim, name):
    text = lim.get(name + "_text")
    b = _fmt(lim[name])
    return b if not text or text == b else "%s (%s)" % (text, b)


def _limits(item):
    out = {}
    for name in ("limit_memory", "limit_leaks"):
        m = item.get_closest_marker(name)
        if m is None:
            continue
        if len(m.args) != 1 or m.kwargs:
            raise pytest.UsageError("%s: @pytest.mark.%s takes one limit, e.g. "
                                    "%s(\"24 MB\")" % (item.nodeid, name, name))
        try:
            out[name] = parse_limit(m.args[0])
            out[name + "_text"] = str(m.args[0])
        except ValueError as e:
            raise pytest.UsageError("%s: %s" % (item.nodeid, e)) from None
    return out


def _safe_name(nodeid):
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")
    return s[-150:] or "test"


class _Plugin:
    def __init__(self, config):
        import memtrace  # noqa: F401 (the recorder, loaded once here)
        self.config = config
        self.mode = config.getoption("memtrace_mode")
        keep = config.getoption("memtrace_dir")
        self.keep = keep is not None
        self.dir = os.path.abspath(keep) if keep else tempfile.mkdtemp(prefix="memtrace-pytest.")
        os.makedirs(self.dir, exist_ok=True)
        self.archive_dir = config.getoption("memtrace_archive")
        self.tags = {}
        if self.archive_dir:
            from . import archive
            try:
                self.tags = archive.parse_tags(config.getoption("memtrace_tag"))
            except archive.ArchiveError as e:
                raise pytest.UsageError("--memtrace-tag: %s" % e) from None
            self.archive_dir = os.path.abspath(self.archive_dir)
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.results = {}   # nodeid -> figures (this process's tests)
        self.summary = []   # (nodeid, figures) of every test, from the reports
        self.seq = 0
        self.limits = {}

    def pytest_collection_modifyitems(self, items):
        # a malformed limit stops the session before any test runs
        self.limits = {item.nodeid: _limits(item) for item in items}

    # -- recording --------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        import memtrace
        if item.get_closest_marker("no_memtrace") is not None:
            yield
            return
        limits = self.limits.get(item.nodeid)
        if limits is None:
            limits = _limits(item)
        self.seq += 1
        path = os.path.join(self.dir, "%s%s.%d.trace" % (
            _safe_name(item.nodeid), "." + self.worker if self.worker else "", self.seq))
        opts = {}
        if limits or self.mode == "exact":
            opts = {"mode": "alloc", "allocations": "exact"}
        started = False
        if not memtrace.is_recording():
            try:
                memtrace.start(path, **opts)
                started = True
            except (RuntimeError, OSError, ValueError) as e:
                self.results[item.nodeid] = {"limits": limits, "error": "not recorded: %s" % e}
        else:
            self.results[item.nodeid] = {
                "limits": limits, "error": "not recorded: memtrace was recording already "
                                           "(started outside the tests, or by a fixture)"}
        try:
            yield
        finally:
            if started:
                cur = getattr(memtrace, "_current", None) or {}
                ours = memtrace.is_recording() and cur.get("_abs_path", cur.get("path")) == \
                    os.path.abspath(path)
                if ours:
                    memtrace.stop()
                    self.results[item.nodeid] = self._read(item, path, limits)
                else:
                    if memtrace.is_recording():  # replaced: the test's own, left running
                        memtrace.stop()
                    self.results[item.nodeid] = {
                        "limits": limits, "error": "the test stopped or replaced memtrace's "
                                                   "recording (mark it no_memtrace)"}

    def _read(self, item, path, limits):
        from . import archive
        try:
            s = archive.summarize(path)
        except archive.ArchiveError as e:
            return {"error": str(e)}
        run = s["run"]
        fig = {"peak_heap": run["peak_heap"], "leaked": run["leaked"],
               "estimated": bool(run["heap_estimated"]), "peak_rss": run["peak_rss"],
               "duration": run["duration"], "limits": limits, "trace": path,
               "peak_sites": [x for x in s["sites"] if x["kind"] == "peak"][:5],
               "leak_sites": [x for x in s["sites"] if x["kind"] == "leak"][:5]}
        if self.archive_dir:
            try:
                a = archive.Archive(self.archive_dir, create=True)
                fig["run"] = a.add(path, tags=dict(self.tags, test=item.nodeid), summary=s)
                a.close()
            except (archive.ArchiveError, OSError) as e:
                fig["archive_error"] = str(e)
        if not self.keep:
            try:
                os.unlink(path)
            except OSError:
                pass
            fig["trace"] = None
        return fig

    # -- verdicts ----------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.when != "call":
            return
        fig = self.results.pop(item.nodeid, None)
        if fig is None:
            return
        report.user_properties.append((_KEY, json.dumps(
            {k: fig.get(k) for k in ("peak_heap", "leaked", "estimated", "peak_rss",
                                     "duration", "trace", "run", "error")})))
        if fig.get("archive_error"):
            report.sections.append(("memtrace", "not archived: %s" % fig["archive_error"]))
        if fig.get("error") and not fig.get("limits"):
            report.sections.append(("memtrace", fig["error"]))
        if not report.passed or not fig.get("limits"):
            return
        if fig.get("error"):
            report.outcome = "failed"
            report.longrepr = "memtrace could not check this test's memory limits: %s" % \
                fig["error"]
            return
        msgs = []
        lim = fig["limits"]
        if "limit_memory" in lim and (fig["peak_heap"] or 0) > lim["limit_memory"]:
            msgs.append(self._message("allocated %s at its peak, over the limit of %s"
                                      % (_fmt(fig["peak_heap"]), _limit_text(lim, "limit_memory")),
                                      "Where the heap was at its peak", fig["peak_sites"],
                                      fig))
        if "limit_leaks" in lim and (fig["leaked"] or 0) > lim["limit_leaks"]:
            msgs.append(self._message("left %s allocated when it returned, over the limit of %s"
                                      % (_fmt(fig["leaked"]), _limit_text(lim, "limit_leaks")),
                                      "What it left allocated, by line", fig["leak_sites"],
                                      fig))
        if msgs:
            report.outcome = "failed"
            report.longrepr = "\n\n".join(msgs)

    def _message(self, head, title, sites, fig):
        lines = ["memtrace: the test %s." % head, "%s:" % title]
        total = sum(s["bytes"] or 0 for s in sites)
        # the lines that matter: the test's, not pytest's few hundred bytes
        sites = [s for i, s in enumerate(sites) if not i or (s["bytes"] or 0) * 100 >= total]
        for s in sites:
            lines.append("  %10s in %6d blocks  %s:%s in %s" % (
                _fmt(s["bytes"]), s["count"] or 0, s["file"], s["line"], s["function"]))
        if fig.get("trace"):
            lines.append("Its trace: %s (memtrace analyze %s)" % (fig["trace"], fig["trace"]))
        elif fig.get("run"):
            lines.append("Its trace: run %d of %s" % (fig["run"], self.archive_dir))
        else:
            lines.append("(--memtrace-dir DIR keeps the traces)")
        return "\n".join(lines)

    # -- the summary --------------------------------------------------------

    def pytest_runtest_logreport(self, report):
        if report.when != "call":
            return
        for k, v in report.user_properties:
            if k == _KEY:
                try:
                    self.summary.append((report.nodeid, json.loads(v)))
                except ValueError:
                    pass

    def pytest_terminal_summary(self, terminalreporter):
        top = self.config.getoption("memtrace_top")
        if not top or not self.summary:
            return
        tr = terminalreporter
        rows = sorted((x for x in self.summary if not x[1].get("error")),
                      key=lambda x: -(x[1].get("peak_heap") or 0))[:top]
        if not rows:
            return
        est = any(f.get("estimated") for _, f in rows)
        tr.write_sep("=", "memtrace: the %d tests that allocated most (heap peak during the "
                          "test%s)" % (len(rows), "; ~ estimated from sampled allocations"
                                       if est else ""))
        tr.write_line("%12s %12s  %s" % ("heap peak", "leaked", "test"))
        for nodeid, f in rows:
            mark = "~" if f.get("estimated") else " "
            tr.write_line("%11s%s %11s%s  %s" % (_fmt(f.get("peak_heap")), mark,
                                                 _fmt(f.get("leaked")), mark, nodeid))
        if self.keep:
            tr.write_line("traces in %s" % self.dir)
        if self.archive_dir:
            tr.write_line("runs added to %s: memtrace archive -d %s trend peak_heap --tag "
                          "test=NODEID" % (self.archive_dir, self.archive_dir))

    def pytest_unconfigure(self, config):
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
