#!/usr/bin/env bash
# Instruction counts per request: runs the release binary under callgrind, drives a fixed
# number of requests per scenario (one after another, on one connection), and dumps one
# profile per scenario. Counts are repeatable whatever else the machine is doing, unlike
# wall time. Also counts the SQL statements one rotation sends. See bench/README.md.
#
#   bash bench/profile.sh [sqlite|postgres]        (default sqlite)
#
# PROFILE_REQUESTS (default 2000) requests per scenario, PROFILE_LOGINS (default 10) logins
# (argon2 under callgrind takes seconds each). Output goes to PROFILE_OUT (default a
# temporary directory): one `callgrind.out.*` per scenario and `summary.txt`.
source "$(dirname "$0")/lib.sh"
BACKEND="${1:-sqlite}"
N="${PROFILE_REQUESTS:-2000}"
LOGINS="${PROFILE_LOGINS:-10}"
OUT="${PROFILE_OUT:-$(mktemp -d)}"
PORT=18130
mkdir -p "$OUT"
build_release
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

case "$BACKEND" in
  sqlite) URL="sqlite://$OUT/profile.db" ;;
  postgres)
    DB="castellan_profile_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $DB" >/dev/null
    URL="postgres://postgres@127.0.0.1:5432/$DB"
    trap 'psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $DB WITH (FORCE)" >/dev/null' EXIT ;;
  *) echo "backend: sqlite or postgres" >&2; exit 1 ;;
esac
UNLIMITED=(CASTELLAN_LIMITS__REQUESTS=0 CASTELLAN_LIMITS__OPS_REQUESTS=0
  CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR=1000000000 CASTELLAN_LIMITS__ACCOUNT_FAILURES_PER_HOUR=1000000000
  CASTELLAN_LIMITS__ACCOUNT_SOURCE_FAILURES=1000000000)
B="http://127.0.0.1:$PORT"
STATE="$OUT/state.json"

wait_ready() {
  for _ in $(seq 1 600); do
    curl -fs "$B/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1
}
seed() {
  curl -fsS "$B/auth/register" -o /dev/null -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"correct-horse-battery"}' || true
  curl -fsS "$B/auth/token" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"correct-horse-battery"}' >"$STATE"
}

# 1. Statements per rotation: the server logs every statement it sends at debug level.
env "${UNLIMITED[@]}" CASTELLAN_DATABASE__URL="$URL" CASTELLAN_SERVER__BIND="127.0.0.1:$PORT" \
  CASTELLAN_LOG="warn,sqlx::query=debug" "$BIN" serve >"$OUT/statements.log" 2>&1 &
SERVER_PID=$!
wait_ready
seed
before=$(grep -c 'sqlx::query' "$OUT/statements.log" || true)
python3 "$ROOT/bench/drive.py" "$PORT" refresh 100 "$STATE"
sleep 0.5
after=$(grep -c 'sqlx::query' "$OUT/statements.log" || true)
stop_server
STATEMENTS=$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", (a - b) / 100 }')

# 2. Instruction counts, one dump per scenario.
env "${UNLIMITED[@]}" CASTELLAN_DATABASE__URL="$URL" CASTELLAN_SERVER__BIND="127.0.0.1:$PORT" \
  CASTELLAN_LOG__LEVEL=warn valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
wait_ready
seed
: >"$OUT/summary.txt"
echo "backend $BACKEND; statements per rotation (as logged by sqlx, transaction control included): $STATEMENTS" \
  | tee -a "$OUT/summary.txt"
for scenario in baseline me refresh login; do
  count=$N
  [ "$scenario" = login ] && count=$LOGINS
  callgrind_control --zero "$SERVER_PID" >/dev/null
  python3 "$ROOT/bench/drive.py" "$PORT" "$scenario" "$count" "$STATE"
  callgrind_control --dump="$scenario" "$SERVER_PID" >/dev/null
  sleep 1
  file=$(ls -t "$OUT"/callgrind.out.* | head -1)
  mv "$file" "$OUT/callgrind.out.$scenario"
  total=$(callgrind_annotate "$OUT/callgrind.out.$scenario" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "$scenario: $count requests, $total instructions, $((total / count)) per request" | tee -a "$OUT/summary.txt"
done
stop_server
echo "profiles in $OUT (callgrind_annotate --inclusive=yes $OUT/callgrind.out.refresh | head -60)"
