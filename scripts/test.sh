#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then every black-box test on SQLite and on
# PostgreSQL. PostgreSQL is used when reachable; under CI=true it is started if needed
# and its absence fails the run. The last lines say which backends ran.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${CASTELLAN_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

pg_up() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

start_redis() {
  command -v redis-server >/dev/null || return 1
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_up && return 0; sleep 1; done
  return 1
}

start_pg() {
  command -v pg_ctlcluster >/dev/null || return 1
  local version
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$version" ] || return 1
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  return 1
}

echo "== preparing the Python interoperability client"
CASTELLAN_TEST_PYTHON="$(scripts/python-env.sh | tail -n 1)"
export CASTELLAN_TEST_PYTHON

echo "== building"
cargo build --tests --quiet

ran=()
skipped=()
# The schema-fuzzing test reports per pass whether it ran (passed or failed), never a skip.
fuzz_ran=()
fuzz_runs() { grep -cE 'test schemathesis_finds_no_server_error_or_schema_violation \.\.\. (ok|FAILED)' "$log" || true; }
# Tests named redis_* need Redis at 127.0.0.1:6379.
skip_args=(--skip pg_only_)
if ! redis_up && [ "${CI:-}" = "true" ]; then
  echo "== Redis is not running; starting it"
  start_redis || { echo "Redis could not be started: CI requires it" >&2; exit 1; }
fi
if ! redis_up; then
  skip_args+=(--skip redis_)
  skipped+=("redis tests (Redis not reachable at 127.0.0.1:6379)")
fi

echo "== unit tests and black-box tests on SQLite"
# Tests named pg_only_* inject PostgreSQL faults; they run in the PostgreSQL pass.
set +e
CASTELLAN_TEST_BACKEND=sqlite cargo test --no-fail-fast -- "${skip_args[@]}" 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
set -e
ran+=(sqlite)
[ "$(fuzz_runs)" -gt 0 ] && fuzz_ran+=(sqlite)

if ! pg_up; then
  if [ "${CI:-}" = "true" ]; then
    echo "== PostgreSQL is not running; starting it"
    start_pg || { echo "PostgreSQL could not be started: CI requires both backends" >&2; exit 1; }
  fi
fi
if pg_up; then
  echo "== black-box tests on PostgreSQL"
  set +e
  pg_skip=("${skip_args[@]:2}")
  fuzz_before=$(fuzz_runs)
  CASTELLAN_TEST_BACKEND=postgres CASTELLAN_TEST_PG="$PG_URL" cargo test --no-fail-fast --test '*' -- "${pg_skip[@]}" 2>&1 | tee -a "$log"
  pg_status=${PIPESTATUS[0]}
  set -e
  [ "$pg_status" -eq 0 ] || status=$pg_status
  ran+=(postgres)
  [ "$(fuzz_runs)" -gt "$fuzz_before" ] && fuzz_ran+=(postgres)
else
  skipped+=("postgres (not reachable at 127.0.0.1:5432)")
fi

passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
echo
echo "backends ran: ${ran[*]}"
if [ "${#fuzz_ran[@]}" -gt 0 ]; then
  echo "schemathesis: ran on ${fuzz_ran[*]}"
else
  echo "schemathesis: did not run"
fi
for s in "${skipped[@]}"; do echo "SKIPPED: $s"; done
echo "total: $passed passed, $failed failed"
exit "$status"
