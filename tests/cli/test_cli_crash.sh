#!/bin/sh
# A session killed (kill -9) in the middle of a bulk edit: every caption is then whole, old or new,
# never half-written; `tagbench recover` finishes the edit from the journal (or there was nothing
# journaled yet and every caption is old) and removes the save's leftover temporary files.
. "$ROOT/tests/cli/lib.sh"
. "$ROOT/tests/cli/fixtures.sh"

N=3000

# N captions "tI, common, x" in two kohya folders (images are empty files: only names matter).
mk_many() {
    python3 - "$1" "$N" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "1_a" if i % 2 else "2_b")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "%05d.png" % i), "wb").close()
    with open(os.path.join(d, "%05d.txt" % i), "w") as f:
        f.write("t%d, common, x\n" % i)
PY
}

# Counts captions by state: "old new other".
caption_states() {
    python3 - "$1" <<'PY'
import glob, re, sys
old = new = other = 0
for p in glob.glob(sys.argv[1] + "/*/*.txt"):
    i = int(re.search(r"(\d+)\.txt$", p).group(1))
    t = open(p, "rb").read().decode()
    if t == "t%d, common, x\n" % i: old += 1
    elif t == "t%d, renamed, x\n" % i: new += 1
    else: other += 1
print(old, new, other)
PY
}

# kill_after SECONDS: starts the rename, kills it with SIGKILL after SECONDS.
kill_after() {
    "$TAGBENCH" edit d --rename common renamed --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "$1"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

check_crash_at() {
    mk_many d
    kill_after "$1"
    set -- $(caption_states d)
    expect_eq "$3" 0 "half-written or foreign captions after the kill"
    expect_eq "$(($1 + $2))" "$N" "captions present after the kill"
    tb recover d
    expect_eq "$rc" 0 "recover exit status"
    set -- $(caption_states d)
    expect_eq "$3" 0 "captions neither old nor new after recover"
    [ "$1" -eq "$N" ] || [ "$2" -eq "$N" ] || fail "after recover: $1 old and $2 new captions (mixed)"
    left=$(find d -name '.*.tagbench-*' | head -n 3)
    expect_eq "$left" "" "temporary files left after recover"
    [ -e d/.tagbench ] && fail "a journal is left after recover"
}

test_killed_early() { check_crash_at 0.05; }
test_killed_midway() { check_crash_at 0.3; }
test_killed_late() { check_crash_at 0.8; }

# Whatever the kill left, check names the leftovers instead of hiding them.
test_check_reports_stale_temp_files() {
    item d/1_x/a 'a, b\n'
    capf d/1_x/.a.txt.tagbench-999999-1 'a, b, c\n'
    tb check d
    expect_contains "$out" "stale-temp"
    expect_contains "$out" "1_x/.a.txt.tagbench-999999-1"
    tb recover d
    [ -e d/1_x/.a.txt.tagbench-999999-1 ] && fail "recover left the stale temporary file"
    expect_eq "$(cat d/1_x/a.txt)" "a, b" "the caption itself"
}

run_tests
