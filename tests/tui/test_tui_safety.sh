#!/bin/sh
# The full-screen app keeping edits and the terminal safe: a caption changed on disk meanwhile is
# not overwritten, a killed session's edits come back from the journal, quitting with unsaved
# edits asks, and escape sequences in captions or file names never reach the terminal raw.
. "$ROOT/tests/tui/lib.sh"

A='circle, red, small, white background\n'

# add_tag TAG: adds TAG to the current image through the `a` prompt.
add_tag() {
    keys a
    wait_for '^add tag to this image:' || return 1
    type_text "$1"
    keys Enter
    wait_for "^add \"$1\": 1 image changed" || return 1
}

test_save_conflict_keeps_the_file_changed_on_disk() {
    mk_shapes d
    app_start d || return
    wait_for '  1 circle +3$' || return
    printf 'external, edit\n' >d/10_shapes/a.txt     # after the app read it
    add_tag mine || return
    keys C-s
    wait_for ' Save: some captions were not written ' || return
    expect_screen 'd/10_shapes/a\.txt: was changed by another program since it was read' "report"
    expect_screen '^saved 0 caption\(s\); 1 changed on disk by someone else and 0 failed: not overwritten' "status"
    expect_screen ' 1 unsaved' "header"
    expect_file d/10_shapes/a.txt 'external, edit\n'
    keys Escape
    wait_gone ' Save: some captions were not written ' || return
    # saving again does not overwrite it either
    keys C-s
    wait_for ' Save: some captions were not written ' || return
    expect_file d/10_shapes/a.txt 'external, edit\n'
    keys Escape q
    wait_for '^ 1 caption\(s\) have unsaved edits\.' || return
    keys d
    expect_quits_ok
    expect_file d/10_shapes/a.txt 'external, edit\n'
    expect_file d/10_shapes/b.txt 'square, blue, large, white background\n'
}

test_journal_recovers_the_edits_of_a_killed_session() {
    mk_shapes d
    app_start d || return
    add_tag kept || return
    keys j l d
    wait_for '^remove "square": 1 image changed' || return
    wait_for ' 2 unsaved' || return
    app_kill9
    expect_file d/10_shapes/a.txt "$A"
    [ -s d/.tagbench/journal.jsonl ] || fail "no journal after the kill"
    app_start d || return
    wait_for '^ An earlier session left unsaved edits of 2 caption\(s\)\.  r recover them · d discard them · q quit' || return
    keys r
    wait_for '^recovered the unsaved edits of 2 caption\(s\) \(u undoes, Ctrl-S saves\)' || return
    expect_screen ' 2 unsaved' "header"
    expect_screen '  5 kept +1$' "the recovered tag"
    keys C-s
    wait_for '^saved 2 captions$' || return
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, kept\n'
    expect_file d/10_shapes/b.txt 'blue, large, white background\n'
    keys q
    expect_quits_ok
    # nothing is pending any more
    app_start d || return
    wait_for 'Images 1/5' || return
    expect_no_screen 'An earlier session' "start after recovering"
    keys q
    expect_quits_ok
}

test_journal_discard_drops_the_edits() {
    mk_shapes d
    app_start d || return
    add_tag dropped || return
    app_kill9
    app_start d || return
    wait_for 'An earlier session left unsaved edits of 1 caption' || return
    keys x    # not an answer
    keys d
    wait_for '^discarded the edits of the earlier session' || return
    expect_screen ' 0 unsaved' "header"
    expect_screen '  4 white background +3$' "a's tags"
    expect_no_screen 'dropped' "the discarded tag"
    keys q
    expect_quits_ok
    expect_file d/10_shapes/a.txt "$A"
    app_start d || return
    wait_for 'Images 1/5' || return
    expect_no_screen 'An earlier session' "start after discarding"
    keys q
    expect_quits_ok
}

test_journal_survives_a_dropped_terminal_and_q_leaves_it() {
    # the whole tmux server goes away (like a dropped SSH connection): SIGHUP, no key
    mk_shapes d
    app_start d || return
    add_tag hup || return
    app_stop
    expect_file d/10_shapes/a.txt "$A"
    app_start d || return
    wait_for 'An earlier session left unsaved edits of 1 caption' || return
    keys q
    expect_quits_ok
    expect_file d/10_shapes/a.txt "$A"
    app_start d || return
    wait_for 'An earlier session left unsaved edits of 1 caption' || return
    keys r
    wait_for '^recovered the unsaved edits of 1 caption' || return
    expect_screen '  5 hup +1$' "the recovered tag"
    keys :
    type_text 'wq'
    keys Enter
    expect_quits_ok
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, hup\n'
}

test_quit_with_unsaved_edits_asks_and_esc_stays() {
    mk_shapes d
    app_start d || return
    add_tag later || return
    keys q
    wait_for '^ 1 caption\(s\) have unsaved edits\.  s save and quit · k keep them in the journal for next time and quit · d discard' || return
    keys j    # not an answer: still asking
    keys Escape
    wait_gone 'have unsaved edits' || return
    keys j
    wait_for 'Images 2/5' || return
    keys F10
    wait_for 'have unsaved edits' || return
    keys s
    expect_quits_ok
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, later\n'
    [ -s d/.tagbench/journal.jsonl ] && fail "a journal is left after save and quit"
}

# The questions must show every answer, also at the smallest size the app supports.
test_quit_question_shows_every_answer() {
    mk_shapes d
    app_start d || return
    add_tag later || return
    keys q
    wait_for 'have unsaved edits' || return
    expect_screen_joined 'd discard them and quit · Esc stay' "the quit question at 120 columns"
    resize 80 24
    wait_for 'have unsaved edits' || return
    expect_screen_joined 's save.* k keep.* d discard.* Esc' "the quit question at 80 columns"
    keys s
    expect_quits_ok
}

test_recover_question_shows_every_answer_at_80x24() {
    mk_shapes d
    app_start d || return
    add_tag later || return
    app_kill9
    TUI_W=80 TUI_H=24
    app_start d || return
    wait_for 'An earlier session left unsaved edits' || return
    expect_screen_joined 'r recover.* d discard.* q quit' "the recover question at 80 columns"
    keys d
    wait_for '^discarded the edits' || return
    keys q
    expect_quits_ok
}

test_quit_keep_leaves_the_edits_for_next_time() {
    mk_shapes d
    app_start d || return
    add_tag later || return
    keys q
    wait_for 'have unsaved edits' || return
    keys k
    expect_quits_ok
    expect_file d/10_shapes/a.txt "$A"
    app_start d || return
    wait_for 'An earlier session left unsaved edits of 1 caption' || return
    keys r
    wait_for '  5 later +1$' || return
    keys q
    wait_for 'have unsaved edits' || return
    keys d
    expect_quits_ok
    expect_file d/10_shapes/a.txt "$A"
}

test_quit_discard_throws_the_edits_away() {
    mk_shapes d
    app_start d || return
    add_tag gone || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    add_tag unsaved_too || return   # only this one is unsaved
    keys q
    wait_for 'have unsaved edits' || return
    keys d
    expect_quits_ok
    expect_file d/10_shapes/a.txt 'circle, red, small, white background, gone\n'
    app_start d || return
    wait_for 'Images 1/5' || return
    expect_no_screen 'An earlier session' "start after discarding"
    keys q
    expect_quits_ok
}

test_ctrl_c_quits_like_q() {
    mk_shapes d
    app_start d || return
    add_tag x || return
    keys C-c
    wait_for 'have unsaved edits' || return
    keys Escape
    wait_gone 'have unsaved edits' || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    keys C-c
    expect_quits_ok
}

test_escape_sequences_in_captions_and_names_are_shown_escaped() {
    mk_shapes d
    capf d/10_shapes/a.txt 'circle, \033]0;PWNED\007evil, \033[2Jclear, \033P1;1q#0sixel\033\\\\, bell\007\n'
    item "d/10_shapes/x${ESC}[2Jy${ESC}]2;PWNED2${BEL}" 'name, test\n'
    app_start d || return
    wait_for '  1 circle +3$' || return
    expect_screen '  2 \\x1b\]0;PWNED\\x07evil +1$' "OSC in a tag"
    expect_screen '  3 \\x1b\[2Jclear +1$' "CSI in a tag"
    expect_screen '\\x1bP1;1q#0sixel\\x1b\\' "DCS in a tag"
    expect_screen '  5 bell\\x07 +1$' "BEL in a tag"
    expect_screen '10_shapes/x\\x1b\[2Jy\\x1b\]2;PWNED2\\x07\.png' "escapes in a file name"
    check_terminal_clean "Dataset screen"
    keys 2
    wait_for 'tags · sorted by count' || return
    expect_screen '\\x1b\]0;PWNED\\x07evil' "Tags screen"
    check_terminal_clean "Tags screen"
    keys 3
    wait_for 'Caption options' || return
    expect_screen '\\x1b\]0;PWNED\\x07evil' "Captions screen"
    check_terminal_clean "Captions screen"
    keys 1 '?'
    wait_for ' Keys ' || return
    keys Escape
    # the caption as text in the `e` prompt
    wait_gone ' Keys ' || return
    keys e
    wait_for '^caption: circle, \\x1b\]0;PWNED\\x07evil, \\x1b\[2Jclear, ' || return
    check_terminal_clean "caption prompt"
    keys Escape
    wait_gone '^caption: ' || return
    keys q
    expect_quits_ok
}

# Invisible characters would make two tags look alike (a zero-width space) or reorder the text
# around them (a right-to-left override): both are shown as escapes.
test_invisible_characters_are_shown_escaped() {
    mk_shapes d
    capf d/10_shapes/a.txt 'circle, zero\342\200\213width, \342\200\256evil\n'
    app_start d || return
    wait_for '  1 circle +3$' || return
    expect_screen '  2 zero\\u200bwidth +1$' "a zero-width space"
    expect_screen '  3 \\u202eevil +1$' "a right-to-left override"
    keys q
    expect_quits_ok
}

# check_terminal_clean WHERE: no raw escape reached the terminal: the pane's title is tmux's
# default, the screen (with attributes) holds no OSC/DCS/BEL, and no clear wiped the screen.
check_terminal_clean() {
    title=$(tm display -p -t app '#{pane_title}')
    expect_not_contains "$title" "PWNED" "pane title on the $1"
    sce=$(screen_e)
    expect_not_contains "$sce" "${ESC}]" "capture -e on the $1"
    expect_not_contains "$sce" "${ESC}P" "capture -e on the $1"
    expect_no_byte "$sce" "$BEL" "capture -e on the $1"
    expect_screen ' tagbench ' "header on the $1"
}

run_tests
