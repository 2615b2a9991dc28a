"""A process tree with known memory at known times, for the memtrace-poll tests.

    python3 poll_workload.py root [EXIT]   spawns child, waits, exits EXIT (3)
    python3 poll_workload.py child        holds 200 MiB, spawns grandchild
    python3 poll_workload.py grandchild   holds 100 MiB

Timeline (seconds from the root's start, roughly):
    0.3  child starts and fills 200 MiB (b"x" * n writes every page)
    0.8  grandchild starts and fills 100 MiB; child still holds its 200
    1.6  grandchild exits 0
    1.9  child frees its 200 MiB, 2.4 exits 0
    2.6  root exits EXIT
Only the standard library; children are run as sys.executable + this file.
"""
import subprocess
import sys
import time

MIB = 1 << 20


def spawn(role):
    return subprocess.Popen([sys.executable, __file__, role])


def main():
    role = sys.argv[1]
    if role == "root":
        time.sleep(0.3)
        spawn("child").wait()
        time.sleep(0.2)
        return int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if role == "child":
        block = b"x" * (200 * MIB)
        time.sleep(0.5)
        spawn("grandchild").wait()
        time.sleep(0.3)
        del block
        time.sleep(0.5)
        return 0
    if role == "grandchild":
        block = b"y" * (100 * MIB)
        time.sleep(0.8)
        del block
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
