#!/bin/sh
# shellcheck disable=SC2016 # sh -c scripts are single-quoted on purpose
# Regenerates the screenshots of docs/guide.md: the real app in `xterm -ti vt340` (sixel) under
# Xvfb, 100x30 cells of DejaVu Sans Mono 11 (9x19 pixels), on a copy of datasets/shapes with a
# 40-step run of its demo config trained headless first (for the Run and Samples screens); each PNG
# is the xterm window, written by tests/gfx/xwd.py (no ImageMagick needed).
# Usage: sh docs/img/make_screenshots.sh [OUT_DIR]   (default docs/img; TAGBENCH names the binary,
# default build/release/tagbench). Needs Xvfb, xterm, xwd (x11-apps), xdotool, python3 and
# fonts-dejavu-core. Look at every PNG afterwards: the captions in docs/guide.md describe them.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
OUT=${1:-docs/img}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
TAGBENCH=${TAGBENCH:-$ROOT/build/release/tagbench}
for tool in Xvfb xterm xwd xdotool python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "make_screenshots: $tool is not installed" >&2; exit 1; }
done
[ -x "$TAGBENCH" ] || make -s build/release/tagbench || exit 1
mkdir -p "$OUT" || exit 1
unset TMUX TMUX_PANE TERM_PROGRAM KITTY_WINDOW_ID COLORTERM MLTERM

W=$(mktemp -d /tmp/tagbench-shots-XXXXXX)
XVFB='' XTERM=''
cleanup() {
    [ -n "$XTERM" ] && kill "$XTERM" 2>/dev/null
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
die() { echo "make_screenshots: $*" >&2; exit 1; }

Xvfb -displayfd 3 -noreset -screen 0 1024x768x24 -nolisten tcp 3>"$W/display" 2>"$W/xvfb.log" &
XVFB=$!
i=0
while ! grep -q '^[0-9]' "$W/display" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
D=$(head -n 1 "$W/display")
[ -n "$D" ] || die "Xvfb did not start: $(cat "$W/xvfb.log")"
export DISPLAY=":$D" LANG=C.UTF-8 LC_ALL=C.UTF-8

# The app runs in $W on ./shapes, so the screens show short relative paths.
mkdir -p "$W/shapes" && cp -R datasets/shapes/10_shapes datasets/shapes/prompts.txt "$W/shapes/" \
    || exit 1
# A short real run for the Run and Samples screens, trained headless before the app starts: the
# demo config, sampling every 10 steps, no intermediate checkpoints, 40 steps (warm-up 5).
python3 - datasets/shapes/train.json "$W/shapes/train.json" <<'PY' || exit 1
import json, sys
c = json.load(open(sys.argv[1]))
c.update(sample_every_n_steps=10, save_every_n_steps=0, lr_warmup_steps=5)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
echo "make_screenshots: training 40 steps of the demo config (a minute or less)"
(cd "$W/shapes" && "$TAGBENCH" train train.json --max_train_steps 40 \
    --output_dir .tagbench/runs/demo --quiet) >"$W/train.log" 2>&1 \
    || die "the short run failed: $(cat "$W/train.log")"
cp "$W/shapes/train.json" "$W/shapes/.tagbench/run.json" || exit 1 # the app's run config
mkdir -p "$W/screen"
xterm -ti vt340 -tn xterm-256color -u8 -geometry 100x30+0+0 -fa 'DejaVu Sans Mono' -fs 11 \
    -xrm "XTerm*printFileImmediate: $W/screen/dump" -xrm 'XTerm*printOptsImmediate: 1' \
    -xrm 'XTerm*VT100.translations: #override Ctrl Shift <Key>F12: print-immediate()' \
    -e sh -c 'cd "$0" && exec "$@"' "$W" "$TAGBENCH" open shapes &
XTERM=$!
xdotool mousemove 300 300 # keyboard focus follows the pointer without a window manager

# screen_text: the screen's text, written by xterm itself (print-immediate, Ctrl-Shift-F12).
screen_text() {
    rm -f "$W"/screen/dump*
    xdotool key ctrl+shift+F12
    st_size=-1 st_n=0
    while [ $st_n -lt 60 ]; do
        for st_f in "$W"/screen/dump*; do
            [ -s "$st_f" ] || continue
            st_now=$(wc -c <"$st_f")
            [ "$st_now" = "$st_size" ] && { cat "$st_f"; return 0; }
            st_size=$st_now
        done
        sleep 0.05; st_n=$((st_n + 1))
    done
    return 1
}
wait_text() { # REGEX [TRIES]: until a line of the screen matches (TRIES, default 50: 10 s or more)
    n=0
    while [ $n -lt "${2:-50}" ]; do
        screen_text >"$W/text" && grep -qE -- "$1" "$W/text" && return 0
        sleep 0.1; n=$((n + 1))
    done
    sed 's/^/  |/' "$W/text" >&2
    die "timed out waiting for /$1/"
}
wait_gone() { # REGEX: until no line matches
    n=0
    while [ $n -lt 50 ]; do
        screen_text >"$W/text" && ! grep -qE -- "$1" "$W/text" && return 0
        sleep 0.1; n=$((n + 1))
    done
    die "timed out waiting for /$1/ to go"
}
shot() { xwd -root -silent >"$W/shot.xwd"; }
# green_pixels: how much of the preview's green (0001 is a green triangle) is on screen.
green_pixels() {
    shot && python3 tests/gfx/xwd.py near "$W/shot.xwd" 40 171 61 12 0 0 1024 768
}
wait_image() { # until the preview is drawn and stable
    last=-1 n=0
    while [ $n -lt 50 ]; do
        g=$(green_pixels)
        [ "$g" -gt 2000 ] && [ "$g" = "$last" ] && return 0
        last=$g
        sleep 0.1; n=$((n + 1))
    done
    die "the preview did not appear ($g green pixels)"
}
# wait_samples: until the sample grid's 24 images are drawn: each brings some 230 hues of its own
# (noise, after 40 steps), about 6000 in all; wait for most of them and three equal counts.
wait_samples() {
    last=-1 same=0 n=0
    while [ $n -lt 150 ]; do
        shot && c=$(python3 tests/gfx/xwd.py chroma "$W/shot.xwd" 0 0 1024 768)
        if [ "$c" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ "$c" -gt 4000 ] && [ $same -ge 2 ] && return 0
        last=$c
        sleep 0.2; n=$((n + 1))
    done
    die "the sample images did not appear ($c colours)"
}
save() { # NAME: the xterm window of a fresh screenshot as OUT/NAME
    eval "$(xdotool getwindowgeometry --shell "$(xdotool search --pid "$XTERM" | head -n 1)")"
    shot
    python3 tests/gfx/xwd.py png "$W/shot.xwd" "$OUT/$1" 0 0 "$WIDTH" "$HEIGHT" || exit 1
    echo "$OUT/$1: $(wc -c <"$OUT/$1") bytes"
}

wait_text ' tagbench .* images · '
wait_image
save dataset.png

xdotool key a
wait_text '^add tag to this image:'
xdotool type --delay 50 gre
wait_text 'green square'
save add-tag.png
xdotool key Escape
wait_gone '^add tag to this image:'

xdotool key question
wait_text '── Keys'
save help.png
xdotool key Escape
wait_gone '── Keys'
wait_image

xdotool key 2
wait_text 'sorted by'
save tags.png

xdotool key 3
wait_text '^ *keep_tokens '
xdotool key plus                  # keep_tokens 1
wait_text 'keep_tokens = 1 \(saved\)'
xdotool key Down Down space       # shuffle_caption true
wait_text 'shuffle_caption = true \(saved\)'
xdotool key Down Return           # caption_tag_dropout_rate: type the value
wait_text '^caption_tag_dropout_rate: '
xdotool key ctrl+u
xdotool type --delay 50 0.2
xdotool key Return
wait_text 'caption_tag_dropout_rate = 0.2 \(saved\)'
wait_gone 'updating'
save captions.png

xdotool key 4                     # Train: the demo config, with the Captions screen's changes
wait_text '^Run config '
wait_text 'ready: T starts training'
save train.png

xdotool key colon                 # :run opens the newest run folder: the short run
wait_text '^:'
xdotool type --delay 50 run
xdotool key Return
wait_text '^Viewing a run' 150
wait_text 'samples .*\(screen 6\)' 150
save run.png

xdotool key 6
wait_text 'samples: 6 prompts x 4 steps' 150
wait_samples
save samples.png

xdotool key q
n=0
while kill -0 "$XTERM" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
XTERM=''
