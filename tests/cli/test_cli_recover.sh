#!/bin/sh
# `tagbench recover DIR`: edits left in DIR/.tagbench/journal.jsonl by a session that could not
# save (made here by an edit whose caption is read-only) are replayed and saved, kept aside when the
# caption changed since, or discarded; --dry-run changes nothing.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# expect_match TEXT ERE WHAT: some line of TEXT matches the extended regular expression ERE.
expect_match() {
    printf '%s\n' "$1" | grep -Eq "$2" || fail "${3:-output} does not match /$2/: [$1]"
}

test_recover_writes_the_journaled_edit() {
    mk_abc d
    make_journal d x d/b.txt
    expect_file d/b.txt 'red, b\n'
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "1 caption(s) recovered, 0 kept aside (changed on disk or image gone)
1 caption(s) saved" "output"
    expect_file d/a.txt 'red, a, x\n'
    expect_file d/b.txt 'red, b, x\n'
    expect_file d/c.txt 'red, c, x\n'
    [ -e d/.tagbench ] && fail "a full recovery left d/.tagbench"
    tb recover d
    expect_eq "$out" "nothing to recover in d" "second recover"
}

test_recover_several_captions() {
    mk_abc d
    make_journal d x d/a.txt d/c.txt
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "2 caption(s) saved"
    expect_file d/a.txt 'red, a, x\n'
    expect_file d/c.txt 'red, c, x\n'
}

test_summary_and_edit_point_to_recover() {
    mk_abc d
    make_journal d x d/b.txt
    tb summary d
    expect_contains "$out" "unsaved edits of 1 caption(s) from an earlier session: tagbench recover d"
    tb edit d --add y
    expect_eq "$rc" 1 "exit status of edit"
    expect_contains "$err" "tagbench recover d"
}

test_dry_run_changes_nothing() {
    mk_abc d
    make_journal d x d/b.txt
    tree_state d >before
    tb recover d --dry-run
    expect_eq "$rc" 0 "exit status"
    expect_match "$out" '^1 caption\(s\) (would be )?recovered, 0 (would be )?kept aside' "dry-run report"
    expect_not_contains "$out" "saved"
    tree_state d >after
    cmp -s before after || fail "recover --dry-run changed the dataset: $(diff before after)"
    tb recover d
    expect_file d/b.txt 'red, b, x\n'
}

test_dry_run_with_a_conflict_changes_nothing() {
    mk_abc d
    make_journal d x d/b.txt
    capf d/b.txt 'red, b, theirs\n'
    tree_state d >before
    tb recover d --dry-run
    expect_eq "$rc" 0 "exit status"
    expect_match "$out" '^0 caption\(s\) (would be )?recovered, 1 (would be )?kept aside' "dry-run report"
    expect_contains "$err" "b.txt: the caption changed on disk" "dry-run message"
    tree_state d >after
    cmp -s before after || fail "recover --dry-run changed the dataset: $(diff before after)"
    tb recover d
    expect_contains "$out" "1 kept aside" "the real recover after a dry run"
}

test_changed_caption_is_kept_and_edit_set_aside() {
    mk_abc d
    make_journal d x d/b.txt
    capf d/b.txt 'red, b, theirs\n'
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "0 caption(s) recovered, 1 kept aside"
    expect_contains "$err" "b.txt: the caption changed on disk after the edit was made"
    expect_contains "$err" "d/b.txt.tagbench-recovered"
    expect_file d/b.txt 'red, b, theirs\n'
    expect_file d/b.txt.tagbench-recovered 'red, b, x\n'
    tb recover d
    expect_eq "$out" "nothing to recover in d" "after the conflict"
}

test_deleted_caption_is_not_recreated() {
    mk_abc d
    make_journal d x d/b.txt
    rm d/b.txt
    tb recover d
    expect_contains "$out" "1 kept aside"
    [ -e d/b.txt ] && fail "recover recreated a caption deleted since the edit"
    expect_file d/b.txt.tagbench-recovered 'red, b, x\n'
}

test_image_gone_keeps_edit_aside() {
    mk_abc d
    make_journal d x d/b.txt
    rm d/b.png
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$err" "b.txt: its image is no longer in the dataset"
    expect_file d/b.txt 'red, b\n'
    expect_file d/b.txt.tagbench-recovered 'red, b, x\n'
}

test_recover_keeps_bom_and_crlf() {
    item d/a '\357\273\277red, a\r\nnotes\r\n'
    item d/b 'red, b\n'
    make_journal d x d/a.txt
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_file d/a.txt '\357\273\277red, a, x\r\nnotes\r\n'
}

test_torn_last_line_is_ignored() {
    # a session killed while appending leaves a last line without its newline
    mk_abc d
    make_journal d x d/b.txt
    printf '{"file":"c.txt","base":"00000000' >>d/.tagbench/journal.jsonl
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "1 caption(s) recovered, 0 kept aside"
    expect_file d/b.txt 'red, b, x\n'
    expect_file d/c.txt 'red, c, x\n'
}

test_last_journal_line_for_a_file_wins() {
    mk_abc d
    make_journal d x d/b.txt
    sed 's/red, b, x/red, b, later/' d/.tagbench/journal.jsonl >later
    cat later >>d/.tagbench/journal.jsonl
    tb recover d
    expect_contains "$out" "1 caption(s) recovered"
    expect_file d/b.txt 'red, b, later\n'
}

test_recover_save_failure_keeps_journal() {
    mk_abc d
    make_journal d x d/b.txt
    chmod 0444 d/b.txt
    tb recover d
    chmod 0644 d/b.txt
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "is read-only"
    expect_file d/b.txt 'red, b\n'
    tb recover d
    expect_eq "$rc" 0 "exit status once writable"
    expect_file d/b.txt 'red, b, x\n'
}

test_discard_deletes_the_journal_only() {
    mk_abc d
    make_journal d x d/b.txt
    tb recover d --discard
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "discarded the unsaved edits of 1 caption(s)" "output"
    expect_file d/b.txt 'red, b\n'
    expect_file d/a.txt 'red, a, x\n'
    [ -e d/.tagbench/journal.jsonl ] && fail "journal still there"
    tb recover d
    expect_eq "$out" "nothing to recover in d" "after discard"
    tb edit d --add y
    expect_eq "$rc" 0 "edit after discard"
}

test_discard_leaves_no_tagbench_folder() {
    mk_abc d
    make_journal d x d/b.txt
    tb recover d --discard
    [ -e d/.tagbench ] && fail "discard left an empty d/.tagbench folder: $(ls -A d/.tagbench)"
}

test_nothing_to_recover() {
    mk_abc d
    tree_state d >before
    tb recover d
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "nothing to recover in d" "output"
    tb recover d --discard
    expect_eq "$out" "nothing to recover in d" "output of --discard"
    tree_state d >after
    cmp -s before after || fail "recover without a journal changed the dataset"
}

test_usage_errors() {
    mk_abc d
    for args in "d --discard --dry-run" "" "d --frob" "d e"; do
        tb recover $args
        expect_eq "$rc" 2 "exit status of recover $args"
        expect_contains "$err" "tagbench recover:" "stderr of recover $args"
    done
    tb recover d --discard --dry-run
    expect_contains "$err" "--discard and --dry-run exclude each other"
    tb recover no-such-dir
    expect_eq "$rc" 1 "exit status for a missing DIR"
    expect_contains "$err" "no-such-dir: No such file or directory"
}

test_help_exits_0() {
    tb recover --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "usage: tagbench recover DIR"
}

run_tests
