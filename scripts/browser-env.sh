#!/usr/bin/env bash
# Prepares the headless browser used by the hosted-page test (tests/oidc_browser.rs):
# installs Debian's chromium when it is missing (as root, through apt-get) and the pinned
# playwright-core from tests/browser/package-lock.json, then prints the chromium path.
# Progress goes to stderr; stdout carries only the path.
#
# Environment: CHROMIUM names an existing browser binary to use instead of installing one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
browser_dir="$root/tests/browser"

log() { printf 'browser-env: %s\n' "$*" >&2; }

# Several test processes may call this at once: serialise on this script's own file.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi

chromium="${CHROMIUM:-}"
if [ -z "$chromium" ]; then
    for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -x "$candidate" ]; then
            chromium="$candidate"
            break
        fi
    done
fi
if [ -z "$chromium" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing chromium"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y chromium >&2 || { apt-get update >&2 && apt-get install -y chromium >&2; }
        chromium=/usr/bin/chromium
    else
        log "chromium not found; install it (apt-get install chromium) or set CHROMIUM"
        exit 1
    fi
fi
if [ ! -x "$chromium" ]; then
    log "$chromium is not executable"
    exit 1
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing nodejs and npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y nodejs npm >&2 || { apt-get update >&2 && apt-get install -y nodejs npm >&2; }
    else
        log "node and npm are required"
        exit 1
    fi
fi

# node_modules/.lock-installed is the lockfile the modules were installed from.
if ! cmp -s "$browser_dir/package-lock.json" "$browser_dir/node_modules/.lock-installed"; then
    log "installing playwright-core from the lockfile"
    (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$browser_dir/package-lock.json" "$browser_dir/node_modules/.lock-installed"
fi

printf '%s\n' "$chromium"
