#!/bin/sh
# `tagbench train CONFIG [options]`: usage errors, config errors that name the key and the file, a
# kohya_ss GUI config's ignored keys, and real runs of the tiny model on a copy of the demo
# dataset: the run folder's files, --json event lines, overrides, the progress line on a
# terminal, and Ctrl-C / SIGTERM stopping after a checkpoint with the documented exit status.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# tbt ARGS...: tb for runs, which take longer; SIGTERM (timeout's) only asks a run to stop after
# its step, so KILL follows when that does not end it.
tbt() {
    run timeout -k 10 "${TB_LIMIT:-120}" "$TAGBENCH" "$@"
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && fail "tagbench $* did not finish in ${TB_LIMIT:-120} s"
    san_clean
}

# run_config FILE STEPS [SAVE_EVERY]: a run of the tiny model on ./data (a copy of the demo
# dataset, made once per test), trained from scratch at 32 px, batch 2, a checkpoint every
# SAVE_EVERY steps (default 3; 0: only at the end), output in ./out.
run_config() {
    [ -d data ] || mk_demo data
    cat >"$1" <<EOF
{"pretrained_model_name_or_path": "tiny", "train_mode": "full", "train_data_dir": "data",
 "caption_extension": ".txt", "resolution": "32", "enable_bucket": false,
 "max_train_steps": $2, "train_batch_size": 2, "save_every_n_steps": ${3:-3}, "output_dir": "out",
 "seed": 1}
EOF
}

# events_last FILE: the "event" (and "reason") of the last line of an events.jsonl.
events_last() {
    tail -n 1 "$1" | python3 -c 'import json,sys; e=json.loads(sys.stdin.read()); print(e["event"], e.get("reason", ""))'
}

# ---- usage ----

test_no_config_is_a_usage_error() {
    tb train
    expect_eq "$rc" 2 "exit status"
    expect_contains "$err" "give a run config file" "stderr"
}

test_bad_options_are_usage_errors() {
    run_config c.json 6
    for args in "--frobnicate" "--threads 0" "--threads x" "--device gpu" "--json --quiet" \
        "--max_train_steps abc" "--seed -1" "--json=1" "--log-every" "c.json"; do
        # shellcheck disable=SC2086 # the words of args are the arguments
        tb train c.json $args
        expect_eq "$rc" 2 "exit status of train c.json $args"
        expect_contains "$err" "(see tagbench train --help)" "stderr of $args"
    done
    [ -e out ] && fail "a usage error made the run folder"
}

# The file passed validation; the override did not: the command line is at fault (2).
test_override_out_of_range_is_a_usage_error() {
    run_config c.json 6
    tb train c.json --max-train-steps 0
    expect_eq "$rc" 2 "exit status"
    expect_contains "$err" "max_train_steps" "stderr"
}

test_help_lists_options_and_exit_codes() {
    tb train --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "usage: tagbench train CONFIG" "help"
    expect_contains "$out" "--max_train_steps N" "help"
    expect_contains "$out" "130 stopped by Ctrl-C" "help"
    tb --help
    expect_contains "$out" "  train " "command list"
}

# ---- config errors (1) ----

test_missing_config_file() {
    tb train nope.json
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "nope.json: No such file" "stderr"
}

test_bad_key_names_key_and_file() {
    printf '{"pretrained_model_name_or_path": "tiny", "caption_dropout_rate": 1.5}\n' >bad.json
    tb train bad.json
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "bad.json: caption_dropout_rate: must be a number in [0, 1], got 1.5" "stderr"
}

test_missing_train_data_dir() {
    printf '{"pretrained_model_name_or_path": "tiny"}\n' >c.json
    tb train c.json
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "c.json: train_data_dir: not set" "stderr"
    printf '{"pretrained_model_name_or_path": "tiny", "train_data_dir": "gone"}\n' >d.json
    tb train d.json
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "d.json: train_data_dir: " "stderr"
    expect_contains "$err" "gone: not a folder" "stderr"
}

test_gui_config_lists_ignored_keys() {
    cat >gui.json <<'EOF'
{"LoRA_type": "Standard", "cache_latents": true, "xformers": "xformers", "epoch": 2,
 "pretrained_model_name_or_path": "tiny", "zz_later_key": 1}
EOF
    tb train gui.json
    expect_eq "$rc" 1 "exit status (no train_data_dir)"
    expect_contains "$err" "gui.json: 4 keys ignored: LoRA_type (" "stderr"
    expect_contains "$err" "cache_latents (latents are cached always" "stderr"
    expect_contains "$err" "1 unknown key kept as written: zz_later_key" "stderr"
    expect_contains "$err" "gui.json: train_data_dir: not set" "stderr"
}

# ---- real runs ----

test_short_run_writes_the_run_folder() {
    run_config c.json 6
    tbt train c.json
    expect_eq "$rc" 0 "exit status"
    expect_contains "$err" "run folder " "stderr"
    expect_contains "$err" "tagbench train: completed: step 6/6" "stderr"
    expect_contains "$err" "step 6/6 (100%)" "the last step line"
    expect_no_byte "$err" "$ESC" "stderr off a terminal"
    for f in config.json events.jsonl; do
        [ -s "out/$f" ] || fail "out/$f missing"
    done
    n=$(ls out/*.safetensors 2>/dev/null | wc -l)
    [ "$n" -ge 2 ] || fail "expected checkpoints at step 3 and the end, got [$(ls out)]"
    expect_eq "$(events_last out/events.jsonl)" "finished completed" "last event"
    steps=$(grep -c '"event":"step"' out/events.jsonl)
    expect_eq "$steps" 6 "step events in events.jsonl"
}

test_json_prints_every_event_as_a_line() {
    run_config c.json 6
    tbt train c.json --json
    expect_eq "$rc" 0 "exit status"
    kinds=$(printf '%s\n' "$out" | python3 -c '
import json, sys
print(" ".join(json.loads(line)["event"] for line in sys.stdin if line.strip()))')
    expect_eq "$(printf '%s\n' "$kinds" | tr ' ' '\n' | grep -c '^step$')" 6 "step lines"
    expect_eq "${kinds##* }" finished "last line"
    expect_contains "$kinds" checkpoint "event kinds"
    expect_eq "$(printf '%s\n' "$out" | wc -l)" "$(wc -l <out/events.jsonl)" "lines vs events.jsonl"
    expect_not_contains "$err" "step 6/6 (100%)" "stderr (no step lines with --json)"
    expect_contains "$err" "completed" "stderr"
}

# Command-line paths are taken from the current folder, the config's from its own folder.
test_overrides_from_another_folder() {
    mkdir cfg
    (cd cfg && run_config c.json 6)
    mkdir elsewhere
    cd elsewhere
    tbt train ../cfg/c.json --max_train_steps 2 --output-dir here --save_every_n_steps=0 --quiet
    expect_eq "$rc" 0 "exit status"
    [ -s here/events.jsonl ] || fail "--output-dir here was not taken from the current folder"
    [ -e ../cfg/out ] && fail "the config's output_dir was used"
    expect_eq "$(grep -c '"event":"step"' here/events.jsonl)" 2 "steps with --max_train_steps 2"
    expect_not_contains "$err" "step 1/2" "stderr with --quiet"
}

# start_long: a long run in the background ($pid), back once it took a step (at most 120 s).
start_long() {
    run_config c.json 100000 0
    "$TAGBENCH" train c.json >/dev/null 2>"$T/.train_err" &
    pid=$!
    i=0
    while ! grep -q '"event":"step"' out/events.jsonl 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt 1200 ] && { fail "no step within 120 s"; kill -KILL "$pid"; return 1; }
        kill -0 "$pid" 2>/dev/null || { fail "the run ended early: $(cat "$T/.train_err")"; return 1; }
        sleep 0.1
    done
}

# wait_long: $rc of the background run, killing it after 120 s.
wait_long() {
    (sleep 120 && kill -KILL "$pid" 2>/dev/null) &
    dog=$!
    wait "$pid"
    rc=$?
    kill "$dog" 2>/dev/null
    err=$(cat "$T/.train_err")
    san_clean
}

test_ctrl_c_saves_then_exits_130() {
    start_long || return
    kill -INT "$pid"
    wait_long
    expect_eq "$rc" 130 "exit status after Ctrl-C"
    expect_contains "$err" "Ctrl-C: stopping after this step, saving a checkpoint first" "stderr"
    expect_contains "$err" "tagbench train: stopped at step" "stderr"
    ls out/*.safetensors >/dev/null 2>&1 || fail "no checkpoint after Ctrl-C: [$(ls out)]"
    expect_eq "$(events_last out/events.jsonl)" "finished stopped" "last event"
}

test_sigterm_saves_then_exits_143() {
    start_long || return
    kill -TERM "$pid"
    wait_long
    expect_eq "$rc" 143 "exit status after SIGTERM"
    ls out/*.safetensors >/dev/null 2>&1 || fail "no checkpoint after SIGTERM: [$(ls out)]"
}

# A reader of --json that goes away (after a step) stops the run as a signal would: it saves first,
# then exits with 141.
test_closed_json_reader_stops_after_saving() {
    run_config c.json 100000 0
    { timeout -k 10 120 "$TAGBENCH" train c.json --json 2>"$T/.train_err"; echo $? >status; } |
        awk '/"event":"step"/ { print; exit }' >first
    rc=$(cat status)
    err=$(cat "$T/.train_err")
    san_clean
    expect_eq "$rc" 141 "exit status"
    expect_contains "$(cat first)" '{"event":"step"' "the line read"
    expect_contains "$err" "stdout is closed: stopping after this step" "stderr"
    ls out/*.safetensors >/dev/null 2>&1 || fail "no checkpoint: [$(ls out)]"
}

# On a terminal (tmux), the progress line is drawn with its bar and ends on the last step.
test_progress_line_on_a_terminal() {
    command -v tmux >/dev/null 2>&1 || { echo "  SKIP progress line: no tmux"; return; }
    run_config c.json 6
    TMUX_TMPDIR="$T" tmux -L train -f /dev/null new-session -d -x 100 -y 20 \
        "$TAGBENCH train c.json 2>&1; echo rc=\$? >status; sleep 60"
    i=0
    while [ ! -s status ] && [ "$i" -lt 1200 ]; do i=$((i + 1)); sleep 0.1; done
    screen=$(TMUX_TMPDIR="$T" tmux -L train capture-pane -p)
    TMUX_TMPDIR="$T" tmux -L train kill-server 2>/dev/null
    expect_eq "$(cat status)" "rc=0" "exit status"
    expect_contains "$screen" "#] 100% 6/6 ep 1/1 loss " "last progress line"
    expect_contains "$screen" "tagbench train: completed: step 6/6" "result line"
}

run_tests
