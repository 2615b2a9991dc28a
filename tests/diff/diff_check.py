"""diff_check.py - check memtrace-diff --json output in the tests.

    python3 diff_check.py schema FILE
        FILE is one JSON document with exactly the keys, key order and
        value types that memtrace-diff --help documents (schema 1); the
        "heap" object, when present, last, with every D's delta = b - a.
    python3 diff_check.py expect FILE QUERY=VALUE ...
        each QUERY's value equals VALUE (compared as JSON when VALUE parses
        as JSON, else as a string). QUERY is a dotted path into the document
        ("run.rss_peak_bytes.delta", "a.mode"), optionally starting with
          fn:NAME.key...     the entry of "functions" named NAME
          line:FILE:N.key... the entry of "lines" for FILE:N
          new:NAME.key...    the entry of "appeared" named NAME
          gone:NAME.key...   the entry of "vanished" named NAME
          cond:I.key         the I-th condition (0-based)
          hot:NAME.key...    the entry of heap.hotspots_by_bytes for the
                             site in function NAME ("" for no Python frame)
          leak:NAME.key...   the entry of heap.leaks for NAME
          dom:NAME.key...    the entry of heap.domains for domain NAME
          count:LIST         the length of a list ("count:functions")
          rank:NAME          0-based index of NAME in "functions", -1 if absent
        A VALUE "~X/T" means: a number within T of X.
    python3 diff_check.py get FILE QUERY
        print the value (for shell arithmetic).
Exit status 0 when every check holds, 1 otherwise (each failure printed).
"""
import json
import sys

# A change D: the values in A and B, B - A, percent (null when only A is 0).
D = {"a": "num", "b": "num", "delta": "num", "pct": "num?"}
SIDE = {"file": "str", "mode": "str", "producer": "str", "python": "str",
        "command": ["str"], "start_utc": "str", "content": ["str"],
        "closed": "bool", "damaged": "bool", "lost_events": "int", "lost_bytes": "int",
        "falsified_by_loss": "bool"}
DAMAGE = {"damaged": "bool", "damaged_chunks": "int", "bytes_skipped": "int",
          "messages": ["str"]}
PRESENCE = {"function": "str", "module": "str", "file": "str", "first_line": "int",
            "calls": "int", "incl_bytes": "int"}
SCHEMA = {
    "schema": "str",
    "a": SIDE, "b": SIDE,
    "compared": {"rss": "bool", "functions": "bool", "c_functions": "bool",
                 "lines": "bool"},
    "warnings": ["str"],
    "run": {"duration_s": D, "rss_start_bytes": D, "rss_peak_bytes": D,
            "rss_peak_time_s": D, "rss_end_bytes": D, "events": D, "calls": D,
            "lost_events": D},
    "functions": [{"function": "str", "module": "str", "file": "str",
                   "first_line": "int", "kind": "str", "status": "status",
                   "calls": D, "incl_bytes": D, "self_bytes": D, "incl_s": D,
                   "self_s": D, "peak_growth_bytes": D}],
    "lines": [{"file": "str", "line": "int", "function": "str", "status": "status",
               "count": D, "growth_bytes": D, "time_s": D}],
    "appeared": [PRESENCE], "vanished": [PRESENCE],
    "conditions": [{"expr": "str", "unit": "unit", "a": "num", "b": "num",
                    "delta": "num", "pct": "num?", "true": "bool"}],
    "failed": "bool",
    "damage": {"a": DAMAGE, "b": DAMAGE},
    "report": {"sort": "str", "top": "int", "functions_total": "int",
               "functions_changed": "int", "functions_new": "int",
               "functions_gone": "int", "lines_total": "int", "lines_changed": "int"},
}
SITE = {"function": "str", "module": "str", "file": "str", "line": "int",
        "status": "status", "alloc_bytes": D, "alloc_count": D, "leak_bytes": D,
        "leak_count": D, "stack": [{"function": "str", "file": "str", "line": "int"}]}
# Only when both traces have allocations, after "report".
HEAP = {"estimated": "bool", "sample_bytes": D, "peak_bytes": D, "peak_time_s": D,
        "peak_blocks": D, "end_bytes": D, "end_blocks": D, "alloc_bytes": D,
        "alloc_count": D, "free_bytes": D, "free_count": D,
        "domains": [{"domain": "str", "alloc_bytes": D, "alloc_count": D,
                     "peak_bytes": D, "end_bytes": D}],
        "hotspots_by_bytes": [SITE], "hotspots_by_count": [SITE], "leaks": [SITE],
        "sites_total": "int", "sites_changed": "int", "sites_new": "int",
        "sites_gone": "int", "leaks_changed": "int", "leaks_new": "int",
        "leaks_gone": "int", "falsified_by_loss": "bool"}
# Keys whose values in a D are integers (bytes, counts), not seconds.
INT_D = ("_bytes", "events", "calls", "lost_events", "count", "_blocks")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
        if t is D and where.endswith(INT_D):
            for k in ("a", "b", "delta"):
                if not isinstance(v.get(k), int):
                    errors.append(f"{where}.{k}: {v.get(k)!r} is not an integer")
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
        if not is_num(v):
            errors.append(f"{where}: {v!r} is not a number")
    elif t == "num?":
        if v is not None and not is_num(v):
            errors.append(f"{where}: {v!r} is not a number or null")
    elif t == "str":
        if not isinstance(v, str):
            errors.append(f"{where}: {v!r} is not a string")
    elif t == "bool":
        if not isinstance(v, bool):
            errors.append(f"{where}: {v!r} is not a boolean")
    elif t == "status":
        if v not in ("changed", "new", "gone"):
            errors.append(f"{where}: {v!r} is not a status")
    elif t == "unit":
        if v not in ("bytes", "s", "count"):
            errors.append(f"{where}: {v!r} is not a unit")


def check_deltas(v, where, errors):
    """Every D under v: delta = b - a."""
    if isinstance(v, list):
        for i, x in enumerate(v):
            check_deltas(x, f"{where}[{i}]", errors)
    elif isinstance(v, dict):
        if list(v.keys()) == list(D.keys()):
            if is_num(v["a"]) and is_num(v["b"]) and is_num(v["delta"]) and \
                    abs((v["b"] - v["a"]) - v["delta"]) > 1e-9:
                errors.append(f"{where}: delta is not b - a")
            return
        for k, x in v.items():
            check_deltas(x, f"{where}.{k}", errors)


# The last key, null unless both traces have objects.
_PAIR = D
OBJECTS = {"end_count": _PAIR, "created": _PAIR, "types_total": "int", "types_changed": "int",
           "types": [{"type": "str", "status": "status", "end_count": _PAIR, "end_bytes": _PAIR,
                      "created": _PAIR, "alive_max": _PAIR}]}


def schema(doc):
    errors = []
    if isinstance(doc, dict):
        if list(doc.keys())[-1:] != ["objects"]:
            errors.append("$: objects is not the last key")
        elif doc["objects"] is not None:
            check_type(doc["objects"], OBJECTS, "$.objects", errors)
        doc = {k: v for k, v in doc.items() if k != "objects"}
    if isinstance(doc, dict) and "heap" in doc:
        if list(doc.keys())[-1] != "heap":
            errors.append("$: heap is not the last key")
        check_type(doc["heap"], HEAP, "$.heap", errors)
        check_deltas(doc["heap"], "heap", errors)
        doc = {k: v for k, v in doc.items() if k != "heap"}
    check_type(doc, SCHEMA, "$", errors)
    if doc.get("schema") != "memtrace-diff/1":
        errors.append(f"schema is {doc.get('schema')!r}")
    for what in ("run",):
        for k, d in doc.get(what, {}).items():
            if isinstance(d, dict) and is_num(d.get("a")) and is_num(d.get("b")):
                if abs((d["b"] - d["a"]) - d["delta"]) > 1e-9:
                    errors.append(f"{what}.{k}: delta is not b - a")
    return errors


def walk(v, parts):
    for p in parts:
        if isinstance(v, list):
            v = v[int(p)]
        else:
            v = v[p]
    return v


def by(lst, pred, what):
    for x in lst:
        if pred(x):
            return x
    raise KeyError(what)


def query(doc, q):
    if q.startswith("count:"):
        return len(walk(doc, q[6:].split(".")))
    if q.startswith("rank:"):
        names = [f["function"] for f in doc["functions"]]
        return names.index(q[5:]) if q[5:] in names else -1
    for prefix, lst in (("fn:", "functions"), ("new:", "appeared"), ("gone:", "vanished")):
        if q.startswith(prefix):
            name, _, rest = q[len(prefix):].partition(".")
            e = by(doc[lst], lambda f: f["function"] == name, q)
            return walk(e, rest.split(".")) if rest else e
    for prefix, lst, key in (("hot:", "hotspots_by_bytes", "function"),
                             ("leak:", "leaks", "function"), ("dom:", "domains", "domain")):
        if q.startswith(prefix):
            name, _, rest = q[len(prefix):].partition(".")
            e = by(doc["heap"][lst], lambda x: x[key] == name, q)
            return walk(e, rest.split(".")) if rest else e
    if q.startswith("line:"):
        head, _, rest = q[5:].partition(".py:")
        num, _, rest = rest.partition(".")
        e = by(doc["lines"], lambda l: l["file"] == head + ".py" and l["line"] == int(num), q)
        return walk(e, rest.split(".")) if rest else e
    if q.startswith("cond:"):
        i, _, rest = q[5:].partition(".")
        return walk(doc["conditions"][int(i)], rest.split("."))
    return walk(doc, q.split("."))


def matches(got, want):
    if want.startswith("~") and "/" in want:
        x, t = want[1:].split("/")
        return is_num(got) and abs(got - float(x)) <= float(t)
    try:
        w = json.loads(want)
    except ValueError:
        w = want
    if is_num(w) and is_num(got):
        return abs(got - w) < 1e-9
    return got == w


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if cmd == "schema":
        errors = schema(doc)
        for e in errors:
            print(f"{path}: {e}")
        return 1 if errors else 0
    if cmd == "get":
        v = query(doc, argv[3])
        print(v if isinstance(v, str) else json.dumps(v))
        return 0
    failed = 0
    for arg in argv[3:]:
        q, _, want = arg.partition("=")
        try:
            got = query(doc, q)
        except (KeyError, IndexError, ValueError) as e:
            print(f"{path}: {q}: not found ({e})")
            failed = 1
            continue
        if not matches(got, want):
            print(f"{path}: {q} = {json.dumps(got)}, expected {want}")
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv))
