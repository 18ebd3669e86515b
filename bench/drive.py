"""Sends a fixed number of requests of one scenario, one after another on one keep-alive
connection, for instruction-count profiles (bench/profile.sh). Wall time does not matter
here; the count of requests does.

usage: drive.py PORT SCENARIO COUNT STATE_FILE
  SCENARIO: baseline | refresh | me | login
  STATE_FILE holds the JSON of the last login (access and refresh token); refresh updates it.
"""

import http.client
import json
import sys

port, scenario, count, state_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
LOGIN = {"username": "bench", "password": "correct-horse-battery"}
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=600)


def call(method, path, body=None, bearer=None):
    headers = {"content-type": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    if reply.status // 100 != 2:
        sys.exit(f"{scenario}: {method} {path} answered {reply.status}: {data[:200]!r}")
    return json.loads(data) if data else None


with open(state_file) as f:
    state = json.load(f)
for _ in range(count):
    if scenario == "baseline":
        call("GET", "/health/live")
    elif scenario == "me":
        call("GET", "/auth/me", bearer=state["access_token"])
    elif scenario == "refresh":
        state = call("POST", "/auth/token/refresh", {"refresh_token": state["refresh_token"]})
    elif scenario == "login":
        state = call("POST", "/auth/token", LOGIN)
    else:
        sys.exit(f"unknown scenario {scenario}")
with open(state_file, "w") as f:
    json.dump(state, f)
