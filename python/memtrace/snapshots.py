"""memtrace.snapshots: what a block of code did to memory, measured around
it, as pymemtrace's trace_malloc and debug_malloc_stats do.

    with memtrace.trace_malloc("load") as tm:      # tracemalloc, by file:line
        data = load()
    print(tm.report())                             # also tm.stats, tm.total_bytes

    with memtrace.debug_malloc_stats("load") as ms:  # pymalloc: arenas, pools, blocks
        data = load()
    print(ms.report())                             # also ms.before, ms.after, ms.diff

Both are context managers and decorators (@memtrace.trace_malloc()). When
memtrace is recording, what they found is also written into the trace as a
marker at the block's end, so memtrace analyze and the HTML report show it
on the timeline.

trace_malloc starts tracemalloc if it is not running (and stops it after),
takes a snapshot before and after, and compares them by line (or by
traceback): tracemalloc's own memory (its traces, the snapshots) is left
out of the figures and reported apart (tracemalloc.get_tracemalloc_memory),
as is what this module allocates. Its cost is tracemalloc's while the block
runs (bench/bench_snapshots.py).

debug_malloc_stats reads CPython's small-object allocator (pymalloc) state
before and after: arenas, pools and blocks per size class, with the bytes
used, free in used pools, and lost; read in memory (no output on the
program's stderr, unlike sys._debugmallocstats). The usual answer to "RSS
stays high after I freed everything": the blocks were freed but their pools
and arenas are still held (partly used arenas are not returned).
"""
import os
import re
import sys

__all__ = ["trace_malloc", "debug_malloc_stats", "malloc_stats"]


def _fmt(n):
    sign = "-" if n < 0 else "+"
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return "%s%d %s" % (sign, n, unit) if unit == "B" else "%s%.1f %s" % (sign, n, unit)
        n /= 1024.0



def _rechain_objects():
    """tracemalloc.start() and stop() (3.13) set CPython's one reference
    tracer, which ends memtrace's object tracking: memtrace's tracer is put
    back on top (calling tracemalloc's) when a recording tracks objects."""
    from . import _memtrace
    _memtrace._objects_rechain()

class _Block:
    """The context manager / decorator part."""

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._again():
                return func(*args, **kwargs)
        return wrapper

    def _marker(self, text):
        from . import _memtrace
        if _memtrace.is_recording():
            _memtrace.marker(text)

    def _emit(self):
        if self.file is not None:
            self.file.write(self.report() + "\n")
            try:
                self.file.flush()
            except (AttributeError, OSError):
                pass


# ---- tracemalloc ------------------------------------------------------------


class trace_malloc(_Block):
    """Memory allocated by a block through Python's allocators, by line.

    label: a name for the report and the marker; key_type: "lineno",
    "filename" or "traceback" (tracemalloc's); nframes: frames kept per
    allocation when this starts tracemalloc (traceback needs > 1); limit:
    lines in the report; file: where the report goes at the end (None:
    nowhere, read tm.report()). After the block: stats (tracemalloc's
    StatisticDiff, greatest change first, this module's and tracemalloc's
    own allocations left out), total_bytes and total_count (their sums),
    tracemalloc_bytes (tracemalloc's own memory's change: excluded),
    seconds."""

    def __init__(self, label=None, key_type="lineno", nframes=1, limit=10, file=None):
        if key_type not in ("lineno", "filename", "traceback"):
            raise ValueError("key_type must be 'lineno', 'filename' or 'traceback', not %r"
                             % (key_type,))
        if int(nframes) < 1:
            raise ValueError("nframes must be at least 1")
        self.label, self.key_type, self.nframes, self.limit = label, key_type, int(nframes), limit
        self.file = file
        self.stats, self.total_bytes, self.total_count = [], 0, 0
        self.tracemalloc_bytes, self.seconds = 0, 0.0

    def _again(self):
        return trace_malloc(self.label, self.key_type, self.nframes, self.limit, self.file)

    def _filters(self):
        import tracemalloc
        here = os.path.abspath(__file__)
        return [tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, here),
                tracemalloc.Filter(False, "<unknown>")]

    def __enter__(self):
        import time
        import tracemalloc
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start(self.nframes)
            _rechain_objects()
        self._mem0 = tracemalloc.get_tracemalloc_memory()
        # Filtered at the end, after the second snapshot: what filtering
        # allocates (fnmatch compiles its patterns) is then in neither.
        self._snap0 = tracemalloc.take_snapshot()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        import time
        import tracemalloc
        self.seconds = time.perf_counter() - self._t0
        snap1 = tracemalloc.take_snapshot()
        mem1 = tracemalloc.get_tracemalloc_memory()
        if self._started:
            tracemalloc.stop()
            _rechain_objects()
        filters = self._filters()
        snap1 = snap1.filter_traces(filters)
        self._snap0 = self._snap0.filter_traces(filters)
        self.stats = [s for s in snap1.compare_to(self._snap0, self.key_type)
                      if s.size_diff or s.count_diff]
        self.total_bytes = sum(s.size_diff for s in self.stats)
        self.total_count = sum(s.count_diff for s in self.stats)
        self.tracemalloc_bytes = mem1 - self._mem0
        del self._snap0
        self._marker(self._headline())
        self._emit()
        return False

    def _where(self, s):
        tb = s.traceback
        if self.key_type == "filename":
            return tb[0].filename
        if self.key_type == "lineno" or len(tb) == 1:
            return "%s:%d" % (tb[0].filename, tb[0].lineno)
        here = os.path.abspath(__file__)  # the decorator's own frame: not the program's
        return " <- ".join("%s:%d" % (f.filename, f.lineno) for f in reversed(tb)
                           if f.filename != here)

    def _headline(self):
        top = ", ".join("%s %s" % (self._where(s), _fmt(s.size_diff)) for s in self.stats[:3])
        return "trace_malloc%s: %s in %d blocks%s" % (
            " " + self.label if self.label else "", _fmt(self.total_bytes), self.total_count,
            " (" + top + ")" if top else "")

    def report(self):
        """The change by line, greatest first, as text."""
        lines = [self._headline().replace(" (", "\n  (", 1).split("\n  (")[0] +
                 ", %.3f s; tracemalloc's own memory %s, excluded" % (
                     self.seconds, _fmt(self.tracemalloc_bytes))]
        for s in self.stats[:self.limit]:
            lines.append("  %12s %+8d blocks  %s" % (_fmt(s.size_diff), s.count_diff,
                                                     self._where(s)))
        if len(self.stats) > self.limit:
            rest = self.stats[self.limit:]
            lines.append("  %12s %+8d blocks  (%d more lines)" % (
                _fmt(sum(s.size_diff for s in rest)), sum(s.count_diff for s in rest),
                len(rest)))
        return "\n".join(lines)


# ---- pymalloc -----------------------------------------------------------------

_LINE = re.compile(r"^(#?\s*[^=]*?)\s*=\s*([\d,]+)\s*$")
_CLASS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
_TIMES = re.compile(r"^(\d+)\s+(.+?)\s+\*\s+(\d+)\s+bytes(?: each|/\w+)?\s*=\s*([\d,]+)\s*$")


def _key(text):
    return re.sub(r"[^a-z0-9]+", "_", text.strip("# ").lower()).strip("_")


def malloc_stats():
    """CPython's small-object allocator now, as a dict: "classes" (per size
    class: index, size, pools, blocks in use, blocks available), the arena
    counts ("arenas_allocated_current", ...), bytes
    ("bytes_in_allocated_blocks", "bytes_in_available_blocks",
    "unused_pools" bytes, "bytes_lost_to_pool_headers", ...), and the
    derived "arena_bytes", "used_bytes", "free_bytes" (in used pools and
    unused pools) and "utilisation" (used / arena bytes). Read through
    _PyObject_DebugMallocStats into memory; {} when the running Python has
    no pymalloc (PYTHONMALLOC=malloc), and, as sys._debugmallocstats, while
    another allocator hook is over pymalloc (tracemalloc running) unless
    it is memtrace's own (a recording with allocations)."""
    from . import _memtrace
    text = _memtrace.malloc_stats_text()
    if not text:
        return {}
    out = {"classes": []}
    for line in text.splitlines():
        if line.startswith("Total"):  # the arenas' total; then other tables
            m = _LINE.match(line)
            if m:
                out["total"] = int(m.group(2).replace(",", ""))
            break
        m = _CLASS.match(line)
        if m:
            idx, size, pools, used, avail = map(int, m.groups())
            out["classes"].append({"index": idx, "size": size, "pools": pools,
                                   "blocks_used": used, "blocks_available": avail})
            continue
        m = _TIMES.match(line)
        if m:  # "4 unused pools * 16384 bytes = 65,536", "2 arenas * 1048576 bytes/arena"
            k = _key(m.group(2))
            out[k] = int(m.group(4).replace(",", ""))
            out[k + "_count"] = int(m.group(1))
            if k == "unused_pools":
                out["pool_size"] = int(m.group(3))
            elif k == "arenas":
                out["arena_size"] = int(m.group(3))
            continue
        m = _LINE.match(line)
        if m:
            out[_key(m.group(1))] = int(m.group(2).replace(",", ""))
    arenas = out.get("arenas_allocated_current", 0)
    arena_size = out.get("arena_size", 0)
    out["arena_bytes"] = arenas * arena_size if arena_size else out.get("total", 0)
    out["used_bytes"] = out.get("bytes_in_allocated_blocks", 0)
    out["free_bytes"] = out.get("bytes_in_available_blocks", 0) + out.get("unused_pools", 0)
    out["utilisation"] = (out["used_bytes"] / out["arena_bytes"]) if out["arena_bytes"] else 0.0
    return out


class debug_malloc_stats(_Block):
    """pymalloc's state around a block and its significant differences.

    label: a name for the report and the marker; min_bytes: a size class
    is reported when the bytes of its blocks in use, or of its pools,
    moved by at least this much (default 16 KiB: one pool); file: where the
    report goes at the end (None: nowhere). After the block: before, after
    (malloc_stats() dicts), diff (after - before for every number),
    classes (the size classes that moved significantly)."""

    def __init__(self, label=None, min_bytes=16384, file=None):
        self.label, self.min_bytes, self.file = label, int(min_bytes), file
        self.before = self.after = self.diff = {}
        self.classes = []

    def _again(self):
        return debug_malloc_stats(self.label, self.min_bytes, self.file)

    def __enter__(self):
        self.before = malloc_stats()
        return self

    def __exit__(self, *exc):
        self.after = malloc_stats()
        b, a = self.before, self.after
        self.diff = {k: a[k] - b.get(k, 0) for k in a
                     if isinstance(a[k], (int, float)) and not isinstance(a[k], bool)}
        bc = {c["size"]: c for c in b.get("classes", ())}
        self.classes = []
        for c in a.get("classes", ()):
            p = bc.get(c["size"], {"pools": 0, "blocks_used": 0, "blocks_available": 0})
            d = {"size": c["size"], "pools": c["pools"] - p["pools"],
                 "blocks_used": c["blocks_used"] - p["blocks_used"],
                 "blocks_available": c["blocks_available"] - p["blocks_available"]}
            pool_bytes = self.before.get("pool_size", 16384)
            if (abs(d["blocks_used"]) * c["size"] >= self.min_bytes or
                    abs(d["pools"]) * pool_bytes >= self.min_bytes):
                self.classes.append(d)
        for c in b.get("classes", ()):  # size classes that emptied
            if c["size"] not in {x["size"] for x in a.get("classes", ())} and \
                    c["blocks_used"] * c["size"] >= self.min_bytes:
                self.classes.append({"size": c["size"], "pools": -c["pools"],
                                     "blocks_used": -c["blocks_used"],
                                     "blocks_available": -c["blocks_available"]})
        self.classes.sort(key=lambda d: -abs(d["blocks_used"] * d["size"]))
        self._marker(self._headline())
        self._emit()
        return False

    def _headline(self):
        d = self.diff
        if not self.after:
            return ("debug_malloc_stats%s: pymalloc's state cannot be read (no pymalloc in "
                    "this Python, or an allocator hook such as tracemalloc's over it)" % (
                        " " + self.label if self.label else ""))
        return ("debug_malloc_stats%s: arenas %+d (%s), blocks in use %s, free in pools %s; "
                "utilisation %.0f%% -> %.0f%%" % (
                    " " + self.label if self.label else "",
                    d.get("arenas_allocated_current", 0), _fmt(d.get("arena_bytes", 0)),
                    _fmt(d.get("used_bytes", 0)), _fmt(d.get("free_bytes", 0)),
                    100 * self.before.get("utilisation", 0), 100 * self.after.get("utilisation", 0)))

    def report(self):
        """The significant differences, as text."""
        lines = [self._headline()]
        if self.classes:
            lines.append("  %6s %8s %12s %12s" % ("size", "pools", "blocks used", "available"))
            for c in self.classes:
                lines.append("  %6d %+8d %+12d %+12d" % (c["size"], c["pools"], c["blocks_used"],
                                                         c["blocks_available"]))
        return "\n".join(lines)
