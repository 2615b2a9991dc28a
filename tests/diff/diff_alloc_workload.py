"""diff_alloc_workload.py - the workload of t1340-diff-alloc-recorded.sh,
recorded with allocations, parameterised by how much it leaks and churns:

    python3 diff_alloc_workload.py OUT.trace LEAKS CHURN_MIB [MODE]

leaky(LEAKS) keeps LEAKS bytes objects of BLOCK payload bytes each, one
allocation of sys.getsizeof() = BLOCK + 33 bytes apiece on 3.8+ (a bytes
object is a single block: header and payload), stored into a list made
beforehand so that no list growth is charged to leaky. churn(CHURN_MIB)
allocates and drops CHURN_MIB blocks of 1 MiB of payload (one allocation of
1 MiB + 33 bytes each): nothing of it stays. MODE: alloc (default) or
profile. Prints the size of one leaked block for the test.
"""
import sys

import memtrace

BLOCK = 4000
MiB = 1024 * 1024
keep = [None] * 100


def leaky(k, n):
    for i in range(k):
        keep[i] = bytes(n)


def churn(mib):
    for _ in range(mib):
        b = bytes(MiB)
        del b


def main(leaks, churn_mib):
    leaky(leaks, BLOCK)
    churn(churn_mib)


if __name__ == "__main__":
    out, leaks, churn_mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "alloc"
    memtrace.start(out, mode=mode, allocations=True)
    main(leaks, churn_mib)
    memtrace.stop()
    print(sys.getsizeof(bytes(BLOCK)))
