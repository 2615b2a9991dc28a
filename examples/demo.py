"""A small program whose memory story is known, for `make demo`.

Phase 1 builds a cache of 200k small dicts (tens of MB), phase 2 allocates
one 64 MiB bytearray and frees it, phase 3 parses JSON on a worker thread.
Markers name the phases, so the trace shows when each began.
"""
import json
import threading

try:
    import memtrace
except ImportError:  # run bare: the markers become no-ops
    memtrace = None


def marker(text):
    if memtrace is not None and memtrace.is_recording():
        memtrace.marker(text)


def build_cache(n):
    return {i: {"id": i, "name": "item%d" % i} for i in range(n)}


def big_buffer(mib):
    buf = bytearray(mib << 20)
    buf[::4096] = b"x" * len(buf[::4096])  # touch every page: RSS really grows
    return len(buf)


def parse_documents(count):
    doc = json.dumps([{"k": i, "v": [i] * 8} for i in range(200)])
    total = 0
    for _ in range(count):
        total += len(json.loads(doc))
    return total


def main():
    marker("phase 1: cache")
    cache = build_cache(200_000)
    marker("phase 2: big buffer")
    size = big_buffer(64)
    marker("phase 3: json on a thread")
    worker = threading.Thread(target=parse_documents, args=(50,), name="json-worker")
    worker.start()
    worker.join()
    marker("done")
    print("cache %d entries, buffer %d MiB" % (len(cache), size >> 20))


if __name__ == "__main__":
    main()
