#!/usr/bin/env bash
# Stops the local stack started by services-up.sh: SIGTERM, wait, then SIGKILL.
# Only our own servers are touched: the pid in the pid file is checked against
# the command line we started it with, and servers whose pid file was lost are
# found by that command line (which holds this checkout's absolute paths).
# Stopping what is already stopped is fine. Data under .local/ is kept.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d "$STACK_DIR" ]] || mkdir -p "$STACK_DIR"
exec 9>"$STACK_DIR/.services.lock"
flock -w 300 9 || die "another services-up/down holds $STACK_DIR/.services.lock"

# stop_server NAME PID_FILE NEEDLE TIMEOUT
stop_server() {
    local name="$1" pid_file="$2" needle="$3" timeout="$4" pid p stopped=0
    pid="$(read_pid "$pid_file")"
    if [[ -n "$pid" ]] && pid_matches "$pid" "$needle"; then
        stop_pid "$pid" "$name" "$timeout"
        stopped=1
    fi
    rm -f "$pid_file"
    for p in $(pids_matching "$needle"); do
        stop_pid "$p" "$name (no pid file)" "$timeout"
        stopped=1
    done
    ((stopped)) || log "$name not running"
}

# MariaDB shuts down cleanly on SIGTERM; give it time to flush InnoDB.
stop_server MariaDB "$MYSQL_PID_FILE" "$(mysql_needle)" 60
( use_noinfile_mariadb; stop_server "$MYSQL_NAME" "$MYSQL_PID_FILE" "$(mysql_needle)" 60 )
stop_server moto "$MOTO_PID_FILE" "$(moto_needle)" 15
# moto's state (and so the key in .local/env) died with it.
rm -f "$MOTO_CREDS"
