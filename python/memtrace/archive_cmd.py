"""memtrace archive: the command (memtrace archive COMMAND ...), over the
archive library (memtrace.archive): the option parsing, the text and JSON
output, and the trend's SVG and HTML pictures. The command table
(memtrace/cli.py) sends `memtrace archive` here.
"""
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import time

from .archive import (ALIASES, METRICS, Archive, ArchiveError, ConditionError, _tool, fmt_bytes,
                      fmt_value, judge, parse_bytes, parse_condition, parse_duration,
                      parse_tags)

__all__ = ["main", "USAGE", "trend_svg", "trend_html"]


# ---- The trend's picture ---------------------------------------------------

def _esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def trend_svg(rows, metric, title):
    """A self-contained SVG line chart of trend rows."""
    W, H, L, R, T, B = 900, 360, 90, 20, 40, 90
    pts = [(i, r["value"]) for i, r in enumerate(rows) if r["value"] is not None]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14">%s</text>' % (L, _esc(title))]
    if not pts:
        out.append('<text x="%d" y="%d">no values</text>' % (L, H // 2))
        return "\n".join(out + ["</svg>"]) + "\n"
    lo, hi = min(0, min(v for _, v in pts)), max(v for _, v in pts)
    hi = hi if hi > lo else lo + 1
    n = max(len(rows) - 1, 1)

    def px(i):
        return L + (W - L - R) * (i / n if len(rows) > 1 else 0.5)

    def py(v):
        return T + (H - T - B) * (1 - (v - lo) / (hi - lo))
    for k in range(5):  # grid and value labels
        v = lo + (hi - lo) * k / 4
        y = py(v)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (L - 6, y + 4, _esc(fmt_value(metric, v))))
    step = max(1, len(rows) // 20)
    for i, r in enumerate(rows):
        if i % step == 0 or i == len(rows) - 1:
            x = px(i)
            out.append('<text transform="translate(%.1f,%d) rotate(-40)" text-anchor="end">%s'
                       '</text>' % (x, H - B + 14, _esc(r["label"][:28])))
    out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>'
               % " ".join("%.1f,%.1f" % (px(i), py(v)) for i, v in pts))
    for i, v in pts:
        out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f77b4"><title>%s: %s '
                   '(runs %s)</title></circle>' % (
                       px(i), py(v), _esc(rows[i]["label"]), _esc(fmt_value(metric, v)),
                       _esc(", ".join("#%d" % x for x in rows[i]["ids"][:20]))))
    return "\n".join(out + ["</svg>"]) + "\n"


def trend_html(rows, metric, title):
    body = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>%s</title>' % _esc(title),
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}"
            "td:first-child,th:first-child{text-align:left}</style></head><body>",
            "<h1>%s</h1>" % _esc(title), trend_svg(rows, metric, title),
            "<table><tr><th>run</th><th>%s</th><th>change</th><th>runs</th></tr>" % _esc(metric)]
    prev = None
    for r in rows:
        body.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td></tr>" % (
            _esc(r["label"]), _esc(fmt_value(metric, r["value"])),
            _esc(_change(prev, r["value"], metric)), r["runs"]))
        if r["value"] is not None:
            prev = r["value"]
    body.append("</table></body></html>")
    return "\n".join(body) + "\n"


def _change(prev, v, metric):
    if prev is None or v is None:
        return ""
    d = v - prev
    pct = "" if not prev else " (%+.1f%%)" % (100.0 * d / abs(prev))
    return ("+" if d >= 0 else "") + fmt_value(metric, d) + pct


# ---- The command -----------------------------------------------------------

USAGE = """\
usage: memtrace archive [-d DIR] COMMAND [options]

Keep runs in an archive (a directory: the traces and a SQLite catalogue of
their metadata and summary figures), list and compare them, follow a
figure across releases, and gate CI on the baseline.

commands:
  add TRACE... [--tag K=V]... [--level N] [--move] [--no-git]
                 add traces (copied; --move: moved; --level: recompressed at
                 zstd level N, 19 to keep); their summary is read once
  ls [--tag K[=V]]... [--since T] [--until T] [--last N] [--json]
                 list runs, oldest first
  show RUN [--json]
                 a run's metadata, tags, figures and top lines and functions
  rm RUN...      remove runs and their traces
  gc [--keep N] [--max-age T] [--max-size S] [--protect TAG]... [--dry-run]
                 retention: keep the newest N, drop runs older than T, then the
                 oldest until the traces fit in S; runs with a TAG (KEY or
                 KEY=VALUE) are kept
  trend METRIC [--by TAG] [--tag K[=V]]... [--last N] [-o FILE] [--json]
                 a figure across runs (or the median per value of TAG, in the
                 order they first appeared): a table; -o FILE.svg or .html
                 draws it
  compare A B [DIFF-OPTIONS...]
                 memtrace diff of two runs (A the baseline)
  check --baseline RUN [--run RUN] --fail-if EXPR... [--allow-damaged] [--json]
                 the CI gate: exit 3 when a condition holds for RUN against
                 the baseline. RUN defaults to latest: where CI jobs share
                 the archive, name the run (the id add printed, or a tag of
                 it: --run commit=$SHA). Damaged or unfinished runs are
                 refused unless --allow-damaged
  rebuild        make the catalogue again from the traces and their .json

options:
  -d, --dir DIR  the archive (default $MEMTRACE_ARCHIVE, else ./memtrace-runs;
                 add makes it)
  -h, --help     print this text and exit

RUN: an id (12), a uid or a prefix of it (20261207T0815), latest, KEY=VALUE
or KEY (the latest run with that tag); RUN~N: the Nth run before it
(latest~1: the one before the latest; release=1.4~1: the run with that tag
before the latest one).
METRIC: peak_rss, start_rss, end_rss, peak_heap, leaked (the heap at the
end), duration, events, lost, calls, size (memtrace diff's peak, start, end
and heap_peak are the same figures).
EXPR: memtrace diff's --fail-if grammar (memtrace diff --help), which also
takes the names above. The catalogue's figures are judged from the
catalogue (peak_heap>+10%, B:lost>0, leaked>+1MiB); func:, alloc:, leak:,
calls:NAME and objects: run memtrace diff on the two traces.
T: a duration (30d, 12h, 90m) or a date (2026-12-01, UTC). S: a size (5GB).
Each run also records the git commit and branch of the current directory
when it is in a work tree, the host, the Python and the memtrace version.
Exit status: 0; 1 an error; 2 usage; 3 (check) a condition holds.
"""


def _usage_error(msg):
    sys.stderr.write("memtrace archive: %s\nmemtrace archive: see memtrace archive --help\n"
                     % msg)
    sys.exit(2)


def _unknown_option(name, known):
    near = [k for k in known if k.startswith("--") and k.startswith(name) and len(name) > 2]
    _usage_error("unknown option '%s'%s" % (name, " (did you mean '%s'? options are not "
                                                 "abbreviated)" % near[0] if near else ""))


def _when(text):
    """A UNIX time from a duration ago (7d) or a date (2026-12-01)."""
    try:
        d = datetime.datetime.strptime(text, "%Y-%m-%d")
        return d.replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    try:
        d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        return d.replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    return time.time() - parse_duration(text)


def _opts(args, spec):
    """A small option parser: spec {"--tag": "list", "--json": "flag",
    "--level": "value", ...} plus aliases "-o": "--output"; returns
    (options, operands). "--" ends options (the rest are operands)."""
    aliases = {k: v for k, v in spec.items() if isinstance(v, tuple)}
    opts, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i + 1:]
            break
        if a.startswith("-") and a != "-":
            name, eq, value = a.partition("=")
            name = aliases.get(name, (name,))[0]
            kind = spec.get(name)
            if kind is None or isinstance(kind, tuple):
                _unknown_option(name, list(spec) + ["--help"])
            if kind == "flag":
                if eq:
                    _usage_error("%s takes no value" % name)
                opts[name] = True
            else:
                if not eq:
                    if i + 1 >= len(args):
                        _usage_error("%s needs a value" % name)
                    i += 1
                    value = args[i]
                if kind == "list":
                    opts.setdefault(name, []).append(value)
                else:
                    opts[name] = value
            i += 1
            continue
        rest.append(a)
        i += 1
    return opts, rest


def _int_opt(opts, name, lo=0):
    if name not in opts:
        return None
    try:
        v = int(opts[name])
    except ValueError:
        _usage_error("%s: not a number: %r" % (name, opts[name]))
    if v < lo:
        _usage_error("%s: at least %d" % (name, lo))
    return v


def _row_text(r, root):
    tags = " ".join("%s=%s" % kv if kv[1] else kv[0] for kv in sorted(r["tags"].items()))
    if not os.path.exists(os.path.join(root, r["file"])):
        tags += "  [trace missing]"
    return "%5d  %-19s  %10s  %10s  %10s  %9s  %-8s  %s" % (
        r["id"], (r["start_utc"] or "")[:19].replace("T", " "), fmt_bytes(r["peak_rss"]),
        fmt_bytes(r["peak_heap"]), fmt_bytes(r["leaked"]),
        "-" if r["duration"] is None else "%.2f s" % r["duration"],
        (r["git_commit"] or "-")[:8], tags + ("  [damaged]" if r["damaged"] else "") +
        ("" if r["closed"] else "  [not closed]"))


def _public(r):
    d = {k: r[k] for k in r if k not in ("command",)}
    d["command"] = json.loads(r["command"]) if r.get("command") else []
    return d


def main(argv):
    args = list(argv)
    d = None
    while args and args[0] in ("-d", "--dir") or (args and args[0].startswith("--dir=")):
        if args[0].startswith("--dir="):
            d = args.pop(0)[6:]
        elif len(args) < 2:
            _usage_error("%s needs a directory" % args[0])
        else:
            d = args[1]
            del args[:2]
    if not args:
        _usage_error("no command given (add, ls, show, rm, gc, trend, compare, check, rebuild)")
    cmd, args = args[0], args[1:]
    if cmd in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if cmd.startswith("-"):
        _unknown_option(cmd.partition("=")[0], ["--dir", "--help"])
    commands = {"add": _cmd_add, "ls": _cmd_ls, "show": _cmd_show, "rm": _cmd_rm, "gc": _cmd_gc,
                "trend": _cmd_trend, "compare": _cmd_compare, "check": _cmd_check,
                "rebuild": _cmd_rebuild}
    if cmd not in commands:
        import difflib
        near = difflib.get_close_matches(cmd, list(commands), n=1)
        _usage_error("unknown command %r%s" % (cmd, " (did you mean %r?)" % near[0]
                                                 if near else ""))
    if "-h" in args or "--help" in args:
        sys.stdout.write(USAGE)
        return 0
    try:
        return commands[cmd](d, args)
    except ArchiveError as e:
        sys.stderr.write("memtrace archive %s: %s\n" % (cmd, e))
        return 1
    except sqlite3.DatabaseError as e:
        sys.stderr.write("memtrace archive %s: the catalogue is damaged (%s): memtrace archive "
                         "rebuild makes it again from the traces\n" % (cmd, e))
        return 1
    except BrokenPipeError:
        return 0


def _common(opts, d):
    d = opts.pop("--dir", d)
    return d


_DIR = {"--dir": "value", "-d": ("--dir",)}


def _cmd_add(d, args):
    opts, files = _opts(args, dict(_DIR, **{"--tag": "list", "--level": "value",
                                            "--move": "flag", "--no-git": "flag",
                                            "--git-dir": "value", "-q": ("--quiet",),
                                            "--quiet": "flag"}))
    if not files:
        _usage_error("add: no trace given")
    level = _int_opt(opts, "--level", 1)
    if level is not None and level > 19:
        _usage_error("--level: 1..19")
    tags = parse_tags(opts.get("--tag"))
    a = Archive(_common(opts, d), create=True)
    status = 0
    for f in files:
        try:
            rid = a.add(f, tags=tags, level=level, move=opts.get("--move", False),
                        git_dir=False if opts.get("--no-git") else opts.get("--git-dir"))
        except ArchiveError as e:
            sys.stderr.write("memtrace archive add: %s\n" % e)
            status = 1
            continue
        r = a.resolve(rid)
        if not opts.get("--quiet"):
            sys.stdout.write("added run %d (%s): peak RSS %s, heap peak %s, leaked %s%s\n" % (
                rid, r["uid"], fmt_bytes(r["peak_rss"]), fmt_bytes(r["peak_heap"]),
                fmt_bytes(r["leaked"]), " [damaged: its intact part]" if r["damaged"] else ""))
    return status


def _cmd_ls(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--tag": "list", "--since": "value",
                                           "--until": "value", "--last": "value",
                                           "--json": "flag"}))
    if rest:
        _usage_error("ls: unexpected operand %r" % rest[0])
    a = Archive(_common(opts, d))
    last = _int_opt(opts, "--last", 1)
    runs = a.runs(tags=parse_tags(opts.get("--tag")),
                  since=_when(opts["--since"]) if "--since" in opts else None,
                  until=_when(opts["--until"]) if "--until" in opts else None,
                  limit=last, newest_first=bool(last))
    if last:
        runs.reverse()
    if opts.get("--json"):
        json.dump({"archive": a.path, "runs": [_public(r) for r in runs]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write("%5s  %-19s  %10s  %10s  %10s  %9s  %-8s  %s\n" % (
        "id", "start (UTC)", "peak RSS", "heap peak", "leaked", "duration", "commit", "tags"))
    for r in runs:
        sys.stdout.write(_row_text(r, a.path) + "\n")
    return 0


def _cmd_show(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--json": "flag"}))
    if len(rest) != 1:
        _usage_error("show: give one RUN")
    a = Archive(_common(opts, d))
    r = a.resolve(rest[0])
    sites, funcs = a.sites(r["id"]), a.functions(r["id"])
    if opts.get("--json"):
        json.dump(dict(_public(r), trace=a.trace_path(r), sites=sites, functions=funcs),
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    w = sys.stdout.write
    w("run %d (%s)\n" % (r["id"], r["uid"]))
    w("  trace      %s (%s)%s\n" % (a.trace_path(r), fmt_bytes(r["size"]),
                                    "" if os.path.exists(a.trace_path(r))
                                    else " MISSING: memtrace archive rm %d drops the run"
                                    % r["id"]))
    w("  command    %s\n" % " ".join(json.loads(r["command"] or "[]")))
    w("  start      %s, %s\n" % (r["start_utc"] or "?", "-" if r["duration"] is None
                                   else "%.3f s" % r["duration"]))
    w("  host       %s; %s; %s, mode %s\n" % (r["host"], r["python"], r["producer"], r["mode"]))
    if r["git_commit"]:
        w("  git        %s%s\n" % (r["git_commit"], " (%s)" % r["git_branch"]
                                   if r["git_branch"] else ""))
    if r["tags"]:
        w("  tags       %s\n" % " ".join("%s=%s" % kv for kv in sorted(r["tags"].items())))
    for m in METRICS:
        w("  %-10s %s%s\n" % (m, fmt_value(m, r[METRICS[m][0]]),
                              " (estimated from sampled allocations)"
                              if m in ("peak_heap", "leaked") and r["heap_estimated"]
                              and r[m] is not None else ""))
    if r["damaged"]:
        w("  damaged    yes: the figures are those of its intact part\n")
    for kind, title in (("peak", "Heap at its peak by line"), ("leak", "Leaked, by site")):
        rows = [s for s in sites if s["kind"] == kind]
        if rows:
            w("\n%s\n" % title)
            for s in rows[:10]:
                w("  %10s %8d  %s (%s:%s)\n" % (fmt_bytes(s["bytes"]), s["count"] or 0,
                                               s["function"], s["file"], s["line"]))
    if funcs:
        w("\nFunctions by inclusive RSS growth\n")
        for f in funcs[:10]:
            w("  %10s %8s calls  %s (%s)\n" % (fmt_bytes(f["incl_bytes"]), f["calls"],
                                               f["function"], f["file"]))
    return 0


def _cmd_rm(d, args):
    opts, rest = _opts(args, dict(_DIR))
    if not rest:
        _usage_error("rm: give the runs to remove")
    a = Archive(_common(opts, d))
    ids = [a.resolve(s)["id"] for s in rest]
    for r in a.remove(ids):
        sys.stdout.write("removed run %d (%s)\n" % (r["id"], r["uid"]))
    return 0


def _cmd_gc(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--keep": "value", "--max-age": "value",
                                           "--max-size": "value", "--protect": "list",
                                           "--dry-run": "flag"}))
    if rest:
        _usage_error("gc: unexpected operand %r" % rest[0])
    keep = _int_opt(opts, "--keep", 1)
    age = parse_duration(opts["--max-age"]) if "--max-age" in opts else None
    size = parse_bytes(opts["--max-size"]) if "--max-size" in opts else None
    if keep is None and age is None and size is None:
        _usage_error("gc: give --keep, --max-age or --max-size")
    a = Archive(_common(opts, d))
    plan = a.gc_plan(keep=keep, max_age=age, max_size=size, protect=opts.get("--protect", ()))
    if opts.get("--dry-run"):
        for r in plan:
            sys.stdout.write("would remove run %d (%s, %s)\n" % (r["id"], r["start_utc"],
                                                                 fmt_bytes(r["size"])))
        return 0
    gone = a.remove([r["id"] for r in plan])
    sys.stdout.write("removed %d runs (%s)\n" % (len(gone), fmt_bytes(sum(
        r["size"] or 0 for r in plan))))
    return 0


def _cmd_trend(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--by": "value", "--tag": "list", "--last": "value",
                                           "--output": "value", "-o": ("--output",),
                                           "--json": "flag"}))
    if len(rest) != 1:
        _usage_error("trend: give one METRIC (%s)" % ", ".join(METRICS))
    metric = ALIASES.get(rest[0], rest[0])
    if opts.get("--by"):
        parse_tags([opts["--by"]])  # a key as tags have them
    a = Archive(_common(opts, d))
    rows = a.trend(metric, by=opts.get("--by"), tags=parse_tags(opts.get("--tag")),
                   last=_int_opt(opts, "--last", 1))
    title = "%s across %s" % (metric, "values of " + opts["--by"] if opts.get("--by")
                              else "runs")
    out = opts.get("--output")
    if out:
        low = out.lower()
        if not (low.endswith(".svg") or low.endswith(".html") or low.endswith(".htm")):
            _usage_error("-o: FILE.svg or FILE.html")
        text = trend_svg(rows, metric, title) if low.endswith(".svg") else \
            trend_html(rows, metric, title)
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise ArchiveError("cannot write %s: %s" % (out, e.strerror)) from None
        sys.stderr.write("memtrace archive trend: wrote %s\n" % out)
    if opts.get("--json"):
        json.dump({"metric": metric, "by": opts.get("--by"), "rows": [
            {k: r[k] for k in ("label", "value", "runs", "ids")} for r in rows]},
            sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("%-32s %14s %22s %5s\n" % ("run" if not opts.get("--by") else
                                                   opts["--by"], metric, "change", "runs"))
        prev = None
        for r in rows:
            sys.stdout.write("%-32s %14s %22s %5d\n" % (r["label"][:32],
                                                       fmt_value(metric, r["value"]),
                                                       _change(prev, r["value"], metric),
                                                       r["runs"]))
            if r["value"] is not None:
                prev = r["value"]
    return 0


def _diff_tool_run(args):
    sys.stdout.flush()
    return subprocess.call([_tool("diff")] + args)


def _cmd_compare(d, args):
    if "--" in args:
        i = args.index("--")
        head, extra = args[:i], args[i + 1:]
    else:
        head, extra = args, []
    # RUNs first (two), then memtrace diff's options
    opts, rest = {}, []
    i = 0
    while i < len(head):
        if head[i] in ("-d", "--dir") and i + 1 < len(head):
            opts["--dir"] = head[i + 1]
            i += 2
            continue
        if len(rest) < 2 and not head[i].startswith("-"):
            rest.append(head[i])
        else:
            extra.append(head[i])
        i += 1
    if len(rest) != 2:
        _usage_error("compare: give two runs, A (the baseline) and B")
    a = Archive(_common(opts, d))
    ra, rb = a.resolve(rest[0]), a.resolve(rest[1])
    for r in (ra, rb):
        if not os.path.exists(a.trace_path(r)):
            raise ArchiveError("run %d: its trace %s is missing (memtrace archive rm %d drops "
                               "it from the catalogue)" % (r["id"], a.trace_path(r), r["id"]))
    sys.stderr.write("memtrace archive compare: A = run %d (%s), B = run %d (%s)\n" % (
        ra["id"], ra["start_utc"], rb["id"], rb["start_utc"]))
    return _diff_tool_run(extra + [a.trace_path(ra), a.trace_path(rb)])


def _cmd_check(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--baseline": "value", "--run": "value",
                                           "--fail-if": "list", "--json": "flag",
                                           "--allow-damaged": "flag"}))
    if rest:
        _usage_error("check: unexpected operand %r" % rest[0])
    if "--baseline" not in opts:
        _usage_error("check: give --baseline RUN (e.g. release=1.4, or a run id)")
    if not opts.get("--fail-if"):
        _usage_error("check: give at least one --fail-if EXPR")
    try:
        conds = [parse_condition(e) for e in opts["--fail-if"]]
    except ConditionError as e:
        _usage_error(str(e))
    a = Archive(_common(opts, d))
    base, run = a.resolve(opts["--baseline"]), a.resolve(opts.get("--run", "latest"))
    if base["id"] == run["id"]:
        raise ArchiveError("the run to check is the baseline itself (run %d): add the new run "
                           "first, or give --run" % run["id"])
    for r in (base, run):
        if (r["damaged"] or not r["closed"]) and not opts.get("--allow-damaged"):
            raise ArchiveError("run %d %s: its figures are those of what was written; give "
                               "--allow-damaged to check it all the same" % (
                                   r["id"], "is damaged" if r["damaged"]
                                   else "was still recording when it was added"))
    results, failed = [], False
    for c in conds:
        if c[1] is None:
            continue
        holds, x, shown = judge(c, base, run)
        failed |= holds
        results.append({"condition": c[5], "holds": holds, "value": x, "shown": shown})
    diff_conds = [c[5] for c in conds if c[1] is None]
    diff_status = None
    if diff_conds:
        for r in (base, run):
            if not os.path.exists(a.trace_path(r)):
                raise ArchiveError("run %d: its trace is missing, and %s needs it" % (
                    r["id"], diff_conds[0]))
        argv = ["--allow-damaged"] if opts.get("--allow-damaged") else []
        for e in diff_conds:
            argv += ["--fail-if", e]
        p = subprocess.run([_tool("diff"), "--json"] + argv + [a.trace_path(base),
                                                               a.trace_path(run)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if p.returncode not in (0, 3):
            raise ArchiveError("memtrace diff: %s" % p.stderr.strip())
        diff_status = p.returncode
        failed |= p.returncode == 3
        try:
            got = json.loads(p.stdout).get("conditions") or []
        except ValueError:
            got = []
        for e in diff_conds:
            g = next((x for x in got if x.get("expr") == e), {})
            unit = g.get("unit")
            f = fmt_bytes if unit == "bytes" else (lambda v: "%.3f s" % v) \
                if unit in ("s", "seconds") else (lambda v: "%g" % v)
            shown = "?"
            if e[:2] in ("A:", "B:") and e[0].lower() in g:
                shown = "%s (memtrace diff)" % f(g[e[0].lower()])
            elif "a" in g and "b" in g:
                shown = "%s -> %s, %s%s%s (memtrace diff)" % (
                    f(g["a"]), f(g["b"]), "+" if g["delta"] >= 0 else "", f(g["delta"]),
                    ", %+.1f%%" % g["pct"] if g.get("pct") is not None else "")
            results.append({"condition": e, "holds": g.get("true"), "value": g.get("delta"),
                            "shown": shown})
    if opts.get("--json"):
        json.dump({"baseline": _public(base), "run": _public(run), "conditions": results,
                   "failed": failed}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("baseline run %d (%s%s), run %d (%s%s)\n" % (
            base["id"], base["start_utc"], _tags_text(base), run["id"], run["start_utc"],
            _tags_text(run)))
        for r in results:
            verdict = {True: "FAIL", False: "ok", None: "?"}[r["holds"]]
            sys.stdout.write("  %-4s %s: %s\n" % (verdict, r["condition"], r["shown"]))
        sys.stdout.write("check: %s\n" % ("failed" if failed else "passed"))
    return 3 if failed else 0


def _tags_text(r):
    return "".join(", %s=%s" % kv for kv in sorted(r["tags"].items()))


def _cmd_rebuild(d, args):
    opts, rest = _opts(args, dict(_DIR))
    if rest:
        _usage_error("rebuild: unexpected operand %r" % rest[0])
    path = _common(opts, d)
    a = Archive(path)
    n, skipped = a.rebuild(log=lambda m: sys.stderr.write("memtrace archive rebuild: %s\n" % m))
    sys.stdout.write("rebuilt %s: %d runs%s\n" % (a.db_path, n, ", %d traces skipped"
                                                   % skipped if skipped else ""))
    return 0
