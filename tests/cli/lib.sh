# Shared helpers for CLI end-to-end tests: each test_*.sh sources this, defines test_* functions,
# and calls run_tests at the end. $TAGBENCH is the binary under test; every test gets a fresh $T.
: "${TAGBENCH:?TAGBENCH must name the binary}"
: "${ROOT:=$PWD}"
cli_passed=0 cli_failed=0
fail() { echo "  FAIL $cli_name: $*" >&2; : >"$T/.failed"; }
# expect_eq ACTUAL EXPECTED [WHAT]
expect_eq() { [ "$1" = "$2" ] || fail "${3:-value}: got [$1], expected [$2]"; }
# expect_contains HAYSTACK NEEDLE [WHAT]
expect_contains() { case "$1" in *"$2"*) ;; *) fail "${3:-output} lacks [$2]: [$1]";; esac; }
expect_not_contains() { case "$1" in *"$2"*) fail "${3:-output} has [$2]: [$1]";; esac; }
# run CMD...: captures $out, $err, $rc
run() { out=$("$@" 2>"$T/.stderr"); rc=$?; err=$(cat "$T/.stderr"); }
run_tests() {
    for cli_name in $(grep -oE '^test_[a-zA-Z0-9_]+' "$0" | sort -u); do
        T=$(mktemp -d)
        # a subshell cannot set our variables, so fail() leaves a marker file in $T
        ( cd "$T" && "$cli_name" )
        if [ -f "$T/.failed" ]; then
            cli_failed=$((cli_failed + 1)); echo "not ok $cli_name" >&2
        else cli_passed=$((cli_passed + 1)); fi
        chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"
    done
    echo "$cli_passed passed, $cli_failed failed"
    [ "$cli_failed" -eq 0 ]
}
