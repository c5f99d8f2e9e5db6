#!/bin/sh
# The key reference in docs/ is the key tables' own output, so it cannot drift from what the keys do.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures.sh"

test_docs_keys_is_current() {
    tb keys
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "$(cat "$ROOT/docs/keys.md")" "docs/keys.md (regenerate: tagbench keys > docs/keys.md)"
}

test_keys_lists_every_screen() {
    tb keys
    for s in "Dataset screen" "Tags screen" "Captions screen" "Everywhere" "undo the last edit step"; do
        expect_contains "$out" "$s" "tagbench keys"
    done
}

test_keys_refuses_arguments() {
    tb keys extra
    expect_eq "$rc" 2 "exit status"
    expect_contains "$err" "takes no arguments" "stderr"
}

run_tests
