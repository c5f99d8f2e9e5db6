#!/bin/sh
# shellcheck disable=SC2016,SC2046,SC2086 # boxes ("X Y W H") split into words on purpose
# Images in a real terminal: xterm under Xvfb; screenshots (xwd) are read by tests/gfx/xwd.py,
# which counts colours in a box (a sixel photo shows hundreds, blank cells one, text a few dozen
# greys) and finds an image's main colour and where it is (reference/terminal.md §6.2). The
# screen's text comes from xterm itself (its print-immediate action, bound to Ctrl-Shift-F12).
#   1. tests/gfx/preview_driver (the preview layer in a small ncurses program): the probe picks
#      sixel in `xterm -ti vt340` and blocks in a default xterm; hiding, moving, an overlay,
#      Ctrl-L and a window resize each leave the screen right; tmux passthrough.
#   2. the real app ($TAGBENCH open on a copy of datasets/shapes): auto detection picks sixel
#      and the header says so; the first image (a green triangle) is drawn on the right; Down
#      replaces it with the next (a red square) leaving nothing of the first; the help overlay
#      hides it, Esc brings it back; Ctrl-L repaints a wiped terminal, image included; a window
#      resize re-sends it at its new place; the Tags screen shows no image, `1` brings it back;
#      q quits. Then `--graphics blocks` in a default xterm: the image as coloured cells.
# Under a sanitizer build (BUILD=build/san, or objects built with -fsanitize) the driver is
# linked with the sanitizers too, and any sanitizer report of the driver or the app fails.
# Usage: sh tests/gfx/test_xterm_sixel.sh [SHOT_DIR]   (screenshots kept as PNG in SHOT_DIR)
# Prints SKIP and "0 passed, 0 failed" when Xvfb, xterm, xwd, xdotool, python3, cc or nm is
# missing.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
SHOTS=${1:-}
[ -z "$SHOTS" ] || mkdir -p "$SHOTS" || exit 1
for tool in Xvfb xterm xwd xdotool python3 cc nm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed (apt-get install xvfb xterm x11-apps xdotool)"
        echo "0 passed, 0 failed"
        exit 0
    fi
done
# What the terminal is must come from the probe, not from the environment this runs in.
unset TMUX TMUX_PANE TERM_PROGRAM KITTY_WINDOW_ID COLORTERM MLTERM

passed=0 failed=0
check() { # $1 = description, rest = test command
    name=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; fi
}

W=$(mktemp -d /tmp/tagbench-gfx-XXXXXX)
XVFB='' XTERM='' TM=''
cleanup() {
    [ -n "$XTERM" ] && kill "$XTERM" 2>/dev/null
    [ -n "$TM" ] && $TM kill-server 2>/dev/null
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- build the driver like the unit tests: the build's flags (its sanitizers too) and libraries,
# as the Makefile says them ----
BUILD=${BUILD:-build/release}
APP=''
[ -n "${TAGBENCH:-}" ] || APP=$BUILD/tagbench # run alone: build the app too
TAGBENCH=${TAGBENCH:-$ROOT/$BUILD/tagbench}
SAN=0
case $BUILD in *san*) SAN=1 ;; esac
nm -A "$BUILD/libtui.a" 2>/dev/null | grep -q ' __asan_' && SAN=1
printf 'tb-gfx-flags:\n\t@echo "$(CFLAGS)"\n\t@echo "$(LDFLAGS)"\n\t@echo "$(LIBS)"\n\t@echo "$(LDLIBS)"\n' \
    >"$W/flags.mk"
make -s --no-print-directory SAN=$SAN BUILD="$BUILD" -f Makefile -f "$W/flags.mk" tb-gfx-flags \
    >"$W/flags" || { echo "0 passed, 1 failed"; exit 1; }
{ read -r D_CFLAGS; read -r D_LDFLAGS; read -r D_LIBS; read -r D_LDLIBS; } <"$W/flags"
make -s SAN=$SAN BUILD="$BUILD" $D_LIBS $APP >"$W/make.log" 2>&1 ||
    { cat "$W/make.log"; echo "0 passed, 1 failed"; exit 1; }
DRIVER=$W/preview_driver
cc $D_CFLAGS $D_LDFLAGS -o "$DRIVER" tests/gfx/preview_driver.c $D_LIBS $D_LDLIBS ||
    { echo "0 passed, 1 failed"; exit 1; }
[ $SAN = 0 ] || check "sanitizer build: the driver is linked with ASan+UBSan too" \
    sh -c 'nm "$1" | grep -q __asan_init && nm "$1" | grep -q __ubsan_' sh "$DRIVER"
# Sanitizer reports of the driver and the app go to files in $W; san_clean fails on any.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$W/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$W/ubsan"
san_clean() {
    for f in "$W"/asan* "$W"/ubsan*; do
        [ -e "$f" ] || continue
        echo "     sanitizer report $f:"; sed 's/^/     | /' "$f"; rm -f "$f"
        return 1
    done
}

# ---- an X server on a free display (Xvfb picks it and tells us: no race with other runs;
# -noreset: no server reset, which refuses connections for a moment, when an xterm closes) ----
Xvfb -displayfd 3 -noreset -screen 0 1024x768x24 -nolisten tcp 3>"$W/display" 2>"$W/xvfb.log" &
XVFB=$!
i=0
while ! grep -q '^[0-9]' "$W/display" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1))
done
D=$(head -n 1 "$W/display")
[ -n "$D" ] || { cat "$W/xvfb.log"; echo "0 passed, 1 failed"; exit 1; }
export DISPLAY=":$D" LANG=C.UTF-8 LC_ALL=C.UTF-8

STATE=$W/state
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$STATE" 2>/dev/null; }
why() { sed -n 's/.* why=//p' "$STATE" 2>/dev/null; }
frame_no() { sed -n 's/^frame=\([0-9]*\).*/\1/p' "$STATE" 2>/dev/null; }
wait_frame() { # $1 = frame number to reach
    i=0
    while [ "$(frame_no)" != "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    [ "$(frame_no)" = "$1" ]
}
# xterm_start vt340|"" COMMAND...: an xterm of 100x30 cells of 9x19 pixels at the top left;
# Ctrl-Shift-F12 makes it write its screen's text to $W/screen/dump* (see screen_text).
xterm_start() {
    ti=$1; shift
    set -- -e "$@"
    [ -n "$ti" ] && set -- -ti "$ti" "$@"
    mkdir -p "$W/screen"
    xterm -tn xterm-256color -u8 -geometry 100x30+0+0 -fa 'DejaVu Sans Mono' -fs 11 \
        -xrm "XTerm*printFileImmediate: $W/screen/dump" -xrm 'XTerm*printOptsImmediate: 1' \
        -xrm 'XTerm*VT100.translations: #override Ctrl Shift <Key>F12: print-immediate()' \
        "$@" &
    XTERM=$!
    xdotool mousemove 300 300 # keyboard focus follows the pointer without a WM
}
start_xterm() { # $1 = vt340 or "", rest: the command (default: the driver)
    ti=$1; shift
    [ $# -gt 0 ] || set -- "$DRIVER" "$STATE"
    rm -f "$STATE"
    xterm_start "$ti" "$@"
    wait_frame 1
}
xterm_gone() { # waits up to 10 s for the xterm to exit
    i=0
    while kill -0 "$XTERM" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    ! kill -0 "$XTERM" 2>/dev/null
}
stop_xterm() {
    xdotool key q
    xterm_gone || kill "$XTERM" 2>/dev/null
    XTERM=''
}
key() { # $1 = key, then waits for the frame it causes
    next=$(($(frame_no) + 1))
    xdotool key "$1"
    wait_frame "$next"
}
xterm_window() { # the xterm's X window
    wid=$(xdotool search --pid "$XTERM" 2>/dev/null | head -n 1)
    [ -n "$wid" ] || wid=$(xdotool search --class XTerm 2>/dev/null | head -n 1)
    echo "$wid"
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
        test "$last" "$op" "$lim" && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "     ($last $how in box $*)"
    return 1
}
save_png() { # the xterm window's area of the last screenshot, when a SHOT_DIR was given
    [ -n "$SHOTS" ] || return 0
    python3 tests/gfx/xwd.py png "$W/shot.xwd" "$SHOTS/$1" 0 0 ${2:-910 580} &&
        echo "     screenshot: $SHOTS/$1"
}

# ---- xterm -ti vt340: sixel ----
start_xterm vt340
check "probe picks sixel in xterm -ti vt340 ($(why))" [ "$(field gfx)" = sixel ]
check "cell size from TIOCGWINSZ is 9x19" [ "$(field cell)" = 9x19 ]
BOX=$(img_box)
check "the image is on screen" wait_hues -gt 150 $BOX
save_png tagbench-xterm-sixel.png
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
save_png tagbench-xterm-overlay.png
key c
check "closing the overlay brings it back" wait_hues -gt 150 $BOX
before=$(frame_no)
xdotool windowsize "$(xterm_window)" 1000 640 2>/dev/null
i=0
while [ "$(frame_no)" = "$before" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
check "after a window resize the image is re-sent" wait_hues -gt 150 $(img_box)
stop_xterm

# ---- default xterm (no sixel): half blocks ----
start_xterm ""
check "probe picks blocks in a default xterm ($(why))" [ "$(field gfx)" = blocks ]
check "half blocks show the image" wait_hues -gt 40 $(img_box)
check "blocks send no graphics bytes" [ "$(field bytes)" = 0 ]
save_png tagbench-xterm-blocks.png
key h
check "hidden blocks are gone" wait_colours -le 2 $(cell_box 2 52 14 40)
stop_xterm

# ---- tmux 3.3a inside xterm -ti vt340, allow-passthrough on ----
if command -v tmux >/dev/null 2>&1; then
    printf 'set -g allow-passthrough on\n' >"$W/tmux.conf"
    TM="tmux -L tagbench-gfx-$$ -f $W/tmux.conf"
    start_xterm vt340 $TM new-session "$DRIVER $STATE"
    check "in tmux, outer terminal unknown: blocks ($(why))" [ "$(field gfx)" = blocks ]
    check "in tmux, no probe reply lands in the pane title" \
        sh -c "! $TM display -p '#{pane_title}' | grep -q 'Gi='"
    stop_xterm
    $TM kill-server 2>/dev/null
    start_xterm vt340 $TM new-session "$DRIVER $STATE --gfx=sixel"
    check "in tmux, a forced sixel goes through passthrough" wait_hues -gt 150 $(img_box)
    save_png tagbench-tmux-sixel.png
    BOX=$(img_box)
    key h
    check "in tmux, a hidden image is wiped" wait_colours -le 2 $BOX
    key s
    check "in tmux, shown again in place" wait_hues -gt 150 $BOX
    stop_xterm
    $TM kill-server 2>/dev/null
    TM=''
fi
check "driver: no sanitizer report" san_clean

# ---- the real app ----
# A copy of the demo dataset: the app may write its journal and run config there.
DS=$W/shapes
mkdir -p "$DS" && cp -R datasets/shapes/10_shapes "$DS/"

# app_start vt340|"" [OPTIONS...]: `tagbench open COPY OPTIONS` in a fresh xterm, through a sh
# that notes the terminal's tty ($W/app.tty) and the app's exit status ($W/app.status); waits
# until the header is drawn.
app_start() {
    ti=$1; shift
    rm -f "$W/app.tty" "$W/app.status"
    xterm_start "$ti" sh -c 'tty >"$0.tty"; "$@"; echo "$?" >"$0.status"' "$W/app" \
        "$TAGBENCH" open "$DS" "$@"
    wait_text ' tagbench .* images · '
}
# screen_text: the xterm's screen as text, written by xterm itself (print-immediate).
screen_text() {
    rm -f "$W"/screen/dump*
    xdotool key ctrl+shift+F12
    st_i=0 st_size=-1
    while [ $st_i -lt 60 ]; do
        for st_f in "$W"/screen/dump*; do
            [ -s "$st_f" ] || continue
            st_now=$(wc -c <"$st_f")
            [ "$st_now" = "$st_size" ] && { cat "$st_f"; return 0; }
            st_size=$st_now
        done
        sleep 0.05; st_i=$((st_i + 1))
    done
    return 1
}
# wait_text REGEX: polls the screen's text until a line matches (10 s); else prints the screen.
wait_text() {
    wt_i=0
    while [ $wt_i -lt 50 ]; do
        screen_text >"$W/text" && grep -qE -- "$1" "$W/text" && return 0
        sleep 0.1; wt_i=$((wt_i + 1))
    done
    echo "     (no line matches /$1/; the screen:)"; sed 's/^/     |/' "$W/text"
    return 1
}
header_ends() { wait_text "^ tagbench .* $1 *\$"; } # the header's right end, e.g. the gfx mode
# The window's size in pixels (WIN), and MID: the screen between the header row and the last two
# rows (the status and key lines).
geometry() {
    eval "$(xdotool getwindowgeometry --shell "$(xterm_window)")"
    WIN="0 0 $WIDTH $HEIGHT"
    MID="0 21 $WIDTH $((HEIGHT - 21 - 2 * 19 - 2))"
}
near() { shot && python3 tests/gfx/xwd.py near "$W/shot.xwd" "$@"; }
# is_hue green|red R G B: the colour is clearly that hue.
is_hue() {
    case $1 in
    green) [ "$3" -gt $(($2 + 40)) ] && [ "$3" -gt $(($4 + 40)) ] ;;
    red) [ "$2" -gt $(($3 + 40)) ] && [ "$2" -gt $(($4 + 40)) ] ;;
    *) return 1 ;;
    esac
}
# wait_image green|red X Y W H: polls until the commonest clear colour in the box is that hue and
# covers more than 2000 pixels (a preview, not a glyph); sets IMG (its R G B), IMG_N (pixels),
# IMG_BOX (where that colour is: X Y W H) and IMG_X0.
wait_image() {
    wi_hue=$1; shift
    wi_i=0 IMG='' IMG_N=0 IMG_BOX='' IMG_X0=-1
    while [ $wi_i -lt 50 ]; do
        shot
        read -r r g b n x0 y0 x1 y1 <<EOF
$(python3 tests/gfx/xwd.py dominant "$W/shot.xwd" "$@")
EOF
        if [ "$n" -gt 2000 ] && is_hue "$wi_hue" "$r" "$g" "$b"; then
            IMG="$r $g $b" IMG_N=$n IMG_BOX="$x0 $y0 $((x1 - x0)) $((y1 - y0))" IMG_X0=$x0
            return 0
        fi
        sleep 0.1; wi_i=$((wi_i + 1))
    done
    echo "     (commonest clear colour in box $*: $r $g $b on $n pixels at $x0,$y0-$x1,$y1)"
    return 1
}
# wait_none R G B X Y W H: polls until no pixel of the box is within 10 of the colour.
wait_none() {
    wn_i=0
    while [ $wn_i -lt 50 ]; do
        wn_n=$(near "$1" "$2" "$3" 10 "$4" "$5" "$6" "$7")
        [ "$wn_n" = 0 ] && return 0
        sleep 0.1; wn_i=$((wn_i + 1))
    done
    echo "     ($wn_n pixels of $1 $2 $3 in box $4 $5 $6 $7)"
    return 1
}
same_box() { [ "$1" = "$2" ] || { echo "     (at $1, expected $2)"; return 1; }; }
in_right_half() {
    [ "$IMG_X0" -ge $((WIDTH / 2)) ] || { echo "     (image starts at x=$IMG_X0)"; return 1; }
}
few_hues() { # X Y W H: at most 2 clear colours in the box (text, blank cells: none)
    fh=$(hues "$@"); [ "$fh" -le 2 ] || { echo "     ($fh clear colours in box $*)"; return 1; }
}
many_hues() { # X Y W H: more than 20 clear colours (an image, antialiased)
    mh=$(hues "$@"); [ "$mh" -gt 20 ] || { echo "     ($mh clear colours in box $*)"; return 1; }
}
# one_image N X Y W H N2 X2 Y2 W2 H2: the colour's pixels (N in the box that bounds them) have the
# same aspect and fill as before, so the image was scaled, not drawn twice.
one_image() {
    python3 - "$@" <<'EOF'
import sys
n0, _, _, w0, h0, n1, _, _, w1, h1 = map(int, sys.argv[1:])
aspect, fill = (w1 / h1) / (w0 / h0), (n1 / (w1 * h1)) / (n0 / (w0 * h0))
if abs(aspect - 1) > 0.05 or abs(fill - 1) > 0.1:
    sys.exit(f"     ({n0} px in {w0}x{h0}, now {n1} px in {w1}x{h1})")
EOF
}
app_quits() { # q, then the xterm exits (10 s) and the app's exit status was 0
    xdotool key q
    xterm_gone || { kill "$XTERM" 2>/dev/null; XTERM=''; echo "     (still running)"; return 1; }
    XTERM=''
    st=$(cat "$W/app.status" 2>/dev/null)
    [ "$st" = 0 ] || { echo "     (exit status [$st])"; return 1; }
}

# ---- the app in xterm -ti vt340: sixel ----
app_start vt340
geometry
check "app: auto detection picks sixel (header ends with sixel)" header_ends sixel
check "app: image 0001 (a green triangle) is drawn" wait_image green $MID
GREEN=$IMG BOX1=$IMG_BOX N1=$IMG_N
check "app: ... in the right part of the screen" in_right_half
check "app: ... with many colours (antialiased edges, not text)" many_hues $IMG_BOX
save_png tagbench-app-sixel.png
xdotool key Down
check "app: Down shows image 0002 (a red square)" wait_image red $MID
RED=$IMG
check "app: ... and no green of 0001 is left anywhere" wait_none $GREEN $WIN
# 0002 has a black background where 0001 had gray (127,127,127), in the same box
check "app: ... nor its gray background" wait_none 127 127 127 $BOX1
xdotool key Up
check "app: Up shows 0001 again" wait_image green $MID
check "app: ... in the same place" same_box "$IMG_BOX" "$BOX1"
check "app: ... no red of 0002 left" wait_none $RED $WIN
xdotool key question
check "app: ? opens the help overlay" wait_text '── Keys'
check "app: ... no image pixels anywhere under it" wait_none $GREEN $WIN
check "app: ... no colour at all where the image was" few_hues $BOX1
save_png tagbench-app-help.png
xdotool key Escape
check "app: Esc closes it and the image is back" wait_image green $MID
check "app: ... in the same place" same_box "$IMG_BOX" "$BOX1"
# Wipe the terminal behind the app's back (as a noisy program or a terminal reset would): only
# a full repaint brings text and image back.
printf '\033[H\033[2J' >"$(cat "$W/app.tty")"
check "app: the terminal wiped behind its back shows no image" wait_none $GREEN $WIN
xdotool key ctrl+l
check "app: Ctrl-L repaints the text" wait_text ' tagbench .* images · '
check "app: ... and the image" wait_image green $MID
check "app: ... in the same place" same_box "$IMG_BOX" "$BOX1"
xdotool windowsize "$(xterm_window)" 1000 640
check "app: a window resize redraws for 110 columns" wait_text "^ tagbench .{85,} sixel *\$"
geometry
check "app: ... and re-sends the image" wait_image green $MID
check "app: ... at its new place" sh -c '[ "$1" != "$2" ] || { echo "     (still at $1)"; exit 1; }' \
    sh "$IMG_BOX" "$BOX1"
BOX2=$IMG_BOX
check "app: ... once (the green has the shape it had: no copy left at the old place)" \
    one_image $N1 $BOX1 $IMG_N $IMG_BOX
save_png tagbench-app-resized.png "1010 650"
xdotool key 2
check "app: 2 shows the Tags screen" wait_text 'sorted by'
check "app: ... with no image pixels anywhere" wait_none $GREEN $WIN
check "app: ... no colour where the image was" few_hues $BOX2
xdotool key 1
check "app: 1 brings the Dataset screen and the image back" wait_image green $MID
check "app: ... in its place" same_box "$IMG_BOX" "$BOX2"
check "app: q quits (the xterm exits, status 0)" app_quits
check "app: no sanitizer report" san_clean

# ---- the app with --graphics blocks in a default xterm (no sixel) ----
app_start "" --graphics blocks
geometry
check "app blocks: the header ends with blocks" header_ends blocks
check "app blocks: the image is drawn as coloured cells" wait_image green $MID
check "app blocks: ... in the right part of the screen" in_right_half
half_blocks() { screen_text >"$W/text" && grep -qE '▀|▄' "$W/text"; }
check "app blocks: ... made of half-block characters" half_blocks
save_png tagbench-app-blocks.png
check "app blocks: q quits" app_quits
check "app blocks: no sanitizer report" san_clean

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
