#!/usr/bin/env bash
# Builds the CSV engine's libFuzzer target and runs it for a bounded time (default 60 s).
#
#   Fuzz/run.sh                  # 60 s
#   FUZZ_SECONDS=600 Fuzz/run.sh # longer
#
# Exit status 0: no crash, no hang (a run over 10 s), no leak past the RSS limit in the time given.
# Findings are written to .build/fuzz/findings/; reproduce one with `.build/fuzz/csv-fuzz <file>`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v swiftc >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
OUT="$ROOT/.build/fuzz"
mkdir -p "$OUT/module" "$OUT/corpus" "$OUT/findings"

echo "building the fuzz target (libFuzzer + AddressSanitizer)…" >&2
# EsteiraCSV as its own module, instrumented, then the entry point against it. The linker's notes about
# ASan's local symbols are noise: the log is shown only if the build fails.
build() {
swiftc -emit-library -static -emit-module -module-name EsteiraCSV -parse-as-library -swift-version 6 -O \
    -sanitize=fuzzer,address -I "$ROOT/Sources/CZlib" \
    -emit-module-path "$OUT/module/EsteiraCSV.swiftmodule" -o "$OUT/libEsteiraCSV.a" \
    $(find "$ROOT/Sources/EsteiraCSV" -name '*.swift' | sort)
swiftc -parse-as-library -swift-version 6 -O -sanitize=fuzzer,address \
    -I "$OUT/module" -I "$ROOT/Sources/CZlib" \
    "$ROOT/Fuzz/CSVFuzzTarget.swift" "$OUT/libEsteiraCSV.a" -lz -o "$OUT/csv-fuzz"
}
if ! build > "$OUT/build.log" 2>&1; then cat "$OUT/build.log" >&2; exit 1; fi

# Seeds: the checked-in ones (each starts with its options byte), and csv-spectrum with a few options.
cp -n "$ROOT"/Fuzz/seeds/* "$OUT/corpus/" 2>/dev/null || true
SPECTRUM="${ESTEIRA_TESTDATA:-$ROOT/../shared/testdata}/csv-spectrum/csvs"
if [ -d "$SPECTRUM" ]; then
    for f in "$SPECTRUM"/*.csv; do
        for control in '\x00' '\x28' '\xb2'; do
            { printf "$control"; cat "$f"; } > "$OUT/corpus/spectrum-$(basename "$f" .csv)-$(printf '%s' "$control" | tr -dc 'a-z0-9')"
        done
    done
fi

echo "fuzzing for ${SECONDS_TO_RUN}s…" >&2
"$OUT/csv-fuzz" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$OUT/findings/" "$OUT/corpus" 2>&1 | tail -n 25
