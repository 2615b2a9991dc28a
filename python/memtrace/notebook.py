"""memtrace in IPython and Jupyter: the %%memtrace cell magic.

    %load_ext memtrace
    %%memtrace
    data = load_everything()

records the cell, then shows what it did to memory: a few lines of text (the
heap's peak and what was left allocated, with their top lines) and memtrace
plot's HTML page inline (the timeline, the heap at its peak, flame graphs;
one self-contained page in an iframe: no network, no extension). Options, on
the magic's line:

    %%memtrace [-o FILE] [--exact] [--mode MODE] [--text] [--svg] [--height PX]

The cell runs as any cell does: its last expression's value is its result,
an exception fails it (after the report of what it did until then). -o FILE
keeps the trace (default: a temporary file, removed when the session ends);
--exact records every allocation (default: memtrace's
sampled default); --mode profile|trace|fast|alloc as memtrace.start();
--text shows the text summary only; --svg the SVG timeline instead of the
page. The cell's results stay in the namespace as usual, and the trace's as
`_memtrace` (memtrace.open(path): .summary(), .heap, .functions ...).
"""
import argparse
import atexit
import html
import os
import shlex
import shutil
import subprocess
import tempfile

_tmpdir = None


def _temp_path():
    global _tmpdir
    if _tmpdir is None:
        _tmpdir = tempfile.mkdtemp(prefix="memtrace-notebook.")
        atexit.register(shutil.rmtree, _tmpdir, True)
    n = len(os.listdir(_tmpdir)) + 1
    return os.path.join(_tmpdir, "cell%d.trace" % n)


def _parser():
    p = argparse.ArgumentParser(prog="%%memtrace", add_help=False)
    p.add_argument("-o", "--output", default=None)
    p.add_argument("--exact", action="store_true")
    p.add_argument("--mode", choices=("profile", "trace", "fast", "alloc"), default=None)
    p.add_argument("--text", action="store_true")
    p.add_argument("--svg", action="store_true")
    p.add_argument("--height", type=int, default=650)
    return p


class UsageError(Exception):
    pass


def parse_line(line):
    p = _parser()
    try:
        args, rest = p.parse_known_args(shlex.split(line or ""))
    except SystemExit:
        raise UsageError("%%%%memtrace: bad options %r (%%%%memtrace [-o FILE] [--exact] "
                         "[--mode MODE] [--text] [--svg] [--height PX])" % line) from None
    if rest:
        raise UsageError("%%%%memtrace: unknown option %r" % rest[0])
    return args


def summary_text(trace):
    """A few lines: the cell's heap peak and what it left allocated, with
    their top lines; the RSS."""
    from .archive import fmt_bytes, summarize
    s = summarize(trace)
    r = s["run"]
    est = "~" if r["heap_estimated"] else ""
    lines = ["memtrace: %.3f s; RSS peak %s" % (r["duration"] or 0, fmt_bytes(r["peak_rss"]))]
    if r["peak_heap"] is not None:
        lines.append("heap peak %s%s, left allocated %s%s%s" % (
            est, fmt_bytes(r["peak_heap"]), est, fmt_bytes(r["leaked"]),
            " (~: estimated from sampled allocations; --exact for every one)" if est else ""))
    for kind, title in (("peak", "at the peak"), ("leak", "left allocated")):
        rows = [x for x in s["sites"] if x["kind"] == kind][:3]
        if rows:
            lines.append("  %s:" % title)
            for x in rows:
                lines.append("    %10s  %s:%s in %s" % (fmt_bytes(x["bytes"]), x["file"],
                                                      x["line"], x["function"]))
    return "\n".join(lines), s


def render(trace, svg=False, height=650):
    """memtrace plot's page (or SVG) of the trace, as HTML to show inline."""
    from .cli import tool_path
    tool = tool_path("plot")
    if tool is None:
        raise UsageError("memtrace-plot is not installed (pip install builds it)")
    out = os.path.splitext(trace)[0] + (".svg" if svg else ".html")
    p = subprocess.run([tool, trace, "-o", out], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode:
        raise UsageError("memtrace plot failed: %s" % p.stderr.strip())
    with open(out, encoding="utf-8") as f:
        page = f.read()
    if svg:
        return page
    # an iframe of its own: the page's styles and scripts stay in it
    return ('<iframe srcdoc="%s" style="width:100%%;height:%dpx;border:1px solid #ddd" '
            'sandbox="allow-scripts"></iframe>' % (html.escape(page, quote=True), height))


def _execute(shell, cell):
    """Run the cell as IPython would (its magics and shell escapes
    transformed, the session's __future__ imports, top-level await), in the
    user's namespace; the value of a last expression is returned, to be
    shown as the cell's result (not after a trailing ';'). An exception
    propagates: the cell fails, and so does Run All."""
    __tracebackhide__ = True  # IPython's tracebacks show the cell, not this
    import ast
    import inspect
    code = shell.transform_cell(cell)
    try:
        # tracebacks show the cell's lines, named as IPython names the cell
        filename = shell.compile.cache(code, max(shell.execution_count - 1, 0))
    except Exception:
        filename = "<memtrace-cell>"
    flags = getattr(shell.compile, "flags", 0) | getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    tree = ast.parse(code, filename)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)

    def run(obj):
        __tracebackhide__ = True
        r = eval(obj, shell.user_ns)
        if obj.co_flags & inspect.CO_COROUTINE:  # top-level await
            r = shell.loop_runner(r)
        return r
    run(compile(tree, filename, "exec", flags, True))
    if last is not None:
        value = run(compile(last, filename, "eval", flags, True))
        quiet = code.rstrip().endswith(";")
        return None if quiet else value
    return None


def run_cell(shell, line, cell):
    """%%memtrace LINE: record the cell, then report (the module's text)."""
    __tracebackhide__ = True
    import memtrace
    try:
        args = parse_line(line)
    except UsageError as e:
        print(e)
        return None
    if memtrace.is_recording():
        print("%%memtrace: memtrace is recording already (memtrace.stop() first); the cell "
              "runs unrecorded")
        return _execute(shell, cell)
    path = os.path.abspath(os.path.expanduser(args.output)) if args.output else _temp_path()
    opts = {}
    if args.exact:
        opts = {"mode": args.mode or "alloc", "allocations": "exact"}
    elif args.mode:
        opts = {"mode": args.mode}
    try:
        memtrace.start(path, **opts)
    except (OSError, ValueError, RuntimeError) as e:
        print("%%%%memtrace: cannot record into %s: %s" % (path, e))
        return None
    try:
        value = _execute(shell, cell)
    finally:
        memtrace.stop()
        _report(shell, path, args)
    return value


def _report(shell, path, args):
    from . import results
    from IPython.display import display
    try:
        text, s = summary_text(path)
    except Exception as e:  # the cell ran; say why there is no report
        print("%%%%memtrace: cannot read the trace %s: %s" % (path, e))
        return
    if s["run"]["peak_heap"] is None:
        text += "\n(no heap: mode %s records no allocations; --exact, or no --mode, does)" % (
            args.mode or "?")
    print(text)
    shell.user_ns["_memtrace"] = results.open(path)
    if args.output:
        print("trace: %s (memtrace analyze %s)" % (path, shlex.quote(path)))
    if not args.text:
        try:
            page = render(path, svg=args.svg, height=args.height)
        except UsageError as e:
            print(e)
            return
        # raw: the HTML for a notebook, a line of text where there is none
        # (IPython in a terminal)
        out = os.path.splitext(path)[0] + (".svg" if args.svg else ".html")
        display({"text/html": page, "text/plain": "(the report: %s)" % out}, raw=True)


def load_ipython_extension(ipython):
    """%load_ext memtrace: registers %%memtrace."""
    def memtrace_magic(line, cell):
        __tracebackhide__ = True
        return run_cell(ipython, line, cell)
    memtrace_magic.__doc__ = __doc__
    ipython.register_magic_function(memtrace_magic, magic_kind="cell", magic_name="memtrace")
