#!/usr/bin/env bash
# make demo: the whole path on the local stack. Expects .local/env sourced (the Makefile does it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

: "${AWS_ENDPOINT_URL:?source .local/env first (make demo does)}"
ESTEIRA="$(swift build --show-bin-path)/esteira"
PY="$VENV/bin/python"
SQL=(mariadb --no-defaults --protocol=socket --socket="$ESTEIRA_MYSQL_SOCKET" -uroot esteira)

step() { printf '\n== %s\n' "$*"; }

step "AWS side: bucket, queues with redrive, notification, jobs table (esteira setup)"
"$ESTEIRA" setup

step "MySQL side: destination tables (examples/schema.sql), emptied for a clean run"
"${SQL[@]}" < examples/schema.sql
"${SQL[@]}" -e "TRUNCATE acme_orders; TRUNCATE globex_customers; DROP TABLE IF EXISTS esteira_ledger;"
"$PY" scripts/demo_aws.py reset

step "Partners upload their files (examples/files → s3://$ESTEIRA_BUCKET/)"
"$PY" scripts/demo_aws.py upload examples/files

step "Workers drain the queue (esteira worker --until-idle)"
ESTEIRA_LOG_FORMAT=text "$ESTEIRA" worker --until-idle --concurrency 2 --http-port 0 2>&1 \
    | grep -E 'file loaded|dead-letter|already|worker stopped|error' || true

step "What landed where"
"$PY" scripts/demo_aws.py report
printf '\nRows in MySQL:\n'
"${SQL[@]}" --table -e "SELECT 'acme_orders' AS \`table\`, COUNT(*) AS \`rows\` FROM acme_orders
                       UNION ALL SELECT 'globex_customers', COUNT(*) FROM globex_customers;"
"${SQL[@]}" --table -e "SELECT object_key, rows_loaded, rows_rejected, fencing_token FROM esteira_ledger ORDER BY object_key;"
