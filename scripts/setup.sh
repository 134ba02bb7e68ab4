#!/usr/bin/env bash
# Installs what building and testing Esteira needs, and only what is missing:
#   - Debian packages: C libraries the Swift package links against, MariaDB, curl,
#     OpenSSH's client and sshpass (the SFTP gateway's tests)
#   - a private Python venv at .local/venv with moto[server] and boto3, and the
#     deploy checks' tools (Tests/Deploy/requirements.txt), and paramiko
# Safe to run any number of times; prints one line per thing found or installed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APT_PACKAGES=(
    pkg-config
    libcurl4-openssl-dev
    default-libmysqlclient-dev
    libssl-dev
    zlib1g-dev
    mariadb-server
    mariadb-client
    curl
    openssh-client   # the SFTP gateway's tests and demo drive OpenSSH's sftp
    sshpass          # ... and its password login
    prometheus       # promtool: the chart's alert rules are checked and unit-tested (Tests/Deploy/test_monitoring.py)
)
# bench/sftp compares the gateway with a private sshd; only on request, since on a machine with systemd
# installing openssh-server also enables the system's own sshd.
if [[ "${ESTEIRA_BENCH_SFTP:-0}" == 1 ]]; then APT_PACKAGES+=(openssh-server); fi
PYTHON="${PYTHON:-python3}"

export DEBIAN_FRONTEND=noninteractive

apt_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

APT_UPDATED=0
apt_install() {
    if (( ! APT_UPDATED )); then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    # mariadb-server's postinst would start the system-wide server (port 3306,
    # /etc/mysql config). We run our own, so forbid service starts during the
    # install unless the machine already has a policy (Docker images do).
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d && "$(id -u)" == 0 ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    as_root apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" || rc=$?
    (( made_policy )) && rm -f /usr/sbin/policy-rc.d
    (( rc == 0 )) || die "apt-get install $* failed (exit $rc)"
}

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if apt_installed "$pkg"; then
        log "found   apt $pkg"
    else
        missing+=("$pkg")
    fi
done
if (( ${#missing[@]} )); then
    log "installing apt ${missing[*]}"
    apt_install "${missing[@]}"
    for pkg in "${missing[@]}"; do
        apt_installed "$pkg" || die "apt package $pkg still not installed"
        log "installed apt $pkg"
    done
fi

# --- Python venv with moto --------------------------------------------------
command -v "$PYTHON" >/dev/null 2>&1 || { log "no $PYTHON; installing apt python3"; apt_install python3; }
# Debian's python3 has no venv/ensurepip without the python3-venv package.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    log "python venv module missing; installing apt python3-venv"
    apt_install python3-venv
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || die "$PYTHON still has no venv module"
fi

# A venv whose interpreter has gone (e.g. the Python it was made from was removed) is rebuilt.
if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "venv at $VENV is broken; recreating it"
    rm -rf "$VENV"
fi
if [[ -x "$VENV/bin/python" ]]; then
    log "found   venv $VENV"
else
    mkdir -p "$STACK_DIR"
    "$PYTHON" -m venv "$VENV"
    log "created venv $VENV ($("$VENV/bin/python" --version 2>&1))"
fi

# Checks what moto_server actually needs: the pinned moto, boto3, and the
# [server] extra (flask, flask_cors) plus the services we use.
moto_ok() {
    "$VENV/bin/python" - "$MOTO_VERSION" >/dev/null 2>&1 <<'EOF'
import sys, importlib.metadata as md
assert md.version("moto") == sys.argv[1], md.version("moto")
import boto3, flask, flask_cors
import moto.server, moto.s3, moto.sqs, moto.dynamodb, moto.secretsmanager, moto.sts, moto.iam
EOF
}
if moto_ok && [[ -x "$VENV/bin/moto_server" ]]; then
    log "found   moto[server]==$MOTO_VERSION and boto3 $("$VENV/bin/python" -c 'import boto3; print(boto3.__version__)') in venv"
else
    log "installing moto[server]==$MOTO_VERSION and boto3 into venv"
    # --no-compile halves the install (moto has thousands of modules); the few
    # we import are compiled on first use.
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-compile \
        "moto[server]==$MOTO_VERSION" boto3
    moto_ok || die "moto[server]==$MOTO_VERSION still not importable in $VENV"
    log "installed moto[server]==$MOTO_VERSION and boto3 $("$VENV/bin/python" -c 'import boto3; print(boto3.__version__)')"
fi

# --- Deploy checks' tools (Tests/Deploy): Helm engine, linters, schemas ---------
# Pinned in Tests/Deploy/requirements.txt; checked by installed version, plus the two
# console scripts the tests run.
DEPLOY_REQUIREMENTS="$ROOT/Tests/Deploy/requirements.txt"
deploy_tools_ok() {
    [[ -x "$VENV/bin/hadolint" && -x "$VENV/bin/cfn-lint" ]] || return 1
    "$VENV/bin/python" - "$DEPLOY_REQUIREMENTS" >/dev/null 2>&1 <<'EOF'
import sys, importlib.metadata as md
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if line:
        name, version = line.split("==")
        assert md.version(name) == version, (name, md.version(name))
import helm_python, kubernetes_validate, jsonschema, pytest
EOF
}
if deploy_tools_ok; then
    log "found   deploy check tools (Tests/Deploy/requirements.txt) in venv"
else
    log "installing deploy check tools (Tests/Deploy/requirements.txt) into venv"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-compile -r "$DEPLOY_REQUIREMENTS"
    deploy_tools_ok || die "deploy check tools still not importable in $VENV"
    log "installed deploy check tools (Tests/Deploy/requirements.txt)"
fi

# --- SFTP gateway's second test client (Tests/EsteiraSFTPTests) ---------------
if "$VENV/bin/python" -c 'import paramiko' >/dev/null 2>&1; then
    log "found   paramiko $("$VENV/bin/python" -c 'import paramiko; print(paramiko.__version__)') in venv"
else
    log "installing paramiko into venv"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-compile "paramiko>=3.4,<6"
    "$VENV/bin/python" -c 'import paramiko' >/dev/null 2>&1 || die "paramiko still not importable in $VENV"
    log "installed paramiko $("$VENV/bin/python" -c 'import paramiko; print(paramiko.__version__)')"
fi

# --- Swift toolchain (not installed here: it comes with the machine) ---------
if command -v swift >/dev/null 2>&1; then
    log "found   swift $(swift --version 2>/dev/null | head -1 | sed 's/.*Swift version \([^ ]*\).*/\1/')"
else
    die "swift not found on PATH nor in /opt/swift/usr/bin"
fi
