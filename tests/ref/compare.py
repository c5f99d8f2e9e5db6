#!/usr/bin/env python3
"""Compares two safetensors files tensor by tensor, for checking `tagbench model` output against
the reference by hand (the C tests have their own comparer).

    python3 tests/ref/compare.py GOT.safetensors EXPECTED.safetensors [--rtol R] [--atol A]
        [--only PREFIX] [--all] [--quiet]

A tensor matches when max|got - expected| <= atol + rtol * max|expected| (per tensor: the error
is measured against the tensor's scale, so that near-zero elements, e.g. the exactly-zero
gradient of CLIP's k_proj.bias, do not fail on rounding noise). Also printed: the element-wise
max relative error over elements with |expected| > 1e-3 * max|expected| (informative only).
Names present in only one file, or different shapes, are mismatches. Exit status 0 when all
match, 1 otherwise, 2 on a bad file.

Runs on any python3 (numpy if present, else the standard library; the latter is slow beyond a
few million elements).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io as st  # noqa: E402


def stats(a, b):
    """(max |a-b|, max |b|, element-wise max rel over |b| > 1e-3 max|b|, any non-finite)."""
    try:
        import numpy as np
        a, b = np.asarray(a), np.asarray(b)
        bad = not (np.isfinite(a).all() and np.isfinite(b).all())
        if a.size == 0:
            return 0.0, 0.0, 0.0, bad
        d = np.abs(a - b)
        scale = float(np.abs(b).max())
        big = np.abs(b) > 1e-3 * scale
        rel = float((d[big] / np.abs(b[big])).max()) if big.any() else 0.0
        return float(d.max()), scale, rel, bad
    except ImportError:
        import math
        bad = not all(math.isfinite(x) for x in a) or not all(math.isfinite(x) for x in b)
        scale = max((abs(x) for x in b), default=0.0)
        dmax, rel = 0.0, 0.0
        for x, y in zip(a, b):
            d = abs(x - y)
            dmax = max(dmax, d)
            if abs(y) > 1e-3 * scale:
                rel = max(rel, d / abs(y))
        return dmax, scale, rel, bad


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("got")
    ap.add_argument("expected")
    ap.add_argument("--rtol", type=float, default=1e-3, help="relative to max|expected| (1e-3)")
    ap.add_argument("--atol", type=float, default=1e-5, help="absolute floor (1e-5)")
    ap.add_argument("--only", help="compare only names starting with this")
    ap.add_argument("--all", action="store_true", help="print every tensor, not only mismatches")
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    a = ap.parse_args(argv)
    try:
        fg, fe = st.File(a.got), st.File(a.expected)
    except (OSError, st.SafetensorsError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    keep = (lambda n: n.startswith(a.only)) if a.only else (lambda n: True)
    names_g, names_e = set(filter(keep, fg.names)), set(filter(keep, fe.names))
    bad = 0
    for n in sorted(names_e - names_g):
        bad += 1
        if not a.quiet:
            print(f"MISSING  {n} (only in {a.expected})")
    for n in sorted(names_g - names_e):
        bad += 1
        if not a.quiet:
            print(f"EXTRA    {n} (only in {a.got})")
    worst = (0.0, "")
    for n in sorted(names_g & names_e):
        (dg, sg, bg), (de, se, be) = fg.raw(n), fe.raw(n)
        if sg != se:
            bad += 1
            print(f"SHAPE    {n}: {sg} vs {se}")
            continue
        dmax, scale, rel, nonfinite = stats(st.to_floats(dg, bg), st.to_floats(de, be))
        ok = not nonfinite and dmax <= a.atol + a.rtol * scale
        r = dmax / scale if scale > 0 else (0.0 if dmax == 0 else float("inf"))
        if scale > 1e-6:
            worst = max(worst, (r, n))
        if not ok:
            bad += 1
        if (not ok or a.all) and not a.quiet:
            print(f"{'ok      ' if ok else 'MISMATCH'} {n} {sg}: max|d| {dmax:.3e}  max|exp| {scale:.3e}"
                  f"  max|d|/max|exp| {r:.3e}  elem rel {rel:.3e}{'  NON-FINITE' if nonfinite else ''}")
    total = len(names_g | names_e)
    print(f"{total - bad}/{total} tensors match (rtol {a.rtol:g}, atol {a.atol:g}; "
          f"{len(names_e - names_g)} missing, {len(names_g - names_e)} extra); "
          f"worst max|d|/max|exp| {worst[0]:.3e} {worst[1]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
