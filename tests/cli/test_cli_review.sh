#!/bin/sh
# Cases found in review: each once lost or misdirected an edit, or hid a file from the user.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# a.jpg and a.png would share a.txt even when it does not exist yet: one of them is left out,
# so an edit writes a.txt once and reports no false conflict.
test_shared_stem_without_caption_is_skipped() {
    png d/1_x/a.png
    cp "$PNG_DIR/0002.png" d/1_x/a.jpg
    tb edit d --add foo
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(cat d/1_x/a.txt)" "foo" "a.txt"
    [ -e d/.tagbench ] && fail "a journal was left behind"
    tb check d
    expect_contains "$out" "shares its caption file"
}

# Two recoveries that both conflict on one caption keep both edited texts.
test_second_conflicting_recovery_keeps_the_first() {
    mk_abc d
    make_journal d FIRST d/b.txt
    capf d/b.txt 'changed outside\n'
    tb recover d
    make_journal d SECOND d/b.txt
    capf d/b.txt 'changed again\n'
    tb recover d
    expect_contains "$(cat d/b.txt.tagbench-recovered)" "FIRST"
    expect_contains "$(cat d/b.txt.tagbench-recovered.1)" "SECOND"
}

# A journal entry whose text is already on disk (saved, then the process died before the journal
# was updated) is no conflict.
test_replay_of_a_saved_edit_is_no_conflict() {
    mk_abc d
    make_journal d x d/b.txt
    cp d/b.txt keep
    python3 -c "import json;l=json.loads(open('d/.tagbench/journal.jsonl').readline());open('d/b.txt','w').write(l['text'])"
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "0 kept aside"
    [ -e d/b.txt.tagbench-recovered ] && fail "a saved edit was kept aside as a conflict"
}

# A tag spelled with glob characters is removed by its own name.
test_remove_literal_tag_with_brackets() {
    item d/a 'hat [red], hat r, what?, whats\n'
    tb edit d --remove 'hat [red]' --remove 'what?'
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(cat d/a.txt)" "hat r, whats" "caption"
}

# --kohya --top N keeps the N most frequent tags of each folder.
test_kohya_top_keeps_most_frequent() {
    item d/1_x/a 'rare, common\n'
    item d/1_x/b 'common\n'
    tb tags d --by-folder --kohya --json --top 1
    expect_eq "$(json_eval 'd')" "{'1_x': {'common': 2}}" "top 1"
}

# Images in formats we do not read are listed, not silently ignored.
test_unsupported_image_formats_are_noted() {
    item d/1_x/a 'a\n'
    capf d/1_x/p.gif 'GIF89a'
    capf d/1_x/p.txt 'p\n'
    tb check d
    expect_contains "$out" "1_x/p.gif: image format not supported"
}

# A caption holding NUL bytes (UTF-16) is shown as unreadable and never rewritten.
test_caption_with_nul_bytes_is_locked() {
    png d/a.png
    printf '\377\376a\000,\000 \000b\000' >d/a.txt
    cp d/a.txt before
    tb edit d --add x
    cmp -s d/a.txt before || fail "a UTF-16 caption was rewritten"
    tb check d
    expect_contains "$out" "NUL bytes"
}

# summary lists image sizes most common first, not in the order the images come.
test_summary_sizes_most_common_first() {
    png d/1_x/a.png
    python3 - <<'PY'
import struct, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
for i in range(3):
    raw = b"".join(b"\0" + b"\0" * 300 for _ in range(50))
    open("d/1_x/w%d.png" % i, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100, 50, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
    tb summary d
    expect_contains "$out" "image sizes: 100x50 (3) 64x64 (1)"
}

run_tests
