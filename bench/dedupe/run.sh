#!/usr/bin/env bash
# Dedupe benchmark: a keyed file of ROWS rows (5% repeated keys) read through CSVReader under a keyed
# contract, with the shipped dedupe settings (40 MiB of memory, runs spilled to $TMPDIR), against, in
# the same run: the in-memory table with no budget (max_memory 4 GiB, never spills: the old path with
# max_keys raised), dedupe switched off (the floor), and `cut | LC_ALL=C sort -u` on the key column.
# Medians of REPS runs; throughput ratios against the default run; peak RSS per process, and the
# dedupe's own share (peak RSS less the dedupe-off floor's).
#
#   bench/dedupe/run.sh                    # 5,000,000 rows, 3 repetitions
#   ROWS=20000000 REPS=1 bench/dedupe/run.sh
#
# Not part of `make test`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
ROWS="${ROWS:-5000000}"
REPS="${REPS:-3}"
PYTHON="${PYTHON:-python3}"
WORK="${BENCH_DIR:-${TMPDIR:-/tmp}/esteira-dedupe-bench}"
FILE="$WORK/keyed-$ROWS.csv"
mkdir -p "$WORK"

echo "building the benchmark (release)…" >&2
swift build -c release --package-path "$HERE" >&2
BIN="$HERE/.build/release/dedupebench"
[ -s "$FILE" ] || { echo "generating $FILE…" >&2; "$BIN" generate "$FILE" "$ROWS"; }

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
for rep in $(seq 1 "$REPS"); do
    for mode in default memory off; do
        echo "rep $rep: $mode" >&2
        TMPDIR="$WORK" "$BIN" read "$FILE" "$mode" >> "$RESULTS"
    done
    echo "rep $rep: sort -u" >&2
    # GNU time's %M is the peak RSS of the largest process in the pipeline (KiB), %e the wall seconds.
    /usr/bin/time -f '%e %M %U %S' -o "$WORK/sort.time" bash -c "cut -d, -f1 '$FILE' | LC_ALL=C sort -u -T '$WORK' | wc -l" > "$WORK/sort.out"
    read -r wall rss user sys < "$WORK/sort.time"
    echo "{\"engine\":\"sort-u\",\"bytes\":$(stat -c %s "$FILE"),\"seconds\":$wall,\"cpu_seconds\":$(echo "$user + $sys" | bc),\"rows\":$(cat "$WORK/sort.out"),\"duplicates\":null,\"peak_rss\":$((rss * 1024))}" >> "$RESULTS"
done

"$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault(r["engine"], []).append(r)
names = {"esteira-default": "Esteira dedupe, shipped settings (spills)",
         "esteira-memory": "Esteira dedupe, in memory, no budget",
         "esteira-off": "floor: same read, dedupe off",
         "sort-u": "cut -f1 | LC_ALL=C sort -u (keys only)"}
med = lambda k, f: statistics.median(r[f] for r in by[k])
base_wall = med("esteira-default", "seconds")
base_cpu = med("esteira-default", "cpu_seconds")
floor_rss = max(r["peak_rss"] for r in by["esteira-off"])
mb = runs[0]["bytes"] / 1e6
print(f"{'engine':42} {'wall s':>7} {'ratio':>6} {'CPU s':>6} {'MB/CPU-s':>9} {'ratio':>6} {'peak RSS':>9} {'dedupe RSS':>11} {'rows':>8} {'dups':>7}")
for k in ["esteira-default", "esteira-memory", "esteira-off", "sort-u"]:
    if k not in by: continue
    wall, cpu = med(k, "seconds"), med(k, "cpu_seconds")
    rss = max(r["peak_rss"] for r in by[k])
    extra = f"{(rss - floor_rss) / 2**20:9.1f}MB" if k.startswith("esteira") else f"{'':>11}"
    dups = by[k][0]["duplicates"]
    print(f"{names[k]:42} {wall:7.2f} {base_wall / wall:6.2f} {cpu:6.2f} {mb / cpu:9.1f} {base_cpu / cpu:6.2f} {rss / 2**20:7.1f}MB {extra} {by[k][0]['rows']:8} {'' if dups is None else dups:>7}")
print(f"\n{len(by['esteira-default'])} runs each, medians; file {mb:.0f} MB, 5% of rows repeat a key. ratio = the shipped")
print("settings' time / this one's (>1: faster than the shipped settings). CPU s is user+system time of the process")
print("(for sort -u, of the pipeline), steadier than wall time when other work shares the cores.")
print("dedupe RSS = the process's peak RSS less the dedupe-off floor's: what deduplicating the keys cost in memory.")
print("sort -u sees only the key column and decides nothing per row as it passes: the usual tool for the same set,")
print("not the same job.")
PY
