#!/bin/sh
# The full-screen app's Run screen (5): how to start a run when there is none; a short run of the
# tiny model started from the workbench on a copy of the demo dataset, its loss plot (braille)
# and step count advancing, its sample appearing; pause, resume, save now, stop (asked first);
# quitting while a run goes (asked, then the run saves and ends); and an earlier run's folder
# opened and replayed from its events.jsonl.
. "$ROOT/tests/tui/lib.sh"

# Braille cells (U+2800..U+28FF: E2 A0..A3 xx in UTF-8) anywhere on the screen.
has_braille() { screen | LC_ALL=C grep -q "$(printf '\342')[$(printf '\240\241\242\243')]"; }

wait_braille() {
    wb_n=$((TUI_WAIT * 20))
    until has_braille; do
        wb_n=$((wb_n - 1))
        [ "$wb_n" -gt 0 ] || { fail "no braille plot on the screen"; show_screen; return 1; }
        sleep 0.05
    done
}

# step_now: the step the Run screen's figures show ("step   12 / 30"), empty when none.
step_now() { screen | sed -n 's/.* step  *\([0-9][0-9]*\) \/ [0-9][0-9]*.*/\1/p' | head -n 1; }

# wait_step_past N [SECONDS]: until the shown step is greater than N.
wait_step_past() {
    ws_n=$(( ${2:-$TUI_WAIT} * 20 ))
    while :; do
        ws_s=$(step_now)
        [ -n "$ws_s" ] && [ "$ws_s" -gt "$1" ] && return 0
        ws_n=$((ws_n - 1))
        [ "$ws_n" -gt 0 ] || { fail "the step did not pass $1 (shows [$ws_s])"; show_screen; return 1; }
        sleep 0.05
    done
}

# mk_run_dataset DIR STEPS: a copy of the demo dataset with a run config for the tiny model
# (full training at 32x32, a sample every 20 steps from a one-line prompt file).
mk_run_dataset() {
    mkdir -p "$1/.tagbench"
    cp -R "$ROOT/datasets/shapes/10_shapes" "$1/"
    printf 'red circle, large, white background --w 32 --h 32 --s 8 --d 1\n' >"$1/.tagbench/prompts.txt"
    cat >"$1/.tagbench/run.json" <<EOF
{
  "pretrained_model_name_or_path": "tiny",
  "train_mode": "full",
  "max_train_steps": $2,
  "train_batch_size": 4,
  "resolution": "32",
  "enable_bucket": false,
  "sample_every_n_steps": 20,
  "sample_prompts": ".tagbench/prompts.txt",
  "caption_extension": ".txt",
  "seed": 1
}
EOF
}

# run_screen DIR: the app on DIR, showing the Run screen.
run_screen() {
    app_start "$1" || return 1
    keys 5
    wait_for '^ *(No training run yet|Run · |Viewing a run · )' || return 1
}

# events_of DIR: the run folder's events.jsonl (the newest run).
events_of() { ls -d "$1"/.tagbench/runs/*/ 2>/dev/null | tail -n 1 | sed 's|/$|/events.jsonl|'; }

test_without_a_run_the_screen_says_how_to_start_one() {
    mk_shapes d
    run_screen d || return
    expect_screen 'No training run yet\.' "title"
    expect_screen 'press Enter on the Train screen \(4\) or T here' "how to start"
    expect_screen 'd/\.tagbench/run\.json' "the config it would use"
    expect_screen 'p Pause .*x Stop' "key bar"
    keys p
    wait_for '^no run is going \(T starts one\)' || return
    keys x
    wait_for '^no run is going' || return
    keys '?'
    wait_for 'pause the run at the end of this step' || return
    expect_screen 'start a run with the run config' "help: T"
    expect_screen 'smooth the loss line more' "help: +"
    keys Escape
    wait_gone 'pause the run at the end' || return
    keys o
    wait_for '^run folder to view' || return # no run yet: nothing offered
    keys Escape
    keys q
    expect_quits_ok
}

# A hand-written run folder: 300 steps of a falling loss, a checkpoint, a sample, the end.
mk_old_run() {
    r=$1/.tagbench/runs/20240610-061320
    mkdir -p "$r/samples"
    printf 'png' >"$r/samples/s_000300_00.png"
    printf '{"sample_prompts": ".tagbench/prompts.txt"}\n' >"$r/config.json"
    mkdir -p "$1/.tagbench"
    printf 'red circle --w 64\n' >"$1/.tagbench/prompts.txt"
    awk 'BEGIN {
        for (s = 1; s <= 300; s++)
            printf "{\"event\":\"step\",\"time\":%d,\"step\":%d,\"epoch\":%d,\"loss\":%.6f,\"lr\":0.0001,\"grad_norm\":0.5,\"samples_per_s\":40,\"mem_bytes\":104857600,\"total_steps\":300,\"total_epochs\":3}\n", 1718000000 + s, s, 1 + int((s - 1) / 100), 0.05 + 0.5 * exp(-s / 60) + 0.02 * sin(s)
        printf "{\"event\":\"checkpoint\",\"time\":1718000300,\"step\":300,\"epoch\":3,\"path\":\"%s/last.safetensors\"}\n", "'"$r"'"
        printf "{\"event\":\"sample\",\"time\":1718000301,\"step\":300,\"path\":\"samples/s_000300_00.png\",\"prompt\":0}\n"
        printf "{\"event\":\"finished\",\"time\":1718000302,\"reason\":\"completed\"}\n"
    }' >"$r/events.jsonl"
}

test_an_earlier_run_folder_is_replayed() {
    mk_shapes d
    mk_old_run d
    run_screen d || return
    keys o
    wait_for '^run folder to view: d/\.tagbench/runs/20240610-061320' || return
    keys Enter
    wait_for '^Viewing a run · finished · step 300/300 · epoch 3/3' || return
    wait_braille || return
    expect_screen '^viewing d/\.tagbench/runs/20240610-061320: 300 steps, finished' "status"
    expect_screen 'step +300 / 300' "figures"
    expect_screen 'memory +100\.0 MiB' "memory"
    expect_screen 'checkpoints +1' "checkpoints"
    expect_screen 'log10 y' "a log axis for a positive loss"
    expect_screen '300 points' "every step plotted"
    expect_screen 'checkpoint at step 300 \(epoch 3\): .*last\.safetensors' "log: checkpoint"
    expect_screen 'sample at step 300: .*s_000300_00\.png \(prompt 1: red circle\)' "log: sample"
    expect_screen 'finished at step 300' "log: end"
    expect_screen 'smoothing 0\.6' "TensorBoard's default weight"
    keys +
    wait_for 'smoothing 0\.8' || return
    keys - -
    wait_for 'smoothing 0\.3' || return
    keys l
    wait_for 'linear y' || return
    keys l
    wait_for 'log10 y' || return
    keys p # not a going run
    wait_for '^this is an earlier run.s folder, not a going run' || return
    keys q
    expect_quits_ok
}

test_a_short_run_shows_its_loss_steps_and_sample() {
    mk_run_dataset d 30
    run_screen d || return
    keys T
    wait_for '^run started in .*d/\.tagbench/runs/' || return
    wait_for '^Run · (starting|running)' || return
    wait_step_past 0 60 || return
    first=$(step_now)
    wait_braille || return
    wait_step_past "$first" 60 || return
    expect_screen 'run ([0-9]+/30|finished) · 288 images' "the header's run progress"
    wait_for 'sample at step 20: samples/.*\.png \(prompt 1: red circle, large' 120 || return
    wait_for '^Run · finished · step 30/30' 120 || return
    wait_for '^run finished at step 30' || return
    ev=$(events_of d)
    [ -f "$ev" ] || { fail "no events.jsonl"; return; }
    grep -q '"event":"sample"' "$ev" || fail "events.jsonl has no sample"
    png=$(grep '"event":"sample"' "$ev" | head -n 1 | sed 's/.*"path":"\([^"]*\)".*/\1/')
    [ -f "$png" ] || fail "the sample [$png] is not on disk"
    expect_screen "sample at step 20: samples/$(re_quote "$(basename "$png")")" "the log names the file"
    keys q # the run ended: no question
    expect_quits_ok
}

test_a_run_that_cannot_start_says_why() {
    mk_shapes d
    mkdir -p d/.tagbench
    printf '{"max_train_steps": 10, "caption_extension": ".txt"}\n' >d/.tagbench/run.json
    run_screen d || return
    keys T
    wait_for '^run not started: .*pretrained_model_name_or_path' || return
    expect_screen 'No training run yet' "still no run"
    keys q
    expect_quits_ok
}

test_pause_resume_save_and_stop() {
    mk_run_dataset d 100000
    run_screen d || return
    keys T
    wait_step_past 2 60 || return
    keys T
    wait_for '^a run is going: stop it first' || return
    keys p
    wait_for '^Run · paused' || return
    wait_for 'paused at step [0-9]+' || return
    at=$(step_now)
    keys s # asked while paused: done once resumed
    keys r
    wait_for '^Run · running' || return
    wait_for 'checkpoint at step [0-9]+' 60 || return
    wait_step_past "$at" || return
    keys x
    wait_for 'Stop the run\? It saves a checkpoint first' || return
    keys n
    wait_gone 'Stop the run\?' || return
    expect_screen '^Run · running' "after n"
    keys x
    wait_for 'Stop the run\?' || return
    keys y
    wait_for '^Run · stopped' 60 || return
    wait_for 'stopped \(on request, after saving\)' || return
    n=$(grep -c '"event":"checkpoint"' "$(events_of d)")
    [ "$n" -ge 2 ] || fail "expected a checkpoint for s and one for the stop, got $n"
    keys q
    expect_quits_ok
}

test_quitting_while_a_run_goes_asks_then_saves() {
    mk_run_dataset d 100000
    run_screen d || return
    keys T
    wait_step_past 1 60 || return
    keys q
    wait_for 'A run is going: stop it \(saves a checkpoint\) and quit\? y/n' || return
    keys n
    wait_gone 'A run is going' || return
    at=$(step_now)
    wait_step_past "$at" || return # still going
    keys 1 q
    wait_for 'A run is going' || return
    keys y
    expect_quits_ok
    ev=$(events_of d)
    grep -q '"event":"checkpoint"' "$ev" || fail "no checkpoint after quitting"
    tail -n 1 "$ev" | grep -q '"reason":"stopped"' || fail "the run's last event: $(tail -n 1 "$ev")"
}

test_a_dropped_terminal_stops_the_run_with_a_checkpoint() {
    mk_run_dataset d 100000
    run_screen d || return
    keys T
    wait_step_past 1 60 || return
    pid=$APP_PID
    tm kill-server # like a dropped SSH connection: SIGHUP, nobody to ask
    n=600
    while kill -0 "$pid" 2>/dev/null && [ "$n" -gt 0 ]; do sleep 0.05; n=$((n - 1)); done
    kill -0 "$pid" 2>/dev/null && fail "the app is still there 30 s after its terminal went away"
    ev=$(events_of d)
    grep -q '"event":"checkpoint"' "$ev" || fail "no checkpoint after the hangup"
    tail -n 1 "$ev" | grep -q '"reason":"stopped"' || fail "the run's last event: $(tail -n 1 "$ev")"
}

# Tagging goes on while a run trains: the run keeps the captions it started with (its snapshot),
# the edit is saved to disk, and the run neither fails nor sees the new tag (its vocabulary).
test_editing_captions_during_a_run_does_not_reach_it() {
    mk_run_dataset d 40
    run_screen d || return
    keys T
    wait_step_past 0 60 || return
    keys 1
    wait_for 'Images 1/288' || return
    keys a
    wait_for '^add tag to this image:' || return
    type_text 'zzz_new_tag'
    keys Enter
    wait_for '^add "zzz_new_tag": 1 image changed' || return
    keys C-s
    wait_for '^saved 1 caption$' || return
    grep -l 'zzz_new_tag' d/10_shapes/*.txt >/dev/null || fail "the edit is not on disk"
    keys 5
    wait_for '^Run · finished · step 40/40' 120 || return
    run=$(dirname "$(events_of d)")
    [ -f "$run/tags.json" ] || { fail "no tags.json in the run folder"; return; }
    grep -q 'zzz_new_tag' "$run/tags.json" && fail "the run's vocabulary has the tag added after launch"
    grep -q '"red circle"' "$run/tags.json" || fail "the run's vocabulary lacks the dataset's tags"
    keys q
    expect_quits_ok
}

run_tests
