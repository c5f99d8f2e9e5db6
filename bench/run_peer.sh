#!/bin/sh
# Side by side on this machine: `tagbench tags DIR --json` (open + full occurrence + JSON out) against
# bench/peer_occurrence.py (read every caption, split on ',', strip, collections.Counter), on the
# synthetic dataset bench_dataset generates. Checks that both print the same counts, then times each
# (hyperfine when installed, else a loop over `date +%s.%N`) and prints the ratio peer / tagbench.
# A figure, never pass/fail: it exits non-zero only if a command fails or the outputs disagree.
#
# usage: bench/run_peer.sh [IMAGES]       (default 100000; RUNS=5 runs each after one warm-up;
#                                          KEEP=1 leaves the dataset; BUILD=build/release)
set -eu
IMAGES=${1:-100000}
RUNS=${RUNS:-5}
BUILD=${BUILD:-build/release}
cd "$(dirname "$0")/.."
make --no-print-directory "$BUILD/tagbench" "$BUILD/bench/bench_dataset" >&2

dir=$("$BUILD/bench/bench_dataset" --generate-only --images "$IMAGES")
out=$(mktemp -d "${TMPDIR:-/tmp}/tagbench-peer-XXXXXX")
cleanup() {
    rm -rf "$out"
    if [ "${KEEP:-0}" = 1 ]; then echo "dataset kept at $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
echo "dataset: $dir ($IMAGES captions)" >&2

ours="$BUILD/tagbench tags '$dir' --json"
peer="python3 bench/peer_occurrence.py '$dir'"

# Same answer first: a fast wrong count is not a result.
sh -c "$ours" >"$out/ours.json"
sh -c "$peer" >"$out/peer.json"
python3 -c 'import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a == b else "run_peer: tagbench and the Python peer disagree on the counts")' \
    "$out/ours.json" "$out/peer.json"
echo "outputs agree: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' \
    "$out/ours.json") tags" >&2

# Prints "best median" in seconds for one command, RUNS runs after one warm-up.
time_loop() {
    sh -c "$1" >/dev/null
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        t0=$(date +%s.%N)
        sh -c "$1" >/dev/null
        t1=$(date +%s.%N)
        echo "$t0 $t1" | awk '{ printf "%.6f\n", $2 - $1 }'
        i=$((i + 1))
    done | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f %.6f\n", v[1], m }'
}

time_hyperfine() {
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$out/h.json" -n tagbench "$ours" -n peer "$peer" >&2
    python3 -c 'import json, statistics, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(min(r["times"]), statistics.median(r["times"]))' "$out/h.json"
}

if command -v hyperfine >/dev/null 2>&1; then
    how="hyperfine, $RUNS runs after 1 warm-up"
    time_hyperfine >"$out/t"
else
    how="date +%s.%N loop, $RUNS runs after 1 warm-up"
    { time_loop "$ours"; time_loop "$peer"; } >"$out/t"
fi

awk -v how="$how" -v n="$IMAGES" -v cpus="$(nproc)" '
    NR == 1 { ob = $1; om = $2 } NR == 2 { pb = $1; pm = $2 }
    END {
        printf "open + full occurrence + JSON, %d captions, warm page cache, %s CPUs (%s)\n", n, cpus, how
        printf "%-34s %10s %10s\n", "command", "best", "median"
        printf "%-34s %9.3fs %9.3fs\n", "tagbench tags DIR --json", ob, om
        printf "%-34s %9.3fs %9.3fs\n", "python3 bench/peer_occurrence.py", pb, pm
        printf "%-34s %9.2fx %9.2fx\n", "ratio peer / tagbench", pb / ob, pm / om
    }' "$out/t"
