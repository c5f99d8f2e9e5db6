#!/bin/sh
# The full-screen app's Samples screen (6): a run's sample images as a grid of prompt x step, the
# newest steps in view, a cursor over the cells, two steps marked and compared side by side, one
# image zoomed, and the empty state. The runs are folders written here (events.jsonl with sample
# events pointing at PNGs of the demo dataset) and opened with `:run DIR`; --graphics none shows
# each image's file name in its cell, --graphics blocks the image itself.
. "$ROOT/tests/tui/lib.sh"

SHAPES="$ROOT/datasets/shapes/10_shapes"

# mk_run DIR FIRST LAST EVERY [PROMPTS]: a run folder whose events.jsonl has one sample per prompt
# (3 by default) at steps FIRST, FIRST+EVERY, ... LAST, each a copy of a demo image named as the
# trainer names them (samples/demo_SSSSSS_PP.png), and whose config names the prompt file.
mk_run() {
    mr_dir=$1 mr_step=$2 mr_last=$3 mr_every=$4 mr_np=${5:-3}
    mkdir -p "$mr_dir/samples"
    printf 'red circle, white background --n blurry\nblue square, black background\ngreen triangle, gray background\nyellow star\n' |
        head -n "$mr_np" >"$mr_dir/prompts.txt"
    printf '{"pretrained_model_name_or_path": "tiny", "sample_prompts": "%s/prompts.txt", "sample_every_n_steps": %d}\n' \
        "$mr_dir" "$mr_every" >"$mr_dir/config.json"
    : >>"$mr_dir/events.jsonl"
    mr_i=0
    while [ "$mr_step" -le "$mr_last" ]; do
        printf '{"event":"step","time":1718000000,"step":%d,"epoch":1,"loss":0.1,"lr":0.0001,"grad_norm":1,"samples_per_s":1,"mem_bytes":0,"total_steps":%d,"total_epochs":1}\n' \
            "$mr_step" "$mr_last" >>"$mr_dir/events.jsonl"
        mr_p=0
        while [ "$mr_p" -lt "$mr_np" ]; do
            mr_name=$(printf 'demo_%06d_%02d.png' "$mr_step" "$mr_p")
            cp "$SHAPES/$(printf '%04d' $((mr_i % 20 + 1))).png" "$mr_dir/samples/$mr_name"
            printf '{"event":"sample","time":1718000001,"step":%d,"path":"samples/%s","prompt":%d}\n' \
                "$mr_step" "$mr_name" "$mr_p" >>"$mr_dir/events.jsonl"
            mr_p=$((mr_p + 1)) mr_i=$((mr_i + 1))
        done
        mr_step=$((mr_step + mr_every))
    done
}

# open_run DIR: `:run DIR` on the Samples screen.
open_run() {
    keys 6
    wait_for '^ +(No run yet|No samples yet|[0-9]+ samples:)|^[0-9]+ samples: ' || return 1
    keys :
    type_text "run $1"
    keys Enter
    wait_for "^viewing $(re_quote "$1")" || return 1
}

test_empty_state_says_how_to_get_samples() {
    mk_shapes d
    app_start d || return
    keys 6
    wait_for '^ +No run yet\.' || return
    expect_screen_joined 'set sample_prompts and sample_every_n_steps in the Train screen' "the hint"
    expect_screen ':run DIR opens its folder' "the hint for earlier runs"
    keys :
    type_text run
    keys Enter
    wait_for '^:run: no runs under d/\.tagbench/runs yet' || return
    # a run without samples
    mkdir -p r
    printf '{"event":"step","time":1718000000,"step":7,"epoch":1,"loss":0.1,"lr":0.0001,"grad_norm":1,"samples_per_s":1,"mem_bytes":0,"total_steps":10,"total_epochs":1}\n' \
        >r/events.jsonl
    open_run "$T/r" || return
    wait_for '^ +No samples yet: .*step 7\.' || return
    keys q
    expect_quits_ok
}

test_grid_shows_prompts_by_steps_newest_in_view() {
    mk_shapes d
    mk_run "$T/r" 100 1000 100
    app_start d || return
    open_run "$T/r" || return
    wait_for '^30 samples: 3 prompts x 10 steps' || return
    expect_screen 'step 1000' "the newest step"
    expect_screen 'demo_001000_00\.png' "the newest image of prompt 1"
    expect_screen 'demo_001000_02\.png' "the newest image of prompt 3"
    expect_screen '^< [0-9]+ earlier' "earlier steps out of view"
    expect_no_screen 'step 100 ' "the first step out of view"
    expect_screen '^red circle, white' "prompt 1's text"
    expect_screen '^green triangle,' "prompt 3's text"
    expect_screen "^prompt 1, step 1000: $(re_quote "$T/r/samples/demo_001000_00.png")" "the cursor's cell"
    keys h j
    wait_for '^prompt 2, step 900: .*demo_000900_01\.png' || return
    keys g
    wait_for '^prompt 2, step 100: ' || return
    expect_screen 'demo_000100_01\.png' "the first step's images"
    expect_screen '[0-9]+ more >$' "later steps out of view"
    expect_no_screen 'earlier' "no earlier steps"
    keys G
    wait_for '^prompt 2, step 1000: ' || return
    keys q
    expect_quits_ok
}

test_two_steps_compared_side_by_side() {
    mk_shapes d
    mk_run "$T/r" 100 500 100
    app_start d || return
    open_run "$T/r" || return
    wait_for '^15 samples: 3 prompts x 5 steps' || return
    keys c
    wait_for '^mark two steps first' || return
    keys g Space
    wait_for '^step 100 marked' || return
    keys G Space
    wait_for '^steps 100 and 500 marked: c compares them' || return
    expect_screen 'marked steps 100 and 500: c compares$' "the marks"
    expect_screen 'A step 100 ' "mark A in the header"
    expect_screen 'B step 500' "mark B in the header"
    keys c
    wait_for '^Compare step 100 \| step 500, prompt 1 of 3' || return
    expect_screen '^red circle, white background$' "the prompt"
    expect_screen 'demo_000100_00\.png +demo_000500_00\.png' "the two images side by side"
    keys j
    wait_for '^Compare step 100 \| step 500, prompt 2 of 3' || return
    expect_screen 'demo_000100_01\.png +demo_000500_01\.png' "prompt 2's images"
    keys Escape
    wait_for '^15 samples: ' || return
    # a third mark replaces the oldest
    keys h Space
    wait_for '^steps 500 and 400 marked' || return
    keys c
    wait_for '^Compare step 400 \| step 500' || return
    keys c
    wait_for '^15 samples: ' || return
    keys q
    expect_quits_ok
}

test_one_image_zoomed() {
    mk_shapes d
    mk_run "$T/r" 100 300 100
    app_start d || return
    open_run "$T/r" || return
    wait_for '^9 samples: 3 prompts x 3 steps' || return
    keys j z
    wait_for '^Prompt 2 of 3, step 300' || return
    expect_screen '^blue square, black background$' "the prompt"
    expect_screen "^$(re_quote "$T/r/samples/demo_000300_01.png")\$" "the path"
    keys h
    wait_for '^Prompt 2 of 3, step 200' || return
    keys Escape
    wait_for '^9 samples: ' || return
    expect_screen '^prompt 2, step 200: ' "the cursor where the zoom left it"
    keys Enter
    wait_for '^Prompt 2 of 3, step 200' || return
    keys Enter
    wait_for '^9 samples: ' || return
    keys q
    expect_quits_ok
}

test_many_steps_scroll_and_new_ones_follow() {
    mk_shapes d
    mk_run "$T/r" 10 400 10 2
    app_start d || return
    open_run "$T/r" || return
    wait_for '^80 samples: 2 prompts x 40 steps' || return
    expect_screen 'step 400' "the newest step in view"
    keys PPage
    wait_for '^prompt 1, step 3[0-9]0: ' || return
    expect_screen '[0-9]+ more >$' "later steps"
    keys G
    wait_for '^prompt 1, step 400: ' || return
    # the folder grows (as a run goes on); opened again, the newest is in view
    mk_run "$T/r" 410 450 10 2
    keys :
    type_text "run $T/r"
    keys Enter
    wait_for '^90 samples: 2 prompts x 45 steps' || return
    expect_screen 'step 450' "the new newest step"
    expect_screen '^prompt 1, step 450: ' "the cursor on it"
    keys q
    expect_quits_ok
}

# A real run of the tiny model (full training at 32x32), two prompts sampled every 5 steps,
# started from the Train screen and watched here: each step's column arrives while it goes on,
# and the cursor follows the newest.
test_new_samples_appear_while_the_run_goes_on() {
    mkdir -p d/.tagbench
    cp -R "$SHAPES" d/
    printf 'red circle, large, white background --w 32 --h 32 --s 4 --d 1\nblue square, small, black background --w 32 --h 32 --s 4 --d 2\n' \
        >d/.tagbench/prompts.txt
    cat >d/.tagbench/run.json <<EOF
{"pretrained_model_name_or_path": "tiny", "train_mode": "full", "max_train_steps": 15,
 "train_batch_size": 2, "resolution": "32", "enable_bucket": false, "sample_every_n_steps": 5,
 "sample_prompts": ".tagbench/prompts.txt", "caption_extension": ".txt", "seed": 1}
EOF
    app_start d || return
    keys 4
    wait_for '^Run config ' || return
    keys T
    wait_for '^run started in ' || return
    keys 6
    wait_for '^ +(No samples yet|[0-9]+ samples: )|^[0-9]+ samples: ' 60 || return
    wait_for '^2 samples: 2 prompts x 1 steps' 120 || return
    expect_screen '^prompt 1, step 5: .*\.png$' "the first column"
    wait_for '^4 samples: 2 prompts x 2 steps' 120 || return
    wait_for '^6 samples: 2 prompts x 3 steps' 120 || return
    expect_screen 'step 5 +step 10 +step 15' "the three columns"
    expect_screen '^prompt 1, step 15: .*\.png$' "the cursor on the newest"
    expect_screen '^red circle, large' "prompt 1"
    expect_screen '^blue square, small' "prompt 2"
    wait_for '^run finished at step 15' 120 || return
    keys q
    expect_quits_ok
}

test_images_drawn_as_blocks() {
    mk_shapes d
    mk_run "$T/r" 100 200 100
    app_start d --graphics blocks || return
    open_run "$T/r" || return
    wait_for '^6 samples: 2|^6 samples: 3 prompts x 2 steps' || return
    expect_screen '▀▀▀▀▀▀▀▀ ▀▀▀▀▀▀▀▀' "two images side by side in a row"
    expect_no_screen 'demo_000200_00\.png +' "file names instead of images"
    keys z
    wait_for '^Prompt 1 of 3, step 200' || return
    expect_screen '▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀' "the zoomed image"
    keys Escape 1
    wait_gone '^[0-9]+ samples: ' || return
    keys q
    expect_quits_ok
}

run_tests
