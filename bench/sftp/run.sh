#!/usr/bin/env bash
# The SFTP gateway against the anchor partners compare it with: OpenSSH's own sshd on this machine.
#   bench/sftp/run.sh          (BENCH_SIZE_MB=32 per file, BENCH_PARALLEL=4 uploads, BENCH_ATTACK_SECONDS=20)
#
# 1. Under attack: `esteira sftp` (release build, default limits) while 127.0.0.2 holds 300 connections
#    without logging in and 127.0.0.3 pipelines password guesses from 50 connections
#    (Tests/EsteiraSFTPTests/Support/hostile_client.py); prints the gateway's CPU (cores) and peak RSS,
#    and how long a real key login + 10 MB upload took in the middle of it.
# 2. Throughput: BENCH_PARALLEL parallel `sftp put`s of BENCH_SIZE_MB each through the gateway (into moto's S3),
#    against the same uploads with `sftp` and `scp` to a private sshd (a loopback high port, its own
#    config and host key in a temporary folder; the system's sshd and its config are never touched).
#    Prints MB/s and the ratios.
# Needs the local stack (`make services-up`), openssh-server (`ESTEIRA_BENCH_SFTP=1 scripts/setup.sh`), and root or
# a user who may run /usr/sbin/sshd. Not part of `make test`. Everything is on 127.0.0.1 and bounded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
# shellcheck disable=SC1091
source "${ESTEIRA_ENV:-$root/.local/env}"
SIZE_MB="${BENCH_SIZE_MB:-32}"
PARALLEL="${BENCH_PARALLEL:-4}"
ATTACK_SECONDS="${BENCH_ATTACK_SECONDS:-20}"
PY="${PYTHON:-$root/.local/venv/bin/python}"
[[ -x "$PY" ]] || PY=/work/main/.local/venv/bin/python
[[ -x /usr/sbin/sshd ]] || { echo "bench/sftp needs openssh-server (/usr/sbin/sshd): ESTEIRA_BENCH_SFTP=1 scripts/setup.sh" >&2; exit 1; }

cd "$root"
swift build -c release --product esteira >/dev/null
BIN="$root/.build/release/esteira"

work="$(mktemp -d /tmp/esteira-bench-sftp.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

bucket="esteira-bench-sftp-$RANDOM$RANDOM"
"$PY" -c "import boto3,sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1])" "$bucket"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
pub="$(cat "$work/client_key.pub")"
hash="$(printf '%s' 'bench password' | "$BIN" sftp hash-password)"
cat >"$work/users.yaml" <<YAML
users:
  - {name: acme, home: acme/data, keys: ["$pub"], password: "$hash"}
  - {name: globex, home: globex/data, keys: ["$pub"]}
YAML

ESTEIRA_LOG_FORMAT=text "$BIN" sftp --users "$work/users.yaml" --host-key-dir "$work/gw-host" --host 127.0.0.1 --port 0 --no-http \
    --bucket "$bucket" >"$work/gateway.log" 2>&1 &
gw=$!
pids+=("$gw")
for _ in $(seq 300); do
    port="$(grep 'sftp gateway listening' "$work/gateway.log" | grep -o '[^_]port=[0-9]*' | head -1 | cut -d= -f2 || true)"
    [[ -n "$port" ]] && break
    sleep 0.1
done
[[ -n "${port:-}" ]] || { cat "$work/gateway.log"; echo "the gateway did not start" >&2; exit 1; }

# A private sshd: its own config, host key, authorized_keys and pid file, on a free loopback port.
ssh-keygen -q -t ed25519 -N '' -f "$work/sshd_host_key"
mkdir -p "$work/sshd-home"
cp "$work/client_key.pub" "$work/authorized_keys"
chmod 600 "$work/authorized_keys"
sshd_port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/sshd_config" <<CONF
Port $sshd_port
ListenAddress 127.0.0.1
HostKey $work/sshd_host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CONF
[[ -d /run/sshd ]] || mkdir -p /run/sshd   # sshd's privilege separation folder (empty, root-owned)
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
pids+=("$!")
sleep 0.5

ssh_opts=(-i "$work/client_key" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o BindAddress=127.0.0.1)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# 1. Under attack.
head -c 10000000 /dev/urandom >"$work/10mb.bin"
echo 5 >"/proc/$gw/clear_refs" 2>/dev/null || true
"$PY" "$root/Tests/EsteiraSFTPTests/Support/hostile_client.py" attack 127.0.0.1 "$port" "$ATTACK_SECONDS" \
    127.0.0.2 300 127.0.0.3 50 >"$work/attack.json" &
attack=$!
pids+=("$attack")
sleep 3
c0="$(cpu_ticks "$gw")"; t0="$(now)"
echo "put $work/10mb.bin under-attack.bin" >"$work/attack.batch"
l0="$(now)"
sftp -b "$work/attack.batch" "${ssh_opts[@]}" -P "$port" acme@127.0.0.1 >/dev/null
l1="$(now)"
wait "$attack"
c1="$(cpu_ticks "$gw")"; t1="$(now)"
hz="$(getconf CLK_TCK)"
rss="$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")"
echo "under attack for ${ATTACK_SECONDS}s (300 idle connections from 127.0.0.2, 50 pipelining from 127.0.0.3):"
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v l0="$l0" -v l1="$l1" -v rss="$rss" 'BEGIN {
    printf "  gateway CPU %.2f cores (%.1f s in %.1f s), peak RSS %.0f MiB; real login + 10 MB upload %.2f s\n",
        (c1 - c0) / hz / (t1 - t0), (c1 - c0) / hz, t1 - t0, rss / 1024, l1 - l0 }'
echo "  attack: $(cat "$work/attack.json")"

# 2. Throughput: PARALLEL uploads of SIZE_MB each.
for i in $(seq "$PARALLEL"); do head -c "$((SIZE_MB * 1000000))" /dev/urandom >"$work/up$i.bin"; done
total_mb=$((SIZE_MB * PARALLEL))
run_parallel() { # label, then a command template where {i} is the file number
    local label="$1"; shift
    local start end
    start="$(now)"
    for i in $(seq "$PARALLEL"); do
        eval "${*//\{i\}/$i}" >/dev/null &
    done
    wait_rc=0
    for j in $(jobs -p); do [[ " ${pids[*]} " == *" $j "* ]] && continue; wait "$j" || wait_rc=1; done
    end="$(now)"
    (( wait_rc == 0 )) || { echo "$label: an upload failed" >&2; exit 1; }
    awk -v s="$start" -v e="$end" -v mb="$total_mb" 'BEGIN { printf "%.1f", mb / (e - s) }'
}
for i in $(seq "$PARALLEL"); do echo "put $work/up$i.bin up$i.bin" >"$work/gw$i.batch"; done
for i in $(seq "$PARALLEL"); do echo "put $work/up$i.bin $work/sshd-home/sftp$i.bin" >"$work/sshd$i.batch"; done
opts="${ssh_opts[*]}"
gw_mbs="$(run_parallel gateway "sftp -b $work/gw{i}.batch $opts -P $port acme@127.0.0.1")"
sftp_mbs="$(run_parallel sshd-sftp "sftp -b $work/sshd{i}.batch $opts -P $sshd_port $(id -un)@127.0.0.1")"
scp_mbs="$(run_parallel sshd-scp "scp -q $opts -P $sshd_port $work/up{i}.bin $(id -un)@127.0.0.1:$work/sshd-home/scp{i}.bin")"
echo "$PARALLEL parallel uploads of $SIZE_MB MB ($total_mb MB):"
echo "  esteira sftp -> S3 (moto)      $gw_mbs MB/s"
echo "  OpenSSH sshd, sftp -> disk     $sftp_mbs MB/s"
echo "  OpenSSH sshd, scp -> disk      $scp_mbs MB/s"
awk -v g="$gw_mbs" -v s="$sftp_mbs" -v c="$scp_mbs" 'BEGIN {
    printf "  gateway / sshd sftp = %.2fx, gateway / sshd scp = %.2fx\n", g / s, g / c }'
"$PY" - "$bucket" <<'PYEOF'
import boto3, sys
s3 = boto3.client("s3")
b = sys.argv[1]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=b, Key=o["Key"])
s3.delete_bucket(Bucket=b)
PYEOF
