#!/usr/bin/env bash
# The API contract, checked by a tester nobody here wrote: schemathesis (PyPI, pinned)
# reads the release gateway's own /openapi.json and sends what it says is valid and what
# it says is not, checking every answer against the document (status codes, bodies,
# headers): all phases — examples, coverage, fuzzing, stateful. /mcp is an MCP endpoint,
# not a REST operation, and is left to clients/test_mcp.py.
#
# Two runs on a fresh gateway (loopback, no tokens, its own data directory):
#   1. rates off, so every operation is really exercised (no 429 hiding the logic);
#   2. default rates, where 429 (and the alert route's 503) is a documented answer like
#      any other.
#
# usage: scripts/contract-check.sh [extra schemathesis args]
# env:   FIREBREAK_CONTRACT_EXAMPLES (max examples per operation, default 50),
#        FIREBREAK_CONTRACT_PORT (default 18090), PYTHON
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${PYTHON:-python3}
deps="$root/target/contract-py"
"$root/scripts/py-deps.sh" "$deps" "schemathesis==4.32.5"
"$root/scripts/fetch-model.sh" >/dev/null
cargo build --quiet --release --workspace --bins

port=${FIREBREAK_CONTRACT_PORT:-18090}
examples=${FIREBREAK_CONTRACT_EXAMPLES:-50}
work=$(mktemp -d)
gw_pid=
stop_gateway() {
  [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
  gw_pid=
}
trap 'stop_gateway; rm -rf "$work"' EXIT

start_gateway() {
  local name=$1; shift
  rm -rf "$work/data"; mkdir -p "$work/data"
  "$root/target/release/firebreak" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --model "$root/models/all-MiniLM-L6-v2" --cpu-threads 1 "$@" >"$work/$name.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$work/$name.log" >&2
  echo "contract-check: the gateway did not start" >&2
  exit 1
}

run() {
  local name=$1; shift
  echo "contract-check: $name" >&2
  # From the scratch directory: schemathesis keeps a .schemathesis/ cache where it runs.
  (cd "$work" && PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}" "$python" "$deps/bin/st" run "http://127.0.0.1:$port/openapi.json" \
    --checks all --exclude-path /mcp --max-examples "$examples" --seed 1 \
    --report junit --report-dir "$work/report-$name" "$@") || {
      echo "contract-check: $name FAILED; the gateway's log:" >&2
      tail -20 "$work/$name.log" >&2
      return 1
    }
}

off=(--alerts-rate off --ingest-rate off --query-rate off --notes-rate off --embeddings-rate off --answers-rate off)
start_gateway rates-off "${off[@]}"
run rates-off "$@"
stop_gateway
# With the default rates the alert route answers its rate limit with 503 (Alertmanager
# retries 5xx only; documented): run 1 above already holds every route to "no server
# error" with the rates off.
start_gateway defaults
run defaults --exclude-checks not_a_server_error "$@"
stop_gateway
echo "contract-check: both runs pass" >&2
