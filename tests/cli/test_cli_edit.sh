#!/bin/sh
# `tagbench edit DIR [--filter EXPR] OPERATION... [--dry-run]`: every operation through the CLI,
# filters, order of operations, the dry-run diff, what a real edit keeps of each file (CRLF, BOM,
# final newline, extra lines, mode, untouched neighbours), usage errors and a pending journal.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# ---- each operation ----

test_add_appends_only_where_missing() {
    item d/a 'red, a\n'
    item d/b 'blue, red\n'
    tb edit d --add blue
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "1 of 2 selected image(s) changed, 1 caption(s) saved" "summary line"
    expect_file d/a.txt 'red, a, blue\n'
    expect_file d/b.txt 'blue, red\n'
}

test_prepend_puts_tag_first_moving_it() {
    item d/a 'red, a\n'
    item d/b 'x, trigger, y\n'
    tb edit d --prepend trigger
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'trigger, red, a\n'
    expect_file d/b.txt 'trigger, x, y\n'
}

test_remove_glob_pattern() {
    item d/a 'red, rose, blue, r\n'
    tb edit d --remove 'r*'
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'blue\n'
}

test_remove_exact_tag_trims_argument() {
    item d/a 'red, red car, blue\n'
    tb edit d --remove ' red '
    expect_file d/a.txt 'red car, blue\n'
}

test_rename_and_merge_into_existing_tag() {
    item d/a 'cat, kitty, grey\n'
    item d/b 'kitty, grey\n'
    item d/c 'grey, cat\n'
    tb edit d --rename kitty cat
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "2 of 3 selected image(s) changed, 2 caption(s) saved" "summary line"
    expect_file d/a.txt 'cat, grey\n'
    expect_file d/b.txt 'cat, grey\n'
    expect_file d/c.txt 'grey, cat\n'
}

test_rename_merge_keeps_the_first_position() {
    item d/a 'grey, cat, kitty\n'
    tb edit d --rename kitty cat
    expect_file d/a.txt 'grey, cat\n'
    item e/a 'kitty, grey, cat\n'
    tb edit e --rename kitty cat
    expect_file e/a.txt 'cat, grey\n'
}

test_replace_regex_with_group_reference() {
    item d/a 'red hair, blue hair, hat\n'
    tb edit d --replace '^(.*) hair$' 'hair (\1)'
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'hair (red), hair (blue), hat\n'
}

test_replace_every_match_and_drop_emptied_tags() {
    item d/a 'a_b_c, xx, keep\n'
    tb edit d --replace '_' ' ' --replace '^x+$' ''
    expect_file d/a.txt 'a b c, keep\n'
}

test_move_to_front_keeps_relative_order() {
    item d/a 'one, blue sky, two, blue eyes, three\n'
    tb edit d --move-to-front 'blue*'
    expect_file d/a.txt 'blue sky, blue eyes, one, two, three\n'
}

test_sort_name_with_keep() {
    item d/a 'trigger, zeta, Beta, alpha\n'
    tb edit d --sort name --keep 1
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'trigger, Beta, alpha, zeta\n'
    tb edit d --sort name
    expect_file d/a.txt 'Beta, alpha, trigger, zeta\n'
}

test_sort_count_uses_dataset_frequency() {
    item d/a 'rare, common, mid\n'
    item d/b 'common, mid\n'
    item d/c 'common\n'
    tb edit d --sort count
    expect_file d/a.txt 'common, mid, rare\n'
    expect_file d/b.txt 'common, mid\n'
}

test_dedup_keeps_first() {
    item d/a 'b, a, b, c, a\n'
    tb edit d --dedup
    expect_file d/a.txt 'b, a, c\n'
}

test_underscores_spare_short_tags() {
    item d/a 'long_hair, ^_^, a_b, x_y_z\n'
    tb edit d --underscores
    expect_file d/a.txt 'long hair, ^_^, a_b, x y z\n'
}

test_lowercase_ascii() {
    item d/a 'Red Hair, BLUE, caf\303\251 \303\211T\303\211\n'
    tb edit d --lowercase
    expect_file d/a.txt 'red hair, blue, caf\303\251 \303\211t\303\211\n'
}

test_escape_parens_once() {
    item d/a 'foo (bar), \\(done\\), plain\n'
    tb edit d --escape-parens
    expect_file d/a.txt 'foo \\(bar\\), \\(done\\), plain\n'
    tb edit d --escape-parens
    expect_eq "$out" "0 of 1 selected image(s) changed, 0 caption(s) saved" "second escape changes nothing"
}

test_operations_apply_in_the_order_given() {
    item d/a 'a\n'
    item e/a 'a\n'
    tb edit d --add x --rename x y
    expect_file d/a.txt 'a, y\n'
    tb edit e --rename x y --add x
    expect_file e/a.txt 'a, x\n'
}

test_many_operations_one_command() {
    item d/a 'Long_Hair, smile, smile, (hat)\n'
    tb edit d --lowercase --underscores --dedup --escape-parens --prepend sks --sort name --keep 1
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'sks, \\(hat\\), long hair, smile\n'
}

test_unchanged_captions_write_nothing() {
    mk_abc d
    tree_state d >before
    tb edit d --add red
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "0 of 3 selected image(s) changed, 0 caption(s) saved" "summary line"
    tree_state d >after
    cmp -s before after || fail "an edit that changes nothing changed the dataset"
}

test_quiet_prints_no_summary() {
    mk_abc d
    tb edit d --add x --quiet
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "" "stdout"
    expect_file d/a.txt 'red, a, x\n'
}

# ---- filters ----

test_filter_and_not() {
    item d/a 'red, large\n'
    item d/b 'red, small\n'
    item d/c 'blue, small\n'
    tb edit d --filter 'red & !large' --add hit
    expect_eq "$out" "1 of 1 selected image(s) changed, 1 caption(s) saved" "summary line"
    expect_file d/a.txt 'red, large\n'
    expect_file d/b.txt 'red, small, hit\n'
    expect_file d/c.txt 'blue, small\n'
}

test_filter_or_binds_looser_than_and() {
    item d/a 'red\n'
    item d/b 'blue, small\n'
    item d/c 'blue\n'
    tb edit d --filter 'red | blue & small' --add hit
    expect_file d/a.txt 'red, hit\n'
    expect_file d/b.txt 'blue, small, hit\n'
    expect_file d/c.txt 'blue\n'
    tb edit d --filter '(red | blue) & !small' --add two
    expect_file d/a.txt 'red, hit, two\n'
    expect_file d/c.txt 'blue, two\n'
    expect_file d/b.txt 'blue, small, hit\n'
}

test_filter_quoted_tag_with_operator_characters() {
    item d/a 'rock & roll, guitar\n'
    item d/b 'rock, roll\n'
    tb edit d --filter '"rock & roll"' --add hit
    expect_eq "$out" "1 of 1 selected image(s) changed, 1 caption(s) saved" "summary line"
    expect_file d/a.txt 'rock & roll, guitar, hit\n'
    expect_file d/b.txt 'rock, roll\n'
}

test_filter_glob_and_substring() {
    item d/a 'blue sky\n'
    item d/b 'sky blue\n'
    item d/c 'green\n'
    tb edit d --filter 'blue*' --add g
    expect_file d/a.txt 'blue sky, g\n'
    expect_file d/b.txt 'sky blue\n'
    tb edit d --filter '~blue' --add s
    expect_file d/a.txt 'blue sky, g, s\n'
    expect_file d/b.txt 'sky blue, s\n'
    expect_file d/c.txt 'green\n'
}

test_filter_syntax_error_exits_2_with_column() {
    mk_abc d
    tree_state d >before
    tb edit d --filter 'red & (blue' --add x
    expect_eq "$rc" 2 "exit status"
    expect_contains "$err" "--filter: column"
    tree_state d >after
    cmp -s before after || fail "a bad filter changed the dataset"
}

# ---- --dry-run ----

test_dry_run_prints_a_unified_diff() {
    item d/a 'red, blue\nsecond line\n'
    item d/b 'same\n'
    tb edit d --filter red --add new --dry-run
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "--- a/a.txt
+++ b/a.txt
@@ -1,2 +1,2 @@
-red, blue
+red, blue, new
 second line" "diff"
    expect_eq "$err" "1 of 1 selected image(s) would change (dry run, nothing written)" "stderr"
}

test_dry_run_marks_a_missing_final_newline() {
    item d/a 'red, blue'
    tb edit d --add new --dry-run
    expect_eq "$out" '--- a/a.txt
+++ b/a.txt
@@ -1,1 +1,1 @@
-red, blue
\ No newline at end of file
+red, blue, new
\ No newline at end of file' "diff"
}

test_dry_run_new_caption_diffs_against_dev_null() {
    png d/a.png
    tb edit d --add first --dry-run
    expect_eq "$out" "--- /dev/null
+++ b/a.txt
@@ -0,0 +1,1 @@
+first" "diff"
    [ -e d/a.txt ] && fail "dry run created the caption"
}

test_dry_run_changes_no_file() {
    mk_two_folders d
    capf d/10_cat/a.txt '\357\273\277Red, red\r\nmore\r\n'
    tree_state d >before
    tb edit d --add x --lowercase --dedup --rename red rose --dry-run
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "+++ b/10_cat/a.txt"
    tree_state d >after
    cmp -s before after || fail "dry run changed the dataset: $(diff before after)"
    [ -e d/.tagbench ] && fail "dry run left a .tagbench folder"
}

test_dry_run_diff_applies_with_patch() {
    command -v patch >/dev/null || { echo "  SKIP $cli_name: no patch(1)"; return; }
    item d/a 'red, blue\nsecond\n'
    item d/b 'green'
    png d/c.png
    cp -r d e
    tb edit d --add new --prepend sks --dry-run
    printf '%s\n' "$out" >dry.diff
    (cd d && patch -s -p1 <../dry.diff) || fail "patch refused the diff: $(cat dry.diff)"
    tb edit e --add new --prepend sks
    diff -r d e >diff.log || fail "patched files differ from a real edit: $(cat diff.log)"
}

test_option_after_an_operation_is_not_its_argument() {
    # `--rename zeta --dry-run` is a typo for a dry run; it must never become a real write of the
    # tag "--dry-run"
    item d/a 'zeta, x\n'
    tree_state d >before
    tb edit d --rename zeta --dry-run
    expect_eq "$rc" 2 "exit status"
    tb edit d --add --dry-run
    expect_eq "$rc" 2 "exit status of --add --dry-run"
    tree_state d >after
    cmp -s before after || fail "an option taken as a tag wrote: $(cat d/a.txt)"
}

# ---- what a real edit keeps and touches ----

test_edit_keeps_crlf() {
    item d/a 'red, blue\r\n'
    tb edit d --add x
    expect_file d/a.txt 'red, blue, x\r\n'
}

test_edit_keeps_bom() {
    item d/a '\357\273\277red, blue\n'
    tb edit d --add x
    expect_file d/a.txt '\357\273\277red, blue, x\n'
}

test_edit_keeps_missing_final_newline() {
    item d/a 'red, blue'
    tb edit d --add x
    expect_file d/a.txt 'red, blue, x'
}

test_edit_keeps_extra_lines_verbatim() {
    item d/a 'red,blue ,  green\r\n  second,,line  \r\nthird'
    tb edit d --add x
    expect_file d/a.txt 'red, blue, green, x\r\n  second,,line  \r\nthird'
}

test_edit_touches_only_changed_files() {
    item d/a 'red, a\n'
    item d/b 'blue, b\n'
    item d/c 'red, c\n'
    touch -d '2001-02-03 04:05:06' d/a.txt d/b.txt d/c.txt
    ino_b=$(stat -c %i d/b.txt)
    tb edit d --filter red --add x
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(stat -c %Y d/b.txt)" "$(date -d '2001-02-03 04:05:06' +%s)" "mtime of the untouched b.txt"
    expect_eq "$(stat -c %i d/b.txt)" "$ino_b" "inode of the untouched b.txt"
    [ "$(stat -c %Y d/a.txt)" = "$(stat -c %Y d/b.txt)" ] && fail "a.txt was edited but its mtime is old"
    expect_file d/b.txt 'blue, b\n'
}

test_edit_keeps_file_mode() {
    item d/a 'red\n'
    chmod 0600 d/a.txt
    tb edit d --add x
    expect_eq "$(stat -c %a d/a.txt)" 600 "mode after edit"
}

test_edit_creates_a_missing_caption() {
    png d/a.png
    (umask 022 && "$TAGBENCH" edit d --add first >/dev/null) || fail "edit failed"
    expect_file d/a.txt 'first\n'
    expect_eq "$(stat -c %a d/a.txt)" 644 "mode of a new caption under umask 022"
}

test_edit_leaves_no_temp_files_or_journal() {
    mk_two_folders d
    tb edit d --add x --prepend sks
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(find d -name '.*' | sort)" "" "hidden files left behind"
    expect_eq "$(find d -type f | sort | tr '\n' ' ')" \
        "d/10_cat/a.png d/10_cat/a.txt d/10_cat/b.png d/10_cat/b.txt d/10_cat/c.png d/10_cat/c.txt d/2_dog/x.png d/2_dog/x.txt d/2_dog/y.png d/2_dog/y.txt " \
        "files after the edit"
}

test_edit_reads_trailing_slash_dir() {
    mk_abc d
    tb edit d/ --add x
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt 'red, a, x\n'
    [ -e d/.tagbench ] && fail ".tagbench left behind"
}

test_edit_with_caption_extension() {
    png d/a.png
    capf d/a.caption 'one\n'
    capf d/a.txt 'other\n'
    tb edit d --caption_extension .caption --add two
    expect_file d/a.caption 'one, two\n'
    expect_file d/a.txt 'other\n'
}

# ---- usage errors and refusals ----

test_usage_errors_exit_2_and_write_nothing() {
    mk_abc d
    tree_state d >before
    for args in "d --frob" "--add x" "d" "d --replace ( x" "d --keep 1 --add x" "d --add x --keep 1" \
        "d --rename x" "d --sort size" "d --sort name --keep -1" "d --filter" "d e --add x" \
        "d --add a,b" "d --rename a b,c" "d --remove"; do
        tb edit $args
        expect_eq "$rc" 2 "exit status of edit $args"
        expect_contains "$err" "tagbench edit:" "stderr of edit $args"
    done
    tree_state d >after
    cmp -s before after || fail "a usage error changed the dataset"
}

test_usage_error_messages_say_what_is_wrong() {
    mk_abc d
    tb edit d --frob
    expect_contains "$err" "unknown option --frob"
    tb edit --add x
    expect_contains "$err" "missing DIR"
    tb edit d
    expect_contains "$err" "no operation given"
    tb edit d --replace '(' x
    expect_contains "$err" 'bad regular expression "("'
    tb edit d --keep 2 --add x
    expect_contains "$err" "--keep goes right after --sort"
    tb edit d --rename x
    expect_contains "$err" "--rename needs 2 arguments"
    tb edit d --add ''
    expect_contains "$err" "the tag is empty"
}

test_missing_dir_exits_1_naming_it() {
    tb edit no-such-dir --add x
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "no-such-dir: No such file or directory"
    [ -e no-such-dir ] && fail "edit created the folder"
}

test_pending_journal_refuses_edit() {
    mk_abc d
    make_journal d x d/b.txt
    tree_state d >before
    tb edit d --add y
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "tagbench recover d"
    expect_contains "$err" "unsaved edits"
    tree_state d >after
    cmp -s before after || fail "edit with a pending journal changed the dataset"
}

test_read_only_caption_is_reported_and_journaled() {
    mk_abc d
    chmod 0444 d/b.txt
    tb edit d --add x
    chmod 0644 d/b.txt
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "d/b.txt: is read-only"
    expect_contains "$err" "1 caption(s) not saved"
    expect_file d/a.txt 'red, a, x\n'
    expect_file d/b.txt 'red, b\n'
    expect_file d/c.txt 'red, c, x\n'
    expect_contains "$(cat d/.tagbench/journal.jsonl)" '"file":"b.txt"'
}

test_help_exits_0() {
    tb edit --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "usage: tagbench edit DIR"
}

# A caption that is a symlink (a shared tag store, say) is written through: the link survives
# and the file it points to gets the edit.
test_symlinked_caption_is_written_through() {
    mkdir -p d/1_x store
    cp "$ROOT/datasets/shapes/10_shapes/0001.png" d/1_x/a.png
    printf 'a, b\n' >store/a.txt
    ln -s ../../store/a.txt d/1_x/a.txt
    run "$TAGBENCH" edit d --add c
    expect_eq "$rc" 0 "exit status"
    [ -L d/1_x/a.txt ] || fail "the caption symlink was replaced by a file"
    expect_eq "$(cat store/a.txt)" "a, b, c" "the link target"
}

run_tests
