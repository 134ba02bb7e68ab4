# Shared settings and helpers for the local-stack scripts. Sourced, not run.
# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="$ROOT/.local"
VENV="$STACK_DIR/venv"

MOTO_VERSION="5.2.5"   # 5.2.1 (Debian's/system Python) rejects S3 keys with + % = or non-ASCII
MOTO_PORT="${MOTO_PORT:-14566}"
MOTO_DIR="$STACK_DIR/moto"
MOTO_PID_FILE="$MOTO_DIR/moto.pid"
MOTO_LOG="$MOTO_DIR/moto.log"
MOTO_CREDS="$MOTO_DIR/credentials"   # written by moto_bootstrap.py, only once bootstrap succeeded
MOTO_URL="http://127.0.0.1:$MOTO_PORT"

MYSQL_PORT="${ESTEIRA_MYSQL_PORT:-13306}"
MYSQL_DIR="$STACK_DIR/mariadb"
MYSQL_DATADIR="$MYSQL_DIR/data"
MYSQL_PID_FILE="$MYSQL_DIR/mysqld.pid"
MYSQL_LOG="$MYSQL_DIR/error.log"
MYSQL_SOCKET="$MYSQL_DIR/mysqld.sock"
# A unix socket path must fit in sun_path (108 bytes). A clone in a deep folder
# would make mariadbd fail obscurely, so fall back to a per-checkout path in /tmp.
if (( ${#MYSQL_SOCKET} > 100 )); then
    MYSQL_SOCKET="${TMPDIR:-/tmp}/esteira-mysqld-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).sock"
fi

# Settings a MariaDB instance is started with (use_noinfile_mariadb changes them).
MYSQL_LOCAL_INFILE=ON
MYSQL_EXTRA_ARGS=()
MYSQL_NAME=MariaDB

# A second, small MariaDB with local_infile=OFF on $ESTEIRA_MYSQL_NOINFILE_PORT (13307): the
# MySQL loader's batched-INSERT fallback is tested against a server that really refuses
# LOAD DATA LOCAL INFILE. Same user setup as the main one.
MYSQL_NOINFILE_PORT="${ESTEIRA_MYSQL_NOINFILE_PORT:-13307}"
MYSQL_NOINFILE_DIR="$STACK_DIR/mariadb-noinfile"
MYSQL_NOINFILE_SOCKET="$MYSQL_NOINFILE_DIR/mysqld.sock"
if (( ${#MYSQL_NOINFILE_SOCKET} > 100 )); then
    MYSQL_NOINFILE_SOCKET="${TMPDIR:-/tmp}/esteira-mysqld-noinfile-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1).sock"
fi

# use_noinfile_mariadb: point the MYSQL_* settings (and so mysql_* helpers below) at the
# second instance. Call it in a subshell: ( use_noinfile_mariadb; mysql_start ).
# Kept cheap to start: a small buffer pool and redo log, no performance schema.
use_noinfile_mariadb() {
    MYSQL_NAME="MariaDB (local_infile=OFF)"
    MYSQL_PORT="$MYSQL_NOINFILE_PORT"
    MYSQL_DIR="$MYSQL_NOINFILE_DIR"
    MYSQL_DATADIR="$MYSQL_DIR/data"
    MYSQL_PID_FILE="$MYSQL_DIR/mysqld.pid"
    MYSQL_LOG="$MYSQL_DIR/error.log"
    MYSQL_SOCKET="$MYSQL_NOINFILE_SOCKET"
    MYSQL_LOCAL_INFILE=OFF
    MYSQL_EXTRA_ARGS=(--innodb-buffer-pool-size=32M --innodb-log-file-size=16M --performance-schema=OFF)
}

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*"; }
die() { printf '%s: ERROR: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# Make sure swift (and the tools below) are found even from a bare environment.
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

# pid_alive PID: true if a process with this pid exists (and is not a zombie).
pid_alive() {
    local pid="$1" state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
    [[ "$state" != "Z" ]]
}

# cmdline_of PID: the process's argv joined by spaces.
cmdline_of() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" || true; }

# pid_matches PID NEEDLE: the process is alive and its command line contains
# NEEDLE. Guards against a stale pid file whose pid now belongs to another process.
pid_matches() {
    pid_alive "$1" && [[ "$(cmdline_of "$1")" == *"$2"* ]]
}

# pids_matching NEEDLE: every live process whose command line contains NEEDLE
# (used to find our own servers after their pid file was lost, e.g. `rm -rf .local`
# while they ran). NEEDLE always holds an absolute path of this checkout, so it
# cannot match anybody else's processes.
pids_matching() {
    local d pid
    for d in /proc/[0-9]*; do
        pid="${d#/proc/}"
        [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
        [[ "$(cmdline_of "$pid")" == *"$1"* ]] && pid_alive "$pid" && echo "$pid"
    done
    return 0
}

# read_pid FILE: the pid in FILE, or nothing.
read_pid() { if [[ -s "$1" ]]; then tr -dc '0-9' <"$1" 2>/dev/null || true; fi; }

# stop_pid PID NAME [TIMEOUT]: SIGTERM, wait, then SIGKILL.
stop_pid() {
    local pid="$1" name="$2" timeout="${3:-30}" i
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 10; i++)); do
        pid_alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
        sleep 0.1
    done
    log "$name (pid $pid) ignored SIGTERM for ${timeout}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || return 0; sleep 0.1; done
    die "could not kill $name (pid $pid)"
}

# Command-line fragments that identify our own servers (see pids_matching).
mysql_needle() { printf -- '--datadir=%s' "$MYSQL_DATADIR"; }
moto_needle()  { printf -- '%s/bin/moto_server' "$VENV"; }

mysql_admin() { mariadb-admin --no-defaults --socket="$MYSQL_SOCKET" -uroot "$@"; }
mysql_root()  { mariadb --no-defaults --socket="$MYSQL_SOCKET" -uroot "$@"; }

# spawn LOG CMD...: start CMD in the background, detached, and leave its pid in $!.
# setsid gives it its own session, so a Ctrl-C in the terminal that ran make does
# not take the server down. stdin is /dev/null, stdout and stderr go to LOG, and
# every other inherited fd is closed: a server holding the write end of some
# caller's pipe (`make test | tee`, a CI runner) would keep that reader waiting,
# and holding our flock fd would keep the lock taken for as long as it lives.
spawn() {
    local log="$1"
    shift
    (
        for fd in /proc/"$BASHPID"/fd/*; do
            fd="${fd##*/}"
            ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
        done
        exec setsid "$@" </dev/null >>"$log" 2>&1
    ) &
}
