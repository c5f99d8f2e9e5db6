# Shared helpers for the full-screen tests: each tests/tui/test_*.sh sources this, defines test_*
# functions and calls run_tests at the end, like tests/cli. The app runs in a private tmux server
# (its socket under the test's own $T, no config file) at a fixed size; keys go in with send-keys
# and the screen comes back with capture-pane, which the helpers poll (no blind sleeps).
# Reference: shared/reference/terminal.md §6.1.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP: tmux not installed"
    echo "0 passed, 0 failed"
    exit 0
fi

TUI_W=120 TUI_H=40
# Seconds a wait_for waits by default (the ASan build starts and draws slower).
TUI_WAIT=${TUI_WAIT:-10}

# tm ARGS...: tmux on this test's private server. Every app_start takes a new one (a new socket
# under $T): a client connecting right after kill-server may reach the dying old server.
TUI_N=0 TUI_SOCK=tui0
tm() { TMUX_TMPDIR="$T" tmux -L "$TUI_SOCK" -f /dev/null "$@"; }

# tm_kill_all: every tmux server of this test ends.
tm_kill_all() {
    for ts in "$T"/tmux-*/*; do
        [ -S "$ts" ] && tmux -S "$ts" kill-server 2>/dev/null
    done
}

# app_start DIR [ARGS...]: `tagbench open DIR --graphics none ARGS...` in a fresh tmux server,
# TUI_W x TUI_H, the pane kept after the app exits (for its last screen). The app's sanitizer
# reports go to $T/asan*. A small sh runs the app and writes its exit status to $T/.app.status
# (tmux's own #{pane_dead_status} sometimes never arrives when polled right after the exit).
# APP_PID is the app's own process. Waits until the header (or a start-up question) is drawn.
app_start() {
    as_dir=$1
    shift
    case " $* " in *" --graphics "*) ;; *) set -- --graphics none "$@" ;; esac
    app_stop
    TUI_N=$((TUI_N + 1)) TUI_SOCK=tui$TUI_N
    rm -f "$T/.app.status"
    tm new-session -d -s app -x "$TUI_W" -y "$TUI_H" \
        sh -c '"$@"; echo "$?" >"$0.status"' "$T/.app" \
        env TERM=xterm-256color ESCDELAY=25 LANG=C.UTF-8 LC_ALL= \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/asan" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/asan_ubsan" \
        "$TAGBENCH" open "$as_dir" "$@" \; \
        set -g remain-on-exit on \; set -g status off ||
        { fail "tmux could not start the app"; return 1; }
    as_sh=$(tm display -p -t app '#{pane_pid}')
    as_n=100
    APP_PID=
    while [ -z "$APP_PID" ] && [ "$as_n" -gt 0 ]; do
        APP_PID=$(ps -o pid= --ppid "$as_sh" | tr -d ' ')
        [ -n "$APP_PID" ] || { sleep 0.05; as_n=$((as_n - 1)); }
    done
    [ -n "$APP_PID" ] || { fail "the app did not start"; return 1; }
    wait_for ' tagbench .* images · |An earlier session left' || return 1
}

# screen: the pane's text now. screen_e: with colours and attributes (capture-pane -e).
screen() { tm capture-pane -p -t app; }
screen_e() { tm capture-pane -p -e -t app; }

# wait_for REGEX [SECONDS]: polls the screen until a line matches the extended REGEX; on a timeout
# prints the screen and fails the test (returns 1, so callers can `|| return`).
wait_for() {
    wf_n=$(( ${2:-$TUI_WAIT} * 20 ))
    while [ "$wf_n" -gt 0 ]; do
        screen | grep -qE -- "$1" && return 0
        sleep 0.05
        wf_n=$((wf_n - 1))
    done
    fail "timed out waiting for /$1/"
    show_screen
    return 1
}

# re_quote TEXT: TEXT as an extended regular expression matching it literally.
re_quote() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }

# wait_gone REGEX [SECONDS]: polls until no line of the screen matches REGEX.
wait_gone() {
    wf_n=$(( ${2:-$TUI_WAIT} * 20 ))
    while [ "$wf_n" -gt 0 ]; do
        screen | grep -qE -- "$1" || return 0
        sleep 0.05
        wf_n=$((wf_n - 1))
    done
    fail "timed out waiting for /$1/ to go away"
    show_screen
    return 1
}

# expect_screen REGEX [WHAT] / expect_no_screen REGEX [WHAT]: the screen now (no waiting).
expect_screen() { screen | grep -qE -- "$1" || { fail "${2:-screen} lacks /$1/"; show_screen; }; }
# expect_screen_joined REGEX [WHAT]: like expect_screen, on the screen's rows joined by spaces
# (a question that wraps onto two rows must still hold every answer).
expect_screen_joined() { screen | tr '\n' ' ' | tr -s ' ' | grep -qE -- "$1" || { fail "${2:-screen} lacks /$1/"; show_screen; }; }
expect_no_screen() { screen | grep -qE -- "$1" && { fail "${2:-screen} shows /$1/"; show_screen; }; }

show_screen() { { echo "  ---- screen of $cli_name ----"; screen | sed 's/^/  |/'; } >&2; }

# keys KEY...: tmux key names (Down, Escape, C-s, Enter, Space, ...) or single characters.
keys() { tm send-keys -t app "$@"; }
# xterm_key Home|End: the bytes an xterm sends for the key. tmux's send-keys encodes Home and End
# as ESC [ 1 ~ and ESC [ 4 ~ (its own terminal's keys), which xterm-256color's terminfo does not
# list, so ncurses would not see them as keys.
xterm_key() {
    case $1 in
    Home) tm send-keys -t app -l -- "${ESC}OH" ;;
    End) tm send-keys -t app -l -- "${ESC}OF" ;;
    *) fail "xterm_key: no bytes known for $1" ;;
    esac
}
# type_text TEXT: literal text (never key names).
type_text() { tm send-keys -t app -l -- "$1"; }

# resize W H: the window (and so the app's terminal) becomes W x H.
resize() { tm resize-window -t app -x "$1" -y "$2"; }

# wait_exit [SECONDS]: waits until the app has exited.
wait_exit() {
    we_n=$(( ${1:-$TUI_WAIT} * 20 ))
    while [ "$we_n" -gt 0 ]; do
        [ -s "$T/.app.status" ] && return 0
        sleep 0.05
        we_n=$((we_n - 1))
    done
    fail "the app did not exit"
    show_screen
    return 1
}

# app_exit_status: waits for the app to exit and prints its exit status (128+N: signal N).
app_exit_status() {
    wait_exit || { echo running; return 1; }
    cat "$T/.app.status"
}

# expect_app_gone: the app exited, its process no longer exists and the pane is dead.
expect_app_gone() {
    wait_exit || return 1
    if [ -n "$APP_PID" ] && kill -0 "$APP_PID" 2>/dev/null; then
        fail "the app's process $APP_PID is still there after it quit"
    fi
    ag_n=100
    until [ "$(tm display -p -t app '#{pane_dead}')" = 1 ]; do
        ag_n=$((ag_n - 1))
        [ "$ag_n" -gt 0 ] || { fail "the app's pane is still alive after it quit"; return 1; }
        sleep 0.05
    done
}

# expect_quits_ok: the app exits with status 0 and is gone.
expect_quits_ok() {
    eq_st=$(app_exit_status) || return 1
    expect_eq "$eq_st" 0 "the app's exit status"
    expect_app_gone
}

# app_kill9: SIGKILL to the app (a crash or a killed session).
app_kill9() {
    kill -9 "$APP_PID" 2>/dev/null
    wait_exit
    expect_eq "$(cat "$T/.app.status")" 137 "exit status after kill -9"
}

# app_stop: the tmux server and everything in it go away; waits (at most 5 s) for the app's
# process to end, so that a report it writes as it exits is there to be checked.
app_stop() {
    tm kill-server 2>/dev/null
    st_n=100
    while [ -n "$APP_PID" ] && [ "$st_n" -gt 0 ] && kill -0 "$APP_PID" 2>/dev/null; do
        sleep 0.05
        st_n=$((st_n - 1))
    done
    APP_PID=
}

# san_files_clean: fails on any sanitizer report the app wrote under $T.
san_files_clean() {
    for sf in "$T"/asan*; do
        [ -e "$sf" ] || continue
        fail "sanitizer report $(basename "$sf"): $(head -n 12 "$sf")"
        rm -f "$sf"
    done
}

# Captions of the usual fixture: five images in DIR/10_shapes (counts: circle 3, large 3,
# white background 3, red 2, blue 2, small 2, square 1, triangle 1, green 1, black background 1,
# gray background 1; 11 tags).
mk_shapes() {
    item "$1/10_shapes/a" 'circle, red, small, white background\n'
    item "$1/10_shapes/b" 'square, blue, large, white background\n'
    item "$1/10_shapes/c" 'circle, blue, small, black background\n'
    item "$1/10_shapes/d" 'triangle, red, large, gray background\n'
    item "$1/10_shapes/e" 'circle, green, large, white background\n'
}

# run_tests: like tests/cli's, plus: the tmux server is always killed after a test (pass or fail)
# and a sanitizer report left by the app fails the test.
run_tests() {
    for cli_name in $(grep -oE '^test_[a-zA-Z0-9_]+' "$0" | sort -u); do
        T=$(mktemp -d)
        (
            cd "$T" || exit 1
            trap 'app_stop; tm_kill_all' EXIT
            "$cli_name"
            app_stop
            san_files_clean
        )
        tm_kill_all
        if [ -f "$T/.failed" ]; then
            cli_failed=$((cli_failed + 1)); echo "not ok $cli_name" >&2
        else cli_passed=$((cli_passed + 1)); fi
        chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"
    done
    echo "$cli_passed passed, $cli_failed failed"
    [ "$cli_failed" -eq 0 ]
}
