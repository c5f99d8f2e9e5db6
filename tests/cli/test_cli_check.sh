#!/bin/sh
# `tagbench check DIR`: every lint code for a dataset crafted to have it, its severity, the exit
# status it causes (1 only for errors), the --json shape, a clean dataset, and --decode.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

# finding CODE PATH: the severity of the finding CODE for PATH in the last `check --json` output
# ("" when absent; several severities joined by spaces).
finding() {
    json_eval "' '.join(f['severity'] for f in d if f['code'] == '$1' and f['path'] == '$2')"
}

# check_json DIR [ARGS]: runs check --json; the output must be valid JSON.
check_json() {
    tb check "$@" --json
    printf '%s' "$out" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null ||
        fail "check --json printed invalid JSON: $out"
}

# expect_finding DIR CODE PATH SEVERITY RC: check finds exactly one CODE at PATH with SEVERITY,
# and exits RC.
expect_finding() {
    check_json "$1"
    expect_eq "$(finding "$2" "$3")" "$4" "$2 finding for $3"
    expect_eq "$rc" "$5" "exit status with $2"
}

test_missing_caption_warns_with_class_tokens() {
    item d/10_cat/a 'x\n'
    png d/10_cat/b.png
    expect_finding d missing-caption 10_cat/b.png warning 0
    tb check d
    expect_contains "$out" 'missing-caption  10_cat/b.png: no .txt file: kohya trains it with the class tokens "cat"'
}

test_orphan_caption_warns() {
    item d/1_x/a 'x\n'
    capf d/1_x/lost.txt 'x\n'
    expect_finding d orphan-caption 1_x/lost.txt warning 0
}

test_empty_caption_is_an_error() {
    item d/1_x/a 'x\n'
    item d/1_x/e ''
    item d/1_x/w ' , \n'
    expect_finding d empty-caption 1_x/e.txt error 1
    expect_eq "$(finding empty-caption 1_x/w.txt)" error "caption of only a comma and blanks"
    tb check d
    expect_contains "$out" "kohya stops with an assertion"
    expect_contains "$out" "2 error(s)"
}

test_bom_warns() {
    item d/1_x/a '\357\273\277x, y\n'
    expect_finding d bom 1_x/a.txt warning 0
}

test_crlf_is_a_note() {
    item d/1_x/a 'x, y\r\n'
    expect_finding d crlf 1_x/a.txt info 0
    tb check d
    expect_contains "$out" "0 error(s), 0 warning(s), 1 note(s)"
}

test_non_utf8_is_an_error() {
    item d/1_x/a 'caf\351, y\n'
    expect_finding d non-utf8 1_x/a.txt error 1
}

test_multi_line_warns() {
    item d/1_x/a 'x, y\nsecond\n'
    item d/1_x/b 'x, y\n\n  \n'
    expect_finding d multi-line 1_x/a.txt warning 0
    expect_eq "$(finding multi-line 1_x/b.txt)" "" "blank extra lines"
}

test_empty_tag_warns() {
    item d/1_x/a 'x,, y\n'
    item d/1_x/b 'x, y,\n'
    expect_finding d empty-tag 1_x/a.txt warning 0
    expect_eq "$(finding empty-tag 1_x/b.txt)" warning "trailing comma"
}

test_duplicate_tag_warns() {
    item d/1_x/a 'x, y, x\n'
    expect_finding d duplicate-tag 1_x/a.txt warning 0
}

test_separator_warns_for_semicolon_pipe_tab() {
    item d/1_x/a 'x; y, z\n'
    item d/1_x/b 'x | y\n'
    item d/1_x/c 'x\ty\n'
    expect_finding d separator 1_x/a.txt warning 0
    expect_eq "$(finding separator 1_x/b.txt)" warning "pipe"
    expect_eq "$(finding separator 1_x/c.txt)" warning "tab"
}

test_mixed_separators_warns_once_for_the_dataset() {
    item d/1_x/a 'x, y\n'
    item d/1_x/b 'x,y\n'
    expect_finding d mixed-separators . warning 0
    tb check d
    expect_contains "$out" '1 caption(s) separate tags with ", " and 1 with "," alone'
}

test_tag_variants_warns() {
    item d/1_x/a 'Blue_Sky, x\n'
    item d/1_x/b 'blue sky, x\n'
    expect_finding d tag-variants . warning 0
    tb check d
    expect_contains "$out" '"Blue_Sky" (1 image(s)) and "blue sky" (1)'
}

test_bad_image_zero_bytes() {
    item d/1_x/a 'x\n'
    : >d/1_x/z.png
    capf d/1_x/z.txt 'x\n'
    expect_finding d bad-image 1_x/z.png error 1
    tb check d
    expect_contains "$out" "1_x/z.png: empty file (0 bytes)"
}

test_bad_image_garbage() {
    capf d/1_x/g.png 'this is not a png at all\n'
    capf d/1_x/g.txt 'x\n'
    expect_finding d bad-image 1_x/g.png error 1
    tb check d
    expect_contains "$out" "1_x/g.png: not an image"
}

test_bad_image_bomb_header() {
    bomb_png d/1_x/b.png
    capf d/1_x/b.txt 'x\n'
    expect_finding d bad-image 1_x/b.png error 1
    tb check d
    expect_contains "$out" "declared size 100000x100000 exceeds"
    expect_contains "$out" "refusing to decode"
}

test_kohya_layout_root_images() {
    item d/10_x/a 'x\n'
    item d/r 'x\n'
    expect_finding d kohya-layout . warning 0
    tb check d
    expect_contains "$out" "1 image(s) directly in the dataset folder"
}

test_kohya_layout_folder_not_n_name() {
    item d/10_x/a 'x\n'
    item d/photos/a 'x\n'
    item d/0_zero/a 'x\n'
    expect_finding d kohya-layout photos warning 0
    expect_eq "$(finding kohya-layout 0_zero)" warning "0 repeats"
}

test_kohya_layout_nested_folder() {
    item d/10_x/a 'x\n'
    item d/10_x/deeper/a 'x\n'
    expect_finding d kohya-layout 10_x/deeper warning 0
    tb check d
    expect_contains "$out" "nested folder"
}

test_flat_dataset_has_no_kohya_warning_for_root() {
    item d/a 'x\n'
    check_json d
    expect_eq "$(finding kohya-layout .)" "" "root images without N_name folders"
    expect_eq "$rc" 0 "exit status"
}

test_skipped_for_images_sharing_a_stem() {
    item d/1_x/s 'x\n'
    png d/1_x/s.jpg
    expect_finding d skipped 1_x/s.png warning 0
    tb check d
    expect_contains "$out" "shares its caption file with another image"
}

test_json_objects_have_the_four_fields() {
    item d/1_x/a '\357\273\277x,, x\r\n'
    item d/1_x/e ''
    check_json d
    expect_eq "$rc" 1 "exit status"
    expect_eq "$(json_eval 'all(sorted(f) == ["code", "message", "path", "severity"] and all(type(v) is str for v in f.values()) for f in d)')" \
        True "every finding is {severity, code, path, message} of strings"
    expect_eq "$(json_eval 'sorted(f["code"] for f in d)')" \
        "['bom', 'crlf', 'duplicate-tag', 'empty-caption', 'empty-tag']" "codes"
    expect_eq "$(json_eval 'sorted(set(f["severity"] for f in d))')" "['error', 'info', 'warning']" "severities"
}

test_json_of_a_clean_dataset_is_empty_array() {
    mk_demo d
    check_json d
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'd')" "[]" "findings"
}

test_clean_demo_copy_exits_0() {
    mk_demo d
    tb check d
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "0 error(s), 0 warning(s), 0 note(s)" "output"
    expect_eq "$err" "" "stderr"
}

test_warnings_only_exit_0_and_are_counted() {
    item d/1_x/a 'x, x\n'
    item d/1_x/b '\357\273\277y\n'
    tb check d
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "0 error(s), 2 warning(s), 0 note(s)"
}

test_decode_finds_a_truncated_png() {
    head -c 300 "$PNG_DIR/0001.png" >t.png
    mkdir -p d/1_x && mv t.png d/1_x/t.png
    capf d/1_x/t.txt 'x\n'
    tb check d
    expect_eq "$rc" 0 "exit status without --decode (the header is intact)"
    check_json d --decode
    expect_eq "$rc" 1 "exit status with --decode"
    expect_eq "$(finding bad-image 1_x/t.png)" error "finding with --decode"
    expect_contains "$out" "truncated PNG"
}

test_decode_of_the_demo_is_clean() {
    mk_demo d
    tb check d --decode
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "0 error(s), 0 warning(s), 0 note(s)" "output"
}

test_caption_extension_is_honoured() {
    png d/1_x/a.png
    capf d/1_x/a.caption 'x\n'
    capf d/1_x/a.txt ''
    tb check d --caption_extension .caption
    expect_eq "$rc" 0 "exit status (the empty .txt is not a caption here)"
    tb check d
    expect_eq "$rc" 1 "exit status with .txt captions"
}

test_check_changes_nothing() {
    item d/1_x/a '\357\273\277x,, x\r\n'
    bomb_png d/1_x/b.png
    tree_state d >before
    tb check d --decode
    tree_state d >after
    cmp -s before after || fail "check changed the dataset"
}

test_usage_errors_exit_2() {
    mk_demo d
    for args in "d --frob" "" "d e" "d --caption_extension"; do
        tb check $args
        expect_eq "$rc" 2 "exit status of check $args"
        expect_contains "$err" "tagbench check:" "stderr of check $args"
    done
}

test_not_a_directory_exits_1() {
    : >plain
    tb check plain
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "plain: Not a directory"
    tb check no-such-dir
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "no-such-dir: No such file or directory"
}

run_tests
