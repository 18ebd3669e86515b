#!/usr/bin/env bash
# 500 concurrent connections logging in with production argon2 for 15 s: the hashing queue
# must answer the surplus with 503 quickly (no timeouts) and memory must stay bounded.
# Prints idle RSS, peak RSS, and wrk's latency and status summary.
source "$(dirname "$0")/lib.sh"
build_release
ensure_wrk
# The flood comes from one address: lift the per-client limits so the hashing queue is
# what gets measured.
start_server 18111 CASTELLAN_LIMITS__REQUESTS=0 CASTELLAN_LIMITS__SOURCE_FAILURES_PER_HOUR=100000000 \
  CASTELLAN_LIMITS__ACCOUNT_FAILURES_PER_HOUR=100000000 CASTELLAN_LIMITS__ACCOUNT_SOURCE_FAILURES=100000000
trap stop_server EXIT
curl -fs "http://127.0.0.1:18111/auth/register" -H 'content-type: application/json' \
  -d '{"username":"flood","email":"flood@example.com","password":"correct-horse-battery"}' >/dev/null
sleep 1
echo "idle RSS: $(( $(rss_kib VmRSS) / 1024 )) MiB"
script="$(mktemp)"
cat >"$script" <<'LUA'
wrk.method = "POST"
wrk.body = '{"username":"flood","password":"correct-horse-battery"}'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t2 -c500 -d15s --timeout 10s --latency -s "$script" http://127.0.0.1:18111/auth/token | grep -E "Latency|50%|99%|Requests/sec|Non-2xx|timeout|requests in"
echo "peak RSS: $(( $(rss_kib VmHWM) / 1024 )) MiB"
