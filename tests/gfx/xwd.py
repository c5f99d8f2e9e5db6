#!/usr/bin/env python3
"""Reads an X window dump (xwd -root) without ImageMagick.

  xwd.py count FILE X Y W H      number of distinct colours in the box
  xwd.py chroma FILE X Y W H     the same, counting only clearly coloured (non-grey) ones:
                                 antialiased text has hundreds of greys, an image has hues
  xwd.py png FILE OUT [X Y W H]  the screen (or the box) as a PNG, to look at

Only the format Xvfb produces at depth 24 is handled: ZPixmap, 32 bits per pixel, direct colour
with 8-bit masks; byte order from the header.
"""
import struct
import sys
import zlib

HEADER_FIELDS = 25  # CARD32s in XWDFileHeader


class Dump:
    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        h = struct.unpack(">25I", data[: 4 * HEADER_FIELDS])
        header_size, version, fmt, depth, width, height = h[0:6]
        byte_order, bpp, bytes_per_line = h[7], h[11], h[12]
        self.masks = h[14:17]
        ncolors = h[19]
        if version != 7 or fmt != 2 or bpp != 32:
            raise SystemExit(f"{path}: unsupported xwd (version {version}, format {fmt}, {bpp} bpp)")
        self.width, self.height, self.stride = width, height, bytes_per_line
        self.order = "<" if byte_order == 0 else ">"
        start = header_size + 12 * ncolors
        self.pixels = data[start : start + bytes_per_line * height]
        self.shifts = [(m & -m).bit_length() - 1 for m in self.masks]

    def row(self, y, x, w):
        """Pixel values (unmasked 32-bit) of row y from x to x+w."""
        off = y * self.stride + 4 * x
        return struct.unpack(f"{self.order}{w}I", self.pixels[off : off + 4 * w])

    def rgb(self, v):
        return tuple((v & m) >> s for m, s in zip(self.masks, self.shifts))

    def clip(self, x, y, w, h):
        x, y = max(0, x), max(0, y)
        return x, y, max(0, min(w, self.width - x)), max(0, min(h, self.height - y))


def colours(d, x, y, w, h):
    x, y, w, h = d.clip(x, y, w, h)
    seen = set()
    for yy in range(y, y + h):
        seen.update(d.row(yy, x, w))
    return seen


def count(d, x, y, w, h):
    return len(colours(d, x, y, w, h))


def chroma(d, x, y, w, h, spread=24):
    return sum(1 for v in colours(d, x, y, w, h) if max(d.rgb(v)) - min(d.rgb(v)) > spread)


def png(d, out, x=0, y=0, w=None, h=None):
    x, y, w, h = d.clip(x, y, w or d.width, h or d.height)
    raw = bytearray()
    for yy in range(y, y + h):
        raw.append(0)  # filter: none
        for v in d.row(yy, x, w):
            raw.extend(d.rgb(v))

    def chunk(kind, body):
        c = kind + body
        return struct.pack(">I", len(body)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    with open(out, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(bytes(raw), 6)))
        f.write(chunk(b"IEND", b""))


def main(argv):
    if len(argv) >= 7 and argv[1] == "count":
        print(count(Dump(argv[2]), *map(int, argv[3:7])))
    elif len(argv) >= 7 and argv[1] == "chroma":
        print(chroma(Dump(argv[2]), *map(int, argv[3:7])))
    elif len(argv) in (4, 8) and argv[1] == "png":
        png(Dump(argv[2]), argv[3], *map(int, argv[4:8]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
