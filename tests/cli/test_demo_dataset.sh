#!/bin/sh
# The bundled demo dataset (datasets/shapes) and its generator ($GEN_SHAPES): the committed files
# are exactly what the generator writes, every image has a caption in the documented tag
# structure, and the generator never overwrites a folder it did not fill itself.
. "$ROOT/tests/cli/lib.sh"
: "${GEN_SHAPES:?GEN_SHAPES must name the gen_shapes binary}"
DATA="$ROOT/datasets/shapes/10_shapes"
N_IMAGES=288

# The caption grammar documented in datasets/shapes/README.md: one line, three ", "-separated
# tags, "\n"-terminated.
CAPTION_RE='^(red|green|blue|yellow) (circle|square|triangle), (small|large), (white|gray|black) background$'

test_help_exits_0() {
    run "$GEN_SHAPES" --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "Usage: gen_shapes [--force] OUTDIR"
    expect_contains "$out" "10_shapes"
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
}

test_regenerates_committed_files_byte_for_byte() {
    run "$GEN_SHAPES" out
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "$N_IMAGES images"
    diff -r out/10_shapes "$DATA" >diff.log 2>&1 || fail "differs from the committed dataset: $(head -5 diff.log)"
    expect_eq "$(ls -A out)" "10_shapes" "OUTDIR contents"
}

test_every_image_has_a_caption_and_vice_versa() {
    n=0
    for f in "$DATA"/*; do
        case $f in
        *.png) [ -f "${f%.png}.txt" ] || fail "$f has no caption"; n=$((n + 1)) ;;
        *.txt) [ -f "${f%.txt}.png" ] || fail "$f has no image" ;;
        *) fail "unexpected file $f" ;;
        esac
    done
    expect_eq "$n" "$N_IMAGES" "image count"
    for f in "$DATA"/.[!.]*; do [ -e "$f" ] && fail "hidden file $f (a left-over temporary?)"; done
}

test_captions_follow_the_documented_structure() {
    for f in "$DATA"/*.txt; do
        expect_eq "$(wc -l <"$f" | tr -d ' ')" 1 "line count of $f"
        expect_eq "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" '\n' "last byte of $f"
        grep -Eq "$CAPTION_RE" "$f" || fail "$f: [$(cat "$f")] does not match the caption grammar"
    done
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
