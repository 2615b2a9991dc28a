"""memtrace run [options] script.py [args...]   (or python -m memtrace run ...)
memtrace run [options] -m module [args...]
memtrace run [options] -c code [args...]

Runs a program as `python script.py` / `python -m module` would, recording it.
The program's stdout and exit status are unchanged; on stderr the launcher
says where the trace goes when it starts and what to run next when the
program ends, one line each (-q: nothing; a write error that stops the
recorder is one warning).
"""

import atexit
import io
import os
import runpy
import signal
import sys

USAGE = """\
usage: memtrace run [options] script.py [args...]
       memtrace run [options] -m module [args...]
       memtrace run [options] -c code [args...]
       (python -m memtrace run ... is the same)

Record a Python program into a memtrace trace file.

options:
  -o, --output FILE        trace file (default: memtrace-<script>.<pid>.trace in
                           the current directory; an existing file is kept:
                           give -f to overwrite it)
  -f, --force              overwrite FILE if it exists
  --mode MODE              profile, trace, fast or alloc (allocations only, no
                           call hook). Default, with no --mode, --alloc or
                           --native: alloc with a sample of Python's and C's
                           allocations (--alloc=sampled plus native tracking
                           in-process where available) and the RSS sampler
  --alloc[=exact|sampled]  record allocations (raw, mem, obj domains) with their
                           Python stacks: every one (exact, the default) or a
                           sample by bytes (sampled: the production setting)
  --alloc-sample-bytes N   sampled: mean bytes between samples (default 524288)
  --native                 record malloc/mmap of C code from the process's start:
                           re-runs Python with libmemtrace-preload.so in
                           LD_PRELOAD, which also sees what libraries allocate
                           before recording starts and calls through saved
                           function pointers (implies --alloc; the default
                           tracks native allocations in-process already)
  --objects                CPython 3.13+: also record every object's creation
                           (type, line) and destruction; memtrace analyze shows
                           objects by type, alive at the end by creating line
  --include-types NAME     --objects: only these types and their subclasses
                           ("dict", "mymod.Point" or "Point"; repeatable)
  --exclude-types NAME     --objects: not these types (repeatable)
  --archive DIR            when the program ends, add the trace to the archive DIR
                           (memtrace archive; made if new): moved there, or
                           copied when -o named it; with the git commit and
                           branch of the current directory
  --tag KEY=VALUE          --archive: tag the run (repeatable): release=1.4
  --rss-interval SECONDS   RSS sampling period (default 0.01; 0: no sampler)
  --flush-interval SECONDS chunks reach the disk at least this often (default 1)
  --rss sampled|exact      exact also reads RSS at every event (slow)
  --rss-trigger BYTES      write events only when RSS moved this much
  --max-depth N            record frames at most N deep (0: unlimited)
  --include PREFIX         record only these modules / file prefixes (repeatable)
  --exclude PREFIX         do not record these modules / file prefixes (repeatable)
  --c-calls                trace mode: also record C calls
  --clock monotonic|tsc    time source (default: tsc where the CPU has an
                           invariant TSC, else monotonic)
  --fork child|stop        after fork: child records into FILE stem.PID.trace,
                           or stops (default child)
  -q, --quiet              print nothing on stderr (not where the trace goes,
                           not the next steps)
  -v, --verbose            also say the mode at start
  -h, --help               print this text and exit

Environment: MEMTRACE=FILE[,mode=M][,option=value...] starts recording at
interpreter start-up (needs the memtrace-autostart.pth that `pip install`
puts in site-packages); see the README.
"""

_VALUED = {
    "-o": "path", "--output": "path", "--mode": "mode", "--rss-interval": "rss_interval",
    "--flush-interval": "flush_interval", "--rss": "rss", "--rss-trigger": "rss_trigger",
    "--max-depth": "max_depth", "--include": "include", "--exclude": "exclude",
    "--clock": "clock", "--fork": "fork", "--alloc-sample-bytes": "alloc_sample_bytes",
    "--include-types": "include_types", "--exclude-types": "exclude_types",
    "--archive": "archive", "--tag": "tags",
}
_LISTS = ("include", "exclude", "include_types", "exclude_types", "tags")
_FLOATS = ("rss_interval", "flush_interval")
_INTS = ("rss_trigger", "max_depth", "alloc_sample_bytes")
_REEXEC = "MEMTRACE_PRELOAD_REEXEC"


class UsageError(Exception):
    pass


def _usage_error(msg):
    """One line of reason, one pointing at the help; exit status 2."""
    sys.stderr.write("memtrace run: %s\nmemtrace run: see memtrace run --help\n" % msg)
    sys.exit(2)


def parse_run_args(args):
    """Return (options, verbose, kind, target, target_args); raise UsageError.
    verbose: 0 with -q, 2 with -v, else 1; options["force"] with -f."""
    opts = {"include": [], "exclude": [], "include_types": [], "exclude_types": [], "tags": []}
    verbose = 1
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            sys.exit(0)
        if a in ("-v", "--verbose"):
            verbose = 2
            i += 1
            continue
        if a in ("-q", "--quiet"):
            verbose = 0
            i += 1
            continue
        if a in ("-f", "--force"):
            opts["force"] = True
            i += 1
            continue
        if a == "--c-calls":
            opts["c_calls"] = True
            i += 1
            continue
        if a == "--native":
            opts["native"] = True
            i += 1
            continue
        if a == "--objects":
            if sys.version_info < (3, 13):
                raise UsageError("--objects needs CPython 3.13 or later (its reference "
                                 "tracer); this is CPython %d.%d.%d" % sys.version_info[:3])
            opts["objects"] = True
            i += 1
            continue
        if a == "--alloc" and i + 1 < len(args) and args[i + 1] in ("exact", "sampled"):
            # "--alloc sampled app.py" would run a program called sampled
            raise UsageError("--alloc takes its value after '=': --alloc=%s" % args[i + 1])
        if a == "--alloc" or a.startswith("--alloc="):
            value = a.partition("=")[2] or "exact"
            if value not in ("exact", "sampled"):
                raise UsageError("--alloc must be exact or sampled, not %r" % value)
            opts["allocations"] = value
            i += 1
            continue
        if a == "-m":
            if i + 1 >= len(args):
                raise UsageError("-m needs a module name")
            return opts, verbose, "module", args[i + 1], args[i + 2:]
        if a == "-c":
            if i + 1 >= len(args):
                raise UsageError("-c needs the code to run")
            return opts, verbose, "code", args[i + 1], args[i + 2:]
        if a == "--":
            i += 1
            break
        if a.startswith("-") and a != "-":
            name, eq, value = a.partition("=")
            if name not in _VALUED:
                raise UsageError("unknown option %r" % a)
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError("option %s needs a value" % name)
                value = args[i + 1]
                i += 1
            key = _VALUED[name]
            try:
                if key in _FLOATS:
                    value = float(value)
                elif key in _INTS:
                    value = int(value)
            except ValueError:
                raise UsageError("option %s: not a number: %r" % (name, value)) from None
            if key in _LISTS:
                opts[key].append(value)
            else:
                opts[key] = value
            i += 1
            continue
        break
    if i >= len(args):
        raise UsageError("no script, -m module or -c code given")
    return opts, verbose, "script", args[i], args[i + 1:]


def _strip_launcher(tb):
    """Drop the traceback entries of this launcher and runpy, so a failing
    program prints the traceback `python script.py` would print."""
    here = os.path.abspath(__file__)
    skip = {here, os.path.abspath(runpy.__file__), "<frozen runpy>"}
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name not in skip and os.path.abspath(name) not in skip:
            break
        tb = tb.tb_next
    return tb


def _preload_path():
    import glob
    here = os.path.dirname(os.path.abspath(__file__))
    for pattern in ("libmemtrace-preload.so", "_preload*.so"):
        found = sorted(glob.glob(os.path.join(here, pattern)))
        if found:
            return found[0]
    return None


def _reexec_with_preload(args):
    """Run this launcher again with libmemtrace-preload.so in LD_PRELOAD (it
    must be loaded before anything allocates). Does not return."""
    lib = _preload_path()
    if lib is None:
        sys.stderr.write("memtrace: --native: libmemtrace-preload.so is not installed "
                         "next to the memtrace package\n")
        sys.exit(1)
    if os.environ.get(_REEXEC):
        sys.stderr.write("memtrace: --native: %s was preloaded but is not active "
                         "(is this glibc?)\n" % lib)
        sys.exit(1)
    env = dict(os.environ)
    env["LD_PRELOAD"] = lib + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env[_REEXEC] = lib
    argv = list(getattr(sys, "orig_argv", []) or [])
    if not argv or "-m" not in argv:
        argv = [sys.executable, "-m", "memtrace", "run"] + list(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def _unset_preload():
    """The program's own child processes should not inherit the library (it
    stays loaded in this process)."""
    lib = os.environ.pop(_REEXEC, None)
    if lib and os.environ.get("LD_PRELOAD"):
        rest = [p for p in os.environ["LD_PRELOAD"].split(":") if p and p != lib]
        if rest:
            os.environ["LD_PRELOAD"] = ":".join(rest)
        else:
            del os.environ["LD_PRELOAD"]


def _compile_script(path):
    """The script's code object, compiled as Python compiles a main script
    (under its absolute path, 3.9+; the source encoding from its cookie)."""
    with io.open_code(path) as f:
        source = f.read()
    return compile(source, path, "exec", dont_inherit=True)


def _main_module(path):
    """A fresh __main__ module for the script, replacing the launcher's, as
    `python script.py` makes one (pickle and multiprocessing find classes
    of the program under __main__)."""
    import builtins
    import importlib.machinery
    import types
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    if path is None:  # -c: python -c's __main__ has no file
        main.__loader__ = importlib.machinery.BuiltinImporter
    else:
        main.__file__ = path
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__spec__ = None
    main.__package__ = None
    main.__cached__ = None
    sys.modules["__main__"] = main
    return main


def run(args):
    import memtrace

    try:
        opts, verbose, kind, target, target_args = parse_run_args(args)
    except UsageError as e:
        _usage_error(str(e))
    if opts.get("native"):
        opts.setdefault("allocations", "exact")
        # The preload library, not GOT patching: loaded before anything
        # allocates, it also sees calls through saved function pointers
        # (ctypes' dlsym'ed malloc, say). 1: it is active in this process.
        if memtrace._memtrace.native_available() != 1:
            _reexec_with_preload(args)
    _unset_preload()
    if kind == "code":
        pass
    elif kind == "script":
        if not os.path.exists(target):
            sys.stderr.write("memtrace: cannot run '%s': No such file or directory\n" % target)
            sys.exit(2)
        if os.path.isdir(target) and not os.path.exists(os.path.join(target, "__main__.py")):
            sys.stderr.write("memtrace: cannot run '%s': a directory without __main__.py\n" % target)
            sys.exit(2)
    else:
        import importlib.util
        try:
            found = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            found = None
        if found is None:
            sys.stderr.write("memtrace: cannot run module '%s': No module named %s\n"
                             % (target, target))
            sys.exit(1)
    # The program's own argv, set before recording starts so that the trace
    # header records it rather than the launcher's (python -m sets argv[0]
    # to the module's file, as runpy does below).
    sys.argv = ([target] if kind == "script" else ["-c"] if kind == "code"
                else [found.origin or target]) + list(target_args)
    # A plain script file runs as `python script.py` runs it (compiled under
    # its absolute path, in a real __main__ module) rather than through
    # runpy, whose frames would otherwise sit above the program's in every
    # stack. Compiled before recording starts: a syntax error is reported
    # as Python reports it.
    code = main_globals = None
    if kind == "script" and os.path.isfile(target):
        try:
            code = _compile_script(os.path.abspath(target))
        except (SyntaxError, ValueError) as e:
            sys.excepthook(type(e), e.with_traceback(None), None)
            sys.exit(1)
        main_globals = _main_module(os.path.abspath(target)).__dict__
    elif kind == "code":  # as python -c: "<string>", a __main__ without a file
        try:
            code = compile(target, "<string>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            sys.excepthook(type(e), e.with_traceback(None), None)
            sys.exit(1)
        main_globals = _main_module(None).__dict__
    # No --mode, --alloc or --native: memtrace.start()'s default (sampled
    # Python allocations, native ones in-process, the RSS sampler).
    mode = opts.pop("mode", "alloc" if opts.get("allocations") else None)
    force = opts.pop("force", False)
    archive_dir, tags = opts.pop("archive", None), opts.pop("tags")
    if tags and not archive_dir:
        _usage_error("--tag needs --archive DIR")
    if archive_dir:
        from memtrace import archive
        try:
            tags = archive.parse_tags(tags)
        except archive.ArchiveError as e:
            _usage_error("--tag: %s" % e)
        archive_dir = os.path.abspath(archive_dir)
    named = "path" in opts
    if "path" not in opts:  # as memray names its files: the program's name
        name = ("c" if kind == "code" else target if kind == "module"
                else os.path.splitext(os.path.basename(os.path.normpath(target)))[0]) or "run"
        opts["path"] = "memtrace-%s.%d.trace" % (name, os.getpid())
    if not force and os.path.lexists(opts["path"]):
        sys.stderr.write("memtrace run: %s exists: give -f to overwrite it, or -o another "
                         "file\n" % opts["path"])
        sys.exit(1)
    # What the launcher does in Python is done before recording starts: its
    # Python calls after that would be recorded as the program's.
    if code is not None:
        # As python does: the script's directory, symlinks resolved ("" for
        # -c: the current directory).
        path0 = "" if kind == "code" else os.path.dirname(os.path.realpath(target))
    elif kind == "script":  # a directory or zip file with __main__.py
        path0 = target = os.path.abspath(target)
    else:
        path0 = os.getcwd()
    started = []
    if verbose or archive_dir:
        _report_at_exit(opts["path"], started, verbose,
                        (archive_dir, tags, not named) if archive_dir else None)
    try:
        # This frame and its callers (the launcher's) stay out of the trace,
        # and so do the C calls it makes (exec of the program).
        path = memtrace.start(mode=mode, _hide_frame=sys._getframe(),
                              _argv=["-c", target] + sys.argv[1:] if kind == "code" else None,
                              **opts)
    except (TypeError, ValueError) as e:
        _usage_error(str(e))
    except OSError as e:
        sys.stderr.write("memtrace: cannot record: %s\n" % e)
        sys.exit(1)
    # At exit, the recording ends first, before the launcher's own handlers
    # (registered earlier, so run later) and unseen (a C function called by
    # atexit); the program's handlers, registered later, run before it.
    atexit.register(memtrace._memtrace.stop, 1)
    started.append(path)
    if verbose:
        sys.stderr.write("memtrace run: recording into %s%s\n"
                         % (path, " (mode %s)" % (mode or "default") if verbose > 1 else ""))
    sys.path[0] = path0
    try:
        if code is not None:
            exec(code, main_globals)
        elif kind == "script":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit:
        raise
    except BaseException:
        etype, value, tb = sys.exc_info()
        tb = _strip_launcher(tb)
        sys.excepthook(etype, value.with_traceback(tb), tb)
        if isinstance(value, KeyboardInterrupt):
            # Python ends a program that died of Ctrl-C by killing itself
            # with SIGINT once it has finalized (the shell sees 130): the
            # same here, after the atexit handlers (which finish the trace).
            global _exit_by_sigint
            _exit_by_sigint = True
            sys.exit(130)
        sys.exit(1)


_exit_by_sigint = False


def _sigint_at_exit():
    """Die of SIGINT when the program did, as python itself does, once the
    trace is finished (memtrace's own atexit handler may not have run yet:
    the package was imported, and registered it, before this module)."""
    if not _exit_by_sigint:
        return
    import memtrace
    memtrace.stop()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def _report_at_exit(path, started, verbose=1, archive=None):
    """At exit, once the trace is finished: what was written and what to run
    next (one line on stderr), after adding it to the archive when archive
    is (DIR, tags, move). Not in forked children, which have files of their
    own and exit in other ways."""
    pid = os.getpid()

    def report():
        if os.getpid() != pid or not started:
            return
        import memtrace
        memtrace.stop()
        if archive:
            _add_to_archive(path, verbose, *archive)
            return
        if not verbose:
            return
        try:
            size = os.path.getsize(path)
        except OSError:
            return
        q = path if all(c.isalnum() or c in "-_./+,@%=:" for c in path) else repr(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            sys.stderr.write("memtrace run: wrote %s (%s); next: memtrace analyze %s, "
                             "memtrace plot %s -o %s.html\n"
                             % (q, _human(size), q, q, stem))
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    atexit.register(report)


def _add_to_archive(path, verbose, directory, tags, move):
    """memtrace run --archive: the finished trace into the archive; a
    failure leaves the trace where it is and says why."""
    from memtrace import archive
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        a = archive.Archive(directory, create=True)
        rid = a.add(path, tags=tags, move=move)
        r = a.resolve(rid)
        a.close()
    except Exception as e:
        # never the program's exit status: the run itself went well
        sys.stderr.write("memtrace run: could not add %s to the archive %s: %s\n"
                         % (path, directory, e))
        return
    if verbose:
        sys.stderr.write("memtrace run: added to %s as run %d (peak RSS %s, heap peak %s); "
                         "next: memtrace archive -d %s show %d\n" % (
                             directory, rid, archive.fmt_bytes(r["peak_rss"]),
                             archive.fmt_bytes(r["peak_heap"]), directory, rid))


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def run_command(args):
    """memtrace run ARGS (memtrace/cli.py's table sends it here)."""
    atexit.register(_sigint_at_exit)
    run(args)
    return 0


def main(argv=None):
    """python -m memtrace COMMAND ...: the same as the memtrace command."""
    from memtrace import cli
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
