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
# Then one on `firebreak-embedder serve` with the chat model, against its own document:
#   3. the embedder's API (embeddings, chat completions, models), which users and the
#      gateway call directly. Its limits are set small (the document states whatever the
#      server runs with) so that a case at a limit costs milliseconds, not a 256 KiB text.
#
# Each run's figures (cases, failures, warnings) are in its output; a warning (an
# operation left untested, say) fails the run like a failure does (scripts/schemathesis.toml).
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
"$root/scripts/fetch-chat-model.sh" >/dev/null
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

wait_ready() {
  local name=$1 probe=$2
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port$probe" 2>/dev/null && return 0
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -30 "$work/$name.log" >&2
  echo "contract-check: $name did not start" >&2
  exit 1
}

start_gateway() {
  local name=$1; shift
  rm -rf "$work/data"; mkdir -p "$work/data"
  "$root/target/release/firebreak" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --model "$root/models/all-MiniLM-L6-v2" --cpu-threads 1 "$@" >"$work/$name.log" 2>&1 &
  gw_pid=$!
  wait_ready "$name" /readyz
}

start_embedder() {
  local name=$1; shift
  "$root/target/release/firebreak-embedder" serve --listen "127.0.0.1:$port" \
    --model "$root/models/all-MiniLM-L6-v2" --cpu-threads 1 "$@" >"$work/$name.log" 2>&1 &
  gw_pid=$!
  wait_ready "$name" /healthz
}

run() {
  local name=$1; shift
  echo "contract-check: $name" >&2
  # From the scratch directory: schemathesis keeps a .schemathesis/ cache where it runs.
  # scripts/schemathesis.toml: a warning (an operation never really tested) fails the run.
  (cd "$work" && PYTHONPATH="$deps${PYTHONPATH:+:$PYTHONPATH}" "$python" "$deps/bin/st" --config-file "$root/scripts/schemathesis.toml" \
    run "http://127.0.0.1:$port/openapi.json" \
    --checks all --max-examples "$examples" --seed 1 \
    --report junit --report-dir "$work/report-$name" "$@") || {
      echo "contract-check: $name FAILED; the server's log:" >&2
      tail -20 "$work/$name.log" >&2
      return 1
    }
}

off=(--alerts-rate off --ingest-rate off --query-rate off --notes-rate off --embeddings-rate off --answers-rate off)
start_gateway rates-off "${off[@]}"
run rates-off --exclude-path /mcp "$@"
stop_gateway
# With the default rates the alert route answers its rate limit with 503 (Alertmanager
# retries 5xx only; documented): run 1 above already holds every route to "no server
# error" with the rates off.
start_gateway defaults
run defaults --exclude-path /mcp --exclude-checks not_a_server_error "$@"
stop_gateway
start_embedder embedder --chat-model "$root/models/SmolLM2-135M-Instruct" --max-new-tokens 8 \
  --max-inputs 64 --max-input-chars 4096 --max-request-bytes 262144
run embedder "$@"
stop_gateway
echo "contract-check: all three runs pass" >&2
