#!/bin/sh
# The full-screen app's Captions screen (3): the caption options with kohya's names, changed with
# +/- or typed in, the figures that follow them, and the run config (DIR/.tagbench/run.json) every
# accepted change is written to at once; refused values leave the file alone.
. "$ROOT/tests/tui/lib.sh"

# cfg KEY [FILE]: KEY's value in the run config, as Python prints it (MISSING when absent).
cfg() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], "MISSING"))' \
        "${2:-d/.tagbench/run.json}" "$1"
}

# captions_screen DIR [ARGS]: the app on DIR, showing the Captions screen.
captions_screen() {
    d=$1
    shift
    app_start "$d" "$@" || return 1
    keys 3
    wait_for '^Caption options \(run config\)' || return 1
}

# type_value TEXT: Enter on the highlighted option, its text replaced by TEXT, Enter.
type_value() {
    keys Enter
    wait_for '^[a-z_]+:' || return 1
    keys C-u
    type_text "$1"
    keys Enter
}

test_keep_tokens_with_plus_and_minus() {
    mk_shapes d
    captions_screen d || return
    expect_screen '^ keep_tokens +0 ' "keep_tokens before"
    expect_screen '5 captions: 4\.0 tags each, 0\.0 kept fixed' "figures before"
    expect_screen 'no shuffle/dropout: captions used as written' "figures before"
    [ -e d/.tagbench/run.json ] && fail "a run config before any change"
    keys +
    wait_for '^keep_tokens = 1 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_screen '^ keep_tokens +1 ' "keep_tokens after +"
    expect_screen '5 captions: 4\.0 tags each, 1\.0 kept fixed' "figures after +"
    expect_screen '0 captions have fewer tags than keep_tokens=1' "figures after +"
    expect_screen ' {5}3  circle$' "kept fixed most often"
    expect_eq "$(cfg keep_tokens)" 1 "keep_tokens in run.json"
    expect_eq "$(cfg train_data_dir)" "$T/d" "train_data_dir in run.json"
    expect_eq "$(cfg caption_extension)" ".txt" "caption_extension in run.json"
    keys + +
    wait_for '^keep_tokens = 3 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg keep_tokens)" 3 "keep_tokens in run.json"
    keys + +
    wait_for '^keep_tokens = 5 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_screen '5 captions have fewer tags than keep_tokens=5' "figures with keep_tokens 5"
    keys - - - - -
    wait_for '^keep_tokens = 0 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg keep_tokens)" 0 "keep_tokens in run.json"
    expect_screen '4\.0 tags each, 0\.0 kept fixed' "figures back"
    keys -   # not below 0
    wait_for '^ keep_tokens +0 ' || return
    expect_eq "$(cfg keep_tokens)" 0 "keep_tokens in run.json"
    # a switch
    keys j j Space
    wait_for '^shuffle_caption = true \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg shuffle_caption)" True "shuffle_caption in run.json"
    keys q
    expect_quits_ok
    expect_eq "$(cfg keep_tokens)" 0 "keep_tokens after quitting"
}

test_typing_a_rate() {
    mk_shapes d
    captions_screen d || return
    keys j j j
    wait_for 'chance that each non-kept tag is left out' || return
    type_value 0.25
    wait_for '^caption_tag_dropout_rate = 0\.25 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_screen '^ caption_tag_dropout_rate +0\.25 ' "the rate"
    expect_screen 'a step sees 3\.0 tags' "figures after the rate"
    expect_no_screen 'captions are used verbatim' "figures after the rate"
    expect_eq "$(cfg caption_tag_dropout_rate)" 0.25 "caption_tag_dropout_rate in run.json"
    keys j
    wait_for 'chance that the whole caption is left out' || return
    type_value 0.5
    wait_for '^caption_dropout_rate = 0\.5 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg caption_dropout_rate)" 0.5 "caption_dropout_rate in run.json"
    keys q
    expect_quits_ok
}

test_an_invalid_value_is_refused_and_the_file_kept() {
    mk_shapes d
    captions_screen d || return
    keys +
    wait_for '^keep_tokens = 1 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    cp d/.tagbench/run.json "$T/run.before"
    keys j j j j
    wait_for 'chance that the whole caption is left out' || return
    type_value 1.5
    wait_for '^caption_dropout_rate must be in \[0, 1\], got 1\.5' || return
    expect_screen '^ caption_dropout_rate +0 ' "the value shown"
    cmp -s d/.tagbench/run.json "$T/run.before" || fail "run.json changed by a refused value"
    type_value abc
    wait_for '^caption_dropout_rate: "abc" is not a number' || return
    type_value -0.1
    wait_for '^caption_dropout_rate must be in \[0, 1\], got -0\.1' || return
    keys k k k k
    wait_for 'leading tags never shuffled' || return
    type_value 2.5
    wait_for '^keep_tokens: "2\.5" is not a whole number' || return
    expect_screen '^ keep_tokens +1 ' "keep_tokens shown"
    cmp -s d/.tagbench/run.json "$T/run.before" || fail "run.json changed by a refused value"
    # Esc in the prompt changes nothing
    keys Enter
    wait_for '^keep_tokens: 1$' || return
    keys C-u
    type_text 7
    keys Escape
    wait_gone '^keep_tokens: 7$' || return
    expect_screen '^ keep_tokens +1 ' "keep_tokens after Esc"
    cmp -s d/.tagbench/run.json "$T/run.before" || fail "run.json changed by a cancelled prompt"
    keys q
    expect_quits_ok
}

test_other_keys_of_an_existing_config_survive() {
    mk_shapes d
    mkdir -p d/.tagbench
    printf '{\n  "learning_rate": 0.0001,\n  "keep_tokens": 2,\n  "caption_extension": ".txt",\n  "max_train_epochs": 10\n}\n' >d/.tagbench/run.json
    captions_screen d || return
    expect_screen '^ keep_tokens +2 ' "keep_tokens from the file"
    keys +
    wait_for '^keep_tokens = 3 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg keep_tokens)" 3 "keep_tokens in run.json"
    expect_eq "$(cfg learning_rate)" 0.0001 "learning_rate kept"
    expect_eq "$(cfg max_train_epochs)" 10 "max_train_epochs kept"
    keys q
    expect_quits_ok
}

test_a_config_changed_on_disk_is_not_overwritten() {
    mk_shapes d
    captions_screen d || return
    keys +
    wait_for '^keep_tokens = 1 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    printf '{"keep_tokens": 9, "learning_rate": 1}\n' >d/.tagbench/run.json
    keys +
    wait_for '^not saved: ' || return
    expect_eq "$(cfg keep_tokens)" 9 "keep_tokens written by the other program"
    keys q
    expect_quits_ok
}

test_the_config_option_names_another_file() {
    mk_shapes d
    captions_screen d --config "$T/other.json" || return
    expect_screen "$T/other\\.json" "the config path shown"
    keys +
    wait_for '^keep_tokens = 1 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_eq "$(cfg keep_tokens "$T/other.json")" 1 "keep_tokens in other.json"
    [ -e d/.tagbench/run.json ] && fail "d/.tagbench/run.json written although --config names another file"
    keys q
    expect_quits_ok
}

test_draws_follow_the_options_and_images() {
    mk_shapes d
    captions_screen d || return
    expect_screen ' 1  circle, red, small, white background$' "draw 1 without options"
    keys n
    wait_for '10_shapes/b\.png' || return
    expect_screen ' 1  square, blue, large, white background$' "draw 1 of b"
    keys p
    wait_for '10_shapes/a\.png' || return
    keys j j j
    type_value 1
    wait_for '^caption_tag_dropout_rate = 1 \(saved\)' || return
    wait_gone 'updating\.\.\.' || return  # the figures follow when keys pause
    expect_screen ' 1  \(dropped: empty caption\)$' "every tag dropped"
    keys q
    expect_quits_ok
}

run_tests
