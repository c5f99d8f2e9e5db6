#!/usr/bin/env python3
"""Peer for `tagbench tags DIR --json`: tag occurrence the way the Python dataset tools compute it
when they open a folder (BooruDatasetTagManager, TagGUI, kohya's own ss_tag_frequency pass):
walk the tree, read every caption beside an image, split its first line on ',', strip, count with
collections.Counter. Standard library only, no tricks, so that the ratio measures the approach.

Prints the same JSON as tagbench (images per tag, by count descending then by name), so the two
outputs can be compared for equality before they are timed.

usage: peer_occurrence.py DIR [--caption_extension .txt]
"""
import collections
import json
import os
import sys

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def caption_paths(root, ext):
    """Caption files paired with an image, in tagbench's order; hidden entries skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        names = set(filenames)
        for name in sorted(filenames):
            stem, image_ext = os.path.splitext(name)
            if not name.startswith(".") and image_ext.lower() in IMAGE_EXTS and stem + ext in names:
                yield os.path.join(dirpath, stem + ext)


def count_tags(root, ext):
    counts = collections.Counter()
    for path in caption_paths(root, ext):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            line = f.readline()
        # a set: an image counts once per tag, as in tagbench (and every GUI tag list)
        counts.update({t.strip() for t in line.split(",")} - {""})
    return counts


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--caption_extension"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    ext = argv[3] if len(argv) == 4 else ".txt"
    ext = ext if ext.startswith(".") else "." + ext
    counts = count_tags(argv[1], ext)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode("utf-8", "surrogateescape")))
    json.dump([{"tag": t, "count": c} for t, c in rows], sys.stdout, indent="\t", ensure_ascii=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
