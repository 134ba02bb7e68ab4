#!/usr/bin/env bash
# CSV engine benchmark: parse + type + clean throughput (MB/s on one core) and peak RSS on a generated
# orders-like file (ints, decimals, dates, datetimes with offsets, quoted text with commas and line
# breaks, ~2% dirty rows), against Python's csv module and DuckDB's read_csv (one thread) on the same
# file in the same run. Medians of REPS runs; ratios against Esteira's typed run. Throughput is given
# both over wall time and over the process's CPU time (steadier when other work shares the cores).
#
#   bench/csv/run.sh                     # 1 GB file, 3 repetitions
#   SIZE=200000000 REPS=5 bench/csv/run.sh
#
# DuckDB is used if `import duckdb` works in $PYTHON (pip install duckdb). Not part of `make test`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
SIZE="${SIZE:-1000000000}"
REPS="${REPS:-3}"
PYTHON="${PYTHON:-python3}"
WORK="${BENCH_DIR:-${TMPDIR:-/tmp}/esteira-csv-bench}"
FILE="$WORK/orders-$SIZE.csv"
mkdir -p "$WORK"

echo "building the benchmark (release)…" >&2
swift build -c release --package-path "$HERE" >&2
BIN="$HERE/.build/release/csvbench"
[ -s "$FILE" ] || { echo "generating $FILE…" >&2; "$BIN" generate "$FILE" "$SIZE"; }

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
engines=(typed typed-strings parse strings python)
"$PYTHON" -c 'import duckdb' 2>/dev/null && engines+=(duckdb) || echo "duckdb not importable in $PYTHON: skipped (pip install duckdb)" >&2
for rep in $(seq 1 "$REPS"); do
    for engine in "${engines[@]}"; do
        echo "rep $rep: $engine" >&2
        case "$engine" in
            typed) "$BIN" read "$FILE" ;;
            typed-strings) "$BIN" read-strings "$FILE" ;;
            parse|strings) "$BIN" "$engine" "$FILE" ;;
            python|duckdb) "$PYTHON" "$HERE/reference.py" "$engine" "$FILE" ;;
        esac >> "$RESULTS"
    done
done

"$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault(r["engine"], []).append(r)
names = {"esteira-typed": "Esteira parse+type+clean (canonical bytes)",
         "esteira-typed-strings": "  … + [String?] rows (the old FileLoad API)",
         "esteira-parse": "  floor: parser alone", "esteira-strings": "  floor: parser + a String per field",
         "python": "Python csv + typing", "duckdb": "DuckDB read_csv, 1 thread"}
base = statistics.median(r["mb_per_s"] for r in by["esteira-typed"])
cpu_base = statistics.median(r["mb_per_cpu_s"] for r in by["esteira-typed"])
print(f"{'engine':46} {'MB/s wall':>10} {'ratio':>6} {'MB/CPU-s':>9} {'ratio':>6} {'peak RSS':>10} {'rows':>10} {'rejected':>9}")
for key in ["esteira-typed", "esteira-typed-strings", "esteira-parse", "esteira-strings", "python", "duckdb"]:
    if key not in by: continue
    rs = by[key]
    mbs = statistics.median(r["mb_per_s"] for r in rs)
    cpu = statistics.median(r["mb_per_cpu_s"] for r in rs)
    rss = max(r["peak_rss"] for r in rs) / 2**20
    rej = rs[0].get("rejected")
    print(f"{names[key]:46} {mbs:10.1f} {mbs / base:6.2f} {cpu:9.1f} {cpu / cpu_base:6.2f} {rss:8.1f}MB {rs[0]['rows']:10} {'' if rej is None else rej:>9}")
print(f"\n{len(runs) // len(by)} runs each, medians; file {runs[0]['bytes'] / 1e9:.2f} GB. Ratio = over Esteira's typed run.")
print("MB/s wall is the file over elapsed time; MB/CPU-s is over the process's user+system CPU time, which")
print("leaves out time the core spent on other processes (the per-core figure on a shared machine).")
PY
