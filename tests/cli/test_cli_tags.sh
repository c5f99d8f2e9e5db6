#!/bin/sh
# `tagbench tags DIR`: tag occurrence as a text table or JSON, overall or per folder, and kohya's
# ss_tag_frequency counting (--by-folder --kohya).
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

NL='
'

test_table_sorted_by_count_then_name() {
    mk_two_folders d
    tb tags d
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" " images  share  tag
      3  60.0%  red
      2  40.0%  blue
      1  20.0%  Red
      1  20.0%  green
      1  20.0%  puppy" "table"
    expect_eq "$err" "" "stderr"
}

test_sort_name_is_byte_order() {
    mk_two_folders d
    tb tags d --sort name
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" " images  share  tag
      1  20.0%  Red
      2  40.0%  blue
      1  20.0%  green
      1  20.0%  puppy
      3  60.0%  red" "table by name"
    tb tags d --sort=count
    expect_eq "$(printf '%s\n' "$out" | sed -n 2p)" "      3  60.0%  red" "first row with --sort=count"
}

test_top_limits_rows() {
    mk_two_folders d
    tb tags d --top 2
    expect_eq "$out" " images  share  tag
      3  60.0%  red
      2  40.0%  blue" "--top 2"
    tb tags d --top 0
    expect_eq "$out" " images  share  tag" "--top 0"
    tb tags d --top 99
    expect_eq "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 6 "--top larger than the tag count"
}

test_json_is_an_array_of_tag_count_objects() {
    mk_two_folders d
    tb tags d --json
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'd')" \
        "[{'tag': 'red', 'count': 3}, {'tag': 'blue', 'count': 2}, {'tag': 'Red', 'count': 1}, {'tag': 'green', 'count': 1}, {'tag': 'puppy', 'count': 1}]" \
        "JSON"
    expect_eq "$(json_eval 'all(type(o["count"]) is int and sorted(o) == ["count", "tag"] for o in d)')" \
        True "every entry is {tag: str, count: int}"
}

test_json_honours_sort_and_top() {
    mk_two_folders d
    tb tags d --json --sort name --top 2
    expect_eq "$(json_eval 'd')" "[{'tag': 'Red', 'count': 1}, {'tag': 'blue', 'count': 2}]" "JSON"
}

test_json_of_a_dataset_without_tags_is_empty_array() {
    png d/a.png
    tb tags d --json
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'd')" "[]" "JSON"
}

test_counts_images_not_occurrences() {
    item d/a 'red, red, blue\n'
    item d/b 'red\n'
    tb tags d --json
    expect_eq "$(json_eval 'd')" "[{'tag': 'red', 'count': 2}, {'tag': 'blue', 'count': 1}]" "JSON"
}

test_by_folder_text_one_table_per_folder() {
    mk_two_folders d
    tb tags d --by-folder
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" '10_cat  (10 repeats, class "cat")  3 images
 images  share  tag
      2  66.7%  blue
      2  66.7%  red
      1  33.3%  Red
      1  33.3%  green

2_dog  (2 repeats, class "dog")  2 images
 images  share  tag
      1  50.0%  puppy
      1  50.0%  red' "per-folder tables"
}

test_by_folder_text_top_applies_per_folder() {
    mk_two_folders d
    tb tags d --by-folder --top 1
    expect_contains "$out" "      2  66.7%  blue${NL}${NL}2_dog" "10_cat table"
    expect_contains "$out" "      1  50.0%  puppy" "2_dog table"
    expect_not_contains "$out" "      1  50.0%  red" "2_dog table"
}

test_by_folder_json_keys_folders_by_path() {
    mk_two_folders d
    tb tags d --by-folder --json
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'list(d)')" "['10_cat', '2_dog']" "folder keys"
    expect_eq "$(json_eval 'd == {"10_cat": {"blue": 2, "red": 2, "Red": 1, "green": 1}, "2_dog": {"puppy": 1, "red": 1}}')" \
        True "counts: $out"
}

test_by_folder_json_honours_top() {
    mk_two_folders d
    tb tags d --by-folder --json --top 1
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'd')" "{'10_cat': {'blue': 2}, '2_dog': {'puppy': 1}}" "--top 1 per folder"
}

test_by_folder_json_includes_root_and_plain_folders() {
    mk_two_folders d
    item d/root 'solo\n'
    item d/misc/m 'other\n'
    tb tags d --by-folder --json
    expect_eq "$(json_eval 'sorted(d)')" "['.', '10_cat', '2_dog', 'misc']" "folder keys"
    expect_eq "$(json_eval 'd["."]')" "{'solo': 1}" "root counts"
    expect_eq "$(json_eval 'd["misc"]')" "{'other': 1}" "misc counts"
}

test_kohya_lowercases_and_counts_every_occurrence() {
    mk_two_folders d
    tb tags d --by-folder --kohya --json
    expect_eq "$rc" 0 "exit status"
    # a: "Red, blue, red, green" -> red twice; b: red, blue; c has no caption -> "cat"
    expect_eq "$(json_eval 'd == {"10_cat": {"red": 3, "blue": 2, "green": 1, "cat": 1}, "2_dog": {"puppy": 1, "red": 1, "dog": 1}}')" \
        True "ss_tag_frequency: $out"
}

test_kohya_only_n_name_folders_and_first_line() {
    mk_two_folders d
    item d/root 'solo\n'
    item d/misc/m 'other\n'
    capf d/2_dog/x.txt 'puppy, red\nsecond, line\n'
    tb tags d --by-folder --kohya --json
    expect_eq "$(json_eval 'sorted(d)')" "['10_cat', '2_dog']" "folder keys"
    expect_eq "$(json_eval 'd["2_dog"] == {"puppy": 1, "red": 1, "dog": 1}')" "True" "2_dog (first line only)"
}

test_kohya_class_tokens_are_lowercased_words() {
    png "d/3_Sks Dog/a.png" "d/3_Sks Dog/b.png"
    tb tags d --by-folder --kohya --json
    expect_eq "$(json_eval 'd')" "{'3_Sks Dog': {'sks dog': 2}}" "class tokens of caption-less images"
}

test_kohya_text_output_is_the_json() {
    mk_two_folders d
    tb tags d --by-folder --kohya --json
    json=$out
    tb tags d --by-folder --kohya
    expect_eq "$rc" 0 "exit status"
    expect_eq "$out" "$json" "text output of --kohya"
}

test_kohya_needs_by_folder() {
    mk_two_folders d
    tb tags d --kohya
    expect_eq "$rc" 2 "exit status"
    expect_contains "$err" "--kohya goes with --by-folder"
    expect_eq "$out" "" "stdout"
}

test_caption_extension_selects_caption_files() {
    png d/a.png d/b.png
    capf d/a.caption 'from caption, shared\n'
    capf d/a.txt 'from txt\n'
    capf d/b.caption 'shared\n'
    tb tags d --caption_extension .caption --json
    expect_eq "$rc" 0 "exit status"
    expect_eq "$(json_eval 'd')" "[{'tag': 'shared', 'count': 2}, {'tag': 'from caption', 'count': 1}]" "JSON"
    tb tags d --caption-extension=caption --json
    expect_eq "$(json_eval 'len(d)')" 2 "tags with --caption-extension=caption (no dot)"
    tb tags d --json
    expect_eq "$(json_eval 'd')" "[{'tag': 'from txt', 'count': 1}]" "default .txt"
}

test_usage_errors_exit_2() {
    mk_two_folders d
    for args in "d --sort size" "d --top -1" "d --top many" "d --frob" "d e" "--json" "d --sort"; do
        tb tags $args
        expect_eq "$rc" 2 "exit status of tags $args"
        expect_contains "$err" "tagbench tags:" "stderr of tags $args"
        expect_eq "$out" "" "stdout of tags $args"
    done
    tb tags d --sort size
    expect_contains "$err" '--sort takes count or name, not "size"'
    tb tags --json
    expect_contains "$err" "missing DIR"
}

test_missing_dir_exits_1_naming_it() {
    tb tags no-such-dir
    expect_eq "$rc" 1 "exit status"
    expect_contains "$err" "no-such-dir"
    expect_contains "$err" "No such file or directory"
}

test_help_exits_0() {
    tb tags --help
    expect_eq "$rc" 0 "exit status"
    expect_contains "$out" "usage: tagbench tags DIR"
}

test_reading_changes_nothing() {
    mk_two_folders d
    tree_state d >before
    tb tags d --by-folder --kohya --json
    tb tags d
    tree_state d >after
    cmp -s before after || fail "tags changed the dataset: $(diff before after)"
}

run_tests
