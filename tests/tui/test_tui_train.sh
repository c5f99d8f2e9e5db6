#!/bin/sh
# The full-screen app's Train screen (4): the whole run config as a form, every accepted change
# written at once to DIR/.tagbench/run.json under kohya's key names, refused values shown with
# their key and the file left alone, the same values as the Captions screen, a kohya_ss GUI
# config loaded with its ignored keys listed, the config written to another file, and the key
# that starts the run.
. "$ROOT/tests/tui/lib.sh"

# cfg KEY [FILE]: KEY's value in the run config, as Python prints it (MISSING when absent).
cfg() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], "MISSING"))' \
        "${2:-d/.tagbench/run.json}" "$1"
}

# train_screen DIR [ARGS]: the app on DIR, showing the Train screen.
train_screen() {
    d=$1
    shift
    app_start "$d" "$@" || return 1
    keys 4
    wait_for '^Run config ' || return 1
}

# find_key KEY: the form's cursor on option KEY (the line under the form names it).
find_key() {
    keys /
    wait_for '^find option:' || return 1
    type_text "$1"
    keys Enter
    wait_for "^ $1  default " || return 1
}

# type_value TEXT: Enter on the current option, its text replaced by TEXT, Enter.
type_value() {
    keys Enter
    wait_for '^[a-z_]+:( |$)' || return 1
    keys C-u
    type_text "$1"
    keys Enter
}

test_the_form_shows_every_section_and_the_plan() {
    mk_shapes d
    train_screen d || return
    expect_screen '^ dataset: 5 images, 50 per epoch with repeats' "the dataset line"
    expect_screen '^ steps: ~50 per epoch \(batch 1 x accumulation 1\), 1600 in all = 32 epochs' \
        "the steps line"
    expect_screen '^ not ready to start: pretrained_model_name_or_path: not set' "readiness"
    expect_screen '^ > Start training' "the Start row"
    expect_screen '^ -- dataset' "the first section"
    for k in keep_tokens network_dim learning_rate lr_scheduler max_train_steps noise_offset \
        save_precision sample_sampler seed; do
        find_key $k || return
    done
    expect_screen '^ -- misc' "the last section"
    expect_screen '^  seed +\(random\) ' "the seed"
    keys q
    expect_quits_ok
}

test_edits_land_in_run_json() {
    mk_shapes d
    train_screen d || return
    [ -e d/.tagbench/run.json ] && fail "a run config before any change"
    find_key learning_rate || return
    keys +
    wait_for '^learning_rate = 0\.0002 \(saved\)' || return
    expect_eq "$(cfg learning_rate)" 0.0002 "learning_rate after +"
    expect_eq "$(cfg train_data_dir)" "$T/d" "train_data_dir (the open dataset)"
    expect_eq "$(cfg caption_extension)" ".txt" "caption_extension (the open dataset's)"
    type_value 3e-4
    wait_for '^learning_rate = 0\.0003 \(saved\)' || return
    expect_screen '^  learning_rate +0\.0003 ' "the row"
    expect_eq "$(cfg learning_rate)" 0.0003 "learning_rate typed"
    # a choice from its list
    find_key lr_scheduler || return
    keys Enter
    wait_for 'cosine_with_restarts' || return
    keys j j j Enter
    wait_for '^lr_scheduler = cosine \(saved\)' || return
    expect_eq "$(cfg lr_scheduler)" cosine "lr_scheduler picked"
    # a choice cycled
    find_key optimizer_type || return
    keys +
    wait_for '^optimizer_type = AdamW8bit \(saved\)' || return
    expect_eq "$(cfg optimizer_type)" AdamW8bit "optimizer_type cycled"
    find_key network_dim || return
    keys + +
    wait_for '^network_dim = 32 \(saved\)' || return
    expect_eq "$(cfg network_dim)" 32 "network_dim doubled twice"
    find_key flip_aug || return
    keys Space
    wait_for '^flip_aug = true \(saved\)' || return
    expect_eq "$(cfg flip_aug)" True "flip_aug toggled"
    find_key weight_decay || return
    type_value 0.05
    wait_for '^weight_decay = 0\.05 \(saved\)' || return
    expect_eq "$(cfg optimizer_args)" "weight_decay=0.05 betas=0.9,0.999 eps=1e-08" \
        "weight_decay saved as kohya's optimizer_args"
    find_key seed || return
    type_value 42
    wait_for '^seed = 42 \(saved\)' || return
    expect_eq "$(cfg seed)" 42 "seed"
    find_key sample_prompts || return
    type_value prompts.txt
    wait_for '^sample_prompts = prompts\.txt \(saved\)' || return
    expect_eq "$(cfg sample_prompts)" prompts.txt "sample_prompts"
    # back to the default
    find_key network_dim || return
    keys d
    wait_for '^network_dim = 8 \(saved\)' || return
    expect_eq "$(cfg network_dim)" 8 "network_dim back to its default"
    keys q
    expect_quits_ok
    expect_eq "$(cfg learning_rate)" 0.0003 "learning_rate after quitting"
}

test_refused_values_name_the_key_and_keep_the_file() {
    mk_shapes d
    train_screen d || return
    find_key learning_rate || return
    keys +
    wait_for '^learning_rate = 0\.0002 \(saved\)' || return
    cp d/.tagbench/run.json "$T/run.before"
    type_value -1
    wait_for '^learning_rate: must be a number > 0, got -1' || return
    expect_screen '^  learning_rate +0\.0002 +learning_rate: must be' "the refusal on its row"
    type_value fast
    wait_for '^learning_rate: "fast" is not a number' || return
    find_key min_bucket_reso || return
    type_value 2000
    wait_for '^min_bucket_reso: 2000 is above max_bucket_reso \(1024\)' || return
    expect_screen '^  min_bucket_reso +256 ' "min_bucket_reso kept"
    find_key lr_warmup_steps || return
    type_value 100
    wait_for '^lr_warmup_steps: must be 0 with lr_scheduler "constant"' || return
    find_key network_dim || return
    keys - - -   # 8 4 2 1
    wait_for '^network_dim = 1 \(saved\)' || return
    cp d/.tagbench/run.json "$T/run.before"
    keys -
    wait_for '^network_dim: must be an integer in \[1, 4096\], got 0' || return
    expect_screen '^  network_dim +1 ' "network_dim kept"
    find_key caption_separator || return
    type_value ''
    wait_for '^caption_separator: must be a non-empty string' || return
    find_key max_train_steps || return
    type_value 0
    wait_for '^max_train_steps: is 0 and so is max_train_epochs' || return
    cmp -s d/.tagbench/run.json "$T/run.before" || fail "run.json changed by a refused value"
    # Esc in the editor changes nothing
    keys Enter
    wait_for '^max_train_steps: 1600$' || return
    keys C-u
    type_text 7
    keys Escape
    wait_gone '^max_train_steps: 7$' || return
    expect_screen '^  max_train_steps +1600 ' "max_train_steps after Esc"
    cmp -s d/.tagbench/run.json "$T/run.before" || fail "run.json changed by a cancelled edit"
    keys q
    expect_quits_ok
}

test_the_captions_screen_shows_the_same_values() {
    mk_shapes d
    train_screen d || return
    find_key keep_tokens || return
    keys + +
    wait_for '^keep_tokens = 2 \(saved\)' || return
    keys 3
    wait_for '^Caption options \(run config\)' || return
    expect_screen '^ keep_tokens +2 ' "keep_tokens on the Captions screen"
    keys +
    wait_for '^keep_tokens = 3 \(saved\)' || return
    keys 4
    wait_for '^  keep_tokens +3 ' || return
    expect_eq "$(cfg keep_tokens)" 3 "keep_tokens in run.json"
    keys q
    expect_quits_ok
}

test_a_kohya_ss_gui_config_loads_with_its_ignored_keys_listed() {
    mk_shapes d
    cat >gui.json <<'EOF'
{
  "LoRA_type": "Standard",
  "cache_latents": true,
  "epoch": 4,
  "learning_rate": "0.0003",
  "lr_scheduler": "cosine",
  "max_resolution": "512,512",
  "network_dim": 16,
  "optimizer": "AdamW8bit",
  "train_data_dir": "/home/someone/kohya/img",
  "caption_extension": ".caption",
  "xformers": "xformers",
  "zz_later_key": 1
}
EOF
    train_screen d || return
    keys L
    wait_for '^load a config' || return
    keys C-u
    type_text "$T/gui.json"
    keys Enter
    wait_for 'keys tagbench knows and ignores, 1 unknown' || return
    expect_screen '^  +cache_latents +latents are cached always' "cache_latents listed"
    expect_screen '^  +xformers +no such backend' "xformers listed"
    expect_screen '^  +epoch +read as max_train_epochs' "epoch listed"
    expect_screen '^  +zz_later_key +\(unknown: kept as written\)' "the unknown key listed"
    expect_screen "^loaded $(re_quote "$T/gui.json") \\(saved\\); [0-9]+ keys ignored: " "the status line"
    keys Escape
    wait_gone 'keys tagbench knows and ignores' || return
    find_key network_dim || return
    expect_screen '^  network_dim +16 ' "network_dim from the GUI config"
    find_key lr_scheduler || return
    expect_screen '^  lr_scheduler +cosine ' "lr_scheduler from the GUI config"
    expect_eq "$(cfg learning_rate)" 0.0003 "learning_rate"
    expect_eq "$(cfg max_train_epochs)" 4 "max_train_epochs (the GUI's epoch)"
    expect_eq "$(cfg resolution)" "512,512" "resolution (the GUI's max_resolution)"
    expect_eq "$(cfg optimizer_type)" AdamW8bit "optimizer_type (the GUI's optimizer)"
    expect_eq "$(cfg xformers)" xformers "an ignored key kept as written"
    expect_eq "$(cfg zz_later_key)" 1 "an unknown key kept as written"
    expect_eq "$(cfg train_data_dir)" "$T/d" "train_data_dir stays the open dataset"
    expect_eq "$(cfg caption_extension)" ".txt" "caption_extension stays the open dataset's"
    # a later change keeps them all
    find_key network_dim || return
    keys +
    wait_for '^network_dim = 32 \(saved\)' || return
    expect_eq "$(cfg zz_later_key)" 1 "the unknown key after a change"
    # a file that does not load leaves the form as it was
    printf '{"network_dim": 0}\n' >bad.json
    keys L C-u
    type_text "$T/bad.json"
    keys Enter
    wait_for "^not loaded: $(re_quote "$T/bad.json"): network_dim: must be" || return
    expect_screen '^  network_dim +32 ' "network_dim kept"
    keys q
    expect_quits_ok
}

test_a_config_changed_on_disk_is_not_overwritten_and_reloads() {
    mk_shapes d
    train_screen d || return
    find_key network_dim || return
    keys +
    wait_for '^network_dim = 16 \(saved\)' || return
    printf '{"network_dim": 64, "learning_rate": 0.001}\n' >d/.tagbench/run.json
    keys +
    wait_for '^not saved: .*changed on disk' || return
    expect_eq "$(cfg network_dim)" 64 "network_dim written by the other program"
    keys L   # the app's own file: read again
    wait_for '^load a config' || return
    keys Enter
    wait_for '^loaded d/\.tagbench/run\.json \(saved\)' || return
    expect_screen '^  network_dim +64 ' "network_dim reloaded"
    keys +
    wait_for '^network_dim = 128 \(saved\)' || return
    expect_eq "$(cfg learning_rate)" 0.001 "learning_rate of the other program kept"
    keys q
    expect_quits_ok
}

test_the_config_is_written_to_another_file() {
    mk_shapes d
    train_screen d || return
    find_key network_dim || return
    keys +
    wait_for '^network_dim = 16 \(saved\)' || return
    keys W
    wait_for '^write the config to:' || return
    type_text "$T/copy.json"
    keys Enter
    wait_for "^config written to $(re_quote "$T/copy.json")" || return
    expect_eq "$(cfg network_dim copy.json)" 16 "network_dim in the copy"
    keys +
    wait_for '^network_dim = 32 \(saved\)' || return
    expect_eq "$(cfg network_dim)" 32 "run.json still saved after the copy"
    expect_eq "$(cfg network_dim copy.json)" 16 "the copy not touched by later changes"
    # an existing file: asks first
    keys W
    wait_for '^write the config to:' || return
    type_text "$T/copy.json"
    keys Enter
    wait_for 'copy\.json exists: overwrite it\?' || return
    keys n
    wait_for '^not written' || return
    expect_eq "$(cfg network_dim copy.json)" 16 "the copy kept on n"
    keys W
    wait_for '^write the config to:' || return
    type_text "$T/copy.json"
    keys Enter
    wait_for 'copy\.json exists: overwrite it\?' || return
    keys y
    wait_for "^config written to $(re_quote "$T/copy.json")" || return
    expect_eq "$(cfg network_dim copy.json)" 32 "the copy overwritten on y"
    keys q
    expect_quits_ok
}

test_start_refuses_a_config_without_a_model() {
    mk_shapes d
    train_screen d || return
    keys T
    wait_for 'not started: pretrained_model_name_or_path: not set' || return
    expect_screen '^Run config ' "still the Train screen"
    keys Enter   # the Start row is the first
    wait_for 'not started: pretrained_model_name_or_path: not set' || return
    keys q
    expect_quits_ok
}

test_start_launches_the_run_and_shows_it() {
    mk_shapes d
    mkdir -p d/.tagbench
    printf '{"pretrained_model_name_or_path": "tiny", "train_mode": "full", "max_train_steps": 2}\n' \
        >d/.tagbench/run.json
    train_screen d || return
    expect_screen '^ ready: T starts training full on tiny' "readiness"
    keys T
    wait_for "^run started in $(re_quote "$T/d/.tagbench/runs/")" || return
    expect_no_screen '^Run config ' "the Train screen after the start"
    [ -f d/.tagbench/runs/*/config.json ] || fail "no config.json in the run folder"
    keys 4
    wait_for '^ a run is going: 5 shows it' || return
    keys T
    wait_for 'a run is going' || return
}

run_tests
