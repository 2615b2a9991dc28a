"""alloc_workload.py - known answers for the heap report (t1250).

    python3 alloc_workload.py OUT.trace MODE      MODE: alloc, profile, sampled
    python3 alloc_workload.py OUT.trace gb-exact|gb-sampled

leaky() keeps exactly 37 bytearrays of 7777 bytes (a 7778-byte buffer
each); temporary() makes and drops 50 more; heavy() allocates and drops
500 x 100000 bytes (50 MB: the top hotspot by bytes); peak() holds 30 x
1000000 bytes at once, the heap's peak, and lets them go on return.
The gb-* workloads allocate 1 GB in blocks of mixed sizes (as
tests/python/test_alloc.py does) to compare the sampled estimate with
the exact total.
"""
import random
import sys

import memtrace

keep = []


def leaky(k):
    for _ in range(k):
        keep.append(bytearray(7777))


def temporary(k):
    for _ in range(k):
        b = bytearray(7777)
        del b


def heavy():
    for _ in range(500):
        b = bytearray(100000)
        del b


def peak():
    big = []
    for _ in range(30):
        big.append(bytearray(1000000))
    return len(big)


def outer():
    leaky(37)
    temporary(50)
    heavy()
    peak()


def gigabyte():
    rng = random.Random(5)
    sizes = [rng.choice((100, 1000, 10000, 30000, 65000)) for _ in range(1000)]
    total = 0
    small = []
    while total < 10**9:
        for s in sizes:
            b = bytearray(s)
            total += s
            if s == 100:
                small.append(b)
    return total


out, mode = sys.argv[1], sys.argv[2]
if mode.startswith("gb-"):
    memtrace.start(out, mode="alloc",
                   allocations="sampled" if mode == "gb-sampled" else True)
    gigabyte()
elif mode == "native-unseen":  # 96 MiB of RSS outside Python's allocators
    import mmap, time
    memtrace.start(out, mode="alloc", allocations=True)
    m = mmap.mmap(-1, 96 << 20)
    for i in range(0, 96 << 20, 4096):
        m[i] = 1
    time.sleep(0.05)
    memtrace.stop()
    m.close()
    sys.exit(0)
elif mode == "profile-plain":  # no allocation records
    memtrace.start(out, mode="profile")
    outer()
else:
    memtrace.start(out, mode="alloc" if mode == "sampled" else mode,
                   allocations="sampled" if mode == "sampled" else True)
    outer()
memtrace.stop()
