#!/usr/bin/env bash
# A password spray from one address: 10,000 login attempts across 1,000 usernames, with the
# default limits and production argon2. Reports how many attempts were actually checked
# against a password hash (audit events `login.failure`), and how the rest were refused.
source "$(dirname "$0")/lib.sh"
build_release
PYTHON="$("$ROOT/scripts/python-env.sh" | tail -n 1)"
start_server 18110
trap stop_server EXIT
"$PYTHON" - "$WORKDIR/bench.db" <<'PY'
import collections, concurrent.futures, sqlite3, sys, time
import requests

base = "http://127.0.0.1:18110"
session = requests.Session()
adapter = requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=32)
session.mount("http://", adapter)
for i in range(0, 1000, 100):  # a few real accounts among the sprayed names
    session.post(f"{base}/auth/register", json={"username": f"user{i}", "email": f"user{i}@example.com", "password": "correct-horse-battery"})

def attempt(n):
    r = session.post(f"{base}/auth/token", json={"username": f"user{n % 1000}", "password": f"Spring2026!{n // 1000}"})
    return r.status_code

started = time.time()
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    statuses = collections.Counter(pool.map(attempt, range(10_000)))
took = time.time() - started
db = sqlite3.connect(sys.argv[1])
checked = db.execute("SELECT COUNT(*) FROM audit_log WHERE event = 'login.failure'").fetchone()[0]
throttled = db.execute("SELECT COUNT(*) FROM audit_log WHERE event = 'login.throttled'").fetchone()[0]
print(f"attempts: 10000 in {took:.1f} s; answers by status: {dict(sorted(statuses.items()))}")
print(f"checked against a password hash: {checked}; refused by the login throttle: {throttled}; "
      f"refused by the request limit: {statuses.get(429, 0) - throttled if throttled <= statuses.get(429, 0) else statuses.get(429, 0)}")
PY
