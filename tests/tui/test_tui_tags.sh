#!/bin/sh
# The full-screen app's Tags screen (2): the occurrence table, sorting, jumping to the images of a
# tag, and the edits that act everywhere (rename, merge, delete), checked on disk after Ctrl-S;
# the export of the table.
. "$ROOT/tests/tui/lib.sh"

A='circle, red, small, white background\n'
B='square, blue, large, white background\n'
C='circle, blue, small, black background\n'
D='triangle, red, large, gray background\n'
E='circle, green, large, white background\n'

# tags_screen DIR: the app on DIR, showing the Tags screen.
tags_screen() {
    app_start "$1" || return 1
    keys 2
    wait_for 'tags · sorted by count · all 5 images' || return 1
}

# find_tag TEXT: the Tags screen shows only the tags containing TEXT (the first highlighted).
find_tag() {
    keys /
    wait_for '^show tags containing \(or glob\*\):' || return 1
    keys C-u
    type_text "$1"
    keys Enter
    wait_for " · matching $(re_quote "$1")\$" || return 1
}

test_occurrence_counts_of_the_fixture() {
    mk_shapes d
    tags_screen d || return
    expect_screen '^11 tags · sorted by count · all 5 images$' "title"
    expect_screen '^ images  share +tag$' "column heads"
    for row in '3  60\.0%.* circle' '3  60\.0%.* large' '3  60\.0%.* white background' \
        '2  40\.0%.* blue' '2  40\.0%.* red' '2  40\.0%.* small' '1  20\.0%.* black background' \
        '1  20\.0%.* gray background' '1  20\.0%.* green' '1  20\.0%.* square' '1  20\.0%.* triangle'; do
        expect_screen "^ +$row\$" "row"
    done
    # by count: the three 3s come first
    first=$(screen | sed -n '4,6p' | grep -c '^ *3  60\.0%')
    expect_eq "$first" 3 "rows 1-3 are the tags on 3 images"
    keys s
    wait_for '^11 tags · sorted by name' || return
    expect_eq "$(screen | sed -n 4p | sed 's/.* //')" "background" "first row by name (black background)"
    expect_screen '^ +1  20\.0% .* black background$' "first by name"
    expect_eq "$(screen | sed -n 14p | sed 's/^ *\([0-9]*\) .*  \([a-z ]*\)$/\1 \2/')" "3 white background" "last row by name"
    keys s
    wait_for '^11 tags · sorted by count' || return
    # the counts follow the edits
    keys 1 a
    wait_for '^add tag to this image:' || return
    type_text 'green'
    keys Enter
    wait_for '^add "green": 1 image changed' || return
    keys 2
    wait_for '^ +2  40\.0% .* green$' || return
    keys q
    wait_for 'have unsaved edits' || return
    keys d
    expect_quits_ok
}

test_find_narrows_the_table() {
    mk_shapes d
    tags_screen d || return
    find_tag background || return
    expect_screen '^3 tags · sorted by count · all 5 images · matching background$' "title"
    expect_no_screen ' circle$' "a tag without the text"
    find_tag '*e' || return
    expect_screen '^5 tags · ' "glob *e (circle, large, blue, square, triangle)"
    expect_no_screen ' green$' "a tag the glob does not match"
    keys /
    wait_for '^show tags containing' || return
    keys C-u Enter
    wait_for '^11 tags · sorted by count · all 5 images$' || return
    keys q
    expect_quits_ok
}

test_enter_jumps_to_the_dataset_screen_filtered_to_the_tag() {
    mk_shapes d
    tags_screen d || return
    find_tag blue || return
    keys Enter
    wait_for 'Images 1/2 · filter: "blue"' || return
    expect_screen '10_shapes/b\.png' "b has blue"
    expect_screen '10_shapes/c\.png' "c has blue"
    expect_no_screen '10_shapes/[ade]\.png' "images without blue"
    expect_screen '^filter: 2 of 5 images match' "status"
    keys q
    expect_quits_ok
}

test_delete_everywhere_asks_then_removes_from_every_file() {
    mk_shapes d
    tags_screen d || return
    find_tag blue || return
    keys d
    wait_for '^ Remove "blue" from all 2 images that carry it\? y yes · n no' || return
    keys n
    wait_gone 'Remove "blue"' || return
    expect_screen '^ +2  40\.0% .* blue$' "after n"
    keys Delete
    wait_for 'Remove "blue" from all 2 images' || return
    keys y
    wait_for '^delete "blue" everywhere: 2 images changed' || return
    expect_screen '^0 tags · .* matching blue$' "title after the delete"
    expect_screen 'no tag matches' "the empty table"
    expect_screen ' 2 unsaved' "header"
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/b.txt 'square, large, white background\n'
    expect_file d/10_shapes/c.txt 'circle, small, black background\n'
    expect_file d/10_shapes/a.txt "$A"
    expect_file d/10_shapes/d.txt "$D"
    expect_file d/10_shapes/e.txt "$E"
    keys u
    wait_for '^undone: delete "blue" everywhere' || return
    wait_for '^ +2  40\.0% .* blue$' || return
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/b.txt "$B"
    keys q
    expect_quits_ok
}

test_rename_everywhere_on_the_tags_screen() {
    mk_shapes d
    tags_screen d || return
    find_tag circle || return
    keys r
    wait_for '^rename everywhere to: circle$' || return
    keys C-u
    type_text 'disc'
    keys Enter
    wait_for '^rename "circle" → "disc": 3 images changed' || return
    keys C-s
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/a.txt 'disc, red, small, white background\n'
    expect_file d/10_shapes/c.txt 'disc, blue, small, black background\n'
    expect_file d/10_shapes/e.txt 'disc, green, large, white background\n'
    expect_file d/10_shapes/b.txt "$B"
    keys q
    expect_quits_ok
}

test_merge_into_an_existing_tag() {
    mk_shapes d
    # a caption holding both tags keeps one, at the first one's place
    capf d/10_shapes/b.txt 'square, small, blue, large, white background\n'
    tags_screen d || return
    find_tag small || return
    expect_screen '^ +3  60\.0% .* small$' "small before"
    keys m
    wait_for '^merge into tag:' || return
    type_text 'large'
    keys Enter
    wait_for '^merge "small" into "large": 3 images changed' || return
    find_tag large || return
    expect_screen '^ +5 100\.0% .* large$' "large after the merge"
    keys C-s
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/a.txt 'circle, red, large, white background\n'
    expect_file d/10_shapes/b.txt 'square, large, blue, white background\n'
    expect_file d/10_shapes/c.txt 'circle, blue, large, black background\n'
    expect_file d/10_shapes/d.txt "$D"
    expect_file d/10_shapes/e.txt "$E"
    # r to an existing name merges too
    find_tag red || return
    keys r
    wait_for '^rename everywhere to: red$' || return
    keys C-u
    type_text 'blue'
    keys Enter
    wait_for '^merge "red" into "blue": 2 images changed' || return
    keys u
    wait_for '^undone: merge "red" into "blue"' || return
    keys C-s
    wait_for '^nothing to save$' || return
    keys q
    expect_quits_ok
}

test_export_writes_the_table() {
    mk_shapes d
    tags_screen d || return
    keys x
    wait_for '^export occurrence to: .*d/\.tagbench/occurrence\.txt$' || return
    keys Enter
    wait_for '^wrote the occurrence table to .*d/\.tagbench/occurrence\.txt$' || return
    [ -f d/.tagbench/occurrence.txt ] || { fail "no d/.tagbench/occurrence.txt"; return; }
    expect_eq "$(head -n 1 d/.tagbench/occurrence.txt)" ' images  share  tag' "first line"
    expect_eq "$(grep -c . d/.tagbench/occurrence.txt)" 12 "lines (heading + 11 tags)"
    expect_contains "$(cat d/.tagbench/occurrence.txt)" '      3  60.0%  circle' "table"
    expect_contains "$(cat d/.tagbench/occurrence.txt)" '      1  20.0%  triangle' "table"
    # to a path typed in, sorted by name
    keys s x
    wait_for '^export occurrence to:' || return
    keys C-u
    type_text "$T/occ.txt"
    keys Enter
    wait_for '^wrote the occurrence table to ' || return
    expect_eq "$(sed -n 2p "$T/occ.txt")" '      1  20.0%  black background' "first tag by name"
    keys q
    expect_quits_ok
}

test_folders_cycle_with_f() {
    mk_shapes d
    item d/2_extra/z 'circle, extra\n'
    app_start d || return
    keys 2
    wait_for '^12 tags · sorted by count · all 6 images$' || return
    keys f
    wait_for 'folder 10_shapes \(5 images, 10 repeats\)' || return
    expect_no_screen ' extra$' "a tag of the other folder"
    keys f
    wait_for 'folder 2_extra \(1 images, 2 repeats\)' || return
    expect_screen '^ +1 100\.0% .* circle$' "circle in 2_extra"
    keys f
    wait_for 'all 6 images' || return
    keys q
    expect_quits_ok
}

run_tests
