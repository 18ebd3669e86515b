# Shared helpers for the benchmark scripts: build, start a server on a fresh database,
# read its memory. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# BENCH_BIN measures another build (for example an older commit's binary) instead of
# building this checkout.
BIN="${BENCH_BIN:-$ROOT/target/release/castellan}"

build_release() {
  [ -n "${BENCH_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet)
}

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  echo "installing wrk" >&2
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y wrk >/dev/null 2>&1 || { "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y wrk >/dev/null; }
}

# start_server PORT [ENV=VALUE…]: starts castellan on a fresh SQLite file, waits until ready.
start_server() {
  local port=$1; shift
  WORKDIR="$(mktemp -d)"
  env CASTELLAN_DATABASE__URL="sqlite://$WORKDIR/bench.db" "$@" CASTELLAN_SERVER__BIND="127.0.0.1:$port" \
    CASTELLAN_LOG__LEVEL=warn ${SERVER_CPUS[@]+"${SERVER_CPUS[@]}"} "$BIN" serve >"$WORKDIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 400); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.005
  done
  echo "server did not start" >&2; cat "$WORKDIR/server.log" >&2; return 1
}
stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# rss_kib FIELD: VmRSS (now) or VmHWM (peak) of the server, in KiB.
rss_kib() {
  awk -v f="$1:" '$1 == f {print $2}' "/proc/$SERVER_PID/status"
}
