#!/usr/bin/env bash
# S3 GET throughput and CPU s/GiB of EsteiraAWS vs the curl command, same object, same moto, same run.
#   bench/aws/run.sh                      (BENCH_SIZE_MB=256 BENCH_RUNS=5 by default)
# Needs the local stack: `make services-up` in the repository root. Not part of `make test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
# shellcheck disable=SC1091
source "$root/.local/env"
cd "$here"
swift build -c release --product aws-bench
exec "$here/.build/release/aws-bench"
