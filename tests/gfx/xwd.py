#!/usr/bin/env python3
"""Reads an X window dump (xwd -root) without ImageMagick.

  xwd.py count FILE X Y W H      number of distinct colours in the box
  xwd.py chroma FILE X Y W H     the same, counting only clearly coloured (non-grey) ones:
                                 antialiased text has hundreds of greys, an image has hues
  xwd.py near FILE R G B TOL X Y W H
                                 number of pixels in the box within TOL of the colour R G B
                                 (each channel): how much of an image's colour is on screen
  xwd.py dominant FILE X Y W H   the commonest clearly coloured colour in the box, how many
                                 pixels have it and where they are: "R G B N X0 Y0 X1 Y1"
                                 (X1 Y1 exclusive; "0 0 0 0 0 0 0 0" when there is none)
  xwd.py png FILE OUT [X Y W H]  the screen (or the box) as a PNG, to look at

Only the format Xvfb produces at depth 24 is handled: ZPixmap, 32 bits per pixel, direct colour
with 8-bit masks; byte order from the header.
"""
import collections
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
            raise SystemExit(f"{path}: unsupported xwd (version {version}, format {fmt}, "
                             f"{bpp} bpp)")
        self.width, self.height, self.stride = width, height, bytes_per_line
        self.order = "<" if byte_order == 0 else ">"
        start = header_size + 12 * ncolors
        self.pixels = data[start : start + bytes_per_line * height]
        self.shifts = [(m & -m).bit_length() - 1 for m in self.masks]
        self.colour_bits = self.masks[0] | self.masks[1] | self.masks[2]

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
    return set(histogram(d, *d.clip(x, y, w, h)))


def count(d, x, y, w, h):
    return len(colours(d, x, y, w, h))


def chroma(d, x, y, w, h, spread=24):
    return sum(1 for v in colours(d, x, y, w, h) if max(d.rgb(v)) - min(d.rgb(v)) > spread)


def histogram(d, x, y, w, h):
    """{pixel value: how many} in the box (already clipped). Values are masked to the colour
    bits: Xvfb leaves the unused top byte 0 or 0xff for the same colour."""
    raw = collections.Counter()
    for yy in range(y, y + h):
        raw.update(d.row(yy, x, w))
    counts = collections.Counter()
    for v, n in raw.items():
        counts[v & d.colour_bits] += n
    return counts


def near(d, rgb, tol, x, y, w, h):
    counts = histogram(d, *d.clip(x, y, w, h))
    return sum(n for v, n in counts.items()
               if all(abs(a - b) <= tol for a, b in zip(d.rgb(v), rgb)))


def dominant(d, x, y, w, h, spread=24):
    x, y, w, h = d.clip(x, y, w, h)
    counts = histogram(d, x, y, w, h)
    coloured = [(n, v) for v, n in counts.items() if max(d.rgb(v)) - min(d.rgb(v)) > spread]
    if not coloured:
        return (0,) * 8
    n, best = max(coloured)
    x0, y0, x1, y1 = x + w, y + h, x, y
    for yy in range(y, y + h):
        row = [v & d.colour_bits for v in d.row(yy, x, w)]
        if best in row:
            xs = [i for i, v in enumerate(row) if v == best]
            x0, x1 = min(x0, x + xs[0]), max(x1, x + xs[-1] + 1)
            y0, y1 = min(y0, yy), yy + 1
    return (*d.rgb(best), n, x0, y0, x1, y1)


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
    elif len(argv) >= 11 and argv[1] == "near":
        r, g, b, tol, x, y, w, h = map(int, argv[3:11])
        print(near(Dump(argv[2]), (r, g, b), tol, x, y, w, h))
    elif len(argv) >= 7 and argv[1] == "dominant":
        print(*dominant(Dump(argv[2]), *map(int, argv[3:7])))
    elif len(argv) in (4, 8) and argv[1] == "png":
        png(Dump(argv[2]), argv[3], *map(int, argv[4:8]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
