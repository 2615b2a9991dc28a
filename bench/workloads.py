"""Workloads for memtrace's overhead benchmarks (bench/bench_recorder.py),
written to be reused by other benchmarks (e.g. a comparison with other
tracers): plain Python, standard library only, deterministic.

Each workload is a Workload(name, make, size, quick_size, doc): make(size)
does the set-up (building input data) and returns a callable with no
arguments that runs the measured part and returns a small result (so the
work cannot be skipped and runs can be checked against each other). size is
chosen for 0.2-1 s bare on CPython 3.11 on the reference machine, quick_size
for about a fifth of that.

    from workloads import WORKLOADS
    run = WORKLOADS["fib"].make(WORKLOADS["fib"].size)
    run()

MORE_WORKLOADS holds two more for the comparison with other tools
(bench/bench_peers.py): large allocations with a known peak, and a
multithreaded mix. They are kept apart so bench_recorder.py's default set
(and its run time) does not change.
"""

import collections
import dataclasses
import json
import random
import re
import threading

# ---- call-heavy recursion ---------------------------------------------------


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def fib_calls(n):
    """Number of fib() calls fib(n) makes (each one call and one return)."""
    a, b = 1, 1  # calls of fib(0), fib(1)
    for _ in range(n - 1):
        a, b = b, a + b + 1
    return b if n >= 1 else 1


def make_fib(n):
    return lambda: fib(n)


# ---- many small method calls ------------------------------------------------


class Counter3:
    """Small methods of the kind real code calls in loops: getters, a
    setter, arithmetic on attributes."""

    def __init__(self):
        self.x = 0
        self.y = 0
        self.z = 0

    def get_x(self):
        return self.x

    def set_x(self, v):
        self.x = v

    def bump(self, dy):
        self.y += dy
        return self.y

    def total(self):
        return self.x + self.y + self.z

    def is_odd(self, v):
        return v & 1


def methods(n):
    c = Counter3()
    for i in range(n):
        c.set_x(c.get_x() + 1)
        if c.is_odd(i):
            c.bump(2)
        c.z = c.total() & 0xFFFF
    return c.total()


def make_methods(n):
    return lambda: methods(n)


# ---- allocation churn -------------------------------------------------------


class Node:
    def __init__(self, key, value):
        self.key = key
        self.value = value
        self.next = None


class SlotPoint:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def churn(n):
    """Create and drop lists, dicts, tuples, strings and objects; a window of
    the newest ones stays alive, so frees come in allocation order."""
    keep = collections.deque(maxlen=64)
    acc = 0
    for i in range(n):
        lst = [i, i + 1, i + 2, i * 2]
        d = {"k": i, "v": lst, "s": str(i)}
        node = Node(i, d)
        pts = [SlotPoint(j, i) for j in range(4)]
        t = (node, pts, lst[1:])
        keep.append(t)
        acc += len(d["s"]) + pts[-1].x
        if i % 256 == 0:
            keep.append([{} for _ in range(32)])
    return acc + len(keep)


def make_churn(n):
    return lambda: churn(n)


# ---- a realistic standard-library workload -----------------------------------


@dataclasses.dataclass
class Record:
    ident: int
    name: str
    email: str
    tags: list
    score: float = 0.0


_WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu "
          "nu xi omicron pi rho sigma tau upsilon phi chi psi omega").split()
_EMAIL = re.compile(r"([a-z]+)\.([a-z]+)@([a-z]+)\.example\.(com|org)")
_NUM = re.compile(r"\b\d+\b")


def _make_text(rng, nlines):
    lines = []
    for i in range(nlines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 12))]
        words.insert(rng.randrange(len(words)), "%s.%s@%s.example.%s" % (
            rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_WORDS),
            rng.choice(("com", "org"))))
        words.append(str(rng.randint(0, 10**6)))
        lines.append(" ".join(words))
    return lines


def stdlib(lines, rounds):
    """Parse text lines with re into dataclasses, serialise them to JSON and
    back, and count words: json, re, dataclasses, str methods, collections."""
    out = 0
    for _ in range(rounds):
        records = []
        for i, line in enumerate(lines):
            m = _EMAIL.search(line)
            nums = [int(x) for x in _NUM.findall(line)]
            words = line.split()
            records.append(Record(i, words[0].title(), m.group(0) if m else "",
                                  sorted(set(w for w in words if w.isalpha()))[:4],
                                  sum(nums) / (len(nums) or 1)))
        doc = json.dumps([dataclasses.asdict(r) for r in records])
        back = [Record(**d) for d in json.loads(doc)]
        counts = collections.Counter(w for r in back for w in r.tags)
        text = "\n".join("%s <%s>" % (r.name, r.email) for r in back)
        out += len(doc) + len(counts) + len(_EMAIL.sub(r"\2@\3", text))
    return out


def make_stdlib(size):
    rng = random.Random(20240521)
    lines = _make_text(rng, 500)
    return lambda: stdlib(lines, size)


Workload = collections.namedtuple("Workload", "name make size quick_size doc")

WORKLOADS = collections.OrderedDict((w.name, w) for w in (
    Workload("fib", make_fib, 32, 28, "recursive fib(n): Python calls only"),
    Workload("methods", make_methods, 1300000, 300000, "loop calling 4-5 small methods of a class"),
    Workload("churn", make_churn, 200000, 40000,
             "create/drop lists, dicts, tuples, strings, objects"),
    Workload("stdlib", make_stdlib, 30, 6, "re + dataclasses + json dumps/loads + str/Counter"),
))


# ---- large allocations with a known truth ------------------------------------

MiB = 1 << 20
# (MiB, kind) in allocation order. The peak is 410 MiB above the start: the
# 10 MiB kept bytes, the 100 MiB bytes and the 300 MiB bytearray are live
# together, and it is reached inside big_bytearray(300). After both are
# dropped, a 200 MiB bytearray comes and goes: the largest allocation after
# the first two, but not the peak.
BIGALLOC_PLAN = ((10, "bytes"), (100, "bytes"), (300, "bytearray"), (200, "bytearray"))
BIGALLOC_PEAK_MIB = 410


def big_bytes(mib):
    return b"x" * (mib * MiB)  # BIG_BYTES_LINE: every page written


def big_bytearray(mib):
    return bytearray(mib * MiB)  # BIG_BYTEARRAY_LINE: zeroed, every page written


def bigalloc(scale):
    """Allocate BIGALLOC_PLAN's sizes times scale (1: the full sizes)."""
    keep = big_bytes(10 * scale)
    a = big_bytes(100 * scale)
    b = big_bytearray(300 * scale)  # BIGALLOC_PEAK_LINE: the peak is reached in this call
    total = len(a) + len(b)
    del a, b
    c = big_bytearray(200 * scale)
    total += len(c)
    del c
    return total + len(keep)


def make_bigalloc(scale):
    return lambda: bigalloc(scale)


# ---- several threads ----------------------------------------------------------


def thread_work(n, out, k):
    """One thread's share: small method calls and allocation churn."""
    out[k] = methods(n) + churn(n // 8)


def threads(n, nthreads=4):
    """nthreads threads each run thread_work(n): with the GIL they take
    turns, so the total is about nthreads times one thread's work."""
    out = [0] * nthreads
    ts = [threading.Thread(target=thread_work, args=(n, out, k), name="worker-%d" % k)
          for k in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(out)


def make_threads(n):
    return lambda: threads(n)


MORE_WORKLOADS = collections.OrderedDict((w.name, w) for w in (
    Workload("bigalloc", make_bigalloc, 1, 1,
             "bytes and bytearray of 10-300 MiB, peak 410 MiB in big_bytearray"),
    Workload("threads", make_threads, 80000, 20000,
             "4 threads: small method calls and allocation churn"),
))
