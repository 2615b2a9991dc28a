"""memtrace.results: a recorded trace's results as Python objects.

    t = memtrace.open("run.trace")              # or open(path, from_="1s", thread="worker")
    t.rss.peak_bytes, t.rss.peak_time_s         # what memtrace analyze --json prints,
    t.heap.peak_bytes, t.heap.leaks[0].bytes    # attribute by attribute
    for f in t.functions[:10]:
        print(f.qualname, f.incl_bytes)
    t.summary()                                 # the headline numbers in one dict
    for r in t.records(types="alloc,free"):     # the records, as memtrace decode --json
        ...
    t.series()                                  # RSS and heap over time, reduced per pixel
    t.to_pandas("functions")                    # a DataFrame (pandas installed)

Every number comes from memtrace's C library, through the tools pip
install builds beside this package (memtrace-analyze --json,
memtrace-decode --json, memtrace-plot -o x.json): there is no second trace
reader in Python, so the numbers are exactly the command line's. The
analysis runs once, on first use, with the selection given to open().

A damaged trace gives every intact chunk's results (the damage is in
t.damage and t.warnings); a file that is not a trace raises TraceError
with the tool's message.
"""
import json
import os
import subprocess
import tempfile

__all__ = ["open", "TraceFile", "Result", "TraceError"]

_open = open  # the builtin, before this module's open() hides it


class TraceError(Exception):
    """The trace could not be read (missing, not a trace, bad selection)."""


class Result(dict):
    """A JSON object of the tools' output: a dict whose keys are also
    attributes (t.rss.peak_bytes == t.rss["peak_bytes"]); lists and nested
    objects come back the same way."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return _wrap(self[name])
        except KeyError:
            raise AttributeError("no %r here (keys: %s)" % (name, ", ".join(sorted(self)))) \
                from None

    def __getitem__(self, key):
        return _wrap(dict.__getitem__(self, key))

    def __dir__(self):
        return list(self) + dir(dict)


class _List(list):
    __slots__ = ()

    def __getitem__(self, i):
        v = list.__getitem__(self, i)
        return _List(v) if isinstance(i, slice) else _wrap(v)

    def __iter__(self):
        return (_wrap(v) for v in list.__iter__(self))


def _wrap(v):
    if isinstance(v, dict) and not isinstance(v, Result):
        return Result(v)
    if isinstance(v, list) and not isinstance(v, _List):
        return _List(v)
    return v


def _tool(name):
    from .cli import tool_path
    p = tool_path(name)
    if p is None:
        raise TraceError("memtrace-%s is not installed (pip install builds it into the "
                         "package; in a build tree, run make)" % name)
    return p


def _selection(from_, to, thread, function, file):
    args = []
    if from_ is not None:
        args += ["--from", str(from_)]
    if to is not None:
        args += ["--to", str(to)]
    for opt, v in (("--thread", thread), ("--function", function), ("--file", file)):
        for x in ([v] if isinstance(v, (str, int)) else (v or ())):
            args += [opt, str(x)]
    return args


def _run(name, args):
    """Run memtrace-<name>; its standard output. Exit status 1 with output
    is a damaged trace (the intact chunks' results): kept."""
    p = subprocess.run([_tool(name)] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode == 0 or (p.returncode == 1 and p.stdout.strip()):
        return p.stdout
    raise TraceError(err or "memtrace-%s failed (exit status %d)" % (name, p.returncode))


class TraceFile:
    """One trace's results (see the module's text). Attributes are the
    top-level objects of memtrace analyze --json: run, window, rss, heap,
    functions, lines, markers, threads, peak_stacks, lost, damage,
    warnings, replay; header is the file's header (decode --header)."""

    def __init__(self, path, from_=None, to=None, thread=None, function=None, file=None,
                 sort=None):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise TraceError("%s: no such file" % self.path)
        self._sel = _selection(from_, to, thread, function, file)
        self._sort = sort
        self._analysis = None
        self._header = None

    def __repr__(self):
        return "<memtrace.TraceFile %r>" % self.path

    @property
    def analysis(self):
        """The whole of memtrace analyze --json --top 0 (every row of every
        table), as a Result."""
        if self._analysis is None:
            args = ["--json", "--top", "0"] + self._sel
            if self._sort:
                args += ["--sort", self._sort]
            a = Result(json.loads(_run("analyze", args + ["--", self.path])))
            if "error" in a:  # nothing read, or nothing to report
                raise TraceError(a["error"]["message"])
            self._analysis = a
        return self._analysis

    @property
    def header(self):
        if self._header is None:
            self._header = Result(json.loads(_run("decode", ["--header", "--json", "--",
                                                             self.path])))
        return self._header

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        a = self.analysis
        if name in a:
            return a[name]
        raise AttributeError("%r has no %r (analyze --json has: %s)" % (
            self, name, ", ".join(sorted(a))))

    def __dir__(self):
        return sorted(set(dir(type(self)) + list(self.__dict__) + list(self.analysis)))

    def summary(self):
        """The headline numbers: duration, RSS start/peak (with its time and
        the stacks then)/end, heap peak/end and leaked bytes (when the trace
        has allocations), lost events, damage."""
        a = self.analysis
        s = {
            "file": self.path,
            "duration_s": a["run"]["duration_s"],
            "rss_start_bytes": a["rss"].get("start_bytes"),
            "rss_peak_bytes": a["rss"].get("peak_bytes"),
            "rss_peak_time_s": a["rss"].get("peak_time_s"),
            "rss_end_bytes": a["rss"].get("end_bytes"),
            "peak_stacks": a.get("peak_stacks", []),
            "lost_events": a["run"]["lost_events"],
            "damaged": a["damage"]["damaged"],
        }
        h = a.get("heap")
        if h:
            s.update(heap_peak_bytes=h["peak_bytes"], heap_peak_time_s=h.get("peak_time_s"),
                     heap_end_bytes=h["end_bytes"],
                     leaked_bytes=sum(x["bytes"] for x in h.get("leaks", ())),
                     heap_estimated=h.get("estimated", False))
        return Result(s)

    def records(self, types=None, exclude_types=None, from_=None, to=None, thread=None,
                function=None, file=None):
        """The records in file order, each a Result as memtrace decode --json
        writes it ({"type": "alloc", "t_s": ..., ...}), read as they come
        (a long trace is not held in memory). types / exclude_types: names
        as decode prints them, a list or "a,b"."""
        args = ["--json"] + _selection(from_, to, thread, function, file)
        for opt, v in (("--type", types), ("--exclude-type", exclude_types)):
            if v:
                args += [opt, v if isinstance(v, str) else ",".join(v)]
        p = subprocess.Popen([_tool("decode")] + args + ["--", self.path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        done = False
        try:
            for line in p.stdout:
                yield Result(json.loads(line))
            done = True
        finally:
            if not done:  # the caller stopped early: the rest is not wanted
                p.kill()
            p.stdout.close()
            err = p.stderr.read().decode("utf-8", "replace").strip()
            p.stderr.close()
            rc = p.wait()
            if done and (rc < 0 or rc > 1 or (rc == 1 and "damaged" not in err)):
                raise TraceError(err or "memtrace-decode failed (exit status %d)" % rc)

    def series(self, width=1200):
        """RSS and the heap in use over time, as memtrace-plot draws them
        (each series reduced to the first, last, least and greatest point of
        every half pixel of a width-pixel plot: every peak and trough kept):
        {name: [(t_s, value), ...]}."""
        fd, tmp = tempfile.mkstemp(suffix=".json", prefix="memtrace-series-")
        os.close(fd)
        try:
            p = subprocess.run([_tool("plot"), "--width", str(int(width))] + self._sel +
                               ["-o", tmp, "--", self.path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # exit 1 with the file written: a damaged trace's intact chunks
            if p.returncode not in (0, 1) or os.path.getsize(tmp) == 0:
                raise TraceError(p.stderr.decode("utf-8", "replace").strip() or
                                 "memtrace-plot failed (exit status %d)" % p.returncode)
            with _open(tmp) as f:
                d = json.load(f)
        finally:
            os.unlink(tmp)
        return {s["name"]: [tuple(p) for p in s["points"]] for s in d["timeline"]["series"]}

    def to_pandas(self, table="functions"):
        """A table of the analysis as a pandas DataFrame: "functions",
        "lines", "threads", "markers", or a heap table ("peak", "leaks",
        "temporaries", "hotspots_by_bytes", "peak_by_location"). Needs
        pandas."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas needs pandas (pip install pandas); the same rows "
                              "are in this object's attributes as lists of dicts") from None
        a = self.analysis
        rows = a.get(table)
        if rows is None and a.get("heap"):
            rows = a["heap"].get(table)
        if not isinstance(rows, list):
            raise ValueError("no table %r (tables: functions, lines, threads, markers, peak, "
                             "leaks, temporaries, hotspots_by_bytes, peak_by_location)" % table)
        return pandas.DataFrame([dict(r) for r in rows])


def open(path, from_=None, to=None, thread=None, function=None, file=None, sort=None):
    """A trace's results (TraceFile). from_/to: a window as the tools take it
    ("1.5", "200ms", "@UNIX", ISO-8601); thread, function, file: one value or
    a list, as --thread, --function, --file; sort: analyze's --sort key."""
    return TraceFile(path, from_=from_, to=to, thread=thread, function=function, file=file,
                     sort=sort)
