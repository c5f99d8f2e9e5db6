#!/bin/sh
# The full-screen app, editing tags on the Dataset screen: add, save, undo/redo, delete, rename here
# and everywhere, bulk edits of marked images, completion, and the `:` command line. Every edit is
# checked on the screen and, after Ctrl-S, in the caption files.
. "$ROOT/tests/tui/lib.sh"

A='circle, red, small, white background\n'
B='square, blue, large, white background\n'
C='circle, blue, small, black background\n'
D='triangle, red, large, gray background\n'
E='circle, green, large, white background\n'

test_add_save_undo_redo() {
    mk_shapes d
    capf d/10_shapes/a.txt 'circle,red ,  small,white background\n'   # not in canonical form
    app_start d || return
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'shiny'
    keys Enter
    wait_for '^add "shiny": 1 image changed \(u undoes\)' || return
    expect_screen '  5 shiny +1$' "the new tag in the tag list"
    expect_screen ' 5 images · 1 unsaved' "header"
    expect_screen '^ \+ 10_shapes/a\.png +5' "the edited marker and count"
    expect_file d/10_shapes/a.txt 'circle,red ,  small,white background\n'   # not saved yet
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_screen ' 5 images · 0 unsaved' "header after saving"
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, shiny\n'
    expect_file d/10_shapes/b.txt "$B"
    keys u
    wait_for '^undone: add "shiny"' || return
    expect_no_screen '  5 shiny' "the tag list after undo"
    expect_screen ' 5 images · 1 unsaved' "header after undo"
    keys C-r
    wait_for '^redone: add "shiny"' || return
    expect_screen '  5 shiny +1$' "the tag after redo"
    expect_screen ' 5 images · 0 unsaved' "header after redo (as saved)"
    keys u
    wait_for '^undone: add "shiny"' || return
    keys u
    wait_for '^nothing to undo' || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/a.txt 'circle, red, small, white background\n'
    keys q
    expect_quits_ok
}

test_adding_a_tag_the_image_has_changes_nothing() {
    mk_shapes d
    app_start d || return
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'red'
    keys Enter
    wait_for '^add "red": nothing changed' || return
    expect_screen ' 0 unsaved' "header"
    keys q
    expect_quits_ok
}

test_esc_cancels_the_add_prompt() {
    mk_shapes d
    app_start d || return
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'nope'
    keys Escape
    wait_gone '^add tag to this image:' || return
    keys j
    wait_for 'Images 2/5' || return
    expect_no_screen 'nope'
    keys q
    expect_quits_ok
    expect_file d/10_shapes/a.txt "$A"
}

test_delete_a_tag_and_undo() {
    mk_shapes d
    app_start d || return
    keys l j d
    wait_for '^remove "red": 1 image changed' || return
    expect_screen 'Tags 3 ' "tag pane title"
    expect_screen '  2 small +2$' "the tags after the removal"
    keys u
    wait_for '^undone: remove "red"' || return
    expect_screen '  2 red +2$' "the tag back"
    keys C-r
    wait_for '^redone: remove "red"' || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/a.txt 'circle, small, white background\n'
    expect_file d/10_shapes/d.txt "$D"
    keys q
    expect_quits_ok
}

test_d_without_the_tag_list_focused_removes_the_first_tag() {
    # the tag list's cursor is on its first tag even while the image list has the focus
    mk_shapes d
    app_start d || return
    keys j Delete
    wait_for '^remove "square": 1 image changed' || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/b.txt 'blue, large, white background\n'
    keys q
    expect_quits_ok
}

test_rename_here_changes_only_this_image() {
    mk_shapes d
    app_start d || return
    keys l r
    wait_for '^rename in this image: circle' || return
    keys C-u
    type_text 'ring'
    keys Enter
    wait_for '^rename "circle" → "ring": 1 image changed' || return
    expect_screen '  1 ring +1$' "renamed tag in place"
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/a.txt 'ring, red, small, white background\n'
    expect_file d/10_shapes/c.txt "$C"
    expect_file d/10_shapes/e.txt "$E"
    keys u
    wait_for '^undone: rename "circle"' || return
    expect_screen '  1 circle +3$' "tag after undo"
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/a.txt "$A"
    keys q
    expect_quits_ok
}

test_rename_everywhere_and_undo() {
    mk_shapes d
    app_start d || return
    keys l R
    wait_for '^rename everywhere \(merges\): circle' || return
    keys C-u
    type_text 'round'
    keys Enter
    wait_for '^rename "circle" → "round" everywhere: 3 images changed' || return
    expect_screen '  1 round +3$' "renamed tag"
    expect_screen ' 3 unsaved' "header"
    keys C-s
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/a.txt 'round, red, small, white background\n'
    expect_file d/10_shapes/c.txt 'round, blue, small, black background\n'
    expect_file d/10_shapes/e.txt 'round, green, large, white background\n'
    expect_file d/10_shapes/b.txt "$B"
    expect_file d/10_shapes/d.txt "$D"
    keys u
    wait_for '^undone: rename "circle" → "round" everywhere' || return
    expect_screen '  1 circle +3$' "tag after undo"
    keys C-s
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/c.txt "$C"
    keys q
    expect_quits_ok
}

test_rename_everywhere_into_an_existing_tag_merges() {
    mk_shapes d
    app_start d || return
    keys l j j R     # "small" of a
    wait_for '^rename everywhere \(merges\): small' || return
    keys C-u
    type_text 'large'
    keys Enter
    wait_for '^rename "small" → "large" everywhere: 2 images changed' || return
    expect_screen '  3 large +5$' "merged tag and its count"
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/a.txt 'circle, red, large, white background\n'
    expect_file d/10_shapes/c.txt 'circle, blue, large, black background\n'
    expect_file d/10_shapes/b.txt "$B"
    keys q
    expect_quits_ok
}

test_bulk_edit_of_marked_images_changes_exactly_those() {
    mk_shapes d
    app_start d || return
    keys Space
    wait_for 'Images 2/5 · 1 marked' || return
    keys j Space
    wait_for 'Images 4/5 · 2 marked' || return
    expect_screen '^\*  10_shapes/a\.png' "a marked"
    expect_screen '^\*  10_shapes/c\.png' "c marked"
    expect_screen 'Tags of the 2 marked images' "tag pane in marked mode"
    expect_screen '  1 circle +2/2$' "circle on both"
    expect_screen '  [0-9] red +1/2$' "red on one"
    keys a
    wait_for '^add tag to the marked images:' || return
    type_text 'bulk'
    keys Enter
    wait_for '^add "bulk" \(marked\): 2 images changed' || return
    expect_screen '  [0-9] bulk +2/2$' "the added tag"
    keys l
    # the marked-mode list: most shared first (ties in the order the tags were first seen)
    wait_for '  2 small +2/2$' || return
    keys j d
    wait_for '^remove "small" \(marked\): 2 images changed' || return
    expect_no_screen ' small ' "the removed tag"
    expect_screen ' 2 unsaved' "header"
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/a.txt 'circle, red, white background, bulk\n'
    expect_file d/10_shapes/c.txt 'circle, blue, black background, bulk\n'
    expect_file d/10_shapes/b.txt "$B"
    expect_file d/10_shapes/d.txt "$D"
    expect_file d/10_shapes/e.txt "$E"
    # Esc unmarks: edits go to the current image again
    keys Escape
    wait_for '^no image marked: edits apply to the current image' || return
    expect_screen 'Images 4/5 *x?$' "the list title"
    keys a
    wait_for '^add tag to this image:' || return
    keys Escape
    wait_gone '^add tag' || return
    keys q
    expect_quits_ok
}

test_mark_all_shown_with_star() {
    mk_shapes d
    app_start d || return
    keys /
    wait_for '^filter ' || return
    type_text 'large'
    keys Enter
    wait_for 'Images 1/3 · filter: large' || return
    keys '*'
    wait_for '^marked the 3 images shown' || return
    keys A
    wait_for '^add tag first to the marked images:' || return
    type_text 'big'
    keys Enter
    wait_for '^add "big" \(marked\): 3 images changed' || return
    keys C-s
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/b.txt 'big, square, blue, large, white background\n'
    expect_file d/10_shapes/d.txt 'big, triangle, red, large, gray background\n'
    expect_file d/10_shapes/e.txt 'big, circle, green, large, white background\n'
    expect_file d/10_shapes/a.txt "$A"
    expect_file d/10_shapes/c.txt "$C"
    keys q
    expect_quits_ok
}

test_completion_ranks_dataset_tags_by_count_and_tab_completes() {
    mk_shapes d
    app_start d || return
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'b'
    wait_for '^ +gray background +1( |$)' || return
    # the best suggestion is at the top of the list above the prompt (so that ↓ walks down it):
    # prefixes first, by count, then word prefixes; the image's own tags (white background) are
    # not offered
    scr=$(screen)
    l_blue=$(printf '%s\n' "$scr" | grep -nE '^ {20,}blue +2( |$)' | cut -d: -f1)
    l_black=$(printf '%s\n' "$scr" | grep -nE '^ {20,}black background +1( |$)' | cut -d: -f1)
    l_gray=$(printf '%s\n' "$scr" | grep -nE '^ {20,}gray background +1( |$)' | cut -d: -f1)
    expect_eq "$l_blue" 36 "row of the first suggestion (blue, 2 images)"
    expect_eq "$l_black" 37 "row of the second suggestion (black background, 1 image)"
    expect_eq "$l_gray" 38 "row of the third suggestion (gray background, a word prefix)"
    expect_no_screen '^ {20,}white background +3( |$)' "a tag the image already has"
    type_text 'l'
    wait_gone '^ +gray background +1( |$)' || return
    keys Tab
    wait_for '^add tag to this image: blue$' || return
    keys Enter
    wait_for '^add "blue": 1 image changed' || return
    expect_screen '  5 blue +3$' "the completed tag"
    # ↓ picks a suggestion, Enter takes it
    keys j a
    wait_for '^add tag to this image:' || return
    type_text 'sm'
    wait_for '^ +small +2( |$)' || return
    keys Down Enter
    wait_for '^add "small": 1 image changed' || return
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, blue\n'
    expect_file d/10_shapes/b.txt 'square, blue, large, white background, small\n'
    keys q
    expect_quits_ok
}

test_enter_on_a_tag_filters_to_the_images_carrying_it() {
    mk_shapes d
    app_start d || return
    keys l j Enter
    wait_for 'Images 1/2 · filter: "red"' || return
    expect_screen '10_shapes/d\.png' "the other red image"
    expect_no_screen '10_shapes/[bce]\.png' "images without red"
    keys q
    expect_quits_ok
}

test_edit_the_caption_as_text() {
    mk_shapes d
    app_start d || return
    keys e
    wait_for '^caption: circle, red, small, white background$' || return
    keys C-u
    type_text 'one,  two ,three'
    keys Enter
    wait_for '^edit caption: 1 image changed' || return
    expect_screen '  2 two +1$'
    keys C-s
    wait_for '^saved 1 caption$' || return
    expect_file d/10_shapes/a.txt 'one, two, three\n'
    keys q
    expect_quits_ok
}

test_command_line_rename_and_help() {
    mk_shapes d
    app_start d || return
    keys :
    wait_for '^:' || return
    type_text 'rename circle "round shape"'
    keys Enter
    wait_for '^rename \(all images\): 3 images changed' || return
    expect_screen '  1 round shape +3$' "renamed tag"
    keys :
    type_text 'help'
    keys Enter
    wait_for ' Commands ' || return
    expect_screen ':rename ' "the edit commands"
    expect_screen ':wq  :x +save and quit' "the fixed commands"
    keys Escape
    wait_gone ' Commands ' || return
    keys :
    type_text 'bogus'
    keys Enter
    wait_for '^unknown command :bogus \(:help lists them\)' || return
    keys :
    type_text 'w'
    keys Enter
    wait_for '^saved 3 captions$' || return
    expect_file d/10_shapes/a.txt 'round shape, red, small, white background\n'
    expect_file d/10_shapes/c.txt 'round shape, blue, small, black background\n'
    expect_file d/10_shapes/e.txt 'round shape, green, large, white background\n'
    expect_file d/10_shapes/b.txt "$B"
    # in a filtered view a command applies to the images shown
    keys /
    wait_for '^filter ' || return
    type_text 'red'
    keys Enter
    wait_for 'Images 1/2 · filter: red' || return
    keys :
    type_text 'add warm'
    keys Enter
    wait_for '^add \(filtered images\): 2 images changed' || return
    keys :
    type_text 'wq'
    keys Enter
    expect_quits_ok
    expect_file d/10_shapes/a.txt 'round shape, red, small, white background, warm\n'
    expect_file d/10_shapes/d.txt 'triangle, red, large, gray background, warm\n'
    expect_file d/10_shapes/b.txt "$B"
}

run_tests
