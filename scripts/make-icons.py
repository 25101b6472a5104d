#!/usr/bin/env python3
"""Draws Ebb's app icon (a receding wave on a tide-blue tile) as RGBA PNGs, with no image library."""
import math, os, struct, sys, zlib

def png(size):
    rows = []
    r = size * 0.22  # corner radius
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            # rounded-square mask with 1px antialiasing
            dx = max(r - x, 0, x - (size - 1 - r)); dy = max(r - y, 0, y - (size - 1 - r))
            edge = r - math.hypot(dx, dy) if (dx and dy) else min(x, y, size - 1 - x, size - 1 - y) + 1
            a = max(0.0, min(1.0, edge))
            t = y / size
            bg = (int(18 + 20 * t), int(92 + 40 * t), int(160 + 30 * t))
            col = bg
            for k, (amp, base, w) in enumerate(((0.06, 0.50, 0.045), (0.05, 0.66, 0.04), (0.04, 0.80, 0.035))):
                wave = base + amp * math.sin(2 * math.pi * (x / size * 1.3 + 0.15 * k))
                d = abs(y / size - wave)
                if d < w:
                    s = max(0.0, min(1.0, (w - d) * size / 1.5))
                    shade = (255, 255, 255) if k == 0 else (200, 232, 245)
                    col = tuple(int(c * (1 - s) + sc * s) for c, sc in zip(col, shade))
            row += bytes((*col, int(255 * a)))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")

out = sys.argv[1] if len(sys.argv) > 1 else "src-tauri/icons"
os.makedirs(out, exist_ok=True)
for name, size in (("32x32.png", 32), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512)):
    with open(os.path.join(out, name), "wb") as f:
        f.write(png(size))
