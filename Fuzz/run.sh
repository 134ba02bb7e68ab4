#!/usr/bin/env bash
# Builds the libFuzzer target for what a worker runs on a file's bytes (Fuzz/CSVFuzzTarget.swift with
# Sources/EsteiraCSV, AddressSanitizer on) and runs it for a bounded time (default 60 s). `make test`
# runs it; `make fuzz` runs it alone.
#
#   Fuzz/run.sh                            # 60 s
#   FUZZ_SECONDS=600 Fuzz/run.sh           # longer
#   FUZZ_UPDATE_CORPUS=1 Fuzz/run.sh       # then merge what it found into Fuzz/corpus (small inputs only)
#   FUZZ_JSON_SECONDS=120 Fuzz/run.sh      # the AWS JSON reader's target longer (20 s by default)
#
# Exit status 0: no crash, no trap, no sanitizer report, no input slower than 10 s (-timeout), no leak
# past the RSS limit, in the time given. Findings are written to .build/fuzz/findings/; reproduce one with
# `.build/fuzz/csv-fuzz <file>`, and add it to Fuzz/seeds once fixed (with a regression test).
#
# Inputs: Fuzz/seeds (hand-written shapes of real exports, each starting with its two option bytes, see
# the target), Fuzz/corpus (what earlier runs grew, minimised, kept under FUZZ_CORPUS_MAX_KB), and
# csv-spectrum with a few option bytes when ../shared/testdata is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v swiftc >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
CORPUS_MAX_KB="${FUZZ_CORPUS_MAX_KB:-2048}"
OUT="$ROOT/.build/fuzz"
mkdir -p "$OUT/module" "$OUT/corpus" "$OUT/findings" "$ROOT/Fuzz/corpus"

# Rebuild only when a source changed: a second `make test` starts fuzzing at once.
SOURCES=$(find "$ROOT/Sources/EsteiraCSV" -name '*.swift' | sort)
STAMP=$(cat $SOURCES "$ROOT/Fuzz/CSVFuzzTarget.swift" "$ROOT/Fuzz/run.sh" | cksum | cut -d' ' -f1)
if [ ! -x "$OUT/csv-fuzz" ] || [ "$(cat "$OUT/stamp" 2>/dev/null)" != "$STAMP" ]; then
    echo "building the fuzz target (libFuzzer + AddressSanitizer)…" >&2
    # EsteiraCSV as its own module, instrumented, then the entry point against it. The linker's notes
    # about ASan's local symbols are noise: the log is shown only if the build fails.
    build() {
    swiftc -emit-library -static -emit-module -module-name EsteiraCSV -parse-as-library -swift-version 6 -O \
        -sanitize=fuzzer,address -I "$ROOT/Sources/CZlib" \
        -emit-module-path "$OUT/module/EsteiraCSV.swiftmodule" -o "$OUT/libEsteiraCSV.a" $SOURCES
    swiftc -parse-as-library -swift-version 6 -O -sanitize=fuzzer,address \
        -I "$OUT/module" -I "$ROOT/Sources/CZlib" \
        "$ROOT/Fuzz/CSVFuzzTarget.swift" "$OUT/libEsteiraCSV.a" -lz -o "$OUT/csv-fuzz"
    }
    if ! build > "$OUT/build.log" 2>&1; then cat "$OUT/build.log" >&2; exit 1; fi
    echo "$STAMP" > "$OUT/stamp"
fi

cp -n "$ROOT"/Fuzz/seeds/* "$OUT/corpus/" 2>/dev/null || true
cp -n "$ROOT"/Fuzz/corpus/* "$OUT/corpus/" 2>/dev/null || true
SPECTRUM="${ESTEIRA_TESTDATA:-$ROOT/../shared/testdata}/csv-spectrum/csvs"
if [ -d "$SPECTRUM" ]; then
    for f in "$SPECTRUM"/*.csv; do
        for control in '\x00\x00' '\x28\x10' '\xb2\x01'; do
            { printf "$control"; cat "$f"; } > "$OUT/corpus/spectrum-$(basename "$f" .csv)-$(printf '%s' "$control" | od -An -tx1 | tr -d ' \n')"
        done
    done
fi

# Swift's own crash backtracer fights ASan and can hang on a crash: libFuzzer reports it instead.
export SWIFT_BACKTRACE=enable=no

# fuzz WHAT BINARY SECONDS CORPUS FINDINGS LOG: one bounded libFuzzer run; any finding fails the script.
fuzz() {
    echo "fuzzing $1 for ${3}s…" >&2
    "$2" -max_total_time="$3" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$5/" "$4" > "$6" 2>&1 || {
        tail -n 60 "$6" >&2
        echo "fuzzing $1 found a crash, a hang or a sanitizer report: see above and $5/" >&2
        exit 1
    }
    tail -n 12 "$6" >&2
}
fuzz "what a worker runs on a file" "$OUT/csv-fuzz" "$SECONDS_TO_RUN" "$OUT/corpus" "$OUT/findings" "$OUT/fuzz.log"

# The reader of every AWS JSON answer (Fuzz/JSONFuzzTarget.swift with Sources/EsteiraAWS/Core/JSONParser.swift
# and JSONValue.swift, one module): FUZZ_JSON_SECONDS (20 by default), from Fuzz/json-seeds.
JSON_SECONDS="${FUZZ_JSON_SECONDS:-20}"
JSON_SOURCES="$ROOT/Sources/EsteiraAWS/Core/JSONParser.swift $ROOT/Sources/EsteiraAWS/Core/JSONValue.swift"
JSON_STAMP=$(cat $JSON_SOURCES "$ROOT/Fuzz/JSONFuzzTarget.swift" "$ROOT/Fuzz/run.sh" | cksum | cut -d' ' -f1)
mkdir -p "$OUT/json-corpus" "$OUT/json-findings"
if [ ! -x "$OUT/json-fuzz" ] || [ "$(cat "$OUT/json-stamp" 2>/dev/null)" != "$JSON_STAMP" ]; then
    echo "building the JSON fuzz target…" >&2
    if ! swiftc -parse-as-library -swift-version 6 -O -sanitize=fuzzer,address -module-name EsteiraJSONFuzz \
        $JSON_SOURCES "$ROOT/Fuzz/JSONFuzzTarget.swift" -o "$OUT/json-fuzz" > "$OUT/json-build.log" 2>&1; then
        cat "$OUT/json-build.log" >&2
        exit 1
    fi
    echo "$JSON_STAMP" > "$OUT/json-stamp"
fi
cp -n "$ROOT"/Fuzz/json-seeds/* "$OUT/json-corpus/" 2>/dev/null || true
fuzz "the JSON reader" "$OUT/json-fuzz" "$JSON_SECONDS" "$OUT/json-corpus" "$OUT/json-findings" "$OUT/json-fuzz.log"

if [ "${FUZZ_UPDATE_CORPUS:-0}" = "1" ]; then
    # Keep the inputs that add coverage, small ones only, within the size cap.
    rm -rf "$OUT/merged" && mkdir -p "$OUT/merged"
    "$OUT/csv-fuzz" -merge=1 -max_len=4096 "$OUT/merged" "$ROOT/Fuzz/corpus" "$OUT/corpus" > "$OUT/merge.log" 2>&1
    if [ "$(du -sk --apparent-size "$OUT/merged" | cut -f1)" -gt "$CORPUS_MAX_KB" ]; then
        echo "the merged corpus is over ${CORPUS_MAX_KB} KB; Fuzz/corpus left as it was" >&2
    else
        rm -f "$ROOT"/Fuzz/corpus/* && cp "$OUT"/merged/* "$ROOT/Fuzz/corpus/"
        echo "Fuzz/corpus: $(ls "$ROOT/Fuzz/corpus" | wc -l) inputs, $(du -sk --apparent-size "$ROOT/Fuzz/corpus" | cut -f1) KB" >&2
    fi
fi
