#!/bin/sh
# Runs every unit-test binary and every CLI test script, then prints the total as
# "N passed, N failed" (the line CI reads). BUILD names the build folder to test.
BUILD=${BUILD:-build/release}
export TAGBENCH="$PWD/$BUILD/tagbench" ROOT="$PWD" GEN_SHAPES="$PWD/$BUILD/datasets/shapes/gen_shapes"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0 broken=""
tally() { # $1 = name, $2 = log file, $3 = exit status
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); broken="$broken $1"; cat "$2"; return; fi
    grep -E '^ *(SKIP|NOTE)' "$2"   # skips stay visible in a green run
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -gt 0 ] || [ "$3" -ne 0 ]; then
        cat "$2"; [ "$f" -eq 0 ] && { failed=$((failed + 1)); broken="$broken $1"; }
    fi
    printf '%-40s %s\n' "$1" "$line"
}
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$BUILD"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    "$t" >"$log" 2>&1; tally "unit/$(basename "$t")" "$log" $?
done
for t in tests/cli/test_*.sh tests/tui/test_*.sh tests/gfx/test_*.sh; do
    [ -f "$t" ] || continue
    sh "$t" >"$log" 2>&1; tally "${t#tests/}" "$log" $?
done
[ -n "$broken" ] && echo "broken (crashed or exited non-zero):$broken"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
