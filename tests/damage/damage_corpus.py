"""damage_corpus.py - damaged copies of good traces, made deterministically.

    python3 damage_corpus.py OUTDIR BASE.trace...

Writes OUTDIR/empty.trace, OUTDIR/garbage.trace and, per BASE, truncations,
single bit flips spread over the file and over its header frame, a zeroed
range, a cut out of the middle, a doubled file and trailing garbage. The
same inputs give the same files: no clock, a fixed xorshift seed.
"""
import os
import sys


def xorshift(n, seed=1):
    s = seed
    out = bytearray()
    for _ in range(n):
        s ^= (s << 13) & 0xFFFFFFFFFFFFFFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFFFFFFFFFFFFFF
        out.append(s & 0xFF)
    return bytes(out)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    def put(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    put("empty.trace", b"")
    put("garbage.trace", xorshift(4096))
    for base in sys.argv[2:]:
        stem = os.path.splitext(os.path.basename(base))[0]
        data = open(base, "rb").read()
        n = len(data)
        hdr = 8 + int.from_bytes(data[4:8], "little")  # the header frame
        for cut in sorted({1, 7, 8, 15, 16, 20, hdr - 1, hdr, hdr + 3,
                           n // 3, n // 2, n - 33, n - 32, n - 9, n - 1}):
            if 0 < cut < n:
                put(f"{stem}-trunc{cut}.trace", data[:cut])
        flips = {(k * n // 16, k % 8) for k in range(16)}
        flips |= {(k * hdr // 8, (k * 3) % 8) for k in range(8)}
        for off, bit in sorted(flips):
            b = bytearray(data)
            b[off] ^= 1 << bit
            put(f"{stem}-flip{off}.{bit}.trace", bytes(b))
        mid = n // 2
        put(f"{stem}-zeros.trace", data[:mid] + bytes(64) + data[mid + 64:])
        put(f"{stem}-cut.trace", data[:n // 3] + data[2 * n // 3:])
        put(f"{stem}-twice.trace", data + data)
        put(f"{stem}-tail.trace", data + xorshift(100, seed=7))
        put(f"{stem}-noheader.trace", data[hdr:])


if __name__ == "__main__":
    main()
