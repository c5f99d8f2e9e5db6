#!/bin/sh
# The full-screen app, browsing: the first screen, moving, the filter, help, quitting, resizing.
. "$ROOT/tests/tui/lib.sh"

test_first_screen_lists_images_and_tags_of_the_first() {
    mk_shapes d
    app_start d || return
    wait_for 'Images 1/5' || return
    expect_screen ' 5 images · 0 unsaved · none' "header"
    for s in a b c d e; do expect_screen "^  +10_shapes/$s\.png +4 *x?" "file list ($s)"; done
    expect_screen 'Tags 4  \(count = images in the dataset\)' "tag pane title"
    expect_screen '  1 circle +3$' "tag 1 of a"
    expect_screen '  2 red +2$' "tag 2 of a"
    expect_screen '  3 small +2$' "tag 3 of a"
    expect_screen '  4 white background +3$' "tag 4 of a"
    expect_screen '64×64 · 1\.00 · bucket 512×512' "image info"
    expect_screen '^all 5 images' "status line"
    expect_screen '\? Help .*u Undo .*Ctrl-S Save .*q Quit' "key bar"
    keys q
    expect_quits_ok
}

test_j_k_and_arrows_move_through_the_images() {
    mk_shapes d
    app_start d || return
    keys j
    wait_for 'Images 2/5' || return
    expect_screen '  1 square +1$' "tags of b"
    expect_screen '  2 blue +2$' "tags of b"
    expect_screen '  3 large +3$' "tags of b"
    keys Down
    wait_for 'Images 3/5' || return
    expect_screen '  4 black background +1$' "tags of c"
    keys k
    wait_for 'Images 2/5' || return
    expect_screen '  1 square +1$' "tags of b again"
    keys Up
    wait_for 'Images 1/5' || return
    expect_screen '  1 circle +3$' "tags of a again"
    keys k    # already at the top
    keys G
    wait_for 'Images 5/5' || return
    expect_screen '  2 green +1$' "tags of e"
    keys j    # already at the bottom
    keys g
    wait_for 'Images 1/5' || return
    xterm_key End
    wait_for 'Images 5/5' || return
    xterm_key Home
    wait_for 'Images 1/5' || return
    keys q
    expect_quits_ok
}

test_filter_narrows_the_list_and_an_empty_one_shows_all() {
    mk_shapes d
    app_start d || return
    keys /
    wait_for '^filter \(tag & !tag \| glob\* ~sub\):' || return
    type_text 'circle & !blue'
    keys Enter
    wait_for 'Images 1/2 · filter: circle & !blue' || return
    expect_screen '^filter: 2 of 5 images match' "status line"
    expect_screen '10_shapes/a\.png' "a (circle, red)"
    expect_screen '10_shapes/e\.png' "e (circle, green)"
    expect_no_screen '10_shapes/[bcd]\.png' "images the filter excludes"
    expect_screen ' 5 images · 0 unsaved' "header keeps the dataset size"
    keys j
    wait_for 'Images 2/2' || return
    expect_screen '  2 green +1$' "tags of e"
    # a glob
    keys /
    wait_for '^filter .*: circle & !blue' || return
    keys C-u
    type_text 'white*'
    keys Enter
    wait_for 'Images [0-9]/3 · filter: white\*' || return
    expect_no_screen '10_shapes/[cd]\.png' "images without white*"
    # a filter nothing matches
    keys /
    wait_for '^filter .*: white\*' || return
    keys C-u
    type_text 'purple'
    keys Enter
    wait_for 'Images 0/0 · filter: purple' || return
    expect_screen 'no image matches the filter'
    # Enter on an empty filter: all again
    keys /
    wait_for '^filter .*: purple' || return
    keys C-u Enter
    wait_for 'Images [0-9]/5 *x?$' || return
    expect_screen '^all 5 images' "status line"
    for s in a b c d e; do expect_screen "10_shapes/$s\.png" "file list ($s)"; done
    keys q
    expect_quits_ok
}

test_a_bad_filter_is_reported_and_keeps_the_list() {
    mk_shapes d
    app_start d || return
    keys /
    wait_for '^filter ' || return
    type_text 'red & (blue'
    keys Enter
    wait_for '^filter: ' || return
    expect_screen 'Images 1/5 *x?$' "the list is unchanged"
    keys q
    expect_quits_ok
}

test_help_lists_the_keys_and_esc_closes_it() {
    mk_shapes d
    app_start d || return
    keys '?'
    wait_for ' Keys ' || return
    expect_screen 'Dataset screen' "help title"
    expect_screen 'this help \(Esc closes it\)' "global key"
    expect_screen 'add a tag \(Tab completes' "screen key"
    keys G    # the end of the list
    wait_for 'Ctrl-S +save edited captions' || return
    expect_screen 'undo the last edit step' "global key further down"
    expect_screen 'q F10 +quit \(asks when edits are unsaved\)' "global keys"
    keys g
    wait_for 'Dataset screen' || return
    keys Escape
    wait_gone 'this help \(Esc closes it\)' || return
    # keys work again at once (the Esc was not taken for the start of Alt-j)
    keys j
    wait_for 'Images 2/5' || return
    keys F1
    wait_for 'this help \(Esc closes it\)' || return
    keys Escape
    wait_gone 'this help \(Esc closes it\)' || return
    keys 2 '?'
    wait_for 'Tags screen' || return
    expect_screen 'sort by count / by name' "Tags screen keys"
    keys Escape q
    expect_quits_ok
}

# The help's descriptions start in one column, whatever the key names (↓ is 3 bytes, 1 column).
test_help_descriptions_line_up() {
    mk_shapes d
    app_start d || return
    keys '?'
    wait_for ' Keys ' || return
    cols=$(screen | python3 -c '
import sys
lines = sys.stdin.read().split("\n")
for d in ("next image (or next tag", "page down", "filter images by tags", "focus the image list",
          "on a tag: show the images", "move the highlighted tag down", "this help (Esc closes it)"):
    print([l.index(d) for l in lines if d in l][0])' | sort -u | tr '\n' ' ')
    expect_eq "$(echo $cols | wc -w)" 1 "number of columns where the help descriptions start ($cols)"
    expect_no_screen 'Enter Enter' "the Enter binding's key names"
    keys Escape q
    expect_quits_ok
}

test_an_unknown_key_says_so() {
    mk_shapes d
    app_start d || return
    keys Z
    wait_for '^Z: not a key on this screen \(\? lists the keys\)' || return
    keys q
    expect_quits_ok
}

test_quit_without_edits_exits_0_and_the_app_is_gone() {
    mk_shapes d
    before=$(tree_state d)
    app_start d || return
    keys q
    expect_quits_ok
    expect_eq "$(tree_state d)" "$before" "the dataset after browsing"
}

test_tab_cycles_the_screens() {
    mk_shapes d
    app_start d || return
    keys Tab
    wait_for '11 tags · sorted by count' || return
    keys Tab
    wait_for 'Caption options \(run config\)' || return
    keys Tab
    wait_for 'Start training' || return
    keys Tab
    wait_for 'No training run yet' || return
    keys Tab
    wait_for 'No run yet' || return
    keys Tab
    wait_for 'Images 1/5' || return
    keys BTab
    wait_for 'No run yet' || return
    keys 1
    wait_for 'Images 1/5' || return
    keys q
    expect_quits_ok
}

test_resize_at_any_moment_keeps_the_app_working() {
    mk_shapes d
    app_start d || return
    keys j
    wait_for 'Images 2/5' || return
    resize 80 24
    wait_for '5 images · 0 unsaved' || return
    expect_screen 'Images 2/5' "at 80x24"
    resize 60 20
    wait_for 'tagbench needs 80x24; this terminal is 60x20\.' || return
    expect_screen 'press q to quit' "the notice"
    keys j    # not a key while too small
    resize 79 24
    wait_for 'this terminal is 79x24' || return
    resize 80 23
    wait_for 'this terminal is 80x23' || return
    resize 20 5
    wait_for 'tagbench' || return
    resize 100 30
    wait_for 'Images 2/5' || return
    resize 200 60
    wait_for 'Images 2/5' || return
    # the Tags and Captions screens, at the small size and back
    keys 2
    wait_for '11 tags · sorted by count' || return
    resize 80 24
    wait_for '11 tags · sorted by count' || return
    resize 60 20
    wait_for 'needs 80x24' || return
    resize 120 40
    wait_for '11 tags · sorted by count' || return
    keys 3
    wait_for 'Caption options' || return
    resize 80 24
    wait_for 'Caption options' || return
    resize 120 40
    keys 1
    wait_for 'Images 2/5' || return
    # in the middle of a prompt, with a help overlay, with a question
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'resiz'
    resize 60 20
    wait_for 'needs 80x24' || return
    resize 90 26
    wait_for '^add tag to this image: resiz' || return
    type_text 'ed'
    keys Enter
    wait_for '  5 resized +1$' || return
    keys '?'
    wait_for ' Keys ' || return
    resize 80 24
    wait_for ' Keys ' || return
    resize 60 20
    wait_for 'needs 80x24' || return
    resize 120 40
    wait_for ' Keys ' || return
    keys Escape q
    wait_for 'have unsaved edits' || return
    resize 70 22
    wait_for 'needs 80x24' || return
    resize 120 40
    wait_for 'have unsaved edits' || return
    keys s
    expect_quits_ok
    expect_file d/10_shapes/b.txt 'square, blue, large, white background, resized\n'
}

test_q_quits_while_the_terminal_is_too_small() {
    mk_shapes d
    app_start d || return
    resize 60 20
    wait_for 'needs 80x24' || return
    keys q
    expect_quits_ok
}

# The preview with --graphics blocks (half blocks in colour): other images, other colours; an
# overlay or a too small terminal hides it, and it comes back.
test_blocks_preview_shows_the_image() {
    mk_shapes d
    cp "$PNG_DIR/0002.png" d/10_shapes/b.png    # red square, black background
    app_start d --graphics blocks || return
    wait_for ' 5 images · 0 unsaved · blocks$' || return
    wait_for '^ .*x +▀▀▀▀▀▀▀▀▀▀' || return
    colours_a=$(screen_e | grep -o '48;5;[0-9]*' | sort -u)
    keys j
    wait_for 'Images 2/5' || return
    wait_for '^ .*x +▀▀▀▀▀▀▀▀▀▀' || return
    colours_b=$(screen_e | grep -o '48;5;[0-9]*' | sort -u)
    [ "$colours_a" = "$colours_b" ] && fail "the previews of a and b have the same colours: $colours_a"
    keys '?'
    wait_for ' Keys ' || return
    wait_gone '▀' || return
    keys Escape
    wait_for '▀▀▀▀▀▀▀▀▀▀' || return
    resize 80 24
    wait_for 'Images 2/5' || return
    wait_for '▀▀▀▀▀' || return
    resize 60 20
    wait_for 'needs 80x24' || return
    wait_gone '▀' || return
    resize 120 40
    wait_for '▀▀▀▀▀▀▀▀▀▀' || return
    keys 2
    wait_for '11 tags · sorted by count' || return
    wait_gone '▀' || return
    keys 1
    wait_for '▀▀▀▀▀▀▀▀▀▀' || return
    keys q
    expect_quits_ok
}

run_tests
