# Fixtures for the CLI tests: shell functions that build small datasets in the current folder,
# and a run wrapper that also fails the test on a sanitizer report or a hang. Source after lib.sh.
# printf formats here are POSIX (dash): octal escapes (\033, \357\273\277), never \x.

PNG_DIR="$ROOT/datasets/shapes/10_shapes"
ESC=$(printf '\033')
BEL=$(printf '\007')

# tb ARGS...: runs tagbench (at most 60 s) into $out/$err/$rc, failing on a hang or a sanitizer
# report. A test that expects a hang-free run of a slow path uses a shorter limit through TB_LIMIT.
tb() {
    run timeout "${TB_LIMIT:-60}" "$TAGBENCH" "$@"
    [ "$rc" -eq 124 ] && fail "tagbench $* did not finish in ${TB_LIMIT:-60} s"
    san_clean
}

# Fails when the last run's stderr holds an ASan/UBSan/LSan report.
san_clean() {
    case "$err" in
    *"runtime error"* | *AddressSanitizer* | *LeakSanitizer* | *UndefinedBehaviorSanitizer*)
        fail "sanitizer report: $(printf '%s\n' "$err" | head -n 8)" ;;
    esac
}

# True when $TAGBENCH is ASan-instrumented (ulimit -v would break its shadow memory).
is_asan() { grep -qa __asan_init "$TAGBENCH"; }

# expect_no_byte TEXT BYTE WHAT: TEXT must not hold the raw BYTE (ESC, BEL, ...).
expect_no_byte() {
    case "$1" in
    *"$2"*) fail "$3 holds a raw $(printf '%s' "$2" | od -An -tx1 | tr -d ' ') byte: $(printf '%s' "$1" | od -c | head -n 6)" ;;
    esac
}

# png FILE...: a valid 64x64 PNG at each FILE (folders created).
png() {
    for f in "$@"; do
        mkdir -p "$(dirname "$f")"
        cp "$PNG_DIR/0001.png" "$f"
    done
}

# capf FILE FORMAT: writes printf FORMAT (escapes allowed, no arguments) to FILE.
capf() {
    mkdir -p "$(dirname "$1")"
    printf "$2" >"$1"
}

# item STEM FORMAT: STEM.png and the caption STEM.txt holding printf FORMAT.
item() {
    png "$1.png"
    capf "$1.txt" "$2"
}

# Two kohya folders: 10_cat (a, b captioned; c without a caption) and 2_dog (x captioned; y not).
mk_two_folders() {
    item "$1/10_cat/a" 'Red, blue, red, green\n'
    item "$1/10_cat/b" 'red, blue\n'
    png "$1/10_cat/c.png"
    item "$1/2_dog/x" 'puppy, red\n'
    png "$1/2_dog/y.png"
}

# A flat dataset of three captioned images a, b, c ("red, a" ...).
mk_abc() {
    for n in a b c; do item "$1/$n" "red, $n\n"; done
}

# The bundled demo dataset, copied as DIR/10_shapes.
mk_demo() {
    mkdir -p "$1"
    cp -r "$PNG_DIR" "$1/"
}

# bomb_png FILE: a PNG whose IHDR declares 100000x100000 (RGB, 8 bits) and then ends.
bomb_png() {
    mkdir -p "$(dirname "$1")"
    printf '\211PNG\r\n\032\n\000\000\000\015IHDR\000\001\206\240\000\001\206\240\010\002\000\000\000\000\000\000\000' >"$1"
}

# tree_state DIR: every path (with its type and mode) and every file's checksum, sorted: two equal
# states mean nothing was created, removed, renamed, re-moded or changed.
tree_state() {
    find "$1" -printf '%y %m %p\n' | sort
    find "$1" -type f -exec md5sum {} + | sort
}

# make_journal DIR TAG FILE...: leaves unsaved edits in DIR/.tagbench/journal.jsonl the way a
# session that could not save does: FILEs are made read-only, `tagbench edit DIR --add TAG` saves
# the others and journals theirs, then FILEs are made writable again.
make_journal() {
    mj_dir=$1 mj_tag=$2
    shift 2
    chmod 0444 "$@"
    "$TAGBENCH" edit "$mj_dir" --add "$mj_tag" >/dev/null 2>&1
    mj_rc=$?
    chmod 0644 "$@"
    [ "$mj_rc" -eq 1 ] || fail "make_journal: edit exited $mj_rc, expected 1"
    [ -s "$mj_dir/.tagbench/journal.jsonl" ] || fail "make_journal: no journal in $mj_dir"
}

# json_eval PYTHON-EXPR: evaluates EXPR with d = the JSON document in $out (prints the result).
json_eval() {
    printf '%s' "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# expect_file FILE FORMAT: FILE holds exactly the bytes of printf FORMAT.
expect_file() {
    printf "$2" >"$T/.expected"
    cmp -s "$1" "$T/.expected" ||
        fail "$1: got [$(od -c "$1" | head -n 4)], expected [$(od -c "$T/.expected" | head -n 4)]"
}
