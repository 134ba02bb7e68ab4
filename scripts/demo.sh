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
"${SQL[@]}" -e "TRUNCATE acme_orders; TRUNCATE globex_customers; TRUNCATE lojas_vendas; DROP TABLE IF EXISTS esteira_ledger;"
"$PY" scripts/demo_aws.py reset

step "Partners upload their files (examples/files → s3://$ESTEIRA_BUCKET/)"
"$PY" scripts/demo_aws.py upload examples/files

# The gateway's own corner of .local: host keys (made on first start), a partner key, the users file.
SFTP_DIR="$STACK_DIR/sftp-demo"
step "A partner uploads over SFTP (esteira sftp, OpenSSH's sftp -b, key login)"
mkdir -p "$SFTP_DIR"
[[ -f "$SFTP_DIR/acme_key" ]] || ssh-keygen -q -t ed25519 -N '' -C acme-demo -f "$SFTP_DIR/acme_key"
printf 'users:\n  - name: acme\n    home: acme/data\n    permissions: [read, write]\n    keys: ["%s"]\n' \
    "$(cat "$SFTP_DIR/acme_key.pub")" > "$SFTP_DIR/users.yaml"
ESTEIRA_LOG_FORMAT=text "$ESTEIRA" sftp --users "$SFTP_DIR/users.yaml" --host-key-dir "$SFTP_DIR/host-keys" \
    --host 127.0.0.1 --port 0 --no-http >"$SFTP_DIR/gateway.log" 2>&1 &
SFTP_PID=$!
# Stopped on any exit, so a failed demo leaves no gateway behind.
trap 'kill "$SFTP_PID" 2>/dev/null || true' EXIT
# Port 0: the gateway picks a free port and logs it, so a busy 2222 cannot break the demo.
SFTP_PORT=""
for _ in $(seq 1 100); do
    SFTP_PORT="$(sed -n 's/.* port=\([0-9]*\) .*sftp gateway listening.*/\1/p' "$SFTP_DIR/gateway.log" 2>/dev/null)"
    [[ -n "$SFTP_PORT" ]] && break
    kill -0 "$SFTP_PID" 2>/dev/null || { cat "$SFTP_DIR/gateway.log"; echo "esteira sftp did not start" >&2; exit 1; }
    sleep 0.1
done
[[ -n "$SFTP_PORT" ]] || { cat "$SFTP_DIR/gateway.log"; echo "esteira sftp did not start in 10 s" >&2; exit 1; }
printf 'put examples/sftp/orders-2026-11-05.csv\nls -l\n' | sftp -b - -i "$SFTP_DIR/acme_key" -o IdentitiesOnly=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -P "$SFTP_PORT" acme@127.0.0.1
kill "$SFTP_PID" 2>/dev/null || true
wait "$SFTP_PID" 2>/dev/null || true
trap - EXIT
grep -E 'host key|upload complete' "$SFTP_DIR/gateway.log" | sed 's/^/  gateway: /' || true

# A partner's webhook receiver on loopback: the worker posts it a signed notification of each failed file.
export ESTEIRA_NOTIFY_WEBHOOK_SECRET="demo-webhook-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
HOOK_PORT_FILE="$STACK_DIR/demo-webhook.port"
rm -f "$HOOK_PORT_FILE"
"$PY" scripts/demo_aws.py webhook "$HOOK_PORT_FILE" >"$STACK_DIR/demo-webhook.log" 2>&1 &
HOOK_PID=$!
trap 'kill "$HOOK_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [[ -s "$HOOK_PORT_FILE" ]] && break; sleep 0.1; done
[[ -s "$HOOK_PORT_FILE" ]] || { cat "$STACK_DIR/demo-webhook.log"; echo "the demo webhook receiver did not start" >&2; exit 1; }

step "Workers drain the queue (esteira worker --until-idle --notify-webhook …)"
ESTEIRA_LOG_FORMAT=text "$ESTEIRA" worker --until-idle --concurrency 2 --http-port 0 \
    --notify-webhook "http://127.0.0.1:$(cat "$HOOK_PORT_FILE")/esteira" --notify-on failed 2>&1 \
    | grep -E 'file loaded|dead-letter|already|worker stopped|notifier stopped|error' || true

step "The partner's webhook was told of the failed file (signed: X-Esteira-Signature)"
kill "$HOOK_PID" 2>/dev/null || true
wait "$HOOK_PID" 2>/dev/null || true
trap - EXIT
grep -q . "$STACK_DIR/demo-webhook.log" && cat "$STACK_DIR/demo-webhook.log" || echo "  (no notification arrived)"

step "What landed where"
"$PY" scripts/demo_aws.py report
printf '\nRows in MySQL:\n'
"${SQL[@]}" --table -e "SELECT 'acme_orders' AS \`table\`, COUNT(*) AS \`rows\` FROM acme_orders
                       UNION ALL SELECT 'globex_customers', COUNT(*) FROM globex_customers
                       UNION ALL SELECT 'lojas_vendas', COUNT(*) FROM lojas_vendas;"
"${SQL[@]}" --table -e "SELECT pedido, loja, cliente, valor_total, data_venda, pago FROM lojas_vendas ORDER BY pedido;"
"${SQL[@]}" --table -e "SELECT object_key, rows_loaded, rows_rejected, fencing_token FROM esteira_ledger ORDER BY object_key;"
