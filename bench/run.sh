#!/usr/bin/env bash
# The benchmark instrument: builds the release binary, starts Castellan on SQLite (and on
# PostgreSQL when reachable), seeds users and measures every hot path for a fixed time at a
# fixed concurrency with wrk. Prints and writes bench/results/<date>.md. See bench/README.md.
source "$(dirname "$0")/lib.sh"
DURATION="${BENCH_DURATION:-8s}"
CONC="${BENCH_CONNECTIONS:-16}"
PORT=18120
build_release
ensure_wrk
OUT="$ROOT/bench/results/$(date -u +%Y-%m-%d).md"
mkdir -p "$ROOT/bench/results"
LUA="$(mktemp -d)"
trap 'stop_server; rm -rf "$LUA"' EXIT

# Every scenario script ends with this: one machine-readable line per run.
cat >"$LUA/report.lua" <<'EOF2'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF2

post_json() { # name body
  { printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$2"; cat "$LUA/report.lua"; } >"$LUA/$1.lua"
}

# The limits are per client address and all load comes from one: lift them so the server's
# own cost is what is measured (they are measured by spray.sh and login_flood.sh).
UNLIMITED=(CASTELLAN_LIMITS__REQUESTS=0 CASTELLAN_LIMITS__OPS_REQUESTS=0 CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR=1000000000
  CASTELLAN_LIMITS__ACCOUNT_FAILURES_PER_HOUR=1000000000 CASTELLAN_LIMITS__ACCOUNT_SOURCE_FAILURES=1000000000
  CASTELLAN_API__SIMPLEJWT__EXTRAS=true)

declare -A RPS
run() { # name url [wrk args…] → appends a table row
  local name=$1 url=$2; shift 2
  local line
  local output
  output="$(wrk --latency "$@" "$url" 2>&1 || true)"
  line="$(echo "$output" | grep '^RESULT' || true)"
  [ -n "$line" ] || { echo "| $name | wrk failed: $(echo "$output" | head -c 200 | tr '\n|' '  ') | | | | |" >>"$TABLE"; INVALID="yes (wrk failed)"; return; }
  eval "$(echo "$line" | sed 's/^RESULT //')"
  RPS[$name]=$rps
  local base=${RPS[baseline]:-$rps}
  local ratio; ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.0f%%", 100 * a / b }')
  local errors=$((non2xx + socket_errors))
  [ "$errors" -eq 0 ] || [ "$name" = "login 4x overload" ] || INVALID="yes ($name: $errors errors)"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50_ms" "$p99_ms" "$errors" "$ratio" >>"$TABLE"
}

bench_backend() { # label database-url
  local label=$1 url=$2
  TABLE="$(mktemp)"
  INVALID=no
  # Start once to create the database, then time a start on the existing one.
  start_server $PORT "${UNLIMITED[@]}" CASTELLAN_DATABASE__URL="$url"
  stop_server
  local t0 t1
  t0=$(date +%s%N)
  start_server $PORT "${UNLIMITED[@]}" CASTELLAN_DATABASE__URL="$url"
  t1=$(date +%s%N)
  local ready_ms=$(( (t1 - t0) / 1000000 ))
  local B="http://127.0.0.1:$PORT"
  curl -sS "$B/auth/register" -o /dev/null -w "register: %{http_code}\n" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"correct-horse-battery"}' >/dev/null
  local login='{"username":"bench","password":"correct-horse-battery"}'
  local AT; AT=$(curl -fs "$B/auth/token" -H 'content-type: application/json' -d "$login" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  sleep 1
  local idle_kib; idle_kib=$(rss_kib VmRSS)

  { cat "$LUA/report.lua"; } >"$LUA/get.lua"
  { printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$AT"; cat "$LUA/report.lua"; } >"$LUA/me.lua"
  post_json verify "{\"token\":\"$AT\"}"
  post_json login "$login"
  # Refresh: one session per wrk thread (one connection each), each following its own chain.
  : >"$LUA/tokens.txt"
  for _ in $(seq 1 "$CONC"); do
    curl -fs "$B/auth/token" -H 'content-type: application/json' -d "$login" | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/' >>"$LUA/tokens.txt"
    echo >>"$LUA/tokens.txt"
  done
  { cat <<EOF2
local tokens = {}
for line in io.lines("$LUA/tokens.txt") do tokens[#tokens + 1] = line end
local n = 0
function setup(thread) n = n + 1; thread:set("token", tokens[n]) end
function request()
  return wrk.format("POST", "/auth/token/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then token = t end
end
EOF2
    cat "$LUA/report.lua"; } >"$LUA/refresh.lua"

  {
    echo "### $label"
    echo
    echo "| scenario | req/s | p50 ms | p99 ms | errors | vs baseline |"
    echo "|---|---|---|---|---|---|"
  } >"$TABLE.head"
  run baseline "$B/health/live" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/get.lua"
  run "auth/me" "$B/auth/me" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/me.lua"
  run "token/verify" "$B/auth/token/verify" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/verify.lua"
  run "simplejwt token/verify/" "$B/api/token/verify/" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/verify.lua"
  run "jwks" "$B/.well-known/jwks.json" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/get.lua"
  run "refresh (rotation)" "$B" -t"$CONC" -c"$CONC" -d"$DURATION" -s "$LUA/refresh.lua"
  run "login (argon2id m=19MiB t=2)" "$B/auth/token" -t1 -c8 -d"$DURATION" -s "$LUA/login.lua"
  local calib; calib=$("$BIN" passwords calibrate --rounds 10)
  local ms; ms=$(echo "$calib" | sed 's/.*"ms_per_hash":\([0-9.]*\).*/\1/')
  local bound; bound=$(echo "$calib" | sed 's/.*"login_bound_per_second":\([0-9.]*\).*/\1/')
  # 4× overload: four times the connections the hashing pool and its queue can hold.
  run "login 4x overload" "$B/auth/token" -t1 -c136 -d"$DURATION" --timeout 10s -s "$LUA/login.lua"
  local peak_kib; peak_kib=$(rss_kib VmHWM)
  stop_server
  local login_rps=${RPS["login (argon2id m=19MiB t=2)"]:-0}
  {
    cat "$TABLE.head" "$TABLE"
    echo
    echo "- argon2id: ${ms} ms per hash; bound = cores / hash time = ${bound} logins/s; measured login: ${login_rps}/s ($(awk -v a="$login_rps" -v b="$bound" 'BEGIN { printf "%.0f%%", 100 * a / b }') of the bound)"
    echo "- idle RSS $((idle_kib / 1024)) MiB; peak RSS $((peak_kib / 1024)) MiB (after every scenario above)"
    echo "- start to ready on an existing database: ${ready_ms} ms"
    echo "- run invalid (non-2xx answers outside the overload scenario): $INVALID"
    echo
  }
}

{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) — $(nproc) cores, wrk and server share them (no pinning); ${DURATION} per scenario, ${CONC} connections"
  echo
  echo "Commit $(cd "$ROOT" && git rev-parse --short HEAD). Ratios are against the baseline (\`GET /health/live\`) of the same run."
  echo
  bench_backend "SQLite (WAL, synchronous=FULL)" "sqlite://$(mktemp -d)/bench.db"
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && command -v psql >/dev/null; then
    db="castellan_bench_$$"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null
    bench_backend "PostgreSQL" "postgres://postgres@127.0.0.1:5432/$db"
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
  else
    echo "PostgreSQL not reachable: skipped."
  fi
} | tee -a "$OUT"
echo "written to ${OUT#$ROOT/}"
