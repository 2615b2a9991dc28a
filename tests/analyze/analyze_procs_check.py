"""Checks of memtrace-analyze --json on process-tree traces (t1260).

    analyze_procs_check.py tree REPORT.json   poll_workload.py under memtrace-poll --tree
    analyze_procs_check.py inproc REPORT.json  a recording with log_process(children=True)

Exit 0 when every check holds; else print what failed and exit 1."""
import json
import sys

MIB = 1 << 20


def near(got, want_mib):
    """Within 10% + 20 MiB of want (what a process holds beyond its block:
    the interpreter, ~10-15 MiB)."""
    want = want_mib * MIB
    return abs(got - want) <= 0.1 * want + 20 * MIB


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def tree(rep):
    procs = rep.get("processes")
    if not procs:
        fail("no processes in the report")
    by_role = {}
    for i, p in enumerate(procs):
        for role in ("root", "child", "grandchild"):
            if p["cmdline"].endswith("poll_workload.py " + role) or \
                    ("poll_workload.py " + role + " ") in p["cmdline"] + " ":
                by_role.setdefault(role, []).append(i)
    for role in ("root", "child", "grandchild"):
        if len(by_role.get(role, [])) != 1:
            fail("%s: %d processes, want 1: %r" % (role, len(by_role.get(role, [])),
                                                     [p["cmdline"] for p in procs]))
    root, child, grand = (procs[by_role[r][0]] for r in ("root", "child", "grandchild"))
    ri, ci = by_role["root"][0], by_role["child"][0]
    if not root["target"] or root["parent"] is not None or root["depth"] != 0:
        fail("root: %r" % root)
    if child["parent"] != ri or child["ppid"] != root["pid"] or child["depth"] != 1:
        fail("child's parent: %r (root at %d)" % (child, ri))
    if grand["parent"] != ci or grand["ppid"] != child["pid"] or grand["depth"] != 2:
        fail("grandchild's parent: %r (child at %d)" % (grand, ci))
    if not near(child["peak_rss_bytes"], 200):
        fail("child peak %d B, want ~200 MiB" % child["peak_rss_bytes"])
    if not near(grand["peak_rss_bytes"], 100):
        fail("grandchild peak %d B, want ~100 MiB" % grand["peak_rss_bytes"])
    if not (root["exited"] and root["status"] == 3 and root["status_text"] == "exit 3"):
        fail("root's exit: %r" % root)
    for p in (child, grand):
        if not p["exited"]:
            fail("not exited: %r" % p)
    if grand["first_s"] < child["first_s"] or grand["last_s"] > child["last_s"]:
        fail("grandchild outside its parent's life: %r %r" % (grand, child))
    tot = rep["process_total"]
    if tot["peak_bytes"] < 300 * MIB:
        fail("total peak %d B < 300 MiB" % tot["peak_bytes"])
    if not tot["series"] or tot["rounds"] < 10:
        fail("total series: %r" % tot)
    # The watched process's samples are the RSS series of a poll trace.
    if rep["rss"]["samples"] < 1 or rep["rss"]["peak_bytes"] != root["peak_rss_bytes"]:
        fail("rss of a poll trace: %r (root peak %d)" % (rep["rss"], root["peak_rss_bytes"]))


def inproc(rep):
    procs = rep.get("processes")
    if not procs or len(procs) < 2:
        fail("want the recorder's process and a child: %r" % procs)
    me = procs[0]
    if not (me["target"] and me["from_counters"] and me["status_text"] == "recorder"):
        fail("the recording process: %r" % me)
    kids = [p for p in procs if p["parent"] == 0 and "holder" in p["cmdline"]]
    if len(kids) != 1 or not near(kids[0]["peak_rss_bytes"], 60):
        fail("the child holding 60 MiB: %r" % procs)
    tot = rep["process_total"]
    if tot["peak_bytes"] < 60 * MIB + me["peak_rss_bytes"] // 2:
        fail("total peak %d too small" % tot["peak_bytes"])


def main():
    with open(sys.argv[2]) as f:
        rep = json.load(f)
    {"tree": tree, "inproc": inproc}[sys.argv[1]](rep)
    print("ok")


if __name__ == "__main__":
    main()
