"""Summarise `memtrace-decode --json` output for `make demo`: event counts,
RSS start/peak/end, and each marker with the RSS then. A stopgap until
memtrace-analyze (issue 4) gives the real report."""
import collections
import json
import sys

counts = collections.Counter()
rss = []            # (time_s, bytes) from the sampler's counters records
markers = []        # (time_s, text)
threads = {}
for line in sys.stdin:
    rec = json.loads(line)
    counts[rec["type"]] += 1
    if rec["type"] == "counters" and "rss_bytes" in rec["counters"]:
        rss.append((rec["time_s"], rec["counters"]["rss_bytes"]))
    elif rec["type"] == "rss":
        rss.append((rec["time_s"], rec["rss_bytes"]))
    elif rec["type"] == "marker":
        markers.append((rec["time_s"], rec["text"]))
    elif rec["type"] == "thread":
        threads[rec["tid"]] = rec["name"]


def mib(b):
    return "%.1f MiB" % (b / 2**20)


def rss_at(t):
    before = [b for (ts, b) in rss if ts <= t]
    return mib(before[-1]) if before else "?"


print("events:", ", ".join("%s %d" % kv for kv in counts.most_common()))
print("threads:", ", ".join(threads.values()))
if rss:
    peak = max(rss, key=lambda x: x[1])
    print("RSS: start %s, peak %s at %.3f s, end %s (%d samples)"
          % (mib(rss[0][1]), mib(peak[1]), peak[0], mib(rss[-1][1]), len(rss)))
for t, text in markers:
    print("marker %.3f s  %-28s RSS %s" % (t, text, rss_at(t)))
