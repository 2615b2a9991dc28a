"""memtrace.process: watch this process's memory at regular intervals, with
labels, at near-zero cost (pymemtrace's ``process`` module, into a trace).

    import memtrace.process as process
    with process.log_process(interval=0.5, path="run.trace"):
        for size in sizes:
            process.add_message_to_queue("String of %d bytes" % size)
            s = " " * size
            ...

Every interval, a C thread of the recorder reads /proc for this process
(rss, vms, shared, swap, peak rss, page faults, user and system CPU time,
OS threads; uss and pss from smaps_rollup at a lower rate) and writes them
as a COUNTERS record into the trace; with children=True it also samples
every descendant process (PROC_SAMPLE, and PROC_EXIT when one ends), as
``memtrace-poll --tree`` does. All records of one round carry the same time.

Where the samples go:
  - memtrace already recording (memtrace.start, Profile, ...): into THAT
    trace, on its clock (one file, one time axis with the calls);
  - not recording: log_process records a trace of its own (mode "poll": no
    call hook, the RSS sampler and these samples only) at path (default
    memtrace_<UTC>_<pid>_poll.trace) and finishes it when the block ends.

Labels: add_message_to_queue(msg) writes a MARKER at once (the label's
time) in the same stream as the samples; the next round's sample follows
it. With log_level set, the label also appears in the next JSON log line,
as in pymemtrace (one line per label when several were queued).

JSON log lines (log_level=logging.INFO, ...): through the logging module
(logger "memtrace.process", or logger=...), one line per sample, with
pymemtrace's prefixes so its extract tools match them:

    ProcessLoggingThread-JSON-START {...}   the first sample
    ProcessLoggingThread-JSON {...}         the others
    ProcessLoggingThread-JSON-STOP {...}    the last, at the end of the block

and the object (keys in this order; bytes, seconds):
    "timestamp"    local time "YYYY-MM-DD HH:MM:SS.ffffff" of the sample
    "memory_info"  {"rss", "vms", "shared", "swap", "peak_rss", "uss",
                    "pss" (these two once smaps_rollup was read),
                    "pfaults" (minor + major page faults), "pageins" (major)}
    "cpu_times"    {"user", "system"}  (seconds of CPU)
    "num_threads"  OS threads of the process
    "elapsed_time" seconds since the process started (pymemtrace's axis)
    "t"            seconds since the trace's start (its time axis)
    "pid"
    "label"        the label, when the sample carries one
    "children"     with children=True: [{"pid", "ppid", "name", "cmdline",
                    "rss", "vms"}, ...] the descendants sampled this round

Why the sampling is C (recorder/mt_procwatch.c) and not a Python thread:
a Python thread must hold the GIL while it reads and parses /proc, which
stops the program's threads for that long at every sample. Measured here
(2 cores, Python 3.11, a 3 s run at 10 ms, log_level None): the same reads (stat, status) parsed in Python cost 39-50 us per sample with
the GIL held; the C thread's whole round (stat, status every 100 ms,
encoding) costs 18-25 us of its own CPU and never holds the GIL, since
its descriptors stay open (one pread per file). At 10 ms that is 0.2% of
one core beside the program, against 0.4-0.5% taken out of it. The GIL is
taken only to hand a round to the JSON logger, when log_level is set.
"""

import datetime as _datetime
import json as _json
import logging as _logging
import os as _os
import threading as _threading
import time as _time
import warnings as _warnings

from . import _memtrace

__all__ = ["log_process", "add_message_to_queue", "ProcessLog", "LOGGER_PREFIX",
           "LOGGER_PREFIX_START", "LOGGER_PREFIX_STOP"]

#: The unique strings of the log lines (pymemtrace's).
LOGGER_PREFIX = "ProcessLoggingThread-JSON"
LOGGER_PREFIX_START = LOGGER_PREFIX + "-START"
LOGGER_PREFIX_STOP = LOGGER_PREFIX + "-STOP"

_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

logger = _logging.getLogger("memtrace.process")

# The running ProcessLog (one at a time); guarded by _lock.
_lock = _threading.Lock()
_active = None


def _process_start_time():
    """UNIX time at which this process started (/proc/self/stat field 22
    and /proc/stat btime), or now if unknown."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start_clk = int(fields[19])
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return int(line.split()[1]) + start_clk / _os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    return _time.time()


class ProcessLog:
    """The state of one log_process block (what log_process yields)."""

    def __init__(self, interval=1.0, path=None, children=False, log_level=None,
                 logger=None, rollup_interval=10.0, rss_interval=0.01):
        import memtrace
        memtrace._check_number("interval", interval)
        if interval < 0.001:
            raise ValueError("interval must be at least 0.001 s, got %r" % (interval,))
        memtrace._check_number("rollup_interval", rollup_interval)
        if log_level is not None and (isinstance(log_level, bool) or not isinstance(log_level, int)):
            raise TypeError("log_level must be an int (logging.INFO, ...) or None")
        self.interval = float(interval)
        self.children = bool(children)
        self.log_level = log_level
        self.logger = logger if logger is not None else globals()["logger"]
        self.rollup_interval = float(rollup_interval)
        self._path = path
        self._rss_interval = rss_interval
        self.own_recording = False  # True: log_process started (and stops) it
        self.path = None            # the trace written to
        self._start_time = None

    # -- control

    def start(self):
        global _active
        import memtrace
        with _lock:
            if _active is not None or _memtrace._procwatch_running():
                raise RuntimeError("log_process is already running")
            if memtrace.is_recording():
                current = memtrace._current["path"] if memtrace._current else None
                if self._path is not None and current is not None and \
                        _os.path.abspath(_os.fsdecode(_os.fspath(self._path))) != _os.path.abspath(current):
                    _warnings.warn("memtrace is already recording to %r: log_process writes "
                                   "its samples there, not to %r" % (current, self._path),
                                   RuntimeWarning, stacklevel=3)
                self.path = current
            else:
                opts = memtrace._options(
                    self._path, "poll", **memtrace._with_defaults(
                        dict(rss_interval=self._rss_interval)))
                opts["procs"] = self.children
                memtrace._start(opts)
                self.own_recording = True
                self.path = opts["path"]
            self._start_time = _process_start_time()
            try:
                _memtrace._procwatch_start(
                    self.interval, rollup_interval=self.rollup_interval,
                    children=self.children,
                    callback=self._on_round if self.log_level is not None else None)
            except BaseException:
                if self.own_recording:
                    memtrace.stop()
                raise
            _active = self
        return self

    def stop(self):
        """Take a last sample and stop; finish the trace if log_process
        started it. Returns the trace's path."""
        global _active
        import memtrace
        with _lock:
            if _active is not self:
                return self.path
            _active = None
        _memtrace._procwatch_stop()
        if self.own_recording and _memtrace.is_recording():
            memtrace.stop()
        return self.path

    def add_message_to_queue(self, msg):
        """A label for the next sample (see the module's add_message_to_queue)."""
        add_message_to_queue(msg)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- JSON lines (called on the poller thread, with the GIL)

    def _on_round(self, phase, t_s, counters, labels, children):
        if not self.logger.isEnabledFor(self.log_level):
            return
        get = counters.get
        mem = {"rss": get("rss_bytes", 0), "vms": get("vms_bytes", 0)}
        for key, name in (("shared", "shared_bytes"), ("swap", "swap_bytes"),
                          ("peak_rss", "peak_rss_bytes"), ("uss", "uss_bytes"),
                          ("pss", "pss_bytes")):
            if name in counters:
                mem[key] = counters[name]
        mem["pfaults"] = get("minor_faults", 0) + get("major_faults", 0)
        mem["pageins"] = get("major_faults", 0)
        data = {
            "timestamp": _datetime.datetime.now().strftime(_DATETIME_FORMAT),
            "memory_info": mem,
            "cpu_times": {"user": get("user_ns", 0) / 1e9, "system": get("system_ns", 0) / 1e9},
            "num_threads": get("threads", 0),
            "elapsed_time": _time.time() - self._start_time,
            "t": t_s,
            "pid": _os.getpid(),
        }
        if self.children:
            data["children"] = [
                {"pid": c["pid"], "ppid": c["ppid"], "name": c["name"], "cmdline": c["cmdline"],
                 "rss": c["counters"].get("rss_bytes", 0), "vms": c["counters"].get("vms_bytes", 0)}
                for c in children]
        prefix = (LOGGER_PREFIX_START if phase == 0 else
                  LOGGER_PREFIX_STOP if phase == 2 else LOGGER_PREFIX)
        if not labels:
            self.logger.log(self.log_level, "%s %s", prefix, _json.dumps(data))
            return
        for label in labels:
            line = dict(data)
            if self.children:  # keep "children" last, after the label
                kids = line.pop("children")
                line["label"] = label
                line["children"] = kids
            else:
                line["label"] = label
            self.logger.log(self.log_level, "%s %s", prefix, _json.dumps(line))


def log_process(interval=1.0, path=None, *, children=False, log_level=None, logger=None,
                rollup_interval=10.0, rss_interval=0.01):
    """Context manager: sample this process every interval seconds (and its
    descendants with children=True) until the block ends.

    interval        seconds between samples (>= 0.001; default 1.0)
    path            the trace when memtrace is not already recording (default
                    memtrace_<UTC>_<pid>_poll.trace); when it is, samples go
                    into that recording (a different path gives a warning)
    children        also sample every descendant process (PROC_SAMPLE /
                    PROC_EXIT records; the exit status is known when the
                    poller sees the zombie before its parent reaps it)
    log_level       None (default): no log lines; else also log one JSON
                    line per sample at this level (see the module's doc)
    logger          the logging.Logger of those lines ("memtrace.process")
    rollup_interval seconds between reads of uss/pss (smaps_rollup, slow on
                    big processes: spaced further so that it costs at most
                    0.25% of a core); 0: never
    rss_interval    the own recording's RSS sampler period (seconds, 0: none)

    Yields a ProcessLog (its .path is the trace). Raises RuntimeError if a
    log_process block is already running."""
    return ProcessLog(interval, path, children, log_level, logger, rollup_interval, rss_interval)


def add_message_to_queue(msg):
    """Label the next sample with msg: a MARKER at this moment in the trace
    (in the samples' stream) and, with JSON logging, a "label" in the next
    log line. Outside log_process it is a plain marker (nothing if memtrace
    is not recording)."""
    if not isinstance(msg, str):
        msg = str(msg)
    _memtrace._procwatch_label(msg)
