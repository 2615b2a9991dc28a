"""analyze_check.py - check memtrace-analyze --json output in the tests.

    python3 analyze_check.py schema FILE
        FILE is one JSON document with exactly the keys, key order and
        value types that memtrace-analyze --help documents (schema 1).
    python3 analyze_check.py expect FILE QUERY=VALUE ...
        each QUERY's value equals VALUE (compared as JSON when VALUE parses
        as JSON, else as a string). QUERY is a dotted path into the document
        ("rss.peak_bytes", "run.command"), optionally starting with
          fn:NAME.key        the function entry named NAME
          line:FILE:N.key    the line entry FILE:N
          thread:TID.key     the thread with that tid
          marker:I.key       the I-th marker (0-based)
          stack:TID          that thread's peak stack as "f:line>g:line"
          count:LIST         the length of a list ("count:functions")
          rank:NAME          0-based index of function NAME in "functions"
          site:TABLE:FUNC    the first site of heap.TABLE (peak, leaks,
                             temporaries, hotspots_by_bytes, ...) whose
                             innermost frame is FUNC
          size:TABLE:FUNC:S  that site's count of blocks of S bytes (0 if
                             its sizes do not list S)
          sitestack:TABLE:I  the I-th site's stack as "f>g>h"
        A VALUE "~X/T" means: a number within T of X.
    python3 analyze_check.py get FILE QUERY
        print the value (for shell arithmetic).
Exit status 0 when every check holds, 1 otherwise (each failure printed).
"""
import json
import sys

# The documented schema: key order and types. int: JSON integer (not bool);
# num: integer or float; str; bool; [x]: list of x; dict: object of ints.
SCHEMA = {
    "schema": "str", "file": "str",
    "warnings": ["str"],
    "lost": {"events": "int", "bytes": "int", "records": "int", "falsifies": ["str"],
             "threads": [{"tid": "int", "name": "str", "events": "int", "bytes": "int",
                          "records": "int", "first_s": "num", "last_s": "num"}]},
    "run": {"command": ["str"], "pid": "int", "ppid": "int", "hostname": "str",
            "python": "str", "executable": "str", "producer": "str", "mode": "str",
            "start_unix_ns": "int", "start_utc": "str", "duration_s": "num",
            "ticks_per_second": "int", "records": "int", "records_by_type": "dict",
            "threads": "int", "lost_events": "int", "lost_records": "int",
            "closed": "bool"},
    "window": {"from_s": "num", "to_s": "num"},
    "rss": {"samples": "int", "start_bytes": "int", "peak_bytes": "int",
            "peak_time_s": "num", "end_bytes": "int"},
    "peak_stacks": [{"tid": "int", "native_id": "int", "name": "str",
                     "frames": [{"function": "str", "file": "str", "line": "int",
                                 "first_line": "int"}]}],
    "functions": [{"function": "str", "module": "str", "file": "str",
                   "first_line": "int", "kind": "str", "calls": "int",
                   "incl_bytes": "int", "self_bytes": "int", "incl_s": "num",
                   "self_s": "num", "peak_rss_bytes": "int",
                   "peak_growth_bytes": "int"}],
    "lines": [{"file": "str", "line": "int", "function": "str", "count": "int",
               "growth_bytes": "int", "time_s": "num", "peak_rss_bytes": "int"}],
    "markers": [{"time_s": "num", "tid": "int", "text": "str", "rss_bytes": "int"}],
    "threads": [{"tid": "int", "native_id": "int", "name": "str", "events": "int",
                 "calls": "int", "first_s": "num", "last_s": "num",
                 "growth_bytes": "int", "lost_events": "int"}],
    "replay": {"calls": "int", "unmatched_returns": "int", "open_frames": "int",
               "resyncs": "int"},
    "damage": {"damaged": "bool", "chunks": "int", "damaged_chunks": "int",
               "bytes_skipped": "int", "messages": ["str"]},
    "report": {"sort": "str", "top": "int", "functions_total": "int",
               "lines_total": "int"},
}

# "heap": present (last) only when the trace has allocation records.
DOMAIN = {"alloc_count": "int", "alloc_bytes": "int", "free_count": "int",
          "free_bytes": "int", "peak_bytes": "int", "end_bytes": "int"}
SITE = [{"function": "str", "file": "str", "line": "int", "count": "int", "bytes": "int",
         "sizes": [{"size_bytes": "int", "count": "int"}],
         "frames": [{"function": "str", "file": "str", "line": "int", "first_line": "int"}]}]
HEAP = {"sample_bytes": "int", "estimated": "bool",
        "records": {"alloc": "int", "free": "int", "realloc": "int"},
        "total": DOMAIN, "domains": [dict({"domain": "str"}, **DOMAIN)],
        "peak_bytes": "int", "peak_time_s": "num", "peak_blocks": "int", "end_bytes": "int",
        "end_blocks": "int",
        "repairs": {"unknown_frees": "int", "late_allocs": "int", "reused_live": "int",
                    "stale_frees": "int", "unordered": "int", "unordered_bytes": "int"},
        "max_live_blocks": "int", "stacks": "int", "sort": "str", "peak": SITE, "leaks": SITE,
        "temporaries": SITE, "hotspots_by_bytes": SITE, "hotspots_by_count": SITE,
        "sites_total": {"peak": "int", "leaks": "int", "temporaries": "int",
                        "hotspots": "int"},
        "falsified_by_loss": "bool",
        "peak_by_location": [{"function": "str", "file": "str", "line": "int",
                              "first_line": "int", "bytes": "int", "count": "int",
                              "stacks": "int"}]}


def check_type(v, t, where, errors):
    if isinstance(t, dict):
        if not isinstance(v, dict):
            errors.append(f"{where}: not an object")
            return
        if list(v.keys()) != list(t.keys()):
            errors.append(f"{where}: keys {list(v.keys())} != {list(t.keys())}")
        for k, sub in t.items():
            if k in v:
                check_type(v[k], sub, f"{where}.{k}", errors)
    elif isinstance(t, list):
        if not isinstance(v, list):
            errors.append(f"{where}: not a list")
            return
        for i, x in enumerate(v):
            check_type(x, t[0], f"{where}[{i}]", errors)
    elif t == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            errors.append(f"{where}: {v!r} is not an integer")
    elif t == "num":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            errors.append(f"{where}: {v!r} is not a number")
    elif t == "str":
        if not isinstance(v, str):
            errors.append(f"{where}: {v!r} is not a string")
    elif t == "bool":
        if not isinstance(v, bool):
            errors.append(f"{where}: {v!r} is not a boolean")
    elif t == "int?":
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            errors.append(f"{where}: {v!r} is not an integer or null")
    elif t == "null":
        if v is not None:
            errors.append(f"{where}: {v!r} is not null")
    elif t == "dict":
        if not isinstance(v, dict) or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in v.values()):
            errors.append(f"{where}: not an object of integers")


_PYM_AT = {"time_s": "num", "arena_bytes": "int", "used_bytes": "int", "free_bytes": "int"}
PYMALLOC = {"samples": "int", "arena_bytes_max": "int", "most": _PYM_AT, "end": _PYM_AT}
_FRAME = {"function": "str", "file": "str", "line": "int", "first_line": "int"}
OBJECTS = {"created": "int", "destroyed": "int", "destroyed_unknown": "int",
           "inferred_deaths": "int", "alive_max": "int", "alive_max_time_s": "num",
           "end_count": "int", "end_bytes": "int?", "objects_sized": "int",
           "at_heap_peak": "bool",
           "types": [{"type": "str", "created": "int", "destroyed": "int", "alive_max": "int",
                      "alive_max_time_s": "num", "end_count": "int", "end_bytes": "int?",
                      "peak_count": "int?", "peak_bytes": "int?"}],
           "alive_at_end": [{"type": "str", "count": "int", "bytes": "int?", "function": "str",
                             "file": "str", "line": "int", "frames": [_FRAME]}]}


def schema(doc):
    errors = []
    want = dict(SCHEMA, heap=HEAP) if isinstance(doc, dict) and "heap" in doc else dict(SCHEMA)
    want["notes"] = ["str"]  # schema 1 adds keys at the end: notes, pymalloc, objects
    want["pymalloc"] = PYMALLOC if isinstance(doc, dict) and doc.get("pymalloc") else "null"
    want["objects"] = OBJECTS if isinstance(doc, dict) and doc.get("objects") else "null"
    check_type(doc, want, "$", errors)
    if not errors and doc["schema"] != "memtrace-analyze/1":
        errors.append(f"$.schema: {doc['schema']!r}")
    if not errors:
        for f in doc["functions"]:
            if f["kind"] not in ("python", "c"):
                errors.append(f"kind {f['kind']!r}")
    return errors


def find(lst, pred, what):
    for x in lst:
        if pred(x):
            return x
    raise KeyError(what)


def query(doc, q):
    if q.startswith("line:"):  # the file name holds dots: split after N
        colon = q.rindex(":")
        dot = q.find(".", colon)
        head, rest = (q, "") if dot < 0 else (q[:dot], q[dot + 1:])
    else:
        head, _, rest = q.partition(".")
    if head.startswith("fn:"):
        name = head[3:]
        node = find(doc["functions"], lambda f: f["function"] == name, head)
    elif head.startswith("line:"):
        file, _, n = head[5:].rpartition(":")
        node = find(doc["lines"], lambda l: l["file"] == file and l["line"] == int(n), head)
    elif head.startswith("thread:"):
        node = find(doc["threads"], lambda t: t["tid"] == int(head[7:]), head)
    elif head.startswith("marker:"):
        node = doc["markers"][int(head[7:])]
    elif head.startswith("stack:"):
        st = find(doc["peak_stacks"], lambda s: s["tid"] == int(q[6:]), head)
        return ">".join(f"{f['function']}:{f['line']}" for f in st["frames"])
    elif head.startswith("site:"):
        _, table, func = head.split(":", 2)
        node = find(doc["heap"][table], lambda s: s["function"] == func, head)
    elif head.startswith("size:"):
        _, table, func, size = q.split(":", 3)
        site = find(doc["heap"][table], lambda s: s["function"] == func, head)
        return sum(z["count"] for z in site["sizes"] if z["size_bytes"] == int(size))
    elif head.startswith("sitestack:"):
        _, table, i = q.split(":", 2)
        return ">".join(f["function"] for f in doc["heap"][table][int(i)]["frames"])
    elif head.startswith("count:"):
        return len(doc[q[6:]])
    elif head.startswith("rank:"):
        names = [f["function"] for f in doc["functions"]]
        return names.index(q[5:]) if q[5:] in names else -1
    else:
        node = doc[head]
    for k in rest.split(".") if rest else []:
        node = node[int(k)] if isinstance(node, list) else node[k]
    return node


def matches(got, want):
    if want.startswith("~"):
        x, _, tol = want[1:].partition("/")
        return isinstance(got, (int, float)) and abs(got - float(x)) <= float(tol)
    try:
        return got == json.loads(want)
    except ValueError:
        return got == want


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2], "rb") as fh:
        doc = json.loads(fh.read().decode("utf-8"))
    if argv[1] == "schema":
        errors = schema(doc)
        for e in errors:
            print("schema:", e)
        return 1 if errors else 0
    if argv[1] == "get":
        v = query(doc, argv[3])
        print(json.dumps(v) if not isinstance(v, str) else v)
        return 0
    bad = 0
    for arg in argv[3:]:
        q, _, want = arg.partition("=")
        try:
            got = query(doc, q)
        except (KeyError, IndexError, ValueError) as e:
            print(f"{q}: not found ({e})")
            bad += 1
            continue
        if not matches(got, want):
            print(f"{q}: got {got!r}, want {want}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
