#!/usr/bin/env bash
# Prepares the Python virtualenv used by the interoperability tests (tests/interop_pyjwt.rs):
# creates .venv in the repository root when it is missing or tests/interop/requirements.txt
# changed, installs the pinned requirements, and prints the virtualenv's python path.
# Progress goes to stderr; stdout carries only the path.
#
# Environment: PYTHON (default python3) is the interpreter the virtualenv is made from.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
requirements="$root/tests/interop/requirements.txt"
stamp="$venv/.requirements.sha256"
base_python="${PYTHON:-python3}"

log() { printf 'python-env: %s\n' "$*" >&2; }

# Several test processes may call this at once: serialise on this script's own file.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi

if [ ! -f "$requirements" ]; then
    log "missing $requirements"
    exit 1
fi
if ! command -v "$base_python" >/dev/null 2>&1; then
    log "$base_python not found; install Python 3 (with venv and pip) or set PYTHON"
    exit 1
fi

sha256() {
    "$base_python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
}

make_venv() {
    rm -rf "$venv"
    if "$base_python" -m venv "$venv" >&2; then
        return 0
    fi
    # Debian and Ubuntu ship ensurepip separately, in python3-venv.
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "python3 -m venv failed; installing python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
        "$base_python" -m venv "$venv" >&2
    else
        log "python3 -m venv failed; install python3-venv (or ensurepip) and run this again"
        return 1
    fi
}

python="$venv/bin/python"
wanted="$(sha256 "$requirements")"
have=""
if [ -f "$stamp" ]; then
    have="$(cat "$stamp")"
fi

if [ ! -x "$python" ] || [ "$have" != "$wanted" ] || ! "$python" -c 'import jwt, requests, aiosmtpd, pyotp, authlib, schemathesis' >/dev/null 2>&1; then
    if [ ! -x "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
        log "creating $venv"
        make_venv
    fi
    log "installing $(basename "$requirements")"
    rm -f "$stamp"
    "$python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
    printf '%s\n' "$wanted" >"$stamp"
fi

printf '%s\n' "$python"
