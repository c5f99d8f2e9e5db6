#!/usr/bin/env python3
"""Writes trainer/clip_tables.c: the Unicode and HTML facts the CLIP tokenizer's text cleaning needs
(trainer/clip_text.c), taken from this Python's unicodedata, str.lower(), html and codecs modules,
so that the C tokenizer treats text as openai/CLIP's simple_tokenizer does under Python.

    python3 tools/gen_clip_tables.py > trainer/clip_tables.c

What is generated:
  - clip_uc_runs: code point classes as runs (start << 8 | flags) over U+0000..U+10FFFF:
      L  = \\p{L} (category L*),  N = \\p{N} (category N*),  ND = Nd (what Python re's \\d matches),
      WS = the `regex` module's \\s (Unicode White_Space = str.isspace() less U+001C..U+001F),
      PYSPACE = str.isspace() (what str.strip() removes),
      CI / CASED = case-ignorable / cased-and-not-case-ignorable as str.lower() sees them when it
      decides between final and medial sigma (found by asking str.lower() itself).
  - clip_uc_ascii: the same flags for U+0000..U+007F, for speed.
  - clip_lower_runs: str.lower() for every code point that lowers to one other code point, as runs
      (start, count, stride, delta); U+0130 (lowers to two) and U+03A3 (final sigma) are handled in C.
  - clip_ftfy_map: ftfy.fix_text's character translations, composed in ftfy's order:
      fix_c1_controls (C1 controls as Windows-1252), fix_latin_ligatures, fix_character_width (NFKC of
      U+FF01..U+FFEF, U+3000 -> space), uncurl_quotes.
  - clip_html_entities: html.entities.html5 entries (as html.unescape uses them) for a chosen set of
      common names; clip_ftfy_entities: ftfy's own entity table (names ending in ';' plus its
      upper-cased variants) for the same names.
  - clip_invalid_charrefs / clip_invalid_codepoints: html.unescape's rules for numeric references.
"""
import codecs
import html
import html.entities
import sys
import unicodedata as ud

FLAG_L, FLAG_N, FLAG_WS, FLAG_PYSPACE, FLAG_CI, FLAG_CASED, FLAG_ND = 1, 2, 4, 8, 16, 32, 64

# ftfy 6.x chardata.LIGATURES (the Latin ligatures and digraphs it takes apart).
LIGATURES = {
    0x0132: "IJ", 0x0133: "ij", 0x0149: "\u02bcn", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
    0x01C4: "D\u017d", 0x01C5: "D\u017e", 0x01C6: "d\u017e", 0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj",
    0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi",
    0xFB04: "ffl", 0xFB05: "\u017ft", 0xFB06: "st",
}

# Entities the C side decodes: every legacy name html.unescape accepts without ';' (Latin-1 and
# amp/lt/gt/quot), plus common typographic ones. Others are left as written (a documented gap).
EXTRA_ENTITIES = """apos hellip mdash ndash lsquo rsquo sbquo ldquo rdquo bdquo bull trade euro dagger
Dagger permil prime Prime lsaquo rsaquo oelig OElig scaron Scaron Yuml fnof circ tilde ensp emsp thinsp
zwnj zwj lrm rlm larr rarr uarr darr harr hearts spades clubs diams star starf check cross
""".split()


def flags(c):
    ch = chr(c)
    cat = ud.category(ch)
    f = 0
    if cat[0] == "L":
        f |= FLAG_L
    if cat[0] == "N":
        f |= FLAG_N
    if cat == "Nd":
        f |= FLAG_ND
    if ch.isspace():
        f |= FLAG_PYSPACE
        if not 0x1C <= c <= 0x1F:
            f |= FLAG_WS
    # str.lower() turns U+03A3 into final sigma when a cased letter precedes it (skipping
    # case-ignorable ones) and none follows: ask it.
    after_cased = ("A" + ch + "\u03a3").lower().endswith("\u03c2")  # ignorable or cased
    alone = (ch + "\u03a3").lower().endswith("\u03c2")              # cased and not ignorable
    if after_cased and not alone:
        f |= FLAG_CI
    if alone:
        f |= FLAG_CASED
    return f


def lower_runs():
    runs = []
    for c in range(0x110000):
        low = chr(c).lower()
        if len(low) != 1 or low == chr(c):
            if len(low) != 1:
                assert c == 0x130, hex(c)  # the only code point lowering to two
            continue
        d = ord(low) - c
        if runs:
            s, n, st, dd = runs[-1]
            if dd == d and ((n == 1 and c - s in (1, 2)) or (n > 1 and c == s + n * st)):
                runs[-1] = (s, n + 1, c - s if n == 1 else st, d)
                continue
        runs.append((c, 1, 1, d))
    return runs


def ftfy_translate(text):
    out = []
    for ch in text:  # fix_c1_controls: sloppy Windows-1252 (undefined bytes stay as they are)
        c = ord(ch)
        if 0x80 <= c <= 0x9F:
            try:
                ch = bytes([c]).decode("cp1252")
            except UnicodeDecodeError:
                pass
        out.append(ch)
    text = "".join(out)
    text = "".join(LIGATURES.get(ord(ch), ch) for ch in text)
    width = {0x3000: " "}
    for c in range(0xFF01, 0xFFF0):
        alt = ud.normalize("NFKC", chr(c))
        if alt != chr(c):
            width[c] = alt
    text = "".join(width.get(ord(ch), ch) for ch in text)
    text = "".join("'" if ch == "\u02bc" or "\u2018" <= ch <= "\u201b" else
                   '"' if "\u201c" <= ch <= "\u201f" else ch for ch in text)
    return text


def ftfy_entities():
    """ftfy's HTML_ENTITIES, built the way ftfy builds it."""
    ents = {}
    for name, char in html.entities.html5.items():
        if name.endswith(";"):
            ents["&" + name] = char
            if name == name.lower():
                upper = "&" + name.upper()
                if html.unescape(upper) == upper:
                    ents[upper] = char.upper()
    return ents


def cps(s, width):
    assert len(s) <= width, s
    return "{" + ", ".join("0x%04X" % ord(ch) for ch in s) + "}"


def main():
    w = sys.stdout.write
    w("/* Generated by tools/gen_clip_tables.py with Python %s (Unicode %s); do not edit.\n"
      " * The facts behind the CLIP tokenizer's text cleaning: trainer/private/clip_text.h. */\n"
      % (sys.version.split()[0], ud.unidata_version))
    w('#include "trainer/private/clip_text.h"\n\n')

    runs, prev = [], None
    for c in range(0x110000):
        f = flags(c)
        if f != prev:
            runs.append((c, f))
            prev = f
    w("const uint32_t clip_uc_runs[] = {\n")
    for i in range(0, len(runs), 8):
        w("    " + " ".join("0x%08X," % (s << 8 | f) for s, f in runs[i:i + 8]) + "\n")
    w("};\nconst size_t clip_uc_n_runs = %d;\n\n" % len(runs))
    w("const uint8_t clip_uc_ascii[128] = {\n")
    for i in range(0, 128, 16):
        w("    " + " ".join("%d," % flags(c) for c in range(i, i + 16)) + "\n")
    w("};\n\n")

    lr = lower_runs()
    w("const clip_lower_run clip_lower_runs[] = {\n")
    for s, n, st, d in lr:
        w("    {0x%05X, %d, %d, %d},\n" % (s, n, st, d))
    w("};\nconst size_t clip_n_lower_runs = %d;\n\n" % len(lr))

    domain = set(range(0x80, 0xA0)) | set(LIGATURES) | set(range(0xFF01, 0xFFF0)) | {0x3000, 0x2BC}
    domain |= set(range(0x2018, 0x2020))
    fm = [(c, ftfy_translate(chr(c))) for c in sorted(domain)]
    fm = [(c, t) for c, t in fm if t != chr(c)]
    w("const clip_cp_map clip_ftfy_map[] = {\n")
    for c, t in fm:
        w("    {0x%04X, %s},\n" % (c, cps(t, 3)))
    w("};\nconst size_t clip_n_ftfy_map = %d;\n\n" % len(fm))

    legacy = {n for n in html.entities.html5 if not n.endswith(";")}
    names = legacy | set(EXTRA_ENTITIES)
    h5 = sorted((n, v) for n, v in html.entities.html5.items() if n.rstrip(";") in names)
    w("/* sorted by name (strcmp) */\nconst clip_entity clip_html_entities[] = {\n")
    for n, v in sorted(h5, key=lambda e: e[0].encode()):
        w('    {"%s", %s},\n' % (n, cps(v, 3)))
    w("};\nconst size_t clip_n_html_entities = %d;\n\n" % len(h5))

    low = {n.lower() for n in names}
    fe = [(k[1:], v) for k, v in ftfy_entities().items() if k[1:].rstrip(";").lower() in low]
    w("/* without the '&', sorted by name (strcmp) */\nconst clip_entity clip_ftfy_entities[] = {\n")
    for n, v in sorted(fe, key=lambda e: e[0].encode()):
        w('    {"%s", %s},\n' % (n, cps(v, 3)))
    w("};\nconst size_t clip_n_ftfy_entities = %d;\n\n" % len(fe))

    w("const clip_cp_map clip_invalid_charrefs[] = {\n")
    for c, t in sorted(html._invalid_charrefs.items()):
        w("    {0x%02X, %s},\n" % (c, cps(t, 3)))
    w("};\nconst size_t clip_n_invalid_charrefs = %d;\n\n" % len(html._invalid_charrefs))

    ranges = []
    for c in sorted(html._invalid_codepoints):
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    w("/* {first, last}: numeric references html.unescape drops */\n"
      "const uint32_t clip_invalid_codepoints[][2] = {\n")
    for a, b in ranges:
        w("    {0x%05X, 0x%05X},\n" % (a, b))
    w("};\nconst size_t clip_n_invalid_codepoints = %d;\n" % len(ranges))


if __name__ == "__main__":
    main()
