#!/usr/bin/env python3
"""plot_check.py - read back what memtrace-plot drew (standard library only).

  plot_check.py extremes SVG SERIES   print "vmin vmax t_at_min t_at_max" of
                                      the series polyline, mapped back to
                                      data through the plot area's data-*
                                      attributes (see plot/mt_plot.h)
  plot_check.py png PNG               decode the PNG; fail unless it holds
                                      at least 8 colours and 1% of its pixels
                                      differ from the most common one
"""
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def extremes(path, name):
    root = ET.parse(path).getroot()
    area = root.find(f".//{SVG}g[@id='mt-plot-area']")
    m = {k: float(area.get("data-" + k)) for k in
         ("x0", "x1", "y0", "y1", "t0", "t1", "v0", "v1")}
    for pl in root.iter(SVG + "polyline"):
        if pl.get("data-name") != name:
            continue
        best = None
        for pair in pl.get("points").split():
            x, y = (float(c) for c in pair.split(","))
            t = m["t0"] + (x - m["x0"]) * (m["t1"] - m["t0"]) / (m["x1"] - m["x0"])
            v = m["v0"] + (y - m["y0"]) * (m["v1"] - m["v0"]) / (m["y1"] - m["y0"])
            if best is None:
                best = [v, v, t, t]
            if v < best[0]:
                best[0], best[2] = v, t
            if v > best[1]:
                best[1], best[3] = v, t
        print(" ".join("%.9g" % x for x in best))
        return 0
    print(f"plot_check: no series named {name!r} in {path}", file=sys.stderr)
    return 1


def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace or ctype not in (0, 2, 4, 6):
                raise ValueError(f"unsupported PNG: depth {depth} type {ctype}")
            bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def png_check(path):
    w, h, bpp, rows = png_pixels(path)
    counts = {}
    for row in rows[::2]:  # every other row is plenty
        for i in range(0, len(row), bpp):
            px = row[i:i + bpp]
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    common = max(counts.values())
    other = (total - common) / total
    print(f"{path}: {w}x{h}, {len(counts)} colours, {100 * other:.1f}% not background")
    if len(counts) < 8 or other < 0.01:
        print(f"plot_check: {path} looks blank", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "extremes":
        sys.exit(extremes(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 3 and sys.argv[1] == "png":
        sys.exit(png_check(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
