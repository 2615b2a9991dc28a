"""Start recording at interpreter start-up from the MEMTRACE environment
variable. Imported by memtrace-autostart.pth (installed into site-packages by
`pip install`) only when MEMTRACE is set and not empty.

    MEMTRACE=FILE[,option=value...]

FILE may contain {pid}; empty or "1" means the default name. If FILE exists
already when the process starts (for instance written by a parent process
that passed the variable on), ".<pid>" is inserted before the extension so
no process overwrites another's trace. Options are those of memtrace.start:
mode, rss_interval, flush_interval, rss, rss_trigger, max_depth, include,
exclude (several prefixes separated by ':'), clock, fork, c_calls (0 or 1).

A bad MEMTRACE never stops the program: one warning on stderr, no recording.
"""

import os
import sys

_FLOATS = ("rss_interval", "flush_interval")
_INTS = ("rss_trigger", "max_depth", "buffer_bytes", "max_buffers")
_LISTS = ("include", "exclude")


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
        elif key == "c_calls":
            if value.strip() not in ("0", "1"):
                raise ValueError("MEMTRACE: c_calls must be 0 or 1, got %r" % value)
            value = value.strip() == "1"
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
        if not memtrace.is_recording():
            memtrace.start(**parse(spec))
    except Exception as e:  # never break the program
        sys.stderr.write("memtrace: MEMTRACE=%s ignored: %s\n" % (spec, e))


main()
