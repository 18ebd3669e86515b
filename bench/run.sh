#!/usr/bin/env bash
# The benchmark instrument: builds the release binary, starts Castellan on SQLite (and on
# PostgreSQL when reachable), seeds users and measures every hot path for a fixed time at a
# fixed concurrency with wrk. Prints and writes bench/results/<date>.md. See bench/README.md.
source "$(dirname "$0")/lib.sh"
DURATION="${BENCH_DURATION:-8s}"
CONC="${BENCH_CONNECTIONS:-16}"
PORT=18120
# BENCH_PIN=1 pins the server to CPU 0 and wrk to CPU 1; the default lets both float over
# both cores (see bench/README.md, "Pinning").
PIN="${BENCH_PIN:-0}"
if [ "$PIN" = 1 ]; then
  SERVER_CPUS=(taskset -c 0)
  LOAD_CPUS=(taskset -c 1)
  PINNING="server pinned to CPU 0, wrk to CPU 1"
else
  SERVER_CPUS=()
  LOAD_CPUS=()
  PINNING="wrk and server share them (no pinning)"
fi
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
  local unexpected = 0
  for _, t in ipairs(threads or {}) do unexpected = unexpected + (t:get("unexpected") or 0) end
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d socket_errors=%d timeouts=%d unexpected=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, e.timeout, unexpected))
end
EOF2

post_json() { # name body
  { printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$2"; cat "$LUA/report.lua"; } >"$LUA/$1.lua"
}

# Overload scripts: 503 is the expected answer to surplus load; anything else but 200 is
# counted as `unexpected` by report.lua.
cat >"$LUA/overload.lua" <<'EOF2'
threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) unexpected = 0 end
function response(status, headers, body)
  if status ~= 200 and status ~= 503 then unexpected = unexpected + 1 end
end
EOF2

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
  output="$("${LOAD_CPUS[@]}" wrk --latency "$@" "$url" 2>&1 || true)"
  line="$(echo "$output" | grep '^RESULT' || true)"
  [ -n "$line" ] || { echo "| $name | wrk failed: $(echo "$output" | head -c 200 | tr '\n|' '  ') | | | | |" >>"$TABLE"; INVALID="yes (wrk failed)"; return; }
  eval "$(echo "$line" | sed 's/^RESULT //')"
  RPS[$name]=$rps
  local base=${RPS[baseline]:-$rps}
  local ratio; ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.0f%%", 100 * a / b }')
  local errors=$((non2xx + socket_errors))
  case "$name" in
    login*overload* | login*flood*)
      # Surplus must be answered 503, quickly: any other status or a timeout is an error.
      [ $((unexpected + socket_errors)) -eq 0 ] || INVALID="yes ($name: $unexpected unexpected statuses, $socket_errors socket errors)"
      errors="$((non2xx - unexpected))×503, $unexpected other, $timeouts timeouts" ;;
    *) [ "$errors" -eq 0 ] || INVALID="yes ($name: $errors errors)" ;;
  esac
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50_ms" "$p99_ms" "$errors" "$ratio" >>"$TABLE"
}

# client_credentials_script BASE DATABASE-URL: registers a confidential client allowed the
# client-credentials grant and writes its wrk script; prints the token endpoint, or nothing
# when this build has no OAuth provider (no `client` subcommand).
client_credentials_script() {
  local base=$1 url=$2
  "$BIN" --help 2>/dev/null | grep -qE '^ +client ' || return 0
  local created
  created=$(CASTELLAN_DATABASE__URL="$url" "$BIN" client add "bench-svc-$RANDOM" --grant-type client_credentials --scope bench 2>&1) || {
    echo "client add failed: $created" >&2; return 0; }
  local id secret endpoint
  id=$(echo "$created" | sed -n 's/.*"client_id" *: *"\([^"]*\)".*/\1/p')
  secret=$(echo "$created" | sed -n 's/.*"client_secret" *: *"\([^"]*\)".*/\1/p')
  # The discovery document names the configured issuer's host (by default not this
  # address); only its path is taken.
  endpoint=$(curl -fs "$base/.well-known/openid-configuration" | sed -n 's/.*"token_endpoint" *: *"[a-z]*:\/\/[^/"]*\([^"]*\)".*/\1/p')
  [ -z "$endpoint" ] || endpoint="$base$endpoint"
  [ -n "$id" ] && [ -n "$secret" ] && [ -n "$endpoint" ] || { echo "client-credentials set-up incomplete" >&2; return 0; }
  local basic; basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
  { printf 'wrk.method = "POST"\nwrk.body = "grant_type=client_credentials&scope=bench"\n'
    printf 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Basic %s"\n' "$basic"
    cat "$LUA/report.lua"; } >"$LUA/client_credentials.lua"
  echo "$endpoint"
}

# refresh_script NAME CONNECTIONS: logs in CONNECTIONS + 1 times and writes $LUA/NAME.lua,
# which refreshes over those sessions from one wrk thread: each request takes a token from
# the pool and each answer puts its successor back, so every session follows its own chain.
# wrk calls request() once more than it sends, to check the script, hence the extra session.
# Needs B and login (set by bench_backend).
refresh_script() {
  local name=$1 conns=$2
  : >"$LUA/$name.txt"
  for _ in $(seq 0 "$conns"); do
    curl -fs "$B/auth/token" -H 'content-type: application/json' -d "$login" | sed 's/.*"refresh_token":"\([^"]*\)".*/\1/' >>"$LUA/$name.txt"
    echo >>"$LUA/$name.txt"
  done
  { cat <<EOF2
local pool = {}
for line in io.lines("$LUA/$name.txt") do if #line > 0 then pool[#pool + 1] = line end end
function request()
  local token = table.remove(pool) or ""
  return wrk.format("POST", "/auth/token/refresh", {["Content-Type"] = "application/json"}, '{"refresh_token":"' .. token .. '"}')
end
function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then pool[#pool + 1] = t end
end
EOF2
    cat "$LUA/report.lua"; } >"$LUA/$name.lua"
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
  B="http://127.0.0.1:$PORT"
  curl -sS "$B/auth/register" -o /dev/null -w "register: %{http_code}\n" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"correct-horse-battery"}' >/dev/null
  login='{"username":"bench","password":"correct-horse-battery"}'
  local AT; AT=$(curl -fs "$B/auth/token" -H 'content-type: application/json' -d "$login" | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  sleep 1
  local idle_kib; idle_kib=$(rss_kib VmRSS)

  { cat "$LUA/report.lua"; } >"$LUA/get.lua"
  { printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$AT"; cat "$LUA/report.lua"; } >"$LUA/me.lua"
  post_json verify "{\"token\":\"$AT\"}"
  post_json login "$login"
  { cat "$LUA/overload.lua"; printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$login"
    cat "$LUA/report.lua"; } >"$LUA/login_overload.lua"
  local cc_url; cc_url=$(client_credentials_script "$B" "$url")
  refresh_script refresh "$CONC"
  refresh_script refresh_wide $((CONC * 4))

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
  run "refresh (rotation)" "$B" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/refresh.lua"
  # Group commit shares a commit among the rotations waiting for it: the same scenario with
  # four times the connections shows how the rate grows with concurrency.
  run "refresh (rotation), $((CONC * 4)) connections" "$B" -t1 -c$((CONC * 4)) -d"$DURATION" -s "$LUA/refresh_wide.lua"
  if [ -n "$cc_url" ]; then
    run "client-credentials grant" "$cc_url" -t1 -c"$CONC" -d"$DURATION" -s "$LUA/client_credentials.lua"
  else
    echo "| client-credentials grant | skipped: this build has no OAuth provider | | | | |" >>"$TABLE"
  fi
  run "login (argon2id m=19MiB t=2)" "$B/auth/token" -t1 -c8 -d"$DURATION" -s "$LUA/login.lua"
  local calib; calib=$("${SERVER_CPUS[@]}" "$BIN" passwords calibrate --rounds 10)
  local ms; ms=$(echo "$calib" | sed 's/.*"ms_per_hash":\([0-9.]*\).*/\1/')
  local bound; bound=$(echo "$calib" | sed 's/.*"login_bound_per_second":\([0-9.]*\).*/\1/')
  local serial; serial=$(echo "$calib" | sed 's/.*"serial_bound_per_second":\([0-9.]*\).*/\1/')
  # 4× overload: four times the connections the hashing pool and its queue can hold
  # (passwords.queue = 32 waiting plus one hash per core).
  run "login 4x overload" "$B/auth/token" -t1 -c136 -d"$DURATION" --timeout 10s -s "$LUA/login_overload.lua"
  # The 500-connection login flood: what peak memory is measured under.
  run "login flood (500 connections)" "$B/auth/token" -t2 -c500 -d"$DURATION" --timeout 10s -s "$LUA/login_overload.lua"
  local peak_kib; peak_kib=$(rss_kib VmHWM)
  stop_server
  local login_rps=${RPS["login (argon2id m=19MiB t=2)"]:-0}
  {
    cat "$TABLE.head" "$TABLE"
    echo
    echo "- argon2id: ${ms} ms per hash one at a time (cores ÷ that = ${serial} logins/s); bound = hashes per second with one hash per core running at once = ${bound} logins/s; measured login: ${login_rps}/s ($(awk -v a="$login_rps" -v b="$bound" 'BEGIN { printf "%.0f%%", 100 * a / b }') of the bound)"
    echo "- idle RSS $((idle_kib / 1024)) MiB; peak RSS $((peak_kib / 1024)) MiB (after every scenario above, the 500-connection login flood last)"
    echo "- start to ready on an existing database: ${ready_ms} ms"
    echo "- run invalid (any non-2xx answer, or in the overload scenarios anything but 200/503 or a timeout): $INVALID"
    echo
  }
}

{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) — $(nproc) cores, ${PINNING}; ${DURATION} per scenario, ${CONC} connections"
  [ -z "${BENCH_NOTE:-}" ] || { echo; echo "$BENCH_NOTE"; }
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
