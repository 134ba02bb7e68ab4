#!/usr/bin/env bash
# Starts the local stack, loopback only, with all data under .local/:
#   - MariaDB (stands in for RDS MySQL) on 127.0.0.1:$ESTEIRA_MYSQL_PORT (13306)
#   - a second, small MariaDB with local_infile=OFF on 127.0.0.1:$ESTEIRA_MYSQL_NOINFILE_PORT (13307),
#     for the MySQL loader's batched-INSERT fallback tests
#   - moto_server (S3, SQS, DynamoDB, Secrets Manager, STS, IAM) on 127.0.0.1:$MOTO_PORT (14566),
#     with SigV4 signature checking on, bootstrapped with an IAM user and access key
# and writes .local/env for a shell to source. Servers already running and
# answering are reused. Run scripts/setup.sh (make setup) first.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MYSQL_START_TIMEOUT="${MYSQL_START_TIMEOUT:-90}"   # seconds
MOTO_START_TIMEOUT="${MOTO_START_TIMEOUT:-60}"     # seconds

[[ -x "$VENV/bin/moto_server" ]] || die "no moto in $VENV: run 'make setup' (scripts/setup.sh) first"
command -v mariadbd >/dev/null 2>&1 || die "mariadbd not installed: run 'make setup' first"
command -v curl >/dev/null 2>&1 || die "curl not installed: run 'make setup' first"

mkdir -p "$MYSQL_DIR" "$MOTO_DIR"

# One services-up/down at a time per checkout. (spawn closes this fd in the servers.)
exec 9>"$STACK_DIR/.services.lock"
flock -w 300 9 || die "another services-up/down holds $STACK_DIR/.services.lock"

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# --- MariaDB -------------------------------------------------------------------

mysql_answers() { mysql_admin --connect-timeout=2 ping >/dev/null 2>&1; }

mysql_log_tail() {
    echo "---- last lines of $MYSQL_LOG ----" >&2
    tail -n 30 "$MYSQL_LOG" >&2 2>/dev/null || true
    echo "----" >&2
}

# wait_mysql PID: until the server answers on its socket; fails early if it dies.
wait_mysql() {
    local pid="$1" deadline=$((SECONDS + MYSQL_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        mysql_answers && return 0
        pid_alive "$pid" || return 1
        sleep 0.3
    done
    return 1
}

mysql_init_datadir() {
    # The marker is written only after mariadb-install-db succeeded, so a half
    # made data folder (interrupted first run) is thrown away and made again.
    [[ -f "$MYSQL_DIR/.initialized" ]] && return 0
    log "initialising $MYSQL_NAME data folder $MYSQL_DATADIR"
    rm -rf "$MYSQL_DATADIR"
    mkdir -p "$MYSQL_DATADIR"
    # --no-defaults must come first. Root logs in only through the socket, as the
    # OS user root (unix_socket auth); there is no root password.
    if ! mariadb-install-db --no-defaults --datadir="$MYSQL_DATADIR" --user=root \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$MYSQL_DIR/install-db.log" 2>&1; then
        tail -n 30 "$MYSQL_DIR/install-db.log" >&2
        die "mariadb-install-db failed; full output in $MYSQL_DIR/install-db.log"
    fi
    touch "$MYSQL_DIR/.initialized"
}

mysql_start() {
    local pid p
    pid="$(read_pid "$MYSQL_PID_FILE")"
    if [[ -n "$pid" ]] && pid_matches "$pid" "$(mysql_needle)"; then
        if wait_mysql "$pid"; then
            local port
            port="$(mysql_root -N -B -e 'SELECT @@port' 2>/dev/null || true)"
            if [[ "$port" == "$MYSQL_PORT" ]]; then
                log "$MYSQL_NAME already running (pid $pid), reusing it"
                return 0
            fi
            log "$MYSQL_NAME (pid $pid) listens on port ${port:-?}, not $MYSQL_PORT; restarting it"
        else
            log "$MYSQL_NAME (pid $pid) does not answer; restarting it"
        fi
        stop_pid "$pid" "$MYSQL_NAME" 60
    elif [[ -n "$pid" || -e "$MYSQL_PID_FILE" ]]; then
        log "removing stale $MYSQL_NAME pid file (pid ${pid:-none} is not our server)"
    fi
    rm -f "$MYSQL_PID_FILE"
    # Our server may still run with its pid file gone (e.g. rm -rf .local while up).
    for p in $(pids_matching "$(mysql_needle)"); do
        log "stopping $MYSQL_NAME left running without its pid file (pid $p)"
        stop_pid "$p" "$MYSQL_NAME" 60
    done
    port_in_use "$MYSQL_PORT" &&
        die "port $MYSQL_PORT is taken by another program (see: ss -ltnp 'sport = :$MYSQL_PORT'); set ESTEIRA_MYSQL_PORT to use another"

    mysql_init_datadir
    log "starting $MYSQL_NAME on 127.0.0.1:$MYSQL_PORT"
    echo "==== $(date -u +%FT%TZ) services-up: starting mariadbd ====" >>"$MYSQL_LOG"
    # --no-defaults must be the first option: nothing from /etc/mysql or
    # ~/.my.cnf applies. innodb_flush_log_at_trx_commit=2: no fsync per commit;
    # this is a test database, and the tests commit a lot. max_connections=500:
    # the test suites run in parallel in one process and together hold more
    # than the default 151 at their peak.
    spawn "$MYSQL_LOG" mariadbd --no-defaults \
        --datadir="$MYSQL_DATADIR" \
        --user=root \
        --bind-address=127.0.0.1 \
        --port="$MYSQL_PORT" \
        --socket="$MYSQL_SOCKET" \
        --pid-file="$MYSQL_PID_FILE" \
        --log-error="$MYSQL_LOG" \
        --skip-name-resolve \
        --local-infile="$MYSQL_LOCAL_INFILE" \
        --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_unicode_ci \
        --default-time-zone=+00:00 \
        --max-allowed-packet=64M \
        --max-connections=500 \
        --innodb-flush-log-at-trx-commit=2 \
        "${MYSQL_EXTRA_ARGS[@]}"
    pid=$!
    echo "$pid" >"$MYSQL_PID_FILE"   # mariadbd rewrites it with the same pid
    if ! wait_mysql "$pid"; then
        mysql_log_tail
        pid_alive "$pid" && stop_pid "$pid" "$MYSQL_NAME" 10
        die "$MYSQL_NAME did not answer within ${MYSQL_START_TIMEOUT}s (log: $MYSQL_LOG)"
    fi
    log "$MYSQL_NAME up (pid $pid)"
}

mysql_provision() {
    # Idempotent: runs on every services-up, so a changed grant list applies to
    # an existing data folder too. Tests make their own databases esteira_t_*,
    # hence the grant on `esteira\_%` (\_ is a literal underscore there).
    # LOAD DATA LOCAL INFILE needs only INSERT (no FILE privilege); killing your
    # own connections needs nothing extra.
    mysql_root <<'SQL'
CREATE DATABASE IF NOT EXISTS `esteira` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'esteira'@'127.0.0.1' IDENTIFIED BY 'esteira';
CREATE USER IF NOT EXISTS 'esteira'@'localhost' IDENTIFIED BY 'esteira';
ALTER USER 'esteira'@'127.0.0.1' IDENTIFIED BY 'esteira';
ALTER USER 'esteira'@'localhost' IDENTIFIED BY 'esteira';
GRANT ALL PRIVILEGES ON `esteira`.*   TO 'esteira'@'127.0.0.1', 'esteira'@'localhost';
GRANT ALL PRIVILEGES ON `esteira\_%`.* TO 'esteira'@'127.0.0.1', 'esteira'@'localhost';
FLUSH PRIVILEGES;
SQL
    # Prove the URL the app will use works: TCP login as esteira, local_infile on.
    local infile
    infile="$(mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$MYSQL_PORT" \
        -uesteira -pesteira -N -B -e 'SELECT @@local_infile' esteira)" ||
        die "cannot log in as esteira@127.0.0.1:$MYSQL_PORT"
    local expected=1
    [[ "$MYSQL_LOCAL_INFILE" == OFF ]] && expected=0
    [[ "$infile" == "$expected" ]] || die "local_infile is '$infile', expected $expected ($MYSQL_NAME)"
    log "$MYSQL_NAME: database esteira and user esteira ready"
}

# --- moto ------------------------------------------------------------------------

moto_answers() { curl -fsS -o /dev/null --max-time 2 "$MOTO_URL/moto-api/" 2>/dev/null; }

# wait_moto PID: until it answers over HTTP; fails early if it dies.
# /moto-api/ is served outside moto's auth code: it does not count towards
# INITIAL_NO_AUTH_ACTION_COUNT (checked: many health checks, then N=4 still works).
wait_moto() {
    local pid="$1" deadline=$((SECONDS + MOTO_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        moto_answers && return 0
        pid_alive "$pid" || return 1
        sleep 0.2
    done
    return 1
}

# creds_pid: the moto pid recorded in the credentials file by the last bootstrap.
creds_pid() { sed -n 's/^MOTO_PID=//p' "$MOTO_CREDS" 2>/dev/null || true; }

moto_start() {
    local pid p n
    pid="$(read_pid "$MOTO_PID_FILE")"
    if [[ -n "$pid" ]] && pid_matches "$pid" "$(moto_needle)"; then
        # moto keeps everything in memory: its key is only good for the very
        # process that the last bootstrap ran against. It must also be on the
        # port asked for now (or $MOTO_URL would reach something else).
        if pid_matches "$pid" "$(moto_needle) -H 127.0.0.1 -p $MOTO_PORT" && wait_moto "$pid" && [[ "$(creds_pid)" == "$pid" ]] &&
            "$VENV/bin/python" "$ROOT/scripts/moto_bootstrap.py" check "$MOTO_URL" "$MOTO_CREDS"; then
            log "moto already running (pid $pid) with a working key, reusing it"
            return 0
        fi
        log "moto (pid $pid) is on another port, does not answer or lost its bootstrap; restarting it"
        stop_pid "$pid" moto 15
    elif [[ -n "$pid" || -e "$MOTO_PID_FILE" ]]; then
        log "removing stale moto pid file (pid ${pid:-none} is not our server)"
    fi
    rm -f "$MOTO_PID_FILE" "$MOTO_CREDS"
    for p in $(pids_matching "$(moto_needle)"); do
        log "stopping moto left running without its pid file (pid $p)"
        stop_pid "$p" moto 15
    done
    port_in_use "$MOTO_PORT" &&
        die "port $MOTO_PORT is taken by another program (see: ss -ltnp 'sport = :$MOTO_PORT'); set MOTO_PORT to use another"

    # N = the number of requests moto_bootstrap.py makes before signatures are checked.
    n="$("$VENV/bin/python" "$ROOT/scripts/moto_bootstrap.py" unchecked-calls)"
    log "starting moto on $MOTO_URL (signature checking after the first $n requests)"
    [[ -f "$MOTO_LOG" ]] && mv -f "$MOTO_LOG" "$MOTO_LOG.prev"
    # Real AWS settings of the developer are kept away from the server.
    spawn "$MOTO_LOG" env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
        INITIAL_NO_AUTH_ACTION_COUNT="$n" \
        "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
    pid=$!
    echo "$pid" >"$MOTO_PID_FILE"
    if ! wait_moto "$pid"; then
        tail -n 30 "$MOTO_LOG" >&2 || true
        pid_alive "$pid" && stop_pid "$pid" moto 5
        die "moto did not answer within ${MOTO_START_TIMEOUT}s (log: $MOTO_LOG)"
    fi
    if ! "$VENV/bin/python" "$ROOT/scripts/moto_bootstrap.py" bootstrap "$MOTO_URL" "$MOTO_CREDS" "$pid"; then
        tail -n 20 "$MOTO_LOG" >&2 || true
        stop_pid "$pid" moto 5
        rm -f "$MOTO_PID_FILE"
        die "moto bootstrap failed (log: $MOTO_LOG)"
    fi
    log "moto up (pid $pid)"
}

# --- .local/env ------------------------------------------------------------------

write_env() {
    local key_id secret tmp="$STACK_DIR/env.tmp"
    key_id="$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$MOTO_CREDS")"
    secret="$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$MOTO_CREDS")"
    [[ -n "$key_id" && -n "$secret" ]] || die "no key in $MOTO_CREDS"
    cat >"$tmp" <<EOF
# Written by scripts/services-up.sh: points esteira (and boto3/aws CLI) at the local stack.
# Source it: . $STACK_DIR/env
# A developer's real AWS settings must not leak in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$MOTO_URL
export ESTEIRA_MYSQL_URL=mysql://esteira:esteira@127.0.0.1:$MYSQL_PORT/esteira
export ESTEIRA_MYSQL_SOCKET=$MYSQL_SOCKET
export ESTEIRA_MYSQL_NOINFILE_URL=mysql://esteira:esteira@127.0.0.1:$MYSQL_NOINFILE_PORT/esteira
export ESTEIRA_BUCKET=esteira-landing
export ESTEIRA_QUEUE=esteira-files
export ESTEIRA_DLQ=esteira-files-dlq
export ESTEIRA_JOBS_TABLE=esteira-jobs
export ESTEIRA_ROUTES=$ROOT/examples/routes.yaml
export ESTEIRA_STACK_DIR=$STACK_DIR
EOF
    chmod 600 "$tmp"
    mv -f "$tmp" "$STACK_DIR/env"
}

mysql_start
mysql_provision
( use_noinfile_mariadb; mysql_start; mysql_provision )
moto_start
write_env
log "stack ready: MariaDB 127.0.0.1:$MYSQL_PORT (socket $MYSQL_SOCKET), MariaDB without local_infile 127.0.0.1:$MYSQL_NOINFILE_PORT, moto $MOTO_URL"
log "environment: . $STACK_DIR/env"
