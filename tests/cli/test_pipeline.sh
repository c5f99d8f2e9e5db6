#!/bin/sh
# `tagbench pipeline --caption TEXT`: K draws of kohya's caption pipeline, reproducible by seed,
# with kohya's option spellings (and --opt=value, --dashed-names), and usage errors that name the
# option and the bad value.
. "$ROOT/tests/cli/lib.sh"

lines() { printf '%s\n' "$1" | wc -l | tr -d ' '; }
distinct() { printf '%s\n' "$1" | sort -u | wc -l | tr -d ' '; }

test_help_lists_every_option() {
    run "$TAGBENCH" pipeline --help
    expect_eq "$rc" 0 "exit status"
    for opt in --caption --seed --draws --epoch --step --max_train_steps --json --keep_tokens \
        --keep_tokens_separator --caption_separator --secondary_separator --shuffle_caption \
        --caption_tag_dropout_rate --caption_dropout_rate --caption_dropout_every_n_epochs \
        --caption_prefix --caption_suffix --enable_wildcard --token_warmup_min --token_warmup_step; do
        expect_contains "$out" "  $opt" "help"
    done
}

test_five_verbatim_draws_by_default() {
    run "$TAGBENCH" pipeline --caption 'a ,b'
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(lines "$out")" 5 "number of draws"
    expect_eq "$(distinct "$out")" 1 "distinct draws"
    expect_eq "$(printf '%s\n' "$out" | head -n 1)" "a ,b" "a verbatim caption"
}

test_keep_tokens_stay_first_while_the_rest_shuffles() {
    run "$TAGBENCH" pipeline --caption 'sks, a, b, c, d' --keep_tokens 1 --shuffle_caption --draws 40
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(lines "$out")" 40 "number of draws"
    expect_eq "$(printf '%s\n' "$out" | grep -vc '^sks, ')" 0 "draws not starting with the kept tag"
    [ "$(distinct "$out")" -gt 5 ] || fail "the flex tags are not shuffled: $out"
}

test_same_seed_same_draws_in_every_spelling() {
    run "$TAGBENCH" pipeline --caption 'a, b, c, d, e' --shuffle_caption --caption_tag_dropout_rate 0.3 --seed 7 --draws 10
    first=$out
    run "$TAGBENCH" pipeline --caption='a, b, c, d, e' --shuffle-caption --caption-tag-dropout-rate=0.3 --seed=7 --draws=10
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "$first" "draws with the same seed"
    run "$TAGBENCH" pipeline --caption 'a, b, c, d, e' --shuffle_caption --caption_tag_dropout_rate 0.3 --seed 8 --draws 10
    [ "$out" != "$first" ] || fail "seeds 7 and 8 gave the same draws"
}

test_epoch_drives_caption_dropout_every_n_epochs() {
    run "$TAGBENCH" pipeline --caption 'a, b' --caption_dropout_every_n_epochs 2 --epoch 4 --draws 3 --json
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(printf '%s\n' "$out" | python3 -c 'import json,sys; print(sum(json.loads(l)["caption"] == "" for l in sys.stdin))')" 3 "dropped draws in epoch 4"
    run "$TAGBENCH" pipeline --caption 'a, b' --caption_dropout_every_n_epochs 2 --epoch 3 --draws 3
    expect_eq "$(distinct "$out")" 1 "draws in epoch 3"
    expect_eq "$(printf '%s\n' "$out" | head -n 1)" "a, b" "a draw in epoch 3"
}

test_step_drives_token_warmup() {
    run "$TAGBENCH" pipeline --caption 'a, b, c, d, e, f' --token_warmup_step 10 --token_warmup_min 2 --step 5 --draws 1
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "a, b, c, d" "tags at step 5 of 10 (floor(5 * 4 / 10) + 2)"
    run "$TAGBENCH" pipeline --caption 'a, b, c, d, e, f' --token_warmup_step 0.5 --max_train_steps 20 --step 10 --draws 1
    expect_eq "$out" "a, b, c, d, e, f" "tags once warm-up is over"
}

test_json_draws() {
    run "$TAGBENCH" pipeline --caption 'x |||  "q", y' --keep_tokens_separator '|||' --shuffle_caption --draws 2 --json
    expect_eq "$rc" 0 "exit status"
    first=$(printf '%s\n' "$out" | head -n 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["draw"], d["caption"].startswith("x, "), "\"q\"" in d["caption"], d["kept"])')
    expect_eq "$first" "0 True True 1" "first draw: index, fixed tag first, quotes kept, kept count"
    expect_eq "$(lines "$out")" 2 "number of draws"
}

test_caption_is_read_as_a_caption_file() {
    run "$TAGBENCH" pipeline --caption "$(printf '  a, b  \nsecond line')" --draws 1
    expect_eq "$out" "a, b" "first line, stripped"
    run "$TAGBENCH" pipeline --enable_wildcard --caption "$(printf '{x|y}\n\n{x|y}')" --draws 40
    expect_eq "$(printf '%s\n' "$out" | grep -vcE '^(x|y)$')" 0 "draws other than x or y"
    expect_eq "$(distinct "$out")" 2 "both alternatives seen"
}

test_bad_values_are_usage_errors() {
    run "$TAGBENCH" pipeline --caption a --caption_tag_dropout_rate 1.5
    expect_eq "$rc" 2 "exit status for a rate above 1"
    expect_contains "$err" "tagbench pipeline: caption_tag_dropout_rate must be in [0, 1], got 1.5"
    expect_eq "$out" "" "stdout after a usage error"
    run "$TAGBENCH" pipeline --caption a --keep_tokens x
    expect_eq "$rc" 2 "exit status for a non-number"
    expect_contains "$err" '--keep_tokens needs a whole number, got "x"'
    run "$TAGBENCH" pipeline --caption a --draws -1
    expect_eq "$rc" 2 "exit status for negative draws"
    expect_contains "$err" '--draws'
    run "$TAGBENCH" pipeline --caption a --seed
    expect_eq "$rc" 2 "exit status for a missing value"
    expect_contains "$err" "--seed needs a value"
    run "$TAGBENCH" pipeline --caption a --shuffle_caption=yes
    expect_eq "$rc" 2 "exit status for a value given to a switch"
    run "$TAGBENCH" pipeline --caption a --frobnicate
    expect_eq "$rc" 2 "exit status for an unknown option"
    expect_contains "$err" "--frobnicate"
    run "$TAGBENCH" pipeline --seed 3
    expect_eq "$rc" 2 "exit status without a caption"
    expect_contains "$err" "--caption"
}

# DIR mode: K draws per image, prefixed with the caption file; caption-less images draw from
# their folder's class tokens; the first line of the file only, as kohya reads it.
test_dir_mode_draws_every_caption() {
    mkdir -p d/5_sks\ dog
    printf 'a, b, c\nsecond line\n' >d/5_sks\ dog/1.txt
    : >d/5_sks\ dog/1.png
    : >d/5_sks\ dog/2.png
    run "$TAGBENCH" pipeline d --draws 2
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "$(printf '5_sks dog/1.txt\ta, b, c\n5_sks dog/1.txt\ta, b, c\n5_sks dog/2.png\tsks dog\n5_sks dog/2.png\tsks dog')" "draws"
    run "$TAGBENCH" pipeline d --draws 1 --keep_tokens 1 --shuffle_caption --json --seed 4
    first=$(printf '%s\n' "$out" | head -n 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["file"], d["draw"], d["caption"].startswith("a, "), d["kept"])')
    expect_eq "$first" "5_sks dog/1.txt 0 True 1" "first draw: file, index, fixed tag first, kept count"
}

run_tests
