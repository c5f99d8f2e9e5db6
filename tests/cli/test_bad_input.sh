#!/bin/sh
# Hostile and broken input: corrupt, truncated, empty and bomb images; captions that are folders,
# FIFOs, read-only or unreadable; symlink loops; a disk that fills during a save; captions changed
# by another program; empty and missing datasets; names and captions holding terminal escapes.
# Each must give a precise message naming the file, never hang, and never leave a caption
# half-written or lost.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# ---- images ----

test_zero_byte_image_named_with_reason() {
    item d/1_x/a 'x\n'
    : >d/1_x/z.png
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "bad-image        1_x/z.png:"
    expect_contains "$out" "bad-image        1_x/z.png: empty file (0 bytes)"
    tb summary d
    expect_eq "$rc" 0 "summary exit status"
    expect_contains "$out" "unreadable (1)"
}

test_truncated_png_header_named_with_reason() {
    head -c 20 "$PNG_DIR/0001.png" >t.png
    png d/1_x/a.png
    mv t.png d/1_x/t.png
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "bad-image        1_x/t.png: PNG header truncated (the file is 20 bytes)"
}

test_truncated_png_data_found_by_decode() {
    head -c 300 "$PNG_DIR/0001.png" >t.png
    mkdir -p d/1_x && mv t.png d/1_x/t.png
    tb check d --decode
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "bad-image        1_x/t.png: truncated PNG: the 'IDAT' chunk"
    expect_contains "$out" "file ends at byte 300"
}

test_garbage_with_image_name_named_with_reason() {
    capf d/1_x/g.jpg 'GIF89a not really\n'
    capf d/1_x/h.png 'hello\n'
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "bad-image        1_x/g.jpg: a GIF image; only PNG, JPEG, BMP and WebP are read"
    expect_contains "$out" "bad-image        1_x/h.png: not an image (the content is not PNG, JPEG, BMP or WebP)"
}

test_bomb_header_refused_without_allocating() {
    bomb_png d/1_x/b.png
    capf d/1_x/b.txt 'x\n'
    if is_asan; then
        echo "  NOTE $cli_name: ASan build, running without ulimit -v" >&2
        tb check d --decode
    else
        run sh -c 'ulimit -v 1000000 && exec "$0" check d --decode' "$TAGBENCH"
        san_clean
    fi
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "bad-image        1_x/b.png: declared size 100000x100000 exceeds the 178956970-pixel limit; refusing to decode"
    tb summary d
    expect_eq "$rc" 0 "summary exit status"
    expect_contains "$out" "unreadable (1)"
}

test_image_that_is_a_fifo_does_not_hang() {
    item d/1_x/a 'x\n'
    mkfifo d/1_x/p.png
    TB_LIMIT=10 tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "1_x/p.png" "check output"
    TB_LIMIT=10 tb summary d
    expect_eq "$rc" 0 "summary exit status"
}

# ---- captions that are not plain files ----

test_caption_that_is_a_directory() {
    item d/1_x/a 'x\n'
    png d/1_x/dir.png
    mkdir d/1_x/dir.txt
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "unreadable       1_x/dir.txt: not a regular file"
    tb edit d --add y
    expect_eq "$rc" 0 "edit exit status"
    expect_contains "$out" "; some skipped: unreadable caption"
    [ -d d/1_x/dir.txt ] || fail "the folder dir.txt was replaced"
    expect_file d/1_x/a.txt 'x, y\n'
}

test_caption_that_is_a_fifo_does_not_hang() {
    item d/1_x/a 'x\n'
    png d/1_x/f.png
    mkfifo d/1_x/f.txt
    TB_LIMIT=20 tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "1_x/f.txt: not a regular file"
    TB_LIMIT=20 tb tags d
    expect_eq "$rc" 0 "tags exit status"
    TB_LIMIT=20 tb edit d --add y
    expect_eq "$rc" 0 "edit exit status"
    [ -p d/1_x/f.txt ] || fail "the FIFO f.txt was replaced"
    expect_file d/1_x/a.txt 'x, y\n'
}

test_unreadable_caption_is_reported() {
    if [ "$(id -u)" -eq 0 ]; then
        echo "  SKIP $cli_name: running as root, which reads a mode-000 file anyway" >&2
        return
    fi
    item d/1_x/a 'x\n'
    item d/1_x/u 'secret\n'
    chmod 000 d/1_x/u.txt
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "1_x/u.txt: cannot open: Permission denied"
    tb edit d --add y
    chmod 644 d/1_x/u.txt
    expect_file d/1_x/u.txt 'secret\n'
}

test_oversized_caption_is_refused_not_edited() {
    item d/1_x/a 'x\n'
    png d/1_x/big.png
    head -c 2000000 /dev/zero | tr '\0' 'a' >d/1_x/big.txt
    cp d/1_x/big.txt big.orig
    tb check d
    expect_eq "$rc" 1 "exit status"
    expect_contains "$out" "1_x/big.txt: 2000000 bytes is too large (the limit is 1048576)"
    tb edit d --add y
    cmp -s d/1_x/big.txt big.orig || fail "the oversized caption was rewritten"
}

# ---- folders ----

test_symlink_loop_is_noted_without_hanging() {
    item d/1_x/a 'x\n'
    item d/1_x/sub/b 'y\n'
    ln -s .. d/1_x/sub/loop
    ln -s . d/self
    TB_LIMIT=20 tb check d
    expect_contains "$out" "skipped          1_x/sub/loop: symlink loop: this folder contains itself"
    expect_contains "$out" "skipped          self: symlink loop"
    TB_LIMIT=20 tb summary d
    expect_eq "$rc" 0 "summary exit status"
    expect_contains "$out" "d: 2 images, 2 with a .txt caption"
    TB_LIMIT=20 tb edit d --add z
    expect_eq "$rc" 0 "edit exit status"
    expect_file d/1_x/sub/b.txt 'y, z\n'
}

test_empty_dataset() {
    mkdir d
    tb summary d
    expect_eq "$rc" 0 "summary exit status"
    expect_contains "$out" "d: 0 images, 0 with a .txt caption"
    tb tags d
    expect_eq "$rc" 0 "tags exit status"
    expect_eq "$out" " images  share  tag" "tags output"
    tb check d
    expect_eq "$rc" 1 "check exit status"
    expect_contains "$out" "error   no-images        .: no images found"
    tb edit d --add x
    expect_eq "$out" "0 of 0 selected image(s) changed, 0 caption(s) saved" "edit output"
    [ -e d/.tagbench ] && fail "edit of an empty dataset left .tagbench"
}

test_nonexistent_dir_is_named() {
    for cmd in summary tags check recover; do
        tb $cmd no-such-dir
        expect_eq "$rc" 1 "exit status of $cmd"
        expect_eq "$err" "tagbench $cmd: no-such-dir: No such file or directory" "stderr of $cmd"
    done
    tb edit no-such-dir --add x
    expect_eq "$rc" 1 "exit status of edit"
    expect_eq "$err" "tagbench edit: no-such-dir: No such file or directory" "stderr of edit"
    tb no-such-dir
    expect_eq "$rc" 2 "exit status of tagbench no-such-dir"
    expect_contains "$err" 'unknown command or folder "no-such-dir"'
}

# ---- saving ----

test_read_only_caption_untouched() {
    item d/a 'red, a\n'
    item d/b 'red, b\n'
    chmod 0444 d/b.txt
    tb edit d --add x
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "tagbench edit: d/b.txt: is read-only"
    expect_file d/b.txt 'red, b\n'
    expect_eq "$(stat -c %a d/b.txt)" 444 "mode"
    expect_file d/a.txt 'red, a, x\n'
    expect_eq "$(find d -name '*tagbench-*')" "" "temporary files"
}

test_caption_changed_by_another_program_is_kept_aside() {
    item d/a 'red, a\n'
    item d/b 'red, b\n'
    make_journal d x d/b.txt
    capf d/b.txt 'edited elsewhere\n'
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$err" "b.txt: the caption changed on disk after the edit was made"
    expect_file d/b.txt 'edited elsewhere\n'
    expect_file d/b.txt.tagbench-recovered 'red, b, x\n'
}

test_crafted_journal_cannot_write_outside_the_dataset() {
    # a dataset downloaded with a .tagbench/journal.jsonl in it: `tagbench recover` (which summary
    # suggests) must not write where the journal's "file" points outside DIR
    item d/a 'x\n'
    mkdir -p d/.tagbench out
    printf '{"file":"../out/evil.txt","base":null,"text":"pwned\\n"}\n' >d/.tagbench/journal.jsonl
    tb recover d --dry-run
    tb recover d
    expect_eq "$(ls -A out)" "" "files written outside the dataset"
    expect_file d/a.txt 'x\n'
}

# unshare flags that give a private mount namespace where tmpfs can be mounted, or "" if none.
mount_ns() {
    mkdir -p probe
    for u in "-m" "-rm"; do
        if unshare $u sh -c 'mount -t tmpfs -o size=64k tmpfs probe' 2>/dev/null; then
            echo "$u"
            return
        fi
    done
}

test_disk_full_during_save_leaves_whole_captions() {
    command -v unshare >/dev/null || { echo "  SKIP $cli_name: no unshare(1)" >&2; return; }
    u=$(mount_ns)
    [ -n "$u" ] || { echo "  SKIP $cli_name: cannot mount a tmpfs here (no privilege)" >&2; return; }
    long=$(printf 'long%.0s' $(seq 1 60))
    cat >full.sh <<'EOF'
set -u
mount -t tmpfs -o size=256k tmpfs mnt || exit 99
mkdir mnt/d old new
for i in 1 2 3 4 5 6 7 8; do
    cp "$PNG_DIR/0001.png" mnt/d/$i.png
    printf 'tag%s, x\n' $i >mnt/d/$i.txt
    printf 'tag%s, x\n' $i >old/$i.txt
    printf 'tag%s, x, %s\n' $i "$LONG" >new/$i.txt
done
dd if=/dev/zero of=mnt/filler bs=4096 2>/dev/null
truncate -s -$((3 * $(getconf PAGESIZE))) mnt/filler
"$TAGBENCH" edit mnt/d --add "$LONG" >edit.out 2>edit.err
echo $? >edit.rc
mkdir after && cp mnt/d/*.txt after/
ls -A mnt/d >listing
rm mnt/filler
"$TAGBENCH" recover mnt/d >recover.out 2>recover.err
echo $? >recover.rc
mkdir recovered && cp mnt/d/*.txt recovered/
ls -A mnt/d >listing.recovered
EOF
    mkdir mnt
    PNG_DIR=$PNG_DIR LONG=$long unshare $u sh full.sh || { fail "scenario failed: $?"; return; }
    expect_eq "$(cat edit.rc)" 1 "edit exit status on a full disk"
    expect_contains "$(cat edit.err)" "No space left on device"
    err=$(cat edit.err recover.err) && san_clean
    n_new=0
    for i in 1 2 3 4 5 6 7 8; do
        if cmp -s after/$i.txt new/$i.txt; then n_new=$((n_new + 1))
        else cmp -s after/$i.txt old/$i.txt || fail "$i.txt is neither old nor new: $(od -c after/$i.txt | head -n 3)"
        fi
    done
    [ "$n_new" -lt 8 ] || fail "the disk never filled: every caption was written"
    expect_eq "$(grep -c tagbench- listing)" 0 "temporary files after the failed save"
    expect_eq "$(cat recover.rc)" 0 "recover exit status once space is free"
    for i in 1 2 3 4 5 6 7 8; do
        cmp -s recovered/$i.txt new/$i.txt || fail "$i.txt not recovered: $(head -c 40 recovered/$i.txt)"
    done
    expect_eq "$(grep -c tagbench listing.recovered)" 0 "left-overs after recover"
}

# ---- names and text that could drive the terminal ----

# A dataset whose file and folder names hold a space, a newline and ESC sequences.
mk_odd_names() {
    item "d/1_x/a b" 'red\n'
    png "d/1_x/n
l.png"
    item "d/1_x/e${ESC}[31m" 'x\n'
    capf "d/1_x/or${ESC}]0;t${BEL}.txt" 'x\n'
    item "d/2_${ESC}[2Jz/q" 'y\n'
}

test_odd_names_are_escaped_in_every_output() {
    mk_odd_names
    for args in "summary d" "tags d --by-folder" "check d" "check d --json" "tags d --by-folder --kohya" \
        "edit d --add z --dry-run"; do
        tb $args
        expect_no_byte "$out$err" "$ESC" "output of $args"
        expect_no_byte "$out$err" "$BEL" "output of $args"
    done
    tb check d
    expect_contains "$out" '1_x/n\nl.png' "newline shown escaped"
    expect_contains "$out" '1_x/or\x1b]0;t\x07.txt' "ESC and BEL shown escaped"
    tb tags d --by-folder
    expect_contains "$out" '2_\x1b[2Jz  (2 repeats, class "\x1b[2Jz")' "folder name shown escaped"
}

test_odd_names_are_edited_correctly() {
    mk_odd_names
    tb edit d --add z
    expect_eq "$rc" 0 "exit status"
    expect_file "d/1_x/a b.txt" 'red, z\n'
    expect_file "d/1_x/e${ESC}[31m.txt" 'x, z\n'
    expect_file "d/1_x/n
l.txt" 'z\n'
    expect_file "d/1_x/or${ESC}]0;t${BEL}.txt" 'x\n'
}

test_caption_escape_sequence_never_reaches_the_terminal() {
    item d/1_x/a 'evil\033]0;pwned\007, ok\033[2J\n'
    item d/1_x/b 'ok\n'
    for args in "summary d" "tags d" "tags d --by-folder" "check d" "edit d --add z --dry-run"; do
        tb $args
        expect_no_byte "$out$err" "$ESC" "output of $args"
        expect_no_byte "$out$err" "$BEL" "output of $args"
    done
    tb tags d
    expect_contains "$out" 'evil\x1b]0;pwned\x07' "tag shown escaped"
}

test_dir_name_with_esc_escaped_in_summary_hint() {
    D="d${ESC}[31m"
    mk_abc "$D"
    make_journal "$D" x "$D/b.txt"
    tb summary "$D"
    expect_contains "$out" "tagbench recover" "summary"
    expect_no_byte "$out" "$ESC" "summary output"
}

test_dir_name_with_esc_escaped_in_edit_save_message() {
    D="d${ESC}[31m"
    mk_abc "$D"
    chmod 0444 "$D/b.txt"
    tb edit "$D" --add x
    chmod 0644 "$D/b.txt"
    expect_eq "$rc" 1 "exit status"
    expect_no_byte "$err" "$ESC" "edit stderr"
}

test_dir_name_with_esc_escaped_in_recover_output() {
    D="d${ESC}[31m"
    mk_abc "$D"
    tb recover "$D"
    expect_contains "$out" "nothing to recover"
    expect_no_byte "$out" "$ESC" "recover output"
}

test_non_utf8_name_is_escaped() {
    png "d/1_x/bad$(printf '\377')name.png"
    tb check d
    expect_contains "$out" 'missing-caption  1_x/bad\xffname.png' "invalid byte shown escaped"
    tb summary d
    expect_eq "$rc" 0 "summary exit status"
}

run_tests
