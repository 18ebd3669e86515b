#!/usr/bin/env bash
# Installs the pinned npm oidc-provider used by tests/federation_oidc_provider.rs (from
# tests/oidc-provider/package-lock.json) and prints the directory holding provider.mjs.
# Progress goes to stderr; stdout carries only the directory.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/oidc-provider" && pwd)"
# Several test processes may call this at once: serialise on this script's own file.
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}"
    flock 9
fi
command -v node >/dev/null || { echo "oidc-provider: node is not installed" >&2; exit 1; }
if [ ! -d "$dir/node_modules/oidc-provider" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
fi
echo "$dir"
