#!/usr/bin/env python3
"""filter_model.py - an independent model of the selection rules, and checks
of memtrace-filter output, for tests/filter/run.sh.

  filter_model.py select HEADER.json IN.jsonl [selection options...]
      print the lines of IN.jsonl (memtrace-decode --json of a trace) that
      the selection keeps, data records only, as memtrace-decode printed them
  filter_model.py defs IN.jsonl OUT.jsonl
      check OUT's definitions: every id OUT uses that IN defines is defined
      in OUT before its first use, identically to IN's definition in force
      at that record; OUT defines nothing it does not use
  filter_model.py data JSONL
      print the data records of a decode --json output (no definitions or
      blocks), for comparisons

Written from the documented rules (mt_select.h, memtrace-filter --help),
not from the C code, so that the two can disagree.
"""
import calendar
import fnmatch
import json
import re
import sys
from decimal import Decimal

STRUCT = {"block", "string", "function", "thread", "unknown"}
EVENTS = {"call", "ccall", "return", "creturn", "craise", "unwind", "line",
          "raise", "obj_new", "obj_del", "alloc", "free", "realloc"}
THREAD_EVENTS = {"thread_start", "thread_end"}
SAMPLES = {"rss", "counters"}
CALLS = {"call", "ccall"}
RETURNS = {"return", "creturn", "craise", "unwind"}
UNITS = {"": 10**9, "s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1,
         "m": 60 * 10**9, "min": 60 * 10**9, "h": 3600 * 10**9}


def parse_bytes(s):
    m = re.fullmatch(r"([0-9.]+)\s*([kKmMgGtT]?)(i?[bB])?", s)
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    return int(Decimal(m.group(1)) * mult[m.group(2).lower()])


def parse_time(s):
    """(absolute, ns): relative ns since the anchor, or UNIX ns."""
    if s.startswith("@"):
        return True, int(Decimal(s[1:]) * 10**9 + Decimal("0.5"))
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z", s)
    if m:
        secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
        frac = Decimal(m.group(7) or "0")
        return True, secs * 10**9 + int(frac * 10**9)
    m = re.fullmatch(r"([0-9.]+)([a-z]*)", s)
    return False, int(Decimal(m.group(1)) * UNITS[m.group(2)] + Decimal("0.5"))


def ticks_ceil(ns, tps):
    return -((-ns * tps) // 10**9)


def select(header_path, in_path, args):
    hdr = json.load(open(header_path))
    tps, wall = hdr["ticks_per_second"], hdr["wall_ns"]
    types, excluded, tids, tnames, funcs, files = None, set(), [], [], [], []
    bounds, rss_delta = {}, None
    i = 0
    while i < len(args):
        opt, val = args[i], args[i + 1]
        i += 2
        if opt in ("--from", "--to"):
            absolute, ns = parse_time(val)
            if absolute:
                ns = max(0, ns - wall)
            bounds[opt] = ticks_ceil(ns, tps)
        elif opt == "--thread":
            (tids if val.isdigit() else tnames).append(val)
        elif opt == "--type":
            types = (types or set()) | set(val.split(","))
        elif opt == "--exclude-type":
            excluded |= set(val.split(","))
        elif opt == "--function":
            funcs.append(val)
        elif opt == "--file":
            files.append(val)
        elif opt == "--min-rss-delta":
            rss_delta = parse_bytes(val)
        else:
            sys.exit("filter_model: unknown option " + opt)
    lo, hi = bounds.get("--from", 0), bounds.get("--to", 1 << 64)
    tids = {int(t) for t in tids}
    names, functions, stacks = {}, {}, {}
    rss_ref = None
    out = sys.stdout
    for line in open(in_path):
        r = json.loads(line)
        ty = r["type"]
        if ty == "thread":
            names[r["tid"]] = r["name"]
        elif ty == "function":
            functions[r["fid"]] = r
        elif ty == "block":
            stacks[r["tid"]] = list(r["stack"])
        if ty in STRUCT:
            continue
        st = stacks.setdefault(r["tid"], [])
        top = st[-1] if st else 0
        if ty in CALLS:
            st.append(r["fid"])
            frame = r["fid"]
        elif ty in RETURNS:
            if st:
                st.pop()
            frame = r["fid"]
        else:
            frame = top
        if (types is not None and ty not in types) or ty in excluded:
            continue
        if not lo <= r["t"] < hi:
            continue
        if ty in EVENTS or ty in THREAD_EVENTS:
            if tids or tnames:
                name = names.get(r["tid"])
                if r["tid"] not in tids and not (
                        name is not None and
                        any(fnmatch.fnmatchcase(name, g) for g in tnames)):
                    continue
        if ty in EVENTS and (funcs or files):
            f = functions.get(frame)
            if f is None:
                continue
            cands = [f["qualname"]]
            if f["module"]:
                cands.append(f["module"] + "." + f["qualname"])
            if funcs and not any(fnmatch.fnmatchcase(c, g)
                                 for c in cands for g in funcs):
                continue
            if files and not any(fnmatch.fnmatchcase(f["file"], g)
                                 for g in files):
                continue
        if ty in SAMPLES and rss_delta is not None:
            rss = r["rss_bytes"] if ty == "rss" else r["counters"].get("rss_bytes")
            if rss is not None:
                if rss_ref is not None and abs(rss - rss_ref) < rss_delta:
                    continue
                rss_ref = rss
        out.write(line)


def uses(r, stack_of):
    """(kind, id) pairs a data record of OUT needs defined."""
    ty = r["type"]
    need = []
    if "tid" in r:
        need.append(("thread", r["tid"]))
    if ty in CALLS or ty in RETURNS:
        if r["fid"]:
            need.append(("function", r["fid"]))
    if ty == "block":
        need += [("function", f) for f in r["stack"] if f]
    if ty == "raise" or ty.startswith("obj_"):
        if r["type_sid"]:
            need.append(("string", r["type_sid"]))
    return need


def check_defs(in_path, out_path):
    """Walk IN and OUT: definitions in force in IN at each record of OUT."""
    failures = []
    in_defs = {}      # (kind, id) -> JSON line of IN's latest definition
    key_of = {"string": "sid", "function": "fid", "thread": "tid"}
    # The definitions in force in IN when each data record was read; OUT's
    # data records are a subsequence, matched by (type, t, tid) in order.
    in_iter = iter(open(in_path))
    out_defs, used, pending, proc_texts = {}, set(), [], set()
    for line in open(out_path):
        r = json.loads(line)
        ty = r["type"]
        if ty in key_of:
            out_defs[(ty, r[key_of[ty]])] = dict(r)
            continue
        pending += uses(r, None)
        if ty == "proc_sample":  # JSON shows its strings, not their ids
            proc_texts.update((r["name"], r["cmdline"]))
        if ty == "block":  # blocks are rebuilt: checked with the next record
            continue
        while True:  # advance IN to this record, collecting its definitions
            il = next(in_iter, None)
            if il is None:
                failures.append("record not found in IN: " + line.strip())
                return report(failures)
            ir = json.loads(il)
            if ir["type"] in key_of:
                in_defs[(ir["type"], ir[key_of[ir["type"]]])] = ir
            elif (ir["type"], ir.get("t"), ir.get("tid")) == \
                    (ty, r.get("t"), r.get("tid")):
                break
        for k in pending:
            used.add(k)
            if k in in_defs and out_defs.get(k) != in_defs[k]:
                failures.append("%s %d not defined (as in IN) before %s"
                                % (k[0], k[1], line.strip()))
        pending = []
    # strings that defined functions need
    fn_strings = set(proc_texts)
    for (kind, _), d in out_defs.items():
        if kind == "function":
            for field in ("qualname", "module", "file"):
                fn_strings.add(d[field])
    for (kind, ident), d in out_defs.items():
        if (kind, ident) in used:
            continue
        if kind == "string" and d["text"] in fn_strings:
            continue
        if kind == "string" and ("string", ident) in used:
            continue
        failures.append("defined but never used: %s %d" % (kind, ident))
    return report(failures)


def report(failures):
    for f in failures[:20]:
        print("filter_model: " + f, file=sys.stderr)
    return 1 if failures else 0


def data(path):
    for line in open(path):
        if json.loads(line)["type"] not in STRUCT:
            sys.stdout.write(line)


def main():
    cmd = sys.argv[1]
    if cmd == "select":
        select(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    if cmd == "defs":
        return check_defs(sys.argv[2], sys.argv[3])
    if cmd == "data":
        data(sys.argv[2])
        return 0
    sys.exit("usage: filter_model.py select|defs|data ...")


if __name__ == "__main__":
    sys.exit(main())
