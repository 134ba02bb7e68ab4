#!/usr/bin/env bash
# MySQL loader benchmark: rows/s of Esteira's bulk path (LOAD DATA LOCAL INFILE fed from memory) and of
# its batched-INSERT fallback, against the server's own ceiling measured in the same run — the `mariadb`
# client loading the very same rows from a file with LOAD DATA LOCAL INFILE. Runs are interleaved (the
# order rotates every repetition) and medians are reported, so background load hits all three alike.
#
#   source .local/env && bench/mysql/run.sh            # 1M and 10M rows, 3 repetitions
#   ROWS="1000000" REPS=5 bench/mysql/run.sh
#   KINDS="ceiling bulk bulk-strings fallback fallback-strings" bench/mysql/run.sh   # also the [[String?]] API
#
# Not part of `make test`. Needs the local stack (make services-up) or ESTEIRA_MYSQL_URL pointing at a
# server whose user may create the database esteira_bench.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"

ROWS="${ROWS:-1000000 10000000}"
REPS="${REPS:-3}"
BATCH="${BATCH:-2000}"          # rows per append, as the pipeline sends them
KINDS="${KINDS:-ceiling bulk fallback}"
TABLE=bench_orders
WORK="${BENCH_DIR:-${TMPDIR:-/tmp}/esteira-mysql-bench}"
: "${ESTEIRA_MYSQL_URL:?source .local/env first (make services-up writes it)}"

# mysql://user:pass@host:port/db → the pieces the mariadb client wants.
parse_url() {
    python3 - "$1" <<'PY'
import sys, urllib.parse as u
p = u.urlparse(sys.argv[1])
print(u.unquote(p.username or ""), u.unquote(p.password or ""), p.hostname or "127.0.0.1", p.port or 3306)
PY
}
read -r DB_USER DB_PASS DB_HOST DB_PORT < <(parse_url "$ESTEIRA_MYSQL_URL")
URL="mysql://$DB_USER:$DB_PASS@$DB_HOST:$DB_PORT/esteira_bench"
client() { MYSQL_PWD="$DB_PASS" mariadb --no-defaults --protocol=TCP -h"$DB_HOST" -P"$DB_PORT" -u"$DB_USER" "$@"; }

mkdir -p "$WORK"
echo "building the benchmark (release)…" >&2
swift build -c release --package-path "$HERE" >&2
BIN="$HERE/.build/release/MySQLBench"
client -e 'CREATE DATABASE IF NOT EXISTS esteira_bench CHARACTER SET utf8mb4'
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

COLUMNS_SQL="(id, order_no, customer, amount, quantity, created_at, note)"
FORMAT_SQL="CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\\\\\' LINES TERMINATED BY '\\n'"

run_ceiling() {  # rows file
    "$BIN" prepare "$URL" "$TABLE"
    local start end rss
    start=$(date +%s.%N)
    rss=$( { /usr/bin/time -f '%M' bash -c "MYSQL_PWD='$DB_PASS' mariadb --no-defaults --protocol=TCP -h'$DB_HOST' -P'$DB_PORT' -u'$DB_USER' --local-infile=1 esteira_bench -e \"LOAD DATA LOCAL INFILE '$2' INTO TABLE $TABLE $FORMAT_SQL $COLUMNS_SQL\"" ; } 2>&1 >/dev/null | tail -n1)
    end=$(date +%s.%N)
    printf '{"kind": "ceiling", "rows": %s, "seconds": %s, "peak_rss_kib": %s}\n' "$1" "$(echo "$end - $start" | bc)" "$rss" >>"$RESULTS"
}

run_esteira() {  # kind path rows [rows-as]
    "$BIN" prepare "$URL" "$TABLE"
    local line
    line=$("$BIN" load "$URL" "$TABLE" "$3" "$2" "$BATCH" append "${4:-bytes}")
    echo "{\"kind\": \"$1\", ${line#\{}" >>"$RESULTS"
}

for rows in $ROWS; do
    file="$WORK/rows-$rows.tsv"
    [[ -s "$file" ]] || { echo "writing $file…" >&2; "$BIN" tsv "$rows" "$file"; }
    "$BIN" check 100000 >&2  # the byte rows and the String rows (the ceiling's file) are the same data
    for ((rep = 0; rep < REPS; rep++)); do
        read -r -a order <<<"$KINDS"
        # Rotate, so no kind always runs first (a cold buffer pool) or last.
        shift_by=$((rep % ${#order[@]}))
        order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
        for kind in "${order[@]}"; do
            echo "rows=$rows rep=$((rep + 1))/$REPS $kind…" >&2
            case "$kind" in
                ceiling) run_ceiling "$rows" "$file" ;;
                bulk) run_esteira bulk load-data-local-infile "$rows" ;;
                fallback) run_esteira fallback batched-insert "$rows" ;;
                bulk-strings) run_esteira bulk-strings load-data-local-infile "$rows" strings ;;
                fallback-strings) run_esteira fallback-strings batched-insert "$rows" strings ;;
            esac
        done
    done
done
"$BIN" prepare "$URL" "$TABLE"

python3 - "$RESULTS" "$BATCH" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\nMySQL loader benchmark: {len(runs)} runs, {sys.argv[2]} rows per append, medians")
print(f"{'rows':>10} {'kind':<16} {'seconds':>8} {'rows/s':>10} {'× ceiling':>10} {'target':>7} {'peak RSS':>10} runs")
for rows in sorted({r["rows"] for r in runs}):
    med = {}
    for kind in ("ceiling", "bulk", "bulk-strings", "fallback", "fallback-strings"):
        rs = [r for r in runs if r["rows"] == rows and r["kind"] == kind]
        if not rs: continue
        med[kind] = (statistics.median(r["seconds"] for r in rs), max(r["peak_rss_kib"] for r in rs), rs)
    for kind, (secs, rss, rs) in med.items():
        ratio = med["ceiling"][0] / secs if "ceiling" in med else float("nan")
        target = {"bulk": "≥0.90", "fallback": "≥0.60"}.get(kind, "")
        spread = " ".join(f"{r['seconds']:.2f}" for r in rs)
        print(f"{rows:>10} {kind:<16} {secs:>8.2f} {rows/secs:>10,.0f} {ratio:>10.2f} {target:>7} {rss/1024:>8.1f}MB  [{spread}]")
PY
