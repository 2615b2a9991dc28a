"""Start recording at interpreter start-up from the MEMTRACE environment
variable. Imported by memtrace-autostart.pth (installed into site-packages by
`pip install`) only when MEMTRACE is set and not empty.

    MEMTRACE=FILE[,option=value...]

FILE may contain {pid}; empty or "1" means the default name. If FILE exists
already when the process starts (for instance written by a parent process
that passed the variable on), ".<pid>" is inserted before the extension so
no process overwrites another's trace. Options are those of memtrace.start:
mode, rss_interval, flush_interval, rss, rss_trigger, max_depth, include,
exclude (several prefixes separated by ':'), clock, fork, c_calls (0 or 1),
allocations (0, 1, exact or sampled), alloc_sample_bytes, native (0 or 1),
objects (0 or 1), include_types and exclude_types (type names separated by
':').
With no mode, allocations or native, memtrace.start()'s default applies
(sampled Python allocations, native ones where available, the RSS sampler).

A bad MEMTRACE never stops the program: one warning on stderr, no recording.
"""

import os
import sys

_FLOATS = ("rss_interval", "flush_interval")
_INTS = ("rss_trigger", "max_depth", "buffer_bytes", "max_buffers", "alloc_sample_bytes")
_LISTS = ("include", "exclude", "include_types", "exclude_types")


def parse(spec):
    """MEMTRACE value -> keyword arguments of memtrace.start; ValueError."""
    parts = spec.split(",")
    path = parts[0].strip()
    kw = {}
    if path and path != "1":
        path = path.replace("{pid}", str(os.getpid()))
        if os.path.exists(path):
            stem, ext = os.path.splitext(path)
            path = "%s.%d%s" % (stem, os.getpid(), ext or ".trace")
        kw["path"] = path
    for part in parts[1:]:
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError("MEMTRACE: %r is not option=value" % part)
        if key in _FLOATS:
            value = float(value)
        elif key in _INTS:
            value = int(value)
        elif key in ("c_calls", "native", "objects"):
            if value.strip() not in ("0", "1"):
                raise ValueError("MEMTRACE: %s must be 0 or 1, got %r" % (key, value))
            value = value.strip() == "1"
        elif key == "allocations":
            value = value.strip()
            if value not in ("0", "1", "exact", "sampled"):
                raise ValueError("MEMTRACE: allocations must be 0, 1, exact or sampled, "
                                 "got %r" % value)
            value = {"0": False, "1": True}.get(value, value)
        elif key in _LISTS:
            value = tuple(v for v in value.split(":") if v)
        kw[key] = value
    return kw


def main():
    spec = os.environ.get("MEMTRACE", "")
    if not spec:
        return
    try:
        import memtrace
        # (A sub-interpreter reads the .pth too: the recording of the
        # interpreter that started it is left alone.)
        if not memtrace._memtrace._recording_any():
            memtrace.start(**parse(spec))
    except Exception as e:  # never break the program
        sys.stderr.write("memtrace: MEMTRACE=%s ignored: %s\n" % (spec, e))


main()
