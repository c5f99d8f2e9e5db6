#!/bin/sh
# Images in a real terminal: tests/gfx/preview_driver (the preview layer in a small ncurses
# program) runs in xterm under Xvfb; screenshots (xwd) are read by tests/gfx/xwd.py, which counts
# the distinct colours in a box: a sixel photo shows hundreds, blank cells one, text a few dozen
# (reference/terminal.md §6.2). Checks: the probe picks sixel in `xterm -ti vt340` and blocks in
# a default xterm; the image appears; hiding, moving, an overlay, Ctrl-L and a window resize
# each leave the screen right.
# Usage: sh tests/gfx/xterm_sixel.sh [SHOT_DIR]   (screenshots kept as PNG in SHOT_DIR, default
# /tmp). Prints SKIP and exits 0 when Xvfb, xterm, xwd, xdotool or python3 is missing.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
SHOTS=${1:-/tmp}
for tool in Xvfb xterm xwd xdotool python3 cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (apt-get install xvfb xterm x11-apps xdotool)"
        echo "0 passed, 0 failed"
        exit 0
    fi
done

passed=0 failed=0
check() { # $1 = description, rest = test command
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; fi
}

W=$(mktemp -d /tmp/tagbench-gfx-XXXXXX)
XVFB='' XTERM=''
cleanup() {
    [ -n "$XTERM" ] && kill "$XTERM" 2>/dev/null
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT INT TERM

# ---- build the driver against the project's libraries ----
BUILD=${BUILD:-build/release}
make -s "$BUILD/libtui.a" "$BUILD/libtrainer.a" "$BUILD/libtagger.a" >"$W/make.log" 2>&1 ||
    { cat "$W/make.log"; echo "0 passed, 1 failed"; exit 1; }
DRIVER=$W/preview_driver
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -I. $(pkg-config --cflags ncursesw libsixel stb) -O1 -g \
    -o "$DRIVER" tests/gfx/preview_driver.c "$BUILD/libtui.a" "$BUILD/libtrainer.a" \
    "$BUILD/libtagger.a" $(pkg-config --libs libcjson stb ncursesw libsixel) -lm -lpthread ||
    { echo "0 passed, 1 failed"; exit 1; }

# ---- an X server on a free display ----
D=''
for n in $(seq 91 140); do
    [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] || { D=$n; break; }
done
Xvfb ":$D" -screen 0 1024x768x24 -nolisten tcp >"$W/xvfb.log" 2>&1 &
XVFB=$!
export DISPLAY=":$D" LANG=C.UTF-8 LC_ALL=C.UTF-8
i=0
while [ ! -e "/tmp/.X11-unix/X$D" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

STATE=$W/state
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$STATE" 2>/dev/null; }
why() { sed -n 's/.* why=//p' "$STATE" 2>/dev/null; }
frame_no() { sed -n 's/^frame=\([0-9]*\).*/\1/p' "$STATE" 2>/dev/null; }
wait_frame() { # $1 = frame number to reach
    i=0
    while [ "$(frame_no)" != "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    [ "$(frame_no)" = "$1" ]
}
start_xterm() { # $1 = -ti vt340 or "", rest: the command (default: the driver)
    ti=$1; shift
    [ $# -gt 0 ] || set -- "$DRIVER" "$STATE"
    rm -f "$STATE"
    # shellcheck disable=SC2086
    xterm $ti -tn xterm-256color -u8 -geometry 100x30+0+0 -fa 'DejaVu Sans Mono' -fs 11 \
        -e "$@" &
    XTERM=$!
    wait_frame 1 && xdotool mousemove 300 300 # keyboard focus follows the pointer without a WM
}
stop_xterm() {
    xdotool key q
    i=0
    while kill -0 "$XTERM" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    kill "$XTERM" 2>/dev/null
    XTERM=''
}
key() { # $1 = key, then waits for the frame it causes
    next=$(($(frame_no) + 1))
    xdotool key "$1"
    wait_frame "$next"
}

# The image's cells in screen pixels (xterm's 2-pixel inner border), less the last column and
# row, which the image may not fill: "X Y W H".
img_box() {
    cell=$(field cell) img=$(field img)
    cw=${cell%x*} ch=${cell#*x}
    set -- $(echo "$img" | tr , ' ')
    echo "$((2 + $2 * cw + 2)) $((2 + $1 * ch + 2)) $((($4 - 1) * cw)) $((($3 - 1) * ch))"
}
# Cells (row, col, rows, cols) as pixels, using the current cell size.
cell_box() {
    cell=$(field cell); cw=${cell%x*} ch=${cell#*x}
    echo "$((2 + $2 * cw)) $((2 + $1 * ch)) $(($4 * cw)) $(($3 * ch))"
}
shot() { xwd -root -silent >"$W/shot.xwd"; }
colours() { shot && python3 tests/gfx/xwd.py count "$W/shot.xwd" "$@"; }
hues() { shot && python3 tests/gfx/xwd.py chroma "$W/shot.xwd" "$@"; }
# Polls screenshots until the count in the box satisfies TEST (-gt N / -le N). wait_colours
# counts all colours (blank cells: 1), wait_hues only non-grey ones (an image, not text).
wait_colours() { wait_count colours "$@"; }
wait_hues() { wait_count hues "$@"; }
wait_count() { # $1 = colours|hues, $2 $3 = test, rest = box
    how=$1 op=$2 lim=$3; shift 3
    i=0
    while [ $i -lt 40 ]; do
        last=$($how "$@")
        [ "$last" "$op" "$lim" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "     ($last $how in box $*)"
    return 1
}
save_png() { python3 tests/gfx/xwd.py png "$W/shot.xwd" "$1" 0 0 910 580 && echo "     screenshot: $1"; }

# ---- xterm -ti vt340: sixel ----
start_xterm "-ti vt340"
check "probe picks sixel in xterm -ti vt340 ($(why))" [ "$(field gfx)" = sixel ]
check "cell size from TIOCGWINSZ is 9x19" [ "$(field cell)" = 9x19 ]
BOX=$(img_box)
check "the image is on screen" wait_hues -gt 150 $BOX
save_png "$SHOTS/tagbench-xterm-sixel.png"
TEXT=$(cell_box 2 1 18 36)
text_greys() { [ "$(colours $TEXT)" -gt 20 ] && [ "$(hues $TEXT)" -lt 5 ]; }
check "text shows many greys but no hues (the measure works)" text_greys
key h
check "a hidden image is wiped" wait_colours -le 2 $BOX
check "hiding sends no graphics" [ "$(field bytes)" = 0 ]
key s
check "shown again" wait_hues -gt 150 $BOX
check "showing sends the image" [ "$(field bytes)" -gt 0 ]
key r
check "Ctrl-L repaint brings it back" wait_hues -gt 150 $BOX
BYTES_R=$(field bytes)
key x # an unbound key: a frame where nothing changed
check "an unchanged frame sends 0 bytes (Ctrl-L frame sent $BYTES_R)" [ "$(field bytes)" = 0 ]
key m
NEW=$(img_box)
check "moved: the old place is wiped" wait_colours -le 2 $(cell_box 2 52 13 40)
check "moved: the new place shows it" wait_hues -gt 150 $NEW
key m
key o
check "an overlay hides the image around it" wait_colours -le 2 $(cell_box 2 72 14 18)
save_png "$SHOTS/tagbench-xterm-overlay.png"
key c
check "closing the overlay brings it back" wait_hues -gt 150 $BOX
WID=$(xdotool search --pid "$XTERM" 2>/dev/null | head -n 1)
[ -n "$WID" ] || WID=$(xdotool getactivewindow 2>/dev/null)
before=$(frame_no)
xdotool windowsize "$WID" 1000 640 2>/dev/null
i=0
while [ "$(frame_no)" = "$before" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
check "after a window resize the image is re-sent" wait_hues -gt 150 $(img_box)
stop_xterm

# ---- default xterm (no sixel): half blocks ----
start_xterm ""
check "probe picks blocks in a default xterm ($(why))" [ "$(field gfx)" = blocks ]
check "half blocks show the image" wait_hues -gt 40 $(img_box)
check "blocks send no graphics bytes" [ "$(field bytes)" = 0 ]
save_png "$SHOTS/tagbench-xterm-blocks.png"
key h
check "hidden blocks are gone" wait_colours -le 2 $(cell_box 2 52 14 40)
stop_xterm

# ---- tmux 3.3a inside xterm -ti vt340, allow-passthrough on ----
if command -v tmux >/dev/null 2>&1; then
    printf 'set -g allow-passthrough on\n' >"$W/tmux.conf"
    TM="tmux -L tagbench-gfx-$$ -f $W/tmux.conf"
    start_xterm "-ti vt340" $TM new-session "$DRIVER $STATE"
    check "in tmux, outer terminal unknown: blocks ($(why))" [ "$(field gfx)" = blocks ]
    check "in tmux, no probe reply lands in the pane title" \
        sh -c "! $TM display -p '#{pane_title}' | grep -q 'Gi='"
    stop_xterm
    $TM kill-server 2>/dev/null
    start_xterm "-ti vt340" $TM new-session "$DRIVER $STATE --gfx=sixel"
    check "in tmux, a forced sixel goes through passthrough" wait_hues -gt 150 $(img_box)
    save_png "$SHOTS/tagbench-tmux-sixel.png"
    BOX=$(img_box)
    key h
    check "in tmux, a hidden image is wiped" wait_colours -le 2 $BOX
    key s
    check "in tmux, shown again in place" wait_hues -gt 150 $BOX
    stop_xterm
    $TM kill-server 2>/dev/null
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
