#!/bin/sh
# The bundled demo datasets (datasets/shapes, and datasets/shapes_lora for the LoRA demo) and
# their generator ($GEN_SHAPES): the committed files are exactly what the generator writes, every
# image has a caption in the documented tag structure, and the generator never overwrites a
# folder it did not fill itself.
. "$ROOT/tests/cli/lib.sh"
: "${GEN_SHAPES:?GEN_SHAPES must name the gen_shapes binary}"
DATA="$ROOT/datasets/shapes/10_shapes"
N_IMAGES=288
LORA="$ROOT/datasets/shapes_lora/5_purple" # gen_shapes --set lora
N_LORA=72

# The caption grammars documented in datasets/shapes/README.md and datasets/shapes_lora/README.md:
# one line, three ", "-separated tags, "\n"-terminated.
CAPTION_RE='^(red|green|blue|yellow) (circle|square|triangle), (small|large), (white|gray|black) background$'
LORA_RE='^purple (circle|square|triangle), (small|large), (white|gray|black) background$'

# expect_pairs DIR N: DIR holds N images, each with its caption, and nothing else.
expect_pairs() {
    n=0 n_txt=0
    for f in "$1"/*; do
        case $f in
        *.png) [ -f "${f%.png}.txt" ] || fail "$f has no caption"; n=$((n + 1)) ;;
        *.txt) [ -f "${f%.txt}.png" ] || fail "$f has no image"; n_txt=$((n_txt + 1)) ;;
        *) fail "unexpected file $f" ;;
        esac
    done
    expect_eq "$n" "$2" "image count in $1"
    expect_eq "$n_txt" "$2" "caption count in $1"
    for f in "$1"/.[!.]*; do [ -e "$f" ] && fail "hidden file $f (a left-over temporary?)"; done
}

# expect_captions DIR RE: every caption in DIR is one "\n"-terminated line matching RE.
expect_captions() {
    for f in "$1"/*.txt; do
        expect_eq "$(wc -l <"$f" | tr -d ' ')" 1 "line count of $f"
        expect_eq "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" '\n' "last byte of $f"
        grep -Eq "$2" "$f" || fail "$f: [$(cat "$f")] does not match the caption grammar"
    done
}

test_help_exits_0() {
    run "$GEN_SHAPES" --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "Usage: gen_shapes [--force] OUTDIR"
    expect_contains "$out" "10_shapes"
    expect_contains "$out" "--set SET"
    expect_contains "$out" "5_purple"
}

test_usage_errors_exit_2() {
    run "$GEN_SHAPES"
    expect_eq "$rc" 2 "exit status without OUTDIR"
    expect_contains "$err" "Usage:"
    run "$GEN_SHAPES" --frobnicate out
    expect_eq "$rc" 2 "exit status with an unknown option"
    expect_contains "$err" "--frobnicate"
    run "$GEN_SHAPES" a b
    expect_eq "$rc" 2 "exit status with two OUTDIRs"
    [ -e a ] || [ -e b ] && fail "a usage error created a folder"
    run "$GEN_SHAPES" --set
    expect_eq "$rc" 2 "exit status with --set and no set name"
    expect_contains "$err" "shapes, lora"
    run "$GEN_SHAPES" --set purple out
    expect_eq "$rc" 2 "exit status with an unknown set"
    expect_contains "$err" "'purple'"
    [ -e out ] && fail "a usage error created a folder"
}

test_regenerates_committed_files_byte_for_byte() {
    run "$GEN_SHAPES" out
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "$N_IMAGES images"
    diff -r out/10_shapes "$DATA" >diff.log 2>&1 || fail "differs from the committed dataset: $(head -5 diff.log)"
    expect_eq "$(ls -A out)" "10_shapes" "OUTDIR contents"
}

test_every_image_has_a_caption_and_vice_versa() {
    expect_pairs "$DATA" "$N_IMAGES"
}

test_captions_follow_the_documented_structure() {
    expect_captions "$DATA" "$CAPTION_RE"
}

test_every_combination_appears_equally_often() {
    # 3 shapes x 4 colours x 2 sizes x 3 backgrounds = 72 captions, each on 4 images.
    cat "$DATA"/*.txt | sort | uniq -c | awk '{print $1}' | sort -u >counts
    expect_eq "$(cat counts)" 4 "images per caption"
    expect_eq "$(cat "$DATA"/*.txt | sort -u | wc -l | tr -d ' ')" 72 "distinct captions"
    # and so the per-tag counts documented in the README
    tags=$(cat "$DATA"/*.txt | awk -F', ' '{ for (i = 1; i <= NF; i++) n[$i]++ }
        END { for (t in n) print t "=" n[t] }')
    for t in "red circle=24" "yellow triangle=24" "small=144" "large=144" \
        "white background=96" "gray background=96" "black background=96"; do
        expect_contains "$tags" "$t" "tag counts"
    done
    expect_eq "$(printf '%s\n' "$tags" | wc -l | tr -d ' ')" 17 "distinct tags"
}

test_lora_set_regenerates_committed_files_byte_for_byte() {
    run "$GEN_SHAPES" --set lora out
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "out/5_purple: $N_LORA images"
    diff -r out/5_purple "$LORA" >diff.log 2>&1 || fail "differs from the committed LoRA set: $(head -5 diff.log)"
    expect_eq "$(ls -A out)" "5_purple" "OUTDIR contents"
}

test_lora_set_has_72_captioned_purple_images() {
    expect_pairs "$LORA" "$N_LORA"
    expect_captions "$LORA" "$LORA_RE"
}

test_lora_set_every_combination_appears_equally_often() {
    # 3 shapes x 1 colour x 2 sizes x 3 backgrounds = 18 captions, each on 4 images.
    cat "$LORA"/*.txt | sort | uniq -c | awk '{print $1}' | sort -u >counts
    expect_eq "$(cat counts)" 4 "images per caption"
    expect_eq "$(cat "$LORA"/*.txt | sort -u | wc -l | tr -d ' ')" 18 "distinct captions"
    tags=$(cat "$LORA"/*.txt | awk -F', ' '{ for (i = 1; i <= NF; i++) n[$i]++ }
        END { for (t in n) print t "=" n[t] }')
    for t in "purple circle=24" "purple square=24" "purple triangle=24" "small=36" "large=36" \
        "white background=24" "gray background=24" "black background=24"; do
        expect_contains "$tags" "$t" "tag counts"
    done
    expect_eq "$(printf '%s\n' "$tags" | wc -l | tr -d ' ')" 8 "distinct tags"
}

test_sets_share_an_outdir_without_touching_each_other() {
    # explicit --set shapes is the default; writing the lora set beside it leaves it alone
    "$GEN_SHAPES" --set shapes out >/dev/null || fail "--set shapes failed"
    "$GEN_SHAPES" --set lora out >/dev/null || fail "--set lora failed"
    expect_eq "$(ls -A out | tr '\n' ' ')" "10_shapes 5_purple " "OUTDIR contents"
    diff -r out/10_shapes "$DATA" >/dev/null || fail "--set shapes differs from the committed dataset"
    run "$GEN_SHAPES" out
    expect_eq "$rc" 0 "exit status of the default set's rerun"
    expect_contains "$out" "0 files written"
}

test_lora_set_never_overwrites_an_edited_caption_without_force() {
    "$GEN_SHAPES" --set lora out >/dev/null || fail "first run failed"
    echo "purple circle, my edit" >out/5_purple/0001.txt
    run "$GEN_SHAPES" --set lora out
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "out/5_purple/0001.txt: differs"
    expect_eq "$(cat out/5_purple/0001.txt)" "purple circle, my edit" "edited caption"
    run "$GEN_SHAPES" --force --set lora out
    expect_eq "$rc" 0 "exit status with --force"
    cmp -s out/5_purple/0001.txt "$LORA/0001.txt" || fail "--force did not restore 0001.txt"
}

test_refuses_a_non_empty_target_without_force() {
    mkdir -p out/10_shapes
    echo "my notes" >out/10_shapes/notes.txt
    run "$GEN_SHAPES" out
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "out/10_shapes/notes.txt"
    expect_contains "$err" "--force"
    expect_eq "$(ls -A out/10_shapes)" "notes.txt" "files after a refusal"
    # --force writes the dataset but keeps a file it did not write
    run "$GEN_SHAPES" --force out
    expect_eq "$rc" 0 "exit status with --force"
    expect_eq "$(cat out/10_shapes/notes.txt)" "my notes" "foreign file after --force"
    rm out/10_shapes/notes.txt
    diff -r out/10_shapes "$DATA" >/dev/null || fail "--force output differs from the committed dataset"
}

test_never_overwrites_an_edited_caption_without_force() {
    "$GEN_SHAPES" out >/dev/null || fail "first run failed"
    echo "red circle, my edit" >out/10_shapes/0001.txt
    run "$GEN_SHAPES" out
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "out/10_shapes/0001.txt: differs"
    expect_eq "$(cat out/10_shapes/0001.txt)" "red circle, my edit" "edited caption"
    run "$GEN_SHAPES" --force out
    expect_eq "$rc" 0 "exit status with --force"
    cmp -s out/10_shapes/0001.txt "$DATA/0001.txt" || fail "--force did not restore 0001.txt"
}

test_rerun_over_its_own_output_is_a_no_op() {
    # what `make dataset` does on a checkout: the target already holds exactly this output
    "$GEN_SHAPES" out >/dev/null || fail "first run failed"
    run "$GEN_SHAPES" out
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "0 files written"
}

test_clears_temporaries_of_an_interrupted_run() {
    # an interrupted run leaves at most a .NNNN.png.tmp (files are renamed into place whole)
    mkdir -p out/10_shapes
    printf 'half a png' >out/10_shapes/.0007.png.tmp
    run "$GEN_SHAPES" out
    expect_eq "$rc" 0 "exit status"
    [ -e out/10_shapes/.0007.png.tmp ] && fail "temporary left behind"
    diff -r out/10_shapes "$DATA" >/dev/null || fail "output differs from the committed dataset"
}

test_names_the_path_when_outdir_is_not_a_folder() {
    : >afile
    run "$GEN_SHAPES" afile
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "afile"
    expect_contains "$err" "not a directory"
}

run_tests
