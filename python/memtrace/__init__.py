"""memtrace: record Python calls, returns, lines and memory (RSS) into a
compact, crash-safe trace file.

    import memtrace
    with memtrace.Profile("run.trace"):
        work()

    memtrace.start(mode="trace")        # path defaults to memtrace_<UTC>_<pid>_<mode>.trace
    ...
    memtrace.marker("phase 2")
    ...
    path = memtrace.stop()

Modes: "profile" (Python and C calls/returns), "trace" (profile plus lines),
"fast" (Python calls/returns only, through the cheapest hook of the running
Python), "alloc" (allocations only: no call hook; the Python stack of each
recorded allocation is written as the calls and returns that changed since
the previous one), "poll" (no hook at all: the RSS sampler, markers and
memtrace.process's poller only). RSS is sampled by a background thread every rss_interval
seconds; rss="exact" also reads it at every event (about 1 us each).

Allocations (allocations=True or "sampled", any mode): every PyMem_RawMalloc,
PyMem_Malloc and PyObject_Malloc family call is recorded with its address,
size and stack ("exact"), or a sample of them by bytes ("sampled": mean one
sample per alloc_sample_bytes bytes allocated; a sampled allocation of s bytes
stands for s / (1 - exp(-s / alloc_sample_bytes)) bytes). native=True also
records malloc/mmap made by C code (numpy's arrays, say), from inside the
running program (GOT patching) or, with python -m memtrace run --native,
from the process's start (LD_PRELOAD). The recommended always-on production
setting: memtrace.start(mode="alloc", allocations="sampled").

Results from Python: memtrace.open(path) gives every number of memtrace
analyze --json as attributes (t.rss.peak_bytes, t.heap.leaks, t.functions),
t.summary(), t.records(), t.series(); stop(results=True) and on_stop=callback
give them at the end of a recording. Measuring one block:
memtrace.trace_malloc() (tracemalloc snapshots by line) and
memtrace.debug_malloc_stats() (pymalloc's arenas, pools and blocks), context
managers and decorators; see memtrace.results and memtrace.snapshots.

memtrace.process.log_process(interval, path) samples this process (and,
with children=True, its descendants) from /proc in a C thread, with labels
(add_message_to_queue), into the running recording or a "poll" recording of
its own; see memtrace.process.

Only one recording runs at a time: start() while recording, or entering a
Profile/Trace inside another, raises RuntimeError, and so does start() while
another thread's stop() is still finishing the file ("memtrace is stopping").

Other users of the same interpreter hooks (README: "Living with other tools"):
  - the program sees what it would see bare: sys.gettrace()/getprofile()
    and threading's hooks return what it set, and every thread is recorded
    however it was started.
  - profile and trace modes record through a sys.monitoring tool of their
    own on 3.12+ (first free id of 3-5), so sys.settrace/setprofile, pdb,
    coverage and cProfile run beside them. On 3.9-3.11 they use the threads'
    profile/trace functions; while recording, sys.settrace/sys.setprofile
    are look-alikes of sys's own: clearing (doctest's and pdb's
    save/clear/restore) puts memtrace's function back at once, and a
    program's own function takes the thread's slot as bare while recording
    of that thread pauses (a marker and one stderr line say where).
  - fast mode calls a PEP 523 frame evaluation function installed before it
    (3.9-3.11), and on 3.12+ takes the first free sys.monitoring tool id of 3,
    4 and 5 (never cProfile's); neither is torn down if another tool
    replaced it meanwhile.
  - allocation hooks are taken off at stop only where they are still the
    current allocator (tracemalloc started before and stopped during a
    recording keeps its choice; a RuntimeWarning says so).
  - memtrace's threads block every signal, so signals go to the program's.
"""

# Only modules that are built in or already loaded at start-up: with
# MEMTRACE set, this package is imported by every Python process before the
# program, which must find sys.modules as it would bare (CPython's own tests
# check that threading is not imported behind their back). The rest
# (datetime, memtrace.process and what it needs) is imported when used.
import atexit as _atexit
import math as _math
import os as _os
import sys as _sys

from . import _memtrace

__all__ = [
    "start", "stop", "is_recording", "marker", "rss", "rss_peak",
    "Profile", "Trace", "Fast", "Alloc", "default_path", "MODES",
    "DEFAULT_ALLOC_SAMPLE_BYTES", "native_available", "process",
]
__version__ = _memtrace.__version__

MODES = ("profile", "trace", "fast", "alloc", "poll")

# Mean bytes between two samples in allocations="sampled" mode: the cost is
# within 3% of a bare run on allocation-heavy code (bench/bench_alloc.py), and
# a 1 GB workload gives ~2000 samples (estimates within a few %).
DEFAULT_ALLOC_SAMPLE_BYTES = 512 * 1024

# The running recording: its path and options (for fork children). Guarded by
# the GIL: start/stop are called from Python.
_current = None


def default_path(mode="profile", directory=None):
    """memtrace_<UTC yyyymmddThhmmss>_<pid>_<mode>.trace in directory (default:
    the current directory)."""
    import time
    now = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = "memtrace_%s_%d_%s.trace" % (now, _os.getpid(), mode)
    return _os.path.join(directory, name) if directory else name


def _check_number(name, value, minimum=0, integer=False, allow_zero=True, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, float) if not integer else int):
        raise TypeError("%s must be %s, not %s" % (
            name, "an int" if integer else "a number", type(value).__name__))
    if isinstance(value, float) and not _math.isfinite(value):
        raise ValueError("%s must be a finite number, got %r" % (name, value))
    if value < minimum or (not allow_zero and value == 0):
        raise ValueError("%s must be %s, got %r" % (
            name, "positive" if not allow_zero else ">= %s" % minimum, value))
    if maximum is not None and value > maximum:
        raise ValueError("%s must be at most %s, got %r" % (name, maximum, value))
    return value


# Upper bounds: what the recorder's C types hold, and intervals beyond which
# a recording would neither flush nor sample in any useful way.
_MAX_BYTES = 2**62
_MAX_SECONDS = 3600


def _check_prefixes(name, value):
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError("%s must be a sequence of str, not %s" % (name, type(value).__name__)) from None
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError("%s must hold non-empty str, got %r" % (name, item))
    return items


def _options(path, mode, rss_interval, flush_interval, rss, rss_trigger, max_depth,
             include, exclude, buffer_bytes, max_buffers, clock, fork, c_calls,
             allocations=False, alloc_sample_bytes=DEFAULT_ALLOC_SAMPLE_BYTES, native=False,
             objects=False, include_types=(), exclude_types=()):
    native_auto = False
    if not isinstance(objects, bool):
        raise TypeError("objects must be a bool, not %s" % type(objects).__name__)
    include_types = _check_types("include_types", include_types)
    exclude_types = _check_types("exclude_types", exclude_types)
    if (include_types or exclude_types) and not objects:
        raise ValueError("include_types and exclude_types filter object tracking: "
                         "they need objects=True")
    if objects and _sys.version_info < (3, 13):
        raise RuntimeError("objects=True needs CPython 3.13 or later (its reference tracer, "
                           "PyRefTracer_SetTracer); this is CPython %s" % _python_version())
    if objects and _sys.version_info[:3] < (3, 13, 3) and allocations not in ("exact", True):
        # CPython 3.13.0-3.13.2 do not report the deaths of objects that
        # the interpreter loop deallocates (gh-130382): the frees of their
        # blocks say it, so every Python allocation is recorded too, unless
        # the caller chose otherwise (then said to be approximate).
        if allocations is None:
            allocations = "exact"
        else:
            import warnings
            warnings.warn("memtrace: objects=True with allocations=%r on CPython %s: this "
                          "version does not report the deaths of objects the interpreter "
                          "loop frees (fixed in 3.13.3, gh-130382); without every allocation "
                          "they are known only when a new object takes their address, so "
                          "counts of objects alive are too high" % (allocations,
                                                                     _python_version()),
                          RuntimeWarning, stacklevel=4)
    if mode is None:
        # The default: sampled Python allocations plus native ones where
        # available (bench/RESULTS.md: ~1.05x bare, names the peak's line).
        if (allocations is False and native is not True and not objects) or c_calls \
                or rss_trigger or max_depth or include or exclude:
            # What only a call hook does: the profile mode of old.
            mode = "profile"
        else:
            mode = "alloc"
            if allocations is None:
                allocations = "sampled"
            if native is None:
                native_auto = bool(_memtrace.native_available())
                native = native_auto
    if native is None:
        native = False
    if mode not in MODES:
        raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
    if allocations is True:
        allocations = "exact"
    elif allocations is None or allocations is False:
        allocations = None
    elif allocations not in ("exact", "sampled"):
        raise ValueError("allocations must be False, True, 'exact' or 'sampled', got %r"
                         % (allocations,))
    if not isinstance(native, bool):
        raise TypeError("native must be a bool, not %s" % type(native).__name__)
    _check_number("alloc_sample_bytes", alloc_sample_bytes, minimum=1, integer=True,
                  maximum=_MAX_BYTES)
    if mode == "alloc":
        if allocations is None and not native and not objects:
            allocations = "exact"
        if c_calls:
            raise ValueError("c_calls=True needs mode 'profile' or 'trace'")
        if rss_trigger or max_depth or include or exclude:
            raise ValueError("mode 'alloc' takes no rss_trigger, max_depth, include or exclude")
        c_calls = False
    if mode == "poll":
        if allocations is not None or native or c_calls or rss_trigger or max_depth \
                or include or exclude or rss == "exact" or objects:
            raise ValueError("mode 'poll' records no events: it takes no allocations, native, "
                             "objects, c_calls, rss='exact', rss_trigger, max_depth, include "
                             "or exclude")
        c_calls = False
    if native and not _memtrace.native_available():
        raise RuntimeError("native=True is not available on this platform (it needs Linux "
                           "with glibc on x86-64 or AArch64, or libmemtrace-preload.so)")
    if c_calls is None:
        c_calls = mode == "profile"
    elif not isinstance(c_calls, bool):
        raise TypeError("c_calls must be a bool or None, not %s" % type(c_calls).__name__)
    elif c_calls and mode == "fast":
        raise ValueError("c_calls=True needs mode 'profile' or 'trace': fast mode "
                         "sees Python frames only")
    elif not c_calls and mode == "profile":
        raise ValueError("c_calls=False: profile mode always records C calls "
                         "(mode 'fast' records Python frames only)")
    if path is None:
        path = default_path(mode)
    elif not isinstance(path, (str, bytes, _os.PathLike)):
        raise TypeError("path must be a str, bytes or os.PathLike, not %s" % type(path).__name__)
    try:
        # As open() takes it: undecodable bytes survive (surrogateescape),
        # and the recorder gets the path back as bytes (os.fsencode).
        path = _os.fsdecode(_os.fspath(path))
    except TypeError as exc:
        raise TypeError("path: %s" % exc) from None
    if not path:
        raise ValueError("path must not be empty")
    if "\0" in path:
        raise ValueError("path must not contain a NUL character")
    _check_number("rss_interval", rss_interval, maximum=_MAX_SECONDS)
    _check_number("flush_interval", flush_interval, allow_zero=False, maximum=_MAX_SECONDS)
    if rss not in ("sampled", "exact"):
        raise ValueError("rss must be 'sampled' or 'exact', got %r" % (rss,))
    _check_number("rss_trigger", rss_trigger, integer=True, maximum=_MAX_BYTES)
    _check_number("max_depth", max_depth, integer=True)
    if max_depth > 2**31:
        raise ValueError("max_depth is too large: %r" % (max_depth,))
    include = _check_prefixes("include", include)
    exclude = _check_prefixes("exclude", exclude)
    _check_number("buffer_bytes", buffer_bytes, minimum=4096, integer=True)
    if buffer_bytes > 16 << 20:
        raise ValueError("buffer_bytes must be at most 16 MiB, got %r" % (buffer_bytes,))
    _check_number("max_buffers", max_buffers, minimum=2, integer=True)
    if max_buffers > 1 << 20:
        raise ValueError("max_buffers is too large: %r" % (max_buffers,))
    if clock is None:
        # clock_gettime costs ~23 ns here, rdtsc ~10 ns, and one clock read
        # per event is most of the recorder's own cost (fib, 3.11: profile
        # 4.8x bare with CLOCK_MONOTONIC). The TSC's calibration costs 20 ms
        # at the first start of a process.
        clock = "tsc" if _tsc_usable() else "monotonic"
    if clock not in ("monotonic", "tsc"):
        raise ValueError("clock must be 'monotonic' or 'tsc', got %r" % (clock,))
    if fork not in ("child", "stop"):
        raise ValueError("fork must be 'child' or 'stop', got %r" % (fork,))
    return dict(path=path, mode=mode, rss_interval=float(rss_interval),
                flush_interval=float(flush_interval), rss=rss, rss_trigger=rss_trigger,
                max_depth=max_depth, include=include, exclude=exclude,
                buffer_bytes=buffer_bytes, max_buffers=max_buffers, clock=clock, fork=fork,
                c_calls=c_calls, allocations=allocations, alloc_sample_bytes=alloc_sample_bytes,
                native=native, _native_auto=native_auto, objects=objects,
                include_types=include_types, exclude_types=exclude_types)


def _check_types(name, value):
    """include_types / exclude_types: an iterable of types and type names."""
    if value is None:
        return ()
    if isinstance(value, (str, type)):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError("%s must be an iterable of types or type names, not %s"
                        % (name, type(value).__name__)) from None
    for item in items:
        if not isinstance(item, type) and not (isinstance(item, str) and item):
            raise TypeError("%s must hold types or non-empty type names (str), got %r"
                            % (name, item))
    return items


def _python_version():
    """platform.python_version(), without importing platform."""
    v = _sys.version_info
    s = "%d.%d.%d" % v[:3]
    if v.releaselevel != "final":
        s += {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "") + str(v.serial)
    return s


def _tsc_usable():
    """x86-64 with an invariant TSC (constant_tsc and nonstop_tsc)."""
    if _os.uname().machine not in ("x86_64", "AMD64"):
        return False
    try:
        # Bytes: no codec to import, no EncodingWarning (-X warn_default_encoding).
        with open("/proc/cpuinfo", "rb") as f:
            for line in f:
                if line.startswith(b"flags"):
                    flags = line.split()
                    return b"constant_tsc" in flags and b"nonstop_tsc" in flags
    except OSError:
        pass
    return False


def _start(opts, hide_frame=None):
    global _current, _hide
    wrapped = not _real_os
    _wrap_process_exits()  # before recording: not part of the program's trace
    try:
        # The directory the file is in, as the recorder resolves it now: a
        # forked child's file (or the next one after a failed exec) goes
        # beside it even if the program has changed directory since.
        opts = dict(opts, _abs_path=_os.path.abspath(opts["path"]))
    except OSError:  # no current directory: the recorder keeps it relative too
        pass
    try:
        try:
            _start_core(opts, hide_frame)
        except RuntimeError:
            # native by default only: if patching fails here, record the
            # Python allocators alone rather than not at all.
            if not opts.get("_native_auto") or _memtrace.is_recording():
                raise
            opts = dict(opts, native=False, _native_auto=False)
            _start_core(opts, hide_frame)
    except BaseException:
        if wrapped:
            _unwrap_process_exits()
        raise
    _current = opts
    _hide = hide_frame


def _start_core(opts, hide_frame):
    _memtrace.start(
        _os.fsencode(opts["path"]), opts["mode"], rss_interval=opts["rss_interval"],
        flush_interval=opts["flush_interval"], rss_exact=opts["rss"] == "exact",
        rss_trigger=opts["rss_trigger"], max_depth=opts["max_depth"],
        include=opts["include"], exclude=opts["exclude"],
        buffer_bytes=opts["buffer_bytes"], max_buffers=opts["max_buffers"],
        use_tsc=opts["clock"] == "tsc", c_calls=opts["c_calls"], python_version=_python_version(),
        executable=_sys.executable, argv=opts.get("_argv") or [str(a) for a in getattr(_sys, "argv", [])],
        allocations=opts["allocations"] is not None, native=opts["native"],
        alloc_sample_bytes=opts["alloc_sample_bytes"] if opts["allocations"] == "sampled" else 1,
        hide_frame=hide_frame, procs=opts.get("procs", False),
        objects=opts.get("objects", False), include_types=opts.get("include_types") or None,
        exclude_types=opts.get("exclude_types") or None)


def start(path=None, mode=None, rss_interval=0.01, flush_interval=1.0,
          rss="sampled", rss_trigger=0, max_depth=0, include=(), exclude=(),
          buffer_bytes=64 * 1024, max_buffers=256, clock=None, fork="child",
          c_calls=None, allocations=None, alloc_sample_bytes=DEFAULT_ALLOC_SAMPLE_BYTES,
          native=None, *, objects=False, include_types=(), exclude_types=(),
          _hide_frame=None, _argv=None):
    """Start recording every thread into path; return the path.

    The default (no mode, allocations or native given) answers "where did
    my memory go" at about 1.05x the bare run's time: mode "alloc" with a
    sample of the Python allocators' allocations (allocations="sampled"),
    the C allocator of every loaded library where native tracking is
    available (native=None: on where native_available()), each with its
    Python stack and line, plus the RSS sampler.

    path           trace file (default: default_path(mode)); an unwritable path
                   raises OSError here
    mode           None (the default above; "profile" when allocations=False
                   and native is not True, or with c_calls, rss_trigger,
                   max_depth, include or exclude, which need a call hook);
                   "profile": Python calls and returns plus C calls, returns and
                   exceptions (a profile hook, as cPyMemTrace.Profile);
                   "trace": Python calls, returns, lines and exceptions (a
                   trace hook alone, as cPyMemTrace.Trace); "fast": Python
                   frames only, by the cheapest hook of this Python; "alloc":
                   allocations only, each with its Python stack (no call
                   hook: stacks are written lazily, at allocations); "poll":
                   no hook, RSS samples and markers only (what
                   memtrace.process.log_process records on its own)
    allocations    False; True or "exact": record every allocation of the
                   raw, mem and obj domains (free and realloc too); "sampled":
                   a Poisson sample by bytes (see alloc_sample_bytes); None
                   (default): "sampled" when mode is None, "exact" in mode
                   "alloc", False in the other modes
    alloc_sample_bytes
                   sampled mode: mean bytes allocated between two samples
                   (default DEFAULT_ALLOC_SAMPLE_BYTES); the trace says it in
                   a marker "memtrace:alloc_sample_bytes=N"
    native         also record malloc/calloc/realloc/free/memalign family and
                   anonymous mmap/munmap of C code (domains malloc, mmap): in a
                   running program by patching the loaded libraries' GOT
                   entries (and those dlopen loads later), or through
                   libmemtrace-preload.so when the launcher preloaded it.
                   None (default): on when mode is None and
                   native_available(), else off; True where it is not
                   available raises RuntimeError
    objects        CPython 3.13+: also record every object's creation (with
                   its type and creating stack and line) and destruction,
                   through CPython's reference tracer; memtrace analyze then
                   reports objects by type (live over time, alive at the end
                   by creation line, at the heap's peak). Costs about what
                   allocations="exact" costs; narrow it with include_types.
                   Earlier versions raise RuntimeError
    include_types, exclude_types
                   objects=True: record only objects whose type is, or is a
                   subclass of, one of include_types (empty: all), and not
                   of exclude_types; each a type or a name ("dict",
                   "collections.OrderedDict", "mymod.Point" or "Point")
    c_calls        trace mode: also record C calls (installs the profile hook
                   beside the trace hook: ~10% more cost); default: True in
                   profile mode, False otherwise
    rss_interval   seconds between RSS samples by the sampler thread (0: none)
    flush_interval seconds; chunks reach the disk at least this often, so a
                   killed process loses at most about that much
    rss            "sampled" (sampler thread only) or "exact" (also read RSS at
                   every event: ~1 us per event)
    rss_trigger    bytes; write call/return/line events only when RSS moved by
                   at least this much since the last written event (0: all)
    max_depth      record frames at most this deep (0: unlimited)
    include        module names or file path prefixes to record (empty: all)
    exclude        module names or file path prefixes not to record
    buffer_bytes, max_buffers
                   the recorder's memory bound: at most max_buffers buffers of
                   buffer_bytes; when all are in use, the recording thread
                   waits for the writer to free one (dropping, counted in a
                   LOST record and said at stop, only after 10 s)
    clock          "monotonic" (ns) or "tsc" (x86 time-stamp counter, calibrated
                   in 20 ms at start); default: tsc where the CPU
                   has an invariant TSC, else monotonic
    fork           after os.fork(), the child records into
                   "<path stem>.<child pid>.trace" ("child") or stops ("stop");
                   the parent's file is never touched by the child

    Raises RuntimeError if already recording, or while another thread's
    stop() is finishing the file ("memtrace is stopping").
    """
    if _memtrace.is_recording():
        raise RuntimeError("memtrace is already recording to %r" % (
            _current["path"] if _current else "?",))
    opts = _options(path, mode, rss_interval, flush_interval, rss, rss_trigger,
                    max_depth, include, exclude, buffer_bytes, max_buffers, clock, fork,
                    c_calls, allocations, alloc_sample_bytes, native, objects,
                    include_types, exclude_types)
    # _hide_frame (the launcher's): that frame and its callers are left out
    # of every stack, so a program run by `python -m memtrace run` shows
    # its own frames only. _argv: the command the trace's header names
    # (the launcher's -c gives the code, which sys.argv leaves out).
    if _argv is not None:
        opts["_argv"] = [str(a) for a in _argv]
    _start(opts, _hide_frame)
    return opts["path"]


def stop(results=False):
    """Stop recording, finish the file (with its index) and return its path;
    None if not recording. Write errors were reported once on stderr when
    they happened; the path is returned all the same. results=True returns
    the file's results instead (memtrace.open(path): summary(), the tables
    of memtrace analyze --json as attributes)."""
    path = _stop()
    if results and path is not None:
        from . import results as _results
        return _results.open(path)
    return path


def _stop():
    global _current
    if not _memtrace.is_recording():
        # Stopped by itself (the disk filled): its hooks come off here if
        # they have not yet.
        _memtrace.stop()
        _unwrap_process_exits()
        _current = None
        return None
    cur = _current
    path = cur["path"] if cur else None
    _memtrace.stop()
    if not _memtrace.is_recording():  # (another thread may have started anew)
        _unwrap_process_exits()
    # Another thread may have started a new recording as soon as ours was
    # finished (the GIL is released while the file is finished).
    if _current is cur:
        _current = None
    return path


def is_recording():
    """True while a recording runs."""
    return _memtrace.is_recording()


def load_ipython_extension(ipython):
    """%load_ext memtrace in IPython or Jupyter: the %%memtrace cell magic,
    which records the cell and shows its report inline (memtrace.notebook)."""
    from .notebook import load_ipython_extension as load
    load(ipython)


def marker(text):
    """Write a label into the trace at this moment, in the calling thread's
    stream. Does nothing when not recording (markers can stay in code).
    text must be a str; characters UTF-8 cannot hold (lone surrogates, as
    os.fsdecode makes of undecodable file names) are written escaped
    ("\\udc80")."""
    _memtrace.marker(text)


def rss():
    """The process's resident set size now, in bytes (/proc/self/statm)."""
    return _memtrace.rss()


def native_available():
    """True when native=True can record the C allocator here: in a running
    program by patching the loaded libraries' GOT entries (Linux, glibc,
    x86-64/AArch64), or through libmemtrace-preload.so when python -m
    memtrace run --native preloaded it (which also sees what libraries
    allocated before memtrace started)."""
    return bool(_memtrace.native_available())


def rss_peak():
    """The process's peak resident set size so far, in bytes (getrusage)."""
    return _memtrace.rss_peak()


class _Recording:
    """on_stop=callback: called when the block ends with the recording's
    results (memtrace.open(path)), as mempulse's callback is; results also
    holds them after the block."""
    _mode = "profile"

    def __init__(self, path=None, on_stop=None, **options):
        if "mode" in options:
            raise TypeError("%s() got an unexpected keyword argument 'mode'" % type(self).__name__)
        if on_stop is not None and not callable(on_stop):
            raise TypeError("on_stop must be callable, not %s" % type(on_stop).__name__)
        self._opts = _options(path, self._mode, **_with_defaults(options))
        self.path = self._opts["path"]
        self._on_stop = on_stop
        self.results = None

    def __enter__(self):
        if _memtrace.is_recording():
            raise RuntimeError("memtrace is already recording to %r" % (
                _current["path"] if _current else "?",))
        _start(self._opts)
        return self

    def __exit__(self, *exc):
        path = stop()
        if self._on_stop is not None and path is not None:
            from . import results as _results
            self.results = _results.open(path)
            self._on_stop(self.results)
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return wrapper


_DEFAULTS = dict(rss_interval=0.01, flush_interval=1.0, rss="sampled", rss_trigger=0,
                 max_depth=0, include=(), exclude=(), buffer_bytes=64 * 1024,
                 max_buffers=256, clock=None, fork="child", c_calls=None,
                 allocations=False, alloc_sample_bytes=DEFAULT_ALLOC_SAMPLE_BYTES,
                 native=False, objects=False, include_types=(), exclude_types=())


def _with_defaults(options):
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise TypeError("unexpected keyword argument %r" % sorted(unknown)[0])
    merged = dict(_DEFAULTS)
    if options.get("objects") and "allocations" not in options:
        merged["allocations"] = None  # objects' own default (see _options)
    merged.update(options)
    return merged


class Profile(_Recording):
    """Record Python and C calls/returns with RSS, as a context manager or a
    decorator: ``with memtrace.Profile("run.trace"): ...`` or ``@memtrace.Profile()``.
    Takes the options of start() except mode."""
    _mode = "profile"


class Trace(_Recording):
    """Like Profile, plus line events."""
    _mode = "trace"


class Fast(_Recording):
    """Like Profile, Python frames only, at the lowest cost."""
    _mode = "fast"


class Alloc(_Recording):
    """Allocations with their Python stacks, no call hook (mode "alloc"):
    ``with memtrace.Alloc("run.trace", allocations="sampled"): ...``."""
    _mode = "alloc"


def _child_path(path, pid):
    stem, ext = _os.path.splitext(path)
    return "%s.%d%s" % (stem, pid, ext or ".trace")


def _after_fork_child():
    global _current
    opts = _current
    _memtrace._after_fork_child()
    _current = None
    if opts and opts["fork"] == "child":
        opts = dict(opts, path=_child_path(opts.get("_abs_path", opts["path"]), _os.getpid()))
        try:
            _start(opts)
        except Exception as exc:  # the child carries on unrecorded
            _sys.stderr.write("memtrace: child %d not recorded: %s\n" % (_os.getpid(), exc))


# ---- The process ends or becomes another program -------------------------
#
# os._exit() ends the process without atexit handlers (every multiprocessing
# and concurrent.futures fork worker leaves that way), and os.exec*()
# replaces it: either would lose what the recorder holds in memory (up to a
# flush interval, the whole run of a short-lived worker). While recording,
# os._exit, os.execv and os.execve are wrapped so that the trace is finished
# first (os.execl, execlp, execvp, ... call the last two). A failed exec
# raises as before, and recording goes on into a new file (<stem>.1.trace,
# ...). The wrappers are taken off at stop() where they are still os's.

_real_os = {}  # name -> os's own function, while a wrapper is installed (GIL)


_exec_busy = False  # an exec wrapper is running: inner ones pass through (GIL)
_hide = None        # the launcher's hide_frame of the running recording (GIL)


def _next_path(path):
    """<stem>.1.trace, <stem>.2.trace, ...: the first free one."""
    stem, ext = _os.path.splitext(path)
    for k in range(1, 10000):
        candidate = "%s.%d%s" % (stem, k, ext or ".trace")
        if not _os.path.exists(candidate):
            return candidate
    return path


def _wraps(real, wrapper):
    """functools.update_wrapper, without importing functools."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        try:
            setattr(wrapper, name, getattr(real, name))
        except AttributeError:
            pass
    wrapper.__wrapped__ = real
    return wrapper


def _make_exit_wrapper(real):
    def _exit(status):
        # Not when the writer is stuck (a hung disk): finishing would hang
        # the exit too.
        if _memtrace.is_recording() and not _memtrace._stats().get("stalled"):
            try:
                _memtrace.stop(1)  # MT_END_EXIT: finished, index and all
            except BaseException:  # never stand between the program and its exit
                pass
        real(status)
    return _wraps(real, _exit)


def _make_exec_wrapper(real):
    def exec_(*args, **kwargs):
        global _exec_busy
        if _exec_busy:  # inside execvp's search of PATH: one stop for all
            return real(*args, **kwargs)
        opts = _current if _memtrace.is_recording() else None
        hide = _hide
        if opts is not None:
            stop()
        _exec_busy = True
        try:
            return real(*args, **kwargs)
        except BaseException:
            if opts is not None and not _memtrace.is_recording():
                base = opts.get("_base_path", opts.get("_abs_path", opts["path"]))
                try:
                    _start(dict(opts, path=_next_path(base), _base_path=base), hide)
                except Exception as exc:  # the program carries on unrecorded
                    _sys.stderr.write("memtrace: recording not resumed after a failed exec: %s\n"
                                      % (exc,))
            raise
        finally:
            _exec_busy = False
    return _wraps(real, exec_)


def _wrap_process_exits():
    # _execvpe: execvp, execvpe, execlp and execlpe search PATH through it,
    # calling execv/execve once per directory.
    for name, make in (("_exit", _make_exit_wrapper), ("execv", _make_exec_wrapper),
                       ("execve", _make_exec_wrapper), ("_execvpe", _make_exec_wrapper)):
        real = getattr(_os, name, None)
        if real is None or name in _real_os:
            continue
        wrapper = make(real)
        wrapper._memtrace_wrapper = True
        _real_os[name] = real
        setattr(_os, name, wrapper)


def _unwrap_process_exits():
    for name, real in list(_real_os.items()):
        if getattr(getattr(_os, name, None), "_memtrace_wrapper", False):
            setattr(_os, name, real)
        del _real_os[name]  # replaced by the program meanwhile: its choice stays


def __getattr__(name):
    # memtrace.process on first use (it imports threading, json, logging),
    # and memtrace.open / memtrace.results (json, subprocess, tempfile).
    if name == "process":
        from . import process
        return process
    import importlib  # (not "from . import": that would come back here on failure)
    if name in ("open", "TraceFile", "TraceError", "results"):
        results = importlib.import_module(__name__ + ".results")
        return results if name == "results" else getattr(results, name)
    if name in ("trace_malloc", "debug_malloc_stats", "malloc_stats", "snapshots"):
        snapshots = importlib.import_module(__name__ + ".snapshots")
        return snapshots if name == "snapshots" else getattr(snapshots, name)
    raise AttributeError("module 'memtrace' has no attribute %r" % (name,))


if hasattr(_os, "register_at_fork"):
    if _sys.version_info >= (3, 12):
        # 3.12+ warns in the parent of a fork when the process has other
        # threads: the recorder's writer and sampler are stopped around it
        # (mt_rec_pause_threads), so a program that forks gets no warning
        # it would not get bare.
        _os.register_at_fork(before=_memtrace._pause_threads,
                             after_in_parent=_memtrace._resume_threads,
                             after_in_child=_after_fork_child)
    else:
        _os.register_at_fork(after_in_child=_after_fork_child)
# The C function itself, called by atexit from C: no Python frame, and no C
# call the profile hook could see, so the end of the recording is not in it
# (1: MT_END_EXIT; a no-op when not recording).
_atexit.register(_memtrace.stop, 1)
